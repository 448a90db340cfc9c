"""SeasonalMean ('seasonal_mean'): per-node mean by phase, fitted in closed form
from windows placed in time by 't_start'."""
import numpy as np
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from srnn_pyg import STData
from srnn_pyg.datasets import LosLoop
from srnn_pyg.engine import evaluate, fit, load_model, save_model
from srnn_pyg.models import SeasonalMean, build

N, F, P = 3, 2, 4


def _recording(values, node_mask=None):
    """A whole sequence ``values`` ``[N, T, F]`` on a chain graph."""
    n = values.size(0)
    ei = torch.tensor([[i, i + 1] for i in range(n - 1)], dtype=torch.long).T.reshape(2, -1)
    rec = STData(x=values, edge_index=ei)
    if node_mask is not None:
        rec.node_mask = node_mask
    return rec


def _windows(rec, starts, obs=3, horizon=2):
    out = []
    for s in starts:
        w = rec.window(s, obs, horizon)
        w.t_start = torch.tensor([s])
        out.append(w)
    return out


def _periodic(T=20, n=N, seed=0):
    """``a`` ``[n, P, F]`` and the noise-free series ``v[i, t] = a[i, t % P]`` ``[n, T, F]``."""
    a = torch.randn(n, P, F, generator=torch.Generator().manual_seed(seed))
    return a, a[:, torch.arange(T) % P]


def test_exact_means_of_a_periodic_signal_and_forecast():
    a, v = _periodic()
    windows = _windows(_recording(v), range(0, 20 - 5 + 1))
    model = SeasonalMean(None, F, F, period=P).fit_closed_form(windows)
    assert model.num_nodes == N and model.mean.shape == (N, P, F)
    assert torch.allclose(model.mean, a, atol=1e-6)
    assert torch.equal(model.count, torch.full((N, P), 5))            # steps 0..19: 5 per phase
    w = windows[6]                                                      # x = steps 6..8
    fc = model.forecast(w, 7)                                           # steps 9..15
    assert fc.shape == (N, 7, F)
    assert torch.allclose(fc, a[:, torch.arange(9, 16) % P], atol=1e-6)
    # out_channels < in_channels: the first features only
    first = SeasonalMean(None, F, 1, period=P).fit_closed_form(windows)
    assert torch.allclose(first.forecast(w, 3), fc[:, :3, :1], atol=1e-6)


def test_each_step_counted_once_however_many_windows_hold_it():
    v = torch.randn(N, 20, F, generator=torch.Generator().manual_seed(1))      # not periodic
    rec = _recording(v)
    expected = torch.stack([v[:, p::P].double().mean(1) for p in range(P)], 1).float()  # [N, P, F]
    starts = list(range(0, 20 - 5 + 1))                                 # stride 1: heavy overlap
    model = SeasonalMean(None, F, F, period=P).fit_closed_form(_windows(rec, starts))
    assert torch.allclose(model.mean, expected, atol=1e-6)
    # the same steps, counted once per window they appear in, give other means: the test can fail
    weight = torch.zeros(20)
    for s in starts:
        weight[s:s + 5] += 1
    per_window = torch.stack([(v[:, p::P] * weight[p::P, None]).sum(1) / weight[p::P].sum()
                              for p in range(P)], 1)
    assert (per_window - expected).abs().max() > 1e-2
    # disjoint windows over the same steps, or every window twice, change nothing
    disjoint = SeasonalMean(None, F, F, period=P).fit_closed_form(_windows(rec, [0, 5, 10, 15]))
    twice = SeasonalMean(None, F, F, period=P).fit_closed_form(_windows(rec, starts + starts))
    for other in (disjoint, twice):
        assert torch.allclose(other.mean, model.mean, atol=1e-6) and torch.equal(other.count, model.count)


