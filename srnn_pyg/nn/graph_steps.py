"""Graph convolution over every time step at once, shared by the
graph-convolution baselines (STGCN, GConvGRU, SkeletonSTGCN): edge weights per
step in their cheapest form, ChebConv's scaled Laplacian as sparse matrices
built once per graph (:class:`ChebGraph`, kept by :class:`GraphCache` while the
graph's tensors are unchanged), and a ChebConv applied to all steps in one
call (:func:`cheb_conv`, :func:`cheb_steps`)."""
from __future__ import annotations

import warnings
import weakref
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.nn import ChebConv

from ..data import STData
from .checks import check_dtype

__all__ = ["step_edge_weight", "cheb_steps", "cheb_conv", "ChebGraph", "LaplacianOperator", "GraphCache"]


def step_edge_weight(model: str, data: STData, use_edge_weight: bool) -> Optional[Tensor]:
    """The edge weights of every observed step, in the cheapest form.

    Returns :obj:`None` (one unweighted graph for all steps), ``[E]`` (one
    weighted graph for all steps) or ``[E, T]`` (a graph per step: the
    ``edge_mask`` has holes, or ``edge_attr`` changes over time).
    """
    weight = None
    ea = data.get("edge_attr")
    em = data.get("edge_mask")
    if use_edge_weight and ea is not None:
        E, T = data.edge_index.size(1), data.x.size(1)
        if ea.dim() != 3 or ea.size(0) != E or ea.size(1) not in (1, T):
            raise ValueError(f"{model}: 'edge_attr' must be [num_edges, T, F_e] with num_edges={E} and T={T}, "
                             f"the steps of 'x', or T=1 (held over the window) (got {list(ea.shape)})")
        if ea.size(-1) == 1:
            check_dtype(model, "edge_attr", ea, data.x.dtype)
            weight = ea[..., 0]                                            # [E, T]
            full = weight if em is None else weight.expand(em.shape)       # a held [E, 1] over the steps
            bad = ~(torch.isfinite(full) & (full >= 0))                    # NaN fails both
            bad = bad if em is None else bad & em
            if bool(bad.any()):
                e, t = (int(i) for i in bad.nonzero()[0])
                raise ValueError(f"{model}: 'edge_attr' holds the edge weights, which must be finite and "
                                 f"non-negative where the edge is present (the graph Laplacian's degrees are "
                                 f"their sums) (got {float(full[e, t])} at edge {e}, step {t})")
    if em is not None and not bool(em.all()):
        ones = torch.ones(em.shape, dtype=data.x.dtype, device=em.device)
        return torch.where(em, ones if weight is None else weight, 0.0)    # [E, T]; selects: NaN-safe
    if weight is None:
        return None
    if weight.size(1) == 1 or weight.stride(1) == 0 or bool((weight == weight[:, :1]).all()):
        return weight[:, 0]                                                # [E]
    return weight


# ------------------------------------------------------------ the operator
class _LaplacianProduct(torch.autograd.Function):
    """``L @ x`` for a constant sparse ``L``; the backward multiplies by the
    stored transpose (a CSR matrix too), so neither pass transposes or sorts."""

    @staticmethod
    def forward(ctx, lap: Tensor, lap_t: Tensor, x: Tensor) -> Tensor:
        ctx.lap_t = lap_t
        return lap @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, ctx.lap_t @ grad.contiguous()


def _csr(coo: Tensor) -> Tensor:
    """A coalesced COO matrix as CSR, with 32-bit indices where they fit (the
    sparse-dense product would otherwise convert them at every call)."""
    with warnings.catch_warnings():  # "CSR support is in beta": products are all we use
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        csr = coo.to_sparse_csr()
        if coo.device.type == "cpu" and max(coo.size(0), coo._nnz()) < 2 ** 31 - 1:
            csr = torch.sparse_csr_tensor(csr.crow_indices().int(), csr.col_indices().int(), csr.values(),
                                          csr.shape, check_invariants=False)
    return csr


def _repeat_csr(csr: Tensor, times: int) -> Tensor:
    """``times`` copies of a square CSR matrix on the diagonal of a larger one."""
    crow, col, val = csr.crow_indices(), csr.col_indices(), csr.values()
    n, nnz = csr.size(0), val.numel()
    if times * max(n, nnz) >= 2 ** 31 - 1:
        crow, col = crow.long(), col.long()
    block = torch.arange(times, device=val.device, dtype=crow.dtype).view(times, 1)
    crow = torch.cat([(crow[:-1].view(1, n) + block * nnz).reshape(-1), crow.new_full((1,), times * nnz)])
    col = (col.view(1, nnz) + block * n).reshape(-1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, val.repeat(times), (times * n, times * n),
                                       check_invariants=False)


