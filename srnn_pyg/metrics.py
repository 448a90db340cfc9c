r"""Forecasting and classification metrics, each with the protocol of the
literature that uses it. Every metric takes an optional boolean ``mask``
(absent nodes or steps contribute nothing) and reduces over the masked entries.

Conventions: predictions and targets are ``[N, H, F]`` (node-major, horizon
second); metrics "per horizon" return ``[H]``.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from .geometry import expmap_to_euler

__all__ = ["mse", "mae", "rmse", "mape", "per_horizon", "accuracy", "bivariate_gaussian_nll",
           "euler_angle_error", "euler_varying_dims", "frames_at_ms",
           "threshold_labels", "anticipate", "confusion_matrix", "maneuver_scores",
           "ade", "fde", "best_of_k_ade_fde"]


def _check(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"{name}: 'pred' and 'target' must have the same shape "
                         f"(got {list(pred.shape)} and {list(target.shape)})")


def _values(pred: Tensor, target: Tensor) -> Tuple[Tensor, Tensor]:
    """Integer (or bool) values as floats of the default dtype: an error is a real number."""
    def real(v: Tensor) -> Tensor:
        return v if v.is_floating_point() or v.is_complex() else v.to(torch.get_default_dtype())
    return real(pred), real(target)


def _bool_mask(mask: Any, name: str, device) -> Tensor:
    """``mask`` as a bool tensor; a float or integer one is refused (it would
    be read as weights by some metrics, as a mask by others)."""
    m = torch.as_tensor(mask, device=device)
    if m.dtype != torch.bool:
        raise TypeError(f"{name}: 'mask' must be a bool tensor, True where an entry is scored (got {m.dtype}); "
                        f"for weights, weigh the errors yourself")
    return m


def _weights(target: Tensor, mask: Optional[Tensor], name: str = "metric") -> Tensor:
    """A float weight broadcastable to ``target`` from a mask over its leading dims
    (each of the mask's dimensions the target's size, or 1)."""
    if mask is None:
        return torch.ones_like(target)
    m = _bool_mask(mask, name, target.device)
    lead = tuple(target.shape[:m.dim()])
    if m.dim() > target.dim() or any(a not in (b, 1) for a, b in zip(m.shape, lead)):
        raise ValueError(f"{name}: 'mask' must cover the leading dimensions of 'target' {list(target.shape)} "
                         f"(expected a shape like {list(target.shape[:max(target.dim() - 1, 1)])}; "
                         f"got {list(m.shape)})")
    m = m.to(target.dtype)
    while m.dim() < target.dim():
        m = m.unsqueeze(-1)
    return m.expand_as(target)


def _masked_mean(values: Tensor, w: Tensor, dims=None, empty: float = float("nan")) -> Tensor:
    """The ``w``-weighted mean; entries of weight 0 are selected out, not
    multiplied (a NaN or infinity there, e.g. a missing value under its mask,
    leaves the mean finite). An empty selection (every weight 0) gives
    ``empty``: NaN for a metric (nothing was scored, which is no error of 0),
    0 for a training loss (no entry, no gradient)."""
    values = torch.where(w != 0, values * w, values.new_zeros(()))
    total, count = (values.sum(), w.sum()) if dims is None else (values.sum(dims), w.sum(dims))
    return torch.where(count != 0, total / count.clamp_min(1), total.new_full((), empty))


def mse(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean squared error over the entries where ``mask`` is true (NaN if there
    are none, as for every metric of this module)."""
    _check(pred, target, "mse")
    pred, target = _values(pred, target)
    return _masked_mean((pred - target) ** 2, _weights(target, mask, "mse"))


