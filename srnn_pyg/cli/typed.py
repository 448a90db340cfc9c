"""The typed options of ``train`` and ``compare``, built with
:mod:`jsonargparse` from the code's own signatures:

* ``--model.KEY``: the registered model class's constructor (besides
  ``schema``, ``in_channels``, ``out_channels``, which the data give);
* ``--data.KEY``: the dataset class's constructor, as its ``open`` takes it
  (``--data.obs``/``--data.horizon`` are ``open``'s generic window sizes,
  ``--data.root`` its data folder);
* ``--trainer.KEY``: the fields of :class:`srnn_pyg.engine.TrainConfig`;
* the run's own options (``--out_dir``, ``--batch_size``, ``--threads``, ...).

The resolved config is written to ``RUN/config.yaml``; ``--config FILE``
reads one back and ``--print_config`` prints it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple

from .options import CLIError, DEFAULT_COMPARE, default_threads

__all__ = ["build_typed_parser", "parse_typed", "one_line", "explicit", "check_model_args", "MODEL_SKIP",
           "DATA_SKIP", "TRAINER_SKIP", "RUN_KEYS"]

#: constructor arguments the data give, not the command line
MODEL_SKIP = {"self", "schema", "in_channels", "out_channels"}
#: dataset constructor arguments that ``open`` fills itself (or that are not options)
DATA_SKIP = {"self", "split", "root", "stats", "transform", "train"}
#: TrainConfig fields that the command sets itself
TRAINER_SKIP = {"callbacks", "meta", "out_dir", "resume", "overwrite", "progress", "restore_best", "val_score"}
#: top-level keys that are not part of the experiment: free to change on --resume
RUN_KEYS = ("out_dir", "threads", "progress", "logger", "num_workers", "protocol_every")


def _parser(prog: str):
    from jsonargparse import ActionConfigFile, ArgumentParser
    p = ArgumentParser(prog=prog, exit_on_error=False, allow_abbrev=False,   # a prefix is no option
                       description="Options typed from the code's signatures; a wrong type or an unknown key is "
                                   "an error. --config FILE reads a YAML config (RUN/config.yaml), flags after "
                                   "it override it. Former flags (--dataset, --epochs, --out-dir, ...) are "
                                   "rewritten to these keys (docs/cli.md). Also: --resume RUN, --override, "
                                   "--overwrite, --no-progress, --version (see the command's --help).")
    p.add_argument("--config", action=ActionConfigFile, help="a YAML config file, e.g. a run's config.yaml")
    return p


def _add_run_options(p, command: str) -> None:
    p.add_argument("--out_dir", type=Optional[str], default=None,
                   help="run folder (default: a new numbered folder under runs/)")
    p.add_argument("--batch_size", type=Optional[int], default=None,
                   help="windows per batch (default: the dataset's, else 32)")
    p.add_argument("--num_workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--hidden", type=Optional[int], default=None,
                   help="hidden size of each model: S-RNN's edge/node RNN and MLP sizes, 'hidden' or "
                        "'hidden_channels' of the others (explicit --model.KEY values win)")
    p.add_argument("--threads", type=Optional[int], default=None,
                   help=f"CPU threads for torch (default: the CPUs available, at most 8; now {default_threads()})")
    p.add_argument("--progress", type=bool, default=True, help="progress bars (--no-progress: off; "
                   "one line per epoch stays)")
    p.add_argument("--logger", type=Optional[Literal["csv", "tensorboard"]], default=None,
                   help="also write metrics.csv (csv) or TensorBoard events under RUN/tensorboard")
    p.add_argument("--protocol_every", type=int, default=1,
                   help="score the validation split with the dataset's protocol every N epochs (0: never)")
    if command == "compare":
        p.add_argument("--models", type=str, default=",".join(DEFAULT_COMPARE), help="comma-separated model names")
        p.add_argument("--model_arg", type=List[str], default=[],
                       help="KEY=VALUE or MODEL.KEY=VALUE model arguments (--model-arg, repeatable)")
        p.add_argument("--split", type=str, default="test", help="split to evaluate on")


def _add_model(p, name: str) -> None:
    from .resources import model_class
    cls = model_class(name)
    from ..models import available
    p.add_argument("--model.name", type=str, default=name,
                   help=f"registered model name ({', '.join(available())}); --model NAME")
    p.add_class_arguments(cls, "model", skip=MODEL_SKIP, sub_configs=False)


def _add_data(p, name: str) -> None:
    from .resources import dataset_class
    cls = dataset_class(name)
    windows = getattr(cls, "window_options", {"obs": "obs", "horizon": "horizon"})
    from ..datasets import available
    p.add_argument("--data.name", type=str, default=name,
                   help=f"registered dataset name ({', '.join(available())}); --data NAME")
    if getattr(cls, "uses_root", True):
        p.add_argument("--data.root", type=Optional[str], default=None,
                       help="folder of the dataset's files (default: $SRNN_PYG_DATA)")
    for generic in ("obs", "horizon"):
        if generic in windows:
            p.add_argument(f"--data.{generic}", type=Optional[int], default=None,
                           help=f"{'observed' if generic == 'obs' else 'predicted'} steps per window "
                                f"(default: the dataset's {cls.defaults.get(generic)})")
    skip = DATA_SKIP | set(windows.values())
    p.add_class_arguments(cls, "data", skip=skip, sub_configs=False)


def _add_trainer(p) -> None:
    from ..engine import TrainConfig
    p.add_class_arguments(TrainConfig, "trainer", skip=TRAINER_SKIP, sub_configs=False)
    p.set_defaults({"trainer.epochs": 10, "trainer.objective": "auto"})
    for action in p._actions:                # a default now: not required (nor shown as such in --help)
        if action.dest == "trainer.epochs":
            action.required = False


def build_typed_parser(command: str, model: Optional[str], data: str):
    """The jsonargparse parser of ``command`` for model ``model`` (``train``)
    and dataset ``data``."""
    p = _parser(f"srnn-pyg {command}")
    if model is not None:
        _add_model(p, model)
    _add_data(p, data)
    _add_trainer(p)
    _add_run_options(p, command)
    return p


def one_line(message: str) -> str:
    """A jsonargparse error as one line naming the key, the expected type
    and the value that came in."""
    text = str(message)
    key = re.search(r'[Kk]ey "([^"]+)"', text)
    got = re.findall(r"(?:Given value|Got value): (.*)", text)
    if key and got:
        types = []
        body = "\n".join(line for line in text.splitlines() if "value type" not in line)
        for t in re.findall(r"<class '([\w.]+)'>|(Literal\[[^\]]*\])", body):
            word = (t[0] or t[1]).rsplit(".", 1)[-1].replace("NoneType", "null")
            if word not in types:
                types.append(word)
        expected = " or ".join(types) if types else "another value"
        return f"--{key.group(1)}: expected {expected} (got {got[-1].strip()!r})"
    unknown = re.search(r"[Uu]nrecognized arguments: (\S+)", text)
    if unknown:
        return f"unknown option {unknown.group(1)} (see --help for the keys)"
    # a key of a --config file (or of a group) that the parser does not have
    unknown = re.match(r"Option '([\w.]+)' is not accepted", text) or \
        re.match(r"Group '(\w+)' does not accept option '(\w+)'", text)
    if unknown:
        return f"unknown option --{'.'.join(unknown.groups())} (see --help for the keys)"
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def split_print_config(argv: Sequence[str]) -> Tuple[List[str], bool]:
    """``argv`` without ``--print_config``, and whether it was there: the
    command prints the config itself once every value has been checked (the
    parser's own flag would print values that the run then refuses)."""
    rest = [a for a in argv if a != "--print_config"]
    for a in rest:
        if a.startswith("--print_config="):
            raise CLIError(f"--print_config takes no value (got {a!r})")
    return rest, len(rest) != len(argv)


def parse_typed(parser, argv: Sequence[str]):
    """Parse ``argv``; a user error becomes a one-line :class:`CLIError`.
    ``--help`` exits (:class:`SystemExit`)."""
    from jsonargparse import ArgumentError
    try:
        return parser.parse_args(list(argv))
    except ArgumentError as e:
        raise CLIError(_with_keys(parser, one_line(str(e)))) from None


def _with_keys(parser, message: str) -> str:
    m = re.match(r"unknown option --(model|data|trainer)\.(\S+)", message)
    if not m:
        return message
    group = m.group(1)
    keys = sorted(a.dest.split(".", 1)[1] for a in parser._actions   # noqa: SLF001 - jsonargparse's own list
                  if isinstance(a.dest, str) and a.dest.startswith(group + "."))
    return f"unknown option --{group}.{m.group(2)} ({group} keys: {', '.join(keys)})"


def explicit(parser, cfg, group: str) -> Dict[str, Any]:
    """The values of ``group`` (``"model"``/``"data"``) that differ from the
    parser's defaults (the signature's): the arguments to pass on."""
    values = cfg[group].as_dict() if hasattr(cfg[group], "as_dict") else dict(cfg[group])
    defaults = parser.get_defaults()[group]
    defaults = defaults.as_dict() if hasattr(defaults, "as_dict") else dict(defaults)
    return {k: v for k, v in values.items() if k != "name" and (k not in defaults or defaults[k] != v)}


def check_model_args(name: str, values: Dict[str, Any]) -> Dict[str, Any]:
    """``compare``'s ``--model-arg`` values for model ``name``, checked and
    converted by its constructor's types (a one-line :class:`CLIError`
    naming the key)."""
    from jsonargparse import ArgumentError
    if not values:
        return {}
    p = _parser(f"srnn-pyg compare ({name})")
    _add_model(p, name)
    try:
        cfg = p.parse_object({"model": {"name": name, **values}})
    except ArgumentError as e:
        bad = re.search(r"does not accept option '(\w+)'", str(e))
        message = f"unknown option --model.{bad.group(1)}" if bad else one_line(str(e))
        message = _with_keys(p, message).replace("--model.", f"--model-arg {name}.", 1)
        raise CLIError(message) from None
    converted = cfg.model.as_dict()
    return {k: converted[k] for k in values}
