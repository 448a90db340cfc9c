"""Accuracy of S-RNN against the baselines, one dataset at a time, under each
dataset's literature protocol, with the published figures beside ours.

For every dataset the table has: the S-RNN as in the paper (teacher forcing;
for motion the paper's sizes, ``preset="paper_motion"``, and its input-noise
curriculum; ``srnn_paper``), the "improved" S-RNN as the library ships it
(``residual=True``, teacher forcing then rollout fine-tuning, the fine-tuning
kept only where it lowers the validation rollout error; ``srnn``), the same
model with ``spatial=False`` (no edgeRNNs: does the graph help?;
``srnn_spatial_false``), and the registry's baselines on the same windows,
``linear_ar`` (pooled, closed form) and ``seasonal_mean`` (where the windows
carry ``t_start``) included. ETH/UCY adds a Gaussian-head S-RNN scored
best-of-20. Every trained row runs once per seed (``--seeds``; 3 in the
default and full modes) with validation early stopping; the tables show mean
± std over the seeds.

    python benchmarks/accuracy.py --dataset springs --quick      # 1-3 min on a 2-core CPU
    python benchmarks/accuracy.py --dataset cmu_mocap            # default mode: 3 seeds, early stopping
    python benchmarks/accuracy.py --dataset all --full --device cuda

This file holds the configurations (one :class:`Bench` per dataset: settings
per mode, splits, models, protocol text and table layout); the machinery
(datasets through the registry, training through ``srnn_pyg.engine.fit``,
scoring through ``dataset.score``) is ``accuracy_lib.py``. Real datasets are
read from $SRNN_PYG_DATA (or --data-root). Tables go to
``results/accuracy_<dataset>.md`` and the same numbers, machine-readable, to
``results/accuracy_<dataset>.json`` (``_quick``/``_full`` in those modes; the
folder is --out).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import accuracy_published as published  # noqa: E402
from accuracy_lib import (Bench, Constant, Context, ObservedMean, Results, Row, View, at_step,  # noqa: E402
                          base_dataset, part_tag, report, result_path, run_bench, up_to_step)
from accuracy_results import Stat, cell, stat_table  # noqa: E402
from common import markdown_table, write_atomic  # noqa: E402

from srnn_pyg import metrics as M  # noqa: E402
from srnn_pyg.engine import PAPER_NOISE_SCHEDULE  # noqa: E402
from srnn_pyg.models.srnn import PRESETS  # noqa: E402
from srnn_pyg.transforms import CompleteGraph, RewireEdges  # noqa: E402

MODES = ("smoke", "quick", "default", "full")
PAPER = "S-RNN (paper)"
PAPER_RECIPE = "S-RNN (paper, official training recipe)"
IMPROVED = "S-RNN (improved)"
NO_GRAPH = "S-RNN (improved, spatial=False)"
NO_TOD = "S-RNN (improved, speed alone)"
#: lags of the pooled linear autoregression: the observed steps, at most this many
MAX_LAGS = 8
#: share of the training recordings (Brain4Cars) held out for validation (`Brain4Cars.holdout`)
VAL_SHARE = 0.2
ETH_SCENES = ("eth", "hotel", "univ", "zara1", "zara2")
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


# ================================================================ building blocks
def srnn_sizes(hidden: int) -> Dict[str, Any]:
    return dict(edge_hidden=hidden, node_hidden=hidden, edge_mlp=(hidden,), node_mlp=(hidden,))


def paper_small(hidden: int) -> Dict[str, Any]:
    """The official architecture (``variant="paper"``) at one width: edgeRNN
    FC-FC-LSTM, nodeRNN LSTM-FC-FC-FC, like the paper's motion model."""
    return dict(variant="paper", edge_hidden=hidden, node_hidden=hidden, edge_mlp=(hidden, hidden),
                node_mlp=(hidden, hidden))


def paper_sizes(scale: float) -> Dict[str, Any]:
    """The ``paper_motion`` preset (``scale=1``) or every width of it scaled down."""
    if scale >= 1:
        return dict(preset="paper_motion")
    p = PRESETS["paper_motion"]

    def s(v: int) -> int:
        return max(4, int(round(v * scale)))

    return dict(preset="paper_motion", edge_hidden=s(p["edge_hidden"]), node_hidden=s(p["node_hidden"]),
                edge_mlp=tuple(s(v) for v in p["edge_mlp"]), node_mlp=tuple(s(v) for v in p["node_mlp"]))


def improved_rows(kwargs, tuned: Optional[Dict[str, Any]] = None, why: str = "") -> List[Row]:
    """The improved S-RNN (``srnn``) and the same without edgeRNNs
    (``srnn_spatial_false``). ``tuned``: keywords chosen for this dataset on
    its validation part (``why`` says where), in both rows; an ablation row
    without them (``srnn_untuned``) shows what they change."""
    tuned = dict(tuned or {})
    rows = [Row(IMPROVED, "srnn", lambda s: dict(kwargs(s), residual=True, **tuned), "tf+rollout", key="srnn",
                built_as=f"chosen on validation: {why}" if tuned else None),
            Row(NO_GRAPH, "srnn", lambda s: dict(kwargs(s), residual=True, spatial=False, **tuned), "tf+rollout",
                key="srnn_spatial_false")]
    if tuned:
        rows.append(Row(f"{IMPROVED}, the library's defaults in place of "
                        f"{', '.join(f'{k}={v!r}' for k, v in tuned.items())}", "srnn",
                        lambda s: dict(kwargs(s), residual=True), "tf+rollout", key="srnn_untuned"))
    return rows


#: seeds of the random graphs of the rewired-graph control (``srnn_rewired``, ``srnn_rewired_g1``, ...)
REWIRE_SEEDS = (0, 1, 2)
REWIRED = "S-RNN (improved), on a random graph with the same degrees"


def rewired_splits(options: Dict[str, Dict[str, Any]], names: Tuple[str, ...]) -> Dict[str, Dict[str, Any]]:
    """``<name>_rw<g>``: the splits ``names`` of ``options`` with the graph
    rewired at random, degrees kept (``RewireEdges(seed=g)``, one graph for
    every window of every split), for each seed of :data:`REWIRE_SEEDS`."""
    return {f"{name}_rw{g}": dict(options[name], transform=RewireEdges(seed=g))
            for g in REWIRE_SEEDS for name in names}


def rewired_rows(kwargs, sets: str, start: str = "") -> List[Row]:
    """The random-graph control: the model of ``kwargs`` (and ``start``) trained and scored on
    ``train_<sets>_rw<g>`` ... (:func:`rewired_splits`), one row per graph."""
    return [Row(REWIRED + (f" (graph {g})" if g else ""), "srnn", kwargs, "tf+rollout",
                key="srnn_rewired" + (f"_g{g}" if g else ""),
                built_as=f"`srnn` on a random graph with the same degrees (RewireEdges(seed={g}))",
                train_on=f"train_{sets}_rw{g}", val_on=f"val_{sets}_rw{g}", test_on=f"test_{sets}_rw{g}",
                start=start)
            for g in REWIRE_SEEDS]


def complete_splits(options: Dict[str, Dict[str, Any]], names: Tuple[str, ...]) -> Dict[str, Dict[str, Any]]:
    """``<name>_cg``: the splits ``names`` of ``options`` with every pair of
    nodes linked (``CompleteGraph()``, edge attributes of new pairs 1)."""
    return {f"{name}_cg": dict(options[name], transform=CompleteGraph()) for name in names}


def complete_rows(kwargs, sets: str, start: str = "") -> List[Row]:
    """Does reading every node beat reading the graph's neighbours? The model
    of ``kwargs`` on the complete graph (``train_<sets>_cg`` ...), and the
    same with one edgeRNN per edge and mean aggregation on the complete graph
    and on the real one (so that the scope's and aggregation's own effect is
    seen apart from the graph's)."""
    cg = dict(train_on=f"train_{sets}_cg", val_on=f"val_{sets}_cg", test_on=f"test_{sets}_cg", start=start)
    mean = lambda s: dict(kwargs(s), edge_scope="edge", aggr="mean")  # noqa: E731
    return [Row("S-RNN (improved), on the complete graph", "srnn", kwargs, "tf+rollout", key="srnn_complete",
                built_as="`srnn` with every pair of nodes linked (CompleteGraph())", **cg),
            Row("S-RNN (improved), on the complete graph, mean aggregation", "srnn", mean, "tf+rollout",
                key="srnn_complete_mean", built_as="`srnn` with one edgeRNN per edge, their outputs averaged "
                "(edge_scope='edge', aggr='mean'), every pair of nodes linked (CompleteGraph())", **cg),
            Row("S-RNN (improved), mean aggregation", "srnn", mean, "tf+rollout", key="srnn_mean",
                built_as="`srnn` with edge_scope='edge', aggr='mean' on the dataset's graph",
                train_on=f"train_{sets}", val_on=f"val_{sets}", test_on=f"test_{sets}", start=start)]


def closed_form_rows() -> List[Row]:
    """Pooled linear autoregression on the last ``min(obs, 8)`` steps, and the
    per-node time-of-day mean (skipped where the windows carry no ``t_start``)."""
    return [Row("LinearAR (pooled)", "linear_ar", lambda s: dict(lags=min(int(s["obs"]), MAX_LAGS)),
                "closed_form"),
            Row("SeasonalMean (time of day)", "seasonal_mean",
                lambda s: dict(period=int(s["period"])) if s.get("period") else {}, "closed_form")]


def covariate_linear_rows(tag: str, covariates: int, reads: str) -> List[Row]:
    """The pooled and per-node linear autoregressions reading the covariates the improved S-RNN reads
    (the ``train_<tag>``/``val_<tag>``/``test_<tag>`` windows; ``reads``: what they hold), the
    covariates of the predicted steps from ``u_future`` as S-RNN's forecasts take them."""
    sets = dict(train_on=f"train_{tag}", val_on=f"val_{tag}", test_on=f"test_{tag}")
    lags = lambda s: min(int(s["obs"]), MAX_LAGS)  # noqa: E731
    return [Row(f"LinearAR (pooled), reading {reads}", "linear_ar",
                lambda s: dict(lags=lags(s), covariates=covariates), "closed_form", key=f"linear_ar_{tag}",
                built_as=f"reads {reads} as `srnn` does, the covariates of the predicted steps from u_future",
                **sets),
            Row(f"LinearAR (per node), reading {reads}", "linear_ar",
                lambda s: dict(lags=lags(s), covariates=covariates, per_node=True), "closed_form",
                key=f"linear_ar_per_node_{tag}", built_as=f"`linear_ar_{tag}` with one coefficient set per node",
                **sets)]


