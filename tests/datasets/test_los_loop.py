import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import metrics as M
from srnn_pyg.datasets import DataFormatError, LosLoop, UnsafePickleError

T, N = 100, 5


def _speed(T=T, N=N):
    t = np.arange(T)[:, None]
    n = np.arange(N)[None, :]
    return 40.0 + 2.0 * n + 0.25 * t + np.sin(t + n)                    # [T, N], distinct values


def _adj(N=N):
    rng = np.random.default_rng(0)
    a = (rng.random((N, N)) < 0.5) * rng.uniform(0.1, 1.0, (N, N))
    a = np.maximum(a, a.T)
    np.fill_diagonal(a, 1.0)
    return a


def write_los(root: Path, speed=None, adj=None, ids=None):
    speed = _speed() if speed is None else speed
    adj = _adj(speed.shape[1]) if adj is None else adj
    ids = [str(700000 + i) for i in range(speed.shape[1])] if ids is None else ids
    root.mkdir(parents=True, exist_ok=True)
    lines = [",".join(ids)] + [",".join(f"{v:.6f}" for v in row) for row in speed]
    (root / "los_speed.csv").write_text("\n".join(lines) + "\n")
    (root / "los_adj.csv").write_text("\n".join(",".join(f"{v:.9f}" for v in row) for row in adj) + "\n")
    return speed, adj, ids


@pytest.fixture
def los(tmp_path):
    speed, adj, ids = write_los(tmp_path / "los_loop")
    return tmp_path, speed, adj, ids


def test_splits_windows_and_alignment(los):
    root, speed, _, _ = los
    counts = {}
    for split in ("train", "val", "test"):
        ds = LosLoop(root, split=split, obs=4, horizon=3)
        counts[split] = len(ds)
        lo, _ = ds.bounds[split]
        for i in (0, len(ds) - 1):
            d = ds[i]
            s = lo + i
            assert d.x.shape == (N, 4, 1) and d.y.shape == (N, 3, 1)
            assert torch.allclose(ds.denormalize(d.x)[..., 0], torch.tensor(speed[s:s + 4].T).float(),
                                  atol=1e-4)
            assert torch.allclose(ds.denormalize(d.y)[..., 0],
                                  torch.tensor(speed[s + 4:s + 7].T).float(), atol=1e-4)
    # train [0, 70), val [70, 80), test [80, 100): windows lie inside their part
    assert ds.bounds == {"train": (0, 70), "val": (70, 80), "test": (80, 100)}
    assert counts == {"train": 70 - 7 + 1, "val": 10 - 7 + 1, "test": 20 - 7 + 1}


def test_tgcn_split_without_val(los):
    root = los[0]
    ds = LosLoop(root, split="train", obs=12, horizon=3, val_ratio=0.0)
    assert ds.bounds["train"] == (0, 80) and len(ds) == 80 - 15 + 1
    assert len(LosLoop(root, split="test", obs=12, horizon=3, val_ratio=0.0)) == 20 - 15 + 1


def test_normalisation_from_train_only(los):
    root, speed, _, _ = los
    ds = LosLoop(root, split="test", obs=4, horizon=3)
    part = speed[:70]
    assert torch.allclose(ds.mean, torch.tensor([part.mean()]).float(), atol=1e-4)
    assert torch.allclose(ds.std, torch.tensor([part.std(ddof=1)]).float(), atol=1e-4)
    v = torch.tensor(speed).float()
    assert torch.allclose(ds.denormalize(ds.normalize(v)), v, atol=1e-4)
    mx = LosLoop(root, split="test", obs=4, horizon=3, normalize="max")
    assert float(mx.mean) == 0.0 and abs(float(mx.std) - part.max()) < 1e-4
    assert torch.allclose(mx[0].x[..., 0] * float(part.max()), torch.tensor(speed[80:84].T).float(),
                          atol=1e-4)
    raw = LosLoop(root, split="test", obs=4, horizon=3, normalize=None)
    assert raw.mean is None and torch.allclose(raw[0].x[..., 0], torch.tensor(speed[80:84].T).float())


