"""Long runs report progress with samples/s, also when stderr is a file (a line per tenth)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from loihi_snn.progress import Progress


def test_a_line_per_tenth_when_not_a_terminal():
    out = io.StringIO()
    with Progress(200, "run of x", file=out) as bar:
        for done in range(7, 201, 7):
            bar.advance_to(done)
        bar.advance_to(200)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert lines[0].startswith("run of x: 21/200 samples (10%), ") and "samples/s" in lines[0]
    assert lines[-1].startswith("run of x: 200/200 samples (100%)")


def _sim(netx_assets, tmp_path, backend: str, n: int) -> str:
    np.save(tmp_path / "x.npy", np.random.default_rng(0).integers(-40, 80, (n, 784)))
    log = tmp_path / "sim.log"
    with open(log, "w") as f:  # stdout and stderr to a file, as under nohup or SLURM
        command = [sys.executable, "-m", "loihi_snn.cli", "sim", str(netx_assets / "mnist.net"),
                   "--input", str(tmp_path / "x.npy"), "-n", str(n), "--backend", backend]
        subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, check=True, timeout=600)
    return log.read_text()


def test_sim_on_the_fast_backend_reports_progress_into_a_file(netx_assets, tmp_path):
    text = _sim(netx_assets, tmp_path, "fast", 600)
    lines = [line for line in text.splitlines() if line.startswith("fast run of mnist.net")]
    assert [line.split()[4] for line in lines] == ["256/600", "512/600", "600/600"], text
    assert all("samples/s" in line for line in lines)


@pytest.mark.lava
def test_sim_in_lava_reports_progress_into_a_file(netx_assets, tmp_path):
    text = _sim(netx_assets, tmp_path, "lava", 20)
    lines = [line for line in text.splitlines() if line.startswith("Lava run of mnist.net")]
    assert len(lines) == 10 and lines[-1].split()[4] == "20/20", text
    assert all("samples/s" in line for line in lines) and "\r" not in text
