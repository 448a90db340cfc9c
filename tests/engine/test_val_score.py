"""TrainConfig.val_score and monitor_mode: selecting on a protocol's own
validation score (early stopping, best.pt, restore_best) instead of the
loader-pooled metrics."""
import json
import math

import pytest
import torch
from engine_helpers import run, srnn, strip
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig, collect, evaluate, fit, load_checkpoint


def _mae(collected):
    """A protocol-like score computed from collect()'s dict."""
    return {"mae2": (collected["pred"] - collected["y"]).abs().mean(), "count": int(collected["pred"].size(0))}


class Scripted:
    """A val_score returning the next of ``values`` at each call (and the calls' collected dicts)."""

    def __init__(self, values, key="score"):
        self.values, self.key, self.seen = list(values), key, []

    def __call__(self, collected):
        self.seen.append(collected)
        return {self.key: self.values[len(self.seen) - 1]}


def test_val_score_sees_collect_over_the_whole_validation_loader(springs):
    train, val = springs
    model = srnn(train.schema)
    snapshots = []
    result = run(model, springs, epochs=2, val_score=_mae,
                 callbacks=[lambda r: snapshots.append({k: v.clone() for k, v in model.state_dict().items()})])
    last = result.history[-1]
    # The score is the one of collect() by the model as it was at that epoch, over every window.
    ref = collect(model, DataLoader(val, batch_size=5))
    assert last["val_mae2"] == pytest.approx(float((ref["pred"] - ref["y"]).abs().mean()), rel=1e-6)
    assert last["val_mae2"] == pytest.approx(evaluate(model, DataLoader(val, batch_size=3))["mae"], rel=1e-5)
    assert last["val_count"] == float(sum(d.num_nodes for d in val))
    model.load_state_dict(snapshots[0])
    first = collect(model, DataLoader(val, batch_size=8))
    assert result.history[0]["val_mae2"] == pytest.approx(float((first["pred"] - first["y"]).abs().mean()),
                                                          rel=1e-6)
    assert result.history[0]["val_mae2"] != result.history[1]["val_mae2"]


def test_monitoring_a_val_score_key_picks_the_epoch_and_stops(springs, tmp_path):
    train, _ = springs
    states, modes = [], []
    model = srnn(train.schema)

    def remember(record):
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        modes.append(model.training)

    score = Scripted([5.0, 3.0, 4.0, 4.0, 4.0, 1.0])
    result = run(model, springs, tmp_path, epochs=6, early_stopping=2, monitor="val_score", val_score=score,
                 restore_best=True, callbacks=[remember])
    assert result.monitor == "val_score" and result.mode == "min"
    assert result.best_epoch == 2 and result.best_score == 3.0
    assert result.stopped_early and result.epochs_run == 4                   # 1.0 at epoch 6 is never reached
    assert all(modes)                                                       # back in train mode after scoring
    assert all(torch.equal(v, states[1][k]) for k, v in model.state_dict().items())   # restore_best: epoch 2
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["best_epoch"] == 2 and saved["monitor"] == "val_score"
    assert [r["val_score"] for r in result.history] == [5.0, 3.0, 4.0, 4.0]
    # the same scores, monitoring the pooled MSE instead: other epochs may win, and nothing stops early
    other = run(srnn(train.schema), springs, epochs=4, early_stopping=2, monitor="val_mse",
                val_score=Scripted([5.0, 3.0, 4.0, 4.0]))
    assert other.monitor == "val_mse" and [r["val_score"] for r in other.history] == [5.0, 3.0, 4.0, 4.0]


@pytest.mark.parametrize("key,mode,best", [("score", "max", 2), ("score", None, 1), ("f1", None, 2),
                                           ("accuracy", "min", 1)])
def test_monitor_mode(springs, key, mode, best):
    result = run(srnn(springs[0].schema), springs, epochs=3, monitor=f"val_{key}", monitor_mode=mode,
                 val_score=Scripted([1.0, 3.0, 2.0], key=key))
    assert result.best_epoch == best
    assert result.mode == (mode or ("max" if key in ("f1", "accuracy") else "min"))


def test_monitor_mode_of_a_builtin_metric(springs):
    result = run(srnn(springs[0].schema), springs, epochs=3, lr=0.2, monitor="val_mse", monitor_mode="max")
    scores = [r["val_mse"] for r in result.history]
    assert result.mode == "max" and result.best_score == max(scores)


