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
    if getattr(args, "input", None) is not None:
        if args.split is not None:
            raise CLIError("--split picks a split's windows, --input gives its own windows: pass one of them")
    else:
        args.split = args.split or "test"
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
def _checkpoint_config(args, meta: Dict[str, Any], name: str, data_keys: Sequence[str] = (
        "data_root", "obs", "horizon", "num_graphs", "fold")) -> Dict[str, Any]:
    """The run's data config (from the checkpoint), overridden by the options given (``data_keys``)."""
    cfg = dict(meta.get("dataset_config") or {}) if name == meta.get("dataset") else {}
    cfg.setdefault("seed", 0)
    for key in data_keys:
        value = getattr(args, key)
        if value is not None:
            cfg[key] = str(value) if key == "data_root" else value
    extra = key_values(args.dataset_arg, "--dataset-arg")
    if extra:
        cfg["extra"] = {**(cfg.get("extra") or {}), **extra}
    return cfg


def _from_checkpoint(args, need_data: bool = True):
    """The checkpoint, its model, the dataset name, the split ``args.split``
    (opened as the run opened its data) and the device. Without
    ``need_data`` (``forecast --input``: the dataset gives units and labels
    only), the test split is opened, ``--horizon`` is the forecast's length
    and not a data option, and a dataset that cannot be opened is
    :obj:`None` (a note says why)."""
    from ..engine import load_checkpoint, load_model, resolve_device
    ckpt = load_checkpoint(args.checkpoint)
    meta = ckpt.get("meta") or {}
    name = args.dataset or meta.get("dataset")
    if name is None:
        raise CLIError(f"checkpoint '{ckpt['path']}' does not name its dataset; pass --dataset")
    R.dataset_class(name)
    flags = {"obs": "--obs", "horizon": "--horizon", "num_graphs": "--num-graphs", "fold": "--fold"}
    if not need_data:
        flags.pop("horizon")
    cfg = _checkpoint_config(args, meta, name, ("data_root",) + tuple(flags))
    device = resolve_device(args.device)
    model = load_model(ckpt["path"], map_location=device)
    given = {k: f for k, f in flags.items() if getattr(args, k) is not None}
    given.update({k: f"--dataset-arg {k}" for k in key_values(args.dataset_arg, "--dataset-arg")})
    split = args.split or "test"

    def without_data(why: str):
        print(f"note: the run's dataset ({name}) could not be opened ({why}): the windows stay in the model's "
              f"units and the picture has no dataset labels")
        return ckpt, model, name, None, device

    try:
        dataset = R.open_splits(name, cfg, [split], with_train=False)[split]
    except ValueError as e:                   # "Springs: 'obs' must be ..." names --obs
        if need_data:
            raise R.option_error(e, given) from None
        return without_data(str(R.option_error(e, given)))
    except OSError as e:
        if need_data:
            raise
        return without_data(str(e))
    if dataset is None:                       # a split that does not exist under the run's dataset options
        if need_data:
            raise CLIError(R.no_split_message(name, cfg, split))
        return without_data(R.no_split_message(name, cfg, split))
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
def _predict(model, windows: List[Any], device, horizon: Optional[int], classification: bool,
             dataset: Any = None) -> Dict[str, Any]:
    """The forecast file's content for ``windows`` (model units); ``dataset``,
    where given, converts to its data units. A window needs no ``y`` when
    ``horizon`` is given."""
    import torch
    from torch_geometric.data import Batch
    batch = Batch.from_data_list(windows).to(device)
    y = batch.get("y")
    with torch.no_grad():
        if classification:
            pred = torch.softmax(model(batch), dim=-1)                           # [N, T, C]
        else:
            pred = model.forecast(batch, horizon or y.size(1))                    # [N, H, F]
    out = {"x": batch.x.cpu(), "pred": pred.cpu(), "batch": batch.batch.cpu(), "ptr": batch.ptr.cpu(),
           "edge_index": batch.edge_index.cpu()}
    if y is not None:
        out["y"] = y.cpu()
    if batch.get("node_type") is not None:
        out["node_type"] = batch.node_type.cpu()
    if not classification and getattr(dataset, "mean", None) is not None:
        # the predicted channels are the leading ones of x (Feedback's layout); the others (covariates such as the
        # time of day, derived inputs) are not in the dataset's units, so x_data_units holds the leading ones only
        series = batch.x[..., :pred.size(-1)]
        try:
            out["x_data_units"] = _data_units(dataset, series)
            if y is not None:
                out["y_data_units"] = _data_units(dataset, y)
            out["pred_data_units"] = _data_units(dataset, pred)
        except (ValueError, RuntimeError, AttributeError) as e:
            for key in ("x_data_units", "y_data_units", "pred_data_units"):
                out.pop(key, None)                               # all three or none
            reason = " ".join(str(e).split())[:300]
            print(f"note: the forecast stays in model units only: {type(dataset).__name__}.denormalize could not "
                  f"convert the {pred.size(-1)} predicted channel(s) ({type(e).__name__}: {reason})")
    return out


def _data_units(dataset: Any, values: Any) -> Any:
    """``dataset.denormalize(values)`` on the CPU, refused where it changes the
    shape (statistics of another width would broadcast silently)."""
    converted = dataset.denormalize(values)
    if converted.shape != values.shape:
        raise ValueError(f"its statistics turned values {list(values.shape)} into {list(converted.shape)}")
    return converted.cpu()


def _load_error(e: Exception) -> str:
    """The line of a ``torch.load`` error that says what was refused (``weights_only``'s names the class),
    without terminal colour codes."""
    import re
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in str(e).splitlines()]
    lines = [ln for ln in lines if ln]
    refused = [ln for ln in lines if "Unsupported global" in ln]
    if refused:
        what = refused[0].split(" was not an allowed global")[0][:300]
        return f"{what}; build the windows as srnn_pyg.STData, whose classes load without running code"
    return f"{type(e).__name__}: {lines[0][:300] if lines else ''}"


