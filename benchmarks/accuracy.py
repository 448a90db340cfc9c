"""Accuracy of S-RNN against the baselines, one dataset at a time, under each
dataset's literature protocol, with the published figures beside ours.

For every dataset the table has: the S-RNN as in the paper (teacher forcing;
for motion the paper's sizes, ``preset="paper_motion"``, and its input-noise
curriculum), an "improved" S-RNN (``residual=True``, teacher forcing then
rollout fine-tuning, the fine-tuning kept only where it lowers the rollout
error on the selection windows), and the registry's baselines trained on the
same windows. ETH/UCY adds the attention S-RNN, its ``spatial=False``
ablation and a Gaussian-head S-RNN scored best-of-20.

    python benchmarks/accuracy.py --dataset springs --quick      # 1-3 min on a 2-core CPU
    python benchmarks/accuracy.py --dataset cmu_mocap            # default mode: 5-20 min
    python benchmarks/accuracy.py --dataset all --full --device cuda

Real datasets are read from $SRNN_PYG_DATA (or --data-root). Tables go to
``results/accuracy_<dataset>.md`` (``_quick``/``_full`` in those modes; the
folder is --out).
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.loader import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, write_atomic  # noqa: E402

from srnn_pyg import metrics as M  # noqa: E402
from srnn_pyg.models.srnn import PRESETS  # noqa: E402
from srnn_pyg.train import PAPER_NOISE_SCHEDULE, build_model, evaluate, fit  # noqa: E402

DATASETS = ("springs", "cmu_mocap", "los_loop", "chickenpox", "brain4cars", "eth_ucy")
REAL_DATA = {"cmu_mocap": "cmu_mocap", "los_loop": "los_loop", "chickenpox": "pyg_temporal",
             "brain4cars": "brain4cars", "eth_ucy": "eth_ucy"}
MODES = ("smoke", "quick", "default", "full")
SUFFIX = {"smoke": "_smoke", "quick": "_quick", "default": "", "full": "_full"}
MODE_TEXT = {
    "smoke": "smoke (a seconds-long pipeline check for the test suite; the numbers mean nothing)",
    "quick": "quick (CI-sized: small subsets and few epochs; a check that every row runs, not a "
             "measurement to compare with published figures)",
    "default": "default (what a laptop CPU does in about 5-20 minutes per dataset)",
    "full": "full (paper-scale sizes and epochs, meant for a GPU)",
}
PAPER = "S-RNN (paper)"
IMPROVED = "S-RNN (improved)"

# ---------------------------------------------------------------- settings
# Per dataset and mode. epochs: of every trained model (``--epochs`` overrides);
# rollout_share: the part of the improved recipe's epochs spent on rollout
# fine-tuning; patience: early stopping on validation (where there is one).
CONFIG: Dict[str, Dict[str, Dict[str, Any]]] = {
    "springs": {
        "smoke": dict(graphs=16, val_graphs=8, test_graphs=16, epochs=1, hidden=8, batch=16, lr=3e-3),
        "quick": dict(graphs=500, val_graphs=100, test_graphs=200, epochs=8, hidden=32, batch=32, lr=3e-3),
        "default": dict(graphs=1500, val_graphs=200, test_graphs=200, epochs=20, hidden=64, batch=32,
                        lr=3e-3),
        "full": dict(graphs=10000, val_graphs=1000, test_graphs=1000, epochs=100, hidden=128, batch=64,
                     lr=2e-3, patience=10),
    },
    "cmu_mocap": {
        "smoke": dict(stride=200, epochs=1, hidden=8, paper_scale=0.03, paper_epochs=1, batch=16, lr=2e-3,
                      baseline_hidden=8, actions=["walking"]),
        "quick": dict(stride=8, epochs=4, hidden=64, paper_scale=0.25, paper_epochs=3, batch=16, lr=2e-3,
                      baseline_hidden=64),
        "default": dict(stride=4, epochs=10, hidden=128, paper_scale=1.0, paper_epochs=3, paper_stride=8,
                        batch=16, lr=2e-3, baseline_hidden=128),
        "full": dict(stride=1, epochs=40, hidden=256, paper_scale=1.0, paper_epochs=40, batch=32, lr=1e-3,
                     baseline_hidden=None),
    },
    "los_loop": {
        "smoke": dict(stride=200, val_stride=50, test_stride=50, epochs=1, hidden=8, batch=8, lr=3e-3),
        "quick": dict(stride=8, val_stride=6, test_stride=4, epochs=4, hidden=16, batch=8, lr=3e-3),
        "default": dict(stride=3, val_stride=1, test_stride=1, epochs=10, hidden=32, batch=8, lr=3e-3),
        "full": dict(stride=1, val_stride=1, test_stride=1, epochs=100, hidden=64, batch=16, lr=1e-3,
                     patience=10),
    },
    "chickenpox": {
        "smoke": dict(epochs=2, hidden=8, batch=16, lr=1e-2),
        "quick": dict(epochs=30, hidden=16, batch=16, lr=1e-2),
        "default": dict(epochs=40, hidden=32, batch=16, lr=1e-2),
        "full": dict(epochs=40, hidden=64, batch=16, lr=1e-2),
    },
    "brain4cars": {
        "smoke": dict(folds=[1], train_limit=128, epochs=1, hidden=8, batch=64, lr=3e-3, dropout=0.3),
        "quick": dict(folds=[1], epochs=15, hidden=16, batch=64, lr=3e-3, dropout=0.3),
        "default": dict(folds=[1, 2, 3, 4, 5], epochs=30, hidden=32, batch=64, lr=3e-3, dropout=0.3),
        "full": dict(folds=[1, 2, 3, 4, 5], epochs=60, hidden=64, batch=64, lr=3e-3, dropout=0.3),
    },
    "eth_ucy": {
        "smoke": dict(scenes=["hotel"], train_every=200, val_every=200, test_every=100, epochs=1, hidden=8,
                      batch=32, lr=3e-3, samples=4),
        "quick": dict(train_every=16, val_every=16, test_every=8, epochs=4, hidden=16, batch=8,
                      lr=3e-3, samples=20),
        "default": dict(train_every=4, val_every=4, test_every=1, epochs=8, hidden=32, batch=32, lr=3e-3,
                        samples=20),
        "full": dict(train_every=1, val_every=1, test_every=1, epochs=60, hidden=64, batch=64, lr=1e-3,
                     samples=20, patience=8),
    },
}
COMMON = dict(patience=4, rollout_share=1 / 3, rollout_lr_factor=1 / 3, select_windows=256)


# ================================================================= helpers
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
class Report:
    """What a dataset's run produces; :func:`render` turns it into Markdown."""

    title: str
    protocol: List[str]
    trained: List[Trained] = field(default_factory=list)
    sections: List[str] = field(default_factory=list)
    lose: List[str] = field(default_factory=list)
    published: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    subject: str = "the improved S-RNN"


class Context:
    """Settings shared by the runs of one command."""

    def __init__(self, args: argparse.Namespace, dataset: str):
        self.args = args
        self.dataset = dataset
        self.mode = args.mode
        cfg = dict(COMMON)
        cfg.update(CONFIG[dataset][args.mode])
        if args.epochs is not None:
            cfg["epochs"] = args.epochs
            for key in ("paper_epochs",):
                if key in cfg:
                    cfg[key] = args.epochs
        self.cfg = cfg
        self.seed = args.seed
        self.device = torch.device(args.device)
        self.data_root = args.data_root
        self.tag = ""

    def log(self, text: str) -> None:
        print(f"[{self.dataset}{self.tag}] {text}", flush=True)


def loader(dataset, batch_size: int, shuffle: bool = False) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def every(dataset, k: int, limit: Optional[int] = None):
    """Every ``k``-th window of ``dataset`` (a PyG index view, no copy), at most ``limit``."""
    idx = list(range(0, len(dataset), max(1, int(k))))
    if limit is not None:
        idx = idx[:limit]
    return dataset if len(idx) == len(dataset) else dataset[idx]


