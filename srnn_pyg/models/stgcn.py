"""The spatio-temporal graph convolutional network of Yu, Yin and Zhu (IJCAI 2018)."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import Conv1d, LayerNorm, Linear, Module, ModuleList
from torch_geometric.nn import ChebConv

from ..data import STData
from ..nn.args import count, flag, rate
from ..nn.checks import select
from ..nn.feedback import Feedback
from ..nn.graph_steps import ChebGraph, GraphCache, cheb_conv
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["STGCN"]


def _crop_steps(weight: Optional[Tensor], steps: int) -> Optional[Tensor]:
    """The last ``steps`` columns of a per-step weight (end-aligned, as the
    causal convolutions align their outputs); a static weight as it is."""
    return weight[:, -steps:] if weight is not None and weight.dim() == 2 else weight


# ------------------------------------------------------------------ layers
def _windows(x: Tensor, K: int) -> Tensor:
    """The ``K`` taps of every window of ``x`` ``[T, N, C]`` side by side and a
    column of ones (for the bias): ``[(T - K + 1) * N, K * C + 1]``."""
    T, N, C = x.shape
    steps = T - K + 1
    ones = x.new_ones(steps, N, 1)
    return torch.cat([x[k: k + steps] for k in range(K)] + [ones], dim=-1).view(steps * N, K * C + 1)


def _tap_weights(weight: Tensor, bias: Tensor, res: Optional[Tensor], narrow: bool) -> Tensor:
    """The convolution's weights ``[2 * C_out, C_in, K]`` (``P`` then ``Q``)
    as one contiguous matrix with the taps stacked, ``[K * C_in (+ 1), 2 *
    C_out]`` (row ``k * C_in + c``: tap ``k``, input channel ``c``), the
    residual map ``res`` ``[C_out, C_in]`` (the identity if :obj:`None`) added
    to ``P``'s last tap; ``narrow``: a last row holding the bias, for the
    windows' column of ones."""
    C2, C, K = weight.shape
    C_out = C2 // 2
    out = weight.new_empty(K * C + int(narrow), C2)
    out[: K * C].view(K, C, C2).copy_(weight.permute(2, 1, 0))
    last = out[(K - 1) * C: K * C, :C_out]
    if res is None:
        last.diagonal().add_(1.0)
    else:
        last.add_(res.t())
    if narrow:
        out[-1].copy_(bias)
    return out


