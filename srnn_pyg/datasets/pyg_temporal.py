r"""The small real graph time series that PyG Temporal ships as JSON:
:class:`Chickenpox`, :class:`PedalMe` and :class:`EnglandCovid`, cut into
windows exactly as PyG Temporal's loaders cut them into snapshots."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .. import metrics as M
from ..data import STData
from ..schema import STSchema
from .base import DataFormatError, STDataset, forecast_view, require_file, resolve_root
from .registry import register_dataset

__all__ = ["Chickenpox", "PedalMe", "EnglandCovid"]

_SPLITS = ("train", "val", "test")


def _load_json(path: Path) -> Dict[str, Any]:
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


def _key(obj: Dict[str, Any], key: str, path: Path, what: str) -> Any:
    if key not in obj:
        raise DataFormatError(f"{path}: missing key {key!r} ({what}); found keys {sorted(obj)}")
    return obj[key]


def _matrix(value: Any, path: Path, key: str, cols: Optional[int] = None) -> np.ndarray:
    """A list of equal-length numeric rows as float64 ``[rows, cols]``, checked row by row."""
    if not isinstance(value, list) or not value:
        raise DataFormatError(f"{path}: {key!r} must be a non-empty list of rows "
                              f"(got {type(value).__name__})")
    width = cols
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list):
            raise DataFormatError(f"{path}: {key}[{i}] must be a list of numbers "
                                  f"(got {type(row).__name__})")
        if width is None:
            width = len(row)
        if len(row) != width:
            raise DataFormatError(f"{path}: {key}[{i}] has {len(row)} values, expected {width}; "
                                  f"the file may be truncated")
        try:
            arr = np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}: {key}[{i}] holds a value that is not a number") from None
        if not np.isfinite(arr).all():
            j = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise DataFormatError(f"{path}: {key}[{i}][{j}] is {row[j]!r} (expected a finite number)")
        rows.append(arr)
    return np.stack(rows)


def _edges(value: Any, path: Path, key: str, num_nodes: int) -> np.ndarray:
    """``[[src, dst], ...]`` as int64 ``[2, E]``, every index in ``[0, num_nodes)``."""
    if not isinstance(value, list):
        raise DataFormatError(f"{path}: {key!r} must be a list of [src, dst] pairs "
                              f"(got {type(value).__name__})")
    if not value:
        return np.zeros((2, 0), dtype=np.int64)
    pairs = _matrix(value, path, key, cols=2)
    if (pairs != np.round(pairs)).any():
        raise DataFormatError(f"{path}: {key!r} holds non-integer node indices")
    pairs = pairs.astype(np.int64)
    bad = (pairs < 0) | (pairs >= num_nodes)
    if bad.any():
        i = int(np.flatnonzero(bad.any(1))[0])
        raise DataFormatError(f"{path}: {key}[{i}] = {value[i]} names a node outside "
                              f"[0, {num_nodes - 1}]")
    return pairs.T.copy()


def _weights(value: Any, path: Path, key: str, count: int) -> np.ndarray:
    if not isinstance(value, list) or len(value) != count:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise DataFormatError(f"{path}: {key!r} must list one weight per edge "
                              f"(expected {count}, got {got})")
    if count == 0:
        return np.zeros(0)
    return _matrix([value], path, key)[0]


class _PyGTemporalDataset(STDataset):
    r"""Shared machinery: one recording ``x`` ``[N, T, 1]``; window ``i`` is PyG
    Temporal's snapshot ``i`` (``x = X[i:i+lags]``, ``y = X[i+lags:i+lags+horizon]``);
    the split is :func:`temporal_signal_split`'s, on snapshots. The protocol
    (:meth:`open`, :meth:`score`) is shared: ``obs`` maps to ``lags``; the
    ``"val"`` split exists only with ``val_ratio > 0``; MAE and MSE in the
    data's units."""

    file_name: str = ""
    node_name: str = "node"
    default_lags: int = 4
    default_train_ratio: float = 0.8
    window_options = {"obs": "lags", "horizon": "horizon"}

    @classmethod
    def missing_split(cls, split: str, **extra: Any) -> Optional[str]:
        """PyG Temporal's split has no validation part unless ``val_ratio > 0``."""
        if split == "val" and not extra.get("val_ratio"):
            return "PyG Temporal's split has a 'val' part only with val_ratio > 0"
        return super().missing_split(split, **extra)

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """``MAE`` and ``MSE`` over all nodes and predicted steps, in the data's units."""
        pred, y, y_mask = forecast_view(collected)
        p, t = self.denormalize(pred), self.denormalize(y)
        return {"MAE": float(M.mae(p, t, y_mask)), "MSE": float(M.mse(p, t, y_mask))}

    def __init__(self, root: Optional[Union[str, os.PathLike]], split: str, lags: Optional[int],
                 horizon: int, train_ratio: Optional[float], val_ratio: float,
                 transform: Optional[Callable]):
        name = type(self).__name__
        if split not in _SPLITS:
            raise ValueError(f"{name}: 'split' must be one of {_SPLITS} (got {split!r})")
        lags = self.default_lags if lags is None else int(lags)
        train_ratio = self.default_train_ratio if train_ratio is None else float(train_ratio)
        if lags < 1 or horizon < 1:
            raise ValueError(f"{name}: 'lags' and 'horizon' must be >= 1 (got {lags}, {horizon})")
        if not 0.0 < train_ratio < 1.0 or not 0.0 <= val_ratio < train_ratio:
            raise ValueError(f"{name}: need 0 < train_ratio < 1 and 0 <= val_ratio < train_ratio "
                             f"(got train_ratio={train_ratio}, val_ratio={val_ratio})")
        self.root = resolve_root(root, "pyg_temporal")
        self.path = require_file(self.root / self.file_name, f"PyG Temporal's {name} JSON")
        self.split, self.obs, self.horizon = split, lags, int(horizon)
        self.lags, self.train_ratio, self.val_ratio = lags, train_ratio, float(val_ratio)

        values, edge_index, edge_attr, edge_mask = self._read(_load_json(self.path))
        T, N = values.shape
        if T < lags + self.horizon:
            raise DataFormatError(f"{self.path}: {T} time steps are too few for lags={lags} and "
                                  f"horizon={self.horizon}")
        # temporal_signal_split on PyG Temporal's T - lags one-step snapshots.
        S = T - lags
        n_train = int(train_ratio * S)
        n_val = int(val_ratio * S)
        self.snapshot_bounds = {"train": (0, n_train - n_val), "val": (n_train - n_val, n_train),
                                "test": (n_train, S)}
        x = torch.from_numpy(values).float().t().unsqueeze(-1)          # [N, T, 1]
        self.mean, self.std = self._stats(x)
        x = self._apply(x, inverse=False)
        schema = STSchema([self.node_name], [(self.node_name, self.node_name)])
        self.schema = schema
        E = edge_index.size(1)
        rec = STData(x=x, edge_index=edge_index, node_type=torch.zeros(N, dtype=torch.long),
                     edge_type=torch.zeros(E, dtype=torch.long), edge_attr=edge_attr)
        if edge_mask is not None:
            rec.edge_mask = edge_mask
        rec.schema = schema
        self.recordings = [rec]
        lo, hi = self.snapshot_bounds[split]
        # A window belongs to a part if all its targets lie in that part's targets
        # (for horizon=1 exactly PyG Temporal's snapshots of the part).
        self.index = [(0, s) for s in range(lo, hi - self.horizon + 1)]
        if not self.index:
            raise ValueError(f"{name}: split {split!r} holds no window (snapshots [{lo}, {hi}), "
                             f"horizon={self.horizon}, train_ratio={train_ratio})")
        super().__init__(transform)

    # Subclasses: the series [T, N] and the graph.
    def _read(self, obj: Dict[str, Any]) -> Tuple[np.ndarray, Tensor, Tensor, Optional[Tensor]]:
        raise NotImplementedError

    def _stats(self, x: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        return None, None

    @staticmethod
    def _static_graph(edge_index: np.ndarray, weight: np.ndarray, T: int) -> Tuple[Tensor, Tensor]:
        E = edge_index.shape[1]
        w = torch.from_numpy(weight).float()
        return (torch.from_numpy(edge_index).long(),
                w.view(E, 1, 1).expand(E, T, 1))                          # [E, T, 1], a view

    # ---------------------------------------------------------- normalising
    def _apply(self, x: Tensor, inverse: bool) -> Tensor:
        if self.mean is None:
            return x
        mean, std = self.mean.to(x), self.std.to(x)                      # [N_data, 1]
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__}: expected node-major values [N, ...] "
                             f"(got {list(x.shape)})")
        n = mean.size(0)
        if x.size(0) % n != 0:
            raise ValueError(f"{type(self).__name__}: the statistics are per node (N={n}); "
                             f"got {x.size(0)} rows, not a whole number of graphs")
        shape = (x.size(0),) + (1,) * (x.dim() - 1)
        mean = mean.repeat(x.size(0) // n, 1).view(shape)                 # a batch: graphs in order
        std = std.repeat(x.size(0) // n, 1).view(shape)
        return x * std + mean if inverse else (x - mean) / std

    def normalize(self, x: Tensor) -> Tensor:
        """Data units to model units (identity where PyG Temporal does not scale)."""
        return self._apply(x, inverse=False)

    def denormalize(self, x: Tensor) -> Tensor:
        """Model units back to data units; ``x`` is ``[N, ...]`` or a batch of
        whole graphs ``[B * N, ...]`` in dataset node order (a
        :class:`~torch_geometric.loader.DataLoader` batch)."""
        return self._apply(x, inverse=True)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)}, split={self.split!r}, lags={self.lags}, "
                f"horizon={self.horizon})")


