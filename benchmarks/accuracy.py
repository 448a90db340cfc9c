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

This file holds the configurations (one :class:`Bench` per dataset: settings
per mode, splits, models, protocol text and table layout); the machinery
(datasets through the registry, training through ``srnn_pyg.engine.fit``,
scoring through ``dataset.score``) is ``accuracy_lib.py``. Real datasets are
read from $SRNN_PYG_DATA (or --data-root). Tables go to
``results/accuracy_<dataset>.md`` (``_quick``/``_full`` in those modes; the
folder is --out).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor, nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy_published as published  # noqa: E402
from accuracy_lib import (Bench, Context, Results, Row, at_step, fmt, run_bench, render,  # noqa: E402
                          score_table, up_to_step, where_we_lose)
from common import markdown_table, write_atomic  # noqa: E402

from srnn_pyg import metrics as M  # noqa: E402
from srnn_pyg.engine import PAPER_NOISE_SCHEDULE  # noqa: E402
from srnn_pyg.models.srnn import PRESETS  # noqa: E402

MODES = ("smoke", "quick", "default", "full")
SUFFIX = {"smoke": "_smoke", "quick": "_quick", "default": "", "full": "_full"}
PAPER = "S-RNN (paper)"
IMPROVED = "S-RNN (improved)"
ETH_SCENES = ("eth", "hotel", "univ", "zara1", "zara2")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


# ================================================================ building blocks
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


def forecasting_rows(stgcn: Dict[str, Any] = None) -> List[Row]:
    """The rows every forecasting table shares: the two S-RNNs, NodeLSTM, GConvGRU and STGCN."""
    return [
        Row(PAPER, "srnn", lambda s: srnn_sizes(s["hidden"]), "tf"),
        Row(IMPROVED, "srnn", lambda s: dict(srnn_sizes(s["hidden"]), residual=True), "tf+rollout"),
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True), "tf+rollout"),
        Row("GConvGRU", "gconv_gru", lambda s: dict(hidden=s["hidden"]), "tf+rollout"),
        Row("STGCN", "stgcn", lambda s: dict(obs_len=s["obs"], horizon=s["horizon"], hidden=s["hidden"],
                                             **(stgcn or {})), "rollout"),
    ]


# ======================================================================= springs
def springs_score(ev) -> Dict[str, float]:
    """The dataset's MSE at single steps (1, 5, 10, 15, 20) and over the horizon."""
    H = ev.collected["pred"].size(1)
    out = {f"MSE@{s}": ev.test.score(at_step(ev.collected, s))["MSE"] for s in (1, 5, 10, 15, 20) if s <= H}
    out[f"MSE 1-{H}"] = ev.test.score(ev.collected)["MSE"]
    return out


def springs_protocol(ctx: Context, res: Results) -> List[str]:
    sets = res.first_sets()
    tr, va, te = sets["train"], sets["val"], sets["test"]
    steps = [c.split("@")[1] for c in next(iter(res.table().values())) if "@" in c]
    return [f"Springs of this library (2 particle masses, 2 spring stiffnesses: 2 node types, 6 edge "
            f"types), 5 particles per system; train / val / test systems {len(tr)} / {len(va)} / {len(te)} "
            f"(seed {ctx.seed}); each system one window of {te.obs} observed and {te.horizon} predicted "
            f"frames; features position and velocity, normalised with the training statistics.",
            f"Metric: MSE of the {te.horizon}-step rollout over all 4 features (normalised units), at "
            f"steps {', '.join(steps)} and over the whole horizon (`Springs.score` on the forecasts of "
            f"each step alone, and on all of them), as examples/forecast_springs.py reports it."]