def test_resume_with_a_val_score_monitor_equals_an_uninterrupted_run(springs, tmp_path):
    common = dict(epochs=4, early_stopping=3, monitor="val_mae2", val_score=_mae, noise=0.05)
    full = srnn(springs[0].schema, dropout=0.1)
    ref = run(full, springs, tmp_path / "full", **common)

    class Crash(Exception):
        pass

    def crash_after_2(record):
        if record["epoch"] == 2:
            raise Crash

    with pytest.raises(Crash):
        run(srnn(springs[0].schema, dropout=0.1), springs, tmp_path / "cut", callbacks=[crash_after_2], **common)
    resumed_model = srnn(springs[0].schema, seed=9, dropout=0.1)
    resumed = run(resumed_model, springs, tmp_path / "cut", resume=True, **common)
    assert strip(resumed.history) == strip(ref.history)
    assert (resumed.best_epoch, resumed.best_score) == (ref.best_epoch, ref.best_score)
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed_model.state_dict().values()))


def test_val_score_errors_name_the_argument(springs):
    model = srnn(springs[0].schema)
    with pytest.raises(ValueError, match="'val_score' must be None or a callable"):
        TrainConfig(epochs=1, val_score="euler")
    with pytest.raises(ValueError, match="'monitor_mode' must be None, 'min' or 'max' \\(got 'lower'\\)"):
        TrainConfig(epochs=1, monitor_mode="lower")
    with pytest.raises(TypeError, match="must return a dict of name -> number \\(got list\\)"):
        run(model, springs, epochs=1, val_score=lambda c: [1.0])
    with pytest.raises(TypeError, match="str -> number \\(got 'a': 'x'\\)"):
        run(model, springs, epochs=1, val_score=lambda c: {"a": "x"})
    with pytest.raises(TypeError, match="str -> number"):
        run(model, springs, epochs=1, val_score=lambda c: {"a": torch.ones(3)})
    with pytest.raises(ValueError, match="returned 'mse', which the validation metric 'val_mse' already records"):
        run(model, springs, epochs=1, val_score=lambda c: {"mse": 1.0})
    with pytest.raises(ValueError, match="'monitor' is 'val_nope', but 'val_score' returned no 'nope' "
                                         "\\(its keys: \\['mae2'\\]\\)"):
        run(model, springs, epochs=1, monitor="val_nope", val_score=lambda c: {"mae2": 1.0})
    with pytest.raises(ValueError, match="or 'val_' and a key of val_score's dict \\(got 'nope'\\)"):
        run(model, springs, epochs=1, monitor="nope", val_score=_mae)
    train, _ = springs
    with pytest.raises(ValueError, match="'val_score' scores the validation loader, but 'val_loader' is None"):
        fit(model, DataLoader(train, batch_size=8), None, epochs=1, progress=False, val_score=_mae)


def test_val_score_refuses_one_hop_validation():
    from srnn_pyg import STData
    from srnn_pyg.datasets import Springs
    from srnn_pyg.loader import OneHopLoader
    train = Springs(num_graphs=2, obs=5, horizon=2, seed=0)
    graph = train[0]
    data = STData(x=graph.x, y=graph.y, edge_index=graph.edge_index, node_type=graph.node_type,
                  edge_type=graph.edge_type, schema=graph.schema)
    model = srnn(train.schema)
    with pytest.raises(ValueError, match="'val_score' needs whole-graph validation batches"):
        fit(model, OneHopLoader(data, batch_size=4), OneHopLoader(data, batch_size=4), epochs=1, progress=False,
            val_score=_mae)


def test_recording_a_val_score_never_changes_training(springs):
    """The extra validation pass keeps the RNG states: dropout and noise draw the same numbers after it."""
    common = dict(epochs=3, noise=0.05, monitor="val_mse")
    plain, scored = srnn(springs[0].schema, dropout=0.2), srnn(springs[0].schema, dropout=0.2)
    a = run(plain, springs, **common)
    b = run(scored, springs, val_score=_mae, **common)
    assert all(torch.equal(x, y) for x, y in zip(plain.state_dict().values(), scored.state_dict().values()))
    assert [r["val_mse"] for r in a.history] == [r["val_mse"] for r in b.history]


def test_val_score_forecasts_the_windows_whole_horizon(springs):
    """``horizon`` sets the trained and pooled rollout; the protocol keeps its own (the windows' H)."""
    score = Scripted([1.0, 1.0])
    result = run(srnn(springs[0].schema), springs, epochs=2, horizon=1, val_score=score)
    assert [c["pred"].size(1) for c in score.seen] == [springs[1][0].y.size(1)] * 2 == [3, 3]
    assert len(result.history[0]["val_mse_per_step"]) == 1


