r"""Readers for the JSON layouts in which PyG Temporal ships its graph time
series; :class:`~srnn_pyg.datasets.PyGTemporalJSON` and the dedicated
PyG Temporal datasets build on them.

:func:`read_temporal_json` turns one file into a :class:`TemporalSignal`: the
series ``values`` ``[T, N, F]`` and the graph, static (``edge_index``,
``edge_weight``) or one edge set per step (``steps``). The layouts:

* ``"matrix"``: the series keyed by time at the top level, ``[T][N]`` or
  ``[T][N][F]`` under ``"FX"`` (chickenpox), ``"X"`` (pedalme), ``"y"``
  (england_covid) or ``"block"`` (windmill output large/medium/small); the
  graph as ``"edges"`` ``[[src, dst], ...]`` with optional ``"weights"`` (1
  where absent), or per step as ``"edge_mapping"`` ``{"edge_index": {"0":
  [...], ...}, "edge_weight": {"0": [...], ...}}`` (england_covid), one
  entry per step of the series and no more. Optional ``"node_ids"`` names
  the columns: an object ``{name: column}`` (chickenpox) or a list of one
  name per column.
* ``"snapshots"``: one entry per step, ``"0"`` .. ``"T-1"`` (``"time_periods"``
  gives ``T``), each the step's values ``[N]`` / ``[N][F]`` (windmill output)
  or an object with them under ``"y"`` (wikimath, twitter tennis) or
  ``"X"``, and optionally its own ``"edges"``/``"weights"`` (twitter tennis:
  a dynamic graph); otherwise the top-level ``"edges"``/``"weights"``
  (wikimath) hold the static graph.
* ``"nodes"``: the node-list layout of ``networkx.node_link_data`` (Montevideo
  bus): ``"nodes"`` ``[{"id": ..., "X": [...]}, ...]``, each node with its own
  series, and ``"links"`` (or ``"edges"``) ``[{"source": id, "target": id,
  "weight": w}, ...]`` keyed by node id. A node's series is ``"X"`` (a list
  ``[T]`` or ``[T][F]``) or, Montevideo's form, ``"y"`` ``[T]`` beside an
  ``"X"`` object of named series ``{"y": [T], ...}`` (pick names with
  ``series``). The id is the key ``"id"`` or Montevideo's ``"bus_stop"``
  (whichever every node has and every link names); nodes are numbered in
  **file order** (``node_ids[i]`` is node ``i``'s id), as PyG Temporal does.
  With ``"directed": false`` (networkx's form of an undirected graph) every
  link is added both ways (PyG Temporal's loaders ignore the flag).

Typed nodes (not in PyG Temporal's files; for one's own): with ``node_type``
naming a key, each node's type name is read from it, in the ``"nodes"``
layout from every node object (``{"id": 3, "type": "driver", ...}``), in the
others from a top-level list of one name per node (``"type": ["road", ...]``).

Every error is a :class:`~srnn_pyg.datasets.DataFormatError` naming the file,
the key and what was expected.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .base import DataFormatError

__all__ = ["TemporalSignal", "read_temporal_json", "detect_layout", "LAYOUTS"]

LAYOUTS = ("matrix", "snapshots", "nodes")
#: Top-level keys of a series keyed by time, in the order "auto" tries them.
MATRIX_KEYS = ("FX", "X", "y", "block")
#: Keys of a snapshot object's values, in the order "auto" tries them.
SNAPSHOT_KEYS = ("y", "X")
#: Keys of a node's id in the node-list layout, in the order "auto" tries them.
NODE_ID_KEYS = ("id", "bus_stop")

Step = Tuple[np.ndarray, np.ndarray]                       # (edge_index [2, E], weight [E])


@dataclass
class TemporalSignal:
    """One file read: ``values`` ``[T, N, F]`` (float64); a static graph
    (``edge_index`` ``[2, E]``, ``edge_weight`` ``[E]``) or, where the graph
    changes, ``steps`` (one ``(edge_index, weight)`` per step, ``edge_index``
    then :obj:`None`); ``node_ids`` (index to id) where the file names nodes;
    ``node_types`` (one type name per node) where the reader was asked to read them."""

    values: np.ndarray
    layout: str
    edge_index: Optional[np.ndarray] = None
    edge_weight: Optional[np.ndarray] = None
    steps: Optional[List[Step]] = None
    node_ids: Optional[List[Any]] = None
    series: List[str] = field(default_factory=list)
    node_types: Optional[List[str]] = None


# ------------------------------------------------------------------ parsing
def load_json(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc})") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON "
                              f"({exc.msg}); the file may be truncated") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a JSON object at the top level "
                              f"(got {type(obj).__name__})")
    return obj


def key(obj: Dict[str, Any], name: str, path: Path, what: str) -> Any:
    if name not in obj:
        found = sorted(obj)
        shown = found if len(found) <= 12 else found[:12] + [f"... {len(found) - 12} more"]
        raise DataFormatError(f"{path}: missing key {name!r} ({what}); found keys {shown}")
    return obj[name]


_NUMBER_TYPES = {int, float}        # what json.loads gives for JSON numbers (bool is a type of its own)


def matrix(value: Any, path: Path, name: str, cols: Optional[int] = None) -> np.ndarray:
    """A list of equal-length numeric rows as float64 ``[rows, cols]``, checked row by row."""
    if not isinstance(value, list) or not value:
        raise DataFormatError(f"{path}: {name!r} must be a non-empty list of rows "
                              f"(got {type(value).__name__})")
    width = cols
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise DataFormatError(f"{path}: {name}[{i}] must be a list of numbers "
                                  f"(got {type(row).__name__})")
        if width is None:
            width = len(row)
            if width == 0:
                raise DataFormatError(f"{path}: {name}[{i}] is an empty list (expected a row of at least one "
                                      f"number: one per node or feature)")
        if len(row) != width:
            raise DataFormatError(f"{path}: {name}[{i}] has {len(row)} values, expected {width}; "
                                  f"the file may be truncated")
        kinds = set(map(type, row))
        if not kinds <= _NUMBER_TYPES:                 # JSON true/false and "3.0" are not numbers
            j = next(j for j, v in enumerate(row) if type(v) not in _NUMBER_TYPES)
            raise DataFormatError(f"{path}: {name}[{i}][{j}] is {row[j]!r} (expected a number, not a "
                                  f"{type(row[j]).__name__})")
        try:
            arr = np.asarray(row, dtype=np.float64)
        except OverflowError:                         # a JSON integer beyond float64 (about 1.8e308)
            j = next(j for j, v in enumerate(row) if isinstance(v, int) and abs(v) > 2 ** 1023)
            raise DataFormatError(f"{path}: {name}[{i}][{j}] is an integer of {len(str(abs(row[j])))} digits "
                                  f"(expected a finite number within float32 range, |x| <= 3.4e38)") from None
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}: {name}[{i}] holds a value that is not a number") from None
        if arr.ndim != 1:
            raise DataFormatError(f"{path}: {name}[{i}] must be a flat list of numbers")
        with np.errstate(over="ignore"):                                  # as float32: 1e39 is inf
            bad = ~np.isfinite(arr.astype(np.float32))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataFormatError(f"{path}: {name}[{i}][{j}] is {row[j]!r} (expected a finite number "
                                  f"within float32 range, |x| <= 3.4e38)")
        rows.append(arr)
    return np.stack(rows)


def series(value: Any, path: Path, name: str, rows: Optional[int] = None,
           width: Optional[int] = None) -> np.ndarray:
    """``[R][C]`` as ``[R, C, 1]`` or ``[R][C][F]`` as ``[R, C, F]`` (float64);
    ``rows``/``width`` check ``R``/``C`` where given."""
    if isinstance(value, list) and value and isinstance(value[0], list) and value[0] \
            and isinstance(value[0][0], list):
        parts = [matrix(row, path, f"{name}[{i}]") for i, row in enumerate(value)]
        shape = parts[0].shape
        for i, p in enumerate(parts):
            if p.shape != shape:
                raise DataFormatError(f"{path}: {name}[{i}] is {list(p.shape)}, expected "
                                      f"{list(shape)} like {name}[0]")
        out = np.stack(parts)
    else:
        out = matrix(value, path, name, cols=width)[..., None]
    if rows is not None and out.shape[0] != rows:
        raise DataFormatError(f"{path}: {name!r} has {out.shape[0]} rows, expected {rows}")
    if width is not None and out.shape[1] != width:
        raise DataFormatError(f"{path}: {name!r} has {out.shape[1]} columns, expected {width}")
    return out


def vector(value: Any, path: Path, name: str) -> np.ndarray:
    """A non-empty list of numbers ``[L]`` or of rows ``[L][F]`` as ``[L, F]``."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return matrix(value, path, name)
    if not isinstance(value, list) or not value:
        raise DataFormatError(f"{path}: {name!r} must be a non-empty list of numbers "
                              f"(got {type(value).__name__})")
    return matrix([value], path, name)[0][:, None]


