import numpy as np
import pytest
import torch

from srnn_pyg.scalers import (Compose, MinMaxScaler, RobustScaler, StandardScaler, scaler_from_state)


def _data(seed=0, shape=(5, 40, 3)):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * np.array([1.0, 10.0, 0.1]) + np.array([0.0, 5.0, -3.0])
    mask = rng.random(shape[:2]) > 0.3                                          # [N, T]: ~30% absent
    x[~mask] = 1e6                                                              # garbage where absent
    return x, mask


def _reference(kind, x, mask, axis):
    """The expected (center, scale), computed by NumPy over the present entries."""
    m = np.broadcast_to(mask[..., None], x.shape)
    v = np.where(m, x, np.nan)
    if kind == "standard":
        c, s = np.nanmean(v, axis=axis, keepdims=True), np.nanstd(v, axis=axis, keepdims=True)
    elif kind == "minmax":
        lo, hi = np.nanmin(v, axis=axis, keepdims=True), np.nanmax(v, axis=axis, keepdims=True)
        c, s = lo, hi - lo                                                      # range (0, 1)
    else:
        q = np.nanpercentile(v, [50, 25, 75], axis=axis, keepdims=True)
        c, s = q[0], q[2] - q[1]
    return c, np.where(s > 1e-12, s, 1.0)                                       # no spread: scale 1


SCALERS = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


