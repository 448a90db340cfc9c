r"""Exact forecasts of a graph too large for one pass: :func:`forecast_in_chunks`.

A :class:`~srnn_pyg.models.StructuralRNN` forecast feeds its predictions back
as the next inputs, so step ``h`` of a rollout reads ``h`` hops of the graph
and one-hop batches (:class:`~srnn_pyg.loader.OneHopLoader`) are exact for the
first step only. Advancing *every* node by one step, chunk by chunk, before
the next step begins is exact at every step: within one step a node's new
state depends only on its own state, the states of its incoming slots or
edges, and the current frame of itself and of its in-neighbours, all of which
are known once the previous step is done for all nodes.

:class:`ChunkedRollout` keeps the recurrent state of every node, slot and edge
in stores on ``state_device`` (the CPU by default) and moves one chunk's rows
to the model's device at a time; :func:`forecast_in_chunks` drives it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.sampler import NodeSamplerInput

from ..data import STData
from ..loader import OneHopSampler, key_kinds, seed_count, subgraph
from ..nn.args import count
from ..nn.checks import check_graph_inputs, check_horizon, model_dtype, select
from ..nn.srnn_layer import GraphLayout, SRNNState
from .srnn import StructuralRNN

__all__ = ["ChunkedRollout", "forecast_in_chunks"]

OWNER = "forecast_in_chunks"
# The keys of a graph that the S-RNN reads; a chunk's sub-graph holds these only.
READ_KEYS = ("x", "edge_index", "node_type", "edge_type", "node_mask", "edge_mask", "edge_attr")
# The recurrent states kept per node type ("temporal", "node") and per spatial edge type ("edge").
NODE_STATES = ("temporal", "node")


@dataclass
class RowMap:
    """Where the rows of one block of a chunk's state (one node type, or one
    edge type's slots or edges, in the chunk layout's order) live in the
    global store of that block.

    ``gather`` ``[rows]`` (on the state device) reads every row of the block
    from the store, rows the chunk does not own reading the store's last,
    always zero, row; ``local`` ``[m]`` (on the model's device) and ``glob``
    ``[m]`` (on the state device) are the rows the chunk owns, which it
    writes back."""

    gather: Tensor
    local: Tensor
    glob: Tensor


@dataclass
class Chunk:
    """One chunk of seed nodes and its one-hop sub-graph, precomputed once.

    ``n_id`` ``[n_b]`` (seeds first) and ``e_id`` ``[E_b]`` are the
    full-graph ids of its nodes and edges; ``static`` holds the sub-graph's
    keys at the rollout (``edge_index``, types, the masks and ``edge_attr``
    at the last observed step); ``layout`` is the layer's grouping of the
    sub-graph (from the warm-up); ``node_maps`` and ``edge_maps`` map its
    state blocks to the stores (:obj:`None` for a block it has no rows in)."""

    seeds: Tensor
    n_id: Tensor
    e_id: Tensor
    static: Dict[str, Any]
    layout: Optional[GraphLayout] = None
    node_maps: Optional[List[Optional[RowMap]]] = None
    edge_maps: Optional[List[Optional[RowMap]]] = None

    @property
    def num_seeds(self) -> int:
        return int(self.seeds.numel())


class ChunkedRollout:
    r"""The state of a :class:`~srnn_pyg.models.StructuralRNN` over a large
    graph, advanced one step at a time in chunks of seed nodes, exactly as
    :meth:`~srnn_pyg.models.StructuralRNN.forecast` advances the whole graph.

    The seeds are cut into chunks of ``chunk_size`` (in ``node_order``, by
    default in node-id order); each chunk's one-hop sub-graph (the seeds,
    every edge arriving at them and those edges' sources;
    :class:`~srnn_pyg.loader.OneHopSampler`) is built once. :meth:`warm_up`
    runs each chunk over the observed window (exact: no feedback is involved)
    and keeps the seeds' rows of the final state in *stores* on
    ``state_device``: per node type the temporal edgeRNN and nodeRNN
    ``(h, c)``, per spatial edge type the slot (``edge_scope="slot"``) or edge
    (``"edge"``) edgeRNN ``(h, c)`` and which of them have started
    (``edge_state="appear"``). :meth:`advance` gathers each chunk's rows from
    the stores into an :class:`~srnn_pyg.nn.SRNNState` of the chunk's
    sub-graph (rows of the chunk's other nodes read zeros; their outputs are
    dropped), runs one step (:meth:`StructuralRNN.step`) on the chunk's rows
    of the frame, and writes the seeds' new rows back; the frame is only
    replaced by the caller once every chunk is done. A store's row layout is
    the layer's (nodes sorted by type, slots grouped by edge type and
    receiver type, edges sorted by type), read generically: a block's state
    is a tuple of ``[num_layers, rows, width]`` tensors (width 0 for a GRU's
    ``c``) or :obj:`None`.

    Gathers and writes are one ``index_select`` and one ``index_copy_`` per
    block and chunk; the per-chunk indices are computed once.

    Args:
        model (StructuralRNN): the model, in eval mode if it has dropout.
        data (STData): the full graph with its observed window ``x``
            ``[N, T, F]`` (and ``node_type``, ``edge_type``, masks,
            ``edge_attr`` as the model reads them).
        chunk_size (int): seed nodes per chunk.
        state_device (str or torch.device, optional): where the stores live.
            (default: ``"cpu"``)
        node_order (Tensor, optional): a permutation of the ``N`` node ids;
            chunks are consecutive runs of it (nearby nodes in one chunk share
            in-neighbours, so fewer rows are computed). (default: node-id order)
        warmup_steps (int, optional): observed steps per call of the warm-up:
            a chunk's window runs in consecutive parts of this many steps,
            carrying the state (the same outputs), so that its activations
            scale with ``warmup_steps`` instead of ``T``; the scan for NaN/Inf
            at present steps then covers the first part only.
            (default: :obj:`None`: the whole window in one call)

    Shapes:
        - :meth:`warm_up` -> ``[N, 1, raw]`` the head's parameters for the
          first forecast step
        - :meth:`advance` (``frame`` ``[N, 1, F]``, ``prev`` ``[N, 1, F]``)
          -> ``[N, 1, raw]`` those of the next step
    """

    def __init__(self, model: StructuralRNN, data: STData, chunk_size: int,
                 state_device: Union[str, torch.device] = "cpu", node_order: Optional[Tensor] = None,
                 warmup_steps: Optional[int] = None):
        check_model(model)
        check_data(model, data)
        chunk_size = count(OWNER, "chunk_size", chunk_size)
        warmup_steps = count(OWNER, "warmup_steps", warmup_steps, optional=True, meaning="every observed step")
        self.warmup_steps = warmup_steps
        try:
            self.state_device = torch.device(state_device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"{OWNER}: 'state_device' must name a torch device (got {state_device!r})") from err
        self.model, self.data = model, data
        # the data's schema (one per graph in a PyG batch) was checked against the model's: chunks carry the model's
        self.read = STData(**{k: data[k] for k in READ_KEYS if data.get(k) is not None})
        self.has_schema = data.get("schema") is not None
        self.N, self.E = data.x.size(0), data.edge_index.size(1)
        self.device = data.x.device
        self.schema = model.schema
        self._positions()
        self.chunks = self._plan(order_of(node_order, self.N), chunk_size)
        self.stores: Dict[str, List[Optional[Tuple[Tensor, ...]]]] = {
            "temporal": [None] * self.schema.num_node_types, "node": [None] * self.schema.num_node_types,
            "edge": [None] * self.schema.num_edge_types, "edge_started": [None] * self.schema.num_edge_types}
        self.bare: Dict[str, List[bool]] = {k: [False] * len(v) for k, v in self.stores.items()}
        # ar_lags: every node's last p - 1 input frames [N, p - 1, F], in node-id order
        self.past_x: Optional[Tensor] = None

    # ------------------------------------------------------------ indices
    def _positions(self) -> None:
        """Every node's row in its type's store, every slot's and edge's row
        in its edge type's store (the layer's order on the full graph)."""
        schema, dev = self.schema, self.device
        P, K = schema.num_node_types, schema.num_edge_types
        nt = self.data.get("node_type")
        nt = nt.clamp(0, P - 1) if nt is not None else torch.zeros(self.N, dtype=torch.long, device=dev)
        self.node_pos, counts = rank_within(nt, P)                              # [N], per type
        self.node_rows = counts
        # Slot block k holds the nodes of each receiver type, in schema.receivers(k) order.
        self.slot_base, self.slot_rows = [], []
        for k in range(K):
            base, off = {}, 0
            for p in schema.receivers(k):
                base[p] = off
                off += counts[p]
            self.slot_base.append(base)
            self.slot_rows.append(off)
        et = self.data.get("edge_type")
        et = et.clamp(0, max(K - 1, 0)) if et is not None else \
            torch.zeros(self.E, dtype=torch.long, device=dev)
        self.edge_pos, self.edge_rows = rank_within(et, max(K, 1))

    def _plan(self, order: Tensor, chunk_size: int) -> List[Chunk]:
        """One :class:`Chunk` per run of ``chunk_size`` seeds of ``order``."""
        sampler = OneHopSampler(self.data.edge_index, self.N)
        chunks = []
        for seeds in order.split(chunk_size):
            out = sampler.sample_from_nodes(NodeSamplerInput(input_id=None, node=seeds))
            chunks.append(Chunk(seeds.to(self.device), out.node.to(self.device), out.edge.to(self.device),
                                {"edge_index": torch.stack([out.row, out.col]).to(self.device)}))
        return chunks

    def _maps(self, ch: Chunk) -> None:
        """The :class:`RowMap` of every state block of a chunk (after its warm-up)."""
        lay, B = ch.layout, ch.num_seeds
        node_maps, edge_maps = [], []
        for p in range(self.schema.num_node_types):
            s, n = lay.node_starts[p], lay.node_counts[p]
            local_nodes = lay.node_perm[s:s + n]                                 # [n] chunk ids, by type
            node_maps.append(self._map(local_nodes < B, self.node_pos[ch.n_id[local_nodes]],
                                       self.node_rows[p]) if n else None)
        for k in range(len(lay.slot_blocks)):
            if self.model.edge_scope == "edge":
                off, n = sum(lay.edge_counts[:k]), lay.edge_counts[k]
                edges = lay.edge_perm[off:off + n]                               # [n] chunk ids, by type
                owned = torch.ones(n, dtype=torch.bool, device=self.device)      # every edge enters a seed
                edge_maps.append(self._map(owned, self.edge_pos[ch.e_id[edges]], self.edge_rows[k])
                                 if n else None)
                continue
            rows = lay.slot_blocks[k][1]
            owned = torch.zeros(rows, dtype=torch.bool, device=self.device)
            glob = torch.zeros(rows, dtype=torch.long, device=self.device)
            for p, sub in lay.slot_sub[k].items():
                s, n = lay.node_starts[p], lay.node_counts[p]
                local_nodes = lay.node_perm[s:s + n]
                owned[sub:sub + n] = local_nodes < B
                glob[sub:sub + n] = self.slot_base[k][p] + self.node_pos[ch.n_id[local_nodes]]
            edge_maps.append(self._map(owned, glob, self.slot_rows[k]) if rows else None)
        ch.node_maps, ch.edge_maps = node_maps, edge_maps

    def _map(self, owned: Tensor, glob: Tensor, total: int) -> RowMap:
        sd = self.state_device
        gather = torch.where(owned, glob, total).to(sd)                          # [rows]; total: the zero row
        local = owned.nonzero().view(-1)
        return RowMap(gather, local, glob[local].to(sd))

    # ------------------------------------------------------------- stores
    def _store(self, kind: str, i: int, value: Tuple[Tensor, ...], total: int, dim: int) -> Tuple[Tensor, ...]:
        """The store of block ``i`` of ``kind``, made (zeros) on first sight of
        a state ``value`` with its rows at ``dim``: ``total + 1`` rows, the
        last one never written."""
        store = self.stores[kind][i]
        if store is None:
            store = tuple(v.new_zeros(v.shape[:dim] + (total + 1,) + v.shape[dim + 1:], device=self.state_device)
                          for v in value)
            self.stores[kind][i] = store
        return store

    def _put(self, ch: Chunk, state: SRNNState) -> None:
        """Write the rows ``ch`` owns of ``state`` (its sub-graph's) to the stores."""
        blocks = [(kind, p, getattr(state, kind)[p], ch.node_maps[p], self.node_rows[p], 1)
                  for kind in NODE_STATES for p in range(len(getattr(state, kind)))]
        rows = self.slot_rows if self.model.edge_scope == "slot" else self.edge_rows
        blocks += [(kind, k, getattr(state, kind)[k], ch.edge_maps[k], rows[k], 1 if kind == "edge" else 0)
                   for kind in ("edge", "edge_started") for k in range(len(getattr(state, kind)))]
        for kind, i, value, rmap, total, dim in blocks:
            if value is None or rmap is None:
                continue
            bare = isinstance(value, Tensor)
            value = (value,) if bare else tuple(value)
            self.bare[kind][i] = bare
            for v, s in zip(value, self._store(kind, i, value, total, dim)):
                s.index_copy_(dim, rmap.glob, v.index_select(dim, rmap.local).to(self.state_device))

    def _get(self, kind: str, i: int, rmap: Optional[RowMap], dim: int) -> Any:
        """Block ``i`` of ``kind`` of a chunk's state, read from the stores."""
        store = self.stores[kind][i]
        if store is None or rmap is None:
            return None
        value = tuple(s.index_select(dim, rmap.gather).to(self.device, non_blocking=True) for s in store)
        return value[0] if self.bare[kind][i] else value

    def state_tensors(self) -> Iterator[Tensor]:
        """Every tensor of the stores (all on ``state_device``)."""
        for blocks in self.stores.values():
            for block in blocks:
                yield from block or ()
        if self.past_x is not None:
            yield self.past_x

    def _put_past(self, ch: Chunk, past: Optional[Tensor]) -> None:
        """The seeds' last input frames (``ar_lags``) into their rows of the store."""
        if past is None:
            return
        if self.past_x is None:
            self.past_x = past.new_zeros((self.N,) + past.shape[1:], device=self.state_device)
        self.past_x.index_copy_(0, ch.seeds.to(self.state_device), past[:ch.num_seeds].to(self.state_device))

    def state_bytes(self) -> int:
        """The bytes held by the stores."""
        return sum(t.numel() * t.element_size() for t in self.state_tensors())

    def index_bytes(self) -> int:
        """The bytes held by the chunks' precomputed sub-graphs and row maps
        (each storage counted once)."""
        seen: Dict[Tuple[str, int], int] = {}
        for ch in self.chunks:
            values = [ch.seeds, ch.n_id, ch.e_id, *ch.static.values()]
            if ch.layout is not None:
                values += list(vars(ch.layout).values())
            for rmap in (ch.node_maps or []) + (ch.edge_maps or []):
                values += [rmap.gather, rmap.local, rmap.glob] if rmap is not None else []
            for v in values:
                if isinstance(v, Tensor):
                    storage = v.untyped_storage()
                    seen[(str(v.device), storage.data_ptr())] = storage.nbytes()
        return sum(seen.values())

    # --------------------------------------------------------------- steps
    @torch.no_grad()
    def warm_up(self) -> Tensor:
        """Run every chunk over the observed window (clearing the stores
        first); returns the head's parameters ``[N, 1, raw]`` of the first
        forecast step (zero where a node is absent at the last observed step)."""
        for blocks in self.stores.values():
            blocks[:] = [None] * len(blocks)
        self.past_x = None
        kinds = key_kinds(self.read, self.N, self.E)
        params = None
        for ch in self.chunks:
            sub = subgraph(self.read, kinds, ch.n_id, ch.e_id, ch.static["edge_index"])
            out, state = None, None
            for part in windows(sub, self.warmup_steps):
                out, state = self.model.step(part, state, num_receivers=ch.num_seeds,   # [B, T_w, raw]
                                             validate=False)        # the input was checked at the entry
            ch.layout = state.layout
            self._maps(ch)
            self._put(ch, state)
            self._put_past(ch, state.past_x)
            for key in ("node_type", "edge_type"):
                ch.static[key] = sub.get(key)
            for key in ("node_mask", "edge_mask", "edge_attr"):                  # held at the last step
                ch.static[key] = sub[key][:, -1:] if sub.get(key) is not None else None
            params = place(params, self.N, ch, out[:, -1:])
        return params

    @torch.no_grad()
    def advance(self, frame: Tensor, prev: Tensor) -> Tensor:
        """Advance every node by one step on ``frame`` ``[N, 1, F]`` (the input
        of this step; ``prev`` ``[N, 1, F]``: the input of the step before),
        chunk by chunk; returns the head's parameters ``[N, 1, raw]`` of the
        next step. ``frame`` is read, never written, so every chunk sees the
        same step."""
        F = self.model.in_channels
        for name, value in (("frame", frame), ("prev", prev)):
            if not isinstance(value, Tensor) or tuple(value.shape) != (self.N, 1, F):
                got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(f"{OWNER}: '{name}' must be [N, 1, F] = [{self.N}, 1, {F}], one step of "
                                 f"every node of the graph (got {got})")
        params = None
        for ch in self.chunks:
            params = place(params, self.N, ch, self.run_chunk(ch, frame, prev))
        return params

    def run_chunk(self, ch: Chunk, frame: Tensor, prev: Tensor) -> Tensor:
        """One step of one chunk: the head's parameters ``[B, 1, raw]`` of its
        seeds; their new state rows are written to the stores."""
        if ch.layout is None:
            raise RuntimeError(f"{OWNER}: call warm_up() before advance()")
        lay = ch.layout
        nm = ch.static["node_mask"]
        state = SRNNState(
            edge=tuple(self._get("edge", k, ch.edge_maps[k], 1) for k in range(len(ch.edge_maps))),
            edge_started=tuple(self._get("edge_started", k, ch.edge_maps[k], 0) for k in range(len(ch.edge_maps))),
            temporal=tuple(self._get("temporal", p, ch.node_maps[p], 1) for p in range(len(ch.node_maps))),
            node=tuple(self._get("node", p, ch.node_maps[p], 1) for p in range(len(ch.node_maps))),
            last_x=prev[ch.seeds, -1], last_present=nm[:ch.num_seeds, -1] if nm is not None else None,
            layout=lay,
            past_x=None if self.past_x is None else
            self.past_x.index_select(0, ch.seeds.to(self.state_device)).to(self.device, non_blocking=True))
        sub = STData(x=frame[ch.n_id], **{k: v for k, v in ch.static.items() if v is not None})
        if self.has_schema:
            sub.schema = self.schema
        out, new = self.model.step(sub, state, num_receivers=ch.num_seeds, validate=False)   # [B, 1, raw]
        self._put(ch, new)
        self._put_past(ch, new.past_x)
        return out[:ch.num_seeds]


def forecast_in_chunks(model: StructuralRNN, data: STData, horizon: int, chunk_size: int = 4096,
                       state_device: Union[str, torch.device] = "cpu", node_order: Optional[Tensor] = None,
                       warmup_steps: Optional[int] = None, num_samples: Optional[int] = None) -> Tensor:
    r"""``model.forecast(data, horizon)`` for a graph too large for one pass,
    computed in chunks of ``chunk_size`` seed nodes with the recurrent state
    of every node, slot and edge kept on ``state_device``: the same values (up
    to floating-point summation order), in memory for the state stores plus
    one chunk's activations.

    The observed window is run chunk by chunk over one-hop sub-graphs (exact:
    no prediction is fed back there), then every forecast step advances all
    chunks on the same input frame before the next frame is built from the
    predictions (:meth:`~srnn_pyg.nn.feedback.Feedback.step`, presence held at
    the last observed step), so each node sees its in-neighbours' frames of
    the same step, as in one full-graph pass (:class:`ChunkedRollout`).

    Runs under :func:`torch.no_grad`; the model's mode is not changed, and a
    model in training mode with dropout is refused (its draws could not match
    a full-graph pass): call ``model.eval()`` first.

    Args:
        model (StructuralRNN): a regression S-RNN.
        data (STData): the full graph, ``x`` ``[N, T, F]`` observed (and
            ``u_future`` ``[N, >= horizon, C]`` with covariates).
        horizon (int): forecast steps.
        chunk_size (int, optional): seed nodes per chunk. (default: :obj:`4096`)
        state_device (str or torch.device, optional): where the states are
            kept between steps. (default: ``"cpu"``)
        node_order (Tensor, optional): a permutation of the node ids; chunks
            are consecutive runs of it. (default: node-id order)
        warmup_steps (int, optional): run the observed window in parts of
            this many steps (less memory per chunk, the same values; see
            :class:`ChunkedRollout`). (default: :obj:`None`: in one call)
        num_samples (int, optional): with ``head="gaussian"``, draw ``K``
            trajectories as ``model.forecast(data, horizon, num_samples=K)``
            does (the same draws for the same random state: one draw per
            step over all ``K`` copies of the graph, whose states are all
            kept). (default: :obj:`None`: follow the point prediction)

    Shapes:
        - **input:** ``data`` with ``N`` nodes
        - **output:** ``[N, horizon, out_channels]``, or
          ``[K, N, horizon, out_channels]`` with ``num_samples=K``
    """
    check_model(model)
    check_horizon(OWNER, horizon)
    check_data(model, data)
    if num_samples is not None:
        if model.head.kind != "gaussian":
            raise ValueError(f"{OWNER}: 'num_samples' needs a model with head='gaussian' "
                             f"(got head={model.head.kind!r}, num_samples={num_samples!r})")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"{OWNER}: 'num_samples' must be a positive int (got {num_samples!r})")
    N = data.x.size(0)
    if N == 0:
        shape = (horizon, model.out_channels)
        return data.x.new_zeros((num_samples, 0) + shape if num_samples else (0,) + shape)
    if num_samples is not None:
        order = order_of(node_order, N)
        order = (order + torch.arange(num_samples).view(-1, 1) * N).view(-1)  # copies ordered the same way
        roll = ChunkedRollout(model, tile(data, num_samples), chunk_size, state_device, order, warmup_steps)
        return _roll(roll, horizon, sample=True).view(num_samples, N, horizon, -1)
    return _roll(ChunkedRollout(model, data, chunk_size, state_device, node_order, warmup_steps), horizon,
                 sample=False)


