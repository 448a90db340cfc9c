"""Regression tests for fixes in :mod:`srnn_pyg.data` and :mod:`srnn_pyg.convert`: padding keeps
``t_start`` and pads ``u_future``, ``pad_collate`` names what does not batch, networkx self-loops and
missing relations, duplicated edges of a dynamic signal, and the integer checks of ``window``/``pad_to``."""
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest
import torch

from srnn_pyg import (STData, STSchema, TimeWindows, from_dense, from_hetero, from_networkx, from_temporal_signal,
                      to_hetero)
from srnn_pyg.data import pad_collate
from srnn_pyg.models import SeasonalMean
from srnn_pyg.testing import fake_st_data

torch.set_num_threads(1)


def phase_recording(period: int = 4, T: int = 40) -> STData:
    x = (torch.arange(T, dtype=torch.float).view(1, T, 1) % period).repeat(2, 1, 1)
    return STData(x=x, edge_index=torch.empty(2, 0, dtype=torch.long))


# --------------------------------------------------------------- t_start
def test_pad_to_moves_t_start_back_by_the_steps_padded_in_front():
    w = TimeWindows(phase_recording(), 4, 2)[3]
    assert int(w.t_start) == 3
    p = w.pad_to(6, 3)
    assert p.t_start.tolist() == [1] and p.t_start.dtype == torch.long        # still the step of x[:, 0]
    assert int(w.t_start) == 3                                                # the window is left alone
    assert int(w.pad_to(4, 5).t_start) == 3                                   # nothing in front: unchanged


def test_seasonal_mean_fits_a_padded_batch_as_its_windows():
    rec = phase_recording()
    ws = [TimeWindows(rec, 5, 2)[0], TimeWindows(rec, 4, 2)[3]]
    one_by_one = SeasonalMean(None, 1, 1, period=4).fit_closed_form(ws).mean[0, :, 0]
    padded = SeasonalMean(None, 1, 1, period=4).fit_closed_form([pad_collate(ws)]).mean[0, :, 0]
    assert one_by_one.tolist() == [0, 1, 2, 3]
    assert padded.tolist() == [0, 1, 2, 3]


def test_seasonal_mean_forecasts_a_padded_window_as_the_window():
    rec = phase_recording()
    model = SeasonalMean(None, 1, 1, period=4).fit_closed_form(list(TimeWindows(rec, 4, 2)))
    w = TimeWindows(rec, 3, 2)[5]
    plain = model.forecast(w, 2)
    assert torch.equal(plain, w.y)
    assert torch.equal(model.forecast(w.pad_to(7), 2), plain)
    batch = pad_collate([w, TimeWindows(rec, 6, 2)[1]])
    assert torch.equal(model.forecast(batch, 2)[:2], plain)


# ------------------------------------------------------------- pad_collate
def test_pad_collate_pads_u_future_like_y():
    a = fake_st_data(3, 2, 3, horizon=1)
    a.u_future = torch.ones(3, 1, 2)
    b = fake_st_data(3, 4, 3, horizon=2)
    b.u_future = torch.ones(3, 2, 2)
    batch = pad_collate([a, b])
    assert batch.u_future.shape == (6, 2, 2) and batch.y.shape == (6, 2, 3)
    assert batch.u_future[:3, 0].all() and not batch.u_future[:3, 1].any() and batch.u_future[3:].all()
    assert batch.y_mask[:3].tolist() == [[True, False]] * 3
    # without targets the longest u_future sets the horizon
    c, d = fake_st_data(3, 2, 3), fake_st_data(3, 2, 3)
    c.u_future, d.u_future = torch.ones(3, 3, 2), torch.ones(3, 1, 2)
    assert pad_collate([c, d]).u_future.shape == (6, 3, 2)
    # pad_to pads u_future to the horizon; a longer one is kept whole
    assert a.pad_to(2, 4).u_future.shape == (3, 4, 2)
    c.y = torch.zeros(3, 1, 3)
    assert c.pad_to(2, 2).u_future.shape == (3, 3, 2)


