"""Tests written after a hand-made mutation run of engine/config.py, engine/evaluation.py and
engine/loggers.py: each fails on a mutant that the rest of tests/engine and tests/cli let through.

Mutants killed here (the change, then the test that kills it):

* config.py, ``_path`` taking a bool for every path field (``out_dir=True``, ``init_from=False``); ``plain_meta``
  taking any non-string (a list of pairs made a dict); ``_number`` taking bools (``lr=True``, ``momentum=False``);
  ``node_type_loss``, ``validate_start`` of another type; ``seed`` bound ``2**64`` for ``2**63``; an unknown
  ``loss``; a non-callable ``optimizer``/``scheduler`` that is no name:
  ``test_a_value_of_the_wrong_kind_is_refused_by_name``.
* config.py, ``device="auto"`` refused: ``test_values_at_the_edges_are_accepted``.
* config.py, ``scheduler_kwargs`` kept as the caller's dict, not a copy:
  ``test_scheduler_kwargs_are_a_copy_of_the_callers_dict``.
* config.py, a default changed (``noise_p=0.5``): ``test_every_default_is_the_documented_one``.
* config.py, a value of ``PAPER_RECIPE`` changed (``grad_clip`` 5): ``test_the_paper_recipe_holds_the_official_values``
  (the recipe test compares the config with the dict itself).
* config.py, ``replace`` leaving an unknown name to ``dataclasses.replace``:
  ``test_replace_names_the_unknown_option_and_lists_the_options``.
* config.py, ``make_config`` returning the config without its overrides:
  ``test_fit_options_apply_over_a_given_config``; taking a dict for ``config``, leaving unknown names or a
  missing ``epochs`` to the dataclass: ``test_fit_options_without_a_config_are_checked_by_name``.
* evaluation.py, ``_Sums.ratio`` giving 0 where nothing was scored (``>=`` for ``>``):
  ``test_a_step_no_entry_scores_is_nan_not_zero``.
* evaluation.py, the model's train mode not restored (always ``train(True)``), no ``model.eval()``, no
  ``torch.no_grad``: ``test_scoring_runs_in_eval_mode_without_autograd_and_restores_the_mode``.
* evaluation.py, windows of different horizons not refused: ``test_windows_of_different_horizons_need_a_horizon``.
* evaluation.py, ``horizon=True`` taken; a model without ``forward`` let through with the teacher-forcing loss:
  ``test_evaluate_refuses_a_bool_horizon_and_the_teacher_forcing_loss_of_a_rollout_model``.
* evaluation.py, ``score_loader`` of a loader without batches scoring 0, not NaN:
  ``test_score_loader_of_a_loader_without_batches_is_nan``.
* evaluation.py, ``collect`` not cutting ``y_mask`` to the horizon: ``test_collect_cuts_y_and_y_mask_to_the_horizon``;
  cutting one-hop ``samples`` on their first dimension (the draws), taking ``num_samples=0``:
  ``test_collect_keeps_the_seed_rows_of_one_hop_samples``.
* loggers.py, bools counted as numbers (a CSV column, a TensorBoard scalar); strings dropped from CSV rows;
  CSV columns sorted instead of in order of first appearance:
  ``test_csv_columns_follow_first_appearance_and_hold_numbers_strings_and_none_only`` (bools also
  ``test_tensorboard_resumed_elsewhere_writes_each_epoch_once``).
* loggers.py, an epoch logged again keeping its old row (``<=`` for ``<``):
  ``test_csv_an_epoch_logged_again_replaces_its_row``.
* loggers.py, rows of the file without an epoch kept: ``test_csv_rows_of_the_file_without_an_epoch_are_dropped``.
* loggers.py, ``on_resume`` carrying the file's empty values over (a column of nothing):
  ``test_csv_on_resume_keeps_the_files_values_of_every_epoch_of_the_history``.
* loggers.py, TensorBoard pending records not cleared after writing:
  ``test_tensorboard_resumed_elsewhere_writes_each_epoch_once``; a pending record of the logged epoch written as
  well (``<=``): ``test_tensorboard_a_pending_epoch_logged_again_is_written_once``;
  ``close`` keeping the closed writer (its reopening purges nothing):
  ``test_tensorboard_a_closed_logger_reopens_purging_from_the_next_records_epoch``.

Also here, for mutants the suite kills elsewhere: plain loops over nodes, steps and features to compare the
pooled metrics with (``test_rollout_metrics_pool_every_scored_entry_of_the_loader``,
``test_teacher_forcing_loss_is_weighted_and_tf_mse_is_not``, ``test_the_rollout_loss_weighs_each_feature_by_y_weight``:
entry counts without the node count or the mask, the mean of the per-step means, ``y_weight`` dropped), and a
Huber loss by hand (``test_a_run_loss_replaces_the_heads_loss_but_keeps_its_huber_delta``: ``evaluate(loss=...)``
ignored, built without the head's ``huber_delta``, an unknown name left to the head; tests/engine/test_objectives.py
kills these too).

Left alive as equivalent: evaluation.py ``labels`` scoring the raw labels instead of the masked ``safe`` ones
(``confusion_matrix`` drops masked entries before it checks or counts them); loggers.py ``_load`` keeping the
record's own epoch (``<=``: ``__call__`` filters to earlier epochs right after, and ``on_resume`` looks up the
history's epochs only), ``None`` passed to ``csv.DictWriter`` instead of ``""`` (it writes ``""``), and the CSV
folder not made by the logger (``atomic_write_text`` makes it).
"""
import ast
import csv
import re

