"""PyGTemporalJSON and srnn_pyg.datasets.temporal_json: every JSON layout of
PyG Temporal's datasets, on small files written here, against windows
computed by hand (x = steps i..i+lags-1, y = steps i+lags..i+lags+H-1)."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import datasets
from srnn_pyg import metrics as M
from srnn_pyg.datasets import Chickenpox, DataFormatError, EnglandCovid, PedalMe, PyGTemporalJSON
from srnn_pyg.datasets.temporal_json import read_temporal_json


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def v(t, n, f=0):
    """The value of step t, node n, feature f in the files below."""
    return 100 * t + 10 * n + f


# ------------------------------------------------------------ matrix layout
def test_matrix_layout_three_features(tmp_path):
    """[T][N][F] keyed by time ('X', pedalme-style) with edges and weights."""
    T, N, F = 7, 3, 2
    X = [[[v(t, n, f) for f in range(F)] for n in range(N)] for t in range(T)]
    path = write(tmp_path / "m.json", {"edges": [[0, 1], [1, 2]], "weights": [0.5, 2.0], "X": X})
    kw = dict(lags=2, horizon=2, train_ratio=0.6)
    train, test = PyGTemporalJSON(path, **kw), PyGTemporalJSON(path, split="test", **kw)
    # 5 snapshots, 3 before the test part; windows whose 2 targets stay in their part
    assert train.layout == "matrix" and [s for _, s in train.index] == [0, 1]
    assert [s for _, s in test.index] == [3]
    d = test[0]
    assert d.x.shape == (N, 2, F) and d.y.shape == (N, 2, F)
    assert d.x[1, :, 0].tolist() == [310, 410] and d.x[2, :, 1].tolist() == [321, 421]
    assert d.y[1, :, 1].tolist() == [511, 611] and d.y[0, :, 0].tolist() == [500, 600]
    assert train[1].x[0, :, 1].tolist() == [101, 201] and train[1].y[2, :, 0].tolist() == [320, 420]
    assert d.edge_index.tolist() == [[0, 1], [1, 2]]
    assert d.edge_attr[:, :, 0].tolist() == [[0.5, 0.5], [2.0, 2.0]]
    assert d.get("edge_mask") is None and train.mean is None and train.node_ids is None
    assert d.validate(test.schema)


def test_matrix_layout_dynamic_edge_mapping_and_default_weights(tmp_path):
    """england_covid's 'y' + per-step 'edge_mapping': the union of a window's
    steps with a mask per step; chickenpox-style files without weights get 1."""
    T, N = 5, 3
    y = [[v(t, n) for n in range(N)] for t in range(T)]
    steps = {"0": [[0, 1]], "1": [[1, 2], [0, 1]], "2": [[2, 0]], "3": [], "4": [[1, 0]]}
    wts = {k: [float(10 * int(k) + j + 1) for j in range(len(e))] for k, e in steps.items()}
    path = write(tmp_path / "dyn.json", {"edge_mapping": {"edge_index": steps, "edge_weight": wts},
                                         "time_periods": T, "y": y})
    ds = PyGTemporalJSON(path, lags=2, train_ratio=0.5)                    # snapshots 0..2: 1 train
    d = ds[0]                                                              # steps 0, 1 -> step 2
    assert d.x[:, :, 0].tolist() == [[0, 100], [10, 110], [20, 120]] and d.y[:, 0, 0].tolist() == [200, 210, 220]
    # edges sorted by src * N + dst: (0,1), (1,2)
    assert d.edge_index.tolist() == [[0, 1], [1, 2]]
    assert d.edge_mask.tolist() == [[True, True], [False, True]]
    assert d.edge_attr[:, :, 0].tolist() == [[1.0, 12.0], [0.0, 11.0]]
    test = PyGTemporalJSON(path, split="test", lags=2, train_ratio=0.5)
    assert [s for _, s in test.index] == [1, 2]
    last = test[1]                                                         # steps 2, 3 (no edges)
    assert last.edge_index.tolist() == [[2], [0]] and last.edge_mask.tolist() == [[True, False]]
    batch = next(iter(DataLoader(test, batch_size=2)))
    assert batch.edge_mask.shape == (batch.edge_index.size(1), 2) == (3 + 1, 2)
    static = write(tmp_path / "cp.json", {"edges": [[0, 1], [1, 0]], "FX": [[1.0, 2.0]] * 6})
    assert PyGTemporalJSON(static)[0].edge_attr.unique().tolist() == [1.0]


# --------------------------------------------------------- snapshots layout
def test_snapshots_layout_static_graph(tmp_path):
    """wikimath ('t': {'y': [N]}) and windmill ('t': [N]) with top-level edges."""
    T, N = 6, 2
    wiki = {"edges": [[0, 1]], "weights": [3.0], "time_periods": T,
            **{str(t): {"y": [v(t, n) for n in range(N)]} for t in range(T)}}
    mill = {"edges": [[0, 1]], "weights": [3.0], **{str(t): [v(t, n) for n in range(N)] for t in range(T)}}
    for name, obj in (("wiki.json", wiki), ("mill.json", mill)):
        ds = PyGTemporalJSON(write(tmp_path / name, obj), lags=3, train_ratio=0.67)
        assert ds.layout == "snapshots" and len(ds) == 2                  # int(0.67 * 3)
        d = ds[1]
        assert d.x[:, :, 0].tolist() == [[100, 200, 300], [110, 210, 310]]
        assert d.y[:, 0, 0].tolist() == [400, 410]
        assert d.edge_attr[:, :, 0].tolist() == [[3.0, 3.0, 3.0]] and d.get("edge_mask") is None


def test_snapshots_layout_dynamic_graph_twitter_tennis(tmp_path):
    """twitter tennis: every snapshot its own edges, weights, 'X' [N][F] and 'y' [N]."""
    T, N = 5, 3
    obj = {"time_periods": T}
    for t in range(T):
        obj[str(t)] = {"edges": [[t % N, (t + 1) % N]], "weights": [float(t + 1)],
                       "X": [[v(t, n, 0), v(t, n, 1)] for n in range(N)], "y": [v(t, n) for n in range(N)]}
    path = write(tmp_path / "tennis.json", obj)
    ds = PyGTemporalJSON(path, lags=2, train_ratio=0.7)                    # 3 snapshots, 2 train
    assert ds.series is None and len(ds) == 2
    d = ds[1]                                                              # steps 1, 2 -> 3, series 'y'
    assert d.x.shape == (N, 2, 1) and d.y[:, 0, 0].tolist() == [300, 310, 320]
    assert d.edge_index.tolist() == [[1, 2], [2, 0]] and d.edge_mask.tolist() == [[True, False], [False, True]]
    assert d.edge_attr[:, :, 0].tolist() == [[2.0, 0.0], [0.0, 3.0]]
    feats = PyGTemporalJSON(path, lags=2, train_ratio=0.7, series="X")
    assert feats[1].x.shape == (N, 2, 2) and feats[1].x[2, 1].tolist() == [220, 221]
    assert read_temporal_json(path).series == ["y"]


# ------------------------------------------------------------- nodes layout
def test_nodes_layout_ids_in_file_order(tmp_path):
    """Each node with its own series, links keyed by id: node i is the i-th node
    of the file (not the sorted ids); a link without a weight gets 1."""
    T = 6
    order = ["c", "a", "b"]
    nodes = [{"id": name, "X": [v(t, i) for t in range(T)]} for i, name in enumerate(order)]
    links = [{"source": "a", "target": "c", "weight": 0.25}, {"source": "b", "target": "a"}]
    path = write(tmp_path / "n.json", {"directed": True, "nodes": nodes, "links": links})
    ds = PyGTemporalJSON(path, lags=2, train_ratio=0.75)
    assert ds.layout == "nodes" and ds.node_ids == ["c", "a", "b"] and len(ds) == 3
    d = ds[2]
    assert d.x[:, :, 0].tolist() == [[200, 300], [210, 310], [220, 320]] and d.y[:, 0, 0].tolist() == [400, 410, 420]
    assert d.edge_index.tolist() == [[1, 2], [0, 1]]                       # a->c, b->a
    assert d.edge_attr[:, 0, 0].tolist() == [0.25, 1.0]
    # [T][F] series, and networkx >= 3.4's 'edges' key for the links
    nodes2 = [{"id": i, "X": [[v(t, i, 0), v(t, i, 1)] for t in range(T)]} for i in (7, 3)]
    p2 = write(tmp_path / "n2.json", {"nodes": nodes2, "edges": [{"source": 3, "target": 7, "weight": 2}]})
    d2 = PyGTemporalJSON(p2, lags=2)[0]
    assert d2.x.shape == (2, 2, 2) and d2.x[1, 1].tolist() == [130, 131] and d2.edge_index.tolist() == [[1], [0]]


def _montevideo(T=8):
    """Montevideo bus's layout: ids under 'bus_stop' (networkx's 'id' is another
    numbering here), the target series 'y' and named features in 'X'."""
    rng = np.random.default_rng(1)
    stops = [4025, 118, 902]
    y = rng.integers(0, 40, (len(stops), T)).astype(float)
    nodes = [{"id": i + 100, "bus_stop": s, "X": {"y": y[i].tolist(), "hour": [t % 24 for t in range(T)]},
              "y": y[i].tolist()} for i, s in enumerate(stops)]
    links = [{"source": 4025, "target": 118, "weight": 350.0}, {"source": 118, "target": 902, "weight": 120.5}]
    return {"directed": True, "multigraph": False, "graph": {}, "nodes": nodes, "links": links}, y


def test_nodes_layout_montevideo_bus(tmp_path):
    obj, y = _montevideo()
    path = write(tmp_path / "montevideo_bus.json", obj)
    ds = PyGTemporalJSON(path, lags=3, standardize="all", split="test")
    assert ds.node_ids == [4025, 118, 902]                                # 'id' names no link: bus_stop
    d = ds[0]
    s = ds.index[0][1]
    z = (y.T - y.T.mean(0)) / y.T.std(0)                                   # MontevideoBus's standardising
    assert torch.allclose(d.x[..., 0], torch.tensor(z[s:s + 3].T).float(), atol=1e-5)
    assert torch.allclose(d.y[:, 0, 0], torch.tensor(z[s + 3]).float(), atol=1e-5)
    assert torch.allclose(ds.denormalize(d.y)[:, 0, 0], torch.tensor(y[:, s + 3]).float(), atol=1e-4)
    assert d.edge_index.tolist() == [[0, 1], [1, 2]] and d.edge_attr[:, 0, 0].tolist() == [350.0, 120.5]
    two = PyGTemporalJSON(path, lags=3, series=["y", "hour"])              # feature_vars from 'X'
    assert two[0].x.shape == (3, 3, 2) and two[0].x[0, :, 1].tolist() == [0, 1, 2]
    assert ds.mean.shape == (3, 1) and two.mean is None
    by_id = PyGTemporalJSON(path, lags=3, node_id="bus_stop")
    assert torch.equal(by_id[0].x, PyGTemporalJSON(path, lags=3)[0].x)


# ----------------------------------------------------- protocol and scoring
def test_standardize_train_and_score_in_file_units(tmp_path):
    T, N = 12, 2
    y = [[float(v(t, n) + (t % 3)) for n in range(N)] for t in range(T)]
    path = write(tmp_path / "s.json", {"edges": [[0, 1]], "y": y})
    ds = PyGTemporalJSON(path, split="test", lags=2, standardize="train")
    arr = np.array(y)[: 8 + 2]                                             # 8 train snapshots + lags
    assert torch.allclose(ds.mean[:, 0], torch.tensor(arr.mean(0)).float())
    assert torch.allclose(ds.std[:, 0], torch.tensor(arr.std(0)).float())
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    g = torch.Generator().manual_seed(0)
    pred = batch.y + 0.1 * torch.randn(batch.y.shape, generator=g)
    out = ds.score({"pred": pred, "y": batch.y})
    p, t = ds.denormalize(pred), ds.denormalize(batch.y)
    assert list(out) == ["MAE", "MSE"]
    assert out["MAE"] == pytest.approx(float(M.mae(p, t)), rel=1e-6)
    assert out["MSE"] == pytest.approx(float(M.mse(p, t)), rel=1e-6)
    assert out["MSE"] != pytest.approx(float(M.mse(pred, batch.y)), rel=1e-3)


def test_registry_and_open(tmp_path):
    path = write(tmp_path / "pyg_temporal" / "mine.json", {"edges": [[0, 1]], "X": [[t, -t] for t in range(20)]})
    cls = datasets.get("pyg_temporal_json")
    assert cls is PyGTemporalJSON and cls.task == "regression"
    ds = cls.open("train", root=tmp_path, path="mine.json", obs=3, horizon=2)
    ref = PyGTemporalJSON(path, lags=3, horizon=2)
    assert (ds.lags, ds.horizon, len(ds)) == (3, 2, len(ref)) and torch.equal(ds[2].x, ref[2].x)
    assert ds.path == path
    with pytest.raises(ValueError, match=r"pyg_temporal_json has no split 'val'"):
        cls.open("val", root=tmp_path, path="mine.json")
    assert len(cls.open("val", root=tmp_path, path="mine.json", val_ratio=0.2)) > 0
    assert repr(ref) == f"PyGTemporalJSON({len(ref)}, 'mine.json', layout='matrix', split='train', lags=3, horizon=2)"


def test_open_from_train_takes_its_options(tmp_path):
    """open(split, train=train) cuts the same file into the same windows with the same standardisation
    (it used the defaults: other lags and horizon, no standardisation, or no file at all); options given
    here still win."""
    path = write(tmp_path / "mine.json", {"edges": [[0, 1]], "X": [[t + (t % 3), -t] for t in range(40)]})
    train = PyGTemporalJSON.open("train", path=path, obs=6, horizon=3, standardize="train", val_ratio=0.2)
    for split in ("val", "test"):
        other = PyGTemporalJSON.open(split, train=train)
        ref = PyGTemporalJSON(path, split=split, lags=6, horizon=3, standardize="train", val_ratio=0.2)
        assert (other.lags, other.horizon, len(other)) == (6, 3, len(ref))
        assert torch.equal(other.mean, train.mean) and torch.equal(other[0].x, ref[0].x)
    assert PyGTemporalJSON.open("test", train=train, horizon=1).horizon == 1


# -------------------------------------------------------------------- errors
def _nodes_file():
    return {"nodes": [{"id": "a", "X": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, {"id": "b", "X": [1.0] * 6}],
            "links": [{"source": "a", "target": "b", "weight": 1.0}]}


def _snap_file():
    return {"time_periods": 6, "edges": [[0, 1]], **{str(t): {"y": [t, t]} for t in range(6)}}


@pytest.mark.parametrize("obj,kw,pattern", [
    ({"edges": [[0, 1]], "values": [[1, 2]]}, {},
     r"bad\.json: cannot tell the layout: expected a series keyed by time .*'nodes'"),
    ({"X": [[1, 2], [3, 4], [5]] * 3, "edges": []}, {},
     r"bad\.json: X\[2\] has 1 values, expected 2.*\[read as the 'matrix' layout, detected\]"),
    ({"X": [[[1, 2], [3, 4]], [[1, 2], [3]]] * 3, "edges": []}, {}, r"X\[1\]\[1\] has 1 values, expected 2"),
    ({"X": [[1, 2]] * 6}, {}, r"missing key 'edges' .*'edge_mapping'.*'matrix' layout"),
    ({"X": [[1, 2]] * 6, "edges": [[0, 2]]}, {}, r"edges\[0\] = \[0, 2\] names a node outside \[0, 1\]"),
    ({"X": [[1, 2]] * 6, "edges": [[0, 1]], "time_periods": 7}, {}, r"'time_periods' is 7 but 'X' has 6"),
    ({"X": [[1, 2]] * 6, "edges": [[0, 1]]}, {"layout": "snapshots"},
     r"missing snapshot '0'.*\[read as the 'snapshots' layout, as asked\]"),
    (dict(_snap_file(), time_periods=7), {}, r"missing snapshot '6' \(expected '0'..'6'"),
    ({**_snap_file(), "3": {"y": [3, 3, 3]}}, {}, r"snapshot '3' has values \[3, 1\].*expected \[2, 1\]"),
    ({**_snap_file(), "2": {"z": [1, 1]}}, {}, r"snapshot '2' has none of the keys \['y', 'X'\]"),
    ({**_snap_file(), "0": {"y": [0, 0], "edges": [[0, 1]]}}, {}, r"snapshot '1' has no 'edges'"),
    ({**_nodes_file(), "links": [{"source": "a", "target": "q"}]}, {},
     r"no node id key: expected \['id', 'bus_stop'\].*links\[0\]\.target = 'q' names no node.*'nodes' layout"),
    ({**_nodes_file(), "nodes": [{"id": "a", "X": [1.0] * 6}, {"id": "a", "X": [1.0] * 6}]}, {},
     r"the 'id' value 'a' names two nodes"),
    ({**_nodes_file(), "nodes": [{"id": "a", "X": [1.0] * 6}, {"id": "b", "X": [1.0] * 5}]}, {},
     r"nodes\[1\] \(id 'b'\) has a series \[5, 1\].*expected \[6, 1\]"),
    ({**_nodes_file(), "nodes": [{"id": "a", "X": [1.0] * 6}, {"id": "b", "S": [1.0] * 6}]}, {},
     r"nodes\[1\] has no series: expected 'X'"),
    (_nodes_file(), {"series": "hour"}, r"nodes\[0\] has no series 'hour'"),
    ({**_nodes_file(), "links": [{"source": "a"}]}, {}, r"links\[0\] must be an object with 'source' and 'target'"),
    ({**_nodes_file(), "links": [{"source": "a", "target": "b", "weight": "far"}]}, {},
     r"links\[\*\]\.weight\[0\]\[0\] is .far. \(expected a number"),
])
def test_malformed_files_name_file_key_and_layout(tmp_path, obj, kw, pattern):
    path = write(tmp_path / "bad.json", obj)
    with pytest.raises(DataFormatError, match=pattern):
        PyGTemporalJSON(path, lags=2, **kw)


def test_argument_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("SRNN_PYG_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"no file given: pass path="):
        PyGTemporalJSON()
    with pytest.raises(FileNotFoundError, match=r"nowhere\.json"):
        PyGTemporalJSON(tmp_path / "nowhere.json")
    path = write(tmp_path / "ok.json", _snap_file())
    with pytest.raises(ValueError, match="'layout' must be 'auto' or one of"):
        PyGTemporalJSON(path, layout="grid")
    with pytest.raises(ValueError, match="'standardize'"):
        PyGTemporalJSON(path, standardize="test")
    with pytest.raises(ValueError, match="reads one series key"):
        PyGTemporalJSON(path, series=["y", "X"])
    bad = tmp_path / "trunc.json"
    bad.write_text(json.dumps(_snap_file())[:40])
    with pytest.raises(DataFormatError, match=r"trunc\.json, line 1, column \d+: invalid JSON"):
        PyGTemporalJSON(bad)


# ------------------------------------------------------------------ real data
@pytest.mark.integration
@pytest.mark.parametrize("cls,name,kw", [
    (Chickenpox, "chickenpox.json", dict(train_ratio=0.2)),
    (PedalMe, "pedalme_london.json", {}),
    (EnglandCovid, "england_covid.json", dict(lags=8, standardize="all")),
])
def test_generic_reader_gives_the_dedicated_windows_on_the_real_files(cls, name, kw):
    base = os.environ.get("SRNN_PYG_DATA")
    if not base or not (Path(base) / "pyg_temporal" / name).is_file():
        pytest.skip("SRNN_PYG_DATA is unset or lacks the PyG Temporal JSON files")
    for split in ("train", "test"):
        ref = cls(split=split)
        gen = PyGTemporalJSON.open(split, path=name, **kw)
        assert gen.layout == "matrix" and len(gen) == len(ref) > 0
        if ref.mean is not None:
            assert torch.equal(gen.mean, ref.mean) and torch.equal(gen.std, ref.std)
        for i in range(len(ref)):
            a, b = gen[i], ref[i]
            assert set(a.keys()) == set(b.keys())
            for k in a.keys():
                if isinstance(a[k], torch.Tensor):
                    assert torch.equal(a[k], b[k]), (name, split, i, k)


def test_undirected_node_link_files_and_snapshot_gaps(tmp_path):
    """networkx's node_link_data of an undirected graph ("directed": false) gives each link both ways (a
    self-loop once); a snapshots file with a gap and no time_periods is refused (it was cut at the gap)."""
    nodes = [{"id": f"n{i}", "X": [float(t + i) for t in range(12)]} for i in range(3)]
    links = [{"source": "n0", "target": "n1"}, {"source": "n1", "target": "n2", "weight": 2.0},
             {"source": "n2", "target": "n2"}]
    undirected = read_temporal_json(write(tmp_path / "u.json", {"directed": False, "nodes": nodes, "links": links}))
    assert sorted(map(tuple, undirected.edge_index.T.tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 2)]
    assert sorted(np.asarray(undirected.edge_weight).tolist()) == [1.0, 1.0, 1.0, 2.0, 2.0]
    directed = read_temporal_json(write(tmp_path / "d.json", {"directed": True, "nodes": nodes, "links": links}))
    assert directed.edge_index.shape == (2, 3)
    with pytest.raises(DataFormatError, match="'directed' must be true or false"):
        read_temporal_json(write(tmp_path / "b.json", {"directed": "no", "nodes": nodes, "links": links}))
    snaps = {str(t): {"y": [float(t), 1.0]} for t in range(10) if t != 4}
    snaps["edges"] = [[0, 1]]
    with pytest.raises(DataFormatError, match="missing snapshot '4' before snapshot '5'"):
        read_temporal_json(write(tmp_path / "s.json", snaps))



def test_time_periods_must_be_an_integer(tmp_path):
    path = write(tmp_path / "t.json", {"edges": [[0, 1]], "FX": [[t, t] for t in range(6)], "time_periods": "6"})
    with pytest.raises(DataFormatError, match="'time_periods' must be an integer \\(got '6', a str\\)"):
        read_temporal_json(path)


# ------------------------------------------------------------------ typed nodes
def test_typed_nodes_give_a_typed_schema_in_every_layout(tmp_path):
    """node_type names the key of each node's type: node types in order of first appearance, one
    undirected edge type per pair of types an edge joins; an S-RNN built on it has a nodeRNN per
    node type and an edgeRNN per edge type."""
    from srnn_pyg.models import StructuralRNN

    T = 10
    kinds = ["road", "driver", "road", 7]
    nodes = [{"id": i, "type": k, "X": [v(t, i) for t in range(T)]} for i, k in enumerate(kinds)]
    links = [{"source": 1, "target": 0}, {"source": 0, "target": 1}, {"source": 2, "target": 0},
             {"source": 3, "target": 1}]
    by_nodes = PyGTemporalJSON(write(tmp_path / "n.json", {"nodes": nodes, "links": links}), lags=3,
                               node_type="type")
    matrix = {"X": [[v(t, i) for i in range(4)] for t in range(T)], "kind": kinds,
              "edges": [[link["source"], link["target"]] for link in links]}
    by_matrix = PyGTemporalJSON(write(tmp_path / "m.json", matrix), lags=3, node_type="kind")
    for ds in (by_nodes, by_matrix):
        schema = ds.schema
        assert schema.node_types == ["road", "driver", "7"]
        assert [tuple(et[:3]) for et in schema.edge_types] == [("road", "to", "driver"), ("road", "to", "road"),
                                                               ("driver", "to", "7")]
        d = ds[1]
        assert d.node_type.tolist() == [0, 1, 0, 2] and d.edge_type.tolist() == [0, 0, 1, 2]
        d.validate(schema)
        model = StructuralRNN(schema, in_channels=1, out_channels=1, edge_hidden=8, node_hidden=8)
        assert model.forecast(d, 1).shape == (4, 1, 1)
    untyped = PyGTemporalJSON(tmp_path / "m.json", lags=3)
    assert untyped.schema.node_types == ["node"] and untyped[0].node_type.tolist() == [0] * 4
    # the other splits take the key from train
    test = PyGTemporalJSON.open("test", train=by_matrix)
    assert test.schema == by_matrix.schema and test[0].node_type.tolist() == [0, 1, 0, 2]


@pytest.mark.parametrize("obj,key,pattern", [
    ({"X": [[1, 2]] * 6, "edges": [[0, 1]]}, "kind", r"missing key 'kind' \(a list of one node type name per node"),
    ({"X": [[1, 2]] * 6, "edges": [[0, 1]], "kind": ["a"]}, "kind",
     r"'kind' must be a list of one node type name per node \(2\); got 1 entries"),
    ({"X": [[1, 2]] * 6, "edges": [[0, 1]], "kind": ["a", None]}, "kind",
     r"kind\[1\] must be a node type name .*got None.*'matrix' layout"),
    ({**_nodes_file(), "nodes": [{"id": "a", "type": "x", "X": [1.0] * 6}, {"id": "b", "X": [1.0] * 6}]}, "type",
     r"nodes\[1\] has no 'type' \(node_type='type'.*its keys are \['X', 'id'\]"),
    ({**_nodes_file(), "nodes": [{"id": "a", "type": 1, "X": [1.0] * 6}, {"id": "b", "type": "1", "X": [1.0] * 6}]},
     "type", r"nodes\[1\]\.type is '1' and another node's type is 1: both read as the type '1'"),
    ({"time_periods": 6, "edges": [[0, 1]], **{str(t): {"y": [t, t]} for t in range(6)}}, "kinds",
     r"missing key 'kinds' .*found keys \['0', '1', '2', '3', '4', '5', 'edges', 'time_periods'\]"),
    ({"time_periods": 30, "edges": [[0, 1]], **{str(t): {"y": [t, t]} for t in range(30)}}, "kinds",
     r"found keys \[.*'\.\.\. 20 more'\]"),
    ({**_nodes_file(), "nodes": [{"id": "a", "type": "", "X": [1.0] * 6}, {"id": "b", "type": 1, "X": [1.0] * 6}]},
     "type", r"nodes\[0\]\.type must be a node type name \(a non-empty string or an integer\), got ''"),
])
def test_typed_nodes_malformed(tmp_path, obj, key, pattern):
    path = write(tmp_path / "bad.json", obj)
    with pytest.raises(DataFormatError, match=pattern):
        PyGTemporalJSON(path, lags=2, node_type=key)
    with pytest.raises(ValueError, match=r"'node_type' must be a key name"):
        read_temporal_json(path, node_type=3)
    with pytest.raises(ValueError, match=r"PyGTemporalJSON: 'node_type' must be the key of the nodes' type names "
                                         r"\(a non-empty string\) or None \(got 3\)"):
        PyGTemporalJSON(path, lags=2, node_type=3)
