"""Spatio-temporal graphs as PyG data: :class:`STData`, time windows and conversions."""
from __future__ import annotations

import copy
import copyreg
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, Dataset, HeteroData
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage

from .schema import EdgeType, STSchema

__all__ = [
    "STData",
    "TimeWindows",
    "pad_collate",
    "check_schemas",
    "rebuild_batch",
    "from_networkx",
    "to_networkx",
    "from_dense",
    "from_temporal_signal",
    "from_hetero",
    "to_hetero",
]

# Keys whose second dimension is time, and what the first dimension counts.
_NODE_TIME_KEYS = ("x", "node_mask")
_EDGE_TIME_KEYS = ("edge_attr", "edge_mask")
_PADDED_MASKS = {"node_mask", "y_mask"}                # keys that STData.pad_to adds


def _shape(v: Any) -> str:
    return str(list(v.shape)) if isinstance(v, Tensor) else type(v).__name__


class STData(Data):
    r"""A spatio-temporal graph (or a time window of one) as a
    :class:`torch_geometric.data.Data`.

    The layout is node-major with time second, so PyG's
    :class:`~torch_geometric.data.Batch` and
    :class:`~torch_geometric.loader.DataLoader` batch windows of different
    graphs with no extra code (nodes and edges are concatenated, ``edge_index``
    is shifted).

    ============== ===================== ==========================================
    key            shape                 meaning
    ============== ===================== ==========================================
    ``x``          ``[N, T, F]``         node features at each time step
    ``edge_index`` ``[2, E]`` long       spatial edges ``src -> dst`` (undirected
                                         edges stored both ways)
    ``node_type``  ``[N]`` long          index into ``schema.node_types``
    ``edge_type``  ``[E]`` long          index into ``schema.edge_types``
    ``edge_attr``  ``[E, T, F_e]``       optional given edge features
    ``node_mask``  ``[N, T]`` bool       optional: node present at ``t``
    ``edge_mask``  ``[E, T]`` bool       optional: edge present at ``t``
    ``y``          ``[N, H, F_out]``     optional future targets, or ``[N, H]``
                                         long class labels
    ``y_mask``     ``[N, H]`` bool       optional: target present
    ``schema``     :class:`STSchema`     optional; kept once per batch
    ============== ===================== ==========================================

    Saved graphs and batches load back with a plain ``torch.load(path)``
    (``weights_only=True``): the classes they hold are registered with
    :func:`torch.serialization.add_safe_globals`.
    """

    @property
    def schema(self) -> Optional[STSchema]:
        value = self._store.get("schema", None)
        if isinstance(value, (list, tuple)):  # a batch holds one per graph
            check_schemas(value)
            return value[0] if len(value) > 0 else None
        return value

    @schema.setter
    def schema(self, value: Optional[STSchema]) -> None:
        if value is not None and not isinstance(value, STSchema):
            raise TypeError(f"STData: 'schema' must be an STSchema (got {type(value).__name__})")
        self._store["schema"] = value

    def check_schema(self, expected: Optional[STSchema] = None) -> None:
        """Raise a :class:`ValueError` naming the schemas unless every graph of
        this (batch of) graph(s) has one schema equal to ``expected`` where given
        (what a model may call at its entry: cheap, schemas compare by identity first)."""
        value = self._store.get("schema", None)
        check_schemas(list(value) if isinstance(value, (list, tuple)) else [value], expected)

    @property
    def num_steps(self) -> int:
        """The number of time steps ``T`` of ``x``."""
        return int(self.x.size(1))

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.size(1)) if self.edge_index is not None else 0

    # ----------------------------------------------------------- validation
    def validate(self, schema: Optional[STSchema] = None, raise_on_error: bool = True) -> bool:
        """Check shapes, dtypes, index and type ranges, edge types against their
        endpoint types, and finite values.

        Raises:
            ValueError: naming the key, the expected and the received value.
        """
        try:
            self._validate(schema if schema is not None else self.schema)
        except ValueError:
            if raise_on_error:
                raise
            return False
        return True

    def _validate(self, schema: Optional[STSchema]) -> None:
        x = self.x
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(f"STData: 'x' must be a [num_nodes, T, F] tensor (got {_shape(x)})")
        if not x.is_floating_point():
            raise ValueError(f"STData: 'x' must be a floating-point tensor (got {x.dtype})")
        N, T, _ = x.shape
        if N == 0 or T == 0:
            raise ValueError(f"STData: 'x' is empty: no nodes or no steps (got {list(x.shape)})")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("STData: 'x' holds NaN or infinite values")

        ei = self.edge_index
        if ei is None:
            raise ValueError("STData: 'edge_index' is missing (use an empty [2, 0] tensor for no edges)")
        if ei.dim() != 2 or ei.size(0) != 2:
            raise ValueError(f"STData: 'edge_index' must be [2, num_edges] (got {_shape(ei)})")
        if ei.dtype != torch.long:
            raise ValueError(f"STData: 'edge_index' must be torch.long (got {ei.dtype})")
        E = ei.size(1)
        if E > 0 and (int(ei.min()) < 0 or int(ei.max()) >= N):
            raise ValueError(f"STData: 'edge_index' must lie in [0, {N - 1}] "
                             f"(got values in [{int(ei.min())}, {int(ei.max())}])")

        P = schema.num_node_types if schema is not None else None
        K = schema.num_edge_types if schema is not None else None
        nt, et = self.get("node_type"), self.get("edge_type")
        if nt is None and P is not None and P > 1:
            raise ValueError(f"STData: 'node_type' is missing and the schema has {P} node types")
        if et is None and K is not None and K > 1 and E > 0:
            raise ValueError(f"STData: 'edge_type' is missing and the schema has {K} edge types")
        if nt is not None:
            _check_index("node_type", nt, (N,), "[num_nodes]", P)
        if et is not None:
            _check_index("edge_type", et, (E,), "[num_edges]", K)
        if schema is not None and E > 0:
            if K == 0:
                raise ValueError(f"STData: the graph has {E} edges but the schema has no edge types")
            ntt = nt if nt is not None else torch.zeros(N, dtype=torch.long, device=x.device)
            ett = et if et is not None else torch.zeros(E, dtype=torch.long, device=x.device)
            schema.check_edge_types(ntt[ei[0]], ntt[ei[1]], ett)

        ea = self.get("edge_attr")
        if ea is not None:
            if ea.dim() != 3 or ea.size(0) != E or ea.size(1) != T:
                raise ValueError(f"STData: 'edge_attr' must be [num_edges, T, F_e] = [{E}, {T}, F_e] "
                                 f"(got {_shape(ea)})")
            if not ea.is_floating_point() or not bool(torch.isfinite(ea).all()):
                raise ValueError("STData: 'edge_attr' must be finite floating-point values")
        for key, rows, name in (("node_mask", N, "num_nodes"), ("edge_mask", E, "num_edges")):
            m = self.get(key)
            if m is not None and m.dtype != torch.bool:
                raise ValueError(f"STData: '{key}' must be torch.bool (got {m.dtype})")
            if m is not None and tuple(m.shape) != (rows, T):
                raise ValueError(f"STData: '{key}' must be [{name}, T] = [{rows}, {T}] (got {_shape(m)})")
        y = self.get("y")
        if y is not None:
            if not isinstance(y, Tensor) or y.dim() not in (2, 3) or y.size(0) != N:
                raise ValueError(f"STData: 'y' must be [num_nodes, H, F_out] or [num_nodes, H] "
                                 f"with num_nodes={N} (got {_shape(y)})")
            if y.is_floating_point() and not bool(torch.isfinite(y).all()):
                raise ValueError("STData: 'y' holds NaN or infinite values")
            if not y.is_floating_point() and y.dtype != torch.long:
                raise ValueError(f"STData: 'y' must be floating point or torch.long (got {y.dtype})")
            ym = self.get("y_mask")
            if ym is not None and (ym.dtype != torch.bool or tuple(ym.shape) != tuple(y.shape[:2])):
                raise ValueError(f"STData: 'y_mask' must be a bool [num_nodes, H] = {list(y.shape[:2])} "
                                 f"tensor (got {_shape(ym)}, {getattr(ym, 'dtype', None)})")

    # --------------------------------------------------------------- windows
    def window(self, start: int, obs: int, horizon: int = 0, target: str = "x") -> "STData":
        """The window ``x = frames[start:start+obs]``, ``y = frames[start+obs:start+obs+horizon]``.

        Time-indexed keys (``x``, ``node_mask``, ``edge_attr``, ``edge_mask``)
        are sliced as views, so a window shares storage with its recording.
        ``y`` is taken from the key ``target`` (``[N, T, ...]``): with
        ``target="x"`` the frames after the window; with any other key, whose
        ``[:, t]`` is the target *of* snapshot ``t`` (as
        :func:`from_temporal_signal` stores PyG Temporal's targets), the
        targets of the last observed snapshot onwards,
        ``y = target[start+obs-1 : start+obs-1+horizon]``. With a
        ``node_mask``, ``y_mask`` holds presence over the same steps.
        """
        T = self.num_steps
        first = start + obs if target == "x" else start + obs - 1      # the first target step
        if obs < 1 or horizon < 0 or start < 0 or start + obs > T or first + horizon > T:
            need = "start + obs + horizon" if target == "x" else "start + obs - 1 + horizon"
            raise ValueError(f"STData.window: need 0 <= start, 1 <= obs, 0 <= horizon and "
                             f"{need} <= T={T} (got start={start}, obs={obs}, horizon={horizon})")
        out = STData()
        for key, value in self._store.items():
            if key in _NODE_TIME_KEYS or key in _EDGE_TIME_KEYS:
                out[key] = value[:, start:start + obs]
            elif key in ("y", "y_mask") and target != key:
                continue
            elif key != target or key == "x":
                out[key] = value
        if horizon > 0:
            src = self[target]
            if src is None:
                raise ValueError(f"STData.window: no key {target!r} to take targets from")
            out.y = src[:, first:first + horizon]
            if self.get("node_mask") is not None:
                out.y_mask = self.node_mask[:, first:first + horizon]
        return out

    def pad_to(self, steps: int, horizon: Optional[int] = None) -> "STData":
        r"""This window padded to ``steps`` observed and ``horizon`` target steps
        (default: ``H``), so that windows of different lengths batch (:func:`pad_collate`).

        Observed keys (``x``, masks, ``edge_attr``) get the new steps at the
        start, so every window still ends at its last observed frame; targets
        ``y`` at the end (class labels ``[N, H]``, which end with the observed
        steps, at the start). New entries are zero and absent: the result always
        holds ``node_mask`` (and ``y_mask`` with ``y``), False there, so masked
        losses and metrics ignore them. Padding never shortens (``ValueError``).
        """
        y, T = self.get("y"), self.num_steps
        H = int(y.size(1)) if isinstance(y, Tensor) else 0
        horizon = H if horizon is None else int(horizon)
        if steps < T or horizon < H or (y is None and horizon > 0):
            raise ValueError(f"STData.pad_to: 'steps' must be >= T={T} and 'horizon' >= H={H} (0 without "
                             f"'y'); padding never shortens (got steps={steps}, horizon={horizon})")
        out = copy.copy(self)
        if self.get("node_mask") is None:
            out.node_mask = torch.ones(self.x.shape[:2], dtype=torch.bool, device=self.x.device)
        if y is not None and self.get("y_mask") is None:
            out.y_mask = torch.ones(y.shape[:2], dtype=torch.bool, device=y.device)
        for key in _NODE_TIME_KEYS + _EDGE_TIME_KEYS:
            v = out.get(key)
            if isinstance(v, Tensor) and steps > T:
                out[key] = torch.cat([v.new_zeros(v.size(0), steps - T, *v.shape[2:]), v], dim=1)
        for key in ("y", "y_mask") if y is not None and horizon > H else ():
            v = out[key]
            pad = v.new_zeros(v.size(0), horizon - H, *v.shape[2:])
            out[key] = torch.cat([pad, v] if not y.is_floating_point() else [v, pad], dim=1)  # [N, horizon, ...]
        return out


