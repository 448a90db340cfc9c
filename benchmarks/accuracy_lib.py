"""The generic machinery of ``accuracy.py``: a benchmark is data (:class:`Bench`,
one per dataset, a list of :class:`Row` models); this module opens its splits
through the dataset registry, trains every row with :func:`srnn_pyg.engine.fit`,
collects the forecasts (:func:`srnn_pyg.engine.collect`), scores them with the
dataset's own protocol (``dataset.score``) and renders the Markdown report."""
from __future__ import annotations

import copy
import math
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch_geometric.loader import DataLoader

from common import command, machine, markdown_table

from srnn_pyg import datasets as registry
from srnn_pyg import models
from srnn_pyg.engine import collect, evaluate, fit

MODE_TEXT = {
    "smoke": "smoke (a seconds-long pipeline check for the test suite; the numbers mean nothing)",
    "quick": "quick (CI-sized: small subsets and few epochs; a check that every row runs, not a "
             "measurement to compare with published figures)",
    "default": "default (what a laptop CPU does in about 5-20 minutes per dataset)",
    "full": "full (paper-scale sizes and epochs, meant for a GPU)",
}
#: settings shared by every dataset and mode
COMMON = dict(patience=4, rollout_share=1 / 3, rollout_lr_factor=1 / 3, select_windows=256)
Settings = Dict[str, Any]
Scores = Dict[str, float]


# ==================================================================== data
@dataclass
class Row:
    """One model of a benchmark table.

    ``name`` is a registry model name (``kwargs(settings)`` its constructor
    keywords) or, for a baseline outside the registry, ``factory()`` builds
    it. ``recipe``: ``"tf"`` (teacher forcing; a Gaussian head is trained by
    its NLL), ``"rollout"``, ``"tf+rollout"``, ``"class"`` (cross-entropy),
    ``"none"`` (not trained). ``train_on`` names the opened split it trains
    on and ``test_on`` the one it is scored on; ``epochs`` a settings key for its epoch count; ``samples``: also
    score ``settings["samples"]`` sampled forecasts."""

    label: str
    name: str = ""
    kwargs: Callable[[Settings], Dict[str, Any]] = lambda s: {}
    recipe: str = "tf"
    noise: Any = None
    train_on: str = "train"
    test_on: str = "test"
    epochs: str = "epochs"
    samples: bool = False
    factory: Optional[Callable[[], nn.Module]] = None
    built_as: Optional[str] = None


@dataclass
class Bench:
    """One dataset's benchmark: settings per mode, the splits to open, the
    models and how the scores are laid out.

    ``splits(settings, group)``: ``{split name: open options}``; a name other
    than ``train``/``val``/``test`` is opened as the split of its ``split``
    option (e.g. a second training split with another stride), and the
    options ``every``/``limit`` keep every k-th window (at most ``limit``).
    ``groups(ctx)``: independent runs (folds, test scenes) as ``(tag,
    group)``. ``subsets(test)``: named window subsets scored apart (actions).
    ``score(ev)``: the scores of one model on one test subset (default
    ``test.score(collected)``). ``layout(ctx, res)``: the result sections and
    the ``{model: {column: value}}`` the where-we-lose lines compare."""

    dataset: str
    title: str
    modes: Dict[str, Settings]
    splits: Callable[[Settings, Any], Dict[str, Dict[str, Any]]]
    rows: Callable[[Settings], List[Row]]
    layout: Callable[["Context", "Results"], Tuple[List[str], Dict[str, Scores]]]
    protocol: Callable[["Context", "Results"], List[str]]
    published: Any = ()                     # text blocks, or ctx -> text blocks
    lose: Callable[["Context", "Results", Dict[str, Scores]], List[str]] = lambda ctx, res, s: []
    notes: Callable[["Context"], List[str]] = lambda ctx: []
    groups: Callable[["Context"], List[Tuple[str, Any]]] = lambda ctx: [("", None)]
    subsets: Callable[[Any], Dict[str, Optional[List[int]]]] = lambda test: {"": None}
    score: Optional[Callable[["Eval"], Scores]] = None
    eval_batch: int = 64
    subject: str = "the improved S-RNN"
    training_note: str = ""