def mae(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Mean absolute error over the entries where ``mask`` is true."""
    _check(pred, target, "mae")
    pred, target = _values(pred, target)
    return _masked_mean((pred - target).abs(), _weights(target, mask, "mae"))


def rmse(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Root of :func:`mse` (over all masked entries, then the root)."""
    return mse(pred, target, mask).sqrt()


def mape(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None, eps: float = 1e-8) -> Tensor:
    r"""Mean absolute percentage error, in percent. Entries whose target is
    (near) zero are excluded, as traffic papers (T-GCN, DCRNN) do for zero
    readings of broken sensors."""
    _check(pred, target, "mape")
    w = _weights(target, mask, "mape") * (target.abs() > eps).to(target.dtype)
    return 100.0 * _masked_mean((pred - target).abs() / target.abs().clamp_min(eps), w)


def per_horizon(metric: str, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """``mse``/``mae``/``rmse`` at each horizon step: ``[H]`` from ``[N, H, F]``."""
    _check(pred, target, "per_horizon")
    if target.dim() < 2:
        raise ValueError(f"per_horizon: 'pred' and 'target' must be [N, H] or [N, H, F] "
                         f"(got {list(target.shape)})")
    w = _weights(target, mask, "per_horizon")
    dims = [d for d in range(target.dim()) if d != 1]
    if metric == "mse":
        return _masked_mean((pred - target) ** 2, w, dims)
    if metric == "mae":
        return _masked_mean((pred - target).abs(), w, dims)
    if metric == "rmse":
        return _masked_mean((pred - target) ** 2, w, dims).sqrt()
    raise ValueError(f"per_horizon: 'metric' must be 'mse', 'mae' or 'rmse' (got {metric!r})")


def accuracy(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Share of predicted labels equal to the true ones, over the entries where
    ``mask`` is true (NaN if there are none).

    Args:
        pred (Tensor): predicted labels (long), e.g. ``logits.argmax(-1)``.
        target (Tensor): true labels, same shape.
        mask (Tensor, optional): bool over the leading dims. (default: :obj:`None`)
    """
    _check(pred, target, "accuracy")
    hit = (pred == target).to(torch.float)
    return _masked_mean(hit, _weights(hit, mask, "accuracy"))


# ------------------------------------------------------------- motion: Euler-angle error
def frames_at_ms(ms=(80, 160, 320, 400, 560, 1000), fps: float = 25.0) -> list:
    r"""Indices into a predicted sequence of the frames that the
    motion-forecasting tables report: the frame ``ms`` milliseconds after the
    last observed one is index ``ms * fps / 1000 - 1``.

    At 25 fps the defaults give ``[1, 3, 7, 9, 13, 24]``, the frames of
    `Martinez et al. (CVPR 2017) <https://arxiv.org/abs/1705.02445>`_ and the
    papers that follow them.

    Args:
        ms (int or list[int], optional): milliseconds after the last observed
            frame. (default: :obj:`(80, 160, 320, 400, 560, 1000)`)
        fps (float, optional): frame rate of the predictions. (default: :obj:`25.0`)

    Raises:
        ValueError: if a time is not a positive whole number of frames.
    """
    single = np.ndim(ms) == 0                     # a number, or a NumPy / torch scalar
    if isinstance(ms, Tensor):
        ms = ms.tolist()
    out = []
    for t in ([ms] if single else list(ms)):
        n = float(t) * float(fps) / 1000.0
        if n < 1 - 1e-9 or abs(n - round(n)) > 1e-6:
            raise ValueError(f"frames_at_ms: {t} ms must be a positive whole number of frames at "
                             f"{fps} fps (got {n:g} frames)")
        out.append(int(round(n)) - 1)
    return out[0] if single else out


def _euler_poses(pose: Tensor, name: str, what: str, ignore_global: bool) -> Tensor:
    if pose.dim() not in (2, 3) or pose.size(-1) % 3 != 0 or pose.size(-1) < 6 or 0 in pose.shape[:-1]:
        raise ValueError(f"{name}: '{what}' must be [B, H, 3 * K] or [H, 3 * K] exponential-map "
                         f"poses with K >= 2 and at least one sequence and frame (got {list(pose.shape)})")
    eul = expmap_to_euler(pose.double())                               # float64, as the reference code
    if ignore_global:
        eul = torch.cat([eul.new_zeros(*eul.shape[:-1], 6), eul[..., 6:]], dim=-1)
    return eul


def euler_varying_dims(expmap: Tensor, std_threshold: float = 1e-4, ignore_global: bool = True) -> Tensor:
    r"""The Euler-angle dimensions that vary over each sequence (population
    standard deviation above ``std_threshold``): the dimensions that the
    motion-forecasting protocol evaluates.

    Pass the frames that the protocol takes the deviation over as ``dims`` to
    :func:`euler_angle_error`; Li et al. (2018) take the observed and the
    predicted frames together.

    Shapes:
        - **input:** ``[B, T, D]`` (or ``[T, D]``) exponential-map poses
        - **output:** ``[B, D]`` (or ``[D]``) bool
    """
    eul = _euler_poses(expmap, "euler_varying_dims", "expmap", ignore_global)
    return eul.std(dim=-2, unbiased=False) > std_threshold


def euler_angle_error(pred_expmap: Tensor, target_expmap: Tensor, dims: Optional[Tensor] = None,
                      mask: Optional[Tensor] = None, *, ignore_global: bool = True,
                      std_threshold: float = 1e-4, reduce: str = "mean") -> Tensor:
    r"""The Euler-angle error of motion forecasting, per predicted frame.

    The protocol of the S-RNN paper (`Jain et al., CVPR 2016
    <https://arxiv.org/abs/1511.05298>`_), kept by `Martinez et al. (CVPR 2017)
    <https://arxiv.org/abs/1705.02445>`_ for Human3.6M and by `Li et al.
    (CVPR 2018) <https://arxiv.org/abs/1805.00655>`_ and `Mao et al. (ICCV 2019)
    <https://arxiv.org/abs/1908.05436>`_ for CMU mocap: poses in the data's
    units (denormalised) are turned, triple by triple, from exponential maps
    into Euler angles (:func:`~srnn_pyg.geometry.expmap_to_euler`); the
    global translation and rotation (the first 6 values) are set to zero; and
    at each frame :math:`t` of sequence :math:`b`

    .. math::
        e_{b,t} = \Big(\sum_{d \in \mathcal{D}_b}
        (\hat{\phi}_{b,t,d} - \phi_{b,t,d})^2\Big)^{1/2},

    averaged over the sequences. :math:`\mathcal{D}_b` is the set of evaluated
    dimensions: by default those whose target Euler angle varies over the
    given frames (standard deviation above ``std_threshold``; the
    ``np.std(...) > 1e-4`` of the reference code), or ``dims``. Tables report
    the result at 80, 160, 320, 400, 560 and 1000 ms: index it with
    :func:`frames_at_ms`. Computed in float64, returned in the input's dtype.

    Args:
        pred_expmap (Tensor): predicted poses, exponential maps in the data's units.
        target_expmap (Tensor): true poses, same shape.
        dims (Tensor, optional): evaluated Euler-angle dimensions, a bool
            mask ``[D]`` or ``[B, D]``: e.g. :func:`euler_varying_dims` over
            the observed and predicted frames (the CMU code of Li et al.
            2018), or all true (Mao et al. 2019, who copy the target into the
            exponential-map dimensions their model leaves out). The global
            dimensions stay out with ``ignore_global``. (default: :obj:`None`:
            the dimensions that vary over the target frames, as the
            zero-velocity baseline of Martinez et al. 2017 is scored)
        mask (Tensor, optional): ``[B]`` bool, sequences to average over.
            (default: :obj:`None`)
        ignore_global (bool, optional): leave out the global translation and
            rotation. (default: :obj:`True`)
        std_threshold (float, optional): a dimension varies if its standard
            deviation exceeds this. (default: :obj:`1e-4`)
        reduce (str, optional): ``"mean"`` over sequences, or ``"none"``.
            (default: :obj:`"mean"`)

    Shapes:
        - **input:** ``[B, H, D]`` or ``[H, D]`` (``D = 3 K``, the first
          triple the global translation)
        - **output:** ``[H]`` (``"mean"``) or ``[B, H]`` (``"none"``)
    """
    _check(pred_expmap, target_expmap, "euler_angle_error")
    if reduce not in ("mean", "none"):
        raise ValueError(f"euler_angle_error: 'reduce' must be 'mean' or 'none' (got {reduce!r})")
    single = pred_expmap.dim() == 2
    pred = _euler_poses(pred_expmap, "euler_angle_error", "pred_expmap", ignore_global)
    target = _euler_poses(target_expmap, "euler_angle_error", "target_expmap", ignore_global)
    if single:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)          # [1, H, D]
    B, _, D = target.shape
    if dims is None:
        use = target.std(dim=1, unbiased=False) > std_threshold         # [B, D]
    else:
        use = torch.as_tensor(dims, device=target.device)
        if use.dtype != torch.bool or use.shape not in ((D,), (B, D)):
            raise ValueError(f"euler_angle_error: 'dims' must be a bool mask [D] or [B, D] with "
                             f"B={B}, D={D} (got {list(use.shape)}, {use.dtype})")
        use = use.expand(B, D)
    if ignore_global:
        use = use.clone()
        use[:, :6] = False
    sq = (pred - target) ** 2 * use.unsqueeze(1).to(pred.dtype)        # [B, H, D]
    err = sq.sum(-1).sqrt()                                           # [B, H]
    m = None
    if mask is not None:
        m = torch.as_tensor(mask, device=err.device)
        if m.dtype != torch.bool or tuple(m.shape) != (B,):
            raise ValueError(f"euler_angle_error: 'mask' must be a bool [B] = [{B}] tensor "
                             f"(got {list(m.shape)}, {m.dtype})")
    if reduce == "none":
        if m is not None:                                             # unscored sequences: NaN, not an error of 0
            err = torch.where(m.unsqueeze(1), err, err.new_full((), float("nan")))
        out = err[0] if single else err
    else:
        if m is not None:
            out = _masked_mean(err, m.to(err.dtype).unsqueeze(1).expand_as(err), dims=0)
        else:
            out = err.mean(0)                                         # [H]
    return out.to(pred_expmap.dtype if pred_expmap.is_floating_point() else torch.get_default_dtype())


# ------------------------------------------------ classification: maneuver anticipation
def threshold_labels(probs: Tensor, threshold: float, background: int = 0) -> Tensor:
    r"""Per-step labels from class probabilities ``[..., C]``: the most likely
    class, or ``background`` where that class is not the background and its
    probability is below ``threshold`` (the decision rule of the Brain4Cars
    anticipation code, ``OutputActionThresh``: only a confident network
    announces a maneuver)."""
    if probs.dim() < 1:
        raise ValueError(f"threshold_labels: 'probs' must be [..., C] (got {list(probs.shape)})")
    best, label = probs.max(-1)
    weak = (label != background) & (best < threshold)
    return torch.where(weak, torch.full_like(label, background), label)


def anticipate(step_labels: Tensor, background: int = 0, mask: Optional[Tensor] = None,
               step_seconds: float = 0.8):
    r"""One decision per sequence from per-step labels, as Brain4Cars
    (`Jain et al., ICRA 2016 <https://arxiv.org/abs/1601.00740>`_) scores
    anticipation: the first step that predicts a maneuver (a class other than
    ``background``) decides, and the time left until the sequence's last step
    is the anticipation time; a sequence that never predicts one gets
    ``background`` and time 0.

    Args:
        step_labels (Tensor): ``[B, T]`` long predicted labels.
        background (int, optional): the "no maneuver" class (driving straight).
            (default: :obj:`0`)
        mask (Tensor, optional): ``[B, T]`` bool, real steps; others are skipped
            and the time counts to the last real step. (default: :obj:`None`)
        step_seconds (float, optional): duration of a step (Brain4Cars: 20
            frames at 25 fps). (default: :obj:`0.8`)

    Returns:
        ``(pred, time)``: ``[B]`` long decisions and ``[B]`` float seconds.
    """
    if step_labels.dim() != 2:
        raise ValueError(f"anticipate: 'step_labels' must be [B, T] (got {list(step_labels.shape)})")
    B, T = step_labels.shape
    steps = torch.arange(T, device=step_labels.device).expand(B, T)         # [B, T]
    hit = step_labels != background
    if mask is not None:
        if mask.shape != step_labels.shape or mask.dtype != torch.bool:
            raise ValueError(f"anticipate: 'mask' must be a bool [B, T] = {[B, T]} tensor "
                             f"(got {list(mask.shape)}, {mask.dtype})")
        hit = hit & mask
        last = torch.where(mask, steps, torch.full_like(steps, -1)).max(-1).values
    else:
        last = torch.full((B,), T - 1, device=step_labels.device)
    first = torch.where(hit, steps, torch.full_like(steps, T)).min(-1).values   # [B]
    found = first < T
    chosen = step_labels.gather(1, first.clamp_max(T - 1).unsqueeze(1)).squeeze(1)
    pred = torch.where(found, chosen, torch.full_like(chosen, background))
    time = torch.where(found, (last - first).to(torch.float) * step_seconds,
                       torch.zeros(B, device=step_labels.device))
    return pred, time


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int,
                     mask: Optional[Tensor] = None) -> Tensor:
    """Counts ``[C, C]`` (long): row = true class, column = predicted class."""
    _check(pred, target, "confusion_matrix")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"confusion_matrix: 'num_classes' must be an int >= 1 (got {num_classes!r})")
    for name, v in (("pred", pred), ("target", target)):
        if v.is_floating_point() or v.is_complex() or v.dtype == torch.bool:
            raise TypeError(f"confusion_matrix: '{name}' must hold integer class labels (got {v.dtype}); take "
                            f"scores' argmax (or threshold_labels) first")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if mask is not None:
        keep = _bool_mask(mask, "confusion_matrix", pred.device).reshape(-1)
        if keep.numel() != pred.numel():
            raise ValueError(f"confusion_matrix: 'mask' must hold one value per entry ({pred.numel()}; got "
                             f"{keep.numel()})")
        pred, target = pred[keep], target[keep]
    for name, v in (("pred", pred), ("target", target)):
        if v.numel() > 0 and (int(v.min()) < 0 or int(v.max()) >= num_classes):
            raise ValueError(f"confusion_matrix: '{name}' must lie in [0, {num_classes - 1}] "
                             f"(got values in [{int(v.min())}, {int(v.max())}])")
    flat = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return flat.view(num_classes, num_classes)


def maneuver_scores(pred: Tensor, target: Tensor, num_classes: int = 5, background: int = 0,
                    time: Optional[Tensor] = None, mask: Optional[Tensor] = None) -> dict:
    r"""Precision, recall, F1 and time-to-maneuver over maneuvers, as the
    anticipation papers report them (Brain4Cars, `Jain et al., ICRA 2016
    <https://arxiv.org/abs/1601.00740>`_; the S-RNN paper's driving table; the
    authors' ``evaluateCheckpoint.py``).

    Per class :math:`c`: precision :math:`TP_c / \#\{\hat y = c\}`, recall
    :math:`TP_c / \#\{y = c\}` (0 where the denominator is 0). The reported
    precision and recall are their means over the maneuver classes, i.e.
    every class except ``background`` (driving straight): predicting a
    maneuver for a straight-driving sequence lowers that maneuver's
    precision; missing a maneuver (predicting straight) lowers its recall.
    F1 is the harmonic mean of these two averages. Time-to-maneuver is, per
    maneuver class, the mean anticipation time of its correct predictions,
    then averaged over the classes that have any.

    Args:
        pred (Tensor): ``[B]`` long decisions (e.g. from :func:`anticipate`).
        target (Tensor): ``[B]`` long true classes.
        num_classes (int, optional): (default: :obj:`5`)
        background (int, optional): the class left out of the averages; ``None``
            averages over all classes. (default: :obj:`0`)
        time (Tensor, optional): ``[B]`` anticipation times in seconds.
            (default: :obj:`None`)
        mask (Tensor, optional): ``[B]`` bool, sequences to score. (default: :obj:`None`)

    Returns:
        dict with ``"precision"``, ``"recall"``, ``"f1"`` (floats in [0, 1]),
        ``"precision_per_class"``, ``"recall_per_class"`` (``[C]``),
        ``"confusion"`` (``[C, C]``, rows true) and, with ``time``,
        ``"time_to_maneuver"`` (seconds; NaN if no maneuver was predicted correctly).
    """
    if background is not None and (isinstance(background, bool) or not isinstance(background, (int, np.integer))
                                   or not 0 <= background < num_classes):
        raise ValueError(f"maneuver_scores: 'background' must be a class in [0, {num_classes - 1}] or None "
                         f"(got {background!r})")
    try:
        conf = confusion_matrix(pred, target, num_classes, mask).double()
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("confusion_matrix:", "maneuver_scores:", 1)) from None
    tp = conf.diag()
    predicted, actual = conf.sum(0), conf.sum(1)
    prec_c = torch.where(predicted > 0, tp / predicted.clamp_min(1), torch.zeros_like(tp))
    rec_c = torch.where(actual > 0, tp / actual.clamp_min(1), torch.zeros_like(tp))
    keep = torch.ones(num_classes, dtype=torch.bool)
    if background is not None:
        keep[background] = False
    p, r = float(prec_c[keep].mean()), float(rec_c[keep].mean())
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    if int(conf.sum()) == 0:                        # no sequence scored: no score, rather than the worst one
        p = r = f1 = float("nan")
    out = {"precision": p, "recall": r, "f1": f1,
           "precision_per_class": prec_c.float(), "recall_per_class": rec_c.float(),
           "confusion": conf.long()}
    if time is not None:
        if time.numel() != pred.numel():
            raise ValueError(f"maneuver_scores: 'time' must hold one value per sequence "
                             f"(expected {pred.numel()}, got {time.numel()})")
        pr, tg, tm = pred.reshape(-1), target.reshape(-1), time.reshape(-1).double()
        ok = (pr == tg)
        if mask is not None:
            ok = ok & mask.reshape(-1).bool()
        per_class = []
        for c in range(num_classes):
            if not bool(keep[c]):
                continue
            sel = ok & (tg == c)
            if bool(sel.any()):
                per_class.append(float(tm[sel].mean()))
        out["time_to_maneuver"] = sum(per_class) / len(per_class) if per_class else float("nan")
    return out


# ------------------------------------------------ trajectories: ADE / FDE (ETH/UCY)
def _displacement(pred: Tensor, target: Tensor, name: str) -> Tensor:
    """Euclidean error per step: ``[N, H]`` from ``[N, H, D]``."""
    if pred.dim() != 3:
        raise ValueError(f"{name}: 'pred' must be [N, H, D] positions (got {list(pred.shape)})")
    return (pred - target).norm(dim=-1)


def _step_mask(mask: Optional[Tensor], N: int, H: int, name: str, device) -> Tensor:
    """A bool ``[N, H]`` mask from ``None``, ``[N]`` or ``[N, H]``."""
    if mask is None:
        return torch.ones(N, H, dtype=torch.bool, device=device)
    m = _bool_mask(mask, name, device)
    if tuple(m.shape) == (N,):
        return m.unsqueeze(1).expand(N, H)
    if tuple(m.shape) != (N, H):
        raise ValueError(f"{name}: 'mask' must be [N] = [{N}] or [N, H] = [{N}, {H}] (got {list(m.shape)})")
    return m


def ade(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    r"""Average displacement error: the Euclidean distance between predicted
    and true positions, averaged over the predicted steps and the pedestrians
    (in the data's units; metres for ETH/UCY), for one deterministic prediction:

    .. math::
        \mathrm{ADE} = \frac{1}{N H} \sum_{i=1}^{N} \sum_{h=1}^{H}
        \lVert \hat{\mathbf{p}}_{i,h} - \mathbf{p}_{i,h} \rVert_2 .

    With a ``mask`` the mean runs over the entries where it holds. The
    published protocol (Social-GAN) scores only pedestrians present at every
    predicted step: pass ``y_mask.all(1)`` (``[N]``) for that.

    Args:
        pred (Tensor): predicted positions ``[N, H, D]`` (``D = 2``).
        target (Tensor): true positions, same shape.
        mask (Tensor, optional): bool ``[N]`` (pedestrians) or ``[N, H]``
            (pedestrian-steps). (default: :obj:`None`)
    """
    _check(pred, target, "ade")
    pred, target = _values(pred, target)
    err = _displacement(pred, target, "ade")                           # [N, H]
    m = _step_mask(mask, err.size(-2), err.size(-1), "ade", err.device).to(err.dtype)
    return _masked_mean(err, m)


def fde(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    r"""Final displacement error: the Euclidean distance at the last predicted
    step, averaged over the pedestrians (metres for ETH/UCY).

    With a ``mask`` (``[N]`` or ``[N, H]``), only pedestrians for which it holds
    at the last step are averaged.

    Args:
        pred (Tensor): predicted positions ``[N, H, D]``.
        target (Tensor): true positions, same shape.
        mask (Tensor, optional): bool ``[N]`` or ``[N, H]``. (default: :obj:`None`)
    """
    _check(pred, target, "fde")
    pred, target = _values(pred, target)
    err = _displacement(pred, target, "fde")                           # [N, H]
    if err.size(-1) == 0:                                              # no predicted step: nothing scored
        return err.new_full((), float("nan"))
    m = _step_mask(mask, err.size(-2), err.size(-1), "fde", err.device)[:, -1].to(err.dtype)
    return _masked_mean(err[:, -1], m)


def best_of_k_ade_fde(samples: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                      per: str = "pedestrian", batch: Optional[Tensor] = None):
    r"""Best-of-:math:`K` ADE and FDE of a stochastic forecaster (the field's
    "best of 20"), in two variants that published tables mix:

    * ``per="pedestrian"`` (Social-STGCNN's ``test.py``, and most later work):
      each pedestrian keeps its own best sample,

      .. math::
          \mathrm{ADE} = \frac{1}{N} \sum_i \min_k \frac{1}{H} \sum_h
          \lVert \hat{\mathbf{p}}^k_{i,h} - \mathbf{p}_{i,h} \rVert_2 ,
          \qquad
          \mathrm{FDE} = \frac{1}{N} \sum_i \min_k
          \lVert \hat{\mathbf{p}}^k_{i,H} - \mathbf{p}_{i,H} \rVert_2 .

    * ``per="scene"`` (Social-GAN's ``scripts/evaluate_model.py``): in each
      scene-sequence (window) :math:`s` the one sample whose errors summed over
      the window's pedestrians are smallest is taken, for ADE and FDE
      separately,

      .. math::
          \mathrm{ADE} = \frac{1}{N H} \sum_s \min_k \sum_{i \in s} \sum_h
          \lVert \hat{\mathbf{p}}^k_{i,h} - \mathbf{p}_{i,h} \rVert_2 ,

      and FDE likewise at step :math:`H`, divided by :math:`N`.

    The per-pedestrian value is never larger than the per-scene one. Both
    count only pedestrians present at every predicted step (``mask``), as the
    published protocol keeps only those.

    Args:
        samples (Tensor): ``[K, N, H, D]`` predicted positions.
        target (Tensor): ``[N, H, D]`` true positions.
        mask (Tensor, optional): bool ``[N]`` or ``[N, H]``; a pedestrian
            counts if it holds at all ``H`` steps. (default: :obj:`None`)
        per (str, optional): ``"pedestrian"`` or ``"scene"``. (default: :obj:`"pedestrian"`)
        batch (Tensor, optional): ``[N]`` long, the window of each pedestrian
            (PyG's ``batch`` vector), for ``per="scene"``. (default: :obj:`None`:
            one window)

    Returns:
        ``(ade, fde)``, two scalar tensors.
    """
    if per not in ("pedestrian", "scene"):
        raise ValueError(f"best_of_k_ade_fde: 'per' must be 'pedestrian' or 'scene' (got {per!r})")
    if samples.dim() != 4 or tuple(samples.shape[1:]) != tuple(target.shape) or samples.size(0) == 0:
        raise ValueError(f"best_of_k_ade_fde: 'samples' must be [K, N, H, D] with K >= 1 and [N, H, D] = "
                         f"{list(target.shape)} (got {list(samples.shape)})")
    err = (samples - target.unsqueeze(0)).norm(dim=-1)                 # [K, N, H]
    K, N, H = err.shape
    valid = _step_mask(mask, N, H, "best_of_k_ade_fde", err.device).all(1)  # [N]
    count = valid.sum().to(err.dtype)                                   # 0: no pedestrian scored, NaN
    count = torch.where(count > 0, count, count.new_full((), float("nan")))
    ped_ade = err.mean(-1)[:, valid]                                   # [K, N']
    ped_fde = err[..., -1][:, valid]                                   # [K, N']
    if per == "pedestrian":
        return ped_ade.min(0).values.sum() / count, ped_fde.min(0).values.sum() / count
    if batch is None:
        batch = torch.zeros(N, dtype=torch.long, device=err.device)
    batch = torch.as_tensor(batch, device=err.device)
    if batch.dtype != torch.long or tuple(batch.shape) != (N,):
        raise ValueError(f"best_of_k_ade_fde: 'batch' must be a long [N] = [{N}] tensor "
                         f"(got {list(batch.shape)}, {batch.dtype})")
    if N > 0 and int(batch.min()) < 0:
        raise ValueError(f"best_of_k_ade_fde: 'batch' must hold window indices >= 0 (got {int(batch.min())})")
    S = int(batch.max()) + 1 if N > 0 else 0
    b = batch[valid]
    scene_ade = err.new_zeros(K, S).index_add_(1, b, ped_ade)          # [K, S] sums per window
    scene_fde = err.new_zeros(K, S).index_add_(1, b, ped_fde)          # [K, S]
    return scene_ade.min(0).values.sum() / count, scene_fde.min(0).values.sum() / count


# ------------------------------------------------------------- probabilistic: bivariate Gaussian
def bivariate_gaussian_nll(params: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    r"""Mean negative log-likelihood of 2-d targets under per-step bivariate
    Gaussians, the loss of Social-LSTM (Alahi et al., CVPR 2016) and Social
    Attention (Vemula et al., ICRA 2018):

    .. math::
        -\log \mathcal{N}(\mathbf{y} \mid \boldsymbol{\mu}, \sigma_x, \sigma_y, \rho)
        = \log(2\pi\sigma_x\sigma_y\sqrt{1-\rho^2}) + \frac{z}{2(1-\rho^2)},\quad
        z = \frac{d_x^2}{\sigma_x^2} + \frac{d_y^2}{\sigma_y^2} - \frac{2\rho\, d_x d_y}{\sigma_x\sigma_y}

    Args:
        params (Tensor): ``[..., 5]`` = :math:`(\mu_x, \mu_y, \sigma_x, \sigma_y, \rho)` with
            positive sigmas and :math:`|\rho| < 1` (the output of
            ``StructuralRNN(head="gaussian")``).
        target (Tensor): ``[..., 2]``.
        mask (Tensor, optional): boolean over the leading dims; masked-out entries
            are ignored.
    """
    if params.shape[:-1] != target.shape[:-1] or params.size(-1) != 5 or target.size(-1) != 2:
        raise ValueError(f"bivariate_gaussian_nll: 'params' must be [..., 5] and 'target' [..., 2] with the "
                         f"same leading dims (got {list(params.shape)} and {list(target.shape)})")
    if mask is not None and (not isinstance(mask, Tensor) or mask.dtype != torch.bool
                             or mask.shape != params.shape[:-1]):
        got = f"{list(mask.shape)}, {mask.dtype}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"bivariate_gaussian_nll: 'mask' must be a bool tensor of the leading dims "
                         f"{list(params.shape[:-1])} (got {got})")
    mu, sx, sy, rho = params[..., :2], params[..., 2], params[..., 3], params[..., 4]
    dx, dy = target[..., 0] - mu[..., 0], target[..., 1] - mu[..., 1]
    if mask is not None:  # masked entries (absent nodes output sigma = 0) become harmless: no inf, no NaN grad
        one = torch.ones((), dtype=sx.dtype, device=sx.device)
        sx, sy = torch.where(mask, sx, one), torch.where(mask, sy, one)
        rho, dx, dy = torch.where(mask, rho, 0 * one), torch.where(mask, dx, 0 * one), torch.where(mask, dy, 0 * one)
    rho = rho.clamp(-1 + 1e-6, 1 - 1e-6)
    one_m = 1 - rho ** 2
    z = (dx / sx) ** 2 + (dy / sy) ** 2 - 2 * rho * dx * dy / (sx * sy)
    nll = torch.log(2 * torch.pi * sx * sy * one_m.sqrt()) + z / (2 * one_m)
    if mask is None:
        return nll.mean()
    return _masked_mean(nll, mask.to(nll.dtype), empty=0.0)      # a loss: nothing masked in, nothing to learn
