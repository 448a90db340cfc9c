import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import metrics as M
from srnn_pyg.datasets import Chickenpox, DataFormatError, EnglandCovid, PedalMe

rng = np.random.default_rng(0)
CP_T, CP_N = 30, 4
PM_T, PM_N = 20, 3
EC_T, EC_N = 24, 5


def _chickenpox():
    fx = rng.standard_normal((CP_T, CP_N)).round(6)
    edges = [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2], [0, 0]]
    return {"edges": edges, "node_ids": {f"C{i}": i for i in range(CP_N)}, "FX": fx.tolist()}


def _pedalme():
    x = rng.standard_normal((PM_T, PM_N)).round(6)
    edges = [[i, j] for i in range(PM_N) for j in range(PM_N)]
    return {"edges": edges, "weights": rng.uniform(0, 1, len(edges)).round(6).tolist(), "X": x.tolist()}


def _england():
    y = rng.integers(0, 50, (EC_T, EC_N)).astype(float)
    y[:, 2] = 7.0                                                       # a constant region
    index, weight = {}, {}
    for t in range(EC_T):
        pairs = [[i, j] for i in range(EC_N) for j in range(EC_N) if (i + 2 * j + t) % 3 == 0]
        index[str(t)] = pairs
        weight[str(t)] = [float(100 * t + 10 * i + j) for i, j in pairs]
    return {"edge_mapping": {"edge_index": index, "edge_weight": weight}, "time_periods": EC_T,
            "y": y.tolist()}


def write(root: Path, name: str, obj) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text(json.dumps(obj, indent=1))
    return path


@pytest.fixture
def files(tmp_path):
    root = tmp_path / "pyg_temporal"
    objs = {"chickenpox.json": _chickenpox(), "pedalme_london.json": _pedalme(),
            "england_covid.json": _england()}
    for name, obj in objs.items():
        write(root, name, obj)
    return tmp_path, objs


def _snapshots(values, lags):
    """PyG Temporal's construction, written out independently: X[i:i+lags].T -> X[i+lags]."""
    S = values.shape[0] - lags
    return ([values[i:i + lags].T for i in range(S)], [values[i + lags] for i in range(S)])


@pytest.mark.parametrize("cls,name,key,lags,ratio", [
    (Chickenpox, "chickenpox.json", "FX", 4, 0.2),
    (PedalMe, "pedalme_london.json", "X", 4, 0.8),
])
def test_static_windows_match_pyg_temporal(files, cls, name, key, lags, ratio):
    root, objs = files
    values = np.array(objs[name][key])
    feats, targets = _snapshots(values, lags)
    n_train = int(ratio * len(feats))
    train, test = cls(root, split="train"), cls(root, split="test")
    assert (train.lags, len(train), len(test)) == (lags, n_train, len(feats) - n_train)
    assert train.mean is None                                            # no scaling, as PyG Temporal
    for ds, offset in ((train, 0), (test, n_train)):
        for i in (0, len(ds) - 1):
            d = ds[i]
            assert d.x.shape == (values.shape[1], lags, 1) and d.y.shape == (values.shape[1], 1, 1)
            assert torch.allclose(d.x[..., 0], torch.tensor(feats[offset + i]).float())
            assert torch.allclose(d.y[:, 0, 0], torch.tensor(targets[offset + i]).float())
            assert d.t_start.tolist() == [offset + i]                       # the step of x[:, 0]
            assert d.validate(ds.schema)


def test_static_graphs(files):
    root, objs = files
    cp = Chickenpox(root)[0]
    assert cp.edge_index.t().tolist() == objs["chickenpox.json"]["edges"]
    assert torch.equal(cp.edge_attr, torch.ones(7, 4, 1))
    pm_ds = PedalMe(root)
    pm = pm_ds[0]
    assert torch.allclose(pm.edge_attr[:, 2, 0], torch.tensor(objs["pedalme_london.json"]["weights"]).float())
    assert pm_ds.schema.node_types == ["locality"]
    assert Chickenpox(root).node_ids[3] == "C3"
    assert repr(pm_ds) == f"PedalMe({len(pm_ds)}, split='train', lags=4, horizon=1)"


def test_horizon_and_val_split(files):
    root, objs = files
    values = np.array(objs["chickenpox.json"]["FX"])
    S = CP_T - 4
    n_train = int(0.8 * S)                                               # 20
    n_val = int(0.25 * S)                                                # 6
    tr = Chickenpox(root, split="train", train_ratio=0.8, val_ratio=0.25, horizon=3)
    va = Chickenpox(root, split="val", train_ratio=0.8, val_ratio=0.25, horizon=3)
    te = Chickenpox(root, split="test", train_ratio=0.8, val_ratio=0.25, horizon=3)
    assert tr.snapshot_bounds == {"train": (0, n_train - n_val), "val": (n_train - n_val, n_train),
                                  "test": (n_train, S)}
    # every window's targets lie inside its own part
    assert (len(tr), len(va), len(te)) == (n_train - n_val - 2, n_val - 2, S - n_train - 2)
    d = te[len(te) - 1]
    s = S - 3
    assert d.y.shape == (CP_N, 3, 1)
    assert torch.allclose(d.y[..., 0], torch.tensor(values[s + 4:s + 7].T).float())