def forecasting_rows(stgcn: Dict[str, Any] = None, tuned: Optional[Dict[str, Any]] = None,
                     why: str = "") -> List[Row]:
    """The rows every forecasting table shares: the S-RNNs, NodeLSTM, GConvGRU,
    STGCN and the closed-form baselines (``tuned``, ``why``: :func:`improved_rows`)."""
    return [Row(PAPER, "srnn", lambda s: paper_small(s["hidden"]), "tf", key="srnn_paper")] \
        + improved_rows(lambda s: srnn_sizes(s["hidden"]), tuned, why) + [
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True), "tf+rollout"),
        Row("GConvGRU", "gconv_gru", lambda s: dict(hidden=s["hidden"]), "tf+rollout"),
        Row("STGCN", "stgcn", lambda s: dict(obs_len=s["obs"], horizon=s["horizon"], hidden=s["hidden"],
                                             **(stgcn or {})), "rollout")] + closed_form_rows()


def covariate_baseline_rows(tag: str, covariates: int, reads: str,
                            stgcn: Optional[Dict[str, Any]] = None) -> List[Row]:
    """NodeLSTM, GConvGRU and STGCN as :func:`forecasting_rows` builds them, reading the covariates the
    improved S-RNN reads (the ``*_<tag>`` windows; ``reads``: what they hold): the recurrent two read the
    covariates of the predicted steps from ``u_future`` as S-RNN's forecasts take them; STGCN, a direct
    multi-step model, reads them over the observed window only."""
    sets = dict(train_on=f"train_{tag}", val_on=f"val_{tag}", test_on=f"test_{tag}")
    why = f"reads {reads} as `srnn` does"
    future = ", the covariates of the predicted steps from u_future"
    return [Row(f"NodeLSTM, reading {reads}", "node_lstm",
                lambda s: dict(hidden=s["hidden"], residual=True, covariates=covariates), "tf+rollout",
                key=f"node_lstm_{tag}", built_as=why + future, **sets),
            Row(f"GConvGRU, reading {reads}", "gconv_gru",
                lambda s: dict(hidden=s["hidden"], covariates=covariates), "tf+rollout",
                key=f"gconv_gru_{tag}", built_as=why + future, **sets),
            Row(f"STGCN, reading {reads}", "stgcn",
                lambda s: dict(obs_len=s["obs"], horizon=s["horizon"], hidden=s["hidden"], covariates=covariates,
                               **(stgcn or {})), "rollout",
                key=f"stgcn_{tag}", built_as=why + " over the observed window (a direct forecast has no future "
                "inputs)", **sets)]


# ======================================================================= springs
SPRINGS_STEPS = (1, 5, 10, 15, 20)


def springs_score(ev) -> Dict[str, float]:
    """The dataset's MSE at single steps (1, 5, 10, 15, 20) and over the horizon."""
    H = ev.collected["pred"].size(1)
    out = {f"mse@{s}": ev.test.score(at_step(ev.collected, s))["MSE"] for s in SPRINGS_STEPS if s <= H}
    out[f"mse@1-{H}"] = ev.test.score(ev.collected)["MSE"]
    return out


def springs_protocol(ctx: Context, res: Results) -> List[str]:
    sets = res.first_sets()
    tr, va, te = sets["train"], sets["val"], sets["test"]
    steps = [str(s) for s in SPRINGS_STEPS if s <= te.horizon]
    return [f"Springs of this library (2 particle masses, 2 spring stiffnesses: 2 node types, 6 edge "
            f"types), 5 particles per system; train / val / test systems {len(tr)} / {len(va)} / {len(te)} "
            f"(data seed {ctx.seed}); each system one window of {te.obs} observed and {te.horizon} predicted "
            f"frames; features position and velocity, normalised with the training statistics. Validation: "
            f"the dataset's own validation simulations.",
            f"Metric: MSE of the {te.horizon}-step rollout over all 4 features (normalised units), at "
            f"steps {', '.join(steps)} (`mse@k`) and over the whole horizon (`mse@1-{te.horizon}`; "
            f"`Springs.score` on the forecasts of each step alone, and on all of them), as "
            f"examples/forecast_springs.py reports it."]


#: Springs' validation part prefers the S-RNN with the official fused LSTM outputs ([h, input] to the
#: decoder), over the linear autoregressive skip and over both (docs/accuracy.md)
SPRINGS_TUNED = dict(fused_lstm=True)

SPRINGS = Bench(
    dataset="springs", title="Springs (synthetic typed particles)",
    modes={
        "smoke": dict(graphs=16, val_graphs=8, test_graphs=16, epochs=1, hidden=8, batch=16, lr=3e-3),
        "quick": dict(graphs=500, val_graphs=100, test_graphs=200, epochs=8, hidden=32, batch=32, lr=3e-3),
        "default": dict(graphs=1500, val_graphs=200, test_graphs=200, epochs=60, patience=6, hidden=64,
                        batch=32, lr=3e-3),
        "full": dict(graphs=10000, val_graphs=1000, test_graphs=1000, epochs=200, patience=10, hidden=128,
                     batch=64, lr=2e-3),
    },
    # Springs.open gives val/test splits num_graphs // 5 simulations
    splits=lambda s, g: {"train": dict(num_graphs=s["graphs"]), "val": dict(num_graphs=5 * s["val_graphs"]),
                         "test": dict(num_graphs=5 * s["test_graphs"])},
    rows=lambda s: forecasting_rows(tuned=SPRINGS_TUNED,
                                    why="the official fused LSTM outputs: validation rollout MSE 0.0016 "
                                        "against 0.0035 without them, 0.0024 with the autoregressive skip "
                                        "instead, 0.0019 with both (results/ablation_springs_quick_fused.md)"
                                    ) + [
        Row("ConstantVelocity", "constant_velocity", lambda s: dict(position_channels=(0, 1)), "none"),
        Row("ZeroVelocity", "zero_velocity", recipe="none")],
    score=springs_score, digits=5,
    tables=lambda ctx, res, agg: ["## Test forecast error (normalised units, lower is better)",
                                  stat_table(agg, digits=5)],
    protocol=springs_protocol, published=published.springs())


# ===================================================================== CMU mocap
#: CMU mocap's validation part prefers the improved S-RNN's settings from before 0.2 (the only
#: dataset so far where the linear encoder and the uniform init lose on validation)
CMU_TUNED = dict(linear_encoder=False, init="default")
#: ... and velocity inputs: the improved rows read the "_pv" windows (features="pos_vel") and rebuild the
#: velocities of their own predictions (derived="velocity" with the dataset's velocity_scale); the "_pvw"
#: windows also weigh the loss by each pose feature's spread (loss_weight="std"; level on validation);
#: the mode setting "dropout" (0.3, chosen in the default mode on validation) reaches the S-RNN rows
#: built on the shipped one, the model without edges and NodeLSTM; the "_no_dropout" rows are their ablations
CMU_WINDOWS = {"pv": dict(features="pos_vel"), "pvw": dict(features="pos_vel", loss_weight="std")}
CMU_WHY = ("poses and their per-frame change in (features='pos_vel'), poses out: validation Euler error, mean "
           "of the six horizons, 0.885 +- 0.010 against 0.949 +- 0.015 for poses alone "
           "(results/validation_cmu_mocap.md); a ReLU encoder layer and PyTorch's init (the improved S-RNN "
           "before 0.2): validation MSE 0.164 against 0.173 with the 0.2 defaults "
           "(results/ablation_cmu_mocap_quick_encoder_init.md); dropout 0.3: validation MSE 0.134 +- 0.002 "
           "against 0.142 +- 0.003 without, lower in every seed (results/accuracy_cmu_mocap_dropout_joined.md)")


def _on(windows: str) -> Dict[str, str]:
    return dict(train_on=f"train_{windows}", val_on=f"val_{windows}", test_on=f"test_{windows}")


def _cmu_velocity(s) -> Dict[str, Any]:
    return dict(derived="velocity", velocity_scale=s["velocity_scale"])


