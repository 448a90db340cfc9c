"""Tests written after a hand-made mutation run of the baseline models (gconv_gru, node_lstm, erd,
lstm3lr, linear_ar, seasonal, skeleton_stgcn, constant_velocity, zero_velocity, linear_start): each
compares a model with a slow reference of the same math (loops, one step at a time) or with values
worked out by hand, and fails on a mutant that the rest of tests/models and tests/test_properties.py
let through.

Mutants killed here (the change in the model's file, then the test that kills it):

* erd.py, a ReLU after the last (linear) encoder layer; the ReLU between encoder layers dropped; the
  ReLU of the decoder layers dropped: ``test_erd_matches_a_step_by_step_reference``.
* lstm3lr.py, ``hidden`` not applied to the LSTM size: ``test_lstm3lr_small_sizes_and_step_by_step_reference``.
* lstm3lr.py, ``dropout`` not passed on (always 0): ``test_lstm3lr_dropout_is_applied_in_training_only``.
* linear_ar.py, the ridge penalty left off the bias (``eye[-1, -1] = 0`` in ``fit_closed_form``):
  ``test_linear_ar_closed_form_is_the_ridge_solution_written_out``.
* linear_ar.py, the fed-back frame of a node absent at the last observed step not masked in
  ``forecast`` (its NaN covariates reach the weights' gradients):
  ``test_linear_ar_absent_node_nan_covariates_leave_gradients_finite``.
* skeleton_stgcn.py, the forecast's extra steps repeat the first observed step's edge weights (or
  presence) instead of the last's: ``test_skeleton_stgcn_roll_out_keeps_the_last_steps_edge_weights``.
* skeleton_stgcn.py, the centre search ignoring component size (``key = ecc * N + node``):
  ``test_skeleton_centre_is_found_in_the_largest_component``.
* skeleton_stgcn.py, absent node-steps not zeroed before each unit (after the input batch norm):
  ``test_skeleton_absent_nodes_hold_zero_features_in_every_unit``.
* skeleton_stgcn.py, the units' residual dropped: ``test_skeleton_stgcn_matches_a_dense_reference``.
"""
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

from srnn_pyg.models import ERD, LSTM3LR, LinearAR, SkeletonSTGCN
from srnn_pyg.models.skeleton_stgcn import partition_edges
from srnn_pyg.testing import fake_st_data


