import math

import pytest
import torch

from srnn_pyg.metrics import (accuracy, anticipate, confusion_matrix, mae, maneuver_scores, mape, mse,
                              per_horizon, rmse, threshold_labels)


# ---------------------------------------------------------------- forecasting
def _pair():
    target = torch.tensor([[[1.0], [2.0], [4.0]], [[0.0], [5.0], [10.0]]])      # [N=2, H=3, F=1]
    pred = target + torch.tensor([[[1.0], [-1.0], [2.0]], [[3.0], [0.0], [-4.0]]])
    return pred, target


def test_forecast_metrics_hand_computed():
    pred, target = _pair()
    assert float(mse(pred, target)) == pytest.approx((1 + 1 + 4 + 9 + 0 + 16) / 6)
    assert float(mae(pred, target)) == pytest.approx((1 + 1 + 2 + 3 + 0 + 4) / 6)
    assert float(rmse(pred, target)) == pytest.approx(math.sqrt(31 / 6))
    # MAPE leaves out the zero target
    assert float(mape(pred, target)) == pytest.approx(100 * (1 / 1 + 1 / 2 + 2 / 4 + 0 / 5 + 4 / 10) / 5)


def test_forecast_metrics_masks():
    pred, target = _pair()
    node_mask = torch.tensor([True, False])                                        # over N
    assert float(mae(pred, target, node_mask)) == pytest.approx(4 / 3)
    step_mask = torch.tensor([[True, False, True], [False, True, True]])           # over N, H
    assert float(mse(pred, target, step_mask)) == pytest.approx((1 + 4 + 0 + 16) / 4)
    assert float(mape(pred, target, step_mask)) == pytest.approx(100 * (1 + 0.5 + 0 + 0.4) / 4)
    none = torch.zeros(2, 3, dtype=torch.bool)
    assert math.isnan(float(mae(pred, target, none)))                              # nothing scored


def test_per_horizon():
    pred, target = _pair()
    assert per_horizon("mae", pred, target).tolist() == pytest.approx([2.0, 0.5, 3.0])
    assert per_horizon("mse", pred, target).tolist() == pytest.approx([5.0, 0.5, 10.0])
    assert per_horizon("rmse", pred, target).tolist() == pytest.approx([math.sqrt(5), math.sqrt(0.5),
                                                                         math.sqrt(10)])
    m = torch.tensor([True, False])
    assert per_horizon("mae", pred, target, m).tolist() == pytest.approx([1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="'metric'"):
        per_horizon("mape", pred, target)
    with pytest.raises(ValueError, match="same shape"):
        mse(pred, target[:, :2])


# -------------------------------------------------------------- classification
def test_threshold_labels():
    probs = torch.tensor([[0.10, 0.60, 0.10, 0.10, 0.10],     # confident lchange
                          [0.30, 0.35, 0.05, 0.20, 0.10],     # weak lchange -> straight
                          [0.90, 0.02, 0.02, 0.03, 0.03],     # straight
                          [0.20, 0.10, 0.10, 0.10, 0.50]])    # rturn at exactly the threshold
    assert threshold_labels(probs, 0.5).tolist() == [1, 0, 0, 4]
    assert threshold_labels(probs, 0.0).tolist() == [1, 1, 0, 4]
    assert threshold_labels(probs.view(2, 2, 5), 0.5).tolist() == [[1, 0], [0, 4]]


def test_anticipate_first_maneuver_and_time():
    steps = torch.tensor([[0, 0, 2, 2, 1],      # first maneuver at step 2 of 5 -> 2 steps early
                          [0, 0, 0, 0, 0],      # never -> straight, time 0
                          [3, 0, 0, 0, 3],      # at step 0 -> 4 steps early
                          [0, 0, 0, 0, 4]])     # only at the last step -> time 0
    pred, time = anticipate(steps)
    assert pred.tolist() == [2, 0, 3, 4]
    assert time.tolist() == pytest.approx([1.6, 0.0, 3.2, 0.0])
    mask = torch.tensor([[True] * 5, [True] * 5, [False, True, True, True, True],
                         [True, True, True, True, False]])
    pred, time = anticipate(steps, mask=mask, step_seconds=1.0)
    assert pred.tolist() == [2, 0, 3, 0]                     # masked steps are skipped
    assert time.tolist() == pytest.approx([2.0, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        anticipate(steps[0])


def test_confusion_matrix():
    pred = torch.tensor([1, 1, 0, 2, 2])
    target = torch.tensor([0, 1, 1, 2, 2])
    conf = confusion_matrix(pred, target, 3)
    assert conf.tolist() == [[0, 1, 0], [1, 1, 0], [0, 0, 2]]                  # rows true
    conf = confusion_matrix(pred, target, 3, mask=torch.tensor([True, True, False, True, True]))
    assert conf.tolist() == [[0, 1, 0], [0, 1, 0], [0, 0, 2]]
    with pytest.raises(ValueError, match=r"'pred' must lie in \[0, 2\]"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 3)


def test_maneuver_scores_hand_computed():
    # classes: 0 straight, 1 lchange, 2 rchange, 3 lturn, 4 rturn
    target = torch.tensor([0, 1, 1, 2, 3, 4, 0])
    pred = torch.tensor([1, 1, 0, 2, 3, 3, 0])
    time = torch.tensor([2.0, 3.0, 0.0, 4.0, 1.0, 5.0, 0.0])
    s = maneuver_scores(pred, target, time=time)
    # precision: lchange 1/2, rchange 1/1, lturn 1/2, rturn 0 (never predicted)
    assert s["precision_per_class"].tolist() == pytest.approx([0.5, 0.5, 1.0, 0.5, 0.0])
    # recall: lchange 1/2, rchange 1, lturn 1, rturn 0
    assert s["recall_per_class"].tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0, 0.0])
    assert s["precision"] == pytest.approx(0.5)
    assert s["recall"] == pytest.approx(0.625)
    assert s["f1"] == pytest.approx(2 * 0.5 * 0.625 / 1.125)
    # correct maneuvers: lchange at 3.0 s, rchange at 4.0 s, lturn at 1.0 s (straight not counted)
    assert s["time_to_maneuver"] == pytest.approx((3.0 + 4.0 + 1.0) / 3)
    assert s["confusion"].sum() == 7
    everything = maneuver_scores(pred, target, background=None)
    assert everything["precision"] == pytest.approx((0.5 + 0.5 + 1 + 0.5 + 0) / 5)
    masked = maneuver_scores(pred, target, mask=torch.tensor([1, 1, 0, 1, 1, 0, 1]).bool())
    assert masked["recall"] == pytest.approx((1 + 1 + 1 + 0) / 4)


def test_maneuver_scores_trivial_predictors():
    target = torch.tensor([0, 0, 1, 2, 3, 4, 1, 1])
    straight = maneuver_scores(torch.zeros(8, dtype=torch.long), target, time=torch.zeros(8))
    assert straight["precision"] == 0.0 and straight["recall"] == 0.0 and straight["f1"] == 0.0
    assert math.isnan(straight["time_to_maneuver"])
    majority = maneuver_scores(torch.ones(8, dtype=torch.long), target)
    assert majority["precision"] == pytest.approx(3 / 8 / 4) and majority["recall"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="one value per sequence"):
        maneuver_scores(target, target, time=torch.zeros(3))


def test_bivariate_gaussian_nll_matches_direct_formula():
    import torch
    from torch.distributions import MultivariateNormal

    from srnn_pyg.metrics import bivariate_gaussian_nll

    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 3, 2, generator=g)
    sig = torch.rand(4, 3, 2, generator=g) + 0.2
    rho = torch.rand(4, 3, generator=g) * 1.6 - 0.8
    target = torch.randn(4, 3, 2, generator=g)
    cov = torch.stack([torch.stack([sig[..., 0] ** 2, rho * sig[..., 0] * sig[..., 1]], -1),
                       torch.stack([rho * sig[..., 0] * sig[..., 1], sig[..., 1] ** 2], -1)], -2)
    expected = -MultivariateNormal(mu, covariance_matrix=cov).log_prob(target)          # [4, 3]
    params = torch.cat([mu, sig, rho.unsqueeze(-1)], -1)
    assert torch.allclose(bivariate_gaussian_nll(params, target), expected.mean(), atol=1e-5)
    mask = torch.rand(4, 3, generator=g) > 0.5
    assert torch.allclose(bivariate_gaussian_nll(params, target, mask), expected[mask].mean(), atol=1e-5)


