"""Models: :class:`StructuralRNN` and the baselines, all :class:`Forecaster`."""
from .base import Forecaster
from .constant_velocity import ConstantVelocity
from .erd import ERD
from .lstm3lr import LSTM3LR
from .node_lstm import NodeLSTM
from .registry import available, build, register
from .srnn import StructuralRNN
from .zero_velocity import ZeroVelocity

__all__ = [
    "Forecaster",
    "ConstantVelocity",
    "ERD",
    "LSTM3LR",
    "NodeLSTM",
    "StructuralRNN",
    "ZeroVelocity",
    "build",
    "available",
    "register",
]