def test_graph_schema_and_validate(los):
    root, _, adj, _ = los
    ds = LosLoop(root, split="train", obs=4, horizon=3)
    d = ds[0]
    assert ds.schema.node_types == ["sensor"] and ds.schema.num_edge_types == 1
    off = adj.copy()
    np.fill_diagonal(off, 0)
    assert d.edge_index.size(1) == int((off != 0).sum())
    src, dst = d.edge_index
    assert bool((src != dst).all())
    w = torch.tensor(off[src.numpy(), dst.numpy()]).float()
    assert d.edge_attr.shape == (d.edge_index.size(1), 4, 1)
    assert torch.allclose(d.edge_attr[:, 0, 0], w) and torch.allclose(d.edge_attr[:, -1, 0], w)
    assert d.validate(ds.schema)
    loops = LosLoop(root, split="train", obs=4, horizon=3, self_loops=True)[0]
    assert loops.edge_index.size(1) == int((adj != 0).sum())
    assert repr(ds) == f"LosLoop({len(ds)}, split='train', obs=4, horizon=3, graph='tgcn')"


def test_batching(los):
    ds = LosLoop(los[0], split="train", obs=4, horizon=3)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    E = ds[0].edge_index.size(1)
    assert batch.x.shape == (4 * N, 4, 1) and batch.y.shape == (4 * N, 3, 1)
    assert batch.edge_index.shape == (2, 4 * E) and int(batch.edge_index.max()) == 4 * N - 1
    assert torch.equal(batch.x[N:2 * N], ds[1].x)
    assert batch.schema == ds.schema


def test_windows_know_when_they_are(los):
    root, speed, _, _ = los
    assert LosLoop.steps_per_day == 288 and LosLoop.steps_per_week is None
    for split in ("train", "val", "test"):
        ds = LosLoop(root, split=split, obs=4, horizon=3, stride=2, normalize=None)
        lo, _ = ds.bounds[split]
        for i in range(len(ds)):
            d = ds[i]
            assert d.t_start.dtype == torch.long and d.t_start.shape == (1,)
            s = int(d.t_start)
            assert s == lo + 2 * i                                     # the step of x[:, 0]
            assert torch.allclose(d.x[..., 0], torch.tensor(speed[s:s + 4].T).float())
            assert torch.allclose(d.y[..., 0], torch.tensor(speed[s + 4:s + 7].T).float())
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert torch.equal(batch.t_start, torch.tensor([80, 82, 84]))     # [B], not incremented
    assert "t_start" not in ds.recordings[0]                          # only the windows carry it
    kept = LosLoop(root, split="test", obs=4, horizon=3, transform=lambda d: d)
    assert int(kept[1].t_start) == 81


def test_time_of_day_covariates(los):
    root, speed, _, _ = los
    plain = LosLoop(root, split="test", obs=4, horizon=3, stride=2)
    ds = LosLoop(root, split="test", obs=4, horizon=3, stride=2, time_of_day=True)
    for i in (0, len(ds) - 1):
        d, p = ds[i], plain[i]
        s = int(d.t_start)
        assert d.x.shape == (N, 4, 3) and d.y.shape == (N, 3, 1) and d.u_future.shape == (N, 3, 2)
        assert torch.equal(d.x[..., :1], p.x) and torch.equal(d.y, p.y)   # speed untouched, y speed only
        angle = 2 * np.pi * (np.arange(s, s + 7) % 288) / 288               # hand-computed clock
        clock = torch.tensor(np.stack([np.sin(angle), np.cos(angle)], -1)).float()
        assert torch.allclose(d.x[:, :, 1:], clock[:4].expand(N, 4, 2), atol=1e-6)
        assert torch.allclose(d.u_future, clock[4:].expand(N, 3, 2), atol=1e-6)
    # continuous across midnight: step 287 and step 288 are one 5-minute tick apart
    c = LosLoop.clock(287, 2)
    assert torch.allclose(c[1], torch.tensor([0.0, 1.0]), atol=1e-6) and c[0, 0] < 0 < c[0, 1]
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.x.shape == (2 * N, 4, 3) and batch.u_future.shape == (2 * N, 3, 2)
    with pytest.raises(TypeError, match="time_of_day"):
        LosLoop(root, split="test", obs=4, horizon=3, time_of_day="yes")


