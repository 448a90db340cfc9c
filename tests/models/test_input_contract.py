"""The input contract of ``docs/errors.md`` on every registered model:
degenerate graphs, NaN/Inf at absent steps, the dtype rule, the value checks
and how to turn them off. (Random inputs: ``tests/test_properties.py``.)"""
import math

import pytest
import torch

import srnn_pyg.models  # noqa: F401  (registers every model)
from srnn_pyg import STData
from srnn_pyg.models import available, build
from srnn_pyg.testing import fake_schema, fake_st_data

F = 3
SCHEMA = fake_schema()
SMALL = {
    "srnn": dict(edge_hidden=4, node_hidden=4),
    "node_lstm": dict(hidden=4),
    "erd": dict(hidden=4),
    "lstm3lr": dict(hidden=4),
    "stgcn": dict(hidden=4, obs_len=5, K=2, blocks=1),
    "skeleton_stgcn": dict(hidden=4),
    "gconv_gru": dict(hidden=4, K=2),
    "linear_ar": dict(lags=2),
}
MASKED = [n for n in available() if n not in ("erd", "lstm3lr", "seasonal_mean")]   # supports_masks
T = 5


def _model(name, **kw):
    torch.manual_seed(0)
    return build(name, SCHEMA, F, F, **SMALL.get(name, {}), **kw).eval()


def _run(model, data, horizon=2):
    """forward (where the model has one) and forecast."""
    outs = [model.forecast(data, horizon)]
    if model.has_forward:
        outs.append(model(data))
    return outs


def _data(num_nodes=7, masks=True, seed=0, **kw):
    data = fake_st_data(num_nodes=num_nodes, T=T, F=F, schema=SCHEMA, masks=masks,
                        generator=torch.Generator().manual_seed(seed), **kw)
    data.t_start = torch.tensor([12])
    return data


def _poison(data, value):
    out = data.clone()
    out.x = torch.where(data.node_mask.unsqueeze(-1), data.x, torch.full_like(data.x, value))
    return out


@pytest.mark.parametrize("name", MASKED)
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nonfinite_at_absent_steps_never_leaks(name, bad):
    model = _model(name)
    data = _data()
    data.node_mask[1, 1:3] = False              # absent in the middle, then back
    data.node_mask[4, -1] = False               # absent at the last observed step
    zero, poisoned = _poison(data, 0.0), _poison(data, bad)
    for a, b in zip(_run(model, poisoned), _run(model, zero)):
        assert bool(a.isfinite().all())
        assert torch.equal(a, b)


@pytest.mark.parametrize("scope,aggr", [("slot", "sum"), ("edge", "sum"), ("edge", "mean"), ("edge", "max"),
                                        ("edge", "attention")])
def test_srnn_nan_at_absent_edges_and_nodes(scope, aggr):
    """Edge features too: an absent edge's ``edge_attr`` may hold NaN."""
    torch.manual_seed(0)
    model = build("srnn", SCHEMA, F, F, edge_hidden=4, node_hidden=4, edge_scope=scope, aggr=aggr,
                  spatial_features="concat_attr", edge_channels=2).eval()
    data = _data(edge_attr_dim=2)
    absent = ~(data.edge_mask & data.node_mask[data.edge_index[0]] & data.node_mask[data.edge_index[1]])
    zero, poisoned = _poison(data, 0.0), _poison(data, math.nan)
    zero.edge_attr = data.edge_attr.masked_fill(absent.unsqueeze(-1), 0.0)
    poisoned.edge_attr = data.edge_attr.masked_fill(absent.unsqueeze(-1), math.nan)
    assert torch.equal(model(poisoned), model(zero))
    assert torch.equal(model.forecast(poisoned, 3), model.forecast(zero, 3))


@pytest.mark.parametrize("name", [n for n in available() if n != "seasonal_mean"])
def test_nonfinite_at_a_present_step_names_x_and_the_position(name):
    model = _model(name)
    data = _data(masks=name in MASKED)
    if name in MASKED:
        data.node_mask[2, 3] = True
    data.x[2, 3, 1] = math.inf
    with pytest.raises(ValueError, match=r"'x' must be finite .*node 2, step 3, feature 1"):
        _run(model, data)
    model.validate = False                      # the inner-loop switch: no scan, no error
    _run(model, data)


