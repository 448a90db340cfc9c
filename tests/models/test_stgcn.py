import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch

from srnn_pyg.models import STGCN, build
from srnn_pyg.models.stgcn import _GatedTemporalConv
from srnn_pyg.nn.graph_steps import cheb_steps, step_edge_weight
from srnn_pyg.testing import devices, fake_st_data

# ------------------------------------------------------------ references


def dense_scaled_laplacian(edge_index, num_nodes, weight=None):
    """ChebConv's operator with 'sym' and lambda_max = 2, as a dense matrix:
    L_hat = L - I = -D^-1/2 A D^-1/2 (no self loops), row = receiver."""
    src, dst = edge_index
    w = torch.ones(src.numel()) if weight is None else weight.float()
    keep = src != dst
    src, dst, w = src[keep], dst[keep], w[keep]
    A = torch.zeros(num_nodes, num_nodes).index_put_((dst, src), w, accumulate=True)
    deg = torch.zeros(num_nodes).index_add_(0, src, w)
    dis = deg.pow(-0.5)
    dis[torch.isinf(dis)] = 0
    return -(dis[:, None] * A * dis[None, :])


def dense_cheb(conv, x, L):
    """sum_k T_k(L_hat) x W_k + b with T_0 = I, T_1 = L_hat, T_k = 2 L_hat T_{k-1} - T_{k-2}."""
    basis = [x, L @ x]
    while len(basis) < len(conv.lins):
        basis.append(2 * L @ basis[-1] - basis[-2])
    out = sum(b @ lin.weight.t() for b, lin in zip(basis, conv.lins))
    return out + conv.bias if conv.bias is not None else out


def glu_reference(mod, x):
    """(P + res) * sigmoid(Q) with the causal convolution written as an explicit sum."""
    W, b, k = mod.conv.weight, mod.conv.bias, mod.kernel_size               # W [2C, C_in, k]
    T = x.size(0)
    pq = torch.stack([sum(x[t + j] @ W[:, :, j].t() for j in range(k)) + b
                      for t in range(T - k + 1)])                           # [T', N, 2C]
    p, q = pq[..., : mod.out_channels], pq[..., mod.out_channels:]
    res = x[k - 1:]
    if mod.res is not None:
        res = res @ mod.res.weight.t()
    return (p + res) * torch.sigmoid(q)


def layer_norm(norm, h):
    mu = h.mean(-1, keepdim=True)
    var = h.var(-1, unbiased=False, keepdim=True)
    return (h - mu) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def reference_window(model, x, laplacians):
    """STGCN on one window ``x`` [N, obs_len, F]; ``laplacians[t]`` is the dense
    operator of input step t (graph convs use the last input step they see)."""
    T_in = x.size(1)
    h = x.transpose(0, 1)
    for block in model.blocks:
        h1 = glu_reference(block.temporal1, h)
        off = T_in - h1.size(0)
        h2 = torch.stack([F.relu(dense_cheb(block.spatial, h1[t], laplacians[off + t]))
                          for t in range(h1.size(0))])
        h = layer_norm(block.norm, glu_reference(block.temporal2, h2))
    h = layer_norm(model.out_norm, glu_reference(model.out_temporal, h))
    return model.out_lin(h[0]).view(x.size(0), model.horizon, model.out_channels)


def _graph(num_nodes=6, T=12, F_in=3, **kwargs):
    return fake_st_data(num_nodes=num_nodes, T=T, F=F_in, generator=torch.Generator().manual_seed(1),
                        **kwargs)


# ----------------------------------------------------------------- tests


@pytest.mark.parametrize("c_in,c_out", [(3, 5), (5, 5), (6, 2)])
def test_gated_temporal_conv_matches_formula(c_in, c_out):
    torch.manual_seed(0)
    mod = _GatedTemporalConv(c_in, c_out, kernel_size=3)
    x = torch.randn(7, 4, c_in)                                            # [T, N, C]
    out = mod(x)
    assert out.shape == (5, 4, c_out)
    assert torch.allclose(out, glu_reference(mod, x), atol=1e-5)
    assert (mod.res is None) == (c_in == c_out)


def test_cheb_steps_static_and_per_step_agree():
    torch.manual_seed(0)
    data = _graph()
    conv = STGCN(None, 3, 3, hidden=8).blocks[0].spatial
    x = torch.randn(4, data.num_nodes, 8)
    w = torch.rand(data.num_edges)
    static = cheb_steps(conv, x, data.edge_index, w)
    stacked = cheb_steps(conv, x, data.edge_index, w.view(-1, 1).repeat(1, 4))
    assert torch.allclose(static, stacked, atol=1e-5)
    L = dense_scaled_laplacian(data.edge_index, data.num_nodes, w)
    assert torch.allclose(static, torch.stack([dense_cheb(conv, x[t], L) for t in range(4)]), atol=1e-5)


