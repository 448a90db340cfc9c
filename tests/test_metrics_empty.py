"""A metric over an empty selection is NaN (nothing was scored), not an error of 0; a training loss
over nothing stays 0; evaluate pools batches without a scored entry as nothing."""
import math

import pytest
import torch

from srnn_pyg import metrics as M

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["mse", "mae", "rmse", "mape"])
def test_regression_metrics_of_nothing_are_nan(name):
    pred, target = torch.randn(3, 4, 2), torch.randn(3, 4, 2) + 5
    fn = getattr(M, name)
    assert math.isnan(float(fn(pred, target, torch.zeros(3, dtype=torch.bool))))
    assert math.isfinite(float(fn(pred, target, torch.tensor([True, False, False]))))


def test_per_horizon_is_nan_only_at_the_steps_without_entries():
    pred, target = torch.randn(3, 4, 2), torch.randn(3, 4, 2)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[:, 2] = False
    per = M.per_horizon("mae", pred, target, mask)
    assert math.isnan(float(per[2])) and torch.isfinite(per[[0, 1, 3]]).all()
    assert torch.allclose(per[0], (pred[:, 0] - target[:, 0]).abs().mean())


def test_classification_and_trajectory_metrics_of_nothing_are_nan():
    none = torch.zeros(3, dtype=torch.bool)
    assert math.isnan(float(M.accuracy(torch.zeros(3, 5, dtype=torch.long), torch.ones(3, 5, dtype=torch.long),
                                       none)))
    pred, target = torch.randn(3, 6, 2), torch.randn(3, 6, 2)
    assert math.isnan(float(M.ade(pred, target, none))) and math.isnan(float(M.fde(pred, target, none)))
    ade, fde = M.best_of_k_ade_fde(pred.unsqueeze(0).expand(4, -1, -1, -1), target, none)
    assert math.isnan(float(ade)) and math.isnan(float(fde))
    ade, fde = M.best_of_k_ade_fde(pred.unsqueeze(0), target)
    assert torch.allclose(ade, M.ade(pred, target)) and torch.allclose(fde, M.fde(pred, target))


def test_the_gaussian_loss_of_nothing_is_zero_with_a_zero_gradient():
    params = torch.randn(3, 4, 5, requires_grad=True)
    loss = M.bivariate_gaussian_nll(params, torch.randn(3, 4, 2), torch.zeros(3, 4, dtype=torch.bool))
    assert float(loss) == 0.0
    loss.backward()
    assert torch.equal(params.grad, torch.zeros_like(params))


def test_evaluate_pools_a_batch_with_nothing_scored_as_nothing():
    from torch_geometric.loader import DataLoader

    from srnn_pyg.engine import evaluate
    from srnn_pyg.models import StructuralRNN
    from srnn_pyg.testing import fake_schema, fake_st_data
    schema = fake_schema()
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, edge_hidden=4, node_hidden=4)
    scored = fake_st_data(5, 6, 3, schema=schema, horizon=3, generator=torch.Generator().manual_seed(1))
    empty = fake_st_data(5, 6, 3, schema=schema, horizon=3, generator=torch.Generator().manual_seed(2))
    empty.y_mask = torch.zeros(5, 3, dtype=torch.bool)
    alone = evaluate(model, DataLoader([scored], batch_size=1), metrics=["mse", "mae"], objective="rollout")
    both = evaluate(model, DataLoader([scored, empty], batch_size=1), metrics=["mse", "mae"], objective="rollout")
    assert math.isfinite(alone["mse"]) and both["mse"] == pytest.approx(alone["mse"])
    assert both["mae"] == pytest.approx(alone["mae"])