def seeded_build(ctx: Context, name: str, schema, in_ch: int, out_ch: int, **kwargs) -> nn.Module:
    torch.manual_seed(ctx.seed)
    return build_model(name, schema, in_ch, out_ch, **kwargs)


def describe(kwargs: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in kwargs.items())


def srnn_sizes(hidden: int) -> Dict[str, Any]:
    return dict(edge_hidden=hidden, node_hidden=hidden, edge_mlp=(hidden,), node_mlp=(hidden,))


def paper_sizes(scale: float) -> Dict[str, Any]:
    """The ``paper_motion`` preset (``scale=1``) or every width of it scaled down."""
    if scale >= 1:
        return dict(preset="paper_motion")
    p = PRESETS["paper_motion"]

    def s(v: int) -> int:
        return max(4, int(round(v * scale)))

    return dict(preset="paper_motion", edge_hidden=s(p["edge_hidden"]), node_hidden=s(p["node_hidden"]),
                edge_mlp=tuple(s(v) for v in p["edge_mlp"]), node_mlp=tuple(s(v) for v in p["node_mlp"]))


def _noise_reached(history: List[Dict[str, Any]]) -> float:
    return max([float(r.get("noise_std") or 0.0) for r in history] or [0.0])


def _epochs_text(result, phase: str, validated: bool) -> str:
    shown = validated and result.best_epoch is not None and result.epochs_run > 1
    best = f", best {result.best_epoch}" if shown else ""
    stop = ", stopped early" if result.stopped_early else ""
    return f"{phase} {result.epochs_run}{best}{stop}"


@torch.no_grad()
def rollout_mse(model: nn.Module, data_loader, device) -> float:
    return float(evaluate(model, data_loader, metrics=["mse"], device=device)["mse"])


