"""The command line of ``srnn-pyg``: the argument parser and the readers of
option values (``KEY=VALUE`` items, ``--noise``, positive numbers)."""
from __future__ import annotations

import argparse
import ast
import math
from typing import Any, Callable, Dict, Optional, Sequence

__all__ = ["CLIError", "build_parser", "key_values", "noise_option", "DEFAULT_COMPARE"]

#: the models ``srnn-pyg compare`` trains when ``--models`` is not given
DEFAULT_COMPARE = ("srnn", "node_lstm", "constant_velocity", "zero_velocity")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ================================================================= values
def key_values(items: Optional[Sequence[str]], flag: str, scoped: bool = False) -> Dict[str, Any]:
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


def noise_option(value: Optional[str]) -> Any:
    """``--noise``: ``None`` (none), ``"paper"`` or a constant std."""
    if value is None or value == "none":
        return None
    if value == "paper":
        return "paper"
    try:
        return float(value)
    except ValueError:
        raise CLIError(f"--noise expects 'none', 'paper' or a std such as 0.01 (got {value!r})") from None


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
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


# ================================================================= groups
def _add_data_options(p: argparse.ArgumentParser, datasets: Sequence[str],
                      dataset_default: Optional[str] = "springs") -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=dataset_default, metavar="NAME",
                   help=f"dataset: {', '.join(datasets)} "
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


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=_positive(int), metavar="H",
                   help="hidden size: S-RNN's edgeRNN/nodeRNN sizes and MLP widths, 'hidden' or "
                        "'hidden_channels' of the other models (default: each model's own)")
    g.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="any other keyword of the model class, as a Python literal; repeatable "
                        "(e.g. --model-arg residual=True). MODEL.KEY=VALUE applies to one model only; "
                        "compare gives an unscoped KEY to the models that take it")


def _add_train_options(p: argparse.ArgumentParser) -> None:
    _add_model_options(p)
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


# ================================================================= parser
def build_parser(datasets: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The ``srnn-pyg`` parser; ``datasets`` are the names listed in the
    ``--dataset`` help (:func:`srnn_pyg.datasets.available`)."""
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
    _add_data_options(p, datasets)
    _add_train_options(p)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split",
                       description="Evaluate a checkpoint on a split and print the dataset's protocol table.")
    p.add_argument("checkpoint", help="a checkpoint file, or a run directory (its best.pt, else last.pt)")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: auto)")
    p.add_argument("--output", metavar="FILE", help="also write the metrics as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_options(p, datasets, dataset_default=None)

    p = sub.add_parser("compare", help="train several models on one dataset and tabulate them",
                       description="Train each model on the same data (each in --out-dir/MODEL), evaluate "
                                   "them on --split, print one table and write it as compare.md and "
                                   "compare.csv in --out-dir.")
    p.add_argument("--models", default=",".join(DEFAULT_COMPARE), metavar="A,B,...",
                   help=f"comma-separated model names (default: {','.join(DEFAULT_COMPARE)})")
    p.add_argument("--split", default="test", help="split to evaluate on (default: test)")
    p.add_argument("--out-dir", metavar="DIR",
                   help="directory for runs and tables (default: runs/compare-DATASET)")
    _add_data_options(p, datasets)
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
    _add_data_options(p, datasets, dataset_default=None)
    return parser
