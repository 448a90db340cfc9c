"""Review of per-node LinearAR on OneHopLoader batches whose graph is a batch of
windows (docs/scaling.md, "Many windows of one graph": ``Batch.from_data_list``
given to the loader). A per-node model has one coefficient set per node index
within a graph (``num_nodes`` nodes per window), so on such one-hop batches a
row's index is its ``n_id`` within its window, not its id in the batched graph:
the fit over the loader equals the fit over the batched graph, and the model
fitted on the batched graph forecasts its one-hop batches."""
import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg.loader import OneHopLoader
from srnn_pyg.models import LinearAR
from srnn_pyg.testing import fake_st_data

N, T, F, H, W = 12, 6, 2, 3, 3


def _windows():
    out = []
    for s in range(W):
        g = torch.Generator().manual_seed(10 + s)
        d = fake_st_data(num_nodes=N, T=T, F=F, horizon=H, masks=True, generator=g)
        d.edge_attr, d.edge_mask = None, None
        d.y_mask = torch.rand(N, H, generator=g) > 0.2
        out.append(d)
    return Batch.from_data_list(out)


def test_per_node_fit_on_one_hop_batches_of_a_batch_of_windows_equals_the_batched_fit():
    big = _windows()
    whole = LinearAR(None, F, F, lags=2, per_node=True, num_nodes=N).fit_closed_form(big)
    loader = OneHopLoader(big, batch_size=5, shuffle=True)
    parts = LinearAR(None, F, F, lags=2, per_node=True, num_nodes=N).fit_closed_form(loader)
    assert torch.allclose(parts.weight, whole.weight, atol=1e-4)
    assert torch.allclose(parts.bias, whole.bias, atol=1e-4)


def test_per_node_model_of_the_batched_graph_forecasts_its_one_hop_batches():
    big = _windows()
    model = LinearAR(None, F, F, lags=2, per_node=True, num_nodes=N).fit_closed_form(big)
    full, steps = model.forecast(big, H), model(big)
    for batch in OneHopLoader(big, batch_size=5, shuffle=True):
        assert torch.allclose(model.forecast(batch, H), full[batch.n_id], atol=1e-5)
        assert torch.allclose(model(batch), steps[batch.n_id], atol=1e-5)


def test_per_node_one_hop_batch_of_windows_of_another_size_is_refused():
    big = _windows()
    loader = OneHopLoader(big, batch_size=5, shuffle=True)
    # one coefficient set per (window, sensor) is not what per_node means; the batched graph refuses it too
    with pytest.raises(ValueError, match=f"'num_nodes' is {W * N}"):
        LinearAR(None, F, F, lags=2, per_node=True, num_nodes=W * N).fit_closed_form(big)
    with pytest.raises(ValueError, match=f"'num_nodes' is {W * N}"):
        LinearAR(None, F, F, lags=2, per_node=True, num_nodes=W * N).fit_closed_form(loader)
    with pytest.raises(ValueError, match="num_nodes=None"):
        LinearAR(None, F, F, lags=2, per_node=True).fit_closed_form(loader)


def test_a_collated_batch_of_one_hop_batches_is_refused_by_name():
    """One-hop batches collated together (``Batch.from_data_list`` of them) have no single block of seed rows:
    each model that reads the seeds refuses them, and the error names the model."""
    from srnn_pyg.models import SeasonalMean, StructuralRNN

    d = fake_st_data(num_nodes=N, T=T, F=F, horizon=H, generator=torch.Generator().manual_seed(3))
    d.t_start = torch.tensor([0])
    parts = list(OneHopLoader(d, batch_size=5))
    both = Batch.from_data_list(parts[:2])
    pooled, per_node = LinearAR(None, F, F, lags=2), LinearAR(None, F, F, lags=2, per_node=True, num_nodes=N)
    for model in (pooled, per_node):
        with pytest.raises(ValueError, match=r"^LinearAR: a batch of OneHopLoader batches \(batch_size="):
            model.fit_closed_form(both)
    seasonal = SeasonalMean(d.schema, F, F, period=4, num_nodes=N)
    with pytest.raises(ValueError, match=r"^SeasonalMean: a batch of OneHopLoader batches"):
        seasonal.fit_closed_form(both)
    srnn = StructuralRNN(d.schema, F, F)
    with pytest.raises(ValueError, match=r"^StructuralRNN: a batch of OneHopLoader batches"):
        srnn(both)
