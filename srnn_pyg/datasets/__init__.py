"""Datasets: real recordings with their literature protocols, and the synthetic Springs."""
from .base import DataFormatError, STDataset, resolve_root
from .safe_pickle import UnsafePickleError, safe_load
from .los_loop import LosLoop
from .pyg_temporal import Chickenpox, EnglandCovid, PedalMe
from .brain4cars import Brain4Cars
from .springs import Springs
from .motion import MotionDataset
from .cmu_mocap import CMUMocap
from .h36m import H36M
from .eth_ucy import ETHUCY

__all__ = [
    "STDataset",
    "DataFormatError",
    "resolve_root",
    "safe_load",
    "UnsafePickleError",
    "LosLoop",
    "Chickenpox",
    "PedalMe",
    "EnglandCovid",
    "Brain4Cars",
    "Springs",
    "MotionDataset",
    "CMUMocap",
    "H36M",
    "ETHUCY",
]