def _graph(n, seed, T=5, F_in=3):
    return fake_st_data(num_nodes=n, T=T, F=F_in, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------- ERD
def _erd_reference(model, x, n, horizon):
    """ERD by hand on the nodes ``x`` ``[B * n, T, F]`` of ``B`` graphs: the graph vector of every
    step, the encoder (ReLU between its layers, the last one linear), the LSTM one step at a time
    with its state carried, the decoder (ReLU after every layer), the output layer; then the
    roll-out, feeding each predicted vector back. Returns ``forward`` ``[B * n, T, F]`` and the
    forecast ``[B * n, horizon, F]``."""
    N, T, Fin = x.shape
    B = N // n

    def vector(frame):                                     # [B * n, F] -> [B, n * F], node by node
        return torch.stack([torch.cat([frame[b * n + i] for i in range(n)]) for b in range(B)])

    def nodes(vec):                                        # [B, n * F] -> [B * n, F]
        return torch.stack([vec[b, i * Fin:(i + 1) * Fin] for b in range(B) for i in range(n)])

    def step(v, state):
        z = v
        for i, lin in enumerate(model.encoder):
            z = lin(z)
            if i < len(model.encoder) - 1:
                z = F.relu(z)
        h, state = model.lstm(z.unsqueeze(1), state)
        h = h[:, 0]
        for lin in model.decoder:
            h = F.relu(lin(h))
        return model.lin_out(h), state

    state, outs = None, []
    for t in range(T):
        y, state = step(vector(x[:, t]), state)
        outs.append(nodes(y))
    preds = [outs[-1]]
    for _ in range(horizon - 1):
        y, state = step(vector(preds[-1]), state)
        preds.append(nodes(y))
    return torch.stack(outs, 1), torch.stack(preds, 1)


def test_erd_matches_a_step_by_step_reference():
    torch.manual_seed(0)
    graphs = [_graph(4, s) for s in range(2)]
    batch = Batch.from_data_list(graphs)
    model = ERD(None, 3, 3, num_nodes=4, hidden=8).eval()
    with torch.no_grad():
        for lin in list(model.encoder) + list(model.decoder):      # biases that make ReLUs matter
            lin.bias.uniform_(-0.5, 0.5)
        out, fc = model(batch), model.forecast(batch, 3)
        ref_out, ref_fc = _erd_reference(model, batch.x, 4, 3)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(fc, ref_fc, atol=1e-5)


# ---------------------------------------------------------------------------------------- LSTM3LR
def test_lstm3lr_small_sizes_and_step_by_step_reference():
    torch.manual_seed(0)
    model = LSTM3LR(None, 3, 3, num_nodes=4, hidden=8).eval()
    assert [(lin.in_features, lin.out_features) for lin in model.encoder] == [(12, 8)]
    assert (model.lstm.input_size, model.lstm.hidden_size, model.lstm.num_layers) == (8, 8, 3)
    assert (model.lin_out.in_features, model.lin_out.out_features) == (8, 12)
    batch = Batch.from_data_list([_graph(4, s) for s in range(2)])
    with torch.no_grad():
        out, fc = model(batch), model.forecast(batch, 3)
        ref_out, ref_fc = _erd_reference(model, batch.x, 4, 3)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(fc, ref_fc, atol=1e-5)


def test_lstm3lr_dropout_is_applied_in_training_only():
    g = _graph(4, 0)
    model = LSTM3LR(None, 3, 3, num_nodes=4, hidden=8, dropout=0.5)
    assert model.dropout == 0.5 and model.lstm.dropout == 0.5
    model.train()
    torch.manual_seed(1)
    a = model(g)
    torch.manual_seed(2)
    b = model(g)
    assert not torch.allclose(a, b)                          # a different mask, another output
    model.eval()
    assert torch.equal(model(g), model(g))
    plain = LSTM3LR(None, 3, 3, num_nodes=4, hidden=8).train()
    torch.manual_seed(1)
    a = plain(g)
    torch.manual_seed(2)
    assert torch.equal(a, plain(g))                          # no dropout: training mode is deterministic


# --------------------------------------------------------------------------------------- LinearAR
def _ar_windows(num=3, n=4, T=6, H=3, F_in=2, seed=0):
    """Windows with ``y``; node 1 leaves at the last observed step of every window (so its ``y``
    counts as absent), node 2 is absent at step 1 (its pairs reading step 1 drop out)."""
    out = []
    for i in range(num):
        d = fake_st_data(num_nodes=n, T=T, F=F_in, horizon=H, generator=torch.Generator().manual_seed(seed + i))
        d.node_mask = torch.ones(n, T, dtype=torch.bool)
        d.node_mask[1, -1] = False
        d.node_mask[2, 1] = False
        d.edge_mask = None
        out.append(d)
    return out


def _ar_fit_reference(windows, lags, ridge, n, per_node):
    """Ridge least squares by hand: one row per (node, target step) of ``concat(x, y)`` whose target
    and ``lags`` previous frames are present (``y`` present where ``node_mask``'s last step is),
    the features newest lag first, then a 1 for the bias; the ridge on every coefficient, the bias
    included. Returns ``weight`` ``[sets, out, lags, F]`` and ``bias`` ``[sets, out]``."""
    rows = {k: ([], []) for k in range(n if per_node else 1)}
    for d in windows:
        seq = torch.cat([d.x, d.y], 1).double()
        T, L = d.x.size(1), seq.size(1)
        for i in range(seq.size(0)):
            present = [bool(d.node_mask[i, t]) if t < T else bool(d.node_mask[i, -1]) for t in range(L)]
            for s in range(lags, L):
                if all(present[s - lags:s + 1]):
                    z, y = rows[i % n if per_node else 0]
                    z.append(torch.cat([seq[i, s - 1 - k] for k in range(lags)] + [torch.ones(1).double()]))
                    y.append(seq[i, s])
    Ws, bs = [], []
    for k in sorted(rows):
        Z, Y = torch.stack(rows[k][0]), torch.stack(rows[k][1])
        sol = torch.linalg.solve(Z.T @ Z + ridge * torch.eye(Z.size(1), dtype=Z.dtype), Z.T @ Y)   # [D, out]
        Ws.append(sol[:-1].T.reshape(Y.size(1), lags, -1))
        bs.append(sol[-1])
    return torch.stack(Ws), torch.stack(bs)


def test_linear_ar_closed_form_is_the_ridge_solution_written_out():
    windows = _ar_windows()
    for per_node in (False, True):
        model = LinearAR(None, 2, 2, lags=2, ridge=5.0, per_node=per_node).fit_closed_form(windows)
        W, b = _ar_fit_reference(windows, 2, 5.0, 4, per_node)
        got_W, got_b = model.weight.detach().double(), model.bias.detach().double()
        if not per_node:
            got_W, got_b = got_W.unsqueeze(0), got_b.unsqueeze(0)
        assert torch.allclose(got_W, W, atol=1e-5), per_node
        assert torch.allclose(got_b, b, atol=1e-5), per_node


def test_linear_ar_absent_node_nan_covariates_leave_gradients_finite():
    """A node absent at the last observed step forecasts zeros; its NaN covariates must be masked in
    the fed-back frames too, else the backward pass turns them into NaN gradients of the weights."""
    for derived in (None, "velocity"):
        F_in = (2 if derived else 1) + 1 + 2                        # predicted (and velocity), held, covariates
        d = fake_st_data(num_nodes=5, T=6, F=F_in, masks=True, generator=torch.Generator().manual_seed(3))
        d.u_future = torch.randn(5, 4, 2, generator=torch.Generator().manual_seed(4))
        d.node_mask[0, -1] = False
        d.x[0, -1] = float("nan")
        d.u_future[0] = float("nan")
        torch.manual_seed(0)
        scale = dict(velocity_scale=2.0) if derived else {}
        model = LinearAR(None, F_in, 1, lags=3, covariates=2, derived=derived, **scale)
        with torch.no_grad():
            model.weight.normal_()
        out = model.forecast(d, 4)
        assert torch.isfinite(out).all() and torch.equal(out[0], torch.zeros(4, 1))
        out.sum().backward()
        assert torch.isfinite(model.weight.grad).all() and torch.isfinite(model.bias.grad).all(), derived


# ---------------------------------------------------------------------------------- SkeletonSTGCN
def test_skeleton_stgcn_roll_out_keeps_the_last_steps_edge_weights():
    """Per-step edge weights, absent edges and nodes: each forecast step equals re-running forward on
    the prefix with the last observed step's weights, edges and presence repeated over the fed-back
    frames."""
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=7, F=3, masks=True, edge_attr_dim=1, generator=torch.Generator().manual_seed(5))
    data.edge_attr = data.edge_attr.abs() + 0.1
    data.edge_attr[:, 0] *= 20.0                                   # the first step's weights stand out
    data.node_mask[1, 0] = False                                   # presence differs between the first
    data.node_mask[2, -1] = False                                  # and the last observed step
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8, num_layers=2, kernel_size=3).eval()
    fc = model.forecast(data, 4)
    preds = []
    for k in range(4):
        step = data.clone()
        step.x = torch.cat([data.x] + preds, dim=1)
        step.node_mask = torch.cat([data.node_mask] + [data.node_mask[:, -1:]] * k, dim=1)
        step.edge_mask = torch.cat([data.edge_mask] + [data.edge_mask[:, -1:]] * k, dim=1)
        step.edge_attr = torch.cat([data.edge_attr] + [data.edge_attr[:, -1:]] * k, dim=1)
        preds.append(model(step)[:, -1:])
    assert torch.allclose(fc, torch.cat(preds, dim=1), atol=1e-5)


