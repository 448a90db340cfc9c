r"""Exact one-hop mini-batches of seed nodes: :class:`OneHopLoader`.

In a Structural-RNN the edgeRNN inputs are computed from raw features only
(never from other nodes' hidden states), so a node's outputs over a whole
sequence depend on its own features and on those of the nodes with an edge
into it: one hop, however long the sequence. A batch holding some seed nodes,
every edge that arrives at them, and those edges' source nodes therefore gives
the seeds exactly the outputs of the full graph.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import NodeLoader
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput

from .data import STData
from .nn.args import count

__all__ = ["OneHopSampler", "OneHopLoader", "seed_count", "seed_view", "seed_nodes", "one_hop_node_index"]

# Keys whose first dimension is known, whatever their size happens to be.
NODE_KEYS = ("x", "node_type", "node_mask", "y", "y_mask", "y_weight", "u_future", "batch")
EDGE_KEYS = ("edge_type", "edge_mask", "edge_attr", "edge_weight")
# Keys with a row per graph, whatever the node and edge counts (``t_start`` is
# ``[1]`` on a window and ``[B]`` on a batch of B: never a node's or an edge's).
GRAPH_KEYS = ("t_start",)
# Keys a sub-graph cannot keep: they describe the whole graph's batching or size.
DROPPED_KEYS = ("ptr", "num_nodes")
# Keyword arguments of NodeLoader that one-hop sampling fixes itself.
FIXED_KWARGS = ("node_sampler", "collate_fn", "dataset", "input_time", "input_id", "custom_cls")


class OneHopSampler(BaseSampler):
    r"""Samples, for a set of seed nodes, every edge arriving at them
    (``edge_index[1]`` is the target) and the sources of those edges; a
    pure-PyTorch :class:`~torch_geometric.sampler.BaseSampler` (no
    ``pyg-lib`` or ``torch-sparse``).

    The incoming edges are found through a compressed index of the edges
    grouped by target (built once, :math:`O(E \log E)`); a batch of :math:`B`
    seeds with :math:`E_b` incoming edges costs :math:`O(B + E_b \log E_b)`,
    independent of the graph's size. The sampled nodes are the seeds first
    (in the given order), then their other in-neighbours in increasing id;
    the sampled edges keep their order in the full graph.

    Args:
        edge_index (Tensor): ``[2, E]`` edges ``src -> dst``.
        num_nodes (int): the number of nodes ``N``.
    """

    def __init__(self, edge_index: Tensor, num_nodes: int):
        name = type(self).__name__
        if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2 \
                or edge_index.dtype != torch.long:
            got = f"{list(edge_index.shape)} {edge_index.dtype}" if isinstance(edge_index, Tensor) \
                else type(edge_index).__name__
            raise ValueError(f"{name}: 'edge_index' must be a [2, num_edges] torch.long tensor (got {got})")
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 0:
            raise ValueError(f"{name}: 'num_nodes' must be an int >= 0 (got {num_nodes!r})")
        edge_index = edge_index.detach().cpu()
        if edge_index.numel() > 0 and (int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes):
            raise ValueError(f"{name}: 'edge_index' must lie in [0, {num_nodes - 1}] (got values in "
                             f"[{int(edge_index.min())}, {int(edge_index.max())}])")
        self.num_nodes = num_nodes
        self.src, self.dst = edge_index[0], edge_index[1]
        self.by_target = torch.argsort(self.dst, stable=True)                 # [E] edge ids grouped by dst
        self.ptr = torch.zeros(num_nodes + 1, dtype=torch.long)               # [N+1] group offsets
        self.ptr[1:] = torch.cumsum(torch.bincount(self.dst, minlength=num_nodes), 0)

    def incoming(self, seeds: Tensor) -> Tensor:
        """The ids of every edge arriving at ``seeds`` ``[B]``, in increasing order."""
        start = self.ptr[seeds]                                               # [B]
        count = self.ptr[seeds + 1] - start                                   # [B] in-degrees
        owner = torch.repeat_interleave(torch.arange(seeds.numel()), count)   # [E_b] seed of each edge
        first = torch.cumsum(count, 0) - count                                # [B] offset of each seed's run
        pos = start[owner] + torch.arange(owner.numel()) - first[owner]       # [E_b] positions in by_target
        return self.by_target[pos].sort().values

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        seeds = index.node.long()                                             # [B]
        edge = self.incoming(seeds)                                           # [E_b]
        src, dst = self.src[edge], self.dst[edge]
        others = torch.unique(src)
        others = others[~torch.isin(others, seeds)]                           # in-neighbours, not seeds
        node = torch.cat([seeds, others])                                     # [n_b] seeds first
        sorted_node, order = node.sort()
        row = order[torch.searchsorted(sorted_node, src)]                     # [E_b] local ids
        col = order[torch.searchsorted(sorted_node, dst)]
        return SamplerOutput(node=node, row=row, col=col, edge=edge, batch=None,
                             num_sampled_nodes=[seeds.numel(), others.numel()],
                             num_sampled_edges=[edge.numel()], metadata=(index.input_id, index.time))

    def sample_from_edges(self, index: Any, neg_sampling: Any = None) -> SamplerOutput:
        raise NotImplementedError(f"{type(self).__name__}: samples from seed nodes only "
                                  f"(use OneHopLoader, not a LinkLoader)")


class OneHopLoader(NodeLoader):
    r"""Mini-batches of seed nodes with their exact one-hop input sub-graph,
    for training and running a
    `Structural-RNN (Jain et al., CVPR 2016) <https://arxiv.org/abs/1511.05298>`_
    on a graph too large for one pass.

    Each batch is an :class:`~srnn_pyg.STData` in the convention of PyG's
    :class:`~torch_geometric.loader.NeighborLoader`: the ``batch_size`` seed
    nodes come first, then the other sources of edges arriving at them;
    ``n_id`` ``[n_b]`` and ``e_id`` ``[E_b]`` map rows back to the full graph.
    It holds every edge that arrives at a seed and no other, so for
    :class:`~srnn_pyg.models.StructuralRNN`

    .. math::
        \mathrm{model}(\mathrm{batch})[:B] = \mathrm{model}(\mathrm{data})[\mathrm{n\_id}[:B]]

    for every edge scope, aggregation, mask and late-appearing edge; rows after
    the seeds lack their own incoming edges and are to be ignored
    (:func:`seed_view`). Every tensor whose first dimension counts nodes
    (``x``, ``node_type``, ``node_mask``, ``y``, ...) or edges (``edge_type``,
    ``edge_mask``, ``edge_attr``, ...) is sliced; when ``N == E`` a key of
    unknown name counts edges if its name contains ``"edge"``. Other values
    (the ``schema``, graph-level tensors) are kept as they are.

    Batches are finished inside :meth:`collate_fn` (``filter_per_worker`` is
    always :obj:`True`; :obj:`False` is refused), so a :class:`torch.utils.data.DataLoader` rebuilt over
    :attr:`dataset` with another sampler and this :meth:`collate_fn` (as
    :func:`srnn_pyg.engine.fit` does to seed or shard the order) still yields
    :class:`~srnn_pyg.STData` batches.

    Args:
        data (STData): the full graph, ``x`` ``[N, T, F]``.
        batch_size (int): seed nodes per batch.
        shuffle (bool, optional): draw the seeds in a new random order each
            pass. (default: :obj:`False`)
        input_nodes (Tensor, optional): the seeds: a ``[N]`` bool mask or a
            1-D tensor of distinct node ids, or a list (or NumPy array) of
            bools (a mask) or of ints (ids). (default: all nodes)
        **kwargs (optional): further arguments of
            :class:`~torch_geometric.loader.NodeLoader` (``transform``,
            ``transform_sampler_output``) and :class:`torch.utils.data.DataLoader`
            (``drop_last``, ``num_workers``, ...).

    Shapes:
        - **input:** ``data`` with ``N`` nodes and ``E`` edges
        - **output:** batches with ``n_b <= B + E_b`` nodes and ``E_b`` edges
          (the in-degrees of the ``B`` seeds summed), ``batch.batch_size = B``,
          ``n_id`` ``[n_b]``, ``e_id`` ``[E_b]``, ``input_id`` ``[B]``
          (positions of the seeds in ``input_nodes``)
    """

    def __init__(self, data: STData, batch_size: int, shuffle: bool = False,
                 input_nodes: Union[Tensor, Sequence[int], None] = None, **kwargs):
        name = type(self).__name__
        if not isinstance(data, Data):
            raise TypeError(f"{name}: 'data' must be an STData (got {type(data).__name__})")
        batch_size = count(name, "batch_size", batch_size)                  # a NumPy int too
        if not isinstance(shuffle, bool):
            raise TypeError(f"{name}: 'shuffle' must be a bool (got {type(shuffle).__name__})")
        fixed = sorted(k for k in kwargs if k in FIXED_KWARGS)
        if fixed:
            raise TypeError(f"{name}: got {fixed}, which one-hop sampling sets itself "
                            f"(the allowed options are those of NodeLoader and DataLoader except {list(FIXED_KWARGS)})")
        if kwargs.get("filter_per_worker") not in (None, True):
            raise ValueError(f"{name}: 'filter_per_worker' must be True, the default (batches are finished in "
                             f"collate_fn, so that a loader rebuilt over the same dataset, as fit does to seed or "
                             f"shard the order, still yields STData batches; got {kwargs['filter_per_worker']!r})")
        N, E = check_graph(name, data)
        seeds = seed_index(name, input_nodes, N)
        self.kinds = key_kinds(data, N, E)
        self.num_graph_nodes = N
        kwargs["filter_per_worker"] = True
        super().__init__(data, OneHopSampler(data.edge_index, N), input_nodes=seeds,
                         input_id=torch.arange(seeds.numel()), batch_size=batch_size, shuffle=shuffle,
                         **kwargs)

    def filter_fn(self, out: SamplerOutput) -> STData:
        """The :class:`~srnn_pyg.STData` batch of one sampler output."""
        if self.transform_sampler_output:
            out = self.transform_sampler_output(out)
        batch = subgraph(self.data, self.kinds, out.node, out.edge, torch.stack([out.row, out.col]))
        batch.n_id = out.node
        batch.e_id = out.edge
        batch.num_sampled_nodes = out.num_sampled_nodes
        batch.num_sampled_edges = out.num_sampled_edges
        batch.input_id = out.metadata[0]
        batch.batch_size = int(out.metadata[0].numel())
        return batch if self.transform is None else self.transform(batch)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.input_data.node.numel()} seeds of {self.num_graph_nodes} nodes, "
                f"batch_size={self.batch_size})")


# ------------------------------------------------------------------ batches
def seed_count(batch: Any, owner: Optional[str] = None) -> Optional[int]:
    """The number of seed nodes of a :class:`OneHopLoader` batch (its leading
    rows), or :obj:`None` for any other batch (all rows count); ``owner``
    (the model's name) begins the error for a collated batch of them."""
    if isinstance(batch, Data) and "n_id" in batch and "batch_size" in batch:
        count = batch["batch_size"]
        if isinstance(count, Tensor) and count.numel() != 1 or isinstance(count, (list, tuple)):
            raise ValueError(f"{owner + ': ' if owner else ''}a batch of OneHopLoader batches "
                             f"(batch_size={count!r}) has no single block of seed rows: run each one-hop batch "
                             f"on its own")
        return int(count)
    return None


def seed_view(batch: Any, *values: Any) -> Any:
    """``values`` cut to the seed rows of a :class:`OneHopLoader` batch (the
    first ``batch.batch_size`` rows of each tensor; tuples, lists and dicts
    are cut entry by entry, :obj:`None` passes through), or unchanged for any
    other batch: what a trainer computes its loss and metrics on.

    ``loss = head.loss(*seed_view(batch, model(batch), target, mask))``

    Returns one value for one argument, else a tuple.
    """
    count = seed_count(batch)

    def cut(v: Any) -> Any:
        if count is None or v is None:
            return v
        if isinstance(v, Tensor):
            return v[:count]
        if isinstance(v, (tuple, list)):
            return type(v)(cut(u) for u in v)
        if isinstance(v, dict):
            return {k: cut(u) for k, u in v.items()}
        raise TypeError(f"seed_view: values must be tensors, tuples, lists, dicts or None "
                        f"(got {type(v).__name__})")

    out = tuple(cut(v) for v in values)
    return out[0] if len(out) == 1 else out


def seed_nodes(batch: Any) -> Tensor:
    """The full-graph ids ``[B]`` of a :class:`OneHopLoader` batch's seeds:
    ``full[seed_nodes(batch)] = seed_view(batch, model(batch))``."""
    count = seed_count(batch)
    if count is None:
        raise ValueError(f"seed_nodes: 'batch' must come from a OneHopLoader (with 'n_id' and "
                         f"'batch_size'; got a {type(batch).__name__} with keys {sorted(batch.keys())})")
    return batch.n_id[:count]


def one_hop_node_index(owner: str, batch: Any, num_nodes: Optional[int], device: Any) -> Tuple[Tensor, Tensor]:
    """For a model with a parameter per node index (``num_nodes`` of them), the
    rows of a :class:`OneHopLoader` batch as ``(node, window)`` ``[N]`` each: a
    row's index in the loader's graph (``n_id``), or within its window when
    that graph is a batch of windows of ``num_nodes`` nodes each (``batch``),
    and that window (zeros for a single graph). A sub-graph does not tell the
    graph's size, so ``num_nodes`` must be given; :class:`ValueError` naming
    it otherwise, or when the ids do not fit it."""
    n_id, graph = batch.n_id.to(device), batch.get("batch")
    n = num_nodes
    if n is None:
        raise ValueError(f"{owner}: a one-hop batch (OneHopLoader) indexes the nodes by 'n_id', and a sub-graph "
                         f"does not tell a graph's size, so build it with num_nodes=<the loader's graph's nodes, "
                         f"or each window's when that graph is a batch of windows> (got num_nodes=None)")
    if graph is None:
        if n_id.numel() and int(n_id.max()) >= n:
            raise ValueError(f"{owner}: 'num_nodes' is {n} but the one-hop batch holds node id {int(n_id.max())} "
                             f"of the loader's graph ('n_id'), so it must be at least {int(n_id.max()) + 1}")
        return n_id, torch.zeros_like(n_id)
    graph = graph.to(device)
    wrong = torch.div(n_id, n, rounding_mode="floor") != graph
    if bool(wrong.any()):
        at = int(wrong.nonzero()[0, 0])
        raise ValueError(f"{owner}: 'num_nodes' is {n} (nodes per window) but the one-hop batch's graph is not "
                         f"a batch of windows of {n} nodes each: node {int(n_id[at])} ('n_id') is in window "
                         f"{int(graph[at])} ('batch')")
    return n_id % n, graph


# ------------------------------------------------------------------ helpers
def check_graph(name: str, data: Data) -> Tuple[int, int]:
    """``(N, E)`` of ``data``; a :class:`ValueError` naming the key unless
    ``x`` is ``[N, T, F]``, ``edge_index`` ``[2, E]`` long in range, and the
    known node and edge keys have ``N`` and ``E`` rows."""
    x, ei = data.get("x"), data.get("edge_index")
    if not isinstance(x, Tensor) or x.dim() != 3:
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: 'data.x' must be a [num_nodes, T, F] tensor (got {got})")
    if not isinstance(ei, Tensor) or ei.dim() != 2 or ei.size(0) != 2 or ei.dtype != torch.long:
        got = f"{list(ei.shape)} {ei.dtype}" if isinstance(ei, Tensor) else type(ei).__name__
        raise ValueError(f"{name}: 'data.edge_index' must be a [2, num_edges] torch.long tensor (got {got})")
    N, E = x.size(0), ei.size(1)
    if E and (int(ei.min()) < 0 or int(ei.max()) >= N):
        raise ValueError(f"{name}: 'data.edge_index' must hold node ids in [0, {N - 1}] (num_nodes = "
                         f"data.x.size(0) = {N}; got values in [{int(ei.min())}, {int(ei.max())}])")
    for keys, rows, what in ((NODE_KEYS, N, "num_nodes"), (EDGE_KEYS, E, "num_edges")):
        for key in keys:
            v = data.get(key)
            if isinstance(v, Tensor) and (v.dim() == 0 or v.size(0) != rows):
                raise ValueError(f"{name}: 'data.{key}' must have {what}={rows} rows (got {list(v.shape)})")
    return N, E


def seed_index(name: str, input_nodes: Any, N: int) -> Tensor:
    """``input_nodes`` (:obj:`None`, a ``[N]`` bool mask, or distinct node
    ids) as a long tensor of node ids, checked."""
    if input_nodes is None:
        if N == 0:
            raise ValueError(f"{name}: 'data' has no node, so there is no seed to draw (got x with 0 rows)")
        return torch.arange(N)
    if isinstance(input_nodes, tuple) and len(input_nodes) == 2 and isinstance(input_nodes[0], str):
        raise TypeError(f"{name}: 'input_nodes' must be node ids or a mask of this homogeneous graph (node types "
                        f"are data.node_type), not a (node type, nodes) pair as for HeteroData (got "
                        f"({input_nodes[0]!r}, ...))")
    if isinstance(input_nodes, np.ndarray) and input_nodes.dtype == np.uint8:
        input_nodes = torch.from_numpy(input_nodes)                      # ambiguous as torch's (below)
    if isinstance(input_nodes, (list, tuple, range, np.ndarray)):
        values = [v.item() if isinstance(v, Tensor) and v.dim() == 0 else v for v in input_nodes]
        if not values:
            raise ValueError(f"{name}: 'input_nodes' selects no node; give at least one seed")
        if all(isinstance(v, (bool, np.bool_)) for v in values):
            input_nodes = torch.tensor(values, dtype=torch.bool)        # a mask, as a bool tensor is
        elif all(isinstance(v, (int, np.integer)) for v in values):
            input_nodes = torch.tensor([int(v) for v in values], dtype=torch.long)
        else:
            odd = next(v for v in values if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)))
            raise TypeError(f"{name}: 'input_nodes' must hold integer node ids or only bools (a mask) (got "
                            f"{type(odd).__name__} {odd!r} among {len(values)} values)")
    if not isinstance(input_nodes, Tensor):
        raise TypeError(f"{name}: 'input_nodes' must be a bool mask, a tensor of node ids or None "
                        f"(got {type(input_nodes).__name__})")
    nodes = input_nodes.detach().cpu()
    if nodes.dtype == torch.bool:
        if tuple(nodes.shape) != (N,):
            raise ValueError(f"{name}: a bool 'input_nodes' must be a [num_nodes] = [{N}] mask "
                             f"(got {list(nodes.shape)})")
        nodes = nodes.nonzero().view(-1)
    elif nodes.dtype.is_floating_point or nodes.dtype.is_complex:
        raise TypeError(f"{name}: 'input_nodes' must hold bools or integer node ids (got {nodes.dtype})")
    elif nodes.dtype == torch.uint8:
        raise TypeError(f"{name}: a torch.uint8 'input_nodes' is ambiguous (a 0/1 mask or node ids?): pass a "
                        f"torch.bool mask or torch.long ids")
    elif nodes.dim() != 1:
        raise ValueError(f"{name}: 'input_nodes' must be a 1-D tensor of node ids (got {list(nodes.shape)})")
    nodes = nodes.long()
    if nodes.numel() == 0:
        raise ValueError(f"{name}: 'input_nodes' selects no node; give at least one seed")
    lo, hi = int(nodes.min()), int(nodes.max())
    if lo < 0 or hi >= N:
        raise ValueError(f"{name}: 'input_nodes' must lie in [0, {N - 1}] (got values in [{lo}, {hi}])")
    if torch.unique(nodes).numel() != nodes.numel():
        raise ValueError(f"{name}: 'input_nodes' must not repeat a node ({nodes.numel()} ids, "
                         f"{torch.unique(nodes).numel()} distinct)")
    return nodes


