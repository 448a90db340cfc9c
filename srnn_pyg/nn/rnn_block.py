"""The recurrent unit that S-RNN shares per type: MLP -> LSTM -> MLP."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.checkpoint import checkpoint

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

    Args:
        in_channels (int): input features.
        hidden (int): LSTM size.
        pre (tuple[int], optional): encoder layer sizes. (default: :obj:`()`)
        post (tuple[int], optional): decoder layer sizes. (default: :obj:`()`)
        out_channels (int, optional): a final linear layer of this size;
            without it the block returns the decoder's (or LSTM's) output.
            (default: :obj:`None`)
        num_layers (int, optional): stacked LSTM layers. (default: :obj:`1`)
        dropout (float, optional): dropout probability. (default: :obj:`0.`)

    Shapes:
        - **input:** ``x`` ``[n, T, in_channels]``, optional state ``(h, c)``
          each ``[num_layers, n, hidden]``, optional ``lengths`` ``[n]`` (each
          row's valid prefix, at least 1: the LSTM runs a packed sequence)
        - **output:** ``y`` ``[n, T, out]``, LSTM outputs ``[n, T, hidden]``,
          final state ``(h, c)`` (with ``lengths``: the state after each row's
          last valid step; ``h`` and ``y`` past it are not meaningful)
    """

    def __init__(self, in_channels: int, hidden: int, pre: Sequence[int] = (), post: Sequence[int] = (),
                 out_channels: Optional[int] = None, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.in_channels, self.hidden = in_channels, hidden
        self.pre_channels, self.post_channels = tuple(pre), tuple(post)
        self.out_channels, self.num_layers, self.dropout = out_channels, num_layers, dropout
        sizes = (in_channels,) + self.pre_channels
        self.pre = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lstm = nn.LSTM(sizes[-1], hidden, num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        sizes = (hidden,) + self.post_channels
        self.post = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], out_channels) if out_channels is not None else None
        #: activation checkpointing: keep only the block's inputs for the backward pass and run the
        #: block again there (``torch.utils.checkpoint``; dropout masks are replayed exactly)
        self.checkpointing = False
        self.reset_parameters()

    @property
    def channels(self) -> int:
        """Width of the block's output ``y``."""
        if self.out is not None:
            return self.out.out_features
        return self.post_channels[-1] if self.post_channels else self.hidden

    def reset_parameters(self) -> None:
        for lin in self.pre:
            lin.reset_parameters()
        self.lstm.reset_parameters()
        for lin in self.post:
            lin.reset_parameters()
        if self.out is not None:
            self.out.reset_parameters()

    def forward(self, x: Tensor, state: Optional[LSTMState] = None,
                lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, LSTMState]:
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(self._run, x, state, lengths, use_reentrant=False)
        return self._run(x, state, lengths)

    def _run(self, x: Tensor, state: Optional[LSTMState] = None,
             lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor, LSTMState]:
        drop = self.dropout > 0 and self.training                # no dropout call at p = 0 (per-step cost)
        for lin in self.pre:
            x = F.relu(lin(x))
            if drop:
                x = F.dropout(x, self.dropout, True)
        if state is None:                                   # states born on x's device and dtype
            zeros = x.new_zeros(self.num_layers, x.size(0), self.hidden)
            state = (zeros, zeros)
        if lengths is None:
            h, state = self.lstm(x, state)                  # [n, T, hidden]
        else:                                               # each row stops at its own length
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            h, state = self.lstm(packed, state)
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.size(1))
        y = F.dropout(h, self.dropout, True) if drop else h
        for lin in self.post:
            y = F.relu(lin(y))
            if drop:
                y = F.dropout(y, self.dropout, True)
        if self.out is not None:
            y = self.out(y)
        return y, h, state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, pre={list(self.pre_channels)}, "
                f"lstm={self.hidden}, post={list(self.post_channels)}, out={self.out_channels})")


