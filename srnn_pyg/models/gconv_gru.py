"""A GRU with graph-convolution gates, the GRU counterpart of Seo et al.'s GCRN (ICONIP 2018)."""
from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Linear
from torch_geometric.nn import ChebConv

from ..data import STData
from ..schema import STSchema
from .base import Forecaster
from .registry import register
from ..nn.args import count, flag
from ..nn.checks import select
from ..nn.feedback import Feedback
from ..nn.graph_steps import ChebGraph, GraphCache, LaplacianOperator, cheb_conv

__all__ = ["GConvGRU"]


@register("gconv_gru")
class GConvGRU(Forecaster):
    r"""A GRU whose dense maps are Chebyshev graph convolutions: the GRU
    counterpart of model 2 of the `"Structured Sequence Modeling with Graph
    Convolutional Recurrent Networks" <https://arxiv.org/abs/1612.07659>`_
    paper (Seo, Defferrard, Vandergheynst, Bresson, ICONIP 2018), whose model 2
    is a graph-convolution LSTM with peephole connections; this GRU form is the
    one PyTorch Geometric Temporal ships as ``GConvGRU``,

    .. math::
        \mathbf{z}_t &= \sigma(\mathbf{W}_{xz} *_{\mathcal{G}} \mathbf{x}_t
            + \mathbf{W}_{hz} *_{\mathcal{G}} \mathbf{h}_{t-1} + \mathbf{b}_z)

        \mathbf{r}_t &= \sigma(\mathbf{W}_{xr} *_{\mathcal{G}} \mathbf{x}_t
            + \mathbf{W}_{hr} *_{\mathcal{G}} \mathbf{h}_{t-1} + \mathbf{b}_r)

        \tilde{\mathbf{h}}_t &= \tanh(\mathbf{W}_{xh} *_{\mathcal{G}} \mathbf{x}_t
            + \mathbf{W}_{hh} *_{\mathcal{G}} (\mathbf{r}_t \odot \mathbf{h}_{t-1})
            + \mathbf{b}_h)

        \mathbf{h}_t &= \mathbf{z}_t \odot \mathbf{h}_{t-1}
            + (1 - \mathbf{z}_t) \odot \tilde{\mathbf{h}}_t

        \hat{\mathbf{x}}_{t+1} &= \mathbf{W}_o \mathbf{h}_t + \mathbf{b}_o

    where :math:`\mathbf{W} *_{\mathcal{G}}` is PyG's
    :class:`~torch_geometric.nn.conv.ChebConv` of order ``K`` on the
    symmetric-normalised Laplacian. The gates are fused: one ChebConv maps the
    input to all three pre-activations :math:`[z, r, \tilde{h}]` and runs on
    every time step at once, before the recurrence; one ChebConv maps
    :math:`\mathbf{h}_{t-1}` to the :math:`[z, r]` pre-activations; a second
    one maps :math:`\mathbf{r}_t \odot \mathbf{h}_{t-1}` (it depends on
    :math:`\mathbf{r}_t`, so it cannot join the first). The recurrence itself
    is a Python loop over time steps (two graph convolutions per step); the
    biases live in the input convolution only. Each graph convolution is
    sparse (CSR) products with the scaled Laplacian, built once per graph and
    kept while ``edge_index``, ``edge_attr`` and ``edge_mask`` are the same
    tensors, unchanged (:class:`~srnn_pyg.nn.graph_steps.GraphCache`), and one
    matrix product of the Chebyshev terms side by side with the stacked
    weights, the input's pre-activations added inside it.

    * :meth:`forward` gives the one-step-ahead prediction at every step (a
      linear readout of :math:`\mathbf{h}_t`); :meth:`forecast` warms up on the
      observed steps, then feeds each prediction back as the next input (needs
      ``out_channels <= in_channels`` for ``horizon > 1``). It may read more
      than it predicts, with S-RNN's rule for rebuilding the next input
      (:class:`~srnn_pyg.nn.feedback.Feedback`): covariates known in advance
      (``covariates``, read from ``u_future``), derived velocities
      (``derived``), other channels held at their last observed value.
    * **Edge weights**: with ``edge_weight=True`` and an ``edge_attr`` of one
      channel (``[E, T, 1]``), step ``t`` uses ``edge_attr[:, t, 0]`` as
      (non-negative) weights; otherwise the graph is unweighted. The roll-out
      keeps the last observed step's graph.
    * **Masks**: a node absent at step ``t`` (``node_mask``) has its input
      zeroed, sends nothing through the graph convolutions, keeps its hidden
      state unchanged (a node that has not appeared yet keeps the zero state)
      and predicts zeros; an absent edge (``edge_mask``) carries nothing at
      that step. Forecasts use presence at the last observed step.
    * **Types**: node and edge types are ignored (``uses_types = False``).

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features per step (the first
            ``out_channels`` inputs, when a forecast feeds them back).
        hidden (int, optional): hidden state size. (default: :obj:`64`)
        K (int, optional): Chebyshev order (filter reaches ``K - 1`` hops).
            (default: :obj:`3`)
        edge_weight (bool, optional): read a 1-channel ``edge_attr`` as edge
            weights. (default: :obj:`True`)
        covariates (int, optional): the last ``covariates`` inputs are
            exogenous, known in advance: a forecast reads their future values
            from ``u_future`` ``[N, H, C]``. (default: :obj:`0`)
        derived (str, optional): ``"velocity"``: inputs ``[out, 2 out)`` are
            the first difference of the predicted ones. (default: :obj:`None`)
        velocity_scale (float, optional): derived velocities are this times
            the first difference. (default: :obj:`1.0`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          ``edge_index`` ``[2, E]``, optional ``edge_attr`` ``[E, T, 1]``,
          ``node_mask`` ``[N, T]``, ``edge_mask`` ``[E, T]``, ``u_future``
          ``[N, H, C]`` with ``covariates=C``
        - **forward:** ``[N, T, out_channels]``, at step ``t`` the prediction
          for ``t + 1``
        - **forecast:** ``[N, horizon, out_channels]``
    """

    has_forward = True
    uses_types = False
    accepts_empty = False
    uses_graph = True
    supports_masks = True

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int, *,
                 hidden: int = 64, K: int = 3, edge_weight: bool = True, covariates: int = 0,
                 derived: Optional[str] = None, velocity_scale: float = 1.0):
        super().__init__(schema, in_channels, out_channels)
        name = type(self).__name__
        in_channels, out_channels = self.in_channels, self.out_channels
        hidden, K = count(name, "hidden", hidden), count(name, "K", K)
        self.hidden, self.K, self.edge_weight = hidden, K, flag(name, "edge_weight", edge_weight)
        # How a forecast rebuilds its next input from a prediction (inputs it reads but does not predict).
        self.feedback = Feedback(in_channels, out_channels, covariates, derived, velocity_scale,
                                 owner=name) if out_channels <= in_channels else None
        if self.feedback is None and (covariates or derived):
            raise ValueError(f"{name}: 'covariates' and 'derived' describe inputs beyond the predicted ones, "
                             f"so 'out_channels' must be <= in_channels={in_channels} (got {out_channels})")
        self.covariates, self.derived = covariates, derived
        self.velocity_scale = 1.0 if self.feedback is None else self.feedback.velocity_scale
        self.conv_x = ChebConv(in_channels, 3 * hidden, K=K, normalization="sym")
        self.conv_zr = ChebConv(hidden, 2 * hidden, K=K, normalization="sym", bias=False)
        self.conv_h = ChebConv(hidden, hidden, K=K, normalization="sym", bias=False)
        self.readout = Linear(hidden, out_channels)
        self._graphs = GraphCache()                                        # the last graph's Laplacians
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv_x.reset_parameters()
        self.conv_zr.reset_parameters()
        self.conv_h.reset_parameters()
        self.readout.reset_parameters()

    # ------------------------------------------------------------- the cell
    def cell(self, x: Tensor, h: Tensor, edge_index: Tensor, edge_weight: Optional[Tensor] = None,
             mask: Optional[Tensor] = None) -> Tensor:
        r"""One GRU step: ``x`` ``[N, F]``, ``h`` ``[N, hidden]`` -> ``[N, hidden]``.

        ``edge_weight`` ``[E]`` weights the graph; ``mask`` ``[N]`` bool marks
        present nodes (absent ones keep ``h``).
        """
        op = ChebGraph(self.conv_x, edge_index, x.size(0), edge_weight, x.dtype).step(0)
        gx = cheb_conv(self.conv_x, op, x)                                 # [N, 3*hidden]
        return self._cell(gx, h, op, None if mask is None else mask.view(-1, 1))

    def _cell(self, gx: Union[Tensor, Tuple[Tensor, Tensor]], h: Tensor, op: LaplacianOperator,
              mask: Optional[Tensor]) -> Tensor:
        """The step given the input's gate pre-activations ``gx`` ``[N, 3*hidden]``
        (or its ``[z, r]`` and candidate parts), the graph's operator and
        presence ``mask`` ``[N, 1]`` bool (or None)."""
        H = self.hidden
        gx_zr, gx_h = gx.split([2 * H, H], dim=1) if isinstance(gx, Tensor) else gx
        h_in = select(mask, h)                                             # absent nodes send nothing
        z, r = torch.sigmoid(cheb_conv(self.conv_zr, op, h_in, add=gx_zr)).split(H, dim=1)
        cand = torch.tanh(cheb_conv(self.conv_h, op, r * h_in, add=gx_h))
        h_new = torch.lerp(cand, h, z)                                     # z * h + (1 - z) * cand
        return h_new if mask is None else torch.where(mask, h_new, h)

    def _recur(self, x: Tensor, edge_index: Tensor, weight: Optional[Tensor], node_mask: Optional[Tensor],
               graph: Optional[ChebGraph] = None) -> Tuple[Tensor, Tensor]:
        """Run the recurrence over ``x`` ``[N, T, F]`` on the graph of
        ``edge_index`` and ``weight`` (or its operators, ``graph``); returns all
        hidden states ``[T, N, hidden]`` and the last one ``[N, hidden]``."""
        N, T, F_in = x.shape
        if graph is None:
            graph = ChebGraph(self.conv_x, edge_index, N, weight, x.dtype)
        xt = x.transpose(0, 1)                                             # [T, N, F]
        mask = None
        if node_mask is not None:
            mask = node_mask.t().unsqueeze(-1)                             # [T, N, 1] bool
            xt = select(mask, xt)                                          # NaN-safe: masks select
        gx = cheb_conv(self.conv_x, graph.steps(0, T), xt.reshape(T * N, F_in))  # every step at once
        gx_zr, gx_h = gx.view(T, N, 3 * self.hidden).split([2 * self.hidden, self.hidden], dim=2)
        h = x.new_zeros(N, self.hidden)
        states = []
        # split and unbind once, not gx[t] and slices in the loop: those would
        # make every step's backward allocate (and fill) a zero gradient of gx.
        for t, gx_t in enumerate(zip(gx_zr.unbind(0), gx_h.unbind(0))):  # h_t needs h_{t-1}
            h = self._cell(gx_t, h, graph.step(t), None if mask is None else mask[t])
            states.append(h)
        return torch.stack(states), h                                      # [T, N, hidden], [N, hidden]

    # -------------------------------------------------------------- public
    def forward(self, data: STData) -> Tensor:
        x = self._check_input(data)
        graph = self._graphs.graph(type(self).__name__, self.conv_x, data, x, self.edge_weight)
        nm = data.get("node_mask")
        states, _ = self._recur(x, data.edge_index, graph.weight, nm, graph)
        out = self.readout(states).transpose(0, 1)                         # [N, T, F_out]
        return select(nm, out)

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        if horizon > 1 and self.feedback is None:
            raise ValueError(f"{type(self).__name__}: forecasting more than one step feeds "
                             f"predictions back, which needs out_channels <= in_channels="
                             f"{self.in_channels} (got out_channels={self.out_channels}, "
                             f"horizon={horizon})")
        if self.feedback is not None:
            self.feedback.check_future(data, horizon)                      # as StructuralRNN checks it
        graph = self._graphs.graph(type(self).__name__, self.conv_x, data, x, self.edge_weight)
        nm = data.get("node_mask")
        _, h = self._recur(x, data.edge_index, graph.weight, nm, graph)
        # The roll-out keeps the last observed step's graph and presence.
        op = graph.step(x.size(1) - 1)
        m_last = None if nm is None else nm[:, -1:]                        # [N, 1] bool
        pred = self.readout(h)                                             # [N, F_out]
        pred = select(m_last, pred)
        preds = [pred]
        inp = x[:, -1]                                                     # [N, F]
        for i in range(horizon - 1):  # each step needs the previous prediction
            inp = self.feedback.step(pred.unsqueeze(1), inp.unsqueeze(1), data, i).squeeze(1)  # [N, F]
            inp = select(m_last, inp)
            gx = cheb_conv(self.conv_x, op, inp)                           # [N, 3*hidden]
            h = self._cell(gx, h, op, m_last)
            pred = self.readout(h)
            pred = select(m_last, pred)
            preds.append(pred)
        return torch.stack(preds, dim=1)                                   # [N, horizon, F_out]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"hidden={self.hidden}, K={self.K}"
                f"{f', covariates={self.covariates}' if self.covariates else ''}"
                f"{f', derived={self.derived!r}' if self.derived else ''})")
