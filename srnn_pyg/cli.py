r"""The ``srnn-pyg`` command: train, evaluate, compare and forecast from the shell.

.. code-block:: bash

    srnn-pyg train --dataset springs --model srnn --epochs 10 --out-dir runs/srnn
    srnn-pyg evaluate runs/srnn/best.pt --split test
    srnn-pyg compare --dataset springs --models srnn,node_lstm,constant_velocity --epochs 5
    srnn-pyg forecast runs/srnn/best.pt --split test --index 0 1 2
    torchrun --nproc_per_node 2 -m srnn_pyg train --distributed --out-dir runs/ddp

Datasets by name: ``springs`` (synthetic, no files), ``cmu_mocap``,
``los_loop``, ``chickenpox``, ``pedalme``, ``england_covid``, ``brain4cars``
(files under ``--data-root`` or ``$SRNN_PYG_DATA``). Models by their registry
name (:func:`srnn_pyg.models.available`). Each run directory holds
``metrics.jsonl``, ``last.pt``, ``best.pt`` and ``result.json``
(:func:`srnn_pyg.train.fit`); ``evaluate`` and ``forecast`` rebuild the model
and the dataset from the checkpoint alone.
"""
from __future__ import annotations

import argparse
import ast
import csv
import inspect
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

__all__ = ["main", "DATASETS"]

DATASETS = ("springs", "cmu_mocap", "los_loop", "chickenpox", "pedalme", "england_covid", "brain4cars")
_SPLITS = {"springs": ("train", "val", "test"), "cmu_mocap": ("train", "test"),
           "los_loop": ("train", "val", "test"), "chickenpox": ("train", "val", "test"),
           "pedalme": ("train", "val", "test"), "england_covid": ("train", "val", "test"),
           "brain4cars": ("train", "test")}
_DEFAULT_COMPARE = ("srnn", "node_lstm", "constant_velocity", "zero_velocity")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ================================================================= datasets
def _dataset_kwargs(name: str, cfg: Dict[str, Any], split: str) -> Dict[str, Any]:
    kw: Dict[str, Any] = {}
    root = cfg.get("data_root")
    if name != "springs":
        kw["root"] = root
    obs, horizon = cfg.get("obs"), cfg.get("horizon")
    if name in ("springs", "cmu_mocap", "los_loop"):
        if obs is not None:
            kw["obs"] = obs
        if horizon is not None:
            kw["horizon"] = horizon
    elif name in ("chickenpox", "pedalme", "england_covid"):
        if obs is not None:
            kw["lags"] = obs
        if horizon is not None:
            kw["horizon"] = horizon
    elif name == "brain4cars":
        if obs is not None or horizon is not None:
            raise CLIError("brain4cars: '--obs' and '--horizon' do not apply (sequences of 7 steps, one "
                           "label per step)")
        if cfg.get("fold") is not None:
            kw["fold"] = cfg["fold"]
    if name == "springs":
        kw["seed"] = cfg.get("seed", 0)
        n = cfg.get("num_graphs")
        if n is not None:
            kw["num_graphs"] = n if split == "train" else max(1, n // 5)
    elif cfg.get("num_graphs") is not None:
        raise CLIError(f"{name}: '--num-graphs' applies to springs only")
    if cfg.get("fold") is not None and name != "brain4cars":
        raise CLIError(f"{name}: '--fold' applies to brain4cars only")
    kw.update(cfg.get("extra") or {})
    kw["split"] = split
    return kw


def make_dataset(name: str, split: str, cfg: Dict[str, Any]):
    """One split of a dataset by name; ``cfg`` holds ``data_root``, ``obs``,
    ``horizon``, ``num_graphs``, ``seed``, ``fold`` and ``extra`` kwargs."""
    from . import datasets as D
    if name not in DATASETS:
        raise CLIError(f"unknown dataset {name!r} (available: {', '.join(DATASETS)})")
    if split not in _SPLITS[name]:
        raise CLIError(f"{name} has no split {split!r} (splits: {', '.join(_SPLITS[name])})")
    cls = {"springs": D.Springs, "cmu_mocap": D.CMUMocap, "los_loop": D.LosLoop,
           "chickenpox": D.Chickenpox, "pedalme": D.PedalMe, "england_covid": D.EnglandCovid,
           "brain4cars": D.Brain4Cars}[name]
    kw = _dataset_kwargs(name, cfg, split)
    if name == "springs" and split != "train" and "stats" not in kw and kw.get("normalize", True):
        # The training split's statistics (a smaller val/test split would fit its own).
        kw["stats"] = make_dataset(name, "train", cfg).stats
    try:
        return cls(**kw)
    except TypeError as e:
        raise CLIError(f"{name}: bad dataset argument ({e})") from None


def _keep_stats(name: str, cfg: Dict[str, Any], train_set) -> None:
    """Springs: record the training statistics in ``cfg`` (and so in the
    checkpoint), so evaluation splits are normalised alike without
    simulating the training split again."""
    if name == "springs" and getattr(train_set, "stats", None) is not None:
        mean, std = train_set.stats
        cfg["extra"] = {**(cfg.get("extra") or {}), "stats": [mean.tolist(), std.tolist()]}


def _val_split(name: str, cfg: Dict[str, Any]):
    if "val" not in _SPLITS[name]:
        return None
    if name in ("chickenpox", "pedalme", "england_covid") and not (cfg.get("extra") or {}).get("val_ratio"):
        return None  # PyG Temporal's split has no validation part unless val_ratio > 0
    return make_dataset(name, "val", cfg)


def _loader(dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0):
    from torch_geometric.loader import DataLoader
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers)


