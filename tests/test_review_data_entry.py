"""A stranger's review of the data-entry surface: STSchema, STData, the conversions,
TimeWindows, the PyG Temporal JSON loader, the scalers and the transforms.

Tests named ``test_defect_*`` showed a defect and failed on the code reviewed
(they pass since the fixes); their docstrings say what a user expects and what
the code did. Tests named ``test_ok_*`` record behaviour that was checked and
found right."""
import json
from types import SimpleNamespace as Signal

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader

from srnn_pyg import STData, STSchema, TimeWindows, from_dense, from_hetero, from_networkx, from_temporal_signal
from srnn_pyg.datasets import DataFormatError, PyGTemporalJSON
from srnn_pyg.scalers import Compose, MinMaxScaler, RobustScaler, StandardScaler, scaler_from_state
from srnn_pyg.transforms import RandomRotation

torch.set_num_threads(1)

S1 = STSchema(["a"], [("a", "a")])
EI = torch.tensor([[0, 1], [1, 0]])


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def series(T=10, N=3):
    return np.arange(T * N, dtype=float).reshape(T, N).tolist()


# ====================================================================== STData
def test_defect_validate_checks_u_future_rows():
    """``u_future`` is a documented window key ([N, H, C]). ``validate`` passes a
    2-node window whose ``u_future`` has 3 rows (and another with 1 row); PyG then
    batches them into 4 rows that match the batch's 4 nodes, so the second window's
    node 0 silently reads the first window's extra row. Expected: ``validate``
    raises a ValueError naming 'u_future', the expected [2, H, C] and the shape got."""
    a = STData(x=torch.randn(2, 4, 3), edge_index=EI, u_future=torch.randn(3, 2, 2))
    with pytest.raises(ValueError, match="u_future"):
        a.validate(S1)


def test_defect_validate_checks_u_future_finite():
    """A NaN in ``u_future`` passes ``validate`` (the model refuses it later);
    ``validate`` checks x, edge_attr and y for finiteness and should check the
    future covariates the same way: ValueError naming 'u_future'."""
    d = STData(x=torch.randn(2, 4, 3), edge_index=EI, u_future=torch.full((2, 2, 2), float("nan")))
    with pytest.raises(ValueError, match="u_future"):
        d.validate(S1)


@pytest.mark.parametrize("key,value", [
    ("edge_index", [[0, 1], [1, 0]]),
    ("edge_index", np.array([[0, 1], [1, 0]])),
    ("edge_attr", np.zeros((2, 3, 1), dtype=np.float32)),
    ("node_mask", [[True] * 3] * 2),
])
def test_defect_validate_non_tensor_keys_raise_value_error(key, value):
    """``STData.validate`` promises a ValueError naming the key for every problem;
    a list or NumPy array under 'edge_index', 'edge_attr' or 'node_mask' raises
    ``AttributeError: 'list' object has no attribute 'dim'`` instead."""
    d = STData(x=torch.randn(2, 3, 1), edge_index=EI)
    d[key] = value
    with pytest.raises(ValueError, match=key):
        d.validate(S1)


def test_defect_validate_numpy_mask_message_names_the_type():
    """A NumPy bool ``node_mask`` is reported as "must be torch.bool (got bool)",
    which reads as if a bool had been given. Expected: the message says a tensor
    is needed (got ndarray)."""
    d = STData(x=torch.randn(2, 3, 1), edge_index=EI, node_mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="ndarray|tensor"):
        d.validate(S1)


