"""The benchmark scripts run end to end on tiny sizes (seconds) and write their tables."""
import json
import math
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
    md = (out / "scaling_cpu_quick.md").read_text()
    assert md.startswith("# Scaling on cpu") and "Incomplete" not in md        # the run ended: no mark
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
    png = out / "scaling_cpu_quick.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp-")]   # atomic writes left no debris


_INTERRUPTED = """
import sys
sys.path.insert(0, {bench!r})
import scaling


def stop_at(limit):
    real = scaling.Runner.__call__

    def call(self, job, spec):
        if spec.get("N") == limit or (job == "horizon" and limit == "horizon"):
            raise KeyboardInterrupt      # as a user's Ctrl-C between two sizes
        return real(self, job, spec)
    scaling.Runner.__call__ = call


if __name__ == "__main__":
    stop_at({limit!r})
    try:
        scaling.main({argv!r})
    except KeyboardInterrupt:
        print("interrupted")
"""


@pytest.mark.parametrize("onehop", [False, True])
def test_scaling_marks_an_interrupted_table(tmp_path, onehop):
    out = tmp_path / "results"
    argv = ["--quick", "--out", str(out), "--models", "srnn_slot"] + (
        ["--onehop", "--epoch-budget", "0", "--timed-batches", "1", "--forecast-horizon", "0"] if onehop else [])
    limit = 400 if onehop else 30
    script = tmp_path / "interrupted.py"
    script.write_text(_INTERRUPTED.format(bench=str(BENCHMARKS), limit=limit, argv=argv))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join([str(ROOT)] + [
        q for q in [os.environ.get("PYTHONPATH")] if q]))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "interrupted" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = (out / f"scaling{'_onehop' if onehop else ''}_cpu_quick.md").read_text()
    rest = "" if onehop else " and forecast horizons 5, 10"
    assert md.startswith(f"**Incomplete**: sizes N = {limit}{rest} of this run are not measured yet"), md[:300]
    if not onehop:                                       # after the sizes, the horizons: the last words
        script.write_text(_INTERRUPTED.format(bench=str(BENCHMARKS), limit="horizon", argv=argv))
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        md = (out / "scaling_cpu_quick.md").read_text()
        assert md.startswith("**Incomplete**: forecast horizons 5, 10 of this run are not measured yet"), md[:300]


def test_scaling_onehop_quick(tmp_path):
    out = tmp_path / "results"
    run_script("scaling.py", "--onehop", "--quick", "--epoch-budget", "0", "--timed-batches", "3", "--out", str(out),
               cwd=tmp_path)
    md = (out / "scaling_onehop_cpu_quick.md").read_text()
    assert md.startswith("# One-hop mini-batch training against full-graph training on cpu")
    assert "Incomplete" not in md
    assert "Command: `python benchmarks/scaling.py --onehop --quick" in md and "--out" not in md
    for section in ("S-RNN (slot): one-hop batches of 64 seeds", "S-RNN (slot): full graph", "Forecast of the whole"):
        assert section in md
    # --quick: N = 100 (2 batches: a whole epoch) and 400 (7 batches; --epoch-budget 0: 3 timed, extrapolated)
    onehop = [table_rows(md, str(N), columns=14) for N in (100, 400)]
    assert [len(r) for r in onehop] == [1, 1], md
    assert "extrapolated" not in onehop[0][0] and "(extrapolated: 3 of 7 batches timed)" in onehop[1][0]
    assert onehop[1][0].split("|")[7].strip() not in ("", "-")          # a doubling factor
    full = [table_rows(md, str(N), columns=9) for N in (100, 400)]
    assert all(len(r) == 1 and (" ms |" in r[0] or " s |" in r[0]) for r in full), md
    assert "one-hop epoch: doubling N+E multiplies the epoch time by" in md
    png = out / "scaling_onehop_cpu_quick.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000

# ------------------------------------------------------------------ accuracy.py
ACCURACY_SPRINGS_ROWS = ("S-RNN (paper)", "S-RNN (improved)", "S-RNN (improved, spatial=False)", "NodeLSTM",
                         "GConvGRU", "STGCN", "LinearAR (pooled)", "ConstantVelocity", "ZeroVelocity")