def edges(value: Any, path: Path, name: str, num_nodes: int) -> np.ndarray:
    """``[[src, dst], ...]`` as int64 ``[2, E]``, every index in ``[0, num_nodes)``."""
    if not isinstance(value, list):
        raise DataFormatError(f"{path}: {name!r} must be a list of [src, dst] pairs "
                              f"(got {type(value).__name__})")
    if not value:
        return np.zeros((2, 0), dtype=np.int64)
    pairs = matrix(value, path, name, cols=2)
    if (pairs != np.round(pairs)).any():
        raise DataFormatError(f"{path}: {name!r} holds non-integer node indices")
    pairs = pairs.astype(np.int64)
    bad = (pairs < 0) | (pairs >= num_nodes)
    if bad.any():
        i = int(np.flatnonzero(bad.any(1))[0])
        raise DataFormatError(f"{path}: {name}[{i}] = {value[i]} names a node outside "
                              f"[0, {num_nodes - 1}]")
    return pairs.T.copy()


def once_each(ei: np.ndarray, path: Path, name: str, num_nodes: int) -> np.ndarray:
    """``ei`` ``[2, E]`` of one step of a changing graph, refused where it
    lists an edge twice: the steps are stored as the union of their edges with
    one weight per edge and step, which cannot hold two."""
    keys = ei[0] * num_nodes + ei[1]
    uniq, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        k = int(uniq[counts > 1][0])
        raise DataFormatError(f"{path}: {name} lists the edge [{k // num_nodes}, {k % num_nodes}] more than once; "
                              f"a changing graph keeps one weight per edge and step (merge them first, e.g. "
                              f"sum their weights)")
    return ei


