r"""The LSTM of the official S-RNN code: peephole connections and a clip on
the gradient that flows back through the recurrent state."""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import torch
from torch import Tensor, nn

__all__ = ["PeepholeLSTM", "clip_grad", "check_truncation"]


class _ClipGrad(torch.autograd.Function):
    """Identity forward; the incoming gradient clamped to ``[-bound, bound]`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:
        ctx.bound = bound
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad.clamp(-ctx.bound, ctx.bound), None


class _PeepholeSequence(torch.autograd.Function):
    """One peephole layer over a whole sequence, with its backward pass written
    out (back-propagation through time in one loop, no autograd graph per
    step: about half the cost of letting autograd record every step).

    Inputs: ``gx`` ``[n, T, 4H]`` (input projections plus bias, gate order
    i, f, g, o), ``h0``/``c0`` ``[n, H]``, ``w_hh`` ``[4H, H]``, ``peep``
    ``[3, H]``, ``live`` ``[n, T]`` bool or :obj:`None`, ``bound`` (the
    state-gradient clip) or :obj:`None`, ``steps`` (Theano's
    ``truncate_gradient``: the backward runs over the last ``steps`` steps
    only) or :obj:`None`. Outputs: ``out`` ``[n, T, H]`` (zero where not
    live), final ``h``, ``c``."""

    @staticmethod
    def forward(ctx, gx, h0, c0, w_hh, peep, live, bound, steps=None):
        n, T, H4 = gx.shape
        H = H4 // 4
        v_i, v_f, v_o = peep[0], peep[1], peep[2]
        w_t = w_hh.t()
        gates = gx.new_empty(T, n, 4, H)      # i, f, g, o after their nonlinearity
        cells = gx.new_empty(T + 1, n, H)     # c_{-1} .. c_{T-1} (c before each step, then the last)
        hs = gx.new_empty(T + 1, n, H)        # h_{-1} .. h_{T-1}
        out = gx.new_zeros(n, T, H)
        h, c = h0, c0
        hs[0], cells[0] = h0, c0
        for t in range(T):
            g = torch.addmm(gx[:, t], h, w_t)                                          # [n, 4H]
            i = torch.sigmoid(g[:, :H] + v_i * c)
            f = torch.sigmoid(g[:, H:2 * H] + v_f * c)
            gg = torch.tanh(g[:, 2 * H:3 * H])
            c_new = f * c + i * gg
            o = torch.sigmoid(g[:, 3 * H:] + v_o * c_new)
            h_new = o * torch.tanh(c_new)
            gates[t, :, 0], gates[t, :, 1], gates[t, :, 2], gates[t, :, 3] = i, f, gg, o
            if live is not None:
                keep = live[:, t:t + 1]
                h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
                out[:, t] = torch.where(keep, h_new, 0.0)
            else:
                h, c = h_new, c_new
                out[:, t] = h_new
            hs[t + 1], cells[t + 1] = h, c
        ctx.save_for_backward(gates, cells, hs, w_hh, peep, live)
        ctx.bound, ctx.steps = bound, steps
        ctx.mark_non_differentiable(*(() if live is None else (live,)))
        return out, h, c

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_out, d_h, d_c):
        gates, cells, hs, w_hh, peep, live = ctx.saved_tensors
        bound = ctx.bound
        T, n, _, H = gates.shape
        v_i, v_f, v_o = peep[0], peep[1], peep[2]
        d_gx = d_out.new_empty(n, T, 4 * H)
        d_w = torch.zeros_like(w_hh)
        d_peep = torch.zeros_like(peep)
        dh = d_h.clone() if d_h is not None else d_out.new_zeros(n, H)
        dc = d_c.clone() if d_c is not None else d_out.new_zeros(n, H)
        # Truncated: each row back-propagates through its last `steps` live steps only (a row of `lengths`
        # ends at its length), as Theano's scan over that row's own sequence would.
        cut_at = _cut_steps(live, n, T, ctx.steps, d_out.device)                    # [n, 1] or None
        first = 0 if cut_at is None else int(cut_at.min())
        d_gx[:, :first] = 0.0
        for t in range(T - 1, first - 1, -1):
            if cut_at is not None:                          # rows whose window starts after t: nothing flows
                before = t < cut_at
                dh, dc = torch.where(before, 0.0, dh), torch.where(before, 0.0, dc)
            i, f, gg, o = gates[t].unbind(1)
            c_prev, h_prev = cells[t], hs[t]
            # the state after step t is (h_new, c_new) where live, else the previous one unchanged
            dh_new = dh + (d_out[:, t] if cut_at is None else torch.where(before, 0.0, d_out[:, t]))
            dc_new = dc
            if live is not None:
                keep = live[:, t:t + 1]
                dh_new, dc_new = torch.where(keep, dh_new, 0.0), torch.where(keep, dc_new, 0.0)
                dh_pass, dc_pass = torch.where(keep, 0.0, dh), torch.where(keep, 0.0, dc)
            c_new = f * c_prev + i * gg
            tc = torch.tanh(c_new)
            da_o = dh_new * tc * o * (1 - o)
            dcn = dc_new + dh_new * o * (1 - tc * tc) + da_o * v_o
            da_i = dcn * gg * i * (1 - i)
            da_f = dcn * c_prev * f * (1 - f)
            dg_g = dcn * i * (1 - gg * gg)
            dg = torch.cat([da_i, da_f, dg_g, da_o], dim=1)                            # [n, 4H]
            d_gx[:, t] = dg
            d_w.addmm_(dg.t(), h_prev)
            d_peep[0] += (da_i * c_prev).sum(0)
            d_peep[1] += (da_f * c_prev).sum(0)
            d_peep[2] += (da_o * c_new).sum(0)
            dh_prev = dg @ w_hh                                                        # through h_{t-1}
            dc_prev = dcn * f + da_i * v_i + da_f * v_f                                # through c_{t-1}
            if bound is not None:                                                      # the official clip
                dh_prev, dc_prev = dh_prev.clamp(-bound, bound), dc_prev.clamp(-bound, bound)
            if live is not None:
                dh_prev, dc_prev = dh_prev + dh_pass, dc_prev + dc_pass
            dh, dc = dh_prev, dc_prev
        if cut_at is not None:               # rows cut short pass no gradient to the initial state
            dh, dc = torch.where(cut_at > 0, 0.0, dh), torch.where(cut_at > 0, 0.0, dc)
        return d_gx, dh, dc, d_w, d_peep, None, None, None


def clip_grad(x: Tensor, bound: Optional[float]) -> Tensor:
    """``x`` unchanged, with the gradient that reaches it clamped elementwise
    to ``[-bound, bound]`` (Theano's ``grad_clip``); ``bound=None``: no clip."""
    if bound is None or not x.requires_grad:
        return x
    return _ClipGrad.apply(x, bound)


class PeepholeLSTM(nn.Module):
    r"""A batch-first LSTM with peephole connections, as the S-RNN authors'
    ``NeuralModels`` library builds it (``layers/LSTM.py``):

    .. math::
        \mathbf{i}_t &= \sigma(\mathbf{W}_i \mathbf{x}_t + \mathbf{U}_i \mathbf{h}_{t-1}
            + \mathbf{v}_i \odot \mathbf{c}_{t-1} + \mathbf{b}_i) \\
        \mathbf{f}_t &= \sigma(\mathbf{W}_f \mathbf{x}_t + \mathbf{U}_f \mathbf{h}_{t-1}
            + \mathbf{v}_f \odot \mathbf{c}_{t-1} + \mathbf{b}_f) \\
        \mathbf{c}_t &= \mathbf{f}_t \odot \mathbf{c}_{t-1} + \mathbf{i}_t \odot
            \tanh(\mathbf{W}_g \mathbf{x}_t + \mathbf{U}_g \mathbf{h}_{t-1} + \mathbf{b}_g) \\
        \mathbf{o}_t &= \sigma(\mathbf{W}_o \mathbf{x}_t + \mathbf{U}_o \mathbf{h}_{t-1}
            + \mathbf{v}_o \odot \mathbf{c}_t + \mathbf{b}_o), \qquad
        \mathbf{h}_t = \mathbf{o}_t \odot \tanh(\mathbf{c}_t)

    The input projections of all steps are one matrix product; the recurrence
    is a loop over time steps (peepholes have no fused kernel), vectorised over
    the rows. With ``grad_clip`` the gradient flowing back into
    :math:`\mathbf{h}_{t-1}` and :math:`\mathbf{c}_{t-1}` is clamped
    elementwise at every step, as the official code does (``g_clip=25``).

    With ``truncate_gradient=K`` (an attribute too, which
    :class:`~srnn_pyg.engine.TrainConfig`'s ``truncate_gradient`` sets for
    a run) the backward pass of each call over a sequence of ``T`` steps runs
    over its last ``K`` steps only, as Theano's ``scan(truncate_gradient=K)``
    in the official code: the outputs of steps ``0 .. T-K-1`` pass no
    gradient into the cell (their input projections, weights and
    peepholes), and none reaches the initial state; whatever reads those
    outputs outside the cell (a decoder, a fused skip) still gets its
    gradient from every step. The forward pass is unchanged.

    Parameters per layer ``l`` (gate rows in PyTorch's order ``i, f, g, o``):
    ``weight_ih_l{l}`` ``[4H, in]``, ``weight_hh_l{l}`` ``[4H, H]``,
    ``bias_l{l}`` ``[4H]``, ``weight_peep_l{l}`` ``[3, H]`` (rows ``i, f, o``).

    Args:
        input_size (int): input features.
        hidden_size (int): state size ``H``.
        num_layers (int, optional): stacked layers. (default: :obj:`1`)
        grad_clip (float, optional): bound of the state-gradient clip.
            (default: :obj:`None`)
        skip (bool, optional): the official stacking (``multilayerLSTM`` with
            ``skip_input`` and ``skip_output``): every layer above the first
            reads ``[h of the layer below, x]`` and the output is every
            layer's ``h``, ``[h_1, ..., h_L]``; without it each layer reads the
            one below and the output is ``h_L``. The two agree for one layer.
            (default: :obj:`False`)
        truncate_gradient (int, optional): back-propagate through the last
            this many steps of each sequence only (Theano's
            ``truncate_gradient``). (default: :obj:`None`: every step)

    Shapes:
        - **input:** ``x`` ``[n, T, input_size]``, state ``(h, c)`` each
          ``[num_layers, n, H]``, optional ``lengths`` ``[n]`` (a row's steps
          from its length on leave its state unchanged and output zeros, as a
          packed sequence does)
        - **output:** ``[n, T, H]`` (``[n, T, num_layers * H]`` with ``skip``)
          and the final state ``(h, c)``
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 grad_clip: Optional[float] = None, skip: bool = False, truncate_gradient: Optional[int] = None):
        super().__init__()
        check_truncation("PeepholeLSTM", truncate_gradient)
        #: back-propagate through the last this many steps of a sequence only (None: all)
        self.truncate_gradient = truncate_gradient
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and math.isfinite(grad_clip)
                                          and grad_clip > 0):
            raise ValueError(f"PeepholeLSTM: 'grad_clip' must be a positive finite number or None "
                             f"(got {grad_clip!r})")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.grad_clip = None if grad_clip is None else float(grad_clip)
        self.skip = bool(skip)
        #: the sequence loop with its hand-written backward (``False``: let autograd record every
        #: step; the same gradients, kept to check one against the other)
        self.fast = True
        H = hidden_size
        for layer in range(num_layers):
            width = input_size if layer == 0 else H + (input_size if self.skip else 0)
            self.register_parameter(f"weight_ih_l{layer}", nn.Parameter(torch.empty(4 * H, width)))
            self.register_parameter(f"weight_hh_l{layer}", nn.Parameter(torch.empty(4 * H, H)))
            self.register_parameter(f"bias_l{layer}", nn.Parameter(torch.empty(4 * H)))
            self.register_parameter(f"weight_peep_l{layer}", nn.Parameter(torch.empty(3, H)))
        self.reset_parameters()

    def reset_parameters(self, init: str = "default") -> None:
        """``"default"``: every parameter uniform in :math:`\\pm 1/\\sqrt{H}`
        (PyTorch's LSTM); ``"uniform"``: weights and peepholes uniform in
        :math:`\\pm 0.05`, biases zero (the official code)."""
        bound = 1.0 / math.sqrt(self.hidden_size) if init == "default" else 0.05
        for name, p in self.named_parameters():
            if init == "uniform" and name.startswith("bias"):
                nn.init.zeros_(p)
            else:
                nn.init.uniform_(p, -bound, bound)

    def forward(self, x: Tensor, state: Optional[Tuple[Tensor, Tensor]] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
        n, T, _ = x.shape
        H = self.hidden_size
        if state is None:
            zeros = x.new_zeros(self.num_layers, n, H)
            state = (zeros, zeros)
        live = None
        if lengths is not None:                                   # [n, T] steps inside each row
            live = torch.arange(T, device=x.device) < lengths.to(x.device).unsqueeze(1)
        hs, cs, outs = [], [], []
        out = x
        for layer in range(self.num_layers):
            if layer > 0 and self.skip:
                out = torch.cat([out, x], dim=-1)                                  # [h below, x]
            w_hh = getattr(self, f"weight_hh_l{layer}")
            peep = getattr(self, f"weight_peep_l{layer}")
            gx = torch.nn.functional.linear(out, getattr(self, f"weight_ih_l{layer}"),
                                            getattr(self, f"bias_l{layer}"))       # [n, T, 4H]
            h, c = state[0][layer], state[1][layer]
            if self.fast:
                out, h, c = _PeepholeSequence.apply(gx, h, c, w_hh, peep, live, self.grad_clip,
                                                    self.truncate_gradient)
                outs.append(out)
                hs.append(h)
                cs.append(c)
                continue
            v_i, v_f, v_o = peep
            steps = []
            cut_at = _cut_steps(live, n, T, self.truncate_gradient, x.device)
            for t in range(T):
                if cut_at is not None and t > 0:    # a row's window starts here: no gradient into its past
                    h, c = torch.where(cut_at == t, h.detach(), h), torch.where(cut_at == t, c.detach(), c)
                hp, cp = clip_grad(h, self.grad_clip), clip_grad(c, self.grad_clip)
                g = gx[:, t] + hp @ w_hh.t()                                       # [n, 4H]
                i = torch.sigmoid(g[:, :H] + v_i * cp)
                f = torch.sigmoid(g[:, H:2 * H] + v_f * cp)
                c_new = f * cp + i * torch.tanh(g[:, 2 * H:3 * H])
                o = torch.sigmoid(g[:, 3 * H:] + v_o * c_new)
                h_new = o * torch.tanh(c_new)
                if cut_at is not None:    # ... nor through its outputs before the window
                    h_new = torch.where(cut_at > t, h_new.detach(), h_new)
                    c_new = torch.where(cut_at > t, c_new.detach(), c_new)
                if live is not None:
                    keep = live[:, t:t + 1]
                    h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
                    steps.append(torch.where(keep, h_new, h_new.new_zeros(())))
                else:
                    h, c = h_new, c_new
                    steps.append(h_new)
            out = torch.stack(steps, dim=1)                                        # [n, T, H]
            outs.append(out)
            hs.append(h)
            cs.append(c)
        if self.skip and self.num_layers > 1:
            out = torch.cat(outs, dim=-1)                                          # [n, T, L*H]
        return out, (torch.stack(hs), torch.stack(cs))

    @property
    def output_size(self) -> int:
        """Width of the output: ``H``, or ``num_layers * H`` with ``skip``."""
        return self.hidden_size * (self.num_layers if self.skip else 1)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
                + (", skip=True" if self.skip else "")
                + (f", grad_clip={self.grad_clip}" if self.grad_clip is not None else "")
                + (f", truncate_gradient={self.truncate_gradient}" if self.truncate_gradient is not None else ""))


def _cut_steps(live: Optional[Tensor], n: int, T: int, steps: Optional[int], device: Any) -> Optional[Tensor]:
    """``[n, 1]`` long: where each row's truncated window starts (its last
    ``steps`` live steps; every step of a row with ``lengths`` below ``T`` is
    live up to its length), or :obj:`None` without truncation."""
    if steps is None:
        return None
    lengths = torch.full((n,), T, device=device) if live is None else live.sum(1)
    return (lengths - steps).clamp_min(0).view(n, 1)


def check_truncation(owner: str, steps: Any) -> None:
    """Raise a ``ValueError`` naming ``truncate_gradient`` unless ``steps`` is a positive int or None."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"{owner}: 'truncate_gradient' must be a positive int or None (got {steps!r})")