def _is_classification(dataset) -> bool:
    y = dataset[0].get("y")
    return y is not None and not y.is_floating_point()


# =================================================================== models
def _model_class(name: str):
    from .models import available
    from .train import _registry
    reg = _registry()
    if name.lower() not in reg:
        raise CLIError(f"unknown model {name!r} (available: {', '.join(available())})")
    return reg[name.lower()]


def _model_kwargs(name: str, hidden: Optional[int], classification: bool, extra: Dict[str, Any],
                  structure: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    """Constructor arguments from the command's options: ``--hidden`` mapped
    to each model's size arguments, ``task`` for classification data, the
    window sizes (``structure``: ``obs_len``, ``horizon``) for models that
    take them, then ``--model-arg`` values, which win."""
    cls = _model_class(name)
    params = inspect.signature(cls.__init__).parameters
    kw: Dict[str, Any] = {}
    if hidden is not None:
        if {"edge_hidden", "node_hidden"} <= set(params):
            kw.update(edge_hidden=hidden, node_hidden=hidden)
            if "edge_mlp" in params and "node_mlp" in params:
                kw.update(edge_mlp=(hidden,), node_mlp=(hidden,))
        elif "hidden" in params:
            kw["hidden"] = hidden
        elif "hidden_channels" in params:
            kw["hidden_channels"] = hidden
    if classification and "task" in params:
        kw["task"] = "classification"
    for key, value in (structure or {}).items():  # window sizes of models that are built for them
        if key in params and value:
            kw[key] = value
    kw.update(extra)
    unknown = [k for k in kw if k not in params and not any(
        p.kind == p.VAR_KEYWORD for p in params.values())]
    if unknown:
        own = [p for p in params if p not in ("self", "schema", "in_channels", "out_channels")]
        raise CLIError(f"model {name!r} takes no argument {unknown[0]!r} (its arguments: {', '.join(own)})")
    return kw


def _channels(dataset) -> Tuple[int, int]:
    sample = dataset[0]
    in_ch = int(sample.x.size(-1))
    if _is_classification(dataset):
        n = getattr(dataset, "num_classes", None)
        out_ch = int(n) if n is not None else int(sample.y.max()) + 1
    else:
        out_ch = int(sample.y.size(-1))
    return in_ch, out_ch


def _build(name: str, train_set, hidden: Optional[int], extra: Dict[str, Any]):
    from .train import build_model
    in_ch, out_ch = _channels(train_set)
    structure = {"obs_len": int(getattr(train_set, "obs", 0) or 0),
                 "horizon": int(getattr(train_set, "horizon", 0) or 0)}
    kw = _model_kwargs(name, hidden, _is_classification(train_set), extra, structure)
    try:
        return build_model(name, train_set.schema, in_ch, out_ch, **kw)
    except TypeError as e:
        raise CLIError(f"model {name!r}: bad argument ({e})") from None


def _objective(choice: str, model) -> str:
    if choice != "auto":
        return choice
    return "teacher_forcing" if getattr(model, "has_forward", True) else "rollout"


def _num_params(model) -> int:
    return sum(p.numel() for p in model.parameters()
               if not isinstance(p, torch.nn.parameter.UninitializedParameter))


# ================================================================ protocols
@torch.no_grad()
def _collect(model, loader, device, horizon: Optional[int], classification: bool) -> Dict[str, torch.Tensor]:
    """Predictions over a loader, concatenated in dataset order (batches of
    whole graphs): ``pred``, ``y`` and the masks and types where present."""
    model.eval()
    parts: Dict[str, List[torch.Tensor]] = {}
    for batch in loader:
        batch = batch.to(device)
        if classification:
            out = model(batch)                                                   # [N, T, C]
        else:
            H = horizon or batch.y.size(1)
            out = model.forecast(batch, H)                                       # [N, H, F]
        values = {"pred": out, "y": batch.y if classification else batch.y[:, :out.size(1)],
                  "x": batch.x}
        for key in ("y_mask", "node_mask", "node_type", "maneuver"):
            v = batch.get(key)
            if v is not None:
                values[key] = v[:, :out.size(1)] if key == "y_mask" and not classification else v
        for k, v in values.items():
            parts.setdefault(k, []).append(v.detach().float().cpu() if v.is_floating_point() else v.cpu())
    if not parts:
        raise CLIError("the split holds no windows to evaluate")
    return {k: torch.cat(v) for k, v in parts.items()}


def protocol_metrics(name: str, dataset, model, loader, device, horizon: Optional[int] = None
                     ) -> Dict[str, float]:
    """The metrics each dataset's literature reports, as ``{column: value}``:

    * springs: MSE (normalised units) after 1, 10 and 20 steps and over the horizon;
    * los_loop: MAE, RMSE (mph) and MAPE (%) at 15, 30 and 60 minutes (:meth:`LosLoop.horizon_metrics`);
    * chickenpox, pedalme, england_covid: MAE and MSE in the data's units;
    * cmu_mocap: Euler-angle error at 80 ... 1000 ms (:func:`~srnn_pyg.metrics.euler_angle_error`);
    * brain4cars: precision, recall, F1 and time-to-maneuver (the first step
      predicting a maneuver decides, :func:`~srnn_pyg.metrics.anticipate`).
    """
    from . import metrics as M
    cls = _is_classification(dataset)
    r = _collect(model, loader, device, horizon, cls)
    out: Dict[str, float] = {}
    if name == "brain4cars":
        labels = r["pred"].argmax(-1)                                            # [N, T]
        ym = r.get("y_mask")
        driver = ym.any(1) if ym is not None else torch.ones(labels.size(0), dtype=torch.bool)
        mask = r["node_mask"][driver] if "node_mask" in r else None
        pred, t = M.anticipate(labels[driver], mask=mask,
                               step_seconds=getattr(dataset, "step_seconds", 0.8))
        target = r["maneuver"] if "maneuver" in r else r["y"][driver][:, -1]
        s = M.maneuver_scores(pred, target, num_classes=r["pred"].size(-1), time=t)
        out.update(precision=100 * s["precision"], recall=100 * s["recall"], f1=100 * s["f1"],
                   time_to_maneuver=float(s.get("time_to_maneuver", float("nan"))))
        return out
    if cls:  # another classification data set: per-step accuracy
        lg = r["pred"][:, -r["y"].size(1):]
        w = r["y_mask"].float() if "y_mask" in r else torch.ones_like(r["y"], dtype=torch.float)
        out["accuracy"] = float(((lg.argmax(-1) == r["y"]).float() * w).sum() / w.sum().clamp_min(1))
        return out
    pred, y, ym = r["pred"], r["y"], r.get("y_mask")
    H = pred.size(1)
    if name == "springs":
        per = M.per_horizon("mse", pred, y, ym)
        for h in (1, 10, 20):
            if h <= H:
                out[f"MSE@{h}"] = float(per[h - 1])
        out["MSE"] = float(M.mse(pred, y, ym))
    elif name == "los_loop":
        scores = dataset.horizon_metrics(pred, y, horizons=[h for h in (3, 6, 12) if h <= H] or [H])
        for minutes, s in scores.items():
            for k in ("mae", "rmse", "mape"):
                out[f"{k.upper()}@{minutes}min"] = s[k]
    elif name in ("chickenpox", "pedalme", "england_covid"):
        p, t = dataset.denormalize(pred), dataset.denormalize(y)
        out.update(MAE=float(M.mae(p, t, ym)), MSE=float(M.mse(p, t, ym)))
    elif name == "cmu_mocap":
        p, t = dataset.to_pose(pred), dataset.to_pose(y)                         # [B, H, D]
        err = M.euler_angle_error(p, t)                                          # [H]
        fps = getattr(dataset, "fps", 25.0)
        for ms, f in zip((80, 160, 320, 400, 560, 1000), M.frames_at_ms(fps=fps)):
            if f < H:
                out[f"{ms}ms"] = float(err[f])
    else:
        out.update(MSE=float(M.mse(pred, y, ym)), MAE=float(M.mae(pred, y, ym)))
    return out


# ================================================================== tables
def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def markdown_table(rows: List[Dict[str, Any]]) -> str:
    cols: List[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: List[Dict[str, Any]]) -> str:
    cols: List[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in cols})
    return buf.getvalue()


