r"""Los-loop traffic speeds (207 METR-LA loop detectors) with the T-GCN
protocol: :class:`LosLoop`."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..nn.args import count, flag, real
from ..data import STData
from ..metrics import mae, mape, rmse
from ..scalers import Scaler
from ..schema import STSchema
from .base import SCALERS, DataFormatError, STDataset, forecast_view, require_file, resolve_root
from .registry import register_dataset
from .safe_pickle import safe_load

__all__ = ["LosLoop"]

_SPLITS = ("train", "val", "test")
_GRAPHS = ("tgcn", "dcrnn")
_NORMS = ("zscore", "max", None)


def _read_csv_matrix(path: Path, header: bool = False, num_cols: Optional[int] = None,
                    what: str = "", nonnegative: bool = False) -> Tuple[Optional[List[str]], np.ndarray]:
    """A numeric CSV as a float64 array ``[rows, cols]``, checked line by line.

    Args:
        path (Path): the file.
        header (bool, optional): the first line holds column names. (default: :obj:`False`)
        num_cols (int, optional): the expected number of columns; by default the
            header's (or the first row's) count. (default: :obj:`None`)
        what (str, optional): a description for error messages. (default: :obj:`""`)
        nonnegative (bool, optional): refuse negative values (speeds, edge
            weights). (default: :obj:`False`)

    Raises:
        DataFormatError: naming the file and line of a row with a wrong number
            of columns, a value that is not a number, a NaN/infinite value, or
            (``nonnegative``) a negative one.
    """
    extra = f" ({what})" if what else ""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}{extra}: not a UTF-8 text file ({exc})") from exc
    lines = text.splitlines()
    names: Optional[List[str]] = None
    first = 0
    if header:
        if not lines:
            raise DataFormatError(f"{path}{extra}: the file is empty (expected a header row)")
        names = [c.strip() for c in lines[0].split(",")]
        first = 1
        seen: Dict[str, int] = {}
        for col, name in enumerate(names):
            if name in seen:
                raise DataFormatError(f"{path}, line 1{extra}: column names must be distinct; {name!r} "
                                      f"names columns {seen[name] + 1} and {col + 1}")
            seen[name] = col
        if num_cols is None:
            num_cols = len(names)
        elif len(names) != num_cols:
            raise DataFormatError(f"{path}, line 1{extra}: expected {num_cols} column names "
                                  f"(got {len(names)})")
    while len(lines) > first and not lines[-1].strip():
        lines.pop()                                                      # trailing blank lines
    rows = []
    for lineno, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():                    # skipping it would shift every later row by one
            raise DataFormatError(f"{path}, line {lineno}{extra}: a blank line among the data rows "
                                  f"(expected {num_cols if num_cols is not None else 'comma-separated'} "
                                  f"values; blank lines are allowed at the end only)")
        parts = line.split(",")
        if num_cols is None:
            num_cols = len(parts)
        if len(parts) != num_cols:
            raise DataFormatError(f"{path}, line {lineno}{extra}: expected {num_cols} columns "
                                  f"(got {len(parts)}); the file may be truncated")
        try:
            row = np.array([float(p) for p in parts], dtype=np.float64)
        except ValueError:
            bad = next(p for p in parts if not _is_float(p))
            raise DataFormatError(f"{path}, line {lineno}{extra}: {bad.strip()!r} is not a "
                                  f"number") from None
        with np.errstate(over="ignore"):                                  # as float32: 1e39 is inf
            bad = ~np.isfinite(row.astype(np.float32))
        if bad.any():
            col = int(np.flatnonzero(bad)[0])
            raise DataFormatError(f"{path}, line {lineno}, column {col + 1}{extra}: the value "
                                  f"is {parts[col].strip()!r} (expected a finite number within "
                                  f"float32 range, |x| <= 3.4e38)")
        if nonnegative and (row < 0).any():
            col = int(np.flatnonzero(row < 0)[0])
            raise DataFormatError(f"{path}, line {lineno}, column {col + 1}{extra}: the value "
                                  f"is {parts[col].strip()!r} (expected a number >= 0)")
        rows.append(row)
    if not rows:
        raise DataFormatError(f"{path}{extra}: no data rows")
    return names, np.stack(rows)


def _check_id_map(path: Path, ids: Any, id_to_index: Any) -> int:
    """Check the sensor list and id map of a DCRNN ``adj_mx.pkl``: ``ids`` a
    list of distinct strings, ``id_to_index`` a dict that maps each of them to
    its own position (a permutation of ``0..n-1``). Returns ``n``."""
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, str) for i in ids):
        found = type(ids).__name__ if not isinstance(ids, (list, tuple)) else \
            f"a {type(ids).__name__} holding {type(next(i for i in ids if not isinstance(i, str))).__name__}"
        raise DataFormatError(f"{path}: the first item must be the list of sensor ids, as strings (got {found})")
    if len(set(ids)) != len(ids):
        dup = next(i for k, i in enumerate(ids) if i in ids[:k])
        raise DataFormatError(f"{path}: sensor id {dup!r} appears more than once in the sensor list")
    if not isinstance(id_to_index, dict):
        raise DataFormatError(f"{path}: the second item must be a dict from sensor id to adjacency row "
                              f"(got {type(id_to_index).__name__})")
    n = len(ids)
    for k, v in id_to_index.items():
        if not isinstance(k, str) or isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) \
                or not 0 <= int(v) < n:
            raise DataFormatError(f"{path}: the id map must map sensor ids (strings) to rows 0..{n - 1} "
                                  f"(got {k!r}: {v!r})")
    if len(id_to_index) != n or any(id_to_index.get(i) != k for k, i in enumerate(ids)):
        bad = next((i for k, i in enumerate(ids) if id_to_index.get(i) != k), None)
        detail = (f"{bad!r} maps to {id_to_index.get(bad)!r}, expected its position {ids.index(bad)}"
                  if bad is not None else f"{len(id_to_index)} entries for {n} sensors")
        raise DataFormatError(f"{path}: the id map must give each sensor of the sensor list its own row, its "
                              f"position in that list ({detail})")
    return n


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


@register_dataset("los_loop")
class LosLoop(STDataset):
    r"""Los-loop traffic speeds: 207 loop detectors of the METR-LA highway
    network in Los Angeles, 5-minute mean speeds (mph) over 7 days (2016 steps),
    as released with T-GCN (`Zhao et al., IEEE T-ITS 2019
    <https://arxiv.org/abs/1811.05320>`_), windowed with T-GCN's protocol.

    One node type (``"sensor"``) and one edge type; the graph is T-GCN's
    weighted adjacency ``los_adj.csv`` (symmetric) or, with ``graph="dcrnn"``,
    DCRNN's thresholded Gaussian-kernel road-distance graph ``adj_mx.pkl``
    (`Li et al., ICLR 2018 <https://arxiv.org/abs/1707.01926>`_; directed,
    entry ``[i, j]`` is the edge ``i -> j``, read with a restricted unpickler;
    the pickle is ``[sensor_ids, id_to_index, adjacency]`` with distinct string
    ids, ``id_to_index[sensor_ids[k]] == k`` and a ``[n, n]`` numeric adjacency).
    Edge weights are ``edge_attr`` ``[E, T, 1]``, constant in time. Self-loops
    (the adjacencies' unit diagonal) are dropped unless ``self_loops=True``:
    the S-RNN's temporal edges already join a node to itself.

    Protocol (T-GCN, ``lehaifeng/T-GCN``, ``T-GCN-PyTorch/utils/data/functions.py``
    and ``Baselines/baselines.py``):

    * chronological split: the first ``int(T * train_ratio)`` steps (``0.8``)
      are for training, the rest for testing. T-GCN has no validation part;
      here the last ``int(T * val_ratio)`` steps of the training part form
      ``split="val"`` (``val_ratio=0`` gives T-GCN's training part exactly).
      With the defaults on the real file: train steps ``[0, 1411)``,
      val ``[1411, 1612)``, test ``[1612, 2016)``.
    * windows lie wholly inside their part, stride 1: ``obs = 12`` observed
      steps (1 hour), targets the next ``horizon`` steps (default 12, so one
      window serves the 15/30/60-minute horizons: steps 3, 6 and 12). T-GCN's
      loop stops one window early (``range(len - seq_len - pre_len)``); here
      every complete window is kept.
    * normalisation from the training part only (the ``"train"`` split's steps):
      ``"zscore"`` (default) ``(v - mean) / std`` over all sensors and steps, or
      ``"max"`` T-GCN's ``v / max`` (``mean = 0``, ``std = max``; T-GCN takes
      the max of the whole file, the value is the same here: 70 mph).
      :meth:`denormalize` maps predictions back to mph.
    * metrics in mph (:meth:`horizon_metrics`): MAE, RMSE and MAPE at each
      horizon, over entries whose true speed is non-zero (zero readings are
      sensor failures; DCRNN's masked metrics; the released file has none).

    Time: every window carries ``t_start``, the absolute step index (row of
    ``los_speed.csv``, from 0) of its first observed frame, a ``[1]`` long
    tensor (``[B]`` in a batch of ``B`` windows), so frame ``k`` of ``x`` is
    step ``t_start + k`` and frame ``k`` of ``y`` is step ``t_start + obs + k``.
    The time of day of step ``t`` is ``t % steps_per_day`` (288 steps of 5
    minutes), **assuming the recording starts at midnight**: the T-GCN file
    has no timestamps, only ``7 x 288 = 2016`` rows, which suggests whole
    days from a day boundary but does not say so. Only time-of-day
    seasonality can be estimated (``steps_per_week = None``): the file covers
    one week, so no day of the week of the test part occurs in the training
    part (e.g. :class:`~srnn_pyg.models.SeasonalMean` with ``period=steps_per_day``).

    **Protocol** (registry name ``"los_loop"``; :meth:`open`, :meth:`score`):
    splits ``"train"``, ``"val"`` (only with ``val_ratio > 0``,
    :meth:`has_split`) and ``"test"``; defaults ``obs = 12``, ``horizon =
    12``, ``val_ratio = 0.1``, batch size 8. :meth:`score` reports
    ``MAE@15min``, ``RMSE@15min``, ``MAPE@15min`` and the same at 30 and 60
    minutes (those within the horizon; the last step if none is), in mph
    and percent (:meth:`horizon_metrics`).

    .. code-block:: python

        train = LosLoop(split="train")            # root from $SRNN_PYG_DATA/los_loop
        test = LosLoop(split="test")
        data = test[0]                            # x [207, 12, 1], y [207, 12, 1]
        scores = test.horizon_metrics(pred, y)    # {15: {"mae": ..., ...}, 30: ..., 60: ...}

    Args:
        root (str or PathLike, optional): the folder with ``los_speed.csv`` and
            ``los_adj.csv`` (or the folder that holds ``los_loop/``); by default
            ``$SRNN_PYG_DATA/los_loop``. (default: :obj:`None`)
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``. (default: :obj:`"train"`)
        obs (int, optional): observed steps per window. (default: :obj:`12`)
        horizon (int, optional): predicted steps per window. (default: :obj:`12`)
        train_ratio (float, optional): share of the steps before the test part.
            (default: :obj:`0.8`)
        val_ratio (float, optional): share of all steps carved from the end of
            the training part for validation. (default: :obj:`0.1`)
        normalize (str or Scaler, optional): ``"zscore"``, ``"max"``,
            ``"robust"`` (median and interquartile range), ``"minmax"``,
            ``"standard"`` (as ``"zscore"``, through the scaler), :obj:`None`,
            or a :mod:`srnn_pyg.scalers` scaler with one statistic (fitted on
            the training steps unless it is fitted already). The fitted
            normalisation is :attr:`scaler`. (default: :obj:`"zscore"`)
        graph (str, optional): ``"tgcn"`` (``los_adj.csv``) or ``"dcrnn"``
            (``adj_mx.pkl``). (default: :obj:`"tgcn"`)
        self_loops (bool, optional): keep the diagonal of the adjacency as edges.
            (default: :obj:`False`)
        stride (int, optional): steps between window starts. (default: :obj:`1`)
        time_of_day (bool, optional): append the time of day, ``(sin, cos)``
            of its angle on a 24-hour clock (:meth:`clock`), to the inputs as
            two covariates, and give each window the same for its predicted
            steps as ``u_future`` ``[207, horizon, 2]``: the features a model
            reads become ``[speed, sin, cos]`` while it predicts the speed
            alone (build it with ``in_channels=3, out_channels=1,
            covariates=2``; :class:`~srnn_pyg.nn.feedback.Feedback`).
            (default: :obj:`False`)
        daily_profile (bool, optional): append each sensor's **daily profile**,
            its mean (normalised) speed at the same time of day over the
            training steps, as one more covariate (after the clock, if any),
            in ``x`` and in ``u_future``: a forecast of what the road usually
            does next, known in advance, which a model can weigh against what
            it observes (:meth:`profile`). Built from the ``"train"`` split's
            steps only, leaving out zero readings; inside the training part each
            step reads the mean of the *other* training days at its time of day
            (leave one out), so that a model does not learn to trust a profile
            that contains the value it predicts. (default: :obj:`False`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[207, obs, 1]``, ``y``
          ``[207, horizon, 1]`` (normalised speed), ``edge_index`` ``[2, E]``,
          ``edge_attr`` ``[E, obs, 1]``, ``node_type`` ``[207]``, ``edge_type`` ``[E]``,
          ``t_start`` ``[1]`` (long: the step index of ``x[:, 0]``); with
          ``time_of_day=True``, ``x`` is ``[207, obs, 3]`` and ``u_future``
          ``[207, horizon, 2]``; each option adds its channels (clock 2, daily
          profile 1) to ``x`` after the speed and to ``u_future`` in the same
          order.
    """

    speed_file = "los_speed.csv"
    adj_file = "los_adj.csv"
    dcrnn_file = "adj_mx.pkl"
    minutes_per_step = 5
    #: Speeds below this many mph count as zero readings (sensor failures) in
    #: :meth:`horizon_metrics`; the released file's lowest speed is 1 mph.
    zero_speed = 1e-3
    #: Steps per day (24 h of 5-minute steps); the time of day of step ``t`` is
    #: ``t % steps_per_day``, assuming the file starts at midnight.
    steps_per_day = 288
    #: :obj:`None`: the file is one week long, so weekly (day-of-week)
    #: seasonality cannot be estimated from its training part; only the time
    #: of day is used.
    steps_per_week: Optional[int] = None
    splits = _SPLITS
    task = "regression"
    defaults = {"obs": 12, "horizon": 12, "train_ratio": 0.8, "val_ratio": 0.1, "batch_size": 8, "loss": "l1"}
    #: each split's own window spacing, not passed on by ``open(..., train=...)``
    split_own = STDataset.split_own | {"stride"}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, split: str = "train",
                 obs: int = 12, horizon: int = 12, train_ratio: float = 0.8, val_ratio: float = 0.1,
                 normalize: Union[None, str, Scaler] = "zscore", graph: str = "tgcn", self_loops: bool = False,
                 stride: int = 1, time_of_day: bool = False, daily_profile: bool = False,
                 transform: Optional[Callable] = None):
        if split not in _SPLITS:
            raise ValueError(f"LosLoop: 'split' must be one of {_SPLITS} (got {split!r})")
        if graph not in _GRAPHS:
            raise ValueError(f"LosLoop: 'graph' must be one of {_GRAPHS} (got {graph!r})")
        if not isinstance(normalize, Scaler) and normalize not in _NORMS + tuple(SCALERS):
            raise ValueError(f"LosLoop: 'normalize' must be one of {_NORMS + tuple(SCALERS)} or a "
                             f"srnn_pyg.scalers scaler (got {normalize!r})")
        obs, horizon = count("LosLoop", "obs", obs), count("LosLoop", "horizon", horizon)
        self_loops = flag("LosLoop", "self_loops", self_loops)
        stride = count("LosLoop", "stride", stride)
        train_ratio, val_ratio = real("LosLoop", "train_ratio", train_ratio), real("LosLoop", "val_ratio", val_ratio)
        if not 0.0 < train_ratio < 1.0 or not 0.0 <= val_ratio < train_ratio:
            raise ValueError(f"LosLoop: need 0 < train_ratio < 1 and 0 <= val_ratio < train_ratio "
                             f"(got train_ratio={train_ratio}, val_ratio={val_ratio})")
        self.root = resolve_root(root, "los_loop")
        self.split, self.obs, self.horizon, self.stride = split, obs, horizon, stride
        self.graph, self.normalization = graph, normalize
        if not isinstance(time_of_day, bool):
            raise TypeError(f"LosLoop: 'time_of_day' must be a bool (got {time_of_day!r})")
        if not isinstance(daily_profile, bool):
            raise TypeError(f"LosLoop: 'daily_profile' must be a bool (got {daily_profile!r})")
        self.time_of_day, self.daily_profile = time_of_day, daily_profile

        ids, speed = _read_csv_matrix(require_file(self.root / self.speed_file, "Los-loop speeds"),
                                     header=True, what="speeds, one column per sensor", nonnegative=True)
        assert ids is not None
        T, N = speed.shape
        self.sensor_ids: List[str] = ids
        adj = self._read_graph(ids)
        if not self_loops:
            np.fill_diagonal(adj, 0.0)

        # Chronological parts, as T-GCN: [0, train_end) | [train_end, T), val from train's end.
        train_end = int(T * train_ratio)
        val_len = int(T * val_ratio)
        bounds = {"train": (0, train_end - val_len), "val": (train_end - val_len, train_end),
                  "test": (train_end, T)}
        self.bounds = bounds
        lo, hi = bounds[split]
        fit_lo, fit_hi = bounds["train"]
        if fit_hi - fit_lo < 1:
            raise ValueError(f"LosLoop: the training part is empty (T={T}, train_ratio={train_ratio}, "
                             f"val_ratio={val_ratio})")

        values = torch.from_numpy(speed).float()                       # [T, N]
        if normalize == "zscore":
            mean, std = self.fit_stats([values[fit_lo:fit_hi].reshape(-1, 1)])
        elif normalize == "max":
            mean = torch.zeros(1)
            std = values[fit_lo:fit_hi].max().reshape(1).clamp_min(1e-8)
        elif normalize is None:
            mean = std = None
        else:                   # a scaler (by name or an object), fitted on the training steps unless it is
            mean, std = self.fit_scaler(normalize, values[fit_lo:fit_hi].reshape(-1, 1))
        self.mean, self.std = mean, std

        x = values.t().unsqueeze(-1)                                    # [N, T, 1]
        x = self.normalize(x)
        #: [N, T] the daily profile covariate of every step (daily_profile=True), else None
        self.profile_series: Optional[Tensor] = (
            self.profile(x[..., 0], values.t() != 0, fit_lo, fit_hi, self.steps_per_day) if daily_profile else None)
        src, dst = np.nonzero(adj)
        edge_index = torch.from_numpy(np.stack([src, dst])).long()     # [2, E]
        weight = torch.from_numpy(adj[src, dst]).float()               # [E]
        E = weight.numel()
        schema = STSchema(["sensor"], [("sensor", "sensor")], directed=(graph == "dcrnn"))
        self.schema = schema
        rec = STData(x=x, edge_index=edge_index,
                     node_type=torch.zeros(N, dtype=torch.long),
                     edge_type=torch.zeros(E, dtype=torch.long),
                     edge_attr=weight.view(E, 1, 1).expand(E, T, 1))  # [E, T, 1], a view
        rec.schema = schema
        self.recordings = [rec]
        span = self.obs + self.horizon
        self.index = [(0, s) for s in range(lo, hi - span + 1, self.stride)]
        if not self.index:
            raise ValueError(f"LosLoop: split {split!r} covers steps [{lo}, {hi}), too short for "
                             f"obs + horizon = {span}")
        super().__init__(transform)

    def get(self, idx: int) -> STData:
        data = super().get(idx)
        start = self.index[idx][1]
        data.t_start = torch.tensor([start], dtype=torch.long)   # [1]: step of x[:, 0]
        if self.time_of_day:
            N, clock = data.x.size(0), self.clock(start, self.obs + self.horizon)     # [obs + H, 2]
            data.x = torch.cat([data.x, clock[:self.obs].expand(N, self.obs, 2)], dim=-1)
            data.u_future = clock[self.obs:].expand(N, self.horizon, 2).contiguous()
        if self.profile_series is not None:
            prof = self.profile_series[:, start:start + self.obs + self.horizon].unsqueeze(-1)   # [N, obs + H, 1]
            data.x = torch.cat([data.x, prof[:, :self.obs]], dim=-1)
            fut = prof[:, self.obs:]
            u = data.get("u_future")
            data.u_future = fut.contiguous() if u is None else torch.cat([u, fut], dim=-1)
        return data

    @staticmethod
    def profile(x: Tensor, valid: Tensor, lo: int, hi: int, period: int) -> Tensor:
        r"""The daily-profile covariate of every step: ``[N, T]``.

        For node :math:`i` and step :math:`t` with phase :math:`p = t \bmod P`,
        the mean of :math:`x_{i,s}` over the valid steps :math:`s \in [lo, hi)`
        with :math:`s \bmod P = p`, leaving out :math:`s = t` itself when
        :math:`t` is one of them (a leave-one-out mean inside the fitting part,
        the plain mean elsewhere). Where no other valid step shares the phase,
        the node's mean over all its valid fitting steps is used (``0`` if it
        has none).

        Args:
            x (Tensor): the series ``[N, T]``.
            valid (Tensor): ``[N, T]`` bool, which readings count (e.g. non-zero speeds).
            lo (int): first step of the fitting part.
            hi (int): one past its last step.
            period (int): steps per season (``288``: a day of 5-minute steps).
        """
        N, T = x.shape
        phase = torch.arange(T) % period                                          # [T]
        fit = torch.zeros(T, dtype=torch.bool)
        fit[lo:hi] = True
        w = (valid & fit).to(x.dtype)                                             # [N, T]
        xw = torch.where(w.bool(), x, torch.zeros((), dtype=x.dtype))
        total = torch.zeros(N, period, dtype=x.dtype).index_add_(1, phase, xw)    # [N, P]
        count = torch.zeros(N, period, dtype=x.dtype).index_add_(1, phase, w)
        node_mean = xw.sum(1) / w.sum(1).clamp_min(1)                             # [N]
        s, c = total[:, phase] - xw, count[:, phase] - w                          # leave this step out
        return torch.where(c > 0, s / c.clamp_min(1), node_mean.unsqueeze(1).expand(N, T))

    @classmethod
    def clock(cls, start: int, steps: int) -> Tensor:
        """The time of day of steps ``start .. start + steps - 1`` as a point on
        the unit circle, ``[steps, 2]`` = ``(sin, cos)`` of ``2 pi t / steps_per_day``
        (continuous across midnight; assumes the file starts at midnight)."""
        t = torch.arange(start, start + steps, dtype=torch.float64) % cls.steps_per_day
        phase = 2 * torch.pi * t / cls.steps_per_day
        return torch.stack([phase.sin(), phase.cos()], dim=-1).float()

    # ----------------------------------------------------------------- graph
    def _read_graph(self, ids: Sequence[str]) -> np.ndarray:
        N = len(ids)
        if self.graph == "tgcn":
            path = require_file(self.root / self.adj_file, "Los-loop adjacency")
            _, adj = _read_csv_matrix(path, header=False, num_cols=N,
                                     what=f"{N} x {N} adjacency, one row per sensor", nonnegative=True)
            if adj.shape[0] != N:
                raise DataFormatError(f"{path}: expected {N} rows, one per sensor of "
                                      f"{self.speed_file} (got {adj.shape[0]})")
            return adj
        path = require_file(self.root / self.dcrnn_file, "DCRNN distance graph")
        obj = safe_load(path)
        if not (isinstance(obj, (list, tuple)) and len(obj) == 3):
            size = len(obj) if hasattr(obj, "__len__") else "?"
            raise DataFormatError(f"{path}: expected a pickled [sensor_ids, id_to_index, adjacency] "
                                  f"(got {type(obj).__name__} of length {size})")
        pk_ids, id_to_index, adj = obj
        n = _check_id_map(path, pk_ids, id_to_index)
        try:
            adj = np.asarray(adj)
        except (ValueError, TypeError) as exc:                           # ragged nested lists
            raise DataFormatError(f"{path}: the adjacency must be a [{n}, {n}] array of numbers (got a "
                                  f"{type(adj).__name__} that is not rectangular: {exc})") from None
        if adj.dtype.kind not in "biuf":
            raise DataFormatError(f"{path}: the adjacency must be numbers (got an array of dtype {adj.dtype})")
        adj = adj.astype(np.float64)
        if adj.shape != (len(pk_ids), len(pk_ids)):
            raise DataFormatError(f"{path}: the adjacency must be [{len(pk_ids)}, {len(pk_ids)}] "
                                  f"(got {list(adj.shape)})")
        with np.errstate(over="ignore"):                                  # as float32: 1e39 is inf
            bad = ~np.isfinite(adj.astype(np.float32))
        if bad.any():
            r, c = (int(i[0]) for i in np.nonzero(bad))
            raise DataFormatError(f"{path}: the adjacency at [{r}, {c}] is {float(adj[r, c])!r} (expected a "
                                  f"finite number within float32 range, |x| <= 3.4e38)")
        if (adj < 0).any():
            r, c = (int(i[0]) for i in np.nonzero(adj < 0))
            raise DataFormatError(f"{path}: the adjacency at [{r}, {c}] is {float(adj[r, c])!r} (expected a "
                                  f"weight >= 0)")
        lookup = dict(id_to_index)
        missing = [i for i in ids if i not in lookup]
        if missing:
            raise DataFormatError(f"{path}: sensors {missing[:5]} of {self.speed_file} are not in "
                                  f"the graph ({len(missing)} missing)")
        order = np.array([lookup[i] for i in ids])
        return adj[np.ix_(order, order)].copy()                        # speed-file order

    # --------------------------------------------------------------- metrics
    def horizon_metrics(self, pred: Tensor, target: Tensor, horizons: Sequence[int] = (3, 6, 12),
                        normalized: bool = True, cumulative: bool = False
                        ) -> Dict[int, Dict[str, float]]:
        r"""MAE and RMSE (mph) and MAPE (%) at each horizon, keyed by minutes.

        Entries whose true speed is zero are left out of all three (DCRNN's
        masked metrics; MAPE is undefined there); "zero" is below
        :attr:`zero_speed` mph after :meth:`denormalize`, which absorbs the
        round-off of normalising and denormalising a zero reading (about
        ``1e-6`` mph in float32, not always exactly 0).

        Args:
            pred (Tensor): predictions ``[N, H, 1]`` or ``[N, H]`` (``N`` may be
                a batch of windows).
            target (Tensor): the true values, same shape.
            horizons (list[int], optional): 1-based steps to report; 3, 6, 12
                are 15, 30 and 60 minutes. (default: :obj:`(3, 6, 12)`)
            normalized (bool, optional): ``pred`` and ``target`` are in model
                units; :meth:`denormalize` both first. (default: :obj:`True`)
            cumulative (bool, optional): score steps ``1..h`` together, as T-GCN
                reports a model trained for ``h`` steps; by default only step
                ``h`` (DCRNN's convention). (default: :obj:`False`)

        Returns:
            ``{minutes: {"mae": float, "rmse": float, "mape": float}}``.
        """
        if pred.shape != target.shape:
            raise ValueError(f"LosLoop.horizon_metrics: 'pred' and 'target' must have the same shape "
                             f"(got {list(pred.shape)} and {list(target.shape)})")
        if pred.dim() == 2:
            pred, target = pred.unsqueeze(-1), target.unsqueeze(-1)
        if normalized:
            pred, target = self.denormalize(pred), self.denormalize(target)
        H = pred.size(1)
        out: Dict[int, Dict[str, float]] = {}
        for h in horizons:
            if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 1 <= h <= H:
                raise ValueError(f"LosLoop.horizon_metrics: each horizon must be an int in 1..{H} "
                                 f"(the predicted steps; got {h!r})")
            h = int(h)
            sl = slice(0, h) if cumulative else slice(h - 1, h)
            p, t = pred[:, sl], target[:, sl]                           # [N, h or 1, 1]
            mask = t[..., 0].abs() >= self.zero_speed                   # [N, h or 1]
            if not bool(mask.any()):        # no reading to score: NaN, not a perfect 0
                out[h * self.minutes_per_step] = {"mae": math.nan, "rmse": math.nan, "mape": math.nan}
                continue
            out[h * self.minutes_per_step] = {"mae": float(mae(p, t, mask)),
                                              "rmse": float(rmse(p, t, mask)),
                                              "mape": float(mape(p, t, mask))}
        return out

    # -------------------------------------------------------------- protocol
    @classmethod
    def missing_split(cls, split: str, **extra: Any) -> Optional[str]:
        """The ``"val"`` split exists only with ``val_ratio > 0`` (T-GCN has none)."""
        if split == "val" and not extra.get("val_ratio", cls.defaults["val_ratio"]):
            return "the 'val' split needs val_ratio > 0"
        return super().missing_split(split, **extra)

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """``MAE``, ``RMSE`` (mph) and ``MAPE`` (%) at 15, 30 and 60 minutes
        (steps 3, 6, 12 within the horizon, else the last step), columns
        ``MAE@15min`` etc. (:meth:`horizon_metrics`)."""
        pred, y, _ = forecast_view(collected)
        H = pred.size(1)
        scores = self.horizon_metrics(pred, y, horizons=[h for h in (3, 6, 12) if h <= H] or [H])
        return {f"{k.upper()}@{minutes}min": s[k] for minutes, s in scores.items()
                for k in ("mae", "rmse", "mape")}

    def __repr__(self) -> str:
        extra = "".join(f", {k}=True" for k in ("time_of_day", "daily_profile") if getattr(self, k))
        return (f"LosLoop({len(self)}, split={self.split!r}, obs={self.obs}, "
                f"horizon={self.horizon}, graph={self.graph!r}{extra})")
