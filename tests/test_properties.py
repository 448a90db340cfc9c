"""Property-based tests of the model-input contract (``docs/errors.md``).

Random *valid* typed ST-graphs (1-3 node types, 0-3 edge types, random sizes,
steps, masks, empty graphs and graphs without edges included) must give
finite outputs of the right shape, the same batched (PyG ``Batch``) as graph
by graph, and the same whether absent steps hold NaN/Inf or zeros. Random
*invalid* inputs, one class at a time, must raise the documented error type
with the argument named in the message.

Fast by default; ``pytest tests/test_properties.py --hypothesis-profile=long
--hypothesis-show-statistics`` runs thousands of cases and prints how many
fell in each class (the ``event`` labels)."""
import math

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, event, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch_geometric.data import Batch  # noqa: E402

from srnn_pyg import STData, STSchema  # noqa: E402
from srnn_pyg.models import build  # noqa: E402
from srnn_pyg.nn import SRNNLayer  # noqa: E402

F = 3
NAMES = ["a", "b", "c"]
SMALL = dict(edge_hidden=4, node_hidden=4, edge_mlp=(4,), node_mlp=(4,), attention_channels=4)
BASELINES = {  # registry name -> small constructor arguments; all accept any valid typed graph
    "node_lstm": dict(hidden=4),
    "gconv_gru": dict(hidden=4, K=2),
    "linear_ar": dict(lags=2),
    "zero_velocity": {},
    "constant_velocity": {},
    "skeleton_stgcn": dict(hidden=4, num_layers=1, kernel_size=3),
}


# ------------------------------------------------------------------ strategies
@st.composite
def schemas(draw):
    P = draw(st.integers(1, 3))
    pairs = [(i, j) for i in range(P) for j in range(i, P)]
    least = 0 if draw(st.integers(0, 5)) == 0 else 1     # mostly with edge types, sometimes none
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=least, max_size=3))
    directed = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    names = NAMES[:P]
    return STSchema(names, [(names[i], names[j]) for i, j in chosen], temporal=draw(st.booleans()),
                    directed=directed)


@st.composite
def graphs(draw, schema, T, masks, min_nodes=0, max_nodes=6, min_edges=None):
    """One random graph whose every edge fits ``schema`` (at least ``min_edges``
    of them where any fits; by default mostly some, sometimes none)."""
    N = draw(st.integers(min_nodes, max_nodes))
    node_type = draw(st.lists(st.integers(0, schema.num_node_types - 1), min_size=N, max_size=N))
    fitting = [(i, j, k) for i in range(N) for j in range(N) for k, et in enumerate(schema.edge_types)
               if et.accepts(NAMES[node_type[i]], NAMES[node_type[j]])]
    if min_edges is None:
        min_edges = 0 if draw(st.integers(0, 4)) == 0 else 1
    edges = draw(st.lists(st.sampled_from(fitting), min_size=min_edges, max_size=10)) if fitting else []
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31 - 1)))
    data = STData(x=torch.randn(N, T, F, generator=g),
                  edge_index=torch.tensor([[e[0] for e in edges], [e[1] for e in edges]],
                                          dtype=torch.long).view(2, -1),
                  node_type=torch.tensor(node_type, dtype=torch.long).view(-1),
                  edge_type=torch.tensor([e[2] for e in edges], dtype=torch.long).view(-1))
    if masks:
        data.node_mask = torch.rand(N, T, generator=g) > 0.3
        data.edge_mask = torch.rand(len(edges), T, generator=g) > 0.2
    return data


@st.composite
def srnn_configs(draw):
    scope, aggr = draw(st.sampled_from([("slot", "sum"), ("edge", "sum"), ("edge", "mean"), ("edge", "max"),
                                        ("edge", "attention")]))
    return dict(edge_scope=scope, aggr=aggr, residual=draw(st.booleans()),
                temporal_features=draw(st.sampled_from(["concat_diff", "diff", "x"])),
                spatial_features=draw(st.sampled_from(["concat", "diff"])))


@st.composite
def batches(draw, max_graphs=3, min_nodes=0):
    """A schema and 1-3 graphs over it with the same steps and keys."""
    schema = draw(schemas())
    T = draw(st.integers(1, 4))
    masks = draw(st.booleans())
    gs = draw(st.lists(graphs(schema, T, masks, min_nodes), min_size=1, max_size=max_graphs))
    return schema, gs


