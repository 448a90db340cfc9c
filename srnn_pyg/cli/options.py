"""The light half of the ``srnn-pyg`` command line, which imports neither
torch nor the package's models: user errors, the rewriting of the short and
former flags into the typed keys (:func:`prescan`), the parsers of
``evaluate`` and ``forecast`` and the help pages that must answer at once.

The typed options of ``train`` and ``compare`` (``--model.*``, ``--data.*``,
``--trainer.*``) are built from the code's signatures by
:mod:`srnn_pyg.cli.typed`."""
from __future__ import annotations

import argparse
import ast
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["CLIError", "CommandParser", "Prescan", "prescan", "default_threads", "version", "key_values",
           "noise_option", "top_parser", "light_train_parser", "checkpoint_parser", "DEFAULT_COMPARE",
           "MAX_DEFAULT_THREADS", "COMMAND_NAMES"]

#: the models ``srnn-pyg compare`` trains when ``--models`` is not given
DEFAULT_COMPARE = ("srnn", "node_lstm", "constant_velocity", "zero_velocity")
#: ``--threads`` defaults to the CPUs this process may use, at most this many
MAX_DEFAULT_THREADS = 8
COMMAND_NAMES = ("train", "evaluate", "compare", "forecast")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class CommandParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one-line :class:`CLIError`\\ s and
    that takes no abbreviated option (``--out`` is not ``--out_dir``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse's hook
        raise CLIError(message.replace("\n", " "))


def version() -> str:
    """The installed version of the package, without importing it."""
    try:
        from importlib.metadata import PackageNotFoundError, version as dist_version
        return dist_version("srnn_pyg")
    except (ImportError, PackageNotFoundError):  # pragma: no cover - a source checkout
        return "unknown"


def default_threads() -> int:
    """The CPUs available to this process (its affinity), at most
    :data:`MAX_DEFAULT_THREADS`."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_DEFAULT_THREADS))


# ================================================================= values
def legacy_value(raw: str) -> str:
    """A former ``KEY=VALUE`` value (a Python literal, or a bare word) as the
    typed parser reads it: quoted strings unquoted, containers, booleans and
    None as JSON; anything else as written."""
    try:
        value = ast.literal_eval(raw.strip())
    except (ValueError, SyntaxError):
        return raw
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict, bool)) or value is None:
        try:
            return json.dumps(list(value) if isinstance(value, tuple) else value)
        except TypeError:
            return raw
    return raw


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


def noise_option(value: Any) -> Any:
    """A noise value: ``None`` (``"none"``), ``"paper"``, a constant std, or
    ``[[step, std], ...]`` pairs (checked by TrainConfig)."""
    if value is None or value == "none":
        return None
    if value == "paper" or (isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CLIError(f"--trainer.noise expects 'paper', null or a std such as 0.01 (got {value!r})") from None


# ================================================================ prescan
#: short and former flags of ``train``/``compare`` and the typed key they set
ALIASES = {
    "--dataset": "--data.name", "--data": "--data.name", "--model": "--model.name",
    "--data-root": "--data.root", "--obs": "--data.obs", "--horizon": "--data.horizon",
    "--num-graphs": "--data.num_graphs", "--fold": "--data.fold",
    "--epochs": "--trainer.epochs", "--lr": "--trainer.lr", "--seed": "--trainer.seed",
    "--device": "--trainer.device", "--objective": "--trainer.objective",
    "--optimizer": "--trainer.optimizer", "--weight-decay": "--trainer.weight_decay",
    "--scheduler": "--trainer.scheduler", "--noise": "--trainer.noise", "--grad-clip": "--trainer.grad_clip",
    "--patience": "--trainer.early_stopping", "--monitor": "--trainer.monitor", "--amp": "--trainer.amp",
    "--out-dir": "--out_dir", "--batch-size": "--batch_size", "--num-workers": "--num_workers",
}
#: former switches without a value, and the typed setting each stands for
SWITCHES = {"--no-progress": ["--progress", "false"], "--compile": ["--trainer.compile", "true"],
            "--distributed": ["--trainer.distributed", "true"], "--print-config": ["--print_config"]}
#: former values meaning "none"
_NONE_WORDS = {("--trainer.scheduler", "none"), ("--trainer.noise", "none"), ("--trainer.grad_clip", "0")}


@dataclass
class Prescan:
    """What :func:`prescan` read: the typed argv and the flags it handles itself."""

    argv: List[str] = field(default_factory=list)
    help: bool = False
    version: bool = False
    resume: Optional[str] = None          # a run folder; "" for a bare --resume (the --out-dir)
    override: bool = False
    overwrite: bool = False
    model: Optional[str] = None
    data: Optional[str] = None
    configs: List[str] = field(default_factory=list)


def _value(argv: Sequence[str], i: int, key: str, inline: Optional[str]) -> tuple:
    if inline is not None:
        return inline, i + 1
    if i + 1 >= len(argv):
        raise CLIError(f"{key} expects a value (got nothing)")
    return argv[i + 1], i + 2


def prescan(argv: Sequence[str], command: str) -> Prescan:
    """Rewrite the short and former flags of ``train``/``compare`` into typed
    keys (``--model X`` is ``--model.name X``, ``--epochs`` is
    ``--trainer.epochs``, ``--model-arg K=V`` of ``train`` is ``--model.K V``,
    ``--dataset-arg K=V`` is ``--data.K V``, ...) and take out what the
    command handles itself (``--help``, ``--version``, ``--resume [RUN]``,
    ``--override``, ``--overwrite``)."""
    out, i = Prescan(), 0
    while i < len(argv):
        token = argv[i]
        key, eq, inline = token.partition("=")
        inline = inline if eq else None
        if token in ("-h", "--help"):
            out.help, i = True, i + 1
        elif token == "--version":
            out.version, i = True, i + 1
        elif token in ("--override", "--overwrite"):
            setattr(out, token[2:], True)
            i += 1
        elif key == "--resume":
            if inline is None and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                inline, i = argv[i + 1], i + 1
            out.resume, i = inline or "", i + 1
        elif token in SWITCHES:
            out.argv += SWITCHES[token]
            i += 1
        elif key in ("--model-arg", "--model_arg") and command == "compare":
            item, i = _value(argv, i, key, inline)
            out.argv += ["--model_arg+", item]
        elif key in ("--model-arg", "--dataset-arg"):
            item, i = _value(argv, i, key, inline)
            name, eq2, raw = item.partition("=")
            if not eq2:
                raise CLIError(f"{key} expects KEY=VALUE (got {item!r})")
            group = "model" if key == "--model-arg" else "data"
            out.argv += [f"--{group}.{name.strip().replace('-', '_')}", legacy_value(raw)]
        elif key in ALIASES or key in ("--model.name", "--data.name", "--config"):
            target = ALIASES.get(key, key)
            if command == "compare" and target == "--model.name":
                raise CLIError("compare: use --models A,B,... (got --model)")
            value, i = _value(argv, i, key, inline)
            if (target, value) in _NONE_WORDS:
                value = "null"
            if target in ("--model.name", "--data.name"):     # registry names: as the registry spells them
                value = value.lower()
            if target == "--model.name":
                out.model = value
            elif target == "--data.name":
                out.data = value
            elif target == "--config":
                out.configs.append(value)
            out.argv += [target, value]
        else:
            out.argv.append(token)
            i += 1
    return out


# ================================================================ parsers
def top_parser() -> argparse.ArgumentParser:
    """``srnn-pyg --help``: the commands."""
    p = CommandParser(
        prog="srnn-pyg", description="Structural-RNN and baselines on spatio-temporal graphs: train, "
        "evaluate, compare, forecast.",
        epilog="Run 'srnn-pyg COMMAND --help' for a command's options; 'srnn-pyg train --model NAME "
               "--data NAME --help' lists the typed --model.*, --data.* and --trainer.* options.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("train", help="train one model on one dataset (typed options, --config, --resume RUN)")
    sub.add_parser("evaluate", help="evaluate a checkpoint on a split")
    sub.add_parser("compare", help="train several models on one dataset and tabulate them")
    sub.add_parser("forecast", help="forecast given windows with a checkpoint")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N",
                   help=f"CPU threads for torch (default: the CPUs available, at most {MAX_DEFAULT_THREADS}, "
                        f"now {default_threads()})")
    p.add_argument("--version", action="store_true", help="print the version and exit")


def light_train_parser(command: str, datasets: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The help of ``train``/``compare`` without importing torch: the
    command's own options; the typed groups are listed by
    ``srnn-pyg train --model NAME --data NAME --help``."""
    names = f" ({', '.join(datasets)})" if datasets else ""
    p = CommandParser(
        prog=f"srnn-pyg {command}",
        description=("Train one model on one dataset" if command == "train" else
                     "Train several models on one dataset and tabulate them") +
        ". Options are typed from the code: " +
        ("--model.KEY from the model class's constructor, " if command == "train" else
         "--model-arg KEY=VALUE (every model that takes KEY) or MODEL.KEY=VALUE (one model), checked "
         "against the model classes' constructors, ") +
        "--data.KEY from the dataset class's, --trainer.KEY from srnn_pyg.engine.TrainConfig. A wrong type or "
        "an unknown key is an error.",
        epilog=f"List the typed options: srnn-pyg {command} "
               f"{'--model srnn' if command == 'train' else '--models srnn,node_lstm'} --data springs --help "
               f"(loads torch, a few seconds). Former flags still work: --dataset, --epochs, --lr, --seed, "
               f"--device, --out-dir, --batch-size, --no-progress, ... (see docs/cli.md).")
    if command == "train":
        p.add_argument("--model", metavar="NAME", help="registered model name (default: srnn); its "
                       "constructor's arguments are --model.KEY")
    else:
        p.add_argument("--models", metavar="A,B,...", help=f"model names (default: {','.join(DEFAULT_COMPARE)})")
        p.add_argument("--split", help="split to evaluate on (default: test)")
        p.add_argument("--model-arg", "--model_arg", metavar="[MODEL.]KEY=VALUE", action="append",
                       help="a model argument as a Python literal, e.g. residual=True or node_lstm.hidden=16; "
                            "repeatable")
    p.add_argument("--data", "--dataset", metavar="NAME",
                   help=f"registered dataset name{names} (default: springs); its options are --data.KEY")
    p.add_argument("--trainer.KEY", metavar="VALUE", help="any field of TrainConfig, e.g. --trainer.epochs 20 "
                   "--trainer.lr 3e-3 --trainer.scheduler cosine --trainer.noise paper")
    p.add_argument("--hidden", metavar="H", help="hidden size of each model (S-RNN: edge/node RNNs and MLPs)")
    p.add_argument("--batch_size", "--batch-size", metavar="B", help="windows per batch (default: the dataset's)")
    p.add_argument("--config", metavar="FILE", help="a YAML config (as written to RUN/config.yaml); flags after "
                   "it override it")
    p.add_argument("--print_config", action="store_true", help="print the resolved config as YAML and exit")
    p.add_argument("--out_dir", "--out-dir", metavar="DIR",
                   help="run folder (default: a new numbered folder under runs/); an existing non-empty "
                        "one is an error unless --overwrite" + (" or --resume" if command == "train" else ""))
    p.add_argument("--overwrite", action="store_true", help="replace the run files in an existing --out-dir")
    if command == "train":
        p.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its config.yaml and "
                       "last.pt; other flags must agree with the saved config unless --override")
        p.add_argument("--override", action="store_true", help="with --resume: let flags change saved values")
    p.add_argument("--logger", choices=("csv", "tensorboard"), help="also write metrics.csv or TensorBoard events")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (one line per epoch stays)")
    _common(p)
    return p


