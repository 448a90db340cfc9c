"""Tests added after a mutation run of the metrics, objectives, evaluation, early stopping and
protocol scoring (67 of 78 non-equivalent mutants failed the suite before): one per survivor, each
against a loop reference or a hand-computed value; no dataset files."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

import srnn_pyg.metrics as M
from srnn_pyg import STData
from srnn_pyg.geometry import expmap_to_euler


def _euler_error_reference(pred, target):
    """Martinez et al.'s loop: Euler angles, global dims zeroed, dims whose
    target angle has np.std (population) > 1e-4, root of the summed squares
    per frame, mean over sequences."""
    out = []
    for b in range(pred.shape[0]):
        pe = expmap_to_euler(pred[b].double()).numpy().copy()
        te = expmap_to_euler(target[b].double()).numpy().copy()
        pe[:, :6] = 0
        te[:, :6] = 0
        use = np.std(te, axis=0) > 1e-4
        out.append([math.sqrt(sum((pe[t, d] - te[t, d]) ** 2 for d in range(te.shape[1]) if use[d]))
                    for t in range(te.shape[0])])
    return np.mean(np.array(out), axis=0)


# metrics.py: euler_angle_error's default dims use the population std (np.std), not the unbiased one
def test_euler_default_dims_use_the_population_std():
    target = torch.zeros(1, 2, 9, dtype=torch.float64)
    target[0, 1, 6] = 1.6e-4                     # a joint that barely moves over the two frames
    pred = target.clone()
    pred[:, :, 6] += 0.5                          # ... and a prediction far off in that joint
    te = expmap_to_euler(target[0]).numpy()
    d = int(np.argmax(np.abs(te[1] - te[0])))
    assert np.std(te[:, d]) < 1e-4 < np.std(te[:, d], ddof=1)   # the guard: the dim sits between the two
    got = M.euler_angle_error(pred, target)
    np.testing.assert_allclose(got.numpy(), _euler_error_reference(pred, target), atol=1e-12)
    assert float(got.abs().max()) == 0.0          # the joint does not vary: not scored


# metrics.py: anticipate counts the time to the last REAL step (mask), not to T - 1
def test_anticipate_time_counts_to_the_last_real_step():
    labels = torch.tensor([[0, 2, 2, 0, 0],
                           [0, 0, 1, 1, 1]])
    mask = torch.tensor([[True, True, True, False, False],
                         [True, True, True, True, True]])
    pred, time = M.anticipate(labels, mask=mask, step_seconds=0.5)
    # reference: first real maneuver step f, last real step l, time (l - f) * 0.5
    ref = []
    for b in range(2):
        real = [t for t in range(5) if mask[b, t]]
        f = next(t for t in real if labels[b, t] != 0)
        ref.append((max(real) - f) * 0.5)
    assert pred.tolist() == [2, 1]
    assert time.tolist() == pytest.approx(ref) and ref == [0.5, 1.0]


# metrics.py: time-to-maneuver is a mean over classes of per-class means, not pooled over sequences
def test_time_to_maneuver_is_averaged_per_class():
    target = torch.tensor([1, 1, 1, 2, 0])
    pred = torch.tensor([1, 1, 1, 2, 0])
    time = torch.tensor([1.0, 1.0, 1.0, 5.0, 9.0])
    s = M.maneuver_scores(pred, target, time=time)
    per_class = {}
    for p, t, tm in zip(pred.tolist(), target.tolist(), time.tolist()):
        if p == t and t != 0:
            per_class.setdefault(t, []).append(tm)
    ref = sum(sum(v) / len(v) for v in per_class.values()) / len(per_class)
    assert s["time_to_maneuver"] == pytest.approx(ref) and ref == pytest.approx(3.0)


# metrics.py: time-to-maneuver honours the sequence mask
def test_time_to_maneuver_honours_the_mask():
    target = torch.tensor([1, 1, 2])
    pred = torch.tensor([1, 1, 2])
    time = torch.tensor([1.0, 10.0, 3.0])
    mask = torch.tensor([True, False, True])
    s = M.maneuver_scores(pred, target, time=time, mask=mask)
    assert s["time_to_maneuver"] == pytest.approx((1.0 + 3.0) / 2)


def _window(x, y, **extra):
    d = STData(x=x, y=y, edge_index=torch.zeros(2, 0, dtype=torch.long))
    for k, v in extra.items():
        d[k] = v
    return d


# engine/objectives.py: teacher forcing without y_mask holds node_mask's LAST observed step over the horizon
def test_teacher_forcing_holds_the_last_observed_presence():
    from srnn_pyg.engine.objectives import teacher_forcing
    x = torch.arange(6.0).view(2, 3, 1)
    y = torch.arange(6.0, 10.0).view(2, 2, 1)
    nm = torch.tensor([[False, True, True], [True, True, False]])
    _, target, mask = teacher_forcing(_window(x, y, node_mask=nm))
    present = [[bool(nm[i, t]) for t in range(3)] + [bool(nm[i, -1])] * 2 for i in range(2)]
    ref = [[present[i][t + 1] and present[i][t] for t in range(4)] for i in range(2)]
    assert mask.tolist() == ref == [[False, True, True, True], [True, False, False, False]]
    assert torch.equal(target, torch.cat([x, y], 1)[:, 1:])


# engine/objectives.py: a rollout shorter than the windows scores their FIRST steps, mask included
def test_rollout_targets_take_the_first_steps_with_their_mask():
    from srnn_pyg.engine.objectives import rollout_targets
    x = torch.zeros(2, 3, 1)
    y = torch.arange(8.0).view(2, 4, 1)
    ym = torch.tensor([[True, False, True, True], [False, True, True, False]])
    target, mask = rollout_targets(_window(x, y, y_mask=ym), 2)
    assert torch.equal(target, y[:, :2]) and torch.equal(mask, ym[:, :2])


# engine/objectives.py: classification labels of the last H steps are masked by node_mask's last H steps
def test_label_targets_mask_falls_back_to_the_last_node_mask_steps():
    from srnn_pyg.engine.objectives import label_targets
    T, H = 5, 2
    x = torch.zeros(2, T, 3)
    labels = torch.tensor([[1, 2], [0, 1]])
    nm = torch.tensor([[False, False, True, True, True], [True, True, True, True, False]])
    logits = torch.randn(2, T, 4)
    out, y, ym = label_targets(_window(x, labels, node_mask=nm), logits)
    assert torch.equal(out, logits[:, T - H:]) and torch.equal(y, labels)
    assert ym.tolist() == [[bool(nm[i, t]) for t in range(T - H, T)] for i in range(2)]
    assert ym.tolist() == [[True, True], [True, False]]


# engine/noise.py: input noise leaves absent node-steps (node_mask false) untouched
def test_add_noise_leaves_absent_entries_alone():
    from srnn_pyg.engine.noise import add_noise
    torch.manual_seed(0)
    x = torch.randn(3, 4, 2)
    nm = torch.tensor([[True, True, False, True], [False, False, True, True], [True] * 4])
    x = x * nm.unsqueeze(-1)
    out = add_noise(_window(x, torch.zeros(3, 1, 2), node_mask=nm), std=1.0)
    assert torch.equal(out.x[~nm], x[~nm])                    # absent: still exactly zero
    assert bool((out.x[nm] != x[nm]).all())                   # present: perturbed


# engine/evaluation.py: pooled MAPE over batches counts only non-zero targets
def test_evaluate_mape_pools_over_nonzero_targets_only():
    from srnn_pyg.engine import evaluate
    from srnn_pyg.models import ZeroVelocity
    a = _window(torch.ones(2, 2, 1), torch.tensor([[[0.0], [0.0]], [[0.0], [2.0]]]))   # 3 zero targets
    b = _window(torch.full((2, 2, 1), 3.0), torch.tensor([[[1.0], [2.0]], [[4.0], [6.0]]]))
    model = ZeroVelocity(None, 1, 1)
    got = evaluate(model, DataLoader([a, b], batch_size=1), metrics=["mape"], device="cpu")["mape"]
    errs = []
    for w in (a, b):
        for i in range(2):
            for h in range(2):
                t, p = float(w.y[i, h, 0]), float(w.x[i, -1, 0])
                if abs(t) > 1e-8:
                    errs.append(abs(p - t) / abs(t))
    assert got == pytest.approx(100 * sum(errs) / len(errs), rel=1e-6)


# engine/loop.py: early stopping counts CONSECUTIVE epochs without improvement
def test_early_stopping_counter_restarts_at_each_improvement():
    from srnn_pyg.engine import fit
    from srnn_pyg.models import LinearAR
    torch.manual_seed(0)
    windows = [_window(torch.randn(3, 4, 1), torch.randn(3, 2, 1)) for _ in range(4)]
    scores = iter([5.0, 4.0, 6.0, 3.0, 7.0, 8.0])
    result = fit(LinearAR(None, 1, 1, lags=2), DataLoader(windows, batch_size=2), DataLoader(windows, batch_size=2),
                 epochs=6, early_stopping=2, monitor="val_score", val_score=lambda c: {"score": next(scores)},
                 progress=False, device="cpu", lr=1e-3)
    # improvements at epochs 1, 2, 4; bad epochs 3 (1), 5 (1), 6 (2): stops only after epoch 6
    assert result.best_epoch == 4 and result.best_score == 3.0
    assert result.epochs_run == 6


# datasets/brain4cars.py: Brain4Cars.score skips padded (node_mask false) steps
def test_brain4cars_score_skips_padded_steps():
    from srnn_pyg.datasets import Brain4Cars
    step_labels = torch.tensor([[3, 3, 0, 1, 1],          # padded 3s, then lchange at real step 3
                                [0, 0, 2, 2, 2]])
    logits = torch.nn.functional.one_hot(step_labels, 5).float()          # [2, 5, 5]
    nm = torch.tensor([[False, False, True, True, True], [True] * 5])
    collected = {"pred": logits, "y": step_labels, "node_mask": nm, "node_type": torch.zeros(2, dtype=torch.long),
                 "maneuver": torch.tensor([1, 2])}
    out = Brain4Cars.score(SimpleNamespace(step_seconds=0.8), collected)
    # seq 0: decides 1 at step 3 (0.8 s before step 4); seq 1: 2 at step 2 (1.6 s)
    assert out["recall"] == pytest.approx(100 * (1 + 1 + 0 + 0) / 4)
    assert out["time_to_maneuver"] == pytest.approx((0.8 + 1.6) / 2)
