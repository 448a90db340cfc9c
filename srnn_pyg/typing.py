"""Optional dependencies, detected the PyG way: a flag read at call time."""
try:
    import torch_scatter  # noqa: F401

    WITH_TORCH_SCATTER = True
except ImportError:  # torch_geometric.utils.scatter falls back to torch's own scatter
    WITH_TORCH_SCATTER = False

__all__ = ["WITH_TORCH_SCATTER"]
