"""Spatio-temporal graphs as PyG data: :class:`STData`, time windows and conversions."""
from __future__ import annotations

import copy
import copyreg
import operator
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Batch, Data, Dataset
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
_FUTURE_KEYS = ("y", "y_mask", "u_future")             # keys whose second dimension is the horizon
#: the keys that must hold tensors when present
_TENSOR_KEYS = ("x", "edge_index", "node_type", "edge_type", "edge_attr", "node_mask", "edge_mask", "y", "y_mask",
                "y_weight", "u_future")


def _shape(v: Any) -> str:
    return str(list(v.shape)) if isinstance(v, Tensor) else type(v).__name__


def _as_int(owner: str, name: str, value: Any) -> int:
    """``value`` as an ``int`` (Python, NumPy or 0-d torch integers), else a :class:`TypeError` naming it."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{owner}: '{name}' must be an integer (got {value!r}, a {type(value).__name__})") from None


def _pad_end(value: Tensor, steps: int) -> Tensor:
    """``value`` ``[rows, S, ...]`` with zeros appended along dimension 1 up to ``steps``."""
    return torch.cat([value, value.new_zeros(value.size(0), steps - value.size(1), *value.shape[2:])], dim=1)


def _future_steps(data: Any, key: str) -> Optional[int]:
    """The steps ``size(1)`` of the future key ``key`` of ``data``; :obj:`None` without it."""
    v = data.get(key)
    return int(v.size(1)) if isinstance(v, Tensor) and v.dim() >= 2 else None


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
    ``edge_attr``  ``[E, T, F_e]``       optional given edge features (or
                                         ``[E, 1, F_e]``, held over the steps)
    ``node_mask``  ``[N, T]`` bool       optional: node present at ``t``
    ``edge_mask``  ``[E, T]`` bool       optional: edge present at ``t``
    ``y``          ``[N, H, F_out]``     optional future targets, or ``[N, H]``
                                         long class labels
    ``y_mask``     ``[N, H]`` bool       optional: target present
    ``y_weight``   ``[N, F_out]``        optional: weight (>= 0) of each target
                                         feature in the point losses
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
        endpoint types, and finite values where present (``x`` where
        ``node_mask`` holds, ``edge_attr`` where ``edge_mask`` holds, ``y``
        where ``y_mask`` holds; everywhere without the mask), as the models do;
        ``u_future`` ``[num_nodes, H, C]`` finite for the nodes present at the
        last observed step; every key a tensor (not a list or an array).

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
        for key in _TENSOR_KEYS:                       # a list or an array under a tensor key: say so first
            value = self.get(key)
            if value is not None and not isinstance(value, Tensor):
                raise ValueError(f"STData: '{key}' must be a torch.Tensor (got {type(value).__module__}."
                                 f"{type(value).__name__} {_shape(value)}); convert it with torch.as_tensor")
        x = self.x
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(f"STData: 'x' must be a [num_nodes, T, F] tensor (got {_shape(x)})")
        if not x.is_floating_point():
            raise ValueError(f"STData: 'x' must be a floating-point tensor (got {x.dtype})")
        N, T, _ = x.shape
        if N == 0 or T == 0:
            raise ValueError(f"STData: 'x' is empty: no nodes or no steps (got {list(x.shape)})")

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
            if ea.dim() != 3 or ea.size(0) != E or ea.size(1) not in (1, T):
                raise ValueError(f"STData: 'edge_attr' must be [num_edges, T, F_e] = [{E}, {T}, F_e], or "
                                 f"[{E}, 1, F_e] held over the steps (got {_shape(ea)})")
            if not ea.is_floating_point():
                raise ValueError(f"STData: 'edge_attr' must be floating point (got {ea.dtype})")
        for key, rows, name in (("node_mask", N, "num_nodes"), ("edge_mask", E, "num_edges")):
            m = self.get(key)
            if m is not None and m.dtype != torch.bool:
                raise ValueError(f"STData: '{key}' must be torch.bool (got {m.dtype})")
            if m is not None and tuple(m.shape) != (rows, T):
                raise ValueError(f"STData: '{key}' must be [{name}, T] = [{rows}, {T}] (got {_shape(m)})")
        if self.get("y_weight") is not None and self.get("y") is None:
            raise ValueError("STData: 'y_weight' weighs the targets 'y', which this graph does not have")
        y = self.get("y")
        if y is not None:
            if not isinstance(y, Tensor) or y.dim() not in (2, 3) or y.size(0) != N:
                raise ValueError(f"STData: 'y' must be [num_nodes, H, F_out] or [num_nodes, H] "
                                 f"with num_nodes={N} (got {_shape(y)})")
            if not y.is_floating_point() and y.dtype != torch.long:
                raise ValueError(f"STData: 'y' must be floating point or torch.long (got {y.dtype})")
            ym = self.get("y_mask")
            if ym is not None and (ym.dtype != torch.bool or tuple(ym.shape) != tuple(y.shape[:2])):
                raise ValueError(f"STData: 'y_mask' must be a bool [num_nodes, H] = {list(y.shape[:2])} "
                                 f"tensor (got {_shape(ym)}, {getattr(ym, 'dtype', None)})")
            yw = self.get("y_weight")
            if yw is not None and not (y.dim() == 3 and y.is_floating_point()):
                raise ValueError(f"STData: 'y_weight' weighs regression targets [num_nodes, H, F_out]; 'y' holds "
                                 f"{_shape(y)} {y.dtype} (remove 'y_weight')")
            want = (N, y.size(-1)) if y.dim() == 3 else None
            if yw is not None and (not isinstance(yw, Tensor) or not yw.is_floating_point()
                                   or tuple(yw.shape) != want):
                raise ValueError(f"STData: 'y_weight' must be a floating-point [num_nodes, F_out] = {list(want)} "
                                 f"tensor (got {_shape(yw)}, {getattr(yw, 'dtype', None)})")
            if yw is not None and (not bool(torch.isfinite(yw).all()) or bool((yw < 0).any())):
                raise ValueError("STData: 'y_weight' must be finite and >= 0 everywhere")
        u = self.get("u_future")
        if u is not None:
            if u.dim() != 3 or u.size(0) != N or not u.is_floating_point():
                raise ValueError(f"STData: 'u_future' must be a floating-point [num_nodes, H, C] tensor with "
                                 f"num_nodes={N} (got {_shape(u)}, {u.dtype})")
            nm = self.get("node_mask")                     # read for the nodes present at the last observed step
            present = None if nm is None else nm[:, -1:].expand(N, u.size(1))
            _check_finite("u_future", u, present, "node")
        # Finite where present: what an absent node, edge or target step holds is never read.
        _check_finite("x", x, self.get("node_mask"), "node")
        if ea is not None:
            _check_finite("edge_attr", ea.expand(E, T, ea.size(2)), self.get("edge_mask"), "edge")
        if y is not None and y.is_floating_point():
            _check_finite("y", y, self.get("y_mask"), "node")

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
        ``node_mask``, ``y_mask`` holds presence over the same steps. With
        ``horizon=0`` and such a ``target``, the piece keeps its snapshots' own
        targets (``target[start : start+obs]``), so that a recording cut into
        splits windows as the whole one does.

        Raises:
            TypeError: if ``start``, ``obs`` or ``horizon`` is not an integer.
            ValueError: if the window does not fit the recording.
        """
        start, obs, horizon = (_as_int("STData.window", name, value)
                               for name, value in (("start", start), ("obs", obs), ("horizon", horizon)))
        T = self.num_steps
        first = start + obs if target == "x" else start + obs - 1      # the first target step
        if obs < 1 or horizon < 0 or start < 0 or start + obs > T or first + horizon > T:
            need = "start + obs + horizon" if target == "x" else "start + obs - 1 + horizon"
            raise ValueError(f"STData.window: need 0 <= start, 1 <= obs, 0 <= horizon and "
                             f"{need} <= T={T} (got start={start}, obs={obs}, horizon={horizon})")
        own_mask = "y_mask" if target == "y" else None          # the presence of a per-snapshot target
        out = STData()
        for key, value in self._store.items():
            if key == "edge_attr" and _held(value, T):         # held over the steps: every window's
                out[key] = value
            elif key in _NODE_TIME_KEYS or key in _EDGE_TIME_KEYS:
                out[key] = value[:, start:start + obs]
            elif key in ("y", "y_mask") and target != "y":
                continue
            elif key not in (target, own_mask) or key == "x":
                out[key] = value
        if horizon > 0:
            src = self.get(target)
            if src is None:
                raise ValueError(f"STData.window: no key {target!r} to take targets from")
            out.y = src[:, first:first + horizon]
            present = [m[:, first:first + horizon] for m in (self.get("node_mask"), self.get(own_mask))
                       if m is not None]
            if present:                                           # present node and a present target
                out.y_mask = present[0] if len(present) == 1 else present[0] & present[1]
        elif target != "x" and self.get(target) is not None:   # a piece of the recording keeps its snapshots'
            out[target] = self[target][:, start:start + obs]     # own targets, for TimeWindows(target=...)
            if self.get(own_mask) is not None:
                out[own_mask] = self[own_mask][:, start:start + obs]
        base = self.get("t_start")
        if isinstance(base, Tensor) and base.numel() == 1:     # absolute time carries over to the piece
            out.t_start = base.view(1) + start
        return out

    def pad_to(self, steps: int, horizon: Optional[int] = None) -> "STData":
        r"""This window padded to ``steps`` observed and ``horizon`` future steps
        (default: ``H``, the steps of ``y``; without ``y``, those of ``u_future``),
        so that windows of different lengths batch (:func:`pad_collate`).

        Observed keys (``x``, masks, ``edge_attr``) get the new steps at the
        start, so every window still ends at its last observed frame, and
        ``t_start`` moves back by as many steps, so that it stays the step of
        ``x[:, 0]`` (as :class:`~srnn_pyg.models.SeasonalMean` reads it).
        Targets ``y`` get theirs at the end (class labels ``[N, H]``, which end
        with the observed steps, at the start), and so do the future
        covariates ``u_future`` shorter than ``horizon`` (longer ones are kept
        whole). New entries are zero and absent: the result always holds
        ``node_mask`` (and ``y_mask`` with ``y``), False there, so masked
        losses and metrics ignore them. Padding never shortens.

        Raises:
            TypeError: if ``steps`` or ``horizon`` is not an integer.
            ValueError: if ``steps < T`` or ``horizon < H``, or if ``horizon > 0``
                and there is neither ``y`` nor ``u_future`` to pad.
        """
        steps = _as_int("STData.pad_to", "steps", steps)
        y, T = self.get("y"), self.num_steps
        H, U = _future_steps(self, "y"), _future_steps(self, "u_future")
        low = H if H is not None else 0
        if horizon is None:
            horizon = H if H is not None else U or 0
        else:
            horizon = _as_int("STData.pad_to", "horizon", horizon)
        if steps < T:
            raise ValueError(f"STData.pad_to: 'steps' must be >= T={T}: padding never shortens (got steps={steps})")
        if H is None and U is None and horizon != 0:
            raise ValueError(f"STData.pad_to: 'horizon' pads the future keys 'y' and 'u_future', which this data "
                             f"does not have: expected horizon=None or 0 (got horizon={horizon})")
        if horizon < low:
            what = f"H={H}, the steps of 'y'" if H is not None else "0"
            raise ValueError(f"STData.pad_to: 'horizon' must be >= {what}: padding never shortens "
                             f"(got horizon={horizon})")
        out = copy.copy(self)
        if self.get("node_mask") is None:
            out.node_mask = torch.ones(self.x.shape[:2], dtype=torch.bool, device=self.x.device)
        if H is not None and self.get("y_mask") is None:
            out.y_mask = torch.ones(y.shape[:2], dtype=torch.bool, device=y.device)
        for key in _NODE_TIME_KEYS + _EDGE_TIME_KEYS:
            v = out.get(key)
            if isinstance(v, Tensor) and steps > T and not (key == "edge_attr" and _held(v, T)):
                out[key] = torch.cat([v.new_zeros(v.size(0), steps - T, *v.shape[2:]), v], dim=1)
        base = self.get("t_start")
        if isinstance(base, Tensor) and steps > T:              # still the step of x[:, 0]
            out.t_start = base - (steps - T)
        for key in ("y", "y_mask") if H is not None and horizon > H else ():
            v = out[key]
            pad = v.new_zeros(v.size(0), horizon - H, *v.shape[2:])
            out[key] = torch.cat([pad, v] if not y.is_floating_point() else [v, pad], dim=1)  # [N, horizon, ...]
        if U is not None and horizon > U:
            out.u_future = _pad_end(out.u_future, horizon)
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

    The future keys ``y`` (with ``y_mask``) and ``u_future`` are padded at the
    end with absent steps: ``y`` to the longest ``y``, ``u_future`` to the
    longest of those and of the ``u_future`` (covariates may reach further
    than the targets). Windows of different schemas or keys, or whose tensors
    differ where padding does not reach (feature counts, say), raise a
    :class:`ValueError` naming the window, the key, the expected and the
    received shape."""
    data_list = list(data_list)
    if not data_list:
        raise ValueError("pad_collate: 'data_list' must hold at least one window (got 0)")
    check_schemas([d._store.get("schema", None) for d in data_list])
    keys = [set(d.keys()) for d in data_list]
    for i, k in enumerate(keys):
        if k - _PADDED_MASKS != keys[0] - _PADDED_MASKS:
            raise ValueError(f"pad_collate: window {i} holds the keys {sorted(k)}, window 0 {sorted(keys[0])}")
    _check_batchable(data_list, loose=True)
    steps = max(d.num_steps for d in data_list)
    future = "y" if "y" in keys[0] else "u_future"
    horizon = max((h for h in (_future_steps(d, future) for d in data_list) if h is not None), default=None)
    lengths = {(d.num_steps, _future_steps(d, "y"), _future_steps(d, "u_future")) for d in data_list}
    if len(lengths) > 1 or any(k != keys[0] for k in keys):
        data_list = [d.pad_to(steps, horizon) for d in data_list]
        reach = max(_future_steps(d, "u_future") or 0 for d in data_list)
        for d in data_list:                                    # padded copies: u_future beyond the targets
            if (_future_steps(d, "u_future") or reach) < reach:
                d.u_future = _pad_end(d.u_future, reach)
        _check_batchable(data_list, loose=False)
    return Batch.from_data_list(data_list)


def _check_batchable(data_list: Sequence[STData], loose: bool) -> None:
    """A :class:`ValueError` naming the window, the key and both shapes where a
    tensor would not concatenate with window 0's (with ``loose``, the steps
    that padding evens out, dimension 1 of the time and future keys, may differ)."""
    first = data_list[0]
    stepped = _NODE_TIME_KEYS + _EDGE_TIME_KEYS + _FUTURE_KEYS
    for key, v0 in first._store.items():
        if not isinstance(v0, Tensor):
            continue
        cat = first.__cat_dim__(key, v0) if v0.dim() > 0 else None
        free = set() if cat is None else {cat % v0.dim()}
        if loose and key in stepped:
            free.add(1)
        for i, d in enumerate(data_list[1:], 1):
            v = d.get(key)
            if isinstance(v, Tensor) and (v.dim() != v0.dim() or any(
                    j not in free and a != b for j, (a, b) in enumerate(zip(v.shape, v0.shape)))):
                want = ", ".join("*" if j in free else str(n) for j, n in enumerate(v0.shape))
                raise ValueError(f"pad_collate: window {i}'s {key!r} does not batch with window 0's "
                                 f"{list(v0.shape)}: expected [{want}] ('*': may differ) (got {list(v.shape)})")


def _held(edge_attr: Tensor, steps: int) -> bool:
    """Whether ``edge_attr`` ``[E, 1, F_e]`` is held over ``steps > 1`` steps (one value for all)."""
    return edge_attr.dim() == 3 and edge_attr.size(1) == 1 and steps > 1


def _check_finite(key: str, value: Tensor, present: Optional[Tensor], rows: str) -> None:
    """A :class:`ValueError` naming the first NaN/infinite entry of ``value``
    ``[rows, steps, ...]`` where ``present`` ``[rows, steps]`` holds (everywhere without it)."""
    bad = ~torch.isfinite(value)
    if present is not None:
        bad = bad & present.view(*present.shape, *([1] * (value.dim() - present.dim())))
    if bool(bad.any()):
        at = [int(i) for i in bad.nonzero()[0]]
        where = f"{rows} {at[0]}, step {at[1]}" + (f", feature {at[2]}" if len(at) > 2 else "")
        raise ValueError(f"STData: '{key}' must be finite where present (got "
                         f"{float(value[tuple(at)])} at {where})")


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
    A window of frames (``target="x"``) carries ``t_start`` ``[1]``, the step of its
    ``x[:, 0]``: ``s``, plus the recording's own ``t_start`` where it has one (a
    piece cut with :meth:`STData.window` keeps its absolute time that way), which
    :class:`~srnn_pyg.models.SeasonalMean` reads.

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
        for name, value, low in (("obs", obs, 1), ("horizon", horizon, 0), ("stride", stride, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"TimeWindows: '{name}' must be an int >= {low} (got {value!r})")
        if not isinstance(recording, Data) or not isinstance(recording.get("x"), Tensor):
            raise ValueError(f"TimeWindows: 'recording' must be an STData with 'x' [N, T, F] (got "
                             f"{type(recording).__name__})")
        if target != "x" and recording.get(target) is None:
            raise ValueError(f"TimeWindows: target={target!r} names no key of the recording (keys: "
                             f"{sorted(recording.keys())}); targets come from 'x' (the frames after each window) "
                             f"or from a per-snapshot key such as 'y'")
        T = recording.num_steps
        span = obs + horizon - (0 if target == "x" or horizon == 0 else 1)    # steps one window covers
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
        window = self.recording.window(idx * self.stride, self.obs, self.horizon, self.target)
        if self.target == "x" and window.get("t_start") is None:     # the step of x[:, 0] (SeasonalMean reads it)
            window.t_start = torch.tensor([idx * self.stride])
        return window

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({len(self)}, obs={self.obs}, "
                f"horizon={self.horizon}, stride={self.stride})")


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

# The conversions live in convert.py (they build STData, so it imports this module); re-exported here on
# first use (PEP 562), so that either module can be the first one imported.
_CONVERSIONS = ("from_dense", "from_hetero", "from_networkx", "from_temporal_signal", "to_hetero", "to_networkx")
if TYPE_CHECKING:  # what type checkers and linters see; at run time, __getattr__
    from .convert import from_dense, from_hetero, from_networkx, from_temporal_signal, to_hetero, to_networkx


def __getattr__(name: str):
    if name in _CONVERSIONS:
        from . import convert
        value = getattr(convert, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    """The module's names, the lazily re-exported conversions included (``dir()`` and completion list them
    before their first use)."""
    return sorted(set(globals()) | set(_CONVERSIONS))
