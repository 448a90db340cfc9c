"""The typed structure of a spatio-temporal graph: :class:`STSchema`."""
from __future__ import annotations

import numbers
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

__all__ = ["EdgeType", "STSchema"]

EdgeTypeSpec = Union[Tuple[str, str], Tuple[str, str, str], "EdgeType"]


class EdgeType(NamedTuple):
    """One spatial edge type of an :class:`STSchema`.

    Attributes:
        src (str): node type of the sender.
        rel (str): relation name; two edge types may join the same node types
            if their relations differ (PyG's ``(src, rel, dst)`` convention).
        dst (str): node type of the receiver.
        directed (bool): if :obj:`False`, messages flow both ways and both
            directions share one edgeRNN, as in the S-RNN paper.
    """

    src: str
    rel: str
    dst: str
    directed: bool = False

    @property
    def name(self) -> str:
        return f"{self.src}-{self.rel}-{self.dst}" if self.rel != "to" else f"{self.src}-{self.dst}"

    def accepts(self, src: str, dst: str) -> bool:
        """Whether an edge ``src -> dst`` between these node types can be of this type."""
        if (src, dst) == (self.src, self.dst):
            return True
        return not self.directed and (src, dst) == (self.dst, self.src)


class STSchema:
    r"""The semantic types of a spatio-temporal graph (ST-graph), after
    `Jain et al. (CVPR 2016) <https://arxiv.org/abs/1511.05298>`_.

    Every node carries one of ``node_types``; every spatial edge one of
    ``edge_types``. With ``temporal=True`` each node type also has a temporal
    edge type (a node to itself at the previous time step). An S-RNN built on
    the schema has one edgeRNN per edge type and one nodeRNN per node type, so
    the schema fixes the model's parameters, whatever the size of the graph.

    .. code-block:: python

        schema = STSchema(["torso", "arm", "leg"],
                          [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
        schema.incoming("arm")   # [0, 2]: edge types torso-arm and arm-arm reach an arm

    Args:
        node_types (list[str]): node type names, in the order that
            ``data.node_type`` indexes.
        edge_types (list[tuple]): spatial edge types in the order that
            ``data.edge_type`` indexes, each a pair ``(src, dst)`` of node type
            names, a triple ``(src, rel, dst)`` when two edge types join the same
            node types, or an :class:`EdgeType`.
        temporal (bool, optional): give each node type a temporal edge type.
            (default: :obj:`True`)
        directed (bool or list[bool], optional): whether the edge types given as
            tuples are directed (messages only ``src -> dst``), for all of them
            or per edge type. Undirected types carry messages both ways through
            one shared edgeRNN. (default: :obj:`False`)
    """

    def __init__(
        self,
        node_types: Sequence[str],
        edge_types: Sequence[EdgeTypeSpec] = (),
        temporal: bool = True,
        directed: Union[bool, Sequence[bool]] = False,
    ):
        for arg, value in (("node_types", node_types), ("edge_types", edge_types)):
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise TypeError(f"STSchema: '{arg}' must be a list (got {type(value).__name__} {value!r})")
        if not isinstance(temporal, bool):
            raise TypeError(f"STSchema: 'temporal' must be a bool (got {type(temporal).__name__})")
        node_types = list(node_types)
        if len(node_types) == 0:
            raise ValueError("STSchema: 'node_types' must name at least one node type (got [])")
        for t in node_types:
            if not isinstance(t, str) or not t:
                raise ValueError(f"STSchema: 'node_types' must hold non-empty strings (got {t!r})")
        if len(set(node_types)) != len(node_types):
            raise ValueError(f"STSchema: 'node_types' has duplicates (got {node_types})")
        edge_types = list(edge_types)
        if isinstance(directed, bool):
            directed = [directed] * len(edge_types)
        if isinstance(directed, (str, bytes)) or not isinstance(directed, Iterable):
            raise TypeError(f"STSchema: 'directed' must be a bool or a list of bools "
                            f"(got {type(directed).__name__})")
        directed = list(directed)
        if not all(isinstance(d, bool) for d in directed):
            raise TypeError(f"STSchema: 'directed' must be a bool or a list of bools (got {directed!r})")
        if len(directed) != len(edge_types):
            raise ValueError(f"STSchema: 'directed' must be a bool or one bool per edge type "
                             f"(expected {len(edge_types)}, got {len(directed)})")

        self.node_types: List[str] = node_types
        self.temporal = bool(temporal)
        self._node_index = {t: i for i, t in enumerate(node_types)}
        self.edge_types: List[EdgeType] = [
            self._parse_edge_type(spec, d) for spec, d in zip(edge_types, directed)
        ]
        seen: Dict[Tuple[str, str, str], EdgeType] = {}
        for et in self.edge_types:
            keys = {(et.src, et.rel, et.dst)} | (set() if et.directed else {(et.dst, et.rel, et.src)})
            for key in keys:
                if key in seen:
                    raise ValueError(f"STSchema: 'edge_types' must not overlap (got {tuple(seen[key][:3])} "
                                     f"and {tuple(et[:3])}); give them different relation names")
                seen[key] = et

        # For each node type, the ordered list of edge types arriving at it.
        self._incoming: List[List[int]] = [[] for _ in node_types]
        for k, et in enumerate(self.edge_types):
            self._incoming[self._node_index[et.dst]].append(k)
            if not et.directed and et.src != et.dst:
                self._incoming[self._node_index[et.src]].append(k)
        for lst in self._incoming:
            lst.sort()

        # The edge type of an edge, from its endpoint types, where that is unique.
        P = len(node_types)
        table = torch.full((P, P), -1, dtype=torch.long)
        for k, et in enumerate(self.edge_types):
            pairs = {(et.src, et.dst)} | (set() if et.directed else {(et.dst, et.src)})
            for s, d in pairs:
                i, j = self._node_index[s], self._node_index[d]
                table[i, j] = k if table[i, j] == -1 else -2  # -2: ambiguous
        self._pair_table = table
        # Which (edge type, sender type, receiver type) triples fit: [K, P, P].
        fit = torch.zeros(len(self.edge_types), P, P, dtype=torch.bool)
        for k, et in enumerate(self.edge_types):
            s, d = self._node_index[et.src], self._node_index[et.dst]
            fit[k, s, d] = True
            if not et.directed:
                fit[k, d, s] = True
        self._fit = {fit.device: fit}

    def _parse_edge_type(self, spec: Any, directed: bool) -> EdgeType:
        if isinstance(spec, EdgeType):
            et = spec
        elif isinstance(spec, (tuple, list)) and len(spec) == 2:
            et = EdgeType(str(spec[0]), "to", str(spec[1]), bool(directed))
        elif isinstance(spec, (tuple, list)) and len(spec) == 3:
            et = EdgeType(str(spec[0]), str(spec[1]), str(spec[2]), bool(directed))
        else:
            raise ValueError(f"STSchema: each entry of 'edge_types' must be (src, dst) or (src, rel, dst) "
                             f"(got {spec!r})")
        for end in (et.src, et.dst):
            if end not in self._node_index:
                raise ValueError(f"STSchema: 'edge_types' entries must join node types of {self.node_types} "
                                 f"(got {tuple(et[:3])}, which names unknown node type {end!r})")
        return et

    # ------------------------------------------------------------------ queries
    @property
    def num_node_types(self) -> int:
        return len(self.node_types)

    @property
    def num_edge_types(self) -> int:
        return len(self.edge_types)

    def node_type_index(self, name: str) -> int:
        """The index of node type ``name``; :class:`ValueError` if unknown."""
        try:
            return self._node_index[name]
        except KeyError:
            raise ValueError(f"STSchema: unknown node type {name!r} (known: {self.node_types})") from None

    def edge_type_index(self, spec: EdgeTypeSpec) -> int:
        """The index of an edge type given as ``(src, dst)``, ``(src, rel, dst)`` or by name."""
        if isinstance(spec, str):
            for k, et in enumerate(self.edge_types):
                if et.name == spec:
                    return k
        else:
            spec = tuple(spec)
            for k, et in enumerate(self.edge_types):
                if len(spec) == 2 and et.rel == "to" and et.accepts(*spec):
                    return k
                if len(spec) >= 3 and et.rel == spec[1] and et.accepts(spec[0], spec[2]):
                    return k
        raise ValueError(f"STSchema: unknown edge type {spec!r} "
                         f"(known: {[tuple(et[:3]) for et in self.edge_types]})")

    def incoming(self, node_type: Union[int, str]) -> List[int]:
        """The ordered edge type indices whose edges arrive at ``node_type``."""
        if isinstance(node_type, str):
            node_type = self.node_type_index(node_type)
        P = self.num_node_types
        if isinstance(node_type, bool) or not isinstance(node_type, numbers.Integral) or not 0 <= node_type < P:
            raise ValueError(f"STSchema: 'node_type' must be a node type name or an index in [0, {P - 1}] "
                             f"(got {node_type!r})")
        return list(self._incoming[node_type])

    def receivers(self, edge_type: int) -> List[int]:
        """The node type indices that edges of ``edge_type`` arrive at."""
        return [p for p in range(self.num_node_types) if edge_type in self._incoming[p]]

    def infer_edge_type(self, src_type: Tensor, dst_type: Tensor) -> Tensor:
        """Edge types from endpoint node types (vectorised).

        Raises:
            ValueError: if some pair of endpoint types matches no edge type, or
                more than one (then give ``edge_type`` explicitly).
        """
        P = self.num_node_types
        for key, v in (("src_type", src_type), ("dst_type", dst_type)):
            if not isinstance(v, Tensor) or v.is_floating_point() or v.is_complex() or v.dtype == torch.bool:
                got = v.dtype if isinstance(v, Tensor) else type(v).__name__
                raise TypeError(f"STSchema.infer_edge_type: '{key}' must be an integer tensor of node type "
                                f"indices (got {got})")
        if src_type.shape != dst_type.shape:
            raise ValueError(f"STSchema.infer_edge_type: 'src_type' and 'dst_type' must have one entry per edge "
                             f"(got shapes {list(src_type.shape)} and {list(dst_type.shape)})")
        if src_type.numel() > 0:   # a negative index would wrap around to the last node type
            lo_s, hi_s, lo_d, hi_d = torch.stack([v.long() for v in (src_type.min(), src_type.max(),
                                                                      dst_type.min(), dst_type.max())]).tolist()
            for key, lo, hi in (("src_type", lo_s, hi_s), ("dst_type", lo_d, hi_d)):
                if lo < 0 or hi >= P:
                    raise ValueError(f"STSchema.infer_edge_type: '{key}' must lie in [0, {P - 1}] for node types "
                                     f"{self.node_types} (got values in [{lo}, {hi}])")
        table = self._pair_table.to(src_type.device)
        out = table[src_type, dst_type]
        if out.numel() > 0 and bool((out < 0).any()):
            e = int((out < 0).nonzero()[0, 0])
            s, d = self.node_types[int(src_type[e])], self.node_types[int(dst_type[e])]
            why = "matches no edge type" if int(out[e]) == -1 else "matches several edge types"
            raise ValueError(f"STSchema: edge {e} from a {s!r} node to a {d!r} node {why} "
                             f"(edge types: {[tuple(et[:3]) for et in self.edge_types]})")
        return out

    def edge_fit(self, device: Union[str, torch.device, None] = None) -> Tensor:
        """``[K, P, P]`` bool: whether an edge of type ``k`` may join a sender of
        node type ``s`` to a receiver of type ``d`` (both ways for an
        undirected type), on ``device`` (kept per device, so a model's
        per-batch check copies nothing)."""
        device = torch.device(device) if device is not None else torch.device("cpu")
        table = self._fit.get(device)
        if table is None:
            table = self._fit[device] = next(iter(self._fit.values())).to(device)
        return table

    def check_edge_types(self, src_type: Tensor, dst_type: Tensor, edge_type: Tensor) -> None:
        """Raise :class:`ValueError` naming the first edge whose endpoint node
        types do not fit its edge type."""
        if edge_type.numel() == 0:
            return
        for key, v, bound in (("src_type", src_type, self.num_node_types), ("dst_type", dst_type, self.num_node_types),
                              ("edge_type", edge_type, self.num_edge_types)):
            if v.numel() and (int(v.min()) < 0 or int(v.max()) >= bound):
                raise ValueError(f"STSchema: '{key}' must lie in [0, {bound - 1}] (got values in "
                                 f"[{int(v.min())}, {int(v.max())}])")
        good = self.edge_fit(edge_type.device)[edge_type, src_type, dst_type]
        if not bool(good.all()):
            e = int((~good).nonzero()[0, 0])
            et = self.edge_types[int(edge_type[e])]
            raise ValueError(
                f"STSchema: edge {e} is of type {tuple(et[:3])} but joins a "
                f"{self.node_types[int(src_type[e])]!r} node to a "
                f"{self.node_types[int(dst_type[e])]!r} node")

    # ------------------------------------------------------------- conversion
    @classmethod
    def from_networkx(cls, graph: Any, type_attr: str = "type", edge_type_attr: Optional[str] = None,
                      temporal: bool = True) -> "STSchema":
        """A schema from a :class:`networkx.Graph` whose nodes carry ``type_attr``.

        Node types are taken in the order they first appear; edge types are the
        pairs of endpoint types that occur (or, with ``edge_type_attr``, the
        triples ``(src, rel, dst)`` with the relation read from that edge
        attribute). A :class:`networkx.DiGraph` gives directed edge types.
        """
        node_types: List[str] = []
        for n, attrs in graph.nodes(data=True):
            if type_attr not in attrs:
                raise ValueError(f"STSchema.from_networkx: node {n!r} has no {type_attr!r} attribute")
            t = str(attrs[type_attr])
            if t not in node_types:
                node_types.append(t)
        directed = bool(graph.is_directed())
        edge_types: List[Tuple[str, str, str]] = []
        for u, v, attrs in graph.edges(data=True):
            s, d = str(graph.nodes[u][type_attr]), str(graph.nodes[v][type_attr])
            rel = "to" if edge_type_attr is None else str(attrs.get(edge_type_attr, "to"))
            if not directed and node_types.index(s) > node_types.index(d):
                s, d = d, s
            key = (s, rel, d)
            if key not in edge_types:
                edge_types.append(key)
        return cls(node_types, edge_types, temporal=temporal, directed=directed)

    def to_dict(self) -> Dict[str, Any]:
        """A plain, JSON-friendly description (for checkpoints)."""
        return {"node_types": list(self.node_types),
                "edge_types": [list(et[:3]) for et in self.edge_types],
                "directed": [et.directed for et in self.edge_types],
                "temporal": self.temporal}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "STSchema":
        return cls(d["node_types"], [tuple(e) for e in d["edge_types"]],
                   temporal=d.get("temporal", True), directed=d.get("directed", False))

    # --------------------------------------------------------------- dunders
    def __getstate__(self) -> Dict[str, Any]:
        # Saved graphs carry their schema: keep only the CPU copy of the edge-fit table, never a
        # CUDA one (it would tie the file to a GPU); other devices are rebuilt on first use.
        state = dict(self.__dict__)
        cpu = [t for t in self._fit.values() if t.device.type == "cpu"]
        state["_fit"] = {cpu[0].device: cpu[0]} if cpu else {
            torch.device("cpu"): next(iter(self._fit.values())).cpu()}
        return state

    def __eq__(self, other: object) -> bool:
        return isinstance(other, STSchema) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        return (f"STSchema(node_types={self.node_types}, "
                f"edge_types={[et.name for et in self.edge_types]}, temporal={self.temporal})")
