"""Transforms of windows: augmentation for moving things, a random-graph
control for asking whether a graph helps, and the complete graph for asking
whether reading every node helps more."""
from __future__ import annotations

import math
import numbers
import random
import warnings
from collections import Counter, OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Batch
from torch_geometric.transforms import BaseTransform

from .loader import check_graph, key_kinds
from .nn.args import is_bool

__all__ = ["CompleteGraph", "RandomRotation", "RewireEdges", "rewire_edges"]

Pairs = Sequence[Tuple[int, int]]


class RandomRotation(BaseTransform):
    r"""Rotates every planar vector of a window by one random angle, and
    optionally mirrors it: the whole scene turns rigidly, so the distances
    between things, and every error measured in them, stay the same.

    For each window an angle :math:`\theta` is drawn uniformly from
    ``[-degrees, degrees]``, and with ``flip=True`` a mirror
    :math:`(u, v) \mapsto (u, -v)` is applied first with probability 1/2;
    then every pair of channels ``(u, v)`` listed in ``pairs`` (positions,
    velocities, offsets, targets ...) of every listed key becomes

    .. math::
        (u \cos\theta - v \sin\theta,\; u \sin\theta + v \cos\theta),

    at every node or edge and step alike. Listed keys are replaced by rotated
    copies (the dataset's own tensors are never changed); other keys are left
    as they are. Keys listed but absent from a window are skipped, so one
    transform serves windows with and without, e.g., ``edge_attr``.

    Trajectory forecasters train on rotated (and mirrored) scenes to see
    every walking direction (Trajectron++ does); use it on the training split
    only, after any transform that builds the features it rotates.

    .. code-block:: python

        from srnn_pyg.transforms import RandomRotation

        # ETH/UCY with features="pos_vel": x = [px, py, vx, vy], y = [px, py],
        # origin [N, 2] (absolute), edge_attr [E, T, 2] (offsets between origins)
        rotate = RandomRotation({"x": [(0, 1), (2, 3)], "y": [(0, 1)], "origin": [(0, 1)],
                                 "edge_attr": [(0, 1)]}, flip=True)
        data = rotate(train[0])

    Args:
        pairs (dict, optional): key -> list of channel pairs ``(u, v)`` of its
            last dimension. (default: ``{"x": [(0, 1)], "y": [(0, 1)]}``)
        degrees (float, optional): the largest rotation either way; ``180``
            draws every direction. (default: :obj:`180.0`)
        flip (bool, optional): also mirror half of the windows.
            (default: :obj:`False`)
        generator (torch.Generator, optional): the random source (default:
            torch's global one, which :func:`srnn_pyg.fit` seeds).
    """

    def __init__(self, pairs: Optional[Mapping[str, Pairs]] = None, degrees: float = 180.0, flip: bool = False,
                 generator: Optional[torch.Generator] = None):
        name = type(self).__name__
        pairs = {"x": [(0, 1)], "y": [(0, 1)]} if pairs is None else pairs
        if not isinstance(pairs, Mapping) or not pairs:
            raise ValueError(f"{name}: 'pairs' must be a non-empty dict of key -> [(u, v), ...] "
                             f"(got {pairs!r})")
        checked: Dict[str, Tuple[Tuple[int, int], ...]] = {}
        for key, plist in pairs.items():
            if not isinstance(key, str):
                raise ValueError(f"{name}: 'pairs' keys must be attribute names (got {key!r})")
            try:
                if isinstance(plist, (str, bytes)) or not all(
                        isinstance(c, numbers.Integral) and not is_bool(c) for p in plist for c in p):
                    raise TypeError("not channel indices")               # 0.7 or "0" is no channel
                plist = tuple((int(u), int(v)) for u, v in plist)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: 'pairs[{key!r}]' must be a list of channel pairs (u, v) "
                                 f"(got {plist!r})") from None
            flat = [c for p in plist for c in p]
            if not plist or min(flat) < 0 or len(set(flat)) != len(flat):
                raise ValueError(f"{name}: 'pairs[{key!r}]' must list distinct non-negative channels in "
                                 f"pairs (got {list(plist)})")
            checked[key] = plist
        if isinstance(degrees, bool) or not isinstance(degrees, (int, float)) or not 0 <= degrees <= 180:
            raise ValueError(f"{name}: 'degrees' must be a number in [0, 180] (got {degrees!r})")
        if not isinstance(flip, bool):
            raise ValueError(f"{name}: 'flip' must be a bool (got {flip!r})")
        self.pairs, self.degrees, self.flip, self.generator = checked, float(degrees), flip, generator

    def matrix(self) -> Tensor:
        """A new random ``[2, 2]`` map (float64): the rotation, after the
        mirror where one is drawn."""
        g = self.generator
        theta = (torch.rand((), generator=g, dtype=torch.float64) * 2 - 1) * math.radians(self.degrees)
        c, s = torch.cos(theta), torch.sin(theta)
        R = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
        if self.flip and bool(torch.rand((), generator=g) < 0.5):
            R = R @ torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
        return R

    def forward(self, data):
        R = self.matrix()
        for key, plist in self.pairs.items():
            value = getattr(data, key, None) if key in data else None
            if value is None:
                continue
            if not torch.is_tensor(value) or not value.is_floating_point():
                raise ValueError(f"{type(self).__name__}: '{key}' must be a floating-point tensor to rotate "
                                 f"(got {type(value).__name__}"
                                 f"{'' if not torch.is_tensor(value) else ' of ' + str(value.dtype)})")
            top = max(c for p in plist for c in p)
            if value.dim() == 0 or value.size(-1) <= top:
                raise ValueError(f"{type(self).__name__}: 'pairs[{key!r}]' reads channel {top}, but '{key}' "
                                 f"has shape {list(value.shape)}")
            out = value.clone()
            Rk = R.to(device=value.device, dtype=value.dtype)                  # drawn on the CPU
            for u, v in plist:
                uv = value[..., [u, v]] @ Rk.t()                               # [..., 2]
                out[..., u], out[..., v] = uv[..., 0], uv[..., 1]
            setattr(data, key, out)
        return data

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({dict((k, list(v)) for k, v in self.pairs.items())}, "
                f"degrees={self.degrees:g}, flip={self.flip})")