def test_masks_fallback_to_the_node_mean_and_unseen_nodes():
    a, v = _periodic(T=12)
    v = v.clone()
    mask = torch.ones(N, 12, dtype=torch.bool)
    mask[0, 1::P] = False                                               # node 0 never seen at phase 1
    mask[2] = False                                                     # node 2 never seen
    mask[1, 6] = False                                                  # node 1: one phase-2 step out
    v[~mask] = 1e6                                                      # absent values must not count
    rec = _recording(v, mask)
    windows = _windows(rec, range(0, 12 - 5 + 1))
    for w in windows:                                                   # y_mask from the recording
        assert w.y_mask is not None
    model = SeasonalMean(None, F, F, period=P).fit_closed_form(windows)
    assert torch.allclose(model.mean[1], a[1], atol=1e-6)
    assert model.count[1].tolist() == [3, 3, 2, 3]
    seen = [0, 2, 3]
    assert torch.allclose(model.mean[0, seen], a[0, seen], atol=1e-6)
    assert model.count[0, 1] == 0
    assert torch.allclose(model.mean[0, 1], a[0, seen].mean(0), atol=1e-6)   # the node's overall mean
    assert bool((model.mean[2] == 0).all()) and bool((model.count[2] == 0).all())
    # without y_mask, node_mask's last observed step holds over y
    w = windows[0].clone()                                              # x steps 0..2, y steps 3..4
    del w.y_mask
    w.node_mask = torch.ones(N, 3, dtype=torch.bool)
    w.node_mask[1, -1] = False
    w.y = w.y.clone()
    w.y[1] = 1e6
    w.x = w.x.clone()
    w.x[1, -1] = 1e6
    only = SeasonalMean(None, F, F, period=P).fit_closed_form(w)
    assert only.count[1].tolist() == [1, 1, 0, 0]
    # a node absent at the last observed step forecasts zeros
    fc = model.forecast(w, 3)
    assert bool((fc[1] == 0).all()) and not bool((fc[0] == 0).all())


def test_batches_equal_graphs_one_by_one():
    v = torch.randn(N, 30, F, generator=torch.Generator().manual_seed(2))
    windows = _windows(_recording(v), range(0, 26, 2))
    alone = SeasonalMean(None, F, F, period=P).fit_closed_form(windows)
    batched = SeasonalMean(None, F, F, period=P).fit_closed_form(DataLoader(windows, batch_size=3))
    whole = SeasonalMean(None, F, F, period=P).fit_closed_form(Batch.from_data_list(windows))
    for other in (batched, whole):
        assert torch.allclose(other.mean, alone.mean, atol=1e-6) and torch.equal(other.count, alone.count)
    batch = Batch.from_data_list(windows[:4])
    assert batch.t_start.shape == (4,)
    together = alone.forecast(batch, 5)
    assert torch.allclose(together, torch.cat([alone.forecast(w, 5) for w in windows[:4]]), atol=0)


def test_save_load_round_trip(tmp_path):
    v = torch.randn(N, 20, F, generator=torch.Generator().manual_seed(3))
    windows = _windows(_recording(v), range(16))
    model = build("seasonal_mean", None, F, F, period=P).fit_closed_form(windows)
    assert model.model_args["num_nodes"] == N                          # taken at fit, recorded
    assert set(model.state_dict()) == {"mean", "count"}
    loaded = load_model(save_model(model, tmp_path / "seasonal.pt"))
    assert isinstance(loaded, SeasonalMean) and loaded.period == P and loaded.num_nodes == N
    assert torch.equal(loaded.mean, model.mean) and torch.equal(loaded.count, model.count)
    assert torch.equal(loaded.forecast(windows[3], 4), model.forecast(windows[3], 4))
    fresh = SeasonalMean(None, F, F, period=P)                          # num_nodes from the checkpoint
    fresh.load_state_dict(model.state_dict())
    assert fresh.num_nodes == N and torch.equal(fresh.mean, model.mean)
    assert repr(fresh) == f"SeasonalMean({F}, {F}, period={P}, num_nodes={N})"


def test_needs_t_start():
    v = torch.randn(N, 10, F)
    w = _recording(v).window(0, 3, 2)                                   # no t_start
    model = SeasonalMean(None, F, F, period=P)
    with pytest.raises(ValueError, match="'t_start'"):
        model.forecast(w, 2)
    with pytest.raises(ValueError, match="'t_start'"):
        model.fit_closed_form([w])
    for bad in (torch.tensor([0, 1]), torch.tensor([1.0])):
        w.t_start = bad
        with pytest.raises(ValueError, match="'t_start' must be an integer tensor with one step index"):
            model.forecast(w, 2)