def test_pad_collate_names_window_key_and_shapes_that_do_not_batch():
    a, b = fake_st_data(3, 2, 3, horizon=1), fake_st_data(3, 2, 3, horizon=1)
    b.y = torch.zeros(3, 1, 4)
    with pytest.raises(ValueError, match=r"window 1's 'y' .*\[3, 1, 3\].*expected \[\*, \*, 3\].*got \[3, 1, 4\]"):
        pad_collate([a, b])
    a.u_future, b.y = torch.zeros(3, 1, 2), torch.zeros(3, 1, 3)
    b.u_future = torch.zeros(3, 1, 5)
    with pytest.raises(ValueError, match=r"window 1's 'u_future'.*expected \[\*, \*, 2\].*got \[3, 1, 5\]"):
        pad_collate([a, b])
    b.u_future = torch.ones(3, 3, 2)                                        # reaching past the targets
    batch = pad_collate([a, b])
    assert batch.u_future.shape == (6, 3, 2) and batch.y.shape == (6, 1, 3) and batch.u_future[3:].all()
    c = fake_st_data(3, 2, 4, horizon=1)
    with pytest.raises(ValueError, match=r"window 1's 'x'.*got \[3, 2, 4\]"):
        pad_collate([fake_st_data(3, 2, 3, horizon=1), c])


# ---------------------------------------------------------------- networkx
def test_from_networkx_stores_an_undirected_self_loop_once():
    for graph in (nx.Graph(), nx.DiGraph()):
        graph.add_nodes_from([(0, {"type": "n"}), (1, {"type": "n"})])
        graph.add_edges_from([(0, 0), (0, 1)])
        data = from_networkx(graph, x=torch.zeros(2, 3, 1))
        loops = (data.edge_index[0] == data.edge_index[1]).sum()
        assert int(loops) == 1
    assert data.edge_index.tolist() == [[0, 0], [0, 1]]                     # the DiGraph
    g = nx.Graph()
    g.add_nodes_from([(0, {"type": "n"}), (1, {"type": "n"})])
    g.add_edges_from([(0, 0), (0, 1)])
    assert from_networkx(g, x=torch.zeros(2, 3, 1)).edge_index.tolist() == [[0, 0, 1], [0, 1, 0]]


def test_from_networkx_edges_without_the_relation_attribute_are_to():
    g = nx.Graph()
    g.add_nodes_from([(i, {"type": "n"}) for i in range(3)])
    g.add_edge(0, 1, rel="near")
    g.add_edge(1, 2)
    data = from_networkx(g, x=torch.zeros(3, 2, 1), edge_type_attr="rel")
    names = [data.schema.edge_types[k].rel for k in data.edge_type.tolist()]
    assert names == ["near", "near", "to", "to"]


# ------------------------------------------------------------ PyG Temporal
def test_dynamic_signal_refuses_an_edge_twice_in_one_step_as_static_keeps_both():
    feats = [np.zeros((3, 1), dtype=np.float32)] * 2
    twice = np.array([[0, 2, 0], [1, 1, 1]])
    static = from_temporal_signal(SimpleNamespace(edge_index=twice, edge_weight=np.array([1.0, 5.0, 2.0]),
                                                  features=feats, targets=None))
    assert static.edge_index.size(1) == 3 and static.edge_attr[:, 0, 0].tolist() == [1.0, 5.0, 2.0]
    dyn = SimpleNamespace(edge_indices=[np.array([[0], [1]]), twice], edge_weights=None, features=feats,
                          targets=None)
    with pytest.raises(ValueError, match=r"'edge_indices\[1\]' holds the edge \(0, 1\) more than once.*got 2"):
        from_temporal_signal(dyn)
    dyn.edge_indices = [np.array([[0], [1]]), twice[:, :2]]                # across steps: one edge, masked
    data = from_temporal_signal(dyn)
    assert data.edge_index.t().tolist() == [[0, 1], [2, 1]]
    assert data.edge_mask.tolist() == [[True, True], [False, True]]