@torch.no_grad()
def _roll(roll: ChunkedRollout, horizon: int, sample: bool) -> Tensor:
    """The rollout of :meth:`StructuralRNN.forecast`, the layer's steps done by ``roll``."""
    model, data = roll.model, roll.data
    model.feedback.check_future(data, horizon)
    nm = data.get("node_mask")
    nm_last = nm[:, -1:] if nm is not None else None                                # [N, 1]
    preds, inp, prev = [], data.x[:, -1:], None                                      # [N, 1, F]
    params = roll.warm_up()
    for i in range(horizon):
        if i > 0:
            params = roll.advance(inp, prev)                                         # every chunk, then ...
        step = model.head.sample(params) if sample else model.head.point(params)     # [N, 1, out]
        step = select(nm_last, step)
        preds.append(step)
        if i + 1 < horizon:
            prev, inp = inp, select(nm_last, model.feedback.step(step, inp, data, i))  # ... the next frame
    return torch.cat(preds, dim=1)                                                   # [N, horizon, out]


# ------------------------------------------------------------------ helpers
def check_model(model: Any) -> None:
    """Raise a ``ValueError`` unless ``model`` is a regression
    :class:`StructuralRNN` whose rollout the chunks can reproduce."""
    if not isinstance(model, StructuralRNN):
        raise ValueError(f"{OWNER}: 'model' must be a StructuralRNN (the exact chunked rollout relies on "
                         f"its one-hop data flow; got {type(model).__name__})")
    if model.feedback is None:
        raise ValueError(f"{OWNER}: 'model' must be a regression model whose predictions are fed back as "
                         f"inputs (got task={model.task!r}, {model.in_channels} -> {model.out_channels})")
    if model.training and stochastic(model):
        raise ValueError(f"{OWNER}: 'model' is in training mode with dropout, whose random draws per chunk "
                         f"cannot match a full-graph forecast; call model.eval() first")


