"""A deliberately slow S-RNN that loops over time steps, nodes and edges.

It reads the parameters of a :class:`~srnn_pyg.models.StructuralRNN` (its
:class:`~srnn_pyg.nn.SRNNLayer`, decoders and head) and
computes the paper's math one vector at a time, with its own LSTM (and GRU) cell, so
that the vectorised model can be checked against it. Use it in eval mode
(no dropout); it is meant for graphs of a few dozen nodes.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..data import STData

__all__ = ["reference_forward", "reference_forecast"]

Vec = Tensor
State = List[Tuple[Vec, Vec]]  # (h, c) per LSTM layer


def _lstm_step(lstm: torch.nn.LSTM, x: Vec, state: Optional[State]) -> Tuple[Vec, State]:
    """One step of a (multi-layer) LSTM, written out gate by gate."""
    H = lstm.hidden_size
    if state is None:
        state = [(x.new_zeros(H), x.new_zeros(H)) for _ in range(lstm.num_layers)]
    new_state: State = []
    inp = x
    for layer in range(lstm.num_layers):
        h, c = state[layer]
        w_ih, w_hh = getattr(lstm, f"weight_ih_l{layer}"), getattr(lstm, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(lstm, f"bias_ih_l{layer}"), getattr(lstm, f"bias_hh_l{layer}")
        gates = w_ih @ inp + b_ih + w_hh @ h + b_hh
        i = torch.sigmoid(gates[0:H])
        f = torch.sigmoid(gates[H:2 * H])
        g = torch.tanh(gates[2 * H:3 * H])
        o = torch.sigmoid(gates[3 * H:4 * H])
        c = f * c + i * g
        h = o * torch.tanh(c)
        new_state.append((h, c))
        inp = h
    return inp, new_state


def _gru_step(gru: torch.nn.GRU, x: Vec, state: Optional[State]) -> Tuple[Vec, State]:
    """One step of a (multi-layer) GRU, written out gate by gate; the state
    keeps PyTorch's layout ``(h, c)`` with an empty ``c``."""
    H = gru.hidden_size
    if state is None:
        state = [(x.new_zeros(H), x.new_zeros(0)) for _ in range(gru.num_layers)]
    new_state: State = []
    inp = x
    for layer in range(gru.num_layers):
        h = state[layer][0]
        w_ih, w_hh = getattr(gru, f"weight_ih_l{layer}"), getattr(gru, f"weight_hh_l{layer}")
        b_ih, b_hh = getattr(gru, f"bias_ih_l{layer}"), getattr(gru, f"bias_hh_l{layer}")
        gi, gh = w_ih @ inp + b_ih, w_hh @ h + b_hh
        r = torch.sigmoid(gi[0:H] + gh[0:H])
        z = torch.sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = torch.tanh(gi[2 * H:3 * H] + r * gh[2 * H:3 * H])
        h = (1 - z) * n + z * h
        new_state.append((h, state[layer][1]))
        inp = h
    return inp, new_state


def _block_step(block, x: Vec, state: Optional[State]) -> Tuple[Vec, Vec, State]:
    """One step of an RNNBlock: encoder layers (the last one linear where the
    block says so), LSTM, decoder layers, output."""
    pre = list(block.pre)
    for j, lin in enumerate(pre):
        x = lin.weight @ x + lin.bias
        if not (j == len(pre) - 1 and block.pre_last_linear):
            x = torch.relu(x)
    step = _gru_step if isinstance(block.lstm, torch.nn.GRU) else _lstm_step
    h, state = step(block.lstm, x, state)
    y = h
    for lin in block.post:
        y = torch.relu(lin.weight @ y + lin.bias)
    if block.out is not None:
        y = block.out.weight @ y + block.out.bias
    return y, h, state


def _mlp_step(mlp, x: Vec) -> Vec:
    """A node type's decoder: ReLU layers, then a plain output layer."""
    lins = list(mlp.lins)
    for lin in lins[:-1]:
        x = torch.relu(lin.weight @ x + lin.bias)
    return lins[-1].weight @ x + lins[-1].bias


def _spatial_feature(kind: str, xi: Vec, xj: Vec, attr: Optional[Vec]) -> Vec:
    if kind == "concat":
        return torch.cat([xi, xj])
    if kind == "diff":
        return torch.cat([xi, xj - xi])
    if kind == "attr":
        return attr
    return torch.cat([xi, xj, attr])


