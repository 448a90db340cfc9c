r"""Evaluation of any model on a loader of windows: :func:`evaluate` (loss and
error metrics, every error computed by :mod:`srnn_pyg.metrics`) and
:func:`collect` (the predictions themselves, for a dataset's own scoring
protocol).

Batch metrics are pooled exactly over the loader (and over the processes
under DDP): each batch contributes its masked mean times the number of
entries it averages, and the sums are divided once at the end.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import metrics as M
from ..loader import seed_count, seed_view
from ..nn.heads import LOSSES, DeterministicHead, Head, head_of, loss_terms, weighted_mean
from .config import metric_names
from .device import DeviceLike, amp_context, model_device, resolve_device
from .distributed import DistContext
from .objectives import (OBJECTIVES, check_loader, check_one_hop_horizon, check_prediction, default_objective,
                         feedback_of, is_classification, label_targets, peek_classification, rollout_head,
                         rollout_targets, target_weight, teacher_forcing)

__all__ = ["REGRESSION_METRICS", "CLASSIFICATION_METRICS", "ROLLOUT_METRICS", "default_metrics",
           "evaluate", "score_loader", "collect"]

REGRESSION_METRICS = ("loss", "mse", "mae", "rmse", "mape", "ade", "mse_per_step", "mae_per_step", "tf_mse")
CLASSIFICATION_METRICS = ("loss", "ce", "accuracy")
ROLLOUT_METRICS = ("mse", "mae", "rmse", "mape", "ade", "mse_per_step", "mae_per_step")


def default_metrics(model: nn.Module, classification: bool) -> List[str]:
    """``loss``, ``ce``, ``accuracy`` for classification; else ``loss``,
    ``mse``, ``mae``, ``rmse``, ``mse_per_step`` and, for models with a
    one-step-ahead :meth:`forward`, ``tf_mse``."""
    if classification:
        return list(CLASSIFICATION_METRICS)
    names = ["loss", "mse", "mae", "rmse", "mse_per_step"]
    if getattr(model, "has_forward", True):
        names.append("tf_mse")
    return names


def _entries(target: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Per-step number of target entries a masked mean averages: ``[T]``."""
    per_step = math.prod(target.shape[2:])                                          # F
    if mask is None:
        return torch.full((target.size(1),), float(target.size(0) * per_step), device=target.device)
    return mask.sum(0).to(torch.float32) * per_step                                 # [T]


class _Sums:
    """Named float64 sums, pooled over batches and processes."""

    def __init__(self, device: torch.device):
        self.device, self.values = device, {}

    def add(self, key: str, value: Tensor) -> None:
        value = value.detach().to(device=self.device, dtype=torch.float64)
        self.values[key] = self.values[key] + value if key in self.values else value

    def ratio(self, num: str, den: str) -> Tensor:
        """The pooled mean: NaN where nothing was scored (no error of 0, as the metrics say)."""
        den_ = self.values[den]
        return torch.where(den_ > 0, weighted_mean(self.values[num], den_), torch.full_like(den_, math.nan))

    def all_reduce(self, dist: DistContext) -> None:
        # One all-reduce of every sum (all ranks hold the same keys: they depend
        # on the metric names and the data kind only).
        if not dist.enabled:
            return
        keys = sorted(self.values)
        flat = torch.cat([self.values[k].reshape(-1) for k in keys]) if keys else \
            torch.zeros(0, device=self.device, dtype=torch.float64)
        dist.all_reduce(flat)
        off = 0
        for k in keys:
            n = self.values[k].numel()
            self.values[k] = flat[off:off + n].view_as(self.values[k])
            off += n


