"""Graph convolution over every time step at once, shared by the
graph-convolution baselines (STGCN, GConvGRU, SkeletonSTGCN): edge weights per
step in their cheapest form, and a ChebConv applied to all steps in one call."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.nn import ChebConv

from ..data import STData

__all__ = ["step_edge_weight", "cheb_steps"]


def step_edge_weight(model: str, data: STData, use_edge_weight: bool) -> Optional[Tensor]:
    """The edge weights of every observed step, in the cheapest form.

    Returns :obj:`None` (one unweighted graph for all steps), ``[E]`` (one
    weighted graph for all steps) or ``[E, T]`` (a graph per step: the
    ``edge_mask`` has holes, or ``edge_attr`` changes over time).
    """
    weight = None
    ea = data.get("edge_attr")
    if use_edge_weight and ea is not None:
        if ea.dim() != 3 or ea.size(0) != data.edge_index.size(1):
            raise ValueError(f"{model}: 'edge_attr' must be [num_edges, T, F_e] with num_edges="
                             f"{data.edge_index.size(1)} (got {list(ea.shape)})")
        if ea.size(-1) == 1:
            weight = ea[..., 0]                                            # [E, T]
    em = data.get("edge_mask")
    if em is not None and not bool(em.all()):
        ones = torch.ones(em.shape, dtype=data.x.dtype, device=em.device)
        return torch.where(em, ones if weight is None else weight, 0.0)    # [E, T]; selects: NaN-safe
    if weight is None:
        return None
    if weight.size(1) == 1 or weight.stride(1) == 0 or bool((weight == weight[:, :1]).all()):
        return weight[:, 0]                                                # [E]
    return weight


def cheb_steps(conv: ChebConv, x: Tensor, edge_index: Tensor, weight: Optional[Tensor]) -> Tensor:
    """Apply ``conv`` to every time step of ``x`` ``[T, N, C]`` in one call.

    The same math as ``conv(x[t], edge_index, weight)`` for every ``t`` (the
    conv's own scaled Laplacian, weights and bias), but each Chebyshev
    propagation is one sparse-dense product instead of per-edge messages:
    PyG's message passing would gather, scale and scatter a ``[T, E, C]``
    tensor at every order, which made this the hot spot of STGCN on CPU.
    One graph for all steps (``weight`` None or ``[E]``): the Laplacian
    ``[N, N]`` multiplies ``[N, T * C]``. A graph per step (``weight``
    ``[E, T]``): the ``T`` Laplacians form one block-diagonal ``[T * N, T * N]``
    matrix that multiplies ``[T * N, C]``.
    """
    T, N, C = x.shape
    if weight is None or weight.dim() == 1:
        index, norm = conv.__norm__(edge_index, N, weight, conv.normalization, dtype=x.dtype)
        lap = _sparse(index, norm, N)                                      # [N, N]
        flat = x.permute(1, 0, 2).reshape(N, T * C)                        # [N, T*C]

        def back(z: Tensor) -> Tensor:
            return z.view(N, T, -1).permute(1, 0, 2)                       # [T, N, *]
    else:
        E = edge_index.size(1)
        offset = torch.arange(T, device=x.device).mul_(N).view(1, T, 1)
        stacked = (edge_index.view(2, 1, E) + offset).view(2, T * E)       # [2, T*E], step-major
        index, norm = conv.__norm__(stacked, T * N, weight.t().reshape(T * E), conv.normalization,
                                    dtype=x.dtype)
        lap = _sparse(index, norm, T * N)                                  # [T*N, T*N] block-diagonal
        flat = x.reshape(T * N, C)

        def back(z: Tensor) -> Tensor:
            return z.view(T, N, -1)
    # Chebyshev recursion: T_0 = x, T_1 = L x, T_k = 2 L T_{k-1} - T_{k-2}; out = sum_k lin_k(T_k)
    terms = [flat]
    if len(conv.lins) > 1:
        terms.append(torch.sparse.mm(lap, flat))
    for _ in conv.lins[2:]:
        terms.append(2.0 * torch.sparse.mm(lap, terms[-1]) - terms[-2])
    out = sum(lin(back(t)) for lin, t in zip(conv.lins, terms))            # [T, N, C']
    if conv.bias is not None:
        out = out + conv.bias
    return out


def _sparse(index: Tensor, value: Tensor, n: int) -> Tensor:
    """The ``[n, n]`` matrix with ``value`` at (target, source) of each edge,
    so that ``matrix @ x`` sums the messages every node receives."""
    return torch.sparse_coo_tensor(index.flip(0), value, (n, n), check_invariants=False).coalesce()
