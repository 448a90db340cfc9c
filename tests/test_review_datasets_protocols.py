"""A stranger's review of ``srnn_pyg.datasets`` as a researcher uses it: the
registry, ``open(split, train=...)``, ``has_split``, ``score``,
``normalize``/``denormalize`` and the dataset classes.

Every ``test_*`` that is not ``test_ok_*`` demonstrates one defect and failed on
the code it was written against (they pass since the fixes); its docstring says
what is expected and what happened. ``test_ok_*`` tests record what was checked and works.

Tests on the real data read ``$SRNN_PYG_DATA`` and skip when it is unset or
the files are missing; the others write small files of their own under
pytest's ``tmp_path``.
"""
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from srnn_pyg import datasets as D
from srnn_pyg.datasets import CMUMocap, Chickenpox, ETHUCY, LosLoop, Springs


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# ----------------------------------------------------------------- helpers
def _real(sub, *needed):
    """The real data folder ``$SRNN_PYG_DATA/sub``; skip if it or a needed file is absent."""
    base = os.environ.get("SRNN_PYG_DATA")
    if not base:
        pytest.skip(f"SRNN_PYG_DATA is not set: point it at the folder holding {sub}/")
    root = Path(base) / sub
    missing = [n for n in needed if not (root / n).exists()]
    if not root.is_dir() or missing:
        pytest.skip(f"no real {sub} data under '{root}' (missing: {missing or [sub]})")
    return root


def _write_los_loop(base, T=300, N=3):
    """A small Los-loop folder in the real format: ``los_speed.csv`` (header of
    sensor ids, ``T`` rows of mph) and ``los_adj.csv`` (``N x N``, unit diagonal)."""
    root = Path(base) / "los_loop"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    t = np.arange(T)[:, None]
    speed = 55 + 10 * np.sin(2 * np.pi * t / 50 + np.arange(N)) + rng.uniform(-3, 3, (T, N))
    header = ",".join(str(717000 + i) for i in range(N))
    np.savetxt(root / "los_speed.csv", speed, delimiter=",", header=header, comments="", fmt="%.4f")
    adj = np.eye(N)
    for i in range(N - 1):
        adj[i, i + 1] = adj[i + 1, i] = 0.5
    np.savetxt(root / "los_adj.csv", adj, delimiter=",", fmt="%.3f")
    return root, speed


def _write_cmu(base, lengths=None):
    """A small CMU mocap folder: ``{train,test}/walking/walking_<n>.txt``, 117
    comma-separated values per line (smooth motion, a few constant columns)."""
    lengths = lengths or {"train": [400, 380], "test": [400]}
    rng = np.random.default_rng(1)
    out = {}
    for split, sizes in lengths.items():
        folder = Path(base) / "cmu_mocap" / split / "walking"
        folder.mkdir(parents=True)
        for n, T in enumerate(sizes, start=1):
            t = np.arange(T)[:, None]
            arr = (rng.uniform(0.1, 0.7, (1, 117)) * np.sin(rng.uniform(0.02, 0.2, (1, 117)) * t
                                                            + rng.uniform(0, 6.3, (1, 117)))
                   + rng.uniform(-0.8, 0.8, (1, 117)))
            arr[:, [6, 7, 8, 30]] = 0.25
            path = folder / f"walking_{n}.txt"
            np.savetxt(path, arr, delimiter=",", fmt="%.10g")
            out[(split, n)] = np.loadtxt(path, delimiter=",")
    return Path(base) / "cmu_mocap", out


def _write_eth_test_scene(base):
    """``eth_ucy/all_data/biwi_eth.txt`` with 20 frames (0, 10, ..., 190):
    pedestrians 1 and 2 present throughout, pedestrian 3 entering at the 4th
    observed frame (frame 30) and present to the end."""
    root = Path(base) / "eth_ucy"
    (root / "all_data").mkdir(parents=True)
    rows = []
    for k in range(20):
        f = 10 * k
        rows.append((f, 1, 0.1 * k, 0.0))
        rows.append((f, 2, 0.0, 0.2 * k))
        if k >= 3:
            rows.append((f, 3, 1.0 + 0.3 * k, 2.0))
    with open(root / "all_data" / "biwi_eth.txt", "w") as fh:
        for f, p, x, y in rows:
            fh.write(f"{f:.1f}\t{p:.1f}\t{x:.4f}\t{y:.4f}\n")
    return root