def key_kinds(data: Data, N: int, E: int) -> Dict[str, str]:
    """For each key of ``data``: ``"node"`` or ``"edge"`` (a tensor to slice
    along dim 0), ``"index"`` (``edge_index``, renumbered), ``"drop"``, or
    ``"keep"`` (graph-level, kept as it is)."""
    kinds = {}
    for key, v in data.to_dict().items():
        if key in DROPPED_KEYS:
            kinds[key] = "drop"
        elif key == "edge_index":
            kinds[key] = "index"
        elif key in GRAPH_KEYS:
            kinds[key] = "keep"
        elif key in NODE_KEYS:
            kinds[key] = "node"
        elif key in EDGE_KEYS:
            kinds[key] = "edge"
        elif not isinstance(v, Tensor) or v.dim() == 0 or v.size(0) not in (N, E):
            kinds[key] = "keep"
        elif v.size(0) == N and v.size(0) == E:
            kinds[key] = "edge" if "edge" in key else "node"
        else:
            kinds[key] = "node" if v.size(0) == N else "edge"
    return kinds


def subgraph(data: Data, kinds: Dict[str, str], node: Tensor, edge: Tensor, edge_index: Tensor) -> STData:
    """The :class:`~srnn_pyg.STData` of ``data`` restricted to ``node`` and
    ``edge`` (full-graph ids), with the local ``edge_index``."""
    out = STData()
    for key, v in data.to_dict().items():
        kind = kinds.get(key, "keep")
        if kind == "node":
            out[key] = v.index_select(0, node.to(v.device))
        elif kind == "edge":
            out[key] = v.index_select(0, edge.to(v.device))
        elif kind == "index":
            out[key] = edge_index.to(v.device)
        elif kind == "keep":
            out[key] = v
    return out
