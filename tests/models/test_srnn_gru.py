"""cell="gru": the S-RNN with GRU units everywhere, against the loop reference
(whose GRU is written out gate by gate), and through every path that carries
a state: batches, chunks, the stepwise forecast, the chunked large-graph
rollout, one-hop batches, checkpointing, truncated BPTT, saving."""
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import fit, load_model, save_model
from srnn_pyg.loader import OneHopLoader
from srnn_pyg.models import StructuralRNN
from srnn_pyg.models.srnn_chunked import forecast_in_chunks
from srnn_pyg.nn import RNNBlock
from srnn_pyg.testing import devices, fake_schema, fake_st_data, reference_forecast, reference_forward

SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,), cell="gru", init="default")

CONFIGS = [
    dict(edge_scope="slot"),
    dict(edge_scope="edge", aggr="mean", spatial_features="concat_attr", edge_channels=2),
    dict(edge_scope="edge", aggr="attention", num_layers=2),
    dict(edge_scope="slot", edge_state="appear", num_layers=2),     # packed sequences: states start late
    dict(edge_scope="edge", aggr="sum", edge_state="start", residual=True),
    dict(edge_scope="slot", spatial=False),
]
IDS = ["-".join(f"{v}" for v in c.values()) for c in CONFIGS]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _graph(num_nodes=9, T=5, seed=1, masks=True):
    data = fake_st_data(num_nodes, T, 3, schema=fake_schema(with_relations=True), masks=masks, edge_attr_dim=2,
                        generator=_gen(seed))
    if masks:                                               # some edges appear late
        late = torch.rand(data.num_edges, generator=_gen(seed + 100)) < 0.35
        data.edge_mask[late, : T // 2] = False
    return data


def _model(schema, **kw):
    torch.manual_seed(0)
    return StructuralRNN(schema, 3, 3, **{**SMALL, **kw}).eval()


def test_every_unit_is_a_gru():
    m = _model(fake_schema(with_relations=True), num_layers=2)
    blocks = [b for b in m.modules() if isinstance(b, RNNBlock)]
    assert blocks and all(isinstance(b.lstm, torch.nn.GRU) and b.lstm.num_layers == 2 for b in blocks)
    lstm = StructuralRNN(m.schema, 3, 3, **{**SMALL, "cell": "lstm", "num_layers": 2})
    # three gates against four: the GRU has 3/4 of the LSTM's recurrent weights
    n = lambda model: sum(p.numel() for b in model.modules() if isinstance(b, RNNBlock)  # noqa: E731
                          for p in b.lstm.parameters())
    assert 4 * n(m) == 3 * n(lstm)
    h, c = blocks[0].zero_state(4, torch.zeros(1))
    assert h.shape == (2, 4, blocks[0].hidden) and c.shape == (2, 4, 0)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("masks", [False, True])
def test_matches_reference(device, config, masks):
    data = _graph(masks=masks).to(device)
    model = _model(data.schema, **config).to(device)
    with torch.no_grad():
        out, hid = model(data, return_hidden=True)
        ref_out, ref_hid = reference_forward(model, data, return_hidden=True)
        assert torch.allclose(out, ref_out, atol=1e-5)
        assert torch.allclose(hid, ref_hid, atol=1e-5)
        pred, ref = model.forecast(data, 4), reference_forecast(model, data, 4)
        assert torch.allclose(pred, ref, atol=1e-5)


def test_a_different_gru_would_be_caught():
    # the gates are not interchangeable: swapping the reset and update gates of one unit changes the
    # output, and the reference (which reads the weights by PyTorch's gate order r, z, n) follows
    data = _graph()
    model = _model(data.schema)
    gru = model.layer.node_rnns[0].lstm
    with torch.no_grad():
        base = model(data)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            r, z, n = getattr(gru, name).chunk(3)
            getattr(gru, name).copy_(torch.cat([z.clone(), r.clone(), n]))
        assert not torch.allclose(model(data), base, atol=1e-3)
        assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_batch_chunks_and_large_graph_rollout(config):
    graphs = [_graph(n, T=6, seed=n) for n in (5, 8, 11)]
    model = _model(graphs[0].schema, **config)
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    with torch.no_grad():
        whole = model(batch)
        assert torch.allclose(whole, torch.cat([model(g) for g in graphs]), atol=1e-5)
        state, outs = None, []
        for a, b in ((0, 2), (2, 3), (3, 6)):                  # a stream in chunks equals one call
            part = batch.clone()
            part.x, part.node_mask, part.edge_mask = batch.x[:, a:b], batch.node_mask[:, a:b], batch.edge_mask[:, a:b]
            part.edge_attr = batch.edge_attr[:, a:b]
            out, state = model.step(part, state)
            outs.append(out)
        assert torch.allclose(torch.cat(outs, 1), whole, atol=1e-5)
        full = model.forecast(batch, 4)
    for chunk_size in (1, 7):
        assert torch.allclose(forecast_in_chunks(model, batch, 4, chunk_size=chunk_size), full, atol=1e-5)


def test_one_hop_batches_give_the_seeds_their_full_graph_outputs():
    data = _graph(20, T=6)
    model = _model(data.schema, edge_scope="edge", aggr="attention")
    with torch.no_grad():
        full = model(data)
        got = torch.empty_like(full)
        for batch in OneHopLoader(data, 6, shuffle=True):
            got[batch.n_id[: batch.batch_size]] = model(batch)[: batch.batch_size]
    assert torch.allclose(got, full, atol=1e-5)


def test_checkpointing_tbptt_and_saving(tmp_path):
    data = _graph(T=6)
    model = _model(data.schema, num_layers=2, dropout=0.2).train()

    def grads():
        model.zero_grad()
        torch.manual_seed(3)
        model(data).pow(2).sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    model.gradient_checkpointing(True)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, grads()))
    model.gradient_checkpointing(False)
    windows = [fake_st_data(num_nodes=6, T=9, F=3, horizon=3, generator=_gen(s)) for s in range(4)]
    m = _model(windows[0].schema)
    before = [p.detach().clone() for p in m.parameters()]
    fit(m, DataLoader(windows, batch_size=2), epochs=1, tbptt=4, progress=False, seed=0)
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))
    back = load_model(save_model(m.eval(), tmp_path / "gru.pt")).eval()
    assert back.layer.cell == "gru"
    with torch.no_grad():
        assert torch.equal(back(windows[0]), m(windows[0]))


