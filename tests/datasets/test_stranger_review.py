"""Bad inputs and edge cases of the metrics, scalers and the Los-loop scoring
that a review found: each raised an unrelated error, or returned a wrong number."""
import numpy as np
import pytest
import torch

from srnn_pyg import metrics as M
from srnn_pyg.datasets import LosLoop
from srnn_pyg.scalers import Compose, MinMaxScaler, StandardScaler, scaler_from_state


# ------------------------------------------------------------------ metrics
@pytest.mark.parametrize("fn", [M.mse, M.mae, M.rmse, M.mape])
def test_metric_mask_of_the_wrong_shape_is_named(fn):
    pred, target = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    with pytest.raises(ValueError, match=r"'mask' must cover the leading dimensions of 'target' \[4, 3, 2\]"):
        fn(pred, target, torch.ones(3, dtype=torch.bool))              # [H] given for [N]
    with pytest.raises(ValueError, match="'mask'"):
        fn(pred, target, torch.ones(4, 3, 2, 1, dtype=torch.bool))     # more dims than the target


def test_metric_masks_that_fit_still_work():
    pred, target = torch.zeros(4, 3, 2), torch.ones(4, 3, 2)
    target[0] = 3.0
    keep = torch.tensor([False, True, True, True])
    assert float(M.mae(pred, target, keep)) == pytest.approx(1.0)
    assert float(M.mae(pred, target, keep.view(4, 1))) == pytest.approx(1.0)     # size-1 dims broadcast
    assert float(M.mae(pred, target, keep.view(4, 1).expand(4, 3))) == pytest.approx(1.0)
    assert M.per_horizon("mse", pred, target, keep).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="per_horizon: 'mask'"):
        M.per_horizon("mae", pred, target, torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="accuracy: 'mask'"):
        M.accuracy(torch.zeros(4, 3), torch.zeros(4, 3), torch.ones(5, dtype=torch.bool))


def test_per_horizon_needs_a_horizon_dimension():
    with pytest.raises(ValueError, match=r"per_horizon: 'pred' and 'target' must be \[N, H\]"):
        M.per_horizon("mse", torch.randn(5), torch.randn(5))


def test_frames_at_ms_takes_numpy_and_torch_scalars():
    assert M.frames_at_ms(np.int64(80)) == 1
    assert M.frames_at_ms(torch.tensor(1000)) == 24
    assert M.frames_at_ms(np.array([80, 160])) == [1, 3]
    assert M.frames_at_ms(torch.tensor([80, 400])) == [1, 9]


def test_best_of_k_refuses_negative_windows():
    samples, target = torch.randn(2, 4, 3, 2), torch.randn(4, 3, 2)
    with pytest.raises(ValueError, match="'batch' must hold window indices >= 0"):
        M.best_of_k_ade_fde(samples, target, per="scene", batch=torch.tensor([0, -1, 1, 1]))


def test_maneuver_scores_and_confusion_check_their_classes():
    pred, target = torch.tensor([0, 1]), torch.tensor([0, 1])
    with pytest.raises(ValueError, match=r"'background' must be a class in \[0, 1\]"):
        M.maneuver_scores(pred, target, num_classes=2, background=5)
    with pytest.raises(ValueError, match="'num_classes' must be an int >= 1"):
        M.confusion_matrix(pred, target, 0)
    assert M.maneuver_scores(pred, target, num_classes=2, background=None)["f1"] == pytest.approx(1.0)


def test_anticipate_needs_a_bool_mask():
    with pytest.raises(ValueError, match=r"anticipate: 'mask' must be a bool \[B, T\]"):
        M.anticipate(torch.tensor([[0, 1]]), mask=torch.ones(1, 2))