@dataclass
class Trained:
    """One model of a table: how it was trained and how long it took."""

    label: str
    model: nn.Module
    build: str
    recipe: str = "not trained (no parameters)"
    epochs: str = "-"
    seconds: float = 0.0

    @property
    def params(self) -> int:
        return sum(p.numel() for p in self.model.parameters()
                   if not isinstance(p, nn.parameter.UninitializedParameter))


@dataclass
class Results:
    """Everything a run produced: ``scores[label][group][subset]``, the
    training rows (one per label, merged over groups) and the opened splits
    of each group (for the protocol text)."""

    scores: Dict[str, Dict[str, Dict[str, Scores]]] = field(default_factory=dict)
    trained: Dict[str, Trained] = field(default_factory=dict)
    sets: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def first_sets(self) -> Dict[str, Any]:
        return next(iter(self.sets.values()))

    def table(self, group: str = "", subset: str = "") -> Dict[str, Scores]:
        return {label: per[group][subset] for label, per in self.scores.items()}


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


class Context:
    """Settings shared by the runs of one command."""

    def __init__(self, args, bench: Bench):
        self.args, self.bench, self.dataset, self.mode = args, bench, bench.dataset, args.mode
        cfg = dict(COMMON)
        cfg.update(bench.modes[args.mode])
        if args.epochs is not None:
            cfg["epochs"] = args.epochs
            if "paper_epochs" in cfg:
                cfg["paper_epochs"] = args.epochs
        self.cfg = cfg
        self.seed = args.seed
        self.device = torch.device(args.device)
        self.data_root = args.data_root
        self.tag = ""

    def log(self, text: str) -> None:
        print(f"[{self.dataset}{self.tag}] {text}", flush=True)


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
    return out


def channels(dataset) -> Tuple[int, int]:
    """Input features and outputs (features, or classes) of a split's windows."""
    sample = dataset[0]
    if type(dataset).task == "classification":
        return int(sample.x.size(-1)), int(dataset.num_classes)
    return int(sample.x.size(-1)), int(sample.y.size(-1))


def build_row(ctx: Context, row: Row, settings: Settings, dataset) -> Trained:
    torch.manual_seed(ctx.seed)
    if row.factory is not None:
        return Trained(row.label, row.factory(), row.built_as or row.label)
    kw = row.kwargs(settings)
    in_ch, out_ch = channels(dataset)
    model = models.build(row.name, dataset.schema, in_ch, out_ch, **kw)
    built = row.built_as or (f"{row.name}: {describe(kw)}" if kw else row.name)
    return Trained(row.label, model, built)


# ================================================================ training
def _noise_reached(history: List[Dict[str, Any]]) -> float:
    return max([float(r.get("noise_std") or 0.0) for r in history] or [0.0])


def _epochs_text(result, phase: str, validated: bool) -> str:
    shown = validated and result.best_epoch is not None and result.epochs_run > 1
    best = f", best {result.best_epoch}" if shown else ""
    stop = ", stopped early" if result.stopped_early else ""
    return f"{phase} {result.epochs_run}{best}{stop}"


def _rollout_mse(model: nn.Module, data_loader, device) -> float:
    return float(evaluate(model, data_loader, metrics=["mse"], device=device)["mse"])


class _Fitter:
    """``fit`` with one run's settings: early stopping and ``restore_best``
    on validation where there is a validation split."""

    def __init__(self, ctx: Context, model: nn.Module, train_set, val_set, batch: int, classification: bool):
        self.model, self.device = model, ctx.device
        self.train_loader = loader(train_set, batch, shuffle=True)
        self.val_loader = loader(val_set, 2 * batch) if val_set is not None else None
        self.base = dict(seed=ctx.seed, device=ctx.device, progress=False, grad_clip=1.0)
        if self.val_loader is not None:
            self.base.update(early_stopping=int(ctx.cfg["patience"]), restore_best=True)
            if not classification:
                self.base.update(metrics=["mse"], monitor="val_mse")

    def __call__(self, objective: str, epochs: int, lr: float, noise: Any = None):
        if self.val_loader is None:  # nothing to restore: no checkpoints written
            return fit(self.model, self.train_loader, None, epochs=epochs, objective=objective, lr=lr,
                       noise=noise, **self.base)
        with tempfile.TemporaryDirectory(prefix="srnn-acc-") as out:   # best.pt for restore_best
            return fit(self.model, self.train_loader, self.val_loader, epochs=epochs, objective=objective,
                       lr=lr, noise=noise, out_dir=out, **self.base)