def _cmu_rows(s) -> List[Row]:
    bh = s["baseline_hidden"]
    base = {} if bh is None else dict(hidden=bh)
    paper_data = "train_paper" if s.get("paper_stride", s["stride"]) != s["stride"] else "train"
    improved = lambda s: dict(srnn_sizes(s["hidden"]), residual=True, **CMU_TUNED)  # noqa: E731
    with_velocity = lambda s: dict(improved(s), **_cmu_velocity(s), dropout=s["dropout"])  # noqa: E731
    return [
        Row(PAPER, "srnn", lambda s: paper_sizes(s["paper_scale"]), "tf", noise=PAPER_NOISE_SCHEDULE,
            train_on=paper_data, epochs="paper_epochs", key="srnn_paper"),
        Row(PAPER_RECIPE, "srnn", lambda s: paper_sizes(s["paper_scale"]), "paper", train_on=paper_data,
            epochs="paper_epochs", key="srnn_paper_recipe"),
        Row(IMPROVED, "srnn", with_velocity, "tf+rollout", key="srnn", built_as=f"chosen on validation: {CMU_WHY}",
            **_on("pv")),
        Row(NO_GRAPH, "srnn", lambda s: dict(with_velocity(s), spatial=False), "tf+rollout",
            key="srnn_spatial_false", **_on("pv")),
        Row(f"{IMPROVED}, no dropout", "srnn", lambda s: dict(with_velocity(s), dropout=0.0), "tf+rollout",
            key="srnn_no_dropout", built_as="the improved row before dropout", **_on("pv")),
        Row(f"{NO_GRAPH}, no dropout", "srnn", lambda s: dict(with_velocity(s), spatial=False, dropout=0.0),
            "tf+rollout", key="srnn_spatial_false_no_dropout", **_on("pv")),
        Row(f"{IMPROVED}, poses in, no dropout", "srnn", improved, "tf+rollout", key="srnn_positions",
            built_as="the improved row before velocity inputs and dropout"),
        Row(f"{IMPROVED}, + loss weighted by each pose feature's spread (loss_weight='std'; level on validation, "
            f"not adopted), no dropout", "srnn", lambda s: dict(with_velocity(s), dropout=0.0), "tf+rollout",
            key="srnn_weighted", **_on("pvw")),
        Row(f"{IMPROVED}, twice the width, no dropout", "srnn",
            lambda s: dict(with_velocity(s), **srnn_sizes(2 * s["hidden"]), dropout=0.0), "tf+rollout",
            key="srnn_wide", **_on("pv")),
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True, dropout=s["dropout"]),
            "tf+rollout"),
        Row("NodeLSTM, no dropout", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True), "tf+rollout",
            key="node_lstm_no_dropout"),
        Row("NodeLSTM, reading poses and their per-frame change", "node_lstm",
            lambda s: dict(hidden=s["hidden"], residual=True, dropout=s["dropout"], **_cmu_velocity(s)),
            "tf+rollout", key="node_lstm_velocity", built_as="reads what `srnn` reads (derived velocities rebuilt "
            "from its own predictions in a forecast), the same dropout", **_on("pv")),
        Row("ERD", "erd", lambda s: dict(num_nodes=s["num_nodes"], **base), "tf", noise=PAPER_NOISE_SCHEDULE),
        Row("LSTM-3LR", "lstm3lr", lambda s: dict(num_nodes=s["num_nodes"], **base), "tf",
            noise=PAPER_NOISE_SCHEDULE),
        Row("ConstantVelocity", "constant_velocity", recipe="none"),
        Row("ZeroVelocity", "zero_velocity", recipe="none")] + closed_form_rows()


def _cmu_splits(s, g) -> Dict[str, Dict[str, Any]]:
    out = {"train": dict(actions=s.get("actions"), stride=s["stride"]), "test": dict(actions=s.get("actions"))}
    if s.get("paper_stride", s["stride"]) != s["stride"]:
        out["train_paper"] = dict(split="train", actions=s.get("actions"), stride=s["paper_stride"])
    parts = {"train": "train", "test": "test"}
    if s.get("val_stride", s["stride"]) != s["stride"]:  # the validation windows at their own stride
        out["val_windows"] = dict(actions=s.get("actions"), stride=s["val_stride"])
        parts["val_windows"] = "train"
    for name, options in CMU_WINDOWS.items():  # the same windows with velocities (and loss weights)
        for part, split in parts.items():
            out[f"{part}_{name}"] = dict(out[part], split=split, **options)
    if "val_windows" in out:
        out["val_windows"]["split"] = "train"
    return out


def held_out_files(ds) -> Tuple[List[int], List[int]]:
    """Positions in ``ds`` (a training split or a view of one) of the windows
    of the other recordings and of each action's last training recording."""
    base = list(ds.indices())
    rec = [ds.index[i][0] for i in base]
    last: Dict[str, int] = {}
    for i, r in zip(base, rec):
        last[ds.window_action[i]] = max(last.get(ds.window_action[i], -1), r)
    held = set(last.values())
    return [p for p, r in enumerate(rec) if r not in held], [p for p, r in enumerate(rec) if r in held]


def _recordings(ds, positions: List[int]) -> set:
    base = list(ds.indices())
    return {ds.index[base[p]][0] for p in positions}


def _cmu_carve(ctx: Context, sets: Dict[str, Any]) -> None:
    """Validation = the windows of each action's last training recording
    (``<action>_5.txt`` in the shared copy), at the training stride (or
    ``val_stride`` where the mode sets one); every model trains on the other
    recordings (no overlap: whole files)."""
    extra = {k: sets.pop(k) for k in [k for k in sets if k.startswith("val_windows")]}
    keep, held = held_out_files(sets["train"])
    if not held or not keep:
        return                                          # too little data to hold a file out: no validation
    source = extra.get("val_windows")
    val_held = held_out_files(source)[1] if source is not None else held
    if source is not None and _recordings(source, val_held) != _recordings(sets["train"], held):
        raise RuntimeError("val_windows: its held-out recordings differ from the training split's")
    sets["val"], sets["train"] = (sets["train"] if source is None else source)[val_held], sets["train"][keep]
    for name in CMU_WINDOWS:                            # the same windows: the same recordings held out
        if f"train_{name}" in sets:
            other = sets[f"train_{name}"]
            if len(other) != len(keep) + len(held):
                raise RuntimeError(f"train_{name}: {len(other)} windows, 'train' {len(keep) + len(held)}: they must "
                                   f"be the same windows")
            val_other = extra.get(f"val_windows_{name}")
            sets[f"val_{name}"] = (other if val_other is None else val_other)[val_held]
            sets[f"train_{name}"] = other[keep]
    if "train_paper" in sets:
        sets["train_paper"] = sets["train_paper"][held_out_files(sets["train_paper"])[0]]


def cmu_score(ev) -> Dict[str, float]:
    """``CMUMocap.score`` (the dimensions constant in training at their training
    mean); with the setting ``former_scoring`` also ``former_<ms>``, the same
    Euler error with a model's predicted values of those dimensions kept, as the
    tables made before that change scored them: the same models, both ways."""
    out = ev.test.score(ev.collected)
    if ev.ctx.cfg.get("former_scoring"):
        ds = ev.test
        pred, y = ev.collected["pred"], ev.collected["y"][:, :ev.collected["pred"].size(1)]
        raw = [ds.to_pose(v, denormalize=False) * ds.std + ds.mean for v in (pred, y)]   # no reset
        err = M.euler_angle_error(*raw)
        frames = M.frames_at_ms(ds.report_ms, fps=ds.fps)
        out.update({f"former_{ms}ms": float(err[f]) for ms, f in zip(ds.report_ms, frames) if f < pred.size(1)})
    return out


def _cmu_metrics(ctx: Context, view: View) -> Dict[str, Dict[str, float]]:
    """``euler@<ms>``: the mean over the actions; ``euler@<ms>_<action>``: one action."""
    actions = list(view.first_sets()["test"].actions)
    out = {}
    for label, per in view.scores.items():
        by = per[""]                                                             # action -> scores
        cols = list(by[actions[0]])
        m = {f"euler@{c}": sum(by[a][c] for a in actions) / len(actions) for c in cols}
        m.update({f"euler@{c}_{a}": by[a][c] for a in actions for c in cols})
        out[label] = m
    return out


def _cmu_tables(ctx: Context, res: Results, agg: Dict[str, Dict[str, Stat]]) -> List[str]:
    actions = list(res.first_sets()["test"].actions)
    cols = [k for k in next(iter(agg.values())) if "_" not in k]                # euler@80ms ...
    act_rows = [[a, label] + [cell(agg[label].get(f"{c}_{a}")) for c in cols] for a in actions for label in agg]
    head = [c.split("@")[1] for c in cols]
    return ["## Euler-angle error, average over the actions (lower is better)",
            stat_table(agg, cols, header=lambda c: c.split("@")[1]),
            "## Per action", markdown_table(["action", "model"] + head, act_rows)]


def _cmu_protocol(ctx: Context, res: Results) -> List[str]:
    sets, cfg = res.first_sets(), ctx.cfg
    te, va = sets["test"], sets["val"]
    paper = f" (the paper-size S-RNN every {cfg['paper_stride']})" if "train_paper" in sets else ""
    return [f"CMU mocap as prepared by Li et al. 2018 ({len(te.actions)} of the protocol's 8 actions: "
            f"{', '.join(te.actions)}; the shared copy holds 5), 25 fps, body-part graph (torso, 2 arms, 2 "
            f"legs: 3 node types, 4 edge types); training on sliding windows of 50 + 25 frames every "
            f"{cfg['stride']} frames{paper}.",
            f"Validation (the protocol has none): carved from the training data, the whole last training "
            f"recording of each action (`<action>_5.txt` here; {len(va)} windows, every "
            f"{cfg.get('val_stride', cfg['stride'])} frames), "
            f"which no model trains on; it drives early stopping, `restore_best` and the rollout fine-tuning "
            f"choice, on {_cmu_selection(cfg.get('select'))}. Normalisation statistics are those of all training "
            f"files, as the protocol's." + (
                " With `refit` (this table), each trained row is then trained again from scratch (the same seed) "
                "on every training recording, the held-out one included, for the epochs of each phase kept on "
                "validation, and that model is scored on the test; the validation scores below are the selection "
                "run's." if cfg.get("refit") else ""),
            f"Test: the protocol's seeded windows ({te.num_seeded} per test file, RandomState(1234567890)), "
            f"50 observed frames, 25 predicted (1 s). Metric: Euler-angle error (global translation and "
            f"rotation left out; the dimensions that vary over the true frames), per action "
            f"(`euler@<ms>_<action>`) and averaged over the actions (`euler@<ms>`), as `CMUMocap.score` "
            f"computes it on each action's windows."]


def _cmu_selection(select: Optional[str]) -> str:
    if select == "euler":
        return ("the protocol's own metric (`select=euler`: the Euler-angle error of `CMUMocap.score`, mean of its "
                "six horizons)")
    if select is None or select == "mse":
        return "the rollout MSE of the normalised features (`select=mse`)"
    return f"`{select}` (`select`)"


