"""StructuralRNN.init_linear starts the model as the closed-form linear autoregression: its
one-step predictions (with a full history) and its forecasts equal LinearAR's, for every residual
and input layout, whatever the graph; and training moves on from there."""
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.models import LinearAR, StructuralRNN
from srnn_pyg.testing import fake_schema, fake_st_data

torch.set_num_threads(1)
P = 3


def windows(F_in, F_out, C=0, n=4, N=6, T=7, H=4):
    schema = fake_schema()
    out = []
    for i in range(n):
        d = fake_st_data(N, T, F_in, schema=schema, generator=torch.Generator().manual_seed(i))
        g = torch.Generator().manual_seed(100 + i)
        d.y = torch.randn(N, H, F_out, generator=g)
        if C:
            d.u_future = torch.randn(N, H, C, generator=g)
        for key in ("node_mask", "edge_mask"):
            d[key] = None
        out.append(d)
    return schema, out


CASES = [
    dict(F_in=3, F_out=3, kw=dict(residual=True)),
    dict(F_in=3, F_out=3, kw=dict(residual=False)),
    dict(F_in=4, F_out=1, kw=dict(residual=True, covariates=3), C=3),
    dict(F_in=5, F_out=2, kw=dict(residual="velocity", derived="velocity", velocity_scale=2.5, covariates=1), C=1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c["kw"]))
def test_the_started_model_is_the_linear_model(case):
    F_in, F_out, C = case["F_in"], case["F_out"], case.get("C", 0)
    schema, ws = windows(F_in, F_out, C)
    torch.manual_seed(0)
    model = StructuralRNN(schema, F_in, F_out, edge_hidden=8, node_hidden=8, ar_lags=P, **case["kw"])
    extra = {k: v for k, v in case["kw"].items() if k in ("covariates", "derived", "velocity_scale")}
    linear = LinearAR(None, F_in, F_out, lags=P, **extra).fit_closed_form(DataLoader(ws, batch_size=2))
    assert model.init_linear(DataLoader(ws, batch_size=2)) is model
    model.eval()
    for w in ws:
        one = model(w)[:, P - 1:]                         # steps with a full history of P frames
        assert torch.allclose(one, linear(w)[:, P - 1:], atol=1e-4)
        assert torch.allclose(model.forecast(w, 4), linear.forecast(w, 4), atol=1e-4)


def test_the_start_does_not_read_the_graph_and_training_moves_on():
    schema, ws = windows(3, 3)
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, edge_hidden=8, node_hidden=8, ar_lags=P, residual=True).init_linear(ws)
    w = ws[0]
    other = w.clone()
    other.edge_index, other.edge_type = w.edge_index[:, :2], w.edge_type[:2]   # another graph: the same start
    model.eval()
    assert torch.allclose(model.forecast(w, 3), model.forecast(other, 3))
    model.train()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(w).pow(2).mean().backward()
        opt.step()
    assert model.decoders[0].lins[-1].weight.abs().sum() > 0   # the output layer leaves zero
    model.eval()
    assert not torch.allclose(model.forecast(w, 3), model.forecast(other, 3))


def test_init_linear_needs_the_skip_and_a_deterministic_regression():
    schema, ws = windows(3, 3)
    with pytest.raises(ValueError, match="ar_lags >= 1"):
        StructuralRNN(schema, 3, 3, edge_hidden=4, node_hidden=4).init_linear(ws)
    with pytest.raises(ValueError, match="deterministic head"):
        StructuralRNN(schema, 3, 2, edge_hidden=4, node_hidden=4, ar_lags=2, head="gaussian").init_linear(ws)