# ================================================================= parsing
def _key_values(items: Optional[Sequence[str]], flag: str, scoped: bool = False) -> Dict[str, Any]:
    """``KEY=VALUE`` items as a dict, values read as Python literals (a bare
    word is a string). With ``scoped``, ``MODEL.KEY=VALUE`` is allowed too."""
    out: Dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise CLIError(f"{flag} expects KEY=VALUE (got {item!r})")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        parts = key.split(".") if scoped else [key]
        if len(parts) > 2 or not all(p.isidentifier() for p in parts):
            form = "KEY or MODEL.KEY" if scoped else "KEY"
            raise CLIError(f"{flag}: {key!r} is not an argument name ({form}; got {item!r})")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out[key] = value
    return out


def _model_extra(items: Optional[Sequence[str]], name: str, strict: bool) -> Dict[str, Any]:
    """The ``--model-arg`` values for model ``name``: its ``name.KEY`` ones
    and the unscoped ones. With ``strict=False`` (compare), an unscoped key
    that the model does not take is left out for that model."""
    params = inspect.signature(_model_class(name).__init__).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    out: Dict[str, Any] = {}
    for key, value in _key_values(items, "--model-arg", scoped=True).items():
        scope, _, arg = key.rpartition(".")
        if scope:
            _model_class(scope)
            if scope.lower() == name.lower():
                out[arg] = value
        elif strict or takes_any or arg in params:
            out[arg] = value
    return out


