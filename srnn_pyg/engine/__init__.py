r"""Training and evaluation for every model of the library, in small parts:

* :mod:`~srnn_pyg.engine.config`: :class:`TrainConfig`, every option of
  :func:`fit` in one documented dataclass;
* :mod:`~srnn_pyg.engine.objectives`: teacher forcing, rollout and
  classification targets; the loss comes from the model's head
  (:func:`srnn_pyg.nn.heads.head_of`);
* :mod:`~srnn_pyg.engine.loop`: :func:`fit`;
* :mod:`~srnn_pyg.engine.evaluation`: :func:`evaluate` (errors computed by
  :mod:`srnn_pyg.metrics`) and :func:`collect` (predictions for a dataset's
  own scoring);
* :mod:`~srnn_pyg.engine.checkpoints`: :func:`save_model`,
  :func:`load_model`, :func:`load_checkpoint` (a model is rebuilt from its
  registry name and recorded constructor arguments);
* :mod:`~srnn_pyg.engine.noise`: the Gaussian input-noise curriculum of the
  S-RNN paper; :mod:`~srnn_pyg.engine.distributed`: DDP under ``torchrun``;
  :mod:`~srnn_pyg.engine.rng`, :mod:`~srnn_pyg.engine.files` (atomic
  writes), :mod:`~srnn_pyg.engine.runfolder` (the run folder: what a new run
  may replace, a ``best.pt`` of the recorded best epoch),
  :mod:`~srnn_pyg.engine.device`, :mod:`~srnn_pyg.engine.optim`.

:func:`fit` trains on batches of :class:`~srnn_pyg.STData` windows (``x``
``[N, T_obs, F]``, ``y`` ``[N, H, F]`` or long labels ``[N, H]``) with a tqdm
bar, gradient clipping, learning-rate schedulers, early stopping, mixed
precision on CUDA, ``torch.compile``, DDP, per-epoch metrics as JSON lines
and checkpoints written atomically (``last.pt`` every epoch, ``best.pt`` at
the best validation score) that resume a run exactly where it stopped.

.. code-block:: python

    from torch_geometric.loader import DataLoader
    from srnn_pyg.datasets import Springs
    from srnn_pyg.engine import TrainConfig, evaluate, fit, load_model, save_model
    from srnn_pyg.models import StructuralRNN

    train, val = Springs(split="train"), Springs(split="val")
    model = StructuralRNN(train.schema, 4, 4, residual=True)
    config = TrainConfig(epochs=10, lr=1e-3, out_dir="runs/srnn")
    result = fit(model, DataLoader(train, 32, shuffle=True), DataLoader(val, 64), config)
    model = load_model("runs/srnn")               # best.pt: the class, its arguments, its weights
    evaluate(model, DataLoader(val, 64))          # {"loss": ..., "mse": ..., ...}
    save_model(model, "srnn.pt")
"""
from .checkpoints import (load_checkpoint, load_model, model_record, read_weights, resolve_checkpoint,
                          save_model, write_checked)
from .config import TrainConfig
from .device import amp_context, resolve_device
from .distributed import DistContext
from .evaluation import collect, evaluate
from .files import atomic_save, atomic_write, atomic_write_text
from .loop import TrainingDivergedError, fit
from .noise import PAPER_NOISE_SCHEDULE, NoiseSchedule
from .result import FitResult

__all__ = [
    "fit",
    "TrainingDivergedError",
    "TrainConfig",
    "FitResult",
    "evaluate",
    "collect",
    "save_model",
    "load_model",
    "load_checkpoint",
    "read_weights",
    "resolve_checkpoint",
    "model_record",
    "write_checked",
    "NoiseSchedule",
    "PAPER_NOISE_SCHEDULE",
    "atomic_save",
    "atomic_write",
    "atomic_write_text",
    "resolve_device",
    "amp_context",
    "DistContext",
]
