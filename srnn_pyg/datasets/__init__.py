"""Datasets: real recordings with their literature protocols, and the synthetic Springs."""
from .base import DataFormatError, STDataset, resolve_root

__all__ = [
    "STDataset",
    "DataFormatError",
    "resolve_root",
]