# ----------------------------------------------------- expmap -> Euler reference
def _expmap2rotmat(r):
    theta = np.linalg.norm(r)
    r0 = r / (theta + np.finfo(np.float32).eps)
    r0x = np.array([0, -r0[2], r0[1], 0, 0, -r0[0], 0, 0, 0]).reshape(3, 3)
    r0x = r0x - r0x.T
    return np.eye(3) + np.sin(theta) * r0x + (1 - np.cos(theta)) * r0x.dot(r0x)


def _rotmat2euler(R):
    if R[0, 2] in (1, -1):
        dlta = np.arctan2(R[0, 1], R[0, 2])
        return np.array([dlta, np.pi / 2 if R[0, 2] == -1 else -np.pi / 2, 0.0])
    E2 = -np.arcsin(R[0, 2])
    E1 = np.arctan2(R[1, 2] / np.cos(E2), R[2, 2] / np.cos(E2))
    E3 = np.arctan2(R[0, 1] / np.cos(E2), R[0, 0] / np.cos(E2))
    return np.array([E1, E2, E3])


def _euler(pose):
    """Martinez et al.'s conversion, frame by frame, global 6 values zeroed."""
    out = pose.copy()
    for j in range(out.shape[0]):
        for k in range(3, out.shape[1], 3):
            out[j, k:k + 3] = _rotmat2euler(_expmap2rotmat(out[j, k:k + 3]))
    out[:, :6] = 0
    return out


# ======================================================================
# Defects
# ======================================================================
def test_eth_ucy_test_opened_from_train_holds_out_the_same_scene():
    """``ETHUCY.open("test", train=train)`` with ``train`` the training split
    of test scene ``"hotel"``: expected the held-out hotel recording (and the
    training split's windows, ``obs``/``horizon``). It silently opens the
    default scene ``"eth"`` instead, whose recording ``biwi_eth`` is in hotel's
    training data (``train/biwi_eth_train.txt``): the test windows were
    trained on. ``train=`` is also ignored for ``obs``/``horizon``."""
    _real("eth_ucy", "all_data/biwi_eth.txt", "all_data/biwi_hotel.txt", "train", "val")
    train = ETHUCY.open("train", test_scene="hotel", obs=6, horizon=10)
    test = ETHUCY.open("test", train=train)
    trained_on = {Path(f).stem[:-len("_train")] for f in train.files}
    tested_on = {Path(f).stem for f in test.files}
    assert not trained_on & tested_on, f"test recordings {sorted(trained_on & tested_on)} are in training"
    assert test.test_scene == "hotel"
    assert (test.obs, test.horizon) == (6, 10)


def test_los_loop_val_opened_from_train_does_not_overlap_its_steps(tmp_path, monkeypatch):
    """``LosLoop.open("val", train=train)`` with ``train`` opened with
    ``val_ratio=0`` (T-GCN's training part, all steps before the test part):
    expected either the training split's ``val_ratio`` (no val split, refused)
    or a val part outside the training steps. ``train`` is ignored: the val
    split takes the default ``val_ratio=0.1`` and all of its steps lie inside
    the training split's steps (a validation score on training data)."""
    _write_los_loop(tmp_path)
    monkeypatch.setenv("SRNN_PYG_DATA", str(tmp_path))
    train = LosLoop.open("train", val_ratio=0.0)
    try:
        val = LosLoop.open("val", train=train)
    except ValueError:
        return                                         # refusing is fine
    train_steps = {s + k for _, s in train.index for k in range(train.obs + train.horizon)}
    val_steps = {s + k for _, s in val.index for k in range(val.obs + val.horizon)}
    assert not train_steps & val_steps, (f"{len(train_steps & val_steps)} val steps are training steps "
                                         f"(train bounds {train.bounds['train']}, val {val.bounds['val']})")


def test_los_loop_test_opened_from_train_reuses_its_normalisation(tmp_path, monkeypatch):
    """``open(split, train=train)`` is documented to reuse the training
    split's normalisation statistics. For ``LosLoop`` with
    ``normalize="robust"`` (or any option other than the default) the test
    split ignores ``train`` and normalises with the default z-score, so a
    model trained on robust units is scored (denormalised) in z-score units.
    Expected ``test.mean``/``test.std`` equal to ``train``'s; likewise the
    window sizes (the registry docstring's own pattern ``train =
    cls.open("train", obs=..., horizon=...); test = cls.open("test",
    train=train)`` gives the test split obs=12 whatever train has)."""
    _write_los_loop(tmp_path)
    monkeypatch.setenv("SRNN_PYG_DATA", str(tmp_path))
    train = LosLoop.open("train", normalize="robust", obs=6, horizon=3)
    test = LosLoop.open("test", train=train)
    assert torch.allclose(test.mean, train.mean) and torch.allclose(test.std, train.std), \
        f"train (robust) {train.mean}, {train.std}; test {test.mean}, {test.std} ({test.normalization})"
    assert (test.obs, test.horizon) == (6, 3)