def _cmu_val_score(val_set):
    """``CMUMocap.score`` on the validation windows (``euler@80ms``, ...) and ``euler``, the mean of its
    horizons: what every CMU mode selects on (``select="euler"``: early stopping, the best epoch, the rollout
    fine-tuning choice; ``--set select=mse`` selects on the pooled rollout MSE instead)."""
    base = base_dataset(val_set)

    def score(collected: Dict[str, Tensor]) -> Dict[str, float]:
        per = base.score(collected)
        return {**{f"euler@{k}": v for k, v in per.items()}, "euler": sum(per.values()) / len(per)}
    return score


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
                      baseline_hidden=8, actions=["walking"], dropout=0.3, select="euler"),
        "quick": dict(stride=8, epochs=4, hidden=64, paper_scale=0.25, paper_epochs=3, batch=16, lr=2e-3,
                      baseline_hidden=64, dropout=0.3, select="euler"),
        "default": dict(stride=4, val_stride=4, epochs=40, patience=5, hidden=128, paper_scale=1.0,
                        paper_epochs=10, paper_stride=8, batch=16, lr=2e-3, baseline_hidden=128, dropout=0.3,
                        select="euler"),
        "full": dict(stride=1, epochs=100, patience=10, hidden=256, paper_scale=1.0, paper_epochs=100, batch=32,
                     lr=1e-3, baseline_hidden=None, dropout=0.3, select="euler"),
    },
    splits=_cmu_splits, rows=_cmu_rows, carve=_cmu_carve, val_score=_cmu_val_score, score=cmu_score,
    refit_on=lambda sets, key: sets[f"{key}_full"],        # the training split before the carve
    subsets=lambda test: {a: test.action_indices(a) for a in test.actions},
    metrics=_cmu_metrics, tables=_cmu_tables, protocol=_cmu_protocol, notes=_cmu_notes,
    published=published.cmu_mocap())


# ====================================================================== Los-loop
def los_score(ev) -> Dict[str, float]:
    """``LosLoop.score`` of each reported step alone (``mae@15`` ... for 15,
    30, 45, 60 min) and, prefixed ``cum_``, of steps ``1..h`` together (T-GCN's
    convention)."""
    mps, H = ev.test.minutes_per_step, ev.collected["pred"].size(1)
    out: Dict[str, float] = {}
    for cut, prefix in ((at_step, ""), (up_to_step, "cum_")):
        for s in (3, 6, 9, 12):
            if s <= H:
                for key, v in ev.test.score(cut(ev.collected, s)).items():
                    out[f"{prefix}{key.split('@')[0].lower()}@{s * mps}"] = v
    return out


def _los_tables(ctx: Context, res: Results, agg: Dict[str, Dict[str, Stat]]) -> List[str]:
    cols = [k for k in next(iter(agg.values())) if not k.startswith("cum_")]
    minutes = list(dict.fromkeys(int(k.split("@")[1]) for k in cols))
    cum_rows = [[label] + [f"{cell(s.get(f'cum_rmse@{m}'), 2)} / {cell(s.get(f'cum_mae@{m}'), 2)}" for m in minutes]
                for label, s in agg.items()]
    pct = lambda c: "%" if c.startswith("mape") else ""  # noqa: E731
    return ["## Test error at each horizon (lower is better)", stat_table(agg, cols, digits=2, suffix=pct),
            "## T-GCN's convention: RMSE / MAE over steps 1..h together",
            markdown_table(["model"] + [f"{m} min" for m in minutes], cum_rows)]


def _los_protocol(ctx: Context, res: Results) -> List[str]:
    sets, cfg = res.first_sets(), ctx.cfg
    tr, te, full = sets["train"], sets["test"], sets["test_full"]
    return [f"Los-loop (T-GCN's release): 207 sensors, 5-minute speeds, T-GCN's adjacency; chronological "
            f"split: train steps {tr.bounds['train']}, validation {tr.bounds['val']} (the last 10 % of "
            f"T-GCN's 80 % training part: early stopping, `restore_best`, the rollout fine-tuning choice), "
            f"test {tr.bounds['test']}; z-score normalisation from the training steps. Windows: {tr.obs} "
            f"observed steps (1 hour), {full.horizon} predicted; training windows every {cfg['stride']} steps, "
            f"test windows every {cfg['test_stride']} ({len(te)} of {len(full)}).",
            "Metrics in mph (MAPE in %) at 15, 30, 45 and 60 minutes ahead: `LosLoop.score` of that step "
            "alone (DCRNN's convention; `mae@15` ...), zero readings left out; `cum_rmse@h` ... over steps "
            "1..h together (T-GCN's convention). One model forecasts all 12 steps.",
            "SeasonalMean: each sensor's mean speed at each 5-minute time of day over the training windows "
            "(`t_start`; the file is assumed to start at midnight, one week long, so no day-of-week term).",
            "`srnn` and `srnn_spatial_false` read, besides the speed, the time of day `(sin, cos)` and the "
            "sensor's daily profile (its training mean at that time of day, leave-one-day-out inside the "
            "training part: `LosLoop(time_of_day=True, daily_profile=True)`), the future values as covariates; "
            "choices made on validation. The rows `node_lstm_prof`, `gconv_gru_prof` and `stgcn_prof` give "
            "NodeLSTM, GConvGRU and STGCN the same inputs (STGCN over the observed window only: a direct "
            "forecast has no future inputs); `node_lstm`, `gconv_gru` and `stgcn` read the speed alone."]


def _los_rows(s) -> List[Row]:
    """The shared rows, with the improved S-RNNs reading the time of day and each sensor's daily profile,
    both chosen on validation (results/ablation_los_loop_time_of_day.md, ablation_los_loop_daily_profile.md).
    They read (speed, sin, cos of the time of day, the sensor's training mean at that time of day), the
    future values as covariates, and predict speed; ``srnn_no_daily_profile`` reads the clock alone,
    ``srnn_no_time_of_day`` the speed alone."""
    tod = dict(train_on="train_tod", val_on="val_tod", test_on="test_tod")
    prof = dict(train_on="train_prof", val_on="val_prof", test_on="test_prof")
    base = lambda s: dict(srnn_sizes(s["hidden"]), residual=True)  # noqa: E731
    why = ("chosen on validation: reads (speed, sin, cos of the time of day, the sensor's daily profile), "
           "predicts speed; validation MAE 0.249 against 0.268 without the profile "
           "(results/ablation_los_loop_daily_profile.md) and 0.280 on speed alone")
    improved = [Row(IMPROVED, "srnn", lambda s: dict(base(s), covariates=3), "tf+rollout", key="srnn",
                    built_as=why, **prof),
                Row(NO_GRAPH, "srnn", lambda s: dict(base(s), covariates=3, spatial=False), "tf+rollout",
                    key="srnn_spatial_false", built_as="the same without edgeRNNs", **prof),
                Row(f"{IMPROVED}, without the daily profile", "srnn", lambda s: dict(base(s), covariates=2),
                    "tf+rollout", key="srnn_no_daily_profile", built_as="reads (speed, sin, cos of the time of day)",
                    **tod),
                Row(NO_TOD, "srnn", base, "tf+rollout", key="srnn_no_time_of_day"),
                *rewired_rows(lambda s: dict(base(s), covariates=3), "prof")]
    shared = [r for r in forecasting_rows() if r.json_key not in ("srnn", "srnn_spatial_false")]
    return shared[:1] + improved + shared[1:] + [
        Row("LastValue", "zero_velocity", recipe="none"),
        Row("ObservedMean", factory=ObservedMean, recipe="none", built_as="mean of the 12 observed steps",
            key="observed_mean"),
        # the linear baselines given what `srnn` reads: the clock and the daily profile, known in advance
        *covariate_linear_rows("prof", 3, "the clock and daily profile"),
        # and the trained baselines given the same
        *covariate_baseline_rows("prof", 3, "the clock and daily profile")]


def _los_splits(s, g) -> Dict[str, Dict[str, Any]]:
    out = {"train": dict(stride=s["stride"]), "val": dict(every=s["val_stride"]),
           "test": dict(every=s["test_stride"])}
    for k in ("train", "val", "test"):
        # the same windows with the time of day as two covariates (LosLoop(time_of_day=True)), and with
        # each sensor's daily profile as a third (LosLoop(daily_profile=True))
        out[f"{k}_tod"] = dict(out[k], split=k, time_of_day=True)
        out[f"{k}_prof"] = dict(out[k], split=k, time_of_day=True, daily_profile=True)
    # and the last on a random road graph with the same degrees (the control rows)
    return {**out, **rewired_splits(out, ("train_prof", "val_prof", "test_prof"))}


LOS_LOOP = Bench(
    dataset="los_loop", title="Los-loop traffic speed (207 METR-LA sensors)",
    modes={
        "smoke": dict(stride=200, val_stride=50, test_stride=50, epochs=1, hidden=8, batch=8, lr=3e-3),
        "quick": dict(stride=8, val_stride=6, test_stride=4, epochs=4, hidden=16, batch=8, lr=3e-3),
        "default": dict(stride=3, val_stride=1, test_stride=1, epochs=40, patience=5, hidden=32, batch=8,
                        lr=3e-3),
        "full": dict(stride=1, val_stride=1, test_stride=1, epochs=200, patience=10, hidden=64, batch=16,
                     lr=1e-3),
    },
    splits=_los_splits,
    rows=lambda s: _los_rows(s),
    score=los_score, eval_batch=16, tables=_los_tables, digits=2,
    protocol=_los_protocol, published=published.los_loop())


# ==================================================================== Chickenpox
#: share of all snapshots carved from the end of PyG Temporal's training part for validation
CHICKENPOX_VAL = 0.04
#: with ``--set val_as_test=1`` (a rehearsal that never reads the test weeks): the share carved instead, the
#: protocol's validation weeks (scored as the test) and as many weeks before them (the rehearsal's validation)
CHICKENPOX_REHEARSAL = 0.08


