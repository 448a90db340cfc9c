"""Structural-RNN (Jain et al., CVPR 2016), vectorised over typed ST-graphs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax

from ..data import STData
from ..nn.features import (SPATIAL_FEATURES, TEMPORAL_FEATURES, spatial_channels, spatial_features,
                           temporal_channels, temporal_features)
from ..nn.rnn_block import LSTMState, RNNBlock
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["StructuralRNN"]

PRESETS: Dict[str, Dict[str, object]] = {
    # Jain et al. 2016, human motion: edgeRNN FC256-FC256-LSTM512, nodeRNN LSTM512-FC256-FC100-FC.
    "paper_motion": dict(edge_mlp=(256, 256), edge_hidden=512, node_mlp=(256, 100), node_hidden=512),
}
DEFAULTS: Dict[str, object] = dict(edge_mlp=(64,), edge_hidden=64, node_mlp=(64,), node_hidden=64)


@dataclass
class _Layout:
    """How one batch is grouped by type; computed once per batch (one host
    sync for the type counts) and reused at every step of a forecast."""

    N: int
    node_perm: Tensor            # [N] node ids sorted by type
    node_rank: Tensor            # [N] position of each node in node_perm
    node_counts: List[int]       # nodes per node type
    node_starts: List[int]       # offset of each node type in node_perm
    src: Tensor                  # [E]
    dst: Tensor                  # [E]
    slot: Tensor                 # [E] the (receiver, edge type) slot of each edge
    slot_blocks: List[Tuple[int, int]]        # per edge type: (offset, rows) in the slot array
    slot_sub: List[Dict[int, int]]            # per edge type: node type -> offset inside its block
    num_slots: int
    edge_perm: Optional[Tensor]  # [E] edge ids sorted by edge type (edge scope)
    edge_counts: List[int]
    slot_has_edge: Tensor        # [S] bool: some edge (ever) fills the slot


@register("srnn")
class StructuralRNN(Forecaster):
    r"""The Structural-RNN of `Jain, Zamir, Savarese and Saxena, "Structural-RNN:
    Deep Learning on Spatio-Temporal Graphs" (CVPR 2016)
    <https://arxiv.org/abs/1511.05298>`_, for any typed ST-graph.

    Every spatial edge type :math:`k` has one edgeRNN, every node type
    :math:`\tau` a temporal edgeRNN and a nodeRNN, shared by all edges and
    nodes of that type. For node :math:`i` of type :math:`\tau` at step
    :math:`t` (``edge_scope="slot"``, the paper):

    .. math::
        \mathbf{s}_{i,k,t} = \mathrm{edgeRNN}_k\Big(\sum_{j \in \mathcal{N}_k(i)}
        \phi(\mathbf{x}_{i,t}, \mathbf{x}_{j,t})\Big), \quad
        \mathbf{u}_{i,t} = \mathrm{edgeRNN}_\tau^{temp}\big(\mathbf{x}_{i,t},
        \mathbf{x}_{i,t} - \mathbf{x}_{i,t-1}\big)

    .. math::
        \hat{\mathbf{y}}_{i,t+1} = \mathrm{nodeRNN}_\tau\big(\mathbf{x}_{i,t} \,\|\,
        \mathbf{u}_{i,t} \,\|\, \mathbf{s}_{i,k_1,t} \,\|\, \dots \,\|\, \mathbf{s}_{i,k_m,t}\big)

    where :math:`k_1, \dots, k_m` are the edge types arriving at :math:`\tau`
    (:meth:`STSchema.incoming`) and :math:`\mathbf{s}_{i,k,t} = 0` while node
    :math:`i` has no present edge of type :math:`k`. With ``edge_scope="edge"``
    every edge runs its own edgeRNN state and the outputs are aggregated per
    ``(node, edge type)`` with ``aggr``.

    The computation is one RNN call per type over the whole sequence (edgeRNN
    inputs do not depend on nodeRNN states) and scatters for every
    aggregation: no Python loop over nodes, edges or time steps, and the
    number of kernel launches grows with the number of types, not with the
    graph. :meth:`forecast` warms up on the observed frames and then rolls
    out carrying every RNN state: linear in the horizon.

    Args:
        schema (STSchema): node and edge types.
        in_channels (int): node features ``F``.
        out_channels (int): predicted features (regression) or classes.
        edge_hidden (int, optional): edgeRNN LSTM size. (default: :obj:`64`;
            :obj:`512` with the paper preset)
        node_hidden (int, optional): nodeRNN LSTM size. (default: :obj:`64`)
        edge_mlp (tuple[int], optional): edgeRNN encoder layers before its
            LSTM. (default: :obj:`(64,)`; paper: :obj:`(256, 256)`)
        node_mlp (tuple[int], optional): nodeRNN decoder layers after its LSTM,
            before the output layer. (default: :obj:`(64,)`; paper: :obj:`(256, 100)`)
        edge_scope (str, optional): ``"slot"`` (features of a node's edges of
            one type are summed, one RNN per slot: the paper) or ``"edge"``
            (one RNN state per edge, outputs aggregated with ``aggr``).
            (default: :obj:`"slot"`)
        aggr (str, optional): ``"sum"``, ``"mean"`` or ``"max"`` over present
            edges, or ``"attention"`` (a softmax over each node's present
            incoming edges of one type, queried by the node's temporal edgeRNN
            output: Vemula et al. 2018), for ``edge_scope="edge"``.
            (default: :obj:`"sum"`)
        edge_state (str, optional): when a spatial edgeRNN state starts:
            ``"start"`` (at the sequence's first step, running on zero input
            while its edge is absent) or ``"appear"`` (from zero at the step
            its edge, and both its ends, are first present, so that edges that
            appear late in a dynamic graph start fresh; after that it runs
            through absences on zero input). With ``edge_scope="slot"`` a
            slot appears with its first present edge. (default: :obj:`"appear"`
            for ``edge_scope="edge"``, :obj:`"start"` for ``"slot"``, the paper)
        task (str, optional): ``"regression"`` or ``"classification"`` (per
            step logits). (default: :obj:`"regression"`)
        residual (bool, optional): predict the change from the current frame,
            :math:`\hat{\mathbf{x}}_{t+1} = \mathbf{x}_t + \Delta` (Martinez et
            al. 2017; not in the paper). (default: :obj:`False`)
        dropout (float, optional): dropout in every RNN block. (default: :obj:`0.`)
        num_layers (int, optional): LSTM layers per block. (default: :obj:`1`)
        spatial_features (str, optional): one of ``"concat"`` (the paper:
            receiver then sender), ``"diff"``, ``"attr"`` (``edge_attr``) or
            ``"concat_attr"``. (default: :obj:`"concat"`)
        temporal_features (str, optional): ``"concat_diff"``
            (:math:`[\mathbf{x}_t, \mathbf{x}_t - \mathbf{x}_{t-1}]`), ``"diff"``
            or ``"x"``. (default: :obj:`"concat_diff"`)
        edge_channels (int, optional): width ``F_e`` of ``edge_attr`` for the
            ``*attr`` spatial features. (default: :obj:`0`)
        preset (str, optional): ``"paper_motion"`` takes the paper's sizes for
            every size argument left unset. (default: :obj:`None`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          ``edge_index`` ``[2, E]``, ``node_type`` ``[N]``, ``edge_type``
          ``[E]``, optional ``node_mask`` ``[N, T]``, ``edge_mask`` ``[E, T]``,
          ``edge_attr`` ``[E, T, F_e]``
        - **output:** ``[N, T, out_channels]``: at step ``t`` the prediction for
          ``t + 1`` (or the logits at ``t``); with ``return_hidden=True`` also
          the nodeRNN states ``[N, T, node_hidden]``
    """

    uses_types = True
    uses_graph = True

    def __init__(self, schema: STSchema, in_channels: int, out_channels: int, *,
                 edge_hidden: Optional[int] = None, node_hidden: Optional[int] = None,
                 edge_mlp: Optional[Sequence[int]] = None, node_mlp: Optional[Sequence[int]] = None,
                 edge_scope: str = "slot", aggr: str = "sum", task: str = "regression",
                 residual: bool = False, dropout: float = 0.0, num_layers: int = 1,
                 spatial_features: str = "concat", temporal_features: str = "concat_diff",
                 edge_channels: int = 0, spatial: bool = True, head: str = "deterministic",
                 attention_channels: int = 32, edge_state: Optional[str] = None,
                 preset: Optional[str] = None):
        super().__init__(schema, in_channels, out_channels)
        if not isinstance(schema, STSchema):
            raise TypeError(f"StructuralRNN: 'schema' must be an STSchema (got {type(schema).__name__})")
        _choice("edge_scope", edge_scope, ("slot", "edge"))
        _choice("aggr", aggr, ("sum", "mean", "max", "attention"))
        _choice("head", head, ("deterministic", "gaussian"))
        if edge_state is None:
            edge_state = "appear" if edge_scope == "edge" else "start"
        _choice("edge_state", edge_state, ("start", "appear"))
        if aggr == "attention" and edge_scope != "edge":
            raise ValueError("StructuralRNN: aggr='attention' weighs each edge's own edgeRNN output, so it "
                             f"needs edge_scope='edge' (got edge_scope={edge_scope!r})")
        if head == "gaussian" and (task != "regression" or out_channels != 2):
            raise ValueError("StructuralRNN: head='gaussian' is a bivariate Gaussian over 2-d positions: it "
                             f"needs task='regression' and out_channels=2 (got task={task!r}, "
                             f"out_channels={out_channels})")
        _choice("task", task, ("regression", "classification"))
        _choice("spatial_features", spatial_features, SPATIAL_FEATURES)
        _choice("temporal_features", temporal_features, TEMPORAL_FEATURES)
        if preset is not None:
            _choice("preset", preset, tuple(PRESETS))
        if residual and (task != "regression" or out_channels > in_channels):
            raise ValueError(f"StructuralRNN: 'residual=True' adds the current frame's first out_channels "
                             f"features, so it needs task='regression' and out_channels <= in_channels "
                             f"(got task={task!r}, {in_channels} -> {out_channels})")
        if "attr" in spatial_features and edge_channels < 1:
            raise ValueError(f"StructuralRNN: spatial_features={spatial_features!r} needs "
                             f"'edge_channels' >= 1 (got {edge_channels})")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"StructuralRNN: 'dropout' must be in [0, 1) (got {dropout})")
        sizes = dict(DEFAULTS, **(PRESETS[preset] if preset else {}))
        given = dict(edge_hidden=edge_hidden, node_hidden=node_hidden, edge_mlp=edge_mlp, node_mlp=node_mlp)
        sizes.update({k: v for k, v in given.items() if v is not None})

        self.edge_hidden = int(sizes["edge_hidden"])
        self.node_hidden = int(sizes["node_hidden"])
        self.edge_mlp = tuple(int(c) for c in sizes["edge_mlp"])
        self.node_mlp = tuple(int(c) for c in sizes["node_mlp"])
        self.edge_scope, self.aggr, self.task = edge_scope, aggr, task
        self.residual, self.dropout, self.num_layers = bool(residual), float(dropout), int(num_layers)
        self.spatial_kind, self.temporal_kind = spatial_features, temporal_features
        self.edge_channels, self.preset = int(edge_channels), preset
        self.spatial, self.head, self.attention_channels = bool(spatial), head, int(attention_channels)
        self.edge_state = edge_state
        self._attention: Optional[Tensor] = None

        F_s = spatial_channels(spatial_features, in_channels, edge_channels)
        F_t = temporal_channels(temporal_features, in_channels)
        block = dict(num_layers=self.num_layers, dropout=self.dropout)
        self.edge_rnns = nn.ModuleList(
            RNNBlock(F_s, self.edge_hidden, pre=self.edge_mlp, **block) for _ in schema.edge_types
        ) if self.spatial else nn.ModuleList()
        self.temporal_rnns = nn.ModuleList(
            RNNBlock(F_t, self.edge_hidden, pre=self.edge_mlp, **block) for _ in schema.node_types
        ) if schema.temporal else nn.ModuleList()
        self.node_rnns = nn.ModuleList()
        for p in range(schema.num_node_types):
            width = in_channels + (self.edge_hidden if schema.temporal else 0) \
                + (len(schema.incoming(p)) * self.edge_hidden if self.spatial else 0)
            self.node_rnns.append(RNNBlock(width, self.node_hidden, post=self.node_mlp,
                                           out_channels=5 if head == "gaussian" else out_channels, **block))
        if aggr == "attention" and self.spatial:
            q_in = self.edge_hidden if schema.temporal else in_channels
            A = self.attention_channels
            self.att_query = nn.Linear(q_in, A * max(len(self.edge_rnns), 1))   # one query per edge type
            self.att_key = nn.ModuleList(nn.Linear(self.edge_hidden, A) for _ in self.edge_rnns)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in list(self.edge_rnns) + list(self.temporal_rnns) + list(self.node_rnns):
            m.reset_parameters()
        if hasattr(self, "att_query"):
            self.att_query.reset_parameters()
            for lin in self.att_key:
                lin.reset_parameters()

    # ---------------------------------------------------------------- layout
    def _layout(self, data: STData, N: int) -> _Layout:
        """Group nodes and edges by type for this batch (one host sync)."""
        schema = self.schema
        P, K = schema.num_node_types, schema.num_edge_types
        x = data.x
        dev = x.device
        node_type = data.get("node_type")
        if node_type is None:
            if P > 1:
                raise ValueError("StructuralRNN: 'node_type' is missing and the schema has "
                                 f"{P} node types")
            node_type = torch.zeros(N, dtype=torch.long, device=dev)
        edge_index = data.edge_index
        E = edge_index.size(1)
        edge_type = data.get("edge_type")
        if edge_type is None:
            if K > 1 and E > 0:
                raise ValueError(f"StructuralRNN: 'edge_type' is missing and the schema has {K} edge types")
            edge_type = torch.zeros(E, dtype=torch.long, device=dev)
        if E > 0 and K == 0:
            raise ValueError(f"StructuralRNN: the graph has {E} edges but the schema has no edge types")
        if node_type.numel() != N or edge_type.numel() != E:
            raise ValueError(f"StructuralRNN: 'node_type' must be [{N}] and 'edge_type' [{E}] "
                             f"(got {list(node_type.shape)} and {list(edge_type.shape)})")

        T = x.size(1)
        for key, rows in (("node_mask", N), ("edge_mask", E)):
            m = data.get(key)
            if m is not None and (m.dtype != torch.bool or tuple(m.shape) != (rows, T)):
                raise ValueError(f"StructuralRNN: '{key}' must be a bool [{rows}, {T}] tensor "
                                 f"(got {list(m.shape)}, {m.dtype})")
        node_perm = torch.argsort(node_type, stable=True)                       # [N]
        node_bins = torch.bincount(node_type, minlength=P)
        edge_bins = torch.bincount(edge_type, minlength=K) if E > 0 else node_bins.new_zeros(K)
        if node_bins.numel() > P or edge_bins.numel() > K:
            raise ValueError(f"StructuralRNN: 'node_type' must lie in [0, {P - 1}] and 'edge_type' "
                             f"in [0, {K - 1}] for this schema")
        counts = torch.cat([node_bins, edge_bins]).tolist()                     # the one host sync
        node_counts, edge_counts = counts[:P], counts[P:]
        node_starts = [0] * P
        for p in range(1, P):
            node_starts[p] = node_starts[p - 1] + node_counts[p - 1]
        node_rank = torch.empty_like(node_perm)
        node_rank[node_perm] = torch.arange(N, device=dev)
        local = node_rank - torch.tensor(node_starts, device=dev)[node_type]   # index within type

        # Slot blocks: edge type k holds one row per node of each type receiving k.
        base = torch.full((P, max(K, 1)), -1, dtype=torch.long)
        slot_blocks, slot_sub, offset = [], [], 0
        for k in range(K):
            start, sub = offset, {}
            for p in schema.receivers(k):
                base[p, k] = offset
                sub[p] = offset - start
                offset += node_counts[p]
            slot_blocks.append((start, offset - start))
            slot_sub.append(sub)
        src, dst = edge_index[0], edge_index[1]
        slot = base.to(dev)[node_type[dst], edge_type] + local[dst]             # [E]
        if E > 0 and bool((slot < local[dst]).any()):  # base -1: a receiver type that cannot take k
            schema.check_edge_types(node_type[src], node_type[dst], edge_type)
        slot_has_edge = torch.zeros(offset, dtype=torch.bool, device=dev)
        slot_has_edge[slot] = True
        edge_perm = torch.argsort(edge_type, stable=True) if self.edge_scope == "edge" else None
        return _Layout(N, node_perm, node_rank, node_counts, node_starts, src, dst, slot,
                       slot_blocks, slot_sub, offset, edge_perm, edge_counts, slot_has_edge)

    # ------------------------------------------------------------------ core
    def _run(self, x: Tensor, data: STData, lay: _Layout, state: Optional[dict], x_prev: Optional[Tensor],
             node_mask: Optional[Tensor], edge_mask: Optional[Tensor]) -> Tuple[Tensor, Tensor, dict]:
        """One pass over ``x`` ``[N, T, F]`` from ``state`` (``None``: zeros).
        ``x_prev`` ``[N, F]`` is the frame before ``x[:, 0]`` (``None``: none).
        Returns outputs ``[N, T, out]``, nodeRNN states ``[N, T, H]`` and the
        final states of every RNN."""
        schema = self.schema
        N, T, _ = x.shape
        K = len(self.edge_rnns)
        new_state: dict = {"edge": [None] * K, "edge_started": [None] * K, "temporal": [], "node": []}
        state = state or {"edge": [None] * K, "edge_started": [None] * K,
                          "temporal": [None] * len(self.temporal_rnns), "node": [None] * len(self.node_rnns)}
        nm = node_mask.unsqueeze(-1).to(x.dtype) if node_mask is not None else None   # [N, T, 1]
        xs = x[lay.node_perm]                                                         # [N, T, F] by type
        nms = nm[lay.node_perm] if nm is not None else None

        # ---- temporal edgeRNNs, one per node type, on type-sorted nodes
        temporal: List[Tensor] = []
        if schema.temporal:
            if x_prev is None:
                prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)                        # x_{t-1}, x_{-1} := x_0
            else:
                prev = torch.cat([x_prev.unsqueeze(1), x[:, :-1]], dim=1)
            if node_mask is not None:  # no difference across an absence: x_{t-1} := x_t
                prev_present = torch.cat([node_mask[:, :1], node_mask[:, :-1]], dim=1)     # [N, T]
                prev = torch.where(prev_present.unsqueeze(-1), prev, x)
            tfeat = temporal_features(self.temporal_kind, x, prev)                    # [N, T, F_t]
            if nm is not None:
                tfeat = tfeat * nm
            tfeat = tfeat[lay.node_perm]
            for p, rnn in enumerate(self.temporal_rnns):
                s, n = lay.node_starts[p], lay.node_counts[p]
                out, st = self._call(rnn, tfeat[s:s + n], state["temporal"][p], T, self.edge_hidden)
                temporal.append(out if nms is None else out * nms[s:s + n])
                new_state["temporal"].append(st)

        # ---- spatial edgeRNNs -> one output block per edge type, rows = slots
        spatial: List[Tensor] = [x.new_zeros(0, T, self.edge_hidden) for _ in range(K)]
        self._attention = None
        if lay.num_slots > 0 and K > 0:
            # Edge presence at each step: the edge and both its ends present.
            em = None
            if edge_mask is not None or node_mask is not None:
                em = edge_mask if edge_mask is not None else torch.ones_like(lay.slot, dtype=torch.bool) \
                    .unsqueeze(-1).expand(-1, T)
                if node_mask is not None:
                    em = em & node_mask[lay.src] & node_mask[lay.dst]                 # [E, T]
            ea = None
            if "attr" in self.spatial_kind:
                ea = data.get("edge_attr")
                if ea is None or ea.dim() != 3 or ea.size(-1) != self.edge_channels:
                    got = list(ea.shape) if isinstance(ea, Tensor) else None
                    raise ValueError(f"StructuralRNN: 'edge_attr' must be [num_edges, T, "
                                     f"{self.edge_channels}] (got {got})")
                ea = ea[:, -T:] if ea.size(1) >= T else ea[:, -1:].expand(-1, T, -1)
            feat = spatial_features(self.spatial_kind, x[lay.dst], x[lay.src], ea)     # [E, T, F_s]
            if em is not None:
                feat = feat * em.unsqueeze(-1).to(x.dtype)
                present = scatter(em.to(x.dtype), lay.slot, dim=0, dim_size=lay.num_slots,
                                  reduce="sum") > 0                                   # [S, T]
            else:
                present = lay.slot_has_edge.unsqueeze(-1)                             # [S, 1]
            if self.edge_scope == "slot":
                agg = scatter(feat, lay.slot, dim=0, dim_size=lay.num_slots, reduce="sum")  # [S, T, F_s]
                spatial = []
                for k, rnn in enumerate(self.edge_rnns):
                    off, rows = lay.slot_blocks[k]
                    pres = present[off:off + rows]
                    if self.edge_state == "appear":
                        out, new_state["edge"][k], new_state["edge_started"][k] = self._call_from_appearance(
                            rnn, agg[off:off + rows], pres.expand(-1, T), state["edge"][k],
                            state["edge_started"][k], T)
                    else:
                        out, new_state["edge"][k] = self._call(rnn, agg[off:off + rows], state["edge"][k], T,
                                                               self.edge_hidden)
                    spatial.append(out * pres.unsqueeze(-1).to(x.dtype))
            else:
                query = None
                if self.aggr == "attention":
                    # the receiver's temporal edgeRNN output (Vemula et al. 2018), or its features
                    query = torch.cat(temporal, 0)[lay.node_rank] if schema.temporal else x  # [N, T, *]
                spatial, new_state["edge"], new_state["edge_started"] = self._edge_scope(
                    feat, em, present, lay, state["edge"], state["edge_started"], T, query)

        # ---- nodeRNNs: own features, temporal output, one slot per incoming edge type
        outs, hids = [], []
        for p, rnn in enumerate(self.node_rnns):
            s, n = lay.node_starts[p], lay.node_counts[p]
            parts = [xs[s:s + n] if nms is None else xs[s:s + n] * nms[s:s + n]]
            if schema.temporal:
                parts.append(temporal[p])
            if self.spatial:
                for k in schema.incoming(p):
                    sub = lay.slot_sub[k][p]
                    parts.append(spatial[k][sub:sub + n])
            if n == 0:
                outs.append(x.new_zeros(0, T, rnn.channels))
                hids.append(x.new_zeros(0, T, self.node_hidden))
                new_state["node"].append(None)
                continue
            y, h, st = rnn(torch.cat(parts, dim=-1), state["node"][p])              # [n, T, out]
            outs.append(y)
            hids.append(h)
            new_state["node"].append(st)
        out = torch.cat(outs, dim=0)[lay.node_rank]                                   # [N, T, out]
        hid = torch.cat(hids, dim=0)[lay.node_rank]                                   # [N, T, H]
        if self.residual:
            F_out = self.out_channels
            out = torch.cat([out[..., :F_out] + x[..., :F_out], out[..., F_out:]], dim=-1)
        if self.head == "gaussian":                                                   # mu, sigma, rho
            out = torch.cat([out[..., :2], out[..., 2:4].clamp(-10, 10).exp(), torch.tanh(out[..., 4:])], -1)
        if nm is not None:
            out, hid = out * nm, hid * nm
        return out, hid, new_state

    def _edge_scope(self, feat: Tensor, em: Optional[Tensor], present: Tensor, lay: _Layout, states: list,
                    started: list, T: int, query: Optional[Tensor]) -> Tuple[List[Tensor], list, list]:
        """One edgeRNN state per edge; outputs aggregated into slots."""
        order = lay.edge_perm
        feat_sorted = feat[order]                                                     # [E, T, F_s]
        emo = em[order] if em is not None else None                                   # [E, T]
        outs, new_states, new_started, off = [], [], [], 0
        for k, rnn in enumerate(self.edge_rnns):
            n = lay.edge_counts[k]
            if self.edge_state == "appear" and emo is not None:
                out, st, on = self._call_from_appearance(rnn, feat_sorted[off:off + n], emo[off:off + n],
                                                         states[k], started[k], T)
            else:
                (out, st), on = self._call(rnn, feat_sorted[off:off + n], states[k], T, self.edge_hidden), None
            outs.append(out)
            new_states.append(st)
            new_started.append(on)
            off += n
        h = torch.cat(outs, dim=0)                                                    # [E, T, H] by type
        slot = lay.slot[order]
        S = lay.num_slots
        if self.aggr == "max":
            if emo is not None:
                h = h.masked_fill(~emo.unsqueeze(-1), float("-inf"))
            agg = scatter(h, slot, dim=0, dim_size=S, reduce="max")                   # [S, T, H]
            agg = torch.where(present.unsqueeze(-1), agg, agg.new_zeros(()))
        elif self.aggr == "attention":
            et_sorted = torch.repeat_interleave(
                torch.arange(len(self.edge_rnns), device=h.device),
                torch.tensor(lay.edge_counts, device=h.device))                       # [E]
            q = self.att_query(query)[lay.dst[order]]                                 # [E, T, K*A]
            q = q.view(q.size(0), T, len(self.edge_rnns), -1)                         # [E, T, K, A]
            q = q.gather(2, et_sorted.view(-1, 1, 1, 1).expand(-1, T, 1, q.size(-1))).squeeze(2)
            key = torch.cat([lin(h[o:o + c]) for lin, o, c in
                             zip(self.att_key, _offsets(lay.edge_counts), lay.edge_counts)], 0)  # [E, T, A]
            score = (q * key).sum(-1) / key.size(-1) ** 0.5                           # [E, T]
            if emo is not None:
                score = score.masked_fill(~emo, torch.finfo(score.dtype).min)
            alpha = softmax(score, slot, num_nodes=S, dim=0)                          # [E, T]
            if emo is not None:
                alpha = alpha * emo.to(alpha.dtype)
            attention = torch.empty_like(alpha)
            attention[order] = alpha
            self._attention = attention
            agg = scatter(h * alpha.unsqueeze(-1), slot, dim=0, dim_size=S, reduce="sum")  # [S, T, H]
        else:
            if emo is not None:
                h = h * emo.unsqueeze(-1).to(h.dtype)
            agg = scatter(h, slot, dim=0, dim_size=S, reduce="sum")                   # [S, T, H]
            if self.aggr == "mean":
                ones = emo.unsqueeze(-1).to(h.dtype) if emo is not None else h.new_ones(h.size(0), 1, 1)
                count = scatter(ones, slot, dim=0, dim_size=S, reduce="sum")          # [S, T or 1, 1]
                agg = agg / count.clamp_min(1)
        blocks = [agg[o:o + r] for o, r in lay.slot_blocks]
        return blocks, new_states, new_started

    def _call_from_appearance(self, rnn: RNNBlock, inp: Tensor, pres: Tensor, state: Optional[LSTMState],
                              started: Optional[Tensor], T: int
                              ) -> Tuple[Tensor, Optional[LSTMState], Optional[Tensor]]:
        """Run ``rnn`` over rows ``inp`` ``[R, T, F]`` whose state starts (from
        ``state``, zeros by default) at each row's first present step of
        ``pres`` ``[R, T]``, unless ``started`` ``[R]`` says it already runs.
        Rows are shifted left by their start, run as one packed sequence and
        shifted back, so there is still one RNN call. Returns outputs (zero
        before the start), final states, and which rows have started."""
        R = inp.size(0)
        if R == 0:
            return inp.new_zeros(0, T, self.edge_hidden), None, None
        if started is None:
            started = torch.zeros(R, dtype=torch.bool, device=inp.device)
        seen = pres.any(dim=1)                                                        # [R]
        first = pres.to(torch.uint8).argmax(dim=1)                                    # first present step
        first = torch.where(started | ~seen, 0, first)          # rows never present run (masked) from 0
        if state is None:
            zeros = inp.new_zeros(rnn.num_layers, R, rnn.hidden)
            state = (zeros, zeros)
        if int(first.max()) == 0:                                                     # nobody starts late
            out, _, new = rnn(inp, state)
        else:
            t = torch.arange(T, device=inp.device)
            fwd = (t + first.unsqueeze(1)).clamp(max=T - 1)                           # [R, T]
            shifted = inp.gather(1, fwd.unsqueeze(-1).expand(-1, -1, inp.size(-1)))
            out, _, new = rnn(shifted, state, lengths=T - first)
            back = (t - first.unsqueeze(1)).clamp(min=0)
            out = out.gather(1, back.unsqueeze(-1).expand(-1, -1, out.size(-1)))
            out = out * (t >= first.unsqueeze(1)).unsqueeze(-1).to(out.dtype)
        idle = (~(started | seen)).view(1, R, 1)                # not started yet: the state stays put
        new = (torch.where(idle, state[0], new[0]), torch.where(idle, state[1], new[1]))
        return out, new, started | seen

    @staticmethod
    def _call(rnn: RNNBlock, inp: Tensor, state: Optional[LSTMState], T: int,
              hidden: int) -> Tuple[Tensor, Optional[LSTMState]]:
        if inp.size(0) == 0:  # a type absent from this batch
            return inp.new_zeros(0, T, hidden), None
        y, _, st = rnn(inp, state)
        return y, st

    # ------------------------------------------------------------------- API
    def forward(self, data: STData, return_hidden: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """One-step-ahead predictions (or per-step logits) ``[N, T, out]``;
        with ``return_hidden`` also the nodeRNN states ``[N, T, node_hidden]``."""
        x = self._check_input(data)
        lay = self._layout(data, x.size(0))
        out, hid, _ = self._run(x, data, lay, None, None, data.get("node_mask"), data.get("edge_mask"))
        return (out, hid) if return_hidden else out

    def embed(self, data: STData) -> Tensor:
        """The nodeRNN states ``[N, T, node_hidden]``: S-RNN as a layer inside a
        larger PyG model."""
        return self.forward(data, return_hidden=True)[1]

    def attention(self, data: STData) -> Tensor:
        """The attention weights ``[E, T]`` of ``aggr="attention"`` on ``data``:
        over each node's present incoming edges of one type they sum to one;
        absent edges get zero."""
        if self.aggr != "attention":
            raise ValueError(f"StructuralRNN: attention() needs aggr='attention' (got {self.aggr!r})")
        self.forward(data)
        if self._attention is None:
            return data.x.new_zeros(data.edge_index.size(1), data.x.size(1))
        return self._attention

    def forecast(self, data: STData, horizon: int, num_samples: Optional[int] = None) -> Tensor:
        r"""Predict ``[N, horizon, out_channels]`` after the observed ``data.x``.

        Warms up with one full-sequence call per type, then rolls out one step
        at a time, carrying every RNN state and recomputing the edge features
        from the model's own predictions: cost linear in ``horizon``. Nodes and
        edges keep their presence at the last observed step.

        With ``head="gaussian"`` the rollout follows the predicted means, or,
        with ``num_samples=K``, draws ``K`` trajectories (each step sampled from
        its bivariate Gaussian and fed back) and returns ``[K, N, horizon, 2]``.
        """
        x = self._check_input(data, horizon)
        if self.task != "regression" or self.out_channels != self.in_channels:
            raise ValueError(f"StructuralRNN: forecast feeds predictions back as inputs, so it needs "
                             f"task='regression' and out_channels == in_channels (got task="
                             f"{self.task!r}, {self.in_channels} -> {self.out_channels})")
        if num_samples is not None:
            if self.head != "gaussian":
                raise ValueError("StructuralRNN: 'num_samples' needs head='gaussian'")
            if not isinstance(num_samples, int) or num_samples < 1:
                raise ValueError(f"StructuralRNN: 'num_samples' must be a positive int (got {num_samples!r})")
            N = x.size(0)
            pred = self._rollout(_tile(data, num_samples), horizon, sample=True)      # [K*N, H, 2]
            return pred.view(num_samples, N, horizon, -1)
        return self._rollout(data, horizon, sample=False)

    def _rollout(self, data: STData, horizon: int, sample: bool) -> Tensor:
        x = data.x
        lay = self._layout(data, x.size(0))
        nm, em = data.get("node_mask"), data.get("edge_mask")
        out, _, state = self._run(x, data, lay, None, None, nm, em)
        nm_last = nm[:, -1:] if nm is not None else None                            # [N, 1]
        em_last = em[:, -1:] if em is not None else None                            # [E, 1]
        step = self._next_input(out[:, -1:], sample)                                # [N, 1, F]
        if nm_last is not None:
            step = step * nm_last.unsqueeze(-1).to(step.dtype)
        preds, prev = [step], x[:, -1]
        for _ in range(horizon - 1):
            nxt, _, state = self._run(step, data, lay, state, prev, nm_last, em_last)
            prev, step = step[:, 0], self._next_input(nxt, sample)
            if nm_last is not None:
                step = step * nm_last.unsqueeze(-1).to(step.dtype)
            preds.append(step)
        return torch.cat(preds, dim=1)                                              # [N, horizon, F]

    def _next_input(self, out: Tensor, sample: bool) -> Tensor:
        """The prediction fed back: the output, the Gaussian mean, or a draw from it."""
        if self.head != "gaussian":
            return out
        mu = out[..., :2]
        if not sample:
            return mu
        sx, sy, rho = out[..., 2], out[..., 3], out[..., 4]
        z1, z2 = torch.randn_like(sx), torch.randn_like(sx)
        dx = sx * z1
        dy = sy * (rho * z1 + (1 - rho ** 2).clamp_min(0).sqrt() * z2)
        return mu + torch.stack([dx, dy], dim=-1)

    def __repr__(self) -> str:
        s = self.schema
        return (f"{type(self).__name__}(schema={s.num_node_types} node/{s.num_edge_types} edge types, "
                f"{self.in_channels}, {self.out_channels}, edge_scope={self.edge_scope!r}, "
                f"aggr={self.aggr!r}, task={self.task!r}" + ("" if self.spatial else ", spatial=False")
                + ("" if self.head == "deterministic" else f", head={self.head!r}") + ")")


def _tile(data: STData, k: int) -> STData:
    """``k`` copies of a (batched) graph as one disjoint graph, node-major: copy ``c`` holds
    nodes ``c * N .. (c + 1) * N - 1``."""
    N, E = data.num_nodes, data.edge_index.size(1)
    out = STData(x=data.x.repeat(k, 1, 1))
    shift = (torch.arange(k, device=data.x.device) * N).repeat_interleave(E)         # [k*E]
    out.edge_index = data.edge_index.repeat(1, k) + shift
    for key in ("node_type", "node_mask", "edge_type", "edge_mask", "edge_attr"):
        v = data.get(key)
        if v is not None:
            out[key] = v.repeat(k, *([1] * (v.dim() - 1)))
    return out


def _offsets(counts: Sequence[int]) -> List[int]:
    out, total = [], 0
    for c in counts:
        out.append(total)
        total += c
    return out


def _choice(name: str, value: object, options: Sequence[object]) -> None:
    if value not in options:
        raise ValueError(f"StructuralRNN: '{name}' must be one of {list(options)} (got {value!r})")