def _temporal_feature(kind: str, x: Vec, prev: Vec) -> Vec:
    if kind == "concat_diff":
        return torch.cat([x, x - prev])
    if kind == "diff":
        return x - prev
    return x


def reference_forward(model, data: STData, return_hidden: bool = False, return_attention: bool = False):
    """``model(data)`` computed with Python loops over steps, nodes and edges
    (with ``return_attention``, also the attention weights ``[E, T]``)."""
    schema = model.schema
    x = data.x
    N, T, _ = x.shape
    node_type = data.get("node_type")
    node_type = node_type.tolist() if node_type is not None else [0] * N
    src, dst = data.edge_index.tolist()
    E = len(src)
    edge_type = data.get("edge_type")
    edge_type = edge_type.tolist() if edge_type is not None else [0] * E
    nm = data.get("node_mask")
    em = data.get("edge_mask")
    ea = data.get("edge_attr")

    def node_present(i: int, t: int) -> bool:
        return True if nm is None else bool(nm[i, t])

    def edge_present(e: int, t: int) -> bool:
        ok = True if em is None else bool(em[e, t])
        return ok and node_present(src[e], t) and node_present(dst[e], t)

    incoming_edges: Dict[Tuple[int, int], List[int]] = {}
    for e in range(E):
        incoming_edges.setdefault((dst[e], edge_type[e]), []).append(e)

    temporal_state: Dict[int, State] = {}
    node_state: Dict[int, State] = {}
    slot_state: Dict[Tuple[int, int], State] = {}
    edge_state: Dict[int, State] = {}
    gaussian = model.head.kind == "gaussian"
    out = x.new_zeros(N, T, 5 if gaussian else model.out_channels)
    attention = x.new_zeros(E, T)
    hid = x.new_zeros(N, T, model.node_hidden)
    zeros_h = x.new_zeros(model.edge_hidden)
    appear = getattr(model, "edge_state", "start") == "appear"   # states start at first presence

    for t in range(T):
        # temporal edgeRNNs
        temporal: Dict[int, Vec] = {}
        for i in range(N):
            if not schema.temporal:
                break
            here = node_present(i, t)
            prev = x[i, t - 1] if t > 0 and node_present(i, t - 1) else x[i, t]
            f = _temporal_feature(model.temporal_kind, x[i, t], prev)
            if not here:
                f = torch.zeros_like(f)
            u, _, temporal_state[i] = _block_step(model.temporal_rnns[node_type[i]], f, temporal_state.get(i))
            temporal[i] = u if here else torch.zeros_like(u)

        spatial = _spatial_step(model, x, t, ea, incoming_edges, node_type, src, dst, edge_present, temporal,
                                slot_state, edge_state, attention, appear, zeros_h)

        for i in range(N):
            p = node_type[i]
            here = node_present(i, t)
            xi = x[i, t] if here else torch.zeros_like(x[i, t])
            parts = [xi]
            if schema.temporal:
                parts.append(temporal[i])
            for k in (schema.incoming(p) if model.spatial else []):
                parts.append(spatial[(i, k)])
            _, h, node_state[i] = _block_step(model.node_rnns[p], torch.cat(parts), node_state.get(i))
            y = _mlp_step(model.decoders[p], h)
            if model.residual:
                F_out = model.out_channels
                prior = x[i, t, :F_out]
                if model.residual == "velocity":        # constant velocity: p_t + v_t
                    prior = prior + x[i, t, F_out:2 * F_out] / model.feedback.velocity_scale
                y = torch.cat([y[:F_out] + prior, y[F_out:]])
            if getattr(model, "ar", None) is not None:   # the last ar_lags frames, absent ones zeros
                lags = model.ar_lags
                frames = [x[i, s] if s >= 0 and node_present(i, s) else torch.zeros_like(x[i, t])
                          for s in range(t - lags + 1, t + 1)]                 # oldest first
                skip = model.ar.weight @ torch.stack(frames).t().reshape(-1)  # channel-major
                F_out = model.out_channels
                y = torch.cat([y[:F_out] + skip, y[F_out:]])
            if gaussian:
                y = torch.cat([y[:2], y[2:4].clamp(-10, 10).exp(), torch.tanh(y[4:])])
            if here:
                out[i, t] = y
                hid[i, t] = h
    if return_attention:
        return out, attention
    return (out, hid) if return_hidden else out