def test_gaussian_nll_ignores_masked_degenerate_entries():
    from srnn_pyg.metrics import bivariate_gaussian_nll
    # absent nodes output zeros (sigma = 0): masked, they must give neither inf nor NaN gradients
    params = torch.tensor([[[0.1, 0.2, 1.0, 2.0, 0.3], [0.0, 0.0, 0.0, 0.0, 0.0]]], requires_grad=True)
    target = torch.tensor([[[0.5, -0.5], [3.0, 3.0]]])
    mask = torch.tensor([[True, False]])
    loss = bivariate_gaussian_nll(params, target, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(params.grad).all()
    assert (params.grad[0, 1] == 0).all()
    assert loss.item() == pytest.approx(bivariate_gaussian_nll(params[:, :1].detach(), target[:, :1]).item())


def test_accuracy_hand_computed():
    pred = torch.tensor([[0, 1, 2], [1, 1, 0]])
    target = torch.tensor([[0, 2, 2], [1, 0, 0]])
    assert float(accuracy(pred, target)) == pytest.approx(4 / 6)
    mask = torch.tensor([[True, True, False], [False, False, True]])
    assert float(accuracy(pred, target, mask)) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        accuracy(pred, target[:, :2])


def test_masked_entries_are_selected_out_not_multiplied():
    """A missing value (NaN or inf) under its mask leaves every masked metric finite and equal to the metric
    over the present entries alone (masks select, they never multiply)."""
    from srnn_pyg import metrics as M
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(4, 3, 2, generator=g), torch.randn(4, 3, 2, generator=g) + 3
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[1, 2] = mask[3, 0] = False
    holed = target.clone()
    holed[1, 2, 0], holed[3, 0] = float("nan"), float("inf")
    for name in ("mse", "mae", "rmse", "mape"):
        fn = getattr(M, name)
        assert torch.isclose(fn(pred, holed, mask), fn(pred, target, mask)), name
    for name in ("mse", "mae", "rmse"):
        assert torch.allclose(M.per_horizon(name, pred, holed, mask), M.per_horizon(name, pred, target, mask))
    for fn in (M.ade, M.fde):
        assert torch.isclose(fn(pred, holed, mask), fn(pred, target, mask))
