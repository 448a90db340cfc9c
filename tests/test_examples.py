"""Every example runs end to end with --smoke (seconds)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_smoke(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    args = [sys.executable, str(EXAMPLES / script), "--smoke", "--out", str(tmp_path / "out.png")]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    if proc.returncode == 2 and "SRNN_PYG_DATA" in output:      # the examples' "no data" exit
        pytest.skip(f"needs the real data: {output.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "out.png").exists()
