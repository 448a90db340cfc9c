"""What a resumed run keeps: the keys callbacks add, the loggers' rows of
every epoch the checkpoint holds, a new early-stopping patience; and the
scheduler's arguments checked before training."""
import csv
import json
import warnings

import pytest
import torch

from srnn_pyg.engine import TrainConfig, load_checkpoint
from srnn_pyg.engine.loggers import CSVLogger, TensorBoardLogger

from engine_helpers import run, srnn


def _protocol(record):          # a callback that scores each epoch, as the CLI's reporter does
    record["val_protocol"] = 10.0 + record["epoch"]


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_keys_a_callback_adds_are_in_the_last_epochs_files(springs, tmp_path):
    out = tmp_path / "r"
    run(srnn(springs[0].schema), springs, out, callbacks=[_protocol], monitor="val_loss")
    for name in ("last.pt", "best.pt"):
        history = load_checkpoint(out / name)["history"]
        assert [r.get("val_protocol") for r in history] == [11.0, 12.0][:len(history)]
    assert [r["val_protocol"] for r in _jsonl(out / "metrics.jsonl")] == [11.0, 12.0]
    resumed = run(srnn(springs[0].schema), springs, out, epochs=3, callbacks=[_protocol], resume=True)
    assert [r["val_protocol"] for r in resumed.history] == [11.0, 12.0, 13.0]


def test_a_callback_that_adds_nothing_writes_each_checkpoint_once(springs, tmp_path, monkeypatch):
    from srnn_pyg.engine import loop
    writes = []
    real = loop.write_checked
    monkeypatch.setattr(loop, "write_checked", lambda ckpt, path: writes.append(path.name) or real(ckpt, path))
    run(srnn(springs[0].schema), springs, tmp_path / "r", epochs=1, callbacks=[lambda r: None])
    assert sorted(writes) == ["best.pt", "last.pt"]


