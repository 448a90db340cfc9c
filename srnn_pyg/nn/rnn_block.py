"""The recurrent unit that S-RNN shares per type: MLP -> LSTM (or GRU) -> MLP."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.checkpoint import checkpoint

from .peephole import PeepholeLSTM

__all__ = ["RNNBlock", "LSTMState"]

LSTMState = Tuple[Tensor, Tensor]


class RNNBlock(nn.Module):
    r"""A fully connected encoder, an LSTM over the whole sequence, and a fully
    connected decoder: the form of both the edgeRNNs and the nodeRNNs of
    `Structural-RNN <https://arxiv.org/abs/1511.05298>`_ (the paper's motion
    model: edgeRNN FC256-FC256-LSTM512; nodeRNN LSTM512-FC256-FC100-FC).

    .. math::
        \mathbf{h}_{1:T} = \mathrm{LSTM}(\mathrm{MLP}_{pre}(\mathbf{x}_{1:T})), \qquad
        \mathbf{y}_{1:T} = \mathbf{W}\,\mathrm{MLP}_{post}(\mathbf{h}_{1:T}) + \mathbf{b}

    Hidden layers use ReLU and dropout; the LSTM output gets dropout too.

    The options below build the official S-RNN code's units from the same
    block (``variant="paper"`` of :class:`~srnn_pyg.nn.SRNNLayer`): a linear
    last encoder layer, a peephole LSTM, an LSTM whose output carries its
    input along (``input_output_fused`` there), or no recurrent layer at all
    (the official temporal edge is FC-FC).

    Args:
        in_channels (int): input features.
        hidden (int): recurrent layer (LSTM or GRU) size.
        pre (tuple[int], optional): encoder layer sizes. (default: :obj:`()`)
        post (tuple[int], optional): decoder layer sizes. (default: :obj:`()`)
        out_channels (int, optional): a final linear layer of this size;
            without it the block returns the decoder's (or LSTM's) output.
            (default: :obj:`None`)
        num_layers (int, optional): stacked recurrent layers. (default: :obj:`1`)
        dropout (float, optional): dropout probability. (default: :obj:`0.`)
        cell (str, optional): ``"lstm"`` (PyTorch's fused LSTM), ``"gru"``
            (PyTorch's fused GRU: no cell state, so the state's ``c`` is
            ``[num_layers, n, 0]``), ``"peephole"`` (:class:`~srnn_pyg.nn.peephole.PeepholeLSTM`, the
            official cell) or :obj:`None` (no recurrent layer: the block is
            an MLP and carries no state). (default: :obj:`"lstm"`)
        fused (bool, optional): the recurrent output is
            :math:`[\mathbf{h}_t \,\|\, \mathbf{z}_t]`, the LSTM state
            followed by the LSTM's own input :math:`\mathbf{z}_t` (a skip past
            the LSTM); with the peephole cell and ``num_layers > 1`` also the
            official stacking (every layer reads ``[h below, z]``, the output
            holds every layer's ``h``: :class:`~srnn_pyg.nn.peephole.PeepholeLSTM`
            with ``skip``). (default: :obj:`False`)
        pre_last_linear (bool, optional): no ReLU after the last encoder
            layer. (default: :obj:`False`)
        init (str, optional): ``"default"`` (PyTorch's) or ``"uniform"``
            (weights uniform in :math:`\pm 0.05`, biases zero: the official
            code). (default: :obj:`"default"`)
        grad_clip (float, optional): the peephole cell's clip of the
            gradient through its state. (default: :obj:`None`)

    Shapes:
        - **input:** ``x`` ``[n, T, in_channels]``, optional state ``(h, c)``
          each ``[num_layers, n, hidden]`` (``c`` ``[num_layers, n, 0]`` for the
          GRU), optional ``lengths`` ``[n]`` (each row's valid prefix, at
          least 1: the LSTM runs a packed sequence)
        - **output:** ``y`` ``[n, T, out]``, LSTM outputs ``[n, T, hidden]``
          (``[n, T, hidden + z]`` when ``fused``; the encoder's output when
          ``cell=None``),
          final state ``(h, c)`` (with ``lengths``: the state after each row's
          last valid step; ``h`` and ``y`` past it are not meaningful)
    """

    def __init__(self, in_channels: int, hidden: int, pre: Sequence[int] = (), post: Sequence[int] = (),
                 out_channels: Optional[int] = None, num_layers: int = 1, dropout: float = 0.0,
                 cell: Optional[str] = "lstm", fused: bool = False, pre_last_linear: bool = False,
                 init: str = "default", grad_clip: Optional[float] = None):
        super().__init__()
        for arg, value, options in (("cell", cell, ("lstm", "gru", "peephole", None)),
                                    ("init", init, ("default", "uniform"))):
            if value not in options:
                raise ValueError(f"RNNBlock: '{arg}' must be one of {list(options)} (got {value!r})")
        if cell is None and (fused or grad_clip is not None):
            raise ValueError(f"RNNBlock: 'fused' and 'grad_clip' describe a recurrent layer (got cell=None "
                             f"with fused={fused}, grad_clip={grad_clip})")
        if grad_clip is not None and cell != "peephole":
            raise ValueError(f"RNNBlock: 'grad_clip' is the peephole cell's state-gradient clip; PyTorch's "
                             f"fused LSTM and GRU expose no per-step gradient to clip (got cell={cell!r})")
        self.in_channels, self.hidden = in_channels, hidden
        self.pre_channels, self.post_channels = tuple(pre), tuple(post)
        self.out_channels, self.num_layers, self.dropout = out_channels, num_layers, dropout
        self.cell, self.fused, self.pre_last_linear, self.init = cell, bool(fused), bool(pre_last_linear), init
        sizes = (in_channels,) + self.pre_channels
        self.pre = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        #: width of what the recurrent layer reads (and, fused, passes on after its state)
        self.rnn_in_channels = sizes[-1]
        if cell in ("lstm", "gru"):
            rnn = nn.LSTM if cell == "lstm" else nn.GRU
            self.lstm = rnn(sizes[-1], hidden, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        elif cell == "peephole":
            self.lstm = PeepholeLSTM(sizes[-1], hidden, num_layers, grad_clip=grad_clip, skip=self.fused)
        else:
            self.lstm = None
        sizes = (self.rnn_channels,) + self.post_channels
        self.post = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], out_channels) if out_channels is not None else None
        #: activation checkpointing: keep only the block's inputs for the backward pass and run the
        #: block again there (``torch.utils.checkpoint``; dropout masks are replayed exactly)
        self.checkpointing = False
        self.reset_parameters()

    @property
    def rnn_channels(self) -> int:
        """Width of the recurrent output (the second value :meth:`forward` returns)."""
        if self.lstm is None:
            return self.rnn_in_channels
        width = self.lstm.output_size if isinstance(self.lstm, PeepholeLSTM) else self.hidden
        return width + (self.rnn_in_channels if self.fused else 0)

    @property
    def channels(self) -> int:
        """Width of the block's output ``y``."""
        if self.out is not None:
            return self.out.out_features
        return self.post_channels[-1] if self.post_channels else self.rnn_channels

    @property
    def stateful(self) -> bool:
        """Whether the block carries a recurrent state (``cell`` is not :obj:`None`)."""
        return self.lstm is not None

    def zero_state(self, rows: int, like: Tensor) -> LSTMState:
        """The initial state of ``rows`` rows on ``like``'s device and dtype:
        ``(h, c)`` zeros, each ``[num_layers, rows, hidden]`` (``c`` is
        ``[num_layers, rows, 0]`` for the GRU, which has no cell state)."""
        h = like.new_zeros(self.num_layers, rows, self.hidden)
        return h, (like.new_zeros(self.num_layers, rows, 0) if self.cell == "gru" else h)

    def reset_parameters(self) -> None:
        linears = list(self.pre) + list(self.post) + ([self.out] if self.out is not None else [])
        for lin in linears:
            if self.init == "uniform":
                nn.init.uniform_(lin.weight, -0.05, 0.05)
                nn.init.zeros_(lin.bias)
            else:
                lin.reset_parameters()
        if isinstance(self.lstm, PeepholeLSTM):
            self.lstm.reset_parameters(self.init)
        elif self.lstm is not None:
            if self.init == "uniform":
                for name, p in self.lstm.named_parameters():
                    (nn.init.zeros_(p) if name.startswith("bias") else nn.init.uniform_(p, -0.05, 0.05))
            else:
                self.lstm.reset_parameters()

    def forward(self, x: Tensor, state: Optional[LSTMState] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, LSTMState]:
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(self._run, x, state, lengths, use_reentrant=False)
        return self._run(x, state, lengths)

    def _run(self, x: Tensor, state: Optional[LSTMState] = None,
             lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, LSTMState]:
        drop = self.dropout > 0 and self.training                # no dropout call at p = 0 (per-step cost)
        last = len(self.pre) - 1
        for j, lin in enumerate(self.pre):
            x = lin(x) if j == last and self.pre_last_linear else F.relu(lin(x))
            if drop:
                x = F.dropout(x, self.dropout, True)
        if self.lstm is None:                               # an MLP: no recurrent layer, no state
            h = x
        else:
            if state is None:                               # states born on x's device and dtype
                state = self.zero_state(x.size(0), x)
            gru = self.cell == "gru"
            if isinstance(self.lstm, PeepholeLSTM):
                h, state = self.lstm(x, state, lengths)     # [n, T, hidden]
            elif lengths is None:
                h, state = self.lstm(x, state[0] if gru else state)     # [n, T, hidden]
            else:                                           # each row stops at its own length
                packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
                h, state = self.lstm(packed, state[0] if gru else state)
                h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.size(1))
            if gru:                                         # (h, an empty cell state)
                state = (state, state.new_zeros(self.num_layers, x.size(0), 0))
            if self.fused:                                  # the official input_output_fused: [h, input]
                h = torch.cat([h, x], dim=-1)
        y = F.dropout(h, self.dropout, True) if drop else h
        for lin in self.post:
            y = F.relu(lin(y))
            if drop:
                y = F.dropout(y, self.dropout, True)
        if self.out is not None:
            y = self.out(y)
        return y, h, state

    def __repr__(self) -> str:
        cell = "none" if self.lstm is None else f"{self.cell}={self.hidden}" + ("+fused" if self.fused else "")
        return (f"{type(self).__name__}({self.in_channels}, pre={list(self.pre_channels)}, "
                f"{cell}, post={list(self.post_channels)}, out={self.out_channels})")