def _noise(value: Optional[str]):
    if value is None or value == "none":
        return None
    if value == "paper":
        return "paper"
    try:
        return float(value)
    except ValueError:
        raise CLIError(f"--noise expects 'none', 'paper' or a std such as 0.01 (got {value!r})") from None


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__} (got {text!r})") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__} (got {text!r})")
        return v
    return parse


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (got {text!r})") from None
    if v < 0 or not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (got {text!r})")
    return v


def _add_data_options(p: argparse.ArgumentParser, dataset_default: Optional[str] = "springs") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=dataset_default, metavar="NAME",
                   help=f"dataset: {', '.join(DATASETS)} "
                        f"(default: {dataset_default or 'from the checkpoint'})")
    g.add_argument("--data-root", metavar="DIR",
                   help="folder holding the dataset's files (default: $SRNN_PYG_DATA); springs needs none")
    g.add_argument("--obs", type=_positive(int), metavar="T",
                   help="observed steps per window (default: the dataset's)")
    g.add_argument("--horizon", type=_positive(int), metavar="H",
                   help="predicted steps per window (default: the dataset's)")
    g.add_argument("--num-graphs", type=_positive(int), metavar="N",
                   help="springs: training simulations (validation and test get N // 5; default: "
                        "1000 / 200 / 200)")
    g.add_argument("--fold", type=int, metavar="K", help="brain4cars: cross-validation fold 1-5 (default: 1)")
    g.add_argument("--dataset-arg", action="append", metavar="KEY=VALUE",
                   help="any other keyword of the dataset class, as a Python literal; repeatable "
                        "(e.g. --dataset-arg num_nodes=10)")
    g.add_argument("--batch-size", type=_positive(int), default=32, metavar="B",
                   help="windows per batch (default: 32)")
    g.add_argument("--num-workers", type=int, default=0, metavar="W",
                   help="DataLoader worker processes (default: 0)")