def test_bivariate_nll_checks_its_mask():
    params = torch.rand(3, 4, 5) * 0.5 + 0.5
    params[..., 4] = 0.0
    target = torch.rand(3, 4, 2)
    for bad in (torch.ones(3, 4), torch.ones(3, 1, dtype=torch.bool), torch.ones(4, dtype=torch.bool)):
        with pytest.raises(ValueError, match="bivariate_gaussian_nll: 'mask' must be a bool tensor"):
            M.bivariate_gaussian_nll(params, target, bad)
    full = M.bivariate_gaussian_nll(params, target)
    assert torch.allclose(M.bivariate_gaussian_nll(params, target, torch.ones(3, 4, dtype=torch.bool)), full)


# ------------------------------------------------------------------ scalers
def test_scaler_state_with_missing_parts_is_named():
    with pytest.raises(ValueError, match=r"missing \['center', 'scale'\]"):
        StandardScaler().load_state_dict({"kind": "standard", "options": {}})
    with pytest.raises(ValueError, match="Compose: 'state' must come from a Compose.state_dict()"):
        scaler_from_state({"kind": "compose"})
    x = torch.randn(6, 2)
    again = scaler_from_state(Compose([StandardScaler(), MinMaxScaler((-1, 1))]).fit(x).state_dict())
    assert again.transform(x).min() == pytest.approx(-1.0) and again.transform(x).max() == pytest.approx(1.0)


def test_minmax_maps_a_constant_to_the_range_start():
    scaler = MinMaxScaler((2.0, 3.0)).fit(torch.full((3, 1), 5.0))
    assert scaler.transform(torch.full((2, 1), 5.0)).flatten().tolist() == [2.0, 2.0]
    assert scaler.inverse_transform(torch.full((1, 1), 2.0)).item() == 5.0


# ------------------------------------------------------------------ Los-loop
def _write_los(root, T=60, N=2):
    t = np.arange(T)[:, None]
    speed = 40.0 + 3.0 * np.arange(N)[None, :] + np.sin(0.3 * t)              # [T, N], no zero
    root.mkdir(parents=True)
    lines = [",".join(str(700 + i) for i in range(N))] + [",".join(f"{v:.6f}" for v in row) for row in speed]
    (root / "los_speed.csv").write_text("\n".join(lines) + "\n")
    (root / "los_adj.csv").write_text("\n".join(",".join("1" for _ in range(N)) for _ in range(N)) + "\n")


def test_los_loop_zero_reading_survives_normalising(tmp_path):
    _write_los(tmp_path / "los_loop")
    ds = LosLoop(tmp_path, split="test", obs=2, horizon=3)
    # statistics for which a zero reading does not come back as exactly 0 mph in float32
    ds.mean, ds.std = torch.tensor([60.1]), torch.tensor([10.3])
    zero = ds.denormalize(ds.normalize(torch.zeros(1, 1, 1))).item()
    assert zero != 0.0 and abs(zero) < 1e-4
    target = ds.normalize(torch.tensor([[[0.0], [0.0], [0.0]], [[50.0], [50.0], [50.0]]]))   # [2, 3, 1]
    pred = ds.normalize(torch.tensor([[[10.0], [10.0], [10.0]], [[55.0], [55.0], [55.0]]]))
    out = ds.horizon_metrics(pred, target, horizons=(3,))[15]
    assert out["mape"] == pytest.approx(10.0, rel=1e-4)                # the broken sensor is left out
    assert out["mae"] == pytest.approx(5.0, rel=1e-4)
    with pytest.raises(ValueError, match=r"each horizon must be an int in 1\.\.3"):
        ds.horizon_metrics(pred, target, horizons=(3.0,))


def test_los_loop_horizon_without_readings_is_nan_not_perfect():
    import math

    import torch

    from srnn_pyg.datasets.los_loop import LosLoop
    ds = LosLoop.__new__(LosLoop)                       # the metric alone: no data file needed
    ds.mean, ds.std = torch.tensor(0.0), torch.tensor(1.0)
    target = torch.zeros(3, 2, 1)
    target[:, 0] = 50.0                                  # step 2: every sensor reads zero (failed)
    out = ds.horizon_metrics(target + 1.0, target, horizons=(1, 2))
    assert out[5]["mae"] == 1.0
    assert all(math.isnan(out[10][k]) for k in ("mae", "rmse", "mape"))