def _chickenpox_protocol(ctx: Context, res: Results) -> List[str]:
    sets = res.first_sets()
    tr, va, te = sets["train"], sets["val"], sets["test"]
    rehearse = ctx.cfg.get("val_as_test")
    if rehearse:
        parts = (f"test part not opened (see the rehearsal below). The protocol has no validation part; here "
                 f"the models train on the first {len(tr)} of PyG Temporal's {len(sets['trainval']) + len(te)} "
                 f"training snapshots, the next {len(va)} are the validation (early stopping, `restore_best`, the "
                 f"rollout fine-tuning choice) and the last {len(te)} (the protocol's validation part) the test.")
    else:
        parts = (f"test part unchanged ({len(te)} snapshots). The protocol has no validation part: "
                 f"`val_ratio={CHICKENPOX_VAL}` carves the last {len(va)} of the {len(tr) + len(va)} training "
                 f"snapshots for it (early stopping, `restore_best`, the rollout fine-tuning choice); the models "
                 f"train on the first {len(tr)}.")
    return [f"PyG Temporal's Chickenpox: 20 counties, 521 weeks, county adjacency; snapshot i observes "
            f"weeks i..i+{tr.obs - 1} ({tr.obs} lags) and predicts week i+{tr.obs}; PyG Temporal's example "
            f"split `temporal_signal_split(train_ratio=0.2)`, {parts} Values as released: standardised "
            f"per county with the mean and standard deviation of all the file's weeks, the test weeks included "
            f"(the protocol's units; no statistics are fitted here).",
            "Metric: MSE (and MAE) over all test snapshots and counties, in the data's units, as PyG "
            "Temporal's examples compute it (`Chickenpox.score`).",
            "`srnn` and `srnn_spatial_false` also read the time of year, `(sin, cos)` of the week on a "
            "365.25-day year counted from the file's first week (`Chickenpox(week_of_year=True)`, future values "
            "as covariates): a choice made on validation. The rows `node_lstm_woy`, `gconv_gru_woy` and "
            "`stgcn_woy` give NodeLSTM, GConvGRU and STGCN the same inputs (STGCN over the observed window "
            "only: a direct forecast has no future inputs); `node_lstm`, `gconv_gru` and `stgcn` read the cases "
            "alone. SeasonalMean is each county's training mean at the same "
            "week of a 52-week year (`t_start`), from the under two years the training part holds."] + (
        [f"**Rehearsal (`val_as_test`): the test windows of this table are the protocol's {len(te)} validation "
         f"weeks, not its test weeks, which are never opened;** the validation part is the {len(va)} weeks "
         f"before them, the training part the {len(tr)} before those, and `refit` (if set) trains on both "
         f"({len(sets['trainval'])} weeks). A choice made on this table (e.g. whether `refit` helps) is made on "
         f"the protocol's validation weeks only."] if ctx.cfg.get("val_as_test") else [])


def _chickenpox_splits(s, g) -> Dict[str, Dict[str, Any]]:
    """The protocol's splits (``train``, ``val``, ``test``), and ``trainval``:
    the training and validation weeks together (what ``refit`` trains on).
    With ``val_as_test`` (a rehearsal) the test is the protocol's validation
    weeks and the validation as many weeks before them (:func:`_chickenpox_carve`
    cuts the two from one carved part); ``trainval`` is then the protocol's
    training part."""
    rehearse = bool(s.get("val_as_test"))
    carved = CHICKENPOX_REHEARSAL if rehearse else CHICKENPOX_VAL
    plain = {"train": dict(split="train", val_ratio=carved), "val": dict(split="val", val_ratio=carved),
             "test": dict(split="val" if rehearse else "test", val_ratio=carved),
             "trainval": dict(split="train", val_ratio=CHICKENPOX_VAL if rehearse else 0.0)}
    out = dict(plain)
    # the same windows with the time of year as two covariates (Chickenpox(week_of_year=True))
    woy = {f"{name}_woy": dict(opts, week_of_year=True) for name, opts in plain.items()}
    # and the same on a random county graph with the same degrees, and on the complete one (control rows)
    return {**out, **woy, **rewired_splits(woy, tuple(woy)), **complete_splits(woy, tuple(woy))}


def _chickenpox_carve(ctx: Context, sets: Dict[str, Any]) -> None:
    """With ``val_as_test``: each carved part (``val*``, the protocol's
    validation weeks and as many before them) is cut in two, the earlier
    weeks the validation, the protocol's validation weeks the test
    (``test*``); the protocol's test weeks are never opened."""
    if not ctx.cfg.get("val_as_test"):
        return
    for key in [k for k in sets if k.startswith("val") and not k.endswith("_full")]:
        part = sets[key]
        if part.horizon != 1:                 # windows are then not weeks: the cut below would be off
            raise ValueError(f"chickenpox: val_as_test cuts one-week windows (got horizon={part.horizon})")
        weeks = part.snapshot_bounds["test"][1]                       # all snapshots of the file
        outer = int(CHICKENPOX_VAL * weeks)                           # the protocol's validation weeks
        if not 0 < outer < len(part):
            raise ValueError(f"chickenpox: val_as_test needs more carved weeks than the {outer} validation "
                             f"weeks of the protocol (got {len(part)})")
        sets[key], sets["test" + key[len("val"):]] = part[:len(part) - outer], part[len(part) - outer:]


def _chickenpox_rows(s) -> List[Row]:
    """The shared rows, with the improved S-RNNs reading the time of year (``Chickenpox(week_of_year=True)``),
    with dropout 0.3 and started as the closed-form linear autoregression (``ar_lags=4``, ``init_linear``),
    each chosen on validation; ``srnn_zero_start`` is the same without the linear start (the former ``srnn``),
    ``srnn_no_week_of_year`` without the start and on the cases alone, ``srnn_untuned`` the library's default
    S-RNN (none of them)."""
    woy = dict(train_on="train_woy", val_on="val_woy", test_on="test_woy")
    base = lambda s: dict(srnn_sizes(s["hidden"]), residual=True, dropout=0.3)  # noqa: E731
    tuned = lambda s: dict(base(s), covariates=2, ar_lags=4)  # noqa: E731
    why = ("chosen on validation: reads (cases, sin, cos of the time of year), predicts cases (validation MSE 0.475 "
           "against 0.481 on the cases alone, results/ablation_chickenpox_week_of_year.md), dropout 0.3 (the lowest "
           "of the S-RNN variants, results/validation_chickenpox.md), started as the closed-form linear "
           "autoregression with ar_lags=4 (init_linear; 0.444 against 0.467 without the start, 6 seeds, "
           "results/accuracy_chickenpox_full_linear_start_6seeds.md)")
    improved = [Row(IMPROVED, "srnn", tuned, "tf+rollout", key="srnn", start="linear", built_as=why, **woy),
                Row(NO_GRAPH, "srnn", lambda s: dict(tuned(s), spatial=False), "tf+rollout",
                    key="srnn_spatial_false", start="linear", built_as="the same without edgeRNNs", **woy),
                Row(f"{IMPROVED}, without the linear start", "srnn", lambda s: dict(base(s), covariates=2),
                    "tf+rollout", key="srnn_zero_start", built_as="`srnn` without ar_lags and init_linear (the "
                    "former `srnn`)", **woy),
                Row(f"{IMPROVED}, without the linear start, without the time of year", "srnn", base, "tf+rollout",
                    key="srnn_no_week_of_year"),
                Row(f"{IMPROVED}, the library's defaults (no covariates, no dropout)", "srnn",
                    lambda s: dict(srnn_sizes(s["hidden"]), residual=True), "tf+rollout", key="srnn_untuned"),
                *rewired_rows(tuned, "woy", start="linear"),
                *complete_rows(tuned, "woy", start="linear")]
    shared = [r for r in forecasting_rows(dict(blocks=1, kernel_size=2))
              if r.json_key not in ("srnn", "srnn_spatial_false", "seasonal_mean")]
    return shared[:1] + improved + shared[1:] + [
        Row("SeasonalMean (week of year)", "seasonal_mean", lambda s: dict(period=52), "closed_form",
            built_as="each county's training mean at the same week of a 52-week year"),
        Row("LastValue", "zero_velocity", recipe="none"),
        Row("Zero (the data's mean)", factory=Constant, recipe="none", key="zero",
            built_as="predicts 0, each county's mean over all the released weeks, test weeks included"),
        *covariate_linear_rows("woy", 2, "the time of year"),
        *covariate_baseline_rows("woy", 2, "the time of year", stgcn=dict(blocks=1, kernel_size=2))]


CHICKENPOX = Bench(
    dataset="chickenpox", title="Chickenpox Hungary (PyG Temporal)",
    modes={
        "smoke": dict(epochs=2, hidden=8, batch=16, lr=1e-2),
        "quick": dict(epochs=30, hidden=16, batch=16, lr=1e-2),
        "default": dict(epochs=200, patience=15, hidden=32, batch=16, lr=1e-2),
        "full": dict(epochs=500, patience=20, hidden=64, batch=16, lr=1e-2),
    },
    splits=_chickenpox_splits, carve=_chickenpox_carve, rehearsal=True,
    refit_on=lambda sets, key: sets["trainval" + key[len("train"):]],   # the training and validation weeks
    rows=_chickenpox_rows,
    tables=lambda ctx, res, agg: ["## Test error (lower is better)", stat_table(agg, digits=4)], digits=4,
    protocol=_chickenpox_protocol,
    published=lambda ctx: [] if ctx.cfg.get("val_as_test") else published.chickenpox())


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
    the best F1 on the model's validation windows (never the test)."""
    choice = ev.choice_split()
    seen = ev.collect(choice)
    thr = max(THRESHOLDS, key=lambda v: choice.score(_decided(seen, v))["f1"])
    return {**ev.test.score(_decided(ev.collected, thr)), "threshold": thr}


B4C_METRICS = ("precision", "recall", "f1", "time_to_maneuver")


def _b4c_metrics(ctx: Context, view: View) -> Dict[str, Dict[str, float]]:
    """Means over the folds, and per fold ``f1_fold<k>`` and the chosen ``threshold_fold<k>``."""
    out = {}
    for label, per in view.scores.items():
        runs = {tag.replace(" ", ""): g[""] for tag, g in per.items()}
        m = {}
        for k in B4C_METRICS:
            vals = [float(r[k]) for r in runs.values() if not math.isnan(float(r[k]))]
            m[k] = sum(vals) / len(vals) if vals else math.nan
        m.update({f"f1_{tag}": float(r["f1"]) for tag, r in runs.items()})
        m.update({f"threshold_{tag}": float(r["threshold"]) for tag, r in runs.items()})
        out[label] = m
    return out


