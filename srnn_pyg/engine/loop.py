r"""The training loop: :func:`fit`.

One call of :func:`fit` is one :class:`_Run`: it resolves the device and the
process group, prepares the model (lazy parameters, head, metrics), restores
a checkpoint when resuming, then trains epoch by epoch: batches through
:func:`~srnn_pyg.engine.objectives.batch_loss` (the model's head gives the
loss), an optimiser step with gradient clipping and the AMP scaler, then
validation (:func:`~srnn_pyg.engine.evaluation.score_loader`), the scheduler,
early stopping, ``metrics.jsonl`` and the ``last.pt``/``best.pt``
checkpoints, written atomically.

Guarantees: a run whose loss or weights become NaN or infinite stops with a
:class:`TrainingDivergedError` (a :class:`FloatingPointError`) naming the
epoch and step, before any checkpoint is written with such weights, so
``last.pt`` and ``best.pt`` keep the last finite epoch. A resume refuses, in
one line naming the differing keys, a checkpoint of another model (registry
name, constructor arguments, schema, parameter shapes), optimiser or scheduler.
"""
from __future__ import annotations

import copy
import gc
import json
import math
import numbers
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..nn.heads import DeterministicHead, head_of, weighted_mean
from .checkpoints import (BEST, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, LAST, METRICS_FILE, RESULT_FILE,
                          load_checkpoint, model_record, read_weights, record_differences,
                          resumes_in, state_differences, write_checked)
from .config import TrainConfig, make_config
from .device import amp_context, resolve_device
from .distributed import DistContext, eval_loader, setup_distributed, train_loader
from ..loader import OneHopLoader
from .evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS, collect, default_metrics, score_loader
from .files import MetricsLog, atomic_write_text, remove_stale_temps, to_jsonable, write_error
from .noise import as_noise_schedule
from .objectives import (StepModule, batch_loss, check_loader, default_objective, feedback_of, materialize,
                         peek_classification)
from .optim import (apply_new_rates, current_lr, is_better, make_optimizer, make_scheduler, monitor_direction,
                    step_scheduler, stretch_schedule)
from .result import FitResult
from .runfolder import (RUN_FILES, check_init_from, config_record, files_to_replace, plain_record, reconcile_best,
                        hand_history, remove_run, resume_path, selection_changed)
from .rng import kept_rng, rng_state, seed_everything, set_rng_state
from .tbptt import check_tbptt, tbptt_batch, truncated_gradient

__all__ = ["fit", "TrainingDivergedError"]


class TrainingDivergedError(FloatingPointError):
    """:func:`fit` stopped because the training loss or the weights became NaN
    or infinite; the checkpoints on disk still hold the last finite epoch."""


def fit(model: nn.Module, train_loader: DataLoader, val_loader: Optional[DataLoader] = None,
        config: Optional[TrainConfig] = None, **overrides: Any) -> FitResult:
    r"""Train ``model`` in place and return its :class:`FitResult`.

    .. code-block:: python

        result = fit(model, train_loader, val_loader, TrainConfig(epochs=10, out_dir="runs/srnn"))
        result = fit(model, train_loader, val_loader, epochs=10)       # the same, by keywords

    Args:
        model: a :class:`~srnn_pyg.models.Forecaster` (or any module with
            ``forward``/``forecast``); a model with ``trainable = False`` is
            only evaluated. Its loss comes from its head
            (:func:`~srnn_pyg.nn.heads.head_of`).
        train_loader (DataLoader): training batches of windows. With
            ``shuffle=True`` the order of each epoch is a function of
            ``seed`` and the epoch (so a resumed run sees the same batches);
            under DDP it is replaced by a :class:`DistributedSampler` (for a
            :class:`~srnn_pyg.loader.OneHopLoader`, by a
            :class:`~srnn_pyg.engine.distributed.ShardSampler` of its seeds).
        val_loader (DataLoader, optional): validation batches, evaluated with
            :func:`~srnn_pyg.engine.evaluate` after every epoch (``val_*``
            keys).
        config (TrainConfig, optional): the options; see :class:`TrainConfig`
            for every field and its default.
        **overrides: :class:`TrainConfig` fields that replace the config's
            (or, without a config, build it: ``fit(model, tl, vl, epochs=3)``).

    Returns:
        FitResult
    """
    config = make_config(config, overrides, val_loader)
    config = config.replace(objective=default_objective(model)) if config.objective == "auto" else config
    trainable = bool(getattr(model, "trainable", True))
    if trainable and config.objective == "teacher_forcing" and not getattr(model, "has_forward", True):
        raise ValueError(f"fit: {type(model).__name__} has no one-step-ahead forward (has_forward=False), "
                         f"so objective='teacher_forcing' does not apply (got it); use 'rollout'")
    if not trainable and config.objective == "teacher_forcing" and not getattr(model, "has_forward", True):
        config = config.replace(objective="rollout")     # nothing to train: it is only scored on forecasts
    dist = setup_distributed(config.distributed, config.device)
    run = None
    try:
        with truncated_gradient(model, config):     # Theano's truncation in the cells, for this run only
            run = _Run(model, train_loader, val_loader, config, dist, trainable)
            return run.train() if run.trainable else run.evaluate_only()
    finally:
        if run is not None and dist.enabled:  # free DDP's Reducer before its process group: freed after, it
            run.runner = None                   # deadlocked Gloo's teardown now and then (a rank never exited)
            failing = sys.exc_info()[1]         # an error's traceback frames hold the wrapper too: clear them
            if failing is not None and failing.__traceback__ is not None:
                traceback.clear_frames(failing.__traceback__.tb_next)
            gc.collect()
        dist.close()


