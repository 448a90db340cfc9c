r"""How a forecaster builds its next input frame from its own prediction.

A model may read more than it predicts: positions and velocities in, positions
out (crowds); a speed and the time of day in, the speed out (traffic). Its
input channels are laid out as

========================= ===================================================
channels                  what a forecast feeds back at a future step
========================= ===================================================
``[0, out)``              the prediction itself
``[out, 2 out)``          with ``derived="velocity"``: the first difference of
                          the predicted channels, times ``velocity_scale``
the rest but the last C   held at their last observed value
the last ``covariates``   exogenous covariates known in advance, read from the
                          window's ``u_future`` ``[N, H, C]``
========================= ===================================================

The same rule gives the trainer its teacher-forcing inputs for the future
steps (:meth:`Feedback.frames` of the targets) and the rollout its next input
(:meth:`Feedback.step`), so both see the inputs a forecast will see.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Optional

import torch
from torch import Tensor

from .args import count
from .checks import check_dtype

__all__ = ["Feedback", "DERIVED"]

#: kinds of derived input channels
DERIVED = (None, "velocity")


class Feedback:
    r"""The input-rebuilding rule of a forecaster (see the module docstring).

    Args:
        in_channels (int): input features ``F``.
        out_channels (int): predicted features (the first ``out_channels``
            inputs).
        covariates (int, optional): the last ``covariates`` inputs are
            exogenous, known in the future (``u_future``). (default: :obj:`0`)
        derived (str, optional): :obj:`None` or ``"velocity"``: inputs
            ``[out, 2 out)`` are the first difference of the predicted ones.
            (default: :obj:`None`)
        velocity_scale (float, optional): the derived channels are
            ``velocity_scale * (p_t - p_{t-1})`` (e.g. the ratio of the
            position and velocity normalisations). (default: :obj:`1.0`)
    """

    def __init__(self, in_channels: int, out_channels: int, covariates: int = 0, derived: Optional[str] = None,
                 velocity_scale: float = 1.0, owner: str = "Feedback"):
        if derived not in DERIVED:
            raise ValueError(f"{owner}: 'derived' must be one of {list(DERIVED)} (got {derived!r})")
        covariates = count(owner, "covariates", covariates, least=0)
        need = out_channels * (2 if derived == "velocity" else 1) + covariates
        if need > in_channels:
            raise ValueError(f"{owner}: the inputs must hold the {out_channels} predicted channels"
                             + (f", {out_channels} derived velocities" if derived else "")
                             + (f" and {covariates} covariates" if covariates else "")
                             + f", {need} in all (got in_channels={in_channels})")
        scale = float(velocity_scale) if isinstance(velocity_scale, (int, float)) and \
            not isinstance(velocity_scale, bool) else math.nan
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"{owner}: 'velocity_scale' must be a finite number > 0 (got {velocity_scale!r})")
        if derived is None and scale != 1.0:
            warnings.warn(f"{owner}: velocity_scale={velocity_scale!r} is unused: it scales the derived velocity "
                          f"inputs, and derived=None names none (pass derived='velocity')", UserWarning, stacklevel=4)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.covariates, self.derived, self.velocity_scale = covariates, derived, scale
        self.held_start = out_channels * (2 if derived == "velocity" else 1)
        self.held_stop = in_channels - covariates
        self.owner = owner

    @property
    def identity(self) -> bool:
        """Whether the prediction is the whole next input (``out == in``)."""
        return self.out_channels == self.in_channels

    def _covariates(self, data: Any, start: int, steps: int, like: Tensor) -> Tensor:
        u = data.get("u_future") if hasattr(data, "get") else None
        N = like.size(0)
        if not isinstance(u, Tensor) or u.dim() != 3 or u.size(0) != N or u.size(-1) != self.covariates \
                or u.size(1) < start + steps:
            got = list(u.shape) if isinstance(u, Tensor) else type(u).__name__
            raise ValueError(f"{self.owner}: the last {self.covariates} inputs are covariates known in "
                             f"advance, so the data needs 'u_future' [num_nodes, H, {self.covariates}] with "
                             f"num_nodes={N} and H >= {start + steps} (got {got})")
        return u[:, start:start + steps].to(like.dtype)

    def check_future(self, data: Any, horizon: int) -> None:
        """Raise the ``u_future`` error unless the covariates cover the
        ``horizon`` future frames a forecast of that many steps is given
        (checked before a rollout starts, whatever steps it reads)."""
        if not self.covariates:
            return
        u = self._covariates(data, 0, horizon, data.x)
        raw = data.get("u_future")
        check_dtype(self.owner, "u_future", raw, data.x.dtype)         # never cast silently, as 'x'
        nm = data.get("node_mask")
        bad = ~torch.isfinite(u).all(-1)                                 # [N, H]
        if nm is not None:                                               # nodes absent at the last observed step
            bad &= nm[:, -1:].to(bad.device)
        if bool(bad.any()):
            n, h = (int(i) for i in bad.nonzero()[0])
            raise ValueError(f"{self.owner}: 'u_future' must be finite for the nodes present at the last observed "
                             f"step (got a non-finite value at node {n}, future step {h})")

    def frames(self, pred: Tensor, data: Any, start: int = 0, last: Optional[Tensor] = None) -> Tensor:
        """Input frames ``[N, H, F]`` for ``H`` future steps whose predicted
        channels are ``pred`` ``[N, H, out]`` (true targets under teacher
        forcing), after the observed ``data.x`` ``[N, T, F]``.

        ``start``: the future step (from 0) of ``pred``'s first frame, whose
        covariates are read from ``u_future[:, start:start + H]``; ``last``:
        the input frame ``[N, 1, F]`` just before it (default: the last
        observed one), from which the derived and held channels follow (a
        model that forecasts in chunks passes its window's last frame)."""
        if self.identity:
            return pred
        last = data.x[:, -1:] if last is None else last
        H = pred.size(1)
        parts = [pred]
        if self.derived == "velocity":
            prev = torch.cat([last[..., :self.out_channels].to(pred.dtype), pred[:, :-1]], dim=1)  # [N, H, out]
            parts.append((pred - prev) * self.velocity_scale)
        if self.held_stop > self.held_start:
            parts.append(last[..., self.held_start:self.held_stop].to(pred.dtype).expand(-1, H, -1))
        if self.covariates:
            parts.append(self._covariates(data, start, H, pred))
        return torch.cat(parts, dim=-1)                                                # [N, H, F]

    def frames_present(self, last: Tensor, H: int) -> Tensor:
        """``[N, H]``: which of the :meth:`frames` built for ``H`` future steps
        can be built, given whether each node is present at the last observed
        step (``last`` ``[N, 1]`` bool): the held channels read that step in
        every frame, a derived velocity in the first frame only; the rest
        reads the targets and ``u_future``."""
        ok = torch.ones(last.size(0), H, dtype=torch.bool, device=last.device)
        if self.identity:
            return ok
        if self.held_stop > self.held_start:
            return last.to(torch.bool).expand(-1, H)
        if self.derived == "velocity":
            ok[:, :1] = last.to(torch.bool)
        return ok

    def step(self, pred: Tensor, prev: Tensor, data: Any, index: int) -> Tensor:
        """The input frame ``[N, 1, F]`` of future step ``index`` (from 0)
        given its predicted channels ``pred`` ``[N, 1, out]`` and the input
        frame before it ``prev`` ``[N, 1, F]``."""
        if self.identity:
            return pred
        parts = [pred]
        if self.derived == "velocity":
            parts.append((pred - prev[..., :self.out_channels]) * self.velocity_scale)
        if self.held_stop > self.held_start:
            parts.append(prev[..., self.held_start:self.held_stop])
        if self.covariates:
            parts.append(self._covariates(data, index, 1, pred))
        return torch.cat(parts, dim=-1)                                                # [N, 1, F]

    def __repr__(self) -> str:
        return (f"Feedback({self.in_channels}, {self.out_channels}, covariates={self.covariates}, "
                f"derived={self.derived!r})")
