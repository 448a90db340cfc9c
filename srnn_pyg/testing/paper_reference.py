"""A deliberately slow S-RNN of the official code, one node, edge and step at a time.

It recomputes :class:`~srnn_pyg.models.StructuralRNN` with ``variant="paper"``
from a reading of the authors' Theano code (``asheshjain399/RNNexp``, branch
``srnn``: ``structural_rnn/trainDRA.py``, ``DRAmodelRegression``;
``structural_rnn/readCRFgraph.py``; ``CRFProblems/H3.6m/processdata.py``,
``getDRAfeatures``; and ``asheshjain399/NeuralModels``: ``models/DRA.py``,
``layers/LSTM.py``, ``layers/multilayerLSTM.py``, ``layers/FCLayer.py``),
reading only the model's weights and settings, never calling its RNN blocks:

* a spatial edgeRNN is FC (ReLU), FC (linear), then a peephole LSTM whose
  output is its state followed by its own input (``input_output_fused``);
* a temporal edgeRNN (the ``_input`` edge) is FC (ReLU), FC (linear): no LSTM;
* the spatial input of node ``i`` for edge type ``A_B`` is the sum, over its
  neighbours ``j`` through that type, of ``[x of the A-typed end, x of the
  B-typed end]`` (receiver first when ``A == B``); the temporal input is
  ``x_t``;
* a nodeRNN reads the concatenation of its edgeRNNs' outputs (not ``x``):
  the temporal one, then one per incoming edge type in
  :meth:`~srnn_pyg.STSchema.incoming` order (the library's layout; the
  official code orders them by its ``edgeListComplete``, a permutation of the
  same columns); a fused peephole LSTM, then FC (ReLU) layers and a linear
  output layer;
* the LSTM cell is ``recurrence_efficient`` of ``LSTM.py``: diagonal
  peepholes from ``c_{t-1}`` into the input and forget gates and from
  ``c_t`` into the output gate; the gradient through ``h_{t-1}`` and
  ``c_{t-1}`` is clamped elementwise (Theano's ``grad_clip``), here with a
  tensor hook.

The official code has no node or edge masks; for them this reference follows
the library's documented rule: absent nodes read zero features and output
zeros, an edge is present when it and both its ends are, a (node, edge type)
slot sums its present edges' features and outputs zeros while it has none,
and every RNN keeps running (on zero input) through absences.

Use it in eval mode, on graphs of a few dozen nodes.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from ..data import STData

__all__ = ["paper_reference_forward", "paper_reference_forecast"]

Vec = Tensor
Cell = Tuple[Vec, Vec]  # (h, c) of the single LSTM layer


def _check(model) -> None:
    """Refuse the settings this reference does not describe."""
    name = "paper_reference_forward"
    needs = [("variant", "paper"), ("edge_scope", "slot"), ("aggr", "sum"), ("temporal_kind", "x"),
             ("spatial_kind", "concat_typed"), ("cell", "peephole"), ("num_layers", 1), ("residual", False)]
    for attr, want in needs:
        got = getattr(model, attr, None)
        if got != want:
            raise ValueError(f"{name}: the official S-RNN has {attr}={want!r} (got {got!r})")
    layer = getattr(model, "layer", model)
    for attr, want in (("fused_lstm", True), ("temporal_lstm", False), ("linear_encoder", True),
                       ("node_input_x", False)):
        got = getattr(layer, attr, want)
        if got != want:
            raise ValueError(f"{name}: the official S-RNN has {attr}={want!r} (got {got!r})")
    if model.head.kind not in ("deterministic", "logits"):
        raise ValueError(f"{name}: only plain output heads (got head {model.head.kind!r})")
    if not model.spatial:
        raise ValueError(f"{name}: the official S-RNN has spatial edgeRNNs (got spatial=False)")
    if model.training and model.dropout > 0:
        raise ValueError(f"{name}: use the model in eval mode (dropout is not reproduced)")


def _clamp_grad(v: Vec, bound: Optional[float]) -> Vec:
    """``v``, through a new graph node whose gradient is clamped to ``[-bound, bound]``."""
    if bound is None or not v.requires_grad:
        return v
    w = v * 1.0                   # a separate use of v: only the gradient through it is clamped
    w.register_hook(lambda g: g.clamp(-bound, bound))
    return w


def _peephole_lstm(lstm, z: Vec, state: Optional[Cell], clip: Optional[float]) -> Tuple[Vec, Cell]:
    """One step of the official peephole LSTM (one layer) on input ``z``."""
    W, U, b = lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_l0
    v_i, v_f, v_o = lstm.weight_peep_l0[0], lstm.weight_peep_l0[1], lstm.weight_peep_l0[2]
    H = U.size(1)
    if state is None:                                 # h0 = c0 = 0, not trained
        state = (z.new_zeros(H), z.new_zeros(H))
    h_prev, c_prev = _clamp_grad(state[0], clip), _clamp_grad(state[1], clip)
    rows = {gate: slice(n * H, (n + 1) * H) for n, gate in enumerate("ifgo")}   # PyTorch's gate rows

    def pre(gate: str) -> Vec:
        r = rows[gate]
        return W[r] @ z + U[r] @ h_prev + b[r]

    i = torch.sigmoid(pre("i") + v_i * c_prev)
    f = torch.sigmoid(pre("f") + v_f * c_prev)
    c = f * c_prev + i * torch.tanh(pre("g"))
    o = torch.sigmoid(pre("o") + v_o * c)             # the output gate peeks at the new cell
    h = o * torch.tanh(c)
    return h, (h, c)


def _encoder(linears, v: Vec) -> Vec:
    """FC layers of an edgeRNN: ReLU after each but the last, which is linear."""
    linears = list(linears)
    for n, lin in enumerate(linears):
        v = lin.weight @ v + lin.bias
        if n < len(linears) - 1:
            v = torch.relu(v)
    return v


def _decoder(mlp, v: Vec) -> Vec:
    """A nodeRNN's layers after its LSTM: FC (ReLU) layers, then a linear output layer."""
    lins = list(mlp.lins)
    for lin in lins[:-1]:
        v = torch.relu(lin.weight @ v + lin.bias)
    return lins[-1].weight @ v + lins[-1].bias