def _read_windows(path: Path, model) -> List[Any]:
    """The windows of ``--input``: an ``STData`` window, a list of them or a
    ``Batch``, saved with ``torch.save``, read without running code."""
    import torch
    from torch_geometric.data import Batch, Data
    if not path.is_file():
        raise CLIError(f"--input: expected a file of windows saved with torch.save (got '{path}', "
                       f"{'a folder' if path.is_dir() else 'which does not exist'})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:                    # unpickling errors have many types; all mean the same here
        raise CLIError(f"--input: cannot read '{path}' as windows saved with torch.save ({_load_error(e)})") from None
    if isinstance(obj, Batch):
        windows = obj.to_data_list()
    elif isinstance(obj, Data):
        windows = [obj]
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(w, Data) for w in obj):
        windows = [g for w in obj for g in (w.to_data_list() if isinstance(w, Batch) else [w])]   # saved batches
    else:
        got = f"an empty {type(obj).__name__}" if isinstance(obj, (list, tuple)) and not obj else \
            f"a {type(obj).__name__}"
        raise CLIError(f"--input: expected an STData window, a list of them or a Batch (got {got})")
    F = getattr(model, "in_channels", None)
    for i, w in enumerate(windows):
        x = w.get("x")
        if not torch.is_tensor(x) or x.dim() != 3 or not x.is_floating_point():
            got = f"shape {list(x.shape)}, {x.dtype}" if torch.is_tensor(x) else type(x).__name__
            raise CLIError(f"--input: window {i}: 'x' must be a float tensor [num_nodes, T, features] (got {got})")
        if F is not None and x.size(-1) != F:
            raise CLIError(f"--input: window {i}: 'x' has {x.size(-1)} features per step, the checkpoint's model "
                           f"reads in_channels={F}")
    keys = set(windows[0].keys())
    for i, w in enumerate(windows[1:], 1):    # Batch.from_data_list needs the same keys in every window
        if set(w.keys()) != keys:
            lacks, extra = sorted(keys - set(w.keys())), sorted(set(w.keys()) - keys)
            if "y" in lacks + extra and not (set(lacks + extra) - {"y"}):
                break                         # a 'y' in some windows only: said below
            raise CLIError(f"--input: window {i} " + (f"lacks {lacks}, which window 0 has" if lacks else
                                                      f"has {extra}, which window 0 lacks") +
                           ": give every window the same keys")
    missing = [i for i, w in enumerate(windows) if w.get("y") is None]
    if missing and len(missing) != len(windows):
        raise CLIError(f"--input: window(s) {missing[:5]} have no 'y' and the others have one: give every window "
                       f"a 'y' or none")
    return windows


def cmd_forecast(argv: Sequence[str]) -> int:
    args = _parse("forecast", argv)
    if args is None:
        return 0
    from ..engine import atomic_save
    from .plot import plot_forecast, plot_labels, position_channels
    if args.input is not None and args.index is not None:
        raise CLIError("--index picks windows of a split, --input gives its own windows: pass one of them")
    ckpt, model, name, dataset, device = _from_checkpoint(args, need_data=args.input is None)
    path = Path(args.output) if args.output else Path(ckpt["path"]).with_name("forecast.pt")
    if args.no_plot and args.plot:
        raise CLIError(f"--no-plot and --plot {args.plot}: pass one of them (--no-plot draws no picture)")
    picture = None if args.no_plot else (Path(args.plot) if args.plot else path.with_suffix(".png"))
    _check_output(path, "--output", args.overwrite, ckpt["path"])
    _check_output(picture, "--plot", args.overwrite, ckpt["path"])
    if picture is not None and picture.resolve() == path.resolve():
        raise CLIError(f"--plot: '{picture}' is the --output file too; give the picture another name (or --no-plot)")
    for flag, out in (("--output", path), ("--plot", picture)):
        if args.input is not None and out is not None and out.resolve() == Path(args.input).resolve():
            raise CLIError(f"{flag}: '{out}' is the --input file; write the forecast elsewhere")
    task = R.task_of(dataset) if dataset is not None else getattr(R.dataset_class(name), "task", None)
    cls = task == "classification"
    if args.input is not None:
        windows = _read_windows(Path(args.input), model)
        if not cls and windows[0].get("y") is None and args.horizon is None:
            raise CLIError("--horizon: the windows of --input have no 'y' to take the horizon from; pass --horizon H")
        try:
            pred = _predict(model, windows, device, args.horizon, cls, dataset)
        except (ValueError, TypeError, RuntimeError, KeyError, IndexError) as e:   # the model's checks, named
            raise CLIError(f"--input: {e}") from None
        out = {"dataset": name, "input": str(args.input), **pred, "checkpoint": ckpt["path"]}
        what = f"the {len(windows)} window(s) of {args.input}"
    else:
        index = list(args.index or [0])
        n = len(dataset)
        bad = [i for i in index if not -n <= i < n]
        if bad:
            raise CLIError(f"--index {bad[0]} is outside the {args.split} split's {n} windows")
        pred = _predict(model, [dataset[i] for i in index], device, args.horizon, cls, dataset)
        out = {"dataset": name, "split": args.split, "index": index, **pred, "checkpoint": ckpt["path"]}
        what = f"window(s) {index} of {name}/{args.split}"
    atomic_save(out, path)
    print(f"wrote {path}: pred {list(out['pred'].shape)} for {what}")
    if picture is not None:
        if plot_forecast(out, name, cls, picture, position_channels(dataset), **plot_labels(dataset)):
            print(f"wrote {picture}")
    return 0

