"""The skeleton ST-GCN of Yan, Xiong and Lin (AAAI 2018), and its adjacency partitions."""
from __future__ import annotations

import numbers
from typing import NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import BatchNorm1d, Conv1d, Module, ModuleList, Parameter
from torch_geometric.utils import scatter

from ..data import STData
from ..nn.args import count, flag, rate
from ..nn.checks import select
from ..schema import STSchema
from ..nn.graph_steps import step_edge_weight
from ..nn.heads import LogitsHead
from .base import Forecaster
from .registry import register

__all__ = ["SkeletonSTGCN", "EdgePartition", "partition_edges", "num_partitions"]

_STRATEGIES = ("uniform", "distance", "spatial")
_IMPORTANCE = ("type", "skeleton")
_TASKS = ("regression", "classification")


# -------------------------------------------------------------- partitions
class EdgePartition(NamedTuple):
    r"""The partitioned neighbourhoods of :func:`partition_edges`.

    Attributes:
        edge_index (Tensor): ``[2, E']`` neighbourhood edges ``j -> i``
            (receiver ``i`` is the root): first the input edges without self
            loops, in input order; then one self loop per node, in node order;
            then, for ``max_hop > 1``, the pairs at 2 to ``max_hop`` hops.
        edge_weight (Tensor): ``[E']`` or ``[E', T]`` normalised weights
            :math:`(\mathbf{D}^{-1}\mathbf{A})_{ij}`, split by partition.
        partition (Tensor): ``[E']`` long, the partition of each edge.
        hop (Tensor): ``[E']`` long, the hop distance of each edge (0 for self
            loops, 1 for input edges).
    """

    edge_index: Tensor
    edge_weight: Tensor
    partition: Tensor
    hop: Tensor


def num_partitions(strategy: str, max_hop: int = 1) -> int:
    """The number of partitions of a strategy: 1 for ``"uniform"``,
    ``max_hop + 1`` for ``"distance"``, ``2 * max_hop + 1`` for ``"spatial"``."""
    if strategy not in _STRATEGIES:
        raise ValueError(f"num_partitions: 'strategy' must be one of {_STRATEGIES} (got {strategy!r})")
    return {"uniform": 1, "distance": max_hop + 1, "spatial": 2 * max_hop + 1}[strategy]


def _hop_distances(edge_index: Tensor, seeds: Tensor, max_steps: Optional[int]) -> Tensor:
    """Breadth-first hop counts from many sources at once.

    ``seeds`` ``[N, S]`` bool marks, for each of ``S`` source columns, the
    node(s) it starts from; ``edge_index`` must hold both directions. Returns
    ``[N, S]`` long distances, ``N`` where unreached (or beyond ``max_steps``).
    One loop iteration per hop (a host sync each), none per node or edge.
    """
    N = seeds.size(0)
    dist = torch.full(seeds.shape, N, dtype=torch.long, device=seeds.device)
    dist[seeds] = 0
    reached, frontier = seeds.clone(), seeds
    src, dst = edge_index
    step = 0
    while edge_index.size(1) > 0 and (max_steps is None or step < max_steps):
        step += 1
        hit = scatter(frontier[src].float(), dst, dim=0, dim_size=N, reduce="sum") > 0  # [N, S]
        new = hit & ~reached
        if not bool(new.any()):
            break
        dist[new] = step
        reached |= new
        frontier = new
    return dist