def test_step_edge_weight_forms():
    data = _graph()
    E, T = data.num_edges, data.num_steps
    assert step_edge_weight("m", data, True) is None
    data.edge_attr = torch.rand(E, 1, 1).expand(E, T, 1).contiguous()       # constant over time
    assert step_edge_weight("m", data, True).shape == (E,)
    assert step_edge_weight("m", data, False) is None
    data.edge_attr = torch.rand(E, T, 1)                                   # varies over time
    assert step_edge_weight("m", data, True).shape == (E, T)
    data.edge_attr = torch.rand(E, T, 2)                                   # not a weight
    assert step_edge_weight("m", data, True) is None
    data.edge_mask = torch.ones(E, T, dtype=torch.bool)
    assert step_edge_weight("m", data, True) is None
    data.edge_mask[0, 3] = False
    w = step_edge_weight("m", data, True)
    assert w.shape == (E, T) and w[0, 3] == 0 and w.sum() == E * T - 1
    # the weights: one per observed step, finite where the edge is present (NaN where it is absent is fine)
    data.edge_attr = torch.ones(E, T, 1)
    data.edge_attr[0, 3, 0] = float("nan")
    assert torch.isfinite(step_edge_weight("m", data, True)).all()
    data.edge_mask[0, 3] = True
    with pytest.raises(ValueError, match=r"m: 'edge_attr' holds the edge weights, which must be finite and "
                                         r"non-negative where the edge is present .*\(got nan at edge 0, step 3\)"):
        step_edge_weight("m", data, True)
    data.edge_attr[0, 3, 0] = -0.5                                          # a negative weight: NaN output before
    with pytest.raises(ValueError, match=r"non-negative where the edge is present .*\(got -0.5 at edge 0, step 3\)"):
        step_edge_weight("m", data, True)
    data.edge_attr[0, 3, 0] = 1.0
    with pytest.raises(TypeError, match=r"m: 'edge_attr' must have the model's dtype torch.float32 "
                                        r"\(got torch.float64\)"):
        step_edge_weight("m", data.clone().apply(lambda v: v.double() if v.is_floating_point() and v.dim() == 3
                                                 and v.size(0) == E else v, "edge_attr"), True)
    data.edge_attr = torch.full((E, 1, 1), float("nan"))                   # held over the window, ...
    data.edge_mask = torch.zeros(E, T, dtype=torch.bool)
    data.edge_mask[0, 1:] = True                                            # ... read where edge 0 is present
    with pytest.raises(ValueError, match=r"got nan at edge 0, step 1"):
        step_edge_weight("m", data, True)
    for steps in (T + 5, T - 1):
        data.edge_attr = torch.ones(E, steps, 1)
        with pytest.raises(ValueError, match=f"with num_edges={E} and T={T}, the steps of 'x'"):
            step_edge_weight("m", data, True)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("dynamic", [False, True])
def test_forecast_matches_dense_reference(device, dynamic):
    torch.manual_seed(0)
    data = _graph(edge_attr_dim=1)
    E, T = data.num_edges, data.num_steps
    if dynamic:
        data.edge_mask = torch.rand(E, T, generator=torch.Generator().manual_seed(2)) > 0.3
    else:
        data.edge_attr = data.edge_attr[:, :1].abs().expand(E, T, 1).contiguous()
    data.edge_attr = data.edge_attr.abs()
    model = STGCN(None, 3, 2, hidden=8, spatial_hidden=5, horizon=4, K=3).eval()
    w = data.edge_attr[..., 0] * (data.edge_mask.float() if dynamic else 1.0)
    laps = [dense_scaled_laplacian(data.edge_index, data.num_nodes, w[:, t]) for t in range(T)]
    expected = reference_window(model, data.x, laps)
    out = model.to(device).forecast(data.to(device), 4)
    assert torch.allclose(out.cpu(), expected, atol=1e-5)


def test_longer_input_is_cropped_and_shorter_raises():
    torch.manual_seed(0)
    data = _graph(T=15)
    model = STGCN(None, 3, 3, hidden=8, obs_len=12, horizon=3).eval()
    last = data.clone()
    last.x = data.x[:, -12:]
    assert torch.equal(model.forecast(data, 3), model.forecast(last, 3))
    with pytest.raises(ValueError, match="obs_len=12"):
        model.forecast(_graph(T=10), 3)