def test_england_covid_standardisation(files):
    root, objs = files
    y = np.array(objs["england_covid.json"]["y"])
    z = (y - y.mean(0)) / (y.std(0) + 1e-10)                             # PyG Temporal's loader
    feats, targets = _snapshots(z, 8)
    n_train = int(0.8 * len(feats))
    ds, test = EnglandCovid(root, split="train"), EnglandCovid(root, split="test")
    assert (len(ds), len(test)) == (n_train, len(feats) - n_train)
    d = test[1]
    assert torch.allclose(d.x[..., 0], torch.tensor(feats[n_train + 1]).float(), atol=1e-5)
    assert torch.allclose(d.y[:, 0, 0], torch.tensor(targets[n_train + 1]).float(), atol=1e-5)
    assert ds.mean.shape == (EC_N, 1) and ds.std.shape == (EC_N, 1)
    raw = torch.tensor(y[n_train + 1:n_train + 9].T).float().unsqueeze(-1)
    assert torch.allclose(test.denormalize(d.x), raw, atol=1e-3)
    assert torch.allclose(test.normalize(raw), d.x, atol=1e-4)
    batch = next(iter(DataLoader(test, batch_size=3)))                   # per-node stats, tiled
    back = test.denormalize(batch.y)
    assert torch.allclose(back[EC_N:2 * EC_N, 0, 0], torch.tensor(y[n_train + 9]).float(), atol=1e-3)
    with pytest.raises(ValueError, match="per node"):
        test.denormalize(torch.zeros(EC_N + 1, 1, 1))
    sc = test.scaler                                                     # per node, for one window
    assert sc.axis == "node" and torch.allclose(sc.inverse_transform(d.x), raw, atol=1e-3)
    tr = EnglandCovid(root, split="test", stats="train")
    days = y[:n_train + 8]
    assert torch.allclose(tr.mean[:, 0], torch.tensor(days.mean(0)).float(), atol=1e-4)


def test_england_covid_dynamic_graph(files):
    root, objs = files
    mapping = objs["england_covid.json"]["edge_mapping"]
    ds = EnglandCovid(root, split="test", lags=3)
    for i in (0, len(ds) - 1):
        d = ds[i]
        start = ds.index[i][1]
        assert d.validate(ds.schema)
        union = set()
        for t in range(3):
            day = {tuple(p) for p in mapping["edge_index"][str(start + t)]}
            union |= day
            here = {tuple(e) for e, m in zip(d.edge_index.t().tolist(), d.edge_mask[:, t].tolist()) if m}
            assert here == day
            w = dict(zip(map(tuple, mapping["edge_index"][str(start + t)]),
                         mapping["edge_weight"][str(start + t)]))
            for e, m, a in zip(d.edge_index.t().tolist(), d.edge_mask[:, t].tolist(),
                               d.edge_attr[:, t, 0].tolist()):
                assert a == (w[tuple(e)] if m else 0.0)
        assert {tuple(e) for e in d.edge_index.t().tolist()} == union    # only the window's days
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.edge_mask.shape == (batch.edge_index.size(1), 3)
    assert batch.x.shape == (2 * EC_N, 3, 1)


def test_batching_static(files):
    ds = Chickenpox(files[0], split="test")
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch.x.shape == (5 * CP_N, 4, 1) and batch.y.shape == (5 * CP_N, 1, 1)
    assert batch.edge_index.size(1) == 5 * 7 and int(batch.edge_index.max()) == 5 * CP_N - 1
    assert torch.equal(batch.y[2 * CP_N:3 * CP_N], ds[2].y)


def test_open_maps_obs_to_lags_and_val(files):
    root, _ = files
    ds = Chickenpox.open("train", root=root, obs=3, horizon=2, train_ratio=0.8)
    ref = Chickenpox(root, split="train", lags=3, horizon=2, train_ratio=0.8)
    assert (ds.lags, ds.horizon, len(ds)) == (3, 2, len(ref)) and torch.equal(ds[4].x, ref[4].x)
    with pytest.raises(ValueError, match=r"pedalme has no split 'val'"):
        PedalMe.open("val", root=root)
    va = PedalMe.open("val", root=root, val_ratio=0.2)
    assert len(va) == len(PedalMe(root, split="val", val_ratio=0.2)) > 0
    ec = EnglandCovid.open("test", root=root, obs=4)
    assert ec.lags == 4 and torch.equal(ec.mean, EnglandCovid(root, split="test", lags=4).mean)


