"""The generic machinery of ``accuracy.py``: a benchmark is data (:class:`Bench`,
one per dataset, a list of :class:`Row` models); this module opens its splits
through the dataset registry, trains every row with :func:`srnn_pyg.engine.fit`,
fits the closed-form baselines (``fit_closed_form``), collects the forecasts
(:func:`srnn_pyg.engine.collect`), scores them with the dataset's own protocol
(``dataset.score``), once per seed for every trained row, and renders the
Markdown report and its machine-readable twin (``accuracy_results.py``)."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.loader import DataLoader

from accuracy_results import Stat, aggregate, lose_lines, protocol_table, results_json, stat_table
from common import command, machine, markdown_table

import srnn_pyg
from srnn_pyg import datasets as registry
from srnn_pyg import models
from srnn_pyg.engine import collect, evaluate, fit

MODE_TEXT = {
    "smoke": "smoke (a seconds-long pipeline check for the test suite; the numbers mean nothing)",
    "quick": "quick (CI-sized: small subsets and few epochs; a check that every row runs, not a "
             "measurement to compare with published figures)",
    "default": "default (laptop-CPU sizes, validation early stopping under a generous epoch limit, "
               "3 seeds unless --seeds says otherwise: tens of minutes to hours per dataset)",
    "full": "full (paper-scale sizes, validation early stopping under a generous epoch limit, 3 seeds "
            "unless --seeds says otherwise; meant for a GPU)",
}
SUFFIX = {"smoke": "_smoke", "quick": "_quick", "default": "", "full": "_full"}
#: settings shared by every dataset and mode
COMMON = dict(patience=4, rollout_share=1 / 3, rollout_lr_factor=1 / 3, select_windows=256, refit=False,
              former_scoring=False, val_as_test=False)
Settings = Dict[str, Any]
Scores = Dict[str, float]


# ==================================================================== data
@dataclass
class Row:
    """One model of a benchmark table.

    ``name`` is a registry model name (``kwargs(settings)`` its constructor
    keywords) or, for a baseline outside the registry, ``factory()`` builds
    it; ``key`` names the row in the JSON results (default ``name``: the
    registry name). ``recipe``: ``"tf"`` (teacher forcing; a Gaussian head is
    trained by its NLL), ``"rollout"``, ``"tf+rollout"``, ``"class"``
    (cross-entropy), ``"closed_form"`` (``model.fit_closed_form`` on the
    training windows, once) or ``"none"`` (not trained, scored once).
    ``train_on`` names the opened split it trains on, ``val_on`` the one that
    early-stops it and makes its choices, ``test_on`` the one it is scored on;
    ``epochs`` a settings key for its epoch count; ``samples``: also score
    ``settings["samples"]`` sampled forecasts; ``train``: :class:`TrainConfig`
    fields for this row's training only (e.g. ``weight_decay``); ``start``:
    ``"linear"`` starts the model as the closed-form linear autoregression of
    the training windows (``model.init_linear``) before it trains, and
    validates that start, so early stopping can keep it. A registry
    model whose ``required_keys`` (e.g. ``t_start``) the training windows lack
    is skipped."""

    label: str
    name: str = ""
    kwargs: Callable[[Settings], Dict[str, Any]] = lambda s: {}
    recipe: str = "tf"
    noise: Any = None
    train_on: str = "train"
    val_on: str = "val"
    test_on: str = "test"
    epochs: str = "epochs"
    samples: bool = False
    factory: Optional[Callable[[], nn.Module]] = None
    built_as: Optional[str] = None
    key: str = ""
    train: Dict[str, Any] = field(default_factory=dict)
    start: str = ""

    @property
    def json_key(self) -> str:
        return self.key or self.name

    @property
    def once(self) -> bool:
        """Run once, not once per seed (nothing random in it)."""
        return self.recipe in ("none", "closed_form")


@dataclass
class Bench:
    """One dataset's benchmark: settings per mode, the splits to open, the
    models and how the scores are laid out.

    ``splits(settings, group)``: ``{split name: open options}``; a name other
    than ``train``/``val``/``test`` is opened as the split of its ``split``
    option (e.g. a second training split with another stride), and the
    options ``every``/``limit`` keep every k-th window (at most ``limit``).
    ``carve(ctx, sets)``: for data without a validation split, replace the
    training split(s) by index views and add ``val`` (never from the test).
    ``groups(ctx)``: independent runs (folds, test scenes) as ``(tag,
    group)``. ``subsets(test)``: named window subsets scored apart (actions).
    ``score(ev)``: the scores of one model on one test subset (default
    ``test.score(collected)``). ``metrics(ctx, view)``: one seed's
    ``{row label: {metric key: value}}`` from its scores (default: the one
    group and subset, keys lower-cased); ``lower_is_better(key)``: ``True``,
    ``False``, or :obj:`None` for a number that is not a metric (it stays out
    of the JSON); ``tables(ctx, res, agg)``: the result sections from
    ``{row label: {metric key: Stat}}``."""

    dataset: str
    title: str
    modes: Dict[str, Settings]
    splits: Callable[[Settings, Any], Dict[str, Dict[str, Any]]]
    rows: Callable[[Settings], List[Row]]
    protocol: Callable[["Context", "Results"], List[str]]
    metrics: Callable[["Context", "View"], Dict[str, Scores]] = \
        lambda ctx, view: {label: {k.lower(): v for k, v in s.items()} for label, s in view.table().items()}
    tables: Callable[["Context", "Results", Dict[str, Dict[str, Stat]]], List[str]] = \
        lambda ctx, res, agg: ["## Test error (lower is better)", stat_table(agg)]
    lower_is_better: Callable[[str], Optional[bool]] = lambda key: True
    digits: int = 3
    published: Any = ()                     # text blocks, or ctx -> text blocks
    notes: Callable[["Context"], List[str]] = lambda ctx: []
    groups: Callable[["Context"], List[Tuple[str, Any]]] = lambda ctx: [("", None)]
    subsets: Callable[[Any], Dict[str, Optional[List[int]]]] = lambda test: {"": None}
    score: Optional[Callable[["Eval"], Scores]] = None
    #: the protocol's score on the validation split: ``val_score(val_set)`` is a function of
    #: :func:`srnn_pyg.engine.collect`'s dict (``TrainConfig.val_score``); every trained row records it, and the
    #: setting ``select`` (a key of its dict) makes early stopping and every choice read it instead of the MSE
    val_score: Optional[Callable[[Any], Callable[[Dict[str, Tensor]], Scores]]] = None
    carve: Optional[Callable[["Context", Dict[str, Any]], None]] = None
    #: ``refit_on(sets, key)``: the training windows and the carved validation windows of training split ``key``
    #: together, which the setting ``refit`` retrains on (benches whose validation part is carved only)
    refit_on: Optional[Callable[[Dict[str, Any], str], Any]] = None
    #: the setting ``val_as_test`` (a rehearsal: the validation part scored as the test, a validation part
    #: carved before it, the test never opened) is implemented by ``splits`` and ``carve``
    rehearsal: bool = False
    eval_batch: int = 64
    subject: str = "the improved S-RNN"


@dataclass
class Trained:
    """One model of a table: how it was trained and how long it took."""

    label: str
    model: nn.Module
    build: str
    recipe: str = "not trained (no parameters)"
    epochs: str = "-"
    seconds: float = 0.0
    seeds: List[Optional[int]] = field(default_factory=list)
    #: the validation score of the kept model, once per seed (``val_metric`` on the validation split)
    val: List[float] = field(default_factory=list)
    val_metric: str = ""
    #: the protocol's validation scores of the kept model (``Bench.val_score``), once per seed, by key
    val_protocol: Dict[str, List[float]] = field(default_factory=dict)
    #: the training phases kept on validation, ``(objective, epochs, lr, noise)`` each: what ``refit`` replays
    plan: List[Tuple[str, int, float, Any]] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters()
                   if not isinstance(p, nn.parameter.UninitializedParameter))


@dataclass
class View:
    """The scores of one seed, ``scores[label][group][subset]``, and the
    opened splits of each group (what ``Bench.metrics`` reads)."""

    scores: Dict[str, Dict[str, Dict[str, Scores]]]
    sets: Dict[str, Dict[str, Any]]

    def first_sets(self) -> Dict[str, Any]:
        return next(iter(self.sets.values()))

    def table(self, group: str = "", subset: str = "") -> Dict[str, Scores]:
        return {label: per[group][subset] for label, per in self.scores.items()}


@dataclass
class Results:
    """Everything a run produced: ``runs[label][seed][group][subset]`` (seed
    :obj:`None` for the rows run once), the rows, the training rows (one per
    label, merged over seeds and groups) and the opened splits of each group
    (for the protocol text)."""

    runs: Dict[str, Dict[Optional[int], Dict[str, Dict[str, Scores]]]] = field(default_factory=dict)
    rows: Dict[str, Row] = field(default_factory=dict)
    trained: Dict[str, Trained] = field(default_factory=dict)
    sets: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def first_sets(self) -> Dict[str, Any]:
        return next(iter(self.sets.values()))

    def view(self, seed: int, with_once: bool) -> View:
        """The scores of ``seed``; the rows run once only ``with_once``."""
        scores = {label: per[seed] if seed in per else per[None] for label, per in self.runs.items()
                  if seed in per or (with_once and None in per)}
        return View(scores, self.sets)


@dataclass
class Eval:
    """What a score function sees: the trained model, its row, the opened
    splits, the test subset and its collected forecasts."""

    ctx: "Context"
    row: Row
    model: nn.Module
    sets: Dict[str, Any]
    test: Any
    collected: Dict[str, torch.Tensor]

    def collect(self, dataset) -> Dict[str, torch.Tensor]:
        return collect_on(self.ctx, self.model, dataset, self.row)

    def choice_split(self):
        """Where the row makes its choices: its validation split, else its training split."""
        val = self.sets.get(self.row.val_on)
        return val if val is not None else self.sets[self.row.train_on]


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


#: Numeric settings that may be 0 (every other int or float setting of a mode must be positive), and
#: those bounded above: a value outside fails at once, not after hours of training or in the table.
SETTINGS_MAY_BE_ZERO = ("dropout", "rollout_share")
SETTINGS_AT_MOST = {"dropout": 0.999999, "rollout_share": 0.999999}


def check_setting(item: str, key: str, value: Any) -> None:
    """Refuse (``SystemExit``, naming ``item``) a numeric setting out of its range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    zero = key in SETTINGS_MAY_BE_ZERO
    ok = math.isfinite(value) and (value >= 0 if zero else value > 0) and value <= SETTINGS_AT_MOST.get(key, math.inf)
    if not ok:
        lo = ">= 0" if zero else "> 0"
        hi = " and < 1" if key in SETTINGS_AT_MOST else ""
        raise SystemExit(f"accuracy.py: --set {item!r}: {key} must be a finite number {lo}{hi} (got {value!r})")