@pytest.mark.parametrize("name", available())
def test_dtype_rule(name):
    model = _model(name)
    data = _data(masks=False)
    _run(model, data)                           # ERD, LSTM3LR: sized (and typed) by the first batch
    for dtype in (torch.float64, torch.float16, torch.long):
        bad = data.clone()
        bad.x = data.x.to(dtype)
        if dtype.is_floating_point and not model.trainable:
            assert _run(model, bad)[0].dtype == dtype            # no parameters: any float dtype
            continue
        with pytest.raises(TypeError, match=r"'x' must .*got torch\.(float64|float16|int64)"):
            _run(model, bad)


def test_float64_model_takes_float64_data():
    model = _model("srnn").double()
    data = _data()
    data.x = data.x.double()
    assert model(data).dtype == torch.float64


@pytest.mark.parametrize("name", available())
def test_single_node_one_step_no_edges(name):
    if name in ("stgcn", "seasonal_mean"):
        pytest.skip("needs obs_len steps / a fitted calendar")
    model = _model(name)
    data = STData(x=torch.randn(1, 1, F), edge_index=torch.zeros(2, 0, dtype=torch.long),
                  node_type=torch.zeros(1, dtype=torch.long), edge_type=torch.zeros(0, dtype=torch.long))
    for out in _run(model, data):
        assert out.size(0) == 1 and bool(out.isfinite().all())


@pytest.mark.parametrize("name", available())
def test_empty_graph(name):
    model = _model(name)
    data = STData(x=torch.randn(0, T, F), edge_index=torch.zeros(2, 0, dtype=torch.long),
                  node_type=torch.zeros(0, dtype=torch.long), edge_type=torch.zeros(0, dtype=torch.long),
                  t_start=torch.tensor([0]))
    if not model.accepts_empty:
        with pytest.raises(ValueError, match=r"'x' must have at least one node \(got \[0, 5, 3\]\)"):
            _run(model, data)
        return
    if name == "seasonal_mean":
        pytest.skip("sized by its fit")
    for out in _run(model, data):
        assert out.size(0) == 0


@pytest.mark.parametrize("name", available())
def test_no_steps_and_transposed_edges(name):
    model = _model(name)
    data = _data(masks=False)
    empty = data.clone()
    empty.x = data.x[:, :0]
    with pytest.raises(ValueError, match=r"'x' must have at least one time step \(got \[7, 0, 3\]\)"):
        _run(model, empty)
    flipped = data.clone()
    flipped.edge_index = data.edge_index.t().contiguous()
    if model.uses_graph:
        with pytest.raises(ValueError, match=r"'edge_index' must be \[2, num_edges\] .*transposed"):
            _run(model, flipped)


@pytest.mark.parametrize("name", ["srnn", "gconv_gru", "skeleton_stgcn"])
def test_edge_index_out_of_range(name):
    model = _model(name)
    data = _data(masks=False)
    data.edge_index[1, 3] = 7
    with pytest.raises(ValueError, match=r"'edge_index' .*lie in \[0, 6\].*got values in \[0, 7\]"):
        _run(model, data)


@pytest.mark.parametrize("name", ["linear_ar", "seasonal_mean"])
def test_closed_form_fits_ignore_nan_at_absent_steps(name):
    data = _data(num_nodes=4, horizon=3)
    data.node_mask[0, 1] = False
    data.y_mask = torch.ones(4, 3, dtype=torch.bool)
    data.y_mask[2, 1] = False
    fits = []
    for bad in (0.0, math.nan):
        window = _poison(data, bad)
        window.y = data.y.masked_fill(~data.y_mask.unsqueeze(-1), bad)
        model = _model(name, num_nodes=4) if name == "seasonal_mean" else _model(name)
        fits.append(model.fit_closed_form(window).state_dict())
    for key, value in fits[0].items():
        assert bool(value.isfinite().all()) and torch.equal(value, fits[1][key]), key
