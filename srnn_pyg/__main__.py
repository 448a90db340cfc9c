"""``python -m srnn_pyg``: the ``srnn-pyg`` command (:mod:`srnn_pyg.cli`), also
for ``torchrun -m srnn_pyg train --trainer.distributed true ...``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
