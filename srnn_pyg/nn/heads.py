r"""Output heads: what a model's last layer means, in one place.

A head turns the raw output of a model's last layer into the *parameters* of
its prediction (:meth:`Head.forward`), names the point prediction that is fed
back during a rollout (:meth:`Head.point`), draws samples (:meth:`Head.sample`)
and owns the training loss (:meth:`Head.loss`). The trainer and the evaluator
ask a model's head (:func:`head_of`) and never look at how a model is built.

* :class:`DeterministicHead`: the prediction itself; loss MSE, L1 or Huber.
* :class:`GaussianHead`: a bivariate Gaussian per 2-d step
  :math:`(\mu_x, \mu_y, \sigma_x, \sigma_y, \rho)`, trained by its negative
  log-likelihood (Social-LSTM, Alahi et al., CVPR 2016; Social Attention,
  Vemula et al., ICRA 2018).
* :class:`LogitsHead`: class logits; loss cross-entropy.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..metrics import bivariate_gaussian_nll

__all__ = ["Head", "DeterministicHead", "GaussianHead", "LogitsHead", "HEADS", "LOSSES", "build_head",
           "head_of"]

#: head kinds accepted by :func:`build_head`
HEADS = ("deterministic", "gaussian", "logits")
#: losses of :class:`DeterministicHead`
LOSSES = ("mse", "l1", "huber", "euclidean")


def weighted_mean(total: Tensor, count: Tensor) -> Tensor:
    """``total / count``, and 0 where ``count`` is 0 (then ``total`` is 0
    too). Counts are sums of weights, which may be below 1 (``y_weight``):
    unlike ``count.clamp_min(1)``, small weights do not shrink the mean."""
    return total / torch.where(count > 0, count, torch.ones_like(count))


def loss_dtype(params: Tensor) -> torch.dtype:
    """The dtype a loss is computed in: float32 for half-precision (or integer) outputs, the
    outputs' own dtype when it is wider (a float64 model keeps float64 losses and gradients)."""
    return torch.promote_types(params.dtype, torch.float32)


