"""The zero-velocity baseline."""
from __future__ import annotations

from typing import Optional

from torch import Tensor

from ..data import STData
from ..nn.checks import select
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["ZeroVelocity"]


@register("zero_velocity")
class ZeroVelocity(Forecaster):
    r"""Repeat the last observed frame: :math:`\hat{x}_{T+h} = x_T`.

    The baseline that `Martinez et al. (CVPR 2017) <https://arxiv.org/abs/1705.02445>`_
    showed to beat most motion-forecasting networks of its time at short
    horizons. No parameters; ignores the graph and the types; absent nodes
    (``node_mask`` false at the last observed step) predict zeros.

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features; the first ``out_channels`` of
            the input's features are repeated, so ``out_channels <= in_channels``.

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``
        - **forward:** ``[N, T, out_channels]`` (each step predicts itself)
        - **forecast:** ``[N, horizon, out_channels]``
    """

    trainable = False

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int):
        super().__init__(schema, in_channels, out_channels)
        if out_channels > in_channels:
            raise ValueError(f"ZeroVelocity: 'out_channels' must be <= in_channels={in_channels} "
                             f"(got {out_channels})")

    def forward(self, data: STData) -> Tensor:
        x = self._check_input(data)
        out = x[..., : self.out_channels]
        m = data.get("node_mask")
        return select(m, out)

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        last = x[:, -1:, : self.out_channels]                              # [N, 1, F_out]
        out = last.expand(-1, horizon, -1)                                 # [N, H, F_out]
        m = self._last_node_mask(data)
        return select(m, out.contiguous())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels})"
