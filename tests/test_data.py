import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, HeteroData
from torch_geometric.loader import DataLoader

from srnn_pyg import (STData, STSchema, TimeWindows, from_dense, from_hetero, from_networkx,
                      from_temporal_signal, to_hetero, to_networkx)
from srnn_pyg.data import pad_collate
from srnn_pyg.testing import fake_schema, fake_st_data


def body():
    schema = STSchema(["torso", "arm", "leg"],
                      [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
    g = nx.Graph()
    for n, t in enumerate(["torso", "arm", "arm", "leg", "leg"]):
        g.add_node(n, type=t)
    g.add_edges_from([(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (3, 4)])
    return schema, g


def test_from_networkx():
    schema, g = body()
    x = torch.randn(5, 50, 6)
    data = from_networkx(g, x=x, schema=schema)
    assert isinstance(data, STData) and data.schema is schema
    assert data.edge_index.size(1) == 12                       # undirected: both ways
    assert data.node_type.tolist() == [0, 1, 1, 2, 2]
    pairs = {tuple(e): k for e, k in zip(data.edge_index.t().tolist(), data.edge_type.tolist())}
    assert pairs[(0, 1)] == pairs[(1, 0)] == 0 and pairs[(1, 2)] == 2 and pairs[(4, 3)] == 3
    # features from node attributes, schema inferred
    for n in g.nodes:
        g.nodes[n]["x"] = x[n]
    again = from_networkx(g)
    assert torch.equal(again.x, x) and again.schema == schema


def test_networkx_round_trip():
    schema, g = body()
    data = from_networkx(g, x=torch.randn(5, 4, 2), schema=schema)
    back = from_networkx(to_networkx(data), schema=schema)
    assert torch.equal(back.x, data.x) and torch.equal(back.node_type, data.node_type)
    key = lambda d: sorted(zip(d.edge_index.t().tolist(), d.edge_type.tolist()))  # noqa: E731
    assert key(back) == key(data)


def test_from_networkx_errors():
    schema, g = body()
    with pytest.raises(ValueError, match=r"num_nodes=5"):
        from_networkx(g, x=torch.randn(4, 3, 2), schema=schema)
    g.add_edge(1, 3)                                             # arm-leg: no such edge type
    with pytest.raises(ValueError, match="matches no edge type"):
        from_networkx(g, x=torch.randn(5, 3, 2), schema=schema)


def _valid():
    return STData(x=torch.randn(4, 3, 2), edge_index=torch.tensor([[0, 1], [1, 0]]),
                  node_type=torch.tensor([0, 1, 0, 1]), edge_type=torch.tensor([0, 0]))


SCHEMA = STSchema(["a", "b"], [("a", "b")])


@pytest.mark.parametrize("key, value, match", [
    ("x", torch.randn(4, 3), r"'x' must be a \[num_nodes, T, F\] tensor \(got \[4, 3\]\)"),
    ("x", torch.zeros(4, 3, 2, dtype=torch.long), "floating-point"),
    ("x", torch.randn(4, 0, 2), "empty"),
    ("x", torch.full((4, 3, 2), float("nan")), "finite where present"),
    ("edge_index", torch.tensor([[0, 1], [1, 9]]), r"lie in \[0, 3\] \(got values in \[0, 9\]\)"),
    ("edge_index", torch.tensor([0, 1]), r"\[2, num_edges\]"),
    ("edge_index", torch.tensor([[0.0], [1.0]]), "torch.long"),
    ("node_type", torch.tensor([0, 1, 0]), r"'node_type' must be \[num_nodes\] = \[4\]"),
    ("node_type", torch.tensor([0, 1, 0, 2]), r"'node_type' must lie in \[0, 1\]"),
    ("edge_type", torch.tensor([0, 1]), r"'edge_type' must lie in \[0, 0\]"),
    ("node_mask", torch.ones(4, 2, dtype=torch.bool), r"'node_mask' must be \[num_nodes, T\] = \[4, 3\]"),
    ("edge_mask", torch.ones(2, 3), "torch.bool"),
    ("edge_attr", torch.randn(2, 2, 1), r"'edge_attr' must be \[num_edges, T, F_e\]"),
    ("y", torch.randn(3, 2, 2), "'y' must be"),
    ("y", torch.tensor([[0.5], [1.0], [2.0], [float("inf")]]), "finite where present"),
])
def test_validate_rejects(key, value, match):
    data = _valid()
    assert data.validate(SCHEMA)
    data[key] = value
    with pytest.raises(ValueError, match=match):
        data.validate(SCHEMA)
    assert data.validate(SCHEMA, raise_on_error=False) is False


def test_validate_allows_nan_where_absent_as_the_models_do():
    data = _valid()
    data.node_mask = torch.ones(4, 3, dtype=torch.bool)
    data.node_mask[2, 1] = False
    data.x[2, 1] = float("nan")                                 # an absent step: never read
    data.edge_mask = torch.ones(2, 3, dtype=torch.bool)
    data.edge_mask[1, 0] = False
    data.edge_attr = torch.randn(2, 3, 1)
    data.edge_attr[1, 0] = float("inf")
    assert data.validate(SCHEMA)
    data.x[3, 2, 1] = float("nan")                              # present: named with its position
    with pytest.raises(ValueError, match=r"'x' must be finite where present \(got nan at node 3, step 2, "
                                         r"feature 1\)"):
        data.validate(SCHEMA)
    data.x[3, 2, 1] = 0.0
    data.edge_mask[1, 0] = True
    with pytest.raises(ValueError, match=r"'edge_attr' must be finite where present \(got inf at edge 1"):
        data.validate(SCHEMA)


def test_validate_checks_edge_types_against_endpoints():
    data = _valid()
    data.edge_index = torch.tensor([[0, 2], [2, 0]])            # a -> a, but the only type is a-b
    with pytest.raises(ValueError, match="joins a 'a' node to a 'a' node"):
        data.validate(SCHEMA)
    with pytest.raises(ValueError, match="no nodes"):
        STData(x=torch.randn(0, 3, 2), edge_index=torch.empty(2, 0, dtype=torch.long)).validate()


def test_batching_with_pyg_dataloader():
    schema = fake_schema()
    graphs = [fake_st_data(n, 4, 3, schema=schema, masks=True, horizon=2, generator=torch.Generator().manual_seed(n))
              for n in (3, 5, 6)]
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    assert batch.x.shape == (14, 4, 3) and batch.y.shape == (14, 2, 3)
    assert batch.node_mask.shape == (14, 4) and batch.edge_mask.shape == (batch.num_edges, 4)
    assert batch.schema is schema
    offsets = [0, 3, 8]
    expected = torch.cat([g.edge_index + o for g, o in zip(graphs, offsets)], dim=1)
    assert torch.equal(batch.edge_index, expected)
    assert torch.equal(batch.node_type, torch.cat([g.node_type for g in graphs]))
    assert torch.equal(batch.edge_type, torch.cat([g.edge_type for g in graphs]))
    batch.validate(schema)
    back = Batch.to_data_list(batch)
    assert torch.equal(back[1].edge_index, graphs[1].edge_index) and back[1].schema is schema


def test_windows_are_views():
    data = fake_st_data(4, 20, 2, masks=True, edge_attr_dim=1)
    w = data.window(5, 8, 4)
    assert torch.equal(w.x, data.x[:, 5:13]) and torch.equal(w.y, data.x[:, 13:17])
    assert torch.equal(w.edge_mask, data.edge_mask[:, 5:13]) and w.edge_attr.shape[1] == 8
    assert torch.equal(w.y_mask, data.node_mask[:, 13:17])
    assert w.x.untyped_storage().data_ptr() == data.x.untyped_storage().data_ptr()
    windows = TimeWindows(data, obs=8, horizon=4, stride=3)
    assert len(windows) == (20 - 12) // 3 + 1
    last = windows[len(windows) - 1]
    assert torch.equal(last.y, data.x[:, 6 + 8:6 + 12])
    with pytest.raises(ValueError, match="start \\+ obs \\+ horizon <= T=20"):
        data.window(10, 8, 4)
    with pytest.raises(ValueError, match="exceeds"):
        TimeWindows(data, obs=15, horizon=6)


def test_from_dense_static_and_dynamic():
    x = torch.randn(6, 3, 2)                                    # [T, N, F]
    adj = torch.tensor([[0, 0.5, 0], [0.5, 0, 2.0], [0, 2.0, 0]])
    data = from_dense(x, adj, edge_weight=True)
    assert torch.equal(data.x, x.transpose(0, 1))
    assert data.edge_index.t().tolist() == [[0, 1], [1, 0], [1, 2], [2, 1]]
    assert data.edge_attr[:, 0, 0].tolist() == [0.5, 0.5, 2.0, 2.0] and data.get("edge_mask") is None
    dyn = adj.expand(6, 3, 3).clone()
    dyn[3:, 1, 2] = dyn[3:, 2, 1] = 0
    data = from_dense(x.numpy(), dyn.numpy())
    assert data.edge_mask.shape == (4, 6)
    assert data.edge_mask[2].tolist() == [True] * 3 + [False] * 3
    with pytest.raises(ValueError, match=r"\[N, N\] with N=3"):
        from_dense(x, torch.zeros(4, 4))


class StaticSignal:  # the attributes of PyG Temporal's StaticGraphTemporalSignal
    def __init__(self, edge_index, edge_weight, features, targets):
        self.edge_index, self.edge_weight, self.features, self.targets = edge_index, edge_weight, features, targets


class DynamicSignal:  # ... and of DynamicGraphTemporalSignal
    def __init__(self, edge_indices, edge_weights, features, targets):
        self.edge_indices, self.edge_weights = edge_indices, edge_weights
        self.features, self.targets = features, targets


def test_from_temporal_signals():
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(5)]
    targets = [rng.normal(size=3).astype(np.float32) for _ in range(5)]
    ei = np.array([[0, 1, 1], [1, 0, 2]])
    data = from_temporal_signal(StaticSignal(ei, np.array([1.0, 1.0, 0.5]), feats, targets))
    assert data.x.shape == (3, 5, 2) and torch.allclose(data.x[:, 3], torch.from_numpy(feats[3]))
    assert data.y.shape == (3, 5, 1) and data.edge_attr.shape == (3, 5, 1)     # values: [N, T, 1]
    assert data.edge_attr[2, :, 0].tolist() == [0.5] * 5
    dyn = DynamicSignal([ei, ei[:, :1], ei[:, 1:], ei, ei], [np.ones(3), np.full(1, 2.0), np.ones(2), np.ones(3),
                                                           np.ones(3)], feats, targets)
    data = from_temporal_signal(dyn)
    assert data.edge_index.t().tolist() == [[0, 1], [1, 0], [1, 2]]
    assert data.edge_mask.tolist() == [[True, True, False, True, True], [True, False, True, True, True],
                                       [True, False, True, True, True]]
    assert data.edge_attr[0, 1, 0] == 2.0
    with pytest.raises(ValueError, match="2 edge sets for 5 snapshots"):
        from_temporal_signal(DynamicSignal([ei, ei], [None, None], feats, targets))


def test_hetero_round_trip():
    schema, g = body()
    data = from_networkx(g, x=torch.randn(5, 4, 2), schema=schema)
    data.node_mask = torch.rand(5, 4) > 0.2
    hetero = to_hetero(data)
    assert isinstance(hetero, HeteroData)
    assert hetero["arm"].x.shape == (2, 4, 2)
    assert hetero["torso", "to", "arm"].edge_index.tolist() == [[0, 0], [0, 1]]
    back = from_hetero(hetero, schema=schema)
    assert torch.equal(back.x, data.x) and torch.equal(back.node_mask, data.node_mask)
    key = lambda d: sorted(zip(d.edge_index.t().tolist(), d.edge_type.tolist()))  # noqa: E731
    assert key(back) == key(data)


def test_from_hetero_infers_schema():
    h = HeteroData()
    h["car"].x = torch.randn(2, 3, 4)
    h["person"].x = torch.randn(3, 3, 4)
    h["person", "near", "car"].edge_index = torch.tensor([[0, 2], [1, 0]])
    h["car", "near", "person"].edge_index = torch.tensor([[1, 0], [0, 2]])
    h["person", "follows", "person"].edge_index = torch.tensor([[0], [1]])
    data = from_hetero(h, directed=None)
    s = data.schema
    assert s.node_types == ["car", "person"]
    assert [(et.src, et.rel, et.dst, et.directed) for et in s.edge_types] == [
        ("person", "near", "car", False), ("person", "follows", "person", False)]
    assert data.x.shape == (5, 3, 4) and data.edge_index.size(1) == 5
    h["car"].x = torch.randn(2, 4, 4)
    with pytest.raises(ValueError, match="T="):
        from_hetero(h)


def test_lagged_temporal_signal_windows_target_the_snapshot_itself():
    """PyG Temporal's lagged signals: snapshot t holds lags v[t..t+3] and its target v[t+4].
    A one-step window must target v[i+4] (the observed snapshot's own target), not v[i+5]."""
    from types import SimpleNamespace

    v = torch.arange(30, dtype=torch.float).view(1, 30).repeat(3, 1)             # [N, T] values
    lags = 4
    feats = [v[:, t:t + lags] for t in range(30 - lags)]                         # [N, 4] per snapshot
    targets = [v[:, t + lags] for t in range(30 - lags)]
    signal = SimpleNamespace(edge_index=torch.tensor([[0, 1], [1, 2]]), edge_weight=None,
                             features=feats, targets=targets)
    rec = from_temporal_signal(signal)
    windows = TimeWindows(rec, obs=1, horizon=1, target="y")
    assert len(windows) == 30 - lags                                              # every snapshot
    for i in (0, 7, len(windows) - 1):
        w = windows[i]
        assert torch.equal(w.x[:, 0], v[:, i:i + lags])
        assert torch.equal(w.y[:, 0, 0], v[:, i + lags])                          # not i + lags + 1
    w = TimeWindows(rec, obs=3, horizon=2, target="y")[5]
    assert torch.equal(w.y[..., 0], v[:, 5 + 2 + lags:5 + 4 + lags])
    with pytest.raises(ValueError, match="covers"):
        TimeWindows(rec, obs=20, horizon=8, target="y")


# ----------------------------------------------------------- save and load
def _same_data(a, b):
    assert sorted(a.keys()) == sorted(b.keys())
    for key in a.keys():
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key


def test_saved_graph_and_batch_load_with_default_torch_load(tmp_path):
    schema = fake_schema()
    graphs = [fake_st_data(n, 4, 3, schema=schema, masks=True, horizon=2, generator=torch.Generator().manual_seed(n))
              for n in (3, 5)]
    torch.save(graphs[0], tmp_path / "graph.pt")
    back = torch.load(tmp_path / "graph.pt")                   # weights_only=True: the default
    assert type(back) is STData and back.schema == schema
    _same_data(back, graphs[0])
    assert back.validate()
    batch = Batch.from_data_list(graphs)
    torch.save(batch, tmp_path / "batch.pt")
    again = torch.load(tmp_path / "batch.pt", weights_only=True)
    assert isinstance(again, STData) and isinstance(again, Batch) and again.num_graphs == 2
    _same_data(again, batch)
    assert again.schema == schema
    for g, h in zip(graphs, again.to_data_list()):               # the slices came back too
        _same_data(g, h)


# ----------------------------------------------------------------- padding
def test_pad_to_pads_observed_at_the_start_and_targets_at_the_end():
    g = fake_st_data(4, 3, 2, masks=True, edge_attr_dim=1, horizon=2)
    p = g.pad_to(5, horizon=4)
    N, E = g.num_nodes, g.num_edges
    assert p.x.shape == (N, 5, 2) and p.y.shape == (N, 4, 2) and p.edge_attr.shape == (E, 5, 1)
    assert torch.equal(p.x[:, 2:], g.x) and not p.x[:, :2].any()
    assert torch.equal(p.node_mask[:, 2:], g.node_mask) and not p.node_mask[:, :2].any()
    assert torch.equal(p.edge_mask[:, 2:], g.edge_mask) and not p.edge_mask[:, :2].any()
    assert torch.equal(p.y[:, :2], g.y) and not p.y[:, 2:].any()
    assert p.y_mask[:, :2].all() and not p.y_mask[:, 2:].any()
    assert p.validate() and g.x.shape == (N, 3, 2)               # the original is left alone
    # without masks: node_mask and y_mask are added, True on the real steps
    h = fake_st_data(4, 3, 2, horizon=2).pad_to(3)
    assert h.node_mask.all() and h.node_mask.shape == (4, 3) and h.y_mask.all()
    # class labels end with the observed steps: padded at the start
    c = fake_st_data(4, 3, 2, classes=3).pad_to(5, horizon=5)
    assert not c.y_mask[:, :2].any() and c.y_mask[:, 2:].all()
    with pytest.raises(ValueError, match=r"'steps' must be >= T=3.*got steps=2"):
        g.pad_to(2)
    with pytest.raises(ValueError, match="horizon"):
        g.pad_to(3, horizon=1)


def test_pad_collate_batches_windows_of_different_lengths():
    schema = fake_schema()
    short = fake_st_data(3, 2, 3, schema=schema, horizon=1, generator=torch.Generator().manual_seed(1))
    long = fake_st_data(5, 4, 3, schema=schema, horizon=3, generator=torch.Generator().manual_seed(2))
    with pytest.raises(RuntimeError):                            # what PyG alone does
        Batch.from_data_list([short, long])
    loader = torch.utils.data.DataLoader([short, long], batch_size=2, collate_fn=pad_collate)
    batch = next(iter(loader))
    assert batch.x.shape == (8, 4, 3) and batch.y.shape == (8, 3, 3)
    assert batch.node_mask[:3].tolist() == [[False, False, True, True]] * 3 and batch.node_mask[3:].all()
    assert batch.y_mask[:3].tolist() == [[True, False, False]] * 3 and batch.y_mask[3:].all()
    assert torch.equal(batch.x[:3, 2:], short.x) and torch.equal(batch.x[3:], long.x)
    # teacher forcing's mask leaves every padded step out of the loss
    from srnn_pyg.engine.objectives import teacher_forcing
    _, target, mask = teacher_forcing(batch)
    assert mask.shape == target.shape[:2]
    assert mask[:3].tolist() == [[False, False, True, True, False, False]] * 3 and mask[3:].all()
    # equal lengths: plain PyG collation, no masks added
    same = pad_collate([long, long])
    assert "node_mask" not in same.keys() and same.x.shape == (10, 4, 3)
    with pytest.raises(ValueError, match="at least one"):
        pad_collate([])
    with pytest.raises(ValueError, match="window 1 holds the keys"):
        pad_collate([long, fake_st_data(5, 4, 3, schema=schema)])


def test_mixed_schemas_raise_naming_both():
    a = fake_st_data(3, 2, 3, horizon=1)
    other = STSchema(["person"], [("person", "person")])
    b = fake_st_data(3, 2, 3, schema=other, horizon=1)
    with pytest.raises(ValueError, match=r"different schemas.*t0.*graph 1: .*person"):
        pad_collate([a, b])
    batch = Batch.from_data_list([a, b])                         # PyG itself does not look
    with pytest.raises(ValueError, match="different schemas"):
        batch.schema
    with pytest.raises(ValueError, match="different schemas"):
        batch.check_schema()
    with pytest.raises(ValueError, match=r"expected STSchema\(node_types=\['person'\]"):
        Batch.from_data_list([a, a]).check_schema(other)
    Batch.from_data_list([a, a]).check_schema(a.schema)          # one schema: no error
    equal = STSchema(["person"], [("person", "person")])          # equal, not identical: fine
    assert Batch.from_data_list([b, fake_st_data(3, 2, 3, schema=equal, horizon=1)]).schema == other


def test_temporal_signal_checks_and_the_lagged_route_to_a_trained_model():
    """Edge arrays [2, E] in range, one target per snapshot, same shapes at every step; scalar targets are
    [N, T, 1] values, so the windows train a model; a piece of the recording keeps its own targets."""
    from types import SimpleNamespace

    from torch_geometric.loader import DataLoader

    from srnn_pyg.engine import fit
    from srnn_pyg.models import build
    v = torch.randn(4, 40)
    lags = 3
    feats = [v[:, t:t + lags] for t in range(40 - lags)]
    targets = [v[:, t + lags] for t in range(40 - lags)]
    edges = torch.tensor([[0, 1, 2], [1, 2, 3]])

    def sig(**kw):
        return SimpleNamespace(**{**dict(edge_index=edges, edge_weight=None, features=feats, targets=targets), **kw})
    cases = [(dict(edge_index=edges.t()), r"'edge_index' must be \[2, num_edges\] \(it looks like \[E, 2\]"),
             (dict(edge_index=torch.tensor([[0], [7]])), r"node ids in \[0, 3\] .* got values in \[0, 7\]"),
             (dict(targets=targets[:-1]), "one target per snapshot"),
             (dict(features=feats[:-1] + [torch.randn(4, 2)]), "same shape at every snapshot"),
             (dict(edge_weight=torch.ones(2)), "one weight per edge")]
    for kw, message in cases:
        with pytest.raises(ValueError, match=message):
            from_temporal_signal(sig(**kw))
    with pytest.raises(ValueError, match=r"'edge_indices\[1\]' must hold node ids"):
        from_temporal_signal(SimpleNamespace(edge_indices=[edges, torch.tensor([[3], [-1]])] + [edges] * 35,
                                             edge_weights=None, features=feats, targets=targets))
    rec = from_temporal_signal(sig())
    assert rec.y.shape == (4, 37, 1)
    train = rec.window(0, 30, target="y")                          # a split keeps its snapshots' targets
    assert torch.equal(train.y, rec.y[:, :30])
    windows = TimeWindows(train, obs=1, horizon=1, target="y")
    assert torch.equal(windows[5].y[:, 0, 0], v[:, 5 + lags])
    model = build("linear_ar", None, lags, 1)
    result = fit(model, DataLoader(list(windows), batch_size=8), epochs=1, objective="rollout", progress=False)
    assert result.history[-1]["train_loss"] is not None


def test_dense_and_signal_converters_check_node_types_and_weights():
    """A non-integer, out-of-range or missing node_type (with a schema of several types) and a NaN in the
    adjacency are refused, naming the argument (they were truncated, indexed past the schema, read as type 0
    or as an edge)."""
    from types import SimpleNamespace
    schema = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    x = torch.randn(4, 3, 2)
    adj = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    data = from_dense(x, adj, node_type=np.array(["a", "b", "b"]), schema=schema)
    assert data.node_type.tolist() == [0, 1, 1]
    for bad, message in ((None, "'node_type' is needed: the schema has 2 node types"),
                         ([0.0, 1.7, 1.0], "non-integer values such as 1.7"),
                         ([0, 2, 1], r"must lie in \[0, 1\]"),
                         ([0, 1], r"must be \[N\] = \[3\]")):
        with pytest.raises(ValueError, match=message):
            from_dense(x, adj, node_type=bad, schema=schema)
    nan_adj = adj.clone()
    nan_adj[2, 0] = float("nan")
    with pytest.raises(ValueError, match="'adj' must be finite"):
        from_dense(x, nan_adj)
    sig = SimpleNamespace(edge_index=torch.tensor([[0, 1], [1, 2]]), edge_weight=None,
                          features=[torch.randn(3, 2) for _ in range(4)], targets=None)
    with pytest.raises(ValueError, match="from_temporal_signal: 'node_type' is needed"):
        from_temporal_signal(sig, schema=schema)
    assert from_temporal_signal(sig, schema=schema, node_type=["a", "b", "b"]).node_type.tolist() == [0, 1, 1]


def test_time_windows_check_their_arguments_when_built():
    rec = STData(x=torch.randn(3, 10, 2), edge_index=torch.zeros(2, 0, dtype=torch.long))
    for kw, message in ((dict(obs=0, horizon=1), "'obs' must be an int >= 1 \\(got 0\\)"),
                        (dict(obs=-1, horizon=1), "'obs' must be an int >= 1"),
                        (dict(obs=3, horizon=-1), "'horizon' must be an int >= 0"),
                        (dict(obs=2.5, horizon=1), "'obs' must be an int >= 1 \\(got 2.5\\)"),
                        (dict(obs=3, horizon=1, stride=0), "'stride' must be an int >= 1"),
                        (dict(obs=3, horizon=1, target="labels"), "target='labels' names no key")):
        with pytest.raises(ValueError, match=message):
            TimeWindows(rec, **kw)
    assert len(TimeWindows(rec, obs=np.int64(3), horizon=1)) == 7



def test_signals_without_targets_or_with_empty_edge_sets_and_windows_of_one_piece():
    from types import SimpleNamespace
    feats = [torch.randn(3, 2) for _ in range(4)]
    rec = from_temporal_signal(SimpleNamespace(edge_index=torch.tensor([[0], [1]]), edge_weight=None,
                                               features=feats, targets=[None] * 4))
    assert rec.get("y") is None                                       # PyG Temporal allows no targets
    dyn = SimpleNamespace(edge_indices=[np.array([[0], [1]]), np.array([]), np.array([[1], [2]]),
                                        np.array([[0], [1]])], edge_weights=None, features=feats, targets=None)
    assert from_temporal_signal(dyn).edge_mask[:, 1].sum() == 0        # an empty edge set at step 1
    rec.y = torch.randn(3, 4, 1)
    assert len(TimeWindows(rec, obs=3, horizon=0, target="y")) == 2   # pieces of 3 snapshots: 2, not 3


def test_time_windows_carry_their_start_for_the_seasonal_baseline():
    from torch_geometric.loader import DataLoader

    from srnn_pyg.models import build
    period, T = 6, 60
    phase = torch.arange(T) % period
    rec = STData(x=(phase.float().view(1, T, 1) + torch.zeros(2, 1, 1)), edge_index=torch.zeros(2, 0, dtype=torch.long))
    rec.t_start = torch.tensor([0])
    train, test = rec.window(0, 40), rec.window(40, 20)              # pieces keep their absolute time
    assert int(test.t_start) == 40
    windows = TimeWindows(train, obs=4, horizon=2, stride=3)
    assert [int(windows[i].t_start) for i in range(3)] == [0, 3, 6]
    model = build("seasonal_mean", None, 1, 1, period=period).fit_closed_form(DataLoader(list(windows), batch_size=4))
    w = TimeWindows(test, obs=4, horizon=2)[1]                        # starts at step 41
    assert int(w.t_start) == 41
    assert torch.allclose(model.forecast(w, 2), w.y)                  # the phase pattern, exactly
    bare = STData(x=torch.randn(2, 10, 1), edge_index=torch.zeros(2, 0, dtype=torch.long))
    assert int(TimeWindows(bare, obs=3, horizon=1, stride=2)[2].t_start) == 4