@register_dataset("chickenpox")
class Chickenpox(_PyGTemporalDataset):
    r"""Weekly chickenpox cases in the 20 counties of Hungary, 2005 to 2015
    (521 weeks), on the county adjacency graph (102 directed edges including
    self-loops, weight 1), as released with PyG Temporal (`Rozemberczki et al.,
    CIKM 2021 <https://arxiv.org/abs/2104.07788>`_;
    ``torch_geometric_temporal/dataset/chickenpox.py``).

    Snapshot ``i`` observes weeks ``i .. i+lags-1`` of every county and targets
    week ``i+lags``; there are ``521 - lags`` snapshots. The values are the
    file's ``FX`` as they are: already standardised per county by the data's
    authors, and PyG Temporal's loader does not scale them further, so
    ``mean``/``std`` are :obj:`None` and MSE here is PyG Temporal's MSE. The
    values behave like standardised week-to-week changes (the mean lag-1
    autocorrelation per county is -0.51 in the released file): repeating the
    last week is a poor forecast (test MSE 3.02) and predicting 0 gives 1.01.

    The split defaults to ``train_ratio=0.2``: PyG Temporal's example scripts
    for this dataset (``examples/recurrent/*_example.py``, whose test MSEs of
    about 1.07 to 1.09 are the published reference) call
    ``temporal_signal_split(dataset, train_ratio=0.2)``; pass ``0.8`` for the
    function's own default.

    **Protocol** (registry name ``"chickenpox"``; :meth:`open`, :meth:`score`):
    splits ``"train"``, ``"test"`` and, only with ``val_ratio > 0``, ``"val"``
    (:meth:`has_split`); defaults ``obs = lags = 4``, ``horizon = 1``,
    ``train_ratio = 0.2``, batch size 16; :meth:`open` maps ``obs`` to
    ``lags``. :meth:`score` reports ``MAE`` and ``MSE`` over all counties
    and predicted weeks, in the file's (standardised) units, as PyG
    Temporal's examples do.

    Args:
        root (str or PathLike, optional): the folder with ``chickenpox.json``
            (or the folder that holds ``pyg_temporal/``); by default
            ``$SRNN_PYG_DATA/pyg_temporal``. (default: :obj:`None`)
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``. (default: :obj:`"train"`)
        lags (int, optional): observed steps per window (PyG Temporal's lags).
            (default: :obj:`4`)
        horizon (int, optional): predicted steps; ``1`` is PyG Temporal's task.
            (default: :obj:`1`)
        train_ratio (float, optional): :func:`temporal_signal_split`'s ratio of
            snapshots before the test part. (default: :obj:`0.2`)
        val_ratio (float, optional): share of all snapshots carved from the end
            of the training part for validation (PyG Temporal has none).
            (default: :obj:`0.0`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[20, lags, 1]``, ``y``
          ``[20, horizon, 1]``, ``edge_index`` ``[2, E]``, ``edge_attr``
          ``[E, lags, 1]``.
    """

    file_name = "chickenpox.json"
    node_name = "county"
    default_lags = 4
    default_train_ratio = 0.2
    defaults = {"obs": 4, "horizon": 1, "train_ratio": 0.2, "val_ratio": 0.0, "batch_size": 16}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, split: str = "train",
                 lags: Optional[int] = None, horizon: int = 1, train_ratio: Optional[float] = None,
                 val_ratio: float = 0.0, transform: Optional[Callable] = None):
        super().__init__(root, split, lags, horizon, train_ratio, val_ratio, transform)

    def _read(self, obj):
        values = _matrix(_key(obj, "FX", self.path, "weekly cases [weeks][counties]"), self.path, "FX")
        T, N = values.shape
        ei = _edges(_key(obj, "edges", self.path, "[src, dst] county pairs"), self.path, "edges", N)
        node_ids = obj.get("node_ids")
        if isinstance(node_ids, dict) and len(node_ids) != N:
            raise DataFormatError(f"{self.path}: 'node_ids' names {len(node_ids)} counties but "
                                  f"'FX' has {N} columns")
        self.node_ids = ({int(v): str(k) for k, v in node_ids.items()} if isinstance(node_ids, dict)
                         else None)
        edge_index, edge_attr = self._static_graph(ei, np.ones(ei.shape[1]), T)
        return values, edge_index, edge_attr, None


