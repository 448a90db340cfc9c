"""Models by name: :func:`build`, :func:`available`, :func:`register`."""
from __future__ import annotations

from typing import Callable, Dict, List, Type

from ..schema import STSchema
from .base import Forecaster

__all__ = ["register", "build", "available", "get"]

_REGISTRY: Dict[str, Type[Forecaster]] = {}


def register(name: str) -> Callable[[Type[Forecaster]], Type[Forecaster]]:
    """Class decorator: make a :class:`Forecaster` buildable as ``name``."""

    if not isinstance(name, str) or not name.strip():
        raise (ValueError if isinstance(name, str) else TypeError)(
            f"register: 'name' must be a non-empty str (got {name!r})")

    def wrap(cls: Type[Forecaster]) -> Type[Forecaster]:
        if not (isinstance(cls, type) and issubclass(cls, Forecaster)):
            raise TypeError(f"register: {name!r} must name a subclass of srnn_pyg.models.Forecaster "
                            f"(got {cls!r})")
        key = name.lower()
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            raise ValueError(f"register: the name {name!r} is taken by {_REGISTRY[key].__name__}")
        _REGISTRY[key] = cls
        cls.registry_name = key
        return cls

    return wrap


def available() -> List[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> Type[Forecaster]:
    """The model class registered as (case-insensitive) ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown model {name!r} (available: {', '.join(available())})")
    return _REGISTRY[name.lower()]


def build(name: str, schema: STSchema, in_channels: int, out_channels: int, **kwargs) -> Forecaster:
    """Build a registered model by (case-insensitive) name.

    .. code-block:: python

        model = build("srnn", schema, 4, 4, edge_hidden=32)

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    try:
        cls = get(name)
    except ValueError as e:
        raise ValueError(f"build: {e}") from None
    return cls(schema, in_channels, out_channels, **kwargs)
