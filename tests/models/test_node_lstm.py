import pytest
import torch

from srnn_pyg.models import NodeLSTM, build
from srnn_pyg.testing import devices, fake_st_data


def _quadratic_forecast(model, data, horizon):
    """The slow way: re-run forward over the whole prefix for every new step."""
    x, m = data.x, data.get("node_mask")
    preds = []
    for _ in range(horizon):
        step = data.clone()
        step.x = torch.cat([x] + preds, dim=1)
        if m is not None:
            step.node_mask = torch.cat([m] + [m[:, -1:]] * len(preds), dim=1)
        preds.append(model(step)[:, -1:])
    return torch.cat(preds, dim=1)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("masks", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forecast_matches_quadratic_reference(device, residual, num_layers, masks, cell):
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=5, F=3, masks=masks, device=device)
    if masks:
        data.node_mask[0, -1] = False                     # one node gone at the last observed step
    model = NodeLSTM(None, 3, 3, hidden=12, num_layers=num_layers, residual=residual,
                     cell=cell).to(device).eval()
    out = model.forecast(data, 6)
    assert out.shape == (6, 6, 3)
    assert torch.allclose(out, _quadratic_forecast(model, data, 6), atol=1e-5)
    if masks:
        assert bool((out[0] == 0).all())


def test_forward_is_causal_and_per_node():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=5, T=6, F=3)
    model = NodeLSTM(None, 3, 2, hidden=8).eval()
    out = model(data)
    changed = data.clone()
    changed.x = data.x.clone()
    changed.x[:, 4:] += 1.0                               # the future does not change the past
    changed.x[1] += 1.0                                   # nor does another node
    out2 = model(changed)
    keep = torch.tensor([0, 2, 3, 4])
    assert torch.equal(out[:, :4][keep], out2[:, :4][keep])
    assert not torch.allclose(out[1], out2[1])
    perm = torch.tensor([3, 0, 4, 1, 2])                  # relabelling nodes permutes the output
    permuted = data.clone()
    permuted.x = data.x[perm]
    assert torch.allclose(model(permuted), out[perm], atol=1e-6)


def test_masks_zero_absent_outputs():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=5, F=3, masks=True)
    out = NodeLSTM(None, 3, 3, hidden=8)(data)
    assert bool((out[~data.node_mask] == 0).all())


def test_residual_adds_last_frame():
    data = fake_st_data(num_nodes=4, T=3, F=3)
    model = NodeLSTM(None, 3, 2, residual=True)
    torch.nn.init.zeros_(model.lin_out.weight)
    torch.nn.init.zeros_(model.lin_out.bias)
    assert torch.equal(model(data), data.x[..., :2])


def test_errors_repr_reset():
    with pytest.raises(ValueError, match="out_channels"):
        NodeLSTM(None, 3, 4, residual=True)
    with pytest.raises(ValueError, match="hidden"):
        NodeLSTM(None, 3, 3, hidden=0)
    data = fake_st_data(num_nodes=4, T=3, F=3)
    with pytest.raises(ValueError, match="out_channels"):
        NodeLSTM(None, 3, 4).forecast(data, 2)       # predicts more than it reads: nothing to feed back
    # reading more than it predicts, the third input is held (tests/models/test_baseline_covariates.py)
    assert NodeLSTM(None, 3, 2).forecast(data, 2).shape == (4, 2, 2)
    model = build("node_lstm", None, 3, 3, hidden=16, num_layers=2)
    assert repr(model) == "NodeLSTM(3, 3, hidden=16, num_layers=2, residual=False)"
    before = [p.detach().clone() for p in model.parameters()]
    model.reset_parameters()
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _gru_by_hand(model, x):
    """The GRU cell written out (one layer, PyTorch's gate order r, z, n) over the encoded inputs."""
    rnn = model.lstm
    H = model.hidden
    z_in = torch.relu(model.encoder(x))                                  # [N, T, H]
    h = x.new_zeros(x.size(0), H)
    outs = []
    for t in range(x.size(1)):
        gi = z_in[:, t] @ rnn.weight_ih_l0.t() + rnn.bias_ih_l0
        gh = h @ rnn.weight_hh_l0.t() + rnn.bias_hh_l0
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        u = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        h = (1 - u) * n + u * h
        outs.append(h)
    h = torch.stack(outs, dim=1)
    return model.lin_out(torch.relu(model.decoder(h)))


def test_gru_cell_is_a_gru_and_is_recorded():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=4, T=5, F=3)
    model = NodeLSTM(None, 3, 3, hidden=6, cell="gru").eval()
    assert isinstance(model.lstm, torch.nn.GRU)
    assert torch.allclose(model(data), _gru_by_hand(model, data.x), atol=1e-5)
    lstm = NodeLSTM(None, 3, 3, hidden=6)
    assert sum(p.numel() for p in model.lstm.parameters()) * 4 == sum(p.numel() for p in lstm.lstm.parameters()) * 3
    assert repr(model) == "NodeLSTM(3, 3, hidden=6, num_layers=1, residual=False, cell='gru')"
    with pytest.raises(ValueError, match="'cell' must be 'lstm' or 'gru' \\(got 'rnn'\\)"):
        NodeLSTM(None, 3, 3, cell="rnn")