class _Scorer:
    """Adds one batch's sums for the requested metric names."""

    def __init__(self, model: nn.Module, names: Sequence[str], horizon: Optional[int], objective: str,
                 sums: _Sums, head: Optional[Head] = None):
        self.model, self.names, self.horizon, self.objective, self.sums = model, names, horizon, objective, sums
        self.run_head = head
        self.rollout = any(n in ROLLOUT_METRICS for n in names) or (objective == "rollout" and "loss" in names)
        self.tf = "tf_mse" in names or (objective == "teacher_forcing" and "loss" in names)
        self.classification: Optional[bool] = None
        self.head: Optional[Head] = None
        self.H_seen: Optional[int] = None

    def first(self, batch) -> None:
        cls = is_classification(batch)
        known = CLASSIFICATION_METRICS if cls else REGRESSION_METRICS
        bad = [n for n in self.names if n not in known]
        if bad:
            kind = "classification" if cls else "regression"
            raise ValueError(f"evaluate: metrics {bad} do not apply to {kind} data (known: {list(known)})")
        self.classification = cls
        self.head = self.run_head if self.run_head is not None else head_of(self.model, classification=cls)

    def __call__(self, batch) -> None:
        if self.classification is None:
            self.first(batch)
        if self.classification:
            self.labels(batch)
            return
        if self.rollout:
            self.forecast(batch)
        if self.tf:
            self.one_step(batch)

    def labels(self, batch) -> None:
        target_weight(batch, classification=True)                                  # refuses y_weight
        logits, labels, mask = seed_view(batch, *label_targets(batch, self.model(batch)))
        s, c = self.head.loss_terms(logits, labels, mask)
        C = logits.size(-1)
        safe = labels if mask is None else torch.where(mask, labels, torch.zeros_like(labels))
        cm = M.confusion_matrix(logits.argmax(-1), safe, C, mask)                   # [C, C]
        self.sums.add("ce", s)
        self.sums.add("count", c)
        self.sums.add("correct", cm.diagonal().sum())

    def forecast(self, batch) -> None:
        H = self.horizon or batch.y.size(1)
        if self.H_seen is not None and H != self.H_seen:
            raise ValueError(f"evaluate: windows have different horizons ({self.H_seen} and {H}); "
                             f"pass 'horizon'")
        self.H_seen = H
        check_one_hop_horizon(batch, H, "evaluate: a rollout")
        target, mask = rollout_targets(batch, H)
        weight = target_weight(batch) if self.objective == "rollout" and "loss" in self.names else None
        pred, target, mask, weight = seed_view(batch, self.model.forecast(batch, H), target, mask, weight)
        check_prediction(pred, target, "forecast")
        p, t = pred.float(), target.float()
        n = _entries(t, mask)                                                       # [H]
        self.sums.add("sq", _total(M.per_horizon("mse", p, t, mask), n))
        self.sums.add("abs", _total(M.per_horizon("mae", p, t, mask), n))
        self.sums.add("cnt", n)
        if self.objective == "rollout" and "loss" in self.names:
            s, c = loss_terms(rollout_head(self.head), pred, target, mask, weight)   # the training loss
            self.sums.add("roll_loss", s)
            self.sums.add("roll_loss_cnt", c)
        if "ade" in self.names:                    # the length of each node's error vector, per step
            dist = (p - t).norm(dim=-1)                                             # [N, H]
            m = torch.ones_like(dist) if mask is None else mask.to(dist.dtype)
            self.sums.add("disp", torch.where(m != 0, dist * m, dist.new_zeros(())).sum())
            self.sums.add("disp_cnt", m.sum())
        if "mape" in self.names:
            keep = t.abs() > 1e-8
            if mask is not None:
                keep = keep & mask.unsqueeze(-1)
            k = keep.sum()
            self.sums.add("ape", _total(M.mape(p, t, mask) / 100.0, k))
            self.sums.add("ape_cnt", k)

    def one_step(self, batch) -> None:
        inp, target, mask = teacher_forcing(batch, feedback_of(self.model))
        weight = target_weight(batch) if "loss" in self.names else None      # only the loss is weighted
        params, target, mask, weight = seed_view(batch, self.model(inp), target, mask, weight)
        point = self.head.point(params)
        check_prediction(point, target, "one-step output", self.head)
        s, c = loss_terms(self.head, params, target, mask, weight)                 # the training loss
        self.sums.add("tf_loss", s)
        self.sums.add("tf_loss_cnt", c)
        n = _entries(target, mask).sum()
        self.sums.add("tf_sq", _total(M.mse(point.float(), target.float(), mask), n))
        self.sums.add("tf_cnt", n)


def _total(mean: Tensor, count: Tensor) -> Tensor:
    """A metric's mean times its entry count: the sum to pool over batches (0
    where nothing was scored, whose mean is NaN)."""
    return torch.where(count > 0, mean * count, torch.zeros_like(mean))


