r"""What :func:`~srnn_pyg.engine.fit` returns: :class:`FitResult`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .checkpoints import BEST, LAST
from .files import to_jsonable

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """What :func:`~srnn_pyg.engine.fit` returns (and writes to
    ``result.json``).

    Attributes:
        history (list[dict]): one record per epoch: ``epoch`` (1-based; ``0``
            for the evaluation of a non-trainable model, or of the starting
            weights with ``validate_start``), ``step`` (optimiser
            steps so far), ``lr``, ``noise_std``, ``train_loss``, ``val_*``
            metrics of :func:`~srnn_pyg.engine.evaluate`, ``time`` (seconds).
        monitor (str): the history key that picks ``best.pt`` and drives early
            stopping, and ``mode`` (``"min"``/``"max"``).
        best_epoch, best_score: where the monitored value was best.
        epochs_run (int): the last epoch completed.
        stopped_early (bool): early stopping ended the run.
        out_dir (str, optional): where metrics and checkpoints were written.
        model_record (dict, optional): how to rebuild the model
            (:func:`~srnn_pyg.engine.model_record`; :obj:`None` for a model
            that is not a registered Forecaster).
    """

    history: List[Dict[str, Any]] = field(default_factory=list)
    monitor: str = "train_loss"
    mode: str = "min"
    best_epoch: Optional[int] = None
    best_score: Optional[float] = None
    epochs_run: int = 0
    stopped_early: bool = False
    out_dir: Optional[str] = None
    model_record: Optional[Dict[str, Any]] = None

    @property
    def final(self) -> Dict[str, Any]:
        """The last history record (``{}`` if none)."""
        return self.history[-1] if self.history else {}

    @property
    def best_path(self) -> Optional[str]:
        return str(Path(self.out_dir) / BEST) if self.out_dir else None

    @property
    def last_path(self) -> Optional[str]:
        return str(Path(self.out_dir) / LAST) if self.out_dir else None

    def to_dict(self) -> Dict[str, Any]:
        return to_jsonable({"history": self.history, "monitor": self.monitor, "mode": self.mode,
                            "best_epoch": self.best_epoch, "best_score": self.best_score,
                            "epochs_run": self.epochs_run, "stopped_early": self.stopped_early,
                            "out_dir": self.out_dir, "model_record": self.model_record})
