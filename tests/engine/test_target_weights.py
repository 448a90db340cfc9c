"""Per-node, per-feature target weights (the windows' ``y_weight``): the
point losses against a loop over the entries, what fit trains and evaluate
reports, one-hop batches, and the errors."""
import pytest
import torch
from engine_helpers import SMALL, walkers
from torch_geometric.loader import DataLoader

from srnn_pyg import STData
from srnn_pyg.engine import evaluate, fit
from srnn_pyg.engine.objectives import batch_loss, rollout_targets, teacher_forcing
from srnn_pyg.loader import OneHopLoader
from srnn_pyg.models import build
from srnn_pyg.nn.heads import LOSSES, DeterministicHead, GaussianHead, LogitsHead
from srnn_pyg.testing import fake_schema, fake_st_data


def _loop_loss(kind, pred, target, mask, weight, delta=1.0):
    """The weighted loss entry by entry: sum of w * loss over sum of w (the
    Euclidean loss weighs inside each node-step's length)."""
    N, T, F = pred.shape
    total, count = 0.0, 0.0
    for i in range(N):
        for t in range(T):
            if mask is not None and not bool(mask[i, t]):
                continue
            if kind == "euclidean":
                sq = sum(float(weight[i, f]) * float(pred[i, t, f] - target[i, t, f]) ** 2 for f in range(F))
                total += (sq + 1e-12) ** 0.5
                count += 1.0
                continue
            for f in range(F):
                d = float(pred[i, t, f] - target[i, t, f])
                if kind == "mse":
                    e = d * d
                elif kind == "l1":
                    e = abs(d)
                else:
                    e = 0.5 * d * d if abs(d) <= delta else delta * (abs(d) - 0.5 * delta)
                total += float(weight[i, f]) * e
                count += float(weight[i, f])
    return total / count


@pytest.mark.parametrize("kind", LOSSES)
@pytest.mark.parametrize("masked", [False, True])
def test_weighted_point_losses_match_a_loop(kind, masked):
    g = torch.Generator().manual_seed(3)
    pred, target = torch.randn(5, 4, 3, generator=g), torch.randn(5, 4, 3, generator=g)
    weight = torch.rand(5, 3, generator=g) * 2
    weight[1, 2] = 0.0
    mask = (torch.rand(5, 4, generator=g) > 0.3) if masked else None
    if masked:
        target[~mask] = float("nan")                           # never read where masked
    head = DeterministicHead(3, loss=kind)
    got = float(head.loss(pred, target, mask, weight))
    assert got == pytest.approx(_loop_loss(kind, pred, target, mask, weight), rel=1e-5)
    # equal weights, large or tiny: the unweighted loss (up to the weight inside the Euclidean length)
    plain = float(head.loss(pred, target, mask))
    for c in (2.5, 1e-3):
        same = float(head.loss(pred, target, mask, torch.full((5, 3), c)))
        assert same == pytest.approx(plain * (c ** 0.5 if kind == "euclidean" else 1.0), rel=1e-5)
    # a node whose weights are all zero does not count, in any loss
    alone = torch.ones(5, 3)
    alone[2:] = 0.0
    keep = torch.zeros(5, 4, dtype=torch.bool)
    keep[:2] = True if mask is None else mask[:2]
    assert float(head.loss(pred, target, mask, alone)) == pytest.approx(float(head.loss(pred, target, keep)),
                                                                          rel=1e-5)


def test_a_zero_weight_feature_gets_no_gradient():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(4, 3, 2, generator=g, requires_grad=True)
    weight = torch.ones(4, 2)
    weight[:, 1] = 0.0
    DeterministicHead(2).loss(pred, torch.randn(4, 3, 2, generator=g), None, weight).backward()
    assert pred.grad[..., 1].abs().max() == 0 and pred.grad[..., 0].abs().max() > 0


def test_heads_with_the_three_argument_loss_terms_still_train():
    """A user's head written before the weights (no ``weight`` argument) works without weights."""
    class OldHead(DeterministicHead):
        def loss_terms(self, params, target, mask=None):
            return super().loss_terms(params, target, mask)

    schema, windows = walkers(4, seed=3)
    model = build("srnn", schema, 2, 2, **SMALL)
    model.head = OldHead(2)
    result = fit(model, windows, epochs=1, progress=False, device="cpu")    # a plain list of batches
    assert result.epochs_run == 1
    assert evaluate(model, windows, metrics=["loss", "mse"])["loss"] > 0