def test_bad_arguments_and_data():
    for kw in (dict(period=0), dict(period=True), dict(num_nodes=0)):
        with pytest.raises(ValueError, match=f"'{next(iter(kw))}'"):
            SeasonalMean(None, F, F, **kw)
    with pytest.raises(ValueError, match="'out_channels'"):
        SeasonalMean(None, 1, 2)
    v = torch.randn(N, 10, F)
    windows = _windows(_recording(v), [0, 1])
    fixed = SeasonalMean(None, F, F, period=P, num_nodes=N + 1)
    with pytest.raises(ValueError, match="'num_nodes' is 4"):
        fixed.forecast(windows[0], 2)
    small = _windows(_recording(torch.randn(N - 1, 10, F)), [0])[0]
    with pytest.raises(ValueError, match="mixing graph sizes"):
        SeasonalMean(None, F, F).forecast(Batch.from_data_list([windows[0], small]), 2)
    absent = windows[0].clone()
    absent.node_mask = torch.zeros(N, 3, dtype=torch.bool)
    absent.y_mask = torch.zeros(N, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="no present frame"):
        SeasonalMean(None, F, F).fit_closed_form(absent)
    wrong = windows[0].clone()
    wrong.y = torch.randn(N, 2, F + 1)
    with pytest.raises(ValueError, match="'y' must be"):
        SeasonalMean(None, F, F).fit_closed_form(wrong)


def test_trainer_only_evaluates_it():
    a, v = _periodic(T=40)
    rec = _recording(v)
    train, val = _windows(rec, range(0, 20)), _windows(rec, range(20, 36))
    model = build("seasonal_mean", None, F, F, period=P)
    assert not model.trainable and not model.has_forward and list(model.parameters()) == []
    model.fit_closed_form(train)
    before = {k: t.clone() for k, t in model.state_dict().items()}
    result = fit(model, DataLoader(train, batch_size=4), DataLoader(val, batch_size=4), epochs=3,
                 objective="rollout", progress=False, device="cpu")             # no forward()
    assert [r["epoch"] for r in result.history] == [0]
    assert all(torch.equal(before[k], t) for k, t in model.state_dict().items())
    assert result.history[0]["val_mse"] == pytest.approx(0.0, abs=1e-10)    # noise-free: exact
    assert evaluate(model, DataLoader(val, batch_size=4))["mse"] == pytest.approx(0.0, abs=1e-10)


def test_on_los_loop_windows_the_means_are_those_of_the_training_steps(tmp_path):
    T, n, day = 100, 4, 10                                              # a "day" of 10 steps
    t = np.arange(T)[:, None]
    speed = 50.0 + 5.0 * np.sin(2 * np.pi * t / day + np.arange(n)) + 0.1 * t   # [T, n], with a trend
    root = tmp_path / "los_loop"
    root.mkdir()
    ids = [str(800000 + i) for i in range(n)]
    (root / "los_speed.csv").write_text("\n".join([",".join(ids)] + [",".join(f"{x:.6f}" for x in row)
                                                                     for row in speed]) + "\n")
    (root / "los_adj.csv").write_text("\n".join(",".join("1" if i == j or abs(i - j) == 1 else "0"
                                                         for j in range(n)) for i in range(n)) + "\n")
    train = LosLoop(tmp_path, split="train", obs=4, horizon=3, normalize=None)      # steps [0, 70)
    model = SeasonalMean(None, 1, 1, period=day).fit_closed_form(DataLoader(train, batch_size=8))
    lo, hi = train.bounds["train"]
    part = speed[lo:hi]
    expected = np.stack([part[p::day].mean(0) for p in range(day)], 1)                  # [n, day]
    assert np.allclose(model.mean[..., 0].numpy(), expected, atol=1e-4)
    test = LosLoop(tmp_path, split="test", obs=4, horizon=3, normalize=None)
    d = test[2]
    s = int(d.t_start)
    assert s == test.bounds["test"][0] + 2
    assert np.allclose(model.forecast(d, 3)[..., 0].numpy(),
                       expected[:, [(s + 4 + h) % day for h in range(3)]], atol=1e-4)
