r"""The options of :func:`~srnn_pyg.engine.fit`, in one dataclass:
:class:`TrainConfig`."""
from __future__ import annotations

import dataclasses
import functools
import os
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from .device import AMP_MODES as _AMP  # one list of amp values: what amp_context takes
from .device import DeviceLike
from .files import PathLike, first_unplain, to_jsonable
from .noise import as_noise_schedule
from ..nn.heads import LOSSES
from .objectives import OBJECTIVES

__all__ = ["TrainConfig", "OPTIMIZERS", "SCHEDULERS", "make_config", "metric_names", "plain_meta"]

OPTIMIZERS = ("adam", "adamw", "sgd", "momentum")
SCHEDULERS = (None, "step", "cosine", "plateau", "paper")
RECIPES = ("default", "paper")
#: The official S-RNN training recipe (RNNexp ``hyperParameterTuning.py`` and NeuralModels'
#: ``trainDRA``), field by field: what ``recipe="paper"`` puts in every field the caller did not
#: pass. The state-gradient clip inside the LSTM and the uniform initialisation are options of
#: the model (``variant="paper"``), not of training; so is the peephole cell that
#: ``truncate_gradient`` acts on.
PAPER_RECIPE: Dict[str, Any] = {
    "optimizer": "momentum", "momentum": 0.99, "lr": 1e-3, "scheduler": "paper", "grad_clip": 25.0,
    "truncate_gradient": 10, "noise": "paper", "noise_p": 0.5, "node_type_loss": True}


def _positive_int(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        more = " or None" if allow_none else ""
        raise ValueError(f"TrainConfig: '{name}' must be a positive int{more} (got {value!r})")


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"TrainConfig: '{name}' must be True or False (got {value!r})")


def _path(name: str, value: Any, what: str, allow_bool: bool = False) -> None:
    """``value`` is None, a non-empty path (or, with ``allow_bool``, a bool): an
    empty one would silently mean the current directory."""
    if value is None or (allow_bool and isinstance(value, bool)):
        return
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ValueError(f"TrainConfig: '{name}' must be None{' or a bool' if allow_bool else ''} or {what}, "
                         f"not empty (got {value!r})")


def metric_names(metrics: Any, who: str) -> Optional[List[str]]:
    """``metrics`` as a list of names (None stays None), refusing a bare
    string (``"mse"`` would be ``['m', 's', 'e']``) and names that are not
    strings; ``who`` names the caller and the argument in the message."""
    if metrics is None:
        return None
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        hint = f"; pass [{metrics!r}]" if isinstance(metrics, str) else ""
        raise ValueError(f"{who} must be None or a list of metric names (got {metrics!r}{hint})")
    bad = [m for m in metrics if not isinstance(m, str)]
    if bad:
        raise ValueError(f"{who} must be a list of metric names (str) (got {bad[0]!r} in {list(metrics)!r})")
    return list(metrics)


def plain_meta(meta: Any) -> Dict[str, Any]:
    """``TrainConfig.meta`` as plain data (NumPy values and paths made plain,
    :func:`~srnn_pyg.engine.files.to_jsonable`), or a :class:`ValueError`
    naming the first key that is not: a checkpoint holding it could not be
    read back with ``weights_only=True``."""
    if not isinstance(meta, Mapping):
        raise ValueError(f"TrainConfig: 'meta' must be a dict of plain data (got {meta!r})")
    plain = to_jsonable(dict(meta))
    found = first_unplain(plain, "meta")
    if found is not None:
        where, value = found
        raise ValueError(f"TrainConfig: 'meta' must hold plain data only (None, bool, int, float, str, and lists "
                         f"and str-keyed dicts of them; NumPy values are converted): {where} is a "
                         f"{type(value).__name__} (got {value!r:.80})")
    return plain


