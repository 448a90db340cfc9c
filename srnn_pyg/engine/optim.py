r"""Optimisers and learning-rate schedulers by name (:class:`TrainConfig`'s
``optimizer`` and ``scheduler``)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from .config import OPTIMIZERS, SCHEDULERS, TrainConfig

__all__ = ["make_optimizer", "make_scheduler", "step_scheduler", "current_lr", "is_better", "apply_new_rates",
           "stretch_schedule", "TheanoMomentum"]


class TheanoMomentum(torch.optim.Optimizer):
    r"""Momentum as the official S-RNN code updates (NeuralModels'
    ``updates.Momentum``), ``optimizer="momentum"``:

    .. math::
        \mathbf{v} \leftarrow \mu \mathbf{v} - \eta \mathbf{g}, \qquad
        \mathbf{p} \leftarrow \mathbf{p} + \mathbf{v}

    (``weight_decay`` adds :math:`\lambda \mathbf{p}` to :math:`\mathbf{g}`).
    PyTorch's SGD keeps :math:`\mathbf{v} \leftarrow \mu \mathbf{v} +
    \mathbf{g}` and steps :math:`-\eta \mathbf{v}`: the same updates while
    :math:`\eta` is constant, but when a schedule cuts :math:`\eta`, SGD's next
    step shrinks at once, while here the velocity keeps the old rate's steps
    and fades over about :math:`1 / (1 - \mu)` steps, as the official
    training's did at its cuts."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                v = state["velocity"]
                v.mul_(mu).add_(g, alpha=-lr)
                p.add_(v)
        return loss


def make_optimizer(config: TrainConfig, params: List[nn.Parameter]) -> torch.optim.Optimizer:
    """``"adam"``, ``"adamw"``, ``"sgd"`` or ``"momentum"``
    (:class:`TheanoMomentum`; both with the config's ``momentum``) with the
    config's ``lr`` and ``weight_decay``, or ``config.optimizer(params)``."""
    optimizer, lr, wd = config.optimizer, config.lr, config.weight_decay
    if callable(optimizer) and not isinstance(optimizer, str):
        return optimizer(params)
    if optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if optimizer == "momentum":
        return TheanoMomentum(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    raise ValueError(f"fit: 'optimizer' must be one of {list(OPTIMIZERS)} or a callable "
                     f"params -> Optimizer (got {optimizer!r})")


def _probe(cls: Any, kwargs: Dict[str, Any], plateau: bool) -> None:
    """Build ``cls`` with ``kwargs`` on a throwaway optimiser and step it a
    few times: values torch's constructors accept but its steps refuse
    (``step_size=0``, ``T_max=0``, a string ``gamma``) fail here, before any
    training, not after the first epoch."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    probe = cls(opt, **kwargs)
    for _ in range(3):
        opt.step()
        probe.step(1.0) if plateau else probe.step()


def make_scheduler(config: TrainConfig, opt: torch.optim.Optimizer, plateau_mode: str = "min") -> Any:
    """The config's scheduler on ``opt`` (:obj:`None` for none), its
    ``scheduler_kwargs`` over the defaults; a plateau scheduler in
    ``plateau_mode`` (``fit`` negates a maximised score instead, so ``"min"``;
    Lightning hands it the raw value)."""
    scheduler, epochs = config.scheduler, config.epochs
    if scheduler is None:
        return None
    if callable(scheduler) and not isinstance(scheduler, str):
        return scheduler(opt)
    defaults = {"step": dict(step_size=max(1, epochs // 3), gamma=0.1),
                "cosine": dict(T_max=max(1, epochs)),
                "plateau": dict(factor=0.5, patience=2, mode=plateau_mode),
                "paper": dict(milestones=[1500, 4500], gamma=0.1)}
    classes = {"step": torch.optim.lr_scheduler.StepLR,
               "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
               "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
               "paper": torch.optim.lr_scheduler.MultiStepLR}
    if scheduler not in classes:
        raise ValueError(f"fit: 'scheduler' must be one of {list(SCHEDULERS)} or a callable "
                         f"optimizer -> scheduler (got {scheduler!r})")
    kwargs = {**defaults[scheduler], **config.scheduler_kwargs}
    try:
        _probe(classes[scheduler], kwargs, scheduler == "plateau")
        sched = classes[scheduler](opt, **kwargs)
    except (TypeError, ValueError, ArithmeticError) as e:
        raise ValueError(f"fit: 'scheduler_kwargs' {config.scheduler_kwargs!r} do not fit scheduler={scheduler!r} "
                         f"(torch.optim.lr_scheduler.{classes[scheduler].__name__}): {e}") from None
    sched.per_iteration = scheduler == "paper"     # stepped after every optimiser step, not every epoch
    return sched


def step_scheduler(sched: Any, score: Optional[float], mode: str) -> None:
    """Step once per epoch (a per-iteration scheduler is stepped by the loop
    after each optimiser step instead); ``ReduceLROnPlateau`` is given the
    monitored ``score`` (negated when it is maximised)."""
    if sched is None or getattr(sched, "per_iteration", False):
        return
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        sched.step(score if mode == "min" else -score)
    else:
        sched.step()


def current_lr(opt: Optional[torch.optim.Optimizer]) -> Optional[float]:
    """The learning rate of the first parameter group."""
    return float(opt.param_groups[0]["lr"]) if opt is not None else None


#: monitor names maximised unless ``TrainConfig.monitor_mode`` says otherwise
HIGHER_IS_BETTER = ("accuracy", "f1", "precision", "recall")


def monitor_direction(monitor: str, mode: Optional[str] = None) -> str:
    """``mode`` (``"min"``/``"max"``), or ``"max"`` for a ``monitor`` ending in
    one of :data:`HIGHER_IS_BETTER`, else ``"min"``."""
    return mode or ("max" if monitor.endswith(HIGHER_IS_BETTER) else "min")


def is_better(a: float, b: Optional[float], mode: str) -> bool:
    """``a`` beats the best so far ``b`` (:obj:`None` or NaN: anything not NaN does)."""
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return not math.isnan(a)
    return a < b if mode == "min" else a > b


def apply_new_rates(opt: Optional[torch.optim.Optimizer], sched: Any, config: TrainConfig,
                    saved: Dict[str, Any]) -> List[str]:
    """Give a restored optimiser the ``lr``, ``weight_decay`` and (SGD)
    ``momentum`` of ``config`` where they differ from the checkpoint's
    ``saved`` config, which the optimiser's state would keep: every group's
    rate and a scheduler's base rates scaled by ``new / old`` (a schedule
    keeps its progress), the others set. Built-in optimisers only. Returns
    what changed, one phrase each, for the caller's warning."""
    if opt is None or not isinstance(config.optimizer, str):
        return []
    old_lr, old_wd = saved.get("lr"), saved.get("weight_decay")
    changed = []
    if isinstance(old_lr, (int, float)) and old_lr > 0 and isinstance(config.lr, (int, float)) \
            and config.lr != old_lr:
        ratio = config.lr / old_lr
        for group in opt.param_groups:
            group["lr"] = group["lr"] * ratio
            if "initial_lr" in group:
                group["initial_lr"] = group["initial_lr"] * ratio
        if sched is not None and hasattr(sched, "base_lrs"):
            sched.base_lrs = [b * ratio for b in sched.base_lrs]
        if sched is not None and hasattr(sched, "_last_lr"):
            sched._last_lr = [g["lr"] for g in opt.param_groups]
        changed.append(f"'lr' was {old_lr!r}, now {config.lr!r}: the learning rate (now "
                       f"{opt.param_groups[0]['lr']:.4g}) is scaled by {ratio:.4g}")
    if isinstance(old_wd, (int, float)) and isinstance(config.weight_decay, (int, float)) \
            and config.weight_decay != old_wd:
        for group in opt.param_groups:
            group["weight_decay"] = config.weight_decay
        changed.append(f"'weight_decay' was {old_wd!r}, now {config.weight_decay!r}")
    old_m = saved.get("momentum")
    if config.optimizer in ("sgd", "momentum") and isinstance(old_m, (int, float)) and config.momentum != old_m:
        for group in opt.param_groups:
            group["momentum"] = config.momentum
        changed.append(f"'momentum' was {old_m!r}, now {config.momentum!r}")
    return changed


def stretch_schedule(sched: Any, config: TrainConfig, saved: Dict[str, Any]) -> Optional[str]:
    """On resuming with another ``epochs`` total than the checkpoint's: a
    built-in ``"cosine"`` or ``"step"`` schedule whose length came from the
    total (no ``T_max``/``step_size`` in ``scheduler_kwargs``) is refitted to
    the new total, and the learning rates set to its value at the epoch
    reached, so the rest of the run follows the schedule a run of the new
    total would (the restored one would end at the old total: a cosine at
    rate 0, then rising again). Returns what changed, for the caller's
    warning, or :obj:`None`."""
    old = saved.get("epochs")
    if sched is None or config.scheduler not in ("cosine", "step") or not isinstance(old, int) \
            or old == config.epochs:
        return None
    t = sched.last_epoch
    if config.scheduler == "cosine" and "T_max" not in config.scheduler_kwargs:
        sched.T_max = max(1, config.epochs)
        lrs = [sched.eta_min + (base - sched.eta_min) * (1 + math.cos(math.pi * t / sched.T_max)) / 2
               for base in sched.base_lrs]
        what = f"the cosine schedule now spans {sched.T_max} epochs"
    elif config.scheduler == "step" and "step_size" not in config.scheduler_kwargs:
        sched.step_size = max(1, config.epochs // 3)
        lrs = [base * sched.gamma ** (t // sched.step_size) for base in sched.base_lrs]
        what = f"the step schedule now cuts the rate every {sched.step_size} epochs"
    else:
        return None
    for group, lr in zip(sched.optimizer.param_groups, lrs):
        group["lr"] = lr
    sched._last_lr = list(lrs)
    return f"'epochs' was {old}, now {config.epochs}: {what} (learning rate now {lrs[0]:.4g})"