# --------------------------------------------------------- argument checks
def test_pad_to_without_targets_says_so():
    g = fake_st_data(3, 2, 3)
    with pytest.raises(ValueError, match=r"'y' and 'u_future', which this data does not have.*got horizon=2"):
        g.pad_to(5, 2)
    assert g.pad_to(5).x.shape == (3, 5, 3) and g.pad_to(5, 0).get("y") is None
    with pytest.raises(ValueError, match=r"'horizon' must be >= H=2, the steps of 'y'.*got horizon=1"):
        fake_st_data(3, 2, 3, horizon=2).pad_to(2, 1)
    with pytest.raises(TypeError, match=r"'steps' must be an integer \(got 4.5"):
        g.pad_to(4.5)


def test_window_checks_its_arguments_are_integers():
    rec = fake_st_data(3, 10, 2)
    with pytest.raises(TypeError, match=r"STData.window: 'obs' must be an integer \(got 3.5, a float\)"):
        rec.window(0, 3.5, 1)
    with pytest.raises(TypeError, match="'start' must be an integer"):
        rec.window(True, 3, 1)
    w = rec.window(np.int64(2), torch.tensor(3), np.int32(1))             # NumPy and torch integers
    assert w.x.shape == (3, 3, 2) and torch.equal(w.y, rec.x[:, 5:6])


def test_held_edge_attr_is_valid_and_kept_by_window_and_pad_to():
    """An edge_attr [E, 1, F_e] held over the steps, which the models accept, is valid data, kept whole by
    window (it was sliced to [E, 0, F]) and by pad_to (it was padded to [E, 3, F])."""
    from srnn_pyg import STSchema
    from srnn_pyg.models import StructuralRNN

    schema = STSchema(["n"], [("n", "n")])
    d = STData(x=torch.randn(3, 10, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), edge_attr=torch.rand(2, 1, 4),
               node_type=torch.zeros(3, dtype=torch.long), edge_type=torch.zeros(2, dtype=torch.long))
    d.validate(schema)
    w = d.window(5, 3, 2)
    assert torch.equal(w.edge_attr, d.edge_attr)
    p = w.pad_to(6)
    assert torch.equal(p.edge_attr, d.edge_attr) and p.x.shape == (3, 6, 2)
    m = StructuralRNN(schema, 2, 2, spatial_features="concat_attr", edge_channels=4, edge_hidden=8,
                      node_hidden=8).eval()
    assert torch.allclose(m.forecast(p, 2), m.forecast(w, 2), atol=1e-6)
    bad = d.clone()
    bad.edge_attr = torch.rand(2, 1, 4)
    bad.edge_attr[1, 0, 2] = float("nan")
    with pytest.raises(ValueError, match=r"'edge_attr' must be finite where present \(got nan at edge 1, step 0"):
        bad.validate(schema)


# ------------------------------------------------------------- to_hetero / from_hetero
def _two_way_graph(seed=0):
    """Typed nodes with two directed relations between the types (both ways, kept apart) and an
    undirected one within a type, with every per-node, per-edge and graph-level key."""
    g = torch.Generator().manual_seed(seed)
    schema = STSchema(["a", "b"], [("a", "r", "b"), ("b", "r", "a"), ("a", "a")], directed=[True, True, False])
    nt = torch.tensor([0, 1, 0, 1, 1, 0, 0])
    kind = {(0, 1): 0, (1, 0): 1, (0, 0): 2}
    pairs = [(i, j) for i in range(7) for j in range(7) if i != j and (nt[i].item(), nt[j].item()) in kind]
    keep = [(i, j) for i, j in pairs if torch.rand((), generator=g) < 0.5]
    keep = sorted({p for p in keep} | {(j, i) for i, j in keep if nt[i] == nt[j] == 0})   # a-a both ways
    perm = torch.randperm(len(keep), generator=g)                                       # edges out of type order
    ei = torch.tensor(keep).T[:, perm]
    et = torch.tensor([kind[(nt[i].item(), nt[j].item())] for i, j in ei.T.tolist()])
    E = ei.size(1)
    data = STData(x=torch.randn(7, 5, 2, generator=g), edge_index=ei, node_type=nt, edge_type=et,
                  y=torch.randn(7, 3, 2, generator=g), u_future=torch.randn(7, 3, 1, generator=g),
                  y_weight=torch.rand(7, 2, generator=g), t_start=torch.tensor([4]),
                  edge_attr=torch.randn(E, 5, 1, generator=g), edge_mask=torch.rand(E, 5, generator=g) > 0.2,
                  node_mask=torch.rand(7, 5, generator=g) > 0.1, y_mask=torch.rand(7, 3, generator=g) > 0.1)
    data.schema = schema
    data.validate(schema)
    return data