def _number(value: Any) -> bool:
    """A finite int or float (not a bool): NaN and infinities are refused."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


#: the torch class of each built-in scheduler (``make_scheduler`` builds them)
_SCHEDULER_CLASSES = {"step": "StepLR", "cosine": "CosineAnnealingLR", "plateau": "ReduceLROnPlateau",
                      "paper": "MultiStepLR"}


def _recording_given(cls):
    """Wrap the dataclass ``__init__`` of ``cls`` so that each instance
    records the names of the fields its caller passed (``_given``): what
    ``recipe="paper"`` must leave alone, even where the value equals the
    default."""
    init = cls.__init__
    names = [f.name for f in dataclasses.fields(cls) if f.init]

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_given", frozenset(names[:len(args)]) | frozenset(kwargs))
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@_recording_given
@dataclass
class TrainConfig:
    r"""Every option of :func:`~srnn_pyg.engine.fit`, checked when built
    (a :class:`ValueError` names the field).

    .. code-block:: python

        config = TrainConfig(epochs=20, lr=3e-3, scheduler="cosine", out_dir="runs/srnn")
        fit(model, train_loader, val_loader, config)
        fit(model, train_loader, val_loader, config, lr=1e-3)     # a field overridden
        fit(model, train_loader, val_loader, epochs=20)           # no config: keywords only

    Args:
        epochs (int): the total number of epochs (a resumed run stops there
            too).
        objective (str, optional): ``"teacher_forcing"`` (needs
            ``has_forward``), ``"rollout"``, or ``"auto"``: teacher forcing
            for models with a one-step-ahead ``forward``, else rollout (what
            ``fit`` records and resumes with is the resolved name).
            Classification data always uses the per-step cross-entropy.
            (default: ``"teacher_forcing"``)
        loss (str, optional): the point loss of a deterministic head for this
            run, ``"mse"``, ``"l1"``, ``"huber"`` or ``"euclidean"``, whatever the model's head
            was built with (the same for every model compared; e.g. ``"l1"``
            where MAE is the headline metric). Gaussian and logits heads keep
            their own losses. (default: :obj:`None`: the head's)
        horizon (int, optional): rollout steps. (default: :obj:`None`: the
            windows' ``H``)
        optimizer (str or callable, optional): ``"adam"``, ``"adamw"``,
            ``"sgd"`` (PyTorch's, with ``momentum``), ``"momentum"`` (the
            official S-RNN code's momentum update,
            :class:`~srnn_pyg.engine.optim.TheanoMomentum`), or ``params ->
            Optimizer``. (default: ``"adam"``)
        lr (float, optional): learning rate. (default: :obj:`1e-3`)
        weight_decay (float, optional): (default: :obj:`0.`)
        scheduler (str or callable, optional): ``None``, ``"step"``
            (``x0.1`` every ``epochs // 3``), ``"cosine"`` (to zero over
            ``epochs``), ``"plateau"`` (``x0.5`` after 2 epochs without a
            better monitored value), or ``optimizer -> scheduler``; stepped
            once per epoch. ``"paper"``: ``x0.1`` at optimiser steps 1500 and
            4500 (the official S-RNN schedule), stepped once per optimiser
            step. (default: :obj:`None`)
        scheduler_kwargs (dict, optional): override a built-in scheduler's
            defaults; each key must be an argument of its torch class
            (refused with no scheduler or a callable one). (default: ``{}``)
        grad_clip (float, optional): clip the gradient norm to this; ``None``
            for no clipping. (default: :obj:`1.0`)
        tbptt (int, optional): truncated backpropagation through time:
            teacher forcing in chunks of this many steps through the model's
            streaming ``step(data, state)``, the state carried across chunks
            and detached, one optimiser step per chunk
            (:mod:`~srnn_pyg.engine.tbptt`); not with ``rollout``, DDP or
            ``compile``. (default: :obj:`None`: whole sequences)
        truncate_gradient (int, optional): Theano's truncated
            back-propagation, as the official S-RNN code trains (``scan``'s
            ``truncate_gradient``): whole sequences and one optimiser step per
            batch, but the backward pass of every recurrent cell runs over the
            last this many steps of the sequence only (what reads the cells'
            outputs, decoders and fused skips, still learns from every step).
            Needs a model whose cells implement it, the peephole LSTMs of
            ``variant="paper"`` (:class:`~srnn_pyg.nn.peephole.PeepholeLSTM`);
            teacher forcing only; not with ``tbptt``. (default: :obj:`None`)
        noise (optional): Gaussian noise on the training inputs: ``None``,
            a constant std, ``"paper"``
            (:data:`~srnn_pyg.engine.PAPER_NOISE_SCHEDULE`), ``(iteration,
            std)`` pairs, or a :class:`~srnn_pyg.engine.NoiseSchedule`.
            Iterations count optimiser steps over the whole run.
            (default: :obj:`None`)
        noise_p (float, optional): the probability that a (graph, time
            step) frame gets the noise at all: a Bernoulli mask per frame and
            sequence, as the official S-RNN code. (default: :obj:`1.0`)
        momentum (float, optional): the momentum of ``optimizer="sgd"`` and
            ``"momentum"``. (default: :obj:`0.9`)
        node_type_loss (bool, optional): the official S-RNN loss for
            regression teacher forcing: per node type ``T * D`` times the mean
            error over that type's entries, summed over the types (each type
            weighs as much as its nodes' whole sequences), instead of one mean
            over every entry. (default: :obj:`False`)
        recipe (str, optional): ``"default"``, or ``"paper"``: the official
            S-RNN training recipe (:data:`~srnn_pyg.engine.config.PAPER_RECIPE`:
            Theano's momentum 0.99 (``optimizer="momentum"``), lr ``1e-3`` cut
            x0.1 at iterations 1500 and 4500 (``scheduler="paper"``),
            gradient-norm clip 25, ``truncate_gradient=10``,
            the paper's noise curriculum under a Bernoulli(0.5) frame mask, the
            per-node-type loss) in every field you did not pass; a field you
            pass keeps your value, even one equal to its default
            (:meth:`given`). (default: ``"default"``)
        early_stopping (int, optional): stop after this many epochs without
            a better ``monitor`` value; a resumed run counts the
            checkpoint's epochs without improvement against this one, so a
            run that stopped early goes on with a larger patience.
            (default: :obj:`None`: never)
        monitor (str, optional): the history key that picks ``best.pt`` and
            drives early stopping and the ``"plateau"`` scheduler: ``val_``
            and a name of ``metrics``, ``val_`` and a key of what
            ``val_score`` returns, or ``"train_loss"``. (default:
            :obj:`None`: ``"val_loss"`` with a validation loader, else
            ``"train_loss"``)
        monitor_mode (str, optional): ``"min"`` or ``"max"``: whether a
            lower or a higher ``monitor`` value is better. (default:
            :obj:`None`: ``"max"`` if ``monitor`` ends in ``accuracy``,
            ``f1``, ``precision`` or ``recall``, else ``"min"``)
        metrics (list[str], optional): validation metrics, see
            :func:`~srnn_pyg.engine.evaluate`. (default: :obj:`None`: as
            :func:`~srnn_pyg.engine.evaluate`)
        val_score (callable, optional): a protocol's own validation score,
            e.g. a dataset's ``score`` method: called after each validation
            pass with :func:`~srnn_pyg.engine.collect`'s output over the
            whole validation loader (forecasts of the windows' whole horizon,
            whatever ``horizon`` says), it returns ``{name: number}`` (floats,
            ints, numpy or one-element tensors), recorded as ``val_NAME`` and
            selectable by ``monitor`` (early stopping and ``best.pt`` on the
            metric a paper reports, such as the Euler-angle error at each
            horizon). Every RNG state is restored after it, so recording a
            score never changes training. Under DDP rank 0 scores the whole
            loader and broadcasts the result (or its error); not with a
            :class:`~srnn_pyg.loader.OneHopLoader` for validation (a rollout
            on one-hop batches is not exact). (default: :obj:`None`)
        seed (int, optional): seeds Python, NumPy, PyTorch and the data
            order. (default: :obj:`0`)
        device (str or torch.device, optional): (default: :obj:`None`: CUDA
            if available, else CPU; under DDP, ``cuda:LOCAL_RANK``)
        amp (bool or str, optional): mixed precision with
            :func:`torch.autocast` and a ``GradScaler`` (``True``/``"fp16"``)
            or bfloat16 (``"bf16"``); CUDA only: a warning and a no-op on
            CPU. (default: :obj:`False`)
        compile (bool, optional): train through ``torch.compile``.
            (default: :obj:`False`)
        out_dir (str, optional): where ``metrics.jsonl``, ``last.pt``,
            ``best.pt`` and ``result.json`` go. (default: :obj:`None`:
            nothing is written)
        resume (bool or str, optional): ``True`` continues from
            ``out_dir/last.pt`` (or starts afresh in an ``out_dir`` without a
            run; one holding a run without ``last.pt`` is refused unless
            ``overwrite``); a path continues from that checkpoint, a run
            folder from its ``last.pt``. Weights, optimiser, scheduler,
            scaler, RNG states, history, best score and the early-stopping
            count are restored, so the run goes on exactly as if it had not
            stopped. (default: :obj:`None`)
        overwrite (bool, optional): start a new run in an ``out_dir`` that
            already holds one (``last.pt``, ``best.pt``, ``metrics.jsonl`` or
            ``result.json``), replacing its files when the new run writes its
            first epoch (a set-up error leaves them as they were); without it
            (and without ``resume``) such an ``out_dir`` is refused, so no run
            is replaced by accident. (default: :obj:`False`)
        progress (bool, optional): a tqdm bar with the running loss (rank 0).
            (default: :obj:`True`)
        distributed (bool, optional): under ``torchrun``, initialise the
            process group (NCCL on CUDA, else Gloo) and train with DDP. A
            process group initialised by the caller is used whatever this
            says. (default: :obj:`False`)
        restore_best (bool, optional): load the best weights into the model
            at the end (from ``best.pt`` with an ``out_dir``, else from a copy
            kept in memory at each best epoch). (default: :obj:`False`)
        init_from (str, optional): a checkpoint (a file, or a run folder:
            its ``best.pt``, else ``last.pt``) whose weights a new run starts
            from; its optimiser, scheduler, history and selection are not
            taken (a fresh run: fine-tuning, e.g. a rollout phase after
            teacher forcing, or another learning rate). The checkpoint must
            hold this model (the same registry name, arguments and schema).
            Ignored when the run resumes (its own checkpoint has the
            weights). (default: :obj:`None`)
        validate_start (bool, optional): validate the starting weights
            before the first epoch, as epoch 0 of the history, which competes
            for the best epoch: with ``restore_best`` a run that never beats
            its start ends with the weights it started from, and early
            stopping counts from it. Needs a validation loader.
            (default: :obj:`None`: on with ``init_from`` and a validation
            loader, else off)
        callbacks (list[callable], optional): called with each epoch's record
            after its checkpoint is written and before the epoch's line is
            printed; keys they add show in that line, are written to
            ``metrics.jsonl`` and the epoch's checkpoints as well, and must
            hold plain data (NumPy values and tensors are converted). A
            callback with an ``on_resume(history)`` method is handed the
            run's history before the first epoch: a resumed run's records
            (the checkpoint's), an empty list for a new run. One callable
            alone is taken as a list of one. (default: ``()``)
        meta (dict, optional): plain data stored in the checkpoints
            (e.g. the dataset's name and arguments): ``None``, bools, numbers,
            strings, and lists and str-keyed dicts of them; NumPy values and
            paths are converted, anything else is refused. (default: ``{}``)
    """

    epochs: int
    objective: str = "teacher_forcing"
    loss: Optional[str] = None
    horizon: Optional[int] = None
    optimizer: Union[str, Callable[..., Any]] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: Union[None, str, Callable[..., Any]] = None
    scheduler_kwargs: Dict[str, Any] = field(default_factory=dict)
    grad_clip: Optional[float] = 1.0
    tbptt: Optional[int] = None
    truncate_gradient: Optional[int] = None
    noise: Any = None
    noise_p: float = 1.0
    momentum: float = 0.9
    node_type_loss: bool = False
    recipe: str = "default"
    early_stopping: Optional[int] = None
    monitor: Optional[str] = None
    monitor_mode: Optional[str] = None
    metrics: Optional[Sequence[str]] = None
    val_score: Optional[Callable[[Dict[str, Any]], Mapping[str, float]]] = None
    seed: int = 0
    device: Optional[DeviceLike] = None
    amp: Union[bool, str] = False
    compile: bool = False
    out_dir: Optional[PathLike] = None
    resume: Union[None, bool, PathLike] = None
    overwrite: bool = False
    progress: bool = True
    distributed: bool = False
    restore_best: bool = False
    init_from: Optional[PathLike] = None
    validate_start: Optional[bool] = None
    callbacks: Sequence[Callable[[Dict[str, Any]], None]] = ()
    meta: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"TrainConfig: 'recipe' must be one of {list(RECIPES)} (got {self.recipe!r})")
        if self.recipe == "paper":                  # the paper's value in every field the caller did not pass
            given = self.given()
            for name, value in PAPER_RECIPE.items():
                if name == "truncate_gradient" and self.tbptt is not None:
                    continue                        # your chunked truncation replaces the official one
                if name not in given:
                    setattr(self, name, value)
        if self.scheduler_kwargs is not None and not isinstance(self.scheduler_kwargs, Mapping):
            raise ValueError(f"TrainConfig: 'scheduler_kwargs' must be a dict of the scheduler's arguments, e.g. "
                             f"{{'step_size': 10}} (got {self.scheduler_kwargs!r})")
        self.scheduler_kwargs = dict(self.scheduler_kwargs or {})
        self.meta = plain_meta({} if self.meta is None else self.meta)
        if callable(self.callbacks):                 # one callback given bare: a tuple of one
            self.callbacks = (self.callbacks,)
        elif self.callbacks is not None and (isinstance(self.callbacks, (str, bytes))
                                             or not isinstance(self.callbacks, Iterable)):
            raise ValueError(f"TrainConfig: 'callbacks' must be a list of callables (got {self.callbacks!r})")
        self.callbacks = tuple(self.callbacks or ())
        if self.device is not None and self.device != "auto":
            import torch
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"TrainConfig: 'device' must be None, 'auto' or a torch device such as 'cpu', "
                                 f"'cuda' or 'cuda:1' (got {self.device!r})") from None
        self.metrics = metric_names(self.metrics, "TrainConfig: 'metrics'")
        self._check_numbers()
        self._check_choices()
        self._check_switches()
        as_noise_schedule(self.noise)                                          # raises on a bad schedule

    def _check_scheduler_kwargs(self) -> None:
        """``scheduler_kwargs`` go to a built-in scheduler's constructor: each
        key must be one of its arguments (the optimiser aside)."""
        kwargs = self.scheduler_kwargs
        if not kwargs:
            return
        if not isinstance(self.scheduler, str):
            raise ValueError(f"TrainConfig: 'scheduler_kwargs' configure a built-in scheduler ({list(SCHEDULERS)}); "
                             f"with scheduler={self.scheduler!r} they would be ignored (got {kwargs!r})")
        import inspect

        import torch
        cls = getattr(torch.optim.lr_scheduler, _SCHEDULER_CLASSES[self.scheduler])
        accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "optimizer")]
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise ValueError(f"TrainConfig: 'scheduler_kwargs' for scheduler={self.scheduler!r} "
                             f"(torch.optim.lr_scheduler.{cls.__name__}) take the keys {accepted} "
                             f"(got {unknown[0]!r} in {kwargs!r})")

    def _check_numbers(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("horizon", self.horizon, allow_none=True)
        _positive_int("early_stopping", self.early_stopping, allow_none=True)
        _positive_int("tbptt", self.tbptt, allow_none=True)
        _positive_int("truncate_gradient", self.truncate_gradient, allow_none=True)
        if self.tbptt is not None and self.truncate_gradient is not None:
            raise ValueError(f"TrainConfig: 'tbptt' (chunks, one step each) and 'truncate_gradient' (whole "
                             f"sequences, the backward cut short inside the cells) are two truncations; set one "
                             f"(got tbptt={self.tbptt}, truncate_gradient={self.truncate_gradient})")
        if not (_number(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig: 'lr' must be a finite positive number (got {self.lr!r})")
        if not (_number(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"TrainConfig: 'weight_decay' must be a finite number >= 0 "
                             f"(got {self.weight_decay!r})")
        if self.grad_clip is not None and not (_number(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(f"TrainConfig: 'grad_clip' must be a finite positive number or None "
                             f"(got {self.grad_clip!r})")
        if not (_number(self.noise_p) and 0 <= self.noise_p <= 1):
            raise ValueError(f"TrainConfig: 'noise_p' must be a probability in [0, 1] (got {self.noise_p!r})")
        if not (_number(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"TrainConfig: 'momentum' must be in [0, 1) (got {self.momentum!r})")
        if not isinstance(self.node_type_loss, bool):
            raise ValueError(f"TrainConfig: 'node_type_loss' must be a bool (got {self.node_type_loss!r})")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            raise ValueError(f"TrainConfig: 'seed' must be an int in [0, 2**63) (torch's generator takes a 64-bit "
                             f"seed) (got {self.seed!r})")

    def _check_choices(self) -> None:
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueError(f"TrainConfig: 'loss' must be None or one of {list(LOSSES)} (got {self.loss!r})")
        if self.objective not in OBJECTIVES + ("auto",):
            raise ValueError(f"TrainConfig: 'objective' must be one of {list(OBJECTIVES) + ['auto']} "
                             f"(got {self.objective!r})")
        for name, value, known in (("scheduler", self.scheduler, SCHEDULERS),
                                   ("optimizer", self.optimizer, OPTIMIZERS)):
            if (isinstance(value, str) or value is None) and value not in known:
                raise ValueError(f"TrainConfig: '{name}' must be one of {list(known)} or a callable "
                                 f"(got {value!r})")
            if not (isinstance(value, str) or value is None or callable(value)):
                raise ValueError(f"TrainConfig: '{name}' must be one of {list(known)} or a callable "
                                 f"(got {value!r})")
        if not (self.amp is None or isinstance(self.amp, bool) or (isinstance(self.amp, str) and self.amp in _AMP)):
            raise ValueError(f"TrainConfig: 'amp' must be False, True, 'fp16' or 'bf16' (got {self.amp!r})")
        if self.resume is True and self.out_dir is None:
            raise ValueError("TrainConfig: 'resume=True' reads out_dir/last.pt, so 'out_dir' must be given "
                             "(got None)")
        self._check_scheduler_kwargs()
        if self.scheduler == "plateau" and "mode" in self.scheduler_kwargs:
            raise ValueError(f"TrainConfig: 'scheduler_kwargs' may not set the plateau scheduler's 'mode': "
                             f"'monitor_mode' sets the direction (got mode={self.scheduler_kwargs['mode']!r})")
        if self.monitor_mode not in (None, "min", "max"):
            raise ValueError(f"TrainConfig: 'monitor_mode' must be None, 'min' or 'max' (got {self.monitor_mode!r})")
        if self.val_score is not None and not callable(self.val_score):
            raise ValueError(f"TrainConfig: 'val_score' must be None or a callable taking collect()'s dict "
                             f"(got {self.val_score!r})")
        if self.validate_start is not None and not isinstance(self.validate_start, bool):
            raise ValueError(f"TrainConfig: 'validate_start' must be None, True or False "
                             f"(got {self.validate_start!r})")
        if not all(callable(cb) for cb in self.callbacks):
            raise ValueError(f"TrainConfig: 'callbacks' must be callables (got {list(self.callbacks)!r})")

    def _check_switches(self) -> None:
        for name in ("compile", "overwrite", "progress", "distributed", "restore_best"):
            _bool(name, getattr(self, name))
        _path("out_dir", self.out_dir, "the path of a folder")
        _path("resume", self.resume, "the path of a checkpoint or run folder", allow_bool=True)
        _path("init_from", self.init_from, "the path of a checkpoint or run folder")
        if self.monitor is not None and (not isinstance(self.monitor, str) or not self.monitor):
            raise ValueError(f"TrainConfig: 'monitor' must be None or the name of a history key, such as "
                             f"'val_loss' (got {self.monitor!r})")

    @classmethod
    def fields(cls) -> List[str]:
        """The option names, in order."""
        return [f.name for f in dataclasses.fields(cls)]

    def given(self) -> frozenset:
        """The names of the fields that were passed when this config was made
        (and by :meth:`replace`): the ones ``recipe="paper"`` leaves as they
        are. A config made without its ``__init__`` (e.g. unpickled from an
        older release) counts every field as given."""
        return self.__dict__.get("_given", frozenset(self.fields()))

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with some fields changed (checked again). The copy is made
        from the fields given to this config and ``changes``, so the recipe
        fills the others again: ``replace(recipe="paper")`` applies the
        official recipe, ``replace(recipe="default")`` takes it away, and a
        field you set keeps your value under either.

        Raises:
            TypeError: naming an unknown field.
        """
        unknown = sorted(set(changes) - set(self.fields()))
        if unknown:
            raise TypeError(f"TrainConfig: unknown option {unknown[0]!r} (options: {', '.join(self.fields())})")
        kept = {name: getattr(self, name) for name in self.fields() if name in self.given()}
        return type(self)(**{**kept, **changes})


def make_config(config: Optional[TrainConfig], overrides: Dict[str, Any], val_loader: Any = None) -> TrainConfig:
    """:func:`~srnn_pyg.engine.fit`'s ``config`` with its keyword ``overrides``
    (a config passed where the validation loader goes is refused by name)."""
    if isinstance(val_loader, TrainConfig):
        raise TypeError("fit: 'val_loader' got a TrainConfig; pass it by name, fit(model, train_loader, "
                        "config=TrainConfig(...)), or after the validation loader (or None)")
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"fit: 'config' must be a TrainConfig or None (got {type(config).__name__})")
    unknown = sorted(set(overrides) - set(TrainConfig.fields()))
    if unknown:
        raise TypeError(f"fit: unknown option {unknown[0]!r} (TrainConfig fields: "
                        f"{', '.join(TrainConfig.fields())})")
    if config is None:
        if "epochs" not in overrides:
            raise TypeError("fit: the number of 'epochs' is required (pass epochs=... or a TrainConfig)")
        return TrainConfig(**overrides)
    return config.replace(**overrides) if overrides else config