def stochastic(model: nn.Module) -> bool:
    """Whether some module of ``model`` computes differently in training mode
    (dropout with a positive rate, batch normalisation)."""
    for m in model.modules():
        rate = getattr(m, "dropout", 0.0)
        if isinstance(m, nn.Dropout):
            rate = m.p
        if isinstance(rate, (int, float)) and not isinstance(rate, bool) and rate > 0:
            return True
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)):
            return True
    return False


def check_data(model: StructuralRNN, data: Any) -> None:
    """The checks of a model's entry, once on the full graph."""
    if not isinstance(data, STData):
        raise ValueError(f"{OWNER}: 'data' must be an STData (got {type(data).__name__})")
    if seed_count(data) is not None:
        raise ValueError(f"{OWNER}: 'data' must be a whole graph, not a one-hop batch (OneHopLoader): step h "
                         f"of a rollout reads h hops of the graph, which the batch does not hold (got a batch of "
                         f"{seed_count(data)} seeds among {data.x.size(0)} nodes); pass the full graph")
    check_graph_inputs(OWNER, model.schema, model.in_channels, data.get("x"), data.get("edge_index"),
                       data.get("node_type"), data.get("edge_type"), data.get("node_mask"), data.get("edge_mask"),
                       data.get("edge_attr"), model.edge_channels if "attr" in model.spatial_kind else None,
                       model_dtype(model))
    if model.validate:
        data.check_schema(model.schema)


