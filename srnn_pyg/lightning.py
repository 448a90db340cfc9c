r"""Train the library's models with `PyTorch Lightning <https://lightning.ai>`_:
:class:`SRNNLightningModule` and :class:`STDataModule`.

Imported on demand (``import srnn_pyg.lightning``); it needs the extra
``pip install 'srnn_pyg[lightning]'``. The module trains exactly what
:func:`srnn_pyg.engine.fit` trains: the loss of every batch comes from
:func:`srnn_pyg.engine.objectives.batch_loss` (teacher forcing, rollout or
labels; the loss of the model's head, :func:`srnn_pyg.nn.heads.head_of`), the
optimiser and scheduler from :class:`~srnn_pyg.engine.TrainConfig`. The
Trainer does the rest (devices, precision, logging, checkpoints, early
stopping).

.. code-block:: python

    import lightning as L
    from srnn_pyg.engine import TrainConfig
    from srnn_pyg.lightning import SRNNLightningModule, STDataModule
    from srnn_pyg.models import StructuralRNN

    data = STDataModule.from_dataset("springs", batch_size=32)
    module = SRNNLightningModule(StructuralRNN(data.schema, 4, 4), TrainConfig(epochs=10, lr=3e-3))
    L.Trainer(max_epochs=10).fit(module, datamodule=data)
"""
from __future__ import annotations

import dataclasses
import inspect
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError as e:
        raise ImportError("srnn_pyg.lightning needs PyTorch Lightning, which is not installed; install the "
                          "extra: pip install 'srnn_pyg[lightning]'") from e
from torch_geometric.data.lightning import LightningDataset
from torchmetrics import MeanMetric  # a dependency of Lightning

from .data import pad_collate
from .engine.checkpoints import build_from_record, model_record
from .engine.config import TrainConfig
from .engine.noise import NoiseSchedule, as_noise_schedule
from .engine.objectives import batch_loss, default_objective, feedback_of, is_classification
from .engine.tbptt import truncated_gradient
from .engine.optim import make_optimizer, make_scheduler, monitor_direction, stretch_schedule
from .nn.heads import DeterministicHead, Head, head_of

__all__ = ["SRNNLightningModule", "STDataModule"]

# TrainConfig fields the Lightning module reads; the others are the Trainer's business.
_USED = ("objective", "loss", "horizon", "optimizer", "lr", "weight_decay", "scheduler", "scheduler_kwargs",
         "grad_clip", "noise", "monitor", "monitor_mode", "epochs", "truncate_gradient", "momentum", "noise_p",
         "node_type_loss")
_SCHEDULE_KEY = "srnn_pyg_schedule_epochs"      # checkpoint entry: the epochs the schedule spans
# TrainConfig fields of fit() that the Trainer (or its callbacks) replaces: set, they are not read here
_TRAINER_FIELDS = ("early_stopping", "metrics", "val_score", "seed", "device", "amp", "compile", "out_dir", "resume",
                   "overwrite", "progress", "distributed", "restore_best", "callbacks", "meta")


def _unread_fields(config: TrainConfig) -> list:
    """``name=value`` of the fields of :data:`_TRAINER_FIELDS` that differ from their defaults."""
    defaults = {f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
                for f in dataclasses.fields(TrainConfig)}
    out = []
    for name in _TRAINER_FIELDS:
        value = getattr(config, name)
        if value != defaults[name] and not (name in ("callbacks", "meta") and not value):
            out.append(f"{name}={value!r}")
    return out


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _config_record(config: TrainConfig) -> Dict[str, Any]:
    """The plain fields of ``config`` that this module reads (what its
    checkpoints keep; a callable optimiser or scheduler is left out)."""
    out = {}
    for name in _USED:
        value = getattr(config, name)
        if isinstance(value, NoiseSchedule):
            value = value.to_list()
        if _plain(value):
            out[name] = value
    return out


