"""The benchmark scripts run end to end on tiny sizes (seconds) and write their tables."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def run_script(script, *args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    # the checkout under test comes first, whatever copy of srnn_pyg is installed
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def table_rows(md: str, first_cell: str, columns: int):
    """Data rows of the Markdown tables of ``columns`` columns whose first cell is ``first_cell``."""
    return [line for line in md.splitlines()
            if line.startswith(f"| {first_cell} |") and line.count("|") == columns + 1]


def test_scaling_quick(tmp_path):
    out = tmp_path / "results"
    run_script("scaling.py", "--quick", "--out", str(out), cwd=tmp_path)
    md = (out / "scaling_cpu.md").read_text()
    assert md.startswith("# Scaling on cpu")
    assert "Command: `python " in md and "torch " in md
    for section in ("S-RNN (slot): graph size", "S-RNN (edge): graph size", "STGCN: graph size",
                    "Forecast horizon"):
        assert section in md
    # --quick: N = 10 and 30 for each of the three models, measured (not skipped or failed)
    for N in (10, 30):
        rows = table_rows(md, str(N), columns=11)
        assert len(rows) == 3, md
        assert all(" ms |" in r or " s |" in r for r in rows), rows
    # the second size has a ratio and a doubling factor
    assert all(r.split("|")[7].strip() not in ("", "-") for r in table_rows(md, "30", columns=11)), md
    # the horizon tables: one row per horizon (5, 10) and edge scope, each timed
    for h in (5, 10):
        rows = table_rows(md, str(h), columns=6)
        assert len(rows) == 2 and all(" ms |" in r or " s |" in r for r in rows), md
    png = out / "scaling_cpu.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]   # atomic writes left no debris


# ------------------------------------------------------------------ accuracy.py
ACCURACY_SPRINGS_ROWS = ("S-RNN (paper)", "S-RNN (improved)", "NodeLSTM", "GConvGRU", "STGCN",
                         "ConstantVelocity", "ZeroVelocity")


def _accuracy(*args, cwd, env_update=None, drop=()):
    """Run benchmarks/accuracy.py; returns the finished process (any exit status)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    for key in drop:
        env.pop(key, None)
    env.update(env_update or {})
    return subprocess.run([sys.executable, str(BENCHMARKS / "accuracy.py"), *args, "--threads", "1"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def _result_rows(md: str, label: str):
    """The cells of the rows of ``md``'s tables whose first cell is ``label``."""
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.splitlines()
            if line.startswith(f"| {label} |")]


def _is_number(cell: str) -> bool:
    try:
        float(cell.rstrip("%"))
        return True
    except ValueError:
        return False


def test_accuracy_springs_smoke(tmp_path):
    out = tmp_path / "results"
    proc = _accuracy("--dataset", "springs", "--smoke", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [p.name for p in out.iterdir()] == ["accuracy_springs_smoke.md"]  # atomic write, no debris
    md = (out / "accuracy_springs_smoke.md").read_text()
    assert md.startswith("# Accuracy: Springs")
    assert "Command: `python " in md and "--dataset springs --smoke" in md and "torch " in md
    assert "Mode: **smoke" in md and "Seed 0" in md
    for label in ACCURACY_SPRINGS_ROWS:
        rows = _result_rows(md, label)
        # one row in the results table (7 cells: MSE at 1, 5, 10, 15, 20 and over the horizon)
        # and one in the training table
        results = [r for r in rows if len(r) == 7]
        assert len(results) == 1 and all(_is_number(c) for c in results[0][1:]), (label, rows)
        assert any(len(r) == 6 for r in rows), (label, rows)
    # trained rows say how long they trained; the parameter-free baselines were not trained
    training = {r[0]: r for r in (_result_rows(md, label)[-1] for label in ACCURACY_SPRINGS_ROWS)}
    assert training["S-RNN (improved)"][4].endswith(" s") and "rollout" in training["S-RNN (improved)"][2]
    assert training["ZeroVelocity"][4] == "-"
    # "Where we lose": computed lines against ZeroVelocity and NodeLSTM
    lose = md.split("**Where we lose**")[1].split("\n## ")[0]
    assert "- vs ZeroVelocity: " in lose and "- vs NodeLSTM: " in lose
    assert "## Published figures" in md
    printed = [line for line in proc.stdout.splitlines() if line.startswith("[springs] ")]
    assert sum(label in line for line in printed for label in ACCURACY_SPRINGS_ROWS[:5]) == 5


def test_accuracy_result_names(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("accuracy_bench", BENCHMARKS / "accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    had_common = "common" in sys.modules
    sys.path.insert(0, str(BENCHMARKS))            # the script imports benchmarks/common.py
    sys.modules[spec.name] = mod                   # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop(spec.name, None)
        if not had_common:
            sys.modules.pop("common", None)
    assert os.path.basename(mod.result_path("r", "los_loop", "default")) == "accuracy_los_loop.md"
    assert os.path.basename(mod.result_path("r", "los_loop", "quick")) == "accuracy_los_loop_quick.md"
    assert os.path.basename(mod.result_path("r", "eth_ucy", "full")) == "accuracy_eth_ucy_full.md"
    args = mod.parse_args(["--dataset", "cmu_mocap", "--quick", "--epochs", "3"])
    assert args.mode == "quick" and args.epochs == 3 and args.device == "cpu"
    assert mod.parse_args(["--dataset", "all"]).mode == "default"


def test_accuracy_real_data_missing(tmp_path):
    proc = _accuracy("--dataset", "cmu_mocap", "--smoke", "--out", str(tmp_path), cwd=tmp_path,
                     drop=("SRNN_PYG_DATA",))
    assert proc.returncode == 2 and "SRNN_PYG_DATA" in proc.stderr
    assert not list(tmp_path.glob("*.md"))


def test_accuracy_eth_ucy_smoke(tmp_path):
    """A real dataset (skipped without the data): every ETH/UCY row, best-of-K included."""
    import pytest

    base = os.environ.get("SRNN_PYG_DATA")
    if not base or not (Path(base) / "eth_ucy").is_dir():
        pytest.skip("SRNN_PYG_DATA is unset or holds no eth_ucy/: the real ETH/UCY files are not available")
    out = tmp_path / "results"
    proc = _accuracy("--dataset", "eth_ucy", "--smoke", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = (out / "accuracy_eth_ucy_smoke.md").read_text()
    labels = ["S-RNN (paper)", "S-RNN (improved)", "S-RNN (improved, spatial=False)", "S-RNN (Gaussian head)",
              "S-RNN (Gaussian head), best of 4 per pedestrian", "S-RNN (Gaussian head), best of 4 per scene",
              "NodeLSTM", "ConstantVelocity", "ZeroVelocity"]
    for label in labels:
        rows = [r for r in _result_rows(md, label) if len(r) == 3]      # model | hotel | avg
        assert len(rows) == 1, (label, md)
        for cell in rows[0][1:]:
            ade, fde = (float(v) for v in cell.split(" / "))          # metres
            assert ade >= 0 and fde >= 0, cell
    # each pedestrian's best sample is never worse than the best sample per scene
    per_ped = float(_result_rows(md, labels[4])[0][1].split(" / ")[0])
    per_scene = float(_result_rows(md, labels[5])[0][1].split(" / ")[0])
    assert per_ped <= per_scene + 1e-6
    assert "Social-STGCNN" in md and "unconfirmed" in md


ACCURACY_SMOKE_ROWS = {
    "cmu_mocap": ("S-RNN (paper)", "S-RNN (improved)", "NodeLSTM", "ERD", "LSTM-3LR", "ConstantVelocity",
                  "ZeroVelocity"),
    "los_loop": ("S-RNN (paper)", "S-RNN (improved)", "NodeLSTM", "GConvGRU", "STGCN", "LastValue",
                 "ObservedMean"),
    "chickenpox": ("S-RNN (paper)", "S-RNN (improved)", "NodeLSTM", "GConvGRU", "STGCN", "LastValue",
                   "Zero (the data's mean)"),
    "brain4cars": ("S-RNN", "NodeLSTM"),
}


@pytest.mark.integration
@pytest.mark.parametrize("dataset", sorted(ACCURACY_SMOKE_ROWS))
def test_accuracy_real_data_smoke(dataset, tmp_path):
    """Every other real dataset's configuration runs (skipped without the data):
    each model has a results row of numbers and a training row."""
    base = os.environ.get("SRNN_PYG_DATA")
    if not base or not Path(base).is_dir():
        pytest.skip("SRNN_PYG_DATA is unset: the real datasets are not available")
    out = tmp_path / "results"
    proc = _accuracy("--dataset", dataset, "--smoke", "--out", str(out), cwd=tmp_path)
    if proc.returncode == 2 and "no data" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = (out / f"accuracy_{dataset}_smoke.md").read_text()
    assert md.startswith("# Accuracy: ") and "## Published figures" in md and "**Where we lose**" in md
    for label in ACCURACY_SMOKE_ROWS[dataset]:
        rows = _result_rows(md, label)
        assert any(_is_number(c) for r in rows for c in r[1:]), (label, rows)    # a results row
        assert any(len(r) == 6 for r in rows), (label, rows)                     # its training row