def order_of(node_order: Optional[Tensor], N: int) -> Tensor:
    """``node_order`` checked as a permutation of ``N`` node ids (CPU, long), or ``arange(N)``."""
    if node_order is None:
        return torch.arange(N)
    if not isinstance(node_order, Tensor) or node_order.dim() != 1 or node_order.numel() != N \
            or node_order.dtype != torch.long:
        got = f"{list(node_order.shape)} {node_order.dtype}" if isinstance(node_order, Tensor) \
            else type(node_order).__name__
        raise ValueError(f"{OWNER}: 'node_order' must be a permutation of the {N} node ids, a [{N}] "
                         f"torch.long tensor (got {got})")
    order = node_order.detach().cpu()
    if not torch.equal(order.sort().values, torch.arange(N)):
        raise ValueError(f"{OWNER}: 'node_order' must be a permutation of 0..{N - 1} (it repeats or misses "
                         f"a node id)")
    return order


def rank_within(types: Tensor, count: int) -> Tuple[Tensor, List[int]]:
    """Each entry's position among the entries of its type, in a stable order
    (the layer's type-sorted order), and the number of entries per type."""
    n = types.numel()
    perm = torch.argsort(types, stable=True)
    sizes = torch.bincount(types, minlength=count)
    starts = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty_like(perm)
    rank[perm] = torch.arange(n, device=types.device)
    return rank - starts[types], sizes.tolist()


