r"""What a batch of windows is trained on: the inputs, targets and masks of
each objective, and the loss the model's head (:func:`~srnn_pyg.nn.heads.head_of`)
computes on them.

* ``"teacher_forcing"`` (models with ``has_forward``): the inputs are the
  window ``concat(x, y)`` without its last step and the targets are the steps
  that follow (:func:`teacher_forcing`), so :meth:`forward` is trained to
  predict every next step from true history, the training of the S-RNN paper;
* ``"rollout"``: the loss is on ``model.forecast(data, horizon)`` against
  ``y`` (:func:`rollout_targets`), the forecasting task itself;
* classification data (long ``y``): the per-step logits of :meth:`forward`
  against the labels (:func:`label_targets`).

Losses are masked by ``node_mask`` and ``y_mask`` where present, and weigh
each target feature by the windows' ``y_weight`` ``[N, F]`` where present
(point losses only, :class:`~srnn_pyg.nn.heads.DeterministicHead`).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.data.data import BaseData

from ..loader import seed_count, seed_view
from ..nn.heads import DeterministicHead, Head, loss_terms, weighted_mean
from .noise import add_noise

__all__ = ["OBJECTIVES", "feedback_of", "default_objective", "is_classification", "peek_classification",
           "teacher_forcing", "rollout_targets", "label_targets", "target_weight", "rollout_head",
           "check_prediction", "StepModule", "batch_loss", "materialize"]

OBJECTIVES = ("teacher_forcing", "rollout")


def feedback_of(model: nn.Module) -> Optional[Any]:
    """The model's :class:`~srnn_pyg.nn.feedback.Feedback` (wrappers
    unwrapped), or :obj:`None`: its prediction is its next input."""
    inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
    if isinstance(inner, nn.Module) and inner is not model:
        return feedback_of(inner)
    return getattr(model, "feedback", None)


def default_objective(model: nn.Module) -> str:
    """Teacher forcing for models with a one-step-ahead :meth:`forward`,
    else rollout."""
    return "teacher_forcing" if getattr(model, "has_forward", True) else "rollout"


def is_classification(batch) -> bool:
    """Whether the targets ``y`` are class labels (an integer tensor)."""
    y = batch.get("y")
    if not isinstance(y, Tensor):
        raise ValueError("fit/evaluate: every batch needs targets 'y' ([N, H, F] values or [N, H] "
                         f"long labels; got {type(y).__name__})")
    return not y.is_floating_point()


def check_loader(loader: Any, what: str, nonempty: bool = False) -> None:
    """A :class:`TypeError` naming ``what`` unless ``loader`` can be iterated
    (a PyG ``DataLoader`` or any iterable of batches): a tensor, a string or
    one graph (which iterates over its keys) is refused too; ``nonempty``: a
    loader whose dataset holds no window is a :class:`ValueError`."""
    if isinstance(loader, (Tensor, str, bytes, BaseData)):
        hint = "; wrap a graph as DataLoader([data])" if isinstance(loader, BaseData) else ""
        raise TypeError(f"{what} must be an iterable of STData batches, e.g. a torch_geometric DataLoader "
                        f"(got {type(loader).__name__}{hint})")
    try:
        iter(loader)
    except TypeError:
        raise TypeError(f"{what} must be an iterable of STData batches, e.g. a torch_geometric DataLoader "
                        f"(got {type(loader).__name__})") from None
    held = getattr(loader, "dataset", None)
    if nonempty and held is not None and hasattr(held, "__len__") and len(held) == 0:
        raise ValueError(f"{what} holds no windows (got an empty {type(held).__name__}); pass None instead")


def peek_classification(loader: Iterable, what: str = "the loader") -> bool:
    """:func:`is_classification` of a loader's first window; a clear error
    naming ``what`` for something that is not a loader or holds no window."""
    check_loader(loader, what)
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and len(dataset) > 0:
        first = dataset[0]
        if not isinstance(first, Data):         # a NodeLoader's dataset holds seed ids, not windows
            first = loader.collate_fn([first])
        return is_classification(first)
    first = next(iter(loader), None)
    if first is None:
        raise ValueError(f"{what} holds no windows (got an empty {type(loader).__name__})")
    return is_classification(first)


def check_one_hop_horizon(batch, horizon: int, what: str) -> None:
    """One-hop batches give their seeds exact one-step outputs only: an
    ``H``-step forecast reads ``H`` hops, so refuse ``H > 1`` on them."""
    if seed_count(batch) is not None and horizon > 1:
        raise ValueError(f"{what} is not exact on one-hop batches (a forecast of {horizon} steps reads "
                         f"{horizon} hops of the graph); use objective='teacher_forcing', or full graphs "
                         f"for forecasts")


def _with(batch, **values):
    """A shallow copy of ``batch`` with some keys replaced (tensors shared)."""
    out = copy.copy(batch)
    for k, v in values.items():
        out[k] = v
    return out


def _extend_time(value: Tensor, steps: int) -> Tensor:
    """Repeat the last time step ``steps`` times along dim 1."""
    last = value[:, -1:]
    return torch.cat([value, last.expand(-1, steps, *last.shape[2:])], dim=1)


def check_targets(batch) -> None:
    """``y`` ``[N, H, ...]`` with the batch's ``N`` nodes, and ``y_mask``, where
    given, a bool ``[N, H]``: a ``ValueError`` naming the key otherwise (no
    host sync)."""
    x, y, ym = batch.get("x"), batch.get("y"), batch.get("y_mask")
    if not isinstance(y, Tensor) or y.dim() < 2 or not isinstance(x, Tensor) or y.size(0) != x.size(0):
        got = list(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ValueError(f"fit/evaluate: the windows' 'y' must be [N, H, F] (or [N, T] class labels) with the "
                         f"N={x.size(0) if isinstance(x, Tensor) else '?'} nodes of 'x' (got {got})")
    if ym is not None and (not isinstance(ym, Tensor) or ym.dtype != torch.bool
                           or tuple(ym.shape) != tuple(y.shape[:2])):
        got = f"{list(ym.shape)} {ym.dtype}" if isinstance(ym, Tensor) else type(ym).__name__
        raise ValueError(f"fit/evaluate: the windows' 'y_mask' must be a torch.bool {list(y.shape[:2])} tensor, "
                         f"[N, H] like 'y' (got {got})")


def teacher_forcing(batch, feedback: Optional[Any] = None) -> Tuple[Any, Tensor, Optional[Tensor]]:
    """Inputs ``concat(x, y)[:, :-1]``, targets ``concat(x, y)[:, 1:]`` and the
    ``[N, T+H-1]`` target mask (target present and input present), or
    :obj:`None` without masks. ``batch`` is left alone.

    A model that reads more than it predicts (``feedback``, a
    :class:`~srnn_pyg.nn.feedback.Feedback`; ``y`` holds only the predicted
    features) gets as future inputs the frames its forecast would build from
    the true targets, and as targets the predicted features only."""
    check_targets(batch)
    x, y = batch.x, batch.y
    out = y.size(-1) if y.dim() == 3 else None
    rebuild = feedback is not None and not feedback.identity and out == feedback.out_channels
    if y.dim() != 3 or (y.size(-1) != x.size(-1) and not rebuild):
        raise ValueError(f"fit: objective='teacher_forcing' feeds the targets back as inputs, so 'y' must "
                         f"be [N, H, F] with the F={x.size(-1)} features of 'x' (got x {list(x.shape)}, "
                         f"y {list(y.shape)}), or a model that rebuilds its inputs from predictions "
                         f"(out_channels < in_channels); use objective='rollout'")
    T, H = x.size(1), y.size(1)
    future = feedback.frames(y.to(x.dtype), batch) if rebuild else y.to(x.dtype)  # [N, H, F]
    seq = torch.cat([x, future], dim=1)                                           # [N, T+H, F]
    values = {"x": seq[:, :-1]}
    nm, ym = batch.get("node_mask"), batch.get("y_mask")
    present = None
    if nm is not None or ym is not None:
        past = nm if nm is not None else torch.ones_like(x[..., 0], dtype=torch.bool)      # [N, T]
        if ym is not None:
            future = ym.to(torch.bool)
            if rebuild and nm is not None:      # rebuilt frames that read an absent last step: absent
                future = future & feedback.frames_present(nm[:, -1:], H)
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
    return _with(batch, **values), seq[:, 1:, :y.size(-1)], mask


def rollout_targets(batch, horizon: int) -> Tuple[Tensor, Optional[Tensor]]:
    """The first ``horizon`` target steps ``[N, horizon, F]`` and their mask:
    ``y_mask``, else ``node_mask`` at the last observed step held over the
    horizon (a node absent then forecasts zeros, which are not scored), as
    teacher forcing holds it."""
    check_targets(batch)
    y = batch.y
    if y.size(1) < horizon:
        raise ValueError(f"fit/evaluate: 'horizon' is {horizon} but the windows hold only "
                         f"{y.size(1)} target steps ('y' is {list(y.shape)})")
    ym, nm = batch.get("y_mask"), batch.get("node_mask")
    if ym is not None:
        return y[:, :horizon], ym[:, :horizon]
    return y[:, :horizon], (nm[:, -1:].expand(-1, horizon) if nm is not None else None)


def target_weight(batch, classification: bool = False) -> Optional[Tensor]:
    """The windows' per-node, per-feature target weights ``y_weight``
    ``[N, F]`` (:obj:`None` without), checked: floating point, finite, at
    least 0, and for regression targets only."""
    w = batch.get("y_weight") if hasattr(batch, "get") else None
    if w is None:
        return None
    if classification:
        raise ValueError("fit/evaluate: 'y_weight' weighs regression target features; the windows hold class "
                         "labels (remove 'y_weight')")
    if not isinstance(w, Tensor) or not w.is_floating_point() or w.dim() != 2:
        got = f"{list(w.shape)} {w.dtype}" if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"fit/evaluate: 'y_weight' must be a floating-point [num_nodes, F] tensor (got {got})")
    if bool((~torch.isfinite(w) | (w < 0)).any()):                              # one host sync
        raise ValueError("fit/evaluate: 'y_weight' must be finite and >= 0 everywhere")
    return w


def label_targets(batch, logits: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """Per-step logits ``[N, T, C]`` cut to the last ``H`` steps (aligned with
    labels ``y`` ``[N, H]``), the labels, and their mask (``y_mask``, else
    ``node_mask`` over the last ``H`` steps, else :obj:`None`)."""
    y = batch.y
    count = seed_count(batch)
    ym = batch.get("y_mask")
    nm = batch.get("node_mask")
    if count is not None and logits.dim() == 3 and logits.size(0) == count:   # a one-hop model's seed rows
        y, ym, nm = seed_view(batch, y, ym, nm)
    if logits.dim() != 3 or logits.size(0) != y.size(0) or logits.size(1) < y.size(1):
        raise ValueError(f"fit/evaluate: classification needs per-step logits [N, T, C] with T >= H for "
                         f"labels 'y' {list(y.shape)} (got {list(logits.shape)})")
    H = y.size(1)
    if ym is None:
        ym = nm[:, nm.size(1) - H:] if nm is not None and nm.size(1) >= H else None
    return logits[:, logits.size(1) - H:], y, ym                                  # [N, H, C], [N, H]


def rollout_head(head: Head) -> Head:
    """The head that scores forecasts (point predictions): ``head`` itself if
    deterministic (its MSE, L1 or Huber loss), else the MSE."""
    return head if isinstance(head, DeterministicHead) else DeterministicHead(head.out_channels)


def check_prediction(point: Tensor, target: Tensor, what: str, head: Optional[Head] = None) -> None:
    """Raise a :class:`ValueError` naming ``what`` unless the point prediction
    and the targets have one shape."""
    if point.shape != target.shape:
        via = "" if head is None or isinstance(head, DeterministicHead) else \
            f" (the point of its {head.kind.capitalize()} head)"
        raise ValueError(f"fit/evaluate: the model's {what}{via} is {list(point.shape)} but the targets are "
                         f"{list(target.shape)} (check out_channels and the horizon)")


class StepModule(nn.Module):
    """Routes both objectives through ``forward`` so that
    :class:`~torch.nn.parallel.DistributedDataParallel` (which hooks
    ``forward``) and ``torch.compile`` see the rollout too:
    ``step(data)`` is ``model(data)``, ``step(data, horizon)`` is
    ``model.forecast(data, horizon)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, data, horizon: Optional[int] = None) -> Tensor:
        return self.model(data) if horizon is None else self.model.forecast(data, horizon)


