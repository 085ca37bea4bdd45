# Two entry points: `make demo` (train, export, simulate and verify on digits) and `make test`.
# Each builds .venv with a Python 3.10 first (lava-nc 0.10 and lava-dl 0.6 support no other Python).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint data bench check-python clean

check-python:
	@scripts/find_python.sh > /dev/null

$(STAMP): pyproject.toml | check-python
	@py=$$(scripts/find_python.sh) || exit 1; \
	if ! $(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
		rm -rf $(VENV) && echo "creating $(VENV) with $$py" && $$py -m venv $(VENV) || exit 1; \
	fi
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
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
bench: check-python $(STAMP)
	@test -e runs/bench-digits/model.net || { $(BIN)/loihi-snn train train/digits_mlp.toml --out runs/bench-digits && $(BIN)/loihi-snn export runs/bench-digits -o runs/bench-digits/model.net; }
	$(BIN)/python -m loihi_snn.bench