def _regression_value(name: str, sums: _Sums, objective: str) -> Any:
    if name == "loss":
        return float(sums.ratio("roll_loss", "roll_loss_cnt") if objective == "rollout"
                     else sums.ratio("tf_loss", "tf_loss_cnt"))
    if name == "tf_mse":
        return float(sums.ratio("tf_sq", "tf_cnt"))
    if name in ("mse", "rmse", "mae"):
        key = "abs" if name == "mae" else "sq"
        total, count = sums.values[key].sum(), sums.values["cnt"].sum()
        value = float(total / count) if float(count) > 0 else math.nan           # nothing scored: NaN
        return math.sqrt(value) if name == "rmse" else value
    if name == "mape":
        return 100.0 * float(sums.ratio("ape", "ape_cnt"))
    if name == "ade":
        return float(sums.ratio("disp", "disp_cnt"))
    if name in ("mse_per_step", "mae_per_step"):
        return sums.ratio("sq" if name == "mse_per_step" else "abs", "cnt").tolist()
    raise ValueError(f"evaluate: unknown metric {name!r}")  # pragma: no cover - names are checked first


@torch.no_grad()
def score_loader(model: nn.Module, loader: Iterable, names: Sequence[str], *, horizon: Optional[int] = None,
                 objective: str = "teacher_forcing", device: Optional[torch.device] = None,
                 amp_ctx: Callable[[], Any] = contextlib.nullcontext, dist: Optional[DistContext] = None,
                 progress: bool = False, desc: str = "eval", head: Optional[Head] = None) -> Dict[str, Any]:
    """The metric ``names`` of ``model`` over ``loader``, arguments checked by
    the caller (:func:`evaluate` checks them; :func:`~srnn_pyg.engine.fit`
    uses this on its validation loader, sharded under DDP, where ``dist``
    all-reduces the sums). Restores the model's train/eval mode. ``head``:
    the head whose loss ``"loss"`` is (``fit`` passes its run's, e.g. with
    ``TrainConfig.loss``); default the model's own."""
    device = device if device is not None else model_device(model)
    dist = dist if dist is not None else DistContext()
    was_training = model.training
    model.eval()
    sums = _Sums(device)
    scorer = _Scorer(model, names, horizon, objective, sums, head=head)
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True)
    try:
        for batch in bar:
            batch = batch.to(device)
            with amp_ctx():
                scorer(batch)
    finally:
        bar.close()
        model.train(was_training)
    sums.all_reduce(dist)
    if scorer.classification is None:
        return {n: float("nan") for n in names}
    if scorer.classification:
        ce = float(sums.ratio("ce", "count"))
        acc = float(sums.ratio("correct", "count"))
        return {n: acc if n == "accuracy" else ce for n in names}
    return {n: _regression_value(n, sums, objective) for n in names}


