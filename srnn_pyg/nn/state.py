"""What an :class:`~srnn_pyg.nn.SRNNLayer` computes once per graph
(:class:`GraphLayout`) and carries from one call to the next (:class:`SRNNState`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from .rnn_block import LSTMState

__all__ = ["GraphLayout", "SRNNState", "version_of"]


def version_of(t: Tensor) -> Optional[int]:
    """The version counter of ``t`` (in-place changes move it); :obj:`None` for
    an inference tensor, which keeps none."""
    return None if t.is_inference() else t._version


def other_graph(name: str) -> str:
    """The error of a state handed a graph other than its own."""
    return (f"{name}: 'state' belongs to another graph: 'edge_index', 'node_type' or 'edge_type' differ from "
            f"those it was computed on (a state carries over to the same nodes and edges only; pass state=None "
            f"to start on another graph)")


@dataclass
class GraphLayout:
    """How one graph (or batch) is grouped by type. Computed once per graph
    (one host sync for the type counts) and kept in :class:`SRNNState`, so a
    stream of frames of the same graph never recomputes it.

    Nodes are sorted by type; every (receiver, edge type) pair the schema
    allows is a *slot*; the slots of edge type ``k`` form one contiguous
    block, grouped by receiver type in the sorted node order."""

    num_nodes: int
    num_edges: int
    node_perm: Tensor            # [N] node ids sorted by type
    node_rank: Tensor            # [N] position of each node in node_perm
    node_counts: List[int]       # nodes per node type
    node_starts: List[int]       # offset of each node type in node_perm
    src: Tensor                  # [E]
    dst: Tensor                  # [E]
    slot: Tensor                 # [E] the (receiver, edge type) slot of each edge
    slot_blocks: List[Tuple[int, int]]    # per edge type: (offset, rows) in the slot array
    slot_sub: List[dict]                  # per edge type: node type -> offset inside its block
    num_slots: int
    edge_perm: Optional[Tensor]  # [E] edge ids sorted by edge type (edge scope)
    edge_counts: List[int]       # edges per edge type
    slot_has_edge: Tensor        # [S] bool: some edge (ever) fills the slot
    edge_swap: Optional[Tensor] = None   # [E] bool: the receiver is not its edge type's first node type
    num_sources: Optional[int] = None    # rows of x read as edge sources (> num_nodes with receivers only)
    node_type: Optional[Tensor] = None   # [num_sources or N] a copy of the node types it was built from
    edge_type: Optional[Tensor] = None   # [E] a copy of the edge types it was built from
    edge_index: Optional[Tensor] = None  # [2, E] a copy of the edges it was built from
    given: Optional[tuple] = None        # the tensors it was built from and their versions (no copy)

    def same_graph(self, edge_index: Tensor, node_type: Optional[Tensor], edge_type: Optional[Tensor]) -> bool:
        """Whether ``edge_index``, ``node_type`` and ``edge_type`` (:obj:`None`:
        all of type 0) are the graph this layout was built from: at once when
        they are the very tensors it was built from, unchanged since (no host
        sync: a stream or a rollout hands the same graph on every call), else
        by their values against the copies it keeps, in one host sync."""
        now = (edge_index, node_type, edge_type)
        if self.given is not None and all(
                (a is None and b is None) or (a is b and v is not None and version_of(a) == v)
                for a, (b, v) in zip(now, self.given)):
            return True
        return self._same_values(edge_index, node_type, edge_type)

    def _same_values(self, edge_index: Tensor, node_type: Optional[Tensor], edge_type: Optional[Tensor]) -> bool:
        if self.edge_index is None:                   # a layout made by hand: nothing to compare with
            return True
        if tuple(edge_index.shape) != (2, self.num_edges):
            return False
        pairs = [(edge_index, self.edge_index)]
        for given, kept in ((node_type, self.node_type), (edge_type, self.edge_type)):
            if kept is not None:
                if given is not None and given.shape != kept.shape:
                    return False
                pairs.append((torch.zeros_like(kept) if given is None else given, kept))
        flags = torch.stack([(a.to(b.device) == b).all() for a, b in pairs])
        return bool(flags.all())


@dataclass
class SRNNState:
    r"""Everything an :class:`SRNNLayer` carries from one call to the next, so
    that feeding a sequence in chunks gives the outputs of one call.

    Every recurrent state is a tuple ``(h, c)``, each ``[num_layers, rows,
    hidden]`` (a GRU's ``c`` is ``[num_layers, rows, 0]``), or :obj:`None` for a
    type absent from the graph. Rows are in the layer's
    type-sorted order (:attr:`layout`).

    Attributes:
        edge (tuple): per spatial edge type, the edgeRNN state; rows are slots
            (``edge_scope="slot"``) or edges of that type (``"edge"``).
        edge_started (tuple): per spatial edge type, ``[rows]`` bool: which
            slot or edge states have started (``edge_state="appear"``), or
            :obj:`None`.
        temporal (tuple): per node type, the temporal edgeRNN state.
        node (tuple): per node type, the nodeRNN state.
        last_x (Tensor): ``[N, F]`` the last frame seen (the temporal edge
            feature of the next frame is a difference with it).
        last_present (Tensor, optional): ``[N]`` bool presence at that frame.
        layout (GraphLayout): the grouping of the graph the state belongs to.
        attention (Tensor, optional): ``[E, T]`` attention weights of the last
            call (``aggr="attention"``).
        past_x (Tensor, optional): ``[N, p - 1, F]`` the node's last ``p - 1``
            input frames in input order, absent ones as zeros, for a model
            that reads them (:class:`~srnn_pyg.models.StructuralRNN` with
            ``ar_lags=p``); the layer itself does not use it.
    """

    edge: Tuple[Optional[LSTMState], ...]
    edge_started: Tuple[Optional[Tensor], ...]
    temporal: Tuple[Optional[LSTMState], ...]
    node: Tuple[Optional[LSTMState], ...]
    last_x: Tensor
    last_present: Optional[Tensor]
    layout: GraphLayout
    attention: Optional[Tensor] = None
    past_x: Optional[Tensor] = None

    def detach(self) -> "SRNNState":
        """The same state cut from the autograd graph (truncated BPTT, streaming)."""
        def d(v):
            if isinstance(v, Tensor):
                return v.detach()
            if isinstance(v, tuple):
                return tuple(d(u) for u in v)
            return v
        return SRNNState(d(self.edge), d(self.edge_started), d(self.temporal), d(self.node),
                         self.last_x.detach(), self.last_present, self.layout,
                         None if self.attention is None else self.attention.detach(),
                         None if self.past_x is None else self.past_x.detach())