SPRINGS = Bench(
    dataset="springs", title="Springs (synthetic typed particles)",
    modes={
        "smoke": dict(graphs=16, val_graphs=8, test_graphs=16, epochs=1, hidden=8, batch=16, lr=3e-3),
        "quick": dict(graphs=500, val_graphs=100, test_graphs=200, epochs=8, hidden=32, batch=32, lr=3e-3),
        "default": dict(graphs=1500, val_graphs=200, test_graphs=200, epochs=20, hidden=64, batch=32,
                        lr=3e-3),
        "full": dict(graphs=10000, val_graphs=1000, test_graphs=1000, epochs=100, hidden=128, batch=64,
                     lr=2e-3, patience=10),
    },
    # Springs.open gives val/test splits num_graphs // 5 simulations
    splits=lambda s, g: {"train": dict(num_graphs=s["graphs"]), "val": dict(num_graphs=5 * s["val_graphs"]),
                         "test": dict(num_graphs=5 * s["test_graphs"])},
    rows=lambda s: forecasting_rows() + [
        Row("ConstantVelocity", "constant_velocity", lambda s: dict(position_channels=(0, 1)), "none"),
        Row("ZeroVelocity", "zero_velocity", recipe="none")],
    score=springs_score,
    layout=lambda ctx, res: (["## Test forecast error (normalised units, lower is better)",
                              score_table(res.table(), digits=5)], res.table()),
    lose=lambda ctx, res, sc: (where_we_lose(IMPROVED, sc, ["ZeroVelocity", "NodeLSTM"], digits=5)
                               + where_we_lose(IMPROVED, sc, ["ConstantVelocity", "GConvGRU", "STGCN", PAPER],
                                               digits=5)),
    protocol=springs_protocol, published=published.springs())


# ===================================================================== CMU mocap
def _cmu_rows(s) -> List[Row]:
    bh = s["baseline_hidden"]
    base = {} if bh is None else dict(hidden=bh)
    paper_data = "train_paper" if s.get("paper_stride", s["stride"]) != s["stride"] else "train"
    return [
        Row(PAPER, "srnn", lambda s: paper_sizes(s["paper_scale"]), "tf", noise=PAPER_NOISE_SCHEDULE,
            train_on=paper_data, epochs="paper_epochs"),
        Row(IMPROVED, "srnn", lambda s: dict(srnn_sizes(s["hidden"]), residual=True), "tf+rollout"),
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True), "tf+rollout"),
        Row("ERD", "erd", lambda s: dict(num_nodes=s["num_nodes"], **base), "tf", noise=PAPER_NOISE_SCHEDULE),
        Row("LSTM-3LR", "lstm3lr", lambda s: dict(num_nodes=s["num_nodes"], **base), "tf",
            noise=PAPER_NOISE_SCHEDULE),
        Row("ConstantVelocity", "constant_velocity", recipe="none"),
        Row("ZeroVelocity", "zero_velocity", recipe="none")]


def _cmu_splits(s, g) -> Dict[str, Dict[str, Any]]:
    out = {"train": dict(actions=s.get("actions"), stride=s["stride"]), "test": dict(actions=s.get("actions"))}
    if s.get("paper_stride", s["stride"]) != s["stride"]:
        out["train_paper"] = dict(split="train", actions=s.get("actions"), stride=s["paper_stride"])
    return out


def _cmu_layout(ctx: Context, res: Results):
    """An average table (the mean over the actions) and a table per action,
    columns the score's keys (``80ms`` ...)."""
    actions = list(res.first_sets()["test"].actions)
    per = {label: g[""] for label, g in res.scores.items()}                     # label -> action -> scores
    cols = list(next(iter(next(iter(per.values())).values())))
    for label, by in per.items():
        by["average"] = {c: sum(by[a][c] for a in actions) / len(actions) for c in cols}
    avg = {label: by["average"] for label, by in per.items()}
    act_rows = [[a, label] + [fmt(per[label][a][c]) for c in cols] for a in actions for label in per]
    scores = {label: {f"{a} {c}": by[a][c] for a in actions + ["average"] for c in cols}
              for label, by in per.items()}
    return (["## Euler-angle error, average over the actions (lower is better)", score_table(avg),
             "## Per action", markdown_table(["action", "model"] + cols, act_rows)], scores)


