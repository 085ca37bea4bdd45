"""``loihi-snn results``: a tiny comparison of digits recipes over two seeds trained end to end, its
mean and standard deviation against the per-seed values, the metrics against the commands they
stand for, a second call that reads instead of training, and bad comparisons refused in one
line."""

from __future__ import annotations

import copy
import json
import shlex
from pathlib import Path

import pytest

from loihi_snn.cli import build_parser, main
from loihi_snn.energy.runner import energy_report
from loihi_snn.errors import LoihiSnnError
from loihi_snn.mechanisms.alif_mask.report import mask_stats
from loihi_snn.mechanisms.token_select.report import selection_stats
from loihi_snn.recipe import apply_overrides, load_recipe, recipe_differences
from loihi_snn.results import (
    command_line,
    evaluate,
    format_markdown,
    load_comparison,
    run_comparison,
)

SHIPPED = sorted((Path(__file__).parents[1] / "comparisons").glob("*.toml"))

COMPARISON = """
name = "tiny"
title = "digits MLP vs BIASNN"
seeds = [0, 1]
set = ["train.epochs=1", "train.samples_per_epoch=64"]
metrics = ["accuracy", "lif_rate", "energy", "sops"]
n = 100

[[variants]]
label = "mlp"
recipe = "train/digits_mlp.toml"

[[variants]]
label = "biasnn"
recipe = "train/digits_biasnn.toml"

[paper.biasnn.lif_rate]
value = 9.64
source = "the paper, Table 9"
"""