def weights(value: Any, path: Path, name: str, count: int) -> np.ndarray:
    if not isinstance(value, list) or len(value) != count:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise DataFormatError(f"{path}: {name!r} must list one weight per edge "
                              f"(expected {count}, got {got})")
    if count == 0:
        return np.zeros(0)
    return matrix([value], path, name)[0]


def static_graph(obj: Dict[str, Any], path: Path, num_nodes: int,
                 weight_key: Optional[str] = "weights") -> Tuple[np.ndarray, np.ndarray]:
    """``"edges"`` and, where present (and ``weight_key`` is not :obj:`None`),
    ``"weights"``; weight 1 otherwise (chickenpox)."""
    ei = edges(key(obj, "edges", path, "[src, dst] node index pairs"), path, "edges", num_nodes)
    if weight_key is not None and weight_key in obj:
        return ei, weights(obj[weight_key], path, weight_key, ei.shape[1])
    return ei, np.ones(ei.shape[1])


def edge_mapping(obj: Dict[str, Any], path: Path, T: int, N: int, unit: str = "step") -> List[Step]:
    """england_covid's ``edge_mapping``: per step ``edge_index`` and ``edge_weight``."""
    mapping = key(obj, "edge_mapping", path, f"per-{unit} 'edge_index' and 'edge_weight'")
    if not isinstance(mapping, dict):
        raise DataFormatError(f"{path}: 'edge_mapping' must be an object "
                              f"(got {type(mapping).__name__})")
    idx = key(mapping, "edge_index", path, f"edge_mapping.edge_index, one list per {unit}")
    wts = key(mapping, "edge_weight", path, f"edge_mapping.edge_weight, one list per {unit}")
    for name, part in (("edge_index", idx), ("edge_weight", wts)):
        if not isinstance(part, dict):
            raise DataFormatError(f"{path}: 'edge_mapping.{name}' must be an object keyed by "
                                  f"{unit} '0'..'{T - 1}' (got {type(part).__name__})")
    wanted = {str(t) for t in range(T)}
    for name, part in (("edge_index", idx), ("edge_weight", wts)):
        extra = sorted(set(part) - wanted, key=lambda k: (len(k), k))
        if extra:                              # edges of steps the series does not have would be dropped
            raise DataFormatError(f"{path}: 'edge_mapping.{name}' has {unit} {extra[0]!r} ({len(extra)} key(s) "
                                  f"outside '0'..'{T - 1}'; expected one per {unit} of the series, which has {T})")
    steps = []
    for t in range(T):
        k = str(t)
        if k not in idx or k not in wts:
            raise DataFormatError(f"{path}: edge_mapping has no edges for {unit} {k!r} "
                                  f"(expected {unit}s '0'..'{T - 1}')")
        ei = once_each(edges(idx[k], path, f"edge_mapping.edge_index[{k!r}]", N), path,
                       f"edge_mapping.edge_index[{k!r}]", N)
        steps.append((ei, weights(wts[k], path, f"edge_mapping.edge_weight[{k!r}]", ei.shape[1])))
    return steps


