"""Every example runs end to end with --smoke (seconds)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Examples whose --out is a folder, and the files their --smoke run writes there;
# every other example takes --out as the path of its picture.
OUT_FOLDERS = {
    "forecast_crowds.py": ("crowds_eth.md", "crowds_eth.png"),
    "quickstart.py": ("scores.json",),
}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_smoke(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    out = tmp_path / ("out" if script in OUT_FOLDERS else "out.png")
    args = [sys.executable, str(EXAMPLES / script), "--smoke", "--out", str(out)]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    if proc.returncode == 2 and "SRNN_PYG_DATA" in output:      # the examples' "no data" exit
        pytest.skip(f"needs the real data: {output.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    expected = [out / name for name in OUT_FOLDERS[script]] if script in OUT_FOLDERS else [out]
    for path in expected:
        assert path.exists(), f"{script} --smoke did not write {path.name}"