def test_to_hetero_keeps_every_key_and_from_hetero_gives_the_graph_back():
    data = _two_way_graph()
    hetero = to_hetero(data)
    assert hetero["a"].u_future.shape == (4, 3, 1) and hetero["b"].y_weight.shape == (3, 2)
    assert torch.equal(hetero.t_start, data.t_start)
    back = from_hetero(hetero)                      # no schema given: the one kept on the graph
    assert [(e.src, e.rel, e.dst, e.directed) for e in back.schema.edge_types] == \
        [(e.src, e.rel, e.dst, e.directed) for e in data.schema.edge_types]
    keys = [k for k in data.keys() if k != "schema"]
    assert sorted(back.keys()) == sorted(data.keys())
    for key in keys:
        assert torch.equal(back[key], data[key]), key            # node and edge order too


def test_from_hetero_without_the_kept_schema_still_infers_it():
    hetero = to_hetero(_two_way_graph())
    del hetero["schema"]
    back = from_hetero(hetero)                       # the reverse pair becomes one undirected type, as documented
    assert [(e.src, e.dst, e.directed) for e in back.schema.edge_types] == [("a", "b", False), ("a", "a", False)]
    assert back.u_future.shape == (7, 3, 1) and back.edge_attr.size(0) == back.edge_index.size(1)


def test_from_hetero_keeps_an_edge_id_that_is_not_a_permutation():
    hetero = to_hetero(_two_way_graph())
    for store in hetero.edge_stores:
        store.edge_id = torch.zeros_like(store.edge_id)              # the user's own key
    back = from_hetero(hetero)
    assert torch.equal(back.edge_id, torch.zeros(back.num_edges, dtype=torch.long))


# ------------------------------------------------ arrays that are not numbers
def test_converters_name_an_argument_that_is_not_an_array_of_numbers():
    schema = STSchema(["a"], [("a", "near", "a")])
    g = nx.Graph()
    g.add_node(0, type="a", x=np.zeros((3, 2)))
    g.add_node(1, type="a", x=np.zeros((3, 2)))
    g.add_edge(0, 1, rel="near")
    with pytest.raises(TypeError, match=r"from_networkx: 'x' must be a tensor or an array of numbers \(got STSchema"):
        from_networkx(g, schema)                                   # the schema passed where 'x' goes
    g.nodes[1]["x"] = "walking"
    with pytest.raises(TypeError, match=r"from_networkx: 'node 1's x' must be .*got str"):
        from_networkx(g, schema=schema)
    with pytest.raises(TypeError, match=r"from_dense: 'x' must be .*got list: .*inhomogeneous"):
        from_dense([[[0.0]], [[0.0, 1.0]]], torch.zeros(1, 1))
    with pytest.raises(TypeError, match=r"from_dense: 'adj' must be .*got list: dtype <U1"):
        from_dense(torch.zeros(2, 2, 1), [["a", "b"], ["c", "d"]])
    signal = SimpleNamespace(features=[np.zeros((2, 1)), np.array([["x"], ["y"]])], targets=None,
                             edge_index=np.array([[0], [1]]), edge_weight=np.array([1.0]))
    with pytest.raises(TypeError, match=r"from_temporal_signal: 'features\[1\]' must be .*dtype <U1"):
        from_temporal_signal(signal)
    signal.features[1] = np.ones((2, 1))
    signal.edge_weight = [None]
    with pytest.raises(TypeError, match=r"from_temporal_signal: 'edge_weight' must be .*dtype object"):
        from_temporal_signal(signal)
    signal.edge_weight = np.array([0.5])
    assert from_temporal_signal(signal).edge_attr[:, :, 0].tolist() == [[0.5, 0.5]]