def _b4c_tables(ctx: Context, res: Results, agg: Dict[str, Dict[str, Stat]]) -> List[str]:
    folds = [tag.replace(" ", "") for tag in res.sets]
    rows = [[label] + [cell(s.get(k), 2 if k == "time_to_maneuver" else 1) for k in B4C_METRICS]
            + [", ".join(cell(s.get(f"f1_{f}"), 1) for f in folds),
               ", ".join(cell(s.get(f"threshold_{f}"), 2) for f in folds)] for label, s in agg.items()]
    return ["## Test scores (percent; higher is better)",
            markdown_table(["model", "precision", "recall", "F1", "time-to-maneuver (s)", "F1 per fold",
                            "threshold per fold"], rows)]


def _b4c_carve(ctx: Context, sets: Dict[str, Any]) -> None:
    """Validation = the whole sequences of a seeded, stratified share of the
    fold's training recordings (``Brain4Cars.holdout``: no sibling of a
    validation sequence is trained on; the same sequences in both graph
    layouts); the models train on the other recordings' sequences."""
    n = len(sets["train"])
    if len(sets["train_single"]) != n:
        raise ValueError("brain4cars: the two layouts of the training split differ in length")
    keep, held = sets["train"].holdout(VAL_SHARE, seed=ctx.seed)
    for train, val in (("train", "val"), ("train_single", "val_single")):
        sets[val], sets[train] = sets[train][held], sets[train][keep]


def _b4c_protocol(ctx: Context, res: Results) -> List[str]:
    folds = [int(tag.split()[-1]) for tag in res.sets]
    sets = res.first_sets()
    return [f"The S-RNN paper's driving experiment on the RNNexp feature files, folds {folds} of our own "
            f"cross-validation (`Brain4Cars(folds='cv')`, data seed {ctx.seed}): the five released test files are "
            f"byte-identical and leak into the training files, so the 487 distinct whole sequences are split "
            f"into 5 disjoint test folds by recording, stratified by maneuver, each fold training on the other "
            f"four (numbers from this split are not the paper's folds); 7 steps of 0.8 s, 13 features; "
            f"S-RNN on the driver-road graph (2 node types, 1 edge "
            f"type), its `spatial=False` ablation (no edgeRNN: the road node's features never reach the "
            f"driver), NodeLSTM on one node with all 13 features (no structure).",
            f"Validation (the files have none): the whole sequences of a seeded {VAL_SHARE:.0%} of each "
            f"fold's training recordings, stratified by maneuver (`Brain4Cars.holdout`; {len(sets['val'])} "
            f"validation and {len(sets['train'])} training sequences in the first fold, data seed {ctx.seed}); "
            f"no model trains on any sequence of those recordings (a random share of the sequences would "
            f"leak: a recording's copies and augmented subsequences are siblings). Training: per-step "
            f"cross-entropy on the driver "
            f"node's real steps, early stopping on the validation cross-entropy (`restore_best`). Decision "
            f"(Brain4Cars): the first step whose most likely class is a maneuver with probability above a "
            f"threshold announces it; the threshold is the one with the best F1 on the validation sequences "
            f"(never the test). Precision and recall are averaged over the 4 maneuvers, F1 from those "
            f"averages, time-to-maneuver = time left when a correct maneuver is announced "
            f"(`Brain4Cars.score`); all averaged over the folds."]


def _b4c_splits(s, fold) -> Dict[str, Dict[str, Any]]:
    lim = s.get("train_limit")
    cv = dict(folds="cv")     # our own disjoint 5-fold split, drawn by the data seed (the released tests are one set)
    return {"train": dict(fold=fold, graph="srnn", limit=lim, **cv), "test": dict(fold=fold, graph="srnn", **cv),
            "train_single": dict(split="train", fold=fold, graph="single", limit=lim, **cv),
            "test_single": dict(split="test", fold=fold, graph="single", **cv)}


def _b4c_rows(s) -> List[Row]:
    srnn = lambda s: dict(srnn_sizes(s["hidden"]), task="classification", dropout=s["dropout"])  # noqa: E731
    # Chosen on validation by recording: the official fused LSTM outputs (the decoder reads [h, input]),
    # cross-entropy 0.748 against 0.968 without them (results/accuracy_brain4cars_validation_by_recording.md),
    # then a ReLU encoder layer and PyTorch's init, 0.716 against 0.748 (accuracy_brain4cars_candidates_2.md),
    # then GRU cells, 0.688 against 0.716 (accuracy_brain4cars_gru.md)
    fused = lambda s: dict(srnn(s), fused_lstm=True)  # noqa: E731
    lstm_tuned = dict(fused_lstm=True, linear_encoder=False, init="default")
    tuned = dict(lstm_tuned, cell="gru")
    why = ("chosen on validation (held-out recordings): the official fused LSTM outputs, cross-entropy 0.748 "
           "against 0.968 without them (results/accuracy_brain4cars_validation_by_recording.md); with a ReLU "
           "encoder layer and PyTorch's init, 0.716, lower in each of the 5 folds "
           "(accuracy_brain4cars_candidates_2.md); half width 0.789, dropout 0.5 0.760, the temporal edge FC "
           "only 0.765 (accuracy_brain4cars_candidates.md, _candidates_2.md); then GRU cells in place of the "
           "LSTMs, 0.688, lower in 4 of the 5 folds and 10 of the 15 runs (accuracy_brain4cars_gru.md)")
    return [Row("S-RNN", "srnn", lambda s: dict(srnn(s), **tuned), "class", key="srnn", built_as=why),
            Row("S-RNN (spatial=False)", "srnn", lambda s: dict(srnn(s), spatial=False, **tuned), "class",
                key="srnn_spatial_false"),
            Row("S-RNN, the library's defaults in place of " + ", ".join(f"{k}={v!r}" for k, v in tuned.items()),
                "srnn", srnn, "class", key="srnn_untuned"),
            Row("S-RNN, LSTM cells (the row before GRU cells)", "srnn", lambda s: dict(srnn(s), **lstm_tuned),
                "class", key="srnn_lstm"),
            Row("S-RNN, fused outputs with the 0.2 defaults", "srnn", fused, "class", key="srnn_fused_0_2"),
            # the improved variant before 0.2 (its defaults were chosen on regression data only)
            Row("S-RNN, ReLU encoder and PyTorch's init (before 0.2)", "srnn",
                lambda s: dict(srnn(s), linear_encoder=False, init="default"), "class", key="srnn_before_0_2"),
            # candidates against over-fitting the training recordings, on top of the fused outputs
            Row("S-RNN, fused outputs, half width", "srnn",
                lambda s: dict(srnn(s), fused_lstm=True, **srnn_sizes(max(1, s["hidden"] // 2))), "class",
                key="srnn_fused_half_width"),
            Row("S-RNN, fused outputs, dropout 0.5", "srnn", lambda s: dict(srnn(s), fused_lstm=True, dropout=0.5),
                "class", key="srnn_fused_dropout_0_5"),
            Row("S-RNN, fused outputs, temporal edge FC only (official)", "srnn",
                lambda s: dict(fused(s), temporal_lstm=False), "class", key="srnn_fused_temporal_fc"),
            Row("S-RNN, LSTM cells, weight decay 1e-4", "srnn", lambda s: dict(srnn(s), **lstm_tuned), "class",
                key="srnn_weight_decay_1e_4", train=dict(weight_decay=1e-4)),
            Row("S-RNN, LSTM cells, weight decay 1e-3", "srnn", lambda s: dict(srnn(s), **lstm_tuned), "class",
                key="srnn_weight_decay_1e_3", train=dict(weight_decay=1e-3)),
            # S-RNN offered the widths the baseline is offered below (its width searched on validation as well)
            Row("S-RNN, twice the width", "srnn", lambda s: dict(srnn(s), **tuned, **srnn_sizes(2 * s["hidden"])),
                "class", key="srnn_wide"),
            # the baseline is offered the cell S-RNN chose, and takes it on validation as well
            Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], dropout=s["dropout"], cell="gru"),
                "class", built_as="chosen on validation: GRU cell, cross-entropy 0.704 against 0.717 with the "
                "LSTM (default mode; full mode 0.695 against 0.721; results/accuracy_brain4cars_node_gru.md, "
                "accuracy_brain4cars_full_node_gru.md)",
                train_on="train_single", val_on="val_single", test_on="test_single"),
            Row("NodeLSTM, LSTM cell (the row before GRU cells)", "node_lstm",
                lambda s: dict(hidden=s["hidden"], dropout=s["dropout"]), "class", key="node_lstm_lstm",
                train_on="train_single", val_on="val_single", test_on="test_single"),
            # the baseline offered S-RNN's size: S-RNN has about 8x NodeLSTM's parameters at the same width
            Row("NodeLSTM, twice the width", "node_lstm",
                lambda s: dict(hidden=2 * s["hidden"], dropout=s["dropout"], cell="gru"), "class",
                key="node_lstm_wide", train_on="train_single", val_on="val_single", test_on="test_single"),
            Row("NodeLSTM, four times the width", "node_lstm",
                lambda s: dict(hidden=4 * s["hidden"], dropout=s["dropout"], cell="gru"), "class",
                key="node_lstm_wider", train_on="train_single", val_on="val_single", test_on="test_single")]