@register_dataset("pedalme")
class PedalMe(_PyGTemporalDataset):
    r"""Weekly PedalMe bicycle-delivery demand in 15 London localities over 35
    weeks, on a weighted locality graph (225 edges, all pairs including
    self-loops), as released with PyG Temporal (`Rozemberczki et al., CIKM 2021
    <https://arxiv.org/abs/2104.07788>`_; ``torch_geometric_temporal/dataset/pedalme.py``).

    Snapshot ``i`` observes weeks ``i .. i+lags-1`` and targets week
    ``i+lags`` (``35 - lags`` snapshots). The values are the file's ``X`` as
    they are (already scaled by the data's authors; PyG Temporal's loader does
    not scale them), so ``mean``/``std`` are :obj:`None`. The split defaults to
    :func:`temporal_signal_split`'s own ``train_ratio=0.8``.

    **Protocol** (registry name ``"pedalme"``; :meth:`open`, :meth:`score`):
    splits ``"train"``, ``"test"`` and, only with ``val_ratio > 0``, ``"val"``
    (:meth:`has_split`); defaults ``obs = lags = 4``, ``horizon = 1``,
    ``train_ratio = 0.8``, batch size 16; :meth:`open` maps ``obs`` to
    ``lags``. :meth:`score` reports ``MAE`` and ``MSE`` over all localities
    and predicted weeks, in the file's units, as PyG Temporal's examples do.

    Args:
        root (str or PathLike, optional): the folder with ``pedalme_london.json``
            (or the folder that holds ``pyg_temporal/``); by default
            ``$SRNN_PYG_DATA/pyg_temporal``. (default: :obj:`None`)
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``. (default: :obj:`"train"`)
        lags (int, optional): observed steps per window (PyG Temporal's lags).
            (default: :obj:`4`)
        horizon (int, optional): predicted steps; ``1`` is PyG Temporal's task.
            (default: :obj:`1`)
        train_ratio (float, optional): :func:`temporal_signal_split`'s ratio of
            snapshots before the test part. (default: :obj:`0.8`)
        val_ratio (float, optional): share of all snapshots carved from the end
            of the training part for validation (PyG Temporal has none).
            (default: :obj:`0.0`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[15, lags, 1]``, ``y``
          ``[15, horizon, 1]``, ``edge_index`` ``[2, E]``, ``edge_attr``
          ``[E, lags, 1]``.
    """

    file_name = "pedalme_london.json"
    node_name = "locality"
    default_lags = 4
    default_train_ratio = 0.8
    defaults = {"obs": 4, "horizon": 1, "train_ratio": 0.8, "val_ratio": 0.0, "batch_size": 16}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, split: str = "train",
                 lags: Optional[int] = None, horizon: int = 1, train_ratio: Optional[float] = None,
                 val_ratio: float = 0.0, transform: Optional[Callable] = None):
        super().__init__(root, split, lags, horizon, train_ratio, val_ratio, transform)

    def _read(self, obj):
        values = _matrix(_key(obj, "X", self.path, "weekly demand [weeks][localities]"), self.path, "X")
        T, N = values.shape
        ei = _edges(_key(obj, "edges", self.path, "[src, dst] locality pairs"), self.path, "edges", N)
        w = _weights(_key(obj, "weights", self.path, "one weight per edge"), self.path, "weights",
                     ei.shape[1])
        edge_index, edge_attr = self._static_graph(ei, w, T)
        return values, edge_index, edge_attr, None


