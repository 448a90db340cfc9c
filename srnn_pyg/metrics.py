r"""Forecasting and classification metrics, each with the protocol of the
literature that uses it. Every metric takes an optional boolean ``mask``
(absent nodes or steps contribute nothing) and reduces over the masked entries.

Conventions: predictions and targets are ``[N, H, F]`` (node-major, horizon
second); metrics "per horizon" return ``[H]``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["mse", "mae", "rmse", "mape", "per_horizon"]


def _check(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: 'pred' and 'target' must have the same shape "
                         f"(got {list(pred.shape)} and {list(target.shape)})")


def _weights(target: Tensor, mask: Optional[Tensor]) -> Tensor:
    """A float weight broadcastable to ``target`` from a mask over its leading dims."""
    if mask is None:
        return torch.ones_like(target)
    m = mask.to(target.dtype)
    while m.dim() < target.dim():
        m = m.unsqueeze(-1)
    return m.expand_as(target)


def _masked_mean(values: Tensor, w: Tensor, dims=None) -> Tensor:
    if dims is None:
        return (values * w).sum() / w.sum().clamp_min(1)
    return (values * w).sum(dims) / w.sum(dims).clamp_min(1)


def mse(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean squared error over the entries where ``mask`` is true."""
    _check(pred, target, "mse")
    return _masked_mean((pred - target) ** 2, _weights(target, mask))


def mae(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean absolute error over the entries where ``mask`` is true."""
    _check(pred, target, "mae")
    return _masked_mean((pred - target).abs(), _weights(target, mask))


def rmse(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Root of :func:`mse` (over all masked entries, then the root)."""
    return mse(pred, target, mask).sqrt()


def mape(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None, eps: float = 1e-8) -> Tensor:
    r"""Mean absolute percentage error, in percent. Entries whose target is
    (near) zero are excluded, as traffic papers (T-GCN, DCRNN) do for zero
    readings of broken sensors."""
    _check(pred, target, "mape")
    w = _weights(target, mask) * (target.abs() > eps).to(target.dtype)
    return 100.0 * _masked_mean((pred - target).abs() / target.abs().clamp_min(eps), w)


def per_horizon(metric: str, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """``mse``/``mae``/``rmse`` at each horizon step: ``[H]`` from ``[N, H, F]``."""
    _check(pred, target, "per_horizon")
    w = _weights(target, mask)
    dims = [d for d in range(target.dim()) if d != 1]
    if metric == "mse":
        return _masked_mean((pred - target) ** 2, w, dims)
    if metric == "mae":
        return _masked_mean((pred - target).abs(), w, dims)
    if metric == "rmse":
        return _masked_mean((pred - target) ** 2, w, dims).sqrt()
    raise ValueError(f"per_horizon: 'metric' must be 'mse', 'mae' or 'rmse' (got {metric!r})")