def test_brain4cars_test_opened_from_cv_train_uses_the_same_folds():
    """``Brain4Cars.open("test", train=train)`` with ``train`` opened with
    ``folds="cv", seed=3`` (the split the docs say to report): expected the
    test part of the same cross-validation fold. It silently opens the
    *upstream* test file instead; our own folds pooled it into training, so
    nearly all of its labelled steps (595 of 693, counted with repeats) are
    rows of the training split."""
    _real("brain4cars", *[f"fold_{k}_{s}.pik" for k in range(1, 6) for s in ("train", "test")])
    train = D.get("brain4cars").open("train", folds="cv", seed=3)
    test = D.get("brain4cars").open("test", train=train)

    def rows(ds):
        x = ds._x.sum(1)                                   # driver + road columns = the 13 features
        return {r.numpy().tobytes() for r in x[ds._valid]}
    shared = rows(train) & rows(test)
    assert not shared, f"{len(shared)} labelled test steps are training steps (test folds={test.folds!r})"
    assert (test.folds, test.seed) == ("cv", 3)


def test_springs_test_opened_from_unnormalised_train_stays_unnormalised():
    """``Springs.open("test", train=train)`` with ``train`` opened with
    ``normalize=False`` (raw units): expected raw units for the test split too
    (``mean`` None), as ``train`` lends its normalisation. The test split is
    normalised with statistics it fits itself, so a model trained on raw units
    is tested on normalised ones. ``train``'s physics (``num_nodes``) and
    windows (``obs``) are ignored as well."""
    train = Springs.open("train", num_graphs=6, normalize=False, num_nodes=7, obs=30)
    test = Springs.open("test", train=train)
    assert test.mean is None and test.std is None, f"test split normalised with mean {test.mean}"
    assert test[0].x.shape == train[0].x.shape, f"train {train[0].x.shape}, test {test[0].x.shape}"


def test_cmu_mocap_test_opened_from_train_keeps_its_windows_and_features(tmp_path, monkeypatch):
    """``CMUMocap.open("test", train=train)`` takes ``train``'s statistics and
    held-out recordings but none of its other options: a training split with
    ``features="pos_vel", graph="joints", obs=20, horizon=10`` gives a test
    split of body-part graphs with ``obs=50, horizon=25`` and pose inputs
    only; a model trained on the first cannot be scored on the second.
    Expected the training split's graph, features and window sizes (or an
    error naming them)."""
    _write_cmu(tmp_path)
    monkeypatch.setenv("SRNN_PYG_DATA", str(tmp_path))
    train = CMUMocap.open("train", stride=20, features="pos_vel", graph="joints", obs=20, horizon=10)
    try:
        test = CMUMocap.open("test", train=train)
    except ValueError:
        return
    assert (test.graph, test.features, test.obs, test.horizon) == ("joints", "pos_vel", 20, 10)
    assert test[0].x.shape == train[0].x.shape


def test_eth_ucy_partial_keep_scores_the_published_pedestrians_only(tmp_path):
    """``ETHUCY.score`` says it reports ADE/FDE over the pedestrians of
    Social-GAN's protocol (present at all obs + horizon frames). With
    ``keep="partial"`` a context pedestrian who enters during the observed
    frames but is present at every predicted step has an all-true ``y_mask``
    and is scored too, so the same predictions give another ADE than with
    ``keep="full"`` (on the real hotel test split: 1053 protocol pedestrians,
    497 more scored, zero-prediction ADE 1.76 m instead of 1.15 m). Expected
    equal scores for the protocol pedestrians (``node_mask`` is in the
    collected dict to tell them apart)."""
    root = _write_eth_test_scene(tmp_path)
    full = ETHUCY(root, test_scene="eth", split="test", keep="full")
    part = ETHUCY(root, test_scene="eth", split="test", keep="partial")
    wf, wp = full[0], part[0]
    assert wf.num_nodes == 2 and wp.num_nodes == 3
    assert bool(wp.y_mask[2].all()) and not bool(wp.node_mask[2].all())   # pedestrian 3: enters at frame 30

    def score(ds, w):
        return ds.score({"pred": torch.zeros_like(w.y), "y": w.y, "y_mask": w.y_mask,
                         "node_mask": w.node_mask})
    sf, sp = score(full, wf), score(part, wp)
    assert sp["ADE"] == pytest.approx(sf["ADE"]) and sp["FDE"] == pytest.approx(sf["FDE"]), (sf, sp)


