"""srnn_pyg.engine.evaluation: evaluate (errors from srnn_pyg.metrics) and collect."""
import pytest
import torch
from engine_helpers import SMALL, run, small_kwargs
from torch_geometric.loader import DataLoader

from srnn_pyg import metrics as M
from srnn_pyg.engine import collect, evaluate
from srnn_pyg.models import available, build


def test_losses_ignore_masked_targets(springs):
    train, _ = springs
    data = train[0]
    data.y_mask = torch.ones(data.y.shape[:2], dtype=torch.bool)
    data.y_mask[0, 1] = False
    model = build("zero_velocity", train.schema, 4, 4)
    clean = evaluate(model, [data], metrics=["mse", "mae"])
    data.y = data.y.clone()
    data.y[0, 1] = 1e6                                                      # absent: must not count
    assert evaluate(model, [data], metrics=["mse", "mae"]) == pytest.approx(clean, rel=1e-6)


@pytest.mark.parametrize("name", available())
def test_every_registered_model_trains_and_evaluates(name, springs_long):
    springs = springs_long
    train, val = springs
    torch.manual_seed(0)
    model = build(name, train.schema, 4, 4, **small_kwargs(name, train))
    missing = [k for k in getattr(model, "required_keys", ()) if train[0].get(k) is None]
    if missing:
        pytest.skip(f"{name} needs the window keys {missing}, which Springs does not have")
    objective = "teacher_forcing" if model.has_forward else "rollout"
    result = run(model, springs, epochs=1, objective=objective)
    scores = evaluate(model, DataLoader(val, batch_size=8))
    assert len(scores["mse_per_step"]) == 3 and scores["mse"] > 0
    assert ("tf_mse" in scores) == bool(model.has_forward)
    assert result.history[-1]["val_mse"] == pytest.approx(scores["mse"], rel=1e-5)


def test_pooled_metrics_equal_the_metrics_of_the_whole_split(springs):
    """Batches pooled exactly: the scores of a loader of 3 batches are those of
    srnn_pyg.metrics on the whole split at once, masks included."""
    train, _ = springs
    torch.manual_seed(0)
    model = build("srnn", train.schema, 4, 4, **SMALL).eval()
    windows = []
    for i in range(len(train)):
        d = train[i]
        d.y_mask = torch.rand(d.y.shape[:2]) > 0.3
        windows.append(d)
    names = ["mse", "mae", "rmse", "mape", "ade", "mse_per_step", "mae_per_step"]
    scores = evaluate(model, DataLoader(windows, batch_size=10), metrics=names)
    whole = next(iter(DataLoader(windows, batch_size=len(windows))))
    with torch.no_grad():
        pred = model.forecast(whole, 3)
    y, m = whole.y, whole.y_mask
    assert scores["mse"] == pytest.approx(float(M.mse(pred, y, m)), rel=1e-5)
    assert scores["mae"] == pytest.approx(float(M.mae(pred, y, m)), rel=1e-5)
    assert scores["rmse"] == pytest.approx(float(M.rmse(pred, y, m)), rel=1e-5)
    assert scores["mape"] == pytest.approx(float(M.mape(pred, y, m)), rel=1e-5)
    assert scores["ade"] == pytest.approx(float(M.ade(pred, y, m)), rel=1e-5)
    assert scores["ade"] != pytest.approx(float(M.ade(pred, y)), rel=1e-3)          # the mask counts
    assert scores["mse_per_step"] == pytest.approx(M.per_horizon("mse", pred, y, m).tolist(), rel=1e-5)
    assert scores["mae_per_step"] == pytest.approx(M.per_horizon("mae", pred, y, m).tolist(), rel=1e-5)