def _srnn(schema, cfg):
    torch.manual_seed(0)
    return build("srnn", schema, F, F, **SMALL, **cfg).eval()


def _baseline(name, schema):
    torch.manual_seed(0)
    return build(name, schema, F, F, **BASELINES[name]).eval()


def _split(out, gs):
    return torch.split(out, [g.num_nodes for g in gs], dim=0)


def _with_absent(data, value):
    """``data`` with every absent step's features replaced by ``value``."""
    out = data.clone()
    out.x = torch.where(data.node_mask.unsqueeze(-1), data.x, torch.full_like(data.x, value))
    return out


# ------------------------------------------------------------------ valid inputs
@given(batches(), srnn_configs())
def test_srnn_valid_graphs_batched_equals_unbatched(case, cfg):
    schema, gs = case
    event(f"valid: srnn {cfg['edge_scope']}/{cfg['aggr']}")
    if any(g.num_nodes == 0 for g in gs):
        event("valid: srnn with an empty graph")
    if any(g.edge_index.size(1) == 0 for g in gs):
        event("valid: srnn with a graph without edges")
    model = _srnn(schema, cfg)
    batch = Batch.from_data_list(gs)
    N, T = batch.num_nodes, batch.x.size(1)
    out = model(batch)
    assert out.shape == (N, T, F) and bool(out.isfinite().all())
    pred = model.forecast(batch, 2)
    assert pred.shape == (N, 2, F) and bool(pred.isfinite().all())
    for g, o, p in zip(gs, _split(out, gs), _split(pred, gs)):
        assert torch.allclose(model(g), o, atol=1e-5)
        assert torch.allclose(model.forecast(g, 2), p, atol=1e-5)


@given(batches(), st.sampled_from(sorted(BASELINES)))
def test_baselines_valid_graphs_batched_equals_unbatched(case, name):
    schema, gs = case
    model = _baseline(name, schema)
    if not model.accepts_empty:
        assume(all(g.num_nodes > 0 for g in gs))
    event(f"valid: {name}")
    batch = Batch.from_data_list(gs)
    N, T = batch.num_nodes, batch.x.size(1)
    out = model(batch)
    assert out.shape == (N, T, F) and bool(out.isfinite().all())
    pred = model.forecast(batch, 2)
    assert pred.shape == (N, 2, F) and bool(pred.isfinite().all())
    for g, o, p in zip(gs, _split(out, gs), _split(pred, gs)):
        assert torch.allclose(model(g), o, atol=1e-5)
        assert torch.allclose(model.forecast(g, 2), p, atol=1e-5)


@given(st.data(), st.sampled_from(["srnn"] + sorted(BASELINES)), st.sampled_from([math.nan, math.inf, -math.inf]))
def test_nonfinite_at_absent_steps_never_leaks(data, name, bad):
    schema = data.draw(schemas())
    g = data.draw(graphs(schema, data.draw(st.integers(1, 4)), masks=True, min_nodes=1))
    if bool(g.node_mask.all()):  # make one step absent, so that there is something to poison
        g.node_mask[data.draw(st.integers(0, g.num_nodes - 1)), data.draw(st.integers(0, g.x.size(1) - 1))] = False
    event(f"valid: {name} with NaN/Inf at absent steps")
    model = _srnn(schema, data.draw(srnn_configs())) if name == "srnn" else _baseline(name, schema)
    zero, poisoned = _with_absent(g, 0.0), _with_absent(g, bad)
    out = model(poisoned)
    assert bool(out.isfinite().all())
    assert torch.allclose(out, model(zero), atol=1e-6)
    pred = model.forecast(poisoned, 2)
    assert bool(pred.isfinite().all()) and torch.allclose(pred, model.forecast(zero, 2), atol=1e-6)


# ------------------------------------------------------------------ invalid inputs
# Each class: (applies to a graph?, mutate the graph in place, expected error type, argument named).
def _x_float64(g, d):
    g.x = g.x.double()


def _x_float16(g, d):
    g.x = g.x.half()


def _x_int(g, d):
    g.x = g.x.round().long()


def _x_rank(g, d):
    g.x = g.x.reshape(-1, g.x.size(-1)) if d.draw(st.booleans()) else g.x.unsqueeze(0)


def _x_no_steps(g, d):
    g.x = g.x[:, :0]


