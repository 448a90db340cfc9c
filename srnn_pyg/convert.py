"""Conversions between :class:`~srnn_pyg.STData` and the formats spatio-temporal
graphs come in: networkx graphs, dense ``[T, N, F]`` arrays with an adjacency,
PyG Temporal signals (duck-typed) and PyG ``HeteroData``. Every function is
re-exported by :mod:`srnn_pyg.data` and :mod:`srnn_pyg`."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from .data import STData
from .schema import STSchema

__all__ = ["from_networkx", "to_networkx", "from_dense", "from_temporal_signal", "from_hetero", "to_hetero"]


def _shape(v: Any) -> str:
    return str(list(v.shape)) if isinstance(v, Tensor) else type(v).__name__


# ------------------------------------------------------------------ helpers
def _default_schema(num_edges: int) -> STSchema:
    return STSchema(["node"], [("node", "node")] if num_edges >= 0 else [])


def _as_tensor(value: Any, owner: str, what: str, dtype: Optional[torch.dtype] = None) -> Tensor:
    """``value`` (a tensor, an array or nested lists of numbers) as a tensor;
    anything else is a :class:`TypeError` naming ``owner``'s argument ``what``."""
    if isinstance(value, Tensor):
        return value.to(dtype) if dtype is not None else value
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    except (TypeError, ValueError) as exc:                              # text, objects, ragged lists
        raise TypeError(f"{owner}: '{what}' must be a tensor or an array of numbers (got "
                        f"{type(value).__name__}: {exc})") from None
    return t.to(dtype) if dtype is not None else (t.float() if t.is_floating_point() else t)


def _node_types_from_names(names: Sequence[Any], schema: STSchema) -> Tensor:
    return torch.tensor([schema.node_type_index(str(n)) for n in names], dtype=torch.long)


def _node_types(owner: str, node_type: Any, schema: STSchema, N: int, device: Any = None) -> Tensor:
    """``node_type`` (None, ``[N]`` indices, or ``[N]`` type names) as a checked ``[N]`` long tensor."""
    P = schema.num_node_types
    if node_type is None:
        if P > 1:
            raise ValueError(f"{owner}: 'node_type' is needed: the schema has {P} node types {schema.node_types}")
        return torch.zeros(N, dtype=torch.long, device=device)
    if isinstance(node_type, np.ndarray) and node_type.dtype.kind in "US":
        node_type = node_type.tolist()
    if isinstance(node_type, (list, tuple)) and node_type and all(isinstance(n, str) for n in node_type):
        nt = _node_types_from_names(node_type, schema)
    elif isinstance(node_type, (list, tuple)) and any(isinstance(n, str) for n in node_type):
        raise ValueError(f"{owner}: 'node_type' must hold type names only or type indices only (got a mix, "
                         f"such as {[n for n in node_type if not isinstance(n, str)][0]!r} among names)")
    else:
        raw = _as_tensor(node_type, owner, "node_type")
        if raw.is_floating_point():
            if not bool((raw == raw.round()).all()):
                raise ValueError(f"{owner}: 'node_type' must hold integer type indices or type names (got "
                                 f"non-integer values such as {float(raw[raw != raw.round()][0])})")
        elif raw.dtype == torch.bool or raw.is_complex():
            raise ValueError(f"{owner}: 'node_type' must hold integer type indices or type names (got {raw.dtype})")
        nt = raw.long()
    if tuple(nt.shape) != (N,):
        raise ValueError(f"{owner}: 'node_type' must be [N] = [{N}] (got {list(nt.shape)})")
    if N and (int(nt.min()) < 0 or int(nt.max()) >= P):
        raise ValueError(f"{owner}: 'node_type' must lie in [0, {P - 1}], the schema's {P} node types (got values "
                         f"in [{int(nt.min())}, {int(nt.max())}])")
    return nt.to(device) if device is not None else nt


def _finish(data: STData, schema: STSchema) -> STData:
    data.schema = schema
    data.validate(schema)
    return data


