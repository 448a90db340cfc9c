"""srnn_pyg: Structural-RNN (Jain et al., CVPR 2016) for PyTorch Geometric."""
from .data import (STData, TimeWindows, from_dense, from_hetero, from_networkx,
                   from_temporal_signal, to_hetero, to_networkx)
from .engine import evaluate, fit, load_model, save_model
from .schema import EdgeType, STSchema

__version__ = "0.1.0"

__all__ = [
    "STSchema",
    "EdgeType",
    "STData",
    "TimeWindows",
    "from_networkx",
    "to_networkx",
    "from_dense",
    "from_temporal_signal",
    "from_hetero",
    "to_hetero",
    "fit",
    "evaluate",
    "save_model",
    "load_model",
    "__version__",
]