_PHASES = {"tf": "teacher forcing", "class": "cross-entropy", "rollout": "rollout",
           "nll": "bivariate-Gaussian NLL through the head, teacher forcing"}


def _tf_then_rollout(ctx: Context, t: Trained, run: _Fitter, train_set, E: int, lr: float, noise: Any):
    """Teacher forcing, then rollout fine-tuning at a lower learning rate,
    kept only if it lowers the rollout MSE on the selection windows (the
    validation split, or the first training windows where there is none)."""
    cfg, validated = ctx.cfg, run.val_loader is not None
    n_ro = max(1, int(round(E * cfg["rollout_share"]))) if E >= 2 else 0
    res = run("teacher_forcing", E - n_ro, lr, noise)
    t.epochs = _epochs_text(res, "tf", validated)
    t.recipe = "teacher forcing, then rollout fine-tuning" if n_ro else \
        "teacher forcing (one epoch: no rollout fine-tuning)"
    if n_ro:
        spread = max(1, len(train_set) // cfg["select_windows"])                # windows of every part
        select = run.val_loader or loader(every(train_set, spread, cfg["select_windows"]),
                                          run.train_loader.batch_size * 2)
        before = _rollout_mse(t.model, select, ctx.device)
        state = copy.deepcopy(t.model.state_dict())
        res2 = run("rollout", n_ro, lr * cfg["rollout_lr_factor"])
        kept = _rollout_mse(t.model, select, ctx.device) < before
        if not kept:
            t.model.load_state_dict(state)
        t.epochs += " + " + _epochs_text(res2, "rollout", validated) + (" (kept)" if kept else " (dropped)")
        t.recipe += " (kept only if it lowers the selection rollout MSE)"
    return res


def train(ctx: Context, t: Trained, row: Row, train_set, val_set) -> Trained:
    """Train ``t.model`` by ``row.recipe`` with :func:`srnn_pyg.engine.fit`."""
    if row.recipe == "none" or not getattr(t.model, "trainable", True):
        ctx.log(f"{t.label:<38} not trained")
        return t
    cfg = ctx.cfg
    E, lr = int(cfg[row.epochs]), float(cfg["lr"])
    run = _Fitter(ctx, t.model, train_set, val_set, int(cfg["batch"]), row.recipe == "class")
    start = time.perf_counter()
    if row.recipe == "tf+rollout":
        res = _tf_then_rollout(ctx, t, run, train_set, E, lr, row.noise)
    elif row.recipe in _PHASES:
        res = run("rollout" if row.recipe == "rollout" else "teacher_forcing", E, lr, row.noise)
        t.recipe = _PHASES[row.recipe]
        t.epochs = _epochs_text(res, "", run.val_loader is not None)
    else:
        raise ValueError(f"unknown recipe {row.recipe!r}")
    if row.noise is not None:
        t.recipe += f"; paper noise curriculum, std reached {_noise_reached(res.history):g}"
    t.epochs = t.epochs.strip()
    t.seconds = time.perf_counter() - start
    ctx.log(f"{t.label:<38} {t.epochs:<44} {t.seconds:7.1f} s")
    return t


# ================================================================ scoring
def collect_on(ctx: Context, model: nn.Module, dataset, row: Row) -> Dict[str, torch.Tensor]:
    """The model's forecasts over ``dataset`` (``"samples"`` too for rows that sample)."""
    K = int(ctx.cfg["samples"]) if row.samples else None
    batch = 8 if row.samples else ctx.bench.eval_batch
    torch.manual_seed(ctx.seed)
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


def score_group(ctx: Context, bench: Bench, res: Results, tag: str, sets: Dict[str, Any],
                settings: Settings) -> None:
    """Train and score every row of ``bench`` on one group's splits."""
    for row in bench.rows(settings):
        data, test = sets[row.train_on], sets[row.test_on]
        t = build_row(ctx, row, settings, data)
        t = train(ctx, t, row, data, sets.get("val"))
        t.model.to(ctx.device).eval()
        for name, idx in bench.subsets(test).items():
            part = test if idx is None else test[idx]
            ev = Eval(ctx, row, t.model, sets, part, collect_on(ctx, t.model, part, row))
            scores = bench.score(ev) if bench.score else part.score(ev.collected)
            res.scores.setdefault(row.label, {}).setdefault(tag, {})[name] = scores
        _merge_training(res, t, tag)


def _merge_training(res: Results, t: Trained, tag: str) -> None:
    """One training row per model: epochs listed and seconds summed over groups."""
    if tag and t.epochs != "-":
        t.epochs = f"{tag}: {t.epochs}"
    prev = res.trained.get(t.label)
    if prev is None:
        res.trained[t.label] = t
        return
    prev.seconds += t.seconds
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
                        num_nodes=getattr(train_set, "num_graph_nodes", None))
        score_group(ctx, bench, res, tag, sets, settings)
    ctx.tag = ""
    return res


