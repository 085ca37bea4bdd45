# Two entry points: `make demo` (train, export, simulate and verify on digits) and `make test`.
# Each builds .venv with a Python 3.10 first (lava-nc 0.10 and lava-dl 0.6 support no other Python).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint data bench fuzz check-python clean

check-python:
	@scripts/find_python.sh > /dev/null

$(STAMP): pyproject.toml | check-python
	@py=$$(scripts/find_python.sh) || exit 1; \
	if ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
		rm -rf $(VENV) && echo "creating $(VENV) with $$py" && $$py -m venv $(VENV) || exit 1; \
	fi
	@free=$$(df -Pk . | awk 'NR == 2 {print int($$4 / 1048576)}'); [ "$$free" -ge 9 ] || \
		echo "note: $$free GB free here; installing needs about 9 GB (torch and its CUDA libraries: 6 GB in $(VENV), the downloads beside)"
	$(BIN)/python -m pip install -q --no-cache-dir --upgrade pip
	$(BIN)/python -m pip install -q --no-cache-dir -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

demo: check-python $(STAMP)
	$(BIN)/loihi-snn demo

test: check-python $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check loihi_snn tests

# Fashion-MNIST (70k real images) from Debian's dataset-fashion-mnist package; needs root and apt.
data:
	@test -e /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz || \
		{ apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }

clean:
	rm -rf $(VENV) runs

# Lava fixed_pt vs the fast backend on the same inputs: samples/s, ratio, peak memory, mismatches.
# Graph models missing from runs/ are trained briefly first (one epoch of 6,000 images: the speed
# ratio, not the accuracy, is what the bench measures); fmnist_cnn is measured when runs/ has it.
# Then training samples/s: loihi-snn train against a bare lava-dl loop, alone, beside a busy
# process and two at once (loihi_snn/train_bench.py).
BENCH_GRAPHS := digits_resnet fmnist_msresnet fmnist_biasnn fmnist_sparta
bench: check-python $(STAMP)
	@test -e runs/bench-digits/model.net || { $(BIN)/loihi-snn train train/digits_mlp.toml --out runs/bench-digits && $(BIN)/loihi-snn export runs/bench-digits -o runs/bench-digits/model.net; }
	@for m in $(BENCH_GRAPHS); do test -e runs/$$m/model.net || { $(BIN)/loihi-snn train train/$$m.toml --epochs 1 --samples-per-epoch 6000 && $(BIN)/loihi-snn export runs/$$m -o runs/$$m/model.net; } || exit 1; done
	$(BIN)/python -m loihi_snn.bench
	$(BIN)/python -m loihi_snn.train_bench

# Damaged variants (truncated, bytes flipped, datasets deleted, wrong dtypes, shapes and values,
# swapped layers, cycles, huge sizes) of lava-dl's reference nets, runs/*/model.net and small files
# of its own, read and run in-process by the fast backend, 12 of them also in Lava: counts per
# outcome; fails on a traceback, a hang, a Lava mismatch or a process left.
fuzz: check-python $(STAMP)
	$(BIN)/python -m loihi_snn.fuzz --mutations 1000 --lava 12