def checkpoint_parser(command: str) -> argparse.ArgumentParser:
    """``evaluate`` and ``forecast``: a checkpoint and the data options that
    change how its dataset is opened again."""
    p = CommandParser(prog=f"srnn-pyg {command}",
                      description="Evaluate a checkpoint on a split and print the dataset's protocol table."
                      if command == "evaluate" else "Forecast windows of a split; writes the predictions as "
                      ".pt and a PNG picture (if matplotlib is installed).")
    p.add_argument("checkpoint", help="a checkpoint file, or a run directory (its best.pt, else last.pt)")
    p.add_argument("--split", default=None, help="split to use (default: test)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto (default: auto)")
    if command == "evaluate":
        p.add_argument("--output", metavar="FILE", help="also write the metrics as JSON")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    else:
        p.add_argument("--index", type=int, nargs="+", default=None, metavar="I",
                       help="window indices in the split (default: 0)")
        p.add_argument("--input", metavar="FILE", help="forecast these windows instead of a split's: an STData "
                       "window, a list of them or a Batch, saved with torch.save, in the model's units (as the "
                       "run's dataset builds them); 'y' is optional (then pass --horizon)")
        p.add_argument("--output", metavar="FILE", help="predictions file (default: forecast.pt beside the "
                       "checkpoint)")
        p.add_argument("--plot", metavar="PNG", help="picture file (default: the --output name with .png)")
        p.add_argument("--no-plot", action="store_true", help="no picture")
    g = p.add_argument_group("data (default: as the run opened it)")
    g.add_argument("--dataset", metavar="NAME", help="another dataset than the run's")
    g.add_argument("--data-root", metavar="DIR", help="folder of the dataset's files (default: $SRNN_PYG_DATA)")
    g.add_argument("--obs", type=int, metavar="T", help="observed steps per window")
    g.add_argument("--horizon", type=int, metavar="H", help="predicted steps per window")
    g.add_argument("--num-graphs", type=int, metavar="N", help="springs: training simulations")
    g.add_argument("--fold", type=int, metavar="K", help="brain4cars: cross-validation fold")
    g.add_argument("--dataset-arg", action="append", metavar="KEY=VALUE",
                   help="any other keyword of the dataset class, as a Python literal; repeatable")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --output" +
                   ("" if command == "evaluate" else " or --plot file"))
    g.add_argument("--batch-size", type=int, default=32, metavar="B", help="windows per batch (default: 32)")
    g.add_argument("--num-workers", type=int, default=0, metavar="W", help="DataLoader workers (default: 0)")
    _common(p)
    return p
