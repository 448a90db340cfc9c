r"""Training and evaluation for every model of the library: :func:`fit`,
:func:`evaluate`, checkpoints (:func:`load_model`, :func:`load_checkpoint`)
and the Gaussian input-noise curriculum of the S-RNN paper.

:func:`fit` trains any :class:`~srnn_pyg.models.Forecaster` on batches of
:class:`~srnn_pyg.STData` windows (``x`` ``[N, T_obs, F]``, ``y``
``[N, H, F]`` or long labels ``[N, H]``) with one of two objectives:

* ``"teacher_forcing"`` (models with ``has_forward``): the inputs are the
  window ``concat(x, y)`` without its last step and the targets are the steps
  that follow, so :meth:`forward` is trained to predict every next step from
  true history, the training of the S-RNN paper;
* ``"rollout"`` (every trainable model): the loss is on
  ``model.forecast(data, horizon)`` against ``y``, the forecasting task itself.

Classification data (long ``y``) is trained with the cross-entropy of the
per-step logits of :meth:`forward`. Losses are masked by ``node_mask`` and
``y_mask`` where present.

Around the loop: a tqdm bar with the running loss, gradient clipping, an
optional Gaussian noise curriculum on the inputs (:data:`PAPER_NOISE_SCHEDULE`),
learning-rate schedulers, early stopping on a validation metric, mixed
precision on CUDA, ``torch.compile``, :class:`~torch.nn.parallel.DistributedDataParallel`
under ``torchrun``, per-epoch metrics as JSON lines, and checkpoints written
atomically (``last.pt`` every epoch, ``best.pt`` at the best validation
score) that hold everything needed to resume exactly where a run stopped and
to rebuild the model without the user's code (:func:`load_model`).

.. code-block:: python

    from torch_geometric.loader import DataLoader
    from srnn_pyg.datasets import Springs
    from srnn_pyg.train import build_model, fit, evaluate, load_model

    train, val = Springs(split="train"), Springs(split="val")
    model = build_model("srnn", train.schema, 4, 4, residual=True)
    result = fit(model, DataLoader(train, 32, shuffle=True), DataLoader(val, 64),
                 epochs=10, out_dir="runs/srnn")
    model = load_model("runs/srnn/best.pt")
    evaluate(model, DataLoader(val, 64))      # {"loss": ..., "mse": ..., ...}
"""
from __future__ import annotations

import bisect
import contextlib
import copy
import inspect
import json
import math
import os
import random
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, RandomSampler, Sampler
from tqdm.auto import tqdm

from .metrics import bivariate_gaussian_nll
from .schema import STSchema

__all__ = [
    "fit",
    "evaluate",
    "FitResult",
    "NoiseSchedule",
    "PAPER_NOISE_SCHEDULE",
    "build_model",
    "model_spec",
    "load_model",
    "load_checkpoint",
    "atomic_save",
    "atomic_write_text",
]

PathLike = Union[str, os.PathLike]

#: The Gaussian input-noise curriculum of the S-RNN human-motion experiments
#: (``noise_schedule`` / ``noise_rate_schedule`` in the authors' RNNexp
#: ``hyperParameterTuning.py``, for S-RNN, ERD and LSTM-3LR alike): from the
#: given iteration on, every training input gets zero-mean Gaussian noise of
#: this standard deviation (the code's comment says "variance", but the value
#: is passed as the ``std`` of the noise). No noise before iteration 250.
PAPER_NOISE_SCHEDULE: Tuple[Tuple[int, float], ...] = (
    (250, 0.01), (500, 0.05), (1000, 0.1), (1300, 0.2), (2000, 0.3), (2500, 0.5), (3300, 0.7))

CHECKPOINT_FORMAT = "srnn_pyg.checkpoint"
CHECKPOINT_VERSION = 1
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
LAST, BEST = "last.pt", "best.pt"
_TMP_MARK = ".tmp-"

_OBJECTIVES = ("teacher_forcing", "rollout")
_SCHEDULERS = (None, "step", "cosine", "plateau")
_OPTIMIZERS = ("adam", "adamw", "sgd")
_REGRESSION_METRICS = ("loss", "mse", "mae", "rmse", "mape", "mse_per_step", "mae_per_step", "tf_mse")
_CLASSIFICATION_METRICS = ("loss", "ce", "accuracy")
_ROLLOUT_METRICS = ("mse", "mae", "rmse", "mape", "mse_per_step", "mae_per_step")


# ==================================================================== noise
class NoiseSchedule:
    r"""A step function of the training iteration: the standard deviation of
    the zero-mean Gaussian noise added to the model's inputs, as the S-RNN
    paper trains its motion models (the noise is raised at given iterations,
    so the model learns to correct its own drift before it has to).

    The step with index ``i`` (``0`` for the first optimiser step, counted
    over the whole run) uses the std of the last pair whose iteration is
    ``<= i``, and no noise before the first pair.

    Args:
        schedule (sequence of (int, float)): ``(iteration, std)`` pairs with
            strictly increasing iterations ``>= 0`` and stds ``>= 0``, e.g.
            :data:`PAPER_NOISE_SCHEDULE`.

    .. code-block:: python

        s = NoiseSchedule(PAPER_NOISE_SCHEDULE)
        s(0), s(250), s(999), s(1000), s(10_000)    # 0.0, 0.01, 0.05, 0.1, 0.7
    """

    def __init__(self, schedule: Iterable[Tuple[int, float]]):
        try:
            pairs = [(int(it), float(std)) for it, std in schedule]
        except (TypeError, ValueError):
            raise ValueError(f"NoiseSchedule: 'schedule' must be (iteration, std) pairs "
                             f"(got {schedule!r})") from None
        if not pairs:
            raise ValueError("NoiseSchedule: 'schedule' must hold at least one (iteration, std) pair "
                             "(got none)")
        its = [it for it, _ in pairs]
        if its[0] < 0 or any(b <= a for a, b in zip(its, its[1:])):
            raise ValueError(f"NoiseSchedule: iterations must be >= 0 and strictly increasing "
                             f"(got {its})")
        stds = [s for _, s in pairs]
        if any(not math.isfinite(s) or s < 0 for s in stds):
            raise ValueError(f"NoiseSchedule: stds must be finite and >= 0 (got {stds})")
        self.iterations, self.stds = its, stds

    def __call__(self, iteration: int) -> float:
        k = bisect.bisect_right(self.iterations, int(iteration)) - 1
        return self.stds[k] if k >= 0 else 0.0

    def to_list(self) -> List[List[float]]:
        return [[it, s] for it, s in zip(self.iterations, self.stds)]

    def __repr__(self) -> str:
        return f"NoiseSchedule({list(zip(self.iterations, self.stds))})"


def _noise_schedule(noise: Any) -> Optional[NoiseSchedule]:
    if noise is None:
        return None
    if isinstance(noise, NoiseSchedule):
        return noise
    if isinstance(noise, str):
        if noise == "paper":
            return NoiseSchedule(PAPER_NOISE_SCHEDULE)
        raise ValueError(f"fit: 'noise' must be None, a std, 'paper', (iteration, std) pairs or a "
                         f"NoiseSchedule (got {noise!r})")
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"fit: a constant 'noise' std must be finite and >= 0 (got {noise!r})")
        return NoiseSchedule([(0, float(noise))])
    return NoiseSchedule(noise)