def _pair_feature(schema, k: int, receiver_type: int, x_i: Vec, x_j: Vec) -> Vec:
    """``getDRAfeatures`` for one neighbour: the ends in the order of edge type
    ``k``'s declared node types, the receiver first when both are of one type."""
    et = schema.edge_types[k]
    first = schema.node_type_index(et.src)
    second = schema.node_type_index(et.dst)
    if first == second:
        return torch.cat([x_i, x_j])
    if receiver_type == first:
        return torch.cat([x_i, x_j])
    return torch.cat([x_j, x_i])


def paper_reference_forward(model, data: STData, return_hidden: bool = False,
                            grad_clip: Union[str, float, None] = "model"):
    """``model(data)`` of a ``variant="paper"`` :class:`~srnn_pyg.models.StructuralRNN`,
    computed with Python loops over steps, nodes and edges; with
    ``return_hidden``, also the fused nodeRNN outputs ``[h, nodeRNN input]``
    zero-padded on the right to the widest node type.

    ``grad_clip``: the bound of the state-gradient clamp (``"model"``: the
    model's ``lstm_grad_clip``; :obj:`None`: no clamp). It changes only
    gradients, never values.
    """
    _check(model)
    clip = model.lstm_grad_clip if grad_clip == "model" else grad_clip
    schema = model.schema
    x = data.x
    N, T, F_in = x.shape
    node_type = data.get("node_type")
    node_type = node_type.tolist() if node_type is not None else [0] * N
    src, dst = data.edge_index.tolist()
    E = len(src)
    edge_type = data.get("edge_type")
    edge_type = edge_type.tolist() if edge_type is not None else [0] * E
    nm = data.get("node_mask")
    em = data.get("edge_mask")
    appear = model.edge_state == "appear"

    def node_present(i: int, t: int) -> bool:
        return True if nm is None else bool(nm[i, t])

    def edge_present(e: int, t: int) -> bool:
        ok = True if em is None else bool(em[e, t])
        return ok and node_present(src[e], t) and node_present(dst[e], t)

    # the official nodeConnections, per edge type: the edges arriving at each node
    arriving: Dict[Tuple[int, int], List[int]] = {}
    for e in range(E):
        arriving.setdefault((dst[e], edge_type[e]), []).append(e)

    slot_state: Dict[Tuple[int, int], Cell] = {}
    node_state: Dict[int, Cell] = {}
    raw = model.head.raw_channels
    out = x.new_zeros(N, T, raw)
    width = max(rnn.lstm.hidden_size + rnn.in_channels for rnn in model.node_rnns)
    hid = x.new_zeros(N, T, width)

    for t in range(T):
        for i in range(N):
            p = node_type[i]
            here = node_present(i, t)
            parts: List[Vec] = []
            if schema.temporal:                       # the "_input" edge: FC-FC on x_t, no LSTM
                f = x[i, t] if here else torch.zeros_like(x[i, t])
                u = _encoder(model.temporal_rnns[p].pre, f)
                parts.append(u if here else torch.zeros_like(u))
            for k in schema.incoming(p):
                rnn = model.edge_rnns[k]
                total = x.new_zeros(2 * F_in)
                live = False
                for e in arriving.get((i, k), []):
                    if edge_present(e, t):
                        total = total + _pair_feature(schema, k, p, x[i, t], x[src[e], t])
                        live = True
                if appear and (i, k) not in slot_state and not live:
                    z_width = rnn.pre[-1].out_features if len(rnn.pre) else total.numel()
                    parts.append(x.new_zeros(rnn.lstm.hidden_size + z_width))   # its state has not started
                    continue
                z = _encoder(rnn.pre, total)
                h, slot_state[(i, k)] = _peephole_lstm(rnn.lstm, z, slot_state.get((i, k)), clip)
                s = torch.cat([h, z])                 # input_output_fused
                parts.append(s if live else torch.zeros_like(s))
            z = torch.cat(parts)                      # the nodeRNN reads its edgeRNNs only
            rnn = model.node_rnns[p]
            h, node_state[i] = _peephole_lstm(rnn.lstm, z, node_state.get(i), clip)
            fused = torch.cat([h, z])
            y = _decoder(model.decoders[p], fused)
            if here:
                out[i, t] = y
                hid[i, t, :fused.numel()] = fused
    return (out, hid) if return_hidden else out