def _x_nonfinite(g, d):
    N, T, _ = g.x.shape
    i, t, f = d.draw(st.integers(0, N - 1)), d.draw(st.integers(0, T - 1)), d.draw(st.integers(0, F - 1))
    if g.get("node_mask") is not None:
        g.node_mask[i, t] = True
    g.x = g.x.clone()
    g.x[i, t, f] = d.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return f"node {i}, step {t}, feature {f}"


def _edge_index_transposed(g, d):
    g.edge_index = g.edge_index.t().contiguous()


def _edge_index_range(g, d):
    e = d.draw(st.integers(0, g.edge_index.size(1) - 1))
    g.edge_index = g.edge_index.clone()
    g.edge_index[d.draw(st.integers(0, 1)), e] = d.draw(st.sampled_from([-1, g.num_nodes, g.num_nodes + 5]))


def _node_type_range(g, d):
    g.node_type = g.node_type.clone()
    g.node_type[d.draw(st.integers(0, g.num_nodes - 1))] = d.draw(st.sampled_from([-1, -7, 3, 9]))


def _node_type_dtype(g, d):
    g.node_type = g.node_type.int()


def _edge_type_range(g, d):
    g.edge_type = g.edge_type.clone()
    g.edge_type[d.draw(st.integers(0, g.edge_type.numel() - 1))] = d.draw(st.sampled_from([-1, 3, 8]))


def _edge_type_misfit(g, d, schema):
    """Give an edge a type its endpoints do not fit, or, where no other type
    misfits, retype one of its end nodes (with 2+ node types one always does)."""
    nt = g.node_type.tolist()
    src, dst = g.edge_index.tolist()

    def fits(k, s, t):
        return schema.edge_types[k].accepts(NAMES[s], NAMES[t])

    retype_edge = [(e, k) for e in range(len(src)) for k in range(schema.num_edge_types)
                   if not fits(k, nt[src[e]], nt[dst[e]])]
    retype_node = [(i, q) for e in range(len(src)) for i in (src[e], dst[e])
                   for q in range(schema.num_node_types)
                   if not fits(int(g.edge_type[e]), *[q if j == i else nt[j] for j in (src[e], dst[e])])]
    assume(retype_edge or retype_node)
    if retype_edge and (not retype_node or d.draw(st.booleans())):
        e, k = d.draw(st.sampled_from(retype_edge))
        g.edge_type = g.edge_type.clone()
        g.edge_type[e] = k
    else:
        i, q = d.draw(st.sampled_from(retype_node))
        g.node_type = g.node_type.clone()
        g.node_type[i] = q


def _node_mask_shape(g, d):
    N, T = g.x.shape[:2]
    g.node_mask = torch.ones(*d.draw(st.sampled_from([(N, T + 1), (N + 1, T), (N,)])), dtype=torch.bool)


def _node_mask_dtype(g, d):
    g.node_mask = torch.ones(g.x.shape[:2])


def _edge_mask_shape(g, d):
    g.edge_mask = torch.ones(g.edge_index.size(1) + 1, g.x.size(1), dtype=torch.bool)


INVALID = {  # name: (mutation, error type, argument named, needs edges, read by non-graph baselines)
    "x float64": (_x_float64, TypeError, "x", False, True),
    "x float16": (_x_float16, TypeError, "x", False, True),
    "x int": (_x_int, TypeError, "x", False, True),
    "x rank": (_x_rank, ValueError, "x", False, True),
    "x no steps (T=0)": (_x_no_steps, ValueError, "x", False, True),
    "x NaN/Inf at a present step": (_x_nonfinite, ValueError, "x", False, True),
    "edge_index transposed": (_edge_index_transposed, ValueError, "edge_index", True, False),
    "edge_index out of range": (_edge_index_range, ValueError, "edge_index", True, False),
    "node_type out of range": (_node_type_range, ValueError, "node_type", False, False),
    "node_type not long": (_node_type_dtype, TypeError, "node_type", False, False),
    "edge_type out of range": (_edge_type_range, ValueError, "edge_type", True, False),
    "edge_type does not fit its endpoints": (_edge_type_misfit, ValueError, "edge_type", True, False),
    "node_mask shape": (_node_mask_shape, ValueError, "node_mask", False, True),
    "node_mask not bool": (_node_mask_dtype, TypeError, "node_mask", False, True),
    "edge_mask shape": (_edge_mask_shape, ValueError, "edge_mask", True, False),
}
TARGETS = ["srnn", "layer", "node_lstm", "gconv_gru"]


