"""One LSTM shared by every node, the graph ignored."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import STData
from ..nn.args import count, is_bool, rate
from ..nn.checks import select
from ..nn.feedback import Feedback
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["NodeLSTM"]

_State = Union[Tensor, Tuple[Tensor, Tensor]]                               # GRU: h; LSTM: (h, c)


@register("node_lstm")
class NodeLSTM(Forecaster):
    r"""One LSTM, shared by all nodes, that runs over each node's sequence on
    its own: the "RNN without structure" ablation of
    `Structural-RNN (Jain et al., CVPR 2016) <https://arxiv.org/abs/1511.05298>`_,
    which keeps the nodeRNN and drops every edgeRNN.

    .. math::
        \mathbf{h}_{i,t} = \mathrm{LSTM}\big(\mathrm{ReLU}(\mathbf{W}_{e}\mathbf{x}_{i,t}),
        \mathbf{h}_{i,t-1}\big), \qquad
        \hat{\mathbf{x}}_{i,t+1} = \mathbf{W}_{o}\,\mathrm{ReLU}(\mathbf{W}_{d}\mathbf{h}_{i,t})
        \;\big(+\,\mathbf{x}_{i,t} \text{ if residual}\big)

    Edges, node types and edge types are ignored (``uses_graph`` and
    ``uses_types`` are :obj:`False`): every node goes through the same weights.

    :meth:`forecast` warms up on the observed frames with one LSTM call, then
    rolls out one step at a time, carrying the LSTM state and feeding each
    prediction back as the next input: the cost is linear in the horizon.
    It may read more than it predicts, with S-RNN's rule for rebuilding the
    next input (:class:`~srnn_pyg.nn.feedback.Feedback`): covariates known in
    advance (``covariates``, read from ``u_future``), derived velocities
    (``derived``), other channels held at their last observed value; so it
    can be given exactly the inputs :class:`~srnn_pyg.models.StructuralRNN`
    reads.

    Masks: inputs of absent node-steps (``node_mask`` false) are zeroed and
    their outputs are zero; a node absent at the last observed step forecasts
    zeros.

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features, the first ``out_channels``
            inputs; :meth:`forecast` needs ``out_channels <= in_channels``.
        hidden (int, optional): width of the encoder, the LSTM and the decoder.
            (default: :obj:`64`)
        num_layers (int, optional): stacked LSTM layers. (default: :obj:`1`)
        dropout (float, optional): dropout after the encoder, between and
            after the LSTM layers, and in the decoder. (default: :obj:`0.`)
        residual (bool or str, optional): predict the change from the last frame
            (its first ``out_channels`` features), as Martinez et al. (2017);
            needs ``out_channels <= in_channels``. ``"velocity"``: the change
            from a constant-velocity extrapolation, ``p_t + v_t / velocity_scale
            + delta``, the velocity read from the derived inputs (needs
            ``derived="velocity"``; as :class:`~srnn_pyg.models.StructuralRNN`'s
            ``residual="velocity"``). (default: :obj:`False`)
        cell (str, optional): the recurrent cell, ``"lstm"`` or ``"gru"``
            (PyTorch's :class:`~torch.nn.GRU` in place of the LSTM, the same
            choice as :class:`~srnn_pyg.models.StructuralRNN`'s ``cell``).
            (default: :obj:`"lstm"`)
        covariates (int, optional): the last ``covariates`` inputs are
            exogenous, known in advance: a forecast reads their future values
            from ``u_future`` ``[N, H, C]``. (default: :obj:`0`)
        derived (str, optional): ``"velocity"``: inputs ``[out, 2 out)`` are
            the first difference of the predicted ones. (default: :obj:`None`)
        velocity_scale (float, optional): derived velocities are this times
            the first difference. (default: :obj:`1.0`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          optional ``node_mask`` ``[N, T]``, ``u_future`` ``[N, H, C]`` with
          ``covariates=C``; batches of any graphs
        - **forward:** ``[N, T, out_channels]``, at step ``t`` the prediction
          for ``t + 1``
        - **forecast:** ``[N, horizon, out_channels]``
    """

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int,
                 hidden: int = 64, num_layers: int = 1, dropout: float = 0.0, residual: bool = False,
                 cell: str = "lstm", covariates: int = 0, derived: Optional[str] = None,
                 velocity_scale: float = 1.0):
        super().__init__(schema, in_channels, out_channels)
        in_channels, out_channels = self.in_channels, self.out_channels
        hidden, num_layers = count("NodeLSTM", "hidden", hidden), count("NodeLSTM", "num_layers", num_layers)
        dropout = rate("NodeLSTM", "dropout", dropout)
        if not (is_bool(residual) or residual == "velocity"):
            raise ValueError(f"NodeLSTM: 'residual' must be a bool or 'velocity' (got {residual!r})")
        if residual == "velocity" and derived != "velocity":
            raise ValueError(f"NodeLSTM: residual='velocity' reads the velocity from the derived input channels, "
                             f"so it needs derived='velocity' (got derived={derived!r})")
        if residual and out_channels > in_channels:
            raise ValueError(f"NodeLSTM: 'residual' adds the last frame, so 'out_channels' must be "
                             f"<= in_channels={in_channels} (got {out_channels})")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"NodeLSTM: 'cell' must be 'lstm' or 'gru' (got {cell!r})")
        self.hidden, self.num_layers, self.cell = hidden, num_layers, cell
        # How a forecast rebuilds its next input from a prediction (inputs it reads but does not predict).
        self.feedback = Feedback(in_channels, out_channels, covariates, derived, velocity_scale,
                                 owner="NodeLSTM") if out_channels <= in_channels else None
        if self.feedback is None and (covariates or derived):
            raise ValueError(f"NodeLSTM: 'covariates' and 'derived' describe inputs beyond the predicted ones, "
                             f"so 'out_channels' must be <= in_channels={in_channels} (got {out_channels})")
        self.covariates, self.derived = covariates, derived
        self.velocity_scale = 1.0 if self.feedback is None else self.feedback.velocity_scale
        self.dropout = float(dropout)
        self.residual = residual if residual == "velocity" else bool(residual)
        self.encoder = nn.Linear(in_channels, hidden)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.lstm = rnn(hidden, hidden, num_layers, batch_first=True,             # the name kept for checkpoints
                        dropout=self.dropout if num_layers > 1 else 0.0)
        self.decoder = nn.Linear(hidden, hidden)
        self.lin_out = nn.Linear(hidden, out_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        self.lstm.reset_parameters()
        self.decoder.reset_parameters()
        self.lin_out.reset_parameters()

    def _run(self, x: Tensor, state: Optional[_State] = None) -> Tuple[Tensor, _State]:
        """``x`` ``[N, t, F]`` -> change or next frame ``[N, t, out]`` and the recurrent state."""
        z = F.dropout(F.relu(self.encoder(x)), self.dropout, self.training)  # [N, t, H]
        h, state = self.lstm(z, state)                                     # [N, t, H]; zero state on x.device
        h = F.dropout(h, self.dropout, self.training)
        h = F.dropout(F.relu(self.decoder(h)), self.dropout, self.training)
        return self.lin_out(h), state                                      # [N, t, out]

    def _next(self, x: Tensor, delta: Tensor) -> Tensor:
        if not self.residual:
            return delta
        out = delta + x[..., : self.out_channels]
        if self.residual == "velocity":                                    # constant-velocity extrapolation
            out = out + x[..., self.out_channels: 2 * self.out_channels] / self.feedback.velocity_scale
        return out

    def forward(self, data: STData) -> Tensor:
        x = self._check_input(data)
        m = data.get("node_mask")
        x = select(m, x)                                                   # absent steps: zeros
        out = self._next(x, self._run(x)[0])                               # [N, T, out]
        return select(m, out)

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        if self.feedback is None:
            raise ValueError(f"NodeLSTM: forecast feeds predictions back as inputs, so 'out_channels' "
                             f"must be <= in_channels={self.in_channels} (got {self.out_channels})")
        self.feedback.check_future(data, horizon)
        m = data.get("node_mask")
        x = select(m, x)                                                   # absent steps: zeros
        keep = self._last_node_mask(data)                                  # [N, 1, 1] or None
        delta, state = self._run(x)                                        # warm-up: one LSTM call
        inp = x[:, -1:]                                                    # [N, 1, F]
        step = select(keep, self._next(inp, delta[:, -1:]))                # [N, 1, out]
        preds = [step]
        for i in range(horizon - 1):                                       # roll out, carrying the state
            inp = select(keep, self.feedback.step(step, inp, data, i))     # the next input frame
            delta, state = self._run(inp, state)
            step = select(keep, self._next(inp, delta))
            preds.append(step)
        return torch.cat(preds, dim=1)                                     # [N, H, out]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, hidden={self.hidden}, "
                f"num_layers={self.num_layers}, residual={self.residual!r}"
                f"{'' if self.cell == 'lstm' else f', cell={self.cell!r}'}"
                f"{f', covariates={self.covariates}' if self.covariates else ''}"
                f"{f', derived={self.derived!r}' if self.derived else ''})")