def check_schemas(schemas: Sequence[Optional[STSchema]], expected: Optional[STSchema] = None) -> None:
    """Raise a :class:`ValueError` naming both schemas unless ``schemas`` (one
    per graph of a batch; :obj:`None` skipped) are one, equal to ``expected`` if given."""
    found = [(i, s) for i, s in enumerate(schemas) if s is not None]
    for i, s in found[1:]:
        if s is not found[0][1] and s != found[0][1]:
            raise ValueError(f"STData: a batch mixes graphs of different schemas (graph {found[0][0]}: "
                             f"{found[0][1]!r}; graph {i}: {s!r}); batch windows of one schema only")
    if expected is not None and found and found[0][1] is not expected and found[0][1] != expected:
        raise ValueError(f"STData: the data's schema is {found[0][1]!r}, expected {expected!r}")


def pad_collate(data_list: Sequence[STData]) -> Batch:
    r"""A batch of windows of any lengths, each padded to the longest observed
    and target lengths (:meth:`STData.pad_to`) where they differ; a ``collate_fn``:
    ``torch.utils.data.DataLoader(windows, 32, collate_fn=pad_collate)``.
    Windows of different schemas or keys raise a :class:`ValueError` naming them."""
    data_list = list(data_list)
    if not data_list:
        raise ValueError("pad_collate: 'data_list' must hold at least one window (got 0)")
    check_schemas([d._store.get("schema", None) for d in data_list])
    keys = [set(d.keys()) for d in data_list]
    for i, k in enumerate(keys):
        if k - _PADDED_MASKS != keys[0] - _PADDED_MASKS:
            raise ValueError(f"pad_collate: window {i} holds the keys {sorted(k)}, window 0 {sorted(keys[0])}")
    steps = max(d.num_steps for d in data_list)
    lengths = [int(d.y.size(1)) if isinstance(d.get("y"), Tensor) else None for d in data_list]
    horizon = max((h for h in lengths if h is not None), default=0)
    if any(d.num_steps != steps or h not in (None, horizon) or k != keys[0]
           for d, h, k in zip(data_list, lengths, keys)):
        data_list = [d.pad_to(steps, None if h is None else horizon) for d, h in zip(data_list, lengths)]
    return Batch.from_data_list(data_list)