def _compact_lose(subject: str, scores, refs, groups) -> List[str]:
    """Where-we-lose lines grouped by action: ``walking: 560ms, 1000ms``."""
    out = []
    for ref in refs:
        if ref not in scores or subject not in scores:
            continue
        parts = []
        for g in groups:
            lost = [k[len(g) + 1:] for k, v in scores[subject].items()
                    if k.startswith(f"{g} ") and v >= scores[ref][k]]
            if lost:
                parts.append(f"{g}: {', '.join(lost)}")
        scope = "" if len(groups) > 1 else f" ({groups[0]} only)"
        out.append(f"- vs {ref}{scope}: " + ("; ".join(parts) if parts else "none (better everywhere)"))
    return out


def _cmu_lose(ctx: Context, res: Results, scores) -> List[str]:
    actions = list(res.first_sets()["test"].actions)
    return (_compact_lose(IMPROVED, scores, ["ZeroVelocity", "NodeLSTM"], actions + ["average"])
            + _compact_lose(IMPROVED, scores, ["ConstantVelocity", "ERD", "LSTM-3LR", PAPER], ["average"]))


def _cmu_protocol(ctx: Context, res: Results) -> List[str]:
    sets, cfg = res.first_sets(), ctx.cfg
    te = sets["test"]
    paper = f" (the paper-size S-RNN every {cfg['paper_stride']})" if "train_paper" in sets else ""
    return [f"CMU mocap as prepared by Li et al. 2018 ({len(te.actions)} of the protocol's 8 actions: "
            f"{', '.join(te.actions)}; the shared copy holds 5), 25 fps, body-part graph (torso, 2 arms, 2 "
            f"legs: 3 node types, 4 edge types); training on sliding windows of 50 + 25 frames every "
            f"{cfg['stride']} frames{paper}; no validation split (fixed epochs).",
            f"Test: the protocol's seeded windows ({te.num_seeded} per test file, RandomState(1234567890)), "
            f"50 observed frames, 25 predicted (1 s). Metric: Euler-angle error (global translation and "
            f"rotation left out; the dimensions that vary over the true frames), per action and averaged "
            f"over the actions, as `CMUMocap.score` computes it on each action's windows."]


def _cmu_notes(ctx: Context) -> List[str]:
    cfg, notes = ctx.cfg, []
    if cfg["paper_scale"] < 1:
        notes.append(f"In this mode the paper S-RNN keeps the `paper_motion` layer structure with every width "
                     f"scaled by {cfg['paper_scale']:g} (see 'built as'); the default and full modes use the "
                     f"preset's sizes.")
    if cfg["baseline_hidden"] is not None:
        notes.append(f"ERD and LSTM-3LR use width {cfg['baseline_hidden']} in this mode (the paper's sizes, "
                     f"FC500/LSTM1000 and LSTM1000 x3, in the full mode); like S-RNN (paper) they train with "
                     f"teacher forcing and the paper's noise curriculum, as in the S-RNN paper.")
    notes.append("The noise curriculum starts at optimiser step 250 (std 0.01) and reaches 0.7 at step "
                 "3300; 'std reached' in the training table says how far a run got.")
    return notes


CMU_MOCAP = Bench(
    dataset="cmu_mocap", title="CMU motion capture (body-part graph)",
    modes={
        "smoke": dict(stride=200, epochs=1, hidden=8, paper_scale=0.03, paper_epochs=1, batch=16, lr=2e-3,
                      baseline_hidden=8, actions=["walking"]),
        "quick": dict(stride=8, epochs=4, hidden=64, paper_scale=0.25, paper_epochs=3, batch=16, lr=2e-3,
                      baseline_hidden=64),
        "default": dict(stride=4, epochs=10, hidden=128, paper_scale=1.0, paper_epochs=3, paper_stride=8,
                        batch=16, lr=2e-3, baseline_hidden=128),
        "full": dict(stride=1, epochs=40, hidden=256, paper_scale=1.0, paper_epochs=40, batch=32, lr=1e-3,
                     baseline_hidden=None),
    },
    splits=_cmu_splits, rows=_cmu_rows,
    subsets=lambda test: {a: test.action_indices(a) for a in test.actions},
    layout=_cmu_layout, lose=_cmu_lose, protocol=_cmu_protocol, notes=_cmu_notes,
    published=published.cmu_mocap())


