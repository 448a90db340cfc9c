"""The Forecaster contract, checked on every registered model, including ones
added later: shapes, batching, gradients, seeds, checkpoints, repr, errors."""
import inspect

import pytest
import torch
from torch_geometric.data import Batch

import srnn_pyg.models  # noqa: F401  (registers every model)
from srnn_pyg.models import available, build, get
from srnn_pyg.testing import devices, fake_schema, fake_st_data

F = 4
T_DEFAULT = 6
HORIZON = 3

# Small sizes for the models we know; only the keywords a constructor names are
# passed, so a renamed option falls back to the model's default instead of failing.
SMALL_KWARGS = {
    "node_lstm": dict(hidden=8),
    "erd": dict(hidden=8),
    "lstm3lr": dict(hidden=8),
    "srnn": dict(edge_hidden=8, node_hidden=8),
    "stgcn": dict(hidden=8, hidden_channels=8, obs_len=T_DEFAULT, K=2, blocks=1),
    "skeleton_stgcn": dict(hidden=8, hidden_channels=8, obs_len=T_DEFAULT),
    "gconv_gru": dict(hidden=8, hidden_channels=8, K=2),
    "linear_ar": dict(lags=2),
}
# Models that concatenate a graph's nodes into one vector, or keep a state per node index: equal-size graphs only.
EQUAL_SIZE_ONLY = {"erd", "lstm3lr", "seasonal_mean"}

NAMES = available()
SCHEMA = fake_schema()


def _kwargs(name):
    params = inspect.signature(get(name).__init__).parameters
    return {k: v for k, v in SMALL_KWARGS.get(name, {}).items() if k in params}


def _steps(name):
    return int(_kwargs(name).get("obs_len", T_DEFAULT))


def _make(name, device, seed=0):
    torch.manual_seed(seed)
    return build(name, SCHEMA, F, F, **_kwargs(name)).to(device)


def _graphs(name, device, masks=False):
    sizes = (8, 8) if name in EQUAL_SIZE_ONLY else (7, 10)
    return [fake_st_data(num_nodes=n, T=_steps(name), F=F, schema=SCHEMA, masks=masks,
                         generator=torch.Generator().manual_seed(i), device=device)
            .update({"t_start": torch.tensor([300 * i + 5], device=device)})   # when the window is
            for i, n in enumerate(sizes)]


def _outputs(model, data):
    """Everything the model predicts for ``data``, for comparisons."""
    outs = [model.forecast(data, HORIZON)]
    if model.has_forward:
        outs.append(model(data))
    return outs


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", NAMES)
def test_shapes(name, device):
    model = _make(name, device).eval()
    data = _graphs(name, device)[0]
    N, T = data.num_nodes, data.num_steps
    with torch.no_grad():
        fc = model.forecast(data, HORIZON)
        assert fc.shape == (N, HORIZON, F) and fc.device == data.x.device
        assert bool(torch.isfinite(fc).all())
        if model.has_forward:
            out = model(data)
            assert out.shape == (N, T, F) and bool(torch.isfinite(out).all())


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_graphs_one_by_one(name, device):
    model = _make(name, device).eval()
    graphs = _graphs(name, device)
    batch = Batch.from_data_list(graphs)
    with torch.no_grad():
        together = _outputs(model, batch)
        alone = [_outputs(model, g) for g in graphs]
    start = 0
    for g, outs in zip(graphs, alone):
        stop = start + g.num_nodes
        for both, one in zip(together, outs):
            assert torch.allclose(both[start:stop], one, atol=1e-5), name
        start = stop


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name, device):
    model = _make(name, device).train()
    if not model.trainable:
        pytest.skip(f"{name} has nothing to train")
    data = fake_st_data(num_nodes=12, T=_steps(name), F=F, schema=SCHEMA, device=device)
    out = model(data) if model.has_forward else model.forecast(data, HORIZON)
    out.square().mean().backward()
    params = dict(model.named_parameters())
    assert params, f"{name} is trainable but has no parameters"
    missing = [k for k, p in params.items() if p.grad is None or not bool((p.grad != 0).any())]
    assert not missing, f"{name}: no gradient reaches {missing}"


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", NAMES)
def test_deterministic_under_a_seed(name, device):
    data = _graphs(name, device)[0]
    with torch.no_grad():
        first = _outputs(_make(name, device, seed=3).eval(), data)
        second = _outputs(_make(name, device, seed=3).eval(), data)
    for a, b in zip(first, second):
        if device == "cpu":
            assert torch.equal(a, b), name
        else:   # CUDA scatters and sparse products add in a run-dependent order (atomics)
            assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name, device):
    data = _graphs(name, device)[0]
    model = _make(name, device, seed=0).eval()
    with torch.no_grad():
        expected = _outputs(model, data)                  # also builds lazily sized layers
        fresh = _make(name, device, seed=1).eval()
        fresh.load_state_dict(model.state_dict())
        got = _outputs(fresh, data)
    for a, b in zip(expected, got):
        assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.parametrize("name", NAMES)
def test_repr(name):
    model = _make(name, "cpu")
    text = repr(model)
    assert isinstance(text, str) and text.startswith(type(model).__name__ + "("), text


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises(name):
    model = _make(name, "cpu").eval()
    wrong_f = fake_st_data(num_nodes=8, T=_steps(name), F=F + 1, schema=SCHEMA)
    with pytest.raises(ValueError, match="'x'"):
        model.forecast(wrong_f, HORIZON)
    if model.has_forward:
        with pytest.raises(ValueError, match="'x'"):
            model(wrong_f)
    data = _graphs(name, "cpu")[0]
    for horizon in (0, -1, 1.5):
        with pytest.raises(ValueError, match="horizon"):
            model.forecast(data, horizon)


@pytest.mark.parametrize("name", NAMES)
def test_masks(name):
    model = _make(name, "cpu").eval()
    data = _graphs(name, "cpu", masks=True)[0]
    if not model.supports_masks:
        with pytest.raises(ValueError):
            model.forecast(data, HORIZON)
        return
    data.node_mask[0, -1] = False                         # node 0 gone at the last observed step
    with torch.no_grad():
        fc = model.forecast(data, HORIZON)
        assert bool(torch.isfinite(fc).all()) and bool((fc[0] == 0).all()), name
        if model.has_forward:
            out = model(data)
            assert bool((out[~data.node_mask] == 0).all()), f"{name}: absent nodes' outputs must be zero"


@pytest.mark.parametrize("name", NAMES)
def test_records_its_constructor_call_and_rebuilds_from_it(name):
    model = _make(name, "cpu").eval()
    data = _graphs(name, "cpu")[0]
    with torch.no_grad():
        _outputs(model, data)                         # lazy models take their size from data
    args = model.model_args
    assert args["schema"] == SCHEMA and args["in_channels"] == F and args["out_channels"] == F
    for key, value in _kwargs(name).items():
        assert args[key] == value
    assert type(model).registry_name == name and get(name) is type(model)
    other = type(model)(**args).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        for a, b in zip(_outputs(model, data), _outputs(other, data)):
            assert torch.equal(a, b)


def test_hand_built_model_records_positional_and_keyword_arguments():
    from srnn_pyg.models import LSTM3LR

    model = LSTM3LR(SCHEMA, F, F, 8, hidden=16, residual=True)       # num_nodes given by position
    assert model.model_args == {"schema": SCHEMA, "in_channels": F, "out_channels": F, "num_nodes": 8,
                                "hidden": 16, "residual": True}
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        get("nope")
