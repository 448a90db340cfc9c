"""srnn_pyg.engine.objectives: teacher forcing, rollout and classification
targets, and the head's loss for each."""
import pytest
import torch
from engine_helpers import SMALL, run, walkers
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import evaluate, fit
from srnn_pyg.engine.objectives import teacher_forcing
from srnn_pyg.models import build
from srnn_pyg.testing import fake_schema, fake_st_data


@pytest.mark.parametrize("name,objective", [("srnn", "teacher_forcing"), ("srnn", "rollout"),
                                            ("node_lstm", "rollout")])
def test_objectives_reduce_the_loss(springs, name, objective):
    train, _ = springs
    torch.manual_seed(0)
    kw = SMALL if name == "srnn" else dict(hidden=8)
    model = build(name, train.schema, 4, 4, residual=True, **kw)
    loader = DataLoader(train, batch_size=8)
    before = evaluate(model, loader, metrics=["loss"], objective=objective)["loss"]
    result = run(model, springs, epochs=5, objective=objective, lr=1e-2)
    after = evaluate(model, loader, metrics=["loss"], objective=objective)["loss"]
    assert after < 0.8 * before
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.epochs_run == 5 and result.best_epoch is not None


def test_teacher_forcing_inputs_targets_and_masks():
    data = fake_st_data(num_nodes=4, T=3, F=2, horizon=2, masks=True)
    data.y_mask = torch.tensor([[True, False], [True, True], [False, True], [True, True]])
    inp, target, mask = teacher_forcing(data)
    seq = torch.cat([data.x, data.y], 1)
    assert torch.equal(inp.x, seq[:, :-1]) and torch.equal(target, seq[:, 1:])
    present = torch.cat([data.node_mask, data.y_mask], 1)
    assert torch.equal(inp.node_mask, present[:, :-1])
    assert torch.equal(mask, present[:, 1:] & present[:, :-1])
    assert inp.edge_mask.shape == (data.edge_index.size(1), 4)
    assert torch.equal(inp.edge_mask[:, 3], data.edge_mask[:, -1])        # last step held
    assert data.x.shape == (4, 3, 2)                                        # the batch is left alone


def test_gaussian_head_trains_by_nll():
    from srnn_pyg.metrics import bivariate_gaussian_nll
    schema, data = walkers(12, 0)
    torch.manual_seed(0)
    model = build("srnn", schema, 2, 2, **SMALL, edge_scope="edge", aggr="attention", head="gaussian")
    loader = DataLoader(data, batch_size=4)
    before = evaluate(model, loader, metrics=["loss", "tf_mse", "mse"], objective="teacher_forcing")
    inp, target, mask = teacher_forcing(next(iter(DataLoader(data, batch_size=12))))
    with torch.no_grad():
        direct = float(bivariate_gaussian_nll(model(inp), target, mask))
        tf_mse = float(((model(inp)[..., :2] - target) ** 2 * mask.unsqueeze(-1)).sum() / (2 * mask.sum()))
    assert before["loss"] == pytest.approx(direct, rel=1e-5)          # the loss is the NLL
    assert before["tf_mse"] == pytest.approx(tf_mse, rel=1e-5)        # tf_mse scores the means
    result = fit(model, loader, loader, epochs=8, lr=1e-2, progress=False, device="cpu")
    assert result.history[-1]["val_loss"] < before["loss"] - 0.5
    with pytest.warns(UserWarning, match=r"loss='l1' is the point loss of a deterministic head; this model's "
                                         r"GaussianHead trains by its own loss, so it is not used"):
        fit(model, loader, loader, epochs=1, progress=False, device="cpu", loss="l1")
    with pytest.warns(UserWarning, match=r"evaluate: loss='l1' is the point loss of a deterministic head"):
        evaluate(model, loader, loss="l1")
    assert evaluate(model, loader, metrics=["mse"])["mse"] < before["mse"]
    wide = data[0].clone()                                 # 4 features in, a 2-d Gaussian out
    wide.x, wide.y = torch.cat([wide.x, wide.x], -1), torch.cat([wide.y, wide.y], -1)
    bad = build("srnn", schema, 4, 2, **SMALL, head="gaussian")
    with pytest.raises(ValueError, match="Gaussian head"):
        fit(bad, DataLoader([wide]), epochs=1, progress=False, device="cpu")


