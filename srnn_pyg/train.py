"""Deprecated: the trainer is now the package :mod:`srnn_pyg.engine`; this
module only re-exports its public names (``build_model`` is
:func:`srnn_pyg.models.build`)."""
import warnings

from .engine import (PAPER_NOISE_SCHEDULE, FitResult, NoiseSchedule, TrainConfig, atomic_save,
                     atomic_write_text, evaluate, fit, load_checkpoint, load_model, save_model)
from .models import build as build_model

__all__ = ["fit", "evaluate", "FitResult", "TrainConfig", "NoiseSchedule", "PAPER_NOISE_SCHEDULE",
           "build_model", "save_model", "load_model", "load_checkpoint", "atomic_save", "atomic_write_text"]

warnings.warn("srnn_pyg.train is deprecated: import from srnn_pyg.engine (or srnn_pyg)", DeprecationWarning,
              stacklevel=2)
