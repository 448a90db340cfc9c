"""Edge features of S-RNN: what a spatial or temporal edgeRNN reads at each step."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

__all__ = ["SPATIAL_FEATURES", "TEMPORAL_FEATURES", "spatial_channels", "temporal_channels",
           "spatial_features", "temporal_features"]

#: spatial edge ``j -> i``: receiver ``i`` first (``"concat"``), or, as the official code does,
#: the edge type's first node type first (``"concat_typed"``; the two agree for same-type pairs)
SPATIAL_FEATURES = ("concat", "concat_typed", "diff", "attr", "concat_attr")
#: temporal edge of node ``i`` from ``t-1`` to ``t``
TEMPORAL_FEATURES = ("concat_diff", "diff", "x")


def _kind(where: str, kind: str, kinds: tuple) -> None:
    if not isinstance(kind, str) or kind not in kinds:
        raise ValueError(f"{where}: 'kind' must be one of {list(kinds)} (got {kind!r})")


def spatial_channels(kind: str, in_channels: int, edge_channels: int) -> int:
    """Input width of a spatial edgeRNN for feature ``kind``."""
    _kind("spatial_channels", kind, SPATIAL_FEATURES)
    return {"concat": 2 * in_channels, "concat_typed": 2 * in_channels, "diff": 2 * in_channels, "attr": edge_channels,
            "concat_attr": 2 * in_channels + edge_channels}[kind]


def temporal_channels(kind: str, in_channels: int) -> int:
    """Input width of a temporal edgeRNN for feature ``kind``."""
    _kind("temporal_channels", kind, TEMPORAL_FEATURES)
    return {"concat_diff": 2 * in_channels, "diff": in_channels, "x": in_channels}[kind]


def spatial_features(kind: str, x_i: Tensor, x_j: Tensor, edge_attr: Optional[Tensor],
                     swap: Optional[Tensor] = None) -> Tensor:
    r"""Features of the spatial edges ``j -> i`` at every step.

    * ``"concat"``: :math:`[\mathbf{x}_i \,\|\, \mathbf{x}_j]`, receiver first
    * ``"concat_typed"``: the two ends in the order of the edge type's node
      types, :math:`[\mathbf{x}_j \,\|\, \mathbf{x}_i]` where ``swap``
      ``[E]`` is set (the receiver is not the edge type's first node type),
      else :math:`[\mathbf{x}_i \,\|\, \mathbf{x}_j]`: for an edge type
      ``("torso", "arm")`` both ends read ``[x_torso, x_arm]``, as in the
      official code (``processdata.py``, ``getDRAfeatures``)
    * ``"diff"``: :math:`[\mathbf{x}_i \,\|\, \mathbf{x}_j - \mathbf{x}_i]` (relative position)
    * ``"attr"``: the given ``edge_attr``
    * ``"concat_attr"``: :math:`[\mathbf{x}_i \,\|\, \mathbf{x}_j \,\|\, \mathbf{e}_{ji}]`

    ``x_i``, ``x_j``: ``[E, T, F]``; ``edge_attr``: ``[E, T, F_e]``.
    """
    _kind("spatial_features", kind, SPATIAL_FEATURES)
    if "attr" in kind and edge_attr is None:
        raise ValueError(f"spatial_features: kind={kind!r} reads 'edge_attr' [E, T, F_e], which is None")
    if kind == "concat":
        return torch.cat([x_i, x_j], dim=-1)
    if kind == "concat_typed":
        out = torch.cat([x_i, x_j], dim=-1)
        if swap is None:
            return out
        return torch.where(swap.view(-1, *([1] * (out.dim() - 1))), torch.cat([x_j, x_i], dim=-1), out)
    if kind == "diff":
        return torch.cat([x_i, x_j - x_i], dim=-1)
    if kind == "attr":
        return edge_attr
    return torch.cat([x_i, x_j, edge_attr], dim=-1)


def temporal_features(kind: str, x: Tensor, x_prev: Tensor) -> Tensor:
    r"""Features of the temporal edges at every step, from ``x`` ``[N, T, F]``
    and the frames one step earlier ``x_prev`` ``[N, T, F]``.

    * ``"concat_diff"``: :math:`[\mathbf{x}_t \,\|\, \mathbf{x}_t - \mathbf{x}_{t-1}]`
    * ``"diff"``: :math:`\mathbf{x}_t - \mathbf{x}_{t-1}`
    * ``"x"``: :math:`\mathbf{x}_t`
    """
    _kind("temporal_features", kind, TEMPORAL_FEATURES)
    if kind == "concat_diff":
        return torch.cat([x, x - x_prev], dim=-1)
    if kind == "diff":
        return x - x_prev
    return x
