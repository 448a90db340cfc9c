"""Datasets: real recordings with their literature protocols, and the synthetic Springs.

Every dataset is registered by name and carries its protocol (splits,
defaults, how a split is opened and how forecasts are scored):

.. code-block:: python

    from srnn_pyg import datasets

    datasets.available()          # ['springs', 'cmu_mocap', 'h36m', 'eth_ucy', 'los_loop', ...]
    cls = datasets.get("springs")
    train = cls.open("train", num_graphs=100)
    test = cls.open("test", train=train, num_graphs=100)
"""
from .registry import available, get, register_dataset
from .base import DataFormatError, STDataset, resolve_root
from .safe_pickle import UnsafePickleError, safe_load
# Import order is registration order, the order of available().
from .springs import Springs
from .motion import MotionDataset
from .cmu_mocap import CMUMocap
from .h36m import H36M
from .eth_ucy import ETHUCY
from .los_loop import LosLoop
from .pyg_temporal import Chickenpox, EnglandCovid, PedalMe, PyGTemporalJSON
from .brain4cars import Brain4Cars

__all__ = [
    "available",
    "get",
    "register_dataset",
    "STDataset",
    "DataFormatError",
    "resolve_root",
    "safe_load",
    "UnsafePickleError",
    "Springs",
    "MotionDataset",
    "CMUMocap",
    "H36M",
    "ETHUCY",
    "LosLoop",
    "Chickenpox",
    "PedalMe",
    "EnglandCovid",
    "PyGTemporalJSON",
    "Brain4Cars",
]
