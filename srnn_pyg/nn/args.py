"""Checks of constructor arguments shared by the models and layers.

Each check names its owner (the class the user called), the argument, what it
expects and what it got, as ``docs/errors.md`` promises, and returns the value
as a plain Python one (a NumPy integer becomes an ``int``), so that what a
model records in ``model_args`` saves and loads like any other number. Sizes
and rates raise :class:`ValueError`; a flag that is not a bool raises
:class:`TypeError` (``"no"`` would otherwise switch a flag on).
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, List, Optional, Tuple

import numpy as np

__all__ = ["count", "flag", "is_bool", "rate", "real", "sizes", "indices", "plain"]


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= least


def count(owner: str, name: str, value: Any, least: int = 1, optional: bool = False,
          meaning: str = "") -> Optional[int]:
    """``value`` as an ``int >= least`` (``None`` passes when ``optional``;
    ``meaning`` says what ``None`` stands for)."""
    if value is None and optional:
        return None
    if not _whole(value, least):
        what = "a positive int" if least == 1 else f"an int >= {least}"
        tail = f" or None{', meaning ' + meaning if meaning else ''}" if optional else ""
        raise ValueError(f"{owner}: '{name}' must be {what}{tail} (got {value!r})")
    return int(value)


def is_bool(value: Any) -> bool:
    """A Python or NumPy bool (not ``1``, not ``"no"``)."""
    return isinstance(value, (bool, np.bool_))


def flag(owner: str, name: str, value: Any) -> bool:
    """``value`` as a Python bool; it must be a bool (a NumPy one too), not ``1`` or ``"no"``."""
    if not is_bool(value):
        raise TypeError(f"{owner}: '{name}' must be a bool, True or False (got {value!r})")
    return bool(value)


def rate(owner: str, name: str, value: Any) -> float:
    """``value`` as a float in ``[0, 1)`` (a dropout rate)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: '{name}' must be a float in [0, 1) (got {value!r})")
    return float(value)


def real(owner: str, name: str, value: Any, least: float = 0.0, strict: bool = False) -> float:
    """``value`` as a finite float ``>= least`` (``> least`` when ``strict``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > least if strict else value >= least)
    if not ok:
        raise ValueError(f"{owner}: '{name}' must be a finite number {'>' if strict else '>='} {least:g} "
                         f"(got {value!r})")
    return float(value)


def _listed(value: Any) -> Any:
    """A 1-D NumPy array or tensor as the list it holds; anything else as it is."""
    if hasattr(value, "tolist") and getattr(value, "ndim", None) == 1:
        return value.tolist()
    return value


def sizes(owner: str, name: str, value: Any, least: int = 1, empty: bool = True,
          example: str = "(64,)") -> Tuple[int, ...]:
    """``value`` as a tuple of ``int >= least`` (layer widths): a list, a
    tuple or a 1-D array, never a bare number or a string read character by
    character."""
    value = _listed(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) \
            or not all(_whole(v, least) for v in value) or (not empty and len(value) == 0):
        what = "positive ints" if least == 1 else f"ints >= {least}"
        raise ValueError(f"{owner}: '{name}' must be a list or tuple of {what}, e.g. {example}"
                         f"{'' if empty else ', at least one'} (got {value!r})")
    return tuple(int(v) for v in value)


def indices(owner: str, name: str, value: Any, bound: int) -> List[int]:
    """``value`` as a non-empty list of distinct ints in ``[0, bound)``."""
    value = _listed(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0 \
            or not all(_whole(v, 0) and v < bound for v in value) or len(set(value)) != len(value):
        raise ValueError(f"{owner}: '{name}' must be a non-empty list of distinct channel indices in "
                         f"[0, {bound - 1}] (got {value!r})")
    return [int(v) for v in value]


def plain(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (lists and tuples of
    them too); anything else as it is."""
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value
