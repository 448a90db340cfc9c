"""An audit of the accuracy benchmark: the committed tables agree with their JSON results, seeds merge
exactly, settings given with ``--set`` mean what they say, the reports state which standard deviation
they show, and (with the real data) the validation parts and statistics come from training data only."""
import argparse
import glob
import json
import math
import os
import re
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"


def _load(name, filename):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
    mod = importlib.util.module_from_spec(spec)
    had = {m: m in sys.modules for m in ("common", "accuracy_lib", "accuracy_results", "accuracy_published")}
    sys.path.insert(0, str(BENCHMARKS))
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop(spec.name, None)
        for m, present in had.items():
            if not present:
                sys.modules.pop(m, None)
    return mod


@pytest.fixture(scope="module")
def acc():
    return _load("accuracy_audit", "accuracy.py")


@pytest.fixture(scope="module")
def results_mod():
    return _load("accuracy_results_audit", "accuracy_results.py")


@pytest.fixture(scope="module")
def join_mod():
    return _load("accuracy_join_audit", "accuracy_join.py")


def _committed():
    return sorted(glob.glob(str(RESULTS / "accuracy_*.json")) + glob.glob(str(RESULTS / "ablation_*.json")))


def test_committed_where_we_lose_lists_are_computed_from_their_json(results_mod):
    """Every committed table's "where we lose" list is exactly what its JSON's means give (any subject)."""
    checked = 0
    for path in _committed():
        result = json.loads(Path(path).read_text())
        md = Path(path).with_suffix(".md").read_text()
        head = re.search(r"where `([^`]+)` is not the single best model, and where `([^`]+)`", md)
        subject, ablation = head.groups() if head else (results_mod.SUBJECT, results_mod.ABLATION)
        blocks = ["\n".join(results_mod.lose_lines(result, d, subject, ablation)) for d in range(1, 6)]
        assert any(b in md for b in blocks), os.path.basename(path)
        checked += 1
    assert checked > 50


def test_committed_json_has_the_promised_format():
    """``{"dataset", "mode", "seeds", "lower_is_better", "models": {key: {metric: mean}}}``, a direction for
    every metric, ``seeds`` the number of seed values, each distinct."""
    for path in _committed():
        r = json.loads(Path(path).read_text())
        name = os.path.basename(path)
        assert {"dataset", "mode", "seeds", "lower_is_better", "models"} <= set(r), name
        assert all(isinstance(v, bool) for v in r["lower_is_better"].values()), name
        for means in r["models"].values():
            assert set(means) <= set(r["lower_is_better"]), name
            assert all(v is None or isinstance(v, (int, float)) for v in means.values()), name
        if "seed_values" in r:
            assert len(r["seed_values"]) == r["seeds"] == len(set(r["seed_values"])), name


def test_committed_validation_tables_are_sample_statistics_of_their_runs():
    """The validation table's mean ± std is the mean and sample std (n - 1) of the per-run values listed."""
    rows = 0
    for path in sorted(RESULTS.glob("*.md")):
        md = path.read_text()
        if "| model | metric | mean | per run" not in md:
            continue
        block = md.split("| model | metric | mean | per run")[1].split("\n\n")[0]
        for line in block.splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            values = [float(v) for v in cells[3].split(",")]
            mean, _, std = cells[2].partition(" ± ")
            assert float(mean) == pytest.approx(statistics.mean(values), rel=2e-3, abs=2e-4), (path.name, cells[0])
            if std:
                assert float(std) == pytest.approx(statistics.stdev(values), rel=3e-2, abs=2e-4), (path.name, cells[0])
            rows += 1
    assert rows > 100


@pytest.mark.parametrize("merged,parts", [
    ("accuracy_cmu_mocap_rescored_srnn_3seeds", ("", "_s1", "_s2")),
    ("accuracy_cmu_mocap_rescored_others_3seeds", ("", "_s1", "_s2"))])
def test_committed_merge_seeds_pools_exactly(merged, parts):
    """--merge-seeds: the mean and sample std of the per-seed parts, deterministic rows kept once."""
    stem = merged.replace("_3seeds", "").replace("rescored_", "rescored_part_")
    out = json.loads((RESULTS / f"{merged}.json").read_text())
    ps = [json.loads((RESULTS / f"{stem}{s}.json").read_text()) for s in parts]
    assert sorted(v for p in ps for v in p["seed_values"]) == out["seed_values"] == [0, 1, 2]
    for key, means in out["models"].items():
        for metric, value in means.items():
            vals = [p["models"][key][metric] for p in ps]
            if key in out.get("deterministic", []):
                assert value == vals[0] and out["runs"][key] == 1
            else:
                assert value == pytest.approx(statistics.mean(vals), abs=1e-12)
                assert out["std"][key][metric] == pytest.approx(statistics.stdev(vals), abs=1e-12)


def test_springs_reason_quotes_its_validation_table(acc):
    """The reason in the `srnn` row's "built as" quotes the committed validation means (4 decimals)."""
    val = json.loads((RESULTS / "ablation_springs_quick_fused.json").read_text())["validation"]
    why = next(r.built_as for r in acc.SPRINGS.rows(dict(hidden=8, obs=40, horizon=20)) if r.json_key == "srnn")
    for key in ("abl_fused", "srnn", "abl_ar_lags", "abl_fused_ar_lags"):
        assert f"{val[key]['mean']:.4f}" in why, (key, why)


def _args(mode, *items):
    return argparse.Namespace(mode=mode, epochs=None, set=list(items), seed=0, seeds=None, first_seed=None,
                              device="cpu", data_root=None)