BRAIN4CARS = Bench(
    dataset="brain4cars", title="Brain4Cars maneuver anticipation",
    modes={
        "smoke": dict(folds=[1], train_limit=128, epochs=1, hidden=8, batch=64, lr=3e-3, dropout=0.3),
        "quick": dict(folds=[1], epochs=15, hidden=16, batch=64, lr=3e-3, dropout=0.3),
        "default": dict(folds=[1, 2, 3, 4, 5], epochs=100, patience=10, hidden=32, batch=64, lr=3e-3,
                        dropout=0.3),
        # lr chosen on validation (6 seeds x 5 folds, full mode): 1e-3 against 3e-3, cross-entropy 0.684 against
        # 0.690 for S-RNN and 0.685 against 0.695 for NodeLSTM, lower in 21 of the 30 runs for each
        # (results/accuracy_brain4cars_full_lr1e3.md against accuracy_brain4cars_full_6seeds.md)
        "full": dict(folds=[1, 2, 3, 4, 5], epochs=200, patience=15, hidden=64, batch=64, lr=1e-3, dropout=0.3),
    },
    groups=lambda ctx: [(f"fold {k}", k) for k in (ctx.args.folds or ctx.cfg["folds"])],
    splits=_b4c_splits, carve=_b4c_carve, rows=_b4c_rows,
    score=brain4cars_score, eval_batch=256, metrics=_b4c_metrics, tables=_b4c_tables, digits=1,
    lower_is_better=lambda k: None if k.startswith("threshold") else False, subject="the S-RNN",
    notes=lambda ctx: ["There is no improved S-RNN row here: `residual` and rollout training apply to "
                       "regression only; `srnn` is the classification S-RNN. No linear or seasonal baseline: "
                       "they forecast values, not maneuvers."],
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


#: the Gaussian-head S-RNN keeps the settings from before 0.2 (its validation error is far lower with them)
GAUSSIAN_KEPT = dict(linear_encoder=False, init="default")


def _eth_rows(s) -> List[Row]:
    rel = dict(spatial_features="concat_attr", edge_channels=2)
    att = lambda s: dict(srnn_sizes(s["hidden"]), edge_scope="edge", aggr="attention", **rel)  # noqa: E731
    # Chosen on validation (results/validation_eth_ucy*.md): position and velocity inputs with a
    # constant-velocity residual; the improved rows read the "_pv" windows (features="pos_vel").
    pv = dict(train_on="train_pv", val_on="val_pv", test_on="test_pv")
    cv = dict(derived="velocity", residual="velocity")
    why = ("positions and velocities in, a constant-velocity residual: validation ADE 0.444 against 0.528 for "
           "positions with residual=True (results/validation_eth_ucy_residual.md); with the linear encoder and "
           "uniform init of 0.2, 0.435 (results/validation_eth_ucy_encoder_init.md; constant velocity 0.443); "
           "trained with the protocol's Euclidean loss, 0.427 (results/validation_eth_ucy_loss.md)")
    return [Row(PAPER, "srnn", lambda s: dict(paper_small(s["hidden"]), **rel), "tf", key="srnn_paper"),
            Row(IMPROVED, "srnn", lambda s: dict(att(s), **cv), "tf+rollout", key="srnn", built_as=why, **pv),
            Row(NO_GRAPH, "srnn", lambda s: dict(att(s), spatial=False, **cv), "tf+rollout",
                key="srnn_spatial_false", **pv),
            Row(f"{IMPROVED}, positions only, residual=True", "srnn", lambda s: dict(att(s), residual=True),
                "tf+rollout", key="srnn_untuned"),
            Row("S-RNN (Gaussian head)", "srnn", lambda s: dict(att(s), head="gaussian", **cv, **GAUSSIAN_KEPT),
                "nll", samples=True, key="srnn_gaussian",
                built_as="chosen on validation: positions and velocities in, the Gaussian mean a constant-velocity "
                         "residual (validation rollout MSE 0.356 against 0.62 on positions with residual=True: "
                         "results/accuracy_eth_ucy_quick_gaussian_cv.md, accuracy_eth_ucy_quick_gaussian.md); a "
                         "ReLU encoder layer and PyTorch's init, as before 0.2 (0.62 with them, 2.60 with the 0.2 "
                         "defaults)", **pv),
            Row("S-RNN (Gaussian head, positions only)", "srnn",
                lambda s: dict(att(s), residual=True, head="gaussian", **GAUSSIAN_KEPT), "nll", samples=True,
                key="srnn_gaussian_positions", built_as="the Gaussian row before the constant-velocity residual"),
        Row("NodeLSTM", "node_lstm", lambda s: dict(hidden=s["hidden"], residual=True), "tf+rollout"),
        Row("NodeLSTM, positions and velocities in, constant-velocity residual", "node_lstm",
            lambda s: dict(hidden=s["hidden"], **cv), "tf+rollout", key="node_lstm_cv",
            built_as="reads what `srnn` reads, with its constant-velocity residual", **pv),
        Row("ConstantVelocity", "constant_velocity", recipe="none"),
        Row("ZeroVelocity", "zero_velocity", recipe="none")] + closed_form_rows()


#: the ETH/UCY breakdown by each pedestrian's distance to its nearest neighbour at an observed frame
#: (`ETHUCY.neighbour_distance`, metres): walking in a group, near others, on one's own
NN_BINS = (("nn_lt1", "within 1 m", 0.0, 1.0), ("nn_1to3", "1 to 3 m", 1.0, 3.0),
           ("nn_ge3", "3 m or more, or alone", 3.0, math.inf))


def eth_score(ev) -> Dict[str, float]:
    """``ETHUCY.score``, and ``ADE``/``FDE`` over the pedestrians of each
    :data:`NN_BINS` bin (``ADE (nn_lt1)``, ...; NaN for an empty bin): where
    the interaction edges could help (others close by) and where not."""
    out = ev.test.score(ev.collected)
    dist = ev.test.neighbour_distance()
    pred, y = ev.collected["pred"], ev.collected["y"]
    y_mask = ev.collected.get("y_mask")
    for tag, _, lo, hi in NN_BINS:
        keep = ((dist >= lo) & (dist < hi)).view(-1, 1)                   # [N, 1]
        mask = keep.expand(y.shape[:2]) if y_mask is None else y_mask.bool() & keep      # [N, H]
        if bool(mask[:, :pred.size(1)].all(1).any()):
            part = ev.test.score({"pred": pred, "y": y, "y_mask": mask})
            out.update({f"ADE ({tag})": part["ADE"], f"FDE ({tag})": part["FDE"]})
        else:
            out.update({f"ADE ({tag})": math.nan, f"FDE ({tag})": math.nan})
    return out


def _eth_key(key: str) -> str:
    """``ADE`` -> ``ade``; ``minADE@K`` -> ``min_ade@K`` (best of K per
    pedestrian); ``minADE@K (scene)`` -> ``min_ade@K_per_scene``; ``ADE
    (nn_lt1)`` -> ``ade_nn_lt1`` (one bin of :data:`NN_BINS`)."""
    base = key.split()[0].lower().replace("min", "min_")
    if "(nn_" in key:
        return f"{base}_{key.split('(')[1].rstrip(')')}"
    return base + ("_per_scene" if "(scene)" in key else "")


def _eth_metrics(ctx: Context, view: View) -> Dict[str, Dict[str, float]]:
    """``<metric>_<scene>`` and ``<metric>_avg`` (the mean over the scenes), e.g. ``ade_avg``."""
    scenes = list(view.sets)
    out = {}
    for label, per in view.scores.items():
        m = {f"{_eth_key(k)}_{scene}": v for scene in scenes for k, v in per[scene][""].items()}
        bases = dict.fromkeys(k.rsplit("_", 1)[0] for k in m)
        m.update({f"{b}_avg": sum(m[f"{b}_{sc}"] for sc in scenes) / len(scenes) for b in bases})
        for b in bases:                           # a bin empty in some scene: the mean of the others
            if "_nn_" in b and math.isnan(m[f"{b}_avg"]):
                vals = [m[f"{b}_{sc}"] for sc in scenes if not math.isnan(m[f"{b}_{sc}"])]
                m[f"{b}_avg"] = sum(vals) / len(vals) if vals else math.nan
        out[label] = m
    return out


def _eth_label(label: str, base: str) -> str:
    """The table row of a metric: ``ade`` -> the model; ``min_ade@K`` -> best
    of K per pedestrian; ``min_ade@K_per_scene`` -> best of K per scene."""
    if not base.startswith("min"):
        return label
    K = base.split("@")[1].split("_")[0]
    return f"{label}, best of {K} per {'scene' if base.endswith('_per_scene') else 'pedestrian'}"


def _eth_tables(ctx: Context, res: Results, agg: Dict[str, Dict[str, Stat]]) -> List[str]:
    cols = list(res.sets) + ["avg"]

    def pair(s, base, c):                         # "ADE / FDE" of one metric base in column c
        fde = base.replace("ade", "fde")
        return f"{cell(s.get(f'{base}_{c}'), 2)} / {cell(s.get(f'{fde}_{c}'), 2)}"

    rows, by_bin = [], []
    for label, s in agg.items():
        for base in dict.fromkeys(k.rsplit("_", 1)[0] for k in s if "ade" in k and "_nn_" not in k):
            rows.append([_eth_label(label, base)] + [pair(s, base, c) for c in cols])
        for tag, text, _, _ in NN_BINS:
            if f"ade_{tag}_avg" in s:
                by_bin.append([label, text] + [pair(s, f"ade_{tag}", c) for c in cols])
    out = ["## ADE / FDE in metres (lower is better)", markdown_table(["model"] + cols, rows)]
    if by_bin:
        out += ["## ADE / FDE by the distance to the nearest other pedestrian",
                "Each test pedestrian falls in one bin by the smallest distance to another pedestrian of its "
                "window at an observed frame (`ETHUCY.neighbour_distance`; known before the forecast). "
                "Deterministic forecasts (the Gaussian head: its mean); `avg` over the scenes where the bin "
                "is not empty. Shares of the test pedestrians per bin are in the protocol section.",
                markdown_table(["model", "nearest neighbour"] + cols, by_bin)]
    return out


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
            "Metrics (`ETHUCY.score`): ADE and FDE in metres over every pedestrian of the test windows "
            "(`ade_<scene>`), averaged over the scenes in `avg` (`ade_avg`, `fde_avg`; best of K: "
            "`min_ade@K_avg`, `min_ade@K_per_scene_avg`). Deterministic rows follow one forecast (the Gaussian head: "
            f"its mean). Best-of-{K} rows draw {K} sampled trajectories (each step sampled and fed back): "
            "'per pedestrian' keeps each pedestrian's best sample (Social-STGCNN's definition), 'per scene' "
            "the sample best over each window's pedestrians together (Social-GAN's).",
            "Inputs: each pedestrian's positions relative to its own last observed position (as the dataset "
            "stores them), for every model. The S-RNN rows also give each edge j -> i the constant offset "
            "between the two origins (`edge_attr`, `spatial_features='concat_attr'`), so that their edgeRNNs "
            "can tell where j is seen from i at every step, rollout included. The `spatial=False` row is the "
            "improved model without edgeRNNs: the test of whether interaction modelling helps. Validation: "
            "the other scenes' `*_val.txt` windows (early stopping, `restore_best`, fine-tuning choice). "
            "Training loss of every deterministic trained row: `ETHUCY.defaults['loss']`, the Euclidean length "
            "of each pedestrian's error per step (the ADE; chosen on validation); the Gaussian head keeps its "
            "likelihood.",
            "Nearest neighbour at an observed frame, share of the test pedestrians per bin (" + "; ".join(
                f"{scene}: " + ", ".join(f"{text} {share:.0%}" for text, share in _nn_shares(v["test"]))
                for scene, v in res.sets.items()) + ")."]


