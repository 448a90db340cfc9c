r"""The ``srnn-pyg`` command: train, evaluate, compare and forecast from the shell.

.. code-block:: bash

    srnn-pyg train --dataset springs --model srnn --epochs 10 --out-dir runs/srnn
    srnn-pyg evaluate runs/srnn/best.pt --split test
    srnn-pyg compare --dataset springs --models srnn,node_lstm,constant_velocity --epochs 5
    srnn-pyg forecast runs/srnn/best.pt --split test --index 0 1 2
    torchrun --nproc_per_node 2 -m srnn_pyg train --distributed --out-dir runs/ddp

Datasets by their registry name (:func:`srnn_pyg.datasets.available`:
``springs``, synthetic, needs no files; the others read files under
``--data-root`` or ``$SRNN_PYG_DATA``), models by theirs
(:func:`srnn_pyg.models.available`). Each dataset opens its own splits and
scores forecasts with its literature protocol (``dataset.score``). Each run
directory holds ``metrics.jsonl``, ``last.pt``, ``best.pt`` and
``result.json`` (:func:`srnn_pyg.engine.fit`); ``evaluate`` and ``forecast``
rebuild the model and the dataset from the checkpoint alone.

Modules: :mod:`~srnn_pyg.cli.options` (the parser), :mod:`~srnn_pyg.cli.resources`
(datasets and models from the registries), :mod:`~srnn_pyg.cli.commands`,
:mod:`~srnn_pyg.cli.tables`, :mod:`~srnn_pyg.cli.plot`.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from .commands import COMMANDS
from .options import CLIError, build_parser as _build_parser
from .resources import dataset_names, model_kwargs

__all__ = ["main", "build_parser", "CLIError", "model_kwargs"]


def build_parser():
    """The ``srnn-pyg`` argument parser, listing the registered datasets."""
    return _build_parser(dataset_names())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``srnn-pyg`` command; returns the exit status (0 on success, 2
    for a user error, printed as one line without a traceback). Argument
    errors exit through :class:`SystemExit` (status 2), as argparse does."""
    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    try:
        return COMMANDS[args.command](args)
    except (CLIError, ValueError, TypeError, FileNotFoundError, FloatingPointError, NotImplementedError) as e:
        print(f"srnn-pyg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"srnn-pyg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