def test_set_parses_booleans_strictly(acc):
    """``--set refit=0`` turns refit off (``bool("0")`` is true); unknown words are refused."""
    Context = acc.Context
    assert Context(_args("smoke", "refit=0"), acc.CMU_MOCAP).cfg["refit"] is False
    assert Context(_args("smoke", "refit=1"), acc.CMU_MOCAP).cfg["refit"] is True
    assert Context(_args("smoke", "former_scoring=false"), acc.CMU_MOCAP).cfg["former_scoring"] is False
    with pytest.raises(SystemExit, match="boolean"):
        Context(_args("smoke", "refit=maybe"), acc.CMU_MOCAP)
    with pytest.raises(SystemExit, match="expected int"):
        Context(_args("smoke", "epochs=1.5"), acc.CMU_MOCAP)
    cfg = Context(_args("full", "baseline_hidden=64", "dropout=0.5", "select=mse"), acc.CMU_MOCAP).cfg
    assert cfg["baseline_hidden"] == 64 and cfg["dropout"] == 0.5 and cfg["select"] == "mse"
    assert Context(_args("smoke", 'actions=["walking", "running"]'), acc.CMU_MOCAP).cfg["actions"] == [
        "walking", "running"]


def test_settings_line_shows_changed_shared_settings(acc):
    lib = _load("accuracy_lib_audit2", "accuracy_lib.py")
    shown = lib.shown_settings(dict(lib.COMMON, epochs=3, patience=4))
    assert set(shown) == {"epochs", "patience"}
    shown = lib.shown_settings(dict(lib.COMMON, epochs=3, refit=True, rollout_share=0.5))
    assert shown["refit"] is True and shown["rollout_share"] == 0.5 and "former_scoring" not in shown


def test_join_report_states_the_sample_std(join_mod, tmp_path):
    def part(seed, value):
        return {"dataset": "toy", "mode": "default", "seeds": 1, "seed_values": [seed],
                "lower_is_better": {"mae": True}, "models": {"srnn": {"mae": value}}, "std": {"srnn": {"mae": 0.0}},
                "runs": {"srnn": 1}, "labels": {"srnn": "S-RNN"},
                "validation": {"srnn": {"metric": "validation mae", "mean": value, "std": None, "runs": 1}}}
    parts = [part(0, 1.0), part(1, 2.0), part(2, 4.0)]
    paths = []
    for i, p in enumerate(parts):
        paths.append(str(tmp_path / f"p{i}.json"))
        Path(paths[-1]).write_text(json.dumps(p))
    merged = join_mod.merge_seeds(parts, paths, check=False)
    assert merged["std"]["srnn"]["mae"] == pytest.approx(statistics.stdev([1.0, 2.0, 4.0]))
    text = join_mod.report(merged, paths, ["*"], 3, out=str(tmp_path / "joined.md"))
    assert "sample standard deviation (n - 1)" in text and "each seed of each group" in text


def _data(sub):
    base = os.environ.get("SRNN_PYG_DATA")
    if not base or not os.path.isdir(os.path.join(base, sub)):
        pytest.skip(f"SRNN_PYG_DATA is unset or holds no {sub}/: the real data is not available")
    return base


def test_chickenpox_release_is_standardised_over_every_week_as_the_protocol_says(acc):
    """The released values are z-scored per county over all weeks, test weeks included: the table says so."""
    root = _data("pyg_temporal")
    from srnn_pyg import datasets

    train = datasets.get("chickenpox").open("train", root=root, val_ratio=acc.CHICKENPOX_VAL)
    x = train.recordings[0].x[..., 0].double()                                   # [20 counties, 521 weeks]
    assert train.mean is None                                                     # nothing fitted here
    assert x.mean(1).abs().max() < 1e-6 and (x.std(1, unbiased=False) - 1).abs().max() < 1e-4
    lo, hi = train.snapshot_bounds["train"]
    assert (x[:, :hi + train.lags].std(1, unbiased=False) - 1).abs().max() > 0.05   # not the training weeks'
    sets = {"train": train, "val": train, "test": train}
    ctx = argparse.Namespace(seed=0, cfg={})
    res = argparse.Namespace(first_sets=lambda: sets)
    assert "the test weeks included" in acc._chickenpox_protocol(ctx, res)[0]


def test_los_loop_parts_are_disjoint_and_statistics_are_the_training_steps(acc):
    root = _data("los_loop")
    from srnn_pyg import datasets

    cls = datasets.get("los_loop")
    parts = {s: cls.open(s, root=root, stride=50) for s in ("train", "val", "test")}
    b = parts["train"].bounds
    assert b["train"][1] == b["val"][0] and b["val"][1] == b["test"][0]
    span = parts["train"].obs + parts["train"].horizon
    for split, ds in parts.items():
        lo, hi = b[split]
        assert all(lo <= s and s + span <= hi for _, s in ds.index), split     # no window crosses a boundary
        assert torch_equal(ds.mean, parts["train"].mean) and torch_equal(ds.std, parts["train"].std)
    import numpy as np

    speed = np.loadtxt(os.path.join(root, "los_loop", "los_speed.csv"), delimiter=",", skiprows=1)
    assert float(parts["train"].mean) == pytest.approx(speed[b["train"][0]:b["train"][1]].mean(), rel=1e-4)
    assert not math.isclose(float(parts["train"].mean), speed[:b["val"][1]].mean(), rel_tol=1e-5)


def torch_equal(a, b):
    import torch

    return bool(torch.equal(torch.as_tensor(a), torch.as_tensor(b)))