# -------------------------------------------------------------- networkx
def from_networkx(graph: Any, x: Optional[Any] = None, schema: Optional[STSchema] = None,
                  type_attr: str = "type", feature_attr: str = "x",
                  edge_type_attr: Optional[str] = None) -> STData:
    r"""An :class:`STData` from a :class:`networkx.Graph` whose nodes carry a
    node type name in ``type_attr``.

    Nodes are numbered in ``graph.nodes`` order. An undirected graph's edges are
    stored both ways (a self-loop once, as in a directed graph). Edge types are
    read from ``edge_type_attr`` (a relation name, for schemas with
    ``(src, rel, dst)`` edge types; an edge without it has the relation
    ``"to"``, as :meth:`STSchema.from_networkx` infers) or inferred from the
    endpoint types.

    Args:
        graph (networkx.Graph or networkx.DiGraph): the spatial graph.
        x (Tensor, optional): node features ``[N, T, F]`` in node order; if
            omitted, each node's ``feature_attr`` (``[T, F]``) is stacked.
        schema (STSchema, optional): the schema; inferred with
            :meth:`STSchema.from_networkx` if omitted.
    """
    if schema is None:
        schema = STSchema.from_networkx(graph, type_attr=type_attr, edge_type_attr=edge_type_attr)
    nodes = list(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    types = []
    for n in nodes:
        if type_attr not in graph.nodes[n]:
            raise ValueError(f"from_networkx: node {n!r} has no {type_attr!r} attribute")
        types.append(graph.nodes[n][type_attr])
    node_type = _node_types_from_names(types, schema)
    if x is None:
        missing = [n for n in nodes if feature_attr not in graph.nodes[n]]
        if missing:
            raise ValueError(f"from_networkx: pass 'x' or give every node a {feature_attr!r} "
                             f"attribute (node {missing[0]!r} has none)")
        feats = [_as_tensor(graph.nodes[n][feature_attr], "from_networkx", f"node {n!r}'s {feature_attr}")
                 for n in nodes]
        for n, f in zip(nodes, feats):
            if f.shape != feats[0].shape:
                raise ValueError(f"from_networkx: every node's {feature_attr!r} must have one shape [T, F]; node "
                                 f"{n!r} has {list(f.shape)}, node {nodes[0]!r} {list(feats[0].shape)}")
        x = torch.stack(feats)
    x = _as_tensor(x, "from_networkx", "x")
    if x.dim() != 3 or x.size(0) != len(nodes):
        raise ValueError(f"from_networkx: 'x' must be [num_nodes, T, F] with num_nodes={len(nodes)} "
                         f"(got {_shape(x)})")
    src, dst, rels = [], [], []
    for u, v, attrs in graph.edges(data=True):
        rel = None if edge_type_attr is None else attrs.get(edge_type_attr)
        pairs = [(index[u], index[v])]
        if not graph.is_directed() and u != v:                      # a self-loop is one edge either way
            pairs.append((index[v], index[u]))
        for s, d in pairs:
            src.append(s)
            dst.append(d)
            rels.append(rel)
    edge_index = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    if edge_type_attr is not None and any(r is not None for r in rels):
        edge_type = torch.tensor(
            [schema.edge_type_index((types[s], "to" if r is None else str(r), types[d]))
             for s, d, r in zip(src, dst, rels)],
            dtype=torch.long)
    else:
        edge_type = schema.infer_edge_type(node_type[edge_index[0]], node_type[edge_index[1]])
    data = STData(x=x, edge_index=edge_index.to(x.device), node_type=node_type.to(x.device),
                  edge_type=edge_type.to(x.device))
    return _finish(data, schema)


def to_networkx(data: STData, schema: Optional[STSchema] = None) -> Any:
    """A :class:`networkx.Graph` (or ``DiGraph`` if any edge type is directed)
    with node attributes ``type`` (name) and ``x`` (``[T, F]``) and edge
    attribute ``rel``; the inverse of :func:`from_networkx` (read it back
    with ``edge_type_attr="rel"`` and the schema). Where two relations link
    the same pair of nodes the graph is a ``MultiGraph`` (``MultiDiGraph``),
    one edge per pair and relation, so that none is lost."""
    import networkx as nx

    schema = schema or data.schema or _default_schema(data.num_edges)
    directed = any(et.directed for et in schema.edge_types)
    et = data.get("edge_type")
    et = et.tolist() if et is not None else [0] * data.num_edges
    edges = []
    for (s, d), k in zip(data.edge_index.t().tolist(), et):
        pair = (s, d) if directed else (min(s, d), max(s, d))
        edges.append((pair, s, d, schema.edge_types[k].rel))
    rels: Dict[Tuple[int, int], set] = {}
    for pair, _, _, rel in edges:
        rels.setdefault(pair, set()).add(rel)
    multi = any(len(r) > 1 for r in rels.values())
    g = (nx.MultiDiGraph() if directed else nx.MultiGraph()) if multi else (nx.DiGraph() if directed else nx.Graph())
    nt = data.get("node_type")
    nt = nt.tolist() if nt is not None else [0] * data.num_nodes
    for i in range(data.num_nodes):
        g.add_node(i, type=schema.node_types[nt[i]], x=data.x[i].detach().cpu())
    seen = set()
    for pair, s, d, rel in edges:
        if (pair, rel) not in seen:            # an undirected edge is stored both ways: one edge per relation
            seen.add((pair, rel))
            g.add_edge(s, d, rel=rel)
    return g


# ------------------------------------------------------------------ dense
def from_dense(x: Any, adj: Any, node_type: Optional[Any] = None, schema: Optional[STSchema] = None,
               edge_weight: bool = False) -> STData:
    r"""An :class:`STData` from dense arrays.

    Args:
        x (array): features ``[T, N, F]`` (time first, as recordings come).
        adj (array): adjacency ``[N, N]`` (static) or ``[T, N, N]`` (a graph per
            step); entry ``[i, j] != 0`` is an edge ``i -> j``.
        node_type (array, optional): ``[N]`` type indices or names.
            (default: all of type 0)
        schema (STSchema, optional): (default: one node type, one undirected
            edge type)
        edge_weight (bool, optional): keep the adjacency weights as
            ``edge_attr`` ``[E, T, 1]``. (default: :obj:`False`)

    A dynamic adjacency gives the union of all edges and an ``edge_mask``.
    """
    x = _as_tensor(x, "from_dense", "x")
    if x.dim() != 3:
        raise ValueError(f"from_dense: 'x' must be [T, N, F] (got {_shape(x)})")
    T, N, _ = x.shape
    adj = _as_tensor(adj, "from_dense", "adj").to(x.device)
    if adj.dim() == 2:
        adj = adj.unsqueeze(0)
        dynamic = False
    elif adj.dim() == 3:
        dynamic = True
        if adj.size(0) != T:
            raise ValueError(f"from_dense: a dynamic 'adj' must be [T, N, N] with T={T} (got {_shape(adj)})")
    else:
        raise ValueError(f"from_dense: 'adj' must be [N, N] or [T, N, N] (got {_shape(adj)})")
    if adj.shape[-2:] != (N, N):
        shown = list(adj.shape[1:]) if not dynamic else _shape(adj)
        raise ValueError(f"from_dense: 'adj' must be [N, N] with N={N} (got {shown})")
    if adj.is_floating_point() and not bool(torch.isfinite(adj).all()):
        raise ValueError("from_dense: 'adj' must be finite (a NaN or infinity is not an edge weight; use 0 for "
                         "no edge)")
    present = adj != 0                                                   # [T', N, N]
    union = present.any(0)
    src, dst = union.nonzero(as_tuple=True)
    edge_index = torch.stack([src, dst])
    if schema is None:
        schema = _default_schema(edge_index.size(1))
    nt = _node_types("from_dense", node_type, schema, N, x.device)
    data = STData(x=x.transpose(0, 1).contiguous(), edge_index=edge_index, node_type=nt,
                  edge_type=schema.infer_edge_type(nt[src], nt[dst]))
    if dynamic:
        data.edge_mask = present[:, src, dst].t().contiguous()          # [E, T]
    if edge_weight:
        w = adj[:, src, dst].t().to(x.dtype)                             # [E, T']
        data.edge_attr = w.expand(-1, T).unsqueeze(-1).contiguous()      # [E, T, 1]
    return _finish(data, schema)


# ---------------------------------------------------------- PyG Temporal
def from_temporal_signal(signal: Any, schema: Optional[STSchema] = None,
                         node_type: Optional[Any] = None) -> STData:
    r"""An :class:`STData` from a PyG Temporal ``StaticGraphTemporalSignal`` or
    ``DynamicGraphTemporalSignal`` (duck-typed: PyG Temporal is not needed).

    A static signal has ``edge_index``, ``edge_weight``, ``features`` (a list of
    ``[N, F]`` per step) and ``targets``; a dynamic one has ``edge_indices`` and
    ``edge_weights`` (one per step) instead. The result holds the whole
    sequence: ``x`` ``[N, T, F]``, ``edge_attr`` ``[E, T, 1]`` from the weights,
    ``edge_mask`` for a dynamic signal (the union of all edge sets), and the
    per-step targets as ``y`` ``[N, T, F_y]`` (one value per node and step:
    ``[N, T, 1]``; integer class labels ``[N, T]``; ``y[:, t]`` is the target
    of snapshot ``t``). Cut it into windows with :class:`TimeWindows`
    (``target="y"``).

    Edge arrays must be ``[2, E]`` (PyG's layout) with node ids in ``[0,
    N)``; features and targets must have the same shape at every step, and
    ``targets``, when given, one entry per snapshot.

    Duplicated edges: a static signal keeps an edge given twice as two edges
    (with their own weights), as PyG does. A dynamic signal is stored as the
    union of its edge sets with one ``edge_mask`` and ``edge_attr`` entry per
    edge and step, which cannot hold two weights of one edge at one step, so
    an edge given twice within one ``edge_indices[t]`` raises a
    :class:`ValueError` naming the step and the edge (merge them first, e.g.
    sum their weights); an edge present at several steps is one edge.
    """
    feats = getattr(signal, "features", None)
    if feats is None or len(feats) == 0:
        raise ValueError("from_temporal_signal: the signal has no 'features' (a list of [N, F] arrays)")
    feats = [_as_tensor(f, "from_temporal_signal", f"features[{t}]") for t, f in enumerate(feats)]
    shapes = sorted({tuple(f.shape) for f in feats})
    if len(shapes) > 1:
        raise ValueError(f"from_temporal_signal: 'features' must have the same shape at every snapshot "
                         f"(got {[list(sh) for sh in shapes]})")
    if feats[0].dim() not in (1, 2):
        raise ValueError(f"from_temporal_signal: 'features' must hold one [N, F] (or [N]) array per snapshot "
                         f"(got {list(feats[0].shape)})")
    x = torch.stack(feats, dim=1)                                      # [N, T, F]
    if x.dim() == 2:
        x = x.unsqueeze(-1)
    N, T, _ = x.shape
    if hasattr(signal, "edge_indices"):
        per_step = [_signal_edges(e, N, f"edge_indices[{t}]") for t, e in enumerate(signal.edge_indices)]
        for t, e in enumerate(per_step):
            _check_no_duplicates(e, N, f"edge_indices[{t}]")
        weights = getattr(signal, "edge_weights", None)
        if len(per_step) != T:
            raise ValueError(f"from_temporal_signal: {len(per_step)} edge sets for {T} snapshots")
        if weights is not None and len(weights) != T:
            raise ValueError(f"from_temporal_signal: 'edge_weights' must hold one entry per snapshot ({T}, or None "
                             f"for weight 1; got {len(weights)})")
        for t, e in enumerate(per_step):
            given = weights is not None and weights[t] is not None
            if given and _as_tensor(weights[t], "from_temporal_signal", f"edge_weights[{t}]").numel() != e.size(1):
                raise ValueError(f"from_temporal_signal: 'edge_weights[{t}]' must have one weight per edge of "
                                 f"'edge_indices[{t}]' ({e.size(1)}; got "
                                 f"{_as_tensor(weights[t], 'from_temporal_signal', f'edge_weights[{t}]').numel()})")
        keys = torch.cat([e[0] * N + e[1] for e in per_step])
        uniq = torch.unique(keys)
        edge_index = torch.stack([uniq // N, uniq % N])
        E = uniq.numel()
        edge_mask = torch.zeros(E, T, dtype=torch.bool)
        edge_attr = torch.zeros(E, T, 1)
        for t, e in enumerate(per_step):  # conversion time, not model time
            pos = torch.searchsorted(uniq, e[0] * N + e[1])
            edge_mask[pos, t] = True
            given = weights is not None and weights[t] is not None
            edge_attr[pos, t, 0] = (_as_tensor(weights[t], "from_temporal_signal", f"edge_weights[{t}]")
                                    .float().view(-1) if given else 1.0)
    else:
        edge_index = _signal_edges(signal.edge_index, N, "edge_index")
        w = getattr(signal, "edge_weight", None)
        w = torch.ones(edge_index.size(1)) if w is None else _as_tensor(w, "from_temporal_signal", "edge_weight")
        if w.numel() != edge_index.size(1):
            raise ValueError(f"from_temporal_signal: 'edge_weight' must have one weight per edge "
                             f"({edge_index.size(1)}; got {w.numel()})")
        edge_attr = w.float().reshape(-1, 1, 1).expand(-1, T, 1).contiguous()
        edge_mask = None
    schema = schema or _default_schema(edge_index.size(1))
    nt = _node_types("from_temporal_signal", node_type, schema, N)
    data = STData(x=x, edge_index=edge_index, node_type=nt,
                  edge_type=schema.infer_edge_type(nt[edge_index[0]], nt[edge_index[1]]),
                  edge_attr=edge_attr)
    if edge_mask is not None:
        data.edge_mask = edge_mask
    targets = getattr(signal, "targets", None)
    if targets is not None and len(targets) == T and all(t is None for t in targets):
        targets = None                                 # PyG Temporal allows a signal without targets
    if targets is not None:
        if len(targets) != T or any(t is None for t in targets):
            raise ValueError(f"from_temporal_signal: 'targets' must hold one target per snapshot ({T}; got "
                             f"{len(targets)}, {sum(t is None for t in targets)} of them None)")
        ys = [_as_tensor(y, "from_temporal_signal", f"targets[{t}]") for t, y in enumerate(targets)]
        if len({tuple(y.shape) for y in ys}) > 1 or ys[0].size(0) != N:
            raise ValueError(f"from_temporal_signal: 'targets' must be [N={N}, ...] with the same shape at every "
                             f"snapshot (got {sorted({tuple(y.shape) for y in ys})})")
        y = torch.stack(ys, dim=1)                                     # [N, T, ...]
        data.y = y.unsqueeze(-1) if y.dim() == 2 and y.is_floating_point() else y    # values: [N, T, 1]
    return _finish(data, schema)


def _signal_edges(value: Any, N: int, name: str) -> Tensor:
    """A PyG Temporal edge array as a checked ``[2, E]`` long tensor (``None``:
    no edges, as PyG Temporal allows)."""
    if value is None:
        return torch.zeros(2, 0, dtype=torch.long)
    raw = _as_tensor(value, "from_temporal_signal", name)
    if raw.is_floating_point() and raw.numel() and not bool((raw == raw.round()).all()):
        bad = raw[raw != raw.round()][0].item()
        raise ValueError(f"from_temporal_signal: '{name}' must hold integer node ids (got {bad!r})")
    if raw.dtype == torch.bool or raw.is_complex():
        raise ValueError(f"from_temporal_signal: '{name}' must hold integer node ids (got {raw.dtype})")
    e = raw.to(torch.long)
    if e.numel() == 0:
        return e.reshape(2, 0)                         # an empty edge set, whatever its shape
    if e.dim() != 2 or e.size(0) != 2:
        hint = " (it looks like [E, 2]: transpose it)" if e.dim() == 2 and e.size(1) == 2 else ""
        raise ValueError(f"from_temporal_signal: '{name}' must be [2, num_edges]{hint} (got {list(e.shape)})")
    if e.numel() and (int(e.min()) < 0 or int(e.max()) >= N):
        raise ValueError(f"from_temporal_signal: '{name}' must hold node ids in [0, {N - 1}] (N = {N} nodes in "
                         f"'features'; got values in [{int(e.min())}, {int(e.max())}])")
    return e


def _check_no_duplicates(e: Tensor, N: int, name: str) -> None:
    """A :class:`ValueError` naming ``name`` and the first edge ``e`` ``[2, E]`` holds more than once."""
    keys = e[0] * N + e[1]
    uniq, counts = torch.unique(keys, return_counts=True)
    if bool((counts > 1).any()):
        k = int(uniq[counts > 1][0])
        raise ValueError(f"from_temporal_signal: '{name}' holds the edge ({k // N}, {k % N}) more than once; a "
                         f"dynamic signal is stored as the union of its steps' edges with an 'edge_mask', so each "
                         f"edge may occur once per step: expected 1 copy (got {int(counts[counts > 1][0])}; merge "
                         f"them first, e.g. sum their weights)")


# ------------------------------------------------------------- HeteroData
#: keys ``to_hetero`` handles itself (the graph and the types that split it)
_STRUCTURE = ("x", "edge_index", "node_type", "edge_type", "schema", "batch", "ptr")


def _split_keys(data: STData) -> Tuple[List[str], List[str], List[str]]:
    """The node-level, edge-level and graph-level keys of ``data`` besides
    :data:`_STRUCTURE`, by the rule the one-hop loader slices with
    (:func:`~srnn_pyg.loader.key_kinds`: the known keys by name, ``t_start``
    graph-level whatever the counts, others by their rows, a count shared by
    nodes and edges going to the edges for names with ``edge``); a key known
    by name without a row per node (edge), such as a graph-level ``y``
    ``[1]``, stays graph-level."""
    node, edge, graph = [], [], []
    N, E = data.num_nodes, data.num_edges
    from .loader import key_kinds  # srnn_pyg.loader imports srnn_pyg.data, which imports this module
    for key, kind in key_kinds(data, N, E).items():
        if key in _STRUCTURE or key in ("node_id", "edge_id") or kind == "drop":   # the ids are to_hetero's own
            continue
        value = data[key]
        rows = value.size(0) if isinstance(value, Tensor) and value.dim() > 0 else None
        if kind in ("node", "edge") and rows != (N if kind == "node" else E):
            kind = "keep"
        {"node": node, "edge": edge}.get(kind, graph).append(key)
    return node, edge, graph


def to_hetero(data: STData, schema: Optional[STSchema] = None) -> HeteroData:
    r"""A :class:`~torch_geometric.data.HeteroData` with one node store per node
    type (``x`` ``[N_type, T, F]``, every other per-node key where present:
    ``node_mask``, ``y``, ``y_mask``, ``y_weight``, ``u_future``, ..., plus
    ``node_id``: the node's index in ``data``) and one edge store per
    ``(src, rel, dst)`` (``edge_attr``, ``edge_mask`` and other per-edge keys;
    an undirected type of two node types gives both ``(a, rel, b)`` and
    ``(b, rel, a)``). Graph-level keys (``t_start``, ...) and the schema are
    kept on the whole graph, so :func:`from_hetero` gives ``data`` back with
    the same edge types, directed or not. A key of ``data`` named ``node_id``
    or ``edge_id`` is left out: in the stores, those are the positions."""
    schema = schema or data.schema or _default_schema(data.num_edges)
    N = data.num_nodes
    nt = data.get("node_type")
    nt = nt if nt is not None else torch.zeros(N, dtype=torch.long, device=data.x.device)
    et = data.get("edge_type")
    et = et if et is not None else torch.zeros(data.num_edges, dtype=torch.long, device=data.x.device)
    node_keys, edge_keys, graph_keys = _split_keys(data)
    out = HeteroData()
    for key in graph_keys:
        out[key] = data[key]
    out.schema = schema
    local = torch.empty(N, dtype=torch.long, device=nt.device)
    for p, name in enumerate(schema.node_types):
        idx = (nt == p).nonzero().view(-1)
        local[idx] = torch.arange(idx.numel(), device=nt.device)
        store = out[name]
        store.node_id = idx
        store.x = data.x[idx]
        store.num_nodes = idx.numel()
        for key in node_keys:
            store[key] = data[key][idx]
    src, dst = data.edge_index
    for k, etype in enumerate(schema.edge_types):
        for s_name, d_name in {(etype.src, etype.dst), (etype.dst, etype.src)} if not etype.directed \
                else {(etype.src, etype.dst)}:
            sel = (et == k) & (nt[src] == schema.node_type_index(s_name)) \
                & (nt[dst] == schema.node_type_index(d_name))
            e = sel.nonzero().view(-1)
            store = out[s_name, etype.rel, d_name]
            store.edge_index = torch.stack([local[src[e]], local[dst[e]]])
            store.edge_id = e
            for key in edge_keys:
                store[key] = data[key][e]
    return out


def from_hetero(hetero: HeteroData, schema: Optional[STSchema] = None,
                directed: Optional[bool] = None) -> STData:
    r"""An :class:`STData` from a :class:`~torch_geometric.data.HeteroData`
    whose node stores hold ``x`` of shape ``[N_type, T, F]``.

    Without ``schema``, node types are the hetero node types and each edge store
    ``(src, rel, dst)`` gives an edge type; with ``directed=None`` a store whose
    reverse ``(dst, rel, src)`` also exists (or that joins a node type to itself)
    becomes one undirected type, as the S-RNN paper shares one edgeRNN between
    both directions; a ``schema`` kept on the graph (:func:`to_hetero` keeps
    it) is used when none is given. Nodes are numbered type by type, or by
    ``node_id`` where every node store has one, and edges by ``edge_id`` where
    every edge store has one (so that :func:`to_hetero` round-trips). Keys
    every node store (edge store) holds besides ``x`` (``edge_index``) are
    joined into per-node (per-edge) keys; the graph's own keys are kept.
    """
    node_names = list(hetero.node_types)
    if schema is None and isinstance(hetero.get("schema"), STSchema) and directed is None:
        schema = hetero.schema
    if schema is None:
        edge_types, flags, done = [], [], set()
        for s, r, d in hetero.edge_types:
            if (s, r, d) in done:
                continue
            rev = (d, r, s) in hetero.edge_types
            undirected = (rev or s == d) if directed is None else not directed
            edge_types.append((s, r, d))
            flags.append(not undirected)
            done.add((s, r, d))
            if undirected:
                done.add((d, r, s))
        schema = STSchema(node_names, edge_types, directed=flags)
    xs, types, ids, offsets = [], [], [], {}
    offset = 0
    for name in schema.node_types:
        if name not in node_names:
            offsets[name] = offset
            continue
        store = hetero[name]
        x = store.get("x")
        if x is None or x.dim() != 3:
            raise ValueError(f"from_hetero: node type {name!r} must hold 'x' as [N_type, T, F] (got {_shape(x)})")
        xs.append(x)
        types.append(x.new_full((x.size(0),), schema.node_type_index(name), dtype=torch.long))
        ids.append(store.get("node_id"))
        offsets[name] = offset
        offset += x.size(0)
    T, F = xs[0].size(1), xs[0].size(2)
    for name, xi in zip([n for n in schema.node_types if n in node_names], xs):
        if xi.size(1) != T:
            raise ValueError(f"from_hetero: node type {name!r} has T={xi.size(1)}, others T={T}")
        if xi.size(2) != F:
            raise ValueError(f"from_hetero: node type {name!r} has F={xi.size(2)} features, the first type F={F}; "
                             f"an STData holds one x [N, T, F] for all nodes: pad the narrower types' features "
                             f"(e.g. with zeros) to one width first")
    x, node_type = torch.cat(xs), torch.cat(types)
    edge_stores = list(hetero.edge_types)
    extras = {key: [] for key in _common_keys([hetero[t] for t in edge_stores], ("edge_index",),
                                              [hetero[t].edge_index.size(1) for t in edge_stores])}
    edges, etypes = [], []
    for (s, r, d) in edge_stores:
        store = hetero[s, r, d]
        k = schema.edge_type_index((s, r, d))
        ei = store.edge_index + torch.tensor([[offsets[s]], [offsets[d]]], device=store.edge_index.device)
        edges.append(ei)
        etypes.append(torch.full((ei.size(1),), k, dtype=torch.long, device=ei.device))
        for key in extras:
            extras[key].append(store.get(key))
    edge_index = torch.cat(edges, 1) if edges else torch.empty(2, 0, dtype=torch.long)
    edge_type = torch.cat(etypes) if etypes else torch.empty(0, dtype=torch.long)
    data = STData(x=x, edge_index=edge_index, node_type=node_type, edge_type=edge_type)
    for key, vals in extras.items():
        if vals and all(v is not None for v in vals):
            data[key] = torch.cat(vals)
    present = [hetero[n] for n in schema.node_types if n in node_names]
    node_keys = _common_keys(present, ("x", "node_id", "num_nodes"), [store.x.size(0) for store in present])
    for key in node_keys:
        data[key] = torch.cat([store[key] for store in present])
    for key, value in hetero._global_store.items():
        if key != "schema" and key not in data:
            data[key] = value
    edge_id = extras.pop("edge_id", None)
    if edge_id:
        edge_id = torch.cat(edge_id)
        if bool((edge_id.sort().values == torch.arange(edge_id.numel(), device=edge_id.device)).all()):
            data = _permute_edges(data, edge_id, ["edge_type"] + list(extras))    # else a key of the user's, kept
    if all(i is not None for i in ids) and ids:
        node_id = torch.cat(ids)
        if node_id.numel() == x.size(0) and bool((node_id.sort().values ==
                                                  torch.arange(x.size(0), device=node_id.device)).all()):
            data = _permute_nodes(data, node_id, ["x", "node_type"] + node_keys)
    return _finish(data, schema)


def _common_keys(stores: List[Any], skip: Sequence[str], rows: Sequence[int]) -> List[str]:
    """The keys every store of ``stores`` holds as a tensor with a row per
    node (edge) of that store (``rows``: their numbers), but ``skip``, in the
    first store's order; other keys (a 0-d tensor, a per-type table) are not
    joined."""
    def per_row(store: Any, key: str, n: int) -> bool:
        value = store.get(key)
        return isinstance(value, Tensor) and value.dim() > 0 and value.size(0) == n
    if not stores:
        return []
    keys = [k for k in stores[0].keys() if k not in skip]
    return [k for k in keys if all(per_row(store, k, n) for store, n in zip(stores, rows))]


def _permute_edges(data: STData, new_position: Tensor, keys: Sequence[str]) -> STData:
    """Move edge ``e`` of ``data`` to position ``new_position[e]`` in
    ``edge_index`` and the per-edge ``keys`` (``data`` holds ``edge_id``,
    which goes)."""
    del data["edge_id"]
    data.edge_index = torch.empty_like(data.edge_index).index_copy_(1, new_position, data.edge_index)
    for key in keys:
        value = data.get(key)
        if isinstance(value, Tensor):
            data[key] = torch.empty_like(value).index_copy_(0, new_position, value)
    return data


def _permute_nodes(data: STData, new_position: Tensor, keys: Sequence[str]) -> STData:
    """Move node ``i`` of ``data`` to position ``new_position[i]`` in the
    per-node ``keys`` (``edge_index`` renumbered)."""
    out = STData()
    for key, value in data._store.items():
        out[key] = value
        if key in keys and isinstance(value, Tensor):
            out[key] = torch.empty_like(value).index_copy_(0, new_position, value)
    out.edge_index = new_position[data.edge_index]
    return out