@pytest.mark.parametrize("kind", sorted(SCALERS))
@pytest.mark.parametrize("axis, np_axis", [("feature", (0, 1)), ("node", (1,)), ("all", (0, 1, 2)), (0, (0,))])
def test_matches_numpy_over_present_entries(kind, axis, np_axis):
    x, mask = _data()
    scaler = SCALERS[kind](axis=axis).fit(torch.from_numpy(x), mask=torch.from_numpy(mask))
    c, s = _reference(kind, x, mask, np_axis)
    assert scaler.center.shape == c.shape
    np.testing.assert_allclose(scaler.center.numpy(), c, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(scaler.scale.numpy(), s, rtol=1e-10)
    out = scaler.transform(torch.from_numpy(x))
    m = np.broadcast_to(mask[..., None], x.shape)
    np.testing.assert_allclose(out.numpy()[m], ((x - c) / s)[m], rtol=1e-9, atol=1e-9)
    back = scaler.inverse_transform(out)
    np.testing.assert_allclose(back.numpy(), x, rtol=1e-9)


def test_standard_scaled_present_entries_have_zero_mean_unit_std():
    x, mask = _data(1)
    out = StandardScaler().fit_transform(x, mask)                              # NumPy in, NumPy out
    assert isinstance(out, np.ndarray) and out.dtype == x.dtype
    present = out[mask]                                                         # [n_present, F]
    np.testing.assert_allclose(present.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(present.std(0), 1, atol=1e-9)
    # without the mask the garbage would count
    assert not np.allclose(StandardScaler().fit(x).center.numpy(), StandardScaler().fit(x, mask).center.numpy())


def test_minmax_range_and_robust_ignores_outliers():
    x = torch.linspace(0, 1, 101, dtype=torch.float64).view(101, 1)
    out = MinMaxScaler((-1.0, 1.0)).fit_transform(x)
    assert float(out.min()) == -1.0 and float(out.max()) == 1.0
    spiked = torch.cat([x, torch.tensor([[1e9]], dtype=torch.float64)])
    robust = RobustScaler().fit(spiked)
    assert abs(float(robust.center) - 0.505) < 1e-9 and abs(float(robust.scale) - 0.5) < 0.02


@pytest.mark.parametrize("kind", sorted(SCALERS))
def test_zero_variance_and_empty_groups_are_safe(kind):
    x = torch.zeros(3, 4, 2)
    x[..., 0] = 7.0                                                             # a constant feature
    x[..., 1] = torch.randn(3, 4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False                                                             # node 1 never present
    scaler = SCALERS[kind](axis="node").fit(x, mask)
    out = scaler.transform(x)
    assert torch.isfinite(out).all()
    assert torch.equal(scaler.scale[1], torch.ones(1, 2, dtype=torch.float64))  # empty: identity
    assert torch.equal(scaler.scale[:, :, 0], torch.ones(3, 1, dtype=torch.float64))
    assert torch.allclose(scaler.inverse_transform(out), x)


def test_state_dict_round_trip_through_a_default_torch_load(tmp_path):
    x, mask = _data(2)
    t = torch.from_numpy(x)
    for scaler in (StandardScaler(axis="node"), MinMaxScaler((2.0, 3.0)), RobustScaler((10.0, 90.0), axis=(0, 1)),
                   Compose([RobustScaler(), MinMaxScaler((-1.0, 1.0))])):
        scaler.fit(t, mask)
        torch.save(scaler.state_dict(), tmp_path / "scaler.pt")
        again = scaler_from_state(torch.load(tmp_path / "scaler.pt"))
        assert type(again) is type(scaler) and repr(again) == repr(scaler)
        assert torch.equal(again.transform(t), scaler.transform(t))
    with pytest.raises(ValueError, match="StandardScaler.state_dict"):
        StandardScaler().load_state_dict(MinMaxScaler().fit(t).state_dict())
    with pytest.raises(ValueError, match="kind in"):
        scaler_from_state({"kind": "nope"})


def test_compose_applies_in_order_and_inverts_in_reverse():
    x, mask = _data(3)
    t = torch.from_numpy(x)
    chain = Compose([StandardScaler(), MinMaxScaler()]).fit(t, mask)
    by_hand = MinMaxScaler().fit(StandardScaler().fit(t, mask).transform(t), mask)
    expected = by_hand.transform(StandardScaler().fit(t, mask).transform(t))
    assert torch.allclose(chain.transform(t), expected)
    assert torch.allclose(chain.inverse_transform(chain.transform(t)), t)
    with pytest.raises(TypeError, match=r"'scalers\[1\]' must be a scaler"):
        Compose([StandardScaler(), "minmax"])


def test_dtype_device_and_broadcasting_to_other_shapes():
    x = torch.randn(4, 10, 3) * 5 + 2
    scaler = StandardScaler().fit(x)
    y = torch.randn(4, 6, 3)                                                    # targets: another length
    assert scaler.transform(y).dtype == torch.float32 and scaler.transform(y).shape == y.shape
    frame = x[:, 0]                                                             # one frame [N, F]
    assert torch.allclose(scaler.transform(frame), scaler.transform(x)[:, 0], atol=1e-6)
    per_node = StandardScaler(axis="node").fit(x)
    assert per_node.transform(y).shape == y.shape
    with pytest.raises(ValueError, match="do not broadcast"):
        per_node.transform(torch.randn(7, 6, 3))                                # other nodes


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"call fit\(\).*before transform\(\)"):
        StandardScaler().transform(torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"before inverse_transform\(\)"):
        RobustScaler().inverse_transform(torch.randn(3, 2))
    with pytest.raises(ValueError, match="'axis' must be one of"):
        StandardScaler(axis="time")
    with pytest.raises(TypeError, match="'axis' must be"):
        StandardScaler(axis=1.5)
    with pytest.raises(ValueError, match="does not fit x with 2 dimensions"):
        StandardScaler(axis=2).fit(torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"'mask' must have the leading dimensions of 'x' \[3, 2\] \(got \[2\]\)"):
        StandardScaler().fit(torch.randn(3, 2), torch.ones(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="'mask' must be a bool"):
        StandardScaler().fit(torch.randn(3, 2), torch.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        StandardScaler().fit(torch.arange(6).view(3, 2))
    with pytest.raises(ValueError, match="NaN or infinite values at present entries"):
        StandardScaler().fit(torch.tensor([[1.0], [float("nan")]]))
    StandardScaler().fit(torch.tensor([[1.0], [float("nan")]]), torch.tensor([True, False]))   # masked: fine
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((1.0, 0.0))
    with pytest.raises(ValueError, match="quantile_range"):
        RobustScaler((80.0, 20.0))
    with pytest.raises(ValueError, match=r"axis='node' needs x of shape \[N, T, F\]"):
        StandardScaler(axis="node").fit(torch.randn(3, 2))
    assert repr(StandardScaler()) == "StandardScaler(axis='feature', fitted=False)"
    assert repr(MinMaxScaler().fit(torch.randn(3, 2))) == \
        "MinMaxScaler(feature_range=(0.0, 1.0), axis='feature', fitted=True)"