def setting_value(item: str, current: Any, raw: str) -> Any:
    """The value of ``--set KEY=VALUE`` (``item``) for a setting whose mode value is ``current``: a bool
    from ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off`` (``bool("0")`` would be true), an
    int or float of that type, JSON where the mode's value is :obj:`None` or a list (a bare word stays
    text), else the text."""
    if isinstance(current, bool):
        if raw.strip().lower() not in _TRUE + _FALSE:
            raise SystemExit(f"accuracy.py: --set {item!r}: expected a boolean (1/0, true/false), got {raw!r}")
        return raw.strip().lower() in _TRUE
    if isinstance(current, (int, float)):
        try:
            return type(current)(raw)
        except ValueError:
            raise SystemExit(f"accuracy.py: --set {item!r}: expected {type(current).__name__}, got {raw!r}") from None
    if current is None or isinstance(current, (list, tuple, dict)):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


class Context:
    """Settings shared by the runs of one command. ``seed`` seeds the data
    (simulations, cross-validation folds, carved validation parts); ``seeds`` are the training seeds
    (``seed``, ``seed + 1``, ...), ``run_seed`` the current one."""

    def __init__(self, args, bench: Bench):
        self.args, self.bench, self.dataset, self.mode = args, bench, bench.dataset, args.mode
        cfg = dict(COMMON)
        cfg.update(bench.modes[args.mode])
        if args.epochs is not None:
            check_setting(f"--epochs {args.epochs}", "epochs", args.epochs)
            cfg["epochs"] = args.epochs
            if "paper_epochs" in cfg:
                cfg["paper_epochs"] = args.epochs
        for item in getattr(args, "set", None) or ():       # --set KEY=VALUE: one setting of the mode
            key, _, raw = item.partition("=")
            if key not in cfg:
                raise SystemExit(f"accuracy.py: --set {item!r}: {key!r} is not a setting of mode "
                                 f"{args.mode!r} (settings: {', '.join(sorted(cfg))})")
            cfg[key] = setting_value(item, cfg[key], raw)
            check_setting(item, key, cfg[key])
        if cfg["val_as_test"] and not bench.rehearsal:
            raise SystemExit(f"accuracy.py: --set val_as_test=1: {bench.dataset} has no rehearsal on its validation "
                             f"part (only benches with Bench.rehearsal)")
        self.cfg = cfg
        self.seed = args.seed
        n = getattr(args, "seeds", None) or (3 if args.mode in ("default", "full") else 1)
        first = getattr(args, "first_seed", None)
        first = args.seed if first is None else first
        self.seeds = [first + i for i in range(n)]
        self.run_seed = first
        self.device = torch.device(args.device)
        self.data_root = args.data_root
        self.tag = ""

    def log(self, text: str) -> None:
        print(f"[{self.dataset}{self.tag}] {text}", flush=True)