def test_classification_cross_entropy_and_accuracy():
    schema = fake_schema(2)
    g = torch.Generator().manual_seed(0)
    windows = []
    for _ in range(12):
        d = fake_st_data(num_nodes=5, T=4, F=3, schema=schema, generator=g)
        d.y = (d.x[..., 0] > 0).long()                                      # [N, T] learnable labels
        d.y_mask = torch.ones_like(d.y, dtype=torch.bool)
        d.y_mask[-1] = False
        windows.append(d)
    torch.manual_seed(0)
    model = build("srnn", schema, 3, 2, task="classification", **SMALL)
    loader = DataLoader(windows, batch_size=4)
    before = evaluate(model, loader)
    assert set(before) == {"loss", "ce", "accuracy"}
    result = fit(model, DataLoader(windows, batch_size=4, shuffle=True), loader, epochs=6, lr=2e-2,
                 progress=False, monitor="val_accuracy", device="cpu")
    after = evaluate(model, loader)
    assert after["ce"] < before["ce"] and after["accuracy"] > 0.7
    assert result.mode == "max"
    with pytest.raises(ValueError, match="rollout"):
        fit(model, loader, epochs=1, objective="rollout", progress=False, device="cpu")


def test_the_loss_is_the_heads(springs):
    """A deterministic head's loss option is what fit trains and evaluate reports."""
    from srnn_pyg.nn.heads import DeterministicHead
    train, _ = springs
    model = build("node_lstm", train.schema, 4, 4, hidden=8)
    loader = DataLoader(train, batch_size=8)
    mse = evaluate(model, loader, metrics=["loss", "tf_mse"])
    model.head = DeterministicHead(4, loss="l1")
    l1 = evaluate(model, loader, metrics=["loss", "tf_mse", "mae"], objective="teacher_forcing")
    assert l1["tf_mse"] == pytest.approx(mse["tf_mse"], rel=1e-6)      # the point error is unchanged
    assert mse["loss"] == pytest.approx(mse["tf_mse"], rel=1e-6)
    assert l1["loss"] != pytest.approx(l1["tf_mse"], rel=1e-3)
    inp, target, mask = teacher_forcing(next(iter(DataLoader(train, batch_size=len(train)))))
    with torch.no_grad():
        direct = float((model(inp) - target).abs().mean())
    assert l1["loss"] == pytest.approx(direct, rel=1e-5)


@pytest.mark.parametrize("loss, objective", [("l1", "teacher_forcing"), ("huber", "rollout")])
def test_val_loss_is_the_runs_loss(springs, loss, objective):
    """With TrainConfig.loss the validation loss is that loss (what the run trains on, comparable with
    train_loss and what the default monitor reads), not the model head's own."""
    from srnn_pyg.nn.heads import DeterministicHead
    train, val = springs
    torch.manual_seed(0)
    model = build("srnn", train.schema, 4, 4, **SMALL)
    model.head.huber_delta = 0.4                                   # kept when the run's loss is Huber
    result = run(model, springs, epochs=1, loss=loss, objective=objective)
    same = build("srnn", train.schema, 4, 4, **SMALL)
    same.load_state_dict(model.state_dict())
    same.head = DeterministicHead(4, loss=loss, huber_delta=0.4)   # the run's loss as the model's own
    scores = evaluate(same, DataLoader(val, batch_size=8), metrics=["loss", "mse"], objective=objective)
    last = result.history[-1]
    assert last["val_loss"] == pytest.approx(scores["loss"], rel=1e-6)
    named = evaluate(model, DataLoader(val, batch_size=8), metrics=["loss"], objective=objective, loss=loss)
    assert named["loss"] == pytest.approx(last["val_loss"], rel=1e-6)       # evaluate(loss=...) scores the same
    with pytest.raises(ValueError, match=r"evaluate: 'loss' must be one of \['mse', 'l1', 'huber', 'euclidean'\] "
                                         r"or None \(got 'l2'\)"):
        evaluate(model, DataLoader(val, batch_size=8), loss="l2")
    assert last["val_loss"] != pytest.approx(evaluate(model, DataLoader(val, batch_size=8), metrics=["loss"],
                                                      objective=objective)["loss"], rel=1e-3)
