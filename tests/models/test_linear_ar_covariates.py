"""LinearAR reads covariates known in advance as S-RNN does: forecasts take them from ``u_future``,
and the closed-form fit extends each window with its targets' frames built by the same rule."""
import pytest
import torch

from srnn_pyg import STData
from srnn_pyg.models import LinearAR

torch.set_num_threads(1)
A, B, C = 0.6, 1.5, 0.2          # x[t+1] = A x[t] + B u[t] + C, u a known clock


def windows(n=6, N=3, T=5, H=4, seed=0, full_y=False):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        L = T + H
        u = torch.sin(torch.arange(L, dtype=torch.float64) * 0.7 + torch.rand(N, 1, generator=g, dtype=torch.float64))
        x = torch.empty(N, L, dtype=torch.float64)
        x[:, 0] = torch.randn(N, generator=g, dtype=torch.float64)
        for t in range(L - 1):
            x[:, t + 1] = A * x[:, t] + B * u[:, t] + C
        frames = torch.stack([x, u], dim=-1).float()                          # [N, L, 2]: value, clock
        y = frames[:, T:] if full_y else frames[:, T:, :1]
        out.append(STData(x=frames[:, :T], y=y, u_future=frames[:, T:, 1:],
                          edge_index=torch.empty(2, 0, dtype=torch.long)))
    return out


def test_closed_form_recovers_the_covariate_coefficients():
    model = LinearAR(None, 2, 1, lags=1, covariates=1, ridge=0.0).fit_closed_form(windows())
    assert model.weight[0, 0].detach().tolist() == pytest.approx([A, B], abs=1e-4)
    assert float(model.bias[0].detach()) == pytest.approx(C, abs=1e-4)
    # the same coefficients as from the targets' whole frames
    full = LinearAR(None, 2, 1, lags=1, covariates=1, ridge=0.0).fit_closed_form(windows(full_y=True))
    assert torch.allclose(model.weight, full.weight, atol=1e-5) and torch.allclose(model.bias, full.bias, atol=1e-5)


def test_forecast_reads_u_future_for_every_fed_back_frame():
    w = windows(1, seed=3)[0]
    model = LinearAR(None, 2, 1, lags=1, covariates=1, ridge=0.0).fit_closed_form(windows())
    pred = model.forecast(w, 4)
    assert torch.allclose(pred, w.y, atol=1e-4)                                # the process itself
    # by hand: the clock of each future step comes from u_future, not the last observed one
    with torch.no_grad():
        frame, manual = w.x[:, -1], []
        for h in range(4):
            nxt = frame @ model.weight[0, 0] + model.bias[0]
            manual.append(nxt)
            frame = torch.stack([nxt, w.u_future[:, h, 0]], dim=-1)
    assert torch.allclose(pred[..., 0], torch.stack(manual, dim=1), atol=1e-6)
    held = LinearAR(None, 2, 1, lags=1, ridge=0.0).fit_closed_form(windows(full_y=True))
    assert not torch.allclose(held.forecast(w, 4), pred, atol=1e-3)         # holding the clock differs


def test_covariates_need_u_future_and_fit_inputs():
    w = windows(1)[0]
    model = LinearAR(None, 2, 1, lags=2, covariates=1)
    del w.u_future
    with pytest.raises(ValueError, match="u_future"):
        model.forecast(w, 2)
    with pytest.raises(ValueError, match="u_future"):
        model.fit_closed_form(w)                                              # y holds the value only
    with pytest.raises(ValueError, match="covariates"):
        LinearAR(None, 2, 2, covariates=1)                                    # nothing left for them
    w.y = torch.zeros(3, 4, 3)
    with pytest.raises(ValueError, match=r"the F=2 features of 'x' or the 1 predicted ones"):
        model.fit_closed_form(w)


def test_per_node_with_covariates_and_the_record():
    ws = windows()
    model = LinearAR(None, 2, 1, lags=2, per_node=True, covariates=1, ridge=0.0).fit_closed_form(ws)
    assert torch.allclose(model.forecast(ws[0], 4), ws[0].y, atol=1e-3)
    assert "covariates=1" in repr(model)
