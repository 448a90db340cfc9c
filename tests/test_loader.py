"""OneHopLoader: exact one-hop mini-batches of seed nodes."""
import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg import STData
from srnn_pyg.engine.distributed import with_sampler
from srnn_pyg.engine.objectives import teacher_forcing
from srnn_pyg.engine.rng import SeededRandomSampler
from srnn_pyg.loader import OneHopLoader, OneHopSampler, seed_count, seed_nodes, seed_view
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn.heads import DeterministicHead
from srnn_pyg.testing import devices, fake_schema, fake_st_data

SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))

CONFIGS = [
    dict(edge_scope="slot"),
    dict(edge_scope="slot", edge_state="appear", num_layers=2),
    dict(edge_scope="edge", aggr="sum"),
    dict(edge_scope="edge", aggr="mean", spatial_features="concat_attr", edge_channels=2),
    dict(edge_scope="edge", aggr="max"),
    dict(edge_scope="edge", aggr="attention"),
    dict(edge_scope="edge", aggr="sum", edge_state="start", residual=True),
]


def _graph(num_nodes=24, T=6, seed=1, late=True, **kw):
    """A random typed graph with node/edge masks; with ``late``, a third of the
    edges (about) are absent at the first half of the steps (they appear late)."""
    g = torch.Generator().manual_seed(seed)
    schema = fake_schema(with_relations=True)
    data = fake_st_data(num_nodes, T, 3, schema=schema, masks=True, edge_attr_dim=2, generator=g, **kw)
    if late:
        late_edges = torch.rand(data.num_edges, generator=g) < 0.35
        data.edge_mask[late_edges, : T // 2] = False
    return data


def _model(schema, **config):
    torch.manual_seed(0)
    return StructuralRNN(schema, 3, 3, **{**SMALL, **config})


def _loud(model, std=0.5, seed=0):
    """``model`` with every weight redrawn from N(0, std^2): outputs of order one, so that a batch missing an
    edge differs from the full graph by far more than the tolerance (with the default init the outputs are
    so small that dropping every edge changes them by less than 1e-5)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


def _close(got, want, rtol=1e-5):
    """Equal up to ``rtol`` of the largest magnitude."""
    return bool((got - want).abs().max() <= rtol * want.abs().max().clamp_min(1e-12))


def _assemble(model, loader, full_shape):
    """The seeds' outputs of every batch of one pass, at their full-graph rows."""
    out = torch.full(full_shape, float("nan"), device=next(model.parameters()).device)
    for batch in loader:
        out[seed_nodes(batch).to(out.device)] = seed_view(batch, model(batch))
    return out


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_batches_match_full_graph(device, config):
    data = _graph().to(device)
    assert bool((~data.edge_mask[:, 0]).any())                   # some edges appear late
    model = _loud(_model(data.schema, **config)).to(device).eval()
    with torch.no_grad():
        full = model(data)
        got = _assemble(model, OneHopLoader(data, 5, shuffle=True), full.shape)
        assert _close(got, full), (got - full).abs().max()
        # the comparison can fail: the same batches without their edges are far off
        loose = torch.full_like(full, float("nan"))
        for b in OneHopLoader(data, 5):
            b.edge_mask = torch.zeros_like(b.edge_mask)
            loose[seed_nodes(b).to(loose.device)] = seed_view(b, model(b))
        assert not _close(loose, full, rtol=1e-2)


def test_one_hop_batches_compute_the_seed_rows_only():
    # The rows after the seeds lack their own incoming edges: their outputs would not be exact, so the
    # model computes and returns the seed rows alone (the layer's num_receivers); the layer run over every
    # row shows the other rows differ.
    data = _graph(late=False)
    model = _model(data.schema, edge_scope="slot").eval()
    with torch.no_grad():
        full = model(data)
        full_h = model.embed(data)
        diffs = []
        for b in OneHopLoader(data, 3):
            out, hid = model(b, return_hidden=True)
            assert out.size(0) == hid.size(0) == b.batch_size
            assert torch.allclose(out, full[seed_nodes(b)], atol=1e-5)
            assert torch.allclose(hid, full_h[seed_nodes(b)], atol=1e-5)
            every, _ = model.layer(b.x, b.edge_index, b.node_type, b.edge_type)
            if b.num_nodes > b.batch_size:
                diffs.append((every[b.batch_size:] - full_h[b.n_id[b.batch_size:]]).abs().max())
    assert max(diffs) > 1e-3


def test_forecast_is_exact_for_one_step_and_refused_beyond():
    # A rollout feeds predictions back as inputs, so step h reads h hops: one hop covers h = 1 only.
    data = _graph(late=False)
    model = _loud(_model(data.schema, edge_scope="edge", aggr="sum")).eval()
    loader = OneHopLoader(data, 6)
    with torch.no_grad():
        full = model.forecast(data, 3)
        got = torch.cat([seed_view(b, model.forecast(b, 1)) for b in loader])[
            torch.cat([seed_nodes(b) for b in loader]).argsort()]
        assert _close(got[:, 0], full[:, 0])
        with pytest.raises(ValueError, match="one-hop batch .*horizon=1 only"):
            model.forecast(next(iter(loader)), 3)
        # the large-graph rollout takes whole graphs only: a batch lacks the hops of steps 2, 3, ...
        with pytest.raises(ValueError, match="must be a whole graph, not a one-hop batch"):
            model.forecast_chunked(next(iter(loader)), 3, chunk_size=4)


def test_one_step_forecast_on_batches_with_inputs_not_predicted():
    """Covariates and derived velocities: the model reads more channels than it predicts. One step on a
    one-hop batch (the forecast, collect, evaluate and rollout training at horizon 1) equals the full graph."""
    from torch_geometric.loader import DataLoader

    from srnn_pyg.engine import TrainConfig, collect, evaluate, fit
    data = _graph(late=False)
    data.x = torch.cat([data.x, torch.randn(data.num_nodes, data.num_steps, 1)], dim=-1)   # + 1 covariate
    data.u_future = torch.randn(data.num_nodes, 2, 1)
    data.y = torch.randn(data.num_nodes, 2, 3)
    torch.manual_seed(0)
    model = _loud(StructuralRNN(data.schema, 4, 3, covariates=1, **SMALL)).eval()
    with torch.no_grad():
        full = model.forecast(data, 1)
        got = torch.cat([seed_view(b, model.forecast(b, 1)) for b in OneHopLoader(data, 7)])
    assert _close(got, full)
    one = collect(model, OneHopLoader(data, 7), horizon=1)
    assert _close(one["pred"], collect(model, DataLoader([data]), horizon=1)["pred"])
    hops = evaluate(model, OneHopLoader(data, 7), metrics=["mse"], horizon=1)
    assert hops["mse"] == pytest.approx(evaluate(model, DataLoader([data]), metrics=["mse"], horizon=1)["mse"],
                                        rel=1e-5)
    fit(model, OneHopLoader(data, 7), config=TrainConfig(epochs=1, progress=False, objective="rollout",
                                                         horizon=1))


def test_collect_over_a_batch_of_windows_maps_rows_back():
    """One-hop batches of a PyG Batch of windows: collect gives each seed row's node id and its window."""
    from srnn_pyg.engine import collect
    windows = [_with_targets(_graph(num_nodes=9, seed=s, late=False), horizon=1) for s in range(3)]
    big = Batch.from_data_list(windows)
    model = _loud(_model(big.schema)).eval()
    got = collect(model, OneHopLoader(big, 5, shuffle=True), horizon=1)
    assert sorted(got["n_id"].tolist()) == list(range(big.num_nodes))
    assert torch.equal(got["batch"], big.batch[got["n_id"]])
    with torch.no_grad():
        full = model.forecast(big, 1)
    assert _close(got["pred"], full[got["n_id"]])


@pytest.mark.parametrize("config", [CONFIGS[0], CONFIGS[5]], ids=["slot", "attention"])
def test_summed_batch_gradients_match_full_graph(config):
    data = _graph(num_nodes=16)
    target = torch.randn(16, data.num_steps, 3, generator=torch.Generator().manual_seed(5))
    model = _model(data.schema, **config)
    params = [p for p in model.parameters() if p.requires_grad]
    full = torch.autograd.grad(((model(data) - target) ** 2).sum(), params, allow_unused=True)
    summed = [torch.zeros_like(p) for p in params]
    for batch in OneHopLoader(data, 4, shuffle=True):
        loss = ((seed_view(batch, model(batch)) - target[seed_nodes(batch)]) ** 2).sum()
        for acc, g in zip(summed, torch.autograd.grad(loss, params, allow_unused=True)):
            if g is not None:
                acc += g
    checked = 0
    for p, f, s in zip(params, full, summed):
        f = torch.zeros_like(p) if f is None else f
        assert torch.allclose(s, f, atol=1e-5, rtol=1e-4), (s - f).abs().max()
        checked += int(f.abs().sum() > 0)
    assert checked > len(params) // 2                            # the comparison is not all zeros


def test_teacher_forcing_loss_on_seeds_matches_full_graph():
    # The trainer's loss with seed_view applied (the proposed engine change) sums to the full graph's.
    data = _graph(num_nodes=20, horizon=3)
    data.y_mask = torch.rand(20, 3, generator=torch.Generator().manual_seed(2)) > 0.2
    model = _model(data.schema, edge_scope="edge", aggr="mean").eval()
    head = DeterministicHead(3)
    with torch.no_grad():
        inp, target, mask = teacher_forcing(data)
        s_full, c_full = head.loss_terms(model(inp), target, mask)
        s_sum = c_sum = 0.0
        for batch in OneHopLoader(data, 6):
            inp, target, mask = teacher_forcing(batch)
            s, c = head.loss_terms(*seed_view(batch, model(inp), target, mask))
            s_sum, c_sum = s_sum + s, c_sum + c
    assert float(c_sum) == float(c_full) > 0
    assert torch.allclose(s_sum, s_full, rtol=1e-5)


def test_batch_layout_and_keys():
    data = _graph(num_nodes=18, horizon=2)
    N, E = data.num_nodes, data.num_edges
    data.y_mask = torch.rand(N, 2) > 0.5
    data.pos = torch.randn(N, 2)                                  # another node-level key
    data.edge_weight = torch.rand(E)
    data.t_start = torch.tensor(7)                                # graph-level keys stay as they are
    data.scale = torch.randn(3)
    loader = OneHopLoader(data, 4)
    seen_edges = []
    for batch in loader:
        assert isinstance(batch, STData) and batch.schema is data.schema
        B, n_id, e_id = batch.batch_size, batch.n_id, batch.e_id
        seeds = n_id[:B]
        assert torch.equal(seed_nodes(batch), seeds) and seed_count(batch) == B
        # exactly the edges arriving at the seeds, mapped back through n_id / e_id
        assert torch.equal(e_id, torch.isin(data.edge_index[1], seeds).nonzero().view(-1))
        assert torch.equal(n_id[batch.edge_index], data.edge_index[:, e_id])
        assert set(n_id[B:].tolist()) == set(data.edge_index[0, e_id].tolist()) - set(seeds.tolist())
        assert len(set(n_id.tolist())) == n_id.numel()
        for key in ("x", "node_type", "node_mask", "y", "y_mask", "pos"):
            assert torch.equal(batch[key], data[key][n_id]), key
        for key in ("edge_type", "edge_mask", "edge_attr", "edge_weight"):
            assert torch.equal(batch[key], data[key][e_id]), key
        assert torch.equal(batch.t_start, data.t_start) and torch.equal(batch.scale, data.scale)
        batch.validate()
        seen_edges.append(e_id)
    assert torch.equal(torch.cat(seen_edges).sort().values, torch.arange(E))


def test_ambiguous_keys_when_nodes_equal_edges():
    data = STData(x=torch.randn(4, 3, 2), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
    data.edge_score, data.node_score = torch.arange(4.0), torch.arange(4.0) + 10
    batch = OneHopLoader(data, 1)(torch.tensor([2]))             # seed 2: edge 1 (1 -> 2)
    assert batch.n_id.tolist() == [2, 1] and batch.e_id.tolist() == [1]
    assert batch.edge_score.tolist() == [1.0] and batch.node_score.tolist() == [12.0, 11.0]


def test_graph_without_edges():
    data = STData(x=torch.randn(5, 3, 2), edge_index=torch.zeros(2, 0, dtype=torch.long))
    batches = list(OneHopLoader(data, 2))
    assert [b.n_id.tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert all(b.edge_index.shape == (2, 0) and b.e_id.numel() == 0 for b in batches)


def test_shuffle_covers_every_node_once():
    data = _graph(num_nodes=23)
    orders = []
    for _ in range(2):
        seeds = torch.cat([seed_nodes(b) for b in OneHopLoader(data, 5, shuffle=True)])
        assert torch.equal(seeds.sort().values, torch.arange(23))
        orders.append(seeds)
    assert not torch.equal(orders[0], torch.arange(23)) or not torch.equal(orders[1], torch.arange(23))
    plain = torch.cat([seed_nodes(b) for b in OneHopLoader(data, 5)])
    assert torch.equal(plain, torch.arange(23))
    assert [b.batch_size for b in OneHopLoader(data, 5)] == [5, 5, 5, 5, 3]
    assert [b.batch_size for b in OneHopLoader(data, 5, drop_last=True)] == [5, 5, 5, 5]


def test_input_nodes_subsets():
    data = _graph(num_nodes=20)
    mask = torch.zeros(20, dtype=torch.bool)
    mask[[1, 4, 5, 11, 17, 19]] = True
    model = _model(data.schema, edge_scope="edge", aggr="attention").eval()
    with torch.no_grad():
        full = model(data)
        for given in (mask, mask.nonzero().view(-1), [1, 4, 5, 11, 17, 19], torch.tensor([19, 4, 1, 17, 5, 11])):
            loader = OneHopLoader(data, 4, input_nodes=given)
            seeds = torch.cat([seed_nodes(b) for b in loader])
            assert sorted(seeds.tolist()) == [1, 4, 5, 11, 17, 19]
            got = _assemble(model, loader, full.shape)
            assert torch.allclose(got[mask], full[mask], atol=1e-5)
            assert bool(got[~mask].isnan().all())                 # nothing written elsewhere
    batch = next(iter(OneHopLoader(data, 4, input_nodes=torch.tensor([19, 4, 1, 17]))))
    assert batch.n_id[:4].tolist() == [19, 4, 1, 17] and batch.input_id.tolist() == [0, 1, 2, 3]


def test_trainer_resampled_loader_and_batch_input():
    # fit() rebuilds a shuffling loader over loader.dataset with its collate_fn and a seeded sampler.
    data = _graph(num_nodes=15)
    loader = OneHopLoader(data, 4, shuffle=True)
    rebuilt = with_sampler(loader, SeededRandomSampler(len(loader.dataset), seed=3))
    batches = list(rebuilt)
    assert all(isinstance(b, STData) and seed_count(b) == b.n_id[: b.batch_size].numel() for b in batches)
    assert sorted(torch.cat([seed_nodes(b) for b in batches]).tolist()) == list(range(15))
    first = loader.collate_fn([loader.dataset[0]])                # how fit() builds lazy layers
    assert isinstance(first, STData) and seed_nodes(first).tolist() == [0]
    # A PyG Batch of windows is a graph too: `batch` is sliced, `ptr` dropped.
    windows = Batch.from_data_list([_graph(num_nodes=6, seed=s, late=False) for s in (1, 2)])
    model = _model(windows.schema).eval()
    with torch.no_grad():
        full = model(windows)
        got = _assemble(model, OneHopLoader(windows, 5), full.shape)
    assert torch.allclose(got, full, atol=1e-5)
    one = next(iter(OneHopLoader(windows, 12)))
    assert torch.equal(one.batch, windows.batch[one.n_id]) and "ptr" not in one


def test_seed_view_leaves_other_batches_alone():
    data = _graph(num_nodes=8)
    out = torch.randn(8, 6, 3)
    assert seed_view(data, out) is out and seed_count(data) is None
    batch = OneHopLoader(data, 3)(torch.tensor([0, 1, 2]))
    rows = batch.num_nodes
    a, (b, c), d = seed_view(batch, torch.ones(rows, 2), (torch.ones(rows), None), {"k": torch.ones(rows, 1)})
    assert a.shape == (3, 2) and b.shape == (3,) and c is None and d["k"].shape == (3, 1)
    with pytest.raises(TypeError, match="seed_view"):
        seed_view(batch, "not a tensor")
    with pytest.raises(ValueError, match="OneHopLoader"):
        seed_nodes(data)


def test_repr():
    data = _graph(num_nodes=10)
    assert repr(OneHopLoader(data, 4, input_nodes=[1, 2, 3])) == "OneHopLoader(3 seeds of 10 nodes, batch_size=4)"


def test_errors_name_the_argument():
    data = _graph(num_nodes=10)
    with pytest.raises(TypeError, match="'data' must be an STData"):
        OneHopLoader(data.x, 4)
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ValueError, match=f"'batch_size' must be a positive int \\(got {bad!r}\\)"):
            OneHopLoader(data, bad)
    with pytest.raises(TypeError, match="'shuffle' must be a bool"):
        OneHopLoader(data, 4, shuffle="yes")
    cases = [
        (torch.ones(9, dtype=torch.bool), ValueError, r"\[num_nodes\] = \[10\] mask \(got \[9\]\)"),
        (torch.tensor([0.0, 1.0]), TypeError, "bools or integer node ids"),
        (torch.tensor([[0, 1]]), ValueError, "1-D tensor"),
        (torch.tensor([3, 10]), ValueError, r"\[0, 9\] \(got values in \[3, 10\]\)"),
        (torch.tensor([3, 3]), ValueError, "must not repeat"),
        (torch.zeros(10, dtype=torch.bool), ValueError, "selects no node"),
        ("all", TypeError, "'input_nodes' must be"),
    ]
    cases += [
        ([1.7, 2.2], TypeError, r"integer node ids or only bools \(a mask\) \(got float 1.7"),
        ([], ValueError, "selects no node"),
        (torch.tensor([0, 1], dtype=torch.uint8), TypeError, "uint8 'input_nodes' is ambiguous"),
        (("sensor", torch.ones(10, dtype=torch.bool)), TypeError, "not a \\(node type, nodes\\) pair"),
    ]
    for given, error, message in cases:
        with pytest.raises(error, match=message):
            OneHopLoader(data, 4, input_nodes=given)
    # a list of bools is a mask, as a bool tensor is; a NumPy array of ids works as a tensor does
    mask = [i % 3 == 0 for i in range(10)]
    assert OneHopLoader(data, 4, input_nodes=mask).input_data.node.tolist() == [0, 3, 6, 9]
    np = pytest.importorskip("numpy")
    assert OneHopLoader(data, 4, input_nodes=np.array([7, 2])).input_data.node.tolist() == [7, 2]
    assert OneHopLoader(data, 4, input_nodes=list(torch.tensor([5, 1]))).input_data.node.tolist() == [5, 1]
    with pytest.raises(TypeError, match="uint8 'input_nodes' is ambiguous"):
        OneHopLoader(data, 4, input_nodes=np.array([0, 1], dtype=np.uint8))
    with pytest.raises(ValueError, match="'filter_per_worker' must be True"):
        OneHopLoader(data, 4, filter_per_worker=False)
    bad_index = data.clone()
    bad_index.edge_index = bad_index.edge_index.clone()
    bad_index.edge_index[0, 0] = 10
    with pytest.raises(ValueError, match=r"OneHopLoader: 'data.edge_index' must hold node ids in \[0, 9\] "
                                         r"\(num_nodes = data.x.size\(0\) = 10"):
        OneHopLoader(bad_index, 4)
    batches = list(OneHopLoader(data, 4))
    with pytest.raises(ValueError, match="batch of OneHopLoader batches"):
        seed_count(Batch.from_data_list(batches[:2]))
    with pytest.raises(TypeError, match="collate_fn"):
        OneHopLoader(data, 4, collate_fn=list)
    with pytest.raises(TypeError, match="input_time"):
        OneHopLoader(data, 4, input_time=torch.zeros(10))
    bad = data.clone()
    bad.edge_attr = bad.edge_attr[:-1]
    with pytest.raises(ValueError, match=r"'data.edge_attr' must have num_edges=\d+ rows"):
        OneHopLoader(bad, 4)
    with pytest.raises(ValueError, match=r"'data.x' must be a \[num_nodes, T, F\]"):
        OneHopLoader(STData(x=torch.randn(4, 2), edge_index=torch.zeros(2, 0, dtype=torch.long)), 2)
    with pytest.raises(ValueError, match="'edge_index' must lie in"):
        OneHopSampler(torch.tensor([[0], [5]]), 3)
    with pytest.raises(NotImplementedError, match="seed nodes only"):
        OneHopSampler(data.edge_index, 10).sample_from_edges(None)


def _with_targets(data, horizon=2):
    """The graph as a window: ``y`` the next ``horizon`` frames (random)."""
    g = torch.Generator().manual_seed(5)
    data.y = torch.randn(data.num_nodes, horizon, data.x.size(-1), generator=g)
    return data


def test_evaluate_on_one_hop_batches_equals_the_full_graph():
    from torch_geometric.loader import DataLoader

    from srnn_pyg.engine import collect, evaluate
    data = _with_targets(_graph())
    model = _model(data.schema).eval()
    full = evaluate(model, DataLoader([data], batch_size=1), metrics=["loss", "tf_mse"],
                    objective="teacher_forcing")
    hops = evaluate(model, OneHopLoader(data, batch_size=7, shuffle=True), metrics=["loss", "tf_mse"],
                    objective="teacher_forcing")
    assert hops["loss"] == pytest.approx(full["loss"], rel=1e-5)
    assert hops["tf_mse"] == pytest.approx(full["tf_mse"], rel=1e-5)
    # a forecast of more than one step reads more than one hop: refused, naming why
    with pytest.raises(ValueError, match="not exact on one-hop batches"):
        evaluate(model, OneHopLoader(data, batch_size=7), metrics=["mse"], objective="rollout")
    with pytest.raises(ValueError, match="not exact on one-hop batches"):
        collect(model, OneHopLoader(data, batch_size=7))
    # one step is exact: collect gives the seed rows only, equal to the full graph's
    one = collect(model, OneHopLoader(data, batch_size=7), horizon=1)
    ref = collect(model, DataLoader([data], batch_size=1), horizon=1)
    assert one["pred"].shape == ref["pred"].shape
    assert torch.allclose(one["pred"], ref["pred"], atol=1e-5)   # no shuffle: the seeds in node order


def test_fit_trains_on_one_hop_batches():
    from srnn_pyg.engine import TrainConfig, fit
    data = _with_targets(_graph())
    model = _model(data.schema)
    before = [p.detach().clone() for p in model.parameters()]
    result = fit(model, OneHopLoader(data, batch_size=8, shuffle=True),
                 config=TrainConfig(epochs=2, lr=1e-2, progress=False, objective="teacher_forcing"))
    losses = [r["train_loss"] for r in result.history]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="not exact on one-hop batches"):
        fit(_model(data.schema), OneHopLoader(data, batch_size=8),
            config=TrainConfig(epochs=1, progress=False, objective="rollout"))


def test_truncated_bptt_on_one_hop_batches_scores_the_seeds():
    """tbptt through model.step on one-hop batches: the model advances the seeds only and the chunk losses
    are over their rows; one chunk covering the sequence is exactly whole-sequence training."""
    from srnn_pyg.engine import TrainConfig, fit
    data = _with_targets(_graph())

    def trained(tbptt):
        torch.manual_seed(0)
        model = _model(data.schema)
        fit(model, OneHopLoader(data, batch_size=8), config=TrainConfig(
            epochs=1, lr=1e-2, progress=False, objective="teacher_forcing", tbptt=tbptt, seed=0))
        return [p.detach() for p in model.parameters()]

    whole, one_chunk, chunked = trained(None), trained(10_000), trained(2)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, one_chunk))
    assert any(not torch.allclose(a, b, atol=1e-4) for a, b in zip(whole, chunked))


