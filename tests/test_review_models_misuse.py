"""A stranger's review of the model constructors and their forward/forecast calls.

The tests under "Defects" failed on the reviewed code and pass since the fix:
each docstring states the behaviour a user expects (``docs/errors.md``: every
model either returns a correct result or raises ``ValueError``/``TypeError``
naming the class, the argument, the expected and the received value) and what
the code did before. The tests under "What works" pin behaviour that was
checked and found right.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

import srnn_pyg.models as M
from srnn_pyg import STData
from srnn_pyg.models import (ERD, LSTM3LR, STGCN, ConstantVelocity, GConvGRU, LinearAR, NodeLSTM,
                             SeasonalMean, SkeletonSTGCN, StructuralRNN, ZeroVelocity)
from srnn_pyg.testing import fake_schema, fake_st_data

torch.set_num_threads(1)

SCHEMA = fake_schema(2)
SMALL = dict(edge_hidden=8, node_hidden=8, edge_mlp=(8,), node_mlp=(8,))


def _data(**kw) -> STData:
    return fake_st_data(num_nodes=5, T=6, F=4, schema=SCHEMA, **kw)


def _small_models():
    torch.manual_seed(0)
    return {
        "srnn": StructuralRNN(SCHEMA, 4, 4, **SMALL),
        "srnn_attention": StructuralRNN(SCHEMA, 4, 4, edge_scope="edge", aggr="attention", **SMALL),
        "node_lstm": NodeLSTM(SCHEMA, 4, 4, hidden=8),
        "gconv_gru": GConvGRU(SCHEMA, 4, 4, hidden=8, K=2),
        "stgcn": STGCN(SCHEMA, 4, 4, hidden=8, obs_len=5, horizon=3, blocks=1, kernel_size=2, K=2),
        "skeleton_stgcn": SkeletonSTGCN(SCHEMA, 4, 4, hidden=8, num_layers=2, kernel_size=3),
        "linear_ar": LinearAR(SCHEMA, 4, 4, lags=2),
        "constant_velocity": ConstantVelocity(SCHEMA, 4, 4),
        "zero_velocity": ZeroVelocity(SCHEMA, 4, 4),
    }


def _assert_named_error(fn, owner: str, arg: str):
    """``fn()`` must raise ValueError/TypeError whose message starts with the
    class name and quotes the argument."""
    with pytest.raises((ValueError, TypeError)) as info:
        fn()
    msg = str(info.value)
    assert msg.startswith(f"{owner}:") and f"'{arg}'" in msg, \
        f"expected an error naming {owner} and '{arg}', got {type(info.value).__name__}: {msg}"


# =====================================================================================
# Defects
# =====================================================================================

@pytest.mark.parametrize("cls", [NodeLSTM, ZeroVelocity, ConstantVelocity, LinearAR, SeasonalMean])
def test_bool_in_channels_is_refused(cls):
    """``in_channels=True`` is a bool, not a size: every model should refuse it
    with a ValueError naming the model and 'in_channels' (as ``StructuralRNN``'s
    layer does). ``Forecaster.__init__`` checks ``isinstance(value, int)``, which
    a bool passes: NodeLSTM/ZeroVelocity/ConstantVelocity/SeasonalMean build a
    1-channel model silently (repr ``NodeLSTM(True, 1, ...)``); LinearAR dies
    in ``torch.eye`` with a raw TypeError."""
    _assert_named_error(lambda: cls(SCHEMA, True, 1), cls.__name__, "in_channels")


@pytest.mark.parametrize("cls, kwargs, arg", [
    (NodeLSTM, dict(num_layers=True), "num_layers"),
    (NodeLSTM, dict(hidden=True), "hidden"),
    (GConvGRU, dict(K=True), "K"),
    (GConvGRU, dict(hidden=True), "hidden"),
    (SkeletonSTGCN, dict(kernel_size=True), "kernel_size"),
    (SkeletonSTGCN, dict(hidden=True), "hidden"),
    (SkeletonSTGCN, dict(center=True), "center"),
    (SkeletonSTGCN, dict(edge_importance="skeleton", num_nodes=True), "num_nodes"),
    (ERD, dict(hidden=True), "hidden"),
    (ERD, dict(hidden=8, num_nodes=True), "num_nodes"),
    (ERD, dict(hidden=8, lstm_channels=True), "lstm_channels"),
    (ERD, dict(hidden=8, num_layers=True), "num_layers"),
    (LSTM3LR, dict(hidden=True), "hidden"),
    (LSTM3LR, dict(hidden=8, encoder_channels=True), "encoder_channels"),
])
def test_bool_size_arguments_are_refused(cls, kwargs, arg):
    """A bool where a size is expected should raise a ValueError naming the
    model and the argument (StructuralRNN and STGCN already refuse bools). The
    baselines check ``isinstance(value, int)`` only: ``NodeLSTM(num_layers=True)``,
    ``GConvGRU(K=True)``, ``ERD(hidden=True)`` (1-wide layers) and the others
    build silently; ``hidden=True`` in NodeLSTM/GConvGRU/SkeletonSTGCN dies in
    ``torch.empty`` with a raw TypeError."""
    _assert_named_error(lambda: cls(SCHEMA, 4, 4, **kwargs), cls.__name__, arg)


@pytest.mark.parametrize("cls, kwargs", [
    (NodeLSTM, dict(hidden=8)),
    (STGCN, dict(hidden=8)),
    (SkeletonSTGCN, dict(hidden=8)),
    (ERD, dict(hidden=8)),
    (LSTM3LR, dict(hidden=8)),
])
@pytest.mark.parametrize("dropout", ["0.1", None])
def test_non_numeric_dropout_is_named(cls, kwargs, dropout):
    """``dropout="0.1"`` (e.g. from a config file) or ``None`` should raise a
    ValueError/TypeError naming the model and 'dropout' (StructuralRNN does).
    These baselines evaluate ``0.0 <= dropout < 1.0`` unguarded and raise the
    raw ``TypeError: '<=' not supported between instances of 'float' and 'str'``."""
    _assert_named_error(lambda: cls(SCHEMA, 4, 4, dropout=dropout, **kwargs), cls.__name__, "dropout")


@pytest.mark.parametrize("build, arg", [
    (lambda: StructuralRNN(SCHEMA, 4, 4, spatial="no", **SMALL), "spatial"),
    (lambda: GConvGRU(SCHEMA, 4, 4, hidden=8, edge_weight="no"), "edge_weight"),
    (lambda: STGCN(SCHEMA, 4, 4, hidden=8, edge_weight="no"), "edge_weight"),
    (lambda: SkeletonSTGCN(SCHEMA, 4, 4, hidden=8, edge_weight="no"), "edge_weight"),
    (lambda: ERD(SCHEMA, 4, 4, hidden=8, residual="no"), "residual"),
    (lambda: LSTM3LR(SCHEMA, 4, 4, hidden=8, residual="no"), "residual"),
])
def test_bool_flags_refuse_non_bools(build, arg):
    """A bool flag given a string should be refused, naming the argument
    (``StructuralRNN`` already refuses ``fused_lstm=1``, ``LinearAR``
    ``per_node=1``). Today the value is kept or passed through ``bool()``:
    ``spatial="no"`` switches the edgeRNNs *on*, ``edge_weight="no"`` turns edge
    weighting *on*, ``ERD(residual="no")`` makes a residual model."""
    owner = {"spatial": "StructuralRNN"}.get(arg)
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert f"'{arg}'" in str(info.value) and (owner is None or str(info.value).startswith(owner))


@pytest.mark.parametrize("value", [5, [8.7], "88"])
def test_erd_layer_sizes_are_checked(value):
    """``ERD(encoder_channels=...)`` takes a sequence of positive ints. An int
    should be refused with a message naming 'encoder_channels' (today: raw
    ``TypeError: 'int' object is not iterable``); a float size should be refused,
    not truncated (``[8.7]`` becomes ``(8,)``, unlike StructuralRNN's
    ``edge_mlp=[8.0]``, which is refused); a string should not be read digit by
    digit (``"88"`` becomes ``(8, 8)``)."""
    _assert_named_error(lambda: ERD(SCHEMA, 4, 4, encoder_channels=value, lstm_channels=8,
                                    decoder_channels=(8,)), "ERD", "encoder_channels")


@pytest.mark.parametrize("value", [1, [0.7], "01", [True]])
def test_constant_velocity_position_channels_are_checked(value):
    """``position_channels`` is a list of channel indices. An int should be
    refused naming 'position_channels' (today: raw ``'int' object is not
    iterable``); floats, bools and strings should be refused rather than cast
    with ``int()`` (``[0.7]`` -> ``[0]``, ``"01"`` -> ``[0, 1]``, ``[True]`` -> ``[1]``)."""
    _assert_named_error(lambda: ConstantVelocity(SCHEMA, 4, 4, position_channels=value),
                        "ConstantVelocity", "position_channels")


@pytest.mark.parametrize("value", ["abc", True, -1.0])
def test_srnn_lstm_grad_clip_is_checked_by_name(value):
    """``StructuralRNN(cell="peephole", lstm_grad_clip=...)`` should refuse a
    string, a bool and a negative value with an error naming StructuralRNN and
    'lstm_grad_clip'. Today ``"abc"`` gives the raw ``could not convert string
    to float: 'abc'``, ``True`` silently becomes a clip of 1.0, and ``-1.0`` is
    reported as ``PeepholeLSTM: 'grad_clip' ...``, an argument the user never passed."""
    _assert_named_error(lambda: StructuralRNN(SCHEMA, 4, 4, cell="peephole", lstm_grad_clip=value, **SMALL),
                        "StructuralRNN", "lstm_grad_clip")


def test_linear_ar_infinite_ridge_is_refused():
    """``LinearAR(ridge=inf)`` passes the constructor's ``ridge >= 0`` check and
    then ``fit_closed_form`` crashes inside ``torch.linalg.lstsq`` with a PyTorch
    INTERNAL ASSERT. The constructor should refuse a non-finite ridge, naming
    'ridge' (it already refuses NaN)."""
    _assert_named_error(lambda: LinearAR(SCHEMA, 4, 4, ridge=float("inf")), "LinearAR", "ridge")


def test_skeleton_stgcn_one_node_one_step_in_training_mode():
    """docs/errors.md: "One node, one step (T = 1): every model." SkeletonSTGCN
    in training mode (its default state after construction) on a graph of one
    node and one step raises BatchNorm's raw ``Expected more than 1 value per
    channel when training``. Expected: an output ``[1, 1, 4]``, or an error
    naming SkeletonSTGCN and 'x'."""
    m = SkeletonSTGCN(SCHEMA, 4, 4, hidden=8, num_layers=2, kernel_size=3)
    one = STData(x=torch.randn(1, 1, 4), edge_index=torch.zeros(2, 0, dtype=torch.long),
                 node_type=torch.tensor([1]), edge_type=torch.zeros(0, dtype=torch.long))
    try:
        out = m(one)
    except (ValueError, TypeError) as e:
        assert str(e).startswith("SkeletonSTGCN:") and "'x'" in str(e), str(e)
    else:
        assert out.shape == (1, 1, 4)


def test_skeleton_stgcn_ignores_node_type_as_documented():
    """SkeletonSTGCN's docstring: "Node types are ignored"; docs/errors.md: "A
    model that ignores a key gives a correct result whatever the key holds." Yet
    with ``edge_importance="type"`` (the default) it range- and dtype-checks
    ``node_type`` and refuses a float or out-of-range one. Expected: the same
    output as without ``node_type``."""
    m = SkeletonSTGCN(SCHEMA, 4, 4, hidden=8, num_layers=2, kernel_size=3).eval()
    d = _data()
    ref = m(d)
    for bad in (d.node_type.float(), torch.full_like(d.node_type, 7)):
        d2 = copy.copy(d)
        d2.node_type = bad
        assert torch.equal(m(d2), ref)


@pytest.mark.parametrize("make", [
    lambda: StructuralRNN(SCHEMA, 4, 4, **SMALL),
    lambda: NodeLSTM(SCHEMA, 4, 4, hidden=8),
    lambda: ZeroVelocity(SCHEMA, 4, 4),
])
def test_passing_a_tensor_instead_of_stdata_is_explained(make):
    """A PyG user's first call is often ``model(x)``. Expected: a TypeError
    naming the model, 'data' and STData. Today StructuralRNN raises the raw
    ``AttributeError: 'Tensor' object has no attribute 'get'`` and the baselines
    say ``'x' must be [num_nodes, T, F] (got NoneType)`` although a perfectly
    shaped x was passed."""
    m = make()
    x = _data().x
    with pytest.raises(TypeError) as info:
        m(x)
    msg = str(info.value)
    assert "'data'" in msg and "STData" in msg and "Tensor" in msg, msg


def test_register_refuses_non_forecasters_and_bad_names():
    """``register(name)`` is documented as making a *Forecaster* buildable by
    name. It registers any class (``build`` then returns a non-model), accepts
    ``""`` as a name, and ``register(5)`` fails with a raw AttributeError
    (``'int' object has no attribute 'lower'``). Expected: TypeError for a
    non-Forecaster class and a non-str name, ValueError for an empty name."""
    class Plain:
        def __init__(self, schema, in_channels, out_channels):
            pass

    Empty = type("ReviewEmptyName", (M.Forecaster,), {})
    try:
        with pytest.raises(TypeError):
            M.register("review_plain_class")(Plain)
        with pytest.raises(ValueError):
            M.register("")(Empty)
        with pytest.raises(TypeError):
            M.register(5)(Empty)
    finally:                                                # keep the global registry clean
        from srnn_pyg.models import registry
        registry._REGISTRY.pop("review_plain_class", None)
        registry._REGISTRY.pop("", None)


def test_velocity_scale_without_derived_is_not_silently_ignored():
    """``velocity_scale`` only scales the derived velocity channels; without
    ``derived="velocity"`` it has no effect. StructuralRNN warns for the
    analogous unused ``edge_channels``; ``velocity_scale=5.0`` with
    ``derived=None`` is accepted silently (here and in NodeLSTM, GConvGRU,
    STGCN, LinearAR). Expected: a UserWarning (or a ValueError)."""
    with pytest.warns(UserWarning, match="velocity_scale"):
        StructuralRNN(SCHEMA, 4, 4, velocity_scale=5.0, **SMALL)


def test_numpy_integer_channels_are_accepted_like_other_sizes():
    """``StructuralRNN(..., edge_hidden=np.int64(8))`` is accepted (sizes are
    checked with ``numbers.Integral``) and ``forecast(data, np.int64(3))`` too,
    but ``in_channels=np.int64(4)`` (e.g. ``arr.shape`` of a numpy-computed
    width, ``np.prod``) is refused with the confusing ``'in_channels' must be a
    positive int (got np.int64(4))``. Expected: numpy integers accepted
    consistently."""
    m = StructuralRNN(SCHEMA, np.int64(4), np.int64(4), **SMALL)
    assert m.forecast(_data(), 2).shape == (5, 2, 4)


def test_out_channels_error_names_the_model():
    """``StructuralRNN(schema, 4, True)`` is refused, but the message is
    ``DeterministicHead: 'out_channels' ...``: a class the user did not call.
    Expected: the message starts with the model's name (docs/errors.md)."""
    _assert_named_error(lambda: StructuralRNN(SCHEMA, 4, True, **SMALL), "StructuralRNN", "out_channels")