@pytest.mark.parametrize("cls", [Chickenpox, EnglandCovid])
def test_score_is_mae_and_mse_in_data_units(files, cls):
    ds = cls(files[0], split="test")
    N = ds.recordings[0].num_nodes
    g = torch.Generator().manual_seed(0)
    y = torch.randn(3 * N, 2, 1, generator=g)                            # three windows, horizon 2
    pred = y + torch.randn(3 * N, 2, 1, generator=g)
    mask = torch.rand(3 * N, 2, generator=g) > 0.2
    out = ds.score({"pred": pred[:, :1], "y": y, "y_mask": mask})
    assert list(out) == ["MAE", "MSE"]
    p, t = ds.denormalize(pred[:, :1]), ds.denormalize(y[:, :1])
    assert out["MAE"] == pytest.approx(float(M.mae(p, t, mask[:, :1])), rel=1e-6)
    assert out["MSE"] == pytest.approx(float(M.mse(p, t, mask[:, :1])), rel=1e-6)
    assert out["MSE"] == pytest.approx(float(((p - t) ** 2)[mask[:, :1]].mean()), rel=1e-6)
    if cls is EnglandCovid:                                             # case counts, not model units
        assert out["MSE"] != pytest.approx(float(M.mse(pred[:, :1], y[:, :1], mask[:, :1])), rel=1e-3)


def _truncate(path: Path):
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


@pytest.mark.parametrize("cls,name,mutate,pattern", [
    (Chickenpox, "chickenpox.json", "truncate", r"chickenpox\.json, line \d+, column \d+: invalid JSON"),
    (Chickenpox, "chickenpox.json", lambda o: o["FX"][5].pop(),
     r"chickenpox\.json: FX\[5\] has 3 values, expected 4"),
    (Chickenpox, "chickenpox.json", lambda o: o["FX"][2].__setitem__(1, float("nan")),
     r"chickenpox\.json: FX\[2\]\[1\] is nan"),
    (Chickenpox, "chickenpox.json", lambda o: o.pop("edges"), r"chickenpox\.json: missing key 'edges'"),
    (Chickenpox, "chickenpox.json", lambda o: o["edges"].append([1, 9]), r"edges\[7\] = \[1, 9\].*outside"),
    (PedalMe, "pedalme_london.json", lambda o: o["weights"].pop(),
     r"'weights' must list one weight per edge"),
    (PedalMe, "pedalme_london.json", lambda o: o["X"][3].__setitem__(0, "many"),
     r"X\[3\]\[0\] is 'many' \(expected a number"),
    (EnglandCovid, "england_covid.json", lambda o: o["edge_mapping"]["edge_index"].pop("7"),
     r"no edges for day '7'"),
    (EnglandCovid, "england_covid.json", lambda o: o["y"].pop(), r"'time_periods' is 24 but 'y' has 23"),
])
def test_malformed_files(files, cls, name, mutate, pattern):
    root, objs = files
    path = root / "pyg_temporal" / name
    if mutate == "truncate":
        _truncate(path)
    else:
        obj = json.loads(json.dumps(objs[name]))
        mutate(obj)
        path.write_text(json.dumps(obj, indent=1))
    with pytest.raises(DataFormatError, match=pattern):
        cls(root)


def test_missing_file_and_arguments(tmp_path):
    write(tmp_path, "pedalme_london.json", _pedalme())
    with pytest.raises(FileNotFoundError, match=r"chickenpox\.json"):
        Chickenpox(tmp_path)
    with pytest.raises(ValueError, match="'split'"):
        PedalMe(tmp_path, split="dev")
    with pytest.raises(ValueError, match="train_ratio"):
        PedalMe(tmp_path, train_ratio=1.5)
    with pytest.raises(ValueError, match="holds no window"):
        PedalMe(tmp_path, split="test", train_ratio=0.95, horizon=3)
    with pytest.raises(ValueError, match="'stats'"):
        EnglandCovid(tmp_path, stats="test")


# ------------------------------------------------------------------ real data
def _real_root() -> Path:
    base = os.environ.get("SRNN_PYG_DATA")
    if not base:
        pytest.skip("SRNN_PYG_DATA is unset: the real PyG Temporal JSON files are not available")
    root = Path(base) / "pyg_temporal"
    if not (root / "chickenpox.json").is_file():
        pytest.skip(f"PyG Temporal JSON files not found under {root}")
    return root


