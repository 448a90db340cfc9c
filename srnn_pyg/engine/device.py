r"""Devices and mixed precision: :func:`resolve_device`, :func:`model_device`
and :func:`amp_context`."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Optional, Tuple, Union

import torch
from torch import nn

__all__ = ["DeviceLike", "resolve_device", "model_device", "amp_context"]

DeviceLike = Union[str, torch.device]


def resolve_device(device: Optional[DeviceLike] = None, local_rank: Optional[int] = None) -> torch.device:
    """The :class:`torch.device` a ``device`` option names: ``None`` or
    ``"auto"`` picks CUDA when available, else the CPU. Under DDP
    (``local_rank`` given) a CUDA device without an index becomes
    ``cuda:local_rank``.

    Raises:
        ValueError: for a name that is not a device, or CUDA without CUDA.
    """
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
        if local_rank is not None and dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a model without
    parameters)."""
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


#: what ``amp`` may be
AMP_MODES = (False, True, None, "fp16", "bf16")


def amp_context(device: torch.device, amp: Any) -> Tuple[Callable[[], Any], bool]:
    """A factory of autocast contexts for ``amp`` (``False``, ``True`` or
    ``"fp16"``, ``"bf16"``) on ``device``, and whether a ``GradScaler`` is
    needed (fp16). A no-op off CUDA; any other ``amp`` is refused."""
    if amp not in AMP_MODES or isinstance(amp, (int, float)) and not isinstance(amp, bool):
        raise ValueError(f"'amp' must be False (or None), True, 'fp16' or 'bf16' (got {amp!r})")
    if not amp or device.type != "cuda":
        return contextlib.nullcontext, False
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return (lambda: torch.autocast(device_type="cuda", dtype=dtype)), dtype == torch.float16