# ============================================================= atomic files
def _fsync_dir(path: Path) -> None:
    try:  # the rename itself is durable only once the directory is synced (POSIX)
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_path(path: Path) -> Path:
    # A hidden name that never ends in ".pt", in the target's directory so the
    # final os.replace is a rename on one file system.
    return path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _atomic_write(path: PathLike, write: Callable[[Any], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(obj: Any, path: PathLike) -> Path:
    """``torch.save(obj, path)`` through a temporary file in the same
    directory, flushed and fsynced, then renamed over ``path``
    (:func:`os.replace`): a reader sees the old file or the new one, never a
    partial one, even if the process dies midway."""
    return _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically, as :func:`atomic_save`."""
    data = text.encode("utf-8")
    return _atomic_write(path, lambda f: f.write(data))


def _remove_stale_temps(directory: Path) -> None:
    """Temporary files left by a process killed while writing."""
    for name in (LAST, BEST, METRICS_FILE, RESULT_FILE):
        for p in directory.glob(f".{name}{_TMP_MARK}*"):
            with contextlib.suppress(OSError):
                p.unlink()


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _jsonable(value.item())
    if isinstance(value, Tensor):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


# ================================================================ model spec
def _registry():
    from .models import registry
    return getattr(registry, "_REGISTRY", {})


def _registry_name(cls: type) -> Optional[str]:
    for name, c in _registry().items():
        if c is cls:
            return name
    return None


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return False


def build_model(name: str, schema: Optional[STSchema], in_channels: int, out_channels: int,
                **kwargs: Any) -> nn.Module:
    """:func:`srnn_pyg.models.build`, remembering how the model was built so
    that the checkpoints :func:`fit` writes can rebuild it
    (:func:`load_model`) without the user's code. Prefer it to building a
    model by hand when the checkpoint should stand on its own."""
    from .models import build
    model = build(name, schema, in_channels, out_channels, **kwargs)
    model._build_spec = {"name": name.lower(), "schema": schema.to_dict() if schema is not None else None,
                         "in_channels": int(in_channels), "out_channels": int(out_channels),
                         "kwargs": dict(kwargs)}
    return model


def _rebuilds(model: nn.Module, spec: Dict[str, Any], kwargs: Dict[str, Any]) -> bool:
    try:
        cls = type(model)
        schema = STSchema.from_dict(spec["schema"]) if spec["schema"] is not None else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            other = cls(schema, spec["in_channels"], spec["out_channels"], **kwargs)
            other.load_state_dict({k: v.detach().cpu() for k, v in model.state_dict().items()})
        return repr(other) == repr(model)
    except Exception:  # any failure means "not these arguments"
        return False


def model_spec(model: nn.Module) -> Dict[str, Any]:
    """How to rebuild ``model``: registry ``name``, ``schema`` (as
    :meth:`STSchema.to_dict`), ``in_channels``, ``out_channels`` and
    constructor ``kwargs``.

    Exact for models made by :func:`build_model`. For others the constructor
    arguments are read back from the model's attributes of the same names and
    checked by building a copy that must accept the state dict and have the
    same ``repr``; where that fails, ``kwargs`` is :obj:`None` and
    :func:`load_model` will ask for the model."""
    given = getattr(model, "_build_spec", None)
    if given is not None:
        return copy.deepcopy(given)
    schema = getattr(model, "schema", None)
    spec: Dict[str, Any] = {"name": _registry_name(type(model)),
                            "schema": schema.to_dict() if isinstance(schema, STSchema) else None,
                            "in_channels": getattr(model, "in_channels", None),
                            "out_channels": getattr(model, "out_channels", None),
                            "kwargs": None}
    if spec["name"] is None or spec["in_channels"] is None:
        return spec
    skip = {"self", "schema", "in_channels", "out_channels"}
    guess: Dict[str, Any] = {}
    for p in inspect.signature(type(model).__init__).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        value = getattr(model, p.name, inspect.Parameter.empty)
        if value is not inspect.Parameter.empty and _plain(value):
            guess[p.name] = value
    for kwargs in (guess, {}):
        if _rebuilds(model, spec, kwargs):
            spec["kwargs"] = kwargs
            return spec
    return spec


# =============================================================== checkpoints
def _resolve_checkpoint(path: PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"no checkpoint in '{path}' (expected '{BEST}' or '{LAST}')")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: '{path}'")
    return path


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (a file, or a run directory:
    its ``best.pt``, else ``last.pt``). Loaded with ``weights_only=True``: a
    checkpoint holds tensors and plain data only.

    Raises:
        FileNotFoundError: naming the missing file or directory.
        ValueError: if the file is not a checkpoint of this library.
    """
    path = _resolve_checkpoint(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"'{path}' is not a readable srnn_pyg checkpoint ({type(e).__name__}: {e})") \
            from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"'{path}' is not an srnn_pyg checkpoint (no format={CHECKPOINT_FORMAT!r} key)")
    ckpt["path"] = str(path)
    return ckpt


def load_model(path: PathLike, map_location: Any = "cpu") -> nn.Module:
    """Rebuild the model saved in a :func:`fit` checkpoint (a file or a run
    directory) from its build spec and load its weights; returned in eval
    mode on ``map_location``.

    Raises:
        ValueError: if the checkpoint does not say how to build the model
            (a model built by hand whose arguments could not be recovered:
            build it with :func:`build_model`, or build it yourself and load
            ``load_checkpoint(path)["model"]``).
    """
    ckpt = load_checkpoint(path, map_location)
    spec = ckpt.get("spec") or {}
    if spec.get("name") is None or spec.get("kwargs") is None:
        raise ValueError(f"load_model: checkpoint '{ckpt['path']}' does not record how to build its "
                         f"model (spec={spec!r}); build the model yourself and load "
                         f"load_checkpoint(path)['model'], or train it from srnn_pyg.train.build_model")
    schema = STSchema.from_dict(spec["schema"]) if spec.get("schema") is not None else None
    model = build_model(spec["name"], schema, spec["in_channels"], spec["out_channels"], **spec["kwargs"])
    model.load_state_dict(ckpt["model"])
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval()


def _rng_state() -> Dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: Dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


# =================================================================== result
@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history (list[dict]): one record per epoch: ``epoch`` (1-based; ``0``
            for the evaluation of a non-trainable model), ``step`` (optimiser
            steps so far), ``lr``, ``noise_std``, ``train_loss``, ``val_*``
            metrics of :func:`evaluate`, ``time`` (seconds).
        monitor (str): the history key that picks ``best.pt`` and drives early
            stopping, and ``mode`` (``"min"``/``"max"``).
        best_epoch, best_score: where the monitored value was best.
        epochs_run (int): the last epoch completed.
        stopped_early (bool): early stopping ended the run.
        out_dir (str, optional): where metrics and checkpoints were written.
        spec (dict): the model's build spec (see :func:`model_spec`).
    """

    history: List[Dict[str, Any]] = field(default_factory=list)
    monitor: str = "train_loss"
    mode: str = "min"
    best_epoch: Optional[int] = None
    best_score: Optional[float] = None
    epochs_run: int = 0
    stopped_early: bool = False
    out_dir: Optional[str] = None
    spec: Dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> Dict[str, Any]:
        """The last history record (``{}`` if none)."""
        return self.history[-1] if self.history else {}

    @property
    def best_path(self) -> Optional[str]:
        return str(Path(self.out_dir) / BEST) if self.out_dir else None

    @property
    def last_path(self) -> Optional[str]:
        return str(Path(self.out_dir) / LAST) if self.out_dir else None

    def to_dict(self) -> Dict[str, Any]:
        return _jsonable({"history": self.history, "monitor": self.monitor, "mode": self.mode,
                          "best_epoch": self.best_epoch, "best_score": self.best_score,
                          "epochs_run": self.epochs_run, "stopped_early": self.stopped_early,
                          "out_dir": self.out_dir, "spec": self.spec})


# ============================================================== distributed
@dataclass
class _Dist:
    enabled: bool = False
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def all_reduce(self, t: Tensor) -> Tensor:
        if self.enabled:
            torch.distributed.all_reduce(t)
        return t


def _setup_distributed(distributed: bool, device: Optional[Union[str, torch.device]]) -> _Dist:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        return _Dist(world > 1, dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", 0)), False)
    if not distributed:
        return _Dist()
    missing = [k for k in ("RANK", "WORLD_SIZE") if k not in os.environ]
    if missing:
        raise ValueError(f"fit: 'distributed=True' needs a torchrun launch (environment variables RANK "
                         f"and WORLD_SIZE; {', '.join(missing)} not set) or an initialised "
                         f"torch.distributed process group")
    if not dist.is_available():
        raise ValueError("fit: 'distributed=True' but this PyTorch build has no torch.distributed")
    want_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    world = dist.get_world_size()
    return _Dist(world > 1, dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", 0)), True)


class _EvalShard(Sampler):
    """Rank ``r`` of ``w`` takes samples ``r, r + w, ...``: every sample is
    evaluated exactly once (no padding), and sums are all-reduced."""

    def __init__(self, n: int, rank: int, world: int):
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


class _SeededRandomSampler(Sampler):
    """A random permutation that is a function of ``(seed, epoch)`` only, so a
    resumed run sees the same order as an uninterrupted one."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + self.epoch) % (2 ** 63))
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _reloader(loader: DataLoader, sampler: Sampler) -> DataLoader:
    """``loader`` with another sampler, keeping its collate function (PyG's
    batching), batch size and worker settings."""
    if loader.batch_size is None:
        raise ValueError("fit: the loader must batch with 'batch_size' (got a custom batch_sampler), "
                         "so that its order can be seeded or sharded")
    kw = dict(batch_size=loader.batch_size, sampler=sampler, collate_fn=loader.collate_fn,
              num_workers=loader.num_workers, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
              timeout=loader.timeout, worker_init_fn=loader.worker_init_fn)
    if loader.num_workers > 0:
        kw.update(persistent_workers=loader.persistent_workers, prefetch_factor=loader.prefetch_factor)
    return DataLoader(loader.dataset, **kw)


def _train_loader(loader: DataLoader, seed: int, dist: _Dist) -> Tuple[DataLoader, Optional[Sampler]]:
    shuffle = isinstance(loader.sampler, RandomSampler)
    if dist.enabled:
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(loader.dataset, num_replicas=dist.world, rank=dist.rank,
                                     shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
        return _reloader(loader, sampler), sampler
    if shuffle:
        sampler = _SeededRandomSampler(len(loader.dataset), seed)
        return _reloader(loader, sampler), sampler
    return loader, None


def _eval_loader(loader: Optional[DataLoader], dist: _Dist) -> Optional[DataLoader]:
    if loader is None or not dist.enabled:
        return loader
    return _reloader(loader, _EvalShard(len(loader.dataset), dist.rank, dist.world))


# ============================================================ batches, losses
class _Step(nn.Module):
    """Routes both objectives through ``forward`` so that
    DistributedDataParallel (which hooks ``forward``) and ``torch.compile``
    see the rollout too."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, data, horizon: Optional[int] = None) -> Tensor:
        return self.model(data) if horizon is None else self.model.forecast(data, horizon)


def _with(batch, **values):
    """A shallow copy of ``batch`` with some keys replaced (the batch itself is
    left alone; tensors are shared)."""
    out = copy.copy(batch)
    for k, v in values.items():
        out[k] = v
    return out


def _is_classification(batch) -> bool:
    y = batch.get("y")
    if not isinstance(y, Tensor):
        raise ValueError("fit/evaluate: every batch needs targets 'y' ([N, H, F] values or [N, H] "
                         f"long labels; got {type(y).__name__})")
    return not y.is_floating_point()


def _extend_time(value: Tensor, steps: int) -> Tensor:
    """Repeat the last time step ``steps`` times along dim 1."""
    last = value[:, -1:]
    return torch.cat([value, last.expand(-1, steps, *last.shape[2:])], dim=1)


def _teacher_forcing(batch) -> Tuple[Any, Tensor, Optional[Tensor]]:
    """Inputs ``concat(x, y)[:, :-1]``, targets ``concat(x, y)[:, 1:]`` and the
    ``[N, T+H-1]`` target mask (target present and input present)."""
    x, y = batch.x, batch.y
    if y.dim() != 3 or y.size(-1) != x.size(-1):
        raise ValueError(f"fit: objective='teacher_forcing' feeds the targets back as inputs, so 'y' must "
                         f"be [N, H, F] with the F={x.size(-1)} features of 'x' (got x {list(x.shape)}, "
                         f"y {list(y.shape)}); use objective='rollout'")
    T, H = x.size(1), y.size(1)
    seq = torch.cat([x, y.to(x.dtype)], dim=1)                                     # [N, T+H, F]
    values = {"x": seq[:, :-1]}
    nm, ym = batch.get("node_mask"), batch.get("y_mask")
    present = None
    if nm is not None or ym is not None:
        past = nm if nm is not None else torch.ones_like(x[..., 0], dtype=torch.bool)      # [N, T]
        if ym is not None:
            future = ym
        elif nm is not None:
            future = nm[:, -1:].expand(-1, H)
        else:
            future = torch.ones_like(y[..., 0], dtype=torch.bool)
        present = torch.cat([past, future], dim=1)                                # [N, T+H]
        values["node_mask"] = present[:, :-1]
    # Time-indexed edge keys have no future: their last observed step is held.
    for key in ("edge_mask", "edge_attr"):
        v = batch.get(key)
        if isinstance(v, Tensor) and v.dim() >= 2 and v.size(1) == T:
            values[key] = _extend_time(v, H - 1)
    mask = None if present is None else present[:, 1:] & present[:, :-1]         # [N, T+H-1]
    return _with(batch, **values), seq[:, 1:], mask


def _add_noise(batch, std: float):
    if std <= 0:
        return batch
    x = batch.x
    noise = torch.randn_like(x) * std
    nm = batch.get("node_mask")
    if nm is not None and nm.shape == x.shape[:2]:
        noise = noise * nm.unsqueeze(-1).to(x.dtype)                              # absent stays absent
    return _with(batch, x=x + noise)


def _check_pred(pred: Tensor, target: Tensor, what: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"fit/evaluate: the model's {what} is {list(pred.shape)} but the targets are "
                         f"{list(target.shape)} (check out_channels and the horizon)")


def _sq_terms(pred: Tensor, target: Tensor, mask: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """Per-step sums of squared and absolute errors and their weights, ``[T]`` each."""
    diff = pred.float() - target.float()                                          # [N, T, F]
    if mask is None:
        w = torch.ones_like(diff[..., :1])
    else:
        w = mask.unsqueeze(-1).to(diff.dtype)                                     # [N, T, 1]
    sq = (diff.pow(2) * w).sum(dim=(0, 2))                                         # [T]
    ab = (diff.abs() * w).sum(dim=(0, 2))                                          # [T]
    cnt = (w.expand_as(diff)).sum(dim=(0, 2))                                      # [T]
    return sq, ab, cnt


def _rollout_terms(batch, horizon: int) -> Tuple[Tensor, Optional[Tensor]]:
    y = batch.y
    if y.size(1) < horizon:
        raise ValueError(f"fit/evaluate: 'horizon' is {horizon} but the windows hold only "
                         f"{y.size(1)} target steps ('y' is {list(y.shape)})")
    ym = batch.get("y_mask")
    return y[:, :horizon], (ym[:, :horizon] if ym is not None else None)


def _class_terms(batch, logits: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Masked cross-entropy sum, correct count and weight of per-step logits
    ``[N, T, C]`` against labels ``[N, H]`` (aligned with the last ``H`` steps)."""
    y = batch.y
    if logits.dim() != 3 or logits.size(0) != y.size(0) or logits.size(1) < y.size(1):
        raise ValueError(f"fit/evaluate: classification needs per-step logits [N, T, C] with T >= H for "
                         f"labels 'y' {list(y.shape)} (got {list(logits.shape)})")
    H, C = y.size(1), logits.size(-1)
    lg = logits[:, logits.size(1) - H:].float()                                   # [N, H, C]
    ym = batch.get("y_mask")
    if ym is None:
        nm = batch.get("node_mask")
        ym = nm[:, nm.size(1) - H:] if nm is not None and nm.size(1) >= H else None
    w = torch.ones_like(y, dtype=lg.dtype) if ym is None else ym.to(lg.dtype)     # [N, H]
    labels = torch.where(w > 0, y, torch.zeros_like(y))                           # padding may be junk
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= C):
        raise ValueError(f"fit/evaluate: labels must lie in [0, {C - 1}] for {C} output channels "
                         f"(got [{int(labels.min())}, {int(labels.max())}])")
    ce = F.cross_entropy(lg.reshape(-1, C), labels.reshape(-1), reduction="none").view_as(w)
    correct = (lg.argmax(-1) == labels).to(lg.dtype)
    return (ce * w).sum(), (correct * w).sum(), w.sum()


def _is_gaussian(model: nn.Module) -> bool:
    """A model whose one-step output is a bivariate Gaussian ``[..., 5]`` per step."""
    return getattr(model, "head", None) == "gaussian"


def _nll_terms(params: Tensor, target: Tensor, mask: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
    """Sum and count of the bivariate Gaussian NLL of ``params`` ``[N, T, 5]``
    (a Gaussian head's one-step outputs) against ``target`` ``[N, T, 2]``."""
    if params.shape[:-1] != target.shape[:-1] or params.size(-1) != 5 or target.size(-1) != 2:
        raise ValueError(f"fit/evaluate: a Gaussian head's one-step output must be [N, T, 5] for 2-d targets "
                         f"(got {list(params.shape)} and targets {list(target.shape)})")
    count = mask.sum().to(torch.float32) if mask is not None else torch.tensor(float(target[..., 0].numel()))
    mean = bivariate_gaussian_nll(params.float(), target.float(), mask)
    return mean * count.to(mean.device), count.to(mean.device)


def _train_loss(runner: Callable, batch, objective: str, horizon: Optional[int], std: float,
                classification: bool, gaussian: bool = False) -> Tuple[Tensor, Tensor]:
    """``(loss, weight)``: the masked mean loss of one batch and its weight."""
    if classification:
        logits = runner(_add_noise(batch, std))
        s, _, c = _class_terms(batch, logits)
    elif objective == "teacher_forcing" and gaussian:
        inp, target, mask = _teacher_forcing(batch)
        s, c = _nll_terms(runner(_add_noise(inp, std)), target, mask)
    elif objective == "teacher_forcing":
        inp, target, mask = _teacher_forcing(batch)
        pred = runner(_add_noise(inp, std))
        _check_pred(pred, target, "one-step output")
        sq, _, cnt = _sq_terms(pred, target, mask)
        s, c = sq.sum(), cnt.sum()
    else:
        H = horizon or batch.y.size(1)
        target, mask = _rollout_terms(batch, H)
        pred = runner(_add_noise(batch, std), H)
        _check_pred(pred, target, "forecast")
        sq, _, cnt = _sq_terms(pred, target, mask)
        s, c = sq.sum(), cnt.sum()
    return s / c.clamp_min(1), c


# ================================================================ evaluation
def _default_objective(model: nn.Module) -> str:
    return "teacher_forcing" if getattr(model, "has_forward", True) else "rollout"


def _amp_context(device: torch.device, amp: Any) -> Tuple[Callable[[], Any], bool]:
    """A context factory for autocast and whether a GradScaler is needed."""
    if not amp:
        return contextlib.nullcontext, False
    if device.type != "cuda":
        return contextlib.nullcontext, False
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return (lambda: torch.autocast(device_type="cuda", dtype=dtype)), dtype == torch.float16


@torch.no_grad()
def _evaluate(model: nn.Module, loader: Iterable, names: Sequence[str], horizon: Optional[int],
              objective: str, device: torch.device, amp_ctx: Callable[[], Any], dist: _Dist,
              progress: bool = False, desc: str = "eval") -> Dict[str, Any]:
    was_training = model.training
    model.eval()
    rollout_wanted = [n for n in names if n in _ROLLOUT_METRICS]
    need_rollout = bool(rollout_wanted) or (objective == "rollout" and "loss" in names)
    need_tf = "tf_mse" in names or (objective == "teacher_forcing" and "loss" in names)
    acc: Dict[str, Tensor] = {}

    def add(key: str, value: Tensor) -> None:
        value = value.detach().to(device=device, dtype=torch.float64)
        acc[key] = acc[key] + value if key in acc else value

    classification: Optional[bool] = None
    H_seen: Optional[int] = None
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, dynamic_ncols=True)
    try:
        for batch in bar:
            batch = batch.to(device)
            cls = _is_classification(batch)
            if classification is None:
                classification = cls
                bad = [n for n in names if n not in (_CLASSIFICATION_METRICS if cls else _REGRESSION_METRICS)]
                if bad:
                    kind = "classification" if cls else "regression"
                    known = _CLASSIFICATION_METRICS if cls else _REGRESSION_METRICS
                    raise ValueError(f"evaluate: metrics {bad} do not apply to {kind} data (known: "
                                     f"{list(known)})")
            with amp_ctx():
                if cls:
                    s, k, c = _class_terms(batch, model(batch))
                    add("ce", s)
                    add("correct", k)
                    add("count", c)
                    continue
                if need_rollout:
                    H = horizon or batch.y.size(1)
                    if H_seen is not None and H != H_seen:
                        raise ValueError(f"evaluate: windows have different horizons ({H_seen} and {H}); "
                                         f"pass 'horizon'")
                    H_seen = H
                    target, mask = _rollout_terms(batch, H)
                    pred = model.forecast(batch, H)
                    _check_pred(pred, target, "forecast")
                    sq, ab, cnt = _sq_terms(pred, target, mask)
                    add("sq", sq)
                    add("abs", ab)
                    add("cnt", cnt)
                    if "mape" in names:
                        d = (pred.float() - target.float()).abs()
                        nz = (target.abs() > 1e-8).to(d.dtype)
                        w = nz if mask is None else nz * mask.unsqueeze(-1).to(d.dtype)
                        add("ape", (d / target.float().abs().clamp_min(1e-8) * w).sum())
                        add("ape_cnt", w.sum())
                if need_tf:
                    inp, target, mask = _teacher_forcing(batch)
                    pred = model(inp)
                    if _is_gaussian(model):                 # the loss is the NLL; tf_mse scores the means
                        nll, n = _nll_terms(pred, target, mask)
                        add("tf_nll", nll)
                        add("tf_nll_cnt", n)
                        pred = pred[..., :2]
                    _check_pred(pred, target, "one-step output")
                    sq, _, cnt = _sq_terms(pred, target, mask)
                    add("tf_sq", sq.sum())
                    add("tf_cnt", cnt.sum())
    finally:
        bar.close()
        model.train(was_training)

    # One all-reduce of every sum and count across ranks (all ranks hold the
    # same keys: the keys depend on the metric names and the data kind only).
    keys = sorted(acc)
    if dist.enabled:
        flat = torch.cat([acc[k].reshape(-1) for k in keys]) if keys else torch.zeros(0, device=device,
                                                                                     dtype=torch.float64)
        dist.all_reduce(flat)
        off = 0
        for k in keys:
            n = acc[k].numel()
            acc[k] = flat[off:off + n].view_as(acc[k])
            off += n
    out: Dict[str, Any] = {}
    if classification is None:
        return {n: float("nan") for n in names}
    if classification:
        count = float(acc["count"].clamp_min(1))
        ce = float(acc["ce"]) / count
        for n in names:
            out[n] = ce if n in ("loss", "ce") else float(acc["correct"]) / count
        return out
    for n in names:
        if n == "loss":
            if objective == "rollout":
                out[n] = float(acc["sq"].sum() / acc["cnt"].sum().clamp_min(1))
            elif "tf_nll" in acc:
                out[n] = float(acc["tf_nll"] / acc["tf_nll_cnt"].clamp_min(1))
            else:
                out[n] = float(acc["tf_sq"] / acc["tf_cnt"].clamp_min(1))
        elif n == "tf_mse":
            out[n] = float(acc["tf_sq"] / acc["tf_cnt"].clamp_min(1))
        elif n == "mse":
            out[n] = float(acc["sq"].sum() / acc["cnt"].sum().clamp_min(1))
        elif n == "rmse":
            out[n] = math.sqrt(float(acc["sq"].sum() / acc["cnt"].sum().clamp_min(1)))
        elif n == "mae":
            out[n] = float(acc["abs"].sum() / acc["cnt"].sum().clamp_min(1))
        elif n == "mape":
            out[n] = 100.0 * float(acc["ape"] / acc["ape_cnt"].clamp_min(1))
        elif n == "mse_per_step":
            out[n] = (acc["sq"] / acc["cnt"].clamp_min(1)).tolist()
        elif n == "mae_per_step":
            out[n] = (acc["abs"] / acc["cnt"].clamp_min(1)).tolist()
    return out


def _default_metrics(model: nn.Module, classification: bool) -> List[str]:
    if classification:
        return ["loss", "ce", "accuracy"]
    names = ["loss", "mse", "mae", "rmse", "mse_per_step"]
    if getattr(model, "has_forward", True):
        names.append("tf_mse")
    return names


def _peek_classification(loader: Iterable) -> bool:
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and len(dataset) > 0:
        return _is_classification(dataset[0])
    return _is_classification(next(iter(loader)))


def _resolve_device(device: Optional[Union[str, torch.device]], dist: Optional[_Dist] = None) -> torch.device:
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"'device' must name a torch device such as 'cpu' or 'cuda' (got {device!r})") \
            from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"'device' is {device!r} but CUDA is not available")
        if dist is not None and dist.enabled and dev.index is None:
            dev = torch.device("cuda", dist.local_rank)
    return dev


