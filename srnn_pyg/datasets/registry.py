"""Datasets by name: :func:`register_dataset`, :func:`available`, :func:`get`.

.. code-block:: python

    from srnn_pyg import datasets

    datasets.available()                       # ['springs', 'cmu_mocap', ...]
    cls = datasets.get("los_loop")
    train = cls.open("train", obs=12, horizon=12)
    test = cls.open("test", train=train)
    scores = test.score(collected)             # {"MAE@15min": ..., ...}
"""
from __future__ import annotations

from typing import Callable, Dict, List, TypeVar

__all__ = ["register_dataset", "available", "get", "datasets_taking"]

T = TypeVar("T", bound=type)

_REGISTRY: Dict[str, type] = {}


def register_dataset(name: str) -> Callable[[T], T]:
    """Class decorator: make a dataset class known as ``name`` (lower case);
    sets the class attribute ``name``.

    Raises:
        ValueError: if another class holds the name already.
    """
    key = name.lower()

    def wrap(cls: T) -> T:
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"register_dataset: the name {name!r} is taken by "
                             f"{_REGISTRY[key].__name__}")
        _REGISTRY[key] = cls
        cls.name = key
        return cls

    return wrap


def available() -> List[str]:
    """The registered dataset names, in registration order (``springs``, the
    synthetic default, first)."""
    return list(_REGISTRY)


def get(name: str) -> type:
    """The dataset class registered as (case-insensitive) ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r} (available: {', '.join(available())})")
    return _REGISTRY[name.lower()]


def datasets_taking(option: str) -> List[str]:
    """The registered datasets whose :meth:`~srnn_pyg.datasets.STDataset.open`
    takes ``option`` as an extra keyword (for error messages)."""
    return [n for n, cls in _REGISTRY.items() if option in cls.extra_options()]
