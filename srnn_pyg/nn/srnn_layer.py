r"""The S-RNN computation as a PyG-style layer: tensors in, explicit state out."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numbers

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter, softmax

from ..schema import STSchema
from .args import count, flag, sizes
from .checks import (check_graph_inputs, check_layer_args, check_values, first_probe, model_dtype,
                     raise_value_errors, range_probe, select, value_probes)
from .features import (SPATIAL_FEATURES, TEMPORAL_FEATURES, spatial_channels, spatial_features,
                       temporal_channels, temporal_features)
from .rnn_block import LSTMState, RNNBlock
from .state import GraphLayout, SRNNState, other_graph, version_of
from .variants import choice, variant_options

__all__ = ["SRNNLayer", "SRNNState", "GraphLayout"]


class SRNNLayer(nn.Module):
    r"""The computation of `Structural-RNN (Jain et al., CVPR 2016)
    <https://arxiv.org/abs/1511.05298>`_ over a typed spatio-temporal graph, as
    a layer: node features over time in, nodeRNN states over time and an
    explicit recurrent state out.

    Every spatial edge type :math:`k` has one edgeRNN, every node type
    :math:`\tau` a temporal edgeRNN and a nodeRNN, shared by all edges and
    nodes of that type. For node :math:`i` of type :math:`\tau` at step
    :math:`t` (``edge_scope="slot"``, the paper's one edgeRNN state per node
    and edge type; the nodeRNN input is the improved variant's, the paper
    variant's leaves out :math:`\mathbf{x}_{i,t}`):

    .. math::
        \mathbf{s}_{i,k,t} = \mathrm{edgeRNN}_k\Big(\sum_{j \in \mathcal{N}_k(i)}
        \phi(\mathbf{x}_{i,t}, \mathbf{x}_{j,t})\Big), \quad
        \mathbf{u}_{i,t} = \mathrm{edgeRNN}_\tau^{temp}\big(\psi(\mathbf{x}_{i,t},
        \mathbf{x}_{i,t-1})\big)

    .. math::
        \mathbf{h}_{i,t} = \mathrm{LSTM}_\tau\big(\mathbf{x}_{i,t} \,\|\,
        \mathbf{u}_{i,t} \,\|\, \mathbf{s}_{i,k_1,t} \,\|\, \dots \,\|\, \mathbf{s}_{i,k_m,t}\big)

    where :math:`k_1, \dots, k_m` are the edge types arriving at :math:`\tau`
    (:meth:`STSchema.incoming`) and :math:`\mathbf{s}_{i,k,t} = 0` while node
    :math:`i` has no present edge of type :math:`k`. With ``edge_scope="edge"``
    every edge runs its own edgeRNN state and the outputs are aggregated per
    ``(node, edge type)`` with ``aggr``.

    One RNN call per type over the whole sequence (edgeRNN inputs never depend
    on nodeRNN states) and one scatter per aggregation: no Python loop over
    nodes, edges or time steps. Passing the returned ``state`` to the next
    call continues the sequence exactly (chunks, or one frame at a time for a
    live stream, at constant cost per frame); the state belongs to the graph
    it was computed on (same nodes, edges and types).

    Args:
        schema (STSchema): node and edge types.
        in_channels (int): node features ``F``.
        edge_hidden (int, optional): edgeRNN LSTM (or GRU) size. (default: :obj:`64`)
        node_hidden (int, optional): nodeRNN LSTM (or GRU) size. (default: :obj:`64`)
        edge_mlp (tuple[int], optional): edgeRNN encoder layers before its
            LSTM. (default: :obj:`(64,)`)
        edge_scope (str, optional): ``"slot"`` or ``"edge"``. (default: :obj:`"slot"`)
        aggr (str, optional): ``"sum"``, ``"mean"``, ``"max"`` or
            ``"attention"``; all but ``"sum"`` need ``edge_scope="edge"``.
            (default: :obj:`"sum"`)
        edge_state (str, optional): ``"start"`` or ``"appear"``: when a
            spatial edgeRNN state starts. (default: ``"appear"`` for the edge
            scope, ``"start"`` for the slot scope)
        dropout (float, optional): dropout in every RNN block. (default: :obj:`0.`)
        num_layers (int, optional): recurrent layers per block. (default: :obj:`1`)
        spatial_features (str, optional): see :mod:`srnn_pyg.nn.features`.
            (default: :obj:`"concat"`)
        temporal_features (str, optional): (default: :obj:`"concat_diff"`)
        edge_channels (int, optional): width of ``edge_attr``. (default: :obj:`0`)
        spatial (bool, optional): :obj:`False` drops the spatial edgeRNNs
            (the "no structure" ablation). (default: :obj:`True`)
        attention_channels (int, optional): query/key width of
            ``aggr="attention"``. (default: :obj:`32`)
        variant (str, optional): ``"improved"`` (this library's blocks) or
            ``"paper"``, the official code's: spatial edgeRNNs FC (ReLU),
            FC (linear), a peephole LSTM whose output is followed by its own
            input (``input_output_fused``); temporal edges FC (ReLU), FC
            (linear) without an LSTM; nodeRNNs reading only the edgeRNN
            outputs (not ``x``), fused peephole LSTMs; uniform
            :math:`\pm 0.05` initialisation; and, unless given, spatial
            features ordered by edge type (``"concat_typed"``), temporal
            features ``"x"``, the state-gradient clip 25. See ``docs/paper.md``.
            (default: :obj:`"improved"`)
        cell (str, optional): the recurrent cell, ``"lstm"``, ``"gru"`` or
            ``"peephole"``. (default: ``"lstm"``; ``"peephole"`` for the paper
            variant)
        lstm_grad_clip (float, optional): the peephole cell's clip of the
            gradient through its state. (default: :obj:`None`; :obj:`25.` for
            the paper variant with ``cell="peephole"``)
        fused_lstm (bool, optional): edgeRNN and nodeRNN LSTM outputs are
            followed by their own inputs. (default: by ``variant``: paper only)
        temporal_lstm (bool, optional): the temporal edgeRNN has an LSTM.
            (default: by ``variant``: improved only)
        linear_encoder (bool, optional): the last edgeRNN encoder layer is
            linear. (default: :obj:`True` in both variants; the improved
            variant had :obj:`False` before version 0.2)
        node_input_x (bool, optional): the nodeRNN reads the node's own
            features besides its edgeRNNs' outputs. (default: by ``variant``:
            improved only)
        init (str, optional): ``"default"`` (PyTorch's) or ``"uniform"``
            (:math:`\pm 0.05`, zero biases). (default: ``"uniform"`` in both
            variants; the improved variant had ``"default"`` before version
            0.2)

        The last five, with ``cell``, ``spatial_features`` and
        ``temporal_features``, switch the items of the two variants one by one
        (the ablations of ``docs/paper.md``).

    Shapes:
        - **input:** ``x`` ``[N, T, F]``, ``edge_index`` ``[2, E]``, optional
          ``node_type`` ``[N]``, ``edge_type`` ``[E]``, ``node_mask``
          ``[N, T]``, ``edge_mask`` ``[E, T]``, ``edge_attr`` ``[E, T, F_e]``
          (or ``[E, 1, F_e]``, held over time), ``state``
          (:class:`SRNNState`)
        - **output:** ``[N, T, out_channels]`` nodeRNN outputs (zero where a
          node is absent; ``out_channels`` is ``node_hidden``, plus the
          nodeRNN's input width for the paper variant's fused LSTM) and the
          :class:`SRNNState` after the last step
    """

    def __init__(self, schema: STSchema, in_channels: int, *, edge_hidden: int = 64, node_hidden: int = 64,
                 edge_mlp: Sequence[int] = (64,), edge_scope: str = "slot", aggr: str = "sum",
                 edge_state: Optional[str] = None, dropout: float = 0.0, num_layers: int = 1,
                 spatial_features: Optional[str] = None, temporal_features: Optional[str] = None,
                 edge_channels: int = 0, spatial: bool = True, attention_channels: int = 32,
                 variant: str = "improved", cell: Optional[str] = None, lstm_grad_clip: Optional[float] = None,
                 fused_lstm: Optional[bool] = None, temporal_lstm: Optional[bool] = None,
                 linear_encoder: Optional[bool] = None, node_input_x: Optional[bool] = None,
                 init: Optional[str] = None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(schema, STSchema):
            raise TypeError(f"{name}: 'schema' must be an STSchema (got {type(schema).__name__})")
        in_channels, edge_hidden = count(name, "in_channels", in_channels), count(name, "edge_hidden", edge_hidden)
        node_hidden, num_layers = count(name, "node_hidden", node_hidden), count(name, "num_layers", num_layers)
        attention_channels = count(name, "attention_channels", attention_channels)
        opts = variant_options(name, variant, spatial_features, temporal_features, cell, lstm_grad_clip, init,
                               dict(fused_lstm=fused_lstm, temporal_lstm=temporal_lstm,
                                    linear_encoder=linear_encoder, node_input_x=node_input_x))
        spatial_features, temporal_features = opts["spatial_features"], opts["temporal_features"]
        cell, lstm_grad_clip, init, items = opts["cell"], opts["lstm_grad_clip"], opts["init"], opts
        choice(name, "edge_scope", edge_scope, ("slot", "edge"))
        choice(name, "aggr", aggr, ("sum", "mean", "max", "attention"))
        if edge_state is None:
            edge_state = "appear" if edge_scope == "edge" else "start"
        choice(name, "edge_state", edge_state, ("start", "appear"))
        if aggr == "attention" and edge_scope != "edge":
            raise ValueError(f"{name}: aggr='attention' weighs each edge's own edgeRNN output, so it "
                             f"needs edge_scope='edge' (got edge_scope={edge_scope!r})")
        if aggr != "sum" and edge_scope == "slot":
            raise ValueError(f"{name}: aggr={aggr!r} aggregates each edge's own edgeRNN output, so it needs "
                             f"edge_scope='edge'; edge_scope='slot' sums the features of a node's edges of one "
                             f"type before one edgeRNN per slot (the paper) and takes only aggr='sum' "
                             f"(got aggr={aggr!r}, edge_scope={edge_scope!r})")
        choice(name, "spatial_features", spatial_features, SPATIAL_FEATURES)
        choice(name, "temporal_features", temporal_features, TEMPORAL_FEATURES)
        check_layer_args(name, edge_mlp, edge_channels, dropout, spatial_features)
        self.schema, self.in_channels = schema, in_channels
        self.edge_hidden, self.node_hidden = edge_hidden, node_hidden
        self.edge_mlp = sizes(name, "edge_mlp", edge_mlp, example="(64,) or () for none")
        self.edge_scope, self.aggr, self.edge_state = edge_scope, aggr, edge_state
        self.dropout, self.num_layers = float(dropout), num_layers
        self.spatial_kind, self.temporal_kind = spatial_features, temporal_features
        self.edge_channels, self.spatial = int(edge_channels), flag(name, "spatial", spatial)
        self.attention_channels = attention_channels
        self.variant, self.cell, self.init = variant, cell, init
        self.lstm_grad_clip = None if lstm_grad_clip is None else float(lstm_grad_clip)
        self.fused_lstm, self.temporal_lstm = items["fused_lstm"], items["temporal_lstm"]
        self.linear_encoder, self.node_input_x = items["linear_encoder"], items["node_input_x"]

        F_s = spatial_channels(spatial_features, in_channels, edge_channels)
        F_t = temporal_channels(temporal_features, in_channels)
        block = dict(num_layers=num_layers, dropout=self.dropout, cell=cell, init=init, grad_clip=self.lstm_grad_clip)
        # The paper's edgeRNN: FC (ReLU), FC (linear), fused LSTM; its temporal edge has no LSTM.
        edge = dict(block, pre=self.edge_mlp, pre_last_linear=self.linear_encoder, fused=self.fused_lstm)
        temporal = edge if self.temporal_lstm else dict(edge, cell=None, fused=False, grad_clip=None)
        self.edge_rnns = nn.ModuleList(
            RNNBlock(F_s, edge_hidden, **edge) for _ in schema.edge_types
        ) if self.spatial else nn.ModuleList()
        self.temporal_rnns = nn.ModuleList(
            RNNBlock(F_t, edge_hidden, **temporal) for _ in schema.node_types
        ) if schema.temporal else nn.ModuleList()
        #: output widths of a spatial and of a temporal edgeRNN
        self.spatial_width = self.edge_rnns[0].channels if len(self.edge_rnns) else 0
        self.temporal_width = self.temporal_rnns[0].channels if len(self.temporal_rnns) else 0
        self.node_rnns = nn.ModuleList()
        for p in range(schema.num_node_types):
            width = (in_channels if self.node_input_x else 0) + self.temporal_width \
                + (len(schema.incoming(p)) * self.spatial_width if self.spatial else 0)
            if width == 0:
                raise ValueError(f"{name}: node_input_x=False feeds a nodeRNN only its edgeRNNs' outputs, and "
                                 f"node type {schema.node_types[p]!r} would get none (temporal="
                                 f"{schema.temporal}, spatial={self.spatial}, incoming edge types "
                                 f"{len(schema.incoming(p))})")
            self.node_rnns.append(RNNBlock(width, node_hidden, fused=self.fused_lstm, **block))
        if aggr == "attention" and self.spatial:
            q_in = self.temporal_width if schema.temporal else in_channels
            A = attention_channels
            self.att_query = nn.Linear(q_in, A * max(len(self.edge_rnns), 1))   # one query per edge type
            self.att_key = nn.ModuleList(nn.Linear(self.spatial_width, A) for _ in self.edge_rnns)
        self.reset_parameters()

    @property
    def out_channels(self) -> int:
        """Width of the layer's output: ``node_hidden``, or for the paper
        variant's fused nodeRNNs the widest :meth:`node_channels` (node types
        with fewer incoming edge types are zero-padded on the right)."""
        return max(self.node_channels(p) for p in range(self.schema.num_node_types))

    def node_channels(self, node_type: int) -> int:
        """Width of the real output of nodes of type ``node_type`` (index):
        ``node_hidden``, or ``[h, nodeRNN input]`` when fused."""
        return self.node_rnns[node_type].rnn_channels

    def reset_parameters(self) -> None:
        for m in list(self.edge_rnns) + list(self.temporal_rnns) + list(self.node_rnns):
            m.reset_parameters()
        if hasattr(self, "att_query"):
            self.att_query.reset_parameters()
            for lin in self.att_key:
                lin.reset_parameters()

    def gradient_checkpointing(self, enable: bool = True) -> "SRNNLayer":
        """Activation checkpointing for every edgeRNN, temporal and nodeRNN
        block: the backward pass runs each block again instead of keeping its
        activations (the same gradients, bit for bit on CPU; less memory for
        more compute). Returns ``self``."""
        if not isinstance(enable, bool):
            raise TypeError(f"SRNNLayer: 'enable' must be a bool (got {enable!r})")
        for m in self.modules():
            if isinstance(m, RNNBlock):
                m.checkpointing = enable
        return self

    # ---------------------------------------------------------------- layout
    def layout(self, x: Tensor, edge_index: Tensor, node_type: Optional[Tensor],
               edge_type: Optional[Tensor], *, node_mask: Optional[Tensor] = None,
               check_finite: bool = True, num_receivers: Optional[int] = None) -> GraphLayout:
        """Group the nodes and edges of a graph by type, in one host sync,
        which also checks the values: types and ``edge_index`` in range, every
        edge's endpoint types fitting its edge type, (``check_finite``) no
        NaN/Inf in ``x`` at a step where its node is present (``node_mask``),
        and, with ``num_receivers``, every edge ending at one of the first
        ``num_receivers`` nodes (the only ones grouped: the others are sources)."""
        schema = self.schema
        P, K = schema.num_node_types, schema.num_edge_types
        N, E, dev = x.size(0), edge_index.size(1), x.device
        R = N if num_receivers is None else num_receivers
        given = (edge_index, node_type, edge_type)             # as handed in, for GraphLayout.same_graph
        if node_type is None:
            node_type = torch.zeros(N, dtype=torch.long, device=dev)
        if edge_type is None:
            edge_type = torch.zeros(E, dtype=torch.long, device=dev)
        node_perm = torch.argsort(node_type[:R], stable=True)                   # [R]
        # Clamped copies keep every gather in bounds until the sync below reports the true ranges.
        nt = node_type.clamp(0, P - 1)
        nr = nt[:R]
        probes = [torch.zeros(P, dtype=torch.long, device=dev).scatter_add_(0, nr, torch.ones_like(nr)),
                  range_probe(node_type)]                                            # counts, min/max
        if E > 0:
            et = edge_type.clamp(0, max(K - 1, 0))
            ends = edge_index.clamp(0, max(N - 1, 0))
            fits = schema.edge_fit(dev)[et, nt[ends[0]], nt[ends[1]]] if N > 0 and K > 0 \
                else torch.zeros(E, dtype=torch.bool, device=dev)               # [E]
            probes += [torch.zeros(K, dtype=torch.long, device=dev).scatter_add_(0, et, torch.ones_like(et)),
                       range_probe(edge_type), range_probe(edge_index), first_probe(~fits)]
        if check_finite:
            probes += value_probes(x, node_mask)
        if R < N:
            probes.append(first_probe(edge_index[1] >= R))
        values = torch.cat(probes).tolist()                                     # the one host sync
        if R < N:
            outside, values = values[-2:], values[:-2]
            if outside[0]:
                e = outside[1]
                raise ValueError(f"{type(self).__name__}: with num_receivers={R} every edge must end at one of "
                                 f"the first {R} nodes (got edge {e} into node {int(edge_index[1, e])})")
        node_counts = values[:P]
        edge_counts = values[P + 2:P + 2 + K] if E > 0 else [0] * K
        self._check_values(x, edge_index, node_type, edge_type, values, check_finite)
        node_starts = [0] * P
        for p in range(1, P):
            node_starts[p] = node_starts[p - 1] + node_counts[p - 1]
        node_rank = torch.empty_like(node_perm)
        node_rank[node_perm] = torch.arange(R, device=dev)
        local = node_rank - torch.tensor(node_starts, device=dev)[node_type[:R]]   # index within type

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
        slot_has_edge = torch.zeros(offset, dtype=torch.bool, device=dev)
        slot_has_edge[slot] = True
        edge_perm = torch.argsort(edge_type, stable=True) if self.edge_scope == "edge" else None
        swap = None
        if self.spatial_kind == "concat_typed":   # the official order: the edge type's first node type first
            first = torch.tensor([schema.node_type_index(et.src) for et in schema.edge_types] or [0],
                                 dtype=torch.long, device=dev)
            swap = node_type[dst] != first[edge_type]                               # [E]
        given = tuple((t, version_of(t)) if t is not None else (None, None) for t in given)
        return GraphLayout(R, E, node_perm, node_rank, node_counts, node_starts, src, dst, slot,
                           slot_blocks, slot_sub, offset, edge_perm, edge_counts, slot_has_edge, swap, N,
                           node_type.clone(), edge_type.clone(), edge_index.clone(), given)

    def _check_values(self, x: Tensor, edge_index: Tensor, node_type: Tensor, edge_type: Tensor,
                      values: List[int], check_finite: bool) -> None:
        """Raise for the values :meth:`layout` read in its sync."""
        name, schema = type(self).__name__, self.schema
        P, K = schema.num_node_types, schema.num_edge_types
        N, E = x.size(0), edge_index.size(1)
        lo, hi = values[P:P + 2]
        if N > 0 and (lo < 0 or hi >= P):
            raise ValueError(f"{name}: 'node_type' must lie in [0, {P - 1}] for this schema "
                             f"(got values in [{lo}, {hi}])")
        if E > 0:
            at = P + 2 + K
            lo, hi = values[at:at + 2]
            if lo < 0 or hi >= K:
                raise ValueError(f"{name}: 'edge_type' must lie in [0, {K - 1}] for this schema "
                                 f"(got values in [{lo}, {hi}])")
            lo, hi = values[at + 2:at + 4]
            if lo < 0 or hi >= N:
                raise ValueError(f"{name}: 'edge_index' must lie in [0, {N - 1}] for {N} nodes "
                                 f"(got values in [{lo}, {hi}])")
            if values[at + 4]:
                e = values[at + 5]
                et = schema.edge_types[int(edge_type[e])]
                s, d = (schema.node_types[int(node_type[edge_index[i, e]])] for i in (0, 1))
                raise ValueError(f"{name}: 'edge_type' must fit each edge's endpoint node types in the "
                                 f"schema (got edge {e} of type {tuple(et[:3])} from a {s!r} node to a "
                                 f"{d!r} node, edge_index[:, {e}] = {edge_index[:, e].tolist()})")
        if check_finite:
            raise_value_errors(name, x, values[-2:])

    # ------------------------------------------------------------------- API
    def forward(self, x: Tensor, edge_index: Tensor, node_type: Optional[Tensor] = None,
                edge_type: Optional[Tensor] = None, *, node_mask: Optional[Tensor] = None,
                edge_mask: Optional[Tensor] = None, edge_attr: Optional[Tensor] = None,
                state: Optional[SRNNState] = None, validate: bool = True,
                order: str = "input", check_finite: Optional[bool] = None,
                num_receivers: Optional[int] = None) -> Tuple[Tensor, SRNNState]:
        """Run the layer over ``x`` ``[N, T, F]`` from ``state`` (zeros when
        :obj:`None`); returns the nodeRNN outputs ``[N, T, out_channels]`` and
        the state after the last step. ``validate=False`` skips the input
        checks (for inner loops that checked once already): shapes and dtypes,
        and the scan for NaN/Inf in ``x`` at present steps (``check_finite``,
        which defaults to ``validate``); type and index ranges are always
        checked, in the layout's one host sync. ``order="type"``
        returns the rows sorted by node type instead of in input order (row
        ``r`` is node ``state.layout.node_perm[r]``; ``out[state.layout.node_rank]``
        restores the input order), so that a per-type readout needs no gather.

        ``num_receivers=R``: only the first ``R`` nodes get outputs and a
        state (``[R, T, out_channels]``); the others are read as the sources
        of edges, every one of which must end at one of the first ``R``. This
        is a one-hop batch of seed nodes (:class:`~srnn_pyg.loader.OneHopLoader`:
        seeds first): the seeds' rows are exactly those of the full call, for
        the cost of the seeds alone instead of every row of the batch."""
        if order not in ("input", "type"):
            raise ValueError(f"{type(self).__name__}: 'order' must be 'input' or 'type' (got {order!r})")
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__}: 'x' must be a tensor [N, T, F={self.in_channels}] "
                            f"(got {type(x).__name__})")
        if num_receivers is not None and (isinstance(num_receivers, bool)
                                          or not isinstance(num_receivers, numbers.Integral)
                                          or not 0 <= num_receivers <= x.size(0)):
            raise ValueError(f"{type(self).__name__}: 'num_receivers' must be an int in [0, {x.size(0)}] "
                             f"(the rows of x) or None (got {num_receivers!r})")
        R = x.size(0) if num_receivers is None else int(num_receivers)
        if validate:
            check_graph_inputs(type(self).__name__, self.schema, self.in_channels, x, edge_index, node_type,
                               edge_type, node_mask, edge_mask, edge_attr,
                               self.edge_channels if "attr" in self.spatial_kind else None, model_dtype(self))
            if state is not None and (not isinstance(state, SRNNState)
                                      or state.layout.num_nodes != R
                                      or (state.layout.num_sources or R) != x.size(0)
                                      or state.layout.num_edges != edge_index.size(1)):
                got = (f"a state of {state.layout.num_nodes} nodes and {state.layout.num_edges} edges"
                       if isinstance(state, SRNNState) else type(state).__name__)
                raise ValueError(f"{type(self).__name__}: 'state' must be an SRNNState of the same graph "
                                 f"({x.size(0)} nodes, {edge_index.size(1)} edges; got {got})")
            if state is not None and not state.layout.same_graph(edge_index, node_type, edge_type):
                raise ValueError(other_graph(type(self).__name__))
            if state is not None:
                self.check_state(state)
        if state is not None and (validate if check_finite is None else check_finite):
            check_values(type(self).__name__, x, node_mask)              # no layout sync to fold it into
        lay = state.layout if state is not None else \
            self.layout(x, edge_index, node_type, edge_type, node_mask=node_mask,
                        check_finite=validate if check_finite is None else check_finite,
                        num_receivers=None if R == x.size(0) else R)
        hid, new = self._run(x, lay, state, node_mask, edge_mask, edge_attr)
        return (hid if order == "type" else hid[lay.node_rank]), new

    def check_state(self, state: SRNNState, owner: Optional[str] = None) -> None:
        """Raise a :class:`ValueError` naming ``'state'`` unless every
        recurrent state in ``state`` has the rows, layers and widths this
        layer gives its graph (a state made by a layer of other widths, cells
        or edge scope fails here, not inside the RNN)."""
        owner = owner or type(self).__name__
        lay = state.layout
        edge_rows = [lay.slot_blocks[k][1] if self.edge_scope == "slot" else lay.edge_counts[k]
                     for k in range(len(self.edge_rnns))] if len(lay.slot_blocks) >= len(self.edge_rnns) else []
        groups = [("edge", state.edge, self.edge_rnns, edge_rows),
                  ("temporal", state.temporal, self.temporal_rnns, lay.node_counts),
                  ("node", state.node, self.node_rnns, lay.node_counts)]
        for what, states, blocks, rows in groups:
            if len(states) != len(blocks) or len(rows) != len(blocks):
                raise ValueError(f"{owner}: 'state' was not made by this layer: it has {len(states)} {what} "
                                 f"states where this layer has {len(blocks)} {what}RNNs")
            for k, (st, block, n) in enumerate(zip(states, blocks, rows)):
                if st is None:
                    continue
                want = None
                if block.stateful:
                    want = [[block.num_layers, n, block.hidden],
                            [block.num_layers, n, 0 if block.cell == "gru" else block.hidden]]
                got = [list(t.shape) for t in st] if isinstance(st, tuple) and \
                    all(isinstance(t, Tensor) for t in st) else type(st).__name__
                if got != want:
                    raise ValueError(f"{owner}: 'state' was not made by this layer (widths, cells or "
                                     f"edge_scope={self.edge_scope!r} differ): {what} state {k} must be (h, c) "
                                     f"of shapes {want} (got {got})")

    # ------------------------------------------------------------------ core
    def _run(self, x: Tensor, lay: GraphLayout, state: Optional[SRNNState], node_mask: Optional[Tensor],
             edge_mask: Optional[Tensor], edge_attr: Optional[Tensor]) -> Tuple[Tensor, SRNNState]:
        """The whole computation; nodeRNN outputs come back sorted by node type.
        ``x`` and ``node_mask`` cover every row (sources too); node-level work
        covers the layout's ``num_nodes`` receivers, the first rows."""
        schema = self.schema
        T = x.size(1)
        K = len(self.edge_rnns)
        R = lay.num_nodes
        xr = x if R == x.size(0) else x[:R]                                           # the receivers
        nmr = node_mask if node_mask is None or R == x.size(0) else node_mask[:R]
        # Masks select (torch.where), never multiply: NaN/Inf at absent steps must not leak.
        nms = nmr[lay.node_perm] if nmr is not None else None                        # [R, T] by type

        temporal, temporal_states = self._temporal(xr, lay, state, nmr)
        em = None
        if node_mask is not None or edge_mask is not None:     # an edge is present when it and both ends are
            em = edge_mask if edge_mask is not None else \
                torch.ones(lay.num_edges, T, dtype=torch.bool, device=x.device)
            if node_mask is not None:
                em = em & node_mask[lay.src] & node_mask[lay.dst]                    # [E, T]
        spatial: List[Tensor] = [x.new_zeros(0, T, self.spatial_width) for _ in range(K)]
        edge_states: List = list(state.edge) if state is not None else [None] * K
        started: List = list(state.edge_started) if state is not None else [None] * K
        attention = None
        if lay.num_slots > 0 and K > 0:
            query = None
            if self.aggr == "attention":  # the receiver's temporal edgeRNN output (Vemula et al. 2018)
                query = torch.cat(temporal, 0)[lay.node_rank] if schema.temporal else xr     # [R, T, *]
            spatial, edge_states, started, attention = self._spatial(x, lay, em, edge_attr, edge_states,
                                                                     started, query)

        # nodeRNNs: own features (not in the paper), temporal output, one slot per incoming edge type
        xs = xr[lay.node_perm] if self.node_input_x else None                        # [R, T, F] by type
        width = self.out_channels
        hids, node_states = [], []
        for p, rnn in enumerate(self.node_rnns):
            s, n = lay.node_starts[p], lay.node_counts[p]
            if n == 0:
                hids.append(x.new_zeros(0, T, width))
                node_states.append(None)
                continue
            ms = nms[s:s + n] if nms is not None else None
            parts = [select(ms, xs[s:s + n])] if xs is not None else []
            if schema.temporal:
                parts.append(temporal[p])
            if self.spatial:
                for k in schema.incoming(p):
                    sub = lay.slot_sub[k][p]
                    parts.append(spatial[k][sub:sub + n])
            _, h, st = rnn(torch.cat(parts, dim=-1), state.node[p] if state is not None else None)
            if h.size(-1) < width:                          # fused outputs of narrower types: zero-padded
                h = torch.nn.functional.pad(h, (0, width - h.size(-1)))
            hids.append(select(ms, h))                                               # [n, T, H]
            node_states.append(st)
        hid = torch.cat(hids, dim=0)                                                  # [N, T, H] by type
        last_present = nmr[:, -1] if nmr is not None else None
        return hid, SRNNState(tuple(edge_states), tuple(started), tuple(temporal_states), tuple(node_states),
                              xr[:, -1], last_present, lay, attention)

    def _temporal(self, x: Tensor, lay: GraphLayout, state: Optional[SRNNState],
                  node_mask: Optional[Tensor]) -> Tuple[List[Tensor], List]:
        """Temporal edgeRNN outputs per node type (type-sorted rows) and states."""
        if not self.schema.temporal:
            return [], []
        if state is None:
            prev = torch.cat([x[:, :1], x[:, :-1]], dim=1)                             # x_{t-1}, x_{-1} := x_0
        else:
            prev = torch.cat([state.last_x.unsqueeze(1), x[:, :-1]], dim=1)
        known = state is not None and state.last_present is not None    # the last call had a mask
        if node_mask is not None or known:  # no difference across an absence: x_{t-1} := x_t
            now = node_mask if node_mask is not None else \
                torch.ones(x.size(0), x.size(1), dtype=torch.bool, device=x.device)   # no mask: all present
            before = state.last_present.unsqueeze(1) if known else now[:, :1]
            prev_present = torch.cat([before, now[:, :-1]], dim=1)                     # [N, T]
            prev = torch.where(prev_present.unsqueeze(-1), prev, x)
        tfeat = select(node_mask, temporal_features(self.temporal_kind, x, prev))     # [N, T, F_t]
        tfeat = tfeat[lay.node_perm]
        nms = node_mask[lay.node_perm] if node_mask is not None else None              # [N, T] by type
        outs, states = [], []
        for p, rnn in enumerate(self.temporal_rnns):
            s, n = lay.node_starts[p], lay.node_counts[p]
            out, st = _call(rnn, tfeat[s:s + n], state.temporal[p] if state is not None else None,
                            x.size(1))
            outs.append(select(nms[s:s + n] if nms is not None else None, out))
            states.append(st)
        return outs, states

    def _spatial(self, x: Tensor, lay: GraphLayout, em: Optional[Tensor], edge_attr: Optional[Tensor],
                 states: List, started: List, query: Optional[Tensor]):
        """Spatial edgeRNN outputs, one block of slot rows per edge type."""
        T = x.size(1)
        ea = None
        if "attr" in self.spatial_kind:
            ea = edge_attr[:, -T:] if edge_attr.size(1) >= T else edge_attr[:, -1:].expand(-1, T, -1)
        feat = spatial_features(self.spatial_kind, x[lay.dst], x[lay.src], ea, lay.edge_swap)  # [E, T, F_s]
        if em is not None:
            feat = select(em, feat)
            present = scatter(em.to(x.dtype), lay.slot, dim=0, dim_size=lay.num_slots,
                              reduce="sum") > 0                                       # [S, T]
        else:
            present = lay.slot_has_edge.unsqueeze(-1)                                 # [S, 1]
        if self.edge_scope == "edge":
            return self._edge_scope(feat, em, present, lay, states, started, T, query)
        agg = scatter(feat, lay.slot, dim=0, dim_size=lay.num_slots, reduce="sum")    # [S, T, F_s]
        spatial, new_states, new_started = [], [], []
        for k, rnn in enumerate(self.edge_rnns):
            off, rows = lay.slot_blocks[k]
            pres = present[off:off + rows]
            if self.edge_state == "appear":
                out, st, on = self._from_appearance(rnn, agg[off:off + rows], pres.expand(-1, T), states[k],
                                                    started[k], T)
            else:
                (out, st), on = _call(rnn, agg[off:off + rows], states[k], T), None
            spatial.append(select(pres, out))
            new_states.append(st)
            new_started.append(on)
        return spatial, new_states, new_started, None

    def _edge_scope(self, feat: Tensor, em: Optional[Tensor], present: Tensor, lay: GraphLayout, states: list,
                    started: list, T: int, query: Optional[Tensor]):
        """One edgeRNN state per edge; outputs aggregated into slots."""
        order = lay.edge_perm
        feat_sorted = feat[order]                                                     # [E, T, F_s]
        emo = em[order] if em is not None else None                                   # [E, T]
        outs, new_states, new_started, off = [], [], [], 0
        for k, rnn in enumerate(self.edge_rnns):
            n = lay.edge_counts[k]
            if self.edge_state == "appear":
                pres = emo[off:off + n] if emo is not None else None
                out, st, on = self._from_appearance(rnn, feat_sorted[off:off + n], pres, states[k], started[k], T)
            else:
                (out, st), on = _call(rnn, feat_sorted[off:off + n], states[k], T), None
            outs.append(out)
            new_states.append(st)
            new_started.append(on)
            off += n
        h = torch.cat(outs, dim=0)                                                    # [E, T, H] by type
        slot = lay.slot[order]
        S = lay.num_slots
        attention = None
        if self.aggr == "max":
            if emo is not None:
                h = h.masked_fill(~emo.unsqueeze(-1), float("-inf"))
            agg = scatter(h, slot, dim=0, dim_size=S, reduce="max")                   # [S, T, H]
            agg = torch.where(present.unsqueeze(-1), agg, agg.new_zeros(()))
        elif self.aggr == "attention":
            alpha = self._attention_weights(h, query, lay, order, emo, slot, T)       # [E, T] by type
            attention = torch.empty_like(alpha)
            attention[order] = alpha
            agg = scatter(h * alpha.unsqueeze(-1), slot, dim=0, dim_size=S, reduce="sum")  # [S, T, H]
        else:
            h = select(emo, h)
            agg = scatter(h, slot, dim=0, dim_size=S, reduce="sum")                   # [S, T, H]
            if self.aggr == "mean":
                ones = emo.unsqueeze(-1).to(h.dtype) if emo is not None else h.new_ones(h.size(0), 1, 1)
                count = scatter(ones, slot, dim=0, dim_size=S, reduce="sum")          # [S, T or 1, 1]
                agg = agg / count.clamp_min(1)
        blocks = [agg[o:o + r] for o, r in lay.slot_blocks]
        return blocks, new_states, new_started, attention

    def _attention_weights(self, h: Tensor, query: Tensor, lay: GraphLayout, order: Tensor,
                           emo: Optional[Tensor], slot: Tensor, T: int) -> Tensor:
        """Softmax weights ``[E, T]`` (edges sorted by type) over each slot's present edges."""
        K = len(self.edge_rnns)
        et_sorted = torch.repeat_interleave(torch.arange(K, device=h.device),
                                            torch.tensor(lay.edge_counts, device=h.device),
                                            output_size=h.size(0))             # [E]; output_size: no sync
        q = self.att_query(query)[lay.dst[order]]                                     # [E, T, K*A]
        q = q.view(q.size(0), T, K, self.attention_channels)                          # [E, T, K, A]
        q = q.gather(2, et_sorted.view(-1, 1, 1, 1).expand(-1, T, 1, q.size(-1))).squeeze(2)   # [E, T, A]
        key = torch.cat([lin(h[o:o + c]) for lin, o, c in
                         zip(self.att_key, _offsets(lay.edge_counts), lay.edge_counts)], 0)  # [E, T, A]
        score = (q * key).sum(-1) / key.size(-1) ** 0.5                               # [E, T]
        if emo is not None:
            score = score.masked_fill(~emo, torch.finfo(score.dtype).min)
        alpha = softmax(score, slot, num_nodes=lay.num_slots, dim=0)                  # [E, T]
        return select(emo, alpha)

    def _from_appearance(self, rnn: RNNBlock, inp: Tensor, pres: Optional[Tensor], state: Optional[LSTMState],
                         started: Optional[Tensor], T: int
                         ) -> Tuple[Tensor, Optional[LSTMState], Optional[Tensor]]:
        """Run ``rnn`` over rows ``inp`` ``[R, T, F]`` whose state starts (from
        ``state``, zeros by default) at each row's first present step of
        ``pres`` ``[R, T]`` (:obj:`None`: present throughout), unless ``started`` ``[R]`` says it already runs.
        Rows are shifted left by their start, run as one packed sequence and
        shifted back, so there is still one RNN call. Returns outputs (zero
        before the start), final states, and which rows have started."""
        R = inp.size(0)
        if R == 0:
            return inp.new_zeros(0, T, rnn.channels), None, None
        if pres is None:                                        # every row present throughout
            out, _, new = rnn(inp, state)
            return out, new, torch.ones(R, dtype=torch.bool, device=inp.device)
        if started is None:
            started = torch.zeros(R, dtype=torch.bool, device=inp.device)
        seen = pres.any(dim=1)                                                        # [R]
        first = pres.to(torch.uint8).argmax(dim=1)                                    # first present step
        first = torch.where(started | ~seen, 0, first)          # rows never present run (masked) from 0
        if state is None:
            state = rnn.zero_state(R, inp)
        if int(first.max()) == 0:                                                     # nobody starts late
            out, _, new = rnn(inp, state)
        else:
            t = torch.arange(T, device=inp.device)
            fwd = (t + first.unsqueeze(1)).clamp(max=T - 1)                           # [R, T]
            shifted = inp.gather(1, fwd.unsqueeze(-1).expand(-1, -1, inp.size(-1)))
            out, _, new = rnn(shifted, state, lengths=T - first)
            back = (t - first.unsqueeze(1)).clamp(min=0)
            out = out.gather(1, back.unsqueeze(-1).expand(-1, -1, out.size(-1)))
            out = select(t >= first.unsqueeze(1), out)
        idle = (~(started | seen)).view(1, R, 1)                # not started yet: the state stays put
        new = (torch.where(idle, state[0], new[0]), torch.where(idle, state[1], new[1]))
        return out, new, started | seen

    def __repr__(self) -> str:
        s = self.schema
        return (f"{type(self).__name__}(schema={s.num_node_types} node/{s.num_edge_types} edge types, "
                f"{self.in_channels}, edge_hidden={self.edge_hidden}, node_hidden={self.node_hidden}, "
                f"edge_scope={self.edge_scope!r}, aggr={self.aggr!r}"
                + ("" if self.spatial else ", spatial=False") + ")")


def _call(rnn: RNNBlock, inp: Tensor, state: Optional[LSTMState], T: int) -> Tuple[Tensor, Optional[LSTMState]]:
    if inp.size(0) == 0:  # a type absent from this batch
        return inp.new_zeros(0, T, rnn.channels), None
    y, _, st = rnn(inp, state)
    return y, st


def _offsets(counts: Sequence[int]) -> List[int]:
    out, total = [], 0
    for c in counts:
        out.append(total)
        total += c
    return out