@register_dataset("england_covid")
class EnglandCovid(_PyGTemporalDataset):
    r"""Daily COVID-19 cases in 129 English NUTS3 regions, 3 March to 12 May
    2020 (61 days), on a dynamic mobility graph: each day its own set of
    directed edges weighted by the number of people who moved between two
    regions (Facebook Data for Good), as released with PyG Temporal
    (`Rozemberczki et al., CIKM 2021 <https://arxiv.org/abs/2104.07788>`_;
    ``torch_geometric_temporal/dataset/encovid.py``; data of `Panagopoulos et al.,
    AAAI 2021 <https://arxiv.org/abs/2009.08388>`_).

    Values are standardised per region as PyG Temporal's loader does it:
    ``(y - mean) / (std + 1e-10)`` with the mean and (population) standard
    deviation of each region over **all** 61 days (``stats="all"``; note that
    the statistics see the test days). ``stats="train"`` takes them from the
    training snapshots' days only. ``mean``/``std`` are ``[129, 1]``;
    :meth:`denormalize` maps predictions back to case counts.

    The graph of a window is the union of its observed days' edge sets
    (``edge_index``), with ``edge_mask`` ``[E, lags]`` marking on which days each
    edge exists and the day's raw mobility counts as ``edge_attr``
    ``[E, lags, 1]`` (zero where absent; PyG Temporal passes the raw weights
    too). PyG Temporal gives snapshot ``i`` only the first observed day's edges
    (day ``i``): ``data.edge_mask[:, 0]`` selects exactly those. Self-loops
    (people staying in their region) are kept, as shipped.

    **Protocol** (registry name ``"england_covid"``; :meth:`open`, :meth:`score`):
    splits ``"train"``, ``"test"`` and, only with ``val_ratio > 0``, ``"val"``
    (:meth:`has_split`); defaults ``obs = lags = 8``, ``horizon = 1``,
    ``train_ratio = 0.8``, batch size 16; :meth:`open` maps ``obs`` to
    ``lags``. :meth:`score` reports ``MAE`` and ``MSE`` over all regions and
    predicted days, in case counts (predictions and targets go through
    :meth:`denormalize`).

    Args:
        root (str or PathLike, optional): the folder with ``england_covid.json``
            (or the folder that holds ``pyg_temporal/``); by default
            ``$SRNN_PYG_DATA/pyg_temporal``. (default: :obj:`None`)
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``. (default: :obj:`"train"`)
        lags (int, optional): observed steps per window (PyG Temporal's lags).
            (default: :obj:`8`)
        horizon (int, optional): predicted steps; ``1`` is PyG Temporal's task.
            (default: :obj:`1`)
        train_ratio (float, optional): :func:`temporal_signal_split`'s ratio of
            snapshots before the test part. (default: :obj:`0.8`)
        val_ratio (float, optional): share of all snapshots carved from the end
            of the training part for validation (PyG Temporal has none).
            (default: :obj:`0.0`)
        stats (str, optional): where the per-region statistics come from:
            ``"all"`` days (PyG Temporal) or the ``"train"`` snapshots' days.
            (default: :obj:`"all"`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[129, lags, 1]``, ``y``
          ``[129, horizon, 1]``, ``edge_index`` ``[2, E]``, ``edge_attr``
          ``[E, lags, 1]``, ``edge_mask`` ``[E, lags]``.
    """

    file_name = "england_covid.json"
    node_name = "region"
    default_lags = 8
    default_train_ratio = 0.8
    defaults = {"obs": 8, "horizon": 1, "train_ratio": 0.8, "val_ratio": 0.0, "batch_size": 16}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, split: str = "train",
                 lags: Optional[int] = None, horizon: int = 1, train_ratio: Optional[float] = None,
                 val_ratio: float = 0.0, stats: str = "all", transform: Optional[Callable] = None):
        if stats not in ("all", "train"):
            raise ValueError(f"EnglandCovid: 'stats' must be 'all' or 'train' (got {stats!r})")
        self.stats = stats
        super().__init__(root, split, lags, horizon, train_ratio, val_ratio, transform)

    def _read(self, obj):
        values = _matrix(_key(obj, "y", self.path, "daily cases [days][regions]"), self.path, "y")
        T, N = values.shape
        periods = obj.get("time_periods", T)
        if periods != T:
            raise DataFormatError(f"{self.path}: 'time_periods' is {periods} but 'y' has {T} rows")
        mapping = _key(obj, "edge_mapping", self.path, "per-day 'edge_index' and 'edge_weight'")
        if not isinstance(mapping, dict):
            raise DataFormatError(f"{self.path}: 'edge_mapping' must be an object "
                                  f"(got {type(mapping).__name__})")
        idx_by_day = _key(mapping, "edge_index", self.path, "edge_mapping.edge_index, one list per day")
        w_by_day = _key(mapping, "edge_weight", self.path, "edge_mapping.edge_weight, one list per day")
        days: List[Tuple[np.ndarray, np.ndarray]] = []
        for t in range(T):
            k = str(t)
            if k not in idx_by_day or k not in w_by_day:
                raise DataFormatError(f"{self.path}: edge_mapping has no edges for day {k!r} "
                                      f"(expected days '0'..'{T - 1}')")
            ei = _edges(idx_by_day[k], self.path, f"edge_mapping.edge_index[{k!r}]", N)
            w = _weights(w_by_day[k], self.path, f"edge_mapping.edge_weight[{k!r}]", ei.shape[1])
            days.append((ei, w))
        # The union of all days' edges, and per day which of them exist with what weight.
        keys = np.concatenate([ei[0] * N + ei[1] for ei, _ in days])
        uniq = np.unique(keys)
        E = uniq.size
        edge_mask = torch.zeros(E, T, dtype=torch.bool)
        edge_attr = torch.zeros(E, T, 1)
        for t, (ei, w) in enumerate(days):  # load time, not model time
            pos = torch.from_numpy(np.searchsorted(uniq, ei[0] * N + ei[1]))
            edge_mask[pos, t] = True
            edge_attr[pos, t, 0] = torch.from_numpy(w).float()
        edge_index = torch.from_numpy(np.stack([uniq // N, uniq % N])).long()
        return values, edge_index, edge_attr, edge_mask

    def _stats(self, x: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        if self.stats == "all":
            part = x
        else:  # the days that the training snapshots observe or target
            lo, hi = self.snapshot_bounds["train"]
            part = x[:, lo:hi + self.lags]
        values = part[..., 0].double()                                   # [N, T']
        mean = values.mean(1, keepdim=True)
        std = values.std(1, unbiased=False, keepdim=True) + 1e-10         # as PyG Temporal
        return mean.float(), std.float()                                  # [N, 1]

    def get(self, idx: int) -> STData:
        rec, start = self.index[idx]
        data = self.recordings[rec].window(start, self.obs, self.horizon)
        keep = data.edge_mask.any(1)                                      # edges of the window's days
        data.edge_index = data.edge_index[:, keep]
        data.edge_type = data.edge_type[keep]
        data.edge_attr = data.edge_attr[keep]
        data.edge_mask = data.edge_mask[keep]
        return data