def _names(value: Union[None, str, Sequence[str]]) -> Optional[List[str]]:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


# ------------------------------------------------------------------ layouts
def detect_layout(obj: Dict[str, Any], path: Path) -> str:
    """``"nodes"``, ``"matrix"`` or ``"snapshots"`` from the top-level keys."""
    if isinstance(obj.get("nodes"), list):
        return "nodes"
    if any(isinstance(obj.get(k), list) for k in MATRIX_KEYS):
        return "matrix"
    if "0" in obj:
        return "snapshots"
    raise DataFormatError(
        f"{path}: cannot tell the layout: expected a series keyed by time under one of "
        f"{list(MATRIX_KEYS)} ('matrix' layout), snapshots '0'..'T-1' ('snapshots' layout) or a "
        f"'nodes' list with 'links' ('nodes' layout); found keys {sorted(obj)[:12]}")


def read_matrix(obj: Dict[str, Any], path: Path, series_key: Optional[str] = None,
                unit: str = "step", weight_key: Optional[str] = "weights") -> TemporalSignal:
    """The ``"matrix"`` layout (see the module)."""
    if series_key is None:
        series_key = next((k for k in MATRIX_KEYS if isinstance(obj.get(k), list)), None)
        if series_key is None:
            raise DataFormatError(f"{path}: missing the series: expected one of {list(MATRIX_KEYS)} "
                                  f"as [T][N] or [T][N][F]; found keys {sorted(obj)}")
    values = series(key(obj, series_key, path, "the series [T][N] or [T][N][F]"), path, series_key)
    T, N = values.shape[:2]
    periods = obj.get("time_periods", T)
    if isinstance(periods, bool) or not isinstance(periods, int):
        raise DataFormatError(f"{path}: 'time_periods' must be an integer (got {periods!r}, a "
                              f"{type(periods).__name__})")
    if periods != T:
        raise DataFormatError(f"{path}: 'time_periods' is {periods} but {series_key!r} has {T} rows")
    out = TemporalSignal(values, "matrix", series=[series_key])
    if "edges" not in obj and "edge_mapping" in obj:
        out.steps = edge_mapping(obj, path, T, N, unit)
    elif "edges" not in obj:
        raise DataFormatError(f"{path}: missing key 'edges' (the graph: 'edges' [[src, dst], ...] "
                              f"with optional 'weights', or per-{unit} 'edge_mapping'); found keys "
                              f"{sorted(obj)[:12]}")
    else:
        out.edge_index, out.edge_weight = static_graph(obj, path, N, weight_key)
    ids = obj.get("node_ids")
    if isinstance(ids, dict):                          # chickenpox: {name: index}
        bad = next(((k, v) for k, v in ids.items() if type(v) is not int), None)
        if bad is not None:                            # JSON keys are strings; the values must be integers
            raise DataFormatError(f"{path}: 'node_ids' must map names to integer column indices (got "
                                  f"{bad[0]!r}: {bad[1]!r}, a {type(bad[1]).__name__})")
        if len(ids) != N or sorted(ids.values()) != list(range(N)):
            raise DataFormatError(f"{path}: 'node_ids' must map {N} names to the indices 0..{N - 1} "
                                  f"(one per column of {series_key!r}; got {len(ids)} names)")
        out.node_ids = [None] * N
        for name, i in ids.items():
            out.node_ids[i] = name
    elif isinstance(ids, list):                        # one id per column, in column order
        if len(ids) != N or not all(type(v) in (str, int) for v in ids) or len(set(ids)) != N:
            raise DataFormatError(f"{path}: 'node_ids' as a list must hold {N} distinct names (strings or "
                                  f"integers), one per column of {series_key!r} (got {len(ids)} entries, "
                                  f"{len(set(map(repr, ids)))} distinct)")
        out.node_ids = list(ids)
    elif ids is not None:
        raise DataFormatError(f"{path}: 'node_ids' must be an object {{name: column index}} or a list of one "
                              f"name per column (got {type(ids).__name__})")
    return out