# ====================================================================== Los-loop
def los_score(ev) -> Dict[str, float]:
    """``LosLoop.score`` of each reported step alone (15, 30, 45, 60 min) and,
    prefixed ``cum``, of steps ``1..h`` together (T-GCN's convention)."""
    mps, H = ev.test.minutes_per_step, ev.collected["pred"].size(1)
    out: Dict[str, float] = {}
    for cut, prefix in ((at_step, ""), (up_to_step, "cum ")):
        for s in (3, 6, 9, 12):
            if s <= H:
                for key, v in ev.test.score(cut(ev.collected, s)).items():
                    out[f"{prefix}{key.split('@')[0]}@{s * mps}"] = v
    return out


def _los_layout(ctx: Context, res: Results):
    table = res.table()
    at = {label: {k: v for k, v in s.items() if not k.startswith("cum ")} for label, s in table.items()}
    minutes = sorted({int(k.split("@")[1]) for s in at.values() for k in s})
    cum_rows = [[label] + [f"{s[f'cum RMSE@{m}']:.2f} / {s[f'cum MAE@{m}']:.2f}" for m in minutes]
                for label, s in table.items()]
    pct = lambda c: "%" if c.startswith("MAPE") else ""  # noqa: E731
    return (["## Test error at each horizon (lower is better)", score_table(at, digits=2, suffix=pct),
             "## T-GCN's convention: RMSE / MAE over steps 1..h together",
             markdown_table(["model"] + [f"{m} min" for m in minutes], cum_rows)], at)


def _los_protocol(ctx: Context, res: Results) -> List[str]:
    sets, cfg = res.first_sets(), ctx.cfg
    tr, te, full = sets["train"], sets["test"], sets["test_full"]
    return [f"Los-loop (T-GCN's release): 207 sensors, 5-minute speeds, T-GCN's adjacency; chronological "
            f"split: train steps {tr.bounds['train']}, validation {tr.bounds['val']} (the last 10 % of "
            f"T-GCN's 80 % training part, for early stopping), test {tr.bounds['test']}; z-score "
            f"normalisation from the training steps. Windows: {tr.obs} observed steps (1 hour), "
            f"{full.horizon} predicted; training windows every {cfg['stride']} steps, test windows every "
            f"{cfg['test_stride']} ({len(te)} of {len(full)}).",
            "Metrics in mph (MAPE in %) at 15, 30, 45 and 60 minutes ahead: `LosLoop.score` of that step "
            "alone (DCRNN's convention), zero readings left out. One model forecasts all 12 steps."]


LOS_LOOP = Bench(
    dataset="los_loop", title="Los-loop traffic speed (207 METR-LA sensors)",
    modes={
        "smoke": dict(stride=200, val_stride=50, test_stride=50, epochs=1, hidden=8, batch=8, lr=3e-3),
        "quick": dict(stride=8, val_stride=6, test_stride=4, epochs=4, hidden=16, batch=8, lr=3e-3),
        "default": dict(stride=3, val_stride=1, test_stride=1, epochs=10, hidden=32, batch=8, lr=3e-3),
        "full": dict(stride=1, val_stride=1, test_stride=1, epochs=100, hidden=64, batch=16, lr=1e-3,
                     patience=10),
    },
    splits=lambda s, g: {"train": dict(stride=s["stride"]), "val": dict(every=s["val_stride"]),
                         "test": dict(every=s["test_stride"])},
    rows=lambda s: forecasting_rows() + [
        Row("LastValue", "zero_velocity", recipe="none"),
        Row("ObservedMean", factory=ObservedMean, recipe="none", built_as="mean of the 12 observed steps")],
    score=los_score, eval_batch=16, layout=_los_layout,
    lose=lambda ctx, res, sc: (where_we_lose(IMPROVED, sc, ["LastValue", "NodeLSTM"], digits=2)
                               + where_we_lose(IMPROVED, sc, ["STGCN", "GConvGRU", "ObservedMean", PAPER],
                                               digits=2)),
    protocol=_los_protocol, published=published.los_loop())