def _write(folder: Path, text: str, name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("results")
    report = run_comparison(_write(root, COMPARISON), runs=root / "runs",
                            out=root / "out" / "tiny", progress=False)
    return root, report


@pytest.mark.lava
def test_the_files_hold_every_seed_and_the_statistics_of_them(compared):
    root, report = compared
    out = root / "out"
    assert json.loads((out / "tiny.json").read_text()) == report
    assert (out / "tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "tiny.md").read_text()
    for v in report["variants"]:
        assert [r["seed"] for r in v["runs"]] == [0, 1]
        assert [r["run"] for r in v["runs"]] == [
            str(root / "runs" / "tiny" / f"{v['label']}-s{s}") for s in (0, 1)
        ]
        assert {r["status"] for r in v["runs"]} == {"trained"}
        assert v["budget"]["epochs"] == 1 and v["budget"]["samples_per_epoch"] == 64
        assert f"- {v['label']}: 1 epoch of 64 training images, batch " in md
        for metric in report["metrics"]:
            values = [r["values"][metric] for r in v["runs"]]
            assert v["mean"][metric] == pytest.approx(sum(values) / 2)
            spread = abs(values[0] - values[1]) / 2**0.5  # sample std of two values
            assert v["std"][metric] == pytest.approx(spread)
        cell = f"{v['mean']['accuracy']:.4f} ± {v['std']['accuracy']:.4f} (2 seeds)"
        assert f"| {v['label']} | `train/digits_{v['label']}.toml` | {cell} |" in md
        assert all(f"| {r['values']['accuracy']:.4f} |" in md for r in v["runs"])
    assert md.splitlines()[2].startswith("Mean ± sample standard deviation over seeds 0, 1, on")
    assert "| 9.64 [1] |" in md and "1. the paper, Table 9" in md
    assert "`train.epochs=1`, `train.samples_per_epoch=64`" in md
    assert f"loihi-snn results {root / 'tiny.toml'} --runs {root / 'runs'}" in md


@pytest.mark.lava
def test_a_whole_epoch_is_the_training_part_left_after_the_validation_split(compared):
    _, report = compared
    whole = copy.deepcopy(report)
    budget = whole["variants"][0]["budget"]
    budget["samples_per_epoch"], budget["val_fraction"] = 0, 0.1
    line = f"- {whole['variants'][0]['label']}: 1 epoch of all the training images but the "
    assert line + "validation split's 10%, batch " in format_markdown(whole)
    budget["val_fraction"] = 0.0  # no split: every training image
    assert f"- {whole['variants'][0]['label']}: 1 epoch of all the training images, batch " in (
        format_markdown(whole)
    )


@pytest.mark.lava
def test_the_metrics_are_those_of_the_commands_they_stand_for(compared):
    _, report = compared
    for v in report["variants"]:  # seed 0's run of each (the mask is a custom layer)
        r = v["runs"][0]
        net = Path(r["run"]) / "model.net"
        stats = mask_stats(net, 100)[0]
        energy = energy_report(net, n=100, backend="fast")
        assert r["samples"] == stats.samples == 100
        assert r["values"]["accuracy"] == stats.accuracy
        assert r["values"]["lif_rate"] == pytest.approx(100 * stats.lif_rate)
        assert r["values"]["energy"] == pytest.approx(
            energy["totals"]["energy_pj_per_sample"]["cmos45"] / 1e3
        )
        assert r["values"]["sops"] == pytest.approx(
            sum(energy["projections_ops_per_sample"].values())
        )
    with pytest.raises(LoihiSnnError, match="needs a token_select layer"):
        evaluate(net, ["sparsity"], 10)


@pytest.mark.lava
def test_a_second_call_reads_the_runs_and_trains_nothing(compared, capsys):
    root, report = compared
    folders = [Path(r["run"]) for v in report["variants"] for r in v["runs"]]
    before = {p: p.stat().st_mtime_ns for f in folders for p in f.iterdir() if p.is_file()}
    args = ["results", str(root / "tiny.toml"), "--runs", str(root / "runs"),
            "--out", str(root / "again"), "--read-only"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert err.count(": read ") == 4 and "training" not in err
    assert before == {p: p.stat().st_mtime_ns for p in before}
    again = json.loads((root / "again.json").read_text())
    assert [v["mean"] for v in again["variants"]] == [v["mean"] for v in report["variants"]]
    assert out.startswith("| variant | recipe | test accuracy |") and "again.md" in out

    with pytest.raises(LoihiSnnError, match=r"holds a run of another recipe \(train.lr: 0.003"):
        run_comparison(root / "tiny.toml", root / "runs", root / "x", overrides=["train.lr=0.01"])
    with pytest.raises(LoihiSnnError, match="read-only: 2 of 6 runs are missing"):
        run_comparison(root / "tiny.toml", root / "runs", root / "x", seeds=[0, 1, 2],
                       read_only=True)


SPARTA = """
name = "digits_sparta"
[data]
dataset = "digits"
time_steps = 4
[neuron]
threshold = 1.0
current_decay = 1.0
voltage_decay = 0.1
[[layers]]
type = "hilif"
out = 4
kernel = 2
stride = 2
weight_scale = 0.3
[[layers]]
type = "token_select"
[[layers]]
type = "dense"
out = 10
[sparta]
dv_step = 512
k_min = 3
[train]
epochs = 1
samples_per_epoch = 160
batch_size = 32
lr = 0.005
logit_scale = 2.0
"""


@pytest.mark.lava
def test_one_seed_of_a_sparta_recipe_beside_the_file(tmp_path):
    _write(tmp_path, SPARTA, "digits_sparta.toml")
    path = _write(tmp_path, """
name = "sparta"
title = "token selection"
seeds = [3]
metrics = ["accuracy", "sparsity", "sops"]
n = 50
[[variants]]
label = "dynamic"
recipe = "digits_sparta.toml"
""")
    report = run_comparison(path, tmp_path / "runs", tmp_path / "sparta", progress=False)
    (run,) = report["variants"][0]["runs"]
    assert run["run"] == str(tmp_path / "runs" / "sparta" / "dynamic-s3")
    assert report["variants"][0]["std"] == {"accuracy": None, "sparsity": None, "sops": None}
    stats = selection_stats(Path(run["run"]) / "model.net", 50)
    assert run["values"] == pytest.approx({k: stats[k] for k in ("accuracy", "sparsity", "sops")})
    md = (tmp_path / "sparta.md").read_text()
    assert "(1 seed) |" in md and md.splitlines()[2].startswith("One seed (3), no spread, on")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_a_shipped_comparison_gives_every_variant_the_same_budget(path):
    """Each file in comparisons/ loads, its ``set`` applies to every variant's recipe, and the
    variants differ in their layers, name and mechanism settings (``[sparta]``, ``neuron.spk*``)
    only: training, data and the neurons' parameters are shared."""
    comparison = load_comparison(path)
    recipes = [apply_overrides(load_recipe(v.recipe), comparison.set) for v in comparison.variants]
    assert len(recipes) >= 2
    for recipe in recipes[1:]:
        changes = recipe_differences(recipes[0], recipe)
        assert changes, "two variants train the same recipe"
        mechanism = ("layers", "name:", "sparta.", "neuron.spk")
        shared = [c for c in changes if not c.startswith(mechanism)]
        assert shared == []


@pytest.mark.parametrize(
    "change, words",
    [
        (("n = 100", "n = 100\nbogus = 1"), "unknown key 'bogus' in"),
        (("train/digits_mlp.toml", "train/nope.toml"), "recipe train/nope.toml not found"),
        (('"sops"]', '"flops"]'), "'metrics' must be a non-empty list"),
        (("seeds = [0, 1]", "seeds = [1, 1]"), "'seeds' must be a non-empty list of distinct"),
        (('label = "mlp"', 'label = "m/lp"'), "'label' must be letters"),
        (("[paper.biasnn.lif_rate]", "[paper.cnn.lif_rate]"), "'cnn' is not a variant's label"),
        (("value = 9.64", "value = 9.64\nunit = '%'"), "unknown key 'unit' in [paper.biasnn"),
        (('"train.epochs=1"', '"seed=1"'), "sets the seed"),
    ],
)
def test_a_bad_comparison_is_refused_in_one_line(tmp_path, change, words):
    path = _write(tmp_path, COMPARISON.replace(*change))
    with pytest.raises(LoihiSnnError) as err:
        load_comparison(path)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert str(path) in str(err.value)


def test_read_only_without_runs_trains_nothing_and_says_so(tmp_path):
    path = _write(tmp_path, COMPARISON)
    with pytest.raises(LoihiSnnError) as err:
        run_comparison(path, tmp_path / "runs", tmp_path / "out", read_only=True)
    assert str(err.value).startswith("read-only: 4 of 4 runs are missing or unfinished (")
    assert "\n" not in str(err.value) and not (tmp_path / "runs").exists()
    assert not (tmp_path / "out.md").exists()


def test_the_command_in_the_report_parses_to_the_call_it_describes():
    line = command_line("c d.toml", "runs", "out/x", [0, 2], ["train.lr=0.01", "data.path=a b"],
                        True)
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert (args.command, args.comparison, args.runs, args.out) == ("results", "c d.toml", "runs",
                                                                    "out/x")
    assert (args.seeds, args.set, args.read_only) == ([0, 2], ["train.lr=0.01", "data.path=a b"],
                                                      True)
