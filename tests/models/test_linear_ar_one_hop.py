"""LinearAR on OneHopLoader batches: the closed-form fit counts each batch's
seed nodes only (its other nodes are other batches' seeds), so one pass over
the loader fits what the whole graph fits; per-node coefficients are indexed
by the node's id in the whole graph (``n_id``)."""
import pytest
import torch

from srnn_pyg.loader import OneHopLoader
from srnn_pyg.models import LinearAR, StructuralRNN
from srnn_pyg.testing import fake_schema, fake_st_data

N, T, F, H = 30, 6, 2, 3


def _graph():
    d = fake_st_data(num_nodes=N, T=T, F=F, horizon=H, generator=torch.Generator().manual_seed(4))
    d.edge_attr = None
    return d


def test_pooled_fit_on_one_hop_batches_equals_the_whole_graph():
    data = _graph()
    whole = LinearAR(None, F, F, lags=2).fit_closed_form(data)
    loader = OneHopLoader(data, batch_size=7, shuffle=True)
    assert any(b.num_nodes > b.batch_size for b in loader)     # the batches do hold context nodes
    parts = LinearAR(None, F, F, lags=2).fit_closed_form(loader)
    assert torch.allclose(parts.weight, whole.weight, atol=1e-5)
    assert torch.allclose(parts.bias, whole.bias, atol=1e-5)


def test_per_node_fit_and_forecast_index_the_whole_graph():
    data = _graph()
    whole = LinearAR(None, F, F, lags=2, per_node=True, num_nodes=N).fit_closed_form(data)
    loader = OneHopLoader(data, batch_size=8, shuffle=True)
    parts = LinearAR(None, F, F, lags=2, per_node=True, num_nodes=N).fit_closed_form(loader)
    assert torch.allclose(parts.weight, whole.weight, atol=1e-4)
    assert torch.allclose(parts.bias, whole.bias, atol=1e-4)
    full = whole.forecast(data, H)
    for batch in loader:
        seeds = batch.n_id[:batch.batch_size]
        assert torch.allclose(whole.forecast(batch, H)[:batch.batch_size], full[seeds], atol=1e-5)
    with pytest.raises(ValueError, match="num_nodes=None"):
        LinearAR(None, F, F, lags=2, per_node=True).fit_closed_form(loader)
    with pytest.raises(ValueError, match="'num_nodes' is 5"):
        LinearAR(None, F, F, lags=2, per_node=True, num_nodes=5).fit_closed_form(loader)


def test_linear_start_from_one_hop_batches():
    data = _graph()
    schema = fake_schema()

    def start(source):
        torch.manual_seed(0)
        model = StructuralRNN(schema, F, F, ar_lags=2, node_hidden=8, edge_hidden=8, residual=True)
        return model.init_linear(source)

    a, b = start(data), start(OneHopLoader(data, batch_size=9, shuffle=True))
    assert torch.allclose(a.ar.weight, b.ar.weight, atol=1e-5)


def test_seasonal_mean_on_one_hop_batches():
    """SeasonalMean indexes a one-hop batch's rows by node id, reads each row's window's t_start, and its
    fit (each (node, step) once) equals the whole graph's."""
    from srnn_pyg.models import SeasonalMean
    data = _graph()
    data.t_start = torch.tensor([5])
    whole = SeasonalMean(None, F, F, period=4, num_nodes=N).fit_closed_form(data)
    loader = OneHopLoader(data, batch_size=7, shuffle=True)
    parts = SeasonalMean(None, F, F, period=4, num_nodes=N).fit_closed_form(loader)
    assert torch.allclose(parts.mean, whole.mean, atol=1e-6) and torch.equal(parts.count, whole.count)
    full = whole.forecast(data, H)
    for batch in loader:
        assert torch.allclose(whole.forecast(batch, H)[:batch.batch_size], full[batch.n_id[:batch.batch_size]])
    with pytest.raises(ValueError, match="num_nodes=None"):
        SeasonalMean(None, F, F, period=4).fit_closed_form(loader)