# ==================================================================== Chickenpox
def _chickenpox_protocol(ctx: Context, res: Results) -> List[str]:
    sets = res.first_sets()
    tr, te = sets["train"], sets["test"]
    return [f"PyG Temporal's Chickenpox: 20 counties, 521 weeks, county adjacency; snapshot i observes "
            f"weeks i..i+{tr.obs - 1} ({tr.obs} lags) and predicts week i+{tr.obs}; PyG Temporal's example "
            f"split `temporal_signal_split(train_ratio=0.2)`: {len(tr)} training and {len(te)} test "
            f"snapshots, no validation (fixed epochs; the improved recipe's fine-tuning is kept or dropped "
            f"on the training windows' rollout MSE). Values as released (already standardised per county).",
            "Metric: MSE (and MAE) over all test snapshots and counties, in the data's units, as PyG "
            "Temporal's examples compute it (`Chickenpox.score`)."]


CHICKENPOX = Bench(
    dataset="chickenpox", title="Chickenpox Hungary (PyG Temporal)",
    modes={
        "smoke": dict(epochs=2, hidden=8, batch=16, lr=1e-2),
        "quick": dict(epochs=30, hidden=16, batch=16, lr=1e-2),
        "default": dict(epochs=40, hidden=32, batch=16, lr=1e-2),
        "full": dict(epochs=40, hidden=64, batch=16, lr=1e-2),
    },
    splits=lambda s, g: {"train": {}, "test": {}},
    rows=lambda s: forecasting_rows(dict(blocks=1, kernel_size=2)) + [
        Row("LastValue", "zero_velocity", recipe="none"),
        Row("Zero (the data's mean)", factory=Constant, recipe="none", built_as="predicts 0")],
    layout=lambda ctx, res: (["## Test error (lower is better)", score_table(res.table(), digits=4)],
                             res.table()),
    lose=lambda ctx, res, sc: (where_we_lose(IMPROVED, sc, ["LastValue", "NodeLSTM"], digits=4)
                               + where_we_lose(IMPROVED, sc, ["Zero (the data's mean)", "GConvGRU", "STGCN",
                                                              PAPER], digits=4)),
    protocol=_chickenpox_protocol, published=published.chickenpox())


# ==================================================================== Brain4Cars
def _decided(collected: Dict[str, Tensor], threshold: float) -> Dict[str, Tensor]:
    """The per-step decisions of Brain4Cars' rule (a maneuver only above
    ``threshold``, :func:`~srnn_pyg.metrics.threshold_labels`) as one-hot
    scores, so that the dataset's arg-max protocol scores that rule."""
    logits = collected["pred"]                                                   # [N, T, C]
    labels = M.threshold_labels(logits.softmax(-1), threshold)                   # [N, T]
    return {**collected, "pred": torch.nn.functional.one_hot(labels, logits.size(-1)).float()}


def brain4cars_score(ev) -> Dict[str, float]:
    """``Brain4Cars.score`` of the threshold rule, the threshold chosen for
    the best F1 on the model's own training windows (never the test)."""
    train = ev.sets[ev.row.train_on]
    seen = ev.collect(train)
    thr = max(THRESHOLDS, key=lambda v: train.score(_decided(seen, v))["f1"])
    return {**ev.test.score(_decided(ev.collected, thr)), "threshold": thr}