import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig, collect, evaluate
from srnn_pyg.engine.config import make_config
from srnn_pyg.engine.evaluation import score_loader
from srnn_pyg.engine.loggers import CSVLogger, TensorBoardLogger
from srnn_pyg.loader import OneHopLoader
from srnn_pyg.models import Forecaster
from srnn_pyg.nn.heads import DeterministicHead
from srnn_pyg.testing import fake_st_data


# ================================================================= config.py
def test_every_default_is_the_documented_one():
    """Each field's default is the value its docstring entry names (parsed from the text)."""
    config = TrainConfig(epochs=1)
    parts = re.split(r"^        (\w+) \(", TrainConfig.__doc__, flags=re.M)
    checked = 0
    for name, text in zip(parts[1::2], parts[2::2]):
        found = re.search(r"\(default:\s+(?::obj:`([^`]*)`|``([^`]*)``)", text)
        if name == "epochs":
            assert found is None
            continue
        assert found is not None, name
        raw = found.group(1) if found.group(1) is not None else found.group(2)
        documented = ast.literal_eval(raw)
        value = getattr(config, name)
        assert value == documented and type(value) is type(documented), name
        checked += 1
    assert checked == len(TrainConfig.fields()) - 1


def test_the_paper_recipe_holds_the_official_values():
    """The official S-RNN settings, as the docstring lists them (written out here, not read from PAPER_RECIPE)."""
    c = TrainConfig(epochs=1, recipe="paper")
    assert (c.optimizer, c.momentum, c.lr, c.scheduler, c.grad_clip) == ("momentum", 0.99, 1e-3, "paper", 25.0)
    assert (c.truncate_gradient, c.noise, c.noise_p, c.node_type_loss, c.tbptt) == (10, "paper", 0.5, True, None)


@pytest.mark.parametrize("kw,name", [
    (dict(out_dir=True), "out_dir"), (dict(init_from=False), "init_from"),
    (dict(meta=[("dataset", "springs")]), "meta"),
    (dict(lr=True), "lr"), (dict(weight_decay=False), "weight_decay"), (dict(grad_clip=True), "grad_clip"),
    (dict(noise_p=True), "noise_p"), (dict(momentum=False), "momentum"),
    (dict(node_type_loss=1), "node_type_loss"), (dict(seed=2 ** 63), "seed"),
    (dict(loss="cross_entropy"), "loss"), (dict(optimizer=3), "optimizer"), (dict(scheduler=0.5), "scheduler"),
    (dict(validate_start=1), "validate_start"),
])
def test_a_value_of_the_wrong_kind_is_refused_by_name(kw, name):
    with pytest.raises(ValueError, match=f"TrainConfig: '{name}'"):
        TrainConfig(epochs=1, **kw)


def test_values_at_the_edges_are_accepted():
    c = TrainConfig(epochs=1, seed=2 ** 63 - 1, device="auto", resume=True, out_dir="run", noise_p=0.0,
                    momentum=0.0, loss="huber")
    assert (c.seed, c.device, c.resume, c.loss) == (2 ** 63 - 1, "auto", True, "huber")


