"""Structural-RNN (Jain et al., CVPR 2016), vectorised over typed ST-graphs."""
from __future__ import annotations

from typing import Any, Dict, Literal, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MLP

from ..data import STData
from ..loader import seed_count
from ..nn.args import count, is_bool
from ..nn.args import sizes as args_sizes
from ..nn.checks import check_data, check_graph_inputs, check_horizon, check_values, model_dtype, select
from ..nn.feedback import Feedback
from ..nn.heads import GaussianHead, LogitsHead, build_head
from ..nn.srnn_layer import GraphLayout, SRNNLayer, SRNNState
from ..nn.variants import choice
from ..nn.state import other_graph
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["StructuralRNN"]

PRESETS: Dict[str, Dict[str, object]] = {
    # Jain et al. 2016, human motion: edgeRNN FC256-FC256-LSTM512, nodeRNN LSTM512-FC256-FC100-FC.
    "paper_motion": dict(edge_mlp=(256, 256), edge_hidden=512, node_mlp=(256, 100), node_hidden=512),
}
DEFAULTS: Dict[str, object] = dict(edge_mlp=(64,), edge_hidden=64, node_mlp=(64,), node_hidden=64)


@register("srnn")
class StructuralRNN(Forecaster):
    r"""The Structural-RNN of `Jain, Zamir, Savarese and Saxena, "Structural-RNN:
    Deep Learning on Spatio-Temporal Graphs" (CVPR 2016)
    <https://arxiv.org/abs/1511.05298>`_, for any typed ST-graph.

    Every spatial edge type :math:`k` has one edgeRNN, every node type
    :math:`\tau` a temporal edgeRNN and a nodeRNN, shared by all edges and
    nodes of that type. For node :math:`i` of type :math:`\tau` at step
    :math:`t` (``edge_scope="slot"``, the paper's one edgeRNN state per node
    and edge type; the inputs below are the improved variant's: with
    ``variant="paper"`` the nodeRNN reads no :math:`\mathbf{x}_{i,t}` and the
    temporal edge reads :math:`\mathbf{x}_{i,t}` alone, ``docs/paper.md``):

    .. math::
        \mathbf{s}_{i,k,t} = \mathrm{edgeRNN}_k\Big(\sum_{j \in \mathcal{N}_k(i)}
        \phi(\mathbf{x}_{i,t}, \mathbf{x}_{j,t})\Big), \quad
        \mathbf{u}_{i,t} = \mathrm{edgeRNN}_\tau^{temp}\big(\mathbf{x}_{i,t},
        \mathbf{x}_{i,t} - \mathbf{x}_{i,t-1}\big)

    .. math::
        \hat{\mathbf{y}}_{i,t+1} = \mathrm{nodeRNN}_\tau\big(\mathbf{x}_{i,t} \,\|\,
        \mathbf{u}_{i,t} \,\|\, \mathbf{s}_{i,k_1,t} \,\|\, \dots \,\|\, \mathbf{s}_{i,k_m,t}\big)

    where :math:`k_1, \dots, k_m` are the edge types arriving at :math:`\tau`
    (:meth:`STSchema.incoming`) and :math:`\mathbf{s}_{i,k,t} = 0` while node
    :math:`i` has no present edge of type :math:`k`. With ``edge_scope="edge"``
    every edge runs its own edgeRNN state and the outputs are aggregated per
    ``(node, edge type)`` with ``aggr``.

    The model is a :class:`~srnn_pyg.nn.SRNNLayer` (the edgeRNNs and the
    nodeRNNs' LSTMs: one RNN call per type over the whole sequence, scatters
    for every aggregation, no Python loop over nodes, edges or time steps),
    a decoder MLP per node type, and an output head
    (:mod:`srnn_pyg.nn.heads`). :meth:`forecast` warms up on the observed
    frames and then rolls out carrying the layer's :class:`~srnn_pyg.nn.SRNNState`:
    linear in the horizon.

    Args:
        schema (STSchema): node and edge types.
        in_channels (int): node features ``F``.
        out_channels (int): predicted features (regression) or classes.
        edge_hidden (int, optional): edgeRNN LSTM (or GRU) size. (default: :obj:`64`;
            :obj:`512` with the paper preset)
        node_hidden (int, optional): nodeRNN LSTM (or GRU) size. (default: :obj:`64`)
        edge_mlp (tuple[int], optional): edgeRNN encoder layers before its
            LSTM. (default: :obj:`(64,)`; paper: :obj:`(256, 256)`)
        node_mlp (tuple[int], optional): nodeRNN decoder layers after its LSTM,
            before the output layer. (default: :obj:`(64,)`; paper: :obj:`(256, 100)`)
        edge_scope (str, optional): ``"slot"`` (features of a node's edges of
            one type are summed, one RNN per slot: the paper) or ``"edge"``
            (one RNN state per edge, outputs aggregated with ``aggr``).
            (default: :obj:`"slot"`)
        aggr (str, optional): ``"sum"``, ``"mean"`` or ``"max"`` over present
            edges, or ``"attention"`` (a softmax over each node's present
            incoming edges of one type, queried by the node's temporal edgeRNN
            output: Vemula et al. 2018); all but ``"sum"`` need
            ``edge_scope="edge"`` (the slot scope sums features, and raises
            for the others). (default: :obj:`"sum"`)
        edge_state (str, optional): when a spatial edgeRNN state starts:
            ``"start"`` (at the sequence's first step, running on zero input
            while its edge is absent) or ``"appear"`` (from zero at the step
            its edge, and both its ends, are first present, so that edges that
            appear late in a dynamic graph start fresh; after that it runs
            through absences on zero input). With ``edge_scope="slot"`` a
            slot appears with its first present edge. (default: :obj:`"appear"`
            for ``edge_scope="edge"``, :obj:`"start"` for ``"slot"``, the paper)
        task (str, optional): ``"regression"`` or ``"classification"`` (per
            step logits). (default: :obj:`"regression"`)
        residual (bool or str, optional): predict the change from the
            current frame, :math:`\hat{\mathbf{x}}_{t+1} = \mathbf{x}_t +
            \Delta` (``True``; Martinez et al. 2017; not in the paper), or,
            with ``"velocity"``, the change from a constant-velocity
            extrapolation, :math:`\hat{\mathbf{p}}_{t+1} = \mathbf{p}_t +
            \mathbf{v}_t + \Delta`, where the velocity :math:`\mathbf{v}_t`
            is read from the derived input channels (``derived="velocity"``:
            channels ``[out, 2 out)`` divided by ``velocity_scale``).
            (default: :obj:`False`)
        ar_lags (int, optional): a linear autoregressive skip (not in the
            paper): the prediction at step :math:`t` adds
            :math:`\mathbf{W} [\mathbf{x}_{t-p+1} \,\|\, \dots \,\|\,
            \mathbf{x}_t]` of the node's last :math:`p` = ``ar_lags`` input
            frames (all ``in_channels``), one bias-free map shared by all node
            types, zero at initialisation (the model starts as without it).
            Frames before the sequence and frames where the node is absent
            read as zeros; :meth:`step`, :meth:`forecast` and
            :meth:`forecast_chunked` carry the last :math:`p - 1` frames in
            the state
            (:attr:`~srnn_pyg.nn.SRNNState.past_x`). The S-RNN then learns
            the nonlinear correction to a linear autoregression on the lags,
            the baseline that is hard to beat on short count series.
            Regression only. (default: :obj:`0`, off)
        dropout (float, optional): dropout in every RNN block. (default: :obj:`0.`)
        num_layers (int, optional): recurrent layers per block. (default: :obj:`1`)
        spatial_features (str, optional): one of ``"concat"`` (receiver then
            sender), ``"concat_typed"`` (the official order: the edge type's
            first node type first), ``"diff"``, ``"attr"`` (``edge_attr``) or
            ``"concat_attr"``. (default: :obj:`"concat"`; ``"concat_typed"``
            for the paper variant)
        temporal_features (str, optional): ``"concat_diff"``
            (:math:`[\mathbf{x}_t, \mathbf{x}_t - \mathbf{x}_{t-1}]`), ``"diff"``
            or ``"x"``. (default: :obj:`"concat_diff"`; ``"x"`` for the paper
            variant)
        edge_channels (int, optional): width ``F_e`` of ``edge_attr`` for the
            ``*attr`` spatial features. (default: :obj:`0`)
        preset (str, optional): ``"paper_motion"`` takes the paper's sizes for
            every size argument left unset, and ``variant="paper"`` unless a
            variant is given. (default: :obj:`None`)
        variant (str, optional): ``"improved"`` (this library's model) or
            ``"paper"``: the official code's architecture, item by item
            (:class:`~srnn_pyg.nn.SRNNLayer`; ``docs/paper.md``): fused peephole
            LSTMs, an FC-only temporal edge, a linear second encoder layer,
            nodeRNNs that read only their edgeRNNs, features ordered by edge
            type, uniform :math:`\pm 0.05` initialisation of every layer
            (decoders included). (default: :obj:`"improved"`, or
            :obj:`"paper"` with ``preset="paper_motion"``)
        cell (str, optional): ``"lstm"`` (PyTorch's fused LSTM), ``"gru"``
            (PyTorch's fused GRU: three gates instead of four, no cell state;
            with ``variant="paper"`` it replaces the peephole cell and there is
            no state-gradient clip) or ``"peephole"`` (the official cell; a loop over time steps inside
            each RNN call). (default: by ``variant``)
        lstm_grad_clip (float, optional): with ``cell="peephole"``, clamp the
            gradient through every LSTM state at every step (the official
            ``g_clip``). (default: :obj:`None`; :obj:`25.` for the paper
            variant)
        fused_lstm, temporal_lstm, linear_encoder, node_input_x (bool, optional),
        init (str, optional): the architecture items one by one
            (:class:`~srnn_pyg.nn.SRNNLayer`; the ablations of
            ``docs/paper.md``); ``init`` also covers the decoders.
            (default: by ``variant``; both variants now have
            ``linear_encoder=True`` and ``init="uniform"``, which won on the
            validation data of Springs, Chickenpox and ETH/UCY; checkpoints
            saved before version 0.2 load with the settings they had)
        loss (str, optional): the deterministic head's training loss,
            ``"mse"``, ``"l1"``, ``"huber"`` or ``"euclidean"`` (the error
            vector's length per node and step: ADE on positions;
            :class:`~srnn_pyg.nn.DeterministicHead`). (default: :obj:`"mse"`)
        covariates (int, optional): the last ``covariates`` input features are
            exogenous, known in the future (time of day...): a forecast reads
            them from the window's ``u_future`` ``[N, H, C]``. (default: :obj:`0`)
        derived (str, optional): ``"velocity"``: input features
            ``[out, 2 out)`` are the first difference of the predicted ones
            (positions in and out, velocities in), rebuilt so in a forecast.
            Other inputs that are not predicted are held at their last observed
            value (:class:`~srnn_pyg.nn.feedback.Feedback`). (default: :obj:`None`)
        velocity_scale (float, optional): derived velocities are this times the
            first difference. (default: :obj:`1.0`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          ``edge_index`` ``[2, E]``, ``node_type`` ``[N]``, ``edge_type``
          ``[E]``, optional ``node_mask`` ``[N, T]``, ``edge_mask`` ``[E, T]``,
          ``edge_attr`` ``[E, T, F_e]``
        - **output:** ``[N, T, out_channels]``: at step ``t`` the prediction for
          ``t + 1`` (or the logits at ``t``); with ``return_hidden=True`` also
          the nodeRNN outputs ``[N, T, layer.out_channels]`` (``node_hidden``
          for the improved variant; wider for the paper's fused outputs)
    """

    uses_types = True
    #: the version of the defaults the constructor fills in (saved in every
    #: model record; :meth:`upgrade_args` rebuilds older records as they were)
    defaults_version = 2

    @staticmethod
    def upgrade_args(args: Dict[str, Any], version: int) -> Dict[str, Any]:
        """The constructor arguments of a record saved under defaults
        ``version``, with the settings that version filled in made explicit.

        Version 1 (before 0.2): the improved variant's last edgeRNN encoder
        layer had a ReLU (``linear_encoder=False``) and PyTorch's init
        (``init="default"``)."""
        args = dict(args)
        if version < 2:
            variant = args.get("variant") or ("paper" if args.get("preset") == "paper_motion" else "improved")
            if variant == "improved":
                if args.get("linear_encoder") is None:
                    args["linear_encoder"] = False
                if args.get("init") is None:
                    args["init"] = "default"
        return args
    uses_graph = True

    def __init__(self, schema: STSchema, in_channels: int, out_channels: int, *,
                 edge_hidden: Optional[int] = None, node_hidden: Optional[int] = None,
                 edge_mlp: Optional[Sequence[int]] = None, node_mlp: Optional[Sequence[int]] = None,
                 edge_scope: str = "slot", aggr: str = "sum", task: str = "regression",
                 residual: Union[bool, Literal["velocity"]] = False, dropout: float = 0.0, num_layers: int = 1,
                 spatial_features: Optional[str] = None, temporal_features: Optional[str] = None,
                 edge_channels: int = 0, spatial: bool = True, head: str = "deterministic",
                 attention_channels: int = 32, edge_state: Optional[str] = None,
                 preset: Optional[str] = None, loss: str = "mse", covariates: int = 0,
                 derived: Optional[str] = None, velocity_scale: float = 1.0,
                 variant: Optional[str] = None, cell: Optional[str] = None,
                 lstm_grad_clip: Optional[float] = None, fused_lstm: Optional[bool] = None,
                 temporal_lstm: Optional[bool] = None, linear_encoder: Optional[bool] = None,
                 node_input_x: Optional[bool] = None, init: Optional[str] = None, ar_lags: int = 0):
        super().__init__(schema, in_channels, out_channels)
        in_channels, out_channels = self.in_channels, self.out_channels   # plain ints
        name = type(self).__name__
        if not isinstance(schema, STSchema):
            raise TypeError(f"{name}: 'schema' must be an STSchema (got {type(schema).__name__})")
        choice(name, "head", head, ("deterministic", "gaussian"))
        choice(name, "task", task, ("regression", "classification"))
        if head == "gaussian" and (task != "regression" or out_channels != 2):
            raise ValueError(f"{name}: head='gaussian' is a bivariate Gaussian over 2-d positions: it "
                             f"needs task='regression' and out_channels=2 (got task={task!r}, "
                             f"out_channels={out_channels})")
        if preset is not None:
            choice(name, "preset", preset, tuple(PRESETS))
        if not (is_bool(residual) or residual == "velocity"):
            raise ValueError(f"{name}: 'residual' must be False, True or 'velocity' (got {residual!r})")
        if residual == "velocity" and derived != "velocity":
            raise ValueError(f"{name}: residual='velocity' reads the velocity from the derived input "
                             f"channels, so it needs derived='velocity' (got derived={derived!r})")
        if residual and (task != "regression" or out_channels > in_channels):
            raise ValueError(f"{name}: 'residual=True' adds the current frame's first out_channels "
                             f"features, so it needs task='regression' and out_channels <= in_channels "
                             f"(got task={task!r}, {in_channels} -> {out_channels})")
        ar_lags = count(name, "ar_lags", ar_lags, least=0)
        if ar_lags and task != "regression":
            raise ValueError(f"{name}: 'ar_lags' adds a linear map of past inputs to a regression "
                             f"output, so it needs task='regression' (got task={task!r})")
        if variant is None:
            variant = "paper" if preset == "paper_motion" else "improved"
        choice(name, "variant", variant, ("improved", "paper"))
        sizes = dict(DEFAULTS, **(PRESETS[preset] if preset else {}))
        given = dict(edge_hidden=edge_hidden, node_hidden=node_hidden, edge_mlp=edge_mlp, node_mlp=node_mlp)
        sizes.update({k: v for k, v in given.items() if v is not None})
        _check_sizes(name, sizes)
        try:              # the layer checks the arguments it takes; its errors name the model the user called
            self.layer = SRNNLayer(schema, in_channels, edge_hidden=int(sizes["edge_hidden"]),
                                   node_hidden=int(sizes["node_hidden"]), edge_mlp=tuple(sizes["edge_mlp"]),
                                   edge_scope=edge_scope, aggr=aggr, edge_state=edge_state, dropout=dropout,
                                   num_layers=num_layers, spatial_features=spatial_features,
                                   temporal_features=temporal_features, edge_channels=edge_channels,
                                   spatial=spatial, attention_channels=attention_channels, variant=variant,
                                   cell=cell, lstm_grad_clip=lstm_grad_clip, fused_lstm=fused_lstm,
                                   temporal_lstm=temporal_lstm, linear_encoder=linear_encoder,
                                   node_input_x=node_input_x, init=init)
        except (ValueError, TypeError) as e:
            if not str(e).startswith("SRNNLayer:"):
                raise
            raise type(e)(name + str(e)[len("SRNNLayer"):]) from None
        lay = self.layer
        self.edge_hidden, self.node_hidden, self.edge_mlp = lay.edge_hidden, lay.node_hidden, lay.edge_mlp
        self.node_mlp = tuple(int(c) for c in sizes["node_mlp"])
        self.edge_scope, self.aggr, self.edge_state, self.task = lay.edge_scope, lay.aggr, lay.edge_state, task
        self.residual = residual if residual == "velocity" else bool(residual)
        self.dropout, self.num_layers = lay.dropout, lay.num_layers
        self.spatial_kind, self.temporal_kind = lay.spatial_kind, lay.temporal_kind
        self.edge_channels, self.spatial, self.attention_channels = lay.edge_channels, lay.spatial, \
            lay.attention_channels
        self.preset, self.variant, self.cell, self.lstm_grad_clip = preset, variant, lay.cell, lay.lstm_grad_clip
        self.fused_lstm, self.temporal_lstm, self.init = lay.fused_lstm, lay.temporal_lstm, lay.init
        self.linear_encoder, self.node_input_x = lay.linear_encoder, lay.node_input_x
        self.ar_lags = ar_lags
        # The autoregressive skip: [x_{t-p+1} .. x_t] channel-major (channel f, lag l at f * p + l).
        self.ar = nn.Linear(ar_lags * in_channels, out_channels, bias=False) if ar_lags else None
        if loss != "mse" and (head != "deterministic" or task != "regression"):
            raise ValueError(f"{name}: 'loss' chooses the point loss of a deterministic regression head "
                             f"(got loss={loss!r} with head={head!r}, task={task!r})")
        if head == "gaussian":
            self.head = GaussianHead(out_channels)
        elif task == "classification":
            self.head = LogitsHead(out_channels)
        else:
            self.head = build_head("deterministic", out_channels, loss=loss)
        # How a forecast rebuilds its next input from a prediction (inputs it reads but does not predict).
        self.feedback = Feedback(in_channels, out_channels, covariates, derived, velocity_scale, owner=name) \
            if task == "regression" and out_channels <= in_channels else None
        if self.feedback is None and (covariates or derived):
            raise ValueError(f"{name}: 'covariates' and 'derived' describe regression inputs beyond the "
                             f"predicted ones (got task={task!r}, {in_channels} -> {out_channels})")
        # One decoder per node type: nodeRNN output -> node_mlp (ReLU) -> the head's raw channels
        # (the paper's nodeRNN FC layers after its LSTM).
        self.decoders = nn.ModuleList(
            MLP([lay.node_channels(p), *self.node_mlp, self.head.raw_channels], act="relu", norm=None,
                dropout=[self.dropout] * len(self.node_mlp) + [0.0])
            for p in range(schema.num_node_types))
        self.reset_parameters()

    # The layer's modules, by the names the paper gives them.
    @property
    def edge_rnns(self) -> nn.ModuleList:
        """Spatial edgeRNNs, one per spatial edge type."""
        return self.layer.edge_rnns

    @property
    def temporal_rnns(self) -> nn.ModuleList:
        """Temporal edgeRNNs, one per node type."""
        return self.layer.temporal_rnns

    @property
    def node_rnns(self) -> nn.ModuleList:
        """The nodeRNNs' LSTM blocks, one per node type (their decoders: :attr:`decoders`)."""
        return self.layer.node_rnns

    def gradient_checkpointing(self, enable: bool = True) -> "StructuralRNN":
        """Activation checkpointing of the layer's RNN blocks
        (:meth:`SRNNLayer.gradient_checkpointing`): the same gradients, less
        memory per node for a second forward pass of the blocks in backward.
        Returns ``self``."""
        self.layer.gradient_checkpointing(enable)
        return self

    def init_linear(self, data: Any, ridge: float = 1e-6) -> "StructuralRNN":
        """Start the model as the closed-form linear autoregression of its
        inputs on ``data``, windows of at least ``ar_lags`` observed steps
        (needs ``ar_lags``): the skip takes the linear
        coefficients, the decoders' output layers its bias with zero weights
        (:func:`~srnn_pyg.models.linear_start.init_linear`). Returns ``self``."""
        from .linear_start import init_linear
        return init_linear(self, data, ridge)

    def reset_parameters(self) -> None:
        self.layer.reset_parameters()
        for mlp in self.decoders:
            mlp.reset_parameters()
            if self.init == "uniform":                       # the official FC init: uniform +-0.05, zero bias
                for lin in mlp.lins:
                    nn.init.uniform_(lin.weight, -0.05, 0.05)
                    nn.init.zeros_(lin.bias)
        if self.ar is not None:
            nn.init.zeros_(self.ar.weight)

    # ------------------------------------------------------------------ core
    def _check_input(self, data: STData, horizon: Any = ...) -> Tensor:
        """Every tensor the model reads, checked once at its entry."""
        check_data(type(self).__name__, data)
        x = getattr(data, "x", None)
        check_graph_inputs(type(self).__name__, self.schema, self.in_channels, x, getattr(data, "edge_index", None),
                           data.get("node_type"), data.get("edge_type"), data.get("node_mask"),
                           data.get("edge_mask"), data.get("edge_attr"),
                           self.edge_channels if "attr" in self.spatial_kind else None, model_dtype(self))
        if horizon is not ...:  # a forecast (``...``: forward, no horizon)
            check_horizon(type(self).__name__, horizon)
        if self.validate and callable(getattr(data, "check_schema", None)):
            data.check_schema(self.schema)      # one schema per batch, the model's (identity first: cheap)
        return x

    def _advance(self, x: Tensor, data: STData, state: Optional[SRNNState], node_mask: Optional[Tensor],
                 edge_mask: Optional[Tensor], receivers: Optional[int] = None) -> Tuple[Tensor, "_Rows", SRNNState]:
        """The layer over ``x`` from ``state``, then decoders and head: the
        head's parameters ``[N, T, raw]``, the nodeRNN outputs (sorted by type,
        gathered into input order only if asked) and the new state. With
        ``receivers=R`` (a one-hop batch's seeds) only the first ``R`` rows."""
        past = state.past_x if state is not None else None
        hs, state = self.layer(x, data.edge_index, data.get("node_type"), data.get("edge_type"),
                               node_mask=node_mask, edge_mask=edge_mask, edge_attr=data.get("edge_attr"),
                               state=state, validate=False, order="type", check_finite=self.validate,
                               num_receivers=receivers)                               # [R, T, H] by type
        if receivers is not None and receivers < x.size(0):
            x = x[:receivers]
            node_mask = node_mask[:receivers] if node_mask is not None else None
        ar = None
        if self.ar is not None:
            ar, state.past_x = self._autoregress(x, node_mask, past)
        out = select(node_mask, self._decode(hs, x, state.layout, ar))                # absent: zeros
        return out, _Rows(hs, state.layout.node_rank), state

    def _autoregress(self, x: Tensor, node_mask: Optional[Tensor],
                     past: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """The ``ar_lags`` skip ``[N, T, out]`` over ``x`` ``[N, T, F]`` after
        the frames ``past`` ``[N, p - 1, F]`` (zeros when :obj:`None`), and
        the last ``p - 1`` frames for the next call."""
        p = self.ar_lags
        frames = select(node_mask, x)                                                # absent: zeros
        if past is None:
            past = frames.new_zeros(frames.size(0), p - 1, frames.size(2))
        seq = torch.cat([past.to(frames.dtype), frames], dim=1)                      # [N, p - 1 + T, F]
        windows = seq.unfold(1, p, 1)                                                # [N, T, F, p]
        keep = seq[:, seq.size(1) - (p - 1):] if p > 1 else None
        return self.ar(windows.flatten(2)), keep

    def _decode(self, hs: Tensor, x: Tensor, lay: GraphLayout, ar: Optional[Tensor] = None) -> Tensor:
        """Per node type (rows sorted by type): dropout, decoder MLP; then the
        input order, the residual, the autoregressive skip ``ar`` and the head."""
        drop = self.dropout > 0 and self.training
        outs = []
        for mlp, s, n in zip(self.decoders, lay.node_starts, lay.node_counts):
            h = hs[s:s + n, :, :mlp.channel_list[0]]          # a narrower fused type: its own columns
            # The decoder's layers, called directly (a forecast runs this once per step and per type,
            # where the MLP module's generic per-layer calls cost ~5 %): dropout before every layer.
            for lin in mlp.lins[:-1]:
                h = F.dropout(h, self.dropout, True) if drop else h
                h = F.relu(lin(h))
            h = F.dropout(h, self.dropout, True) if drop else h
            outs.append(mlp.lins[-1](h))
        out = torch.cat(outs, dim=0)[lay.node_rank]                                   # [N, T, raw]
        if self.residual:
            out = torch.cat([out[..., :self.out_channels] + self.prior(x), out[..., self.out_channels:]], dim=-1)
        if ar is not None:
            out = torch.cat([out[..., :self.out_channels] + ar, out[..., self.out_channels:]], dim=-1)
        return self.head(out)

    def prior(self, x: Tensor) -> Tensor:
        """What ``residual`` adds to the decoder's output: the current frame's
        predicted channels, plus (``residual="velocity"``) their velocity
        from the derived channels, ``[..., out_channels]``."""
        F_out = self.out_channels
        base = x[..., :F_out]
        if self.residual == "velocity":
            base = base + x[..., F_out:2 * F_out] / self.feedback.velocity_scale
        return base

    # ------------------------------------------------------------------- API
    def forward(self, data: STData, return_hidden: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """One-step-ahead predictions (or per-step logits, or the Gaussian
        head's parameters) ``[N, T, out]``; with ``return_hidden`` also the
        nodeRNN outputs ``[N, T, self.layer.out_channels]`` (``node_hidden``
        unless the outputs are fused, as in the paper variant).

        On a one-hop batch (:class:`~srnn_pyg.loader.OneHopLoader`: ``n_id``
        and ``batch_size``) only the ``batch_size`` seed rows are computed and
        returned, ``[batch_size, T, out]``: exactly the full graph's rows for
        those nodes (the other rows of a batch are there as edge sources; their
        own outputs would not be exact)."""
        x = self._check_input(data)
        out, rows, _ = self._advance(x, data, None, data.get("node_mask"), data.get("edge_mask"),
                                     receivers=seed_count(data, "StructuralRNN"))
        return (out, rows.in_input_order()) if return_hidden else out

    def step(self, data: STData, state: Optional[SRNNState] = None,
             num_receivers: Optional[int] = None, validate: Optional[bool] = None) -> Tuple[Tensor, SRNNState]:
        """Streaming: the outputs for the frames in ``data.x`` ``[N, T, F]``
        (one frame, ``T=1``, for a live feed) continuing from ``state``, and
        the state after them. Calls over consecutive chunks give the outputs of
        one :meth:`forward` over the whole sequence; the cost per frame does not
        grow with the length of the stream. ``data`` carries the graph (the
        same nodes and edges on every call: with ``validate``, a ``state``
        handed another ``edge_index``, ``node_type`` or ``edge_type`` is
        refused; ``validate=False`` skips that and the scan of ``x`` for
        NaN/Inf, for loops that checked their input once already; :obj:`None`:
        the model's ``validate``) and this chunk's masks.

        Returns the head's parameters ``[N, T, raw]`` (the prediction of each
        next frame, or logits) and the :class:`~srnn_pyg.nn.SRNNState`.

        ``num_receivers=R``: only the first ``R`` nodes advance (outputs
        ``[R, T, raw]``, a state of ``R`` nodes); the others are read as edge
        sources (:class:`~srnn_pyg.nn.SRNNLayer`). A one-hop batch
        (:class:`~srnn_pyg.loader.OneHopLoader`) gets its seeds as receivers
        unless ``num_receivers`` is given.
        """
        x = self._check_input(data)
        if num_receivers is None:
            num_receivers = seed_count(data, "StructuralRNN")
        R = x.size(0) if num_receivers is None else num_receivers
        if state is not None and not isinstance(state, SRNNState):
            raise TypeError(f"StructuralRNN: 'state' must be an SRNNState or None (got {type(state).__name__})")
        if state is not None and (state.layout.num_nodes != R
                                  or (state.layout.num_sources or R) != x.size(0)
                                  or state.layout.num_edges != data.edge_index.size(1)):
            raise ValueError(f"StructuralRNN: 'state' belongs to a graph of {state.layout.num_nodes} nodes and "
                             f"{state.layout.num_edges} edges (got {R} and {data.edge_index.size(1)})")
        check = self.validate if validate is None else bool(validate)
        if state is not None and check and \
                not state.layout.same_graph(data.edge_index, data.get("node_type"), data.get("edge_type")):
            raise ValueError(other_graph("StructuralRNN"))
        if state is not None and check:
            self.layer.check_state(state, "StructuralRNN")
        if state is not None and check:       # a layer given a state makes no sync to check x in
            check_values("StructuralRNN", x, data.get("node_mask"))
        out, _, state = self._advance(x, data, state, data.get("node_mask"), data.get("edge_mask"),
                                      receivers=num_receivers)
        return out, state

    def forecast_chunked(self, data: STData, horizon: int, chunk_size: int = 4096,
                         state_device: Union[str, torch.device] = "cpu", node_order: Optional[Tensor] = None,
                         warmup_steps: Optional[int] = None, num_samples: Optional[int] = None) -> Tensor:
        """:meth:`forecast` for a graph too large for one pass, exactly: the
        recurrent state of every node, slot and edge is kept on
        ``state_device`` and every step is computed in chunks of
        ``chunk_size`` nodes (all nodes advance one step before the next).
        See :func:`srnn_pyg.models.srnn_chunked.forecast_in_chunks` and
        ``docs/scaling.md``."""
        from .srnn_chunked import forecast_in_chunks                # it imports this module
        return forecast_in_chunks(self, data, horizon, chunk_size=chunk_size, state_device=state_device,
                                  node_order=node_order, warmup_steps=warmup_steps, num_samples=num_samples)

    def embed(self, data: STData) -> Tensor:
        """The nodeRNN outputs ``[N, T, self.layer.out_channels]`` (``node_hidden``
        unless the outputs are fused, as in the paper variant): S-RNN as a layer inside a
        larger PyG model (or use :class:`~srnn_pyg.nn.SRNNLayer` directly)."""
        return self.forward(data, return_hidden=True)[1]

    def attention(self, data: STData) -> Tensor:
        """The attention weights ``[E, T]`` of ``aggr="attention"`` on ``data``:
        over each node's present incoming edges of one type they sum to one;
        absent edges get zero."""
        if self.aggr != "attention":
            raise ValueError(f"StructuralRNN: attention() needs aggr='attention' (got {self.aggr!r})")
        x = self._check_input(data)
        _, _, state = self._advance(x, data, None, data.get("node_mask"), data.get("edge_mask"))
        if state.attention is None:
            return x.new_zeros(data.edge_index.size(1), x.size(1))
        return state.attention

    def forecast(self, data: STData, horizon: int, num_samples: Optional[int] = None) -> Tensor:
        r"""Predict ``[N, horizon, out_channels]`` after the observed ``data.x``.

        Warms up with one full-sequence call per type, then rolls out one step
        at a time, carrying the layer's state and recomputing the edge
        features from the model's own predictions: cost linear in ``horizon``.
        Nodes and edges keep their presence at the last observed step.

        With ``head="gaussian"`` the rollout follows the predicted means, or,
        with ``num_samples=K``, draws ``K`` trajectories (each step sampled from
        its bivariate Gaussian and fed back) and returns ``[K, N, horizon, 2]``.
        """
        x = self._check_input(data, horizon)
        seeds = seed_count(data, "StructuralRNN")
        if seeds is not None and horizon > 1:
            raise ValueError(f"StructuralRNN: forecast on a one-hop batch (OneHopLoader) is exact for "
                             f"horizon=1 only: step h of a rollout reads h hops of the graph (got "
                             f"horizon={horizon}); forecast a whole graph, or use forecast_chunked")
        if self.feedback is None:
            raise ValueError(f"StructuralRNN: forecast feeds predictions back as inputs, so it needs "
                             f"task='regression' and out_channels <= in_channels (got task="
                             f"{self.task!r}, {self.in_channels} -> {self.out_channels})")
        if num_samples is not None:
            if self.head.kind != "gaussian":
                raise ValueError("StructuralRNN: 'num_samples' needs head='gaussian'")
            if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
                raise ValueError(f"StructuralRNN: 'num_samples' must be a positive int (got {num_samples!r})")
            N = x.size(0)
            if seeds is not None:
                raise ValueError("StructuralRNN: 'num_samples' draws whole-graph trajectories; it takes no "
                                 "one-hop batch (OneHopLoader)")
            pred = self._rollout(_tile(data, num_samples), horizon, sample=True)      # [K*N, H, 2]
            return pred.view(num_samples, N, horizon, -1)
        return self._rollout(data, horizon, sample=False, receivers=seeds)

    def _rollout(self, data: STData, horizon: int, sample: bool, receivers: Optional[int] = None) -> Tensor:
        self.feedback.check_future(data, horizon)
        nm, em = data.get("node_mask"), data.get("edge_mask")
        out, _, state = self._advance(data.x, data, None, nm, em, receivers)
        if receivers is not None:                    # one step on a one-hop batch: the seeds' rows
            nm = nm[:receivers] if nm is not None else None
        nm_last = nm[:, -1:] if nm is not None else None                            # [N, 1]
        em_last = em[:, -1:] if em is not None else None                            # [E, 1]
        preds, inp = [], data.x[:, -1:]                                             # [N, 1, F]
        for i in range(horizon):
            if i > 0:
                out, _, state = self._advance(inp, data, state, nm_last, em_last)
            params = out[:, -1:]                                                    # [N, 1, raw]
            step = self.head.sample(params) if sample else self.head.point(params)  # [N, 1, out]
            step = select(nm_last, step)
            preds.append(step)
            if i + 1 < horizon:                      # the next step's input (none after the last)
                inp = select(nm_last, self.feedback.step(step, inp, data, i))       # [N, 1, F]
        return torch.cat(preds, dim=1)                                              # [N, horizon, out]

    def __repr__(self) -> str:
        s = self.schema
        return (f"{type(self).__name__}(schema={s.num_node_types} node/{s.num_edge_types} edge types, "
                f"{self.in_channels}, {self.out_channels}, edge_scope={self.edge_scope!r}, "
                f"aggr={self.aggr!r}, task={self.task!r}" + ("" if self.spatial else ", spatial=False")
                + ("" if self.head.kind != "gaussian" else ", head='gaussian'") + ")")


class _Rows(NamedTuple):
    """NodeRNN outputs sorted by node type, and the permutation back to input order."""

    sorted: Tensor          # [N, T, H] by type
    rank: Tensor            # [N]

    def in_input_order(self) -> Tensor:
        return self.sorted[self.rank]                                               # [N, T, H]


def _check_sizes(owner: str, sizes: Dict[str, object]) -> None:
    """``edge_hidden``/``node_hidden`` positive ints, ``edge_mlp``/``node_mlp``
    lists, tuples or 1-d arrays of positive ints (a float is refused, not
    truncated), made plain in place."""
    for key in ("edge_hidden", "node_hidden"):
        sizes[key] = count(owner, key, sizes[key])
    for key in ("edge_mlp", "node_mlp"):
        sizes[key] = args_sizes(owner, key, sizes[key], example="(64,) or () for none, one width per layer")


def _tile(data: STData, k: int) -> STData:
    """``k`` copies of a (batched) graph as one disjoint graph, node-major: copy ``c`` holds
    nodes ``c * N .. (c + 1) * N - 1``."""
    N, E = data.num_nodes, data.edge_index.size(1)
    out = STData(x=data.x.repeat(k, 1, 1))
    shift = (torch.arange(k, device=data.x.device) * N).repeat_interleave(E)         # [k*E]
    out.edge_index = data.edge_index.repeat(1, k) + shift
    for key in ("node_type", "node_mask", "edge_type", "edge_mask", "edge_attr", "u_future"):
        v = data.get(key)
        if v is not None:
            out[key] = v.repeat(k, *([1] * (v.dim() - 1)))
    return out