def node_type_terms(head: Head, params: Tensor, target: Tensor, mask: Optional[Tensor],
                    node_type: Optional[Tensor], weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """The official S-RNN loss, ``(loss, count)``: per node type ``T * D``
    times the mean error over that type's entries, summed over the types
    (without ``node_type``, one type)."""
    T, D = target.size(1), target.size(-1)
    types = [None] if node_type is None else node_type.unique().tolist()      # one host sync
    total, count = params.new_zeros(()).float(), params.new_zeros(()).float()
    for k in types:
        sel = slice(None) if k is None else node_type == k
        s, c = loss_terms(head, params[sel], target[sel], None if mask is None else mask[sel],
                          None if weight is None else weight[sel])
        total = total + weighted_mean(s * (T * D), c)
        count = count + c
    return total, count


def batch_loss(runner: Callable, head: Head, batch, objective: str, horizon: Optional[int] = None,
               noise_std: float = 0.0, classification: bool = False,
               feedback: Optional[Any] = None, noise_p: float = 1.0,
               node_type_loss: bool = False) -> Tuple[Tensor, Tensor]:
    """``(loss, weight)`` of one training batch: the head's masked mean loss
    and the number of entries it averages (to weight batches exactly).

    Args:
        runner (callable): a :class:`StepModule` (possibly DDP-wrapped or
            compiled).
        head (Head): the model's head, :func:`~srnn_pyg.nn.heads.head_of`.
        batch: a batch of windows with targets ``y``.
        objective (str): ``"teacher_forcing"`` or ``"rollout"`` (regression).
        horizon (int, optional): rollout steps. (default: the windows' ``H``)
        noise_std (float, optional): Gaussian noise on the inputs.
        classification (bool, optional): ``y`` holds labels.
        feedback (Feedback, optional): the model's input-rebuilding rule
            (:func:`feedback_of`), for teacher forcing.
        noise_p (float, optional): the share of (graph, step) frames that get
            the noise (:func:`~srnn_pyg.engine.noise.add_noise`).
        node_type_loss (bool, optional): teacher forcing scored with
            :func:`node_type_terms` (the official S-RNN loss).
    """
    # One-hop batches (srnn_pyg.loader.OneHopLoader): the loss is over the seed rows only.
    weight = target_weight(batch, classification)
    if classification:
        logits, labels, mask = label_targets(batch, runner(add_noise(batch, noise_std, noise_p)))
        s, c = head.loss_terms(*seed_view(batch, logits, labels, mask))
    elif objective == "teacher_forcing":
        inp, target, mask = teacher_forcing(batch, feedback)
        params, target, mask, types, weight = seed_view(batch, runner(add_noise(inp, noise_std, noise_p)), target,
                                                        mask, batch.get("node_type"), weight)
        check_prediction(head.point(params), target, "one-step output", head)
        if node_type_loss:
            return node_type_terms(head, params, target, mask, types, weight)
        s, c = loss_terms(head, params, target, mask, weight)
    else:
        H = horizon or batch.y.size(1)
        check_one_hop_horizon(batch, H, "fit: objective='rollout'")
        target, mask = rollout_targets(batch, H)
        pred, target, mask, weight = seed_view(batch, runner(add_noise(batch, noise_std, noise_p), H), target,
                                               mask, weight)
        check_prediction(pred, target, "forecast")
        s, c = loss_terms(rollout_head(head), pred, target, mask, weight)
    return weighted_mean(s, c), c


def materialize(model: nn.Module, loader: Any, device: torch.device) -> None:
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