def train(ctx: Context, t: Trained, train_set, val_set, recipe: str, *, epochs: Optional[int] = None,
          noise: Any = None, batch: Optional[int] = None, lr: Optional[float] = None) -> Trained:
    """Train ``t.model`` with the library's trainer (:func:`srnn_pyg.train.fit`).

    Recipes: ``"tf"`` (teacher forcing), ``"rollout"`` (loss on the forecast),
    ``"tf+rollout"`` (teacher forcing, then rollout fine-tuning at a lower
    learning rate, kept only if it lowers the rollout MSE on the selection
    windows: the validation split, or the first training windows where there
    is none), ``"class"`` (per-step cross-entropy). Early stopping and
    ``restore_best`` on validation where there is a validation split."""
    cfg = ctx.cfg
    model = t.model
    if not getattr(model, "trainable", True):
        ctx.log(f"{t.label:<38} not trained")
        return t
    E = int(epochs or cfg["epochs"])
    bs, lr = int(batch or cfg["batch"]), float(lr or cfg["lr"])
    train_loader = loader(train_set, bs, shuffle=True)
    val_loader = loader(val_set, 2 * bs) if val_set is not None else None
    classification = recipe == "class"
    base = dict(seed=ctx.seed, device=ctx.device, progress=False, grad_clip=1.0)
    if val_loader is not None:
        base.update(early_stopping=int(cfg["patience"]), restore_best=True)
        if not classification:
            base.update(metrics=["mse"], monitor="val_mse")

    def run(objective: str, n: int, rate: float, noise_: Any = None):
        if val_loader is None:  # nothing to restore: no checkpoints written
            return fit(model, train_loader, None, epochs=n, objective=objective, lr=rate, noise=noise_, **base)
        with tempfile.TemporaryDirectory(prefix="srnn-acc-") as out:   # best.pt for restore_best
            return fit(model, train_loader, val_loader, epochs=n, objective=objective, lr=rate, noise=noise_,
                       out_dir=out, **base)

    start = time.perf_counter()
    noise_text = ""
    if recipe in ("tf", "class", "rollout"):
        objective = "rollout" if recipe == "rollout" else "teacher_forcing"
        res = run(objective, E, lr, noise)
        phase = {"tf": "teacher forcing", "class": "cross-entropy", "rollout": "rollout"}[recipe]
        t.recipe = phase
        t.epochs = _epochs_text(res, "", val_loader is not None)
        if noise is not None:
            noise_text = f"; paper noise curriculum, std reached {_noise_reached(res.history):g}"
    elif recipe == "tf+rollout":
        n_ro = max(1, int(round(E * cfg["rollout_share"]))) if E >= 2 else 0
        res1 = run("teacher_forcing", E - n_ro, lr, noise)
        t.epochs = _epochs_text(res1, "tf", val_loader is not None)
        t.recipe = "teacher forcing, then rollout fine-tuning" if n_ro else \
            "teacher forcing (one epoch: no rollout fine-tuning)"
        if n_ro:
            spread = max(1, len(train_set) // cfg["select_windows"])                # windows of every part
            select = val_loader or loader(every(train_set, spread, cfg["select_windows"]), 2 * bs)
            before = rollout_mse(model, select, ctx.device)
            state = copy.deepcopy(model.state_dict())
            res2 = run("rollout", n_ro, lr * cfg["rollout_lr_factor"])
            after = rollout_mse(model, select, ctx.device)
            kept = after < before
            if not kept:
                model.load_state_dict(state)
            t.epochs += " + " + _epochs_text(res2, "rollout", val_loader is not None) + \
                (" (kept)" if kept else " (dropped)")
            t.recipe += " (kept only if it lowers the selection rollout MSE)"
        if noise is not None:
            noise_text = f"; paper noise curriculum, std reached {_noise_reached(res1.history):g}"
    else:
        raise ValueError(f"unknown recipe {recipe!r}")
    t.recipe += noise_text
    t.epochs = t.epochs.strip()
    t.seconds = time.perf_counter() - start
    ctx.log(f"{t.label:<38} {t.epochs:<44} {t.seconds:7.1f} s")
    return t


def training_table(trained: Sequence[Trained]) -> str:
    rows = [[t.label, f"`{t.build}`", t.recipe, t.epochs, f"{t.seconds:.1f} s" if t.seconds else "-",
             f"{t.params:,}"] for t in trained]
    return markdown_table(["model", "built as", "training", "epochs", "train time", "parameters"], rows)


def fmt(v: float, digits: int = 3) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def where_we_lose(subject: str, scores: Dict[str, Dict[str, float]], refs: Sequence[str],
                  higher_better: Callable[[str], bool] = lambda k: False, digits: int = 3) -> List[str]:
    """One line per reference model: the metrics (columns) where ``subject``
    does not beat it, with both values; computed from ``scores[model][column]``."""
    out = []
    mine = scores.get(subject)
    if mine is None:
        return [f"- {subject} was not run."]
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


def untrained(label: str, model: nn.Module, build: str) -> Trained:
    return Trained(label, model, build)


@torch.no_grad()
def forecasts(models: Sequence[Trained], data_loader, horizon: int, device) -> Tuple[Dict[str, Tensor], Tensor]:
    """Every model's forecast over a loader, concatenated: ``{label: [N, H, F]}`` and ``y``."""
    preds: Dict[str, List[Tensor]] = {t.label: [] for t in models}
    ys = []
    for t in models:
        t.model.to(device).eval()
    for batch in data_loader:
        batch = batch.to(device)
        ys.append(batch.y[:, :horizon].cpu())
        for t in models:
            preds[t.label].append(t.model.forecast(batch, horizon).cpu())
    return {k: torch.cat(v) for k, v in preds.items()}, torch.cat(ys)


# ================================================================== springs
def run_springs(ctx: Context) -> Report:
    from srnn_pyg.datasets import Springs

    cfg, h = ctx.cfg, ctx.cfg["hidden"]
    train_set = Springs(num_graphs=cfg["graphs"], split="train", seed=ctx.seed)
    val_set = Springs(num_graphs=cfg["val_graphs"], split="val", seed=ctx.seed, stats=train_set.stats)
    test_set = Springs(num_graphs=cfg["test_graphs"], split="test", seed=ctx.seed, stats=train_set.stats)
    schema, H, obs = train_set.schema, test_set.horizon, test_set.obs
    ctx.log(f"train {len(train_set)}, val {len(val_set)}, test {len(test_set)} systems")

    specs = [
        (PAPER, "srnn", srnn_sizes(h), "tf"),
        (IMPROVED, "srnn", dict(srnn_sizes(h), residual=True), "tf+rollout"),
        ("NodeLSTM", "node_lstm", dict(hidden=h, residual=True), "tf+rollout"),
        ("GConvGRU", "gconv_gru", dict(hidden=h), "tf+rollout"),
        ("STGCN", "stgcn", dict(obs_len=obs, horizon=H, hidden=h), "rollout"),
    ]
    trained = []
    for label, name, kw, recipe in specs:
        t = Trained(label, seeded_build(ctx, name, schema, 4, 4, **kw), f"{name}: {describe(kw)}")
        trained.append(train(ctx, t, train_set, val_set, recipe))
    trained += [untrained("ConstantVelocity", seeded_build(ctx, "constant_velocity", schema, 4, 4,
                                                           position_channels=(0, 1)),
                          "constant_velocity: position_channels=(0, 1)"),
                untrained("ZeroVelocity", seeded_build(ctx, "zero_velocity", schema, 4, 4), "zero_velocity")]

    preds, y = forecasts(trained, loader(test_set, 64), H, ctx.device)
    steps = [s for s in (1, 5, 10, 15, 20) if s <= H]
    scores: Dict[str, Dict[str, float]] = {}
    for label, p in preds.items():
        per = M.per_horizon("mse", p, y)
        scores[label] = {f"MSE@{s}": float(per[s - 1]) for s in steps}
        scores[label][f"MSE 1-{H}"] = float(per.mean())
    cols = list(next(iter(scores.values())))
    table = markdown_table(["model"] + cols, [[k] + [f"{v[c]:.5f}" for c in cols] for k, v in scores.items()])
    rep = Report(
        title="Springs (synthetic typed particles)",
        protocol=[f"Springs of this library (2 particle masses, 2 spring stiffnesses: 2 node types, 6 edge "
                  f"types), 5 particles per system; train / val / test systems {len(train_set)} / "
                  f"{len(val_set)} / {len(test_set)} (seed {ctx.seed}); each system one window of {obs} "
                  f"observed and {H} predicted frames; features position and velocity, normalised with "
                  f"the training statistics.",
                  f"Metric: MSE of the {H}-step rollout over all 4 features (normalised units), at "
                  f"steps {', '.join(map(str, steps))} and over the whole horizon, as "
                  f"examples/forecast_springs.py reports it."],
        trained=trained,
        sections=["## Test forecast error (normalised units, lower is better)", table],
        lose=where_we_lose(IMPROVED, scores, ["ZeroVelocity", "NodeLSTM"], digits=5),
        published=["None: Springs is this library's own synthetic system (after NRI's springs, Kipf et al. "
                   "2018, whose MSE figures are on other settings: untyped particles, other sampling)."])
    rep.lose += where_we_lose(IMPROVED, scores, ["ConstantVelocity", "GConvGRU", "STGCN", PAPER], digits=5)
    return rep


# ================================================================= CMU mocap
def run_cmu_mocap(ctx: Context) -> Report:
    from srnn_pyg.datasets import CMUMocap

    cfg, h = ctx.cfg, ctx.cfg["hidden"]
    actions = cfg.get("actions")
    train_set = CMUMocap(ctx.data_root, split="train", actions=actions, stride=cfg["stride"])
    paper_set = train_set
    if cfg.get("paper_stride", cfg["stride"]) != cfg["stride"]:
        paper_set = CMUMocap(ctx.data_root, split="train", actions=actions, stride=cfg["paper_stride"],
                             stats=train_set.stats())
    test_set = CMUMocap(ctx.data_root, split="test", actions=actions, stats=train_set.stats())
    schema, F, H = train_set.schema, train_set.num_node_features, test_set.horizon
    ctx.log(f"train {len(train_set)} windows (stride {cfg['stride']}), test {len(test_set)} seeded windows")

    bh = cfg["baseline_hidden"]
    paper_kw = paper_sizes(cfg["paper_scale"])
    base_kw = {} if bh is None else dict(hidden=bh)
    specs = [
        (PAPER, "srnn", paper_kw, "tf", PAPER_NOISE_SCHEDULE, paper_set, cfg["paper_epochs"]),
        (IMPROVED, "srnn", dict(srnn_sizes(h), residual=True), "tf+rollout", None, train_set, None),
        ("NodeLSTM", "node_lstm", dict(hidden=h, residual=True), "tf+rollout", None, train_set, None),
        ("ERD", "erd", dict(num_nodes=train_set.num_graph_nodes, **base_kw), "tf", PAPER_NOISE_SCHEDULE,
         train_set, None),
        ("LSTM-3LR", "lstm3lr", dict(num_nodes=train_set.num_graph_nodes, **base_kw), "tf",
         PAPER_NOISE_SCHEDULE, train_set, None),
    ]
    trained = []
    for label, name, kw, recipe, noise, data, epochs in specs:
        t = Trained(label, seeded_build(ctx, name, schema, F, F, **kw), f"{name}: {describe(kw)}")
        trained.append(train(ctx, t, data, None, recipe, noise=noise, epochs=epochs))
    trained += [untrained("ConstantVelocity", seeded_build(ctx, "constant_velocity", schema, F, F),
                          "constant_velocity"),
                untrained("ZeroVelocity", seeded_build(ctx, "zero_velocity", schema, F, F), "zero_velocity")]

    # The protocol of examples/forecast_motion.py (Li et al. 2018): poses in the
    # data's units, evaluated dimensions = those varying over observed + true frames.
    ms_list = (80, 160, 320, 400, 560, 1000)
    steps = M.frames_at_ms(ms_list, fps=test_set.fps)
    errors: Dict[str, Dict[str, Tensor]] = {t.label: {} for t in trained}
    for t in trained:
        t.model.to(ctx.device).eval()
    with torch.no_grad():
        for action in test_set.actions:
            idx = test_set.action_indices(action)
            batch = next(iter(loader(test_set[idx], len(idx)))).to(ctx.device)
            observed, target = test_set.to_pose(batch.x), test_set.to_pose(batch.y)
            dims = M.euler_varying_dims(torch.cat([observed, target], dim=1))
            for t in trained:
                pred = test_set.to_pose(t.model.forecast(batch, H))
                errors[t.label][action] = M.euler_angle_error(pred, target, dims=dims)[steps].cpu()
    for label in errors:
        errors[label]["average"] = torch.stack(list(errors[label].values())).mean(0)
    cols = [f"{ms} ms" for ms in ms_list]
    avg_rows = [[label] + [fmt(float(v)) for v in e["average"]] for label, e in errors.items()]
    act_rows = [[action, label] + [fmt(float(v)) for v in errors[label][action]]
                for action in test_set.actions for label in errors]
    scores = {label: {f"{action} {ms} ms": float(e[action][i]) for action in test_set.actions + ["average"]
                      for i, ms in enumerate(ms_list)} for label, e in errors.items()}
    rep = Report(
        title="CMU motion capture (body-part graph)",
        protocol=[f"CMU mocap as prepared by Li et al. 2018 ({len(test_set.actions)} of the protocol's 8 "
                  f"actions: {', '.join(test_set.actions)}; the shared copy holds 5), 25 fps, body-part graph "
                  f"(torso, 2 arms, 2 legs: 3 node types, 4 edge types); training on sliding windows "
                  f"of 50 + 25 frames every {cfg['stride']} frames"
                  + (f" (the paper-size S-RNN every {cfg['paper_stride']})" if paper_set is not train_set
                     else "") + "; no validation split (fixed epochs).",
                  f"Test: the protocol's seeded windows ({test_set.num_seeded} per test file, "
                  f"RandomState(1234567890)), 50 observed frames, 25 predicted (1 s). Metric: Euler-angle "
                  f"error (global translation and rotation left out; evaluated dimensions = those varying "
                  f"over the observed and true frames of each window, Li et al. 2018), per action and "
                  f"averaged over the actions, exactly as examples/forecast_motion.py."],
        trained=trained,
        sections=["## Euler-angle error, average over the actions (lower is better)",
                  markdown_table(["model"] + cols, avg_rows),
                  "## Per action", markdown_table(["action", "model"] + cols, act_rows)],
        published=_published_cmu())
    if cfg["paper_scale"] < 1:
        rep.notes.append(f"In this mode the paper S-RNN keeps the `paper_motion` layer structure with every width "
                         f"scaled by {cfg['paper_scale']:g} (see 'built as'); the default and full modes use the "
                         f"preset's sizes.")
    if bh is not None:
        rep.notes.append(f"ERD and LSTM-3LR use width {bh} in this mode (the paper's sizes, FC500/LSTM1000 and "
                         f"LSTM1000 x3, in the full mode); like S-RNN (paper) they train with teacher forcing "
                         f"and the paper's noise curriculum, as in the S-RNN paper.")
    rep.notes.append("The noise curriculum starts at optimiser step 250 (std 0.01) and reaches 0.7 at step "
                     "3300; 'std reached' in the training table says how far a run got.")
    rep.lose = _compact_lose(IMPROVED, scores, ["ZeroVelocity", "NodeLSTM"], test_set.actions + ["average"],
                             ms_list)
    rep.lose += _compact_lose(IMPROVED, scores, ["ConstantVelocity", "ERD", "LSTM-3LR", PAPER],
                              ["average"], ms_list)
    return rep


def _compact_lose(subject: str, scores, refs, groups, ms_list) -> List[str]:
    """Where-we-lose lines grouped by action: ``walking: 560, 1000 ms``."""
    out = []
    for ref in refs:
        if ref not in scores or subject not in scores:
            continue
        parts = []
        for g in groups:
            lost = [str(ms) for ms in ms_list
                    if scores[subject][f"{g} {ms} ms"] >= scores[ref][f"{g} {ms} ms"]]
            if lost:
                parts.append(f"{g}: {', '.join(lost)} ms")
        scope = "" if len(groups) > 1 else f" ({groups[0]} only)"
        out.append(f"- vs {ref}{scope}: " + ("; ".join(parts) if parts else "none (better everywhere)"))
    return out


def _published_cmu() -> List[str]:
    h36m = [
        ["S-RNN paper, Table 1", "S-RNN", "walking", "1.08 1.34 1.60 1.90 2.13", "confirmed"],
        ["S-RNN paper, Table 1", "S-RNN", "eating", "1.35 1.71 2.12 2.28 2.58", "confirmed"],
        ["S-RNN paper, Table 1", "S-RNN", "smoking", "1.90 2.30 2.90 3.21 3.23", "unconfirmed"],
        ["S-RNN paper, Table 1", "S-RNN", "discussion", "1.67 2.03 2.20 2.39 2.43", "unconfirmed"],
        ["RNNexp issue 6 (authors' models re-scored)", "ERD", "walking", ".93 1.18 1.59 1.97 2.24", "confirmed"],
        ["RNNexp issue 6", "LSTM-3LR", "walking", ".77 1.00 1.29 1.74 1.84", "confirmed"],
        ["RNNexp issue 6", "S-RNN", "walking", ".81 .94 1.16 1.48 1.78", "confirmed"],
        ["RNNexp issue 6", "ERD", "eating", "1.27 1.45 1.66 1.95 2.02", "confirmed"],
        ["RNNexp issue 6", "LSTM-3LR", "eating", ".89 1.09 1.35 1.66 1.97", "confirmed"],
        ["RNNexp issue 6", "S-RNN", "eating", ".97 1.14 1.35 1.62 2.09", "confirmed"],
        ["RNNexp issue 6", "ERD", "smoking", "1.66 1.95 2.35 2.63 3.61", "confirmed"],
        ["RNNexp issue 6", "LSTM-3LR", "smoking", "1.34 1.65 2.04 2.30 2.59", "confirmed"],
        ["RNNexp issue 6", "S-RNN", "smoking", "1.45 1.68 1.94 2.24 2.64", "confirmed"],
        ["RNNexp issue 6", "ERD", "discussion", "2.27 2.47 2.68 2.92 3.16", "confirmed"],
        ["RNNexp issue 6", "LSTM-3LR", "discussion", "1.88 2.12 2.25 2.33 2.45", "confirmed"],
        ["RNNexp issue 6", "S-RNN", "discussion", "1.22 1.49 1.83 2.07 2.24", "confirmed"],
    ]
    martinez = [
        ["Martinez et al. 2017, Table 1", "zero-velocity", "walking / eating / smoking / discussion",
         ".39 .68 .99 1.15 / .27 .48 .73 .86 / .26 .48 .97 .95 / .31 .67 .94 1.04", "unconfirmed"],
        ["Martinez et al. 2017, Table 1", "residual sup. (MA)", "walking / eating / smoking / discussion",
         ".28 .49 .72 .81 / .23 .39 .62 .76 / .33 .61 1.05 1.15 / .31 .68 1.01 1.09", "unconfirmed"],
    ]
    cmu = [
        ["Mao et al. 2019, Table 3", "Res-sup.", "average of 8 actions", ".38 .61 1.03 1.17 1.64", "unconfirmed"],
        ["Mao et al. 2019, Table 3", "ConvSeq2Seq", "average of 8 actions", ".32 .52 .86 .99 1.55",
         "unconfirmed"],
        ["Mao et al. 2019, Table 3", "LTD", "average of 8 actions", ".25 .39 .68 .79 1.33", "unconfirmed"],
        ["Mao et al. 2019, Table 3", "Res-sup.", "walking", ".35 .47 .60 .65 .88", "unconfirmed"],
        ["Mao et al. 2019, Table 3", "LTD", "walking", ".33 .45 .49 .53 .61", "unconfirmed"],
    ]
    head = ["source", "model", "action", "values", "status"]
    return [
        "**Human3.6M, not CMU**: the S-RNN paper's motion numbers are on Human3.6M (subject 5 test, 8 seeded "
        "windows per action, 50 observed frames at 25 fps), a different dataset with different actions; "
        "they are listed for orientation only and cannot be compared with our CMU rows. Values at 80, 160, "
        "320, 560 and 1000 ms:",
        markdown_table(head, h36m),
        "Human3.6M, Martinez et al. 2017 (80, 160, 320, 400 ms):",
        markdown_table(head, martinez),
        "**CMU mocap** (Li et al. 2018 data, Mao et al. 2019 Table 3; 80, 160, 320, 400, 1000 ms). Their "
        "average is over the protocol's 8 actions, ours over the 5 in the shared copy: only the walking "
        "rows compare action for action. Res-sup. and ConvSeq2Seq observe 50 frames, as we do; LTD "
        "observes 10 (confirmed: LearnTrajDep issue 9).",
        markdown_table(head, cmu),
    ]


# ================================================================== Los-loop
def run_los_loop(ctx: Context) -> Report:
    from srnn_pyg.datasets import LosLoop

    cfg, h = ctx.cfg, ctx.cfg["hidden"]
    train_set = LosLoop(ctx.data_root, split="train", stride=cfg["stride"])
    val_set = every(LosLoop(ctx.data_root, split="val"), cfg["val_stride"])
    test_full = LosLoop(ctx.data_root, split="test")
    test_set = every(test_full, cfg["test_stride"])
    schema, H, obs = train_set.schema, test_full.horizon, train_set.obs
    ctx.log(f"train {len(train_set)}, val {len(val_set)}, test {len(test_set)} windows of 207 sensors")

    specs = [
        (PAPER, "srnn", srnn_sizes(h), "tf"),
        (IMPROVED, "srnn", dict(srnn_sizes(h), residual=True), "tf+rollout"),
        ("NodeLSTM", "node_lstm", dict(hidden=h, residual=True), "tf+rollout"),
        ("GConvGRU", "gconv_gru", dict(hidden=h), "tf+rollout"),
        ("STGCN", "stgcn", dict(obs_len=obs, horizon=H, hidden=h), "rollout"),
    ]
    trained = []
    for label, name, kw, recipe in specs:
        t = Trained(label, seeded_build(ctx, name, schema, 1, 1, **kw), f"{name}: {describe(kw)}")
        trained.append(train(ctx, t, train_set, val_set, recipe))
    trained += [untrained("LastValue", seeded_build(ctx, "zero_velocity", schema, 1, 1), "zero_velocity"),
                untrained("ObservedMean", ObservedMean(), "mean of the 12 observed steps")]

    preds, y = forecasts(trained, loader(test_set, 16), H, ctx.device)
    steps = [s for s in (3, 6, 9, 12) if s <= H]
    scores: Dict[str, Dict[str, float]] = {}
    cum: Dict[str, Dict[int, Dict[str, float]]] = {}
    for label, p in preds.items():
        at = test_full.horizon_metrics(p, y, horizons=steps)
        cum[label] = test_full.horizon_metrics(p, y, horizons=steps, cumulative=True)
        scores[label] = {f"{k.upper()}@{m}": s[k] for m, s in at.items() for k in ("mae", "rmse", "mape")}
    minutes = [s * test_full.minutes_per_step for s in steps]
    cols = [f"{k}@{m}" for m in minutes for k in ("MAE", "RMSE", "MAPE")]
    rows = [[label] + [f"{s[c]:.2f}" + ("%" if c.startswith("MAPE") else "") for c in cols]
            for label, s in scores.items()]
    cum_rows = [[label] + [f"{c[m]['rmse']:.2f} / {c[m]['mae']:.2f}" for m in minutes] for label, c in cum.items()]
    rep = Report(
        title="Los-loop traffic speed (207 METR-LA sensors)",
        protocol=[f"Los-loop (T-GCN's release): 207 sensors, 5-minute speeds, T-GCN's adjacency; chronological "
                  f"split: train steps {train_set.bounds['train']}, validation {train_set.bounds['val']} "
                  f"(the last 10 % of T-GCN's 80 % training part, for early stopping), test "
                  f"{train_set.bounds['test']}; z-score normalisation from the training steps. Windows: "
                  f"{obs} observed steps (1 hour), {H} predicted; training windows every {cfg['stride']} "
                  f"steps, test windows every {cfg['test_stride']} ({len(test_set)} of {len(test_full)}).",
                  "Metrics in mph (MAPE in %) at 15, 30, 45 and 60 minutes ahead: the error at that step "
                  "(DCRNN's convention, `LosLoop.horizon_metrics`), zero readings left out. One model "
                  "forecasts all 12 steps."],
        trained=trained,
        sections=["## Test error at each horizon (lower is better)", markdown_table(["model"] + cols, rows),
                  "## T-GCN's convention: RMSE / MAE over steps 1..h together",
                  markdown_table(["model"] + [f"{m} min" for m in minutes], cum_rows)],
        published=_published_los(),
        lose=where_we_lose(IMPROVED, scores, ["LastValue", "NodeLSTM"], digits=2))
    rep.lose += where_we_lose(IMPROVED, scores, ["STGCN", "GConvGRU", "ObservedMean", PAPER], digits=2)
    return rep


def _published_los() -> List[str]:
    rows = [["T-GCN (Zhao et al. 2019)", "5.13 / 3.18", "6.06 / 3.75", "6.71 / 4.12", "7.27 / 4.60", "unconfirmed"],
            ["GRU (T-GCN paper)", "5.07 / 3.06", "6.14 / 3.68", "6.96 / 4.12", "7.53 / 4.53", "unconfirmed"],
            ["HA (T-GCN paper)", "7.44 / 4.01", "7.44 / 4.01", "7.44 / 4.01", "7.44 / 4.01", "unconfirmed"]]
    return ["T-GCN, Zhao et al. 2019 (IEEE T-ITS), Los-loop results table: RMSE / MAE (mph) at 15, 30, 45, "
            "60 minutes.",
            markdown_table(["model", "15 min", "30 min", "45 min", "60 min", "status"], rows),
            "Protocol differences: T-GCN observes 12 steps and predicts 3, 6, 9 or 12 (confirmed: T-GCN "
            "README), training one model per horizon on the first 80 % without validation, with max "
            "normalisation; the library's `LosLoop.horizon_metrics(cumulative=True)` reads its figures as "
            "the error over steps 1..h together, which the second table above follows. We train one model "
            "for all 12 steps on the first 70 % (10 % validation) with z-score normalisation. Their HA is "
            "a historical average (not re-run here); our ObservedMean is the mean of the observed hour."]


# ================================================================ Chickenpox
def run_chickenpox(ctx: Context) -> Report:
    from srnn_pyg.datasets import Chickenpox

    h = ctx.cfg["hidden"]
    train_set = Chickenpox(ctx.data_root, split="train")
    test_set = Chickenpox(ctx.data_root, split="test")
    schema, H, lags = train_set.schema, test_set.horizon, train_set[0].x.size(1)
    ctx.log(f"train {len(train_set)}, test {len(test_set)} snapshots")
    specs = [
        (PAPER, "srnn", srnn_sizes(h), "tf"),
        (IMPROVED, "srnn", dict(srnn_sizes(h), residual=True), "tf+rollout"),
        ("NodeLSTM", "node_lstm", dict(hidden=h, residual=True), "tf+rollout"),
        ("GConvGRU", "gconv_gru", dict(hidden=h), "tf+rollout"),
        ("STGCN", "stgcn", dict(obs_len=lags, horizon=H, hidden=h, blocks=1, kernel_size=2), "rollout"),
    ]
    trained = []
    for label, name, kw, recipe in specs:
        t = Trained(label, seeded_build(ctx, name, schema, 1, 1, **kw), f"{name}: {describe(kw)}")
        trained.append(train(ctx, t, train_set, None, recipe))
    trained += [untrained("LastValue", seeded_build(ctx, "zero_velocity", schema, 1, 1), "zero_velocity"),
                untrained("Zero (the data's mean)", Constant(0.0), "predicts 0")]
    preds, y = forecasts(trained, loader(test_set, 64), H, ctx.device)
    scores = {label: {"MSE": float(M.mse(p, y)), "MAE": float(M.mae(p, y))} for label, p in preds.items()}
    rows = [[label, f"{s['MSE']:.4f}", f"{s['MAE']:.4f}"] for label, s in scores.items()]
    rep = Report(
        title="Chickenpox Hungary (PyG Temporal)",
        protocol=[f"PyG Temporal's Chickenpox: 20 counties, 521 weeks, county adjacency; snapshot i observes "
                  f"weeks i..i+{lags - 1} ({lags} lags) and predicts week i+{lags}; PyG Temporal's example "
                  f"split `temporal_signal_split(train_ratio=0.2)`: {len(train_set)} training and "
                  f"{len(test_set)} test snapshots, no validation (fixed epochs; the improved recipe's "
                  f"fine-tuning is kept or dropped on the training windows' rollout MSE). Values as "
                  f"released (already standardised per county).",
                  "Metric: MSE (and MAE) over all test snapshots and counties, in the data's units, as PyG "
                  "Temporal's examples compute it."],
        trained=trained,
        sections=["## Test error (lower is better)", markdown_table(["model", "MSE", "MAE"], rows)],
        lose=where_we_lose(IMPROVED, scores, ["LastValue", "NodeLSTM"], digits=4),
        published=[markdown_table(["source", "model", "MSE", "status"], [
            ["PyG Temporal example scripts (pytorch_geometric_temporal issue 87)", "MPNN-LSTM", "1.0663",
             "confirmed"],
            ["same", "GConvLSTM", "1.0904", "confirmed"],
            ["same", "GC-LSTM", "1.0784", "confirmed"],
            ["PyG Temporal paper (Rozemberczki et al. 2021) table", "recurrent graph models", "about 1.11-1.13",
             "unconfirmed"]]),
            "Same protocol as ours (4 lags, 1 week ahead, train_ratio 0.2, MSE over the test snapshots); "
            "their training settings (epochs, learning rate, model sizes) differ from ours."])
    rep.lose += where_we_lose(IMPROVED, scores, ["Zero (the data's mean)", "GConvGRU", "STGCN", PAPER], digits=4)
    return rep


# ================================================================ Brain4Cars
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


@torch.no_grad()
def _step_probs(model: nn.Module, dataset, device) -> Tuple[Tensor, Tensor, Tensor]:
    """The driver node's class probabilities ``[S, T, C]``, its real steps and the maneuvers."""
    model.to(device).eval()
    probs, masks, targets = [], [], []
    for batch in loader(dataset, 256):
        batch = batch.to(device)
        driver = batch.node_type == 0
        probs.append(model(batch).softmax(-1)[driver].cpu())
        masks.append(batch.node_mask[driver].cpu())
        targets.append(batch.maneuver.cpu())
    return torch.cat(probs), torch.cat(masks), torch.cat(targets)


def _anticipation(probs, mask, target, threshold: float, step_seconds: float) -> dict:
    pred, when = M.anticipate(M.threshold_labels(probs, threshold), mask=mask, step_seconds=step_seconds)
    return M.maneuver_scores(pred, target, num_classes=probs.size(-1), time=when)


def run_brain4cars(ctx: Context) -> Report:
    from srnn_pyg.datasets import Brain4Cars

    cfg, h = ctx.cfg, ctx.cfg["hidden"]
    folds = ctx.args.folds or cfg["folds"]
    per_fold: Dict[str, List[dict]] = {}
    trained_all: Dict[str, Trained] = {}
    for fold in folds:
        sets = {g: (Brain4Cars(ctx.data_root, fold=fold, split="train", graph=g),
                    Brain4Cars(ctx.data_root, fold=fold, split="test", graph=g)) for g in ("srnn", "single")}
        if cfg.get("train_limit"):
            sets = {g: (every(tr, 1, cfg["train_limit"]), te) for g, (tr, te) in sets.items()}
        C = sets["srnn"][0].num_classes
        ctx.tag = f" fold {fold}"
        specs = [("S-RNN", "srnn", "srnn", dict(srnn_sizes(h), task="classification", dropout=cfg["dropout"])),
                 ("NodeLSTM", "node_lstm", "single", dict(hidden=h, dropout=cfg["dropout"]))]
        for label, name, graph, kw in specs:
            tr, te = sets[graph]
            t = Trained(label, seeded_build(ctx, name, tr.schema, 13, C, **kw), f"{name}: {describe(kw)}")
            t = train(ctx, t, tr, None, "class")
            probs, mask, target = _step_probs(t.model, tr, ctx.device)
            thr = max(THRESHOLDS, key=lambda v: _anticipation(probs, mask, target, v, 0.8)["f1"])
            s = _anticipation(*_step_probs(t.model, te, ctx.device), thr, 0.8)
            s["threshold"] = thr
            per_fold.setdefault(label, []).append(s)
            if label in trained_all:  # one training row per model: times and epochs summed over folds
                prev = trained_all[label]
                prev.seconds += t.seconds
                prev.epochs = f"{t.epochs} per fold"
            else:
                trained_all[label] = t
            ctx.log(f"{label}: threshold {thr:.2f}, test F1 {100 * s['f1']:.1f}")
    scores: Dict[str, Dict[str, float]] = {}
    rows = []
    for label, runs in per_fold.items():
        mean = {k: sum(float(r[k]) for r in runs) / len(runs) for k in ("precision", "recall", "f1")}
        ttm = [float(r["time_to_maneuver"]) for r in runs if not math.isnan(float(r["time_to_maneuver"]))]
        scores[label] = {"precision": 100 * mean["precision"], "recall": 100 * mean["recall"],
                         "F1": 100 * mean["f1"]}
        rows.append([label, ", ".join(f"{r['threshold']:.2f}" for r in runs), f"{scores[label]['precision']:.1f}",
                     f"{scores[label]['recall']:.1f}", f"{scores[label]['F1']:.1f}",
                     f"{sum(ttm) / len(ttm):.2f}" if ttm else "nan",
                     ", ".join(f"{100 * r['f1']:.1f}" for r in runs)])
    rep = Report(
        title="Brain4Cars maneuver anticipation",
        protocol=[f"The S-RNN paper's driving experiment on the RNNexp feature files: folds {folds} (the five "
                  f"test files of the shared copy are identical: one 99-sequence test set; the training "
                  f"files differ per fold), 7 steps of 0.8 s, 13 features; S-RNN on the driver-road graph "
                  f"(2 node types, 1 edge type), NodeLSTM on one node with all 13 features (no structure).",
                  "Training: per-step cross-entropy on the driver node's real steps, fixed epochs (no "
                  "validation split). Decision (Brain4Cars): the first step whose most likely class is a "
                  "maneuver with probability above a threshold announces it; the threshold is the one with "
                  "the best F1 on the model's own training data (never the test). Precision and recall are "
                  "averaged over the 4 maneuvers, F1 from those averages, time-to-maneuver = time left when a "
                  "correct maneuver is announced; all averaged over the folds."],
        trained=list(trained_all.values()),
        sections=["## Test scores (percent; higher is better)",
                  markdown_table(["model", "threshold per fold", "precision", "recall", "F1",
                                  "time-to-maneuver (s)", "F1 per fold"], rows)],
        subject="S-RNN",
        notes=["There is no improved S-RNN row here: `residual` and rollout training apply to regression only."],
        lose=where_we_lose("S-RNN", scores, ["NodeLSTM"], higher_better=lambda k: True, digits=1),
        published=[markdown_table(["source", "model", "precision", "recall", "time-to-maneuver", "status"], [
            ["Brain4Cars abstract (Jain et al. 2016)", "sensory-fusion RNN (AIO)", "90.5", "87.4", "3.5 s",
             "confirmed"],
            ["S-RNN paper (Jain et al. 2016), driving table", "S-RNN", "92.7", "82.1", "3.46 s", "unconfirmed"]]),
            "Their figures average 5-fold cross-validation with their own thresholds; ours use the folds above "
            "with thresholds picked on training data. Where we lose compares S-RNN with NodeLSTM (the "
            "classification table has no ZeroVelocity)."])
    return rep


# =================================================================== ETH/UCY
class OriginOffsets:
    """Give every edge ``j -> i`` the offset between the two pedestrians' origins,
    ``edge_attr = origin_j - origin_i`` (``[E, obs, 2]``, constant in time).

    The dataset stores each pedestrian relative to its own last observed
    position, so ``x_j - x_i`` alone is not where ``j`` is seen from ``i``;
    with this offset, ``x_j - x_i + edge_attr`` is, at every observed step and
    at every step of a rollout (the offset never changes), which the S-RNN's
    ``spatial_features="concat_attr"`` gives its edgeRNNs. Per-node models
    ignore it."""

    def __call__(self, data):
        src, dst = data.edge_index
        offset = data.origin[src] - data.origin[dst]                             # [E, 2]
        data.edge_attr = offset.unsqueeze(1).expand(-1, data.x.size(1), -1).contiguous()   # [E, obs, 2]
        return data


def _tf_inputs(batch):
    """Teacher-forcing inputs and targets for the Gaussian head: ``concat(x, y)``
    without its last step, masks extended (edges keep their last observed step)."""
    seq = torch.cat([batch.x, batch.y], dim=1)                                  # [N, T+H, 2]
    present = torch.cat([batch.node_mask, batch.y_mask], dim=1)                 # [N, T+H]
    inp = copy.copy(batch)
    inp.x, inp.node_mask = seq[:, :-1], present[:, :-1]
    steps = batch.y.size(1) - 1
    em, ea = batch.edge_mask, batch.edge_attr
    inp.edge_mask = torch.cat([em, em[:, -1:].expand(-1, steps)], dim=1)               # [E, T+H-1]
    inp.edge_attr = torch.cat([ea, ea[:, -1:].expand(-1, steps, -1)], dim=1)          # [E, T+H-1, 2]
    return inp, seq[:, 1:], present[:, 1:] & present[:, :-1]


@torch.no_grad()
def _ade_fde(model: nn.Module, data_loader, device, samples: Optional[int] = None) -> Dict[str, float]:
    """ADE/FDE (metres) over every pedestrian of a loader's windows; with
    ``samples`` also best-of-K, per pedestrian and per scene-window."""
    model.to(device).eval()
    tot: Dict[str, float] = {}
    count = 0
    for batch in data_loader:
        batch = batch.to(device)
        H = batch.y.size(1)
        keep = batch.y_mask.all(1)                                             # present at every step
        n = int(keep.sum())
        pred = model.forecast(batch, H)
        vals = {"ADE": M.ade(pred, batch.y, keep), "FDE": M.fde(pred, batch.y, keep)}
        if samples:
            draws = model.forecast(batch, H, num_samples=samples)              # [K, N, H, 2]
            vals["ADE best-of-K (pedestrian)"], vals["FDE best-of-K (pedestrian)"] = \
                M.best_of_k_ade_fde(draws, batch.y, keep, per="pedestrian")
            vals["ADE best-of-K (scene)"], vals["FDE best-of-K (scene)"] = \
                M.best_of_k_ade_fde(draws, batch.y, keep, per="scene", batch=batch.batch)
        for k, v in vals.items():
            tot[k] = tot.get(k, 0.0) + float(v) * n
        count += n
    return {k: v / max(count, 1) for k, v in tot.items()}


def _fit_gaussian(ctx: Context, t: Trained, train_set, val_set) -> Trained:
    """The Gaussian head trained by bivariate-Gaussian NLL under teacher forcing
    (Social-LSTM's loss), a short loop of its own because the library's trainer
    fits squared errors; the epoch with the best validation ADE of the mean
    rollout is kept, with the same early stopping as the trainer."""
    cfg, model = ctx.cfg, t.model
    torch.manual_seed(ctx.seed)
    model.to(ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    gen = torch.Generator().manual_seed(ctx.seed)
    train_loader = DataLoader(train_set, batch_size=cfg["batch"], shuffle=True, generator=gen)
    val_loader = loader(val_set, 2 * cfg["batch"])
    best, best_state, best_epoch, bad, ran = math.inf, None, 0, 0, 0
    start = time.perf_counter()
    for epoch in range(1, int(cfg["epochs"]) + 1):
        model.train()
        for batch in train_loader:
            batch = batch.to(ctx.device)
            inp, target, mask = _tf_inputs(batch)
            loss = M.bivariate_gaussian_nll(model(inp), target, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        ran = epoch
        score = _ade_fde(model, val_loader, ctx.device)["ADE"]
        if score < best:
            best, best_state, best_epoch, bad = score, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            bad += 1
            if bad >= int(cfg["patience"]):
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    t.recipe = "bivariate-Gaussian NLL, teacher forcing (own loop; best validation ADE kept)"
    t.epochs = f"{ran}" + (f", best {best_epoch}" if ran > 1 else "")
    t.seconds = time.perf_counter() - start
    ctx.log(f"{t.label:<38} {t.epochs:<44} {t.seconds:7.1f} s")
    return t


ETH_SCENES = ("eth", "hotel", "univ", "zara1", "zara2")


def run_eth_ucy(ctx: Context) -> Report:
    from srnn_pyg.datasets import ETHUCY

    cfg, h = ctx.cfg, ctx.cfg["hidden"]
    scenes = ctx.args.scenes or cfg.get("scenes") or list(ETH_SCENES)
    K = int(cfg["samples"])
    results: Dict[str, Dict[str, Dict[str, float]]] = {}                         # label -> scene -> metric
    trained_rows: Dict[str, Trained] = {}
    counts = []
    rel = dict(spatial_features="concat_attr", edge_channels=2)
    att = dict(srnn_sizes(h), edge_scope="edge", aggr="attention", **rel)
    specs = [
        (PAPER, "srnn", dict(srnn_sizes(h), **rel), "tf"),
        (IMPROVED, "srnn", dict(att, residual=True), "tf+rollout"),
        ("S-RNN (improved, spatial=False)", "srnn", dict(att, residual=True, spatial=False), "tf+rollout"),
        ("S-RNN (Gaussian head)", "srnn", dict(att, residual=True, head="gaussian"), "nll"),
        ("NodeLSTM", "node_lstm", dict(hidden=h, residual=True), "tf+rollout"),
    ]
    for scene in scenes:
        kw = dict(root=ctx.data_root, test_scene=scene, transform=OriginOffsets())
        tr = every(ETHUCY(split="train", **kw), cfg["train_every"])
        va = every(ETHUCY(split="val", **kw), cfg["val_every"])
        te = every(ETHUCY(split="test", **kw), cfg["test_every"])
        counts.append(f"{scene}: {len(tr)} / {len(va)} / {len(te)}")
        ctx.log(f"scene {scene}: train {len(tr)}, val {len(va)}, test {len(te)} windows")
        schema = tr.schema
        ctx.tag = f" {scene}"
        models: List[Trained] = []
        for label, name, mkw, recipe in specs:
            t = Trained(label, seeded_build(ctx, name, schema, 2, 2, **mkw), f"{name}: {describe(mkw)}")
            models.append(_fit_gaussian(ctx, t, tr, va) if recipe == "nll" else train(ctx, t, tr, va, recipe))
        models.append(untrained("ConstantVelocity", seeded_build(ctx, "constant_velocity", schema, 2, 2),
                                "constant_velocity"))
        models.append(untrained("ZeroVelocity", seeded_build(ctx, "zero_velocity", schema, 2, 2),
                                "zero_velocity"))
        for t in models:
            gaussian = getattr(t.model, "head", None) == "gaussian"
            test_loader = loader(te, 8 if gaussian else 32)
            r = _ade_fde(t.model, test_loader, ctx.device, samples=K if gaussian else None)
            for k, v in r.items():
                label = t.label if "best-of" not in k else \
                    f"{t.label}, best of {K} per {'pedestrian' if 'pedestrian' in k else 'scene'}"
                metric = k.split(" ")[0]
                results.setdefault(label, {}).setdefault(scene, {})[metric] = v
            if t.epochs != "-":
                t.epochs = f"{scene}: {t.epochs}"
            if t.label in trained_rows:
                trained_rows[t.label].seconds += t.seconds
                if t.epochs != "-":
                    trained_rows[t.label].epochs += f"; {t.epochs}"
            else:
                trained_rows[t.label] = t
    for label, per in results.items():
        per["avg"] = {m: sum(per[s][m] for s in scenes) / len(scenes) for m in ("ADE", "FDE")}
    cols = list(scenes) + ["avg"]
    rows = [[label] + [f"{per[c]['ADE']:.2f} / {per[c]['FDE']:.2f}" for c in cols] for label, per in results.items()]
    scores = {label: {f"{c} {m}": per[c][m] for c in cols for m in ("ADE", "FDE")} for label, per in results.items()}
    rep = Report(
        title="ETH/UCY pedestrian trajectories (leave-one-scene-out)",
        protocol=[f"Social-GAN's leave-one-scene-out protocol (`ETHUCY`): for each test scene, train on the "
                  f"other scenes' `*_train.txt`, validate on their `*_val.txt`, test on the scene's whole "
                  f"recordings (univ = students001 + students003); windows of 8 observed and 12 predicted "
                  f"frames (0.4 s steps), every frame a start, pedestrians present at all 20 frames, windows "
                  f"with at least 2 of them; all pairs of pedestrians are edges (dynamic edge masks). We use "
                  f"every {cfg['train_every']}-th training, every {cfg['val_every']}-th validation and every "
                  f"{cfg['test_every']}-th test window (train / val / test windows: {'; '.join(counts)}).",
                  "Metrics: ADE and FDE in metres over every pedestrian of the test windows, averaged over "
                  "the scenes in `avg`. Deterministic rows follow one forecast (the Gaussian head: its "
                  f"mean). Best-of-{K} rows draw {K} sampled trajectories (each step sampled and fed back): "
                  "'per pedestrian' keeps each pedestrian's best sample (Social-STGCNN's definition), 'per "
                  "scene' the sample best over each window's pedestrians together (Social-GAN's).",
                  "Inputs: each pedestrian's positions relative to its own last observed position (as the "
                  "dataset stores them), for every model. The S-RNN rows also give each edge j -> i the "
                  "constant offset between the two origins (`edge_attr`, `spatial_features='concat_attr'`), "
                  "so that their edgeRNNs can tell where j is seen from i at every step, rollout included. "
                  "The `spatial=False` row is the improved model without edgeRNNs: the test of whether "
                  "interaction modelling helps."],
        trained=list(trained_rows.values()),
        sections=["## ADE / FDE in metres (lower is better)", markdown_table(["model"] + cols, rows)],
        lose=where_we_lose(IMPROVED, scores, ["ZeroVelocity", "NodeLSTM"]),
        published=_published_eth(K))
    rep.lose += where_we_lose(IMPROVED, scores, ["ConstantVelocity", "S-RNN (improved, spatial=False)"])
    return rep


def _published_eth(K: int) -> List[str]:
    rows = [
        ["Social-GAN (Gupta et al. 2018), Table 1", "Linear", "deterministic",
         "1.33 / 2.94", "0.39 / 0.72", "0.82 / 1.59", "", "", "0.79 / 1.59",
         "eth, hotel, univ confirmed; avg unconfirmed"],
        ["Social-GAN, Table 1", "Social-LSTM", "deterministic", "", "", "", "", "", "0.72 / 1.54", "unconfirmed"],
        ["Schoeller et al. 2020 (cschoeller/constant_velocity_pedestrian_motion README)", "constant velocity",
         "deterministic", "", "", "", "", "", "0.39 / 0.83", "confirmed"],
        ["same", "constant velocity with sampling", "best of 20", "", "", "", "", "", "0.28 / 0.56", "confirmed"],
        ["Social-GAN, Table 1", "SGAN-20V-20", "best of 20, per scene", "", "", "", "", "", "0.58 / 1.18",
         "confirmed"],
        ["Social-STGCNN (Mohamed et al. 2020)", "Social-STGCNN", "best of 20, per pedestrian", "", "", "", "", "",
         "0.44 / 0.75", "confirmed (Social-STGCNN issue 47)"],
    ]
    return [markdown_table(["source", "method", "mode", "eth", "hotel", "univ", "zara1", "zara2", "avg",
                            "status"], rows),
            f"Same windows and splits as ours (8 observed, 12 predicted, leave-one-scene-out). Best-of-K "
            f"definitions differ between papers (per scene for Social-GAN, per pedestrian for Social-STGCNN and "
            f"most later work); our best-of-{K} rows give both. Empty cells: not quoted in the sources we "
            f"checked."]


RUNNERS = {"springs": run_springs, "cmu_mocap": run_cmu_mocap, "los_loop": run_los_loop,
           "chickenpox": run_chickenpox, "brain4cars": run_brain4cars, "eth_ucy": run_eth_ucy}


# ================================================================== output
def render(ctx: Context, rep: Report, seconds: float) -> str:
    cfg = {k: v for k, v in ctx.cfg.items() if k not in COMMON}
    text = [f"# Accuracy: {rep.title}", "",
            f"Mode: **{MODE_TEXT[ctx.mode]}**.", "",
            f"Command: `{command()}`", "",
            "Machine and versions:", "", machine(ctx.device.type), "",
            f"Seed {ctx.seed} (data order, initial weights, simulated data); settings of this mode: "
            f"`{describe(cfg)}`; early-stopping patience {COMMON['patience']} epochs on validation where "
            f"there is a validation split; rollout fine-tuning: the last {COMMON['rollout_share']:.0%} of the "
            f"epochs at {COMMON['rollout_lr_factor']:.2g}x the learning rate. Whole run: {seconds:.0f} s.", "",
            "## Protocol", ""] + [f"- {p}" for p in rep.protocol] + [""]
    for block in rep.sections[:2]:
        text += [block, ""]
    text += [f"**Where we lose** (computed from the table above: where {rep.subject} does not beat the named "
             "model; values are ours vs theirs):", ""]
    text += rep.lose + [""]
    for block in rep.sections[2:]:
        text += [block, ""]
    text += ["## Training", "",
             "Every trained model uses the library's trainer (`srnn_pyg.train.fit`, gradient clipping 1.0, "
             "Adam) unless its row says otherwise; 'best' is the epoch kept by `restore_best` on the "
             "validation rollout MSE.", "", training_table(rep.trained), ""]
    text += [f"- {n}" for n in rep.notes] + ([""] if rep.notes else [])
    text += ["## Published figures (not re-run here)", ""] + [b + "\n" for b in rep.published]
    return "\n".join(text).rstrip() + "\n"


def result_path(out_dir: str, dataset: str, mode: str) -> str:
    """``accuracy_<dataset>.md`` in the default mode, ``accuracy_<dataset>_<mode>.md`` otherwise."""
    return os.path.join(out_dir, f"accuracy_{dataset}{SUFFIX[mode]}.md")


def check_data(root: Optional[str], dataset: str) -> Optional[str]:
    """A one-line reason why a real dataset cannot be read, or None."""
    folder = REAL_DATA.get(dataset)
    if folder is None:
        return None
    if not root:
        return f"{dataset}: no data: set SRNN_PYG_DATA (or pass --data-root) to the folder that holds '{folder}/'"
    if not os.path.isdir(os.path.join(root, folder)):
        return f"{dataset}: no data: '{os.path.join(root, folder)}' not found (set SRNN_PYG_DATA or --data-root)"
    return None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=DATASETS + ("all",))
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small subsets and few epochs: 1-3 minutes per dataset on a 2-core CPU")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="paper-scale sizes and epochs (use --device cuda)")
    mode.add_argument("--smoke", dest="mode", action="store_const", const="smoke", help=argparse.SUPPRESS)
    p.set_defaults(mode="default")
    p.add_argument("--epochs", type=int, default=None, help="epochs of every trained model (the mode's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cpu; cuda if available with --full)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--data-root", default=os.environ.get("SRNN_PYG_DATA"),
                   help="folder holding the real datasets (default: $SRNN_PYG_DATA)")
    p.add_argument("--out", default=None, help="results folder (default: benchmarks/results)")
    p.add_argument("--scenes", nargs="+", choices=ETH_SCENES, default=None, help="eth_ucy: test scenes")
    p.add_argument("--folds", nargs="+", type=int, default=None, help="brain4cars: folds")
    args = p.parse_args(argv)
    if args.device is None:
        args.device = "cuda" if args.mode == "full" and torch.cuda.is_available() else "cpu"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    status = 0
    for name in names:
        reason = check_data(args.data_root, name)
        if reason:
            print(reason, file=sys.stderr)
            status = 2
            continue
        ctx = Context(args, name)
        start = time.perf_counter()
        rep = RUNNERS[name](ctx)
        path = result_path(out_dir, name, args.mode)
        write_atomic(path, render(ctx, rep, time.perf_counter() - start))
        ctx.log(f"wrote {os.path.relpath(path)} ({time.perf_counter() - start:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
