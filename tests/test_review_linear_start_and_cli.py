"""Review fixes: ``StructuralRNN.init_linear`` refuses what it cannot start from, in its own name;
``LinearAR.fit_closed_form`` leaves out the frames it cannot build and refuses non-finite pairs;
``evaluate`` reports NaN, not 0, when nothing was scored; ``to_hetero`` keeps a graph-level value
of a key known as per-node; ``--print_config`` checks the run folder before printing."""
import math

import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import STData, to_hetero
from srnn_pyg.cli import main
from srnn_pyg.models import LinearAR, StructuralRNN
from srnn_pyg.testing import fake_schema, fake_st_data

torch.set_num_threads(1)


def windows(T=7, H=4, F_in=3, F_out=3, n=2, y=True):
    schema = fake_schema()
    out = []
    for i in range(n):
        d = fake_st_data(6, T, F_in, schema=schema, generator=torch.Generator().manual_seed(i))
        d.node_mask, d.edge_mask = None, None
        if y:
            d.y = torch.randn(6, H, F_out, generator=torch.Generator().manual_seed(100 + i))
        out.append(d)
    return schema, out


def srnn(schema, F_in=3, F_out=3, p=4, **kw):
    torch.manual_seed(0)
    return StructuralRNN(schema, F_in, F_out, edge_hidden=4, node_hidden=4, ar_lags=p, **kw)


# ------------------------------------------------------------------ init_linear
def test_init_linear_refuses_windows_shorter_than_ar_lags():
    schema, ws = windows(T=2, H=4)                  # pairs exist in concat(x, y), but forecasts from T=2 differ
    with pytest.raises(ValueError, match=r"StructuralRNN\.init_linear: .*ar_lags=4.*at least 4 steps.*\[12, 2, 3\]"):
        srnn(schema).init_linear(DataLoader(ws, batch_size=2))


def test_init_linear_without_y_says_so_in_its_own_name():
    schema, ws = windows(T=4, y=False)              # T == ar_lags, no targets: no pair at all
    with pytest.raises(ValueError, match=r"^StructuralRNN\.init_linear .*ar_lags=4.*no window of 'data' has 'y'"):
        srnn(schema).init_linear(ws)
    schema, ws = windows(T=7, y=False)              # the pairs inside x: a fit
    model = srnn(schema).init_linear(ws)
    assert model.ar.weight.abs().sum() > 0


def test_init_linear_errors_name_the_method_and_the_argument():
    schema, ws = windows()
    with pytest.raises(ValueError, match=r"out_channels <= in_channels \(got 3 -> 5\)"):
        srnn(schema, 3, 5, p=2).init_linear(ws)
    with pytest.raises(ValueError, match=r"^StructuralRNN\.init_linear: 'ridge' must be a float >= 0 \(got -1\)"):
        srnn(schema).init_linear(ws, ridge=-1)
    with pytest.raises(TypeError, match=r"^StructuralRNN\.init_linear: 'data' must be an STData.*\(got Tensor\)"):
        srnn(schema).init_linear(torch.zeros(3, 4))
    with pytest.raises(TypeError, match=r"^StructuralRNN\.init_linear: 'data' must be an STData.*item of type int"):
        srnn(schema).init_linear([ws[0], 3])
    with pytest.raises(TypeError, match=r"^StructuralRNN\.init_linear .*'x' must have the model's dtype"):
        srnn(schema).double().init_linear(ws)


# ------------------------------------------------------------------- LinearAR
def _absent_at_the_end(F_in, F_out, **kw):
    g = torch.Generator().manual_seed(0)
    N, T, H = 5, 6, 4
    x = torch.randn(N, T, F_in, generator=g)
    nm = torch.ones(N, T, dtype=torch.bool)
    nm[0, -1] = False
    x[0, -1] = float("nan")                         # a missing reading under its mask
    data = STData(x=x, y=torch.randn(N, H, F_out, generator=g), node_mask=nm,
                  y_mask=torch.ones(N, H, dtype=torch.bool), edge_index=torch.empty(2, 0, dtype=torch.long))
    return data


@pytest.mark.parametrize("kw, first_only", [(dict(F_in=3, F_out=1), False),
                                            (dict(F_in=2, F_out=1, derived="velocity"), True)])
def test_frames_built_from_an_absent_last_step_are_left_out(kw, first_only):
    F_in, F_out = kw.pop("F_in"), kw.pop("F_out")
    data = _absent_at_the_end(F_in, F_out)
    fitted = LinearAR(None, F_in, F_out, lags=1, **kw).fit_closed_form(data)
    assert torch.isfinite(fitted.weight).all() and torch.isfinite(fitted.bias).all()
    # the same fit as with those frames masked out by hand
    masked = data.clone()
    masked.y_mask = data.y_mask.clone()
    masked.y_mask[0, :1 if first_only else None] = False
    by_hand = LinearAR(None, F_in, F_out, lags=1, **kw).fit_closed_form(masked)
    assert torch.allclose(fitted.weight, by_hand.weight) and torch.allclose(fitted.bias, by_hand.bias)


def test_a_non_finite_value_in_a_fitted_pair_is_a_clear_error():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(4, 3, 1, generator=g)
    u[1, 0] = float("nan")                          # in the history of the next pair
    data = STData(x=torch.randn(4, 5, 2, generator=g), y=torch.randn(4, 3, 1, generator=g), u_future=u,
                  edge_index=torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"LinearAR: fit_closed_form needs finite values.*u_future"):
        LinearAR(None, 2, 1, lags=1, covariates=1).fit_closed_form(data)


# ------------------------------------------------------------------- evaluate
def test_evaluate_of_nothing_scored_is_nan_not_zero():
    from srnn_pyg.engine import evaluate
    schema = fake_schema()
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, edge_hidden=4, node_hidden=4)
    empty = fake_st_data(5, 6, 3, schema=schema, horizon=3, generator=torch.Generator().manual_seed(2))
    empty.y_mask = torch.zeros(5, 3, dtype=torch.bool)
    names = ["mse", "mae", "rmse", "ade", "loss"]
    out = evaluate(model, DataLoader([empty], batch_size=1), metrics=names + ["mse_per_step"], objective="rollout")
    assert all(math.isnan(out[n]) for n in names), out
    assert all(math.isnan(v) for v in out["mse_per_step"])
    empty.node_mask = torch.zeros(5, 6, dtype=torch.bool)
    empty.node_mask[:, 0] = True                    # present once: no pair of present steps
    out = evaluate(model, DataLoader([empty], batch_size=1), metrics=["tf_mse"], objective="teacher_forcing")
    assert math.isnan(out["tf_mse"])


# ------------------------------------------------------------------- to_hetero
def test_to_hetero_keeps_a_graph_level_value_of_a_per_node_key():
    data = STData(x=torch.randn(5, 4, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([1]),
                  edge_weight=torch.tensor([0.5]))
    hetero = to_hetero(data)
    assert torch.equal(hetero.y, torch.tensor([1])) and torch.equal(hetero.edge_weight, torch.tensor([0.5]))


# ---------------------------------------------------------------- print_config
def test_print_config_refuses_a_run_folder_the_run_would_refuse(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    base = ["--data", "springs", "--out_dir", str(out), "--print_config"]
    assert main(["train", "--model", "srnn", *base]) == 2
    assert "--out_dir" in capsys.readouterr().err
    assert main(["compare", "--models", "srnn,node_lstm", *base]) == 2
    assert "--out_dir" in capsys.readouterr().err
    assert main(["train", "--model", "srnn", "--data", "springs", "--overwrite", "--print_config"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"
