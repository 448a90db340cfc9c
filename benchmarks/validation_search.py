"""A small, budgeted search over S-RNN variants on validation data only.

Each variant is trained with validation early stopping (``restore_best``) once
per seed and scored on the validation part with the dataset's protocol metric;
the test split is never opened. Untrained and closed-form baselines are scored
on the same validation windows for reference. The table goes to
``results/validation_<dataset>.md``.

    python benchmarks/validation_search.py --dataset chickenpox --threads 1
    python benchmarks/validation_search.py --dataset eth_ucy --threads 1    # held-out scene: eth
    python benchmarks/validation_search.py --dataset cmu_mocap --threads 1  # held out: each action's last file

A variant is ``(StructuralRNN keywords, TrainConfig keywords, dataset
keywords)``; dataset keywords change the windows (e.g. ETH/UCY's
``features="pos_vel"``), so each variant opens its own train and validation
parts. The dataset keyword ``train_augment`` is a transform applied to the
training windows only (after the search's own ``transform``), e.g.
:class:`~srnn_pyg.transforms.RandomRotation`. Models with velocity inputs
(``derived="velocity"``) get the windows' ``velocity_scale`` where the
dataset has one. Two more TrainConfig-side keywords set the fine-tuning
schedule of ``Search.finetune``: ``rollout_share`` (the share of the epochs
trained by rollout, default 1/3; 1 trains by rollout alone) and
``rollout_lr`` (its learning rate as a multiple of the search's, default 1/3).

Datasets without a validation split carve one from the training split
(``Search.carve``, e.g. CMU mocap: each action's last training recording, as
``benchmarks/accuracy.py`` does). The LinearAR reference reads the last
``min(obs, 8)`` frames, as the benchmark's closed-form row. ``Search.finetune`` adds the benchmark's
rollout fine-tuning: teacher forcing for two thirds of the epochs, then rollout
for the last third at a third of the learning rate, kept only if it lowers
the validation metric.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch_geometric.loader import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, write_atomic  # noqa: E402
from accuracy import CMU_TUNED, held_out_files  # noqa: E402

from torch_geometric.transforms import Compose  # noqa: E402

from srnn_pyg import datasets  # noqa: E402
from srnn_pyg.transforms import RandomRotation  # noqa: E402
from srnn_pyg.engine import TrainConfig, collect, fit  # noqa: E402
from srnn_pyg.models import build  # noqa: E402

Variant = Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]


class OriginOffsets:
    """ETH/UCY: every edge ``j -> i`` gets ``origin_j - origin_i`` ``[E, obs, 2]``
    (as ``benchmarks/accuracy.py`` gives its S-RNN rows)."""

    def __call__(self, data):
        src, dst = data.edge_index
        offset = data.origin[src] - data.origin[dst]
        data.edge_attr = offset.unsqueeze(1).expand(-1, data.x.size(1), -1).contiguous()
        return data


@dataclass
class Search:
    """What one dataset's search trains and how it scores."""

    variants: Dict[str, Variant]
    metric: str                                     # the key of ``dataset.score`` to minimise
    data: Dict[str, Any] = field(default_factory=dict)   # options of both parts
    train_every: int = 1
    val_every: int = 1
    train: Dict[str, Any] = field(default_factory=dict)  # TrainConfig keywords of every variant
    base_model: Callable[[int], Dict[str, Any]] = lambda H: {}
    #: registry models scored untrained / closed form: a name, or (label, name, model keywords, dataset keywords)
    references: Tuple[Any, ...] = ()
    batch: int = 16
    note: str = ""
    carve: Optional[Callable[[Any], Tuple[Any, Any]]] = None   # training split -> (train, val) parts
    finetune: bool = False                          # teacher forcing, then rollout fine-tuning
    columns: Tuple[str, ...] = ()                   # more keys of ``dataset.score`` to show
    hidden: int = 64
    epochs: int = 500
    patience: int = 20
    lr: float = 1e-2


def _sizes(H: int) -> Dict[str, Any]:
    return dict(edge_hidden=H, node_hidden=H, edge_mlp=(H,), node_mlp=(H,))


_ETH_BASE = lambda H: dict(_sizes(H), residual=True, edge_scope="edge", aggr="attention",  # noqa: E731
                           spatial_features="concat_attr", edge_channels=2)