# ================================================================ tables
def score_table(scores: Dict[str, Scores], digits: int = 3, suffix: Callable[[str], str] = lambda c: "",
                first: str = "model") -> str:
    """``{row: {column: value}}`` as a Markdown table, columns from the score keys."""
    cols = list(next(iter(scores.values())))
    rows = [[label] + [fmt(s.get(c), digits) + suffix(c) for c in cols] for label, s in scores.items()]
    return markdown_table([first] + cols, rows)


def where_we_lose(subject: str, scores: Dict[str, Scores], refs: Sequence[str],
                  higher_better: Callable[[str], bool] = lambda k: False, digits: int = 3) -> List[str]:
    """One line per reference model: the columns where ``subject`` does not
    beat it, with both values; computed from ``scores[model][column]``."""
    mine = scores.get(subject)
    if mine is None:
        return [f"- {subject} was not run."]
    out = []
    for ref in refs:
        theirs = scores.get(ref)
        if theirs is None:
            continue
        lost = []
        for key, v in mine.items():
            w = theirs.get(key)
            if w is None or v is None or math.isnan(v) or math.isnan(w):
                continue
            if (v <= w) if higher_better(key) else (v >= w):
                lost.append(f"{key} ({fmt(v, digits)} vs {fmt(w, digits)})")
        out.append(f"- vs {ref}: " + ("; ".join(lost) if lost else "none (better everywhere)"))
    return out


def training_table(trained: Sequence[Trained]) -> str:
    rows = [[t.label, f"`{t.build}`", t.recipe, t.epochs, f"{t.seconds:.1f} s" if t.seconds else "-",
             f"{t.params:,}"] for t in trained]
    return markdown_table(["model", "built as", "training", "epochs", "train time", "parameters"], rows)


def render(ctx: Context, res: Results, seconds: float) -> str:
    bench = ctx.bench
    sections, scores = bench.layout(ctx, res)
    cfg = {k: v for k, v in ctx.cfg.items() if k not in COMMON}
    text = [f"# Accuracy: {bench.title}", "",
            f"Mode: **{MODE_TEXT[ctx.mode]}**.", "",
            f"Command: `{command()}`", "",
            "Machine and versions:", "", machine(ctx.device.type), "",
            f"Seed {ctx.seed} (data order, initial weights, simulated data); settings of this mode: "
            f"`{describe(cfg)}`; early-stopping patience {COMMON['patience']} epochs on validation where "
            f"there is a validation split; rollout fine-tuning: the last {COMMON['rollout_share']:.0%} of the "
            f"epochs at {COMMON['rollout_lr_factor']:.2g}x the learning rate. Whole run: {seconds:.0f} s.", "",
            "## Protocol", ""] + [f"- {p}" for p in bench.protocol(ctx, res)] + [""]
    for block in sections[:2]:
        text += [block, ""]
    text += [f"**Where we lose** (computed from the table above: where {bench.subject} does not beat the named "
             "model; values are ours vs theirs):", ""]
    text += bench.lose(ctx, res, scores) + [""]
    for block in sections[2:]:
        text += [block, ""]
    text += ["## Training", "",
             "Every trained model uses the library's trainer (`srnn_pyg.engine.fit`, gradient clipping 1.0, "
             "Adam; a Gaussian head is trained by its negative log-likelihood); 'best' is the epoch kept by "
             "`restore_best` on the validation rollout MSE.", "", training_table(list(res.trained.values())), ""]
    notes = bench.notes(ctx)
    text += [f"- {n}" for n in notes] + ([""] if notes else [])
    blocks = bench.published(ctx) if callable(bench.published) else bench.published
    text += ["## Published figures (not re-run here)", ""] + [b + "\n" for b in blocks]
    return "\n".join(text).rstrip() + "\n"
