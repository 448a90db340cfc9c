"""Input checks at a model's entry, in one place (see ``docs/errors.md``).

Shapes and dtypes cost no host synchronisation and are always checked. The
checks that need values (type and index ranges, edges that do not fit their
type, NaN/Inf at present steps) are reductions whose results are read in one
host sync: the S-RNN folds them into the sync its layout makes anyway
(:meth:`srnn_pyg.nn.SRNNLayer.layout`); the baselines read them with
:func:`check_values` when ``model.validate`` is :obj:`True`.

Masking rule: presence masks *select* (``torch.where``), they never multiply,
so a NaN or Inf at an absent step cannot reach a present node's output
(``nan * 0`` is ``nan``): :func:`select`.
"""
from __future__ import annotations

import numbers
import warnings
from typing import Any, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data.data import BaseData

from ..schema import STSchema
from .args import sizes

__all__ = ["check_graph_inputs", "check_horizon", "check_dtype", "check_masks", "check_edge_index",
           "check_values", "check_layer_args", "value_probes", "raise_value_errors", "range_probe", "first_probe",
           "model_dtype", "select"]


def _shape(v: Any) -> str:
    return str(list(v.shape)) if isinstance(v, Tensor) else type(v).__name__


def select(mask: Optional[Tensor], value: Tensor, fill: float = 0.0) -> Tensor:
    """``value`` where ``mask`` is true, ``fill`` elsewhere (``mask`` broadcasts
    over ``value``'s trailing dimension: ``[N, T]`` for ``[N, T, F]``). A NaN
    or Inf in ``value`` at a false entry does not survive. :obj:`None` keeps
    ``value``."""
    if mask is None:
        return value
    if mask.dim() < value.dim():
        mask = mask.unsqueeze(-1)
    return torch.where(mask, value, fill)                  # a Python scalar: no tensor allocated


def model_dtype(module: torch.nn.Module) -> Optional[torch.dtype]:
    """The dtype of ``module``'s first floating parameter (what its inputs must
    have), or :obj:`None` for a module without any (it takes any float dtype)."""
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return None


def check_dtype(owner: str, key: str, value: Tensor, dtype: Optional[torch.dtype]) -> None:
    """``value`` must be floating point, and of ``dtype`` unless that is :obj:`None`.

    The rule (``docs/errors.md``): inputs are never cast silently. Integers
    raise; a float tensor of another precision than the model's parameters
    (float64 or float16 into a float32 model) raises too, telling the user to
    cast the data (``data.x = data.x.float()``) or the model (``model.double()``).
    """
    if not value.is_floating_point():
        raise TypeError(f"{owner}: '{key}' must be a floating-point tensor"
                        + (f" of the model's dtype {dtype}" if dtype is not None else "")
                        + f" (got {value.dtype}); cast it, e.g. with .float()")
    if dtype is not None and value.dtype != dtype:
        raise TypeError(f"{owner}: '{key}' must have the model's dtype {dtype} (got {value.dtype}); "
                        f"cast the data (.to({dtype})) or the model (model.to({value.dtype}))")


def check_edge_index(owner: str, edge_index: Any) -> int:
    """``edge_index`` must be a ``[2, E]`` long tensor; returns ``E``."""
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2:
        hint = ""
        if isinstance(edge_index, Tensor) and edge_index.dim() == 2 and edge_index.size(1) == 2:
            hint = "; it looks transposed: pass edge_index.t()"
        raise ValueError(f"{owner}: 'edge_index' must be [2, num_edges] (got {_shape(edge_index)}{hint})")
    if edge_index.dtype != torch.long:
        raise TypeError(f"{owner}: 'edge_index' must be torch.long (got {edge_index.dtype})")
    return edge_index.size(1)


def check_masks(owner: str, node_mask: Any, edge_mask: Any, N: int, T: int, E: Optional[int]) -> None:
    """``node_mask`` ``[N, T]`` and ``edge_mask`` ``[E, T]`` bool, where given
    (``E`` :obj:`None`: the edge mask is not read)."""
    for key, m, rows in (("node_mask", node_mask, N), ("edge_mask", edge_mask, E)):
        if m is None or rows is None:
            continue
        if not isinstance(m, Tensor) or tuple(m.shape) != (rows, T):
            raise ValueError(f"{owner}: '{key}' must be a bool [{rows}, {T}] tensor (got {_shape(m)})")
        if m.dtype != torch.bool:
            raise TypeError(f"{owner}: '{key}' must be a bool tensor (got {m.dtype})")