def test_evaluate_errors_name_the_argument(springs):
    train, _ = springs
    model = build("zero_velocity", train.schema, 4, 4)
    loader = DataLoader(train, batch_size=8)
    with pytest.raises(ValueError, match="'objective'"):
        evaluate(model, loader, objective="tf")
    with pytest.raises(ValueError, match="'horizon'"):
        evaluate(model, loader, horizon=0)
    with pytest.raises(ValueError, match="do not apply"):
        evaluate(model, loader, metrics=["accuracy"], objective="rollout")
    stgcn = build("stgcn", train.schema, 4, 4, obs_len=6, horizon=3, hidden=8, kernel_size=2)   # no forward()
    with pytest.raises(ValueError, match="one-step-ahead"):
        evaluate(stgcn, loader, metrics=["tf_mse"])


def test_collect_regression_in_dataset_order(springs):
    train, _ = springs
    torch.manual_seed(0)
    model = build("srnn", train.schema, 4, 4, **SMALL)
    out = collect(model, DataLoader(train, batch_size=5), horizon=2)
    whole = next(iter(DataLoader(train, batch_size=len(train))))
    with torch.no_grad():
        pred = model.forecast(whole, 2)
    assert torch.allclose(out["pred"], pred, atol=1e-6)
    assert torch.equal(out["y"], whole.y[:, :2]) and torch.equal(out["x"], whole.x)
    assert torch.equal(out["node_type"], whole.node_type)
    assert "samples" not in out and not model.training
    with pytest.raises(ValueError, match="no windows"):
        collect(model, [])


def test_collect_classification_and_samples():
    from srnn_pyg.testing import fake_schema, fake_st_data
    from engine_helpers import walkers
    schema = fake_schema(2)
    g = torch.Generator().manual_seed(0)
    windows = []
    for _ in range(4):
        d = fake_st_data(num_nodes=5, T=4, F=3, schema=schema, generator=g)
        d.y = (d.x[..., 0] > 0).long()
        windows.append(d)
    model = build("srnn", schema, 3, 2, task="classification", **SMALL)
    out = collect(model, DataLoader(windows, batch_size=3))
    assert out["pred"].shape == (20, 4, 2) and out["y"].dtype == torch.long
    schema, walks = walkers(3, 0)
    torch.manual_seed(0)
    gauss = build("srnn", schema, 2, 2, **SMALL, edge_scope="edge", head="gaussian")
    out = collect(gauss, DataLoader(walks, batch_size=2), num_samples=5)
    assert out["pred"].shape == (12, 3, 2) and out["samples"].shape == (5, 12, 3, 2)
    assert torch.equal(out["y_mask"], torch.ones(12, 3, dtype=torch.bool))


def test_fit_selects_on_the_rollout_ade(springs, tmp_path):
    """``monitor="val_ade"``: the epoch kept is the one with the lowest
    validation ADE, and the history's value is evaluate's."""
    torch.manual_seed(0)
    model = build("srnn", springs[0].schema, 4, 4, **SMALL)
    result = run(model, springs, tmp_path, epochs=3, metrics=["mse", "ade"], monitor="val_ade", restore_best=True)
    ades = [r["val_ade"] for r in result.history]
    assert result.monitor == "val_ade" and min(ades) > 0
    scores = evaluate(model, DataLoader(springs[1], batch_size=8), metrics=["ade"])
    assert scores["ade"] == pytest.approx(min(ades), rel=1e-5)                # the best epoch was restored


def test_collect_numbers_windows_over_the_whole_loader():
    """``"batch"`` holds each node's window counted over every batch, in
    dataset order, whatever the batch size (a mutation that numbered windows
    per batch was caught only by the two-process DDP test)."""
    from srnn_pyg.testing import fake_st_data

    sizes = [3, 5, 2, 4, 6]
    windows = [fake_st_data(n, T=4, F=2, horizon=2, generator=torch.Generator().manual_seed(i))
               for i, n in enumerate(sizes)]
    model = build("zero_velocity", None, 2, 2)
    expected = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    whole = collect(model, DataLoader(windows, batch_size=len(sizes)))
    for batch_size in (1, 2, 3):
        got = collect(model, DataLoader(windows, batch_size=batch_size))
        assert torch.equal(got["batch"], expected), batch_size
        assert torch.equal(got["y"], whole["y"]) and torch.equal(got["pred"], whole["pred"])
        assert torch.equal(got["y"], torch.cat([w.y for w in windows]))