class _GatedCausalConv(torch.autograd.Function):
    """The gated linear unit ``(P + res(x)) * sigmoid(Q)`` of a causal
    convolution over time without padding (``weight`` ``[2 * C_out, C_in,
    K]``: ``P`` then ``Q``; ``bias`` ``[2 * C_out]``) and of a residual map
    ``res`` ``[C_out, C_in]`` (:obj:`None`: the identity) of each window's last
    step, as one autograd node on ``x`` ``[T, N, C_in]`` (contiguous),
    returning ``[(T - K + 1) * N, C_out]``.

    The weights, the residual map folded into ``P``'s last tap, are one
    matrix with the taps stacked (:func:`_tap_weights`) built inside the node,
    and the backward returns the gradients of ``weight``, ``bias`` and
    ``res`` themselves, so no slicing or concatenation of the parameters is
    recorded. A wide input takes one matrix product per tap on contiguous
    slices of ``x`` (no window copies); a narrow one (``C_in < 32``) one
    product on the windows side by side with a column of ones (the bias a row
    of the weights), the windows kept for the weights' gradients. ``P`` and ``Q`` are
    two contiguous buffers, the gate and the product are taken in place; the
    backward builds the two gradients from the kept gate and output (``grad *
    gate`` and ``(grad - grad * gate) * out``) without recomputing the
    sigmoid, side by side in one buffer laid out as the taps' columns, so
    that each product of the backward takes both at once, and adds each
    tap's input gradient into its slice of one buffer."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, res: Optional[Tensor]) -> Tensor:
        T, N, C = x.shape
        C_out, K = weight.size(0) // 2, weight.size(2)
        if res is None and C != C_out:
            raise ValueError(f"_GatedCausalConv: the identity residual (res=None) needs as many input as "
                             f"output channels (got {C} and {C_out}); pass a [{C_out}, {C}] map")
        steps = T - K + 1
        rows = steps * N
        narrow = C < _NARROW
        taps = _tap_weights(weight, bias, res, narrow)                    # [K * C (+ 1), 2 * C_out]
        if narrow:
            windows = x = _windows(x, K)
            out = torch.mm(windows, taps[:, :C_out])
            gate = torch.mm(windows, taps[:, C_out:]).sigmoid_()
        else:
            out = torch.addmm(bias[:C_out], x[:steps].view(rows, C), taps[:C, :C_out])
            gate = torch.addmm(bias[C_out:], x[:steps].view(rows, C), taps[:C, C_out:])
            for k in range(1, K):
                xk = x[k: k + steps].view(rows, C)
                out.addmm_(xk, taps[k * C: (k + 1) * C, :C_out])
                gate.addmm_(xk, taps[k * C: (k + 1) * C, C_out:])
            gate.sigmoid_()
        out.mul_(gate)
        # The weights' gradients read the input (the windows when narrow); the input's does not.
        ctx.save_for_backward(x if any(ctx.needs_input_grad[1:]) else None, taps, out, gate)
        ctx.shape, ctx.narrow, ctx.identity = (T, N, C, K), narrow, res is None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, taps, out, gate = ctx.saved_tensors
        T, N, C, K = ctx.shape
        C_out = out.size(1)
        steps = T - K + 1
        rows = steps * N
        grad = grad.contiguous()
        # The gradients of P and Q side by side, [rows, 2 * C_out], the layout of
        # the taps' columns: each product below takes both halves at once.
        grad_pq = out.new_empty(rows, 2 * C_out)
        grad_p = torch.mul(grad, gate, out=grad_pq[:, :C_out])
        torch.sub(grad, grad_p, out=grad_pq[:, C_out:]).mul_(out)         # grad * out * (1 - gate)
        need_x, need_w, need_b, need_res = ctx.needs_input_grad
        grad_x = grad_w = grad_b = grad_res = None
        if need_x:
            grad_x = out.new_empty(T, N, C)
            if ctx.narrow:                                                 # one product, then the taps' slices
                grad_win = torch.mm(grad_pq, taps[:-1].t()).view(steps, N, K * C)
                grad_x[:steps].copy_(grad_win[..., :C])
                grad_x[steps:].zero_()
                for k in range(1, K):
                    grad_x[k: k + steps] += grad_win[..., k * C: (k + 1) * C]
            else:                                                          # each tap into its slice
                grad_x[steps:].zero_()
                torch.mm(grad_pq, taps[:C].t(), out=grad_x[:steps].view(rows, C))
                for k in range(1, K):
                    grad_x[k: k + steps].view(rows, C).addmm_(grad_pq, taps[k * C: (k + 1) * C].t())
        if not ctx.narrow and need_b:
            grad_b = grad_pq.sum(0)
        if need_w or need_res or (ctx.narrow and need_b):
            if ctx.narrow:                                                 # the gradient of `taps`
                grad_taps = torch.mm(x.t(), grad_pq)
            else:
                grad_taps = out.new_empty(taps.shape)
                for k in range(K):
                    torch.mm(x[k: k + steps].view(rows, C).t(), grad_pq, out=grad_taps[k * C: (k + 1) * C])
            if need_w:
                grad_w = grad_taps[: K * C].view(K, C, 2 * C_out).permute(2, 1, 0).contiguous()
            if need_b and ctx.narrow:
                grad_b = grad_taps[-1].clone()
            if need_res and not ctx.identity:
                grad_res = grad_taps[(K - 1) * C: K * C, :C_out].t().contiguous()
        return grad_x, grad_w, grad_b, grad_res


_NARROW = 32  # input widths below this take the windowed product in _GatedCausalConv


class _GatedTemporalConv(Module):
    r"""Gated temporal convolution of STGCN, on ``[T, N, C]``.

    A causal 1D convolution over time of width :math:`K_t` without padding
    gives :math:`[P\,Q]` with :math:`T - K_t + 1` steps; the output is the gated
    linear unit with a residual,

    .. math::
        (P + \mathrm{res}(X)) \odot \sigma(Q),

    where :math:`\mathrm{res}` takes the last :math:`T - K_t + 1` input steps
    (each output step is aligned with the last step it sees) and maps them to
    the output width with a bias-free linear map (identity when the widths
    agree). Weights are shared by all nodes.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.conv = Conv1d(in_channels, 2 * out_channels, kernel_size)
        self.res = Linear(in_channels, out_channels, bias=False) if in_channels != out_channels else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.conv.reset_parameters()
        if self.res is not None:
            self.res.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        T, N, c_in = x.shape
        K, c_out = self.kernel_size, self.out_channels
        if c_in != self.in_channels or T < K:
            raise ValueError(f"{type(self).__name__}: 'x' must be [T, N, {self.in_channels}] with T >= "
                             f"kernel_size={K} (got {list(x.shape)})")
        res = self.res.weight if self.res is not None else None           # None: the identity
        out = _GatedCausalConv.apply(x.contiguous(), self.conv.weight, self.conv.bias, res)
        return out.view(T - K + 1, N, c_out)                               # (P + res) * sigmoid(Q)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size})")