def evaluate(model: nn.Module, loader: Iterable, metrics: Optional[Sequence[str]] = None,
             horizon: Optional[int] = None, *, objective: Optional[str] = None,
             device: Optional[Union[str, torch.device]] = None, amp: Any = False,
             progress: bool = False) -> Dict[str, Any]:
    r"""Evaluate any model on a loader of windows, in the data's (normalised)
    units.

    Regression metrics (``y`` floating point):

    * ``"mse"``, ``"mae"``, ``"rmse"``, ``"mape"`` (percent, over non-zero
      targets), ``"mse_per_step"``, ``"mae_per_step"`` (lists of ``H``):
      of the rollout ``model.forecast(data, horizon)`` against ``y`` (every
      model);
    * ``"tf_mse"``: the one-step-ahead error of :meth:`forward` under teacher
      forcing (models with ``has_forward``);
    * ``"loss"``: the training loss of ``objective``.

    Classification metrics (``y`` long labels, per-step logits of
    :meth:`forward`): ``"loss"`` and ``"ce"`` (cross-entropy), ``"accuracy"``.

    Every metric is a masked mean over ``y_mask`` (and ``node_mask``) entries,
    accumulated as sums and counts over the whole loader.

    Args:
        model: a :class:`~srnn_pyg.models.Forecaster`.
        loader: batches of :class:`~srnn_pyg.STData` with ``y``.
        metrics (list[str], optional): names from above. (default: ``loss``,
            ``mse``, ``mae``, ``rmse``, ``mse_per_step``, and ``tf_mse`` where
            the model has :meth:`forward`; classification: ``loss``, ``ce``,
            ``accuracy``)
        horizon (int, optional): rollout steps. (default: the windows' ``H``)
        objective (str, optional): what ``"loss"`` measures,
            ``"teacher_forcing"`` or ``"rollout"``. (default: teacher forcing
            for models with :meth:`forward`, else rollout)
        device (str or torch.device, optional): (default: the model's device)
        amp (bool or str, optional): autocast on CUDA (``"bf16"`` for
            bfloat16). (default: :obj:`False`)
        progress (bool, optional): show a tqdm bar. (default: :obj:`False`)

    Returns:
        dict: metric name to float (lists for ``*_per_step``).
    """
    objective = objective or _default_objective(model)
    if objective not in _OBJECTIVES:
        raise ValueError(f"evaluate: 'objective' must be one of {list(_OBJECTIVES)} (got {objective!r})")
    if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
        raise ValueError(f"evaluate: 'horizon' must be a positive int or None (got {horizon!r})")
    if device is None:
        p = next(iter(model.parameters()), None)
        dev = p.device if p is not None else torch.device("cpu")
    else:
        dev = _resolve_device(device)
    model.to(dev)
    cls = _peek_classification(loader)
    names = list(metrics) if metrics is not None else _default_metrics(model, cls)
    if not getattr(model, "has_forward", True):
        if "tf_mse" in names or (objective == "teacher_forcing" and "loss" in names) or cls:
            raise ValueError(f"evaluate: {type(model).__name__} has no one-step-ahead forward, so only "
                             f"rollout metrics apply (got metrics={names}, objective={objective!r})")
    amp_ctx, _ = _amp_context(dev, amp)
    return _evaluate(model, loader, names, horizon, objective, dev, amp_ctx, _Dist(), progress)