@pytest.mark.parametrize("cls, option, value", [
    (LosLoop, "train_ratio", "0.8"),
    (LosLoop, "val_ratio", None),
    (Chickenpox, "val_ratio", "0.1"),
    (ETHUCY, "radius", "2"),
])
def test_option_of_the_wrong_type_is_named(tmp_path, cls, option, value):
    """A ratio or radius of the wrong type: expected a ``ValueError``/``TypeError``
    naming the dataset and the option, as for every other option of these
    classes. What happens: a bare Python comparison error, e.g. ``TypeError:
    '<' not supported between instances of 'float' and 'str'``, naming
    neither."""
    with pytest.raises((TypeError, ValueError), match=option):
        cls(root=tmp_path, **{option: value})


def test_los_loop_self_loops_must_be_a_bool(tmp_path):
    """``LosLoop(self_loops="no")``: expected a ``TypeError`` as for
    ``time_of_day``/``daily_profile`` (and as docs/errors.md promises for
    flags: ``spatial="no"`` would otherwise switch it on). It is accepted and,
    being truthy, *keeps* the self-loops the user meant to drop."""
    root, _ = _write_los_loop(tmp_path)
    with pytest.raises(TypeError, match="self_loops"):
        ds = LosLoop(root, self_loops="no")
        loops = int((ds[0].edge_index[0] == ds[0].edge_index[1]).sum())
        pytest.fail(f"self_loops='no' accepted; the graph has {loops} self-loops")


def test_brain4cars_negative_cv_seed_is_named():
    """``Brain4Cars(folds="cv", seed=-1)``: expected a ``ValueError`` naming
    'seed' (``holdout`` refuses a negative seed that way). What happens:
    ``ValueError: expected non-negative integer`` from inside NumPy's
    ``default_rng``, after all ten files have been read."""
    root = _real("brain4cars", *[f"fold_{k}_{s}.pik" for k in range(1, 6) for s in ("train", "test")])
    with pytest.raises(ValueError, match="seed"):
        D.get("brain4cars").open("train", root=root, folds="cv", seed=-1)


def test_cmu_mocap_num_seeded_refuses_a_bool(tmp_path):
    """``CMUMocap(split="test", num_seeded=True)``: expected a ``ValueError``
    ('num_seeded' must be a positive int), as ``Springs`` refuses bools as
    counts and docs/errors.md promises for sizes. It is taken as 1 seeded
    window per file (``H36M`` shares the check)."""
    root, _ = _write_cmu(tmp_path)
    with pytest.raises(ValueError, match="num_seeded"):
        CMUMocap(root, split="test", num_seeded=True)


def test_cmu_mocap_split_without_any_window_is_refused(tmp_path):
    """A sliding-window split whose ``obs + horizon`` exceeds every recording:
    expected a ``ValueError`` naming the sizes, as ``ETHUCY``, ``LosLoop`` and
    the PyG Temporal sets raise for a split with no window. ``CMUMocap`` (and
    ``H36M``) return an empty dataset silently; the error only comes later,
    from the training loop."""
    root, _ = _write_cmu(tmp_path)
    with pytest.raises(ValueError):
        ds = CMUMocap(root, split="train", obs=1000, horizon=25)
        pytest.fail(f"built an empty split silently: {ds!r}")


# ======================================================================
# What works
# ======================================================================
def test_ok_registry_and_split_names():
    assert D.available()[0] == "springs"
    assert {"eth_ucy", "los_loop", "cmu_mocap", "h36m", "chickenpox", "brain4cars"} <= set(D.available())
    with pytest.raises(ValueError, match="unknown dataset"):
        D.get("metr_la")
    for name in ("springs", "eth_ucy", "los_loop", "chickenpox", "cmu_mocap", "h36m", "brain4cars"):
        cls = D.get(name)
        assert not cls.has_split("training") and not cls.has_split(None)
        with pytest.raises(ValueError, match="has no split 'TEST'"):
            cls.open("TEST")
    assert not D.get("los_loop").has_split("val", val_ratio=0)
    assert not D.get("cmu_mocap").has_split("val") and D.get("cmu_mocap").has_split("val", val_recordings=1)