def windows(sub: STData, steps: Optional[int]) -> Iterator[STData]:
    """``sub`` cut along time into consecutive parts of ``steps`` steps (all
    of it for :obj:`None`), each with its steps of the masks and of
    ``edge_attr`` as the layer reads them (the last ``T`` steps of a longer
    one; a shorter one is held at its last step)."""
    T = sub.x.size(1)
    if steps is None or steps >= T:
        yield sub
        return
    for t0 in range(0, T, steps):
        t1 = min(t0 + steps, T)
        part = STData(**{k: v for k, v in sub.to_dict().items() if k not in ("x", "node_mask", "edge_mask",
                                                                              "edge_attr")})
        part.x = sub.x[:, t0:t1]
        for key in ("node_mask", "edge_mask"):
            if sub.get(key) is not None:
                part[key] = sub[key][:, t0:t1]
        ea = sub.get("edge_attr")
        if ea is not None:
            lag = ea.size(1) - T
            part.edge_attr = ea[:, lag + t0:lag + t1] if lag >= 0 else ea[:, -1:]
        yield part


def place(params: Optional[Tensor], N: int, ch: Chunk, rows: Tensor) -> Tensor:
    """Write the seed rows ``rows`` ``[n >= B, 1, raw]`` of chunk ``ch`` into
    ``params`` ``[N, 1, raw]`` (made on first use)."""
    if params is None:
        params = rows.new_zeros((N,) + tuple(rows.shape[1:]))
    params[ch.seeds] = rows[:ch.num_seeds]
    return params


def tile(data: STData, k: int) -> STData:
    """``k`` copies of a graph as one disjoint graph (copy ``c`` holds nodes
    ``c N .. (c + 1) N - 1``), with every key a forecast reads."""
    N, E = data.x.size(0), data.edge_index.size(1)
    out = STData(x=data.x.repeat(k, 1, 1))
    shift = (torch.arange(k, device=data.x.device) * N).repeat_interleave(E)          # [k*E]
    out.edge_index = data.edge_index.repeat(1, k) + shift
    for key in ("node_type", "node_mask", "edge_type", "edge_mask", "edge_attr", "u_future"):
        v = data.get(key)
        if v is not None:
            out[key] = v.repeat(k, *([1] * (v.dim() - 1)))
    if data.get("schema") is not None:
        out.schema = data.schema
    return out