def test_skeleton_centre_is_found_in_the_largest_component():
    """Nodes 0-1 form a pair (eccentricity 1), nodes 2-6 a chain (centre 4, eccentricity 2): the
    centre is the chain's, the node of least eccentricity in the largest component, not node 0."""
    pairs = [(0, 1), (2, 3), (3, 4), (4, 5), (5, 6)]
    edge_index = torch.tensor(pairs + [(j, i) for i, j in pairs]).T
    found = partition_edges(edge_index, 7, "spatial")
    given = partition_edges(edge_index, 7, "spatial", center=4)
    assert torch.equal(found.edge_index, given.edge_index)
    assert torch.equal(found.partition, given.partition)
    src, dst = found.edge_index
    towards = (src == 3) & (dst == 2)                      # 3 is nearer the centre than 2: centripetal
    assert found.partition[towards].tolist() == [1]


def test_skeleton_absent_nodes_hold_zero_features_in_every_unit():
    """An absent node-step enters every unit with zero features, also after the input batch norm
    (whose shift would make zeros non-zero) and after a unit's residual; so a node that leaves and
    comes back reads zeros, not a constant, through its temporal convolution."""
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=7, F=3, generator=torch.Generator().manual_seed(2))
    data.node_mask = torch.ones(6, 7, dtype=torch.bool)
    data.node_mask[1, 2:4] = False
    data.node_mask[4, 0] = False
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8, num_layers=3, kernel_size=3).eval()
    with torch.no_grad():
        model.data_bn.bias.uniform_(0.5, 1.0)
        model.data_bn.running_mean.uniform_(-1.0, 1.0)
    seen = []
    hooks = [unit.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
             for unit in model.units]
    try:
        model(data)
    finally:
        for hook in hooks:
            hook.remove()
    assert len(seen) == 3
    absent = ~data.node_mask                                       # [N, T]
    for h in seen:                                                 # [N, C, T]
        assert bool((h.transpose(1, 2)[absent] == 0).all())
        assert bool((h.transpose(1, 2)[~absent] != 0).any())