def test_ok_los_loop_windows_splits_stats_and_score(tmp_path):
    root, speed = _write_los_loop(tmp_path)
    splits = {s: LosLoop(root, split=s) for s in ("train", "val", "test")}
    train = splits["train"]
    lo, hi = train.bounds["train"]
    assert torch.allclose(train.mean, torch.tensor([speed[lo:hi].mean()]).float(), atol=1e-4)
    steps = {}
    for name, ds in splits.items():
        for i in (0, len(ds) - 1):
            w, s = ds[i], ds.index[i][1]
            assert int(w.t_start) == s
            np.testing.assert_allclose(ds.denormalize(w.x)[..., 0].numpy(), speed[s:s + 12].T, atol=1e-3)
            np.testing.assert_allclose(ds.denormalize(w.y)[..., 0].numpy(), speed[s + 12:s + 24].T, atol=1e-3)
        steps[name] = {s + k for _, s in ds.index for k in range(24)}
    assert not steps["train"] & steps["val"] and not steps["val"] & steps["test"]
    x = torch.randn(6, 5, 1)
    for norm in ("zscore", "max", "robust", "minmax"):
        ds = LosLoop(root, split="test", normalize=norm)
        assert torch.allclose(ds.denormalize(ds.normalize(x)), x, atol=1e-5)
    test = splits["test"]
    y = torch.cat([test[i].y for i in range(3)])
    pred = y + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    sc = test.score({"pred": pred, "y": y})
    P, Y = pred * test.std + test.mean, y * test.std + test.mean
    for h, minutes in ((3, 15), (6, 30), (12, 60)):
        e = P[:, h - 1] - Y[:, h - 1]
        assert sc[f"MAE@{minutes}min"] == pytest.approx(float(e.abs().mean()), rel=1e-4)
        assert sc[f"RMSE@{minutes}min"] == pytest.approx(float(e.pow(2).mean().sqrt()), rel=1e-4)
        assert sc[f"MAPE@{minutes}min"] == pytest.approx(float((100 * e.abs() / Y[:, h - 1]).mean()), rel=1e-4)


def test_ok_cmu_mocap_seeded_windows_and_euler_score(tmp_path):
    root, files = _write_cmu(tmp_path)
    train = CMUMocap(root, split="train", stride=20)
    test = CMUMocap(root, split="test", stats=train.stats())
    seq = files[("test", 1)][::2]
    rng = np.random.RandomState(1234567890)
    assert [s for _, s in test.index] == [rng.randint(0, len(seq) - 75) for _ in range(8)]
    w = test[0]
    s = test.index[0][1]
    used = test.dim_used.numpy()
    np.testing.assert_allclose(test.to_pose(w.y)[0].numpy()[:, used], seq[s + 50:s + 75][:, used], atol=1e-5)
    x = torch.randn(3, 117)
    assert torch.allclose(test.denormalize(test.normalize(x)), x, atol=1e-5)
    y = torch.cat([test[i].y for i in range(3)])
    pred = y + 0.2 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0)) \
        * test.feature_mask.repeat(3, 1).unsqueeze(1)
    sc = test.score({"pred": pred, "y": y})
    P, Y = test.to_pose(pred).double().numpy(), test.to_pose(y).double().numpy()
    errs = []
    for b in range(3):
        ep, eg = _euler(P[b]), _euler(Y[b])
        use = np.where(eg.std(0) > 1e-4)[0]
        errs.append(np.sqrt(((ep[:, use] - eg[:, use]) ** 2).sum(1)))
    hand = np.mean(errs, 0)
    for ms, f in zip((80, 160, 320, 400, 560, 1000), (1, 3, 7, 9, 13, 24)):
        assert sc[f"{ms}ms"] == pytest.approx(hand[f], rel=1e-4)


def test_ok_eth_ucy_windows_and_ade_fde(tmp_path):
    root = _write_eth_test_scene(tmp_path)
    ds = ETHUCY(root, test_scene="eth", split="test")
    w = ds[0]
    assert w.ped_id.tolist() == [1, 2] and w.frame[0].tolist() == list(range(0, 200, 10))
    k = torch.arange(8, 20).float()
    assert torch.allclose(w.y[0], torch.stack([0.1 * k - 0.7, torch.zeros(12)], -1), atol=1e-5)
    pred = torch.zeros_like(w.y)
    sc = ds.score({"pred": pred, "y": w.y, "y_mask": w.y_mask})
    d = w.y.norm(dim=-1)
    assert sc["ADE"] == pytest.approx(float(d.mean())) and sc["FDE"] == pytest.approx(float(d[:, -1].mean()))


