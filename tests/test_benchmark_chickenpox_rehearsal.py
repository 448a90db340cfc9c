"""Chickenpox's ``refit`` and its rehearsal on the validation weeks
(``--set val_as_test=1``) in ``benchmarks/accuracy.py``, on a small file
written here: which weeks each split holds, that the rehearsal never opens the
protocol's test weeks, and that both settings run end to end."""
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch


ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
WEEKS, COUNTIES = 210, 4           # 206 snapshots: 41 training (8 carved for validation), 165 test


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
    return _load("accuracy_rehearsal_t", "accuracy.py")


@pytest.fixture
def root(tmp_path):
    # each week's value is its own index (plus the county's tenth), so a window names its weeks
    fx = np.arange(WEEKS)[:, None] + np.arange(COUNTIES)[None, :] / 10
    edges = [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2]]
    (tmp_path / "pyg_temporal").mkdir()
    (tmp_path / "pyg_temporal" / "chickenpox.json").write_text(json.dumps(
        {"edges": edges, "node_ids": {f"C{i}": i for i in range(COUNTIES)}, "FX": fx.round(2).tolist()}))
    return tmp_path


def _target_weeks(ds):
    """The week each window predicts (county 0's target is the week's index)."""
    return [int(round(float(ds[i].y[0].flatten()[0]))) for i in range(len(ds))]


def _open(acc, root, **cfg):
    ctx = types.SimpleNamespace(dataset="chickenpox", data_root=str(root), seed=0, bench=acc.CHICKENPOX,
                                cfg={"val_as_test": False, **cfg})
    open_splits = acc.Context.__init__.__globals__["open_splits"]      # accuracy_lib's, as accuracy.py loaded it
    return ctx, open_splits(ctx, acc.CHICKENPOX.splits(ctx.cfg, ""))


def test_protocol_splits_and_what_refit_trains_on(acc, root):
    """Without the rehearsal: the protocol's splits, and ``refit`` trains on the
    training and validation weeks together, for every variant of the splits."""
    _, sets = _open(acc, root)
    S = WEEKS - 4
    n_train, n_val = int(0.2 * S), int(acc.CHICKENPOX_VAL * S)
    first = 4                                         # snapshot 0 predicts week 4
    assert _target_weeks(sets["train"]) == list(range(first, first + n_train - n_val))
    assert _target_weeks(sets["val"]) == list(range(first + n_train - n_val, first + n_train))
    assert _target_weeks(sets["test"]) == list(range(first + n_train, first + S))
    for key in ("train", "train_woy", "train_woy_rw1", "train_woy_cg"):
        both = acc.CHICKENPOX.refit_on(sets, key)
        assert _target_weeks(both) == list(range(first, first + n_train)), key
        val = sets["val" + key[len("train"):]]
        assert torch.equal(both[len(both) - 1].edge_index, val[len(val) - 1].edge_index), key   # the same graph
    assert sets["trainval_woy"][0].u_future.shape == (COUNTIES, 1, 2)         # with the time of year


def test_rehearsal_scores_the_validation_weeks_and_never_opens_the_test(acc, root):
    """``val_as_test``: the test is the protocol's validation weeks, the
    validation as many weeks before them (the later half of a carve of twice
    the share), refit's part the protocol's training part; no test week."""
    _, plain = _open(acc, root)
    _, sets = _open(acc, root, val_as_test=True)
    S = WEEKS - 4
    n_train, n_val = int(0.2 * S), int(acc.CHICKENPOX_VAL * S)
    n_carved = int(acc.CHICKENPOX_REHEARSAL * S)
    for suffix in ("", "_woy", "_woy_rw0", "_woy_cg"):
        assert _target_weeks(sets["test" + suffix]) == _target_weeks(plain["val" + suffix]), suffix
        assert _target_weeks(sets["val" + suffix]) == list(range(4 + n_train - n_carved, 4 + n_train - n_val))
        assert _target_weeks(sets["train" + suffix]) == list(range(4, 4 + n_train - n_carved))
        assert _target_weeks(acc.CHICKENPOX.refit_on(sets, "train" + suffix)) == _target_weeks(plain["train" + suffix])
        for key in ("train", "val", "test", "trainval"):
            assert max(_target_weeks(sets[key + suffix])) < 4 + n_train, (key, suffix)   # never a test week
    # windows and covariates are the protocol's own
    a, b = sets["test_woy"][0], plain["val_woy"][0]
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_rehearsal_needs_enough_carved_weeks(acc, root, monkeypatch):
    monkeypatch.setattr(acc, "CHICKENPOX_REHEARSAL", acc.CHICKENPOX_VAL)
    with pytest.raises(ValueError, match=r"val_as_test needs more carved weeks than the 8 validation weeks"):
        _open(acc, root, val_as_test=True)


def _run(*args, cwd, root):
    env = dict(os.environ, MPLBACKEND="Agg", SRNN_PYG_DATA=str(root))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, str(BENCHMARKS / "accuracy.py"), *args, "--threads", "1"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


ROWS = ("srnn", "linear_ar_woy", "seasonal_mean", "zero_velocity")


def test_rehearsal_and_refit_run_end_to_end(root, tmp_path, acc):
    """The rehearsal with ``refit`` writes a table that says what its test is,
    with the setting recorded; a bench without a rehearsal refuses it."""
    out = tmp_path / "out"
    proc = _run("--dataset", "chickenpox", "--smoke", "--set", "val_as_test=1", "--set", "refit=1", "--rows", *ROWS,
                "--out", str(out), cwd=tmp_path, root=root)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    refits = [line.split("] ")[1].split(" refit on")[0].strip() for line in proc.stdout.splitlines()
              if "refit on 33 windows" in line]             # the protocol's training part: 25 + 8 weeks
    # every fitted row is refit, the closed-form ones too (SeasonalMean has no parameters); LastValue has nothing
    assert refits == ["S-RNN (improved)", "SeasonalMean (week of year)", "LinearAR (pooled), reading the time of year"]
    # a rehearsal never replaces the table that scores the test weeks: it has its own name
    name = "accuracy_chickenpox_smoke_rehearsal" + acc.part_tag(types.SimpleNamespace(rows=list(ROWS)))  # a part
    assert sorted(p.name for p in out.iterdir()) == [name + ".json", name + ".md"]
    md = (out / f"{name}.md").read_text()
    assert "the models train on the first 25 of PyG Temporal's 41 training snapshots, the next 8 are the " \
        "validation" in md and f"`{name}.json`" in md
    assert "**Rehearsal (`val_as_test`): the test windows of this table are the protocol's 8 validation" in md
    assert "## Published figures" not in md                # the published figures score the test weeks
    result = json.loads((out / f"{name}.json").read_text())
    assert result["settings"]["settings"]["val_as_test"] is True and result["settings"]["settings"]["refit"] is True
    proc = _run("--dataset", "springs", "--smoke", "--set", "val_as_test=1", "--out", str(out), cwd=tmp_path,
                root=root)
    assert proc.returncode != 0 and "springs has no rehearsal on its validation part" in proc.stderr