def _spatial_step(model, x, t, ea, incoming_edges, node_type, src, dst, edge_present, temporal, slot_state,
                  edge_state, attention, appear, zeros_h) -> Dict[Tuple[int, int], Vec]:
    """Step ``t`` of every spatial edgeRNN, aggregated per (node, edge type);
    updates the slot/edge states and the attention weights in place."""
    schema = model.schema
    N = x.size(0)
    spatial: Dict[Tuple[int, int], Vec] = {}
    for i in range(N):
        for k in (schema.incoming(node_type[i]) if model.spatial else []):
            edges = incoming_edges.get((i, k), [])
            rnn = model.edge_rnns[k]
            feats = {}
            for e in edges:
                f = _spatial_feature(model.spatial_kind, x[dst[e], t], x[src[e], t],
                                     ea[e, t] if ea is not None else None)
                feats[e] = f if edge_present(e, t) else torch.zeros_like(f)
            present = [e for e in edges if edge_present(e, t)]
            if model.edge_scope == "slot":
                width = model.edge_rnns[k].in_channels
                total = x.new_zeros(width)
                for e in edges:
                    total = total + feats[e]
                if appear and (i, k) not in slot_state and not present:
                    spatial[(i, k)] = zeros_h                 # the slot's state has not started
                    continue
                y, _, slot_state[(i, k)] = _block_step(rnn, total, slot_state.get((i, k)))
                spatial[(i, k)] = y if present else zeros_h
                continue
            outs = {}
            for e in edges:
                if appear and e not in edge_state and e not in present:
                    continue                                  # the edge's state has not started
                y, _, edge_state[e] = _block_step(rnn, feats[e], edge_state.get(e))
                if e in present:
                    outs[e] = y
            ys = list(outs.values())
            if not ys:
                spatial[(i, k)] = zeros_h
            elif model.aggr == "sum":
                spatial[(i, k)] = sum(ys[1:], ys[0])
            elif model.aggr == "mean":
                spatial[(i, k)] = sum(ys[1:], ys[0]) / len(ys)
            elif model.aggr == "max":
                spatial[(i, k)] = torch.stack(ys).max(0).values
            else:  # attention: query from the receiver's temporal output (or features)
                A = model.attention_channels
                qin = temporal[i] if schema.temporal else x[i, t]
                q = (model.layer.att_query.weight @ qin + model.layer.att_query.bias)[k * A:(k + 1) * A]
                lin = model.layer.att_key[k]
                scores = torch.stack([(q * (lin.weight @ y + lin.bias)).sum() / A ** 0.5 for y in ys])
                alpha = torch.softmax(scores, 0)
                for e, a in zip(outs, alpha):
                    attention[e, t] = a
                spatial[(i, k)] = sum(a * y for a, y in zip(alpha, ys))

    return spatial


def reference_forecast(model, data: STData, horizon: int) -> Tensor:
    """``model.forecast`` the quadratic way: re-run :func:`reference_forward`
    over the whole growing sequence for every new step (the paper's code does
    this); presence and edge features keep their last observed values."""
    seq = data.clone()
    preds = []
    F_out, fb = model.out_channels, getattr(model, "feedback", None)
    for i in range(horizon):
        nxt = reference_forward(model, seq)[:, -1:, :F_out]                   # [N, 1, out] (a mean)
        if seq.get("node_mask") is not None:
            nxt = nxt * seq.node_mask[:, -1:].unsqueeze(-1).to(nxt.dtype)
        preds.append(nxt)
        frame = nxt
        if fb is not None and not fb.identity:      # the next input, channel group by channel group
            last = seq.x[:, -1:]
            parts = [nxt]
            if fb.derived == "velocity":
                parts.append((nxt - last[..., :F_out]) * fb.velocity_scale)
            parts.append(last[..., fb.held_start:fb.held_stop])
            if fb.covariates:
                parts.append(data.u_future[:, i:i + 1].to(nxt.dtype))
            frame = torch.cat(parts, dim=-1)
            if seq.get("node_mask") is not None:
                frame = frame * seq.node_mask[:, -1:].unsqueeze(-1).to(frame.dtype)
        seq.x = torch.cat([seq.x, frame], dim=1)
        for key in ("node_mask", "edge_mask", "edge_attr"):
            v = seq.get(key)
            if v is not None:
                seq[key] = torch.cat([v, v[:, -1:]], dim=1)
    return torch.cat(preds, dim=1)
