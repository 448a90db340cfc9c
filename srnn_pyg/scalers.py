r"""Feature scaling that knows which entries are absent: :class:`StandardScaler`,
:class:`MinMaxScaler`, :class:`RobustScaler`, and :class:`Compose` to chain them.

Every scaler is an affine map ``x' = (x - center) / scale`` whose statistics are
computed by :meth:`~Scaler.fit` over the dimensions named by ``axis`` and kept
for the others (broadcast back when transforming):

* ``axis="feature"`` (the default): one statistic per feature (the last
  dimension), pooled over nodes and steps; a 1-d series is one feature;
* ``axis="node"``: one per node and feature of a ``[N, T, F]`` tensor (pooled
  over the steps of dimension 1), for a graph whose nodes are fixed sensors;
* ``axis="all"``: one statistic for the whole tensor;
* an int or a tuple of ints: the dimensions reduced over.

``fit(x, mask)`` ignores absent entries: ``mask`` is a bool tensor (or array)
with the leading dimensions of ``x`` (``node_mask`` ``[N, T]`` for ``x``
``[N, T, F]``), True where an entry is present. A statistic with no present
entry, and a zero spread (a constant feature), give the identity (center 0 or
the constant, scale 1), never a division by zero. Tensors and NumPy arrays
are accepted; the output has the input's type, dtype and device.

.. code-block:: python

    scaler = StandardScaler().fit(recording.x, mask=recording.node_mask)
    window.x, window.y = scaler.transform(window.x), scaler.transform(window.y)
    forecast = scaler.inverse_transform(model.forecast(window, horizon))   # data units
    torch.save(scaler.state_dict(), "scaler.pt")
    scaler = scaler_from_state(torch.load("scaler.pt"))
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["Scaler", "StandardScaler", "MinMaxScaler", "RobustScaler", "Compose", "scaler_from_state"]

Array = Union[Tensor, np.ndarray]
AxisLike = Union[str, int, Sequence[int]]
_NAMED_AXES = ("feature", "node", "all")


def _as_tensor(x: Any, owner: str, what: str = "x") -> Tuple[Tensor, Callable[[Tensor], Array]]:
    """``x`` as a floating tensor, and the function that turns a result back
    into ``x``'s kind (a NumPy array for an array) and dtype."""
    if isinstance(x, Tensor):
        if not x.is_floating_point():
            raise TypeError(f"{owner}: '{what}' must hold floating-point values (got {x.dtype})")
        return x, lambda t: t
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{owner}: '{what}' must hold floating-point values (got {x.dtype})")
        return torch.from_numpy(np.ascontiguousarray(x)), lambda t: t.cpu().numpy()
    raise TypeError(f"{owner}: '{what}' must be a tensor or a NumPy array (got {type(x).__name__})")


def _present(mask: Any, x: Tensor, owner: str) -> Optional[Tensor]:
    """``mask`` (leading dimensions of ``x``) expanded to ``x``'s shape."""
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask, device=x.device)
    if m.dtype != torch.bool:
        raise TypeError(f"{owner}: 'mask' must be a bool tensor (got {m.dtype})")
    if m.dim() > x.dim() or tuple(m.shape) != tuple(x.shape[:m.dim()]):
        raise ValueError(f"{owner}: 'mask' must have the leading dimensions of 'x' {list(x.shape)} "
                         f"(got {list(m.shape)})")
    return m.view(*m.shape, *([1] * (x.dim() - m.dim()))).expand_as(x)


