"""The constant-velocity baseline."""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import Tensor

from ..data import STData
from ..nn.args import indices
from ..nn.checks import select
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["ConstantVelocity"]


@register("constant_velocity")
class ConstantVelocity(Forecaster):
    r"""Extrapolate the last observed velocity, the baseline of
    `Schoeller et al. (2020), "What the constant velocity model can teach us
    about pedestrian motion prediction" <https://arxiv.org/abs/1903.07933>`_:

    .. math::
        \hat{\mathbf{x}}_{T+h} = \mathbf{x}_T + h\,(\mathbf{x}_T - \mathbf{x}_{T-1})

    on the position channels; the other channels repeat their last value (so
    velocity channels, for instance, stay constant too). With a single observed
    frame (``T == 1``) the velocity is zero and the model falls back to
    :class:`ZeroVelocity`. No parameters; node and edge types and the graph are
    ignored (``uses_types`` and ``uses_graph`` are :obj:`False`).

    Masks: a node absent at the last observed step (``node_mask[:, -1]``
    false) predicts zeros; a node present at ``T`` but absent at ``T - 1`` has
    no velocity and repeats its last frame. :meth:`forward` follows the same
    rules at every step.

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features: the first ``out_channels`` of
            the input's features, so ``out_channels <= in_channels``.
        position_channels (list[int], optional): which of the predicted
            channels are positions, extrapolated with their velocity; the
            others are held at their last value. :obj:`None` means all.
            (default: :obj:`None`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          optional ``node_mask`` ``[N, T]``
        - **forward:** ``[N, T, out_channels]``, at step ``t`` the prediction
          :math:`\mathbf{x}_t + (\mathbf{x}_t - \mathbf{x}_{t-1})` for ``t + 1``
          (zero velocity at ``t = 0``)
        - **forecast:** ``[N, horizon, out_channels]``
    """

    trainable = False

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int,
                 position_channels: Optional[Sequence[int]] = None):
        super().__init__(schema, in_channels, out_channels)
        if out_channels > in_channels:
            raise ValueError(f"ConstantVelocity: 'out_channels' must be <= in_channels={in_channels} "
                             f"(got {out_channels})")
        self.position_channels: Optional[List[int]] = None
        is_position = torch.ones(out_channels)
        if position_channels is not None:
            self.position_channels = sorted(indices("ConstantVelocity", "position_channels", position_channels,
                                                    self.out_channels))
            is_position = torch.zeros(out_channels)
            is_position[self.position_channels] = 1.0
        # A construction-time setting, not a learned value: kept out of the state_dict.
        self.register_buffer("is_position", is_position, persistent=False)
        self.reset_parameters()

    def forward(self, data: STData) -> Tensor:
        x = self._check_input(data)[..., : self.out_channels]                 # [N, T, F_out]
        vel = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)  # [N, T, F_out]
        vel = vel * self.is_position.to(x.dtype)
        m = data.get("node_mask")
        if m is None:
            return x + vel
        both = torch.cat([m[:, :1], m[:, 1:] & m[:, :-1]], dim=1)           # [N, T] present at t, t-1
        return select(m, x + select(both, vel))                              # masks select: NaN-safe

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)[..., : self.out_channels]        # [N, T, F_out]
        last = x[:, -1:]                                                      # [N, 1, F_out]
        m = data.get("node_mask")
        if x.size(1) == 1:
            out = last.expand(-1, horizon, -1)                                # [N, H, F_out]
        else:
            vel = (last - x[:, -2:-1]) * self.is_position.to(x.dtype)         # [N, 1, F_out]
            if m is not None:
                vel = select((m[:, -1] & m[:, -2]).view(-1, 1, 1), vel)
            steps = torch.arange(1, horizon + 1, device=x.device, dtype=x.dtype).view(1, -1, 1)
            out = last + steps * vel                                          # [N, H, F_out]
        if m is not None:
            out = select(m[:, -1].view(-1, 1, 1), out)
        return out.contiguous()

    def __repr__(self) -> str:
        extra = "" if self.position_channels is None else f", position_channels={self.position_channels}"
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}{extra})"
