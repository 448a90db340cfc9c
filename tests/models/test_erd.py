import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg.models import ERD, build
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
@pytest.mark.parametrize("residual", [False, True])
def test_batch_equals_graphs_one_by_one(device, residual):
    torch.manual_seed(0)
    graphs = [_graph(5, s, device=device) for s in range(3)]
    batch = Batch.from_data_list(graphs)
    model = ERD(None, 3, 3, hidden=12, residual=residual).to(device).eval()
    out, fc = model(batch), model.forecast(batch, 4)
    for i, g in enumerate(graphs):
        assert torch.allclose(out[5 * i:5 * (i + 1)], model(g), atol=1e-5)
        assert torch.allclose(fc[5 * i:5 * (i + 1)], model.forecast(g, 4), atol=1e-5)
    assert torch.allclose(fc, _quadratic_forecast(model, batch, 4), atol=1e-5)


def test_graphs_in_a_batch_do_not_influence_each_other():
    torch.manual_seed(0)
    a, b = _graph(4, 0), _graph(4, 1)
    model = ERD(None, 3, 3, hidden=8).eval()
    out = model(Batch.from_data_list([a, b]))
    b.x = b.x + torch.randn_like(b.x)
    out2 = model(Batch.from_data_list([a, b]))
    assert torch.equal(out[:4], out2[:4])
    assert not torch.allclose(out[4:], out2[4:])


def test_mixed_sizes_raise():
    model = ERD(None, 3, 3, hidden=8)
    with pytest.raises(ValueError, match="same number of nodes"):
        model(Batch.from_data_list([_graph(4, 0), _graph(5, 1)]))


def test_num_nodes_fixed_at_construction_or_by_first_batch():
    fixed = ERD(None, 3, 3, num_nodes=4, hidden=8)
    assert fixed.lin_out.out_features == 12
    with pytest.raises(ValueError, match="num_nodes"):
        fixed(_graph(5, 0))
    lazy = ERD(None, 3, 3, hidden=8)
    assert lazy.num_nodes is None and len(list(lazy.parameters())) == 0
    lazy(_graph(6, 0))
    assert lazy.num_nodes == 6 and "num_nodes=6" in repr(lazy)
    with pytest.raises(ValueError, match="num_nodes"):
        lazy.forecast(_graph(4, 0), 2)
    fresh = ERD(None, 3, 3, hidden=8)                    # learns num_nodes from the checkpoint
    fresh.load_state_dict(lazy.state_dict())
    g = _graph(6, 1)
    assert torch.equal(fresh(g), lazy(g))


def test_paper_sizes():
    model = build("erd", None, 3, 3, num_nodes=4)
    assert [(lin.in_features, lin.out_features) for lin in model.encoder] == [(12, 500), (500, 500)]
    assert (model.lstm.input_size, model.lstm.hidden_size, model.lstm.num_layers) == (500, 1000, 2)
    assert [(lin.in_features, lin.out_features) for lin in model.decoder] == [(1000, 500), (500, 100)]
    assert (model.lin_out.in_features, model.lin_out.out_features) == (100, 12)
    assert repr(model) == ("ERD(3, 3, num_nodes=4, encoder_channels=(500, 500), lstm_channels=1000, "
                           "num_layers=2, decoder_channels=(500, 100))")


def test_errors():
    model = ERD(None, 3, 3, hidden=8)
    masked = fake_st_data(num_nodes=4, T=5, F=3, masks=True)
    with pytest.raises(ValueError, match="absent"):
        model(masked)
    with pytest.raises(ValueError, match="out_channels"):
        ERD(None, 3, 2, hidden=8).forecast(_graph(4, 0), 2)
    with pytest.raises(ValueError, match="encoder_channels"):
        ERD(None, 3, 3, encoder_channels=())
    with pytest.raises(ValueError, match="num_nodes"):
        ERD(None, 3, 3, num_nodes=0)
