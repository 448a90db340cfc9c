"""The four commands of ``srnn-pyg``: ``train``, ``evaluate``, ``compare`` and
``forecast``. Each takes the parsed arguments and returns the exit status."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

from . import resources as R
from .options import CLIError, key_values, noise_option
from .plot import plot_forecast, position_channels
from .tables import csv_table, fmt, markdown_table

__all__ = ["cmd_train", "cmd_evaluate", "cmd_compare", "cmd_forecast", "COMMANDS"]


def _is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _check_early(args) -> None:
    """Option values that need no data: checked before datasets are opened."""
    R.dataset_class(args.dataset)
    noise_option(args.noise)
    key_values(args.model_arg, "--model-arg", scoped=True)


def _train_config(args, model, out_dir: Path, restore_best: bool, meta: Dict[str, Any]):
    from ..engine import TrainConfig
    return TrainConfig(
        epochs=args.epochs, objective=R.objective_for(args.objective, model), lr=args.lr,
        weight_decay=args.weight_decay, optimizer=args.optimizer,
        scheduler=None if args.scheduler == "none" else args.scheduler, grad_clip=args.grad_clip or None,
        noise=noise_option(args.noise), early_stopping=args.patience, monitor=args.monitor, seed=args.seed,
        device=args.device, amp=args.amp or False, compile=args.compile, progress=not args.no_progress,
        distributed=args.distributed, out_dir=out_dir, resume=args.resume, restore_best=restore_best,
        meta=meta)


def _train_one(args, name: str, sets: Dict[str, Any], cfg: Dict[str, Any], out_dir: Path,
               restore_best: bool = False, strict: bool = True):
    """Build model ``name`` and fit it on ``sets["train"]`` (validating on
    ``sets["val"]`` where there is one); returns the model, the fit result
    and the seconds it took."""
    from ..engine import fit
    torch.manual_seed(args.seed)
    model = R.build(name, sets["train"], args.hidden, R.model_extra(args.model_arg, name, strict))
    train_loader = R.loader(sets["train"], args.batch_size, shuffle=True, num_workers=args.num_workers)
    val_set = sets.get("val")
    val_loader = R.loader(val_set, args.batch_size, num_workers=args.num_workers) if val_set is not None else None
    meta = {"dataset": args.dataset, "dataset_config": cfg, "batch_size": args.batch_size,
            "command": "srnn-pyg " + " ".join(args.argv)}
    start = time.perf_counter()
    result = fit(model, train_loader, val_loader, _train_config(args, model, out_dir, restore_best, meta))
    return model, result, time.perf_counter() - start


def _protocol(model, dataset, loader, device) -> Dict[str, float]:
    """The dataset's protocol metrics (``dataset.score``) of ``model``'s
    predictions over ``loader``."""
    from ..engine import collect
    if len(dataset) == 0:
        raise CLIError("the split holds no windows to evaluate")
    return dataset.score(collect(model, loader, device=device))


# ==================================================================== train
def cmd_train(args) -> int:
    _check_early(args)
    R.model_class(args.model)
    cfg = R.data_config(args)
    sets = R.open_splits(args.dataset, cfg, ["val"])
    R.keep_reuse(cfg, sets["train"])
    out_dir = Path(args.out_dir or f"runs/{args.dataset}-{args.model}")
    model, result, secs = _train_one(args, args.model, sets, cfg, out_dir)
    if _is_main_rank():
        final = {k: v for k, v in result.final.items() if isinstance(v, float) and k != "time"}
        print(f"trained {args.model} on {args.dataset} ({len(sets['train'])} windows) for "
              f"{result.epochs_run} epoch(s) in {secs:.1f} s"
              + (" (stopped early)" if result.stopped_early else ""))
        print("last epoch: " + "  ".join(f"{k} {fmt(v)}" for k, v in final.items()))
        if result.best_epoch is not None:
            print(f"best {result.monitor}: {fmt(result.best_score)} at epoch {result.best_epoch}")
        print(f"checkpoints: {out_dir / 'best.pt'}, {out_dir / 'last.pt'}; "
              f"metrics: {out_dir / 'metrics.jsonl'}")
        print(f"evaluate with: srnn-pyg evaluate {out_dir / 'best.pt'}")
    return 0


# ================================================================ checkpoint
def _checkpoint_config(args, meta: Dict[str, Any], name: str) -> Dict[str, Any]:
    """The run's data config (from the checkpoint), overridden by the options given."""
    cfg = dict(meta.get("dataset_config") or {}) if name == meta.get("dataset") else {}
    cfg.setdefault("seed", 0)
    for key in ("data_root", "obs", "horizon", "num_graphs", "fold"):
        value = getattr(args, key)
        if value is not None:
            cfg[key] = str(value) if key == "data_root" else value
    extra = key_values(args.dataset_arg, "--dataset-arg")
    if extra:
        cfg["extra"] = {**(cfg.get("extra") or {}), **extra}
    return cfg


def _from_checkpoint(args):
    """The checkpoint, its model, the dataset name, the split ``args.split``
    (opened as the run opened its data) and the device."""
    from ..engine import load_checkpoint, load_model, resolve_device
    ckpt = load_checkpoint(args.checkpoint)
    meta = ckpt.get("meta") or {}
    name = args.dataset or meta.get("dataset")
    if name is None:
        raise CLIError(f"checkpoint '{ckpt['path']}' does not name its dataset; pass --dataset")
    R.dataset_class(name)
    cfg = _checkpoint_config(args, meta, name)
    device = resolve_device(args.device)
    model = load_model(ckpt["path"], map_location=device)
    dataset = R.open_splits(name, cfg, [args.split], with_train=False)[args.split]
    return ckpt, model, name, dataset, device