def test_weight_errors():
    pred = torch.zeros(4, 3, 2)
    with pytest.raises(ValueError, match=r"'y_weight' must be \[num_nodes, F\] = \[4, 2\].*got \[4, 3\]"):
        DeterministicHead(2).loss(pred, pred, None, torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"GaussianHead: per-feature target weights \('y_weight'\) apply to"):
        GaussianHead().loss(torch.zeros(4, 3, 5), torch.zeros(4, 3, 2), None, torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"LogitsHead: per-feature target weights"):
        LogitsHead(3).loss(torch.zeros(4, 3, 3), torch.zeros(4, 3, dtype=torch.long), None, torch.ones(4, 3))
    # STData and the trainer check the windows' weights
    d = STData(x=torch.zeros(4, 5, 2), y=torch.zeros(4, 3, 2), edge_index=torch.zeros(2, 0, dtype=torch.long))
    d.y_weight = torch.ones(4, 3)
    with pytest.raises(ValueError, match=r"'y_weight' must be a floating-point \[num_nodes, F_out\] = \[4, 2\]"):
        d.validate()
    d.y_weight = -torch.ones(4, 2)
    with pytest.raises(ValueError, match=r"'y_weight' must be finite and >= 0"):
        d.validate()
    labels = STData(x=torch.zeros(4, 5, 2), y=torch.zeros(4, 3, dtype=torch.long),
                    edge_index=torch.zeros(2, 0, dtype=torch.long), y_weight=torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"'y_weight' weighs regression targets"):
        labels.validate()
    bare = STData(x=torch.zeros(4, 5, 2), edge_index=torch.zeros(2, 0, dtype=torch.long), y_weight=torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"'y_weight' weighs the targets 'y', which this graph does not have"):
        bare.validate()
    model = build("node_lstm", fake_schema(), 2, 2, hidden=4)
    with pytest.raises(ValueError, match=r"fit/evaluate: 'y_weight' must be finite and >= 0"):
        fit(model, [d], epochs=1, progress=False, device="cpu")
    # a Gaussian head: its NLL takes no weights, its forecast metrics are unweighted anyway
    schema, windows = walkers(3, seed=0)
    gauss = build("srnn", schema, 2, 2, **SMALL, head="gaussian")
    weighted = _weighted(windows, torch.ones(4, 2))
    assert evaluate(gauss, weighted, metrics=["mse", "tf_mse"])["mse"] >= 0
    with pytest.raises(ValueError, match=r"GaussianHead: per-feature target weights"):
        evaluate(gauss, weighted, metrics=["loss"])


def _weighted(windows, weight):
    out = []
    for d in windows:
        d = d.clone()
        d.y_weight = weight.clone()
        out.append(d)
    return out


@pytest.mark.parametrize("objective", ["teacher_forcing", "rollout"])
def test_batch_loss_and_evaluate_weigh_the_targets(objective):
    schema, windows = walkers(6, seed=1)
    weight = torch.tensor([[1.0, 0.2], [3.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    batch = next(iter(DataLoader(_weighted(windows, weight), batch_size=6)))
    torch.manual_seed(0)
    model = build("srnn", schema, 2, 2, **SMALL, residual=True).eval()
    with torch.no_grad():
        loss, _ = batch_loss(lambda d, H=None: model(d) if H is None else model.forecast(d, H),
                             model.head, batch, objective)
        if objective == "teacher_forcing":
            inp, target, mask = teacher_forcing(batch)
            pred = model(inp)
        else:
            target, mask = rollout_targets(batch, 3)
            pred = model.forecast(batch, 3)
    want = _loop_loss("mse", pred, target, mask, batch.y_weight)
    assert float(loss) == pytest.approx(want, rel=1e-5)
    # evaluate's "loss" is the training loss; the protocol metrics stay unweighted
    got = evaluate(model, DataLoader(_weighted(windows, weight), batch_size=4), metrics=["loss", "mse"],
                   objective=objective)
    plain = evaluate(model, DataLoader(windows, batch_size=4), metrics=["loss", "mse"], objective=objective)
    assert got["loss"] == pytest.approx(want, rel=1e-5) and got["mse"] == pytest.approx(plain["mse"], rel=1e-6)
    assert got["loss"] != pytest.approx(plain["loss"], rel=1e-3)


def test_fit_trains_on_the_weights():
    """Equal weights train exactly as none (MSE); others train differently."""
    schema, windows = walkers(8, seed=2)

    def trained(data):
        torch.manual_seed(5)
        model = build("srnn", schema, 2, 2, **SMALL, residual=True)
        fit(model, DataLoader(data, batch_size=4), epochs=2, lr=1e-2, progress=False, device="cpu", seed=0)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    plain = trained(windows)
    assert torch.allclose(trained(_weighted(windows, torch.full((4, 2), 3.0))), plain, atol=1e-6)
    skewed = torch.tensor([[1.0, 0.0]] * 4)
    assert not torch.allclose(trained(_weighted(windows, skewed)), plain, atol=1e-4)


def test_one_hop_batches_carry_the_seed_weights():
    schema = fake_schema()
    g = torch.Generator().manual_seed(4)
    data = fake_st_data(30, T=4, F=3, schema=schema, horizon=2, generator=g)
    data.y_weight = torch.rand(30, 3, generator=g)
    for batch in OneHopLoader(data, batch_size=7):
        assert torch.equal(batch.y_weight, data.y_weight[batch.n_id])
    torch.manual_seed(0)
    model = build("srnn", schema, 3, 3, **SMALL)
    full, _ = batch_loss(model, model.head, data, "teacher_forcing")
    total, count = 0.0, 0.0
    for batch in OneHopLoader(data, batch_size=7):
        loss, c = batch_loss(model, model.head, batch, "teacher_forcing")
        total, count = total + float(loss.detach()) * float(c), count + float(c)
    assert total / count == pytest.approx(float(full), rel=1e-5)