def check_graph_inputs(owner: str, schema: Optional[STSchema], in_channels: int, x: Any, edge_index: Any,
                       node_type: Any = None, edge_type: Any = None, node_mask: Any = None,
                       edge_mask: Any = None, edge_attr: Any = None, edge_channels: Optional[int] = None,
                       dtype: Optional[torch.dtype] = None) -> None:
    """Raise ``ValueError``/``TypeError`` naming ``owner``, the argument, the
    expected and the received value, unless the tensors form a graph that a
    model with ``in_channels`` node features (and, if not :obj:`None`,
    ``edge_channels`` edge features) over ``schema`` can read. ``dtype``: the
    model's floating dtype (:func:`model_dtype`); no host sync."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        raise ValueError(f"{owner}: 'x' must be [num_nodes, T, F] (got {_shape(x)})")
    check_dtype(owner, "x", x, dtype)
    N, T, F = x.shape
    if F != in_channels:
        raise ValueError(f"{owner}: 'x' must be [num_nodes, T, F] with F={in_channels} (got {list(x.shape)})")
    if T == 0:
        raise ValueError(f"{owner}: 'x' must have at least one time step (got {list(x.shape)})")
    E = check_edge_index(owner, edge_index)
    P = schema.num_node_types if schema is not None else 1
    K = schema.num_edge_types if schema is not None else 1
    if node_type is None and P > 1:
        raise ValueError(f"{owner}: 'node_type' is missing and the schema has {P} node types")
    if edge_type is None and K > 1 and E > 0:
        raise ValueError(f"{owner}: 'edge_type' is missing and the schema has {K} edge types")
    if E > 0 and K == 0:
        raise ValueError(f"{owner}: 'edge_index' must be empty: the schema has no edge types (got {E} edges)")
    for key, value, rows in (("node_type", node_type, N), ("edge_type", edge_type, E)):
        if value is None:
            continue
        if not isinstance(value, Tensor) or tuple(value.shape) != (rows,):
            raise ValueError(f"{owner}: '{key}' must be [{rows}] (got {_shape(value)})")
        if value.dtype != torch.long:
            raise TypeError(f"{owner}: '{key}' must be torch.long (got {value.dtype})")
    check_masks(owner, node_mask, edge_mask, N, T, E)
    if edge_channels is not None:
        if not isinstance(edge_attr, Tensor) or edge_attr.dim() != 3 or edge_attr.size(0) != E \
                or edge_attr.size(1) not in (1, T) or edge_attr.size(-1) != edge_channels:
            raise ValueError(f"{owner}: 'edge_attr' must be [num_edges, T, {edge_channels}] with "
                             f"num_edges={E} and T={T}, the steps of 'x', or T=1 (held over the window) "
                             f"(got {_shape(edge_attr)})")
        check_dtype(owner, "edge_attr", edge_attr, x.dtype)


def check_data(owner: str, data: Any) -> None:
    """``data`` must be a graph (an :class:`~srnn_pyg.STData` or a PyG batch
    of them), not the bare tensor a first call often passes."""
    if not isinstance(data, BaseData):
        hint = (f" [{', '.join(str(d) for d in data.shape)}]" if isinstance(data, Tensor) else "")
        raise TypeError(f"{owner}: 'data' must be an STData graph (x [num_nodes, T, F], edge_index and the "
                        f"schema's types), or a PyG batch of them (got {type(data).__name__}{hint}); wrap a "
                        f"tensor as STData(x=x, edge_index=edge_index, ...)")


def check_horizon(owner: str, horizon: Any) -> None:
    """``horizon`` must be a positive int."""
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise ValueError(f"{owner}: 'horizon' must be a positive int (got {horizon!r})")


def range_probe(v: Tensor) -> Tensor:
    """``[2]`` long: the smallest and largest entry of ``v`` (zeros when empty), without a sync."""
    if v.numel() == 0:
        return v.new_zeros(2, dtype=torch.long)
    return torch.stack(torch.aminmax(v)).long()


def first_probe(flags: Tensor) -> Tensor:
    """``[2]`` long: whether any of ``flags`` is set, and the flat index of the first one, without a sync."""
    flat = flags.reshape(-1)
    if flat.numel() == 0:
        return flat.new_zeros(2, dtype=torch.long)
    top, first = torch.max(flat.to(torch.uint8), 0)          # one kernel; ties give the first index
    return torch.stack([top.long(), first])


def value_probes(x: Tensor, node_mask: Optional[Tensor]) -> List[Tensor]:
    """Whether ``x`` has a NaN or Inf at a present step, and the first such
    ``(node, step)`` as a flat index, as one ``[2]`` long tensor computed
    without a host sync, so that a caller reads it in the one sync it makes
    anyway (:func:`raise_value_errors` interprets it)."""
    # x * 0 is 0 where x is finite and NaN where it is not; its sum over features cannot overflow
    # (a plain sum could), so a NaN marks exactly the (node, step) rows holding a non-finite value.
    bad = (x * 0).sum(-1).isnan()                                             # [N, T]
    if node_mask is not None:
        bad = bad & node_mask
    return [first_probe(bad)]


def raise_value_errors(owner: str, x: Tensor, values: List[int]) -> None:
    """Raise for the read :func:`value_probes` (``values``: its two ints)."""
    if values[0]:
        T = x.size(1)
        i, t = divmod(values[1], T)
        f = int((~torch.isfinite(x[i, t])).nonzero()[0, 0])                  # the error path may sync
        raise ValueError(f"{owner}: 'x' must be finite at present nodes and steps (got "
                         f"{x[i, t, f].item()} at node {i}, step {t}, feature {f}); mark absent steps "
                         f"with 'node_mask', or set validate=False to skip this check")


def check_values(owner: str, x: Tensor, node_mask: Optional[Tensor] = None,
                 ranges: Sequence[Tuple[str, Tensor, int]] = ()) -> None:
    """One host sync: ``x`` finite at present steps, and each ``(key, tensor,
    bound)`` of ``ranges`` within ``[0, bound)``."""
    probes = value_probes(x, node_mask) + [range_probe(v) for _, v, _ in ranges]
    values = torch.cat(probes).tolist()                                       # the one host sync
    for j, (key, v, bound) in enumerate(ranges):
        lo, hi = values[2 + 2 * j:4 + 2 * j]
        if v.numel() > 0 and (lo < 0 or hi >= bound):
            raise ValueError(f"{owner}: '{key}' entries must lie in [0, {bound - 1}] "
                             f"(got values in [{lo}, {hi}])")
    raise_value_errors(owner, x, values)


def check_layer_args(owner: str, edge_mlp: Any, edge_channels: Any, dropout: Any, spatial_features: str) -> None:
    """The sizes and rates of an :class:`~srnn_pyg.nn.SRNNLayer` (``spatial_features``
    already resolved): ``edge_mlp`` a sequence of positive ints, ``edge_channels``
    an int >= 0 (a warning when the features do not read ``edge_attr``),
    ``dropout`` in ``[0, 1)``."""
    def whole(v: Any, least: int) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= least
    sizes(owner, "edge_mlp", edge_mlp, example="(64,) or () for none")   # one width per encoder layer
    if not whole(edge_channels, 0):
        raise ValueError(f"{owner}: 'edge_channels' must be an int >= 0 (got {edge_channels!r})")
    if "attr" in spatial_features and edge_channels < 1:
        raise ValueError(f"{owner}: spatial_features={spatial_features!r} needs "
                         f"'edge_channels' >= 1 (got {edge_channels})")
    if edge_channels and "attr" not in spatial_features:
        warnings.warn(f"{owner}: edge_channels={edge_channels} is unused: spatial_features={spatial_features!r} "
                      f"does not read 'edge_attr' (it is ignored); pass spatial_features='concat_attr' or "
                      f"'attr' to read it", UserWarning, stacklevel=3)
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"{owner}: 'dropout' must be a float in [0, 1) (got {dropout!r})")
