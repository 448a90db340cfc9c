"""Starting an S-RNN from the closed-form linear autoregression."""
from __future__ import annotations

from typing import Any, Iterable, Iterator, List, Optional, Union

import torch
from torch import Tensor
from torch_geometric.data.data import BaseData

from ..data import STData
from ..nn.heads import DeterministicHead
from .linear_ar import LinearAR

__all__ = ["init_linear"]


@torch.no_grad()
def init_linear(model: Any, data: Union[STData, Iterable[STData]], ridge: float = 1e-6) -> Any:
    r"""Start ``model`` (a :class:`~srnn_pyg.models.StructuralRNN` with
    ``ar_lags=p``) as the ridge least-squares linear autoregression of its
    inputs, fitted in closed form on ``data``.

    :class:`~srnn_pyg.models.LinearAR` (``lags=p``, pooled, the model's
    ``covariates``, ``derived`` and ``velocity_scale``) is fitted on every
    teacher-forcing pair of ``data``; its coefficients go to the model's
    autoregressive skip, less what ``residual`` already adds (the current
    frame, plus its velocity with ``residual="velocity"``), and its bias to
    the bias of every decoder's output layer, whose weights are set to zero.
    The model's one-step predictions then equal the linear model's at every
    step with ``p`` frames of history (the skip reads zeros before the first
    frame, the linear model the first frame repeated), and so do its
    forecasts from windows of at least ``p`` steps, whatever the graph,
    until training moves the weights: the S-RNN learns what the linear
    model misses, and early stopping on validation can keep the linear start
    itself. The decoders' earlier layers and the RNNs keep their weights;
    their gradients flow once the output layers leave zero.

    Args:
        model (StructuralRNN): a regression S-RNN with a deterministic head
            and ``ar_lags >= 1``.
        data: an :class:`~srnn_pyg.STData` (or batch), or an iterable of
            them such as a :class:`~torch_geometric.loader.DataLoader`: the
            training windows (``y`` holds the predicted features, or all of
            them).
        ridge (float, optional): the ridge penalty of the fit. (default: :obj:`1e-6`)

    Returns:
        ``model``, started.
    """
    name = type(model).__name__
    p = getattr(model, "ar_lags", 0)
    if not p:
        raise ValueError(f"{name}.init_linear: the model has no autoregressive skip to start from the linear "
                         f"model; build it with ar_lags >= 1 (got ar_lags={p})")
    if not isinstance(model.head, DeterministicHead) or model.task != "regression":
        raise ValueError(f"{name}.init_linear: starts a regression model with a deterministic head (got "
                         f"{type(model.head).__name__}, task={model.task!r})")
    F_in, F_out = model.in_channels, model.out_channels
    if model.feedback is None:
        raise ValueError(f"{name}.init_linear: the linear model predicts the first out_channels of the "
                         f"in_channels input features, so it needs out_channels <= in_channels (got "
                         f"{F_in} -> {F_out})")
    if isinstance(ridge, bool) or not isinstance(ridge, (int, float)) or not ridge >= 0.0:
        raise ValueError(f"{name}.init_linear: 'ridge' must be a float >= 0 (got {ridge!r})")
    fb = model.feedback
    weight = model.ar.weight
    linear = LinearAR(None, F_in, F_out, lags=p, ridge=ridge, covariates=fb.covariates, derived=fb.derived,
                      velocity_scale=fb.velocity_scale).to(device=weight.device, dtype=weight.dtype)
    own: List[Any] = []                             # the windows' check: its error, or the windows it saw
    windows = _windows(name, data, p, own)
    try:
        linear.fit_closed_form(windows)
    except (ValueError, TypeError) as e:
        if own and e is own[-1]:
            raise
        hint = ""
        if "teacher-forcing pair" in str(e):
            hint = ("; 'data' holds no window" if not own else "; no window of 'data' has 'y', so the pairs "
                    "are those inside 'x' alone" if not any(own) else "")
        # LinearAR's words, said of this call
        raise type(e)(f"{name}.init_linear (the linear fit of ar_lags={p} frames on 'data'): {e}{hint}") from e
    W = linear.weight.detach()                                  # [out, p, in]: lag k = k steps before the newest
    # the skip's columns: channel f, frame j (oldest first) at f * p + j, so lag k is frame p - 1 - k
    skip = W.flip(1).permute(0, 2, 1).reshape(F_out, F_in * p).clone()
    if model.residual:                                          # what the residual adds from the newest frame
        newest = torch.arange(F_out, device=W.device) * p + (p - 1)
        skip[torch.arange(F_out), newest] -= 1.0
        if model.residual == "velocity":
            skip[torch.arange(F_out), newest + F_out * p] -= 1.0 / fb.velocity_scale
    weight.copy_(skip)
    for mlp in model.decoders:
        last = mlp.lins[-1]
        last.weight.zero_()
        last.bias.copy_(linear.bias.detach().to(last.bias.dtype))
    return model


def _windows(name: str, data: Any, p: int, own: List[Any]) -> Iterator[BaseData]:
    """The windows of ``data``, each checked to be a graph observing at least
    ``p`` steps. ``own`` gets, per window, whether it has ``y``, and last the
    error raised here, if any."""
    if isinstance(data, BaseData):
        data = [data]
    if isinstance(data, (Tensor, str, bytes)) or not isinstance(data, Iterable):
        raise TypeError(f"{name}.init_linear: 'data' must be an STData or an iterable of them such as a "
                        f"DataLoader (got {type(data).__name__})")
    return _checked(name, data, p, own)


def _checked(name: str, data: Iterable[Any], p: int, own: List[Any]) -> Iterator[BaseData]:
    for d in data:
        x = getattr(d, "x", None) if isinstance(d, BaseData) else None
        error: Optional[Exception] = None
        if not isinstance(d, BaseData):
            error = TypeError(f"{name}.init_linear: 'data' must be an STData or an iterable of them such as a "
                              f"DataLoader (got an item of type {type(d).__name__})")
        elif isinstance(x, Tensor) and x.dim() == 3 and x.size(1) < p:
            error = ValueError(f"{name}.init_linear: the skip reads ar_lags={p} observed frames, so every window "
                               f"of 'data' must observe at least {p} steps (got 'x' {list(x.shape)}); from a "
                               f"shorter window the model's forecasts would not be the linear model's (the skip "
                               f"reads zeros before the first frame); use ar_lags <= {x.size(1)} or longer windows")
        if error is not None:
            own.append(error)
            raise error
        own.append(d.get("y") is not None)
        yield d