# ================================================================= TimeWindows
def test_defect_time_windows_target_y_keep_y_mask():
    """A recording with per-snapshot targets ``y`` [N, T, 1] and their presence
    ``y_mask`` [N, T] (a missing target is NaN under a False mask) validates. Cut
    with ``TimeWindows(rec, 3, 1, target="y")``, the windows lose ``y_mask``, so the
    NaN target is no longer masked (the window fails ``validate``, a loss becomes
    NaN). Expected: the window's ``y_mask`` is the recording's ``y_mask`` over the
    same steps as ``y``."""
    y = torch.randn(2, 10, 1)
    ym = torch.ones(2, 10, dtype=torch.bool)
    y[0, 5], ym[0, 5] = float("nan"), False
    rec = STData(x=torch.randn(2, 10, 1), edge_index=EI, y=y, y_mask=ym)
    assert rec.validate(S1)
    w = TimeWindows(rec, 3, 1, target="y")[3]          # y = target of snapshot 5
    assert w.get("y_mask") is not None and not bool(w.y_mask[0, 0])
    assert w.validate(S1)


def test_ok_time_windows_alignment_and_count():
    """Window i observes x[i:i+obs] and targets x[i+obs:i+obs+H]; with target="y"
    the targets of the last observed snapshot onwards; counts and t_start right."""
    x = torch.arange(20.).view(2, 10, 1)
    rec = STData(x=x, edge_index=EI, t_start=torch.tensor([100]))
    tw = TimeWindows(rec, 3, 2, stride=2)
    assert len(tw) == 3 and [int(w.t_start) for w in tw] == [100, 102, 104]
    assert tw[2].x[0, :, 0].tolist() == [4., 5., 6.] and tw[2].y[0, :, 0].tolist() == [7., 8.]
    assert len(TimeWindows(rec, 8, 2)) == 1
    with pytest.raises(ValueError, match="exceeds"):
        TimeWindows(rec, 9, 2)
    recy = STData(x=x, edge_index=EI, y=torch.arange(20.).view(2, 10, 1) + 100)
    tw = TimeWindows(recy, 2, 2, target="y")
    assert len(tw) == 8 and tw[0].y[0, :, 0].tolist() == [101., 102.]


# ================================================================ conversions
def test_defect_from_temporal_signal_refuses_non_integer_edge_ids():
    """A float edge array with non-integer node ids is silently truncated to
    integers (0.5 -> 0, 1.5 -> 1), giving a different graph. ``from_dense``'s
    ``node_type`` and the JSON reader refuse non-integer indices; expected here too:
    ValueError naming 'edge_index'."""
    N, T = 3, 4
    sig = Signal(edge_index=np.array([[0.5, 1.5], [1.5, 2.5]]), edge_weight=None,
                 features=[np.random.randn(N, 1) for _ in range(T)], targets=None)
    with pytest.raises(ValueError, match="edge_index"):
        from_temporal_signal(sig)


def test_defect_from_temporal_signal_short_edge_weights_list():
    """A dynamic signal with fewer ``edge_weights`` than ``edge_indices`` raises a
    bare ``IndexError: list index out of range``. Expected: ValueError naming
    'edge_weights', the expected count (one per snapshot) and the count got."""
    N, T = 3, 4
    ei = np.array([[0, 1], [1, 2]])
    sig = Signal(edge_indices=[ei] * T, edge_weights=[np.ones(2)] * (T - 2),
                 features=[np.random.randn(N, 1) for _ in range(T)], targets=None)
    with pytest.raises(ValueError, match="edge_weights"):
        from_temporal_signal(sig)


def test_defect_from_temporal_signal_without_edge_index():
    """PyG Temporal's StaticGraphTemporalSignal allows ``edge_index=None`` (no graph).
    The converter raises ``TypeError: can't convert np.ndarray of type numpy.object_``
    from inside torch. Expected: either a graph without edges or a clear error
    naming 'edge_index'."""
    N, T = 3, 4
    sig = Signal(edge_index=None, edge_weight=None, features=[np.random.randn(N, 1) for _ in range(T)],
                 targets=None)
    try:
        d = from_temporal_signal(sig)
    except (ValueError, TypeError) as e:
        assert "edge_index" in str(e)
    else:
        assert d.num_edges == 0