# ------------------------------------------------------------ random graphs
def rewire_edges(edge_index: Tensor, edge_type: Optional[Tensor] = None, node_type: Optional[Tensor] = None, *,
                 swaps: float = 10.0, seed: int = 0, undirected: Optional[bool] = None) -> Tensor:
    r"""A random graph with the same degrees as ``edge_index`` ``[2, E]``:
    the new ``[2, E]`` edge index after random degree-preserving swaps.

    A swap takes two edges :math:`a \to b` and :math:`c \to d` of the same
    edge type whose targets have the same node type and makes them
    :math:`a \to d` and :math:`c \to b`; it is refused, and the graph kept as
    it is for that try, when it would create a self-loop or an edge the graph
    already has (of any type). ``swaps * m`` swaps are tried per edge type of
    ``m`` swappable edges (undirected: pairs), partners drawn among the edges
    whose targets share the node type: every graph with the same degrees
    that such swaps reach is equally likely in the long run.

    What is kept: every node's in- and out-degree within each edge type,
    and the node types of every edge's ends. Edge ``e`` of the result is the
    rewired edge ``e``: its source stays, and anything stored per edge
    (``edge_attr``, ``edge_mask``, ``edge_type``) stays in its row.
    Self-loops are never moved. An edge type whose edges all come in both
    directions, once each (``undirected=None`` decides per type), is rewired
    as an undirected graph: the two directions of an edge move together and
    the type stays symmetric (their two rows, and so their per-edge data,
    come from two different old edges). A type where no swap is possible
    (a star, a complete graph, a single edge) is left as it is, with a
    warning; a type with most but not all of its edges in both directions is
    rewired as directed, with a warning. The same inputs and ``seed`` always give the same
    graph.

    Args:
        edge_index (Tensor): ``[2, E]`` long, source row first.
        edge_type (Tensor, optional): ``[E]`` long; edges swap within their type
            only. (default: :obj:`None`, one type)
        node_type (Tensor, optional): ``[N]`` long; swapped targets share a
            node type. (default: :obj:`None`, one type)
        swaps (float, optional): swaps tried per swappable edge. (default: :obj:`10.0`)
        seed (int, optional): the random draw. (default: :obj:`0`)
        undirected (bool, optional): keep each type symmetric (``True``), treat
            it as directed (``False``), or decide from the data (``None``).
            (default: :obj:`None`)
    """
    name = "rewire_edges"
    if not torch.is_tensor(edge_index) or edge_index.dim() != 2 or edge_index.size(0) != 2 \
            or edge_index.dtype != torch.long:
        raise ValueError(f"{name}: 'edge_index' must be a [2, E] long tensor (got {_describe(edge_index)})")
    E = edge_index.size(1)
    if E and int(edge_index.min()) < 0:
        raise ValueError(f"{name}: 'edge_index' must hold node indices >= 0 (got {int(edge_index.min())})")
    if edge_type is not None and (not torch.is_tensor(edge_type) or edge_type.shape != (E,)
                                  or edge_type.dtype != torch.long):
        raise ValueError(f"{name}: 'edge_type' must be a [{E}] long tensor, one type per edge (got "
                         f"{_describe(edge_type)})")
    top = int(edge_index.max()) if E else -1
    if node_type is not None and (not torch.is_tensor(node_type) or node_type.dim() != 1
                                  or node_type.dtype != torch.long or node_type.numel() <= top):
        raise ValueError(f"{name}: 'node_type' must be a [N] long tensor with N > {top}, the largest node "
                         f"index (got {_describe(node_type)})")
    if isinstance(swaps, bool) or not isinstance(swaps, numbers.Real) or not 0 < swaps < math.inf:
        raise ValueError(f"{name}: 'swaps' must be a positive finite number (got {swaps!r})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"{name}: 'seed' must be an int (got {seed!r})")
    if undirected not in (None, True, False):
        raise ValueError(f"{name}: 'undirected' must be True, False or None (got {undirected!r})")
    src, dst = edge_index.cpu().tolist()
    types = [0] * E if edge_type is None else edge_type.cpu().tolist()
    graph = _Graph(src, list(dst), [0] * (top + 1) if node_type is None else node_type.cpu().tolist(),
                   random.Random(int(seed)))
    for t in sorted(set(types)):
        slots = [e for e in range(E) if types[e] == t and src[e] != dst[e]]
        have = Counter((src[e], dst[e]) for e in slots)
        mirrored = sum(1 for e in slots if have[(dst[e], src[e])] == 1 and have[(src[e], dst[e])] == 1)
        symmetric = mirrored == len(slots)
        if undirected and not symmetric:
            raise ValueError(f"{name}: 'undirected=True' needs every edge of type {t} in both directions, "
                             f"once each (got {mirrored} of its {len(slots)} edges with their reverse)")
        if undirected is None and len(slots) / 2 <= mirrored < len(slots):
            warnings.warn(f"{name}: edge type {t} has {mirrored} of its {len(slots)} edges in both "
                          f"directions, not all: it is rewired as a directed graph (pass undirected=False "
                          f"to say so, or add the missing reverse edges)", stacklevel=2)
        pairs = symmetric if undirected is None else undirected
        tries = int(round(swaps * (len(slots) // 2 if pairs else len(slots))))
        done = graph.swap_pairs(slots, tries) if pairs else graph.swap_edges(slots, tries)
        if slots and done == 0:
            warnings.warn(f"{name}: edge type {t} ({len(slots)} edges) admits no degree-preserving swap "
                          f"in {tries} tries (a star, a complete graph, a single edge ...): it is left as it "
                          f"is", stacklevel=2)
    return torch.stack([edge_index[0], torch.tensor(graph.dst, dtype=torch.long, device=edge_index.device)])


def _describe(value) -> str:
    if torch.is_tensor(value):
        return f"a {list(value.shape)} {str(value.dtype).replace('torch.', '')} tensor"
    return f"{type(value).__name__} {value!r}"


class _Graph:
    """The edges being rewired: fixed sources, changing targets (``dst``), and
    how often each directed pair occurs, over all types."""

    def __init__(self, src: List[int], dst: List[int], node_type: List[int], rng: random.Random):
        self.src, self.dst, self.node_type, self.rng = src, dst, node_type, rng
        self.have = Counter(zip(src, dst))

    def _free(self, a: int, b: int, c: int, d: int) -> bool:
        """Whether ``a -> b, c -> d`` may become ``a -> d, c -> b``."""
        return a != d and c != b and b != d and not self.have[(a, d)] and not self.have[(c, b)]

    def _move(self, old: Tuple[int, int], new: Tuple[int, int]) -> None:
        self.have[old] -= 1
        self.have[new] += 1

    def _groups(self, items: List[Tuple[int, int]]) -> Tuple[List[List[int]], List[int]]:
        """Indices of ``items`` (``(slot, key)``) grouped by key, and each one's group."""
        index: Dict[int, int] = {}
        groups: List[List[int]] = []
        of: List[int] = []
        for i, (_, key) in enumerate(items):
            if key not in index:
                index[key] = len(groups)
                groups.append([])
            groups[index[key]].append(i)
            of.append(index[key])
        return groups, of

    def swap_edges(self, slots: List[int], tries: int) -> int:
        """Directed swaps among ``slots``, partners with a target of the same
        node type; how many were made."""
        src, dst, nt, rng = self.src, self.dst, self.node_type, self.rng
        if len(slots) < 2:
            return 0
        groups, of = self._groups([(e, nt[dst[e]]) for e in slots])
        done = 0
        for _ in range(tries):
            k = rng.randrange(len(slots))
            group = groups[of[k]]
            i, j = slots[k], slots[group[rng.randrange(len(group))]]
            a, b, c, d = src[i], dst[i], src[j], dst[j]
            if not self._free(a, b, c, d):
                continue                                                   # hold: this try leaves the graph
            self._move((a, b), (a, d))
            self._move((c, d), (c, b))
            dst[i], dst[j] = d, b
            done += 1
        return done

    def swap_pairs(self, slots: List[int], tries: int) -> int:
        """Undirected swaps among ``slots`` (each edge with its reverse, both
        in ``slots``), partners whose ends have the same node types: the two
        directions change together; how many were made."""
        src, dst, nt, rng = self.src, self.dst, self.node_type, self.rng
        where = {(src[e], dst[e]): e for e in slots}
        pairs = [(e, where[(dst[e], src[e])]) for e in slots if src[e] < dst[e]]   # (u -> v, v -> u)
        if len(pairs) < 2:
            return 0
        groups, of = self._groups([(p, frozenset((nt[src[p[0]]], nt[dst[p[0]]]))) for p in pairs])
        done = 0
        for _ in range(tries):
            p = rng.randrange(len(pairs))
            group = groups[of[p]]
            q = group[rng.randrange(len(group))]
            (p1, p2), (q1, q2) = pairs[p], pairs[q]
            # read q as c -> d with c of a's node type; either way round when both ends share it
            if nt[src[q1]] != nt[src[p1]] or (nt[src[q1]] == nt[dst[q1]] and rng.random() < 0.5):
                q1, q2 = q2, q1
            a, b, c, d = src[p1], dst[p1], src[q1], dst[q1]
            if p == q or not self._free(a, b, c, d) or not self._free(d, c, b, a):
                continue                                                   # hold
            for old, new in (((a, b), (a, d)), ((b, a), (b, c)), ((c, d), (c, b)), ((d, c), (d, a))):
                self._move(old, new)
            # Sources stay in their slots: a -> b (slot p1) becomes a -> d, its reverse
            # b -> a (p2) b -> c; c -> d (q1) becomes c -> b, d -> c (q2) d -> a.
            dst[p1], dst[p2], dst[q1], dst[q2] = d, c, b, a
            pairs[p], pairs[q] = (p1, q2), (q1, p2)                        # {a, d} and {c, b}
            done += 1
        return done


class RewireEdges(BaseTransform):
    r"""Replaces each window's graph by a random one with the same degrees
    (:func:`rewire_edges`): the control that asks whether a model gains from
    *this* graph or merely from having neighbours to read.

    Train and score the same model on the rewired windows beside the real
    ones and beside ``spatial=False``: if the rewired graph does as well as
    the real one, the gain is not the graph's structure (extra inputs,
    averaging, capacity); if it does no better than no edges at all, the
    structure is what helps. Every node keeps its in- and out-degree per
    edge type, so S-RNN's edgeRNNs see as many inputs of the same types as
    before. Per-edge data (``edge_attr``, ``edge_mask``) stays in its row, so
    features computed from the old ends (offsets, distances, weights) are
    *not* recomputed: apply this first, before any transform that builds
    them. ``edge_index`` is replaced by a new tensor (the dataset's own is
    not changed).

    The graph drawn depends only on the window's ``edge_index``,
    ``edge_type``, ``node_type`` and ``seed``: a dataset with one fixed graph
    gets the same random graph in every window and split (drawn once; the
    last 16 graphs are kept), which is what the control needs. Use it as a
    dataset's ``transform``, on single windows; a collated batch raises (its
    graphs would be wired into each other).

    .. code-block:: python

        from srnn_pyg.datasets import Chickenpox
        from srnn_pyg.transforms import RewireEdges

        control = {split: Chickenpox(split=split, transform=RewireEdges(seed=0))
                   for split in ("train", "test")}

    Args:
        swaps (float, optional): swaps tried per swappable edge. (default: :obj:`10.0`)
        seed (int, optional): the random draw. (default: :obj:`0`)
        undirected (bool, optional): see :func:`rewire_edges`.
            (default: :obj:`None`, decided per edge type)
    """

    cache_size = 16

    def __init__(self, swaps: float = 10.0, seed: int = 0, undirected: Optional[bool] = None):
        rewire_edges(torch.zeros(2, 0, dtype=torch.long), swaps=swaps, seed=seed, undirected=undirected)
        self.swaps, self.seed, self.undirected = swaps, seed, undirected
        self._drawn: "OrderedDict[tuple, Tensor]" = OrderedDict()

    def forward(self, data):
        name = type(self).__name__
        if isinstance(data, Batch):
            raise ValueError(f"{name}: got a collated batch of {data.num_graphs} graphs; rewire each window "
                             f"before batching (as the dataset's transform)")
        ei = data.edge_index if "edge_index" in data else None
        if ei is None:
            raise ValueError(f"{name}: the window has no 'edge_index' to rewire")
        et = data.edge_type if "edge_type" in data else None
        nt = data.node_type if "node_type" in data else None
        key = tuple(_fingerprint(v) for v in (ei, et, nt))
        out = self._drawn.get(key)
        if out is None:
            out = rewire_edges(ei, et, nt, swaps=self.swaps, seed=self.seed, undirected=self.undirected)
            self._drawn[key] = out
            if len(self._drawn) > self.cache_size:
                self._drawn.popitem(last=False)
        else:
            self._drawn.move_to_end(key)
        data.edge_index = out.clone()                                      # the kept draw stays as drawn
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(swaps={self.swaps:g}, seed={self.seed}, undirected={self.undirected})"


def _fingerprint(value: Optional[Tensor]) -> Optional[tuple]:
    """What identifies a tensor's values (shape, dtype, device, bytes)."""
    if value is None:
        return None
    return (tuple(value.shape), str(value.dtype), str(value.device), value.detach().cpu().numpy().tobytes())


class CompleteGraph(BaseTransform):
    r"""Replaces the edges of one edge type by all of them: every node of the
    type's sender node type sends to every node of its receiver node type.

    The question it answers sits beside :class:`RewireEdges`': when a random
    graph with the same degrees does as well as the real one (a model gains
    from reading other nodes, not from *which* ones), does reading every
    node do better still? Train the same model on the complete windows
    beside the real graph, a rewired one and ``spatial=False``, and choose on
    validation data. Sum aggregation over many more neighbours changes the
    scale of what a node receives; ``aggr="mean"``, or ``"attention"``
    (with ``edge_scope="edge"``), are the usual choices on a complete
    graph; compare with the same aggregation on the real graph, so that the
    aggregation's effect is not credited to the graph.

    Edges of other types stay as they are, first, in their order; the
    complete edges follow, sorted by sender then receiver. An undirected
    type between two node types gets both directions of every pair.
    ``edge_type`` (when the window has it) gives the new edges the chosen
    type. ``edge_attr`` and ``edge_mask`` rows are kept for the pairs the
    window already linked with this type (the first such edge's row); a new
    pair gets ``fill_value`` as its attributes and, in a window with an
    ``edge_mask``, is present at the steps where both of its nodes are
    (``node_mask``; at every step without one). Other per-edge data cannot
    be made up for new edges and raises. The dataset's own tensors are not
    changed. A window without a ``schema`` must have a single node type and
    edge type.

    .. code-block:: python

        from srnn_pyg.datasets import Chickenpox
        from srnn_pyg.transforms import CompleteGraph

        complete = {split: Chickenpox(split=split, transform=CompleteGraph())
                    for split in ("train", "val", "test")}

    Args:
        edge_type (str or int, optional): the schema's edge type to complete
            (its name, ``(src, rel, dst)`` or index). (default: :obj:`None`,
            the only one; several types need it named)
        self_loops (bool, optional): give every node of a type that joins a
            node type to itself a self-loop (``True``), none (``False``), or
            do as the window does: self-loops for all when the type has any
            (``None``). (default: :obj:`None`)
        fill_value (float, optional): ``edge_attr`` of the new edges; :obj:`None`
            raises when the window has ``edge_attr`` and some pair is new.
            (default: :obj:`1.0`)
    """

    _known = ("edge_index", "edge_type", "edge_attr", "edge_mask")

    def __init__(self, edge_type=None, self_loops: Optional[bool] = None, fill_value: Optional[float] = 1.0):
        name = type(self).__name__
        if edge_type is not None and (isinstance(edge_type, bool)
                                      or not isinstance(edge_type, (str, tuple, numbers.Integral))):
            raise ValueError(f"{name}: 'edge_type' must be an edge type's name, (src, rel, dst) tuple or index, "
                             f"or None (got {_describe(edge_type)})")
        if self_loops is not None and not isinstance(self_loops, bool):
            raise ValueError(f"{name}: 'self_loops' must be True, False or None (got {self_loops!r})")
        if fill_value is not None and (isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real)
                                       or not math.isfinite(fill_value)):
            raise ValueError(f"{name}: 'fill_value' must be a finite number or None (got {fill_value!r})")
        self.edge_type, self.self_loops, self.fill_value = edge_type, self_loops, fill_value

    def _type_index(self, schema) -> int:
        name = type(self).__name__
        if self.edge_type is None:
            if schema.num_edge_types != 1:
                raise ValueError(f"{name}: the schema has {schema.num_edge_types} edge types "
                                 f"({[et.name for et in schema.edge_types]}); name the one to complete "
                                 f"with 'edge_type'")
            return 0
        if isinstance(self.edge_type, numbers.Integral):
            if not 0 <= self.edge_type < schema.num_edge_types:
                raise ValueError(f"{name}: 'edge_type' {self.edge_type} is not an edge type index of the schema "
                                 f"(0 to {schema.num_edge_types - 1}: {[et.name for et in schema.edge_types]})")
            return int(self.edge_type)
        try:
            return schema.edge_type_index(self.edge_type)
        except (KeyError, ValueError, IndexError, TypeError) as e:
            raise ValueError(f"{name}: 'edge_type' {self.edge_type!r} is not an edge type of the schema "
                             f"({[et.name for et in schema.edge_types]}): {e}") from None

    def _ends(self, schema, nt: Tensor, types: Tensor, data) -> Tuple[int, List[Tuple[int, int]]]:
        """The edge type index to complete and its (sender, receiver) node type pairs."""
        name = type(self).__name__
        if schema is None:                           # no schema: one node type and one edge type only
            for key, v in (("node_type", nt), ("edge_type", types)):
                if v.numel() and int(v.max()) > 0:
                    raise ValueError(f"{name}: a window without a 'schema' must have one node type and one edge "
                                     f"type (got '{key}' values {sorted(set(v.tolist()))})")
            if self.edge_type not in (None, 0):
                raise ValueError(f"{name}: 'edge_type' {self.edge_type!r} needs a window with a 'schema'")
            return 0, [(0, 0)]
        for key, count in (("node_type", schema.num_node_types), ("edge_type", schema.num_edge_types)):
            if count > 1 and key not in data:
                raise ValueError(f"{name}: the schema has {count} {key.replace('_', ' ')}s but the window has no "
                                 f"'{key}'")
        k = self._type_index(schema)
        et = schema.edge_types[k]
        a, b = schema.node_type_index(et.src), schema.node_type_index(et.dst)
        return k, [(a, b)] if a == b or et.directed else [(a, b), (b, a)]

    def forward(self, data):
        name = type(self).__name__
        if isinstance(data, Batch):
            raise ValueError(f"{name}: got a collated batch of {data.num_graphs} graphs; complete each window "
                             f"before batching (as the dataset's transform)")
        N, E = check_graph(name, data)
        other = [k for k, kind in key_kinds(data, N, E).items() if kind == "edge" and k not in self._known]
        if other:
            raise ValueError(f"{name}: the window has per-edge data {sorted(other)} that cannot be made up for "
                             f"new edges; expected only {list(self._known)}")
        ei = data.edge_index
        types = data.edge_type if "edge_type" in data else torch.zeros(E, dtype=torch.long, device=ei.device)
        nt = data.node_type if "node_type" in data else torch.zeros(N, dtype=torch.long, device=ei.device)
        k, ends = self._ends(getattr(data, "schema", None), nt, types, data)
        mine = types == k
        loops = bool((ei[0, mine] == ei[1, mine]).any()) if self.self_loops is None else self.self_loops
        pairs = []
        for s_t, d_t in ends:
            src = (nt == s_t).nonzero().view(-1)
            dst = (nt == d_t).nonzero().view(-1)
            grid = torch.stack([src.repeat_interleave(dst.numel()), dst.repeat(src.numel())])
            if s_t == d_t and not loops:
                grid = grid[:, grid[0] != grid[1]]
            pairs.append(grid)
        new = torch.cat(pairs, 1)
        new = new[:, torch.argsort(new[0] * N + new[1])]
        keep = ~mine
        data.edge_index = torch.cat([ei[:, keep], new], 1)
        if "edge_type" in data:
            data.edge_type = torch.cat([types[keep], torch.full((new.size(1),), k, dtype=types.dtype,
                                                                device=types.device)])
        has_attr = "edge_attr" in data and data.edge_attr is not None
        has_mask = "edge_mask" in data and data.edge_mask is not None
        if has_attr or has_mask:
            found, rows = self._linked(ei, mine, new, N)
        if has_attr:
            data.edge_attr = torch.cat([data.edge_attr[keep], self._attr(data.edge_attr, found, rows, new)])
        if has_mask:
            data.edge_mask = torch.cat([data.edge_mask[keep], self._mask(data, found, rows, new)])
        return data

    def _mask(self, data, found: Tensor, rows: Tensor, new: Tensor) -> Tensor:
        """``edge_mask`` of the complete edges: the window's row for pairs it
        linked with this type; for the others, the steps where both nodes
        are present (every step without a ``node_mask``)."""
        em = data.edge_mask
        nm = data.get("node_mask")
        if nm is not None:
            out = (nm[new[0]] & nm[new[1]]).to(em.dtype)
        else:
            out = em.new_ones((new.size(1),) + tuple(em.shape[1:]))
        if bool(found.any()):
            out[found] = em[rows]
        return out

    def _linked(self, ei: Tensor, mine: Tensor, new: Tensor, N: int) -> Tuple[Tensor, Tensor]:
        """For each complete edge, whether the window linked its pair with
        this type, and (where it did) the index of the first such edge."""
        rows = mine.nonzero().view(-1)
        old_keys = ei[0, rows] * N + ei[1, rows]
        old_keys, perm = torch.sort(old_keys, stable=True)           # the first edge of each pair first
        new_keys = new[0] * N + new[1]
        if old_keys.numel():
            pos = torch.searchsorted(old_keys, new_keys).clamp_(max=old_keys.numel() - 1)
            found = old_keys[pos] == new_keys
        else:
            pos, found = torch.zeros_like(new_keys), torch.zeros_like(new_keys, dtype=torch.bool)
        return found, rows[perm[pos[found]]]

    def _attr(self, attr: Tensor, found: Tensor, rows: Tensor, new: Tensor) -> Tensor:
        """``edge_attr`` of the complete edges: the window's row for pairs it
        linked with this type, ``fill_value`` for the others."""
        if not bool(found.all()) and self.fill_value is None:
            raise ValueError(f"{type(self).__name__}: the window has 'edge_attr' and {int((~found).sum())} new "
                             f"edges, but 'fill_value' is None; give the value of their attributes")
        out = attr.new_full((new.size(1),) + tuple(attr.shape[1:]),
                            0.0 if self.fill_value is None else self.fill_value)
        if bool(found.any()):
            out[found] = attr[rows]
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(edge_type={self.edge_type!r}, self_loops={self.self_loops}, "
                f"fill_value={self.fill_value})")

