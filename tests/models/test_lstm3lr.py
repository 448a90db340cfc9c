import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg.models import LSTM3LR, build
from srnn_pyg.testing import devices, fake_st_data


def _graph(n, seed, T=5, F=3, device="cpu"):
    return fake_st_data(num_nodes=n, T=T, F=F, generator=torch.Generator().manual_seed(seed), device=device)


def _quadratic_forecast(model, data, horizon):
    """The slow way: re-run forward over the whole prefix for every new step."""
    preds = []
    for _ in range(horizon):
        step = data.clone()
        step.x = torch.cat([data.x] + preds, dim=1)
        preds.append(model(step)[:, -1:])
    return torch.cat(preds, dim=1)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("encoder_channels", [0, 12])
def test_batch_equals_graphs_one_by_one(device, encoder_channels):
    torch.manual_seed(0)
    graphs = [_graph(5, s, device=device) for s in range(3)]
    batch = Batch.from_data_list(graphs)
    model = LSTM3LR(None, 3, 3, hidden=12, encoder_channels=encoder_channels).to(device).eval()
    out, fc = model(batch), model.forecast(batch, 4)
    for i, g in enumerate(graphs):
        assert torch.allclose(out[5 * i:5 * (i + 1)], model(g), atol=1e-5)
        assert torch.allclose(fc[5 * i:5 * (i + 1)], model.forecast(g, 4), atol=1e-5)
    assert torch.allclose(fc, _quadratic_forecast(model, batch, 4), atol=1e-5)


def test_graphs_in_a_batch_do_not_influence_each_other():
    torch.manual_seed(0)
    a, b = _graph(4, 0), _graph(4, 1)
    model = LSTM3LR(None, 3, 3, hidden=8).eval()
    out = model(Batch.from_data_list([a, b]))
    b.x = b.x + torch.randn_like(b.x)
    out2 = model(Batch.from_data_list([a, b]))
    assert torch.equal(out[:4], out2[:4])
    assert not torch.allclose(out[4:], out2[4:])


def test_mixed_sizes_raise():
    model = LSTM3LR(None, 3, 3, hidden=8)
    with pytest.raises(ValueError, match="same number of nodes"):
        model.forecast(Batch.from_data_list([_graph(4, 0), _graph(3, 1)]), 2)


def test_num_nodes_and_state_dict():
    with pytest.raises(ValueError, match="num_nodes"):
        LSTM3LR(None, 3, 3, num_nodes=4, hidden=8)(_graph(5, 0))
    lazy = LSTM3LR(None, 3, 3, hidden=8)
    lazy(_graph(6, 0))
    fresh = LSTM3LR(None, 3, 3, hidden=8)
    fresh.load_state_dict(lazy.state_dict())
    g = _graph(6, 1)
    assert torch.equal(fresh.forecast(g, 3), lazy.forecast(g, 3))


def test_paper_sizes():
    model = build("lstm3lr", None, 3, 3, num_nodes=4)
    assert [(lin.in_features, lin.out_features) for lin in model.encoder] == [(12, 500)]
    assert (model.lstm.input_size, model.lstm.hidden_size, model.lstm.num_layers) == (500, 1000, 3)
    assert len(model.decoder) == 0
    assert (model.lin_out.in_features, model.lin_out.out_features) == (1000, 12)
    assert repr(model) == "LSTM3LR(3, 3, num_nodes=4, encoder_channels=500, lstm_channels=1000, num_layers=3)"
    direct = LSTM3LR(None, 3, 3, num_nodes=4, encoder_channels=0)
    assert len(direct.encoder) == 0 and direct.lstm.input_size == 12


def test_errors():
    masked = fake_st_data(num_nodes=4, T=5, F=3, masks=True)
    with pytest.raises(ValueError, match="absent"):
        LSTM3LR(None, 3, 3, hidden=8).forecast(masked, 2)
    with pytest.raises(ValueError, match="encoder_channels"):
        LSTM3LR(None, 3, 3, encoder_channels=-1)
    with pytest.raises(ValueError, match="out_channels"):
        LSTM3LR(None, 3, 4, residual=True)
