"""NodeLSTM, GConvGRU and STGCN read what S-RNN reads: inputs they do not
predict (covariates known in advance, derived velocities, held channels),
rebuilt in a forecast by the same rule. Each forecast is checked against a
loop that builds every fed-back frame by hand (not through ``Feedback``)."""
import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg import STData
from srnn_pyg.engine.objectives import feedback_of, teacher_forcing
from srnn_pyg.models import GConvGRU, NodeLSTM, STGCN
from srnn_pyg.testing import fake_st_data

N, T, H = 6, 7, 4


def _window(F: int, C: int, masks: bool = False, seed: int = 0) -> STData:
    g = torch.Generator().manual_seed(seed)
    d = fake_st_data(num_nodes=N, T=T, F=F, masks=masks, generator=g)
    del d.edge_attr
    d.u_future = torch.randn(N, 3 * H, C, generator=g) if C else None
    return d


def _frame(pred, last, d, i, out, derived, scale, C):
    """The input frame of future step ``i`` by hand: the prediction, its velocity against the frame
    before, the held channels of the last observed frame, the covariates of step ``i``."""
    parts = [pred]
    if derived:
        parts.append((pred - last[..., :out]) * scale)
    lo = 2 * out if derived else out
    hi = d.x.size(-1) - C
    if hi > lo:
        parts.append(d.x[:, -1:, lo:hi])
    if C:
        parts.append(d.u_future[:, i:i + 1])
    return torch.cat(parts, dim=-1)


def _loop_forecast(model, d, horizon, out, derived=None, scale=1.0, C=0):
    """Roll out with the model's one-step ``forward`` on the growing sequence."""
    x, preds = d.x, []
    for i in range(horizon):
        step = model(STData(x=x, edge_index=d.edge_index, node_mask=None))[:, -1:]
        preds.append(step)
        x = torch.cat([x, _frame(step, x[:, -1:], d, i, out, derived, scale, C)], dim=1)
    return torch.cat(preds, dim=1)


@pytest.mark.parametrize("cls,kw", [(NodeLSTM, dict(hidden=8, residual=True)), (NodeLSTM, dict(hidden=8)),
                                    (GConvGRU, dict(hidden=8, K=2))])
@pytest.mark.parametrize("layout", ["covariates", "held", "derived", "all"])
def test_recurrent_forecast_rebuilds_inputs_like_a_hand_loop(cls, kw, layout):
    out, C, derived, scale = {"covariates": (1, 2, None, 1.0), "held": (1, 0, None, 1.0),
                              "derived": (2, 0, "velocity", 3.0), "all": (1, 2, "velocity", 0.5)}[layout]
    F = out * (2 if derived else 1) + C + (1 if layout in ("held", "all") else 0)
    torch.manual_seed(0)
    model = cls(None, F, out, covariates=C, derived=derived, velocity_scale=scale, **kw).eval()
    d = _window(F, C)
    with torch.no_grad():
        got = model.forecast(d, H)
        want = _loop_forecast(model, d, H, out, derived, scale, C)
    assert got.shape == (N, H, out)
    assert torch.allclose(got, want, atol=1e-5)
    if C:  # the future covariates move every step after the first, not the first
        moved = d.clone()
        moved.u_future = d.u_future + 1.0
        with torch.no_grad():
            other = model.forecast(moved, H)
        assert torch.allclose(other[:, 0], got[:, 0]) and not torch.allclose(other[:, 1:], got[:, 1:])


def test_node_lstm_constant_velocity_residual():
    """``residual="velocity"``: the change from p_t + v_t / velocity_scale, in forward and in a forecast,
    against the hand loop; it needs the derived velocities."""
    torch.manual_seed(5)
    model = NodeLSTM(None, 5, 2, hidden=8, residual="velocity", derived="velocity", velocity_scale=4.0,
                     covariates=1).eval()
    d = _window(5, 1)
    with torch.no_grad():
        got = model.forecast(d, H)
        want = _loop_forecast(model, d, H, 2, "velocity", 4.0, 1)
        plain = NodeLSTM(None, 5, 2, hidden=8, residual=True, derived="velocity", velocity_scale=4.0, covariates=1)
        plain.load_state_dict(model.state_dict())
        step = model(d)[:, -1] - plain.eval()(d)[:, -1]                  # the extrapolation's extra term
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(step, d.x[:, -1, 2:4] / 4.0, atol=1e-6)
    with pytest.raises(ValueError, match="derived='velocity'"):
        NodeLSTM(None, 5, 2, residual="velocity")
    with pytest.raises(ValueError, match="'residual' must be a bool or 'velocity'"):
        NodeLSTM(None, 5, 2, residual="position")
    assert "residual='velocity'" in repr(model)