class SRNNLightningModule(pl.LightningModule):
    r"""A :class:`lightning.pytorch.LightningModule` around any
    :class:`~srnn_pyg.models.Forecaster`, trained with the library's own
    objective and loss.

    ``training_step`` returns (and logs as ``train_loss``) the masked mean loss
    of :func:`~srnn_pyg.engine.objectives.batch_loss` with the config's
    ``objective``, ``horizon``, ``loss`` and ``noise`` (its schedule read at
    the global step); ``validation_step`` and ``test_step`` log ``val_loss`` and
    ``test_loss`` (no noise), pooled over the epoch by each batch's number of
    target entries, as :func:`~srnn_pyg.engine.evaluate` pools them;
    ``predict_step`` returns ``model.forecast(batch, horizon)``.
    ``configure_optimizers`` builds the config's optimiser and scheduler (its
    ``epochs`` taken from the Trainer's ``max_epochs``; ``"paper"`` stepped
    after every optimiser step, as :func:`~srnn_pyg.engine.fit` steps it, the
    others every epoch; ``"plateau"`` watches ``monitor``), and ``grad_clip``
    clips the gradient norm unless the Trainer sets ``gradient_clip_val``. The
    Trainer's own options replace the other fields (``max_epochs``,
    ``accelerator``, ``precision``, callbacks); set to other values than their
    defaults, those fields make the module warn, as they are not read.

    Checkpoints written by the Trainer record how to rebuild a registered
    model, so ``SRNNLightningModule.load_from_checkpoint(path)`` needs no
    arguments; resumed with a larger ``max_epochs``, a ``"cosine"`` or
    ``"step"`` schedule is refitted to the new length, as ``fit`` resumes.

    Args:
        model (torch.nn.Module or dict): the model, or its
            :func:`~srnn_pyg.engine.model_record` (as a checkpoint stores it).
        config (TrainConfig or dict, optional): the training options.
            (default: :obj:`None`: ``TrainConfig(epochs=1)``'s defaults)
    """

    def __init__(self, model: Union[nn.Module, Dict[str, Any]],
                 config: Union[TrainConfig, Dict[str, Any], None] = None):
        super().__init__()
        if isinstance(model, dict):
            model = build_from_record(model)
        if not isinstance(model, nn.Module):
            raise TypeError(f"SRNNLightningModule: 'model' must be a torch.nn.Module or a model record "
                            f"(got {type(model).__name__})")
        if config is None:
            config = TrainConfig(epochs=1)
        elif isinstance(config, dict):
            config = TrainConfig(**config)
        elif not isinstance(config, TrainConfig):
            raise TypeError(f"SRNNLightningModule: 'config' must be a TrainConfig, a dict of its fields or None "
                            f"(got {type(config).__name__})")
        if config.objective == "auto":
            config = config.replace(objective=default_objective(model))
        if config.tbptt is not None:
            raise ValueError(f"SRNNLightningModule: 'tbptt' (got {config.tbptt}) is fit()'s chunked training, "
                             f"not supported under Lightning; 'truncate_gradient' (peephole cells) is")
        if config.objective == "teacher_forcing" and not getattr(model, "has_forward", True):
            raise ValueError(f"SRNNLightningModule: {type(model).__name__} has no one-step-ahead forward, so "
                             f"objective='teacher_forcing' does not apply; use TrainConfig(objective='rollout')")
        if config.init_from is not None or config.validate_start:
            raise ValueError("SRNNLightningModule: 'init_from' and 'validate_start' are fit()'s options (got "
                             f"init_from={config.init_from!r}, validate_start={config.validate_start!r}); "
                             "under Lightning load the weights with model.load_state_dict(...) and validate "
                             "first with trainer.validate(...)")
        unread = _unread_fields(config)
        if unread:
            warnings.warn(f"SRNNLightningModule: the TrainConfig fields {', '.join(unread)} are fit()'s options and "
                          f"are not read under Lightning; set their Trainer counterparts (max_epochs, callbacks "
                          f"such as EarlyStopping and ModelCheckpoint, precision, accelerator, "
                          f"lightning.seed_everything: see docs/lightning.md)", stacklevel=2)
        self.model, self.config = model, config
        self.schedule = as_noise_schedule(config.noise)
        self.feedback = feedback_of(model)
        self._heads: Dict[bool, Head] = {}
        #: epoch means of the logged losses, each batch weighed by its (possibly fractional) target weight
        self.loss_means = nn.ModuleDict({k: MeanMetric() for k in ("train_loss", "val_loss", "test_loss")})
        try:
            record: Optional[Dict[str, Any]] = model_record(model)
        except ValueError:                          # not a registered Forecaster: nothing to rebuild it from
            record = None
        self.save_hyperparameters({"model": record, "config": _config_record(config)})

    def forward(self, data: Any) -> Tensor:
        return self.model(data)

    def _run(self, data: Any, horizon: Optional[int] = None) -> Tensor:
        return self.model(data) if horizon is None else self.model.forecast(data, horizon)

    def head(self, classification: bool) -> Head:
        """The head whose loss is trained: :func:`~srnn_pyg.nn.heads.head_of`,
        with the config's ``loss`` for a deterministic one (as
        :func:`~srnn_pyg.engine.fit` does)."""
        if classification not in self._heads:
            head = head_of(self.model, classification=classification)
            if self.config.loss is not None and isinstance(head, DeterministicHead):
                head = DeterministicHead(head.out_channels, loss=self.config.loss, huber_delta=head.huber_delta)
            elif self.config.loss is not None:
                warnings.warn(f"SRNNLightningModule: loss={self.config.loss!r} is the point loss of a deterministic "
                              f"head; this model's {type(head).__name__} trains by its own loss, so it is not used "
                              f"(as fit() warns)")
            self._heads[classification] = head
        return self._heads[classification]

    def loss(self, batch: Any, noise_std: float = 0.0, train: bool = False) -> Tuple[Tensor, Tensor]:
        """``(loss, weight)`` of one batch: the library's objective, the masked
        mean loss and the number of target entries it averages; ``train``: as
        :func:`~srnn_pyg.engine.fit` trains (the noise on a ``noise_p`` share
        of the frames, the per-node-type loss with ``node_type_loss``), else as
        it validates."""
        cls = is_classification(batch)
        if cls and self.config.objective == "rollout":
            raise ValueError("SRNNLightningModule: objective='rollout' forecasts values, but the targets are "
                             "class labels (long 'y')")
        c = self.config
        return batch_loss(self._run, self.head(cls), batch, c.objective, c.horizon, noise_std, cls, self.feedback,
                          c.noise_p if train else 1.0, c.node_type_loss if train else False)

    def _log(self, name: str, loss: Tensor, weight: Tensor, prog_bar: bool = True) -> None:
        if self._trainer is not None:               # also callable outside a Trainer
            mean = self.loss_means[name]
            mean.update(loss.detach(), torch.as_tensor(weight, dtype=loss.dtype, device=loss.device))
            self.log(name, mean, on_step=False, on_epoch=True, prog_bar=prog_bar)

    def on_train_start(self) -> None:
        """``config.truncate_gradient`` on the model's peephole cells while the Trainer trains (as
        :func:`srnn_pyg.engine.fit` sets it for its run); on a resume with another ``max_epochs`` than the
        checkpoint's, a ``"cosine"`` or ``"step"`` schedule refitted to the new length (as ``fit`` resumes)."""
        self._stretch_schedules()
        self._truncation = truncated_gradient(self.model, self.config)
        self._truncation.__enter__()

    def _stretch_schedules(self) -> None:
        saved, self._saved_epochs = getattr(self, "_saved_epochs", None), None
        epochs = getattr(self, "_schedule_epochs", None)
        resumed = getattr(self.trainer, "ckpt_path", None) is not None    # not load_from_checkpoint, then a new fit
        if not resumed or not isinstance(saved, int) or not isinstance(epochs, int) or saved == epochs:
            return
        for lr_config in self.trainer.lr_scheduler_configs:
            what = stretch_schedule(lr_config.scheduler, self.config.replace(epochs=epochs), {"epochs": saved})
            if what is not None:
                warnings.warn(f"SRNNLightningModule: resumed with max_epochs={epochs}, the checkpoint's run had "
                              f"{saved}: {what}")

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        """The number of epochs the learning-rate schedule spans, for a resume with another ``max_epochs``."""
        checkpoint[_SCHEDULE_KEY] = getattr(self, "_schedule_epochs", None)

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        self._saved_epochs = checkpoint.get(_SCHEDULE_KEY)

    def on_train_end(self) -> None:
        truncation = getattr(self, "_truncation", None)
        if truncation is not None:
            truncation.__exit__(None, None, None)
            self._truncation = None

    def configure_callbacks(self):
        """A callback that puts the peephole cells' ``truncate_gradient`` back when ``fit`` stops on an
        exception (``on_train_end`` does when it ends), so the model leaves a failed run as it came."""
        return [_EndTruncation()]

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        std = self.schedule(self.global_step) if self.schedule is not None and self._trainer is not None else 0.0
        loss, weight = self.loss(batch, std, train=True)
        self._log("train_loss", loss, weight)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, weight = self.loss(batch)
        self._log("val_loss", loss, weight)
        return loss

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        loss, weight = self.loss(batch)
        self._log("test_loss", loss, weight)
        return loss

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        y = batch.get("y")
        horizon = self.config.horizon or (int(y.size(1)) if isinstance(y, Tensor) and y.dim() >= 2 else None)
        if horizon is None:
            raise ValueError("SRNNLightningModule.predict_step: the forecast's length is TrainConfig.horizon, else "
                             "the windows' number of target steps, but the config's horizon is None and the "
                             f"windows carry no targets 'y' [N, H, F] (got {type(y).__name__}); set "
                             "TrainConfig(horizon=...)")
        return self.model.forecast(batch, horizon)

    def configure_optimizers(self) -> Any:
        config = self.config
        epochs = getattr(self._trainer, "max_epochs", None) if self._trainer is not None else None
        if isinstance(epochs, int) and epochs > 0 and epochs != config.epochs:
            config = config.replace(epochs=epochs)                  # the step and cosine schedules' length
        self._schedule_epochs = config.epochs
        monitor = config.monitor or "val_loss"
        params = self._trainable_parameters()
        opt = make_optimizer(config, params)
        # Lightning hands a plateau scheduler the raw monitored value: its mode is the monitor's direction
        sched = make_scheduler(config, opt, plateau_mode=monitor_direction(monitor, config.monitor_mode))
        if sched is None:
            return opt
        # "paper" cuts the rate after a number of optimiser steps, as fit() steps it: every step, not every epoch
        interval = "step" if getattr(sched, "per_iteration", False) else "epoch"
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": interval, "monitor": monitor}}

    def _trainable_parameters(self) -> list:
        """The parameters to optimise; a clear error for a model with none
        (``trainable = False``, e.g. the velocity baselines) or with layers
        that its first batch builds."""
        name = type(self.model).__name__
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params or not getattr(self.model, "trainable", True):
            raise ValueError(f"SRNNLightningModule: {name} has no trainable parameters (trainable="
                             f"{getattr(self.model, 'trainable', True)}), so there is nothing for trainer.fit to "
                             f"train; score it with trainer.test(...) or srnn_pyg.engine.evaluate(model, loader)")
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in params):
            raise ValueError(f"SRNNLightningModule: {name} has parameters that its first batch builds (lazy "
                             f"modules), which the optimiser cannot take yet; run one batch through it before "
                             f"trainer.fit, e.g. module.model(next(iter(loader)))")
        return params

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: Any = None,
                                    gradient_clip_algorithm: Optional[str] = None) -> None:
        clip = gradient_clip_val if gradient_clip_val is not None else self.config.grad_clip
        if clip:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm=gradient_clip_algorithm)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r}, objective={self.config.objective!r})"