def test_defect_from_temporal_signal_3d_features_message():
    """Per-step features of shape [N, F, K] raise "ValueError: too many values to
    unpack (expected 3)", naming nothing. Expected: a message naming 'features' and
    the expected [N, F] per snapshot."""
    N, T = 3, 4
    sig = Signal(edge_index=np.array([[0], [1]]), edge_weight=None,
                 features=[np.ones((N, 2, 2)) for _ in range(T)], targets=None)
    with pytest.raises(ValueError, match="features"):
        from_temporal_signal(sig)


def test_defect_from_networkx_ragged_feature_attr():
    """Nodes whose ``x`` attributes have different numbers of steps raise a raw
    ``RuntimeError: stack expects each tensor to be equal size``. errors.md calls a
    RuntimeError from inside PyTorch on a user's input a bug. Expected: ValueError
    naming the node and its shape."""
    import networkx as nx
    g = nx.Graph()
    for i, n in enumerate("abc"):
        g.add_node(n, type="p", x=np.random.randn(4 + (i == 2), 2))
    g.add_edges_from([("a", "b"), ("b", "c")])
    with pytest.raises(ValueError, match="'c'|node"):
        from_networkx(g)


def test_defect_from_hetero_feature_widths_differ():
    """Node types of different feature widths (common in HeteroData) raise a raw
    ``RuntimeError: Sizes of tensors must match`` from torch.cat. Expected: a
    ValueError naming the node types and their F (as the T check already does)."""
    h = HeteroData()
    h["a"].x = torch.randn(2, 5, 3)
    h["b"].x = torch.randn(2, 5, 2)
    with pytest.raises(ValueError, match="'b'"):
        from_hetero(h)


def test_defect_from_dense_node_type_mixing_names_and_indices():
    """A ``node_type`` list mixing names and indices (["a", 1, "a"]) raises torch's
    ``TypeError: can't convert np.ndarray of type numpy.str_``. Expected: an error
    naming 'node_type' and saying names or indices are expected."""
    schema = STSchema(["a", "b"], [("a", "b")])
    adj = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float)
    with pytest.raises((ValueError, TypeError), match="node_type"):
        from_dense(np.random.randn(5, 3, 2), adj, node_type=["a", 1, "a"], schema=schema)


