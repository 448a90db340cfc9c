"""The loggers of srnn_pyg.engine.loggers, alone and through ``--logger``."""
import csv
import json

import pytest

from srnn_pyg.cli import main
from srnn_pyg.engine import loggers
from srnn_pyg.engine.loggers import CSVLogger, TensorBoardLogger

from cli_helpers import TINY


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_logger_adds_columns_and_drops_rows_after_a_resume(tmp_path):
    log = CSVLogger(tmp_path)
    log({"epoch": 1, "train_loss": 0.5, "lr": None})
    log({"epoch": 2, "train_loss": 0.25, "val_MSE": 0.1, "tags": [1, 2]})
    rows = _rows(tmp_path / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[0]["val_MSE"] == "" and float(rows[1]["val_MSE"]) == 0.1 and "tags" not in rows[0]
    log({"epoch": 3, "train_loss": 0.2})
    resumed = CSVLogger(tmp_path)                    # a run resumed from epoch 1's checkpoint
    resumed({"epoch": 2, "train_loss": 0.3})
    rows = _rows(tmp_path / "metrics.csv")
    assert [(r["epoch"], float(r["train_loss"])) for r in rows] == [("1", 0.5), ("2", 0.3)]


def test_tensorboard_logger_without_the_package_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(loggers, "WITH_TENSORBOARD", False)
    with pytest.raises(ImportError, match=r"srnn_pyg\[tensorboard\]"):
        TensorBoardLogger(tmp_path)


def test_tensorboard_logger_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    log = TensorBoardLogger(tmp_path / "tb")
    for epoch, loss in ((1, 0.5), (2, 0.25)):
        log({"epoch": epoch, "train_loss": loss, "lr": None, "val_MSE": float("nan")})
    log.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert events.Tags()["scalars"] == ["train_loss"]
    assert [(e.step, e.value) for e in events.Scalars("train_loss")] == [(1, 0.5), (2, 0.25)]


def test_logger_csv_option_writes_metrics_csv_with_the_protocol(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "2", "--logger", "csv", "--out_dir", str(run)] + TINY) == 0
    rows = _rows(run / "metrics.csv")
    jsonl = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [float(r["train_loss"]) for r in rows] == pytest.approx([j["train_loss"] for j in jsonl])
    assert all(float(r["val_MSE"]) > 0 for r in rows)
    result = json.loads((run / "result.json").read_text())
    assert "val_MSE@1" in result["history"][-1]


def test_logger_tensorboard_option_writes_events(tmp_path):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "1", "--logger", "tensorboard", "--out_dir", str(run)] + TINY) == 0
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tensorboard").iterdir())