def read_snapshots(obj: Dict[str, Any], path: Path, series_key: Optional[str] = None) -> TemporalSignal:
    """The ``"snapshots"`` layout (see the module)."""
    T = obj.get("time_periods")
    if T is None:
        T = 0
        while str(T) in obj:
            T += 1
        if T == 0:
            raise DataFormatError(f"{path}: missing snapshot '0' (expected one entry per step, '0'.."
                                  f"'T-1', and optionally 'time_periods'); found keys {sorted(obj)[:12]}")
        later = sorted(int(k) for k in obj if isinstance(k, str) and k.isdigit() and int(k) > T)
        if later:                                   # a gap: the steps after it would be dropped silently
            raise DataFormatError(f"{path}: missing snapshot '{T}' before snapshot '{later[0]}' (expected one "
                                  f"entry per step, '0'..'T-1'; give 'time_periods' to name T)")
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise DataFormatError(f"{path}: 'time_periods' must be a positive integer (got {T!r})")
    beyond = sorted(int(k) for k in obj if isinstance(k, str) and k.isdigit() and int(k) >= T)
    if beyond:                                      # snapshots past 'time_periods' would be dropped silently
        raise DataFormatError(f"{path}: 'time_periods' is {T} but the file has snapshot '{beyond[0]}' "
                              f"({len(beyond)} beyond '{T - 1}'); 'time_periods' must count every snapshot")
    values, steps, used = [], [], None
    N = None
    for t in range(T):
        k = str(t)
        if k not in obj:
            raise DataFormatError(f"{path}: missing snapshot {k!r} (expected '0'..'{T - 1}', "
                                  f"'time_periods' is {T})")
        snap = obj[k]
        if isinstance(snap, dict):
            name = series_key or next((n for n in SNAPSHOT_KEYS if n in snap), None)
            if name is None or name not in snap:
                want = [series_key] if series_key else list(SNAPSHOT_KEYS)
                raise DataFormatError(f"{path}: snapshot {k!r} has none of the keys {want} (the "
                                      f"step's values [N] or [N][F]); found keys {sorted(snap)}")
            if used is not None and name != used:
                raise DataFormatError(f"{path}: snapshot {k!r} holds its values under {name!r}, "
                                      f"snapshot '0' under {used!r}")
            used = name
            v = vector(snap[name], path, f"{k}.{name}")
        else:
            v = vector(snap, path, k)
        if N is not None and v.shape != values[0].shape:
            raise DataFormatError(f"{path}: snapshot {k!r} has values {list(v.shape)} "
                                  f"([N, F]), expected {list(values[0].shape)} like snapshot '0'")
        N = v.shape[0]
        values.append(v)
        if isinstance(snap, dict) and "edges" in snap:
            ei, w = static_graph(snap, path, N)
            steps.append((once_each(ei, path, f"snapshot {k!r}'s 'edges'", N), w))
        elif steps:
            raise DataFormatError(f"{path}: snapshot {k!r} has no 'edges' but snapshot '0' has "
                                  f"(a dynamic graph needs edges in every snapshot)")
    out = TemporalSignal(np.stack(values), "snapshots", series=[used] if used else [])
    if steps:
        if len(steps) != T:
            raise DataFormatError(f"{path}: snapshot '0' has no 'edges' but later snapshots do")
        out.steps = steps
    elif "edges" in obj:
        out.edge_index, out.edge_weight = static_graph(obj, path, N)
    else:
        raise DataFormatError(f"{path}: missing key 'edges' (the static graph [[src, dst], ...], "
                              f"or 'edges' in every snapshot); found keys {sorted(obj)[:12]}")
    return out


