"""Inputs a model reads but does not predict: derived velocities, held features,
covariates known in advance; the same rule for teacher forcing and forecasts."""
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import STData
from srnn_pyg.engine import TrainConfig, evaluate, fit
from srnn_pyg.engine.objectives import teacher_forcing
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn import Feedback
from srnn_pyg.testing import fake_schema, fake_st_data

SIZES = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_frames_and_steps_by_hand():
    # inputs: 2 predicted, 2 derived velocities, 1 held, 2 covariates
    fb = Feedback(7, 2, covariates=2, derived="velocity", velocity_scale=0.5)
    x = torch.arange(3 * 7, dtype=torch.float).view(1, 3, 7)                     # [1, T=3, 7]
    pred = torch.tensor([[[100.0, 200.0], [110.0, 230.0]]])                       # [1, H=2, 2]
    u = torch.tensor([[[1.0, -1.0], [2.0, -2.0], [3.0, -3.0]]])
    data = STData(x=x, edge_index=torch.zeros(2, 0, dtype=torch.long), u_future=u)
    frames = fb.frames(pred, data)
    last = x[0, -1]
    assert torch.equal(frames[0, 0], torch.tensor([100.0, 200.0, 0.5 * (100 - last[0]), 0.5 * (200 - last[1]),
                                                   last[4], 1.0, -1.0]))
    assert torch.equal(frames[0, 1], torch.tensor([110.0, 230.0, 5.0, 15.0, last[4], 2.0, -2.0]))
    step = fb.step(pred[:, 1:], frames[:, :1], data, 1)
    assert torch.equal(step, frames[:, 1:])
    with pytest.raises(ValueError, match="u_future"):
        fb.frames(pred, STData(x=x, edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match="in_channels=4"):
        Feedback(4, 2, covariates=1, derived="velocity")
    assert Feedback(3, 3).identity and torch.equal(Feedback(3, 3).frames(pred, data), pred)


def _positions_and_velocities(N, T, seed):
    data = fake_st_data(N, T, 2, schema=fake_schema(), masks=True, generator=_gen(seed))
    v = torch.randn(N, 1, 2, generator=_gen(seed + 1))                            # constant velocities
    pos = torch.randn(N, 1, 2, generator=_gen(seed + 3)) + v * torch.arange(T).view(1, T, 1)
    vel = torch.cat([torch.zeros(N, 1, 2), pos[:, 1:] - pos[:, :-1]], 1)
    data.x = torch.cat([pos, vel, torch.randn(N, T, 1, generator=_gen(seed + 2))], -1)   # [N, T, 5]
    return data


def test_forecast_rebuilds_velocities_and_holds_the_rest():
    data = _positions_and_velocities(7, 5, 3)
    torch.manual_seed(0)
    model = StructuralRNN(data.schema, 5, 2, derived="velocity", **SIZES).eval()
    H = 4
    with torch.no_grad():
        pred = model.forecast(data, H)
        # the same rollout by hand, one frame at a time through the streaming API
        out, state = model.step(data)
        nm = data.node_mask[:, -1:]
        inp, mine = data.x[:, -1:], []
        for h in range(H):
            p = out[:, -1:] * nm.unsqueeze(-1)
            mine.append(p)
            inp = torch.cat([p, p - inp[..., :2], inp[..., 4:5]], -1) * nm.unsqueeze(-1)
            frame = data.clone()
            frame.x, frame.node_mask, frame.edge_mask = inp, nm, data.edge_mask[:, -1:]
            out, state = model.step(frame, state)
    assert pred.shape == (7, H, 2)
    assert torch.allclose(pred, torch.cat(mine, 1), atol=1e-5)


def test_covariates_known_in_advance_are_read_from_u_future():
    data = fake_st_data(6, 5, 3, schema=fake_schema(), generator=_gen(4))
    torch.manual_seed(0)
    model = StructuralRNN(data.schema, 3, 1, covariates=2, **SIZES).eval()
    data.u_future = torch.randn(6, 3, 2, generator=_gen(5))
    with torch.no_grad():
        a = model.forecast(data, 3)
        other = data.clone()
        other.u_future = other.u_future.clone()
        other.u_future[:, 1] += 5.0                                   # changes step 1's input only
        b = model.forecast(other, 3)
    assert torch.equal(a[:, :2], b[:, :2]) and not torch.allclose(a[:, 2], b[:, 2])
    with pytest.raises(ValueError, match="u_future"):
        model.forecast(data, 4)                                      # the covariates cover 3 steps


def test_teacher_forcing_uses_the_forecast_inputs_and_trains():
    graphs = []
    for seed in range(6):
        d = _positions_and_velocities(5, 8, 10 + seed)
        w = d.clone()
        w.x, w.node_mask, w.edge_mask = d.x[:, :5], d.node_mask[:, :5], d.edge_mask[:, :5]
        w.y, w.y_mask = d.x[:, 5:, :2], d.node_mask[:, 5:]
        graphs.append(w)
    torch.manual_seed(0)
    model = StructuralRNN(graphs[0].schema, 5, 2, derived="velocity", residual=True, **SIZES)
    batch = next(iter(DataLoader(graphs, batch_size=6)))
    inp, target, mask = teacher_forcing(batch, model.feedback)
    assert inp.x.shape == (30, 7, 5) and target.shape == (30, 7, 2)
    assert torch.equal(inp.x[:, 5:], model.feedback.frames(batch.y, batch)[:, :2])
    assert torch.equal(target[:, 4:], batch.y)
    with pytest.raises(ValueError, match="teacher_forcing"):
        teacher_forcing(batch)                                       # without the rule: y is too narrow
    loader = DataLoader(graphs, batch_size=3, shuffle=True)
    before = evaluate(model, loader)["loss"]
    fit(model, loader, config=TrainConfig(epochs=15, lr=1e-2, progress=False))
    assert evaluate(model, loader)["loss"] < 0.7 * before