def test_csv_logger_gets_back_the_row_a_killed_run_never_wrote(springs, tmp_path):
    out = tmp_path / "r"
    run(srnn(springs[0].schema), springs, out, callbacks=[CSVLogger(out)])
    rows = _csv(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # killed after epoch 2's last.pt and before its row: the file ends at epoch 1
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(rows[0])
    resumed = run(srnn(springs[0].schema), springs, out, epochs=3, callbacks=[CSVLogger(out)], resume=True)
    rows = _csv(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [float(r["train_loss"]) for r in rows] == pytest.approx([r["train_loss"] for r in resumed.history])


def test_csv_logger_of_a_resume_into_a_new_folder_holds_the_whole_history(springs, tmp_path):
    first = tmp_path / "first"
    run(srnn(springs[0].schema), springs, first)
    other = tmp_path / "other"
    run(srnn(springs[0].schema), springs, other, epochs=3, callbacks=[CSVLogger(other)],
        resume=str(first / "last.pt"))
    assert [r["epoch"] for r in _csv(other / "metrics.csv")] == ["1", "2", "3"]


def test_tensorboard_logger_writes_the_checkpoints_epochs_again_on_resume(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    log = TensorBoardLogger(tmp_path / "tb")
    log({"epoch": 1, "train_loss": 0.5})
    log.close()                                  # killed before epoch 2's events
    resumed = TensorBoardLogger(tmp_path / "tb")
    resumed.on_resume([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}])
    resumed({"epoch": 3, "train_loss": 0.125})
    resumed.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert sorted((e.step, e.value) for e in events.Scalars("train_loss")) == [(1, 0.5), (2, 0.25), (3, 0.125)]


def _stopped_run(springs, out):
    # lr too small to change the validation loss: epoch 2 does not improve, patience 1 stops there
    result = run(srnn(springs[0].schema), springs, out, epochs=6, early_stopping=1, lr=1e-12)
    assert result.stopped_early and result.epochs_run == 2
    return out


def test_a_larger_patience_continues_a_run_that_stopped_early(springs, tmp_path):
    out = _stopped_run(springs, tmp_path / "r")
    with pytest.warns(UserWarning, match=r"stopped early at epoch 2 .*early_stopping=4.*goes on"):
        result = run(srnn(springs[0].schema), springs, out, epochs=8, early_stopping=4, lr=1e-12, resume=True)
    assert result.epochs_run == 5 and result.stopped_early            # 1 + 3 more epochs without improvement
    out = _stopped_run(springs, tmp_path / "none")
    result = run(srnn(springs[0].schema), springs, out, epochs=4, early_stopping=None, lr=1e-12, resume=True)
    assert result.epochs_run == 4 and not result.stopped_early


def test_the_same_patience_says_nothing_is_trained(springs, tmp_path):
    out = _stopped_run(springs, tmp_path / "r")
    with pytest.warns(UserWarning, match="nothing is trained: pass a larger 'early_stopping'"):
        result = run(srnn(springs[0].schema), springs, out, epochs=8, early_stopping=1, lr=1e-12, resume=True)
    assert result.epochs_run == 2 and result.stopped_early


def test_a_run_that_was_not_stopped_resumes_quietly(springs, tmp_path):
    out = tmp_path / "r"
    run(srnn(springs[0].schema), springs, out, early_stopping=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run(srnn(springs[0].schema), springs, out, epochs=3, early_stopping=5, resume=True)
    assert result.epochs_run == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(scheduler="step", scheduler_kwargs={"gama": 0.5}),
     r"'scheduler_kwargs' for scheduler='step' \(torch.optim.lr_scheduler.StepLR\) take the keys "
     r"\['step_size', 'gamma', 'last_epoch'\] \(got 'gama'"),
    (dict(scheduler=None, scheduler_kwargs={"gamma": 0.5}), r"with scheduler=None they would be ignored"),
    (dict(scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1), scheduler_kwargs={"gamma": 0.5}),
     r"configure a built-in scheduler"),
])
def test_scheduler_kwargs_are_checked_when_the_config_is_made(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(epochs=2, **kwargs)


def test_a_scheduler_kwargs_value_the_scheduler_refuses_names_the_option(springs):
    with pytest.raises(ValueError, match=r"fit: 'scheduler_kwargs' \{'factor': 2.0\} do not fit "
                                         r"scheduler='plateau' \(torch.optim.lr_scheduler.ReduceLROnPlateau\)"):
        run(srnn(springs[0].schema), springs, epochs=1, scheduler="plateau", scheduler_kwargs={"factor": 2.0})


def test_csv_logger_keeps_columns_the_file_has_and_an_older_checkpoint_lacks(tmp_path):
    log = CSVLogger(tmp_path)
    log({"epoch": 1, "train_loss": 0.5, "val_protocol": 7.0})
    resumed = CSVLogger(tmp_path)
    resumed.on_resume([{"epoch": 1, "train_loss": 0.5}])          # saved before the callback added its key
    resumed({"epoch": 2, "train_loss": 0.25, "val_protocol": 6.0})
    rows = _csv(tmp_path / "metrics.csv")
    assert [(r["epoch"], r["val_protocol"]) for r in rows] == [("1", "7.0"), ("2", "6.0")]


def test_tensorboard_logger_resumed_in_its_folder_keeps_the_other_events(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    log = TensorBoardLogger(tmp_path / "tb")
    log({"epoch": 1, "train_loss": 0.5, "mine": 3.0})
    log({"epoch": 2, "train_loss": 0.25, "mine": 4.0})
    log.close()
    resumed = TensorBoardLogger(tmp_path / "tb")
    resumed.on_resume([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}])
    resumed({"epoch": 3, "train_loss": 0.125})
    resumed.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("mine")] == [1]      # before the resumed epoch: kept
    assert sorted(e.step for e in events.Scalars("train_loss")) == [1, 2, 3]


def test_a_list_a_callback_changes_in_place_is_saved_too(springs, tmp_path):
    def mark(record):                 # the list is in the record before the callbacks: only its content changes
        record["val_mse_per_step"].append(-1.0)
    out = tmp_path / "r"
    run(srnn(springs[0].schema), springs, out, epochs=1, metrics=["mse", "mse_per_step"], callbacks=[mark])
    assert load_checkpoint(out / "last.pt")["history"][-1]["val_mse_per_step"][-1] == -1.0
    assert _jsonl(out / "metrics.jsonl")[-1]["val_mse_per_step"][-1] == -1.0