# =====================================================================================
# What works (these pass)
# =====================================================================================

@pytest.mark.parametrize("name", list(_small_models()))
@pytest.mark.parametrize("horizon", [0, -1, True, 2.0])
def test_ok_bad_horizon_is_refused(name, horizon):
    m = _small_models()[name]
    _assert_named_error(lambda: m.forecast(_data(), horizon), type(m).__name__, "horizon")


@pytest.mark.parametrize("name", list(_small_models()))
def test_ok_batched_equals_one_by_one_with_masks(name):
    m = _small_models()[name].eval()
    ds = [fake_st_data(num_nodes=5, T=6, F=4, schema=SCHEMA, masks=True,
                       generator=torch.Generator().manual_seed(i)) for i in range(3)]
    b = next(iter(DataLoader(ds, batch_size=3)))
    with torch.no_grad():
        fb, fs = m.forecast(b, 4), torch.cat([m.forecast(d, 4) for d in ds])
    assert torch.allclose(fb, fs, atol=1e-5)


@pytest.mark.parametrize("name", list(_small_models()))
def test_ok_nan_at_absent_steps_is_ignored_and_absent_nodes_forecast_zero(name):
    m = _small_models()[name].eval()
    d = _data(masks=True)
    d.node_mask[1, -2:] = False
    dn = copy.copy(d)
    dn.x = d.x.masked_fill(~d.node_mask.unsqueeze(-1), float("nan"))
    with torch.no_grad():
        a, an = m.forecast(d, 4), m.forecast(dn, 4)
    assert torch.equal(a, an) and bool((a[1] == 0).all())