def _add_train_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=_positive(int), metavar="H",
                   help="hidden size: S-RNN's edgeRNN/nodeRNN sizes and MLP widths, 'hidden' or "
                        "'hidden_channels' of the other models (default: each model's own)")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="any other keyword of the model class, as a Python literal; repeatable "
                        "(e.g. --model-arg residual=True). MODEL.KEY=VALUE applies to one model only; "
                        "compare gives an unscoped KEY to the models that take it")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=_positive(int), default=10, metavar="E",
                   help="passes over the training split (default: 10)")
    t.add_argument("--objective", choices=("auto", "teacher_forcing", "rollout"), default="auto",
                   help="teacher_forcing: one-step-ahead on concat(x, y); rollout: loss on forecast(x, H); "
                        "auto: teacher forcing for models with forward(), else rollout (default: auto)")
    t.add_argument("--lr", type=_positive(float), default=1e-3, metavar="LR",
                   help="learning rate (default: 1e-3)")
    t.add_argument("--weight-decay", type=_non_negative_float, default=0.0, metavar="WD",
                   help="L2 penalty of the optimiser (default: 0)")
    t.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam",
                   help="optimiser; sgd uses momentum 0.9 (default: adam)")
    t.add_argument("--scheduler", choices=("none", "step", "cosine", "plateau"), default="none",
                   help="learning-rate schedule, stepped per epoch (default: none)")
    t.add_argument("--grad-clip", type=_non_negative_float, default=1.0, metavar="NORM",
                   help="clip the gradient norm; 0 for none (default: 1.0)")
    t.add_argument("--noise", default=None, metavar="none|paper|STD",
                   help="Gaussian input noise: 'paper' (the S-RNN curriculum: std 0.01 at step 250 "
                        "rising to 0.7 at step 3300) or a constant std (default: none)")
    t.add_argument("--patience", type=_positive(int), metavar="E",
                   help="early stopping: epochs without a better --monitor value (default: off)")
    t.add_argument("--monitor", metavar="KEY",
                   help="history key choosing best.pt, e.g. val_loss, val_mse, val_accuracy "
                        "(default: val_loss, or train_loss without a validation split)")
    t.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the data (springs), model and order (default: 0)")
    t.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: auto)")
    t.add_argument("--amp", nargs="?", const="fp16", choices=("fp16", "bf16"),
                   help="mixed precision on CUDA (fp16 with a GradScaler, or bf16); ignored on CPU")
    t.add_argument("--compile", action="store_true", help="train through torch.compile")
    t.add_argument("--resume", nargs="?", const=True, metavar="CKPT",
                   help="continue the run in --out-dir from its last.pt, or from CKPT")
    t.add_argument("--distributed", action="store_true",
                   help="DistributedDataParallel under torchrun (NCCL on CUDA, else Gloo)")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srnn-pyg", description="Structural-RNN and baselines on spatio-temporal graphs: train, "
        "evaluate, compare, forecast.",
        epilog="Run 'srnn-pyg COMMAND --help' for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train one model on one dataset",
                       description="Train a model; writes metrics.jsonl, last.pt, best.pt and result.json "
                                   "to --out-dir.")
    p.add_argument("--model", default="srnn", metavar="NAME", help="registered model name (default: srnn)")
    p.add_argument("--out-dir", metavar="DIR", help="run directory (default: runs/DATASET-MODEL)")
    _add_data_options(p)
    _add_train_options(p)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split",
                       description="Evaluate a checkpoint on a split and print the dataset's protocol table.")
    p.add_argument("checkpoint", help="a checkpoint file, or a run directory (its best.pt, else last.pt)")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    p.add_argument("--output", metavar="FILE", help="also write the metrics as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_options(p, dataset_default=None)

    p = sub.add_parser("compare", help="train several models on one dataset and tabulate them",
                       description="Train each model on the same data (each in --out-dir/MODEL), evaluate "
                                   "them on --split, print one table and write it as compare.md and "
                                   "compare.csv in --out-dir.")
    p.add_argument("--models", default=",".join(_DEFAULT_COMPARE), metavar="A,B,...",
                   help=f"comma-separated model names (default: {','.join(_DEFAULT_COMPARE)})")
    p.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    p.add_argument("--out-dir", metavar="DIR",
                   help="directory for runs and tables (default: runs/compare-DATASET)")
    _add_data_options(p)
    _add_train_options(p)

    p = sub.add_parser("forecast", help="forecast given windows with a checkpoint",
                       description="Forecast windows of a split; writes the predictions as .pt and a PNG "
                                   "picture (if matplotlib is installed).")
    p.add_argument("checkpoint", help="a checkpoint file, or a run directory")
    p.add_argument("--split", default="test", help="split to take windows from (default: test)")
    p.add_argument("--index", type=int, nargs="+", default=[0], metavar="I",
                   help="window indices in the split (default: 0)")
    p.add_argument("--output", metavar="FILE",
                   help="predictions file (default: forecast.pt beside the checkpoint)")
    p.add_argument("--plot", metavar="PNG", help="picture file (default: the --output name with .png)")
    p.add_argument("--no-plot", action="store_true", help="no picture")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    _add_data_options(p, dataset_default=None)
    return parser


# ================================================================ commands
def _data_cfg(args) -> Dict[str, Any]:
    return {"data_root": str(args.data_root) if args.data_root else None, "obs": args.obs,
            "horizon": args.horizon, "num_graphs": args.num_graphs, "fold": args.fold,
            "seed": getattr(args, "seed", 0), "extra": _key_values(args.dataset_arg, "--dataset-arg")}


def _check_names(args) -> None:
    if args.dataset not in DATASETS:
        raise CLIError(f"unknown dataset {args.dataset!r} (available: {', '.join(DATASETS)})")


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _fit_kwargs(args, model) -> Dict[str, Any]:
    return dict(epochs=args.epochs, objective=_objective(args.objective, model), lr=args.lr,
                weight_decay=args.weight_decay, optimizer=args.optimizer,
                scheduler=None if args.scheduler == "none" else args.scheduler,
                grad_clip=args.grad_clip or None, noise=_noise(args.noise), early_stopping=args.patience,
                monitor=args.monitor, seed=args.seed, device=args.device, amp=args.amp or False,
                compile=args.compile, progress=not args.no_progress, distributed=args.distributed)


def _train_one(args, name: str, train_set, val_set, cfg: Dict[str, Any], out_dir: Path,
               restore_best: bool = False, strict: bool = True):
    from .train import fit
    torch.manual_seed(args.seed)
    model = _build(name, train_set, args.hidden, _model_extra(args.model_arg, name, strict))
    train_loader = _loader(train_set, args.batch_size, shuffle=True, num_workers=args.num_workers)
    val_loader = (_loader(val_set, args.batch_size, num_workers=args.num_workers)
                  if val_set is not None else None)
    meta = {"dataset": args.dataset, "dataset_config": cfg, "batch_size": args.batch_size,
            "command": "srnn-pyg " + " ".join(args.argv)}
    start = time.perf_counter()
    result = fit(model, train_loader, val_loader, out_dir=out_dir, resume=args.resume,
                 restore_best=restore_best, meta=meta, **_fit_kwargs(args, model))
    return model, result, time.perf_counter() - start


def _check_early(args) -> None:
    """Option values that need no data: checked before datasets are built."""
    _check_names(args)
    _noise(args.noise)
    _key_values(args.model_arg, "--model-arg", scoped=True)


def cmd_train(args) -> int:
    _check_early(args)
    _model_class(args.model)
    cfg = _data_cfg(args)
    train_set = make_dataset(args.dataset, "train", cfg)
    _keep_stats(args.dataset, cfg, train_set)
    val_set = _val_split(args.dataset, cfg)
    out_dir = Path(args.out_dir or f"runs/{args.dataset}-{args.model}")
    model, result, secs = _train_one(args, args.model, train_set, val_set, cfg, out_dir)
    if _is_main_rank():
        final = {k: v for k, v in result.final.items() if isinstance(v, float) and k != "time"}
        print(f"trained {args.model} on {args.dataset} ({len(train_set)} windows) for "
              f"{result.epochs_run} epoch(s) in {secs:.1f} s"
              + (" (stopped early)" if result.stopped_early else ""))
        print("last epoch: " + "  ".join(f"{k} {_fmt(v)}" for k, v in final.items()))
        if result.best_epoch is not None:
            print(f"best {result.monitor}: {_fmt(result.best_score)} at epoch {result.best_epoch}")
        print(f"checkpoints: {out_dir / 'best.pt'}, {out_dir / 'last.pt'}; "
              f"metrics: {out_dir / 'metrics.jsonl'}")
        print(f"evaluate with: srnn-pyg evaluate {out_dir / 'best.pt'}")
    return 0


def _from_checkpoint(args):
    from .train import load_checkpoint, load_model, _resolve_device
    ckpt = load_checkpoint(args.checkpoint)
    meta = ckpt.get("meta") or {}
    name = args.dataset or meta.get("dataset")
    if name is None:
        raise CLIError(f"checkpoint '{ckpt['path']}' does not name its dataset; pass --dataset")
    if name not in DATASETS:
        raise CLIError(f"unknown dataset {name!r} (available: {', '.join(DATASETS)})")
    cfg = dict(meta.get("dataset_config") or {}) if name == meta.get("dataset") else {}
    cfg.setdefault("seed", 0)
    for key in ("data_root", "obs", "horizon", "num_graphs", "fold"):
        value = getattr(args, key)
        if value is not None:
            cfg[key] = str(value) if key == "data_root" else value
    extra = _key_values(args.dataset_arg, "--dataset-arg")
    if extra:
        cfg["extra"] = {**(cfg.get("extra") or {}), **extra}
    device = _resolve_device(args.device)
    model = load_model(ckpt["path"], map_location=device)
    dataset = make_dataset(name, args.split, cfg)
    return ckpt, model, name, dataset, device


def cmd_evaluate(args) -> int:
    from .train import atomic_write_text, evaluate
    ckpt, model, name, dataset, device = _from_checkpoint(args)
    loader = _loader(dataset, args.batch_size, num_workers=args.num_workers)
    scores = evaluate(model, loader, device=device, progress=not args.no_progress)
    table = protocol_metrics(name, dataset, model, loader, device)
    spec = ckpt.get("spec") or {}
    row = {"model": spec.get("name"), "epoch": ckpt.get("epoch"), "split": args.split,
           "windows": len(dataset), **table}
    print(f"{name}, split {args.split}: checkpoint {ckpt['path']}")
    print(markdown_table([row]), end="")
    flat = {k: v for k, v in scores.items() if isinstance(v, float)}
    print("evaluate() in model units: " + "  ".join(f"{k} {_fmt(v)}" for k, v in flat.items()))
    if args.output:
        atomic_write_text(json.dumps({"protocol": table, "metrics": scores, "checkpoint": ckpt["path"],
                                      "dataset": name, "split": args.split}, indent=2) + "\n", args.output)
        print(f"wrote {args.output}")
    return 0


def cmd_compare(args) -> int:
    from .train import atomic_write_text
    _check_early(args)
    names = [n.strip().lower() for n in args.models.split(",") if n.strip()]
    if not names:
        raise CLIError(f"--models names no model (got {args.models!r})")
    for n in names:
        _model_class(n)
    if args.resume is not None:
        raise CLIError("compare: --resume is not supported; rerun or resume models one by one with train")
    cfg = _data_cfg(args)
    train_set = make_dataset(args.dataset, "train", cfg)
    _keep_stats(args.dataset, cfg, train_set)
    val_set = _val_split(args.dataset, cfg)
    eval_set = make_dataset(args.dataset, args.split, cfg)
    out_dir = Path(args.out_dir or f"runs/compare-{args.dataset}")
    eval_loader = _loader(eval_set, args.batch_size, num_workers=args.num_workers)
    rows: List[Dict[str, Any]] = []
    failed = 0
    start_all = time.perf_counter()
    for n in names:
        try:
            model, result, secs = _train_one(args, n, train_set, val_set, cfg, out_dir / n,
                                             restore_best=val_set is not None, strict=False)
        except (ValueError, TypeError, NotImplementedError, CLIError) as e:
            failed += 1
            rows.append({"model": n, "error": str(e).splitlines()[0][:120]})
            print(f"srnn-pyg: {n} failed: {e}", file=sys.stderr)
            continue
        if not _is_main_rank():
            continue
        device = next(iter(model.parameters()), torch.zeros(0)).device
        try:
            table = protocol_metrics(args.dataset, eval_set, model, eval_loader, device)
        except (ValueError, NotImplementedError) as e:
            failed += 1
            rows.append({"model": n, "error": str(e).splitlines()[0][:120]})
            continue
        rows.append({"model": n, "params": _num_params(model), "epochs": result.epochs_run,
                     "best epoch": result.best_epoch, "train s": round(secs, 1), **table})
    if not _is_main_rank():
        return 0
    total = time.perf_counter() - start_all
    title = (f"{args.dataset}, split {args.split} ({len(eval_set)} windows); {args.epochs} epoch(s), "
             f"batch {args.batch_size}, lr {args.lr}, seed {args.seed}; total {total:.1f} s")
    md = f"# srnn-pyg compare\n\n{title}\n\n" + markdown_table(rows)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(md, out_dir / "compare.md")
    atomic_write_text(csv_table(rows), out_dir / "compare.csv")
    print(title)
    print(markdown_table(rows), end="")
    print(f"wrote {out_dir / 'compare.md'} and {out_dir / 'compare.csv'}")
    return 1 if failed else 0


def cmd_forecast(args) -> int:
    from .train import atomic_save
    ckpt, model, name, dataset, device = _from_checkpoint(args)
    n = len(dataset)
    bad = [i for i in args.index if not -n <= i < n]
    if bad:
        raise CLIError(f"--index {bad[0]} is outside the {args.split} split's {n} windows")
    from torch_geometric.data import Batch
    windows = [dataset[i] for i in args.index]
    batch = Batch.from_data_list(windows).to(device)
    cls = _is_classification(dataset)
    with torch.no_grad():
        if cls:
            pred = torch.softmax(model(batch), dim=-1)                           # [N, T, C]
        else:
            H = args.horizon or batch.y.size(1)
            pred = model.forecast(batch, H)                                      # [N, H, F]
    out = {"dataset": name, "split": args.split, "index": list(args.index), "x": batch.x.cpu(),
           "y": batch.y.cpu(), "pred": pred.cpu(), "batch": batch.batch.cpu(), "ptr": batch.ptr.cpu(),
           "edge_index": batch.edge_index.cpu(), "checkpoint": ckpt["path"]}
    if batch.get("node_type") is not None:
        out["node_type"] = batch.node_type.cpu()
    if not cls and getattr(dataset, "mean", None) is not None:
        try:
            out["x_data_units"] = dataset.denormalize(batch.x).cpu()
            out["y_data_units"] = dataset.denormalize(batch.y).cpu()
            out["pred_data_units"] = dataset.denormalize(pred).cpu()
        except (ValueError, RuntimeError):
            pass
    path = Path(args.output) if args.output else Path(ckpt["path"]).with_name("forecast.pt")
    atomic_save(out, path)
    print(f"wrote {path}: pred {list(pred.shape)} for window(s) {list(args.index)} of {name}/{args.split}")
    if not args.no_plot:
        picture = Path(args.plot) if args.plot else path.with_suffix(".png")
        if _plot(out, name, cls, picture):
            print(f"wrote {picture}")
    return 0


def _plot(out: Dict[str, Any], name: str, classification: bool, path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return False
    ptr = out["ptr"]
    n = int(ptr[1] - ptr[0])                                                     # the first window
    x = out.get("x_data_units", out["x"])[:n]
    y = out.get("y_data_units", out["y"])[:n]
    pred = out.get("pred_data_units", out["pred"])[:n]
    fig, ax = plt.subplots(figsize=(7, 5))
    if classification:
        probs = pred[0]                                                          # [T, C]
        for c in range(probs.size(-1)):
            ax.plot(probs[:, c], label=f"class {c}")
        ax.set_xlabel("step")
        ax.set_ylabel("probability")
        ax.set_title(f"{name}: class probabilities of node 0 (true label {int(y[0, -1])})")
    elif name == "springs" and x.size(-1) >= 2:
        for i in range(n):
            c = f"C{i % 10}"
            ax.plot(x[i, :, 0], x[i, :, 1], color=c, alpha=0.3, lw=1)
            ax.plot(y[i, :, 0], y[i, :, 1], color=c, lw=2, label="true" if i == 0 else None)
            ax.plot(pred[i, :, 0], pred[i, :, 1], color=c, lw=2, ls="--",
                    label="forecast" if i == 0 else None)
        ax.set_aspect("equal")
        ax.set_title("springs: observed (faint), true (solid), forecast (dashed)")
    else:
        T = x.size(1)
        for i in range(min(n, 6)):
            c = f"C{i}"
            ax.plot(range(T), x[i, :, 0], color=c, alpha=0.4)
            ax.plot(range(T, T + y.size(1)), y[i, :, 0], color=c, label="true" if i == 0 else None)
            ax.plot(range(T, T + pred.size(1)), pred[i, :, 0], color=c, ls="--",
                    label="forecast" if i == 0 else None)
        ax.set_xlabel("step")
        ax.set_title(f"{name}: feature 0 of the first {min(n, 6)} nodes")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    from .train import _atomic_write
    _atomic_write(path, lambda f: f.write(buf.getvalue()))
    return True


_COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "compare": cmd_compare, "forecast": cmd_forecast}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``srnn-pyg`` command; returns the exit status (0 on success, 2
    for a user error, printed as one line without a traceback). Argument
    errors exit through :class:`SystemExit` (status 2), as argparse does."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return _COMMANDS[args.command](args)
    except CLIError as e:
        print(f"srnn-pyg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, NotImplementedError) as e:
        print(f"srnn-pyg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"srnn-pyg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