def loss_terms(head: "Head", params: Tensor, target: Tensor, mask: Optional[Tensor] = None,
               weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """``head.loss_terms``, passing ``weight`` only when given (heads written
    for the three-argument signature keep working without weights)."""
    if weight is None:
        return head.loss_terms(params, target, mask)
    return head.loss_terms(params, target, mask, weight)


class Head(nn.Module):
    r"""Base class of the output heads. Heads hold no parameters: the model's
    last layer produces :attr:`raw_channels` values per node and step.

    Args:
        out_channels (int): predicted features (or classes).

    Shapes:
        - **raw / params:** ``[..., raw_channels]``
        - **point / sample:** ``[..., out_channels]``
    """

    kind: str = ""
    classification: bool = False

    def __init__(self, out_channels: int):
        super().__init__()
        if isinstance(out_channels, bool) or not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f"{type(self).__name__}: 'out_channels' must be a positive int "
                             f"(got {out_channels!r})")
        self.out_channels = out_channels

    @property
    def raw_channels(self) -> int:
        """Width of the raw output the model's last layer must produce."""
        return self.out_channels

    def forward(self, raw: Tensor) -> Tensor:
        """The output transform: raw last-layer values to the head's parameters."""
        return raw

    def point(self, params: Tensor) -> Tensor:
        """The point prediction (fed back as the next input in a rollout)."""
        return params

    def sample(self, params: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """One draw from the predicted distribution (the point for deterministic heads)."""
        return self.point(params)

    def loss_terms(self, params: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                   weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """``(sum, count)`` of the per-entry loss over the entries ``mask``
        keeps, so that batches of different sizes average exactly.
        ``weight``: per-node, per-feature weights ``[N, F]`` of the targets
        (the windows' ``y_weight``); only point losses take them."""
        raise NotImplementedError

    def loss(self, params: Tensor, target: Tensor, mask: Optional[Tensor] = None,
             weight: Optional[Tensor] = None) -> Tensor:
        """The masked mean training loss (a scalar)."""
        s, c = loss_terms(self, params, target, mask, weight)
        return weighted_mean(s, c)

    def _no_weight(self, weight: Optional[Tensor]) -> None:
        if weight is not None:
            raise ValueError(f"{type(self).__name__}: per-feature target weights ('y_weight') apply to the point "
                             f"losses of a deterministic head only; this head's {self.kind} loss takes none "
                             f"(remove 'y_weight' from the windows)")

    def _check(self, params: Tensor, target: Tensor, want: Tuple[int, ...]) -> None:
        if tuple(params.shape[:-1]) != tuple(target.shape[:len(params.shape) - 1]) or params.size(-1) != want[0]:
            raise ValueError(f"{type(self).__name__}: the model's output must be [..., {want[0]}] with the "
                             f"leading dims of the targets (got output {list(params.shape)}, targets "
                             f"{list(target.shape)}; check out_channels and the horizon)")

    def _check_mask(self, mask: Optional[Tensor], shape: Tuple[int, ...], what: str) -> None:
        """``mask`` must be a tensor over leading dims of ``shape`` (``what`` names them)."""
        if mask is None:
            return
        if not isinstance(mask, Tensor) or mask.dim() > len(shape) or tuple(mask.shape) != tuple(shape[:mask.dim()]):
            got = list(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"{type(self).__name__}: the loss 'mask' must cover leading dims of the {what} "
                             f"{list(shape)}, e.g. {list(shape[:2])} (got {got})")

    def extra_repr(self) -> str:
        return str(self.out_channels)


def _feature_weight(weight: Tensor, diff: Tensor) -> Tensor:
    """Per-node, per-feature target weights ``[N, F]`` checked and shaped
    ``[N, 1, F]`` against the errors ``diff`` ``[N, T, F]``."""
    if not isinstance(weight, Tensor) or weight.dim() != 2 or diff.dim() != 3 \
            or tuple(weight.shape) != (diff.size(0), diff.size(-1)):
        got = list(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"DeterministicHead: 'y_weight' must be [num_nodes, F] = [{diff.size(0)}, "
                         f"{diff.size(-1)}], one weight per node and target feature (got {got})")
    return weight.to(diff.dtype).unsqueeze(1)


class DeterministicHead(Head):
    r"""The prediction itself, trained with a point loss.

    Args:
        out_channels (int): predicted features.
        loss (str, optional): ``"mse"``, ``"l1"``, ``"huber"``
            (:math:`\delta` = ``huber_delta``), or ``"euclidean"``: the length
            of each node's error vector over its features, averaged over
            nodes and steps, :math:`\lVert \hat{\mathbf{x}}_{i,t} -
            \mathbf{x}_{i,t} \rVert_2` (computed as
            :math:`\sqrt{\lVert\cdot\rVert^2 + 10^{-12}}`, smooth at zero): the
            ADE of trajectory forecasting when the features are a position.
            (default: :obj:`"mse"`)
        huber_delta (float, optional): (default: :obj:`1.0`)

    With per-feature weights :math:`w_{i,f}` (``weight``, from the windows'
    ``y_weight``), the MSE, L1 and Huber losses are the weighted mean
    :math:`\sum w\,\ell / \sum w` over the kept entries, and the Euclidean
    loss weighs inside the length, :math:`\sqrt{\sum_f w_{i,f} d_f^2}`.
    """

    kind = "deterministic"

    def __init__(self, out_channels: int, loss: str = "mse", huber_delta: float = 1.0):
        super().__init__(out_channels)
        if loss not in LOSSES:
            raise ValueError(f"DeterministicHead: 'loss' must be one of {list(LOSSES)} (got {loss!r})")
        if not huber_delta > 0:
            raise ValueError(f"DeterministicHead: 'huber_delta' must be > 0 (got {huber_delta!r})")
        self.loss_kind, self.huber_delta = loss, float(huber_delta)

    def loss_terms(self, params: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                   weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        if params.shape != target.shape:
            raise ValueError(f"DeterministicHead: the model's output is {list(params.shape)} but the targets "
                             f"are {list(target.shape)} (check out_channels and the horizon)")
        self._check_mask(mask, tuple(target.shape), "targets")
        dt = loss_dtype(params)
        diff = params.to(dt) - target.to(dt)                                       # [N, T, F]
        if mask is not None:  # select, not multiply: a NaN target at a masked entry must not leak
            m = mask if mask.dtype == torch.bool else mask != 0
            while m.dim() < diff.dim():
                m = m.unsqueeze(-1)                                                # [N, T, 1]
            diff = torch.where(m, diff, diff.new_zeros(()))
        fw = None if weight is None else _feature_weight(weight, diff)              # [N, 1, F]
        if self.loss_kind == "euclidean":                                         # per node and step
            sq = diff.pow(2) if fw is None else diff.pow(2) * fw
            err = (sq.sum(-1, keepdim=True) + 1e-12).sqrt()                        # [N, T, 1]; smooth at 0
            if fw is not None:          # weighed inside the length; a node with no weight does not count
                fw = (fw.sum(-1, keepdim=True) > 0).to(err.dtype)                  # [N, 1, 1]
        elif self.loss_kind == "mse":
            err = diff.pow(2)
        elif self.loss_kind == "l1":
            err = diff.abs()
        else:
            err = F.huber_loss(diff, torch.zeros_like(diff), reduction="none", delta=self.huber_delta)
        if mask is None and fw is None:
            return err.sum(), torch.tensor(float(err.numel()), device=err.device)
        if mask is None:
            w = fw.expand_as(err)                                                  # [N, T, F]
        else:
            w = mask.to(err.dtype)
            while w.dim() < err.dim():
                w = w.unsqueeze(-1)                                                # [N, T, 1]
            if w.size(-1) != err.size(-1):   # euclidean: a node-step counts if any feature of it does
                w = (w != 0).any(-1, keepdim=True).to(err.dtype)
            w = (w if fw is None else w * fw).expand_as(err)
        return torch.where(w != 0, err * w, err.new_zeros(())).sum(), w.sum()      # masked entries selected out

    def extra_repr(self) -> str:
        return f"{self.out_channels}, loss={self.loss_kind!r}"


class GaussianHead(Head):
    r"""A bivariate Gaussian over the next 2-d position, as Social-LSTM and
    Social Attention predict:

    .. math::
        (\mu_x, \mu_y, \sigma_x, \sigma_y, \rho) = (r_1, r_2, e^{r_3}, e^{r_4}, \tanh r_5)

    with the log-sigmas clamped to :math:`[-10, 10]`. Trained by
    :func:`~srnn_pyg.metrics.bivariate_gaussian_nll`; the point prediction is
    the mean; :meth:`sample` draws correlated Gaussian noise.

    Args:
        out_channels (int, optional): must be 2. (default: :obj:`2`)
    """

    kind = "gaussian"

    def __init__(self, out_channels: int = 2):
        super().__init__(out_channels)
        if out_channels != 2:
            raise ValueError(f"GaussianHead: a bivariate Gaussian predicts 2-d positions, so 'out_channels' "
                             f"must be 2 (got {out_channels})")

    @property
    def raw_channels(self) -> int:
        return 5

    def forward(self, raw: Tensor) -> Tensor:
        return torch.cat([raw[..., :2], raw[..., 2:4].clamp(-10, 10).exp(), torch.tanh(raw[..., 4:5])], -1)

    def point(self, params: Tensor) -> Tensor:
        return params[..., :2]

    def sample(self, params: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        sx, sy, rho = params[..., 2], params[..., 3], params[..., 4]
        z = torch.randn((2,) + tuple(sx.shape), dtype=sx.dtype, device=sx.device, generator=generator)
        dx = sx * z[0]
        dy = sy * (rho * z[0] + (1 - rho ** 2).clamp_min(0).sqrt() * z[1])
        return params[..., :2] + torch.stack([dx, dy], dim=-1)

    def loss_terms(self, params: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                   weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        self._no_weight(weight)
        if params.shape[:-1] != target.shape[:-1] or params.size(-1) != 5 or target.size(-1) != 2:
            raise ValueError(f"GaussianHead: the model's one-step output must be [N, T, 5] for 2-d targets "
                             f"(got {list(params.shape)} and targets {list(target.shape)})")
        dt = loss_dtype(params)
        mean = bivariate_gaussian_nll(params.to(dt), target.to(dt), mask)
        count = mask.sum().to(mean.dtype) if mask is not None else \
            torch.tensor(float(target[..., 0].numel()), device=mean.device)
        return mean * count, count


class LogitsHead(Head):
    r"""Class logits per node and step, trained with the cross-entropy.

    Args:
        out_channels (int): number of classes.

    :meth:`loss_terms` takes logits ``[N, H, C]`` and long labels ``[N, H]``;
    masked-out labels may hold anything (padding).
    """

    kind = "logits"
    classification = True

    def loss_terms(self, params: Tensor, target: Tensor, mask: Optional[Tensor] = None,
                   weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        self._no_weight(weight)
        C = params.size(-1)
        if params.dim() != target.dim() + 1 or params.shape[:-1] != target.shape:
            raise ValueError(f"LogitsHead: logits must be [..., C] over the labels' shape (got logits "
                             f"{list(params.shape)}, labels {list(target.shape)})")
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise TypeError(f"LogitsHead: the labels must be an integer (long) tensor of class ids "
                            f"(got {target.dtype})")
        if mask is not None and (mask.dim() != target.dim() or mask.shape != target.shape):
            got = list(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"LogitsHead: the loss 'mask' must have the labels' shape {list(target.shape)} "
                             f"(got {got})")
        target = target.long()
        lg = params.to(loss_dtype(params))
        w = torch.ones_like(target, dtype=lg.dtype) if mask is None else mask.to(lg.dtype)
        labels = torch.where(w > 0, target, torch.zeros_like(target))                 # padding may be junk
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= C):
            raise ValueError(f"LogitsHead: labels must lie in [0, {C - 1}] for {C} output channels "
                             f"(got [{int(labels.min())}, {int(labels.max())}])")
        ce = F.cross_entropy(lg.reshape(-1, C), labels.reshape(-1), reduction="none").view_as(w)
        return torch.where(w > 0, ce, ce.new_zeros(())).sum(), w.sum()


def build_head(kind: str, out_channels: int, **kwargs) -> Head:
    """A head by kind: ``"deterministic"`` (``loss=...``), ``"gaussian"`` or ``"logits"``."""
    cls = {"deterministic": DeterministicHead, "gaussian": GaussianHead, "logits": LogitsHead}.get(kind)
    if cls is None:
        raise ValueError(f"build_head: 'kind' must be one of {list(HEADS)} (got {kind!r})")
    return cls(out_channels, **kwargs)


def head_of(model: nn.Module, classification: Optional[bool] = None) -> Head:
    """The head of ``model``: its ``head`` when that is a :class:`Head`; for
    any other module a :class:`DeterministicHead` (its output is the
    prediction).

    With ``classification=True`` (the data holds long labels) a model whose
    head is deterministic, such as a baseline without a ``task`` option, is
    read as producing class scores: a :class:`LogitsHead` of its width is
    returned. A Gaussian head cannot classify (``ValueError``).
    """
    head = getattr(model, "head", None)
    if not isinstance(head, Head):
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)   # DDP / compiled
        if isinstance(inner, nn.Module) and inner is not model:
            return head_of(inner, classification)
        head = DeterministicHead(int(getattr(model, "out_channels", 1) or 1))
    if classification and not head.classification:
        if head.kind != "deterministic":
            raise ValueError(f"head_of: the data holds class labels but {type(model).__name__} has a "
                             f"{head.kind!r} head")
        return LogitsHead(head.out_channels)
    if classification is False and head.classification:
        raise ValueError(f"head_of: {type(model).__name__} predicts class logits but the data holds "
                         f"real-valued targets")
    return head