@pytest.mark.parametrize("cls", [NodeLSTM, GConvGRU])
def test_teacher_forcing_inputs_are_the_forecasts_inputs(cls):
    """The trainer's teacher-forcing inputs (``feedback_of(model)``) built from the model's own forecast
    give back that forecast through ``forward``: training sees the inputs a forecast will see."""
    torch.manual_seed(1)
    model = cls(None, 4, 1, hidden=8, covariates=2).eval()
    d = _window(4, 2)
    d.u_future = d.u_future[:, :H]
    with torch.no_grad():
        pred = model.forecast(d, H)
        d.y = pred
        inp, target, _ = teacher_forcing(d, feedback_of(model))
        again = model(inp)[:, T - 1:]
    assert torch.allclose(again, pred, atol=1e-5) and torch.equal(target[:, -H:], pred)


def test_masked_nodes_and_a_batch_of_graphs():
    """Absent nodes (at the last observed step) forecast zeros and never leak the NaN covariates they may
    carry; a batch of windows forecasts as its windows one by one."""
    torch.manual_seed(2)
    for cls in (NodeLSTM, GConvGRU):
        model = cls(None, 4, 1, hidden=8, covariates=2).eval()
        ws = [_window(4, 2, masks=True, seed=s) for s in range(3)]
        ws[0].node_mask[0, -1] = False
        ws[0].u_future[0] = float("nan")
        with torch.no_grad():
            one = torch.cat([model.forecast(w, H) for w in ws])
            many = model.forecast(Batch.from_data_list(ws), H)
        assert torch.allclose(one, many, atol=1e-5)
        assert torch.isfinite(many).all() and torch.equal(many[0], torch.zeros(H, 1))


@pytest.mark.parametrize("derived", [None, "velocity"])
def test_stgcn_rolls_out_chunks_with_rebuilt_inputs(derived):
    """A horizon longer than STGCN's own is rolled out in chunks; each chunk's inputs are the predicted
    chunk rebuilt by hand (velocity, held channel, that chunk's covariates), then cropped to obs_len."""
    out, C = 1, 2
    F = out * (2 if derived else 1) + 1 + C
    torch.manual_seed(3)
    model = STGCN(None, F, out, obs_len=T, horizon=H, hidden=8, K=2, blocks=1, covariates=C,
                  derived=derived, velocity_scale=2.0).eval()
    d = _window(F, C)
    horizon = 2 * H + 1
    with torch.no_grad():
        got = model.forecast(d, horizon)
        x, chunks = d.x, []
        for k in range(3):
            pred = model.forecast(STData(x=x, edge_index=d.edge_index), H)
            chunks.append(pred)
            frames, last = [], x[:, -1:]
            for j in range(H):
                f = _frame(pred[:, j:j + 1], last, d, k * H + j, out, derived, 2.0, C)
                frames.append(f)
                last = f
            x = torch.cat([x] + frames, dim=1)[:, -T:]
        want = torch.cat(chunks, dim=1)[:, :horizon]
    assert torch.allclose(got, want, atol=1e-5)
    # within its own horizon STGCN reads no future covariates: none are needed
    short = d.clone()
    del short.u_future
    with torch.no_grad():
        assert torch.allclose(model.forecast(short, H), got[:, :H], atol=1e-6)
    with pytest.raises(ValueError, match="u_future"):
        model.forecast(short, H + 1)


def test_refusals_name_the_argument():
    for cls in (NodeLSTM, GConvGRU):
        with pytest.raises(ValueError, match="'covariates'"):
            cls(None, 2, 3, covariates=1)                                  # predicts more than it reads
        with pytest.raises(ValueError, match="'covariates'"):
            cls(None, 3, 1, covariates=-1)
        with pytest.raises(ValueError, match="in_channels=3"):
            cls(None, 3, 1, covariates=3)                                  # no room for the prediction
        with pytest.raises(ValueError, match="u_future"):
            cls(None, 3, 1, covariates=2).forecast(_window(3, 0), 2)
        with pytest.raises(ValueError, match="out_channels.{0,20}<= in_channels=2"):
            cls(None, 2, 3).forecast(_window(2, 0), 2)
    with pytest.raises(ValueError, match="'derived'"):
        STGCN(None, 3, 1, obs_len=T, horizon=H, blocks=1, derived="acceleration")
    with pytest.raises(ValueError, match="out_channels <= in_channels=2"):
        STGCN(None, 2, 3, obs_len=T, horizon=H, blocks=1).forecast(_window(2, 0), H + 1)


def test_repr_and_record_show_the_inputs():
    m = NodeLSTM(None, 4, 1, hidden=8, covariates=2, derived=None)
    assert "covariates=2" in repr(m) and m.model_args["covariates"] == 2
    assert "covariates=2" in repr(GConvGRU(None, 4, 1, hidden=8, covariates=2))
    s = STGCN(None, 4, 1, obs_len=T, horizon=H, blocks=1, covariates=1, derived="velocity")
    assert "covariates=1" in repr(s) and "derived='velocity'" in repr(s)
    assert "covariates" not in repr(NodeLSTM(None, 2, 2, hidden=8))