_POS_VEL = ({"derived": "velocity"}, {}, {"features": "pos_vel"})
_WOY = {"week_of_year": True}           # Chickenpox with the time of year as two covariates
_CV = {"derived": "velocity", "residual": "velocity"}
#: ETH/UCY with pos_vel: positions and displacements, targets, origins and the origin offsets on edges
_ETH_ROTATE = RandomRotation({"x": [(0, 1), (2, 3)], "y": [(0, 1)], "origin": [(0, 1)], "edge_attr": [(0, 1)]},
                             flip=True)

SEARCHES: Dict[str, Search] = {
    "chickenpox": Search(
        variants={
            "residual (shipped default)": (dict(residual=True), {}, {}),
            "no residual": ({}, {}, {}),
            "residual, dropout 0.3": (dict(residual=True, dropout=0.3), {}, {}),
            "residual, dropout 0.5": (dict(residual=True, dropout=0.5), {}, {}),
            "residual, dropout 0.3, spatial=False": (dict(residual=True, dropout=0.3, spatial=False), {}, {}),
            "residual, dropout 0.3, edge scope, mean": (
                dict(residual=True, dropout=0.3, edge_scope="edge", aggr="mean"), {}, {}),
            "residual, dropout 0.3, ar_lags=4": (dict(residual=True, dropout=0.3, ar_lags=4), {}, {}),
            "residual, dropout 0.3, fused LSTM outputs": (dict(residual=True, dropout=0.3, fused_lstm=True), {}, {}),
            "residual, dropout 0.3, ar_lags=2": (dict(residual=True, dropout=0.3, ar_lags=2), {}, {}),
            "dropout 0.3, ar_lags=4": (dict(dropout=0.3, ar_lags=4), {}, {}),
            "residual, dropout 0.3, ar_lags=4, spatial=False": (
                dict(residual=True, dropout=0.3, ar_lags=4, spatial=False), {}, {}),
            # reading the time of year (the benchmark's srnn is the first), after the linear model reading it
            # too came out ahead of it
            "time of year, residual, dropout 0.3": (dict(residual=True, dropout=0.3, covariates=2), {}, _WOY),
            "time of year, residual, dropout 0.3, ar_lags=4": (
                dict(residual=True, dropout=0.3, covariates=2, ar_lags=4), {}, _WOY),
            "time of year, dropout 0.3, ar_lags=4": (dict(dropout=0.3, covariates=2, ar_lags=4), {}, _WOY),
            "time of year, residual, dropout 0.3, ar_lags=4, spatial=False": (
                dict(residual=True, dropout=0.3, covariates=2, ar_lags=4, spatial=False), {}, _WOY),
            "time of year, residual, dropout 0.5, ar_lags=4": (
                dict(residual=True, dropout=0.5, covariates=2, ar_lags=4), {}, _WOY),
        },
        metric="MSE", data=dict(val_ratio=0.04), base_model=_sizes,
        references=("linear_ar", ("linear_ar, time of year", "linear_ar", dict(covariates=2), _WOY),
                    ("linear_ar per node, time of year", "linear_ar", dict(covariates=2, per_node=True), _WOY)),
        train=dict(monitor="val_mse", metrics=["mse"]),
        note="Validation: the last 4 % of the training weeks (`val_ratio=0.04`; the protocol has none)."),
    "eth_ucy": Search(
        variants={
            "shipped: positions, attention, origin offsets": ({}, {}, {}),
            "+ velocity inputs (pos_vel, derived velocity)": _POS_VEL,
            "+ velocity inputs, radius 2 m": ({"derived": "velocity"}, {}, {"features": "pos_vel", "radius": 2.0}),
            "+ velocity inputs, window frame": ({"derived": "velocity"}, {},
                                                {"features": "pos_vel", "coords": "window"}),
            "+ velocity inputs, spatial=False": ({"derived": "velocity", "spatial": False}, {},
                                                 {"features": "pos_vel"}),
            "+ velocity inputs, sum over slots": ({"derived": "velocity", "edge_scope": "slot", "aggr": "sum"}, {},
                                                  {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual": ({"derived": "velocity", "residual": "velocity"}, {},
                                                              {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, spatial=False": (
                {"derived": "velocity", "residual": "velocity", "spatial": False}, {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, radius 2 m": (
                _CV, {}, {"features": "pos_vel", "radius": 2.0}),
            "+ velocity inputs, constant-velocity residual, linear encoder, uniform init": (
                dict(_CV, linear_encoder=True, init="uniform"), {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, radius 2 m, linear encoder, uniform init": (
                dict(_CV, linear_encoder=True, init="uniform"), {}, {"features": "pos_vel", "radius": 2.0}),
            "+ velocity inputs, constant-velocity residual, rotation and mirror augmentation": (
                _CV, {}, {"features": "pos_vel", "train_augment": _ETH_ROTATE}),
            "+ velocity inputs, constant-velocity residual, rotation and mirror augmentation, spatial=False": (
                dict(_CV, spatial=False), {}, {"features": "pos_vel", "train_augment": _ETH_ROTATE}),
            "+ velocity inputs, constant-velocity residual, ar_lags=8": (
                dict(_CV, ar_lags=8), {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, ar_lags=2": (
                dict(_CV, ar_lags=2), {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, fused LSTM outputs": (
                dict(_CV, fused_lstm=True), {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, Euclidean loss (ADE)": (
                dict(_CV, loss="euclidean"), {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, Huber loss": (
                dict(_CV, loss="huber"), {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual, dropout 0.2": (
                dict(_CV, dropout=0.2), {}, {"features": "pos_vel"}),
        },
        metric="ADE", data=dict(test_scene="eth", transform=OriginOffsets()), train_every=8, val_every=4,
        base_model=_ETH_BASE, references=("constant_velocity", "zero_velocity"), batch=32, hidden=32, epochs=30,
        patience=5, lr=3e-3,
        train=dict(objective="rollout", monitor="val_mse", metrics=["mse"]),
        note="Validation: the `*_val.txt` windows of the four training scenes of the held-out scene `eth` "
             "(Social-GAN's leave-one-scene-out split); trained by rollout over the 12 predicted frames."),
    "cmu_mocap": Search(
        variants={
            "poses (the improved row before velocity inputs)": ({}, {}, {}),
            "+ velocity inputs (pos_vel, derived velocity)": ({"derived": "velocity"}, {}, {"features": "pos_vel"}),
            "+ velocity inputs, constant-velocity residual": (
                {"derived": "velocity", "residual": "velocity"}, {}, {"features": "pos_vel"}),
            "+ velocity inputs, spatial=False": ({"derived": "velocity", "spatial": False}, {},
                                                 {"features": "pos_vel"}),
            "poses, spatial=False": ({"spatial": False}, {}, {}),
            "+ velocity inputs, fused LSTM outputs": ({"derived": "velocity", "fused_lstm": True}, {},
                                                      {"features": "pos_vel"}),
            "poses, loss weighted by each feature's spread (loss_weight='std')": ({}, {}, {"loss_weight": "std"}),
            "+ velocity inputs, loss_weight='std'": ({"derived": "velocity"}, {},
                                                     {"features": "pos_vel", "loss_weight": "std"}),
            "+ velocity inputs, loss_weight='var' (the data's units)": (
                {"derived": "velocity"}, {}, {"features": "pos_vel", "loss_weight": "var"}),
            "+ velocity inputs, loss_weight='std', spatial=False": (
                {"derived": "velocity", "spatial": False}, {}, {"features": "pos_vel", "loss_weight": "std"}),
            # the training schedule (teacher forcing, then rollout), with velocity inputs
            "+ velocity inputs, twice the epochs (24)": ({"derived": "velocity"}, {"epochs": 24},
                                                         {"features": "pos_vel"}),
            "+ velocity inputs, rollout for half the epochs": ({"derived": "velocity"}, {"rollout_share": 0.5},
                                                               {"features": "pos_vel"}),
            "+ velocity inputs, rollout at the full learning rate": ({"derived": "velocity"}, {"rollout_lr": 1.0},
                                                                     {"features": "pos_vel"}),
            "+ velocity inputs, rollout alone (no teacher forcing)": (
                {"derived": "velocity"}, {"rollout_share": 1.0}, {"features": "pos_vel"}),
            "+ velocity inputs, GRU cells": ({"derived": "velocity", "cell": "gru"}, {}, {"features": "pos_vel"}),
            "+ velocity inputs, width 128 (the benchmark's)": (dict(_sizes(128), derived="velocity"), {},
                                                                {"features": "pos_vel"}),
            "+ velocity inputs, width 256 (the full mode's)": (dict(_sizes(256), derived="velocity"), {},
                                                                {"features": "pos_vel"}),
        },
        metric="mean", columns=("80ms", "160ms", "320ms", "400ms", "560ms", "1000ms"), data=dict(stride=8),
        carve=lambda train: tuple(train[idx] for idx in held_out_files(train)),
        base_model=lambda H: dict(_sizes(H), residual=True, **CMU_TUNED), references=("zero_velocity", "linear_ar"),
        train=dict(monitor="val_mse", metrics=["mse"], grad_clip=1.0), finetune=True, hidden=64, epochs=12,
        patience=4, lr=2e-3,
        note="Validation (the protocol has none): each action's last training recording, as "
             "`benchmarks/accuracy.py` holds it out; training windows every 8 frames (the quick mode's). "
             "Metric: the Euler-angle error of `CMUMocap.score` at each reported time, and `mean`, their mean "
             "(the choice)."),
}


def _open(cls, search: Search, data_kw: Dict[str, Any]):
    kw = dict(search.data, **data_kw)
    augment = kw.pop("train_augment", None)
    train_kw = kw if augment is None else \
        dict(kw, transform=augment if kw.get("transform") is None else Compose([kw["transform"], augment]))
    train = cls.open("train", **train_kw)
    if search.carve is not None:
        if augment is not None:
            raise ValueError("train_augment: not with a carved validation part")
        train, val = search.carve(train)
        return train[torch.arange(0, len(train), search.train_every)], val
    val = cls.open("val", train=train, **kw)
    pick = lambda ds, k: ds if k == 1 else ds[torch.arange(0, len(ds), k)]  # noqa: E731
    return pick(train, search.train_every), pick(val, search.val_every)


def _scores(val, model) -> Dict[str, float]:
    """``dataset.score`` on the validation windows, and ``mean``: the mean of its values."""
    out = _base(val).score(collect(model, DataLoader(val, 64)))
    out.setdefault("mean", statistics.mean(out.values()))
    return {k: float(v) for k, v in out.items()}


def _base(dataset):
    """The dataset under index views (whose ``score`` is the protocol's)."""
    while not hasattr(dataset, "score") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return dataset


def _train(model, train, val, search: Search, config: TrainConfig, rollout_share: float = 1 / 3,
           rollout_lr: float = 1 / 3) -> None:
    """``fit`` (and the rollout fine-tuning of ``search.finetune``: the last
    ``rollout_share`` of the epochs, at ``rollout_lr`` times the learning rate;
    a share of 1 trains by rollout alone)."""
    loader, val_loader = DataLoader(train, search.batch, shuffle=True), DataLoader(val, 64)
    if not search.finetune or config.epochs < 2:              # one epoch: teacher forcing alone
        fit(model, loader, val_loader, config)
        return
    if rollout_share >= 1:
        fit(model, loader, val_loader, dataclasses.replace(config, objective="rollout"))
        return
    tail = max(1, round(config.epochs * rollout_share))
    fit(model, loader, val_loader, dataclasses.replace(config, epochs=config.epochs - tail))
    before, state = _scores(val, model.eval())[search.metric], copy.deepcopy(model.state_dict())
    fit(model, loader, val_loader, dataclasses.replace(config, epochs=tail, objective="rollout",
                                                       lr=config.lr * rollout_lr))
    if _scores(val, model.eval())[search.metric] >= before:
        model.load_state_dict(state)


def _digest(names: List[str]) -> str:
    return hashlib.sha1(" ".join(sorted(names)).encode()).hexdigest()[:6]


def _stat(values: List[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 \
        else f"{values[0]:.3f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="chickenpox", choices=sorted(SEARCHES))
    p.add_argument("--hidden", type=int, default=None, help="default: the search's (64; 32 on eth_ucy)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=None, help="default: the search's (500; eth_ucy 30, cmu_mocap 12)")
    p.add_argument("--patience", type=int, default=None, help="default: the search's (20; eth_ucy 5, cmu_mocap 4)")
    p.add_argument("--lr", type=float, default=None, help="default: the search's (1e-2; eth_ucy 3e-3, cmu_mocap 2e-3)")
    p.add_argument("--variants", nargs="+", default=None, help="run only these (their names)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    for flag in ("hidden", "seeds", "epochs", "patience", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag} must be at least 1 (got {value})")
    if args.lr is not None and not args.lr > 0:
        p.error(f"--lr must be positive (got {args.lr})")
    search, cls = SEARCHES[args.dataset], datasets.get(args.dataset)
    H = search.hidden if args.hidden is None else args.hidden
    epochs = search.epochs if args.epochs is None else args.epochs
    patience = search.patience if args.patience is None else args.patience
    lr = search.lr if args.lr is None else args.lr
    if args.threads:
        torch.set_num_threads(args.threads)
    unknown = sorted(set(args.variants or ()) - set(search.variants))
    if unknown:
        p.error(f"--variants: unknown {unknown}; choose from {list(search.variants)}")
    rows: List[List[str]] = []
    started = time.time()
    for name, (model_kw, train_kw, data_kw) in search.variants.items():
        if args.variants and name not in args.variants:
            continue
        train, val = _open(cls, search, data_kw)
        F_in, F_out = train[0].x.size(-1), train[0].y.size(-1)
        scores, secs = [], time.time()
        kw = dict(search.base_model(H), **model_kw)
        scale = getattr(_base(train), "velocity_scale", None)
        if kw.get("derived") == "velocity" and scale is not None:
            kw.setdefault("velocity_scale", scale)
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = build("srnn", train.schema, F_in, F_out, **kw)
            schedule = {k: train_kw[k] for k in ("rollout_share", "rollout_lr") if k in train_kw}
            config = TrainConfig(**dict(dict(epochs=epochs, lr=lr, seed=seed, progress=False,
                                             early_stopping=patience, restore_best=True), **search.train,
                                        **{k: v for k, v in train_kw.items() if k not in schedule}))
            _train(model, train, val, search, config, **schedule)
            scores.append(_scores(val, model.eval()))
        rows.append([name] + [_stat([s[k] for s in scores]) for k in (search.metric,) + search.columns]
                    + [f"{(time.time() - secs) / len(scores):.0f}"])
        print(rows[-1], flush=True)
    for ref in search.references:
        label, ref, ref_kw, data_kw = (ref, ref, {}, {}) if isinstance(ref, str) else ref
        train, val = _open(cls, search, data_kw)
        kw = dict(dict(lags=min(train[0].x.size(1), 8)) if ref == "linear_ar" else {}, **ref_kw)
        model = build(ref, train.schema, train[0].x.size(-1), train[0].y.size(-1), **kw)
        if hasattr(model, "fit_closed_form"):
            model.fit_closed_form(DataLoader(train, 64))
        got = _scores(val, model)
        rows.append([f"{label} (reference, not an S-RNN)"]
                    + [f"{got[k]:.3f}" for k in (search.metric,) + search.columns] + ["-"])
    chosen = sorted(args.variants or ())
    part = "" if not chosen else "_variants_" + "_".join(
        chosen if len(chosen) <= 3 else [chosen[0], f"and_{len(chosen) - 1}_more", _digest(chosen)])
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"validation_{args.dataset}{part}.md")   # a partial search never replaces the whole
    text = "\n\n".join([
        f"# S-RNN variants on {args.dataset}'s validation part",
        f"{search.note} Training windows: every {search.train_every}-th; validation windows: every "
        f"{search.val_every}-th ({len(val)}). Hidden {H}; Adam, lr {lr}; early stopping after {patience} "
        f"epochs without a better validation MSE (at most {epochs}), best epoch kept"
        + ("; teacher forcing for two thirds of the epochs, then rollout at a third of the learning rate, kept "
           "only if it lowers the validation metric" if search.finetune else "") + f"; {args.seeds} seeds "
        f"(mean ± sample std, n - 1). Metric: `{search.metric}` of `dataset.score` on the validation windows (lower is "
        f"better). The test split is never opened. {time.time() - started:.0f} s in all.",
        machine("cpu"), f"Command: `{command()}`",
        markdown_table(["S-RNN variant", f"validation {search.metric}"] + list(search.columns) + ["s per seed"],
                       rows)]) + "\n"
    write_atomic(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