def test_val_score_values_may_be_numpy_or_one_element_tensors(springs):
    import numpy as np
    result = run(srnn(springs[0].schema), springs, epochs=1,
                 val_score=lambda c: {"a": np.float32(0.5), "b": np.array([2.0]), "c": torch.tensor([3.0]), "d": 4})
    assert [result.history[0][f"val_{k}"] for k in "abcd"] == [0.5, 2.0, 3.0, 4.0]


def test_a_builtin_monitor_that_is_not_scored_fails_before_training(springs):
    calls = []
    with pytest.raises(ValueError, match="'monitor' is 'val_mae', evaluate's metric 'mae', which this run does not "
                                         "score: add it to 'metrics' \\(now \\['loss', 'mse'\\]"):
        run(srnn(springs[0].schema), springs, epochs=1, metrics=["mse"], monitor="val_mae", val_score=_mae,
            callbacks=[calls.append])
    assert calls == []


def test_a_monitored_value_that_is_not_finite_warns_once(springs):
    with pytest.warns(UserWarning, match="the monitored 'val_score' is nan at epoch 1, not a finite number;") as w:
        result = run(srnn(springs[0].schema), springs, epochs=3, monitor="val_score",
                     val_score=Scripted([math.nan, 2.0, math.nan]))
    assert sum("not a finite number" in str(x.message) for x in w) == 1
    assert result.best_epoch == 2


@pytest.mark.parametrize("scores,cut", [([1.0] * 5, True), ([5.0, 4.0, 3.0, 2.0, 1.0], False)])
def test_val_score_drives_the_plateau_scheduler(springs, scores, cut):
    """The monitored protocol key is what ``scheduler="plateau"`` reads: flat scores halve the rate, falling
    ones never do (whatever the pooled metrics do meanwhile)."""
    result = run(srnn(springs[0].schema), springs, epochs=5, lr=0.3, scheduler="plateau", monitor="val_score",
                 val_score=Scripted(scores))
    lrs = [r["lr"] for r in result.history]
    assert lrs[0] == 0.3 and (lrs[-1] < 0.3) == cut


def test_a_plateau_scheduler_with_mode_in_its_kwargs_is_refused():
    with pytest.raises(ValueError, match="'scheduler_kwargs' may not set the plateau scheduler's 'mode': "
                                         "'monitor_mode' sets the direction \\(got mode='max'\\)"):
        TrainConfig(epochs=1, scheduler="plateau", scheduler_kwargs={"mode": "max"})
    assert TrainConfig(epochs=1, scheduler="step", scheduler_kwargs={"step_size": 2}).scheduler_kwargs


def test_an_infinite_monitored_value_is_never_the_best(springs):
    with pytest.warns(UserWarning, match="is inf at epoch 1, not a finite number; such an epoch is never the best"):
        result = run(srnn(springs[0].schema), springs, epochs=3, monitor="val_score",
                     val_score=Scripted([math.inf, -math.inf, 2.0]))
    assert result.best_epoch == 3 and result.best_score == 2.0


def test_a_model_without_parameters_is_scored_once(springs, tmp_path):
    from srnn_pyg.models import build
    score = Scripted([0.25])
    result = run(build("zero_velocity", springs[0].schema, 4, 4), springs, tmp_path, epochs=3, monitor="val_score",
                 val_score=score)
    assert [r["epoch"] for r in result.history] == [0] and result.history[0]["val_score"] == 0.25
    assert result.best_score == 0.25 and len(score.seen) == 1


def test_resuming_with_another_monitor_starts_a_new_selection(springs, tmp_path):
    """A best score of another quantity (or direction) is not compared with the new one: the resumed run
    warns, forgets it and keeps the best epoch of the new monitor among its own epochs."""
    model = srnn(springs[0].schema)
    first = run(model, springs, tmp_path, epochs=2, monitor="val_mse")
    assert first.best_epoch is not None
    with pytest.warns(UserWarning, match="selected on 'val_mse' \\(min\\) with monitor='val_score' \\(max\\)"):
        resumed = run(srnn(springs[0].schema), springs, tmp_path, epochs=4, resume=True, monitor="val_score",
                      monitor_mode="max", val_score=Scripted([2.0, 1.0]))
    assert resumed.best_epoch == 3 and resumed.best_score == 2.0
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 3
    with pytest.warns(UserWarning, match="selected on 'val_score' \\(max\\) with monitor='val_score' \\(min\\)"):
        again = run(srnn(springs[0].schema), springs, tmp_path, epochs=5, resume=True, monitor="val_score",
                    val_score=Scripted([3.0]))
    assert again.best_epoch == 5


