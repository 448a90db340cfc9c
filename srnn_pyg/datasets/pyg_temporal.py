r"""The small real graph time series that PyG Temporal ships as JSON:
:class:`Chickenpox`, :class:`PedalMe` and :class:`EnglandCovid`, and
:class:`PyGTemporalJSON` for any file in PyG Temporal's JSON layouts (see
:mod:`srnn_pyg.datasets.temporal_json`), cut into windows exactly as PyG
Temporal's loaders cut them into snapshots."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..nn.args import count, real
from .. import metrics as M
from ..data import STData
from ..scalers import Scaler, StandardScaler
from ..schema import STSchema
from .base import ENV_VAR, DataFormatError, STDataset, forecast_view, require_file, resolve_root
from .registry import register_dataset
from .temporal_json import LAYOUTS, TemporalSignal, key, load_json, read_matrix, read_temporal_json

__all__ = ["Chickenpox", "PedalMe", "EnglandCovid", "PyGTemporalJSON"]

_SPLITS = ("train", "val", "test")


class _PyGTemporalDataset(STDataset):
    r"""Shared machinery: one recording ``x`` ``[N, T, F]``; window ``i`` is PyG
    Temporal's snapshot ``i`` (``x = X[i:i+lags]``, ``y = X[i+lags:i+lags+horizon]``);
    the split is :func:`temporal_signal_split`'s, on snapshots; each window
    carries ``t_start`` ``[1]`` (long), the step of ``x[:, 0]`` (its snapshot
    index), for :class:`~srnn_pyg.models.SeasonalMean`. The protocol
    (:meth:`open`, :meth:`score`) is shared: ``obs`` maps to ``lags``; the
    ``"val"`` split exists only with ``val_ratio > 0``; MAE and MSE in the
    data's units. A graph that changes over time is the union of the steps'
    edges with ``edge_mask`` ``[E, T]``; a window keeps the edges of its own
    steps. ``standardize`` (``None``, ``"all"`` or ``"train"``) scales each
    node and feature by its mean and population std (+1e-10) over all steps
    or the training snapshots' steps."""

    file_name: str = ""
    standardize: Optional[str] = None
    node_name: str = "node"
    default_lags: int = 4
    default_train_ratio: float = 0.8
    window_options = {"obs": "lags", "horizon": "horizon"}

    def split_options(self) -> Dict[str, Any]:
        """The constructor options this split was opened with, which
        :meth:`open` passes on to the splits opened with ``train=self``."""
        return {**super().split_options(), "lags": self.lags, "horizon": self.horizon,
                "train_ratio": self.train_ratio, "val_ratio": self.val_ratio}

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
        lags = count(name, "lags", self.default_lags if lags is None else lags)
        horizon = count(name, "horizon", horizon)
        train_ratio = real(name, "train_ratio", self.default_train_ratio if train_ratio is None else train_ratio)
        val_ratio = real(name, "val_ratio", val_ratio)
        if not 0.0 < train_ratio < 1.0 or not 0.0 <= val_ratio < train_ratio:
            raise ValueError(f"{name}: need 0 < train_ratio < 1 and 0 <= val_ratio < train_ratio "
                             f"(got train_ratio={train_ratio}, val_ratio={val_ratio})")
        self.path = self._locate(root)
        self.split, self.obs, self.horizon = split, lags, horizon
        self.lags, self.train_ratio, self.val_ratio = lags, train_ratio, float(val_ratio)

        signal = self._read()
        values = signal.values                                           # [T, N, F]
        T, N = values.shape[:2]
        if T < lags + self.horizon:
            raise DataFormatError(f"{self.path}: {T} time steps are too few for lags={lags} and "
                                  f"horizon={self.horizon}")
        # temporal_signal_split on PyG Temporal's T - lags one-step snapshots.
        S = T - lags
        n_train = int(train_ratio * S)
        n_val = int(val_ratio * S)
        self.snapshot_bounds = {"train": (0, n_train - n_val), "val": (n_train - n_val, n_train),
                                "test": (n_train, S)}
        edge_index, edge_attr, edge_mask = self._graph(signal, T, N)
        self.node_ids = signal.node_ids
        x = torch.from_numpy(values).float().transpose(0, 1).contiguous()  # [N, T, F]
        self.mean, self.std = self._stats(x)
        x = self._apply(x, inverse=False)
        schema, node_type, edge_type = self._types(signal, edge_index)
        self.schema = schema
        rec = STData(x=x, edge_index=edge_index, node_type=node_type, edge_type=edge_type, edge_attr=edge_attr)
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
                             f"horizon={self.horizon}, train_ratio={train_ratio}, val_ratio={self.val_ratio}): "
                             f"raise the {'val_ratio' if split == 'val' else 'ratio that sizes it'} or lower "
                             f"the horizon")
        super().__init__(transform)

    # Subclasses: the file and its signal (the series [T, N, F] and the graph).
    def _locate(self, root: Optional[Union[str, os.PathLike]]) -> Path:
        self.root = resolve_root(root, "pyg_temporal")
        return require_file(self.root / self.file_name, f"PyG Temporal's {type(self).__name__} JSON")

    def _read(self) -> TemporalSignal:
        raise NotImplementedError

    def _stats(self, x: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """Per node and feature ``[N, F]``, as PyG Temporal's standardising loaders."""
        if self.standardize is None:
            return None, None
        if self.standardize == "all":
            part = x
        else:  # the steps that the training snapshots observe or target
            lo, hi = self.snapshot_bounds["train"]
            part = x[:, lo:hi + self.lags]
        values = part.double()                                           # [N, T', F]
        mean = values.mean(1)
        std = values.std(1, unbiased=False) + 1e-10                      # as PyG Temporal
        return mean.float(), std.float()                                  # [N, F]

    @staticmethod
    def _graph(signal: TemporalSignal, T: int, N: int) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """``edge_index`` ``[2, E]``, ``edge_attr`` ``[E, T, 1]`` (the weights) and,
        for a graph that changes, ``edge_mask`` ``[E, T]`` over the union of the
        steps' edges (sorted by ``src * N + dst``)."""
        if signal.steps is None:
            E = signal.edge_index.shape[1]
            w = torch.from_numpy(signal.edge_weight).float()
            return (torch.from_numpy(signal.edge_index).long(),
                    w.view(E, 1, 1).expand(E, T, 1), None)                # [E, T, 1], a view
        days = signal.steps
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
        return edge_index, edge_attr, edge_mask

    def _types(self, signal: TemporalSignal, edge_index: Tensor) -> Tuple[STSchema, Tensor, Tensor]:
        """The schema and the ``[N]`` node and ``[E]`` edge types: one node type
        (``node_name``) and one edge type, or, where the file's nodes are typed
        (``signal.node_types``), the types in order of first appearance and one
        undirected edge type per pair of endpoint types that an edge joins, in
        order of the first edge joining them."""
        N, E = signal.values.shape[1], edge_index.size(1)
        if signal.node_types is None:
            schema = STSchema([self.node_name], [(self.node_name, self.node_name)])
            return schema, torch.zeros(N, dtype=torch.long), torch.zeros(E, dtype=torch.long)
        names, codes = np.unique(np.asarray(signal.node_types, dtype=object).astype(str), return_inverse=True)
        first = np.full(len(names), N)
        np.minimum.at(first, codes, np.arange(N))                          # each type's first node
        rank = np.argsort(np.argsort(first))                              # type code -> order of appearance
        node_type = torch.from_numpy(rank[codes].astype(np.int64))
        order = [str(n) for n in names[np.argsort(first)]]
        s, d = node_type[edge_index[0]], node_type[edge_index[1]]
        P = len(order)
        keys = torch.minimum(s, d) * P + torch.maximum(s, d)               # one key per unordered type pair
        uniq, inverse = torch.unique(keys, return_inverse=True)
        seen = torch.full((uniq.numel(),), E, dtype=torch.long).scatter_reduce(
            0, inverse, torch.arange(E), reduce="amin")                    # each pair's first edge
        pairs = [(order[int(k) // P], order[int(k) % P]) for k in uniq[torch.argsort(seen)]]
        schema = STSchema(order, pairs)
        return schema, node_type, schema.infer_edge_type(s, d)

    def get(self, idx: int) -> STData:
        rec, start = self.index[idx]
        data = self.recordings[rec].window(start, self.obs, self.horizon)
        data.t_start = torch.tensor([start], dtype=torch.long)   # [1]: the step of x[:, 0]
        if data.get("edge_mask") is None:
            return data
        keep = data.edge_mask.any(1)                                      # edges of the window's steps
        data.edge_index = data.edge_index[:, keep]
        data.edge_type = data.edge_type[keep]
        data.edge_attr = data.edge_attr[keep]
        data.edge_mask = data.edge_mask[keep]
        return data

    # ---------------------------------------------------------- normalising
    def _apply(self, x: Tensor, inverse: bool) -> Tensor:
        if self.mean is None:
            return x
        mean, std = self.mean.to(x), self.std.to(x)                      # [N_data, F]
        if x.dim() < 2:
            raise ValueError(f"{type(self).__name__}: expected node-major values [N, ..., F] "
                             f"(got {list(x.shape)})")
        n = mean.size(0)
        if x.size(0) % n != 0:
            raise ValueError(f"{type(self).__name__}: the statistics are per node (N={n}); "
                             f"got {x.size(0)} rows, not a whole number of graphs")
        shape = (x.size(0),) + (1,) * (x.dim() - 2) + (mean.size(1),)
        mean = mean.repeat(x.size(0) // n, 1).view(shape)                 # a batch: graphs in order
        std = std.repeat(x.size(0) // n, 1).view(shape)
        return x * std + mean if inverse else (x - mean) / std

    @property
    def scaler(self) -> Optional[Scaler]:
        """The per-node standardisation as a
        :class:`~srnn_pyg.scalers.StandardScaler` with ``axis="node"``
        (statistics ``[N, 1, F]``, for one window ``[N, T, F]``; a batch of
        ``B`` graphs goes through :meth:`denormalize`), or :obj:`None` where
        PyG Temporal does not scale."""
        if self.mean is None:
            return None
        return StandardScaler(axis="node").load_state_dict({
            "kind": StandardScaler.kind, "options": {"axis": "node"},
            "center": self.mean.unsqueeze(1).clone(), "scale": self.std.unsqueeze(1).clone()})

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
        week_of_year (bool, optional): append the time of year, ``(sin, cos)``
            of its angle on a year of :attr:`weeks_per_year` weeks counted from
            the file's first week (:meth:`clock`; the file has no dates, so the
            phase is relative), as two covariates, and give each window the
            same for its predicted weeks as ``u_future`` ``[20, horizon, 2]``:
            the features become ``[cases, sin, cos]`` while a model predicts
            the cases alone (``in_channels=3, out_channels=1, covariates=2``).
            Chickenpox is strongly seasonal; the lags alone cannot say where
            in the year a window lies. (default: :obj:`False`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[20, lags, 1]``, ``y``
          ``[20, horizon, 1]``, ``edge_index`` ``[2, E]``, ``edge_attr``
          ``[E, lags, 1]``; with ``week_of_year=True``, ``x`` is ``[20, lags, 3]``
          and ``u_future`` ``[20, horizon, 2]``; ``t_start`` ``[1]`` (long: the
          week of ``x[:, 0]``, counted from the file's first week, for
          :class:`~srnn_pyg.models.SeasonalMean` with ``period=52``).
    """

    file_name = "chickenpox.json"
    node_name = "county"
    default_lags = 4
    default_train_ratio = 0.2
    defaults = {"obs": 4, "horizon": 1, "train_ratio": 0.2, "val_ratio": 0.0, "batch_size": 16}
    #: weeks in a year (365.25 / 7), the period of :meth:`clock`
    weeks_per_year = 365.25 / 7

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, split: str = "train",
                 lags: Optional[int] = None, horizon: int = 1, train_ratio: Optional[float] = None,
                 val_ratio: float = 0.0, week_of_year: bool = False, transform: Optional[Callable] = None):
        if not isinstance(week_of_year, bool):
            raise TypeError(f"Chickenpox: 'week_of_year' must be a bool (got {week_of_year!r})")
        self.week_of_year = week_of_year
        super().__init__(root, split, lags, horizon, train_ratio, val_ratio, transform)

    def split_options(self) -> Dict[str, Any]:
        """:meth:`_PyGTemporalDataset.split_options` and ``week_of_year``."""
        return {**super().split_options(), "week_of_year": self.week_of_year}

    def get(self, idx: int) -> STData:
        data = super().get(idx)
        if self.week_of_year:
            start = self.index[idx][1]
            N, clock = data.x.size(0), self.clock(start, self.obs + self.horizon)     # [lags + H, 2]
            data.x = torch.cat([data.x, clock[:self.obs].expand(N, self.obs, 2)], dim=-1)
            data.u_future = clock[self.obs:].expand(N, self.horizon, 2).contiguous()
        return data

    @classmethod
    def clock(cls, start: int, steps: int) -> Tensor:
        """The time of year of weeks ``start .. start + steps - 1`` (counted
        from the file's first week) as a point on the unit circle, ``[steps, 2]``
        = ``(sin, cos)`` of ``2 pi t / weeks_per_year``."""
        t = torch.arange(start, start + steps, dtype=torch.float64)
        phase = 2 * torch.pi * t / cls.weeks_per_year
        return torch.stack([phase.sin(), phase.cos()], dim=-1).float()

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + (", week_of_year=True)" if self.week_of_year else ")")

    def _read(self) -> TemporalSignal:
        # weight 1 on every edge, as PyG Temporal's loader (the file has no weights)
        return read_matrix(load_json(self.path), self.path, "FX", weight_key=None)


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

    def _read(self) -> TemporalSignal:
        obj = load_json(self.path)
        key(obj, "weights", self.path, "one weight per edge")               # required here
        return read_matrix(obj, self.path, "X")


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
        self.stats = self.standardize = stats
        super().__init__(root, split, lags, horizon, train_ratio, val_ratio, transform)

    def split_options(self) -> Dict[str, Any]:
        """:meth:`_PyGTemporalDataset.split_options` and ``stats``."""
        return {**super().split_options(), "stats": self.stats}

    def _read(self) -> TemporalSignal:
        obj = load_json(self.path)
        key(obj, "edge_mapping", self.path, "per-day 'edge_index' and 'edge_weight'")
        return read_matrix(obj, self.path, "y", unit="day")


@register_dataset("pyg_temporal_json")
class PyGTemporalJSON(_PyGTemporalDataset):
    r"""Any graph time series in the JSON layouts of PyG Temporal's datasets,
    cut into PyG Temporal's lagged snapshots: window ``i`` observes steps
    ``i .. i+lags-1`` of every node and targets steps ``i+lags ..
    i+lags+horizon-1`` of the same series (``horizon=1`` is PyG Temporal's
    snapshot ``i``); the split is :func:`temporal_signal_split`'s.

    The layouts (:mod:`srnn_pyg.datasets.temporal_json`; ``layout="auto"``
    tells them apart by their keys, and every error names the layout read):

    * ``"matrix"``: the series keyed by time, ``[T][N]`` or ``[T][N][F]``
      under ``"FX"``/``"X"``/``"y"``/``"block"`` (chickenpox, pedalme,
      england_covid, windmill output), with ``"edges"`` (+ optional
      ``"weights"``) or a per-step ``"edge_mapping"`` (england_covid);
    * ``"snapshots"``: ``"0"`` .. ``"T-1"``, each the step's values or an
      object with them under ``"y"``/``"X"`` and optionally its own
      ``"edges"``/``"weights"`` (wikimath, twitter tennis, windmill output);
    * ``"nodes"``: ``"nodes"`` ``[{"id": ..., "X": [...]}, ...]`` with links
      ``[{"source": id, "target": id, "weight": w}, ...]`` keyed by node id
      (Montevideo bus: ids under ``"bus_stop"``, the series under ``"y"`` or
      named in the ``"X"`` object). Nodes are numbered in **file order**;
      :attr:`node_ids` maps an index back to its id.

    Typed nodes, for one's own files (``node_type``, the key of each node's
    type name: in every node object of the ``"nodes"`` layout, or a top-level
    list of one name per node in the others): the schema has the node types in
    order of first appearance and one undirected edge type per pair of types
    that an edge joins, so an S-RNN gets a nodeRNN per node type and an
    edgeRNN per edge type. Without it every node has one type (``"node"``).

    A graph that changes over time becomes the union of its steps' edges
    with ``edge_mask`` ``[E, lags]`` (a window keeps its own steps' edges);
    ``edge_attr`` ``[E, lags, 1]`` holds the weights (1 where a file has
    none; 0 where an edge is absent). Values are read as they are
    (``standardize=None``, as PyG Temporal's chickenpox and pedalme loaders);
    ``"all"`` standardises each node and feature over all steps with the
    population std + 1e-10 (its england_covid, wikimath, windmill and
    Montevideo loaders), ``"train"`` over the training snapshots' steps;
    :meth:`denormalize` maps back to the file's units.

    **Protocol** (registry name ``"pyg_temporal_json"``; :meth:`open`,
    :meth:`score`): splits ``"train"``, ``"test"`` and, only with
    ``val_ratio > 0``, ``"val"``; defaults ``obs = lags = 4``, ``horizon =
    1``, ``train_ratio = 0.8``, batch size 16; :meth:`open` maps ``obs`` to
    ``lags`` and passes ``path`` (a relative path is looked up under
    ``root``, or ``$SRNN_PYG_DATA/pyg_temporal``). :meth:`score` reports
    ``MAE`` and ``MSE`` over all nodes, features and predicted steps, in the
    file's units.

    Args:
        path (str or PathLike): the JSON file.
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``. (default: :obj:`"train"`)
        lags (int, optional): observed steps per window. (default: :obj:`4`)
        horizon (int, optional): predicted steps. (default: :obj:`1`)
        train_ratio (float, optional): :func:`temporal_signal_split`'s ratio of
            snapshots before the test part. (default: :obj:`0.8`)
        val_ratio (float, optional): share of all snapshots carved from the end
            of the training part for validation. (default: :obj:`0.0`)
        layout (str, optional): ``"auto"``, ``"matrix"``, ``"snapshots"`` or
            ``"nodes"``. (default: :obj:`"auto"`)
        series (str or list of str, optional): the key of the values
            (``"matrix"``/``"snapshots"``), or the node-list series to stack as
            features (e.g. Montevideo's ``["y"]`` in each node's ``"X"``).
            (default: :obj:`None`: the layout's usual keys)
        node_id (str, optional): the node-list id key. (default: :obj:`None`:
            ``"id"``, else ``"bus_stop"``)
        node_type (str, optional): the key of each node's type name: in every
            node object (node list) or a top-level list of one name per node
            (the other layouts); one node type per name, one edge type per
            pair of types an edge joins. (default: :obj:`None`: one node type)
        standardize (str, optional): :obj:`None`, ``"all"`` or ``"train"``.
            (default: :obj:`None`)
        root (str or PathLike, optional): the folder a relative ``path`` is
            looked up in. (default: :obj:`None`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[N, lags, F]``, ``y``
          ``[N, horizon, F]``, ``edge_index`` ``[2, E]``, ``edge_attr``
          ``[E, lags, 1]``, ``edge_mask`` ``[E, lags]`` for a changing graph.
    """

    defaults = {"obs": 4, "horizon": 1, "train_ratio": 0.8, "val_ratio": 0.0, "batch_size": 16}

    def __init__(self, path: Optional[Union[str, os.PathLike]] = None, split: str = "train", *,
                 lags: int = 4, horizon: int = 1, train_ratio: float = 0.8, val_ratio: float = 0.0,
                 layout: str = "auto", series: Union[None, str, List[str]] = None,
                 node_id: Optional[str] = None, standardize: Optional[str] = None,
                 root: Optional[Union[str, os.PathLike]] = None, transform: Optional[Callable] = None,
                 node_type: Optional[str] = None):
        if layout != "auto" and layout not in LAYOUTS:
            raise ValueError(f"PyGTemporalJSON: 'layout' must be 'auto' or one of {LAYOUTS} "
                             f"(got {layout!r})")
        if standardize not in (None, "all", "train"):
            raise ValueError(f"PyGTemporalJSON: 'standardize' must be None, 'all' or 'train' "
                             f"(got {standardize!r})")
        self.json_path, self.layout_option = path, layout
        self.series, self.node_id, self.standardize = series, node_id, standardize
        if node_type is not None and (not isinstance(node_type, str) or not node_type):
            raise ValueError(f"PyGTemporalJSON: 'node_type' must be the key of the nodes' type names (a non-empty "
                             f"string) or None (got {node_type!r})")
        self.node_type_key = node_type
        super().__init__(root, split, lags, horizon, train_ratio, val_ratio, transform)

    def _locate(self, root: Optional[Union[str, os.PathLike]]) -> Path:
        if self.json_path is None:
            raise FileNotFoundError("PyGTemporalJSON: no file given: pass path=... (a PyG Temporal "
                                    "JSON file; a relative path is looked up under root or "
                                    f"${ENV_VAR}/pyg_temporal)")
        path = Path(self.json_path)
        if not path.is_file() and not path.is_absolute() and (root is not None or os.environ.get(ENV_VAR)):
            try:
                folder = resolve_root(root, "pyg_temporal")
            except FileNotFoundError:
                folder = None
            if folder is not None and (folder / path).is_file():
                path = folder / path
        path = require_file(path, "a PyG Temporal JSON file")
        self.root = path.parent
        return path

    def _read(self) -> TemporalSignal:
        signal = read_temporal_json(self.path, self.layout_option, self.series, self.node_id, self.node_type_key)
        self.layout = signal.layout
        return signal

    def recorded_options(self) -> Dict[str, Any]:
        """``{"path": ...}``: the file as an absolute path, which a saved run
        records in place of the ``path`` given, so that it opens its splits
        from any working directory (a relative ``path`` is looked up from where
        the run was started); an option given when the run is evaluated still
        wins."""
        return {"path": str(Path(self.path).resolve())}

    def split_options(self) -> Dict[str, Any]:
        """:meth:`_PyGTemporalDataset.split_options` and the file's: ``path``
        (as found), ``layout``, ``series``, ``node_id``, ``standardize``, ``node_type``."""
        return {**super().split_options(), "path": str(self.path), "layout": self.layout_option,
                "series": self.series, "node_id": self.node_id, "standardize": self.standardize,
                "node_type": self.node_type_key}

    def __repr__(self) -> str:
        return (f"PyGTemporalJSON({len(self)}, {self.path.name!r}, layout={self.layout!r}, "
                f"split={self.split!r}, lags={self.lags}, horizon={self.horizon})")