def read_nodes(obj: Dict[str, Any], path: Path, series_key: Union[None, str, Sequence[str]] = None,
               node_id: Optional[str] = None) -> TemporalSignal:
    """The ``"nodes"`` layout (see the module); nodes in file order."""
    nodes = key(obj, "nodes", path, "a list of node objects")
    if not isinstance(nodes, list) or not nodes:
        raise DataFormatError(f"{path}: 'nodes' must be a non-empty list of node objects")
    for i, node in enumerate(nodes):
        if not isinstance(node, dict):
            raise DataFormatError(f"{path}: nodes[{i}] must be an object (got {type(node).__name__})")
    link_key = "links" if "links" in obj else "edges"
    links = key(obj, link_key, path, "a list of {'source': id, 'target': id, 'weight': w} objects")
    if not isinstance(links, list):
        raise DataFormatError(f"{path}: {link_key!r} must be a list of link objects "
                              f"(got {type(links).__name__})")
    for j, link in enumerate(links):
        if not isinstance(link, dict) or "source" not in link or "target" not in link:
            raise DataFormatError(f"{path}: {link_key}[{j}] must be an object with 'source' and "
                                  f"'target' node ids (got {link!r})")
    # The id key: given, or the first candidate that every node has and every link names.
    ends = [link[e] for link in links for e in ("source", "target")]
    candidates = [node_id] if node_id else list(NODE_ID_KEYS)
    id_key, reasons = None, []
    for cand in candidates:
        missing = next((i for i, n in enumerate(nodes) if cand not in n), None)
        if missing is not None:
            reasons.append(f"nodes[{missing}] has no {cand!r}")
            continue
        ids = [n[cand] for n in nodes]
        try:
            index = {v: i for i, v in enumerate(ids)}
        except TypeError:
            reasons.append(f"the {cand!r} values are not JSON scalars")
            continue
        if len(index) != len(ids):
            dup = next(v for v in ids if ids.count(v) > 1)
            reasons.append(f"the {cand!r} value {dup!r} names two nodes")
            continue
        unknown = next((j for j, v in enumerate(ends) if not _hashable_in(v, index)), None)
        if unknown is not None:
            j = unknown // 2
            reasons.append(f"{link_key}[{j}].{('source', 'target')[unknown % 2]} = {ends[unknown]!r} "
                           f"names no node by {cand!r}")
            continue
        id_key = cand
        break
    if id_key is None:
        raise DataFormatError(f"{path}: no node id key: expected {candidates} in every node, unique, "
                              f"naming every link end ({'; '.join(reasons)})")
    names = _names(series_key)
    parts = []
    for i, node in enumerate(nodes):
        parts.append(_node_series(node, path, f"nodes[{i}]", names))
    shape = parts[0].shape
    for i, p in enumerate(parts):
        if p.shape != shape:
            raise DataFormatError(f"{path}: nodes[{i}] ({id_key} {nodes[i][id_key]!r}) has a series "
                                  f"{list(p.shape)} ([T, F]), expected {list(shape)} like nodes[0]")
    values = np.stack(parts, axis=1)                                     # [T, N, F]
    ids = [n[id_key] for n in nodes]
    index = {v: i for i, v in enumerate(ids)}
    ei = np.array([[index[link["source"]] for link in links], [index[link["target"]] for link in links]],
                  dtype=np.int64).reshape(2, len(links))
    w = [link.get("weight", 1.0) for link in links]
    directed = obj.get("directed", True)
    if not isinstance(directed, bool):
        raise DataFormatError(f"{path}: 'directed' must be true or false (got {directed!r})")
    if not directed:                     # networkx's node_link_data of an undirected graph: each link both ways
        back = [j for j in range(ei.shape[1]) if ei[0, j] != ei[1, j]]             # a self-loop once
        ei = np.concatenate([ei, ei[::-1, back]], axis=1)
        w = w + [w[j] for j in back]
    out = TemporalSignal(values, "nodes", node_ids=ids, series=names or [])
    out.edge_index = ei
    out.edge_weight = weights(w, path, f"{link_key}[*].weight", ei.shape[1])
    return out


def _hashable_in(value: Any, index: Dict[Any, int]) -> bool:
    try:
        return value in index
    except TypeError:
        return False


def _node_series(node: Dict[str, Any], path: Path, where: str, names: Optional[List[str]]) -> np.ndarray:
    """One node's series ``[T, F]``: ``names`` looked up in the node, then in its
    ``"X"`` object; by default ``"X"`` (a list), else ``"y"``."""
    X = node.get("X")
    if names is None:
        if isinstance(X, list):
            return vector(X, path, f"{where}.X")
        if isinstance(node.get("y"), list):
            return vector(node["y"], path, f"{where}.y")
        raise DataFormatError(f"{path}: {where} has no series: expected 'X' ([T] or [T][F]) or 'y' "
                              f"([T]), or name the series with series=...; found keys {sorted(node)}")
    cols = []
    for name in names:
        if isinstance(node.get(name), list):
            cols.append(vector(node[name], path, f"{where}.{name}"))
        elif isinstance(X, dict) and isinstance(X.get(name), list):
            cols.append(vector(X[name], path, f"{where}.X.{name}"))
        else:
            found = sorted(node) + ([f"X.{k}" for k in sorted(X)] if isinstance(X, dict) else [])
            raise DataFormatError(f"{path}: {where} has no series {name!r} (looked in the node and in "
                                  f"its 'X' object); found {found}")
    T = cols[0].shape[0]
    for name, c in zip(names, cols):
        if c.shape[0] != T:
            raise DataFormatError(f"{path}: {where}: series {name!r} has {c.shape[0]} steps, "
                                  f"{names[0]!r} has {T}")
    return np.concatenate(cols, axis=1)