class _STConvBlock(Module):
    """One ST-Conv block: gated temporal conv (to ``first`` channels, default
    ``hidden``) -> ChebConv (to ``spatial``) + ReLU -> gated temporal conv (to
    ``hidden``) -> layer norm -> dropout, on ``[T, N, C]``; ``T`` shrinks by
    ``2 * (kernel_size - 1)``."""

    def __init__(self, in_channels: int, hidden: int, spatial: int, kernel_size: int, K: int,
                 dropout: float, first: Optional[int] = None):
        super().__init__()
        first = hidden if first is None else first
        self.temporal1 = _GatedTemporalConv(in_channels, first, kernel_size)
        self.spatial = ChebConv(first, spatial, K=K, normalization="sym")
        self.temporal2 = _GatedTemporalConv(spatial, hidden, kernel_size)
        self.norm = LayerNorm(hidden)
        self.dropout = dropout
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.temporal1.reset_parameters()
        self.spatial.reset_parameters()
        self.temporal2.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, weight: Optional[Tensor],
                mask: Optional[Tensor]) -> Tensor:
        """``x`` ``[T, N, C]`` on a graph with weights ``None``, ``[E]`` or ``[E, T]``."""
        graph = ChebGraph(self.spatial, edge_index, x.size(1), weight, x.dtype)
        return self.run(x, graph, x.size(0), mask)

    def run(self, x: Tensor, graph: ChebGraph, end: int, mask: Optional[Tensor]) -> Tensor:
        """``x`` ``[T, N, C]``, its last step being step ``end - 1`` of ``graph``
        (whose operators the caller keeps)."""
        h = self.temporal1(x)                                              # [T1, N, hidden]
        T1, N, C = h.shape
        if mask is not None:  # absent nodes send nothing through the graph conv
            h = select(mask[-T1:], h)
        op = graph.steps(end - T1, end)                                    # block-diagonal over steps
        h = cheb_conv(self.spatial, op, h.reshape(T1 * N, C)).relu_().view(T1, N, -1)  # a fresh tensor
        h = self.temporal2(h)                                              # [T2, N, hidden]
        h = self.norm(h)
        return F.dropout(h, p=self.dropout, training=self.training) if self.dropout > 0 else h


