"""Models: :class:`StructuralRNN` and the baselines, all :class:`Forecaster`."""
from .base import Forecaster
from .registry import available, build, register
from .zero_velocity import ZeroVelocity

__all__ = [
    "Forecaster",
    "ZeroVelocity",
    "build",
    "available",
    "register",
]
