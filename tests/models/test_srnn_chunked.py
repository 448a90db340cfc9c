"""forecast_in_chunks: the exact forecast of a graph too large for one pass."""
import pytest
import torch

from srnn_pyg import STData
from srnn_pyg.models import NodeLSTM, StructuralRNN
from srnn_pyg.models.srnn_chunked import ChunkedRollout, forecast_in_chunks
from srnn_pyg.nn.checks import select
from srnn_pyg.testing import devices, fake_schema, fake_st_data

SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))
H = 5

CONFIGS = [
    dict(edge_scope="slot"),
    dict(edge_scope="slot", edge_state="appear", num_layers=2),
    dict(edge_scope="slot", residual=True, spatial_features="diff", temporal_features="diff"),
    dict(edge_scope="edge", aggr="sum"),
    dict(edge_scope="edge", aggr="sum", edge_state="start"),
    dict(edge_scope="edge", aggr="mean", spatial_features="concat_attr", edge_channels=2),
    dict(edge_scope="edge", aggr="max"),
    dict(edge_scope="edge", aggr="attention", num_layers=2),
    dict(edge_scope="slot", spatial_features="attr", edge_channels=2),
    dict(edge_scope="slot", spatial=False),
]
CHUNKS = [1, 4, 1000]          # one node per chunk, a few, the whole graph in one chunk


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny graphs: one thread is faster, and the machine's cores are shared
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _graph(num_nodes=20, T=6, F=3, seed=1, schema=None, masks=True, **kw):
    """A random typed graph; with ``masks``, about a third of the edges appear
    late (absent over the first half of the window) and a few nodes are
    absent at the last observed step (held so in the rollout)."""
    g = _gen(seed)
    schema = schema or fake_schema(with_relations=True)
    data = fake_st_data(num_nodes, T, F, schema=schema, masks=masks, edge_attr_dim=2, generator=g, **kw)
    if masks:
        late = torch.rand(data.num_edges, generator=g) < 0.35
        data.edge_mask[late, : T // 2] = False
        data.node_mask[torch.randperm(num_nodes, generator=g)[:3], -1] = False
    return data


def _model(schema, F=3, out=None, gain=2.0, **kw):
    """A small model with PyTorch's initialisation (``init="default"``) and
    its weights scaled by ``gain``: unscaled, a neighbour's frame moves a
    5-step forecast by about 1e-4 only; doubled, by 1e-2, so that feeding a
    wrong frame misses the 1e-5 tolerance by far
    (:func:`test_a_wrong_chunk_order_would_be_caught`). (The uniform +-0.05
    init couples the nodes far less at first.)"""
    torch.manual_seed(0)
    model = StructuralRNN(schema, F, out or F, **{**SMALL, "init": "default", **kw}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(gain)
    return model


def _check(model, data, horizon=H, atol=1e-5, **kw):
    with torch.no_grad():
        full = model.forecast(data, horizon)
    got = forecast_in_chunks(model, data, horizon, **kw)
    assert got.shape == full.shape
    assert torch.allclose(got, full, atol=atol), (got - full).abs().max()
    return full


@pytest.mark.parametrize("chunk_size", CHUNKS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_matches_full_forecast(config, chunk_size):
    data = _graph()
    assert bool((~data.edge_mask[:, 0]).any()) and bool((~data.node_mask[:, -1]).any())
    full = _check(_model(data.schema, **config), data, chunk_size=chunk_size)
    assert full.abs().sum() > 0


@pytest.mark.parametrize("lags", [1, 3, 9])                     # 9: longer than the observed window
@pytest.mark.parametrize("config", [dict(edge_scope="slot"), dict(edge_scope="edge", aggr="attention")],
                         ids=["slot", "edge-attention"])
def test_autoregressive_skip(config, lags):
    # ar_lags: the last input frames are kept per node (ChunkedRollout.past_x) across chunks and steps
    data = _graph()
    model = _model(data.schema, ar_lags=lags, **config)
    with torch.no_grad():
        model.ar.weight.normal_(0.0, 0.5)                        # it starts at zero
    for chunk_size, warmup_steps in ((1, None), (4, 2), (1000, None)):
        _check(model, data, chunk_size=chunk_size, warmup_steps=warmup_steps)
    roll = ChunkedRollout(model, data, 4)
    roll.warm_up()
    if lags > 1:
        assert roll.past_x.shape == (20, lags - 1, 3) and any(t is roll.past_x for t in roll.state_tensors())
    else:
        assert roll.past_x is None


@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("schema", [fake_schema(3), fake_schema(3, directed=True), fake_schema(2),
                                    fake_schema(1), fake_schema(3, temporal=False)],
                         ids=["undirected3", "directed3", "undirected2", "one-type", "no-temporal"])
@pytest.mark.parametrize("scope", ["slot", "edge"])
def test_heterogeneous_schemas(schema, scope, masks):
    data = _graph(23, schema=schema, masks=masks, seed=3)
    _check(_model(schema, edge_scope=scope), data, chunk_size=3)


@pytest.mark.parametrize("scope", ["slot", "edge"])
def test_covariates_derived_velocity_and_held_channels(scope):
    # in: 2 predicted positions, 2 derived velocities, 1 held channel, 1 covariate; out: 2 positions
    schema = fake_schema(2)
    data = _graph(18, F=6, schema=schema, seed=4)
    data.u_future = torch.randn(18, H + 2, 1, generator=_gen(5))
    model = _model(schema, 6, 2, edge_scope=scope, residual="velocity", derived="velocity", covariates=1,
                   velocity_scale=0.5)
    _check(model, data, chunk_size=4)


def test_covariates_need_u_future():
    schema = fake_schema(2)
    data = _graph(10, F=4, schema=schema)
    model = _model(schema, 4, 3, covariates=1)
    with pytest.raises(ValueError, match="u_future"):
        forecast_in_chunks(model, data, 2, chunk_size=3)


def test_isolated_nodes_and_edgeless_chunks():
    data = _graph(16, num_edges=6, seed=2)
    indeg = torch.bincount(data.edge_index[1], minlength=16)
    outdeg = torch.bincount(data.edge_index[0], minlength=16)
    assert int(((indeg == 0) & (outdeg == 0)).sum()) >= 3                 # isolated nodes
    for config in (dict(edge_scope="slot"), dict(edge_scope="edge", aggr="attention")):
        _check(_model(data.schema, **config), data, chunk_size=2)
    empty = fake_st_data(6, 4, 3, num_edges=0, generator=_gen(0))
    assert empty.num_edges == 0
    _check(_model(empty.schema, edge_scope="edge"), empty, chunk_size=4)
    nothing = STData(x=torch.zeros(0, 4, 3), edge_index=torch.zeros(2, 0, dtype=torch.long),
                     node_type=torch.zeros(0, dtype=torch.long), edge_type=torch.zeros(0, dtype=torch.long))
    assert forecast_in_chunks(_model(fake_schema()), nothing, 3, chunk_size=4).shape == (0, 3, 3)


@pytest.mark.parametrize("config", [CONFIGS[1], CONFIGS[5], CONFIGS[7], CONFIGS[8]],
                         ids=lambda c: "-".join(f"{v}" for v in c.values()))
@pytest.mark.parametrize("warmup_steps", [1, 4])
def test_warmup_in_parts(config, warmup_steps):
    data = _graph(seed=11)
    _check(_model(data.schema, **config), data, chunk_size=6, warmup_steps=warmup_steps)
    held = data.clone()
    held.edge_attr = held.edge_attr[:, -1:]                          # [E, 1, F_e]: held over the window
    _check(_model(held.schema, **config), held, chunk_size=6, warmup_steps=warmup_steps)


def test_node_order_and_horizon_one():
    data = _graph(seed=6)
    model = _model(data.schema, edge_scope="edge", aggr="mean")
    _check(model, data, chunk_size=3, node_order=torch.randperm(data.num_nodes, generator=_gen(1)))
    _check(model, data, horizon=1, chunk_size=3)


def test_gaussian_head_point_and_samples():
    schema = fake_schema(2)
    data = _graph(14, F=2, schema=schema, seed=7)
    model = _model(schema, 2, 2, head="gaussian", edge_scope="edge", aggr="sum")
    _check(model, data, chunk_size=3)
    torch.manual_seed(11)
    with torch.no_grad():
        full = model.forecast(data, H, num_samples=3)
    torch.manual_seed(11)
    got = forecast_in_chunks(model, data, H, chunk_size=5, num_samples=3)
    assert got.shape == (3, 14, H, 2)
    assert torch.allclose(got, full, atol=1e-5), (got - full).abs().max()
    assert (got[0] - got[1]).abs().max() > 1e-3                             # the samples differ


def test_mode_is_kept_and_no_grad():
    data = _graph(12, seed=8)
    model = _model(data.schema)
    model.train()                                   # no dropout: training mode computes as eval mode
    for p in model.parameters():
        p.requires_grad_(True)
    got = forecast_in_chunks(model, data, 3, chunk_size=5)
    assert model.training and not got.requires_grad
    model.eval()
    with torch.no_grad():
        assert torch.allclose(got, model.forecast(data, 3), atol=1e-5)
    assert not model.training


def test_stores_stay_on_state_device_and_their_size():
    data = _graph(seed=9)
    for scope in ("slot", "edge"):
        model = _model(data.schema, edge_scope=scope, edge_state="appear")
        roll = ChunkedRollout(model, data, 4, state_device=torch.device("cpu"))
        params = roll.warm_up()
        assert params.shape == (data.num_nodes, 1, 3)
        tensors = list(roll.state_tensors())
        assert tensors and all(t.device == torch.device("cpu") for t in tensors)
        # per node: temporal and nodeRNN (h, c); per slot or edge: edgeRNN (h, c) and a started flag;
        # every store one zero row more
        schema, E = data.schema, data.num_edges
        P = schema.num_node_types
        counts = torch.bincount(data.node_type, minlength=P).tolist()
        node = sum(2 * 4 * (c + 1) * (SMALL["edge_hidden"] + SMALL["node_hidden"]) for c in counts)
        if scope == "slot":
            rows = [sum(counts[p] for p in schema.receivers(k)) for k in range(schema.num_edge_types)]
        else:
            rows = torch.bincount(data.edge_type, minlength=schema.num_edge_types).tolist()
        edge = sum((2 * 4 * SMALL["edge_hidden"] + 1) * (r + 1) for r in rows)
        assert roll.state_bytes() == node + edge
        stores = [t.data_ptr() for t in roll.state_tensors()]
        roll.advance(data.x[:, -1:], data.x[:, -1:])
        assert [t.data_ptr() for t in roll.state_tensors()] == stores        # updated in place
        assert all(t.device == torch.device("cpu") for t in roll.state_tensors())
        assert scope == "slot" or sum(rows) == E


@pytest.mark.parametrize("device", devices()[1:])
def test_data_on_the_accelerator_states_on_the_cpu(device):
    data = _graph(seed=10).to(device)
    model = _model(data.schema, edge_scope="edge", aggr="attention").to(device)
    roll = ChunkedRollout(model, data, 4)
    roll.warm_up()
    assert all(t.device.type == "cpu" for t in roll.state_tensors())
    _check(model, data, chunk_size=4)


# ------------------------------------------------------------ sensitivity
def _rollout(model, data, horizon, chunk_size, frame_for):
    """The rollout of forecast_in_chunks with each chunk's frame given by
    ``frame_for(chunk, frame, prev, params)``: what a wrong ordering would feed."""
    roll = ChunkedRollout(model, data, chunk_size)
    nm_last = data.node_mask[:, -1:]
    preds, inp, prev = [], data.x[:, -1:], None
    params = roll.warm_up()
    for i in range(horizon):
        if i > 0:
            new = torch.zeros_like(params)
            for ch in roll.chunks:
                new[ch.seeds] = roll.run_chunk(ch, frame_for(ch, inp, prev, new), prev)
            params = new
        step = select(nm_last, model.head.point(params))
        preds.append(step)
        prev, inp = inp, select(nm_last, model.feedback.step(step, inp, data, i))
    return torch.cat(preds, dim=1)


def test_a_wrong_chunk_order_would_be_caught():
    # The graphs above are coupled enough over the horizon that feeding a neighbour's frame of
    # another step (stale, or already advanced by an earlier chunk) misses the tolerance by far.
    data = _graph(seed=1)
    model = _model(data.schema, edge_scope="edge", aggr="sum")
    with torch.no_grad():
        full = model.forecast(data, H)

        def same_step(ch, frame, prev, new):
            return frame

        def stale_neighbours(ch, frame, prev, new):          # in-neighbours' frame of the step before
            out = prev.clone()
            out[ch.seeds] = frame[ch.seeds]
            return out

        def advanced_neighbours(ch, frame, prev, new):       # earlier chunks' predictions already fed back
            done = new.abs().sum((1, 2)) > 0
            return torch.where(done.view(-1, 1, 1), model.head.point(new), frame)

        right = _rollout(model, data, H, 4, same_step)
        stale = _rollout(model, data, H, 4, stale_neighbours)
        ahead = _rollout(model, data, H, 4, advanced_neighbours)
    assert torch.allclose(right, full, atol=1e-5)
    for wrong in (stale, ahead):
        assert torch.allclose(wrong[:, :1], full[:, :1], atol=1e-5)           # the first step agrees ...
        assert (wrong - full).abs().max() > 1e-3                              # ... later ones do not


def test_chunks_advance_their_seeds_only():
    # Each chunk runs with its seeds as the layer's receivers (num_receivers): its state holds the seeds'
    # rows alone (the other nodes of its sub-graph are read as edge sources), so nothing but seed rows can
    # reach the stores.
    data = _graph(seed=1)
    model = _model(data.schema, edge_scope="slot")
    roll = ChunkedRollout(model, data, chunk_size=4)
    roll.warm_up()
    for ch in roll.chunks:
        assert ch.layout.num_nodes == ch.num_seeds and ch.layout.num_sources == ch.n_id.numel()
        for rmap in ch.node_maps:
            if rmap is not None:
                assert rmap.local.numel() == rmap.gather.numel()                # every row is owned


def test_one_hop_batches_alone_are_refused_beyond_one_step():
    # Chunks without the shared per-step frame (each chunk's forecast on its own one-hop sub-graph) would
    # not be exact past the first step, so the model refuses them; the chunked rollout is exact.
    from srnn_pyg.loader import OneHopLoader
    data = _graph(seed=1)
    model = _model(data.schema, edge_scope="slot")
    with torch.no_grad():
        full = model.forecast(data, H)
        with pytest.raises(ValueError, match="forecast_chunked"):
            model.forecast(next(iter(OneHopLoader(data, 4))), H)
    assert torch.allclose(forecast_in_chunks(model, data, H, chunk_size=4), full, atol=1e-5)
    assert torch.allclose(model.forecast_chunked(data, H, chunk_size=4), full, atol=1e-5)


# ------------------------------------------------------------------ errors
def test_bad_arguments():
    data = _graph(10)
    model = _model(data.schema)
    for bad in (0, -2, 1.5, True, None):
        with pytest.raises(ValueError, match="'chunk_size' must be a positive int"):
            forecast_in_chunks(model, data, 2, chunk_size=bad)
    for bad in (0, -1, 2.0, False):
        with pytest.raises(ValueError, match="'horizon' must be a positive int"):
            forecast_in_chunks(model, data, bad, chunk_size=3)
    with pytest.raises(ValueError, match="'num_samples' needs a model with head='gaussian'"):
        forecast_in_chunks(model, data, 2, chunk_size=3, num_samples=2)
    gauss = _model(fake_schema(2), 2, 2, head="gaussian")
    with pytest.raises(ValueError, match="'num_samples' must be a positive int"):
        forecast_in_chunks(gauss, _graph(10, F=2, schema=gauss.schema), 2, chunk_size=3, num_samples=0)
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="'warmup_steps' must be a positive int"):
            forecast_in_chunks(model, data, 2, chunk_size=3, warmup_steps=bad)
    with pytest.raises(ValueError, match="'state_device' must name a torch device"):
        forecast_in_chunks(model, data, 2, chunk_size=3, state_device="nowhere")
    for bad in (torch.arange(9), torch.zeros(10, dtype=torch.long), torch.arange(10.0), [0, 1]):
        with pytest.raises(ValueError, match="'node_order' must be a permutation"):
            forecast_in_chunks(model, data, 2, chunk_size=3, node_order=bad)
    with pytest.raises(ValueError, match="'data' must be an STData"):
        forecast_in_chunks(model, {"x": data.x}, 2, chunk_size=3)
    with pytest.raises(ValueError, match="'x' must be"):
        forecast_in_chunks(model, _graph(10, F=4), 2, chunk_size=3)


def test_refused_models():
    data = _graph(10)
    with pytest.raises(ValueError, match="'model' must be a StructuralRNN"):
        forecast_in_chunks(NodeLSTM(data.schema, 3, 3), data, 2, chunk_size=3)
    labels = _model(data.schema, 3, 4, task="classification")
    with pytest.raises(ValueError, match="'model' must be a regression model"):
        forecast_in_chunks(labels, data, 2, chunk_size=3)
    dropout = _model(data.schema, dropout=0.2).train()
    with pytest.raises(ValueError, match=r"training mode with dropout.*model.eval\(\)"):
        forecast_in_chunks(dropout, data, 2, chunk_size=3)
    _check(dropout.eval(), data, chunk_size=3)                               # eval mode: exact
    roll = ChunkedRollout(_model(data.schema), data, 3)
    with pytest.raises(RuntimeError, match="warm_up"):
        roll.advance(data.x[:, -1:], data.x[:, -1:])


def test_a_pyg_batch_of_graphs():
    # a collated batch carries one schema per graph; the rollout runs on it as on one graph
    from torch_geometric.loader import DataLoader
    graphs = [_graph(n, seed=n) for n in (6, 9)]
    batch = next(iter(DataLoader(graphs, batch_size=2)))
    assert isinstance(batch["schema"], list)
    _check(_model(graphs[0].schema, edge_scope="edge", aggr="attention"), batch, chunk_size=4)