def _skeleton_reference(model, data):
    """SkeletonSTGCN (eval, regression, no importance, no masks) written out: dense partition
    matrices, the 1x1 projection per partition, batch norms, ReLU, the causal temporal convolution
    tap by tap, the identity residual of every unit but the first, the output layer plus the frame."""
    x = data.x
    N, T, _ = x.shape
    part = partition_edges(data.edge_index, N, model.strategy, model.center, model.max_hop)
    P = model.partitions
    M = torch.zeros(P, N, N).index_put_((part.partition, part.edge_index[1], part.edge_index[0]),
                                        part.edge_weight, accumulate=True)
    h = model.data_bn(x.transpose(1, 2))                                    # [N, F, T]
    for i, unit in enumerate(model.units):
        C = unit.out_channels
        proj = unit.gcn(h).view(N, P, C, T)
        g = sum(torch.einsum("ij,jct->ict", M[p], proj[:, p]) for p in range(P))
        g = F.relu(unit.bn1(g))
        k = unit.kernel_size
        padded = torch.cat([g.new_zeros(N, C, k - 1), g], dim=2)            # causal: zeros before the start
        W = unit.tcn.weight                                                 # [C, C, k]
        tc = torch.stack([sum(padded[:, :, t + j] @ W[:, :, j].T for j in range(k)) for t in range(T)], dim=2)
        g = unit.bn2(tc + unit.tcn.bias.view(1, -1, 1))
        if i > 0:
            g = g + h                                                       # identity residual (same width)
        h = F.relu(g)
    return (model.fcn(h) + x[..., : model.out_channels].transpose(1, 2)).transpose(1, 2)


def test_skeleton_stgcn_matches_a_dense_reference():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=6, F=3, generator=torch.Generator().manual_seed(7))
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8, num_layers=3, kernel_size=3, edge_importance=None).eval()
    with torch.no_grad():
        for bn in [model.data_bn] + [b for u in model.units for b in (u.bn1, u.bn2)]:
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
        out, ref = model(data), _skeleton_reference(model, data)
    assert torch.allclose(out, ref, atol=1e-5)
