"""srnn_pyg: Structural-RNN (Jain et al., CVPR 2016) for PyTorch Geometric.

The top-level names load on first use (PEP 562), so that ``import srnn_pyg``
and ``srnn-pyg --help`` start without importing torch. Any name, e.g.
``from srnn_pyg import STData``, loads its module (``srnn_pyg.data``, which
also registers the graph classes for ``torch.load(weights_only=True)``).
"""
from __future__ import annotations

import importlib
from typing import Any, List

__version__ = "0.2.0"

#: public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(["STSchema", "EdgeType"], ".schema"),
    **dict.fromkeys(["STData", "TimeWindows", "from_networkx", "to_networkx", "from_dense", "from_temporal_signal",
                     "from_hetero", "to_hetero", "pad_collate", "check_schemas"], ".data"),
    **dict.fromkeys(["fit", "evaluate", "save_model", "load_model"], ".engine"),
    **dict.fromkeys(["OneHopLoader", "seed_view", "seed_nodes"], ".loader"),
    **dict.fromkeys(["StandardScaler", "MinMaxScaler", "RobustScaler", "Compose", "scaler_from_state"],
                    ".scalers"),
    "RandomRotation": ".transforms",
}

__all__ = list(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    importlib.import_module(".data", __name__)      # graph classes registered for torch.load first
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
