"""Input checks at a model's entry, in one place: shapes and dtypes of the
tensors a graph model reads. They cost no host synchronisation; the checks
that need values (type and index ranges) are made by the layout, which reads
those values anyway (:meth:`srnn_pyg.nn.SRNNLayer.layout`)."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

from ..schema import STSchema

__all__ = ["check_graph_inputs", "check_horizon"]


def _shape(v: Any) -> str:
    return str(list(v.shape)) if isinstance(v, Tensor) else type(v).__name__


def check_graph_inputs(owner: str, schema: Optional[STSchema], in_channels: int, x: Any, edge_index: Any,
                       node_type: Any = None, edge_type: Any = None, node_mask: Any = None,
                       edge_mask: Any = None, edge_attr: Any = None, edge_channels: Optional[int] = None) -> None:
    """Raise ``ValueError``/``TypeError`` naming ``owner``, the argument, the
    expected and the received value, unless the tensors form a graph that a
    model with ``in_channels`` node features (and, if not :obj:`None`,
    ``edge_channels`` edge features) over ``schema`` can read."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        raise ValueError(f"{owner}: 'x' must be [num_nodes, T, F] (got {_shape(x)})")
    if not x.is_floating_point():
        raise TypeError(f"{owner}: 'x' must be a floating-point tensor (got {x.dtype})")
    N, T, F = x.shape
    if F != in_channels:
        raise ValueError(f"{owner}: 'x' must be [num_nodes, T, F] with F={in_channels} (got {list(x.shape)})")
    if T == 0:
        raise ValueError(f"{owner}: 'x' has no time steps (got {list(x.shape)})")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{owner}: 'edge_index' must be [2, num_edges] (got {_shape(edge_index)})")
    if edge_index.dtype != torch.long:
        raise TypeError(f"{owner}: 'edge_index' must be torch.long (got {edge_index.dtype})")
    E = edge_index.size(1)
    P = schema.num_node_types if schema is not None else 1
    K = schema.num_edge_types if schema is not None else 1
    if node_type is None and P > 1:
        raise ValueError(f"{owner}: 'node_type' is missing and the schema has {P} node types")
    if edge_type is None and K > 1 and E > 0:
        raise ValueError(f"{owner}: 'edge_type' is missing and the schema has {K} edge types")
    if E > 0 and K == 0:
        raise ValueError(f"{owner}: the graph has {E} edges but the schema has no edge types")
    for key, value, rows in (("node_type", node_type, N), ("edge_type", edge_type, E)):
        if value is None:
            continue
        if not isinstance(value, Tensor) or tuple(value.shape) != (rows,):
            raise ValueError(f"{owner}: 'node_type' must be [{N}] and 'edge_type' [{E}] "
                             f"(got {key} {_shape(value)})")
        if value.dtype != torch.long:
            raise TypeError(f"{owner}: '{key}' must be torch.long (got {value.dtype})")
    for key, m, rows in (("node_mask", node_mask, N), ("edge_mask", edge_mask, E)):
        if m is not None and (not isinstance(m, Tensor) or m.dtype != torch.bool or tuple(m.shape) != (rows, T)):
            raise ValueError(f"{owner}: '{key}' must be a bool [{rows}, {T}] tensor "
                             f"(got {_shape(m)}, {getattr(m, 'dtype', None)})")
    if edge_channels is not None:
        if not isinstance(edge_attr, Tensor) or edge_attr.dim() != 3 or edge_attr.size(0) != E \
                or edge_attr.size(-1) != edge_channels:
            raise ValueError(f"{owner}: 'edge_attr' must be [num_edges, T, {edge_channels}] with "
                             f"num_edges={E} (got {_shape(edge_attr)})")


def check_horizon(owner: str, horizon: Any) -> None:
    """``horizon`` must be a positive int."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"{owner}: 'horizon' must be a positive int (got {horizon!r})")
