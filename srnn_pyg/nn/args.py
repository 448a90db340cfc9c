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

__all__ = ["count", "flag", "rate", "real", "sizes", "indices", "plain"]


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


def flag(owner: str, name: str, value: Any) -> bool:
    """``value`` itself, which must be a bool (not ``1``, not ``"no"``)."""
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: '{name}' must be a bool, True or False (got {value!r})")
    return value


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


def sizes(owner: str, name: str, value: Any, least: int = 1, empty: bool = True,
          example: str = "(64,)") -> Tuple[int, ...]:
    """``value`` as a tuple of ``int >= least`` (layer widths): a list or
    tuple, never a bare number or a string read character by character."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) \
            or not all(_whole(v, least) for v in value) or (not empty and len(value) == 0):
        what = "positive ints" if least == 1 else f"ints >= {least}"
        raise ValueError(f"{owner}: '{name}' must be a list or tuple of {what}, e.g. {example}"
                         f"{'' if empty else ', at least one'} (got {value!r})")
    return tuple(int(v) for v in value)


def indices(owner: str, name: str, value: Any, bound: int) -> List[int]:
    """``value`` as a non-empty list of distinct ints in ``[0, bound)``."""
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