def _nn_shares(test) -> List[Tuple[str, float]]:
    dist = test.neighbour_distance()
    return [(text, float(((dist >= lo) & (dist < hi)).double().mean())) for _, text, lo, hi in NN_BINS]


def _eth_splits(s, scene) -> Dict[str, Dict[str, Any]]:
    kw = dict(test_scene=scene, transform=OriginOffsets())
    out = {"train": dict(kw, every=s["train_every"]), "val": dict(kw, every=s["val_every"]),
           "test": dict(kw, every=s["test_every"])}
    for part in ("train", "val", "test"):       # the same windows with velocities (features="pos_vel")
        out[f"{part}_pv"] = dict(out[part], split=part, features="pos_vel")
    return out


ETH_UCY = Bench(
    dataset="eth_ucy", title="ETH/UCY pedestrian trajectories (leave-one-scene-out)",
    modes={
        "smoke": dict(scenes=["hotel"], train_every=200, val_every=200, test_every=100, epochs=1, hidden=8,
                      batch=32, lr=3e-3, samples=4),
        "quick": dict(train_every=16, val_every=16, test_every=8, epochs=4, hidden=16, batch=8, lr=3e-3,
                      samples=20),
        "default": dict(train_every=4, val_every=4, test_every=1, epochs=30, patience=5, hidden=32, batch=32,
                        lr=3e-3, samples=20),
        "full": dict(train_every=1, val_every=1, test_every=1, epochs=100, patience=8, hidden=64, batch=64,
                     lr=1e-3, samples=20),
    },
    groups=lambda ctx: [(s, s) for s in (ctx.args.scenes or ctx.cfg.get("scenes") or ETH_SCENES)],
    splits=_eth_splits, rows=_eth_rows, eval_batch=32, metrics=_eth_metrics, tables=_eth_tables, score=eth_score,
    protocol=_eth_protocol, published=lambda ctx: published.eth_ucy(int(ctx.cfg["samples"])))

BENCHES = {b.dataset: b for b in (SPRINGS, CMU_MOCAP, LOS_LOOP, CHICKENPOX, BRAIN4CARS, ETH_UCY)}
DATASETS = tuple(BENCHES)


# ===================================================================== ablation
#: One item of the official architecture or training at a time, on the improved S-RNN as it ships
#: (``srnn``: same sizes, residual, teacher forcing then rollout fine-tuning); docs/paper.md. A change
#: is the keywords it sets, or a function of the mode's settings that returns them.
ABLATIONS = (
    ("peephole LSTM cell (official; no state-gradient clip)", "abl_peephole", dict(cell="peephole"), None),
    ("fused LSTM outputs [h, input] (official)", "abl_fused", dict(fused_lstm=True), None),
    ("temporal edge FC only, no LSTM (official)", "abl_temporal_fc", dict(temporal_lstm=False), None),
    ("nodeRNN without x (official)", "abl_no_x", dict(node_input_x=False), None),
    # two official items are in the improved S-RNN since 0.2 (chosen on validation): these rows take them out
    ("last encoder layer with a ReLU (improved before 0.2)", "abl_relu_encoder", dict(linear_encoder=False), None),
    ("PyTorch's default init (improved before 0.2)", "abl_default_init", dict(init="default"), None),
    ("ReLU encoder and PyTorch's init (the improved S-RNN before 0.2)", "abl_before_0_2",
     dict(linear_encoder=False, init="default"), None),
    ("features ordered by edge type (official)", "abl_typed_order", dict(spatial_features="concat_typed"), None),
    ("temporal features x_t only (official)", "abl_temporal_x", dict(temporal_features="x"), None),
    ("no residual (official)", "abl_no_residual", dict(residual=False), None),
    ("teacher forcing only (official)", "abl_tf_only", {}, "tf"),
    # an addition, not an official item: the linear autoregression's lags as a skip (StructuralRNN(ar_lags=))
    ("+ linear autoregressive skip on LinearAR's lags (ar_lags; not in the paper)", "abl_ar_lags",
     lambda s: dict(ar_lags=min(int(s["obs"]), MAX_LAGS)), None),
    ("fused LSTM outputs (official) + the autoregressive skip", "abl_fused_ar_lags",
     lambda s: dict(fused_lstm=True, ar_lags=min(int(s["obs"]), MAX_LAGS)), None),
    # the skip started at the closed-form linear autoregression (StructuralRNN.init_linear): a fifth item, the start
    ("+ the skip, the model started as the closed-form linear autoregression (init_linear; not in the paper)",
     "abl_linear_start", lambda s: dict(ar_lags=min(int(s["obs"]), MAX_LAGS)), None, "linear"),
    ("fused LSTM outputs (official) + the linear start", "abl_fused_linear_start",
     lambda s: dict(fused_lstm=True, ar_lags=min(int(s["obs"]), MAX_LAGS)), None, "linear"),
)


def ablation_rows(s) -> List[Row]:
    """``srnn``, one row per item of :data:`ABLATIONS`, and the whole paper
    variant at the same width (``srnn_paper``, teacher forcing)."""
    base = lambda s: dict(srnn_sizes(s["hidden"]), residual=True)  # noqa: E731
    rows = [Row(IMPROVED, "srnn", base, "tf+rollout", key="srnn")]
    for label, key, change, recipe, *start in ABLATIONS:
        rows.append(Row(f"{IMPROVED}, {label}", "srnn",
                        lambda s, c=change: dict(base(s), **(c(s) if callable(c) else c)),
                        recipe or "tf+rollout", key=key, start=start[0] if start else ""))
    rows.append(Row(f"{PAPER}: every item above", "srnn", lambda s: paper_small(s["hidden"]), "tf",
                    key="srnn_paper"))
    return rows


def ablation_bench(name: str) -> Bench:
    """``name``'s benchmark with the ablation rows in place of its table's rows."""
    bench = BENCHES[name]
    return dataclasses.replace(bench, rows=ablation_rows, title=f"{bench.title}: S-RNN ablation, item by item",
                               published=("The ablation compares S-RNN configurations with each other only; "
                                          "the dataset's accuracy table has the baselines and published "
                                          "figures.",))


# ===================================================================== command
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
    p.add_argument("--epochs", type=int, default=None,
                   help="epoch limit of every trained model (the mode's; early stopping may stop sooner)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting of the mode (e.g. test_every=1); repeatable; the table lists them")
    p.add_argument("--seed", type=int, default=0, help="data seed and first training seed")
    p.add_argument("--seeds", type=int, default=None,
                   help="training seeds per trained row: seed, seed + 1, ... (default: 3 in the default and "
                        "full modes, 1 in quick)")
    p.add_argument("--first-seed", type=int, default=None,
                   help="first training seed (default: --seed); the data seed stays --seed, so runs of other "
                        "training seeds on the same data can run side by side and be merged by accuracy_join.py")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cpu; cuda if available with --full)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--data-root", default=os.environ.get("SRNN_PYG_DATA"),
                   help="folder holding the real datasets (default: $SRNN_PYG_DATA)")
    p.add_argument("--out", default=None, help="results folder (default: benchmarks/results)")
    p.add_argument("--scenes", nargs="+", choices=ETH_SCENES, default=None, help="eth_ucy: test scenes")
    p.add_argument("--folds", nargs="+", type=int, default=None, help="brain4cars: folds")
    p.add_argument("--rows", nargs="+", default=None, metavar="KEY",
                   help="only these rows (their JSON keys, e.g. srnn srnn_spatial_false linear_ar); the "
                        "table says which were run")
    p.add_argument("--ablation", action="store_true",
                   help="instead of the table's rows: the improved S-RNN with one item of the official "
                        "architecture or training at a time, and the paper variant (writes "
                        "ablation_<dataset>[_mode].md/.json)")
    args = p.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        p.error("--seeds must be at least 1")
    if args.first_seed is not None and args.first_seed < 0:
        p.error(f"--first-seed must be at least 0, got {args.first_seed}")
    if args.device is None:
        args.device = "cuda" if args.mode == "full" and torch.cuda.is_available() else "cpu"
    return args


def run_one(args, name: str, out_dir: str) -> Optional[str]:
    """Run one dataset's benchmark and write its table and JSON results; the
    one-line reason when its data cannot be read."""
    ctx = Context(args, ablation_bench(name) if args.ablation else BENCHES[name])
    if args.rows:
        known = [r.json_key for r in ctx.bench.rows(ctx.cfg)]
        unknown = [k for k in args.rows if k not in known]
        if unknown:
            return f"{name}: --rows: no row {unknown[0]!r} (rows: {', '.join(known)})"
    start = time.perf_counter()
    try:
        res = run_bench(ctx)
    except FileNotFoundError as e:
        return f"{name}: no data: {e} (set SRNN_PYG_DATA or pass --data-root)"
    md, result = report(ctx, res, time.perf_counter() - start)
    prefix = "ablation" if args.ablation else "accuracy"
    part = part_tag(args)                                  # parts of a run never replace each other
    path = result_path(out_dir, name, args.mode, prefix=prefix, cfg=ctx.cfg, part=part)
    write_atomic(result_path(out_dir, name, args.mode, "json", prefix, ctx.cfg, part),
                 json.dumps(result, indent=1) + "\n")
    write_atomic(path, md)
    ctx.log(f"wrote {os.path.relpath(path)} and its .json ({time.perf_counter() - start:.0f} s)")
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