def test_long_horizon_rolls_out_in_chunks():
    torch.manual_seed(0)
    data = _graph(T=12, masks=True)
    data.node_mask[1, -1] = False
    model = STGCN(None, 3, 3, hidden=8, horizon=4).eval()
    out = model.forecast(data, 10)
    assert out.shape == (6, 10, 3)
    # By hand: each chunk reads the last 12 steps of (observed + predicted).
    seq, mask, emask, chunks = data.x, data.node_mask, data.edge_mask, []
    for _ in range(3):
        window = data.clone()
        window.x, window.node_mask, window.edge_mask = seq[:, -12:], mask[:, -12:], emask[:, -12:]
        chunk = model.forecast(window, 4)
        chunks.append(chunk)
        seq = torch.cat([seq, chunk], dim=1)
        mask = torch.cat([mask, mask[:, -1:].expand(-1, 4)], dim=1)         # the last step's presence
        emask = torch.cat([emask, emask[:, -1:].expand(-1, 4)], dim=1)      # and graph hold
    assert torch.allclose(out, torch.cat(chunks, dim=1)[:, :10], atol=1e-5)
    assert torch.allclose(model.forecast(data, 3), out[:, :3], atol=1e-6)
    assert bool((out[1] == 0).all())


def test_batch_equals_graphs_one_by_one_dynamic():
    torch.manual_seed(0)
    graphs = [fake_st_data(num_nodes=n, T=12, F=3, masks=True, edge_attr_dim=1,
                           generator=torch.Generator().manual_seed(n)) for n in (5, 8)]
    for g in graphs:
        g.edge_attr = g.edge_attr.abs()
    model = STGCN(None, 3, 3, hidden=8, horizon=3).eval()
    batch = Batch.from_data_list(graphs)
    out = model.forecast(batch, 5)
    assert torch.allclose(out[:5], model.forecast(graphs[0], 5), atol=1e-5)
    assert torch.allclose(out[5:], model.forecast(graphs[1], 5), atol=1e-5)


def test_absent_nodes_and_edges_contribute_nothing():
    torch.manual_seed(0)
    data = _graph(num_nodes=7)
    model = STGCN(None, 3, 3, hidden=8, horizon=3).eval()
    # A node absent at every step: its features do not matter, it predicts zeros.
    masked = data.clone()
    masked.node_mask = torch.ones(7, 12, dtype=torch.bool)
    masked.node_mask[2] = False
    out = model.forecast(masked, 3)
    changed = masked.clone()
    changed.x = data.x.clone()
    changed.x[2] += 5.0
    assert torch.equal(out, model.forecast(changed, 3))
    assert bool((out[2] == 0).all())
    # Inside a block, an absent node's features (non-zero after the first
    # temporal conv's bias) send nothing through the graph conv.
    block, h = model.blocks[0], torch.randn(12, 7, 3)
    mask = masked.node_mask.t().unsqueeze(-1)                              # [T, N, 1] bool
    h2 = h.clone()
    h2[:, 2] += 5.0
    others = torch.tensor([0, 1, 3, 4, 5, 6])
    assert torch.allclose(block(h, data.edge_index, None, mask)[:, others],
                          block(h2, data.edge_index, None, mask)[:, others], atol=1e-6)
    # Edges absent at every step are the same as no such edges.
    drop = (data.edge_index == 0).any(0)                                   # every edge of node 0
    masked = data.clone()
    masked.edge_mask = (~drop).view(-1, 1).expand(-1, 12).clone()
    removed = data.clone()
    removed.edge_index = data.edge_index[:, ~drop]
    removed.edge_type = data.edge_type[~drop]
    assert torch.allclose(model.forecast(masked, 3), model.forecast(removed, 3), atol=1e-5)


def test_edge_weights_from_edge_attr():
    torch.manual_seed(0)
    data = _graph(edge_attr_dim=1)
    data.edge_attr = data.edge_attr.abs() + 0.1
    plain = data.clone()
    plain.edge_attr = None
    model = STGCN(None, 3, 3, hidden=8, horizon=2).eval()
    assert not torch.allclose(model.forecast(data, 2), model.forecast(plain, 2))
    unweighted = STGCN(None, 3, 3, hidden=8, horizon=2, edge_weight=False).eval()
    unweighted.load_state_dict(model.state_dict())
    assert torch.equal(unweighted.forecast(data, 2), model.forecast(plain, 2))
    two = data.clone()
    two.edge_attr = torch.rand(data.num_edges, 12, 2)                      # F_e = 2: not weights
    assert torch.equal(model.forecast(two, 2), model.forecast(plain, 2))