def test_scheduler_kwargs_are_a_copy_of_the_callers_dict():
    """The keys are checked when the config is built: a later change to the caller's dict must not reach it."""
    mine = {"step_size": 2}
    c = TrainConfig(epochs=1, scheduler="step", scheduler_kwargs=mine)
    mine["not_an_argument"] = 1
    assert c.scheduler_kwargs == {"step_size": 2}


def test_replace_names_the_unknown_option_and_lists_the_options():
    with pytest.raises(TypeError, match=r"TrainConfig: unknown option 'lrr' \(options: epochs, objective,"):
        TrainConfig(epochs=1).replace(lrr=1)


def test_fit_options_apply_over_a_given_config():
    base = TrainConfig(epochs=3, lr=0.1)
    merged = make_config(base, {"lr": 0.5, "seed": 7})
    assert (merged.epochs, merged.lr, merged.seed) == (3, 0.5, 7) and base.lr == 0.1
    assert make_config(base, {}) is base


def test_fit_options_without_a_config_are_checked_by_name():
    with pytest.raises(TypeError, match="'config' must be a TrainConfig or None"):
        make_config({"epochs": 1}, {})
    with pytest.raises(TypeError, match=r"fit: unknown option 'lrr' \(TrainConfig fields: epochs,"):
        make_config(None, {"epochs": 1, "lrr": 0.1})
    with pytest.raises(TypeError, match=r"fit: the number of 'epochs' is required"):
        make_config(None, {"lr": 0.1})
    assert make_config(None, {"epochs": 2, "lr": 0.5}) == TrainConfig(epochs=2, lr=0.5)


# ============================================================= evaluation.py
class Scaled(Forecaster):
    """Outputs easy to recompute by hand: ``forward`` is ``0.5 * x + 0.1`` at every step, ``forecast`` the
    last observed step times ``1 + 0.25 * k`` at step ``k``. Records its mode and autograd state per call."""

    def __init__(self):
        super().__init__(None, 2, 2)
        self.scale = torch.nn.Parameter(torch.tensor(0.5))
        self.calls = []

    def forward(self, data):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.scale * data.x + 0.1

    def forecast(self, data, horizon):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return data.x[:, -1:] * _growth(horizon)


def _growth(horizon):
    return 1 + 0.25 * torch.arange(1, horizon + 1, dtype=torch.float32).view(1, -1, 1)