# ================================================================ baselines outside the registry
class Constant(nn.Module):
    """Predicts one constant (the training data's mean: 0 for standardised data)."""

    trainable = False
    has_forward = False

    def __init__(self, value: float = 0.0):
        super().__init__()
        self.value = float(value)

    def forecast(self, data, horizon: int) -> Tensor:
        return data.x.new_full((data.x.size(0), horizon, data.x.size(-1)), self.value)


class ObservedMean(nn.Module):
    """The mean of the observed steps, held over the horizon."""

    trainable = False
    has_forward = False

    def forecast(self, data, horizon: int) -> Tensor:
        return data.x.mean(dim=1, keepdim=True).expand(-1, horizon, -1).contiguous()


# ================================================================ helpers
def loader(dataset, batch_size: int, shuffle: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def every(dataset, k: int, limit: Optional[int] = None):
    """Every ``k``-th window of ``dataset`` (a PyG index view, no copy), at most ``limit``."""
    idx = list(range(0, len(dataset), max(1, int(k))))
    if limit is not None:
        idx = idx[:limit]
    return dataset if len(idx) == len(dataset) else dataset[idx]


def describe(kwargs: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in kwargs.items())


def fmt(v: Optional[float], digits: int = 3) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def open_splits(ctx: Context, options: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """The splits of ``options`` (see :class:`Bench`), the training split
    first; every other split reuses its normalisation statistics."""
    cls = registry.get(ctx.dataset)
    out: Dict[str, Any] = {}
    order = ["train"] + [k for k in options if k != "train"]
    for key in order:
        opts = dict(options[key])
        k, limit = opts.pop("every", 1), opts.pop("limit", None)
        split = opts.pop("split", key)
        train = out.get("train")
        ds = cls.open(split, root=ctx.data_root, seed=ctx.seed, train=train, **opts)
        out[key] = every(ds, k, limit)
        out[f"{key}_full"] = ds
    if ctx.bench.carve is not None:
        ctx.bench.carve(ctx, out)
    return out


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and PyTorch's generators (``fit`` does the same with
    ``TrainConfig.seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def missing_keys(row: Row, dataset) -> List[str]:
    """Keys the row's registry model needs (``required_keys``) that the windows lack."""
    if not row.name:
        return []
    need = getattr(models.get(row.name), "required_keys", ())
    sample = dataset[0]
    return [k for k in need if k not in sample]


def channels(dataset) -> Tuple[int, int]:
    """Input features and outputs (features, or classes) of a split's windows."""
    sample = dataset[0]
    if type(dataset).task == "classification":
        return int(sample.x.size(-1)), int(dataset.num_classes)
    return int(sample.x.size(-1)), int(sample.y.size(-1))


def build_row(ctx: Context, row: Row, settings: Settings, dataset) -> Trained:
    seed_everything(ctx.run_seed)
    if row.factory is not None:
        return Trained(row.label, row.factory(), row.built_as or row.label)
    kw = row.kwargs(settings)
    in_ch, out_ch = channels(dataset)
    model = models.build(row.name, dataset.schema, in_ch, out_ch, **kw)
    built = f"{row.name}: {describe(kw)}" if kw else row.name        # what is built, always
    return Trained(row.label, model, f"{built} ({row.built_as})" if row.built_as else built)


# ================================================================ training
def _noise_reached(history: List[Dict[str, Any]]) -> float:
    return max([float(r.get("noise_std") or 0.0) for r in history] or [0.0])


def _optimizer_steps(history: List[Dict[str, Any]]) -> int:
    return max([int(r.get("step") or 0) for r in history] or [0])


def _epochs_text(result, phase: str, validated: bool) -> str:
    shown = validated and result.best_epoch is not None and result.epochs_run > 1
    best = f", best {result.best_epoch}" if shown else ""
    stop = ", stopped early" if result.stopped_early else ""
    return f"{phase} {result.epochs_run}{best}{stop}"


def selection_score(model: nn.Module, data_loader, device, metric: str,
                    protocol: Optional[Callable[[Dict[str, Tensor]], Scores]] = None) -> float:
    """``metric`` of ``model`` over ``data_loader``: a metric of ``evaluate`` (the rollout ``"mse"``,
    ``"mae"``, ``"ade"``, or ``"loss"``), else a key of ``protocol(collect(...))``."""
    if metric in ("mse", "mae", "ade", "loss") or protocol is None:
        return float(evaluate(model, data_loader, metrics=[metric], device=device)[metric])
    return float(protocol(collect(model, data_loader, device=device))[metric])


def protocol_scores(bench: Bench, val_set) -> Optional[Callable[[Dict[str, Tensor]], Scores]]:
    """``bench.val_score(val_set)``, or :obj:`None` where the bench has none or there is no validation split."""
    return bench.val_score(val_set) if bench.val_score is not None and val_set is not None else None


def base_dataset(dataset):
    """The dataset under views and subsets (``.dataset`` of a Subset-like view)."""
    while hasattr(dataset, "dataset") and not hasattr(type(dataset), "defaults"):
        dataset = dataset.dataset
    return dataset


#: ``select`` values naming a pooled rollout error of ``evaluate`` (any other value is a key of the protocol's
#: validation score, ``Bench.val_score``)
POOLED = ("mse", "mae", "ade")


class _Fitter:
    """``fit`` with one run's settings: early stopping and ``restore_best``
    on validation where there is a validation split."""

    def __init__(self, ctx: Context, model: nn.Module, train_set, val_set, batch: int, classification: bool,
                 refit: bool = False):
        self.model, self.device = model, ctx.device
        self.train_loader = loader(train_set, batch, shuffle=True)
        self.val_loader = loader(val_set, 2 * batch) if val_set is not None else None
        self.protocol = None if classification else protocol_scores(ctx.bench, val_set)
        select = None if refit else ctx.cfg.get("select")        # a refit replays epochs: nothing to select
        pooled = select in POOLED
        if select is not None and not pooled and self.protocol is None:
            raise ValueError(f"select={select!r}: {ctx.dataset} has no protocol score on a validation split to "
                             f"select on (a pooled metric, {', '.join(POOLED)}, may be selected on)")
        if select is not None and classification:
            raise ValueError(f"select={select!r}: a classifier is selected on its validation cross-entropy")
        self.base = dict(seed=ctx.run_seed, device=ctx.device, progress=False, grad_clip=1.0)
        # The protocol's training loss for every trained row alike (the dataset's defaults["loss"]).
        loss = None if classification else getattr(type(base_dataset(train_set)), "defaults", {}).get("loss")
        if loss is not None:
            self.base["loss"] = loss
        if self.val_loader is not None:
            self.base.update(early_stopping=int(ctx.cfg["patience"]), restore_best=True)
            if classification:
                self.base.update(metrics=["loss", "accuracy"], monitor="val_loss")
            elif loss == "l1":                      # MAE is the headline metric: train and select on it
                self.base.update(metrics=["mse", "mae"], monitor="val_mae")
            elif loss == "euclidean":               # the ADE is the headline metric: the same
                self.base.update(metrics=["mse", "ade"], monitor="val_ade")
            else:
                self.base.update(metrics=["mse"], monitor="val_mse")
            if pooled:                              # a pooled rollout error of evaluate's, whatever the loss
                self.base.update(metrics=sorted({"mse", select}), monitor=f"val_{select}")
            elif select is not None:                # the protocol's key, lower is better (as the choices read it)
                self.base.update(val_score=self.protocol, monitor=f"val_{select}", monitor_mode="min")

    @property
    def monitor(self) -> Optional[str]:
        """The metric of ``evaluate`` that selects on validation (``"mse"``,
        ``"mae"``, ``"ade"``, ``"loss"``), or :obj:`None` without a validation split."""
        return self.base["monitor"][len("val_"):] if "monitor" in self.base else None

    def validation_score(self) -> Optional[float]:
        """The selection metric of the model as it is now on the validation split."""
        if self.monitor is None:
            return None
        return self.selection_score(self.val_loader, self.monitor)

    def selection_score(self, data_loader, metric: str) -> float:
        """``metric`` of the model as it is now over ``data_loader`` (:func:`selection_score`)."""
        return selection_score(self.model, data_loader, self.device, metric, self.protocol)

    def protocol_now(self) -> Dict[str, float]:
        """The protocol's validation scores of the model as it is now ({} without them)."""
        if self.protocol is None:
            return {}
        return {k: float(v) for k, v in self.protocol(collect(self.model, self.val_loader, device=self.device)).items()}

    def __call__(self, objective: str, epochs: int, lr: Optional[float], noise: Any = None,
                 recipe: Optional[str] = None):
        kw = dict(self.base, epochs=epochs, objective=objective, noise=noise, lr=lr)
        if recipe == "paper":   # the official recipe fills every field left at its default: leave them so
            kw = {k: v for k, v in kw.items() if k not in ("grad_clip", "lr", "noise")}
            kw["recipe"] = "paper"
        if self.val_loader is None:  # nothing to restore: no checkpoints written
            return fit(self.model, self.train_loader, None, **kw)
        with tempfile.TemporaryDirectory(prefix="srnn-acc-") as out:   # best.pt for restore_best
            return fit(self.model, self.train_loader, self.val_loader, out_dir=out, **kw)


_PHASES = {"tf": "teacher forcing", "class": "cross-entropy", "rollout": "rollout",
           "paper": "the official training recipe (`TrainConfig(recipe='paper')`: Theano's momentum 0.99, lr 1e-3 "
                    "cut x0.1 at iterations 1,500 and 4,500, clip 25, Theano's truncation to 10 steps in the cells, "
                    "noise curriculum under a Bernoulli(0.5) frame mask, per-node-type loss), teacher forcing",
           "nll": "bivariate-Gaussian NLL through the head, teacher forcing"}


def _tf_then_rollout(ctx: Context, t: Trained, run: _Fitter, train_set, E: int, lr: float, noise: Any):
    """Teacher forcing, then rollout fine-tuning at a lower learning rate,
    kept only if it lowers the selection score: the validation metric that
    early stopping reads (:attr:`_Fitter.monitor`: the rollout MSE, or the
    MAE or ADE where the protocol trains on those), or the rollout MSE on a
    spread of training windows where there is no validation split."""
    cfg, validated = ctx.cfg, run.val_loader is not None
    n_ro = max(1, int(round(E * cfg["rollout_share"]))) if E >= 2 else 0
    res = run("teacher_forcing", E - n_ro, lr, noise)
    t.plan = [("teacher_forcing", res.best_epoch or res.epochs_run, lr, noise)]
    t.epochs = _epochs_text(res, "tf", validated)
    t.recipe = "teacher forcing, then rollout fine-tuning" if n_ro else \
        "teacher forcing (one epoch: no rollout fine-tuning)"
    if n_ro:
        spread = max(1, len(train_set) // cfg["select_windows"])                # windows of every part
        select = run.val_loader or loader(every(train_set, spread, cfg["select_windows"]),
                                          run.train_loader.batch_size * 2)
        metric, protocol = run.monitor or "mse", getattr(run, "protocol", None)
        if metric not in ("mse", "mae", "ade") and protocol is None:
            raise ValueError(f"rollout fine-tuning is kept on a rollout error (mse, mae or ade) or a protocol "
                             f"score, not {metric!r}")
        before = selection_score(t.model, select, ctx.device, metric, protocol)
        state = copy.deepcopy(t.model.state_dict())
        res2 = run("rollout", n_ro, lr * cfg["rollout_lr_factor"])
        kept = selection_score(t.model, select, ctx.device, metric, protocol) < before
        if not kept:
            t.model.load_state_dict(state)
        else:
            t.plan.append(("rollout", res2.best_epoch or res2.epochs_run, lr * cfg["rollout_lr_factor"], None))
        t.epochs += " + " + _epochs_text(res2, "rollout", validated) + (" (kept)" if kept else " (dropped)")
        where = "validation" if validated else "training-window"
        what = f"rollout {metric.upper()}" if metric in ("mse", "mae", "ade") else f"protocol score `{metric}`"
        t.recipe += f" (kept only if it lowers the {where} {what})"
    return res


def fit_closed(ctx: Context, t: Trained, train_set) -> Trained:
    """``t.model.fit_closed_form`` on the training windows (no gradient, no choice)."""
    start = time.perf_counter()
    t.model.fit_closed_form(loader(train_set, ctx.bench.eval_batch))
    t.seconds = time.perf_counter() - start
    t.recipe, t.epochs = "closed form (`fit_closed_form` on the training windows)", "-"
    ctx.log(f"{t.label:<38} {'closed form':<44} {t.seconds:7.1f} s")
    return t


def _start(ctx: Context, model: nn.Module, row: Row, train_set, run: Optional["_Fitter"]) -> None:
    """``row.start``: the model's starting point before it trains (and, for a selection run, a
    validation of that start, so that early stopping can keep it)."""
    if not row.start:
        return
    if row.start != "linear":
        raise ValueError(f"{row.label}: unknown start {row.start!r} (expected 'linear')")
    model.init_linear(loader(train_set, ctx.bench.eval_batch))
    if run is not None and run.val_loader is not None:
        run.base["validate_start"] = True


def train(ctx: Context, t: Trained, row: Row, train_set, val_set) -> Trained:
    """Train ``t.model`` by ``row.recipe`` with :func:`srnn_pyg.engine.fit`."""
    if row.recipe == "closed_form":
        return fit_closed(ctx, t, train_set)
    if row.recipe == "none" or not getattr(t.model, "trainable", True):
        ctx.log(f"{t.label:<38} not trained")
        return t
    cfg = ctx.cfg
    E, lr = int(cfg[row.epochs]), float(cfg["lr"])
    run = _Fitter(ctx, t.model, train_set, val_set, int(cfg["batch"]), row.recipe == "class")
    fixed = sorted(set(row.train) & {"epochs", "lr", "objective", "noise", "recipe", "grad_clip", "monitor",
                                     "metrics", "monitor_mode", "val_score"})
    if fixed:
        raise ValueError(f"{row.label}: Row.train may not set {fixed} (the recipe and the mode's settings set them)")
    run.base.update(row.train)                     # this row's own TrainConfig fields
    start = time.perf_counter()
    _start(ctx, t.model, row, train_set, run)
    if row.recipe == "tf+rollout":
        res = _tf_then_rollout(ctx, t, run, train_set, E, lr, row.noise)
    elif row.recipe in _PHASES:
        res = run("rollout" if row.recipe == "rollout" else "teacher_forcing", E, lr, row.noise,
                  recipe="paper" if row.recipe == "paper" else None)
        t.recipe = _PHASES[row.recipe]
        t.epochs = _epochs_text(res, "", run.val_loader is not None)
        if row.recipe != "paper":       # the official recipe's schedule counts iterations: not replayed
            t.plan = [("rollout" if row.recipe == "rollout" else "teacher_forcing", res.best_epoch or res.epochs_run,
                       lr, row.noise)]
    else:
        raise ValueError(f"unknown recipe {row.recipe!r}")
    if row.noise is not None or row.recipe == "paper":
        t.recipe += f"; paper noise curriculum, std reached {_noise_reached(res.history):g}"
    if row.recipe == "paper":
        t.recipe += f"; {_optimizer_steps(res.history)} optimiser steps"
    if row.train:
        t.recipe += "; " + ", ".join(f"`{k}={v!r}`" for k, v in row.train.items())
    if row.start:
        t.recipe = "started as the closed-form linear autoregression of the training windows (`init_linear`), " \
            "the start validated too; " + t.recipe
    t.epochs = t.epochs.strip()
    t.seconds = time.perf_counter() - start
    score = run.validation_score()                 # what the choices read: recorded beside the test scores
    if score is not None:
        t.val, t.val_metric = [score], f"validation {run.monitor}"
    t.val_protocol = {k: [v] for k, v in run.protocol_now().items()}
    ctx.log(f"{t.label:<38} {t.epochs:<44} {t.seconds:7.1f} s")
    return t


def refit(ctx: Context, t: Trained, row: Row, settings: Settings, sets: Dict[str, Any]) -> Trained:
    """The setting ``refit``: a fresh model (the same seed) trained on the
    training and the carved validation windows together, replaying the
    phases kept on validation (:attr:`Trained.plan`: each phase's best epoch
    count and rate, the rollout phase only where it was kept), without
    validation; closed-form rows are fitted on them again. The validation
    scores stay those of the selection run (the refit model has seen the
    validation windows)."""
    if ctx.bench.refit_on is None:
        raise ValueError(f"refit: {ctx.dataset}'s validation part is not carved from its training windows, so "
                         f"there is nothing to add back (refit applies to benches with Bench.refit_on)")
    if row.recipe == "none" or (row.recipe != "closed_form" and not getattr(t.model, "trainable", True)):
        return t                            # (a closed-form fit without parameters, e.g. SeasonalMean, is refit)
    data = ctx.bench.refit_on(sets, row.train_on)
    start = time.perf_counter()
    fresh = build_row(ctx, row, settings, data)
    if row.recipe == "closed_form":
        fresh.model.fit_closed_form(loader(data, ctx.bench.eval_batch))
        t.recipe += "; refit on the training and validation windows together"
    elif not t.plan:
        raise ValueError(f"refit: {row.label} was trained by a recipe that refit cannot replay ({row.recipe!r})")
    else:
        run = _Fitter(ctx, fresh.model, data, None, int(ctx.cfg["batch"]), row.recipe == "class", refit=True)
        run.base.update(row.train)
        _start(ctx, fresh.model, row, data, None)
        for objective, epochs, lr, noise in t.plan:
            run(objective, epochs, lr, noise)
        phases = " + ".join(f"{'tf' if o == 'teacher_forcing' else o} {e}" for o, e, _, _ in t.plan)
        t.epochs += f"; refit on train + val: {phases}"
        t.recipe += ("; then a fresh model (same seed) trained on the training and validation windows together "
                     "for the epochs of each phase kept on validation (`refit`)")
    t.model = fresh.model
    t.seconds += time.perf_counter() - start
    ctx.log(f"{t.label:<38} refit on {len(data)} windows {time.perf_counter() - start:7.1f} s")
    return t


# ================================================================ scoring
def collect_on(ctx: Context, model: nn.Module, dataset, row: Row) -> Dict[str, torch.Tensor]:
    """The model's forecasts over ``dataset`` (``"samples"`` too for rows that sample)."""
    K = int(ctx.cfg["samples"]) if row.samples else None
    batch = 8 if row.samples else ctx.bench.eval_batch
    torch.manual_seed(ctx.run_seed)
    out = collect(model.to(ctx.device), loader(dataset, batch), device=ctx.device, num_samples=K)
    if K is not None:  # the window of every node, for scores per window (best-of-K per scene)
        sizes = torch.tensor([dataset[i].num_nodes for i in range(len(dataset))])
        out["batch"] = torch.arange(len(sizes)).repeat_interleave(sizes)
    return out


def at_step(collected: Dict[str, torch.Tensor], step: int) -> Dict[str, torch.Tensor]:
    """The forecasts of step ``step`` (1-based) alone, as a one-step horizon."""
    return {k: (v[:, step - 1:step] if k in ("pred", "y", "y_mask") else v) for k, v in collected.items()
            if k != "samples"}


def up_to_step(collected: Dict[str, torch.Tensor], step: int) -> Dict[str, torch.Tensor]:
    """Steps ``1..step`` scored together: each (node, step) one row of a one-step horizon."""
    out = {}
    for k in ("pred", "y", "y_mask"):
        if k in collected:
            v = collected[k][:, :step]
            out[k] = v.reshape(v.size(0) * v.size(1), 1, *v.shape[2:])         # [N*step, 1, ...]
    return out


def run_row(ctx: Context, row: Row, res: Results, tag: str, sets: Dict[str, Any], settings: Settings,
            seed: Optional[int]) -> None:
    """Build, train (or fit) and score one row with one seed (:obj:`None`: the
    rows run once, with the first seed)."""
    ctx.run_seed = ctx.seeds[0] if seed is None else seed
    data, test = sets[row.train_on], sets[row.test_on]
    t = build_row(ctx, row, settings, data)
    t = train(ctx, t, row, data, sets.get(row.val_on))
    if ctx.cfg.get("refit"):
        t = refit(ctx, t, row, settings, sets)
    t.model.to(ctx.device).eval()
    for name, idx in ctx.bench.subsets(test).items():
        part = test if idx is None else test[idx]
        ev = Eval(ctx, row, t.model, sets, part, collect_on(ctx, t.model, part, row))
        scores = ctx.bench.score(ev) if ctx.bench.score else part.score(ev.collected)
        res.runs.setdefault(row.label, {}).setdefault(seed, {}).setdefault(tag, {})[name] = scores
    _merge_training(ctx, res, t, tag, seed)


def score_group(ctx: Context, bench: Bench, res: Results, tag: str, sets: Dict[str, Any],
                settings: Settings) -> None:
    """Train and score every row of ``bench`` on one group's splits, each
    trained row once per seed, the others once."""
    only = getattr(ctx.args, "rows", None)
    if ctx.cfg.get("refit"):                # before anything trains: every row must be one refit can replay
        cannot = [r.json_key for r in bench.rows(settings) if r.recipe == "paper" and (not only or r.json_key in only)]
        if cannot:
            raise ValueError(f"refit: the rows {cannot} train by the official recipe, whose schedule counts "
                             f"iterations, which refit does not replay; leave them out (--rows)")
    for row in bench.rows(settings):
        if only and row.json_key not in only:
            continue
        missing = missing_keys(row, sets[row.train_on])
        if missing:
            ctx.log(f"{row.label:<38} skipped: the windows have no {', '.join(missing)}")
            continue
        res.rows[row.label] = row
        for seed in (ctx.seeds if is_trained(row) else [None]):
            run_row(ctx, row, res, tag, sets, settings, seed)
    ctx.run_seed = ctx.seeds[0]


def is_trained(row: Row) -> bool:
    """Whether ``row`` trains once per seed (else it is untrained or closed form: run once)."""
    return not row.once and (row.factory is None or getattr(row.factory, "trainable", True))


def _merge_training(ctx: Context, res: Results, t: Trained, tag: str, seed: Optional[int]) -> None:
    """One training row per model: epochs listed and seconds summed over seeds and groups."""
    prefix = " ".join(p for p in (f"seed {seed}" if seed is not None and len(ctx.seeds) > 1 else "", tag) if p)
    if prefix and t.epochs != "-":
        t.epochs = f"{prefix}: {t.epochs}"
    t.seeds = [seed]
    prev = res.trained.get(t.label)
    if prev is None:
        res.trained[t.label] = t
        return
    prev.seconds += t.seconds
    prev.val += t.val
    for key, values in t.val_protocol.items():
        prev.val_protocol.setdefault(key, []).extend(values)
    if seed not in prev.seeds:
        prev.seeds.append(seed)
    if t.epochs != "-":
        prev.epochs += f"; {t.epochs}"


def run_bench(ctx: Context) -> Results:
    bench, res = ctx.bench, Results()
    for tag, group in bench.groups(ctx):
        ctx.tag = f" {tag}" if tag else ""
        sets = open_splits(ctx, bench.splits(ctx.cfg, group))
        sizes = ", ".join(f"{k} {len(v)}" for k, v in sets.items() if not k.endswith("_full"))
        ctx.log(f"windows: {sizes}")
        res.sets[tag] = sets
        train_set = sets["train_full"]
        settings = dict(ctx.cfg, obs=int(train_set.obs), horizon=int(sets["test"].horizon),
                        num_nodes=getattr(train_set, "num_graph_nodes", None),
                        period=getattr(train_set, "steps_per_day", None),
                        velocity_scale=getattr(train_set, "velocity_scale", None))
        score_group(ctx, bench, res, tag, sets, settings)
    ctx.tag = ""
    return res


# ================================================================ tables
def aggregate_runs(ctx: Context, res: Results) -> Dict[str, Dict[str, Stat]]:
    """``{row label: {metric key: Stat}}``: ``Bench.metrics`` of each seed,
    mean and std over the seeds (the rows run once: their one run)."""
    per_label: Dict[str, List[Scores]] = {}
    for i, seed in enumerate(ctx.seeds):
        for label, scores in ctx.bench.metrics(ctx, res.view(seed, with_once=i == 0)).items():
            per_label.setdefault(label, []).append(scores)
    return {label: aggregate(runs) for label, runs in per_label.items()}


def training_table(trained: Sequence[Trained]) -> str:
    rows = [[t.label, f"`{t.build}`", t.recipe, t.epochs,
             f"{t.seconds / max(1, len(t.seeds)):.1f} s" if t.seconds else "-", f"{t.params:,}"] for t in trained]
    return markdown_table(["model", "built as", "training", "epochs", "train time (per seed)", "parameters"], rows)


def validation_table(trained: Sequence[Trained]) -> Optional[str]:
    """The validation score of every trained row (the kept model of each
    seed), or :obj:`None` where no row had a validation split."""
    rows = []
    for t in trained:
        if t.val:
            spread = f" ± {statistics.stdev(t.val):.4g}" if len(t.val) > 1 else ""
            rows.append([t.label, t.val_metric, f"{statistics.mean(t.val):.4g}{spread}",
                         ", ".join(f"{v:.4g}" for v in t.val)])
    return markdown_table(["model", "metric", "mean", "per run (each seed of each group)"], rows) if rows else None


def _mean_std(values: Sequence[float]) -> Dict[str, Any]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else None,
            "runs": len(values)}


def seeds_text(ctx: Context) -> str:
    seeds = ", ".join(str(s) for s in ctx.seeds)
    spread = (" as mean ± standard deviation over the seeds (sample std, n - 1)" if len(ctx.seeds) > 1
              else " (one seed: no standard deviation)")
    return (f"Seeds: {seeds} ({len(ctx.seeds)}): every trained row is trained and scored once per seed (Python, "
            f"NumPy and PyTorch generators and `TrainConfig.seed`), and its scores are shown{spread}; "
            f"untrained and closed-form baselines are deterministic and run once. Data seed {ctx.seed}: "
            f"it draws the simulated data, the cross-validation folds and the carved validation parts, where "
            f"the dataset has them.")


def report(ctx: Context, res: Results, seconds: float) -> Tuple[str, Dict[str, Any]]:
    """The Markdown report and its JSON results (the same numbers)."""
    bench = ctx.bench
    agg = aggregate_runs(ctx, res)
    secs = {label: t.seconds / max(1, len(t.seeds)) for label, t in res.trained.items() if label in agg}
    result = results_json(ctx.dataset, ctx.mode, ctx.seeds, agg, {lb: r.json_key for lb, r in res.rows.items()},
                          bench.lower_is_better, secs)
    # Rows run once (untrained, closed form): accuracy_join.py --merge-seeds counts them once.
    result["deterministic"] = [r.json_key for label, r in res.rows.items() if label in agg and not is_trained(r)]
    # The validation score each trained row was selected on (the evidence behind every choice).
    result["validation"] = {res.rows[label].json_key: {"metric": t.val_metric, **_mean_std(t.val)}
                            for label, t in res.trained.items() if t.val and label in res.rows}
    for label, t in res.trained.items():       # the protocol's validation scores, selected on or not
        if t.val_protocol and label in res.rows and res.rows[label].json_key in result["validation"]:
            result["validation"][res.rows[label].json_key]["protocol"] = {
                k: _mean_std(v) for k, v in t.val_protocol.items()}
    # What a run was made with, beyond its rows and threads: accuracy_join.py refuses to join runs that differ.
    result["settings"] = json.loads(json.dumps(
        {"settings": ctx.cfg, "data_seed": ctx.seed, "device": ctx.device.type,
         "ablation": bool(getattr(ctx.args, "ablation", False)), "scenes": getattr(ctx.args, "scenes", None),
         "folds": getattr(ctx.args, "folds", None), "srnn_pyg": srnn_pyg.__version__}, default=repr))
    sections = bench.tables(ctx, res, agg)
    cfg = shown_settings(ctx.cfg)
    text = [f"# Accuracy: {bench.title}", "",
            f"Mode: **{MODE_TEXT[ctx.mode]}**.", "",
            f"Command: `{command()}`", "",
            "Machine and versions:", "", machine(ctx.device.type), "",
            seeds_text(ctx), "",
            f"Settings of this mode: `{describe(cfg)}`; trained rows stop early after `patience` epochs without "
            f"a better validation score and keep their best epoch (`restore_best`); every choice is made on "
            f"validation data, never on the test; rollout fine-tuning: the last {ctx.cfg['rollout_share']:.0%} "
            f"of the epochs at {ctx.cfg['rollout_lr_factor']:.2g}x the learning rate. Whole run: {seconds:.0f} s. "
            f"Machine-readable results (means, std, runs, training time per model) beside this file: "
            f"`{os.path.basename(json_name(ctx))}`.", "",
            "## Protocol", ""] + [f"- {p}" for p in bench.protocol(ctx, res)] + [""]
    for block in sections[:2]:
        text += [block, ""]
    text += [f"**Where we lose** (computed from the means of every metric of the JSON results, shown above or "
             f"not: where {bench.subject}, `srnn`, is not the "
             "single best model, and where its ablation without edgeRNNs is at least as good; values are "
             "`srnn`'s vs the other's):", ""]
    text += lose_lines(result, bench.digits) + [""]
    for block in sections[2:]:
        text += [block, ""]
    text += _training_section(ctx, res)
    blocks = bench.published(ctx) if callable(bench.published) else bench.published
    if blocks:                              # none where the table does not score the protocol's test data
        text += ["## Published figures (not re-run here)", ""] + [b + "\n" for b in blocks]
    return "\n".join(text).rstrip() + "\n", result


def shown_settings(cfg: Settings) -> Settings:
    """The settings the report's settings line lists: the mode's own, ``patience``, and a shared setting
    (:data:`COMMON`) only where it differs from its shared value (e.g. ``refit``, ``rollout_share`` set by
    ``--set``); the rollout fine-tuning text reads ``rollout_share`` and ``rollout_lr_factor`` from ``cfg``."""
    return {k: v for k, v in cfg.items() if k not in COMMON or k == "patience" or v != COMMON[k]}


def part_tag(args: Any) -> str:
    """The name of a partial run (``--rows``, ``--first-seed``), so that parts run side by side, to be
    joined by ``accuracy_join.py``, never replace each other or the whole table: ``_rows_a_b`` (up to
    three rows; else the first, the count and a digest of the list) and ``_from_seed<k>``."""
    tag = ""
    rows = list(getattr(args, "rows", None) or ())
    if rows:
        names = rows if len(rows) <= 3 else \
            [rows[0], f"and_{len(rows) - 1}_more", hashlib.sha1(" ".join(rows).encode()).hexdigest()[:6]]
        tag += "_rows_" + "_".join(names)
    first = getattr(args, "first_seed", None)
    if first not in (None, getattr(args, "seed", 0)):
        tag += f"_from_seed{first}"
    return tag


def result_path(out_dir: str, dataset: str, mode: str, ext: str = "md", prefix: str = "accuracy",
                cfg: Optional[Settings] = None, part: str = "") -> str:
    """``<prefix>_<dataset>.<ext>`` in the default mode, ``<prefix>_<dataset>_<mode>.<ext>`` otherwise;
    ``_rehearsal`` after it for a rehearsal (``val_as_test`` in ``cfg``), whose table scores the validation
    part and so must never replace the one that scores the test; ``part`` (:func:`part_tag`) last."""
    tag = "_rehearsal" if (cfg or {}).get("val_as_test") else ""
    return os.path.join(out_dir, f"{prefix}_{dataset}{SUFFIX[mode]}{tag}{part}.{ext}")


def json_name(ctx: Context) -> str:
    return result_path("", ctx.dataset, ctx.mode, "json", "ablation" if getattr(ctx.args, "ablation", False)
                       else "accuracy", ctx.cfg, part_tag(ctx.args))


def _training_section(ctx: Context, res: Results) -> List[str]:
    text = ["## Training", "",
            "Every trained model uses the library's trainer (`srnn_pyg.engine.fit`, gradient clipping 1.0, "
            "Adam; a Gaussian head is trained by its negative log-likelihood); 'best' is the epoch kept by "
            "`restore_best` on the validation score (rollout MSE; the rollout MAE or ADE where the protocol's "
            "training loss is the L1 or Euclidean one; cross-entropy for classification; the setting `select`, "
            "where a mode has it, names another: a pooled rollout error or a key of the dataset's own protocol "
            "score on the validation split). "
            "Closed-form baselines are fitted by `fit_closed_form` on the training windows.", ""]
    val = validation_table(list(res.trained.values()))
    if val is not None:
        text += ["Validation scores of the kept models (what every choice between rows or settings reads; "
                 "mean ± sample standard deviation, n - 1, over the runs, each seed of each group; "
                 "lower is better; no test data):", "", val, ""]
    protocol = protocol_table({t.label: {k: _mean_std(v) for k, v in t.val_protocol.items()}
                               for t in res.trained.values()})
    if protocol is not None:
        select = ctx.cfg.get("select")
        how = (f"the rows were selected on `{select}`" if select is not None and select not in POOLED else
               "recorded, not selected on: `--set select=KEY` selects on one")
        text += [f"The dataset's own protocol on the validation split, for the kept models ({how}; mean ± sample "
                 f"std over the runs, each seed of each group; lower is better; no test data):", "", protocol, ""]
    text += [training_table(list(res.trained.values())), ""]
    notes = ctx.bench.notes(ctx)
    return text + [f"- {n}" for n in notes] + ([""] if notes else [])