def _check_index(key: str, value: Any, shape: tuple, desc: str, bound: Optional[int]) -> None:
    if not isinstance(value, Tensor) or tuple(value.shape) != shape:
        raise ValueError(f"STData: '{key}' must be {desc} = {list(shape)} (got {_shape(value)})")
    if value.dtype != torch.long:
        raise ValueError(f"STData: '{key}' must be torch.long (got {value.dtype})")
    if bound is not None and value.numel() > 0:
        lo, hi = int(value.min()), int(value.max())
        if lo < 0 or hi >= bound:
            raise ValueError(f"STData: '{key}' must lie in [0, {bound - 1}] (got values in [{lo}, {hi}])")


class TimeWindows(Dataset):
    r"""Sliding ``(observed, future)`` windows over one long recording.

    Window ``i`` starts at ``i * stride``: ``x = frames[s:s+obs]`` and
    ``y = frames[s+obs:s+obs+horizon]``; with ``target`` another key (per-snapshot
    targets, ``[:, t]`` the target of snapshot ``t``),
    ``y = target[s+obs-1:s+obs-1+horizon]`` (see :meth:`STData.window`). Windows
    are views into the recording (no copy per window); a loader copies when it batches.

    Args:
        recording (STData): the whole sequence, ``x`` of shape ``[N, T_total, F]``.
        obs (int): observed steps per window.
        horizon (int): future steps per window.
        stride (int, optional): steps between window starts. (default: :obj:`1`)
        target (str, optional): key of ``recording`` that ``y`` is read from.
            (default: :obj:`"x"`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)
    """

    def __init__(self, recording: STData, obs: int, horizon: int, stride: int = 1, target: str = "x", transform=None):
        if stride < 1:
            raise ValueError(f"TimeWindows: 'stride' must be >= 1 (got {stride})")
        T = recording.num_steps
        span = obs + horizon - (0 if target == "x" else 1)            # steps one window covers
        if obs > T or span > T:
            raise ValueError(f"TimeWindows: a window covers {span} steps (obs={obs}, horizon={horizon}, "
                             f"target={target!r}), which exceeds the recording's {T} steps")
        self.recording, self.obs, self.horizon = recording, int(obs), int(horizon)
        self.stride, self.target = int(stride), target
        self._count = (T - span) // stride + 1
        super().__init__(None, transform)

    def len(self) -> int:
        return self._count

    def get(self, idx: int) -> STData:
        return self.recording.window(idx * self.stride, self.obs, self.horizon, self.target)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({len(self)}, obs={self.obs}, "
                f"horizon={self.horizon}, stride={self.stride})")