def test_resuming_with_another_monitor_resets_the_plateau_scheduler(springs, tmp_path):
    """The plateau scheduler's best value belonged to the former monitor: a falling new monitor cuts nothing."""
    common = dict(lr=0.3, scheduler="plateau")
    run(srnn(springs[0].schema), springs, tmp_path, epochs=3, monitor="val_score", monitor_mode="max",
        val_score=Scripted([100.0] * 3), **common)
    with pytest.warns(UserWarning, match="so is the plateau scheduler's"):
        resumed = run(srnn(springs[0].schema), springs, tmp_path, epochs=7, resume=True, monitor="val_score",
                      val_score=Scripted([5.0, 4.0, 3.0, 2.0]), **common)
    assert [r["lr"] for r in resumed.history] == [0.3] * 7


def test_resuming_with_the_same_monitor_keeps_the_selection(springs, tmp_path, recwarn):
    common = dict(monitor="val_score", monitor_mode="max", early_stopping=5)
    first = run(srnn(springs[0].schema), springs, tmp_path, epochs=2, val_score=Scripted([3.0, 1.0]), **common)
    resumed = run(srnn(springs[0].schema), springs, tmp_path, epochs=3, resume=True, val_score=Scripted([2.0]),
                  **common)
    assert not [w for w in recwarn if "selected on" in str(w.message)]
    assert first.best_epoch == resumed.best_epoch == 1 and resumed.best_score == 3.0


def test_resuming_with_another_loss_starts_a_new_selection_on_the_loss(springs, tmp_path, recwarn):
    """val_loss is the run's loss: another loss on resume is another quantity, so the best epoch is forgotten
    (a checkpoint that does not record its loss scored val_loss with the head's own); another monitor than the
    loss keeps its selection."""
    first = run(srnn(springs[0].schema), springs, tmp_path, epochs=2, monitor="val_loss")
    assert first.best_epoch is not None
    with pytest.warns(UserWarning, match="selected on \"val_loss of loss='mse'\" \\(min\\) with monitor='val_loss'"):
        resumed = run(srnn(springs[0].schema), springs, tmp_path, epochs=3, resume=True, monitor="val_loss",
                      loss="l1")
    assert resumed.best_epoch == 3 and resumed.best_score == resumed.history[-1]["val_loss"]
    ckpt = load_checkpoint(tmp_path / "last.pt")                 # as an earlier version's checkpoint
    del ckpt["config"]["loss"]
    ckpt.pop("path", None)
    torch.save(ckpt, tmp_path / "last.pt")
    with pytest.warns(UserWarning, match="of loss='mse'"):   # its val_loss was the head's own
        again = run(srnn(springs[0].schema), springs, tmp_path, epochs=4, resume=True, monitor="val_loss",
                    loss="l1")
    assert again.best_epoch == 4
    recwarn.clear()
    other = run(srnn(springs[0].schema), springs, tmp_path / "mse", epochs=2, monitor="val_mse")
    kept = run(srnn(springs[0].schema), springs, tmp_path / "mse", epochs=3, resume=True, monitor="val_mse",
               loss="l1")
    assert kept.best_epoch in (other.best_epoch, 3) and not [w for w in recwarn if "selected on" in str(w.message)]


def test_a_loss_a_gaussian_head_ignores_does_not_reset_its_selection(tmp_path, recwarn):
    """A Gaussian head trains by its likelihood whatever TrainConfig.loss says: resuming with a loss
    named is no change of quantity, and the best epoch stays."""
    from engine_helpers import walkers

    from srnn_pyg.models import build
    schema, walks = walkers(4, 0)
    common = dict(epochs=1, lr=1e-2, progress=False, device="cpu", monitor="val_loss", out_dir=tmp_path)
    loader = DataLoader(walks, batch_size=2)

    def gauss():
        torch.manual_seed(0)
        return build("srnn", schema, 2, 2, edge_hidden=4, node_hidden=4, edge_mlp=(4,), node_mlp=(4,),
                     edge_scope="edge", head="gaussian")
    first = fit(gauss(), loader, loader, **common)
    resumed = fit(gauss(), loader, loader, **dict(common, epochs=2, resume=True, loss="l1"))
    assert not [w for w in recwarn if "selected on" in str(w.message)]
    assert resumed.best_epoch in (1, 2) and first.best_epoch == 1
    assert resumed.best_score == min(r["val_loss"] for r in resumed.history)