def test_ok_springs_roundtrip_windows_and_score():
    train = Springs.open("train", num_graphs=10)
    test = Springs.open("test", train=train, num_graphs=15)         # val/test get num_graphs // 5 simulations
    assert torch.equal(test.mean, train.mean)
    x = torch.randn(5, 3, 4)
    assert torch.allclose(train.denormalize(train.normalize(x)), x, atol=1e-5)
    d = Springs(num_graphs=2, num_windows=3, window_stride=5, split="test", normalize=False)
    rec = d.recordings[0].x
    assert torch.equal(d[0].y, rec[:, 40:60]) and torch.equal(d[1].x, rec[:, 5:45])
    y = torch.cat([test[i].y for i in range(3)])
    pred = y + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(0))
    sc = test.score({"pred": pred, "y": y})
    e = (pred - y) ** 2
    assert sc["MSE@1"] == pytest.approx(float(e[:, 0].mean()), rel=1e-5)
    assert sc["MSE@20"] == pytest.approx(float(e[:, 19].mean()), rel=1e-5)
    assert sc["MSE"] == pytest.approx(float(e.mean()), rel=1e-5)


def test_ok_pyg_temporal_windows_split_and_score():
    root = _real("pyg_temporal", "chickenpox.json", "england_covid.json")
    import json
    FX = np.array(json.loads((root / "chickenpox.json").read_text())["FX"])
    train = Chickenpox.open("train")
    test = Chickenpox.open("test", train=train, horizon=3)
    assert len(train) == int(0.2 * (521 - 4)) and test.index[0][1] == 103
    w = test[len(test) - 1]
    s = test.index[-1][1]
    np.testing.assert_allclose(w.y[..., 0].numpy(), FX[s + 4:s + 7].T, atol=1e-6)
    ec = D.get("england_covid").open("train")
    ect = D.get("england_covid").open("test", train=ec)
    x = torch.randn(2 * 129, 8, 1)
    assert torch.allclose(ec.denormalize(ec.normalize(x)), x, atol=1e-4)
    y = torch.cat([ect[i].y for i in range(2)])
    sc = ect.score({"pred": y + 0.3, "y": y})
    assert sc["MAE"] == pytest.approx(float((0.3 * ec.std).abs().mean()), rel=1e-4)


def test_ok_brain4cars_folds_disjoint_and_score():
    _real("brain4cars", *[f"fold_{k}_{s}.pik" for k in range(1, 6) for s in ("train", "test")])
    B = D.get("brain4cars")

    def rows(ds):
        x = ds._x.sum(1)
        return {r.numpy().tobytes() for r in x[ds._valid]}
    for folds in ("cv", "upstream"):
        tr, te = B.open("train", fold=2, folds=folds), B.open("test", fold=2, folds=folds)
        assert not rows(tr) & rows(te)
    # hand-computed: decisions 1, 0, 3, 3, 4 for true 1, 2, 0, 3, 4
    steps = [([0, 1, 1], 1), ([0, 0, 0], 2), ([0, 3, 0], 0), ([3, 3, 3], 3), ([0, 0, 4], 4)]
    pred, nt = [], []
    for lab, _ in steps:
        logit = torch.zeros(3, 5)
        logit[torch.arange(3), torch.tensor(lab)] = 5.0
        pred += [logit, torch.zeros(3, 5)]
        nt += [0, 1]
    col = {"pred": torch.stack(pred), "y": torch.zeros(10, 3, dtype=torch.long),
           "node_type": torch.tensor(nt), "node_mask": torch.ones(10, 3, dtype=torch.bool),
           "maneuver": torch.tensor([t for _, t in steps])}
    sc = te.score(col)
    p, r = (1 + 0 + 0.5 + 1) / 4, (1 + 0 + 1 + 1) / 4
    assert sc["precision"] == pytest.approx(100 * p) and sc["recall"] == pytest.approx(100 * r)
    assert sc["f1"] == pytest.approx(100 * 2 * p * r / (p + r))
    assert sc["time_to_maneuver"] == pytest.approx((0.8 + 1.6 + 0.0) / 3)