# ------------------------------------------------------------------ helpers
def _default_schema(num_edges: int) -> STSchema:
    return STSchema(["node"], [("node", "node")] if num_edges >= 0 else [])


def _as_tensor(value: Any, dtype: Optional[torch.dtype] = None) -> Tensor:
    if isinstance(value, Tensor):
        return value.to(dtype) if dtype is not None else value
    arr = np.asarray(value)
    t = torch.from_numpy(np.ascontiguousarray(arr))
    return t.to(dtype) if dtype is not None else (t.float() if t.is_floating_point() else t)


def _node_types_from_names(names: Sequence[Any], schema: STSchema) -> Tensor:
    return torch.tensor([schema.node_type_index(str(n)) for n in names], dtype=torch.long)


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
    stored both ways. Edge types are read from ``edge_type_attr`` (a relation
    name, for schemas with ``(src, rel, dst)`` edge types) or inferred from the
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
        x = torch.stack([_as_tensor(graph.nodes[n][feature_attr]) for n in nodes])
    x = _as_tensor(x)
    if x.dim() != 3 or x.size(0) != len(nodes):
        raise ValueError(f"from_networkx: 'x' must be [num_nodes, T, F] with num_nodes={len(nodes)} "
                         f"(got {_shape(x)})")
    src, dst, rels = [], [], []
    for u, v, attrs in graph.edges(data=True):
        rel = None if edge_type_attr is None else attrs.get(edge_type_attr)
        pairs = [(index[u], index[v])] if graph.is_directed() else [(index[u], index[v]), (index[v], index[u])]
        for s, d in pairs:
            src.append(s)
            dst.append(d)
            rels.append(rel)
    edge_index = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    if edge_type_attr is not None and any(r is not None for r in rels):
        edge_type = torch.tensor(
            [schema.edge_type_index((types[s], str(r), types[d])) for s, d, r in zip(src, dst, rels)],
            dtype=torch.long)
    else:
        edge_type = schema.infer_edge_type(node_type[edge_index[0]], node_type[edge_index[1]])
    data = STData(x=x, edge_index=edge_index.to(x.device), node_type=node_type.to(x.device),
                  edge_type=edge_type.to(x.device))
    return _finish(data, schema)