def test_errors_repr_and_no_forward():
    with pytest.raises(ValueError, match="obs_len"):
        STGCN(None, 3, 3, obs_len=8, blocks=2, kernel_size=3)
    with pytest.raises(ValueError, match="'K'"):
        STGCN(None, 3, 3, K=0)
    with pytest.raises(ValueError, match="dropout"):
        STGCN(None, 3, 3, dropout=1.5)
    for arg in ("spatial_hidden", "temporal_hidden"):
        for bad in (0, 2.0, True):
            with pytest.raises(ValueError, match=f"'{arg}' must be a positive int or None, meaning 'hidden' "
                                                 rf"\(got {bad!r}\)"):
                STGCN(None, 3, 3, **{arg: bad})
    with pytest.raises(ValueError, match="'hidden' must be a positive int"):
        STGCN(None, 3, 3, hidden=True)
    data = _graph()
    model = STGCN(None, 3, 4, hidden=8, horizon=4)
    assert model.forecast(data, 4).shape == (6, 4, 4)
    with pytest.raises(ValueError, match="out_channels"):
        model.forecast(data, 5)                      # predicts more than it reads: nothing to feed back
    # reading more than it predicts, the third input is held (tests/models/test_baseline_covariates.py)
    assert STGCN(None, 3, 2, hidden=8, horizon=4).forecast(data, 5).shape == (6, 5, 2)
    assert not model.has_forward
    with pytest.raises(NotImplementedError, match="forecast"):
        model(data)
    model = build("stgcn", None, 3, 3, hidden=16, blocks=1, obs_len=6)
    assert repr(model) == "STGCN(3, 3, obs_len=6, horizon=12, hidden=16, blocks=1, kernel_size=3, K=3)"
    def widths(m):
        return [(b.temporal1.in_channels, b.temporal1.out_channels, b.spatial.in_channels, b.spatial.out_channels,
                 b.temporal2.in_channels, b.temporal2.out_channels) for b in m.blocks]

    code = build("stgcn", None, 1, 1, hidden=64, spatial_hidden=16, temporal_hidden=16)
    assert repr(code).endswith("K=3, spatial_hidden=16, temporal_hidden=16)")
    assert widths(code) == [(1, 16, 16, 16, 16, 64), (64, 16, 16, 16, 16, 64)]   # 64/16/64, the code's layout
    three = STGCN(None, 2, 2, hidden=6, spatial_hidden=4, temporal_hidden=3, dropout=0.1, edge_weight=False)
    assert widths(three) == [(2, 3, 3, 4, 4, 6), (6, 3, 3, 4, 4, 6)]
    assert repr(three).endswith("spatial_hidden=4, temporal_hidden=3, dropout=0.1, edge_weight=False)")
    assert widths(STGCN(None, 2, 2, hidden=6, spatial_hidden=4)) == [(2, 6, 6, 4, 4, 6), (6, 6, 6, 4, 4, 6)]
    before = model.out_lin.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.out_lin.weight)


@pytest.mark.parametrize("K", [1, 2, 3])
@pytest.mark.parametrize("graph", ["static", "weighted", "per_step"])
def test_cheb_steps_equal_chebconv_step_by_step(K, graph):
    from torch_geometric.nn import ChebConv
    g = torch.Generator().manual_seed(K)
    N, T, C, E = 12, 5, 3, 40
    edge_index = torch.randint(0, N, (2, E), generator=g)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    E = edge_index.size(1)
    weight = {"static": None, "weighted": torch.rand(E, generator=g),
              "per_step": torch.rand(E, T, generator=g) * (torch.rand(E, T, generator=g) > 0.3)}[graph]
    torch.manual_seed(0)
    conv = ChebConv(C, 4, K=K, normalization="sym")
    x = torch.randn(T, N, C, generator=g, requires_grad=True)
    fast = cheb_steps(conv, x, edge_index, weight)                     # sparse products
    slow = torch.stack([conv(x[t], edge_index, weight[:, t] if graph == "per_step" else weight)
                        for t in range(T)])                             # PyG's message passing
    assert torch.allclose(fast, slow, atol=1e-5)
    g_fast = torch.autograd.grad(fast.square().sum(), [x, *conv.parameters()])
    g_slow = torch.autograd.grad(slow.square().sum(), [x, *conv.parameters()])
    for a, b in zip(g_fast, g_slow):
        assert torch.allclose(a, b, atol=1e-4)