def test_time_of_day_feeds_a_covariate_model(los):
    from srnn_pyg import models
    root = los[0]
    ds = LosLoop(root, split="train", obs=4, horizon=3, stride=4, time_of_day=True)
    batch = next(iter(DataLoader(ds, batch_size=2)))
    torch.manual_seed(0)
    model = models.build("srnn", ds.schema, 3, 1, covariates=2, node_hidden=8, edge_hidden=8)
    out = model.forecast(batch, 3)
    assert out.shape == (2 * N, 3, 1) and torch.isfinite(out).all()
    # the forecast reads the future clock: another u_future changes the prediction after step 1
    other = batch.clone()
    other.u_future = -batch.u_future
    moved = model.forecast(other, 3)
    assert torch.allclose(moved[:, 0], out[:, 0]) and not torch.allclose(moved[:, 1:], out[:, 1:])


def test_scalers_fitted_on_the_training_steps(los):
    from srnn_pyg.scalers import MinMaxScaler, RobustScaler, StandardScaler
    root, speed, _, _ = los
    z = LosLoop(root, split="test", obs=4, horizon=3)
    lo, hi = z.bounds["train"]
    train = torch.tensor(speed[lo:hi]).reshape(-1, 1)
    # the default z-score is exposed as a StandardScaler equal to (mean, std)
    assert isinstance(z.scaler, StandardScaler)
    w = z[0]
    assert torch.allclose(z.scaler.inverse_transform(w.y), z.denormalize(w.y))
    # a robust scaler by name: median and interquartile range of the training steps only
    r = LosLoop(root, split="test", obs=4, horizon=3, normalize="robust")
    q1, med, q3 = np.percentile(train.numpy(), [25, 50, 75])
    assert isinstance(r.scaler, RobustScaler)
    assert float(r.mean) == pytest.approx(med, rel=1e-5) and float(r.std) == pytest.approx(q3 - q1, rel=1e-5)
    raw = torch.tensor(speed[lo + 0:lo + 1]).float()                       # a row of training speeds
    assert torch.allclose(r.normalize(raw), (raw - med) / (q3 - q1), atol=1e-5)
    assert torch.allclose(r.denormalize(r[0].y), LosLoop(root, split="test", obs=4, horizon=3,
                                                         normalize=None)[0].y, atol=1e-4)
    # a fitted scaler object is used as it is; an unfitted one is fitted on the training steps
    mm = MinMaxScaler().fit(torch.tensor([[0.0], [100.0]]))
    m = LosLoop(root, split="test", obs=4, horizon=3, normalize=mm)
    assert m.scaler is mm and float(m.mean) == 0.0 and float(m.std) == 100.0
    fresh = MinMaxScaler()
    LosLoop(root, split="train", obs=4, horizon=3, normalize=fresh)
    assert fresh.fitted and float(fresh.center.reshape(-1)) == pytest.approx(float(train.min()), rel=1e-6)
    with pytest.raises(ValueError, match="normalize"):
        LosLoop(root, split="test", obs=4, horizon=3, normalize="quantile")
    with pytest.raises(ValueError, match="one statistic"):
        LosLoop(root, split="test", obs=4, horizon=3,
                normalize=StandardScaler(axis=0).fit(torch.randn(5, 3)))


def test_dcrnn_graph_reordered(los):
    root, _, _, ids = los
    rng = np.random.default_rng(1)
    adj = rng.uniform(0.1, 1.0, (N, N)) * (rng.random((N, N)) < 0.6)   # directed
    perm = [3, 0, 4, 1, 2]                                               # the pickle's own order
    pk_ids = [ids[p] for p in perm]
    pk_adj = adj[np.ix_(perm, perm)].astype(np.float32)
    blob = pickle.dumps([pk_ids, {k: i for i, k in enumerate(pk_ids)}, pk_adj], protocol=2)
    (root / "los_loop" / "adj_mx.pkl").write_bytes(blob)
    ds = LosLoop(root, split="train", obs=4, horizon=3, graph="dcrnn")
    d = ds[0]
    expected = adj.astype(np.float32).copy()
    np.fill_diagonal(expected, 0)
    dense = torch.zeros(N, N)
    dense[d.edge_index[0], d.edge_index[1]] = d.edge_attr[:, 0, 0]
    assert torch.allclose(dense, torch.tensor(expected), atol=1e-6)
    assert ds.schema.edge_types[0].directed and d.validate(ds.schema)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_dcrnn_pickle_refused(los):
    root = los[0]
    (root / "los_loop" / "adj_mx.pkl").write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(UnsafePickleError, match=r"adj_mx\.pkl.*(posix|os|nt)\.system"):
        LosLoop(root, graph="dcrnn")