def _b4c_layout(ctx: Context, res: Results):
    scores, rows = {}, []
    for label, per in res.scores.items():
        runs = [g[""] for g in per.values()]
        mean = {k: sum(float(r[k]) for r in runs) / len(runs) for k in ("precision", "recall", "f1")}
        ttm = [float(r["time_to_maneuver"]) for r in runs if not math.isnan(float(r["time_to_maneuver"]))]
        scores[label] = {"precision": mean["precision"], "recall": mean["recall"], "F1": mean["f1"]}
        rows.append([label, ", ".join(f"{r['threshold']:.2f}" for r in runs), f"{mean['precision']:.1f}",
                     f"{mean['recall']:.1f}", f"{mean['f1']:.1f}", f"{sum(ttm) / len(ttm):.2f}" if ttm else "nan",
                     ", ".join(f"{r['f1']:.1f}" for r in runs)])
    return (["## Test scores (percent; higher is better)",
             markdown_table(["model", "threshold per fold", "precision", "recall", "F1", "time-to-maneuver (s)",
                             "F1 per fold"], rows)], scores)


def _b4c_protocol(ctx: Context, res: Results) -> List[str]:
    folds = [int(tag.split()[-1]) for tag in res.sets]
    return [f"The S-RNN paper's driving experiment on the RNNexp feature files: folds {folds} (the five test "
            f"files of the shared copy are identical: one 99-sequence test set; the training files differ per "
            f"fold), 7 steps of 0.8 s, 13 features; S-RNN on the driver-road graph (2 node types, 1 edge "
            f"type), NodeLSTM on one node with all 13 features (no structure).",
            "Training: per-step cross-entropy on the driver node's real steps, fixed epochs (no validation "
            "split). Decision (Brain4Cars): the first step whose most likely class is a maneuver with "
            "probability above a threshold announces it; the threshold is the one with the best F1 on the "
            "model's own training data (never the test). Precision and recall are averaged over the 4 "
            "maneuvers, F1 from those averages, time-to-maneuver = time left when a correct maneuver is "
            "announced (`Brain4Cars.score`); all averaged over the folds."]


def _b4c_splits(s, fold) -> Dict[str, Dict[str, Any]]:
    lim = s.get("train_limit")
    return {"train": dict(fold=fold, graph="srnn", limit=lim), "test": dict(fold=fold, graph="srnn"),
            "train_single": dict(split="train", fold=fold, graph="single", limit=lim),
            "test_single": dict(split="test", fold=fold, graph="single")}


BRAIN4CARS = Bench(
    dataset="brain4cars", title="Brain4Cars maneuver anticipation",
    modes={
        "smoke": dict(folds=[1], train_limit=128, epochs=1, hidden=8, batch=64, lr=3e-3, dropout=0.3),
        "quick": dict(folds=[1], epochs=15, hidden=16, batch=64, lr=3e-3, dropout=0.3),
        "default": dict(folds=[1, 2, 3, 4, 5], epochs=30, hidden=32, batch=64, lr=3e-3, dropout=0.3),
        "full": dict(folds=[1, 2, 3, 4, 5], epochs=60, hidden=64, batch=64, lr=3e-3, dropout=0.3),
    },
    groups=lambda ctx: [(f"fold {k}", k) for k in (ctx.args.folds or ctx.cfg["folds"])],
    splits=_b4c_splits,
    rows=lambda s: [
        Row("S-RNN", "srnn", lambda s: dict(srnn_sizes(s["hidden"]), task="classification",
                                            dropout=s["dropout"]), "class"),
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], dropout=s["dropout"]), "class",
            train_on="train_single", test_on="test_single")],
    score=brain4cars_score, eval_batch=256, layout=_b4c_layout, subject="S-RNN",
    lose=lambda ctx, res, sc: where_we_lose("S-RNN", sc, ["NodeLSTM"], higher_better=lambda k: True, digits=1),
    notes=lambda ctx: ["There is no improved S-RNN row here: `residual` and rollout training apply to "
                       "regression only."],
    protocol=_b4c_protocol, published=published.brain4cars())


