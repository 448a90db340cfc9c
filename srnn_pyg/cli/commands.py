"""``srnn-pyg evaluate`` and ``srnn-pyg forecast``: a checkpoint, its model
and its dataset rebuilt from the checkpoint alone. (``train`` and
``compare`` are in :mod:`~srnn_pyg.cli.training`.) Each command takes its
argv (after the command name) and returns the exit status."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import resources as R
from .options import CLIError, checkpoint_parser, default_threads, key_values, version
from .runs import check_writable
from .tables import fmt, markdown_table

__all__ = ["cmd_evaluate", "cmd_forecast"]


def _parse(command: str, argv: Sequence[str]):
    """The options of ``command``; None after ``--version``. Sets the threads."""
    if "--version" in argv:                   # before the checkpoint is required
        print(f"srnn-pyg {version()}")
        return None
    args = checkpoint_parser(command).parse_args(list(argv))
    if args.version:
        print(f"srnn-pyg {version()}")
        return None
    import torch
    if args.threads is not None and args.threads < 1:
        raise CLIError(f"--threads: expected a positive number of threads (got {args.threads})")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size: expected a positive number of windows (got {args.batch_size})")
    if args.num_workers < 0:
        raise CLIError(f"--num-workers: expected 0 or more worker processes (got {args.num_workers})")
    R.check_device(args.device, "--device")
    torch.set_num_threads(args.threads or default_threads())
    return args


def _protocol(model, dataset, loader, device) -> Dict[str, float]:
    """The dataset's protocol metrics (``dataset.score``) of ``model``'s
    predictions over ``loader``."""
    from ..engine import collect
    if len(dataset) == 0:
        raise CLIError("the split holds no windows to evaluate")
    return dataset.score(collect(model, loader, device=device))


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
    flags = {"obs": "--obs", "horizon": "--horizon", "num_graphs": "--num-graphs", "fold": "--fold"}
    given = {k: f for k, f in flags.items() if getattr(args, k) is not None}
    given.update({k: f"--dataset-arg {k}" for k in key_values(args.dataset_arg, "--dataset-arg")})
    try:
        dataset = R.open_splits(name, cfg, [args.split], with_train=False)[args.split]
    except ValueError as e:                   # "Springs: 'obs' must be ..." names --obs
        raise R.option_error(e, given) from None
    if dataset is None:                       # a split that does not exist under the run's dataset options
        raise CLIError(R.no_split_message(name, cfg, args.split))
    return ckpt, model, name, dataset, device


#: a run folder's own files: never an --output or --plot of evaluate or forecast
_RUN_OWN = ("config.yaml", "metrics.jsonl", "metrics.csv", "last.pt", "best.pt", "result.json", "compare.md",
            "compare.csv")


def _check_output(path: Optional[Path], flag: str, overwrite: bool, checkpoint: Path) -> None:
    """An output file must not be a run's own file or the checkpoint read, and must not exist unless
    ``--overwrite``: a command's output never replaces what a user saved."""
    if path is None:
        return
    if path.is_dir():
        raise CLIError(f"{flag}: expected a file name (got the folder '{path}')")
    run_folder = any((path.parent / n).is_file() for n in ("config.yaml", "last.pt", "compare.md"))
    if path.resolve() == Path(checkpoint).resolve() or (path.name in _RUN_OWN and run_folder):
        raise CLIError(f"{flag}: '{path}' is a run's own file ({path.name}); write the output elsewhere")
    if path.exists() and not overwrite:
        raise CLIError(f"{flag}: '{path}' already exists; pass --overwrite to replace it, or another file")
    check_writable(path, flag)                # before any work: not a result computed, then lost


# ================================================================= evaluate
def cmd_evaluate(argv: Sequence[str]) -> int:
    args = _parse("evaluate", argv)
    if args is None:
        return 0
    from ..engine import atomic_write_text, evaluate
    from ..engine.objectives import OBJECTIVES
    ckpt, model, name, dataset, device = _from_checkpoint(args)
    _check_output(Path(args.output) if args.output else None, "--output", args.overwrite, ckpt["path"])
    loader = R.loader(dataset, args.batch_size, num_workers=args.num_workers)
    run = ckpt.get("config") or {}           # 'loss' as the run's val_loss: its loss, objective and horizon
    objective = run.get("objective") if run.get("objective") in OBJECTIVES else None
    scores = evaluate(model, loader, device=device, progress=not args.no_progress, loss=run.get("loss"),
                      objective=objective, horizon=run.get("horizon"))
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


# ================================================================= forecast
def _predict(model, dataset, index: List[int], device, horizon: Optional[int],
             classification: bool) -> Dict[str, Any]:
    """The forecast file's content for windows ``index`` of ``dataset``."""
    import torch
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
        # the predicted channels are the leading ones of x (Feedback's layout); the others (covariates such as the
        # time of day, derived inputs) are not in the dataset's units, so x_data_units holds the leading ones only
        series = batch.x[..., :pred.size(-1)]
        try:
            out["x_data_units"] = dataset.denormalize(series).cpu()
            out["y_data_units"] = dataset.denormalize(batch.y).cpu()
            out["pred_data_units"] = dataset.denormalize(pred).cpu()
        except (ValueError, RuntimeError, AttributeError):
            pass
    return out


def cmd_forecast(argv: Sequence[str]) -> int:
    args = _parse("forecast", argv)
    if args is None:
        return 0
    from ..engine import atomic_save
    from .plot import plot_forecast, plot_labels, position_channels
    ckpt, model, name, dataset, device = _from_checkpoint(args)
    path = Path(args.output) if args.output else Path(ckpt["path"]).with_name("forecast.pt")
    if args.no_plot and args.plot:
        raise CLIError(f"--no-plot and --plot {args.plot}: pass one of them (--no-plot draws no picture)")
    picture = None if args.no_plot else (Path(args.plot) if args.plot else path.with_suffix(".png"))
    _check_output(path, "--output", args.overwrite, ckpt["path"])
    _check_output(picture, "--plot", args.overwrite, ckpt["path"])
    if picture is not None and picture.resolve() == path.resolve():
        raise CLIError(f"--plot: '{picture}' is the --output file too; give the picture another name (or --no-plot)")
    n = len(dataset)
    bad = [i for i in args.index if not -n <= i < n]
    if bad:
        raise CLIError(f"--index {bad[0]} is outside the {args.split} split's {n} windows")
    cls = R.task_of(dataset) == "classification"
    pred = _predict(model, dataset, list(args.index), device, args.horizon, cls)
    out = {"dataset": name, "split": args.split, "index": list(args.index), **pred, "checkpoint": ckpt["path"]}
    atomic_save(out, path)
    print(f"wrote {path}: pred {list(out['pred'].shape)} for window(s) {list(args.index)} of {name}/{args.split}")
    if picture is not None:
        if plot_forecast(out, name, cls, picture, position_channels(dataset), **plot_labels(dataset)):
            print(f"wrote {picture}")
    return 0