class LaplacianOperator:
    """ChebConv's scaled Laplacian :math:`\\hat{L}` of one graph (or of a
    block-diagonal stack of graphs: a batch, or several steps) as a sparse
    matrix that multiplies ``[n, C]`` dense blocks (``op @ x``).

    Built from PyG's normalised edges (``index`` ``[2, nnz]`` source ->
    target, ``value`` ``[nnz]``): with constant values, CSR matrices of
    :math:`\\hat{L}` and of its transpose (the backward's product), which
    are the fastest sparse-dense products on CPU; with values that need a
    gradient (learned edge weights), a coalesced COO matrix through
    :func:`torch.sparse.mm`, which differentiates both factors.
    """

    def __init__(self, index: Tensor, value: Tensor, n: int):
        self.n = n
        lap = torch.sparse_coo_tensor(index.flip(0), value, (n, n), check_invariants=False).coalesce()
        if value.requires_grad:
            self.lap, self.lap_t, self.coo = None, None, lap
        else:
            lap_t = torch.sparse_coo_tensor(index, value, (n, n), check_invariants=False).coalesce()
            self.lap, self.lap_t, self.coo = _csr(lap), _csr(lap_t), None

    def repeat(self, times: int) -> "LaplacianOperator":
        """The block-diagonal operator of ``times`` copies of this one (CSR
        only), laid out directly, without sorting the entries again."""
        op = object.__new__(LaplacianOperator)
        op.n, op.coo = times * self.n, None
        op.lap, op.lap_t = _repeat_csr(self.lap, times), _repeat_csr(self.lap_t, times)
        return op

    def __matmul__(self, x: Tensor) -> Tensor:
        if self.coo is not None:
            return torch.sparse.mm(self.coo, x)
        if x.requires_grad and torch.is_grad_enabled():
            return _LaplacianProduct.apply(self.lap, self.lap_t, x)
        return self.lap @ x