# ================================================================= evaluate
def cmd_evaluate(args) -> int:
    from ..engine import atomic_write_text, evaluate
    ckpt, model, name, dataset, device = _from_checkpoint(args)
    loader = R.loader(dataset, args.batch_size, num_workers=args.num_workers)
    scores = evaluate(model, loader, device=device, progress=not args.no_progress)
    table = _protocol(model, dataset, loader, device)
    row = {"model": type(model).registry_name, "epoch": ckpt.get("epoch"), "split": args.split,
           "windows": len(dataset), **table}
    print(f"{name}, split {args.split}: checkpoint {ckpt['path']}")
    print(markdown_table([row]), end="")
    flat = {k: v for k, v in scores.items() if isinstance(v, float)}
    print("evaluate() in model units: " + "  ".join(f"{k} {fmt(v)}" for k, v in flat.items()))
    if args.output:
        atomic_write_text(json.dumps({"protocol": table, "metrics": scores, "checkpoint": ckpt["path"],
                                      "dataset": name, "split": args.split}, indent=2) + "\n", args.output)
        print(f"wrote {args.output}")
    return 0


# ================================================================== compare
def _compare_names(args) -> List[str]:
    names = [n.strip().lower() for n in args.models.split(",") if n.strip()]
    if not names:
        raise CLIError(f"--models names no model (got {args.models!r})")
    for n in names:
        R.model_class(n)
    if args.resume is not None:
        raise CLIError("compare: --resume is not supported; rerun or resume models one by one with train")
    return names


def _compare_row(args, n: str, sets, cfg, out_dir: Path, eval_loader) -> Dict[str, Any]:
    """One row of the comparison: model ``n`` trained and scored; an
    ``error`` row when it fails (the message also goes to stderr)."""
    try:
        model, result, secs = _train_one(args, n, sets, cfg, out_dir / n,
                                         restore_best=sets["val"] is not None, strict=False)
    except (ValueError, TypeError, NotImplementedError, CLIError) as e:
        print(f"srnn-pyg: {n} failed: {e}", file=sys.stderr)
        return {"model": n, "error": str(e).splitlines()[0][:120]}
    if not _is_main_rank():
        return {}
    device = next(iter(model.parameters()), torch.zeros(0)).device
    try:
        table = _protocol(model, sets[args.split], eval_loader, device)
    except (ValueError, NotImplementedError) as e:
        return {"model": n, "error": str(e).splitlines()[0][:120]}
    return {"model": n, "params": R.num_params(model), "epochs": result.epochs_run,
            "best epoch": result.best_epoch, "train s": round(secs, 1), **table}


def cmd_compare(args) -> int:
    from ..engine import atomic_write_text
    _check_early(args)
    names = _compare_names(args)
    cfg = R.data_config(args)
    sets = R.open_splits(args.dataset, cfg, ["val", args.split])
    R.keep_reuse(cfg, sets["train"])
    eval_set = sets[args.split]
    out_dir = Path(args.out_dir or f"runs/compare-{args.dataset}")
    eval_loader = R.loader(eval_set, args.batch_size, num_workers=args.num_workers)
    start_all = time.perf_counter()
    rows = [_compare_row(args, n, sets, cfg, out_dir, eval_loader) for n in names]
    if not _is_main_rank():
        return 0
    failed = sum("error" in r for r in rows)
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


# ================================================================= forecast
def _predict(model, dataset, index: List[int], device, horizon, classification: bool) -> Dict[str, Any]:
    """The forecast file's content for windows ``index`` of ``dataset``."""
    from torch_geometric.data import Batch
    batch = Batch.from_data_list([dataset[i] for i in index]).to(device)
    with torch.no_grad():
        if classification:
            pred = torch.softmax(model(batch), dim=-1)                           # [N, T, C]
        else:
            pred = model.forecast(batch, horizon or batch.y.size(1))              # [N, H, F]
    out = {"x": batch.x.cpu(), "y": batch.y.cpu(), "pred": pred.cpu(), "batch": batch.batch.cpu(),
           "ptr": batch.ptr.cpu(), "edge_index": batch.edge_index.cpu()}
    if batch.get("node_type") is not None:
        out["node_type"] = batch.node_type.cpu()
    if not classification and getattr(dataset, "mean", None) is not None:
        try:
            out["x_data_units"] = dataset.denormalize(batch.x).cpu()
            out["y_data_units"] = dataset.denormalize(batch.y).cpu()
            out["pred_data_units"] = dataset.denormalize(pred).cpu()
        except (ValueError, RuntimeError, AttributeError):
            pass
    return out


def cmd_forecast(args) -> int:
    from ..engine import atomic_save
    ckpt, model, name, dataset, device = _from_checkpoint(args)
    n = len(dataset)
    bad = [i for i in args.index if not -n <= i < n]
    if bad:
        raise CLIError(f"--index {bad[0]} is outside the {args.split} split's {n} windows")
    cls = R.task_of(dataset) == "classification"
    pred = _predict(model, dataset, list(args.index), device, args.horizon, cls)
    out = {"dataset": name, "split": args.split, "index": list(args.index), **pred, "checkpoint": ckpt["path"]}
    path = Path(args.output) if args.output else Path(ckpt["path"]).with_name("forecast.pt")
    atomic_save(out, path)
    print(f"wrote {path}: pred {list(out['pred'].shape)} for window(s) {list(args.index)} of {name}/{args.split}")
    if not args.no_plot:
        picture = Path(args.plot) if args.plot else path.with_suffix(".png")
        if plot_forecast(out, name, cls, picture, position_channels(dataset)):
            print(f"wrote {picture}")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "compare": cmd_compare, "forecast": cmd_forecast}