def paper_reference_forecast(model, data: STData, horizon: int,
                             grad_clip: Union[str, float, None] = "model") -> Tensor:
    """``model.forecast`` as the official ``predict_sequence`` does it: re-run
    :func:`paper_reference_forward` over the whole growing sequence for every
    new step and append the last prediction as the next frame (the features
    are ``x`` only). Inputs the model does not predict (``out_channels <
    in_channels``) keep their last value; node and edge masks keep their last
    observed step; absent nodes predict zeros."""
    fb = model.feedback
    if fb is None or fb.derived is not None or fb.covariates:
        raise ValueError("paper_reference_forecast: the official forecast feeds the prediction back "
                         "as the next input (no derived channels, no covariates)")
    seq = data.clone()
    F_out = model.out_channels
    preds = []
    for _ in range(horizon):
        nxt = paper_reference_forward(model, seq, grad_clip=grad_clip)[:, -1:, :F_out]   # [N, 1, out]
        last = seq.x[:, -1:]
        frame = torch.cat([nxt, last[..., F_out:]], dim=-1)     # held inputs keep their last value
        if seq.get("node_mask") is not None:
            keep = seq.node_mask[:, -1:].unsqueeze(-1)
            nxt = torch.where(keep, nxt, torch.zeros_like(nxt))
            frame = torch.where(keep, frame, torch.zeros_like(frame))
        preds.append(nxt)
        seq.x = torch.cat([seq.x, frame], dim=1)
        for key in ("node_mask", "edge_mask"):
            v = seq.get(key)
            if v is not None:
                seq[key] = torch.cat([v, v[:, -1:]], dim=1)
    return torch.cat(preds, dim=1)