def partition_edges(edge_index: Tensor, num_nodes: int, strategy: str = "spatial",
                    center: Optional[int] = None, max_hop: int = 1, batch: Optional[Tensor] = None,
                    edge_weight: Optional[Tensor] = None,
                    node_mask: Optional[Tensor] = None) -> EdgePartition:
    r"""Partition each node's neighbourhood as in `Yan et al. (AAAI 2018)
    <https://arxiv.org/abs/1801.07455>`_, in edge form (no dense
    :math:`V \times V` matrices), for a graph or a batch of graphs.

    The neighbourhood of root :math:`i` is :math:`i` itself and the nodes
    within ``max_hop`` hops (hop distances on the undirected graph; 1-hop
    neighbours are the senders of the input edges). Weights are normalised at
    the receiver over the whole neighbourhood,
    :math:`\mathbf{D}^{-1}\mathbf{A}` with :math:`\mathbf{A}` including self
    loops (as the authors' released code does; the paper's Eq. 10 writes a
    symmetric normalisation per partition), then split into partitions:

    * ``"uniform"``: one partition.
    * ``"distance"``: partition :math:`d` holds the neighbours at :math:`d`
      hops, :math:`d = 0, \dots,` ``max_hop`` (0: the root itself).
    * ``"spatial"``: with :math:`r_v` the hop distance of :math:`v` to the
      centre, partition 0 is the root itself; for each hop
      :math:`d \geq 1`, partition :math:`2d - 1` holds the centripetal
      neighbours (:math:`r_j < r_i`) and :math:`2d` the centrifugal ones
      (:math:`r_j \geq r_i`). The centre is ``center`` (a node index within
      each graph) or, if :obj:`None`, each graph's centre: the node of least
      eccentricity in its largest component (``networkx.center``; lowest
      index among ties). Nodes that cannot reach the centre have
      :math:`r = \infty`.

    Args:
        edge_index (Tensor): ``[2, E]`` edges ``j -> i``; self loops are
            dropped (every node gets one of weight 1).
        num_nodes (int): ``N``.
        strategy (str, optional): ``"uniform"``, ``"distance"`` or
            ``"spatial"``. (default: :obj:`"spatial"`)
        center (int, optional): the centre's index within each graph, for
            ``"spatial"``. (default: :obj:`None`)
        max_hop (int, optional): neighbourhood radius. (default: :obj:`1`)
        batch (Tensor, optional): ``[N]`` graph of each node (sorted, as PyG
            batches); edges must not cross graphs. (default: one graph)
        edge_weight (Tensor, optional): ``[E]`` or ``[E, T]`` (per step)
            non-negative weights of the input edges; other edges weigh 1.
            (default: all 1)
        node_mask (Tensor, optional): ``[N, T]`` bool presence; an absent
            sender drops out of its receivers' neighbourhoods at that step
            (the weights become ``[E', T]``). (default: :obj:`None`)

    Returns:
        :class:`EdgePartition` ``(edge_index, edge_weight, partition, hop)``.
    """
    name = "partition_edges"
    if strategy not in _STRATEGIES:
        raise ValueError(f"{name}: 'strategy' must be one of {_STRATEGIES} (got {strategy!r})")
    if not isinstance(max_hop, int) or max_hop < 1:
        raise ValueError(f"{name}: 'max_hop' must be a positive int (got {max_hop!r})")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{name}: 'edge_index' must be [2, num_edges] (got {list(edge_index.shape)})")
    device = edge_index.device
    N = int(num_nodes)
    node = torch.arange(N, device=device)
    batch = edge_index.new_zeros(N) if batch is None else batch
    counts = torch.bincount(batch)                                         # [B]
    ptr = torch.cat([counts.new_zeros(1), counts.cumsum(0)])               # [B+1]
    local = node - ptr[batch]                                              # [N] index within its graph

    keep = edge_index[0] != edge_index[1]
    ei1 = edge_index[:, keep]                                              # [2, E1]
    E1 = ei1.size(1)
    undirected = torch.cat([ei1, ei1.flip(0)], dim=1)                      # [2, 2*E1]
    spatial = strategy == "spatial"
    find_center = spatial and center is None

    pair = None  # hop distances from every node of the same graph, by local index
    if max_hop > 1 or find_center:
        S = int(counts.max())
        seeds = torch.zeros(N, S, dtype=torch.bool, device=device)
        seeds[node, local] = True
        pair = _hop_distances(undirected, seeds, None if find_center else max_hop)  # [N, S]

    src, dst = [ei1[0], node], [ei1[1], node]
    hop = [torch.ones(E1, dtype=torch.long, device=device), torch.zeros(N, dtype=torch.long, device=device)]
    if max_hop > 1:
        v, s = ((pair >= 2) & (pair <= max_hop)).nonzero(as_tuple=True)
        src.append(ptr[batch[v]] + s)
        dst.append(v)
        hop.append(pair[v, s])
    out_index = torch.stack([torch.cat(src), torch.cat(dst)])              # [2, E']
    hop = torch.cat(hop)                                                   # [E']

    if strategy == "uniform":
        part = torch.zeros_like(hop)
    elif strategy == "distance":
        part = hop
    else:
        part = _spatial_partition(name, undirected, out_index, hop, pair, center, batch, counts, ptr, local)

    w = _partition_weights(name, edge_index, edge_weight, keep, out_index, node_mask, N)
    return EdgePartition(out_index, w, part, hop)


