"""The 3-layer LSTM baseline (LSTM-3LR)."""
from __future__ import annotations

from typing import Optional

from ..nn.args import count
from ..schema import STSchema
from .erd import GraphVectorRNN
from .registry import register

__all__ = ["LSTM3LR"]


@register("lstm3lr")
class LSTM3LR(GraphVectorRNN):
    r"""The three-layer LSTM (LSTM-3LR) of
    `Fragkiadaki et al., "Recurrent Network Models for Human Dynamics" (ICCV 2015)
    <https://arxiv.org/abs/1508.00271>`_, a baseline of
    `Structural-RNN <https://arxiv.org/abs/1511.05298>`_: a linear input layer
    and a stack of LSTMs over the whole graph, whose ``n`` nodes' features are
    concatenated into one vector per step, then a linear output layer:

    .. math::
        \mathbf{s}_t = \mathbf{x}_{1,t} \,\|\, \cdots \,\|\, \mathbf{x}_{n,t}, \qquad
        \mathbf{h}_t = \mathrm{LSTM}_{3}\big(\mathbf{W}_{in}\mathbf{s}_t, \mathbf{h}_{t-1}\big), \qquad
        \hat{\mathbf{s}}_{t+1} = \mathbf{W}_{out}\mathbf{h}_t + \mathbf{b}

    The defaults are the LSTM-3LR sizes: a linear layer of 500, then three
    LSTM layers of 1000. (The S-RNN code feeds the input straight into its
    three 1000-unit LSTMs, with skip connections that are left out here:
    ``encoder_channels=0`` drops the input layer.) ``hidden`` gives a small
    model in one word.

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
        hidden (int, optional): a small model: the input layer and every LSTM
            layer of this size (explicit sizes below still win).
            (default: :obj:`None`: the paper's sizes)
        encoder_channels (int, optional): size of the linear input layer;
            :obj:`0` for none. (default: :obj:`500`)
        lstm_channels (int, optional): LSTM size. (default: :obj:`1000`)
        num_layers (int, optional): stacked LSTM layers. (default: :obj:`3`)
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
                 encoder_channels: Optional[int] = None, lstm_channels: Optional[int] = None,
                 num_layers: int = 3, dropout: float = 0.0, residual: bool = False):
        hidden = count("LSTM3LR", "hidden", hidden, optional=True, meaning="the paper's sizes")
        if encoder_channels is None:
            encoder_channels = 500 if hidden is None else hidden
        encoder_channels = count("LSTM3LR", "encoder_channels", encoder_channels, least=0)
        if lstm_channels is None:
            lstm_channels = 1000 if hidden is None else hidden
        encoder = (encoder_channels,) if encoder_channels > 0 else ()
        super().__init__(schema, in_channels, out_channels, num_nodes, encoder, lstm_channels,
                         num_layers, (), dropout, residual)

    def __repr__(self) -> str:
        enc = self.encoder_channels[0] if self.encoder_channels else 0
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"num_nodes={self.num_nodes}, encoder_channels={enc}, "
                f"lstm_channels={self.lstm_channels}, num_layers={self.num_layers})")
