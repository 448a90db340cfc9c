"""StructuralRNN's autoregressive skip (``ar_lags``): the same math as the loop
reference, carried across calls, batched, on one-hop batches, refused where
it cannot be exact."""
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.loader import OneHopLoader, seed_nodes, seed_view
from srnn_pyg.models import StructuralRNN
from srnn_pyg.testing import devices, fake_schema, fake_st_data, reference_forecast, reference_forward

SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))


def _model(schema, F=3, out=None, lags=3, **kw):
    """A model whose skip weights are random (they start at zero), so that a
    wrong lag order, channel order or mask would show."""
    torch.manual_seed(0)
    model = StructuralRNN(schema, F, out or F, ar_lags=lags, **{**SMALL, **kw}).eval()
    with torch.no_grad():
        model.ar.weight.normal_(0.0, 0.5)
    return model


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("lags", [1, 3, 7])                   # 7: longer than the sequence
@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("config", [dict(edge_scope="slot"), dict(edge_scope="edge", aggr="attention",
                                                                  residual=True)],
                         ids=["slot", "edge-attention-residual"])
def test_matches_reference(device, lags, masks, config):
    schema = fake_schema(with_relations=True)
    data = fake_st_data(9, 5, 3, schema=schema, masks=masks, generator=torch.Generator().manual_seed(1))
    model = _model(schema, lags=lags, **config).to(device)
    data = data.to(device)
    with torch.no_grad():
        assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5)
        assert torch.allclose(model.forecast(data, 4), reference_forecast(model, data, 4), atol=1e-5)


def test_absent_frames_with_nan_read_as_zeros():
    schema = fake_schema()
    data = fake_st_data(7, 6, 3, schema=schema, masks=True, generator=torch.Generator().manual_seed(2))
    absent = ~data.node_mask
    assert bool(absent.any())
    data.x[absent] = float("nan")                   # absent frames may hold anything
    model = _model(schema, lags=4)
    with torch.no_grad():
        out = model(data)
        clean = data.clone()
        clean.x = torch.where(absent.unsqueeze(-1), 0.0, clean.x)
        assert torch.isfinite(out).all()
        assert torch.allclose(out, reference_forward(model, clean), atol=1e-5)


def test_pure_autoregression_when_the_decoders_say_nothing():
    # decoders' last layers at zero: the output is exactly the linear map of the last lags
    schema = fake_schema()
    data = fake_st_data(6, 5, 2, schema=schema, generator=torch.Generator().manual_seed(3))
    model = _model(schema, F=2, out=2, lags=2)
    with torch.no_grad():
        for mlp in model.decoders:
            mlp.lins[-1].weight.zero_()
            mlp.lins[-1].bias.zero_()
        out = model(data)
    W = model.ar.weight.detach().view(2, 2, 2)                       # [out, channel, lag (oldest first)]
    x = data.x
    prev = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)
    want = torch.einsum("oc,ntc->nto", W[:, :, 0], prev) + torch.einsum("oc,ntc->nto", W[:, :, 1], x)
    assert torch.allclose(out, want, atol=1e-5)


def test_starts_as_the_model_without_it():
    schema = fake_schema()
    data = fake_st_data(7, 5, 3, schema=schema, masks=True, generator=torch.Generator().manual_seed(4))
    plain = StructuralRNN(schema, 3, 3, **SMALL).eval()
    skip = StructuralRNN(schema, 3, 3, ar_lags=4, **SMALL).eval()
    assert float(skip.ar.weight.detach().abs().sum()) == 0.0
    missing, unexpected = skip.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["ar.weight"] and not unexpected
    with torch.no_grad():
        assert torch.allclose(skip(data), plain(data))
        assert torch.allclose(skip.forecast(data, 3), plain.forecast(data, 3))


@pytest.mark.parametrize("lags", [1, 2, 5])
def test_step_in_chunks_equals_one_forward(lags):
    schema = fake_schema()
    data = fake_st_data(8, 7, 3, schema=schema, masks=True, generator=torch.Generator().manual_seed(5))
    model = _model(schema, lags=lags)
    with torch.no_grad():
        full = model(data)
        outs, state = [], None
        for a, b in ((0, 2), (2, 3), (3, 7)):
            part = data.clone()
            part.x, part.node_mask, part.edge_mask = data.x[:, a:b], data.node_mask[:, a:b], data.edge_mask[:, a:b]
            out, state = model.step(part, state)
            outs.append(out)
            state = state.detach()
            assert (state.past_x is None) == (lags == 1)
            if lags > 1:
                assert state.past_x.shape == (8, lags - 1, 3)
    assert torch.allclose(torch.cat(outs, dim=1), full, atol=1e-5)


def test_batch_equals_graphs_one_by_one():
    schema = fake_schema(with_relations=True)
    graphs = [fake_st_data(n, 6, 3, schema=schema, masks=True, generator=torch.Generator().manual_seed(n))
              for n in (5, 8, 11)]
    model = _model(schema, lags=3)
    batch = next(iter(DataLoader(graphs, batch_size=3)))
    with torch.no_grad():
        assert torch.allclose(model(batch), torch.cat([model(g) for g in graphs]), atol=1e-5)
        assert torch.allclose(model.forecast(batch, 3), torch.cat([model.forecast(g, 3) for g in graphs]),
                              atol=1e-5)


def test_one_hop_batches_match_the_full_graph():
    schema = fake_schema()
    data = fake_st_data(20, 5, 3, schema=schema, masks=True, generator=torch.Generator().manual_seed(6))
    model = _model(schema, lags=3)
    with torch.no_grad():
        full = model(data)
        got = torch.full_like(full, float("nan"))
        for b in OneHopLoader(data, 6, shuffle=True):
            got[seed_nodes(b)] = seed_view(b, model(b))
    assert torch.allclose(got, full, atol=1e-5)


def test_gradient_reaches_the_skip_and_trains_it():
    # a pure AR(2) series: the skip alone can fit it; training lowers the loss and moves the weights
    torch.manual_seed(0)
    schema = fake_schema()
    data = fake_st_data(6, 12, 1, schema=schema, generator=torch.Generator().manual_seed(7))
    x = torch.zeros(6, 13, 1)
    x[:, :2] = torch.randn(6, 2, 1)
    for t in range(2, 13):
        x[:, t] = 0.6 * x[:, t - 1] - 0.3 * x[:, t - 2]
    data.x, target = x[:, :12], x[:, 1:]
    model = StructuralRNN(schema, 1, 1, ar_lags=2, **SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(data), target)
        loss.backward()
        losses.append(float(loss))
        opt.step()
    assert losses[-1] < 0.1 * losses[0]
    assert float(model.ar.weight.detach().abs().sum()) > 0.1


def test_bad_arguments():
    schema = fake_schema()
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="'ar_lags' must be an int >= 0"):
            StructuralRNN(schema, 3, 3, ar_lags=bad)
    with pytest.raises(ValueError, match="task='regression'"):
        StructuralRNN(schema, 3, 4, task="classification", ar_lags=2)
    assert StructuralRNN(schema, 3, 3).ar is None