class _EndTruncation(pl.Callback):
    """Ends :class:`SRNNLightningModule`'s ``truncate_gradient`` setting when a run fails."""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(pl_module, SRNNLightningModule):
            pl_module.on_train_end()


class STDataModule(LightningDataset):
    r"""PyG's :class:`~torch_geometric.data.LightningDataset` over datasets
    of :class:`~srnn_pyg.STData` windows, whose loaders can pad windows of
    different lengths (:func:`~srnn_pyg.data.pad_collate`).

    Args:
        train_dataset, val_dataset, test_dataset, pred_dataset: the splits
            (the last three optional).
        pad (bool, optional): batch with :func:`~srnn_pyg.data.pad_collate`
            (a :class:`torch.utils.data.DataLoader`) instead of PyG's
            collation. (default: :obj:`False`)
        **kwargs: loader options (``batch_size``, ``num_workers``, ...);
            ``pin_memory`` defaults to whether CUDA is available.
    """

    def __init__(self, train_dataset, val_dataset=None, test_dataset=None, pred_dataset=None, *,
                 pad: bool = False, **kwargs: Any):
        loader_args = set(inspect.signature(torch.utils.data.DataLoader.__init__).parameters) - {"self", "dataset"}
        unknown = sorted(set(kwargs) - loader_args - {"follow_batch", "exclude_keys"})
        if unknown:
            split = {"train": "train_dataset", "val": "val_dataset", "test": "test_dataset", "pred": "pred_dataset"}
            hint = [f"{k}= is {split[k]}=" for k in unknown if k in split]
            raise TypeError(f"STDataModule: got {unknown}, which are neither splits nor DataLoader options"
                            + (f" ({', '.join(hint)})" if hint else "") + "; the splits are train_dataset, "
                            "val_dataset, test_dataset, pred_dataset")
        kwargs.setdefault("pin_memory", torch.cuda.is_available())
        super().__init__(train_dataset, val_dataset, test_dataset, pred_dataset, **kwargs)
        self.pad = bool(pad)

    @property
    def schema(self):
        """The training split's schema (for building the model): the dataset's, or, for a list of
        windows, the one its first window carries (:obj:`None` if neither has one)."""
        found = getattr(self.train_dataset, "schema", None)
        if found is None and isinstance(self.train_dataset, (list, tuple)) and len(self.train_dataset):
            found = getattr(self.train_dataset[0], "schema", None)
        return found

    def dataloader(self, dataset, **kwargs: Any):
        if self.pad:
            return torch.utils.data.DataLoader(dataset, collate_fn=pad_collate, **kwargs)
        return super().dataloader(dataset, **kwargs)

    @classmethod
    def from_dataset(cls, name: Union[str, type], *, splits: Tuple[str, ...] = ("train", "val", "test"),
                     root: Any = None, obs: Optional[int] = None, horizon: Optional[int] = None, seed: int = 0,
                     pad: bool = False, batch_size: int = 32, loader_kwargs: Optional[Dict[str, Any]] = None,
                     **extra: Any) -> "STDataModule":
        r"""The splits of a registered dataset (``srnn_pyg.datasets.get(name)``),
        opened with :meth:`~srnn_pyg.datasets.STDataset.open` (val and test
        reuse the training split's statistics); splits the dataset lacks are
        left out (``splits[0]`` must exist).

        Args:
            name (str or type): a dataset name or class.
            splits (tuple, optional): train, val and test split names.
            root, obs, horizon, seed, **extra: passed to ``open``.
            pad (bool, optional): see :class:`STDataModule`.
            batch_size (int, optional): (default: :obj:`32`)
            loader_kwargs (dict, optional): more loader options.
        """
        from .datasets import get
        ds_cls = get(name) if isinstance(name, str) else name
        known = getattr(ds_cls, "splits", None)
        if isinstance(splits, str) or not 1 <= len(splits) <= 3:
            raise ValueError(f"STDataModule.from_dataset: 'splits' must be a tuple of 1 to 3 split names "
                             f"(train, val, test; got {splits!r})")
        unknown = [s for s in splits if s is not None and known is not None and s not in known]
        if unknown:     # a misspelt name would otherwise be left out silently, as a split the data lacks
            raise ValueError(f"STDataModule.from_dataset: {getattr(ds_cls, '__name__', ds_cls)} has no split "
                             f"{unknown[0]!r} (splits: {', '.join(known)}; got splits={tuple(splits)!r})")
        opts = dict(root=root, obs=obs, horizon=horizon, seed=seed, **extra)
        train = ds_cls.open(splits[0], **opts)
        others = [ds_cls.open(s, train=train, **opts) if ds_cls.has_split(s, **extra) else None
                  for s in splits[1:3]]
        others += [None] * (2 - len(others))
        return cls(train, others[0], others[1], pad=pad, batch_size=batch_size, **(loader_kwargs or {}))