def _windows(sizes=(3, 5, 2, 4), H=3, seed=0, weights=False):
    """Windows of different sizes, random y_mask; a zero target (left out of MAPE); the 2-node window
    scores nothing at its last step; ``weights``: random per-node, per-feature y_weight."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in sizes:
        w = fake_st_data(n, T=4, F=2, horizon=H, generator=g)
        w.y_mask = torch.rand(n, H, generator=g) > 0.35
        w.y_mask[0] = True
        if n == 2:
            w.y_mask[:, -1] = False
        w.y[0, 0, 0] = 0.0
        if weights:
            w.y_weight = torch.rand(n, 2, generator=g) * 2
        out.append(w)
    return out


def _rollout_by_hand(windows, H):
    """Every rollout metric by a plain loop over windows, nodes, steps and features (float64)."""
    sq, ab, cnt = [0.0] * H, [0.0] * H, [0] * H
    disp = disp_n = ape = ape_n = 0.0
    for w in windows:
        pred = (w.x[:, -1:] * _growth(H)).double()
        mask = w.y_mask if "y_mask" in w else torch.ones(w.y.shape[:2], dtype=torch.bool)
        for i in range(pred.size(0)):
            for k in range(H):
                if not bool(mask[i, k]):
                    continue
                err = [float(pred[i, k, f]) - float(w.y[i, k, f]) for f in range(pred.size(2))]
                sq[k] += sum(e * e for e in err)
                ab[k] += sum(abs(e) for e in err)
                cnt[k] += len(err)
                disp += sum(e * e for e in err) ** 0.5
                disp_n += 1
                for f, e in enumerate(err):
                    if abs(float(w.y[i, k, f])) > 1e-8:
                        ape += abs(e) / abs(float(w.y[i, k, f]))
                        ape_n += 1
    mse = sum(sq) / sum(cnt)
    return {"mse": mse, "mae": sum(ab) / sum(cnt), "rmse": mse ** 0.5, "mape": 100 * ape / ape_n,
            "ade": disp / disp_n, "mse_per_step": [s / c for s, c in zip(sq, cnt)],
            "mae_per_step": [a / c for a, c in zip(ab, cnt)]}


def _teacher_forcing_by_hand(windows, weighted):
    """The one-step (teacher forcing) MSE loss, y_weight-weighted or not, by a plain loop."""
    total = count = 0.0
    for w in windows:
        seq = torch.cat([w.x, w.y], dim=1).double()                                    # [N, T+H, F]
        present = torch.cat([torch.ones(w.x.shape[:2], dtype=torch.bool), w.y_mask], dim=1)
        for i in range(seq.size(0)):
            for t in range(seq.size(1) - 1):
                if not (bool(present[i, t]) and bool(present[i, t + 1])):
                    continue
                for f in range(seq.size(2)):
                    e = 0.5 * float(seq[i, t, f]) + 0.1 - float(seq[i, t + 1, f])
                    weight = float(w.y_weight[i, f]) if weighted else 1.0
                    total += weight * e * e
                    count += weight
    return total / count


@pytest.mark.parametrize("batch_size", [1, 3])
@pytest.mark.parametrize("masked", [True, False])
def test_rollout_metrics_pool_every_scored_entry_of_the_loader(batch_size, masked):
    windows = _windows()
    if not masked:
        for w in windows:
            del w.y_mask
    names = ["mse", "mae", "rmse", "mape", "ade", "mse_per_step", "mae_per_step"]
    got = evaluate(Scaled(), DataLoader(windows, batch_size=batch_size), metrics=names)
    want = _rollout_by_hand(windows, 3)
    for name in names:
        assert got[name] == pytest.approx(want[name], rel=1e-5), name


@pytest.mark.parametrize("batch_size", [1, 3])
def test_teacher_forcing_loss_is_weighted_and_tf_mse_is_not(batch_size):
    windows = _windows(weights=True)
    got = evaluate(Scaled(), DataLoader(windows, batch_size=batch_size), metrics=["loss", "tf_mse"])
    assert got["loss"] == pytest.approx(_teacher_forcing_by_hand(windows, weighted=True), rel=1e-5)
    assert got["tf_mse"] == pytest.approx(_teacher_forcing_by_hand(windows, weighted=False), rel=1e-5)


def test_the_rollout_loss_weighs_each_feature_by_y_weight():
    windows = _windows(weights=True)
    total = count = 0.0
    for w in windows:
        pred = w.x[:, -1:] * _growth(3)
        for i, k, f in zip(*torch.nonzero(w.y_mask.unsqueeze(-1).expand(-1, -1, 2), as_tuple=True)):
            total += float(w.y_weight[i, f]) * float(pred[i, k, f] - w.y[i, k, f]) ** 2
            count += float(w.y_weight[i, f])
    got = evaluate(Scaled(), DataLoader(windows, batch_size=2), metrics=["loss"], objective="rollout")
    assert got["loss"] == pytest.approx(total / count, rel=1e-5)


def test_a_step_no_entry_scores_is_nan_not_zero():
    windows = _windows(sizes=(3, 4))
    for w in windows:
        w.y_mask[:, 1] = False
    got = evaluate(Scaled(), DataLoader(windows, batch_size=1), metrics=["mse_per_step", "mae_per_step"])
    for name in ("mse_per_step", "mae_per_step"):
        values = got[name]
        assert values[0] > 0 and values[1] != values[1] and values[2] > 0, (name, values)


@pytest.mark.parametrize("training", [False, True])
def test_scoring_runs_in_eval_mode_without_autograd_and_restores_the_mode(training):
    model = Scaled().train(training)
    evaluate(model, DataLoader(_windows(), batch_size=2), metrics=["loss", "mse", "tf_mse"])
    assert model.calls and set(model.calls) == {(False, False)}
    assert model.training is training


def test_a_run_loss_replaces_the_heads_loss_but_keeps_its_huber_delta():
    """``evaluate(loss="huber")`` on a model whose MSE head has huber_delta=0.3: Huber with delta 0.3."""
    model = Scaled()
    model.head = DeterministicHead(2, huber_delta=0.3)
    windows = _windows()
    total = count = 0.0
    for w in windows:
        pred = w.x[:, -1:] * _growth(3)
        for i, k in zip(*torch.nonzero(w.y_mask, as_tuple=True)):
            for f in range(2):
                e = abs(float(pred[i, k, f] - w.y[i, k, f]))
                total += 0.5 * e * e if e < 0.3 else 0.3 * (e - 0.15)
                count += 1
    got = evaluate(model, DataLoader(windows, batch_size=2), metrics=["loss"], objective="rollout", loss="huber")
    assert got["loss"] == pytest.approx(total / count, rel=1e-5)
    with pytest.raises(ValueError, match="evaluate: 'loss' must be one of"):
        evaluate(model, DataLoader(windows, batch_size=2), metrics=["loss"], loss="hinge")


# ================================================================= loggers.py
def _csv_rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def test_csv_columns_follow_first_appearance_and_hold_numbers_strings_and_none_only(tmp_path):
    log = CSVLogger(tmp_path / "new" / "run")                   # a folder that does not exist yet
    log({"epoch": 1, "train_loss": 0.5, "lr": None, "note": "warm-up", "stopped": False, "per_step": [1.0]})
    log({"epoch": 2, "train_loss": 0.25, "note": "", "val_mse": 0.125, "stopped": True})
    columns, rows = _csv_rows(tmp_path / "new" / "run" / "metrics.csv")
    assert columns == ["epoch", "train_loss", "lr", "note", "val_mse"]
    assert [(r["epoch"], r["lr"], r["note"], r["val_mse"]) for r in rows] == \
        [("1", "", "warm-up", ""), ("2", "", "", "0.125")]


def test_csv_an_epoch_logged_again_replaces_its_row(tmp_path):
    log = CSVLogger(tmp_path)
    log({"epoch": 1, "train_loss": 0.5})
    log({"epoch": 2, "train_loss": 0.4})
    log({"epoch": 2, "train_loss": 0.3})
    assert [(r["epoch"], r["train_loss"]) for r in _csv_rows(tmp_path / "metrics.csv")[1]] == \
        [("1", "0.5"), ("2", "0.3")]


def test_csv_rows_of_the_file_without_an_epoch_are_dropped(tmp_path):
    (tmp_path / "metrics.csv").write_text("epoch,train_loss\n1,0.5\n,0.7\nbest,0.1\n2,0.4\n")
    CSVLogger(tmp_path)({"epoch": 2, "train_loss": 0.3})
    assert [(r["epoch"], r["train_loss"]) for r in _csv_rows(tmp_path / "metrics.csv")[1]] == \
        [("1", "0.5"), ("2", "0.3")]


def test_csv_on_resume_keeps_the_files_values_of_every_epoch_of_the_history(tmp_path):
    log = CSVLogger(tmp_path)
    for epoch in (1, 2, 3):
        log({"epoch": epoch, "train_loss": 1.0 / epoch, "protocol": 10.0 + epoch, "unused": None})
    resumed = CSVLogger(tmp_path)
    resumed.on_resume([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}])
    resumed({"epoch": 3, "train_loss": 0.25, "protocol": 20.0})
    columns, rows = _csv_rows(tmp_path / "metrics.csv")
    assert [(r["epoch"], r["protocol"]) for r in rows] == [("1", "11.0"), ("2", "12.0"), ("3", "20.0")]
    assert "unused" not in columns                 # an empty column of the old file is not carried over


def _scalars(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(folder))
    events.Reload()
    return sorted((e.step, e.value) for e in events.Scalars(tag)) if tag in events.Tags()["scalars"] else []


def test_tensorboard_resumed_elsewhere_writes_each_epoch_once(tmp_path):
    """A resume into a new folder: the checkpoint's epochs written once, before the next epochs."""
    pytest.importorskip("tensorboard")
    log = TensorBoardLogger(tmp_path / "tb")
    log.on_resume([{"epoch": 1, "train_loss": 0.5, "stopped": True}, {"epoch": 2, "train_loss": 0.25}])
    log({"epoch": 3, "train_loss": 0.125})
    log({"epoch": 4, "train_loss": 0.0625})
    log.close()
    assert _scalars(tmp_path / "tb", "train_loss") == [(1, 0.5), (2, 0.25), (3, 0.125), (4, 0.0625)]
    assert _scalars(tmp_path / "tb", "stopped") == []                                  # a bool is no number