def test_bad_cell_is_named():
    with pytest.raises(ValueError, match="cell"):
        _model(fake_schema(), cell="rnn")
    with pytest.raises(ValueError, match="grad_clip"):
        RNNBlock(2, 3, cell="gru", grad_clip=25.0)


@pytest.mark.parametrize("kw", [dict(fused_lstm=True), dict(temporal_lstm=False, node_input_x=False),
                                dict(variant="paper"), dict(init="uniform", edge_scope="edge", aggr="attention")],
                         ids=["fused", "temporal-fc", "paper", "uniform-attention"])
def test_official_items_with_gru_chunks_and_large_graph_rollout(kw):
    # the items the loop reference does not model: a stream in chunks equals one call, and the chunked
    # large-graph rollout equals forecast
    data = _graph(12, T=6)
    model = _model(data.schema, **{"init": "default", **kw})
    assert all(isinstance(b.lstm, torch.nn.GRU) for b in model.modules() if isinstance(b, RNNBlock) and b.stateful)
    with torch.no_grad():
        whole = model(data)
        state, outs = None, []
        for a, b in ((0, 1), (1, 4), (4, 6)):
            part = data.clone()
            part.x, part.node_mask, part.edge_mask = data.x[:, a:b], data.node_mask[:, a:b], data.edge_mask[:, a:b]
            part.edge_attr = data.edge_attr[:, a:b]
            out, state = model.step(part, state)
            outs.append(out)
        assert torch.allclose(torch.cat(outs, 1), whole, atol=1e-5)
        full = model.forecast(data, 4)
    assert torch.allclose(forecast_in_chunks(model, data, 4, chunk_size=5), full, atol=1e-5)