def test_dcrnn_pickle_wrong_layout(los):
    root = los[0]
    (root / "los_loop" / "adj_mx.pkl").write_bytes(pickle.dumps({"adj": np.eye(N)}, protocol=2))
    with pytest.raises(DataFormatError, match=r"adj_mx\.pkl: expected a pickled \[sensor_ids"):
        LosLoop(root, graph="dcrnn")
    ids = [str(i) for i in range(N)]                                     # unknown sensors
    (root / "los_loop" / "adj_mx.pkl").write_bytes(
        pickle.dumps([ids, {k: i for i, k in enumerate(ids)}, np.eye(N)], protocol=2))
    with pytest.raises(DataFormatError, match=r"adj_mx\.pkl: sensors .* are not in the graph"):
        LosLoop(root, graph="dcrnn")


def test_horizon_metrics_hand_computed(los):
    ds = LosLoop(los[0], split="test", obs=4, horizon=3, normalize=None)
    target = torch.tensor([[[50.0], [40.0], [0.0]], [[25.0], [20.0], [10.0]]])   # [2, 3, 1]
    pred = target + torch.tensor([[[1.0], [-2.0], [5.0]], [[1.0], [2.0], [-3.0]]])
    out = ds.horizon_metrics(pred, target, horizons=(1, 2, 3), normalized=False)
    assert set(out) == {5, 10, 15}
    assert out[5]["mae"] == pytest.approx(1.0) and out[5]["rmse"] == pytest.approx(1.0)
    assert out[5]["mape"] == pytest.approx(100 * (1 / 50 + 1 / 25) / 2)
    assert out[10]["rmse"] == pytest.approx(2.0) and out[10]["mape"] == pytest.approx(100 * 0.075)
    # step 3: the zero reading is left out of all three metrics
    assert out[15] == pytest.approx({"mae": 3.0, "rmse": 3.0, "mape": 30.0})
    cum = ds.horizon_metrics(pred, target, horizons=(2,), normalized=False, cumulative=True)
    assert cum[10]["mae"] == pytest.approx(1.5)
    assert cum[10]["rmse"] == pytest.approx(np.sqrt((1 + 4 + 1 + 4) / 4))
    z = LosLoop(los[0], split="test", obs=4, horizon=3)                  # normalised units
    y = z[0].y
    got = z.horizon_metrics(y + 1.0 / z.std, y, horizons=(3,))
    assert got[15]["mae"] == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("kind,edit,pattern", [
    ("speed", lambda L: L[:-1] + [L[-1][:L[-1].rfind(",")]], r"los_speed\.csv, line 101.*expected 5 columns"),
    ("speed", lambda L: L[:7] + [L[7].replace(L[7].split(",")[2], "nan", 1)] + L[8:],
     r"los_speed\.csv, line 8, column 3.*finite"),
    ("speed", lambda L: L[:4] + [L[4].replace(L[4].split(",")[0], "fast", 1)] + L[5:],
     r"los_speed\.csv, line 5.*'fast' is not a number"),
    ("adj", lambda L: L[:2] + [L[2] + ",0.5"] + L[3:], r"los_adj\.csv, line 3.*expected 5 columns"),
    ("adj", lambda L: L[:-1], r"los_adj\.csv.*expected 5 rows.*got 4"),
])
def test_malformed_files(tmp_path, kind, edit, pattern):
    write_los(tmp_path)
    path = tmp_path / ("los_speed.csv" if kind == "speed" else "los_adj.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(DataFormatError, match=pattern):
        LosLoop(tmp_path)


def test_missing_files_and_root(tmp_path, monkeypatch):
    write_los(tmp_path)
    (tmp_path / "los_adj.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"los_adj\.csv"):
        LosLoop(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"adj_mx\.pkl"):
        LosLoop(tmp_path, graph="dcrnn")
    monkeypatch.delenv("SRNN_PYG_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="SRNN_PYG_DATA"):
        LosLoop()
    monkeypatch.setenv("SRNN_PYG_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="los_loop"):
        LosLoop()


def test_bad_arguments(los):
    root = los[0]
    with pytest.raises(ValueError, match="'split'"):
        LosLoop(root, split="valid")
    with pytest.raises(ValueError, match="'graph'"):
        LosLoop(root, graph="knn")
    with pytest.raises(ValueError, match="'normalize'"):
        LosLoop(root, normalize="minmax-robust")
    with pytest.raises(ValueError, match="too short"):
        LosLoop(root, split="val", obs=12, horizon=12)


# ------------------------------------------------------------------ protocol
def test_open_matches_the_constructor(los):
    root = los[0]
    for split in ("train", "val", "test"):
        ds = LosLoop.open(split, root=root, obs=4, horizon=3)
        ref = LosLoop(root, split=split, obs=4, horizon=3)
        assert len(ds) == len(ref) and torch.equal(ds[1].x, ref[1].x) and torch.equal(ds.mean, ref.mean)
    assert not LosLoop.has_split("val", val_ratio=0.0)
    assert len(LosLoop.open("train", root=root, obs=4, horizon=3, val_ratio=0.0)) == 80 - 7 + 1


def test_score_reports_15_30_60_minutes(los):
    ds = LosLoop(los[0], split="test", obs=4, horizon=12)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(10, 12, 1, generator=g)
    pred = y + 0.3 * torch.randn(10, 12, 1, generator=g)
    out = ds.score({"pred": pred, "y": y})
    assert list(out) == [f"{k}@{m}min" for m in (15, 30, 60) for k in ("MAE", "RMSE", "MAPE")]
    p, t = ds.denormalize(pred), ds.denormalize(y)                       # mph
    for h, m in ((3, 15), (6, 30), (12, 60)):
        sl = slice(h - 1, h)
        assert out[f"MAE@{m}min"] == pytest.approx(float(M.mae(p[:, sl], t[:, sl])), rel=1e-6)
        assert out[f"RMSE@{m}min"] == pytest.approx(float(M.rmse(p[:, sl], t[:, sl])), rel=1e-6)
        assert out[f"MAPE@{m}min"] == pytest.approx(float(M.mape(p[:, sl], t[:, sl])), rel=1e-6)
    assert out["MAE@15min"] == pytest.approx(float((p[:, 2] - t[:, 2]).abs().mean()), rel=1e-6)
    # a forecast shorter than 15 minutes is scored at its last step
    short = ds.score({"pred": pred[:, :2], "y": y})
    assert list(short) == ["MAE@10min", "RMSE@10min", "MAPE@10min"]
    assert short["RMSE@10min"] == pytest.approx(float(M.rmse(p[:, 1:2], t[:, 1:2])), rel=1e-6)


# ------------------------------------------------------------------ real data
def _real_root() -> Path:
    base = os.environ.get("SRNN_PYG_DATA")
    if not base:
        pytest.skip("SRNN_PYG_DATA is unset: the real Los-loop files are not available")
    root = Path(base) / "los_loop"
    if not (root / "los_speed.csv").is_file():
        pytest.skip(f"Los-loop files not found under {root}")
    return root


@pytest.mark.integration
def test_real_los_loop():
    root = _real_root()
    sizes = {}
    for split in ("train", "val", "test"):
        ds = LosLoop(root, split=split)
        sizes[split] = len(ds)
        d = ds[len(ds) // 2]
        assert d.x.shape == (207, 12, 1) and d.y.shape == (207, 12, 1)
        assert d.edge_index.size(1) == 2833 - 207                         # los_adj without diagonal
        assert d.validate(ds.schema)
        mph = ds.denormalize(torch.cat([d.x, d.y], 1))
        assert float(mph.min()) >= 0.0 and float(mph.max()) <= 90.0
        assert torch.allclose(ds.normalize(mph), torch.cat([d.x, d.y], 1), atol=1e-5)
    assert ds.bounds == {"train": (0, 1411), "val": (1411, 1612), "test": (1612, 2016)}
    assert sizes == {"train": 1388, "val": 178, "test": 381}
    assert 55 < float(ds.mean) < 65 and 8 < float(ds.std) < 16
    tgcn = LosLoop(root, split="train", val_ratio=0.0, horizon=3)
    assert len(tgcn) == 1612 - 15 + 1                                     # T-GCN keeps one fewer
    dc = LosLoop(root, split="test", graph="dcrnn")
    assert dc[0].validate(dc.schema) and dc[0].edge_index.size(1) == 1722 - 207


@pytest.mark.integration
def test_real_los_loop_time():
    root = _real_root()
    rows = len((root / "los_speed.csv").read_text().splitlines()) - 1
    assert rows == 7 * LosLoop.steps_per_day                              # whole days: 7 x 288 steps
    starts = {}
    for split in ("train", "val", "test"):
        ds = LosLoop(root, split=split)
        starts[split] = (int(ds[0].t_start), int(ds[len(ds) - 1].t_start))
    assert starts == {"train": (0, 1411 - 24), "val": (1411, 1612 - 24), "test": (1612, 2016 - 24)}
    batch = next(iter(DataLoader(LosLoop(root, split="test"), batch_size=8)))
    assert torch.equal(batch.t_start, torch.arange(1612, 1620))


class _ShortDay(LosLoop):
    """A 'day' of 10 steps, so that the 100-step test file holds ten of them."""
    steps_per_day = 10


def _profile_by_loop(speed, lo, hi, period):
    """The daily profile step by step: the mean of the other valid fitting steps of the same phase."""
    T, N = speed.shape
    out = np.zeros((N, T))
    for i in range(N):
        fit = [s for s in range(lo, hi) if speed[s, i] != 0]
        for t in range(T):
            same = [s for s in fit if s % period == t % period and s != t]
            vals = same if same else fit
            out[i, t] = np.mean([speed[s, i] for s in vals]) if vals else 0.0
    return out


def test_daily_profile_covariate(los):
    root, speed, _, _ = los
    speed = speed.copy()
    speed[7, 2] = 0.0                                                   # a failed reading: left out
    speed[17, 2] = 0.0
    write_los(root / "los_loop", speed=speed)
    for split in ("train", "val", "test"):
        ds = _ShortDay(root, split=split, obs=4, horizon=3, stride=3, normalize=None, daily_profile=True)
        lo, hi = ds.bounds["train"]
        want = torch.tensor(_profile_by_loop(speed, lo, hi, 10)).float()                 # [N, T]
        assert torch.allclose(ds.profile_series, want, atol=1e-4)
        for i in (0, len(ds) - 1):
            d = ds[i]
            s = int(d.t_start)
            assert d.x.shape == (N, 4, 2) and d.u_future.shape == (N, 3, 1) and d.y.shape == (N, 3, 1)
            assert torch.allclose(d.x[..., 1], want[:, s:s + 4], atol=1e-4)
            assert torch.allclose(d.u_future[..., 0], want[:, s + 4:s + 7], atol=1e-4)
    # inside the training part a step never reads itself; outside it reads every training day
    ds = _ShortDay(root, split="train", obs=4, horizon=3, normalize=None, daily_profile=True)
    lo, hi = ds.bounds["train"]
    t = lo + 3
    others = [speed[s, 0] for s in range(lo, hi) if s % 10 == t % 10 and s != t]
    assert float(ds.profile_series[0, t]) == pytest.approx(np.mean(others), abs=1e-4)
    t = hi + 1                                                           # a validation step
    alls = [speed[s, 0] for s in range(lo, hi) if s % 10 == t % 10]
    assert float(ds.profile_series[0, t]) == pytest.approx(np.mean(alls), abs=1e-4)


def test_daily_profile_with_the_clock_and_normalisation(los):
    root, speed, _, _ = los
    both = _ShortDay(root, split="test", obs=4, horizon=3, stride=2, time_of_day=True, daily_profile=True)
    clock = _ShortDay(root, split="test", obs=4, horizon=3, stride=2, time_of_day=True)
    raw = _ShortDay(root, split="test", obs=4, horizon=3, stride=2, normalize=None, daily_profile=True)
    d, c, r = both[1], clock[1], raw[1]
    assert d.x.shape == (N, 4, 4) and d.u_future.shape == (N, 3, 3)
    assert torch.equal(d.x[..., :3], c.x) and torch.equal(d.u_future[..., :2], c.u_future)
    # the profile lives in the speed's (normalised) units
    assert torch.allclose(both.denormalize(d.x[..., 3:]), r.x[..., 1:], atol=1e-3)
    assert "daily_profile=True" in repr(both)
    batch = next(iter(DataLoader(both, batch_size=2)))
    assert batch.x.shape == (2 * N, 4, 4) and batch.u_future.shape == (2 * N, 3, 3)
    from srnn_pyg import models
    torch.manual_seed(0)
    model = models.build("srnn", both.schema, 4, 1, covariates=3, node_hidden=8, edge_hidden=8)
    assert model.forecast(batch, 3).shape == (2 * N, 3, 1)
    with pytest.raises(TypeError, match="daily_profile"):
        LosLoop(root, split="test", obs=4, horizon=3, daily_profile=1)
