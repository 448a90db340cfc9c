"""benchmarks/speed_vs_revision.py runs end to end on tiny graphs against this
checkout's own last commit (both models), and writes its table."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "speed_vs_revision.py")


def _has_commit() -> bool:
    if shutil.which("git") is None:
        return False
    proc = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=ROOT, capture_output=True)
    return proc.returncode == 0


@pytest.mark.skipif(not _has_commit(), reason="needs git and a commit to compare with")
@pytest.mark.parametrize("model,extra,header", [
    ("srnn", ["--T", "4", "--horizon", "2", "--hidden", "8"], "| N | edge scope | what |"),
    ("stgcn", ["--batch", "2"], "| N | batch | what |"),
])
def test_runs_against_the_last_commit(tmp_path, model, extra, header):
    out = tmp_path / "table.md"
    cmd = [sys.executable, SCRIPT, "--rev", "HEAD", "--model", model, "--sizes", "6", "--reps", "1",
           "--threads", "1", "--out", str(out), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    title = text.splitlines()[0]
    assert title.startswith(f"# {'STGCN' if model == 'stgcn' else 'S-RNN'} speed: this checkout ({head}")
    assert title.endswith("against revision `HEAD`")
    assert header in text
    rows = [line for line in text.splitlines() if line.startswith("| 6 |")]
    assert len(rows) == (4 if model == "srnn" else 2)                   # train step and forecast (per scope)


def _has(rev: str) -> bool:
    proc = subprocess.run(["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True)
    return proc.returncode == 0


@pytest.mark.skipif(not _has_commit() or not _has("850601a"), reason="needs git and the history")
def test_refuses_a_revision_whose_stgcn_lacks_the_layout(tmp_path):
    out = tmp_path / "table.md"
    cmd = [sys.executable, SCRIPT, "--rev", "850601a", "--model", "stgcn", "--sizes", "6", "--reps", "1",
           "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and not out.exists()
    assert "revision 850601a's STGCN has no 'temporal_hidden'" in proc.stderr