def _load_module(name, filename):
    """Import a benchmarks/ script as a module (it imports benchmarks/common.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
    mod = importlib.util.module_from_spec(spec)
    had = {m: m in sys.modules for m in ("common", "accuracy_lib", "accuracy_results", "accuracy_published")}
    sys.path.insert(0, str(BENCHMARKS))
    sys.modules[spec.name] = mod                   # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop(spec.name, None)
        for m, present in had.items():
            if not present:
                sys.modules.pop(m, None)
    return mod


def _check_json(path, dataset, mode, seeds=1, models=("srnn", "srnn_spatial_false")):
    """The machine-readable results beside a table: issue 12's keys, every
    metric of every model with a lower_is_better entry; returns the object."""
    with open(path) as f:
        result = json.load(f)
    assert {"dataset", "mode", "seeds", "lower_is_better", "models"} <= set(result), sorted(result)
    assert result["dataset"] == dataset and result["mode"] == mode and result["seeds"] == seeds
    lower = result["lower_is_better"]
    assert lower and all(isinstance(v, bool) for v in lower.values()), lower
    for key in models:
        assert key in result["models"], (key, sorted(result["models"]))
    for key, metrics in result["models"].items():
        assert metrics, key
        for metric, value in metrics.items():
            assert metric in lower, (key, metric)
            assert value is None or (isinstance(value, float) and math.isfinite(value)), (key, metric, value)
        assert set(result["std"][key]) == set(metrics), key
    assert set(result["train_seconds"]) <= set(result["models"])
    return result


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
    # atomic writes, no debris: the table and its JSON twin
    assert sorted(p.name for p in out.iterdir()) == ["accuracy_springs_smoke.json", "accuracy_springs_smoke.md"]
    md = (out / "accuracy_springs_smoke.md").read_text()
    assert md.startswith("# Accuracy: Springs")
    assert "Command: `python " in md and "--dataset springs --smoke" in md and "torch " in md
    assert "Mode: **smoke" in md and "Seeds: 0 (1)" in md
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
    assert training["LinearAR (pooled)"][2].startswith("closed form") and training["LinearAR (pooled)"][3] == "-"
    # "Where we lose": computed from the JSON's means, both lists present
    lose = md.split("**Where we lose**")[1].split("\n## ")[0]
    assert "`srnn` (S-RNN (improved)) is not the best on:" in lose
    assert "`srnn_spatial_false` is at least as good as `srnn`" in lose
    assert "## Published figures" in md
    printed = [line for line in proc.stdout.splitlines() if line.startswith("[springs] ")]
    assert sum(label in line for line in printed for label in ACCURACY_SPRINGS_ROWS[:6]) >= 6
    assert any("SeasonalMean" in line and "skipped" in line for line in printed)   # no t_start in Springs
    result = _check_json(out / "accuracy_springs_smoke.json", "springs", "smoke",
                         models=("srnn", "srnn_spatial_false", "srnn_untuned", "srnn_paper", "node_lstm",
                                 "gconv_gru", "stgcn", "linear_ar", "constant_velocity", "zero_velocity"))
    assert "seasonal_mean" not in result["models"]
    # the validation score of every trained row's kept model, in the table and the JSON (what choices read)
    assert "Validation scores of the kept models" in md
    val = result["validation"]
    assert {"srnn", "srnn_spatial_false", "srnn_untuned", "srnn_paper", "node_lstm", "gconv_gru",
            "stgcn"} == set(val), sorted(val)
    # Springs' validation choice: the S-RNN rows have fused LSTM outputs, srnn_untuned does not
    built = {r[0]: r[1] for r in (_result_rows(md, label)[-1] for label in ACCURACY_SPRINGS_ROWS[1:3])}
    assert "fused LSTM outputs" in built["S-RNN (improved)"], built           # the choice and its reason
    assert "fused_lstm=True" in built["S-RNN (improved, spatial=False)"], built
    untuned_label = "| S-RNN (improved), the library's defaults in place of fused_lstm=True |"
    untuned = [r for r in md.splitlines() if r.startswith(untuned_label)]
    assert untuned and "fused_lstm" not in untuned[-1].split("|")[2], untuned
    assert val["srnn"]["metric"] == "validation mse" and val["srnn"]["runs"] == 1 and val["srnn"]["mean"] > 0
    val_row = [r for r in _result_rows(md, "S-RNN (improved)") if len(r) == 4][0]
    assert val_row[1] == "validation mse" and float(val_row[2]) == pytest.approx(val["srnn"]["mean"], rel=1e-3)
    assert set(result["lower_is_better"]) == {"mse@1", "mse@5", "mse@10", "mse@15", "mse@20", "mse@1-20"}
    assert all(result["lower_is_better"].values())
    assert result["runs"]["srnn"] == 1 and result["runs"]["linear_ar"] == 1
    # the table shows the JSON's means
    srnn_row = [r for r in _result_rows(md, "S-RNN (improved)") if len(r) == 7][0]
    assert float(srnn_row[1]) == pytest.approx(result["models"]["srnn"]["mse@1"], abs=1e-5)


def test_accuracy_springs_two_seeds(tmp_path):
    """--seeds 2: trained rows twice (mean ± std), untrained baselines once."""
    out = tmp_path / "results"
    proc = _accuracy("--dataset", "springs", "--smoke", "--seeds", "2", "--seed", "3", "--out", str(out),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = (out / "accuracy_springs_smoke.md").read_text()
    result = _check_json(out / "accuracy_springs_smoke.json", "springs", "smoke", seeds=2)
    assert result["seed_values"] == [3, 4]
    assert result["runs"]["srnn"] == 2 and result["runs"]["zero_velocity"] == 1
    # what the run was made with (accuracy_join.py compares it): the mode's settings, data seed, device
    made = result["settings"]
    assert made["settings"]["epochs"] == 1 and made["data_seed"] == 3 and made["device"] == "cpu"
    assert made["ablation"] is False and made["srnn_pyg"]
    assert result["validation"]["srnn"]["runs"] == 2 and result["validation"]["srnn"]["std"] >= 0
    assert "Seeds: 3, 4 (2)" in md
    row = [r for r in _result_rows(md, "S-RNN (improved)") if len(r) == 7][0]
    assert all(" ± " in c for c in row[1:]), row
    assert " ± " not in [r for r in _result_rows(md, "ZeroVelocity") if len(r) == 7][0][1]
    mean, std = (float(v) for v in row[1].split(" ± "))
    assert mean == pytest.approx(result["models"]["srnn"]["mse@1"], abs=1e-5)
    assert std == pytest.approx(result["std"]["srnn"]["mse@1"], abs=1e-5)


def test_accuracy_result_names(tmp_path):
    mod = _load_module("accuracy_bench", "accuracy.py")
    assert os.path.basename(mod.result_path("r", "los_loop", "default")) == "accuracy_los_loop.md"
    assert os.path.basename(mod.result_path("r", "los_loop", "default", "json")) == "accuracy_los_loop.json"
    assert os.path.basename(mod.result_path("r", "cmu_mocap", "smoke", "json")) == "accuracy_cmu_mocap_smoke.json"
    assert os.path.basename(mod.result_path("r", "los_loop", "quick")) == "accuracy_los_loop_quick.md"
    assert os.path.basename(mod.result_path("r", "eth_ucy", "full")) == "accuracy_eth_ucy_full.md"
    args = mod.parse_args(["--dataset", "cmu_mocap", "--quick", "--epochs", "3"])
    assert args.mode == "quick" and args.epochs == 3 and args.device == "cpu"
    assert mod.parse_args(["--dataset", "all"]).mode == "default"
    assert mod.parse_args(["--dataset", "all", "--seeds", "5"]).seeds == 5
    # default seeds: 3 in the default and full modes, 1 in smoke and quick
    for argv, n in ((["--dataset", "springs"], 3), (["--dataset", "springs", "--full"], 3),
                    (["--dataset", "springs", "--quick"], 1), (["--dataset", "springs", "--smoke"], 1),
                    (["--dataset", "springs", "--seeds", "2", "--seed", "7"], 2)):
        args = mod.parse_args(argv)
        ctx = mod.Context(args, mod.BENCHES["springs"])
        assert len(ctx.seeds) == n and ctx.seeds[0] == args.seed, (argv, ctx.seeds)
    # --first-seed: other training seeds on the same data seed
    ctx = mod.Context(mod.parse_args(["--dataset", "springs", "--seeds", "2", "--first-seed", "4"]),
                      mod.BENCHES["springs"])
    assert ctx.seeds == [4, 5] and ctx.run_seed == 4 and ctx.seed == 0
    with pytest.raises(SystemExit):
        mod.parse_args(["--dataset", "springs", "--first-seed", "-1"])
    # default and full modes stop early on validation under a generous epoch limit
    for bench in mod.BENCHES.values():
        for mode in ("default", "full"):
            cfg = bench.modes[mode]
            assert cfg.get("patience") and cfg["epochs"] >= 3 * cfg["patience"], (bench.dataset, mode, cfg)


def test_accuracy_aggregate_two_seeds():
    """Mean and sample standard deviation over seeds, per metric; a single
    run has std 0; a metric missing or NaN in a run counts only where finite."""
    res = _load_module("accuracy_results_t", "accuracy_results.py")
    agg = res.aggregate([{"mse@1": 1.0, "mae": 3.0, "f1": math.nan}, {"mse@1": 2.0, "mae": 5.0, "f1": 40.0}])
    assert list(agg) == ["mse@1", "mae", "f1"]
    assert agg["mse@1"].mean == pytest.approx(1.5) and agg["mse@1"].n == 2
    assert agg["mse@1"].std == pytest.approx(math.sqrt(0.5))          # sample std: sqrt(((1-1.5)^2+(2-1.5)^2)/1)
    assert agg["mae"].mean == pytest.approx(4.0) and agg["mae"].std == pytest.approx(math.sqrt(2.0))
    assert agg["f1"].mean == 40.0 and agg["f1"].std == 0.0 and agg["f1"].n == 1
    one = res.aggregate([{"ade_avg": 0.5}])
    assert one["ade_avg"] == res.Stat(0.5, 0.0, 1)
    assert math.isnan(res.aggregate([{"x": math.nan}])["x"].mean)
    assert res.cell(agg["mse@1"], 2) == "1.50 ± 0.71" and res.cell(one["ade_avg"], 2) == "0.50"
    assert res.cell(agg["f1"], 1, "%") == "40.0%"
    # the JSON and the where-we-lose lines computed from it
    table = {"S-RNN (improved)": agg, "S-RNN (improved, spatial=False)": res.aggregate([{"mse@1": 1.2, "mae": 6.0}]),
             "LastValue": res.aggregate([{"mse@1": 1.4, "mae": 3.5}])}
    keys = {"S-RNN (improved)": "srnn", "S-RNN (improved, spatial=False)": "srnn_spatial_false",
            "LastValue": "zero_velocity"}
    out = res.results_json("toy", "smoke", [0, 1], table, keys, lambda k: None if k == "f1" else True,
                           {"S-RNN (improved)": 2.0})
    assert out["models"]["srnn"] == {"mse@1": 1.5, "mae": 4.0} and out["lower_is_better"] == {"mse@1": True,
                                                                                          "mae": True}
    assert out["std"]["srnn"]["mse@1"] == pytest.approx(math.sqrt(0.5)) and out["runs"]["srnn"] == 2
    assert out["seeds"] == 2 and out["train_seconds"] == {"srnn": 2.0}
    lines = "\n".join(res.lose_lines(out, digits=2))
    assert "- `mse@1`: 1.50 vs 1.20, S-RNN (improved, spatial=False) (`srnn_spatial_false`) and 1 more" in lines
    assert "- `mae`: 4.00 vs 3.50, LastValue (`zero_velocity`)" in lines
    assert "`mse@1` (1.20 vs 1.50)" in lines and "`mae` (6.00" not in lines
    with pytest.raises(ValueError, match="share the model key"):
        res.results_json("toy", "smoke", [0], table, dict.fromkeys(table, "srnn"), lambda k: True, {})


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
              "NodeLSTM", "ConstantVelocity", "ZeroVelocity", "LinearAR (pooled)"]
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
    assert "Social-STGCNN" in md and "confirmed (Social-STGCNN issue 47)" in md      # published, with its status
    result = _check_json(out / "accuracy_eth_ucy_smoke.json", "eth_ucy", "smoke",
                         models=("srnn", "srnn_spatial_false", "srnn_paper", "srnn_gaussian", "node_lstm",
                                 "constant_velocity", "zero_velocity", "linear_ar"))
    assert {"ade_avg", "fde_avg", "ade_hotel", "min_ade@4_avg", "min_fde@4_per_scene_avg"} <= set(
        result["lower_is_better"])
    assert result["models"]["srnn_gaussian"]["min_ade@4_avg"] <= result["models"]["srnn_gaussian"][
        "min_ade@4_per_scene_avg"] + 1e-6
    # the breakdown by nearest neighbour: one row per model and bin, and the bins' shares
    assert {"ade_nn_lt1_avg", "fde_nn_1to3_hotel", "ade_nn_ge3_avg"} <= set(result["lower_is_better"])
    by_bin = md.split("## ADE / FDE by the distance to the nearest other pedestrian")[1].split("\n## ")[0]
    assert sum(r.startswith("| ConstantVelocity |") for r in by_bin.splitlines()) == 3
    assert "share of the test pedestrians per bin (hotel: within 1 m " in md


ACCURACY_SMOKE_ROWS = {
    "cmu_mocap": ("S-RNN (paper)", "S-RNN (improved)", "S-RNN (improved, spatial=False)", "NodeLSTM", "ERD",
                  "LSTM-3LR", "ConstantVelocity", "ZeroVelocity", "LinearAR (pooled)"),
    "los_loop": ("S-RNN (paper)", "S-RNN (improved)", "S-RNN (improved, spatial=False)", "NodeLSTM", "GConvGRU",
                 "STGCN", "LinearAR (pooled)", "SeasonalMean (time of day)", "LastValue", "ObservedMean"),
    "chickenpox": ("S-RNN (paper)", "S-RNN (improved)", "S-RNN (improved, spatial=False)", "NodeLSTM",
                   "GConvGRU", "STGCN", "LinearAR (pooled)", "LastValue", "Zero (the data's mean)"),
    "brain4cars": ("S-RNN", "S-RNN (spatial=False)", "S-RNN, ReLU encoder and PyTorch's init (before 0.2)",
                   "NodeLSTM"),
}
#: model keys each smoke JSON must hold, and metric keys in issue 12's style
ACCURACY_SMOKE_KEYS = {
    "cmu_mocap": (("srnn_paper", "erd", "lstm3lr", "linear_ar", "zero_velocity"),
                  ("euler@80ms", "euler@1000ms", "euler@80ms_walking")),
    "los_loop": (("srnn_paper", "linear_ar", "seasonal_mean", "zero_velocity", "observed_mean"),
                 ("mae@15", "rmse@60", "mape@30", "cum_rmse@15")),
    "chickenpox": (("srnn_paper", "linear_ar", "zero_velocity", "zero"), ("mse", "mae")),
    "brain4cars": (("node_lstm", "srnn_before_0_2"), ("precision", "recall", "f1", "f1_fold1")),
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
    assert "alidation" in md.split("## Protocol")[1].split("\n## ")[0]          # how validation was made
    models, metrics = ACCURACY_SMOKE_KEYS[dataset]
    result = _check_json(out / f"accuracy_{dataset}_smoke.json", dataset, "smoke",
                         models=("srnn", "srnn_spatial_false") + models)
    assert set(metrics) <= set(result["lower_is_better"]), sorted(result["lower_is_better"])
    higher = {"precision", "recall", "f1", "time_to_maneuver"}
    assert all(v == (k.split("_fold")[0] not in higher) for k, v in result["lower_is_better"].items())
    assert not any(k.startswith("threshold") for k in result["lower_is_better"])   # choices are not metrics
    if dataset == "cmu_mocap":        # "built as": the keywords built, then why they were chosen
        built = [r for r in _result_rows(md, "S-RNN (improved)") if len(r) == 6]
        assert built and "dropout=0.3" in built[0][1] and "(chosen on validation: " in built[0][1], built
        # the protocol's validation score (the mean Euler error) is what CMU's rows are selected on ...
        val = result["validation"]
        assert val["srnn"]["metric"] == "validation euler" and "the rows were selected on `euler`" in md
        assert {"euler", "euler@80ms"} <= set(val["srnn"]["protocol"]) and "protocol" in val["node_lstm"]
        assert val["srnn"]["mean"] == pytest.approx(val["srnn"]["protocol"]["euler"]["mean"], rel=1e-6)
        # ... and, with select=mse, it is recorded for the kept model without being selected on
        sel = tmp_path / "select"
        proc = _accuracy("--dataset", dataset, "--smoke", "--set", "select=mse", "--rows", "srnn", "--out",
                         str(sel), cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        part = f"accuracy_{dataset}_smoke_rows_srnn"                    # a partial run has its own name
        pooled = json.loads((sel / f"{part}.json").read_text())["validation"]["srnn"]
        assert pooled["metric"] == "validation mse" and "euler" in pooled["protocol"]
        assert "recorded, not selected on" in (sel / f"{part}.md").read_text()
    if dataset == "brain4cars":       # a row's own TrainConfig fields reach its training, and its table row
        wd = [r for r in _result_rows(md, "S-RNN, LSTM cells, weight decay 1e-3") if len(r) == 6]
        assert wd and "`weight_decay=0.001`" in wd[0][2], wd
        val = result["validation"]
        # the same model (LSTM cells), the same seed, another training
        assert val["srnn_weight_decay_1e_3"]["mean"] != val["srnn_lstm"]["mean"]
        gru = [r for r in _result_rows(md, "S-RNN (spatial=False)") if len(r) == 6]  # the chosen cells are built
        assert gru and "cell='gru'" in gru[0][1], gru


def test_eth_score_bins_partition_the_pedestrians(tmp_path):
    """The ETH/UCY breakdown by nearest neighbour: each bin's ADE/FDE is over
    its own pedestrians, so the count-weighted mean of the bins is the overall
    score; an empty bin is NaN."""
    import torch

    sys.path.insert(0, str(ROOT / "tests" / "datasets"))
    try:
        from test_eth_ucy import TRACKS, _lines, write_eth_ucy
    finally:
        sys.path.remove(str(ROOT / "tests" / "datasets"))
    from srnn_pyg.datasets import ETHUCY

    mod = _load_module("accuracy_bench", "accuracy.py")

    class Ev:
        pass

    def score(tracks, name):
        root = write_eth_ucy(tmp_path / name, hotel=_lines(tracks))
        test = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial")
        n = test.num_nodes_total
        gen = torch.Generator().manual_seed(0)
        y = torch.randn(n, 2, 2, generator=gen)
        ev = Ev()
        ev.test, ev.collected = test, {"pred": y + torch.randn(n, 2, 2, generator=gen), "y": y,
                                       "y_mask": torch.rand(n, 2, generator=gen) > 0.2}
        return mod.eth_score(ev), test.neighbour_distance(), ev.collected["y_mask"].all(1)

    # four walkers side by side at 0, 0.5, 2.5 and 10 m: nearest neighbours 0.5, 0.5, 2 and 7.5 m
    lanes = [(10 * k, p + 1, k, off) for k in range(6) for p, off in enumerate((0.0, 0.5, 2.5, 10.0))]
    out, dist, scored = score(lanes, "lanes")
    for metric in ("ADE", "FDE"):
        total, count = 0.0, 0
        for tag, _, lo, hi in mod.NN_BINS:
            k = int((scored & (dist >= lo) & (dist < hi)).sum())
            assert k > 0, tag                                             # every bin is used
            total, count = total + k * out[f"{metric} ({tag})"], count + k
        assert count == int(scored.sum()) and total / count == pytest.approx(out[metric], rel=1e-5)
    ev = Ev()                                                             # no y_mask: every pedestrian scored
    ev.test = ETHUCY(tmp_path / "lanes", test_scene="hotel", split="test", obs=2, horizon=2, keep="partial")
    n = ev.test.num_nodes_total
    ev.collected = {"pred": torch.ones(n, 2, 2), "y": torch.zeros(n, 2, 2)}
    assert all(v == pytest.approx(2 ** 0.5) for v in mod.eth_score(ev).values())
    out, dist, _ = score(TRACKS, "far")                                   # everyone 3 m or more apart
    assert bool((dist >= 3).all())
    assert math.isnan(out["ADE (nn_lt1)"]) and math.isnan(out["FDE (nn_1to3)"])
    assert out["ADE (nn_ge3)"] == pytest.approx(out["ADE"])


@pytest.mark.parametrize("monitor,after,kept", [("ade", 0.9, True), ("ade", 1.1, False), ("mae", 1.1, False),
                                                ("mse", 1.0, False), (None, 0.9, True), (None, 1.1, False)])
def test_rollout_fine_tuning_is_kept_on_the_monitored_metric(monkeypatch, monitor, after, kept):
    """The keep/drop choice after rollout fine-tuning reads the metric early
    stopping reads (the ADE, MAE or MSE on the validation split); without a
    validation split, the rollout MSE on a spread of training windows. A tie
    drops it, and a dropped fine-tuning restores the teacher-forced weights."""
    import types

    import torch

    lib = _load_module("accuracy_lib_t", "accuracy_lib.py")
    model = torch.nn.Linear(2, 2)
    val_loader = object()
    asked = []

    def evaluate(m, data_loader, metrics, device):
        asked.append((data_loader, list(metrics)))
        return {name: 1.0 if len(asked) == 1 else after for name in metrics}

    monkeypatch.setattr(lib, "evaluate", evaluate)
    monkeypatch.setattr(lib, "every", lambda dataset, k, limit=None: dataset[::k][:limit])
    monkeypatch.setattr(lib, "loader", lambda dataset, batch_size, shuffle=False: dataset)
    result = types.SimpleNamespace(epochs_run=3, best_epoch=2, stopped_early=False, history=[])

    class Run:
        train_loader = types.SimpleNamespace(batch_size=4)

        def __init__(self):
            self.monitor = monitor
            self.val_loader = val_loader if monitor is not None else None

        def __call__(self, objective, epochs, lr, noise=None, recipe=None):
            if objective == "rollout":
                with torch.no_grad():
                    model.weight.add_(1.0)             # the fine-tuning changes the weights
            return result

    ctx = types.SimpleNamespace(cfg=dict(rollout_share=1 / 3, rollout_lr_factor=1 / 3, select_windows=4),
                                device="cpu")
    t = types.SimpleNamespace(model=model, epochs="", recipe="")
    before = model.weight.detach().clone()
    lib._tf_then_rollout(ctx, t, Run(), list(range(8)), 6, 1e-3, None)
    windows = val_loader if monitor is not None else [0, 2, 4, 6]   # every 2nd of 8 training windows
    assert asked == [(windows, [monitor or "mse"])] * 2
    assert torch.equal(model.weight, before) != kept
    assert t.epochs.endswith("(kept)" if kept else "(dropped)")
    where = "validation" if monitor is not None else "training-window"
    assert t.recipe.endswith(f"(kept only if it lowers the {where} rollout {(monitor or 'mse').upper()})")


@pytest.mark.parametrize("after,kept", [(0.9, True), (1.1, False)])
def test_refit_replays_the_phases_kept_on_validation_on_train_and_val(monkeypatch, after, kept):
    """``--set refit=1``: the phases kept on validation (their best epoch counts and rates; the rollout phase
    only where kept) are replayed on a fresh model over the training and validation windows together, without
    validation; a bench whose validation part is not carved refuses it."""
    import types

    import torch

    lib = _load_module("accuracy_lib_t", "accuracy_lib.py")
    model = torch.nn.Linear(2, 2)
    monkeypatch.setattr(lib, "evaluate", lambda m, data_loader, metrics, device: {
        n: 1.0 if not model.weight.sum() > 100 else after for n in metrics})
    results = {"teacher_forcing": types.SimpleNamespace(epochs_run=7, best_epoch=4, stopped_early=True, history=[]),
               "rollout": types.SimpleNamespace(epochs_run=3, best_epoch=2, stopped_early=False, history=[])}

    class Run:
        monitor, val_loader, train_loader = "mse", object(), types.SimpleNamespace(batch_size=4)

        def __call__(self, objective, epochs, lr, noise=None, recipe=None):
            if objective == "rollout":
                with torch.no_grad():
                    model.weight.add_(1000.0)
            return results[objective]

    ctx = types.SimpleNamespace(cfg=dict(rollout_share=1 / 3, rollout_lr_factor=1 / 4, select_windows=4, batch=8),
                                device="cpu", dataset="cmu_mocap", log=lambda text: None,
                                bench=types.SimpleNamespace(refit_on=lambda sets, key: sets[f"{key}_full"]))
    t = lib.Trained("S-RNN", model, "srnn")
    lib._tf_then_rollout(ctx, t, Run(), list(range(8)), 9, 1e-3, "noise")
    assert t.plan == [("teacher_forcing", 4, 1e-3, "noise")] + ([("rollout", 2, 1e-3 / 4, None)] if kept else [])
    fresh, replayed = torch.nn.Linear(2, 2), []

    class Refitter:
        def __init__(self, ctx_, m, train_set, val_set, batch, classification, refit=False):
            assert m is fresh and val_set is None and refit and batch == 8 and not classification
            replayed.append(("data", train_set))
            self.base = {}

        def __call__(self, objective, epochs, lr, noise=None, recipe=None):
            replayed.append((objective, epochs, lr, noise))

    monkeypatch.setattr(lib, "_Fitter", Refitter)
    monkeypatch.setattr(lib, "build_row", lambda ctx_, row, settings, data: lib.Trained("S-RNN", fresh, "srnn"))
    row = lib.Row("S-RNN", "srnn", recipe="tf+rollout", train_on="train_pv")
    sets = {"train_pv": [1, 2], "train_pv_full": [1, 2, 3]}
    out = lib.refit(ctx, t, row, {}, sets)
    assert replayed == [("data", [1, 2, 3])] + t.plan and out.model is fresh
    assert out.epochs.endswith("refit on train + val: tf 4" + (" + rollout 2" if kept else ""))
    ctx.bench = types.SimpleNamespace(refit_on=None)
    with pytest.raises(ValueError, match="refit: cmu_mocap's validation part is not carved"):
        lib.refit(ctx, t, row, {}, sets)
    # a row of the official recipe cannot be replayed: refused before anything trains
    rows = [row, lib.Row("S-RNN (paper)", "srnn", recipe="paper", key="srnn_paper_recipe")]
    bench = types.SimpleNamespace(rows=lambda settings: rows)
    ctx.args = types.SimpleNamespace(rows=None)
    ctx.cfg["refit"] = True
    monkeypatch.setattr(lib, "run_row", lambda *a, **k: pytest.fail("a row trained"))
    with pytest.raises(ValueError, match=r"refit: the rows \['srnn_paper_recipe'\] train by the official recipe"):
        lib.score_group(ctx, bench, lib.Results(), "", {}, {})


@pytest.mark.parametrize("after,kept", [(0.9, True), (1.0, False)])
def test_rollout_fine_tuning_is_kept_on_a_protocol_score(monkeypatch, after, kept):
    """With ``select`` naming a key of the protocol's validation score (CMU's ``euler``), the keep/drop
    choice reads that key of ``protocol(collect(model, val_loader))``, not a pooled metric."""
    import types

    import torch

    lib = _load_module("accuracy_lib_t", "accuracy_lib.py")
    model = torch.nn.Linear(2, 2)
    the_val, calls = object(), []
    monkeypatch.setattr(lib, "evaluate", lambda *a, **k: pytest.fail("a pooled metric was read"))
    monkeypatch.setattr(lib, "collect", lambda m, data_loader, device: calls.append(data_loader) or {"n": len(calls)})
    score = lambda collected: {"euler": 1.0 if collected["n"] == 1 else after, "euler@80ms": 5.0}  # noqa: E731

    class Run:
        monitor, val_loader, protocol = "euler", the_val, staticmethod(score)
        train_loader = types.SimpleNamespace(batch_size=4)

        def __call__(self, objective, epochs, lr, noise=None, recipe=None):
            if objective == "rollout":
                with torch.no_grad():
                    model.weight.add_(1.0)
            return types.SimpleNamespace(epochs_run=3, best_epoch=2, stopped_early=False, history=[])

    ctx = types.SimpleNamespace(cfg=dict(rollout_share=1 / 3, rollout_lr_factor=1 / 3, select_windows=4),
                                device="cpu")
    t = types.SimpleNamespace(model=model, epochs="", recipe="")
    before = model.weight.detach().clone()
    lib._tf_then_rollout(ctx, t, Run(), list(range(8)), 6, 1e-3, None)
    assert calls == [the_val] * 2
    assert torch.equal(model.weight, before) != kept
    assert t.recipe.endswith("(kept only if it lowers the validation protocol score `euler`)")


def test_select_needs_a_protocol_score():
    """``--set select=KEY`` on a bench without a protocol validation score (or without a validation split) is
    refused, naming the setting; with one, fit monitors that key (minimised); without ``select`` the protocol is
    recorded for the kept model only."""
    import types

    import torch

    lib = _load_module("accuracy_lib_t", "accuracy_lib.py")
    bench = types.SimpleNamespace(val_score=None)
    ctx = types.SimpleNamespace(cfg=dict(select="euler", patience=2), bench=bench, dataset="springs",
                                run_seed=0, device="cpu")
    with pytest.raises(ValueError, match="select='euler': springs has no protocol score on a validation split"):
        lib._Fitter(ctx, torch.nn.Linear(2, 2), list(range(4)), list(range(4)), 4, False)
    score = lambda collected: {"euler": 1.0}  # noqa: E731
    bench.val_score = lambda val_set: score
    run = lib._Fitter(ctx, torch.nn.Linear(2, 2), list(range(4)), list(range(4)), 4, False)
    assert (run.base["monitor"], run.base["monitor_mode"], run.base["val_score"]) == ("val_euler", "min", score)
    assert run.monitor == "euler" and run.protocol is score
    ctx.cfg["select"] = None            # recorded at the end (protocol_now), not passed to fit: no extra epoch pass
    run = lib._Fitter(ctx, torch.nn.Linear(2, 2), list(range(4)), list(range(4)), 4, False)
    assert run.base["monitor"] == "val_mse" and "val_score" not in run.base and run.protocol is score
    for pooled in ("mse", "mae", "ade"):     # a pooled rollout error of evaluate's, bench score or not
        ctx.cfg["select"] = pooled
        for val_score in (score, None):
            bench.val_score = None if val_score is None else (lambda val_set: score)
            run = lib._Fitter(ctx, torch.nn.Linear(2, 2), list(range(4)), list(range(4)), 4, False)
            assert run.base["monitor"] == f"val_{pooled}" and pooled in run.base["metrics"]
            assert "val_score" not in run.base and run.monitor == pooled
    with pytest.raises(ValueError, match="select='ade': a classifier is selected on its validation cross-entropy"):
        lib._Fitter(ctx, torch.nn.Linear(2, 2), list(range(4)), list(range(4)), 4, True)


def test_rollout_fine_tuning_refuses_other_monitors():
    """A row may not choose its own monitor: the keep/drop choice needs a rollout error."""
    import types

    lib = _load_module("accuracy_lib_t", "accuracy_lib.py")
    ctx = types.SimpleNamespace(cfg=dict(rollout_share=1 / 3, rollout_lr_factor=1 / 3, select_windows=4),
                                device="cpu")
    t = types.SimpleNamespace(model=None, epochs="", recipe="")

    class Run:
        monitor, val_loader, train_loader = "loss", object(), None

        def __call__(self, *args, **kwargs):
            return types.SimpleNamespace(epochs_run=1, best_epoch=1, stopped_early=False, history=[])

    with pytest.raises(ValueError, match="rollout error"):
        lib._tf_then_rollout(ctx, t, Run(), [], 6, 1e-3, None)


def test_machine_lists_allocator_settings_without_folders(monkeypatch):
    """Benchmark headers name the allocator settings a run was made with
    (they change speed), and a preloaded library by its file name only."""
    common = _load_module("bench_common", "common.py")
    env = {"MALLOC_TRIM_THRESHOLD_": "4294967296", "LD_PRELOAD": "/opt/x/libjemalloc.so.2:/usr/lib/libfoo.so",
           "GLIBC_TUNABLES": "glibc.malloc.mmap_max=0", "HOME": "/root", "MALLOCX": "1"}
    assert common.allocator_settings(env) == ["GLIBC_TUNABLES=glibc.malloc.mmap_max=0",
                                              "LD_PRELOAD=libjemalloc.so.2 libfoo.so",
                                              "MALLOC_TRIM_THRESHOLD_=4294967296"]
    for key in list(os.environ):
        if key.startswith(common._ALLOCATOR_PREFIXES):
            monkeypatch.delenv(key)
    assert "memory allocation" not in common.machine()
    monkeypatch.setenv("LD_PRELOAD", "/some/folder/libtcmalloc.so")
    header = common.machine()
    assert "`LD_PRELOAD=libtcmalloc.so`" in header and "/some/folder" not in header


def _write_motion(root, layout):
    """Smooth random CMU-like recordings: {split: {action: [lines, ...]}}."""
    import numpy as np
    rng = np.random.default_rng(0)
    for split, actions in layout.items():
        for action, lengths in actions.items():
            folder = Path(root) / "cmu_mocap" / split / action
            folder.mkdir(parents=True, exist_ok=True)
            for n, T in enumerate(lengths, start=1):
                t = np.arange(T)[:, None]
                x = rng.uniform(0.1, 0.7, (1, 117)) * np.sin(rng.uniform(0.02, 0.2, (1, 117)) * t
                                                             + rng.uniform(0, 6.3, (1, 117)))
                np.savetxt(folder / f"{action}_{n}.txt", x, delimiter=",", fmt="%.9g")


@pytest.mark.parametrize("stride,val_stride", [(20, 7), (7, 20)])
def test_cmu_validation_windows_at_their_own_stride(tmp_path, stride, val_stride):
    """``val_stride`` takes the validation windows from the held-out
    recordings (each action's last training file) at that stride, every start
    from 0 to the last one that fits, leaves the training windows as they
    are, and the velocity (and loss-weighted) windows match the pose windows
    one for one, with their own features."""
    _write_motion(tmp_path, {"train": {"walking": [400, 360, 330], "running": [380, 300]},
                             "test": {"walking": [400], "running": [400]}})
    mod = _load_module("accuracy_bench", "accuracy.py")
    bench = mod.BENCHES["cmu_mocap"]
    ctx = mod.Context(mod.parse_args(["--dataset", "cmu_mocap", "--smoke", "--data-root", str(tmp_path)]), bench)
    open_splits = mod.Context.__init__.__globals__["open_splits"]     # accuracy_lib's

    def windows(view):
        return [view.index[i] for i in view.indices()]

    cfg = dict(ctx.cfg, stride=stride, actions=None)
    same = open_splits(ctx, bench.splits(cfg, None))
    own = open_splits(ctx, bench.splits(dict(cfg, val_stride=val_stride), None))
    assert not any(k.startswith("val_windows") for k in own)
    for name in ("", "_pv", "_pvw"):
        assert windows(own[f"train{name}"]) == windows(same["train"])
    val = windows(own["val"])
    held = {r for r, _ in windows(same["val"])}
    assert len(held) == 2 and {r for r, _ in val} == held and not held & {r for r, _ in windows(own["train"])}
    starts = sorted(sorted(s for q, s in val if q == r) for r in held)    # 165 and 150 frames at 25 fps
    assert starts == sorted(list(range(0, T // 2 - 75 + 1, val_stride)) for T in (330, 300))
    assert windows(own["val_pv"]) == val and windows(own["val_pvw"]) == val
    pose, vel, weighted = own["val"][0], own["val_pv"][0], own["val_pvw"][0]
    assert vel.x.size(-1) == 2 * pose.x.size(-1) == own["train_pv"][0].x.size(-1)
    assert "y_weight" in weighted and "y_weight" not in vel


def test_cmu_rows_take_the_chosen_dropout():
    """CMU's dropout (0.3, chosen on validation) is a setting of every mode
    and, through ``--set dropout=...`` too, reaches the shipped S-RNN, its
    model without edges and NodeLSTM; each ``*_no_dropout`` row is its model
    with that one keyword off, trained and scored the same way; the rows
    measured before dropout keep none."""
    import torch

    from srnn_pyg.models import build
    from srnn_pyg.testing import fake_st_data

    mod = _load_module("accuracy_bench", "accuracy.py")
    bench = mod.BENCHES["cmu_mocap"]
    Context = mod.Context
    assert {m: s["dropout"] for m, s in bench.modes.items()} == {m: 0.3 for m in bench.modes}
    d = fake_st_data(num_nodes=5, T=4, F=3, generator=torch.Generator().manual_seed(0))

    def how(row):
        return (row.name, row.recipe, row.train_on, row.val_on, row.test_on, row.epochs, row.noise, row.train)

    for given, p in ((None, 0.3), ("0.1", 0.1), ("0", 0.0)):
        argv = ["--dataset", "cmu_mocap", "--smoke"] + (["--set", f"dropout={given}"] if given else [])
        s = dict(Context(mod.parse_args(argv), bench).cfg, velocity_scale=2.0, num_nodes=5)
        rows = {r.json_key: r for r in bench.rows(s)}
        kw = {k: rows[k].kwargs(s) for k in rows if rows[k].name in ("srnn", "node_lstm")}
        assert {k: kw[k]["dropout"] for k in ("srnn", "srnn_spatial_false", "node_lstm")} == \
            dict.fromkeys(("srnn", "srnn_spatial_false", "node_lstm"), p)
        assert kw["srnn_spatial_false"] == dict(kw["srnn"], spatial=False)
        for key, ablation in (("srnn", "srnn_no_dropout"), ("srnn_spatial_false", "srnn_spatial_false_no_dropout"),
                              ("node_lstm", "node_lstm_no_dropout")):
            off = kw[ablation]
            assert {k: v for k, v in off.items() if k != "dropout"} == {k: v for k, v in kw[key].items()
                                                                       if k != "dropout"}
            assert off.get("dropout", 0.0) == 0.0 and how(rows[ablation]) == how(rows[key])
        for key in ("srnn_positions", "srnn_weighted", "srnn_wide"):          # measured without dropout
            assert kw[key].get("dropout", 0.0) == 0.0, key
        for key in ("srnn", "node_lstm"):           # the keyword reaches the built model
            model = build(rows[key].name, d.schema, 6 if key == "srnn" else 3, 3, **kw[key])
            assert model.dropout == p


def test_cmu_former_scoring_scores_the_same_models_both_ways(tmp_path):
    """--set former_scoring=1: each CMU row also gets former_<ms>, the Euler error with its predicted constant
    dimensions kept; ZeroVelocity (which repeats observed poses) scores the same both ways."""
    import numpy as np
    _write_motion(tmp_path, {"train": {"walking": [400, 360, 330], "running": [380, 300]},
                             "test": {"walking": [400], "running": [400]}})
    for path in (tmp_path / "cmu_mocap").rglob("*.txt"):          # a few columns that never move
        x = np.loadtxt(path, delimiter=",")
        x[:, [6, 7, 8, 30]] = 0.25
        np.savetxt(path, x, delimiter=",", fmt="%.9g")
    proc = _accuracy("--dataset", "cmu_mocap", "--smoke", "--set", "former_scoring=1", "--rows", "srnn",
                     "zero_velocity", "--out", str(tmp_path / "out"), cwd=tmp_path,
                     env_update={"SRNN_PYG_DATA": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    models = json.loads((tmp_path / "out" / "accuracy_cmu_mocap_smoke_rows_srnn_zero_velocity.json")
                        .read_text())["models"]
    zv, srnn = models["zero_velocity"], models["srnn"]
    assert zv["euler@former_80ms"] == pytest.approx(zv["euler@80ms"])
    assert srnn["euler@former_80ms"] != pytest.approx(srnn["euler@80ms"], abs=1e-6)
