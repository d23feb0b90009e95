"""`bench.peak`: a command's own peak memory, whatever the size of the process that starts it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_peak_is_the_commands_own_not_its_parents(tmp_path):
    ballast = bytearray(600 * 1024 * 1024)  # the benchmark process, large (touched: resident)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    peak = tmp_path / "peak"
    done = subprocess.run(
        [sys.executable, "-m", "bench.peak", "help"],
        cwd=ROOT,
        env={**os.environ, "CPER_PEAK_FILE": str(peak)},
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    kb = int(peak.read_text())
    # Django and the project loaded, well under the parent's 600 MB (wait4 would say more).
    assert 20_000 < kb < 400_000