def test_tensorboard_a_pending_epoch_logged_again_is_written_once(tmp_path):
    """The checkpoint's last epoch logged again by the resumed run: the new record wins, once."""
    pytest.importorskip("tensorboard")
    log = TensorBoardLogger(tmp_path / "tb")
    log.on_resume([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}])
    log({"epoch": 2, "train_loss": 0.2})
    log.close()
    assert _scalars(tmp_path / "tb", "train_loss") == [(1, 0.5), (2, pytest.approx(0.2))]


def test_tensorboard_a_closed_logger_reopens_purging_from_the_next_records_epoch(tmp_path):
    """After close() the next record opens a new writer that purges its epoch's former events."""
    pytest.importorskip("tensorboard")
    log = TensorBoardLogger(tmp_path / "tb")
    log({"epoch": 1, "train_loss": 0.5})
    log({"epoch": 2, "train_loss": 0.25})
    log.close()
    log({"epoch": 2, "train_loss": 0.2})
    log.close()
    assert _scalars(tmp_path / "tb", "train_loss") == [(1, 0.5), (2, pytest.approx(0.2))]


def test_windows_of_different_horizons_need_a_horizon():
    windows = _windows(sizes=(3, 4), H=3) + _windows(sizes=(2, 5), H=2)
    loader = DataLoader(windows, batch_size=2)
    with pytest.raises(ValueError, match=r"evaluate: windows have different horizons \(3 and 2\)"):
        evaluate(Scaled(), loader, metrics=["mse"])
    cut = [w.clone() for w in windows]
    for w in cut:
        w.y, w.y_mask = w.y[:, :2], w.y_mask[:, :2]
    assert evaluate(Scaled(), loader, metrics=["mse"], horizon=2)["mse"] == \
        pytest.approx(_rollout_by_hand(cut, 2)["mse"], rel=1e-5)


