"""The Encoder-Recurrent-Decoder (ERD) baseline, and the machinery that it
shares with :class:`~srnn_pyg.models.LSTM3LR`: the whole graph as one vector."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data import STData
from ..nn.args import count, flag, rate, sizes
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["ERD"]

_State = Tuple[Tensor, Tensor]


class GraphVectorRNN(Forecaster):
    r"""Base of the models that see a graph as one feature vector per time
    step: the features of a graph's ``n`` nodes are concatenated in node
    order, ``[n, T, F] -> [T, n * F]``, and go through

    encoder (linear layers, ReLU between them) -> stacked LSTM -> decoder
    (linear layers with ReLU) -> a linear layer to ``n * out_channels``.

    The first layer's input and the last layer's output grow with ``n``, so
    ``n`` is fixed: given as ``num_nodes`` or taken from the first batch, when
    the layers are built on that batch's device (as PyG's lazy modules: run one
    batch before creating the optimizer). ``load_state_dict`` builds them too.
    """

    uses_types = False
    accepts_empty = False
    uses_graph = False
    supports_masks = False

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int,
                 num_nodes: Optional[int], encoder_channels: Sequence[int], lstm_channels: int,
                 num_layers: int, decoder_channels: Sequence[int], dropout: float, residual: bool):
        super().__init__(schema, in_channels, out_channels)
        name = type(self).__name__
        in_channels, out_channels = self.in_channels, self.out_channels
        num_nodes = count(name, "num_nodes", num_nodes, optional=True, meaning="set by the first batch")
        lstm_channels, num_layers = count(name, "lstm_channels", lstm_channels), count(name, "num_layers", num_layers)
        dropout, residual = rate(name, "dropout", dropout), flag(name, "residual", residual)
        if residual and out_channels > in_channels:
            raise ValueError(f"{name}: 'residual' adds the last frame, so 'out_channels' must be "
                             f"<= in_channels={in_channels} (got {out_channels})")
        self.num_nodes: Optional[int] = None
        self.encoder_channels = sizes(name, "encoder_channels", encoder_channels, example="(500, 500)")
        self.decoder_channels = sizes(name, "decoder_channels", decoder_channels, example="(500, 100)")
        self.lstm_channels, self.num_layers = lstm_channels, num_layers
        self.dropout, self.residual = dropout, residual
        for key in ("encoder", "lstm", "decoder", "lin_out"):
            self.register_module(key, None)                                # built by _build
        if num_nodes is not None:
            self._build(num_nodes)
        self.reset_parameters()

    # ------------------------------------------------------------ building
    def _build(self, num_nodes: int, device: Optional[torch.device] = None,
               dtype: Optional[torch.dtype] = None) -> None:
        kw = {"device": device, "dtype": dtype}
        sizes = (num_nodes * self.in_channels,) + self.encoder_channels
        self.encoder = nn.ModuleList(nn.Linear(a, b, **kw) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lstm = nn.LSTM(sizes[-1], self.lstm_channels, self.num_layers, batch_first=True,
                            dropout=self.dropout if self.num_layers > 1 else 0.0, **kw)
        sizes = (self.lstm_channels,) + self.decoder_channels
        self.decoder = nn.ModuleList(nn.Linear(a, b, **kw) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lin_out = nn.Linear(sizes[-1], num_nodes * self.out_channels, **kw)
        self.num_nodes = num_nodes
        if "model_args" in self.__dict__:          # built lazily: the record now rebuilds this size
            self.model_args["num_nodes"] = num_nodes

    def reset_parameters(self) -> None:
        if self.num_nodes is None:
            return
        for lin in list(self.encoder) + list(self.decoder) + [self.lin_out]:
            lin.reset_parameters()
        self.lstm.reset_parameters()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A fresh model without num_nodes learns it from the checkpoint.
        key = prefix + "lin_out.bias"
        if self.num_nodes is None and key in state_dict:
            bias = state_dict[key]
            self._build(bias.numel() // self.out_channels, bias.device, bias.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # ------------------------------------------------------------- layouts
    def _graph_size(self, data: STData, N: int) -> Tuple[int, int]:
        """``(B, n)``: graphs in the batch and nodes per graph (a host sync)."""
        name = type(self).__name__
        ptr, batch = data.get("ptr"), data.get("batch")
        if ptr is not None:
            sizes: List[int] = (ptr[1:] - ptr[:-1]).tolist()
        elif batch is not None and batch.numel() > 0:
            if bool((batch[1:] < batch[:-1]).any()):
                raise ValueError(f"{name}: 'batch' must be sorted, each graph's nodes contiguous")
            sizes = torch.bincount(batch).tolist()
        else:
            sizes = [N]
        if len(set(sizes)) > 1:
            raise ValueError(f"{name} concatenates the nodes of a graph into one vector, so all graphs "
                             f"of a batch must have the same number of nodes (got a batch mixing graph "
                             f"sizes {sorted(set(sizes))})")
        n = sizes[0]
        if self.num_nodes is not None and n != self.num_nodes:
            raise ValueError(f"{name}: 'num_nodes' is {self.num_nodes} (fixed at construction or by the "
                             f"first batch) but the graph has {n} nodes")
        return len(sizes), n

    def _encode_input(self, data: STData, horizon: Any = ...) -> Tuple[Tensor, Tensor, int]:
        """Checked ``x`` ``[N, T, F]``, its graph vectors ``[B, T, n * F]``, and ``n``."""
        x = self._check_input(data, horizon)
        N, T, Fin = x.shape
        B, n = self._graph_size(data, N)
        if self.num_nodes is None:
            self._build(n, x.device, x.dtype)
        seq = x.view(B, n, T, Fin).transpose(1, 2).reshape(B, T, n * Fin)  # [B, T, n*F]
        return x, seq, n

    def _to_nodes(self, y: Tensor, n: int) -> Tensor:
        B, T, _ = y.shape                                                   # [B, T, n*out]
        return y.view(B, T, n, -1).transpose(1, 2).reshape(B * n, T, -1)  # [B*n, T, out]

    # --------------------------------------------------------------- model
    def _run(self, seq: Tensor, state: Optional[_State] = None) -> Tuple[Tensor, _State]:
        """Graph vectors ``[B, t, n * F]`` -> ``[B, t, n * out]`` and the LSTM state."""
        z = seq
        for i, lin in enumerate(self.encoder):
            z = lin(z)
            if i < len(self.encoder) - 1:                                   # the last encoder layer is linear
                z = F.dropout(F.relu(z), self.dropout, self.training)
        h, state = self.lstm(z, state)                                      # zeros born on seq's device
        h = F.dropout(h, self.dropout, self.training)
        for lin in self.decoder:
            h = F.dropout(F.relu(lin(h)), self.dropout, self.training)
        return self.lin_out(h), state

    def forward(self, data: STData) -> Tensor:
        x, seq, n = self._encode_input(data)
        out = self._to_nodes(self._run(seq)[0], n)                         # [N, T, out]
        return out + x[..., : self.out_channels] if self.residual else out

    def forecast(self, data: STData, horizon: int) -> Tensor:
        name = type(self).__name__
        if self.out_channels != self.in_channels:
            raise ValueError(f"{name}: forecast feeds predictions back as inputs, so 'out_channels' "
                             f"must equal in_channels={self.in_channels} (got {self.out_channels})")
        x, seq, n = self._encode_input(data, horizon)
        y, state = self._run(seq)                                          # warm-up: one LSTM call
        # out == in, so a prediction has the input's vector layout and can be fed back as is.
        step = y[:, -1:] + seq[:, -1:] if self.residual else y[:, -1:]    # [B, 1, n*F]
        preds = [step]
        for _ in range(horizon - 1):                                       # roll out, carrying (h, c)
            y, state = self._run(step, state)
            step = y + step if self.residual else y
            preds.append(step)
        return self._to_nodes(torch.cat(preds, dim=1), n)                  # [N, H, F]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"num_nodes={self.num_nodes}, encoder_channels={self.encoder_channels}, "
                f"lstm_channels={self.lstm_channels}, num_layers={self.num_layers}, "
                f"decoder_channels={self.decoder_channels})")


@register("erd")
class ERD(GraphVectorRNN):
    r"""The Encoder-Recurrent-Decoder network of
    `Fragkiadaki et al., "Recurrent Network Models for Human Dynamics" (ICCV 2015)
    <https://arxiv.org/abs/1508.00271>`_, a baseline of
    `Structural-RNN <https://arxiv.org/abs/1511.05298>`_: a fully connected
    encoder, a stacked LSTM and a fully connected decoder over the whole graph,
    whose ``n`` nodes' features are concatenated into one vector per step:

    .. math::
        \mathbf{s}_t = \mathbf{x}_{1,t} \,\|\, \cdots \,\|\, \mathbf{x}_{n,t}, \qquad
        \mathbf{h}_t = \mathrm{LSTM}\big(\mathrm{MLP}_{enc}(\mathbf{s}_t), \mathbf{h}_{t-1}\big), \qquad
        \hat{\mathbf{s}}_{t+1} = \mathrm{MLP}_{dec}(\mathbf{h}_t)

    The defaults are the sizes of the ERD baseline in the S-RNN paper's motion
    experiments (those of Fragkiadaki et al.): encoder FC500 (ReLU) - FC500
    (linear), two LSTM layers of 1000, decoder FC500 - FC100 (ReLU) - a linear
    output layer. (The S-RNN code also adds skip connections around its LSTM
    stack; they are left out here.) ``hidden`` gives a small model in one word.

    Edges, node types and edge types are ignored (``uses_graph`` and
    ``uses_types`` are :obj:`False`); the graph only fixes the layout of the
    vector, so a node's position in its graph matters, and relabelling nodes
    changes the input. Every graph must have the same number of nodes ``n``:
    ``num_nodes``, or the size of the first graph seen (the layers are then
    built on that batch's device: run one batch, or load a state dict, before
    creating the optimizer). A batch mixing graph sizes raises
    :class:`ValueError`. Absent nodes (dynamic graphs) are not supported
    (``supports_masks`` is :obj:`False`).

    :meth:`forecast` warms up on the observed frames with one LSTM call, then
    rolls out one step at a time, carrying the LSTM state and feeding each
    prediction back: the cost is linear in the horizon.

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F`` per node.
        out_channels (int): predicted features per node; :meth:`forecast`
            needs ``out_channels == in_channels``.
        num_nodes (int, optional): nodes per graph ``n``; :obj:`None` takes it
            from the first batch. (default: :obj:`None`)
        hidden (int, optional): a small model: every encoder, LSTM and
            decoder layer of this size (explicit sizes below still win).
            (default: :obj:`None`: the paper's sizes)
        encoder_channels (tuple[int], optional): encoder layer sizes.
            (default: :obj:`(500, 500)`)
        lstm_channels (int, optional): LSTM size. (default: :obj:`1000`)
        num_layers (int, optional): stacked LSTM layers. (default: :obj:`2`)
        decoder_channels (tuple[int], optional): decoder hidden layer sizes,
            before the output layer. (default: :obj:`(500, 100)`)
        dropout (float, optional): dropout between layers. (default: :obj:`0.`)
        residual (bool, optional): predict the change from the last frame
            (Martinez et al. 2017); needs ``out_channels <= in_channels``.
            (default: :obj:`False`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``; a
          batch of ``B`` graphs of ``n`` nodes each (``N = B * n``), nodes in
          each graph's order
        - **forward:** ``[N, T, out_channels]``, at step ``t`` the prediction
          for ``t + 1``
        - **forecast:** ``[N, horizon, out_channels]``
    """

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int,
                 num_nodes: Optional[int] = None, hidden: Optional[int] = None,
                 encoder_channels: Optional[Sequence[int]] = None, lstm_channels: Optional[int] = None,
                 num_layers: int = 2, decoder_channels: Optional[Sequence[int]] = None,
                 dropout: float = 0.0, residual: bool = False):
        hidden = count("ERD", "hidden", hidden, optional=True, meaning="the paper's sizes")
        if encoder_channels is None:
            encoder_channels = (500, 500) if hidden is None else (hidden, hidden)
        if lstm_channels is None:
            lstm_channels = 1000 if hidden is None else hidden
        if decoder_channels is None:
            decoder_channels = (500, 100) if hidden is None else (hidden, hidden)
        encoder_channels = sizes("ERD", "encoder_channels", encoder_channels, empty=False, example="(500, 500)")
        super().__init__(schema, in_channels, out_channels, num_nodes, encoder_channels, lstm_channels,
                         num_layers, decoder_channels, dropout, residual)