def evaluate(model: nn.Module, loader: Iterable, metrics: Optional[Sequence[str]] = None,
             horizon: Optional[int] = None, *, objective: Optional[str] = None,
             device: Optional[DeviceLike] = None, amp: Any = False,
             progress: bool = False, loss: Optional[str] = None) -> Dict[str, Any]:
    r"""Evaluate any model on a loader of windows, in the data's (normalised)
    units.

    Regression metrics (``y`` floating point):

    * ``"mse"``, ``"mae"``, ``"rmse"``, ``"mape"`` (percent, over non-zero
      targets, of the normalised values: a z-scored target near zero makes
      it large and unlike the data's own; a dataset's ``score``, such as
      :meth:`~srnn_pyg.datasets.LosLoop.score`, gives it in the data's
      units), ``"ade"`` (the Euclidean length of each node's error vector
      over its predicted features, averaged over nodes and steps: the
      average displacement error when the features are a position),
      ``"mse_per_step"``, ``"mae_per_step"`` (lists of ``H``):
      of the rollout ``model.forecast(data, horizon)`` against ``y`` (every
      model), by :func:`srnn_pyg.metrics.per_horizon`,
      :func:`~srnn_pyg.metrics.mape`;
    * ``"tf_mse"``: the one-step-ahead error of the point prediction of
      :meth:`forward` under teacher forcing (models with ``has_forward``),
      by :func:`srnn_pyg.metrics.mse`;
    * ``"loss"``: the training loss of ``objective``, from the model's head
      (:func:`~srnn_pyg.nn.heads.head_of`: MSE, or the NLL of a Gaussian
      head).

    Classification metrics (``y`` long labels, per-step logits of
    :meth:`forward`): ``"loss"`` and ``"ce"`` (cross-entropy), ``"accuracy"``
    (from :func:`srnn_pyg.metrics.confusion_matrix`).

    Every metric is a masked mean over ``y_mask`` (and ``node_mask``) entries,
    pooled exactly over the whole loader; NaN where no entry was scored (a
    step of ``"mse_per_step"`` included), as for an empty loader.

    Args:
        model: a :class:`~srnn_pyg.models.Forecaster` (or any module with
            ``forward``/``forecast``).
        loader: batches of :class:`~srnn_pyg.STData` with ``y``.
        metrics (list[str], optional): names from above. (default: ``loss``,
            ``mse``, ``mae``, ``rmse``, ``mse_per_step``, and ``tf_mse`` where
            the model has :meth:`forward`; classification: ``loss``, ``ce``,
            ``accuracy``)
        horizon (int, optional): rollout steps. (default: the windows' ``H``)
        objective (str, optional): what ``"loss"`` measures,
            ``"teacher_forcing"`` or ``"rollout"``. (default: teacher forcing
            for models with :meth:`forward`, else rollout)
        device (str or torch.device, optional): (default: the model's device)
        amp (bool or str, optional): autocast on CUDA (``"bf16"`` for
            bfloat16). (default: :obj:`False`)
        progress (bool, optional): show a tqdm bar. (default: :obj:`False`)
        loss (str, optional): the point loss that ``"loss"`` measures for a
            model with a deterministic head (``"mse"``, ``"l1"``, ``"huber"``,
            ``"euclidean"``: what ``TrainConfig.loss`` trained, so that
            ``"loss"`` is the run's ``val_loss``); another head warns and
            scores its own. (default: :obj:`None`: the head's own)

    Returns:
        dict: metric name to float (lists for ``*_per_step``).
    """
    objective = objective or default_objective(model)
    if objective not in OBJECTIVES:
        raise ValueError(f"evaluate: 'objective' must be one of {list(OBJECTIVES)} (got {objective!r})")
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
        raise ValueError(f"evaluate: 'horizon' must be a positive int or None (got {horizon!r})")
    dev = model_device(model) if device is None else resolve_device(device)
    model.to(dev)
    cls = peek_classification(loader, "evaluate: 'loader'")
    names = metric_names(metrics, "evaluate: 'metrics'")
    names = names if names is not None else default_metrics(model, cls)
    if not getattr(model, "has_forward", True):
        if "tf_mse" in names or (objective == "teacher_forcing" and "loss" in names) or cls:
            raise ValueError(f"evaluate: {type(model).__name__} has no one-step-ahead forward, so only "
                             f"rollout metrics apply (got metrics={names}, objective={objective!r})")
    head = None
    if loss is not None:
        if loss not in LOSSES:
            raise ValueError(f"evaluate: 'loss' must be one of {list(LOSSES)} or None (got {loss!r})")
        own = head_of(model, classification=cls)
        if isinstance(own, DeterministicHead):
            head = DeterministicHead(own.out_channels, loss=loss, huber_delta=own.huber_delta)
        else:
            warnings.warn(f"evaluate: loss={loss!r} is the point loss of a deterministic head; this model's "
                          f"{type(own).__name__} scores its own loss")
    try:
        amp_ctx, _ = amp_context(dev, amp)
    except ValueError as e:
        raise ValueError(f"evaluate: {e}") from None
    return score_loader(model, loader, names, horizon=horizon, objective=objective, device=dev,
                        amp_ctx=amp_ctx, progress=progress, head=head)


def _cpu(v: Tensor) -> Tensor:
    return v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()