# ==================================================================== fitting
def _make_optimizer(optimizer: Any, params: List[nn.Parameter], lr: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"fit: 'optimizer' must be one of {list(_OPTIMIZERS)} or a callable "
                     f"params -> Optimizer (got {optimizer!r})")


def _make_scheduler(scheduler: Any, opt: torch.optim.Optimizer, epochs: int,
                    kwargs: Dict[str, Any]) -> Any:
    if scheduler is None:
        return None
    if callable(scheduler) and not isinstance(scheduler, str):
        return scheduler(opt)
    if scheduler == "step":
        kw = dict(step_size=max(1, epochs // 3), gamma=0.1)
        kw.update(kwargs)
        return torch.optim.lr_scheduler.StepLR(opt, **kw)
    if scheduler == "cosine":
        kw = dict(T_max=max(1, epochs))
        kw.update(kwargs)
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, **kw)
    if scheduler == "plateau":
        kw = dict(factor=0.5, patience=2)
        kw.update(kwargs)
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    raise ValueError(f"fit: 'scheduler' must be one of {list(_SCHEDULERS)} or a callable "
                     f"optimizer -> scheduler (got {scheduler!r})")


def _materialize(model: nn.Module, loader: DataLoader, device: torch.device) -> None:
    """Run one graph through models whose layers are built by the first batch
    (PyG-style lazy modules), so the optimiser sees every parameter."""
    params = list(model.parameters())
    lazy = any(isinstance(p, nn.parameter.UninitializedParameter) for p in params)
    if params and not lazy:
        return
    dataset = getattr(loader, "dataset", None)
    if dataset is None or len(dataset) == 0:
        return
    sample = loader.collate_fn([dataset[0]]).to(device)
    was = model.training
    model.eval()
    with torch.no_grad():
        if getattr(model, "has_forward", True):
            model(sample)
        else:
            model.forecast(sample, 1)
    model.train(was)


def _check_positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        more = " or None" if allow_none else ""
        raise ValueError(f"fit: '{name}' must be a positive int{more} (got {value!r})")


def _better(a: float, b: Optional[float], mode: str) -> bool:
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return not math.isnan(a)
    return a < b if mode == "min" else a > b


def _current_lr(opt: Optional[torch.optim.Optimizer]) -> Optional[float]:
    return float(opt.param_groups[0]["lr"]) if opt is not None else None


class _MetricsLog:
    """``metrics.jsonl``: one JSON object per epoch, appended line by line and
    fsynced; rewritten atomically from the checkpoint's history on resume."""

    def __init__(self, path: Path):
        self.path = path

    def reset(self, history: List[Dict[str, Any]]) -> None:
        atomic_write_text("".join(json.dumps(_jsonable(r)) + "\n" for r in history), self.path)

    def append(self, record: Dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(_jsonable(record)) + "\n")
            f.flush()
            os.fsync(f.fileno())


def fit(model: nn.Module, train_loader: DataLoader, val_loader: Optional[DataLoader] = None, *,
        epochs: int, objective: str = "teacher_forcing", horizon: Optional[int] = None,
        optimizer: Any = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
        scheduler: Any = None, scheduler_kwargs: Optional[Dict[str, Any]] = None,
        grad_clip: Optional[float] = 1.0, noise: Any = None, early_stopping: Optional[int] = None,
        monitor: Optional[str] = None, metrics: Optional[Sequence[str]] = None, seed: int = 0,
        device: Optional[Union[str, torch.device]] = None, amp: Any = False, compile: bool = False,
        out_dir: Optional[PathLike] = None, resume: Union[None, bool, PathLike] = None,
        progress: bool = True, distributed: bool = False, restore_best: bool = False,
        callbacks: Sequence[Callable[[Dict[str, Any]], None]] = (),
        meta: Optional[Dict[str, Any]] = None) -> FitResult:
    r"""Train ``model`` and return its :class:`FitResult`.

    Args:
        model: a :class:`~srnn_pyg.models.Forecaster`; trained in place. A
            model with ``trainable = False`` is only evaluated.
        train_loader (DataLoader): training batches of windows. With
            ``shuffle=True`` the order of each epoch is a function of
            ``seed`` and the epoch (so a resumed run sees the same batches);
            under DDP it is replaced by a :class:`DistributedSampler`.
        val_loader (DataLoader, optional): validation batches, evaluated with
            :func:`evaluate` after every epoch (``val_*`` keys).
        epochs (int): the total number of epochs (a resumed run stops there too).
        objective (str, optional): ``"teacher_forcing"`` (needs
            ``has_forward``) or ``"rollout"``. Classification data always
            uses the per-step cross-entropy. (default: ``"teacher_forcing"``)
        horizon (int, optional): rollout steps. (default: the windows' ``H``)
        optimizer (str or callable, optional): ``"adam"``, ``"adamw"``,
            ``"sgd"`` (momentum 0.9), or ``params -> Optimizer``.
            (default: ``"adam"``)
        lr (float, optional): learning rate. (default: :obj:`1e-3`)
        weight_decay (float, optional): (default: :obj:`0.`)
        scheduler (str or callable, optional): ``None``, ``"step"``
            (``x0.1`` every ``epochs // 3``), ``"cosine"`` (to zero over
            ``epochs``), ``"plateau"`` (``x0.5`` after 2 epochs without a
            better monitored value), or ``optimizer -> scheduler``; stepped
            once per epoch. ``scheduler_kwargs`` override the defaults.
            (default: :obj:`None`)
        grad_clip (float, optional): clip the gradient norm to this; ``None``
            for no clipping. (default: :obj:`1.0`)
        noise (optional): Gaussian noise on the training inputs: ``None``,
            a constant std, ``"paper"`` (:data:`PAPER_NOISE_SCHEDULE`),
            ``(iteration, std)`` pairs, or a :class:`NoiseSchedule`.
            Iterations count optimiser steps over the whole run.
            (default: :obj:`None`)
        early_stopping (int, optional): stop after this many epochs without
            a better ``monitor`` value. (default: :obj:`None`: never)
        monitor (str, optional): the history key that picks ``best.pt`` and
            drives early stopping and the ``"plateau"`` scheduler; maximised
            if it ends in ``accuracy``, else minimised. (default:
            ``"val_loss"`` with a ``val_loader``, else ``"train_loss"``)
        metrics (list[str], optional): validation metrics, see
            :func:`evaluate`. (default: as :func:`evaluate`)
        seed (int, optional): seeds Python, NumPy, PyTorch and the data
            order. (default: :obj:`0`)
        device (str, optional): (default: CUDA if available, else CPU; under
            DDP, ``cuda:LOCAL_RANK``)
        amp (bool or str, optional): mixed precision with
            :func:`torch.autocast` and a ``GradScaler`` (``True``/``"fp16"``)
            or bfloat16 (``"bf16"``); CUDA only: a warning and a no-op on
            CPU. (default: :obj:`False`)
        compile (bool, optional): train through ``torch.compile``.
            (default: :obj:`False`)
        out_dir (str, optional): where ``metrics.jsonl``, ``last.pt``,
            ``best.pt`` and ``result.json`` go. (default: :obj:`None`: nothing
            is written)
        resume (bool or str, optional): ``True`` continues from
            ``out_dir/last.pt`` (or starts afresh if there is none); a path
            continues from that checkpoint. Weights, optimiser, scheduler,
            scaler, RNG states, history, best score and the early-stopping
            count are restored, so the run goes on exactly as if it had not
            stopped. (default: :obj:`None`)
        progress (bool, optional): a tqdm bar with the running loss (rank 0).
            (default: :obj:`True`)
        distributed (bool, optional): under ``torchrun``, initialise the
            process group (NCCL on CUDA, else Gloo) and train with DDP. A
            process group initialised by the caller is used whatever this
            says. (default: :obj:`False`)
        restore_best (bool, optional): load the best weights into ``model``
            at the end. (default: :obj:`False`)
        callbacks (list[callable], optional): called with each epoch's record
            after its checkpoint is written. (default: none)
        meta (dict, optional): plain data stored in the checkpoints
            (e.g. the dataset's name and arguments). (default: :obj:`None`)

    Returns:
        FitResult
    """
    # ----------------------------------------------------------- arguments
    _check_positive_int("epochs", epochs)
    _check_positive_int("horizon", horizon, allow_none=True)
    _check_positive_int("early_stopping", early_stopping, allow_none=True)
    if objective not in _OBJECTIVES:
        raise ValueError(f"fit: 'objective' must be one of {list(_OBJECTIVES)} (got {objective!r})")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"fit: 'lr' must be a positive number (got {lr!r})")
    if not (isinstance(weight_decay, (int, float)) and weight_decay >= 0):
        raise ValueError(f"fit: 'weight_decay' must be >= 0 (got {weight_decay!r})")
    if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
        raise ValueError(f"fit: 'grad_clip' must be a positive number or None (got {grad_clip!r})")
    if isinstance(scheduler, str) and scheduler not in _SCHEDULERS:
        raise ValueError(f"fit: 'scheduler' must be one of {list(_SCHEDULERS)} or a callable "
                         f"(got {scheduler!r})")
    if isinstance(optimizer, str) and optimizer not in _OPTIMIZERS:
        raise ValueError(f"fit: 'optimizer' must be one of {list(_OPTIMIZERS)} or a callable "
                         f"(got {optimizer!r})")
    if amp not in (False, True, None, "fp16", "bf16"):
        raise ValueError(f"fit: 'amp' must be False, True, 'fp16' or 'bf16' (got {amp!r})")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"fit: 'seed' must be a non-negative int (got {seed!r})")
    if resume is True and out_dir is None:
        raise ValueError("fit: 'resume=True' reads out_dir/last.pt, so 'out_dir' must be given (got None)")
    schedule = _noise_schedule(noise)
    trainable = bool(getattr(model, "trainable", True))
    if trainable and objective == "teacher_forcing" and not getattr(model, "has_forward", True):
        raise ValueError(f"fit: {type(model).__name__} has no one-step-ahead forward (has_forward=False), "
                         f"so objective='teacher_forcing' does not apply (got it); use 'rollout'")

    dist = _setup_distributed(distributed, device)
    try:
        dev = _resolve_device(device, dist)
        if dev.type == "cuda" and dev.index is not None:
            torch.cuda.set_device(dev)
        if amp and dev.type != "cuda":
            warnings.warn(f"fit: 'amp={amp!r}' needs CUDA; training on {dev} in full precision")
        amp_ctx, use_scaler = _amp_context(dev, amp)
        return _fit(model, train_loader, val_loader, dist=dist, dev=dev, amp_ctx=amp_ctx,
                    use_scaler=use_scaler, schedule=schedule, trainable=trainable, epochs=epochs,
                    objective=objective, horizon=horizon, optimizer=optimizer, lr=lr,
                    weight_decay=weight_decay, scheduler=scheduler,
                    scheduler_kwargs=dict(scheduler_kwargs or {}), grad_clip=grad_clip,
                    early_stopping=early_stopping, monitor=monitor, metrics=metrics, seed=seed,
                    compile=compile, out_dir=out_dir, resume=resume, progress=progress,
                    restore_best=restore_best, callbacks=list(callbacks), meta=meta or {})
    finally:
        if dist.created and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _fit(model, train_loader, val_loader, *, dist: _Dist, dev: torch.device, amp_ctx, use_scaler: bool,
         schedule: Optional[NoiseSchedule], trainable: bool, epochs: int, objective: str,
         horizon: Optional[int], optimizer, lr, weight_decay, scheduler, scheduler_kwargs, grad_clip,
         early_stopping, monitor, metrics, seed, compile, out_dir, resume, progress, restore_best,
         callbacks, meta) -> FitResult:
    _seed_everything(seed)
    model.to(dev)
    if trainable:
        _materialize(model, train_loader, dev)
        if not any(p.requires_grad for p in model.parameters()):
            warnings.warn(f"fit: {type(model).__name__} has no trainable parameters; evaluating only")
            trainable = False

    classification = _peek_classification(train_loader)
    gaussian = _is_gaussian(model)
    if classification and objective == "rollout":
        raise ValueError("fit: objective='rollout' forecasts values, but the targets are class labels "
                         "(long 'y'); classification trains the per-step logits of forward()")
    if classification and not getattr(model, "has_forward", True):
        raise ValueError(f"fit: classification needs per-step logits from forward(), which "
                         f"{type(model).__name__} does not have")
    val_names = list(metrics) if metrics is not None else _default_metrics(model, classification)
    if val_loader is not None and "loss" not in val_names:
        val_names = ["loss"] + val_names
    if monitor is None:
        monitor = "val_loss" if val_loader is not None else "train_loss"
    mode = "max" if monitor.endswith("accuracy") else "min"
    allowed = {"train_loss"} | ({f"val_{n}" for n in val_names} if val_loader is not None else set())
    if monitor not in allowed:
        raise ValueError(f"fit: 'monitor' must be one of {sorted(allowed)} (got {monitor!r})")

    out = Path(out_dir) if out_dir is not None else None
    if out is not None and dist.main:
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(out)
    # Reading a hand-built model's arguments back builds a copy: only when a checkpoint needs it.
    spec = model_spec(model) if out is not None else copy.deepcopy(getattr(model, "_build_spec", {}))
    if out is not None and dist.main and spec.get("kwargs") is None:
        warnings.warn(f"fit: could not record how to rebuild {type(model).__name__}; load_model() will "
                      f"need help (build the model with srnn_pyg.train.build_model to avoid this)")
    result = FitResult(monitor=monitor, mode=mode, out_dir=str(out) if out is not None else None,
                       spec=spec)
    log = _MetricsLog(out / METRICS_FILE) if out is not None else None
    config = {"epochs": epochs, "objective": objective, "horizon": horizon, "lr": lr,
              "weight_decay": weight_decay, "grad_clip": grad_clip, "seed": seed,
              "optimizer": optimizer if isinstance(optimizer, str) else "custom",
              "scheduler": scheduler if scheduler is None or isinstance(scheduler, str) else "custom",
              "noise": schedule.to_list() if schedule is not None else None,
              "early_stopping": early_stopping, "monitor": monitor, "world_size": dist.world}
    val = _eval_loader(val_loader, dist)
    bar_on = progress and dist.main

    def validate(epoch: int) -> Dict[str, Any]:
        if val is None:
            return {}
        scores = _evaluate(model, val, val_names, horizon, objective, dev, amp_ctx, dist,
                           progress=bar_on, desc=f"val {epoch}")
        return {f"val_{k}": v for k, v in scores.items()}

    def checkpoint(epoch: int, step: int, best: Optional[float], best_epoch: Optional[int], bad: int,
                   stopped: bool, opt=None, sched=None, scaler=None) -> Dict[str, Any]:
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": epoch, "step": step,
                "model": model.state_dict(),
                "optimizer": opt.state_dict() if opt is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": _rng_state(), "best_score": best, "best_epoch": best_epoch, "bad_epochs": bad,
                "stopped_early": stopped, "history": _jsonable(result.history), "monitor": monitor,
                "mode": mode, "spec": spec, "config": _jsonable(config), "meta": _jsonable(meta)}

    # ------------------------------------------------ non-trainable models
    if not trainable:
        start = time.perf_counter()
        record = {"epoch": 0, "step": 0, "lr": None, "noise_std": 0.0, "train_loss": None}
        record.update(validate(0))
        record["time"] = time.perf_counter() - start
        result.history.append(record)
        score = record.get(monitor)
        if isinstance(score, float) and not math.isnan(score):
            result.best_epoch, result.best_score = 0, score
        if out is not None and dist.main:
            log.reset(result.history)
            ckpt = checkpoint(0, 0, result.best_score, result.best_epoch, 0, False)
            atomic_save(ckpt, out / LAST)
            atomic_save(ckpt, out / BEST)
            atomic_write_text(json.dumps(result.to_dict(), indent=2) + "\n", out / RESULT_FILE)
        dist.barrier()
        return result

    # ------------------------------------------------------------- set-up
    loader, sampler = _train_loader(train_loader, seed, dist)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _make_optimizer(optimizer, params, lr, weight_decay)
    sched = _make_scheduler(scheduler, opt, epochs, scheduler_kwargs)
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None

    start_epoch, step, best, best_epoch, bad, stopped = 0, 0, None, None, 0, False
    ckpt_path: Optional[Path] = None
    if resume is True:
        if (out / LAST).is_file():
            ckpt_path = out / LAST
        elif dist.main:
            warnings.warn(f"fit: resume=True but there is no '{out / LAST}'; starting a new run")
    elif resume not in (None, False):
        ckpt_path = _resolve_checkpoint(resume)
    if ckpt_path is not None:
        ckpt = load_checkpoint(ckpt_path, map_location=dev)
        try:
            model.load_state_dict(ckpt["model"])
        except RuntimeError as e:
            raise ValueError(f"fit: checkpoint '{ckpt_path}' does not fit this model "
                             f"({type(model).__name__}): {e}") from None
        if ckpt.get("optimizer") is not None:
            opt.load_state_dict(ckpt["optimizer"])
        if sched is not None and ckpt.get("scheduler") is not None:
            sched.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler") is not None:
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        start_epoch, step = int(ckpt["epoch"]), int(ckpt["step"])
        best, best_epoch = ckpt.get("best_score"), ckpt.get("best_epoch")
        bad, stopped = int(ckpt.get("bad_epochs", 0)), bool(ckpt.get("stopped_early", False))
        result.history = list(ckpt.get("history") or [])
        for key in ("objective", "seed", "world_size"):
            old = (ckpt.get("config") or {}).get(key)
            if old is not None and old != config[key] and dist.main:
                warnings.warn(f"fit: resuming a run whose '{key}' was {old!r} with {key}={config[key]!r}")
        if log is not None and dist.main:
            log.reset(result.history)  # drop lines of epochs after the checkpoint
    elif log is not None and dist.main:
        log.reset([])

    step_module: nn.Module = _Step(model)
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP
        # Types absent from a batch leave their RNNs unused: find_unused_parameters.
        step_module = DDP(step_module, device_ids=[dev.index] if dev.type == "cuda" else None,
                          find_unused_parameters=True)
    runner = torch.compile(step_module) if compile else step_module

    # --------------------------------------------------------------- loop
    for epoch in range(start_epoch, epochs):
        if stopped:
            break
        t0 = time.perf_counter()
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        weight_sum = torch.zeros((), dtype=torch.float64, device=dev)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not bar_on,
                   dynamic_ncols=True)
        std = 0.0
        for i, batch in enumerate(bar):
            batch = batch.to(dev)
            std = schedule(step) if schedule is not None else 0.0
            with amp_ctx():
                loss, weight = _train_loss(runner, batch, objective, horizon, std, classification, gaussian)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if grad_clip is not None:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                if grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, grad_clip)
                opt.step()
            step += 1
            loss_sum += loss.detach().double() * weight.double()
            weight_sum += weight.double()
            if i % 10 == 0:  # a host sync: not at every step
                running = float(loss_sum / weight_sum.clamp_min(1))
                if not math.isfinite(running):
                    raise FloatingPointError(f"fit: the training loss became {running} at epoch "
                                             f"{epoch + 1}, batch {i} (step {step}); lower 'lr' or set "
                                             f"'grad_clip'")
                if bar_on:
                    bar.set_postfix(loss=f"{running:.4g}")
        bar.close()
        totals = dist.all_reduce(torch.stack([loss_sum, weight_sum]))
        record: Dict[str, Any] = {"epoch": epoch + 1, "step": step, "lr": _current_lr(opt),
                                  "noise_std": std, "train_loss": float(totals[0] / totals[1].clamp_min(1))}
        record.update(validate(epoch + 1))
        score = record.get(monitor)
        if sched is not None:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched.step(score if mode == "min" else -score)
            else:
                sched.step()
        improved = isinstance(score, float) and _better(score, best, mode)
        if improved:
            best, best_epoch, bad = score, epoch + 1, 0
        else:
            bad += 1
        stopped = early_stopping is not None and bad >= early_stopping
        record["time"] = time.perf_counter() - t0
        result.history.append(record)
        if out is not None and dist.main:
            log.append(record)
            ckpt = checkpoint(epoch + 1, step, best, best_epoch, bad, stopped, opt, sched, scaler)
            atomic_save(ckpt, out / LAST)
            if improved:
                atomic_save(ckpt, out / BEST)
        dist.barrier()
        if bar_on:
            shown = {k: v for k, v in record.items() if isinstance(v, float) and k not in ("time", "lr")}
            tqdm.write(f"epoch {epoch + 1}/{epochs}: " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
                       + f"  ({record['time']:.1f} s)" + ("  *" if improved else ""))
        for cb in callbacks:
            cb(record)

    result.best_score, result.best_epoch = best, best_epoch
    result.epochs_run = int(result.history[-1]["epoch"]) if result.history else 0
    result.stopped_early = stopped
    if restore_best and best_epoch is not None and out is not None and (out / BEST).is_file():
        dist.barrier()
        model.load_state_dict(load_checkpoint(out / BEST, map_location=dev)["model"])
    elif restore_best and out is None:
        warnings.warn("fit: 'restore_best' needs 'out_dir' (where best.pt is kept); keeping the last weights")
    if out is not None and dist.main:
        atomic_write_text(json.dumps(result.to_dict(), indent=2) + "\n", out / RESULT_FILE)
    return result