class _Run:
    """The state of one :func:`fit` call: set-up, then epochs, then the end.

    Training state that a checkpoint saves and a resume restores:
    ``epoch``, ``step``, ``best``, ``best_epoch``, ``bad`` (epochs without
    improvement), ``stopped`` and the optimiser, scheduler, scaler and RNGs.
    """

    def __init__(self, model: nn.Module, train: DataLoader, val: Optional[DataLoader], config: TrainConfig,
                 dist: DistContext, trainable: bool):
        self.model, self.train_source, self.config, self.dist = model, train, config, dist
        self.dev = resolve_device(config.device, dist.local_rank if dist.enabled else None)
        if self.dev.type == "cuda" and self.dev.index is not None:
            torch.cuda.set_device(self.dev)
        if config.amp and self.dev.type != "cuda":
            warnings.warn(f"fit: 'amp={config.amp!r}' needs CUDA; training on {self.dev} in full precision")
        self.amp_ctx, self.use_scaler = amp_context(self.dev, config.amp)
        self.schedule = as_noise_schedule(config.noise)
        self.bar_on = config.progress and dist.main
        seed_everything(config.seed)
        model.to(self.dev)
        self.trainable = trainable and self._has_parameters(train)
        self.classification = peek_classification(train, "fit: 'train_loader'")
        if val is not None:
            check_loader(val, "fit: 'val_loader'", nonempty=True)
        self._check_task()
        self.head = head_of(model, classification=self.classification)
        self.own_loss = getattr(self.head, "loss_kind", None)       # the head's own point loss (None: not one)
        if config.loss is not None and isinstance(self.head, DeterministicHead):
            self.head = DeterministicHead(self.head.out_channels, loss=config.loss, huber_delta=self.head.huber_delta)
        elif config.loss is not None and dist.main:
            warnings.warn(f"fit: loss={config.loss!r} is the point loss of a deterministic head; this model's "
                          f"{type(self.head).__name__} trains by its own loss, so it is not used")
        self.feedback = feedback_of(model)
        self._choose_metrics(val is not None, one_hop=isinstance(val, OneHopLoader))
        self.val, self.val_full = eval_loader(val, dist), val
        start = config.validate_start
        if start is None:
            start = config.init_from is not None and val is not None
        if start and val is None:
            raise ValueError("fit: 'validate_start=True' validates the starting weights, so it needs a "
                             "val_loader (got None)")
        if start and self.monitor == "train_loss":
            raise ValueError("fit: 'validate_start' makes the starting weights a candidate for the best epoch, "
                             "but monitor='train_loss' has no value before training; monitor a validation key")
        self.start_validated = bool(start)
        check_init_from(config)
        self._prepare_output()
        self.epoch, self.step, self.best, self.best_epoch, self.bad, self.stopped = 0, 0, None, None, 0, False
        self.warned_not_finite, self.best_ahead = False, None
        self.opt = self.sched = self.scaler = None

    # ------------------------------------------------------------ set-up
    def _has_parameters(self, train: DataLoader) -> bool:
        materialize(self.model, train, self.dev)
        if not any(p.requires_grad for p in self.model.parameters()):
            warnings.warn(f"fit: {type(self.model).__name__} has no trainable parameters; evaluating only")
            return False
        return True

    def _check_task(self) -> None:
        if self.classification and self.config.objective == "rollout":
            raise ValueError("fit: objective='rollout' forecasts values, but the targets are class labels "
                             "(long 'y'); classification trains the per-step logits of forward()")
        if self.classification and not getattr(self.model, "has_forward", True):
            raise ValueError(f"fit: classification needs per-step logits from forward(), which "
                             f"{type(self.model).__name__} does not have")

    def _choose_metrics(self, has_val: bool, one_hop: bool = False) -> None:
        c = self.config
        names = list(c.metrics) if c.metrics is not None else default_metrics(self.model, self.classification)
        if one_hop and c.metrics is None and not self.classification and c.objective == "teacher_forcing":
            names = [n for n in names if n in ("loss", "tf_mse")]   # a rollout is not exact on one-hop batches
        if has_val and "loss" not in names:
            names = ["loss"] + names
        self.val_names = names
        self.monitor = c.monitor if c.monitor is not None else ("val_loss" if has_val else "train_loss")
        self.mode = monitor_direction(self.monitor, c.monitor_mode)
        if c.val_score is not None and not has_val:
            raise ValueError("fit: 'val_score' scores the validation loader, but 'val_loader' is None")
        if c.val_score is not None and one_hop:
            raise ValueError("fit: 'val_score' needs whole-graph validation batches: a rollout on a OneHopLoader's "
                             "batches is not exact (validate on a DataLoader of the windows)")
        allowed = {"train_loss"} | ({f"val_{n}" for n in names} if has_val else set())
        # A key of val_score's dict is known after the first validation pass, which checks it; a metric of
        # evaluate's that this run does not score is an error now.
        builtin = self.monitor[len("val_"):] in (CLASSIFICATION_METRICS if self.classification else REGRESSION_METRICS)
        if builtin and self.monitor.endswith("_per_step"):
            raise ValueError(f"fit: 'monitor' must name a single number per epoch (expected e.g. 'val_mse'), but "
                             f"{self.monitor!r} is a list, one value per horizon step (got {self.monitor!r})")
        self.monitor_from_score = c.val_score is not None and self.monitor not in allowed \
            and self.monitor.startswith("val_") and not builtin
        if self.monitor not in allowed and not self.monitor_from_score:
            if builtin and has_val:
                raise ValueError(f"fit: 'monitor' is {self.monitor!r}, evaluate's metric "
                                 f"{self.monitor[len('val_'):]!r}, which this run does not score: add it to "
                                 f"'metrics' (now {names}; a val_score key may not reuse a metric's name)")
            extra = " or 'val_' and a key of val_score's dict" if c.val_score is not None else ""
            raise ValueError(f"fit: 'monitor' must be one of {sorted(allowed)}{extra} (got {self.monitor!r})")

    def _prepare_output(self) -> None:
        c, main = self.config, self.dist.main
        self.out = Path(c.out_dir) if c.out_dir is not None else None
        held = [n for n in RUN_FILES if self.out is not None and (self.out / n).exists()]
        held = self.dist.broadcast_object(held) if self.out is not None else held    # rank 0's view, on every rank
        # the old run goes when the new one writes its first epoch (open_files): not if a set-up check fails
        self.replaced, self.files_open = files_to_replace(self.out, held, c.resume, c.overwrite), False
        if self.out is not None and main:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise write_error(self.out, exc, "create the run folder") from exc
            remove_stale_temps(self.out, (LAST, BEST, METRICS_FILE, RESULT_FILE))
        try:
            self.record = model_record(self.model)
        except ValueError as e:
            self.record = None
            if self.out is not None and main:
                warnings.warn(f"fit: load_model() will not rebuild this model from the checkpoints: {e}")
        self.result = FitResult(monitor=self.monitor, mode=self.mode, model_record=self.record,
                                out_dir=str(self.out) if self.out is not None else None)
        self.log = MetricsLog(self.out / METRICS_FILE) if self.out is not None and main else None
        self.config_record = config_record(c, self.schedule, self.monitor, self.mode, self.dist.world,
                                           self.start_validated)

    def open_files(self) -> None:
        """Before the run's first write (rank 0): the run it replaces goes,
        and ``metrics.jsonl`` is rewritten from the history (a resume drops
        the lines of epochs after its checkpoint)."""
        if self.files_open or self.out is None or not self.dist.main:
            return
        remove_run(self.out, self.replaced)
        self.log.reset(self.result.history)
        self.files_open = True

    # ------------------------------------------------------ checkpoints
    def validate(self, epoch: int) -> Dict[str, Any]:
        if self.val is None:
            return {}
        scores = score_loader(self.model, self.val, self.val_names, horizon=self.config.horizon,
                              objective=self.config.objective, device=self.dev, amp_ctx=self.amp_ctx,
                              dist=self.dist, progress=self.bar_on, desc=f"val {epoch}", head=self.head)
        record = {f"val_{k}": v for k, v in scores.items()}
        if self.config.val_score is not None:
            record.update(self.protocol_scores(record))
        return record

    def protocol_scores(self, record: Dict[str, Any]) -> Dict[str, float]:
        """``val_score`` of :func:`collect`'s output over the whole validation
        loader, forecasting the windows' whole horizon (the protocol's own,
        whatever ``horizon`` trains), in full precision. Rank 0 scores and
        broadcasts the result (or its error, raised on every process), so
        under DDP every process reads the same values. Every RNG state is
        left as it was: recording a score never changes training."""
        error, scores = None, None
        if self.dist.main:
            try:
                scores = self._score_now(record)
            except Exception as e:      # noqa: BLE001  re-raised below, after the other processes heard of it
                if not self.dist.enabled:
                    raise
                error = e
        payload = self.dist.broadcast_object(("error", f"{type(error).__name__}: {error}") if error is not None
                                             else ("ok", scores))
        if error is not None:
            raise error
        if payload[0] == "error":
            raise RuntimeError(f"fit: 'val_score' failed on rank 0 ({payload[1]})")
        return payload[1]

    def _score_now(self, record: Dict[str, Any]) -> Dict[str, float]:
        was_training = self.model.training
        try:
            with kept_rng():
                collected = collect(self.model, self.val_full, device=self.dev)
        finally:
            self.model.train(was_training)
        out = self.config.val_score(collected)
        if not isinstance(out, Mapping):
            raise TypeError(f"fit: 'val_score' must return a dict of name -> number (got {type(out).__name__})")
        scores: Dict[str, float] = {}
        for key, value in out.items():
            if isinstance(value, Tensor) and value.numel() == 1:
                value = value.item()
            elif isinstance(value, np.ndarray) and value.size == 1:
                value = value.item()
            if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"fit: 'val_score' must return a dict of str -> number (got {key!r}: {value!r})")
            name = f"val_{key}"
            if name in record:
                raise ValueError(f"fit: 'val_score' returned {key!r}, which the validation metric {name!r} "
                                 f"already records; rename it")
            scores[name] = float(value)
        if self.monitor_from_score and self.monitor not in scores:
            raise ValueError(f"fit: 'monitor' is {self.monitor!r}, but 'val_score' returned no "
                             f"{self.monitor[len('val_'):]!r} (its keys: {sorted(out)})")
        return scores

    def checkpoint(self) -> Dict[str, Any]:
        """Everything a resume needs, as tensors and plain data."""
        def state(obj):
            return obj.state_dict() if obj is not None else None
        return {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "epoch": self.epoch,
                "step": self.step, "model": self.model.state_dict(), "model_record": self.record,
                "optimizer": state(self.opt), "scheduler": state(self.sched), "scaler": state(self.scaler),
                "rng": rng_state(), "best_score": self.best, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad, "stopped_early": self.stopped,
                "history": to_jsonable(self.result.history), "monitor": self.monitor, "mode": self.mode,
                "config": to_jsonable(self.config_record), "meta": to_jsonable(self.config.meta)}

    def save_epoch(self, record: Dict[str, Any], improved: bool, again: bool = False) -> None:
        """The epoch's line of ``metrics.jsonl`` and its checkpoints (``best.pt``
        first: a crash before ``last.pt`` leaves a ``best.pt`` at least as new
        as its best epoch); ``again``: rewritten with what the callbacks added."""
        self.log.reset(self.result.history) if again else self.log.append(record)
        ckpt = self.checkpoint()
        if improved:
            write_checked(ckpt, self.out / BEST)
        write_checked(ckpt, self.out / LAST)

    def write_result(self) -> None:
        if self.out is not None and self.dist.main:
            atomic_write_text(json.dumps(self.result.to_dict(), indent=2) + "\n", self.out / RESULT_FILE)

    def restore(self, path: Path) -> None:
        """Load the training state of the checkpoint at ``path``."""
        ckpt = load_checkpoint(path, map_location=self.dev)
        self.check_resume(path, ckpt)
        if self.config.epochs < int(ckpt["epoch"]):
            raise ValueError(f"fit: 'epochs' is the total, and the checkpoint '{path}' has trained "
                             f"{int(ckpt['epoch'])}: pass epochs >= {int(ckpt['epoch'])} to resume it "
                             f"(got {self.config.epochs})")
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError:
            raise ValueError(f"fit: checkpoint '{path}' does not fit this model "
                             f"({type(self.model).__name__}): its weights are of another kind") from None
        for obj, key in ((self.opt, "optimizer"), (self.sched, "scheduler"), (self.scaler, "scaler")):
            if obj is not None and ckpt.get(key) is not None:
                try:
                    obj.load_state_dict(ckpt[key])
                except (ValueError, KeyError, RuntimeError, TypeError) as e:
                    raise ValueError(f"fit: the {key} state in '{path}' does not fit this run's {key} "
                                     f"({type(e).__name__}: {str(e)[:200]})") from None
        changed = apply_new_rates(self.opt, self.sched, self.config, ckpt.get("config") or {})
        stretched = stretch_schedule(self.sched, self.config, ckpt.get("config") or {})
        changed += [stretched] if stretched else []
        if changed and self.dist.main:
            warnings.warn("fit: resuming with other rates or epochs than the checkpoint's: " + "; ".join(changed))
        set_rng_state(ckpt["rng"])
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.best, self.best_epoch = ckpt.get("best_score"), ckpt.get("best_epoch")
        self.bad, self.stopped = int(ckpt.get("bad_epochs", 0)), bool(ckpt.get("stopped_early", False))
        self.result.history = list(ckpt.get("history") or [])
        hand_history(self.config.callbacks, self.result.history)   # loggers catch up with the checkpoint's epochs
        for key in ("objective", "loss", "seed", "world_size", "tbptt", "truncate_gradient"):
            old = (ckpt.get("config") or {}).get(key)
            if old is not None and old != self.config_record[key] and self.dist.main:
                warnings.warn(f"fit: resuming a run whose '{key}' was {old!r} with "
                              f"{key}={self.config_record[key]!r}")
        # The best score so far was another quantity (or direction): the next epoch starts the new selection,
        # for early stopping and best.pt as for a plateau scheduler.
        old = selection_changed(ckpt.get("config") or {}, self.monitor, self.mode, self.own_loss, self.config.loss)
        if old is not None:
            self.best, self.best_epoch, self.bad, self.stopped = None, None, 0, False
            plateau = isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
            if plateau:
                self.sched.best, self.sched.num_bad_epochs = self.sched.mode_worse, 0
                self.sched.cooldown_counter = 0
            if self.dist.main:
                warnings.warn(f"fit: resuming a run that selected on {old[0]!r} ({old[1]}) with "
                              f"monitor={self.monitor!r} ({self.mode}): its best epoch so far is forgotten"
                              + (", so is the plateau scheduler's," if plateau else ",")
                              + " and best.pt is rewritten from the next epoch on")
        self.resume_stopped(ckpt)
        if self.out is not None and self.best_epoch is not None:
            self.check_best_file(path, ckpt)

    def resume_stopped(self, ckpt: Dict[str, Any]) -> None:
        """Early stopping on resume counts the checkpoint's epochs without
        improvement against this run's ``early_stopping``: a run that stopped
        early goes on with a larger patience (or none), and says so when it
        does not."""
        patience, saved = self.config.early_stopping, (ckpt.get("config") or {}).get("early_stopping")
        was, self.stopped = self.stopped, patience is not None and self.bad >= patience
        if (was or self.stopped) and self.dist.main and self.epoch < self.config.epochs:   # or a smaller patience
            warnings.warn(f"fit: the run in the checkpoint {'stopped early' if was else 'was'} at epoch {self.epoch} "
                          f"({self.bad} epoch(s) without improvement, early_stopping={saved!r}); " + (
                              f"with early_stopping={patience!r} it goes on" if not self.stopped else
                              f"with early_stopping={patience!r} nothing is trained: pass a larger "
                              f"'early_stopping' (or None) to go on"))

    def load_start(self, source: Any) -> None:
        """The weights of checkpoint ``source`` (``init_from``: a training
        checkpoint or a ``save_model`` file), for a new run."""
        try:
            ckpt = read_weights(source, map_location=self.dev)
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f"fit: 'init_from' ({str(source)!r}): {e}") from None
        path = ckpt["path"]
        diffs = record_differences(ckpt.get("model_record"), self.record)
        state = ckpt.get("model")
        if not isinstance(state, dict):
            diffs.append("model (no weights in the file)")
        elif not diffs:
            diffs = [f"weights: {d}" for d in state_differences(self.model.state_dict(), state)]
        if diffs:
            raise ValueError(f"fit: cannot start from '{path}' (init_from): it differs from this run in "
                             f"{'; '.join(diffs)} (saved vs current); start from a checkpoint of this model")
        self.model.load_state_dict(state)
        self.config_record["init_from"] = str(path)     # the file read (a folder's best.pt or last.pt)

    def validate_start(self) -> None:
        """Epoch 0: the starting weights on the validation loader, eligible as
        the best epoch (``validate_start``). Every generator is left as it
        was, so the epochs after it train as they would without it."""
        started = time.perf_counter()
        with kept_rng():
            record = {"epoch": 0, "step": 0, "lr": current_lr(self.opt), "noise_std": 0.0, "train_loss": None}
            record.update(self.validate(0))
        self.end_epoch(record, started, start=True)

    def check_resume(self, path: Path, ckpt: Dict[str, Any]) -> None:
        """Refuse a checkpoint of another model, optimiser or scheduler, in one line."""
        diffs = record_differences(ckpt.get("model_record"), self.record)
        for key in ("optimizer", "scheduler"):
            old, new = (ckpt.get("config") or {}).get(key, self.config_record[key]), self.config_record[key]
            if old != new:
                diffs.append(f"{key} ({old!r} vs {new!r})" + (" (a run of the 0.2 paper recipe: resume it with "
                             "optimizer='sgd', tbptt=10)" if (old, new) == ("sgd", "momentum") else ""))
        model_state = ckpt.get("model")
        if not isinstance(model_state, dict):
            diffs.append("model (no weights in the file)")
        elif not diffs:
            diffs = [f"weights: {d}" for d in state_differences(self.model.state_dict(), model_state)]
        if diffs:
            raise ValueError(f"fit: cannot resume from '{path}': it differs from this run in "
                             f"{'; '.join(diffs)} (saved vs current); resume with the same model and "
                             f"optimizer, or start a new run")

    def diverged(self, epoch: int, what: str) -> TrainingDivergedError:
        kept = (f"'{self.out / LAST}' still holds epoch {self.epoch}" if self.out is not None and self.result.history
                else "no checkpoint was written for it")
        return TrainingDivergedError(
            f"fit: training diverged at epoch {epoch + 1}, step {self.step}: {what}; {kept}. Lower 'lr' "
            f"(now {self.config.lr:g}) or set a smaller 'grad_clip' (now {self.config.grad_clip})")

    def check_weights(self, epoch: int) -> None:
        """Raise :class:`TrainingDivergedError` if a weight is NaN or infinite
        (one host sync)."""
        params = [p for p in self.params if p.is_floating_point()]
        if not params:
            return
        finite = torch.stack([torch.isfinite(p).all() for p in params])
        if not bool(finite.all()):
            names = {id(p): n for n, p in self.model.named_parameters()}
            bad = [names.get(id(p), "?") for p, ok in zip(params, finite.tolist()) if not ok]
            raise self.diverged(epoch, f"weights became NaN or infinite ({', '.join(bad[:3])}"
                                       f"{', ...' if len(bad) > 3 else ''})")

    # --------------------------------------------------- evaluation only
    def evaluate_only(self) -> FitResult:
        """A model without parameters to fit: one evaluation, as epoch 0."""
        if self.config.init_from is not None:           # frozen weights: scored as the checkpoint has them
            self.load_start(self.config.init_from)
        start = time.perf_counter()
        record = {"epoch": 0, "step": 0, "lr": None, "noise_std": 0.0, "train_loss": None}
        record.update(self.validate(0))
        record["time"] = time.perf_counter() - start
        self.result.history.append(record)
        score = record.get(self.monitor)
        if isinstance(score, float) and math.isfinite(score):
            self.best_epoch, self.best = 0, score
            self.result.best_epoch, self.result.best_score = 0, score
        if self.out is not None and self.dist.main:
            self.open_files()
            ckpt = self.checkpoint()
            write_checked(ckpt, self.out / BEST)
            write_checked(ckpt, self.out / LAST)
            self.write_result()
        self.dist.barrier()
        return self.result

    # ----------------------------------------------------------- training
    def setup_training(self) -> None:
        c = self.config
        check_tbptt(self.model, c, self.classification, self.dist.enabled)
        self.loader, self.sampler = train_loader(self.train_source, c.seed, self.dist)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = make_optimizer(c, self.params)
        self.sched = make_scheduler(c, self.opt)
        self.scaler = torch.amp.GradScaler("cuda") if self.use_scaler else None
        path = resume_path(self.config.resume, self.out, self.dist.main)
        if path is not None:
            self.restore(path)
        else:                           # a new run: no epoch before it (a logger drops a replaced run's rows)
            hand_history(c.callbacks, [])
            if c.init_from is not None:
                self.load_start(c.init_from)
        step_module: nn.Module = StepModule(self.model)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP
            # Types absent from a batch leave their RNNs unused: find_unused_parameters.
            step_module = DDP(step_module, device_ids=[self.dev.index] if self.dev.type == "cuda" else None,
                              find_unused_parameters=True)
        self.runner = torch.compile(step_module) if c.compile else step_module

    def optimizer_step(self, loss: Tensor) -> None:
        clip = self.config.grad_clip
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip is not None:
                self.scaler.unscale_(self.opt)
                torch.nn.utils.clip_grad_norm_(self.params, clip)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(self.params, clip)
            self.opt.step()
        self.step += 1
        if getattr(self.sched, "per_iteration", False):
            self.sched.step()

    def train_epoch(self, epoch: int) -> Dict[str, Any]:
        """One pass over the training loader; the epoch's record so far."""
        c = self.config
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        self.model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.dev)
        weight_sum = torch.zeros((), dtype=torch.float64, device=self.dev)
        bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{c.epochs}", leave=False, disable=not self.bar_on,
                   dynamic_ncols=True)
        std = 0.0
        i = -1
        for i, batch in enumerate(bar):
            batch = batch.to(self.dev)
            std = self.schedule(self.step) if self.schedule is not None else 0.0
            if c.tbptt is not None:     # chunk by chunk, one optimiser step per chunk (engine/tbptt.py)
                s, w = tbptt_batch(self.model, self.head, batch, c.tbptt, std, self.classification,
                                   self.feedback, self.amp_ctx, self.optimizer_step, c.noise_p,
                                   c.node_type_loss)
                loss_sum += s
                weight_sum += w
            else:
                with self.amp_ctx():
                    loss, weight = batch_loss(self.runner, self.head, batch, c.objective, c.horizon, std,
                                              self.classification, self.feedback, c.noise_p, c.node_type_loss)
                self.optimizer_step(loss)
                loss_sum += loss.detach().double() * weight.double()
                weight_sum += weight.double()
            if i % 10 == 0:  # a host sync: not at every step
                running = float(weighted_mean(loss_sum, weight_sum))
                if not math.isfinite(running):
                    raise self.diverged(epoch, f"the training loss became {running} (batch {i})")
                if self.bar_on:
                    bar.set_postfix(loss=f"{running:.4g}")
        bar.close()
        if i < 0:                       # nothing trained: a train_loss of 0 would pass for a perfect epoch
            raise ValueError(f"fit: 'train_loader' yielded no batch in epoch {epoch + 1} (drop_last=True?)")
        totals = self.dist.all_reduce(torch.stack([loss_sum, weight_sum]))
        train_loss = float(weighted_mean(totals[0], totals[1]))
        if not math.isfinite(train_loss):
            raise self.diverged(epoch, f"the training loss became {train_loss}")
        self.check_weights(epoch)                       # before any checkpoint holds these weights
        return {"epoch": epoch + 1, "step": self.step, "lr": current_lr(self.opt), "noise_std": std,
                "train_loss": train_loss}

    def end_epoch(self, record: Dict[str, Any], started: float, start: bool = False) -> None:
        """Validation, scheduler, best score, early stopping, log, checkpoints
        and callbacks for the epoch just trained (``start``: epoch 0, the
        starting weights, already validated; no scheduler step and no
        early-stopping count)."""
        c, epoch = self.config, record["epoch"]
        if not start:
            record.update(self.validate(epoch))
        score = record.get(self.monitor)
        if isinstance(score, float) and not math.isfinite(score) and not self.warned_not_finite:
            self.warned_not_finite = True
            warnings.warn(f"fit: the monitored {self.monitor!r} is {score} at epoch {epoch}, not a finite number; "
                          f"such an epoch is never the best (no best.pt comes from it)")
        improved = isinstance(score, float) and math.isfinite(score) and is_better(score, self.best, self.mode)
        if epoch == self.best_ahead and not improved and not start:
            improved = self.forget_best(f"'{self.out / BEST}' held epoch {epoch} of the run before it stopped, "
                                        f"which this epoch did not reproduce", score)
        self.best_ahead = None
        if not start:
            step_scheduler(self.sched, score, self.mode)
        elif improved and isinstance(self.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            # the start is the plateau's reference too (as it is early stopping's), without a scheduler step
            self.sched.best = score if self.mode == "min" else -score
        if improved:
            self.best, self.best_epoch, self.bad = score, epoch, 0
            if c.restore_best and self.out is None:     # no best.pt to reload: keep the weights in memory
                self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        elif not start:
            self.bad += 1
        self.stopped = c.early_stopping is not None and self.bad >= c.early_stopping
        self.epoch = epoch
        record["time"] = time.perf_counter() - started
        self.open_files()
        self.result.history.append(record)
        if self.out is not None and self.dist.main:
            self.save_epoch(record, improved)
        self.dist.barrier()
        before = copy.deepcopy(record)        # a callback may change a list in place
        for cb in c.callbacks:
            cb(record)
        plain_record(record)        # what the callbacks added: the next last.pt must read back
        if record != before and self.out is not None and self.dist.main:
            self.save_epoch(record, improved, again=True)      # and the files keep it from this epoch on
        if self.bar_on:         # after the callbacks: the line shows what they add (e.g. protocol scores)
            shown = {k: v for k, v in record.items() if isinstance(v, float) and k not in ("time", "lr")}
            tqdm.write(f"epoch {epoch}/{c.epochs}: " + "  ".join(f"{k} {v:.4g}" for k, v in shown.items())
                       + f"  ({record['time']:.1f} s)" + ("  *" if improved else ""))

    def train(self) -> FitResult:
        self.setup_training()
        if self.start_validated and self.epoch == 0 and not self.result.history:
            self.validate_start()
        for epoch in range(self.epoch, self.config.epochs):
            if self.stopped:
                break
            started = time.perf_counter()
            self.end_epoch(self.train_epoch(epoch), started)
        return self.finish()

    def finish(self) -> FitResult:
        r, out = self.result, self.out
        r.best_score, r.best_epoch, r.stopped_early = self.best, self.best_epoch, self.stopped
        r.epochs_run = int(r.history[-1]["epoch"]) if r.history else 0
        self.open_files()
        if self.config.restore_best and self.best_epoch is not None and out is not None:
            self.dist.barrier()
            self.restore_best_file()
        elif self.config.restore_best and out is None and getattr(self, "best_weights", None) is not None:
            self.model.load_state_dict(self.best_weights)
        self.write_result()
        return r

    def restore_best_file(self) -> None:
        """``restore_best``: the weights of ``best.pt``, refused (after
        ``result.json`` is written) if it holds another epoch than the best."""
        path = self.out / BEST
        held = load_checkpoint(path, map_location=self.dev) if path.is_file() else None
        if held is None or int(held["epoch"]) != self.best_epoch:
            self.write_result()
            found = f"holds epoch {int(held['epoch'])}" if held is not None else "is missing"
            raise ValueError(f"fit: 'restore_best' loads the best epoch (expected epoch {self.best_epoch}) from "
                             f"'{path}', but it {found}; the model keeps the weights of epoch {self.epoch}")
        self.model.load_state_dict(held["model"])

    def forget_best(self, why: str, score: Any = None) -> bool:
        """The best epoch so far is forgotten (its weights are in no file);
        ``best.pt`` is rewritten at the next best epoch. Whether ``score``
        (this epoch's) is now the best."""
        if self.dist.main:
            warnings.warn(f"fit: {why}; the best epoch so far ({self.best_epoch}) is forgotten and best.pt is "
                          f"rewritten from {'this' if score is not None else 'the next'} epoch on")
        self.best, self.best_epoch = None, None
        return isinstance(score, float) and math.isfinite(score)

    def check_best_file(self, path: Path, ckpt: Dict[str, Any]) -> None:
        """A resume: ``best.pt`` against the best epoch the checkpoint at
        ``path`` records (:func:`~srnn_pyg.engine.runfolder.reconcile_best`)."""
        own = resumes_in(self.config.resume, self.out)
        outcome = reconcile_best(self.out, ckpt, path, self.config.restore_best, own) if self.dist.main else None
        action, detail = self.dist.broadcast_object(outcome)
        if action == "error":
            raise ValueError(detail)
        if action == "forget":
            self.forget_best(detail)
        elif action == "ok" and not own:        # best.pt was written from the resumed run: it stays
            self.replaced = [n for n in self.replaced if n != BEST]
        self.best_ahead = detail if action == "ahead" else None