@torch.no_grad()
def collect(model: nn.Module, loader: Iterable, device: Optional[DeviceLike] = None,
            horizon: Optional[int] = None, num_samples: Optional[int] = None) -> Dict[str, Tensor]:
    r"""The model's predictions over a loader, concatenated in dataset order
    (batches of whole graphs), on the CPU; what a dataset's scoring protocol
    (``dataset.score(collected)``) consumes.

    Keys:

    * ``"pred"``: the forecast ``[N, H, F]`` (``model.forecast``) for
      regression, the per-step logits ``[N, T, C]`` (``model(data)``) for
      classification (long ``y``);
    * ``"y"`` (regression: its first ``H`` steps), ``"x"``, and where the
      batches have them ``"y_mask"``, ``"node_mask"``, ``"node_type"``,
      ``"maneuver"``;
    * ``"batch"`` ``[N]``: the window of every node, numbered over the
      whole loader (batches of PyG's ``DataLoader``);
    * ``"n_id"`` ``[N]`` (batches of a :class:`~srnn_pyg.loader.OneHopLoader`):
      each row's node id in the loader's graph, the rows being the seeds in
      the order drawn (``"batch"`` then holds the graph's own window ids,
      where it has them);
    * ``"samples"`` ``[K, N, H, F]`` with ``num_samples=K``: draws of
      ``model.forecast(data, H, num_samples=K)`` (models with a
      probabilistic head).

    Args:
        model: the model (put in eval mode).
        loader: batches of :class:`~srnn_pyg.STData` with ``y``.
        device (str or torch.device, optional): (default: the model's device)
        horizon (int, optional): forecast steps. (default: the windows' ``H``)
        num_samples (int, optional): also draw this many sampled forecasts.

    Raises:
        ValueError: if the loader holds no windows.
    """
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int)
                                    or num_samples < 1):
        raise ValueError(f"collect: 'num_samples' must be a positive int or None (got {num_samples!r})")
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
        raise ValueError(f"collect: 'horizon' must be a positive int or None (got {horizon!r})")
    check_loader(loader, "collect: 'loader'")
    dev = model_device(model) if device is None else resolve_device(device)
    model.to(dev).eval()
    parts: Dict[str, List[Tensor]] = {}
    windows = 0
    for batch in loader:
        batch = batch.to(dev)
        cls = is_classification(batch)
        values = _collect_batch(model, batch, cls, horizon, num_samples)
        graph, count = batch.get("batch"), seed_count(batch)
        if count is not None:                          # one-hop: the seeds' ids (and windows) in the full graph
            values["n_id"] = batch.n_id[:count]
            if isinstance(graph, Tensor):
                values["batch"] = graph[:count]
        elif isinstance(graph, Tensor):                # the window of every node, counted over the split
            values["batch"] = graph + windows
            windows += int(batch.num_graphs)
        for k, v in values.items():
            parts.setdefault(k, []).append(_cpu(v))
    if not parts:
        raise ValueError("collect: the loader holds no windows")
    return {k: torch.cat(v, dim=1 if k == "samples" else 0) for k, v in parts.items()}


def _collect_batch(model: nn.Module, batch, cls: bool, horizon: Optional[int],
                   num_samples: Optional[int]) -> Dict[str, Tensor]:
    if cls:
        out = model(batch)                                                       # [N, T, C]
        values = {"pred": out, "y": batch.y}
    else:
        H = horizon or batch.y.size(1)
        if H > batch.y.size(1):
            raise ValueError(f"collect: 'horizon' is {H} but the windows hold only {batch.y.size(1)} target steps "
                             f"('y' is {list(batch.y.shape)})")
        check_one_hop_horizon(batch, H, "collect: a forecast")
        out = model.forecast(batch, H)                                           # [N, H, F]
        values = {"pred": out, "y": batch.y[:, :H]}
        if num_samples is not None:
            values["samples"] = model.forecast(batch, H, num_samples=num_samples)   # [K, N, H, F]
    values["x"] = batch.x
    for key in ("y_mask", "node_mask", "node_type", "maneuver"):
        v = batch.get(key)
        if v is not None:
            values[key] = v[:, :out.size(1)] if key == "y_mask" and not cls else v
    count = seed_count(batch)
    if count is not None:                       # a one-hop batch: its seed rows only
        values = {k: v[:, :count] if k == "samples" else v[:count] for k, v in values.items()}
    return values