def test_truncated_bptt_skips_chunks_without_seed_targets():
    """A chunk whose seeds have nothing to score takes no optimiser step (weight decay included), even
    when the other rows of the batch (in-neighbours, never scored) have targets."""
    from srnn_pyg.engine import TrainConfig, fit
    data = _with_targets(_graph(late=False), horizon=1)
    seeds = torch.arange(5)
    data.node_mask = torch.ones(data.num_nodes, data.num_steps, dtype=torch.bool)
    data.node_mask[seeds] = False                                  # the seeds are never present
    model = _model(data.schema)
    before = [p.detach().clone() for p in model.parameters()]
    result = fit(model, OneHopLoader(data, batch_size=5, input_nodes=seeds), config=TrainConfig(
        epochs=1, lr=0.1, weight_decay=0.1, progress=False, objective="teacher_forcing", tbptt=2))
    assert result.history[-1]["step"] == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fit_validates_one_hop_batches_with_teacher_forcing_metrics():
    """A one-hop validation loader gets the exact metrics by default (loss and tf_mse, no rollout); asking
    for a rollout metric on it names the problem."""
    from srnn_pyg.engine import TrainConfig, fit
    data = _with_targets(_graph())
    result = fit(_model(data.schema), OneHopLoader(data, batch_size=8), OneHopLoader(data, batch_size=8),
                 config=TrainConfig(epochs=1, progress=False))
    assert {"val_loss", "val_tf_mse"} <= set(result.history[-1]) and "val_mse" not in result.history[-1]
    with pytest.raises(ValueError, match="not exact on one-hop batches"):
        fit(_model(data.schema), OneHopLoader(data, batch_size=8), OneHopLoader(data, batch_size=8),
            config=TrainConfig(epochs=1, progress=False, metrics=["mse"]))