@pytest.mark.parametrize("name", list(_small_models()))
def test_ok_state_dict_round_trip_and_repr(name):
    m = _small_models()[name].eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    d = _data()
    args = {k: v for k, v in m.model_args.items() if k != "schema"}
    m2 = type(m)(SCHEMA, **args).eval()
    m2.load_state_dict(m.state_dict())
    with torch.no_grad():
        assert torch.equal(m.forecast(d, 3), m2.forecast(d, 3))
    assert repr(m).startswith(type(m).__name__)


@pytest.mark.parametrize("name", ["srnn", "node_lstm", "gconv_gru", "skeleton_stgcn", "linear_ar"])
def test_ok_float64_input_refused_with_fix(name):
    m = _small_models()[name]
    d = _data()
    d.x = d.x.double()
    with pytest.raises(TypeError, match=r"'x' must have the model's dtype torch.float32"):
        m(d)


def test_ok_srnn_empty_graphs_and_streaming():
    m = StructuralRNN(SCHEMA, 4, 4, **SMALL).eval()
    e0 = STData(x=torch.randn(3, 5, 4), edge_index=torch.zeros(2, 0, dtype=torch.long),
                node_type=torch.tensor([0, 1, 0]), edge_type=torch.zeros(0, dtype=torch.long))
    n0 = STData(x=torch.randn(0, 5, 4), edge_index=torch.zeros(2, 0, dtype=torch.long),
                node_type=torch.zeros(0, dtype=torch.long), edge_type=torch.zeros(0, dtype=torch.long))
    assert m.forecast(e0, 2).shape == (3, 2, 4) and m.forecast(n0, 2).shape == (0, 2, 4)
    d = _data()
    with torch.no_grad():
        full, state, outs = m(d), None, []
        for k in range(d.x.size(1)):
            f = copy.copy(d)
            f.x = d.x[:, k:k + 1]
            o, state = m.step(f, state)
            outs.append(o)
    assert torch.allclose(torch.cat(outs, 1), full, atol=1e-6)