def read_node_types(obj: Dict[str, Any], path: Path, layout: str, name: str, N: int) -> List[str]:
    """Each node's type name under the key ``name``: in every node object
    (``"nodes"`` layout) or a top-level list of ``N`` names (the others).
    Names are strings or integers (read as their text)."""
    if layout == "nodes":
        where = [f"nodes[{i}].{name}" for i in range(N)]
        missing = next((i for i, n in enumerate(obj["nodes"]) if name not in n), None)
        if missing is not None:
            raise DataFormatError(f"{path}: nodes[{missing}] has no {name!r} (node_type={name!r}: every node "
                                  f"names its type under that key); its keys are {sorted(obj['nodes'][missing])}")
        values = [n[name] for n in obj["nodes"]]
    else:
        values = key(obj, name, path, f"a list of one node type name per node ({N})")
        if not isinstance(values, list) or len(values) != N:
            got = f"{len(values)} entries" if isinstance(values, list) else type(values).__name__
            raise DataFormatError(f"{path}: {name!r} must be a list of one node type name per node ({N}); "
                                  f"got {got}")
        where = [f"{name}[{i}]" for i in range(N)]
    for w, v in zip(where, values):
        if isinstance(v, bool) or not isinstance(v, (str, int)) or v == "":
            raise DataFormatError(f"{path}: {w} must be a node type name (a non-empty string or an integer), "
                                  f"got {v!r}")
    text: Dict[str, Any] = {}
    for w, v in zip(where, values):
        if text.setdefault(str(v), v) != v:
            raise DataFormatError(f"{path}: {w} is {v!r} and another node's type is {text[str(v)]!r}: both read "
                                  f"as the type {str(v)!r}; name each type one way")
    return [str(v) for v in values]


def read_temporal_json(path: Union[str, Path], layout: str = "auto",
                       series: Union[None, str, Sequence[str]] = None,
                       node_id: Optional[str] = None, node_type: Optional[str] = None) -> TemporalSignal:
    """Read one PyG Temporal JSON file in any of :data:`LAYOUTS` (``"auto"``
    detects it). ``series`` names the values' key (``"matrix"``/``"snapshots"``)
    or keys (``"nodes"``, stacked as features); ``node_id`` the node-list id key;
    ``node_type`` the key of the nodes' type names (:func:`read_node_types`).
    Errors name the layout read."""
    path = Path(path)
    if layout != "auto" and layout not in LAYOUTS:
        raise ValueError(f"read_temporal_json: 'layout' must be 'auto' or one of {LAYOUTS} "
                         f"(got {layout!r})")
    obj = load_json(path)
    chosen = detect_layout(obj, path) if layout == "auto" else layout
    names = _names(series)
    if chosen != "nodes" and names is not None and len(names) != 1:
        raise ValueError(f"read_temporal_json: the {chosen!r} layout reads one series key "
                         f"(got series={series!r})")
    if node_type is not None and (not isinstance(node_type, str) or not node_type):
        raise ValueError(f"read_temporal_json: 'node_type' must be a key name (a non-empty string) or None "
                         f"(got {node_type!r})")
    try:
        if chosen == "matrix":
            signal = read_matrix(obj, path, names[0] if names else None)
        elif chosen == "snapshots":
            signal = read_snapshots(obj, path, names[0] if names else None)
        else:
            signal = read_nodes(obj, path, names, node_id)
        if node_type is not None:
            signal.node_types = read_node_types(obj, path, chosen, node_type, signal.values.shape[1])
        return signal
    except DataFormatError as exc:
        how = "detected" if layout == "auto" else "as asked"
        raise DataFormatError(f"{exc} [read as the {chosen!r} layout, {how}]") from None
