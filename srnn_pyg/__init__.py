"""srnn_pyg: Structural-RNN (Jain et al., CVPR 2016) for PyTorch Geometric."""
from .data import (STData, TimeWindows, check_schemas, from_dense, from_hetero, from_networkx,
                   from_temporal_signal, pad_collate, to_hetero, to_networkx)
from .engine import evaluate, fit, load_model, save_model
from .loader import OneHopLoader, seed_nodes, seed_view
from .scalers import Compose, MinMaxScaler, RobustScaler, StandardScaler, scaler_from_state
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
    "pad_collate",
    "check_schemas",
    "OneHopLoader",
    "seed_view",
    "seed_nodes",
    "StandardScaler",
    "MinMaxScaler",
    "RobustScaler",
    "Compose",
    "scaler_from_state",
    "fit",
    "evaluate",
    "save_model",
    "load_model",
    "__version__",
]