def _call(target, schema, g, cfg):
    if target == "layer":
        torch.manual_seed(0)
        layer = SRNNLayer(schema, F, edge_hidden=4, node_hidden=4, edge_mlp=(4,), attention_channels=4,
                          edge_scope=cfg["edge_scope"], aggr=cfg["aggr"])
        return layer(g.x, g.edge_index, g.get("node_type"), g.get("edge_type"), node_mask=g.get("node_mask"),
                     edge_mask=g.get("edge_mask"))[0]
    model = _srnn(schema, cfg) if target == "srnn" else _baseline(target, schema)
    return model(g)


@given(st.data(), st.sampled_from(sorted(INVALID)), st.sampled_from(TARGETS))
def test_invalid_inputs_raise_naming_the_argument(data, kind, target):
    mutate, error, arg, needs_edges, generic = INVALID[kind]
    schema = data.draw(schemas())
    g = data.draw(graphs(schema, data.draw(st.integers(1, 4)), masks=data.draw(st.booleans()), min_nodes=1,
                         min_edges=3 if needs_edges else None))
    E = g.edge_index.size(1)
    assume(E >= 3 if kind == "edge_index transposed" else (E > 0 or not needs_edges))
    if kind == "edge_type out of range" and schema.num_edge_types == 0:
        assume(False)
    cfg = data.draw(srnn_configs())
    where = mutate(g, data, schema) if mutate is _edge_type_misfit else mutate(g, data)
    reads = target in ("srnn", "layer") or generic or (target == "gconv_gru" and "edge_index" in arg) \
        or (target == "gconv_gru" and arg == "edge_mask")
    if not reads:  # a baseline that ignores this key must still give a correct result
        event(f"invalid but ignored: {kind} -> {target}")
        out = _call(target, schema, g, cfg)
        assert bool(out.isfinite().all())
        return
    event(f"invalid: {kind} -> {target}")
    with pytest.raises(error) as info:
        _call(target, schema, g, cfg)
    msg = str(info.value)
    assert f"'{arg}'" in msg and "got" in msg, msg
    if where is not None:
        assert where in msg, msg


@given(st.sampled_from([0, -1, 2.5, True, None]), st.sampled_from(["srnn", "node_lstm", "zero_velocity"]))
def test_invalid_horizon(horizon, name):
    event(f"invalid: horizon -> {name}")
    schema = STSchema(["a"], [("a", "a")])
    g = STData(x=torch.randn(3, 2, F), edge_index=torch.tensor([[0, 1], [1, 2]]),
               node_type=torch.zeros(3, dtype=torch.long), edge_type=torch.zeros(2, dtype=torch.long))
    model = _srnn(schema, dict(edge_scope="slot", aggr="sum")) if name == "srnn" else _baseline(name, schema)
    with pytest.raises(ValueError, match="'horizon'"):
        model.forecast(g, horizon)


SCHEMA_INVALID = [
    (lambda: STSchema("ab"), TypeError, "node_types"),
    (lambda: STSchema(None), TypeError, "node_types"),
    (lambda: STSchema([]), ValueError, "node_types"),
    (lambda: STSchema(["a", "a"]), ValueError, "node_types"),
    (lambda: STSchema(["a", ""]), ValueError, "node_types"),
    (lambda: STSchema(["a", 3]), ValueError, "node_types"),
    (lambda: STSchema(["a"], "aa"), TypeError, "edge_types"),
    (lambda: STSchema(["a"], [("a", "z")]), ValueError, "edge_types"),
    (lambda: STSchema(["a"], [("a",)]), ValueError, "edge_types"),
    (lambda: STSchema(["a", "b"], [("a", "b"), ("b", "a")]), ValueError, "edge_types"),
    (lambda: STSchema(["a"], [("a", "a")], temporal="yes"), TypeError, "temporal"),
    (lambda: STSchema(["a"], [("a", "a")], directed=[True, False]), ValueError, "directed"),
    (lambda: STSchema(["a"], [("a", "a")], directed="no"), TypeError, "directed"),
    (lambda: STSchema(["a"], [("a", "a")], directed=[1]), TypeError, "directed"),
]


@given(st.sampled_from(range(len(SCHEMA_INVALID))))
def test_invalid_schemas_raise_naming_the_argument(i):
    make, error, arg = SCHEMA_INVALID[i]
    event(f"invalid: STSchema {arg}")
    with pytest.raises(error) as info:
        make()
    assert f"'{arg}'" in str(info.value) and "got" in str(info.value), str(info.value)