def test_evaluate_refuses_a_bool_horizon_and_the_teacher_forcing_loss_of_a_rollout_model():
    model = Scaled()
    model.has_forward = False
    loader = DataLoader(_windows(), batch_size=2)
    with pytest.raises(ValueError, match="evaluate: 'horizon' must be a positive int"):
        evaluate(model, loader, metrics=["mse"], horizon=True)
    with pytest.raises(ValueError, match="no one-step-ahead forward"):
        evaluate(model, loader, metrics=["loss"], objective="teacher_forcing")
    assert set(evaluate(model, loader, metrics=["loss", "mse"])) == {"loss", "mse"}       # rollout: fine


def test_score_loader_of_a_loader_without_batches_is_nan():
    got = score_loader(Scaled(), [], ["mse", "loss"])
    assert set(got) == {"mse", "loss"} and all(v != v for v in got.values())


class Sampled(Scaled):
    """``forecast(..., num_samples=K)``: K draws, the point forecast plus 0, 1, ..., K-1."""

    def forecast(self, data, horizon, num_samples=None):
        point = super().forecast(data, horizon)
        if num_samples is None:
            return point
        return torch.stack([point + k for k in range(num_samples)])


def test_collect_cuts_y_and_y_mask_to_the_horizon():
    windows = _windows(sizes=(3, 4), H=3)
    got = collect(Scaled(), DataLoader(windows, batch_size=1), horizon=2)
    assert got["y_mask"].shape == (7, 2) and got["y"].shape == (7, 2, 2) and got["pred"].shape == (7, 2, 2)
    assert torch.equal(got["y_mask"], torch.cat([w.y_mask[:, :2] for w in windows]))


def test_collect_keeps_the_seed_rows_of_one_hop_samples():
    data = fake_st_data(9, T=4, F=2, horizon=1, generator=torch.Generator().manual_seed(3))
    got = collect(Sampled(), OneHopLoader(data, 4), horizon=1, num_samples=3)
    point = data.x[:, -1:] * _growth(1)
    assert got["samples"].shape == (3, 9, 1, 2) and torch.equal(got["n_id"], torch.arange(9))
    for k in range(3):
        assert torch.allclose(got["samples"][k], point + k)
    with pytest.raises(ValueError, match="collect: 'num_samples' must be a positive int"):
        collect(Sampled(), DataLoader([data]), num_samples=0)
