r"""The ``srnn-pyg`` command: train, evaluate, compare and forecast from the shell.

.. code-block:: bash

    srnn-pyg train --model srnn --model.residual true --data springs --trainer.epochs 10
    srnn-pyg train --config runs/springs-srnn-001/config.yaml --trainer.lr 3e-3
    srnn-pyg train --resume runs/springs-srnn-001
    srnn-pyg evaluate runs/springs-srnn-001 --split test
    srnn-pyg compare --data springs --models srnn,node_lstm,constant_velocity --trainer.epochs 5
    srnn-pyg forecast runs/springs-srnn-001/best.pt --split test --index 0 1 2
    torchrun --nproc_per_node 2 -m srnn_pyg train --trainer.distributed true --out_dir runs/ddp

The options of ``train`` and ``compare`` are typed from the code's own
signatures (:mod:`~srnn_pyg.cli.typed`, with :mod:`jsonargparse`): the model
class's constructor (``--model.KEY``), the dataset class's
(``--data.KEY``) and :class:`~srnn_pyg.engine.TrainConfig`
(``--trainer.KEY``). Each run gets its own folder (``runs/DATA-MODEL-NNN``
unless ``--out_dir``) holding its resolved ``config.yaml`` beside
``metrics.jsonl``, ``last.pt``, ``best.pt`` and ``result.json``;
``evaluate`` and ``forecast`` rebuild the model and the dataset from the
checkpoint alone. See ``docs/cli.md``.

``srnn-pyg --help`` and ``srnn-pyg train --help`` import neither torch nor
the models: this module and :mod:`~srnn_pyg.cli.options` stay light.

Modules: :mod:`~srnn_pyg.cli.options` (light parsing, help),
:mod:`~srnn_pyg.cli.typed` (typed options), :mod:`~srnn_pyg.cli.runs` (run
folders, resume), :mod:`~srnn_pyg.cli.training` (``train``, ``compare``),
:mod:`~srnn_pyg.cli.commands` (``evaluate``, ``forecast``),
:mod:`~srnn_pyg.cli.resources` (registries), :mod:`~srnn_pyg.cli.tables`,
:mod:`~srnn_pyg.cli.plot`.
"""
from __future__ import annotations

import os
import sys
import traceback
import warnings
from typing import Optional, Sequence

from .options import COMMAND_NAMES, CLIError, top_parser, version

__all__ = ["main", "CLIError"]

#: exceptions that are user errors: one line, exit status 2 (OSError: a file that cannot be read or written, such
#: as a folder without write permission, a file where a folder belongs, a full disk; the library names the file)
_USER_ERRORS = (CLIError, ValueError, TypeError, OSError, FloatingPointError, NotImplementedError, ImportError)


def _yaml_errors() -> tuple:
    """A malformed config file (``--config``, a run's ``config.yaml``) is a user error too."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - a dependency
        return ()
    return (yaml.YAMLError,)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _warning_printer(command: str):
    """``warnings.showwarning`` for the command: one line, ``srnn-pyg
    COMMAND: warning: ...``; the library's own warnings without the source
    line, others with their category and the module that raised them."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        ours = os.path.abspath(str(filename)).startswith(_PACKAGE + os.sep)
        where = "" if ours else f" ({category.__name__} from {os.path.basename(str(filename))}:{lineno})"
        try:
            print(f"srnn-pyg {command}: warning: {text}{where}", file=sys.stderr if file is None else file)
        except OSError:  # a closed stream: warnings must never end the run
            pass
    return show


def _run(command: str, argv: Sequence[str]) -> int:
    if command in ("train", "compare"):
        from .training import cmd_compare, cmd_train
        return (cmd_train if command == "train" else cmd_compare)(list(argv))
    from .commands import cmd_evaluate, cmd_forecast
    return (cmd_evaluate if command == "evaluate" else cmd_forecast)(list(argv))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``srnn-pyg`` command and return its exit status: 0 on
    success (``--help``, ``--version`` and ``--print_config`` too), 2 for a
    user error (printed as one line, without a traceback unless the
    environment sets ``SRNN_PYG_TRACEBACK=1``; a file that cannot be read
    or written too), 1 when
    ``compare`` had a model fail, 130 when interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        top_parser().print_help()
        return 0 if argv else 2
    if argv[0] == "--version":
        print(f"srnn-pyg {version()}")
        return 0
    command = argv[0]
    if command not in COMMAND_NAMES:
        print(f"srnn-pyg: error: unknown command {command!r} (expected one of {', '.join(COMMAND_NAMES)}; "
              f"see srnn-pyg --help)", file=sys.stderr)
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(command)
            return _run(command, argv[1:])
    except SystemExit as e:  # --help of the parsers (--print_config is the commands' own)
        return e.code if isinstance(e.code, int) else 0
    except _USER_ERRORS + _yaml_errors() as e:
        message = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, _yaml_errors()):
            message = f"malformed YAML (a config file): {message}"
        if os.environ.get("SRNN_PYG_TRACEBACK", "").strip().lower() in ("1", "true", "yes", "on"):   # for a bug report
            traceback.print_exc(file=sys.stderr)
        print(f"srnn-pyg {command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"srnn-pyg {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