def _spatial_partition(name: str, undirected: Tensor, out_index: Tensor, hop: Tensor, pair: Optional[Tensor],
                       center: Optional[int], batch: Tensor, counts: Tensor, ptr: Tensor, local: Tensor) -> Tensor:
    """Partition of every output edge under the ``"spatial"`` strategy: the
    root, then per hop the centripetal and the centrifugal neighbours."""
    N = batch.numel()
    node = torch.arange(N, device=batch.device)
    if center is None:
        reached = pair < N
        ecc = pair.masked_fill(~reached, 0).amax(dim=1)                    # [N]
        missing = counts[batch] - reached.sum(dim=1)                       # unreachable nodes
        key = (missing * (N + 1) + ecc) * N + node                         # largest component first
        best = scatter(key, batch, dim=0, dim_size=counts.numel(), reduce="min") % N  # [B]
        radius = pair[node, local[best][batch]]                            # [N]
    else:
        smallest = int(counts.min())
        if not isinstance(center, int) or not 0 <= center < smallest:
            raise ValueError(f"{name}: 'center' must be an int in [0, {smallest - 1}] (a node "
                             f"index within every graph) or None (got {center!r})")
        c = ptr[:-1] + center                                              # [B]
        radius = _hop_distances(undirected, (node == c[batch]).view(N, 1), None)[:, 0]  # [N]
    away = radius[out_index[0]] >= radius[out_index[1]]                   # centrifugal
    return torch.where(hop == 0, hop, 2 * hop - 1 + away.long())


def _partition_weights(name: str, edge_index: Tensor, edge_weight: Optional[Tensor], keep: Tensor,
                       out_index: Tensor, node_mask: Optional[Tensor], N: int) -> Tensor:
    """Edge weights of the partitioned neighbourhoods, normalised at the receiver
    (:math:`D^{-1} A` with self loops), per step where they vary."""
    E1 = int(keep.sum())
    if edge_weight is None:
        w1 = torch.ones(E1, device=edge_index.device)
    else:
        if edge_weight.size(0) != edge_index.size(1) or edge_weight.dim() not in (1, 2):
            raise ValueError(f"{name}: 'edge_weight' must be [num_edges] or [num_edges, T] with "
                             f"num_edges={edge_index.size(1)} (got {list(edge_weight.shape)})")
        w1 = edge_weight[keep]                                             # [E1] or [E1, T]
    extra = out_index.size(1) - E1
    w = torch.cat([w1, w1.new_ones((extra,) + tuple(w1.shape[1:]))])       # [E'] or [E', T]
    if node_mask is not None:
        m = node_mask[out_index[0]]                                        # [E', T] bool
        w = torch.where(m, w.view(-1, 1) if w.dim() == 1 else w, 0.0)      # [E', T], NaN-safe
    deg = scatter(w, out_index[1], dim=0, dim_size=N, reduce="sum")        # [N] or [N, T]
    inv = deg.reciprocal().masked_fill_(deg == 0, 0.0)
    return w * inv[out_index[1]]


