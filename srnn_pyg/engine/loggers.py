r"""Loggers for :func:`~srnn_pyg.engine.fit`: callables for
``TrainConfig.callbacks``, each called with every epoch's record (the dict
that ``metrics.jsonl`` holds: ``epoch``, ``step``, ``lr``, ``noise_std``,
``train_loss``, ``val_*``, ``time``).

.. code-block:: python

    from srnn_pyg.engine import TrainConfig, fit
    from srnn_pyg.engine.loggers import CSVLogger, TensorBoardLogger

    config = TrainConfig(epochs=10, out_dir="runs/srnn",
                         callbacks=[CSVLogger("runs/srnn"), TensorBoardLogger("runs/srnn/tensorboard")])
    fit(model, train_loader, val_loader, config)

Both continue a resumed run as ``metrics.jsonl`` does: on resume ``fit``
hands them the checkpoint's history (their ``on_resume``), so the rows (or
events) of epochs after the checkpoint are dropped and those it holds are
written again, including an epoch whose row a killed run never wrote.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from .files import atomic_write_text

__all__ = ["CSVLogger", "TensorBoardLogger", "WITH_TENSORBOARD"]

try:  # the PyG way: a flag read at call time
    import tensorboard  # noqa: F401
    WITH_TENSORBOARD = True
except ImportError:  # pragma: no cover - depends on the environment
    WITH_TENSORBOARD = False


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _row(record: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in record.items() if _scalar(v) or v is None or isinstance(v, str)}


class CSVLogger:
    r"""Writes ``metrics.csv`` (one row per epoch, a column per record key
    in order of first appearance) beside ``metrics.jsonl``.

    The whole file is rewritten atomically every epoch, so a new key
    (e.g. a metric that appears later) gets its column and a killed run
    never leaves half a row. On the first call, rows of an existing file
    whose epoch is before the record's are kept, later ones dropped; a run
    that :func:`~srnn_pyg.engine.fit` resumes takes the checkpoint's history
    instead (:meth:`on_resume`), which holds every epoch up to it, and a new
    run that ``fit`` starts (``overwrite=True`` over a former one) none of the
    file's rows.

    Args:
        out_dir (str or PathLike): the run folder.
        filename (str, optional): (default: ``"metrics.csv"``)
    """

    def __init__(self, out_dir: Union[str, Path], filename: str = "metrics.csv"):
        self.path = Path(out_dir) / filename
        self.rows: Optional[List[Dict[str, Any]]] = None

    def _load(self, epoch: int) -> List[Dict[str, Any]]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        keep = []
        for row in rows:
            try:
                if int(float(row.get("epoch", ""))) < epoch:
                    keep.append(row)
            except ValueError:
                continue
        return keep

    def on_resume(self, history: List[Dict[str, Any]]) -> None:
        """The rows of a resumed run: the checkpoint's ``history``, written
        with the next epoch's row (a column that the file has and a record
        lacks, such as one a callback added to an epoch an older checkpoint
        saved before it, is kept from the file)."""
        old = {}
        for row in self._load(int(history[-1].get("epoch", 0)) + 1 if history else 0):
            try:
                old[int(float(row.get("epoch", "")))] = row
            except ValueError:
                continue
        self.rows = []
        for record in history:
            row = _row(record)
            kept = old.get(int(record.get("epoch", -1)), {})
            self.rows.append({**{k: v for k, v in kept.items() if k not in row and v != ""}, **row})

    def __call__(self, record: Dict[str, Any]) -> None:
        epoch = int(record.get("epoch", 0))
        if self.rows is None:
            self.rows = self._load(epoch)
        self.rows = [r for r in self.rows if int(float(r.get("epoch", 0))) < epoch]
        self.rows.append(_row(record))
        columns: List[str] = []
        for row in self.rows:
            columns += [c for c in row if c not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(buf.getvalue(), self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.path}')"


class TensorBoardLogger:
    r"""Writes every number of each epoch's record as a TensorBoard scalar
    (tag = the record key, step = the epoch) under ``log_dir``.

    Needs the ``tensorboard`` package (``pip install srnn_pyg[tensorboard]``).
    The writer is opened on the first record with ``purge_step`` at that
    epoch, so the events of a resumed run's later epochs replace the old; a
    run that :func:`~srnn_pyg.engine.fit` resumes hands it the checkpoint's
    history first (:meth:`on_resume`), written again from its first epoch.

    Args:
        log_dir (str or PathLike): the events folder (e.g.
            ``RUN/tensorboard``).

    Raises:
        ImportError: when ``tensorboard`` is not installed, naming the extra.
    """

    def __init__(self, log_dir: Union[str, Path]):
        if not WITH_TENSORBOARD:
            raise ImportError("TensorBoardLogger needs the 'tensorboard' package: "
                              "pip install srnn_pyg[tensorboard] (or pip install tensorboard)")
        self.log_dir = Path(log_dir)
        self.writer = None
        self.pending: List[Dict[str, Any]] = []

    def on_resume(self, history: List[Dict[str, Any]]) -> None:
        """The epochs of a resumed run's checkpoint, written with the next: the
        last one (a killed run may not have written it) into a folder that
        holds events already, so that its other events stay, or every one
        into a new folder (a run resumed elsewhere)."""
        held = self.log_dir.is_dir() and any(p.name.startswith("events.out.tfevents")
                                             for p in self.log_dir.iterdir())
        self.pending = list(history[-1:] if held else history)

    def __call__(self, record: Dict[str, Any]) -> None:
        epoch = int(record.get("epoch", 0))
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter
            first = min([epoch] + [int(r.get("epoch", 0)) for r in self.pending])
            self.writer = SummaryWriter(str(self.log_dir), purge_step=first)
        pending, self.pending = self.pending, []
        for old in pending:
            if int(old.get("epoch", 0)) < epoch:
                self._write(old)
        self._write(record)
        self.writer.flush()

    def _write(self, record: Dict[str, Any]) -> None:
        epoch = int(record.get("epoch", 0))
        for key, value in record.items():
            if key != "epoch" and _scalar(value) and math.isfinite(float(value)):
                self.writer.add_scalar(key, float(value), global_step=epoch)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self.log_dir}')"