def to_networkx(data: STData, schema: Optional[STSchema] = None) -> Any:
    """A :class:`networkx.Graph` (or ``DiGraph`` if any edge type is directed)
    with node attributes ``type`` (name) and ``x`` (``[T, F]``) and edge
    attribute ``rel``; the inverse of :func:`from_networkx`."""
    import networkx as nx

    schema = schema or data.schema or _default_schema(data.num_edges)
    directed = any(et.directed for et in schema.edge_types)
    g = nx.DiGraph() if directed else nx.Graph()
    nt = data.get("node_type")
    nt = nt.tolist() if nt is not None else [0] * data.num_nodes
    for i in range(data.num_nodes):
        g.add_node(i, type=schema.node_types[nt[i]], x=data.x[i].detach().cpu())
    et = data.get("edge_type")
    et = et.tolist() if et is not None else [0] * data.num_edges
    for (s, d), k in zip(data.edge_index.t().tolist(), et):
        g.add_edge(s, d, rel=schema.edge_types[k].rel)
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
    x = _as_tensor(x)
    if x.dim() != 3:
        raise ValueError(f"from_dense: 'x' must be [T, N, F] (got {_shape(x)})")
    T, N, _ = x.shape
    adj = _as_tensor(adj).to(x.device)
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
        raise ValueError(f"from_dense: 'adj' must be [N, N] with N={N} (got {_shape(adj)})")
    present = adj != 0                                                   # [T', N, N]
    union = present.any(0)
    src, dst = union.nonzero(as_tuple=True)
    edge_index = torch.stack([src, dst])
    if schema is None:
        schema = _default_schema(edge_index.size(1))
    if node_type is None:
        nt = torch.zeros(N, dtype=torch.long, device=x.device)
    elif isinstance(node_type, (list, tuple)) and node_type and isinstance(node_type[0], str):
        nt = _node_types_from_names(node_type, schema).to(x.device)
    else:
        nt = _as_tensor(node_type, torch.long).to(x.device)
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
    per-step targets as ``y`` ``[N, T]`` or ``[N, T, F_y]`` (``y[:, t]`` is the
    target of snapshot ``t``). Cut it into windows with :class:`TimeWindows`.
    """
    feats = getattr(signal, "features", None)
    if feats is None or len(feats) == 0:
        raise ValueError("from_temporal_signal: the signal has no 'features' (a list of [N, F] arrays)")
    x = torch.stack([_as_tensor(f) for f in feats], dim=1)              # [N, T, F]
    if x.dim() == 2:
        x = x.unsqueeze(-1)
    N, T, _ = x.shape
    if hasattr(signal, "edge_indices"):
        per_step = [_as_tensor(e, torch.long).view(2, -1) for e in signal.edge_indices]
        weights = getattr(signal, "edge_weights", None)
        if len(per_step) != T:
            raise ValueError(f"from_temporal_signal: {len(per_step)} edge sets for {T} snapshots")
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
            edge_attr[pos, t, 0] = _as_tensor(weights[t]).float().view(-1) if given else 1.0
    else:
        edge_index = _as_tensor(signal.edge_index, torch.long).view(2, -1)
        w = getattr(signal, "edge_weight", None)
        w = _as_tensor(w).float().view(-1) if w is not None else torch.ones(edge_index.size(1))
        edge_attr = w.view(-1, 1, 1).expand(-1, T, 1).contiguous()
        edge_mask = None
    schema = schema or _default_schema(edge_index.size(1))
    nt = torch.zeros(N, dtype=torch.long) if node_type is None else _as_tensor(node_type, torch.long)
    data = STData(x=x, edge_index=edge_index, node_type=nt,
                  edge_type=schema.infer_edge_type(nt[edge_index[0]], nt[edge_index[1]]),
                  edge_attr=edge_attr)
    if edge_mask is not None:
        data.edge_mask = edge_mask
    targets = getattr(signal, "targets", None)
    if targets is not None and len(targets) == T and all(t is not None for t in targets):
        data.y = torch.stack([_as_tensor(t) for t in targets], dim=1)  # [N, T, ...]
    return _finish(data, schema)


# ------------------------------------------------------------- HeteroData
def to_hetero(data: STData, schema: Optional[STSchema] = None) -> HeteroData:
    r"""A :class:`~torch_geometric.data.HeteroData` with one node store per node
    type (``x`` ``[N_type, T, F]``, and ``node_mask``/``y`` where present, plus
    ``node_id``: the node's index in ``data``) and one edge store per
    ``(src, rel, dst)`` (an undirected type of two node types gives both
    ``(a, rel, b)`` and ``(b, rel, a)``)."""
    schema = schema or data.schema or _default_schema(data.num_edges)
    N = data.num_nodes
    nt = data.get("node_type")
    nt = nt if nt is not None else torch.zeros(N, dtype=torch.long, device=data.x.device)
    et = data.get("edge_type")
    et = et if et is not None else torch.zeros(data.num_edges, dtype=torch.long, device=data.x.device)
    out = HeteroData()
    local = torch.empty(N, dtype=torch.long, device=nt.device)
    for p, name in enumerate(schema.node_types):
        idx = (nt == p).nonzero().view(-1)
        local[idx] = torch.arange(idx.numel(), device=nt.device)
        store = out[name]
        store.node_id = idx
        store.x = data.x[idx]
        store.num_nodes = idx.numel()
        for key in ("node_mask", "y", "y_mask"):
            if data.get(key) is not None:
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
            for key in ("edge_attr", "edge_mask"):
                if data.get(key) is not None:
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
    both directions. Nodes are numbered type by type, or by ``node_id`` where
    every node store has one (so that :func:`to_hetero` round-trips).
    """
    node_names = list(hetero.node_types)
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
    T = xs[0].size(1)
    for name, xi in zip([n for n in schema.node_types if n in node_names], xs):
        if xi.size(1) != T:
            raise ValueError(f"from_hetero: node type {name!r} has T={xi.size(1)}, others T={T}")
    x, node_type = torch.cat(xs), torch.cat(types)
    edges, etypes, extras = [], [], {"edge_attr": [], "edge_mask": []}
    for (s, r, d) in hetero.edge_types:
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
    for key in ("node_mask", "y", "y_mask"):
        vals = [hetero[n].get(key) for n in schema.node_types if n in node_names]
        if vals and all(v is not None for v in vals):
            data[key] = torch.cat(vals)
    if all(i is not None for i in ids) and ids:
        node_id = torch.cat(ids)
        if node_id.numel() == x.size(0) and bool((node_id.sort().values ==
                                                  torch.arange(x.size(0), device=node_id.device)).all()):
            data = _permute_nodes(data, node_id)
    return _finish(data, schema)


def _permute_nodes(data: STData, new_position: Tensor) -> STData:
    """Move node ``i`` of ``data`` to position ``new_position[i]``."""
    N = data.num_nodes
    out = STData()
    for key, value in data._store.items():
        out[key] = value
        if isinstance(value, Tensor) and key != "edge_index" and value.dim() > 0 \
                and value.size(0) == N and key not in ("edge_type", "edge_attr", "edge_mask"):
            out[key] = torch.empty_like(value).index_copy_(0, new_position, value)
    out.edge_index = new_position[data.edge_index]
    return out


# ------------------------------------------------------------ serialisation
def rebuild_batch() -> Batch:
    """An empty batch of :class:`STData`, which a saved batch is loaded into."""
    return Batch(_base_cls=STData)


def _reduce_batch(batch: Batch) -> tuple:
    # PyG pickles a batch through a callable object, which weights_only loading refuses.
    return rebuild_batch, (), batch.__getstate__()      # state set after: its store points back at it


copyreg.pickle(type(rebuild_batch()), _reduce_batch)
torch.serialization.add_safe_globals([STData, STSchema, EdgeType, type(rebuild_batch()), rebuild_batch,
                                      GlobalStorage, DataEdgeAttr, DataTensorAttr])