# ------------------------------------------------------------------ layers
class _STGCNUnit(Module):
    r"""One ST-GCN unit on ``[N, C, T]``: the partitioned graph convolution
    (one fused 1x1 projection to all partitions, then an edge-weighted sum),
    then BN -> ReLU -> causal temporal conv -> BN -> dropout, plus a residual,
    then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, partitions: int, kernel_size: int,
                 dropout: float, residual: bool):
        super().__init__()
        self.in_channels, self.out_channels, self.partitions = in_channels, out_channels, partitions
        self.kernel_size, self.dropout = kernel_size, dropout
        self.gcn = Conv1d(in_channels, partitions * out_channels, 1)      # the per-partition 1x1 convs
        self.bn1 = BatchNorm1d(out_channels)
        self.tcn = Conv1d(out_channels, out_channels, kernel_size)
        self.bn2 = BatchNorm1d(out_channels)
        self.residual = residual
        self.res_conv = self.res_bn = None
        if residual and in_channels != out_channels:
            self.res_conv = Conv1d(in_channels, out_channels, 1)
            self.res_bn = BatchNorm1d(out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in (self.gcn, self.bn1, self.tcn, self.bn2, self.res_conv, self.res_bn):
            if m is not None:
                m.reset_parameters()

    def graph_conv(self, x: Tensor, slot: Tensor, dst: Tensor, weight: Tensor) -> Tensor:
        r""":math:`\sum_p \mathbf{A}_p \mathbf{X} \mathbf{W}_p` in edge form:
        ``x`` ``[N, C_in, T]``, ``slot = src * P + partition`` ``[E']``,
        ``weight`` ``[E', 1, T]`` or ``[E', 1, 1]`` -> ``[N, C_out, T]``."""
        N, _, T = x.shape
        h = self.gcn(x).view(N * self.partitions, self.out_channels, T)    # [N*P, C_out, T]
        msg = h[slot] * weight                                             # [E', C_out, T]
        return scatter(msg, dst, dim=0, dim_size=N, reduce="sum")          # [N, C_out, T]

    def forward(self, x: Tensor, slot: Tensor, dst: Tensor, weight: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.graph_conv(x, slot, dst, weight)))
        h = self.tcn(F.pad(h, (self.kernel_size - 1, 0)))                  # causal: [N, C_out, T]
        h = F.dropout(self.bn2(h), p=self.dropout, training=self.training)
        if self.residual:
            h = h + (x if self.res_conv is None else self.res_bn(self.res_conv(x)))
        return F.relu(h)


# ------------------------------------------------------------------- model
@register("skeleton_stgcn")
class SkeletonSTGCN(Forecaster):
    r"""The spatial temporal graph convolutional network from the
    `"Spatial Temporal Graph Convolutional Networks for Skeleton-Based Action
    Recognition" <https://arxiv.org/abs/1801.07455>`_ paper (Yan, Xiong, Lin,
    AAAI 2018), as a forecaster or a per-step classifier.

    Each of ``num_layers`` units applies a partitioned graph convolution and a
    temporal convolution of width ``kernel_size``, with a residual:

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{ReLU}\Big(\mathrm{TCN}\big(\mathrm{ReLU}(
        \mathrm{BN}(\textstyle\sum_p (\mathbf{M}_p \odot \mathbf{A}_p)
        \mathbf{H}^{(l)} \mathbf{W}_p))\big) + \mathrm{res}(\mathbf{H}^{(l)})\Big),

    where :math:`\mathbf{A}_p` are the neighbourhood partitions of
    :func:`partition_edges` (``strategy`` ``"uniform"``, ``"distance"`` or
    ``"spatial"``, normalised :math:`\mathbf{D}^{-1}\mathbf{A}` with self loops
    in the root subset), :math:`\mathbf{W}_p` one 1x1 convolution per partition
    (fused into one projection to all partitions), :math:`\mathbf{M}_p` the
    learnable edge importance, and TCN = conv -> BN -> dropout.

    Choices where the paper assumes one fixed skeleton or a whole clip:

    * **Any graphs, batched**: partitions are built per batch from
      ``edge_index`` as edge weights (a message-passing sum with a scatter), not
      as a dense ``V x V`` matrix, so a batch may mix graphs of different
      shapes. The input batch norm is per feature (the paper's is per joint
      and feature). BatchNorm mixes the graphs of a batch in training mode;
      in eval mode a batch equals its graphs one by one.
    * **Edge importance** (``edge_importance``): ``"type"`` learns one scale
      per layer, partition and edge class (the schema's edge type for input
      edges, one class for self loops, one per extra hop), which works on any
      graph and makes edge types matter (``uses_types`` is then true);
      ``"skeleton"`` learns one scale per layer, partition and pair of node
      indices, as the paper, and needs every graph to have ``num_nodes``
      nodes; :obj:`None` learns none.
    * **Causal time**: the temporal convolution pads ``kernel_size - 1`` steps
      on the left (the paper centres it), so step ``t`` sees steps ``<= t`` and
      the output at ``t`` is a one-step-ahead prediction; the temporal stride
      of the paper's deeper layers is left out (one output per step), and the
      width is constant (``hidden``).
    * **Regression** (``task="regression"``): at step ``t`` the model predicts
      the change from frame ``t`` (a residual to the last seen frame; the
      first ``out_channels`` input features, so ``out_channels <=
      in_channels``). :meth:`forecast` rolls out one step at a time, feeding
      predictions back (``out_channels == in_channels`` for ``horizon > 1``);
      each step re-reads only the last ``num_layers * (kernel_size - 1) + 1``
      frames, the receptive field, so the result equals re-running the whole
      sequence (in eval mode; BatchNorm statistics of training mode differ).
    * **Classification** (``task="classification"``): per-node, per-step
      logits from a 1x1 convolution of the features; since that head is
      linear, averaging the logits over a graph's nodes and steps
      (``global_mean_pool(out.mean(1), batch)``) is exactly the paper's
      global-pooling head. :meth:`forecast` repeats the last step's logits.
    * **Edge weights**: with ``edge_weight=True`` and an ``edge_attr`` of one
      channel (``[E, T, 1]``), its values weight the input edges before the
      normalisation; otherwise the graph is unweighted.
    * **Masks**: absent nodes (``node_mask``) have zero inputs and features,
      drop out of their neighbours' normalised neighbourhoods at that step, and
      output zeros (forecasts: presence at the last observed step); absent
      edges (``edge_mask``) drop out likewise. With ``max_hop > 1`` the extra
      hops come from the union of all edges.
    * **Node types** are ignored.

    Args:
        schema (STSchema, optional): gives the number of edge types for
            ``edge_importance="type"``; with :obj:`None`, edge types are
            ignored.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features (regression) or classes.
        hidden (int, optional): channels of every unit. (default: :obj:`64`)
        num_layers (int, optional): ST-GCN units; the paper uses 10.
            (default: :obj:`3`)
        strategy (str, optional): ``"uniform"``, ``"distance"`` or
            ``"spatial"``. (default: :obj:`"spatial"`)
        center (int, optional): centre node index within each graph for the
            spatial strategy; :obj:`None` finds each graph's centre on every
            call, from all-pairs hop distances (``O(N * n_max)`` memory, about
            0.1 s for one graph of 1000 nodes on a CPU): give it for large
            graphs. (default: :obj:`None`)
        max_hop (int, optional): neighbourhood radius. (default: :obj:`1`)
        kernel_size (int, optional): temporal kernel width. (default: :obj:`9`)
        dropout (float, optional): dropout in each unit. (default: :obj:`0.0`)
        edge_importance (str, optional): ``"type"``, ``"skeleton"`` or
            :obj:`None`. (default: :obj:`"type"`)
        num_nodes (int, optional): the skeleton's size, for
            ``edge_importance="skeleton"``. (default: :obj:`None`)
        task (str, optional): ``"regression"`` or ``"classification"``.
            (default: :obj:`"regression"`)
        edge_weight (bool, optional): read a 1-channel ``edge_attr`` as edge
            weights. (default: :obj:`True`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          ``edge_index`` ``[2, E]``, optional ``edge_type`` ``[E]``,
          ``edge_attr`` ``[E, T, 1]``, ``node_mask`` ``[N, T]``,
          ``edge_mask`` ``[E, T]``, ``batch`` ``[N]``
        - **forward:** ``[N, T, out_channels]``: at step ``t`` the prediction
          for ``t + 1``, or the logits at ``t``
        - **forecast:** ``[N, horizon, out_channels]``
    """

    has_forward = True
    uses_types = False
    accepts_empty = False
    uses_graph = True
    supports_masks = True

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int, *,
                 hidden: int = 64, num_layers: int = 3, strategy: str = "spatial",
                 center: Optional[int] = None, max_hop: int = 1, kernel_size: int = 9,
                 dropout: float = 0.0, edge_importance: Optional[str] = "type",
                 num_nodes: Optional[int] = None, task: str = "regression", edge_weight: bool = True):
        super().__init__(schema, in_channels, out_channels)
        name = type(self).__name__
        in_channels, out_channels = self.in_channels, self.out_channels
        hidden, num_layers = count(name, "hidden", hidden), count(name, "num_layers", num_layers)
        max_hop, kernel_size = count(name, "max_hop", max_hop), count(name, "kernel_size", kernel_size)
        if strategy not in _STRATEGIES:
            raise ValueError(f"{name}: 'strategy' must be one of {_STRATEGIES} (got {strategy!r})")
        center = count(name, "center", center, least=0, optional=True, meaning="the most central node")
        if edge_importance is not None and edge_importance not in _IMPORTANCE:
            raise ValueError(f"{name}: 'edge_importance' must be one of {_IMPORTANCE} or None "
                             f"(got {edge_importance!r})")
        if edge_importance == "skeleton" and not (isinstance(num_nodes, numbers.Integral)
                                                  and not isinstance(num_nodes, bool) and num_nodes >= 1):
            raise ValueError(f"{name}: edge_importance='skeleton' needs 'num_nodes', the skeleton's "
                             f"number of nodes (got {num_nodes!r})")
        num_nodes = count(name, "num_nodes", num_nodes, optional=True, meaning="no skeleton")
        if task not in _TASKS:
            raise ValueError(f"{name}: 'task' must be one of {_TASKS} (got {task!r})")
        if task == "regression" and out_channels > in_channels:
            raise ValueError(f"{name}: regression predicts the change of the first out_channels "
                             f"input features, so 'out_channels' must be <= in_channels={in_channels} "
                             f"(got {out_channels})")
        dropout = rate(name, "dropout", dropout)
        self.hidden, self.num_layers, self.strategy, self.center = hidden, num_layers, strategy, center
        self.max_hop, self.kernel_size, self.dropout = max_hop, kernel_size, dropout
        self.edge_importance, self.num_nodes, self.task = edge_importance, num_nodes, task
        if task == "classification":
            self.head = LogitsHead(out_channels)
        self.edge_weight = flag(name, "edge_weight", edge_weight)
        self.partitions = num_partitions(strategy, max_hop)
        self.num_edge_types = schema.num_edge_types if schema is not None else 1
        self.uses_types = edge_importance == "type" and schema is not None
        self.type_keys = ("edge_type",)                                    # node types are never read

        self.data_bn = BatchNorm1d(in_channels)
        self.units = ModuleList([
            _STGCNUnit(in_channels if i == 0 else hidden, hidden, self.partitions, kernel_size,
                       dropout, residual=i > 0) for i in range(num_layers)
        ])
        if edge_importance == "type":
            slots = (self.num_edge_types + max_hop) * self.partitions
        elif edge_importance == "skeleton":
            slots = self.partitions * num_nodes * num_nodes
        else:
            slots = 0
        self.importance = Parameter(torch.empty(num_layers, slots)) if slots else None
        self.fcn = Conv1d(hidden, out_channels, 1)                      # the output layer (ST-GCN: fcn)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.data_bn.reset_parameters()
        for unit in self.units:
            unit.reset_parameters()
        if self.importance is not None:
            torch.nn.init.ones_(self.importance)
        self.fcn.reset_parameters()

    @property
    def receptive_field(self) -> int:
        """The number of frames one output step depends on."""
        return self.num_layers * (self.kernel_size - 1) + 1

    # ------------------------------------------------------------- helpers
    def _graph(self, data: STData, x: Tensor, extra: int = 0) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Partitioned edges for ``T + extra`` steps (the extra steps repeat the
        last observed graph and presence): ``(slot [E'], dst [E'], weight
        [E', T+extra] or [E'], importance index [E'] or None)``."""
        name = type(self).__name__
        N = x.size(0)
        edge_index = data.edge_index
        weight = step_edge_weight(name, data, self.edge_weight)
        nm = data.get("node_mask")
        if extra > 0:
            if weight is not None and weight.dim() == 2:
                weight = torch.cat([weight, weight[:, -1:].expand(-1, extra)], dim=1)
            if nm is not None:
                nm = torch.cat([nm, nm[:, -1:].expand(-1, extra)], dim=1)
        batch = data.get("batch")
        part = partition_edges(edge_index, N, self.strategy, self.center, self.max_hop, batch=batch,
                               edge_weight=weight, node_mask=nm)
        src, dst = part.edge_index
        slot = src * self.partitions + part.partition                      # row of [N*P, C, T]
        index = None
        if self.edge_importance == "type":
            K = self.num_edge_types
            et = data.get("edge_type") if self.schema is not None else None
            if et is None and K > 1 and edge_index.size(1) > 0:
                raise ValueError(f"{name}: 'edge_type' [num_edges] is needed: edge_importance='type' weighs each "
                                 f"of the schema's {K} edge types (got no 'edge_type'; edge_importance=None "
                                 f"or 'skeleton' ignores types)")
            cls = K + (part.hop - 1).clamp(min=0)                          # self loops: K, hop h: K+h-1
            if et is not None and et.numel() > 0:
                et1 = et[edge_index[0] != edge_index[1]]                   # the first E1 edges
                cls[: et1.numel()] = et1
            else:
                cls = torch.where(part.hop == 1, torch.zeros_like(cls), cls)
            index = cls * self.partitions + part.partition
        elif self.edge_importance == "skeleton":
            V = self.num_nodes
            b = batch if batch is not None else edge_index.new_zeros(N)
            counts = torch.bincount(b)
            if bool((counts != V).any()):
                raise ValueError(f"{name}: edge_importance='skeleton' needs every graph to have "
                                 f"num_nodes={V} nodes (got graphs of {sorted(set(counts.tolist()))})")
            local = torch.arange(N, device=x.device) % V                   # node index within its graph
            index = (part.partition * V + local[src]) * V + local[dst]
        return slot, dst, part.edge_weight.to(x.dtype), index

    def _run(self, x: Tensor, graph: Tuple[Tensor, Tensor, Tensor, Optional[Tensor]],
             node_mask: Optional[Tensor]) -> Tensor:
        """The network on ``x`` ``[N, T, F]`` with the graph's weights for these
        ``T`` steps; returns ``[N, T, out_channels]``."""
        slot, dst, weight, index = graph
        w = weight.unsqueeze(1) if weight.dim() == 2 else weight.view(-1, 1, 1)  # [E', 1, T] / [E', 1, 1]
        h = x.transpose(1, 2)                                              # [N, F, T]
        mask = None
        if node_mask is not None:
            mask = node_mask.unsqueeze(1)                                  # [N, 1, T] bool
            h = select(mask, h)                                            # masks select: NaN-safe
        if self.training and h.size(0) * h.size(2) < 2:
            raise ValueError(f"{type(self).__name__}: in training mode its batch norms take statistics over the "
                             f"nodes and steps of 'x', which needs more than one value per channel (got "
                             f"{list(x.shape)}); call model.eval() to use the running statistics")
        h = self.data_bn(h)
        for i, unit in enumerate(self.units):
            h = select(mask, h)  # absent nodes hold zero features
            w_i = w if index is None else w * self.importance[i][index].view(-1, 1, 1)
            h = unit(h, slot, dst, w_i)                                    # [N, hidden, T]
        out = self.fcn(h)                                                  # [N, F_out, T]
        if self.task == "regression":
            out = out + x[..., : self.out_channels].transpose(1, 2)        # change from frame t
        return select(mask, out).transpose(1, 2)                                         # [N, T, F_out]

    # -------------------------------------------------------------- public
    def forward(self, data: STData) -> Tensor:
        x = self._check_input(data)
        return self._run(x, self._graph(data, x), data.get("node_mask"))

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        name = type(self).__name__
        nm = data.get("node_mask")
        if self.task == "classification":
            logits = self._run(x, self._graph(data, x), nm)[:, -1:]        # [N, 1, classes]
            return logits.expand(-1, horizon, -1).contiguous()             # [N, horizon, classes]
        if horizon > 1 and self.out_channels != self.in_channels:
            raise ValueError(f"{name}: forecasting more than one step feeds predictions back, which "
                             f"needs out_channels == in_channels={self.in_channels} (got "
                             f"out_channels={self.out_channels}, horizon={horizon})")
        slot, dst, weight, index = self._graph(data, x, extra=horizon - 1)
        per_step = weight.dim() == 2
        if nm is not None:
            nm = torch.cat([nm, nm[:, -1:].expand(-1, horizon - 1)], dim=1)  # [N, T+horizon-1]
        R = self.receptive_field
        seq = x
        preds = []
        for step in range(horizon):  # each step needs the previous prediction
            end = seq.size(1)
            start = max(0, end - R)  # the last output depends on these frames only
            w = weight[:, start:end] if per_step else weight
            pred = self._run(seq[:, start:], (slot, dst, w, index),
                             None if nm is None else nm[:, start:end])[:, -1:]   # [N, 1, F]
            preds.append(pred)
            if step + 1 < horizon:
                seq = torch.cat([seq, pred], dim=1)                        # [N, end+1, F]
        return torch.cat(preds, dim=1)                                     # [N, horizon, F_out]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, hidden={self.hidden}, "
                f"num_layers={self.num_layers}, strategy={self.strategy!r}, task={self.task!r})")
