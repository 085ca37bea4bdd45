"""Bad input gets one clear line on stderr and a non-zero exit: no traceback, no Lava left."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLI = str(Path(sys.executable).parent / "loihi-snn")


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


def _one_line_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("loihi-snn: error:")
    assert "Traceback" not in proc.stderr + proc.stdout
    for word in words:
        assert word in lines[0], lines[0]


def _no_process_mentions(marker: str) -> None:
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps, "a process of the failed command is still running"


def test_missing_data_directory(repo, tmp_path):
    proc = _run(
        "train",
        str(repo / "train" / "fmnist_cnn.toml"),
        "--data-dir",
        str(tmp_path / "nowhere"),
        "--out",
        str(tmp_path / "run"),
    )
    _one_line_error(proc, "nowhere", "does not exist")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_unknown_recipe_key(repo, tmp_path):
    recipe = tmp_path / "typo.toml"
    text = (repo / "train" / "digits_mlp.toml").read_text()
    recipe.write_text(text.replace("epochs = ", "epocs = "))
    _one_line_error(_run("train", str(recipe), "--out", str(tmp_path / "run")), "epocs")


@pytest.mark.lava
@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_damaged_network_file(digits_run, tmp_path, damage):
    good = (digits_run / "model.net").read_bytes()
    bad = tmp_path / f"{damage}-marker.net"
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    else:
        bad.write_bytes(np.random.default_rng(0).bytes(len(good)))
    for command in ("sim", "verify"):
        _one_line_error(_run(command, str(bad)), bad.name)
    _no_process_mentions(bad.name)


@pytest.mark.lava
def test_weights_out_of_range(digits_run, tmp_path):
    import h5py

    bad = tmp_path / "range-marker.net"
    shutil.copy(digits_run / "model.net", bad)
    with h5py.File(bad, "r+") as f:
        w = f["layer/2/weight"]
        changed = w[()]
        changed[0, 0] = 1000
        w[...] = changed
    _one_line_error(_run("sim", str(bad)), "8-bit")


@pytest.mark.lava
def test_no_loihi_hardware(digits_run):
    _one_line_error(
        _run("sim", str(digits_run / "model.net"), "--hardware", "-n", "2"), "lava-loihi"
    )


def test_missing_checkpoint_for_export(tmp_path):
    _one_line_error(
        _run("export", str(tmp_path / "no-run"), "-o", str(tmp_path / "x.net")), "train first"
    )
    assert not (tmp_path / "x.net").exists()


def _other_python() -> str | None:
    for candidate in ("python3.11", "python3.12", "python3", "/usr/bin/python3"):
        path = shutil.which(candidate)
        if path:
            version = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[:2] != (3, 10))"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            if version == "True":
                return path
    return None


def test_a_python_that_is_not_310(repo):
    other = _other_python()
    assert other, "no non-3.10 Python on this machine to check the refusal with"
    setup = subprocess.run(
        [str(repo / "scripts" / "find_python.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": other},
    )
    assert setup.returncode == 1 and setup.stdout == ""
    assert len(setup.stderr.strip().splitlines()) == 1 and "needs Python 3.10" in setup.stderr
    direct = subprocess.run(
        [other, "-c", "import loihi_snn"], capture_output=True, text=True, cwd=repo
    )
    assert direct.returncode != 0 and "Traceback" not in direct.stderr
    assert direct.stderr.strip().splitlines() == [direct.stderr.strip()]
    assert "needs Python 3.10" in direct.stderr


def _lava_children() -> list[str]:
    ps = subprocess.run(
        ["ps", "-o", "args=", "--ppid", str(os.getpid())], capture_output=True, text=True
    ).stdout.splitlines()
    # multiprocessing's resource tracker lives as long as this process; anything else is Lava's
    return [p for p in ps if "resource_tracker" not in p and not p.startswith("ps ")]


@pytest.mark.lava
def test_a_run_that_streams_states_leaves_no_process(digits_run):
    import time

    from loihi_snn.backends.lava import run_lava
    from loihi_snn.evaluation import test_inputs
    from loihi_snn.ir.hdf5 import read_netx

    info = read_netx(digits_run / "model.net")
    result = run_lava(info, test_inputs(info, 2).x, record_states=True)
    assert result.u is not None and result.u[0].any()
    time.sleep(1)
    assert _lava_children() == []


@pytest.mark.lava
def test_a_failure_inside_a_lava_run_stops_its_processes(digits_run, monkeypatch):
    """An error while Lava's runtime processes are up becomes one LoihiSnnError, and the runtime
    is stopped: no child process of this test remains."""
    import time

    from lava.proc.io.extractor import Extractor

    from loihi_snn.errors import LoihiSnnError
    from loihi_snn.evaluation import simulate

    def broken(self):
        raise RuntimeError("simulated failure while reading the recorders")

    monkeypatch.setattr(Extractor, "receive", broken)
    with pytest.raises(LoihiSnnError, match="simulated failure"):
        simulate(digits_run / "model.net", n=4)
    time.sleep(1)
    assert _lava_children() == [], "Lava runtime processes are still running"


def test_verify_output_names_layers_that_never_spiked():
    """Agreement of a layer that never spiked proves nothing: the table says so."""
    from loihi_snn.cli import format_checks
    from loihi_snn.evaluation import LayerCheck

    checks = [LayerCheck(0, "conv", 8, 5, 5, 0), LayerCheck(1, "dense", 4, 0, 0, 0)]
    text = format_checks(checks, 8)
    assert "bit-exact: 0 mismatches" in text
    assert "layer 1 never spiked" in text and text.splitlines()[3].endswith("silent")
    assert "never spiked" not in format_checks(checks[:1], 8)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_are_readable_as_the_umask_says(tmp_path, umask):
    """Atomic writes go through a 0600 temporary file; the result gets a new file's mode."""
    from loihi_snn.fileio import atomic_path, write_json

    old = os.umask(umask)
    try:
        write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
        with atomic_path(tmp_path / "model.net") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    for name in ("metrics.json", "model.net"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json", "model.net"]