@pytest.mark.integration
@pytest.mark.parametrize("cls,N,lags,sizes,E", [
    (Chickenpox, 20, 4, (103, 414), 102),
    (PedalMe, 15, 4, (24, 7), 225),
    (EnglandCovid, 129, 8, (42, 11), None),
])
def test_real_pyg_temporal(cls, N, lags, sizes, E):
    root = _real_root()
    train, test = cls(root, split="train"), cls(root, split="test")
    assert (len(train), len(test)) == sizes
    values = np.array(json.loads(train.path.read_text())[{"Chickenpox": "FX", "PedalMe": "X",
                                                         "EnglandCovid": "y"}[cls.__name__]])
    if cls is EnglandCovid:
        values = (values - values.mean(0)) / (values.std(0) + 1e-10)
    feats, targets = _snapshots(values, lags)
    for ds, offset in ((train, 0), (test, sizes[0])):
        d = ds[len(ds) - 1]
        assert d.x.shape == (N, lags, 1) and d.y.shape == (N, 1, 1)
        assert d.validate(ds.schema)
        assert torch.allclose(d.x[..., 0], torch.tensor(feats[offset + len(ds) - 1]).float(), atol=1e-5)
        assert torch.allclose(d.y[:, 0, 0], torch.tensor(targets[offset + len(ds) - 1]).float(), atol=1e-5)
        if E is not None:
            assert d.edge_index.size(1) == E
        else:
            assert d.edge_mask.any(1).all() and d.edge_mask.size(1) == lags
        assert float(d.x.abs().max()) < 20
    if cls is EnglandCovid:
        raw = test.denormalize(test[0].y)
        assert float(raw.min()) > -1e-3 and float(raw.max()) < 1000
        assert torch.allclose(test.normalize(raw), test[0].y, atol=1e-4)
    if cls is Chickenpox:
        assert len(cls(root, split="test", train_ratio=0.8)) == 517 - 413


def test_every_dataset_exposes_its_normalisation_as_a_scaler(tmp_path):
    # per feature (Springs): a StandardScaler equal to denormalize; per node (PyG Temporal's
    # standardisation): a StandardScaler with axis="node" equal to denormalize on one window
    from srnn_pyg.datasets import Springs
    from srnn_pyg.scalers import StandardScaler
    sp = Springs(split="val", num_graphs=20, seed=1)
    assert isinstance(sp.scaler, StandardScaler)
    w = sp[0]
    assert torch.allclose(sp.scaler.inverse_transform(w.y), sp.denormalize(w.y))
    assert torch.allclose(sp.scaler.transform(sp.denormalize(w.x)), w.x, atol=1e-5)


def test_chickenpox_week_of_year_covariates(files):
    root, objs = files
    plain = Chickenpox(root, split="test", horizon=2, train_ratio=0.5)
    ds = Chickenpox(root, split="test", horizon=2, train_ratio=0.5, week_of_year=True)
    assert len(ds) == len(plain) and "week_of_year=True" in repr(ds)
    for i in (0, len(ds) - 1):
        d, p = ds[i], plain[i]
        s = ds.index[i][1]                                                 # the window's first week
        assert d.x.shape == (CP_N, 4, 3) and d.u_future.shape == (CP_N, 2, 2)
        assert torch.equal(d.x[..., :1], p.x) and torch.equal(d.y, p.y)    # cases untouched
        angle = 2 * np.pi * np.arange(s, s + 6) / (365.25 / 7)             # hand-computed clock
        clock = torch.tensor(np.stack([np.sin(angle), np.cos(angle)], -1)).float()
        assert torch.allclose(d.x[..., 1:], clock[:4].expand(CP_N, 4, 2), atol=1e-6)
        assert torch.allclose(d.u_future, clock[4:].expand(CP_N, 2, 2), atol=1e-6)
    # 365.25 days on (week 365.25 / 7 * 4 = 208.71...: four years), the same point of the year
    c = Chickenpox.clock(0, 210)
    frac = 4 * 365.25 / 7 - 208                                            # between weeks 208 and 209
    assert torch.allclose((1 - frac) * c[208] + frac * c[209], c[0], atol=5e-3)
    assert torch.allclose(Chickenpox.clock(0, 1), torch.tensor([[0.0, 1.0]]))
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.x.shape == (2 * CP_N, 4, 3) and batch.u_future.shape == (2 * CP_N, 2, 2)
    from srnn_pyg import models
    torch.manual_seed(0)
    model = models.build("srnn", ds.schema, 3, 1, covariates=2, node_hidden=8, edge_hidden=8)
    assert model.forecast(batch, 2).shape == (2 * CP_N, 2, 1)
    with pytest.raises(TypeError, match="week_of_year"):
        Chickenpox(root, week_of_year="yes")