# ======================================================================= ETH/UCY
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


def _eth_rows(s) -> List[Row]:
    rel = dict(spatial_features="concat_attr", edge_channels=2)
    att = lambda s: dict(srnn_sizes(s["hidden"]), edge_scope="edge", aggr="attention", **rel)  # noqa: E731
    return [
        Row(PAPER, "srnn", lambda s: dict(srnn_sizes(s["hidden"]), **rel), "tf"),
        Row(IMPROVED, "srnn", lambda s: dict(att(s), residual=True), "tf+rollout"),
        Row("S-RNN (improved, spatial=False)", "srnn", lambda s: dict(att(s), residual=True, spatial=False),
            "tf+rollout"),
        Row("S-RNN (Gaussian head)", "srnn", lambda s: dict(att(s), residual=True, head="gaussian"), "nll",
            samples=True),
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True), "tf+rollout"),
        Row("ConstantVelocity", "constant_velocity", recipe="none"),
        Row("ZeroVelocity", "zero_velocity", recipe="none")]


def _eth_label(label: str, key: str) -> str:
    """The table row of a score key: ``ADE`` -> the model; ``minADE@K`` ->
    best of K per pedestrian; ``minADE@K (scene)`` -> best of K per scene."""
    if not key.startswith("min"):
        return label
    K = key.split("@")[1].split()[0]
    return f"{label}, best of {K} per {'scene' if '(scene)' in key else 'pedestrian'}"


def _eth_layout(ctx: Context, res: Results):
    scenes = list(res.sets)
    cells: Dict[str, Dict[str, Dict[str, float]]] = {}                           # row -> scene -> ADE/FDE
    for label, per in res.scores.items():
        for scene in scenes:
            for key, v in per[scene][""].items():
                metric = "ADE" if "ADE" in key else "FDE"
                cells.setdefault(_eth_label(label, key), {}).setdefault(scene, {})[metric] = v
    for per in cells.values():
        per["avg"] = {m: sum(per[s][m] for s in scenes) / len(scenes) for m in ("ADE", "FDE")}
    cols = scenes + ["avg"]
    rows = [[label] + [f"{per[c]['ADE']:.2f} / {per[c]['FDE']:.2f}" for c in cols] for label, per in cells.items()]
    scores = {label: {f"{c} {m}": per[c][m] for c in cols for m in ("ADE", "FDE")} for label, per in cells.items()}
    return ["## ADE / FDE in metres (lower is better)", markdown_table(["model"] + cols, rows)], scores


def _eth_protocol(ctx: Context, res: Results) -> List[str]:
    cfg, K = ctx.cfg, ctx.cfg["samples"]
    counts = "; ".join(f"{s}: {len(v['train'])} / {len(v['val'])} / {len(v['test'])}" for s, v in res.sets.items())
    return [f"Social-GAN's leave-one-scene-out protocol (`ETHUCY`): for each test scene, train on the other "
            f"scenes' `*_train.txt`, validate on their `*_val.txt`, test on the scene's whole recordings (univ "
            f"= students001 + students003); windows of 8 observed and 12 predicted frames (0.4 s steps), every "
            f"frame a start, pedestrians present at all 20 frames, windows with at least 2 of them; all pairs "
            f"of pedestrians are edges (dynamic edge masks). We use every {cfg['train_every']}-th training, "
            f"every {cfg['val_every']}-th validation and every {cfg['test_every']}-th test window (train / val "
            f"/ test windows: {counts}).",
            "Metrics (`ETHUCY.score`): ADE and FDE in metres over every pedestrian of the test windows, "
            "averaged over the scenes in `avg`. Deterministic rows follow one forecast (the Gaussian head: "
            f"its mean). Best-of-{K} rows draw {K} sampled trajectories (each step sampled and fed back): "
            "'per pedestrian' keeps each pedestrian's best sample (Social-STGCNN's definition), 'per scene' "
            "the sample best over each window's pedestrians together (Social-GAN's).",
            "Inputs: each pedestrian's positions relative to its own last observed position (as the dataset "
            "stores them), for every model. The S-RNN rows also give each edge j -> i the constant offset "
            "between the two origins (`edge_attr`, `spatial_features='concat_attr'`), so that their edgeRNNs "
            "can tell where j is seen from i at every step, rollout included. The `spatial=False` row is the "
            "improved model without edgeRNNs: the test of whether interaction modelling helps."]