# ------------------------------------------------------------------- model
@register("stgcn")
class STGCN(Forecaster):
    r"""The spatio-temporal graph convolutional network from the
    `"Spatio-Temporal Graph Convolutional Networks: A Deep Learning Framework
    for Traffic Forecasting" <https://arxiv.org/abs/1709.04875>`_ paper
    (Yu, Yin, Zhu, IJCAI 2018).

    ``blocks`` ST-Conv blocks, each a "sandwich" of two gated temporal
    convolutions around a Chebyshev graph convolution, then an output block
    that maps what is left of the observed window to the whole horizon at once:

    .. math::
        \mathbf{H}^{(l+1)} = \mathrm{Dropout}\Big(\mathrm{LN}\big(
        \Gamma_1^{(l)} *_{\mathcal{T}} \mathrm{ReLU}\big(\Theta^{(l)} *_{\mathcal{G}}
        (\Gamma_0^{(l)} *_{\mathcal{T}} \mathbf{H}^{(l)})\big)\big)\Big),
        \qquad
        \Gamma *_{\mathcal{T}} \mathbf{Y} = (\mathbf{P} + \mathrm{res}(\mathbf{Y}))
        \odot \sigma(\mathbf{Q}),

    where :math:`[\mathbf{P}\,\mathbf{Q}]` is a causal convolution over time of
    width ``kernel_size`` without padding (each one shortens the sequence by
    ``kernel_size - 1``), :math:`\mathrm{res}` the input cropped to the output's
    steps and mapped to its width by a learned map (added to :math:`\mathbf{P}`
    inside the gate, as in the authors' released code, which pads a narrower
    input with zeros instead), and :math:`\Theta *_{\mathcal{G}}` PyG's
    :class:`~torch_geometric.nn.conv.ChebConv` of order ``K`` on the
    symmetric-normalised Laplacian (:math:`\lambda_{\max} = 2`). The output
    block is a gated temporal convolution over all remaining steps, a layer
    norm and a linear map to ``horizon * out_channels``. (The authors'
    released output block has one more layer between the layer norm and the
    final map, a 1x1 temporal convolution with a sigmoid; it is left out here.)

    Choices where the paper or its code leave room, or fix the graph:

    * **No one-step form**: the model reads a window of ``obs_len`` steps and
      emits ``horizon`` steps directly, so ``has_forward = False`` and
      :meth:`forward` raises; train it on :meth:`forecast`. A longer horizon is
      rolled out in chunks of ``horizon`` steps, each fed back as input (needs
      ``out_channels <= in_channels``); a shorter one is the first steps.
    * **Inputs it does not predict**: the inputs may hold more than the
      predicted channels (the first ``out_channels``), with S-RNN's rule
      (:class:`~srnn_pyg.nn.feedback.Feedback`): covariates known in advance
      (``covariates``), derived velocities (``derived``), other channels held.
      A direct forecast reads them over the observed window only (it has no
      future inputs); a longer roll-out rebuilds each fed-back chunk's inputs
      by that rule, reading the covariates of its steps from ``u_future``.
    * **Observed length**: ``x`` must have at least ``obs_len`` steps; a longer
      ``x`` is cropped to its last ``obs_len`` steps (a shorter one raises).
    * **Layer norm** over channels, per node and step (the reference code
      normalises over nodes and channels with per-node scales, which fixes the
      graph); batches of graphs of different sizes work, and a batch gives the
      same result as its graphs one by one.
    * **Graph conv on all steps in one call**: the ChebConv's scaled Laplacian
      of every step forms one block-diagonal sparse (CSR) matrix
      ``[T * N, T * N]`` that multiplies the step-major ``[T * N, C]``
      features, one product per Chebyshev order, on the narrower side of the
      conv (the input, or for a narrowing conv such as the paper's 64 -> 16
      the projected output, summed with Clenshaw's recurrence), with the
      conv's own weights: the same result as calling ChebConv step by step,
      without materialising per-edge messages. A batch of graphs is one
      block-diagonal graph, as PyG batches it. The operators are built once
      per graph and kept while ``edge_index``, ``edge_attr`` and
      ``edge_mask`` are the same tensors, unchanged
      (:class:`~srnn_pyg.nn.graph_steps.GraphCache`). Inside the network, step
      ``t`` of a shortened sequence uses the graph of the last input step it
      sees.
    * **Temporal convolutions** are computed on the step-major layout as one
      matrix product per tap (or one on the windows side by side for narrow
      inputs, the bias a row of the weights), the residual map folded into
      the last tap's weights: the same sum as the convolution plus the
      residual, without layout changes. The gate is one autograd node with
      its own backward (the gradient of both halves from the kept gate and
      output, no recomputed sigmoid), which takes the convolution's weight,
      bias and residual map whole and returns their gradients itself.
    * **Edge weights**: with ``edge_weight=True`` and an ``edge_attr`` of one
      channel (``[E, T, 1]``), its values weight the edges (non-negative);
      otherwise the graph is unweighted.
    * **Masks**: absent nodes (``node_mask``) have their inputs zeroed, send
      nothing through the graph convolutions, and predict zeros (presence at
      the last observed step); absent edges (``edge_mask``) carry nothing at
      that step.
    * **Types**: node and edge types are ignored (``uses_types = False``).

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features per step.
        obs_len (int, optional): observed steps the model reads.
            (default: :obj:`12`)
        horizon (int, optional): steps predicted at once. (default: :obj:`12`)
        hidden (int, optional): channels of the temporal convolutions.
            (default: :obj:`64`)
        spatial_hidden (int, optional): output channels of each graph
            convolution; the paper uses a bottleneck of 16 with ``hidden=64``.
            (default: :obj:`None`, meaning ``hidden``)
        temporal_hidden (int, optional): output channels of the first
            temporal convolution of each block (the graph convolution's
            input). The paper's text narrows the channels in the graph
            convolution (``hidden -> spatial_hidden``); the authors' released
            code narrows them in the first temporal convolution (a block
            ``(c_si, c_t, c_oo)`` is temporal ``c_si -> c_t``, graph ``c_t ->
            c_t``, temporal ``c_t -> c_oo``). The paper's 64/16/64 in that
            layout is ``temporal_hidden=16, spatial_hidden=16, hidden=64``,
            the widths of PyG Temporal's ``STConv(hidden_channels=16,
            out_channels=64)`` too, with about half the multiply-adds of the
            paper text's layout at 12 observed steps of one channel. Only the
            widths follow the released code: its second temporal
            convolution (a ReLU with a residual instead of the gate) and the
            residual around its graph convolution are not reproduced.
            (default: :obj:`None`, meaning ``hidden``)
        blocks (int, optional): number of ST-Conv blocks. (default: :obj:`2`)
        kernel_size (int, optional): temporal kernel width :math:`K_t`; needs
            ``obs_len > 2 * blocks * (kernel_size - 1)``. (default: :obj:`3`)
        K (int, optional): Chebyshev order (filter reaches ``K - 1`` hops).
            (default: :obj:`3`)
        dropout (float, optional): dropout after each block. (default: :obj:`0.0`)
        edge_weight (bool, optional): read a 1-channel ``edge_attr`` as edge
            weights. (default: :obj:`True`)
        covariates (int, optional): the last ``covariates`` inputs are
            exogenous, known in advance (``u_future`` ``[N, H, C]`` feeds the
            chunks of a roll-out longer than ``horizon``). (default: :obj:`0`)
        derived (str, optional): ``"velocity"``: inputs ``[out, 2 out)`` are
            the first difference of the predicted ones. (default: :obj:`None`)
        velocity_scale (float, optional): derived velocities are this times
            the first difference. (default: :obj:`1.0`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``
          (``T >= obs_len``), ``edge_index`` ``[2, E]``, optional
          ``edge_attr`` ``[E, T, 1]``, ``node_mask`` ``[N, T]``,
          ``edge_mask`` ``[E, T]``
        - **forecast:** ``[N, horizon, out_channels]``
    """

    has_forward = False
    uses_types = False
    accepts_empty = False
    uses_graph = True
    supports_masks = True

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int, *,
                 obs_len: int = 12, horizon: int = 12, hidden: int = 64,
                 spatial_hidden: Optional[int] = None, blocks: int = 2, kernel_size: int = 3,
                 K: int = 3, dropout: float = 0.0, edge_weight: bool = True,
                 temporal_hidden: Optional[int] = None, covariates: int = 0, derived: Optional[str] = None,
                 velocity_scale: float = 1.0):
        super().__init__(schema, in_channels, out_channels)
        name = type(self).__name__
        in_channels, out_channels = self.in_channels, self.out_channels
        obs_len, horizon, hidden = count(name, "obs_len", obs_len), count(name, "horizon", horizon), \
            count(name, "hidden", hidden)
        blocks, kernel_size, K = count(name, "blocks", blocks), count(name, "kernel_size", kernel_size), \
            count(name, "K", K)
        spatial_hidden = count(name, "spatial_hidden", spatial_hidden, optional=True, meaning="'hidden'")
        temporal_hidden = count(name, "temporal_hidden", temporal_hidden, optional=True, meaning="'hidden'")
        edge_weight = flag(name, "edge_weight", edge_weight)
        spatial_hidden = hidden if spatial_hidden is None else spatial_hidden
        temporal_hidden = hidden if temporal_hidden is None else temporal_hidden
        remaining = obs_len - 2 * blocks * (kernel_size - 1)
        if remaining < 1:
            raise ValueError(f"{name}: 'obs_len' must exceed 2 * blocks * (kernel_size - 1) = "
                             f"{2 * blocks * (kernel_size - 1)} (got obs_len={obs_len})")
        dropout = rate(name, "dropout", dropout)
        self.obs_len, self.horizon, self.hidden = obs_len, horizon, hidden
        self.spatial_hidden, self.num_blocks, self.kernel_size = spatial_hidden, blocks, kernel_size
        self.K, self.dropout, self.edge_weight = K, dropout, edge_weight
        self.temporal_hidden = temporal_hidden                             # resolved, as spatial_hidden
        # How a longer roll-out rebuilds a chunk's inputs from its predictions.
        self.feedback = Feedback(in_channels, out_channels, covariates, derived, velocity_scale,
                                 owner=name) if out_channels <= in_channels else None
        if self.feedback is None and (covariates or derived):
            raise ValueError(f"{name}: 'covariates' and 'derived' describe inputs beyond the predicted ones, "
                             f"so 'out_channels' must be <= in_channels={in_channels} (got {out_channels})")
        self.covariates, self.derived = covariates, derived
        self.velocity_scale = 1.0 if self.feedback is None else self.feedback.velocity_scale

        self.blocks = ModuleList([
            _STConvBlock(in_channels if b == 0 else hidden, hidden, spatial_hidden, kernel_size, K,
                         dropout, first=temporal_hidden) for b in range(blocks)
        ])
        self.out_temporal = _GatedTemporalConv(hidden, hidden, remaining)
        self.out_norm = LayerNorm(hidden)
        self.out_lin = Linear(hidden, horizon * out_channels)
        self._graphs = GraphCache()                                        # the last graph's Laplacians
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for block in self.blocks:
            block.reset_parameters()
        self.out_temporal.reset_parameters()
        self.out_norm.reset_parameters()
        self.out_lin.reset_parameters()

    def forward(self, data: STData) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no one-step-ahead form (it maps {self.obs_len} observed "
            f"steps to {self.horizon} future steps at once); use forecast(data, horizon)")

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        name = type(self).__name__
        if x.size(1) < self.obs_len:
            raise ValueError(f"{name}: 'x' must have at least obs_len={self.obs_len} steps "
                             f"(got {list(x.shape)})")
        if horizon > self.horizon and self.feedback is None:
            raise ValueError(f"{name}: a horizon longer than the model's ({self.horizon}) is rolled "
                             f"out by feeding predictions back, which needs out_channels <= "
                             f"in_channels={self.in_channels} (got out_channels={self.out_channels}, "
                             f"horizon={horizon})")
        fed = -(-horizon // self.horizon) * self.horizon - self.horizon   # future steps fed back as inputs
        if fed > 0:
            self.feedback.check_future(data, fed)
        graph = self._graphs.graph(name, self.blocks[0].spatial, data, x, self.edge_weight)
        end = x.size(1)
        nm = data.get("node_mask")
        x, nm = x[:, -self.obs_len:], None if nm is None else nm[:, -self.obs_len:]
        chunks = []
        done = 0
        while True:
            pred = self._window(x, graph, end, nm)                         # [N, H_model, F_out]
            chunks.append(pred)
            done += self.horizon
            if done >= horizon:
                break
            # Feed the chunk back: the graph and presence of the last observed
            # step hold for the predicted steps.
            weight = graph.weight if graph.static else graph.weight[:, end - self.obs_len:end]
            frames = self.feedback.frames(pred, data, start=done - self.horizon, last=x[:, -1:])
            x, weight, nm = _extend(x, frames, weight, nm, self.obs_len)
            if not graph.static:
                graph = ChebGraph(self.blocks[0].spatial, data.edge_index, x.size(0), weight, x.dtype)
                end = self.obs_len
        out = torch.cat(chunks, dim=1)[:, :horizon]                        # [N, horizon, F_out]
        m = self._last_node_mask(data)
        return select(m, out)

    def _window(self, x: Tensor, graph: ChebGraph, end: int, node_mask: Optional[Tensor]) -> Tensor:
        """One direct forecast from a window ``x`` ``[N, obs_len, F]`` whose
        last step is step ``end - 1`` of ``graph``."""
        N = x.size(0)
        h = x.transpose(0, 1)                                              # [T, N, F]
        mask = None
        if node_mask is not None:
            mask = node_mask.t().unsqueeze(-1)                             # [T, N, 1] bool
            h = select(mask, h)                                            # NaN-safe: masks select
        for block in self.blocks:
            h = block.run(h, graph, end, mask)                             # [T_b, N, hidden]
        h = self.out_norm(self.out_temporal(h))                            # [1, N, hidden]
        out = self.out_lin(h[0])                                           # [N, H*F_out]
        return out.view(N, self.horizon, self.out_channels)                # [N, H, F_out]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"obs_len={self.obs_len}, horizon={self.horizon}, hidden={self.hidden}, "
                f"blocks={self.num_blocks}, kernel_size={self.kernel_size}, K={self.K}"
                + "".join(f", {k}={v!r}" for k, v, default in (
                    ("spatial_hidden", self.spatial_hidden, self.hidden),
                    ("temporal_hidden", self.temporal_hidden, self.hidden),
                    ("dropout", self.dropout, 0.0), ("edge_weight", self.edge_weight, True),
                    ("covariates", self.covariates, 0), ("derived", self.derived, None)) if v != default)
                + ")")


def _extend(x: Tensor, frames: Tensor, weight: Optional[Tensor], node_mask: Optional[Tensor],
            obs_len: int) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
    """The next window of a chunked roll-out: the last ``obs_len`` steps of the
    observed window followed by ``frames``, the predicted chunk as input
    frames; per-step weights and presence repeat their last step."""
    H = frames.size(1)
    x = torch.cat([x, frames], dim=1)[:, -obs_len:]                        # [N, obs_len, F]
    if weight is not None and weight.dim() == 2:
        weight = torch.cat([weight, weight[:, -1:].expand(-1, H)], dim=1)[:, -obs_len:]  # [E, obs_len]
    if node_mask is not None:
        node_mask = torch.cat([node_mask, node_mask[:, -1:].expand(-1, H)], dim=1)[:, -obs_len:]
    return x, weight, node_mask