def test_ok_readme_own_graph_example_and_conversions():
    """README's body-part graph; from_dense static and dynamic; from_temporal_signal
    targets aligned as PyG Temporal's snapshots."""
    import networkx as nx
    schema = STSchema(node_types=["torso", "arm", "leg"],
                      edge_types=[("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
    g = nx.Graph()
    for i, t in enumerate(["torso", "arm", "arm", "leg", "leg"]):
        g.add_node(i, type=t)
    g.add_edges_from([(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (3, 4)])
    data = from_networkx(g, x=torch.randn(5, 6, 2), schema=schema)
    assert data.num_edges == 12 and data.validate(schema)
    assert next(iter(DataLoader([data, data], batch_size=2))).x.shape == (10, 6, 2)
    adj = np.array([[0, 2, 0], [2, 0, 3], [0, 3, 0]], dtype=float)
    dyn = np.stack([adj * (t % 2) for t in range(5)])
    d = from_dense(np.random.randn(5, 3, 2), dyn, edge_weight=True)
    assert d.edge_mask[:, 1].all() and not d.edge_mask[:, 0].any()
    assert d.edge_attr[:, 1, 0].tolist() == [2., 2., 3., 3.]
    with pytest.raises(ValueError, match="finite"):
        from_dense(np.random.randn(5, 3, 2), adj * np.nan)
    targ = [np.random.randn(3) for _ in range(6)]
    sig = Signal(edge_index=np.array([[0, 1], [1, 2]]), edge_weight=np.ones(2),
                 features=[np.random.randn(3, 2) for _ in range(6)], targets=targ)
    w = TimeWindows(from_temporal_signal(sig), 2, 1, target="y")[0]
    assert torch.allclose(w.y[:, 0, 0], torch.tensor(targ[1]).float())
    with pytest.raises(ValueError, match="transpose"):
        from_temporal_signal(Signal(edge_index=np.array([[0, 1], [1, 2], [2, 0]]), edge_weight=None,
                                    features=sig.features, targets=None))


# ============================================================ PyG Temporal JSON
@pytest.mark.parametrize("layout", ["snapshots", "edge_mapping"])
def test_defect_json_dynamic_edge_given_twice_in_one_step(folder, layout):
    """In a changing graph (twitter-tennis snapshots, england_covid edge_mapping) an
    edge listed twice in one step with weights 1 and 5 becomes one edge of weight 5:
    the first weight is dropped silently. ``from_temporal_signal`` refuses exactly
    this (CHANGELOG: "it kept the last weight"). Expected: DataFormatError naming
    the file, the step and the edge (or both weights kept)."""
    T, fx = 10, series()
    if layout == "snapshots":
        obj = {str(t): {"y": fx[t], "edges": [[0, 1], [0, 1]], "weights": [1.0, 5.0]} for t in range(T)}
    else:
        obj = {"y": fx, "edge_mapping": {"edge_index": {str(t): [[0, 1], [0, 1]] for t in range(T)},
                                         "edge_weight": {str(t): [1.0, 5.0] for t in range(T)}}}
    path = write(folder / "dup.json", obj)
    with pytest.raises(DataFormatError, match="more than once|twice|duplicate"):
        PyGTemporalJSON(path)


def test_defect_json_snapshots_time_periods_smaller_than_file(folder):
    """A snapshots file with "time_periods": 8 but snapshots '0'..'9' is read as 8
    steps; the last two are dropped without a word. The matrix layout refuses a
    'time_periods' that differs from the series, and a gap is refused. Expected:
    DataFormatError naming 'time_periods' and the snapshots beyond it."""
    fx = series()
    obj = {str(t): fx[t] for t in range(10)}
    obj.update(edges=[[0, 1]], time_periods=8)
    with pytest.raises(DataFormatError, match="time_periods"):
        PyGTemporalJSON(write(folder / "s.json", obj))


@pytest.mark.parametrize("kw", [dict(lags=2.7), dict(horizon=1.5), dict(lags="3"), dict(lags=True)])
def test_defect_json_lags_and_horizon_must_be_integers(folder, kw):
    """``lags=2.7`` is silently read as 2 and ``horizon=1.5`` as 1 (``int()``); a
    string and a bool are accepted too. ``TimeWindows`` and ``STData.window`` refuse
    non-integers. Expected: TypeError/ValueError naming the argument."""
    path = write(folder / "m.json", {"FX": series(), "edges": [[0, 1]]})
    with pytest.raises((TypeError, ValueError), match="lags|horizon"):
        PyGTemporalJSON(path, **kw)


@pytest.mark.parametrize("what", ["bool values", "string values", "bool edges"])
def test_defect_json_booleans_and_strings_are_not_numbers(folder, what):
    """JSON ``true`` is read as the value 1.0 (and as node 1 in an edge) and the
    string "3.0" as 3.0: a malformed file passes. errors.md: values in data files are
    checked. Expected: DataFormatError naming the file and the entry."""
    fx = series()
    obj = {"FX": fx, "edges": [[0, 1]]}
    if what == "bool values":
        obj["FX"] = [[True] * 3] + fx[1:]
    elif what == "string values":
        obj["FX"] = [[str(v) for v in fx[0]]] + fx[1:]
    else:
        obj["edges"] = [[True, False]]
    with pytest.raises(DataFormatError):
        PyGTemporalJSON(write(folder / "b.json", obj))


def test_ok_json_layouts(folder):
    """Matrix windows match the file; node-list layout with typed nodes, undirected
    links both ways, default weight 1; snapshots with a changing graph; errors name
    the file."""
    fx = series(12, 3)
    d = PyGTemporalJSON(write(folder / "m.json", {"FX": fx, "edges": [[0, 1], [1, 2]], "weights": [2, 3]}))
    w = d[0]
    assert np.allclose(w.x[:, :, 0].T.numpy(), fx[0:4]) and np.allclose(w.y[:, 0, 0].numpy(), fx[4])
    assert len(d) == int(0.8 * 8) and w.edge_attr[:, 0, 0].tolist() == [2., 3.]
    nodes = {"directed": False, "nodes": [{"id": f"n{i}", "type": "road" if i else "driver",
                                           "X": [fx[t][i] for t in range(12)]} for i in range(3)],
             "links": [{"source": "n0", "target": "n1", "weight": 0.5}, {"source": "n1", "target": "n2"}]}
    d = PyGTemporalJSON(write(folder / "n.json", nodes), node_type="type")
    assert d.schema.node_types == ["driver", "road"] and d.node_ids == ["n0", "n1", "n2"]
    assert d[0].edge_index.tolist() == [[0, 1, 1, 2], [1, 2, 0, 1]]
    assert d[0].edge_attr[:, 0, 0].tolist() == [0.5, 1.0, 0.5, 1.0]
    snap = {str(t): {"y": fx[t], "edges": [[0, 1]] if t % 2 else [[1, 0]]} for t in range(12)}
    w = PyGTemporalJSON(write(folder / "s.json", snap))[0]
    assert w.edge_mask.tolist() == [[False, True, False, True], [True, False, True, False]]
    with pytest.raises(DataFormatError, match=r"r\.json.*FX\[3\]"):
        bad = [row[:] for row in fx]
        bad[3] = bad[3][:2]
        PyGTemporalJSON(write(folder / "r.json", {"FX": bad, "edges": [[0, 1]]}))


# ==================================================================== scalers
def test_defect_robust_scaler_on_a_1d_series():
    """On a 1-D series [T] StandardScaler and MinMaxScaler compute one statistic
    (torch's sum over dim=() reduces everything), but RobustScaler computes one per
    element (median = the value itself), so ``transform`` returns all zeros.
    Expected: the three agree (one statistic, the series' median/IQR) or all raise
    a ValueError asking for a feature dimension."""
    x = torch.tensor([1., 2., 3., 4.])
    for scaler in (StandardScaler(), MinMaxScaler(), RobustScaler()):     # a 1-d series is one feature, alike
        fitted = scaler.fit(x)
        assert fitted.center.numel() == 1
        assert torch.allclose(fitted.transform(x), scaler.fit(x.unsqueeze(-1)).transform(x.unsqueeze(-1)).view(-1))
    assert torch.allclose(RobustScaler().fit(x).transform(x), (x - 2.5) / 1.5)
    with pytest.raises(ValueError, match="pools no dimension"):             # nothing to pool: refused, not all zeros
        RobustScaler(axis=()).fit(x.unsqueeze(-1))


def test_ok_scalers(tmp_path):
    """Masked statistics equal the reference; constant features get scale 1;
    MinMax hits its range; Robust matches numpy; Compose round-trips through
    a default torch.load; shape mismatches are ValueErrors naming the shapes."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 3) * 5 + 2
    m = torch.ones(4, 6, dtype=torch.bool)
    m[0, :3] = False
    xn = x.clone()
    xn[0, :3] = float("nan")
    s = StandardScaler().fit(xn, m)
    assert torch.allclose(s.center.view(-1).float(), x[m].mean(0), atol=1e-5)
    assert torch.allclose(s.scale.view(-1).float(), x[m].std(0, unbiased=False), atol=1e-5)
    assert torch.equal(StandardScaler().fit(torch.ones(3, 2, 1)).scale, torch.ones(1, 1, 1, dtype=torch.float64))
    xm = MinMaxScaler((-1, 1)).fit(x, m).transform(x)
    assert float(xm[m].min()) == pytest.approx(-1) and float(xm[m].max()) == pytest.approx(1)
    xs = x[m].double().numpy()
    r = RobustScaler().fit(x, m)
    assert np.allclose(r.center.view(-1).numpy(), np.median(xs, 0))
    c = Compose([RobustScaler(), MinMaxScaler((-1, 1))]).fit(x, m)
    path = tmp_path / "scaler.pt"
    torch.save(c.state_dict(), path)
    c2 = scaler_from_state(torch.load(path))
    assert torch.allclose(c2.inverse_transform(c2.transform(x)), x, atol=1e-4)
    with pytest.raises(ValueError, match=r"\[1, 1, 3\].*\[4, 2, 2\]"):
        s.transform(torch.randn(4, 2, 2))
    with pytest.raises(ValueError, match="NaN"):
        StandardScaler().fit(xn)


# ===================================================================== schema
def test_defect_schema_queries_refuse_out_of_range_indices():
    """errors.md: STSchema raises ValueError or TypeError on bad input. But
    ``incoming(5)`` raises a bare IndexError, ``incoming(-1)`` silently answers for
    the last node type, and ``check_edge_types`` with a receiver type 5 raises
    torch's IndexError (with -1 it silently accepts the edge). Expected: ValueError
    naming the argument and the valid range."""
    s = STSchema(["a", "b"], [("a", "a"), ("a", "b")])
    with pytest.raises(ValueError, match="node_type"):
        s.incoming(5)
    with pytest.raises(ValueError, match="node_type"):
        s.incoming(-1)
    with pytest.raises(ValueError):
        s.check_edge_types(torch.tensor([0]), torch.tensor([5]), torch.tensor([0]))


def test_ok_schema_and_validate():
    """Schema construction errors and STData.validate's checks of dtype, shape,
    ranges and NaN are ValueError/TypeError naming the argument."""
    with pytest.raises(TypeError, match="'node_types' must be a list"):
        STSchema("abc", [])
    with pytest.raises(ValueError, match="must not overlap"):
        STSchema(["a", "b"], [("a", "b"), ("b", "a")])
    x = torch.randn(2, 3, 1)
    for kw, pattern in [(dict(edge_index=EI.int()), "torch.long"),
                        (dict(edge_index=torch.tensor([[0, 1], [1, 2], [2, 0]])), r"\[2, num_edges\]"),
                        (dict(edge_index=EI, node_type=torch.tensor([0, 1])), r"'node_type' must lie"),
                        (dict(edge_index=EI, y=torch.full((2, 1, 1), float("inf"))), "'y' must be finite"),
                        (dict(edge_index=EI, node_mask=torch.ones(2, 3, 1, dtype=torch.bool)), "node_mask")]:
        with pytest.raises(ValueError, match=pattern):
            STData(x=x, **kw).validate(S1)
    nan = torch.full((2, 3, 1), float("nan"))
    assert STData(x=nan, edge_index=EI, node_mask=torch.zeros(2, 3, dtype=torch.bool)).validate(S1)


# ================================================================= transforms
def test_ok_random_rotation():
    """One angle for x and y, norms kept, the input tensors untouched, bad pairs refused."""
    x, y = torch.randn(3, 4, 4), torch.randn(3, 2, 2)
    d = STData(x=x.clone(), edge_index=EI, y=y.clone())
    out = RandomRotation({"x": [(0, 1), (2, 3)], "y": [(0, 1)]}, generator=torch.Generator().manual_seed(0))(d)
    assert torch.allclose(out.x[..., :2].norm(dim=-1), x[..., :2].norm(dim=-1), atol=1e-5)
    assert torch.allclose(out.y.norm(dim=-1), y.norm(dim=-1), atol=1e-5)
    with pytest.raises(ValueError, match="reads channel 9"):
        RandomRotation({"x": [(0, 9)]})(STData(x=x.clone(), edge_index=EI))