class Scaler:
    """The shared part of the affine scalers: ``x' = (x - center) / scale``.

    Subclasses compute ``(center, scale)`` in :meth:`_statistics`.

    Args:
        axis (str, int or tuple, optional): the dimensions the statistics
            pool over: ``"feature"``, ``"node"``, ``"all"``, or dimensions.
            (default: ``"feature"``)
        eps (float, optional): a spread at or below this is treated as zero
            (scale 1). (default: :obj:`1e-12`)
    """

    kind = "scaler"

    def __init__(self, axis: AxisLike = "feature", eps: float = 1e-12):
        if isinstance(axis, str):
            if axis not in _NAMED_AXES:
                raise ValueError(f"{self.name}: 'axis' must be one of {list(_NAMED_AXES)}, an int or a tuple "
                                 f"of ints (got {axis!r})")
        elif isinstance(axis, int) and not isinstance(axis, bool):
            axis = (axis,)
        elif isinstance(axis, (tuple, list)) and all(isinstance(a, int) and not isinstance(a, bool) for a in axis):
            axis = tuple(axis)
        else:
            raise TypeError(f"{self.name}: 'axis' must be a name, an int or a tuple of ints (got {axis!r})")
        if not (isinstance(eps, (int, float)) and eps >= 0):
            raise ValueError(f"{self.name}: 'eps' must be a number >= 0 (got {eps!r})")
        self.axis, self.eps = axis, float(eps)
        self.center: Optional[Tensor] = None
        self.scale: Optional[Tensor] = None

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load_state_dict`) gave it statistics."""
        return self.center is not None

    def dims(self, ndim: int) -> Tuple[int, ...]:
        """The dimensions reduced over for an input of ``ndim`` dimensions."""
        if self.axis == "feature":
            return tuple(range(ndim - 1)) if ndim > 1 else (0,)     # a 1-d series is one feature
        if self.axis == "all":
            return tuple(range(ndim))
        if self.axis == "node":
            if ndim != 3:
                raise ValueError(f"{self.name}: axis='node' needs x of shape [N, T, F] (got {ndim} dimensions)")
            return (1,)
        out = tuple(sorted({a % ndim if -ndim <= a < ndim else a for a in self.axis}))
        if any(a >= ndim or a < 0 for a in out):
            raise ValueError(f"{self.name}: 'axis' {self.axis} does not fit x with {ndim} dimensions")
        return out

    # ------------------------------------------------------------------ fit
    def fit(self, x: Array, mask: Any = None) -> "Scaler":
        """Compute the statistics of ``x`` over its present entries; returns
        ``self``."""
        t, _ = _as_tensor(x, self.name)
        if t.dim() == 0 or t.numel() == 0:
            raise ValueError(f"{self.name}: 'x' must be a non-empty tensor (got {list(t.shape)})")
        present = _present(mask, t, self.name)
        t = t.detach().double()
        valid = present if present is not None else torch.ones_like(t, dtype=torch.bool)
        if not bool(torch.isfinite(t[valid]).all()):
            raise ValueError(f"{self.name}: 'x' holds NaN or infinite values at present entries (mask them out)")
        dims = self.dims(t.dim())
        if not dims:               # nothing to pool: every entry its own statistic (torch would pool all)
            hint = (" a single series [T] is x.unsqueeze(-1) (one feature), or pass axis='all'"
                    if self.axis == "feature" else " name at least one dimension to pool")
            raise ValueError(f"{self.name}: axis={self.axis!r} pools no dimension of x {list(t.shape)}, so each "
                             f"entry would be its own statistic;{hint}")
        count = valid.sum(dims, keepdim=True)
        center, scale = self._statistics(t, valid, dims, count)
        empty = count == 0
        center = torch.where(empty | ~torch.isfinite(center), torch.zeros_like(center), center)
        flat = empty | ~torch.isfinite(scale) | (scale.abs() <= self.eps)
        self.center, self.scale = center, torch.where(flat, torch.ones_like(scale), scale)
        return self

    def _statistics(self, x: Tensor, present: Tensor, dims: Tuple[int, ...], count: Tensor) -> Tuple[Tensor, Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------ transform
    def _stats_for(self, t: Tensor, what: str) -> Tuple[Tensor, Tensor]:
        if not self.fitted:
            raise ValueError(f"{self.name}: call fit() (or load_state_dict()) before {what}(); "
                             "the scaler holds no statistics yet")
        c, s = self.center, self.scale
        extra = c.dim() - t.dim()
        if extra > 0:                               # e.g. fitted on [T, N, F], used on one frame [N, F]
            if any(d != 1 for d in c.shape[:extra]):
                raise ValueError(f"{self.name}: statistics of shape {list(c.shape)} do not broadcast to "
                                 f"'x' {list(t.shape)}")
            c, s = c.reshape(c.shape[extra:]), s.reshape(s.shape[extra:])
        tail = t.shape[t.dim() - c.dim():]
        if any(a != 1 and a != b for a, b in zip(c.shape, tail)):
            raise ValueError(f"{self.name}: statistics of shape {list(c.shape)} do not broadcast to 'x' "
                             f"{list(t.shape)}")
        return c.to(t.device, t.dtype), s.to(t.device, t.dtype)

    def transform(self, x: Array) -> Array:
        """``(x - center) / scale``, in ``x``'s type, dtype and device."""
        t, back = _as_tensor(x, self.name)
        c, s = self._stats_for(t, "transform")
        return back((t - c) / s)

    def inverse_transform(self, x: Array) -> Array:
        """``x * scale + center``: scaled values (or predictions) back in data units."""
        t, back = _as_tensor(x, self.name)
        c, s = self._stats_for(t, "inverse_transform")
        return back(t * s + c)

    def fit_transform(self, x: Array, mask: Any = None) -> Array:
        """:meth:`fit`, then :meth:`transform` of the same ``x``."""
        return self.fit(x, mask).transform(x)

    # --------------------------------------------------------------- state
    def _options(self) -> Dict[str, Any]:
        return {"axis": self.axis, "eps": self.eps}

    def state_dict(self) -> Dict[str, Any]:
        """Plain data and tensors (``torch.save`` and a default ``torch.load``
        read it back); rebuild with :func:`scaler_from_state`."""
        return {"kind": self.kind, "options": self._options(), "center": self.center, "scale": self.scale}

    def load_state_dict(self, state: Dict[str, Any]) -> "Scaler":
        """Take the statistics of :meth:`state_dict` (of a scaler of the same kind)."""
        if not isinstance(state, dict) or state.get("kind") != self.kind:
            got = state.get("kind") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"{self.name}: 'state' must come from a {self.name}.state_dict() (got kind {got!r})")
        missing = [k for k in ("options", "center", "scale") if k not in state]
        if missing or not isinstance(state["options"], dict):
            raise ValueError(f"{self.name}: 'state' must hold 'options' (a dict), 'center' and 'scale', as "
                             f"{self.name}.state_dict() gives (missing {missing or ['options as a dict']})")
        fresh = type(self)(**state["options"])             # checks the options before anything changes
        stats = []
        for key in ("center", "scale"):
            value = state[key]
            if value is not None and not isinstance(value, Tensor):
                try:
                    value = torch.as_tensor(np.asarray(value, dtype=np.float64))
                except (TypeError, ValueError):
                    raise ValueError(f"{self.name}: 'state[{key!r}]' must be a tensor of statistics or None "
                                     f"(got {type(value).__name__})") from None
            if value is not None and not value.is_floating_point():
                raise ValueError(f"{self.name}: 'state[{key!r}]' must hold real statistics (got {value.dtype})")
            stats.append(value)
        center, scale = stats
        if (center is None) != (scale is None) or (center is not None and center.shape != scale.shape):
            got = [None if v is None else list(v.shape) for v in stats]
            raise ValueError(f"{self.name}: 'state' must hold 'center' and 'scale' of one shape, or both None "
                             f"(an unfitted scaler) (got shapes {got})")
        self.__dict__.update(fresh.__dict__)
        self.center, self.scale = center, scale
        return self

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options().items() if k != "eps")
        return f"{self.name}({opts}, fitted={self.fitted})"


def _masked_sum(x: Tensor, present: Tensor, dims: Tuple[int, ...]) -> Tensor:
    return torch.where(present, x, torch.zeros_like(x)).sum(dims, keepdim=True)


class StandardScaler(Scaler):
    r"""Zero mean, unit standard deviation:
    ``x' = (x - mean) / std`` (the population std, over present entries).

    Args:
        axis, eps: see :class:`Scaler`.
    """

    kind = "standard"

    def _statistics(self, x, present, dims, count):
        n = count.clamp_min(1)
        mean = _masked_sum(x, present, dims) / n
        var = _masked_sum((x - mean) ** 2, present, dims) / n
        return mean, var.sqrt()


class MinMaxScaler(Scaler):
    r"""Present values mapped into ``feature_range``:
    ``x' = lo + (x - min) (hi - lo) / (max - min)``.

    Args:
        feature_range (tuple, optional): ``(lo, hi)``. (default: ``(0., 1.)``)
        axis, eps: see :class:`Scaler`.
    """

    kind = "minmax"

    def __init__(self, feature_range: Tuple[float, float] = (0.0, 1.0), axis: AxisLike = "feature",
                 eps: float = 1e-12):
        super().__init__(axis, eps)
        pair = tuple(feature_range) if isinstance(feature_range, (tuple, list)) else ()
        lo, hi = pair if len(pair) == 2 else (None, None)
        if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)
                   for v in (lo, hi)) or not lo < hi:
            raise ValueError(f"MinMaxScaler: 'feature_range' must be two finite numbers lo < hi "
                             f"(got {feature_range!r})")
        self.feature_range = (float(lo), float(hi))

    def _statistics(self, x, present, dims, count):
        lo, hi = self.feature_range
        inf = torch.full_like(x, float("inf"))
        low = torch.where(present, x, inf).amin(dims, keepdim=True)
        high = torch.where(present, x, -inf).amax(dims, keepdim=True)
        scale = (high - low) / (hi - lo)
        constant = (high - low).abs() <= self.eps
        # x' = (x - center) / scale with center = min - lo * scale; a constant maps to lo (scale 1)
        center = torch.where(constant, low - lo, low - lo * scale)
        return center, torch.where(constant, torch.ones_like(scale), scale)

    def _options(self) -> Dict[str, Any]:
        return {"feature_range": self.feature_range, **super()._options()}


class RobustScaler(Scaler):
    r"""Median and interquartile range, insensitive to outliers:
    ``x' = (x - median) / (q_hi - q_lo)``, quantiles of the present entries
    with linear interpolation (as :func:`numpy.percentile`).

    Args:
        quantile_range (tuple, optional): percentiles ``(q_lo, q_hi)``.
            (default: ``(25., 75.)``)
        axis, eps: see :class:`Scaler`.
    """

    kind = "robust"

    def __init__(self, quantile_range: Tuple[float, float] = (25.0, 75.0), axis: AxisLike = "feature",
                 eps: float = 1e-12):
        super().__init__(axis, eps)
        q = tuple(quantile_range) if isinstance(quantile_range, (tuple, list)) else ()
        if len(q) != 2 or not all(isinstance(v, (int, float)) for v in q) or not 0 <= q[0] < q[1] <= 100:
            raise ValueError(f"RobustScaler: 'quantile_range' must be two percentiles 0 <= lo < hi <= 100 "
                             f"(got {quantile_range!r})")
        self.quantile_range = (float(q[0]), float(q[1]))

    def _statistics(self, x, present, dims, count):
        kept = [d for d in range(x.dim()) if d not in dims]
        shape = [1 if d in dims else x.size(d) for d in range(x.dim())]
        values = torch.where(present, x, torch.full_like(x, float("nan")))
        values = values.permute(*kept, *dims).reshape(*[x.size(d) for d in kept], -1)  # [kept..., pooled]
        q = torch.tensor([50.0, *self.quantile_range], dtype=x.dtype, device=x.device) / 100
        if values.size(-1) < 2 ** 24:
            med, q_lo, q_hi = torch.nanquantile(values, q, dim=-1)                   # each [kept...]
        else:                                    # torch.quantile refuses rows of 2**24 values or more
            qs = np.nanpercentile(values.cpu().numpy(), (q * 100).tolist(), axis=-1)
            med, q_lo, q_hi = torch.from_numpy(qs).to(values.device)
        return med.reshape(shape), (q_hi - q_lo).reshape(shape)

    def _options(self) -> Dict[str, Any]:
        return {"quantile_range": self.quantile_range, **super()._options()}


class Compose:
    r"""Scalers applied in order (and inverted in reverse order); each is fitted
    on the output of the ones before it.

    .. code-block:: python

        scaler = Compose([RobustScaler(), MinMaxScaler((-1, 1))]).fit(x, mask)
    """

    kind = "compose"

    def __init__(self, scalers: Sequence[Any]):
        scalers = list(scalers)
        for i, s in enumerate(scalers):
            if isinstance(s, type) or \
                    not all(hasattr(s, m) for m in ("fit", "transform", "inverse_transform", "state_dict")):
                got = f"the class {s.__name__}; build one: {s.__name__}()" if isinstance(s, type) \
                    else type(s).__name__
                raise TypeError(f"Compose: 'scalers[{i}]' must be a scaler (got {got})")
        self.scalers: List[Any] = scalers

    @property
    def fitted(self) -> bool:
        return all(s.fitted for s in self.scalers)

    def fit(self, x: Array, mask: Any = None) -> "Compose":
        for s in self.scalers:
            x = s.fit_transform(x, mask)
        return self

    def transform(self, x: Array) -> Array:
        for s in self.scalers:
            x = s.transform(x)
        return x

    def inverse_transform(self, x: Array) -> Array:
        for s in reversed(self.scalers):
            x = s.inverse_transform(x)
        return x

    def fit_transform(self, x: Array, mask: Any = None) -> Array:
        return self.fit(x, mask).transform(x)

    def state_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, "scalers": [s.state_dict() for s in self.scalers]}

    def load_state_dict(self, state: Dict[str, Any]) -> "Compose":
        if not isinstance(state, dict) or state.get("kind") != self.kind \
                or not isinstance(state.get("scalers"), (list, tuple)):
            raise ValueError("Compose: 'state' must come from a Compose.state_dict() (a dict with kind "
                             "'compose' and a list 'scalers')")
        self.scalers = [scaler_from_state(s) for s in state["scalers"]]
        return self

    def __repr__(self) -> str:
        return f"Compose([{', '.join(map(repr, self.scalers))}])"


_KINDS = {cls.kind: cls for cls in (StandardScaler, MinMaxScaler, RobustScaler)}


def scaler_from_state(state: Dict[str, Any]) -> Union[Scaler, Compose]:
    """The scaler (or :class:`Compose`) that :meth:`~Scaler.state_dict` describes."""
    kind = state.get("kind") if isinstance(state, dict) else None
    if kind == Compose.kind:
        return Compose([]).load_state_dict(state)
    if kind not in _KINDS:
        raise ValueError(f"scaler_from_state: 'state' must be a scaler's state_dict() with kind in "
                         f"{sorted(_KINDS) + [Compose.kind]} (got {kind!r})")
    return _KINDS[kind]().load_state_dict(state)