class ChebGraph:
    """ChebConv's scaled Laplacian of a graph at every step, built once.

    ``weight`` is :obj:`None` or ``[E]`` (one graph for all steps) or
    ``[E, T]`` (a graph per step), as :func:`step_edge_weight` returns it.
    :meth:`steps` gives the block-diagonal operator of steps
    ``[start, stop)`` for step-major rows (row ``t * N + i``: a ``[T, N, C]``
    tensor viewed as ``[T * N, C]``), :meth:`step` the operator of one step;
    each is built on first use and kept. The normalisation is ChebConv's own
    (``conv.__norm__``: ``"sym"``, :math:`\\lambda_{\\max}` as ChebConv
    computes it), so products with these operators are ChebConv's
    propagations.
    """

    def __init__(self, conv: ChebConv, edge_index: Tensor, num_nodes: int, weight: Optional[Tensor],
                 dtype: torch.dtype):
        self.conv, self.edge_index, self.num_nodes, self.weight, self.dtype = \
            conv, edge_index, num_nodes, weight, dtype
        self.static = weight is None or weight.dim() == 1
        self._ops: Dict[Tuple[int, int], LaplacianOperator] = {}
        self._base: Optional[Tuple[Tensor, Tensor]] = None

    def _norm(self, edge_index: Tensor, n: int, weight: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        return self.conv.__norm__(edge_index, n, weight, self.conv.normalization, dtype=self.dtype)

    def steps(self, start: int, stop: int) -> LaplacianOperator:
        """The operator of steps ``[start, stop)``, block-diagonal over steps."""
        T, N = stop - start, self.num_nodes
        key = (0, T) if self.static else (start, stop)
        op = self._ops.get(key)
        if op is not None:
            return op
        if self.static:
            if self._base is None:
                self._base = self._norm(self.edge_index, N, self.weight)
            index, value = self._base
            if T > 1 and not value.requires_grad:  # copies of the one-step operator
                op = self._ops[key] = self.steps(0, 1).repeat(T)
                return op
            if T > 1:
                nnz = value.numel()
                offset = torch.arange(T, device=index.device).mul_(N).view(1, T, 1)
                index = (index.view(2, 1, nnz) + offset).view(2, T * nnz)  # step-major blocks
                value = value.repeat(T)
        else:
            E = self.edge_index.size(1)
            offset = torch.arange(T, device=self.edge_index.device).mul_(N).view(1, T, 1)
            stacked = (self.edge_index.view(2, 1, E) + offset).view(2, T * E)
            w = self.weight[:, start:stop].t().reshape(T * E)
            index, value = self._norm(stacked, T * N, w)
        op = LaplacianOperator(index, value, T * N)
        self._ops[key] = op
        return op

    def step(self, t: int) -> LaplacianOperator:
        """The operator of step ``t`` alone (``[N, N]``)."""
        return self.steps(t, t + 1)


class GraphCache:
    """The :class:`ChebGraph` of the last graph a model saw, kept while that
    graph's tensors are unchanged.

    The key is each source tensor itself (a weak reference: a freed tensor
    never matches, so a new tensor at the same address cannot) and its
    version counter (any in-place change, through any view, bumps it), with
    the node count, steps, dtype and device. A graph whose weights need a
    gradient is never kept. The cache is not saved or copied with its model.
    """

    def __init__(self):
        self._refs: Optional[List[tuple]] = None
        self._extra: Optional[tuple] = None
        self._graph: Optional[ChebGraph] = None

    def _hit(self, tensors: List[Optional[Tensor]], extra: tuple) -> bool:
        if self._refs is None or extra != self._extra:
            return False
        for t, kept in zip(tensors, self._refs):
            if kept is None or t is None:
                if kept is not t:
                    return False
            elif kept[0]() is not t or kept[1] != t._version:
                return False
        return True

    def graph(self, model: str, conv: ChebConv, data: STData, x: Tensor, use_edge_weight: bool) -> ChebGraph:
        """The graph of ``data`` for ``x`` ``[N, T, F]``, from the cache when
        ``data``'s edges, edge weights and edge mask are those of the last call."""
        ea = data.get("edge_attr") if use_edge_weight else None
        tensors = [data.edge_index, ea, data.get("edge_mask")]
        extra = (x.size(0), x.size(1), x.dtype, x.device, conv.normalization)
        if self._hit(tensors, extra):
            return self._graph
        weight = step_edge_weight(model, data, use_edge_weight)
        graph = ChebGraph(conv, data.edge_index, x.size(0), weight, x.dtype)
        if any(t is not None and t.requires_grad for t in tensors):
            self.clear()                                                   # never keep a graph with gradients
        else:
            self._refs = [None if t is None else (weakref.ref(t), t._version) for t in tensors]
            self._extra, self._graph = extra, graph
        return graph

    def clear(self) -> None:
        self._refs, self._extra, self._graph = None, None, None

    def __getstate__(self):
        return {"_refs": None, "_extra": None, "_graph": None}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __deepcopy__(self, memo):
        return GraphCache()


# ------------------------------------------------------------ the conv
def cheb_conv(conv: ChebConv, op: LaplacianOperator, x: Tensor, add: Optional[Tensor] = None) -> Tensor:
    r"""``conv`` on ``x`` ``[n, C_in]`` in the rows of ``op`` (``[n, n]``,
    e.g. every step of a ``[T, N, C]`` tensor with a block-diagonal ``op``):
    :math:`\sum_k T_k(\hat{L})\, x\, W_k + b`, the same math as ChebConv;
    ``add`` ``[n, C_out]``, if given, is added too (inside the matrix product).

    The Chebyshev basis is propagated on the narrower side. When ``C_in <=
    C_out``: :math:`T_0 = x`, :math:`T_1 = \hat{L} x`,
    :math:`T_k = 2 \hat{L} T_{k-1} - T_{k-2}`, then one matrix product of the
    terms side by side, ``[n, K * C_in]``, with the stacked weights. When
    ``C_out < C_in``: first :math:`y_k = x W_k` (one product), then Clenshaw's
    recurrence :math:`b_k = y_k + 2 \hat{L} b_{k+1} - b_{k+2}`,
    :math:`\text{out} = y_0 + \hat{L} b_1 - b_2`, which sums the same
    polynomial with products ``C_out`` wide.
    """
    K = len(conv.lins)
    c_in, c_out = x.size(-1), conv.out_channels
    shift = conv.bias if add is None else (add if conv.bias is None else add + conv.bias)
    if K == 1 or c_in <= c_out:
        terms = [x]
        if K > 1:
            terms.append(op @ x)
        for _ in range(2, K):
            terms.append((op @ terms[-1]).mul_(2.0).sub_(terms[-2]))
        weight = torch.cat([lin.weight for lin in conv.lins], dim=1).t()  # [K*C_in, C_out]
        basis = torch.cat(terms, dim=1) if K > 1 else x                    # [n, K*C_in]
        return basis @ weight if shift is None else torch.addmm(shift, basis, weight)
    weight = torch.cat([lin.weight for lin in conv.lins], dim=0).t()      # [C_in, K*C_out]
    y = (x @ weight).split(c_out, dim=1)                                   # K x [n, C_out]
    b, b_next = y[K - 1], None
    for k in range(K - 2, 0, -1):
        b_new = (op @ b).mul_(2.0).add_(y[k])
        b, b_next = (b_new if b_next is None else b_new.sub_(b_next)), b
    out = (op @ b).add_(y[0])
    if b_next is not None:
        out = out.sub_(b_next)
    return out if shift is None else out.add_(shift)


def cheb_steps(conv: ChebConv, x: Tensor, edge_index: Tensor, weight: Optional[Tensor]) -> Tensor:
    """Apply ``conv`` to every time step of ``x`` ``[T, N, C]`` in one call.

    The same math as ``conv(x[t], edge_index, weight)`` for every ``t`` (the
    conv's own scaled Laplacian, weights and bias), but each Chebyshev
    propagation is one sparse-dense product over all steps instead of
    per-edge messages (PyG's message passing would gather, scale and scatter a
    ``[T, E, C]`` tensor at every order). ``weight`` is :obj:`None` or
    ``[E]`` (one graph for all steps) or ``[E, T]`` (a graph per step); the
    ``T`` Laplacians form one block-diagonal ``[T * N, T * N]`` matrix that
    multiplies ``[T * N, C]``. Models keep the operators between calls
    (:class:`GraphCache`); this function builds them each time.
    """
    T, N, C = x.shape
    op = ChebGraph(conv, edge_index, N, weight, x.dtype).steps(0, T)
    return cheb_conv(conv, op, x.reshape(T * N, C)).view(T, N, -1)