def _eth_splits(s, scene) -> Dict[str, Dict[str, Any]]:
    kw = dict(test_scene=scene, transform=OriginOffsets())
    return {"train": dict(kw, every=s["train_every"]), "val": dict(kw, every=s["val_every"]),
            "test": dict(kw, every=s["test_every"])}


ETH_UCY = Bench(
    dataset="eth_ucy", title="ETH/UCY pedestrian trajectories (leave-one-scene-out)",
    modes={
        "smoke": dict(scenes=["hotel"], train_every=200, val_every=200, test_every=100, epochs=1, hidden=8,
                      batch=32, lr=3e-3, samples=4),
        "quick": dict(train_every=16, val_every=16, test_every=8, epochs=4, hidden=16, batch=8, lr=3e-3,
                      samples=20),
        "default": dict(train_every=4, val_every=4, test_every=1, epochs=8, hidden=32, batch=32, lr=3e-3,
                        samples=20),
        "full": dict(train_every=1, val_every=1, test_every=1, epochs=60, hidden=64, batch=64, lr=1e-3,
                     samples=20, patience=8),
    },
    groups=lambda ctx: [(s, s) for s in (ctx.args.scenes or ctx.cfg.get("scenes") or ETH_SCENES)],
    splits=_eth_splits, rows=_eth_rows, eval_batch=32, layout=_eth_layout,
    lose=lambda ctx, res, sc: (where_we_lose(IMPROVED, sc, ["ZeroVelocity", "NodeLSTM"])
                               + where_we_lose(IMPROVED, sc, ["ConstantVelocity",
                                                              "S-RNN (improved, spatial=False)"])),
    protocol=_eth_protocol, published=lambda ctx: published.eth_ucy(int(ctx.cfg["samples"])))

BENCHES = {b.dataset: b for b in (SPRINGS, CMU_MOCAP, LOS_LOOP, CHICKENPOX, BRAIN4CARS, ETH_UCY)}
DATASETS = tuple(BENCHES)


# ===================================================================== command
def result_path(out_dir: str, dataset: str, mode: str) -> str:
    """``accuracy_<dataset>.md`` in the default mode, ``accuracy_<dataset>_<mode>.md`` otherwise."""
    return os.path.join(out_dir, f"accuracy_{dataset}{SUFFIX[mode]}.md")


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


def run_one(args, name: str, out_dir: str) -> Optional[str]:
    """Run one dataset's benchmark and write its table; the one-line reason
    when its data cannot be read."""
    ctx = Context(args, BENCHES[name])
    start = time.perf_counter()
    try:
        res = run_bench(ctx)
    except FileNotFoundError as e:
        return f"{name}: no data: {e} (set SRNN_PYG_DATA or pass --data-root)"
    path = result_path(out_dir, name, args.mode)
    write_atomic(path, render(ctx, res, time.perf_counter() - start))
    ctx.log(f"wrote {os.path.relpath(path)} ({time.perf_counter() - start:.0f} s)")
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    status = 0
    for name in (DATASETS if args.dataset == "all" else [args.dataset]):
        reason = run_one(args, name, out_dir)
        if reason:
            print(reason, file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    sys.exit(main())
