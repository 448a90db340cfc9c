"""The optimised graph-convolution baselines (STGCN, GConvGRU) against a
straightforward implementation of the same math, written here with loops:
per graph of a batch, per time step, dense Chebyshev polynomials
T_k(L_hat) built as matrices, each temporal convolution as an explicit sum of
taps. Outputs and gradients must agree (float64, tight tolerances), so a
change of the math in the fast paths (sparse products over all steps, the
Clenshaw sum, fused taps and residuals, cached operators) fails here."""
import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch
from torch_geometric.nn import ChebConv

from srnn_pyg.models import STGCN, GConvGRU
from srnn_pyg.nn.graph_steps import ChebGraph, GraphCache, cheb_conv, cheb_steps
from srnn_pyg.testing import fake_st_data

DT = torch.float64
TOL = dict(atol=1e-9, rtol=1e-7)


# ------------------------------------------------------------ the reference
def laplacian(edge_index, n, weight=None):
    """ChebConv's 'sym' operator with lambda_max = 2, dense: -D^-1/2 A D^-1/2
    without self loops, A[receiver, sender], degrees summed at the sender."""
    src, dst = edge_index
    w = torch.ones(src.numel(), dtype=DT) if weight is None else weight.to(DT)
    keep = src != dst
    src, dst, w = src[keep], dst[keep], w[keep]
    A = torch.zeros(n, n, dtype=DT).index_put_((dst, src), w, accumulate=True)
    deg = torch.zeros(n, dtype=DT).index_add_(0, src, w)
    dis = torch.where(deg > 0, deg.clamp_min(1e-300).pow(-0.5), 0.0)    # isolated: 0 (no NaN gradient)
    return -(dis[:, None] * A * dis[None, :])


def polynomials(L, K):
    """[T_0(L), ..., T_{K-1}(L)] as dense matrices."""
    n = L.size(0)
    T = [torch.eye(n, dtype=DT), L]
    while len(T) < K:
        T.append(2 * L @ T[-1] - T[-2])
    return T[:K]


def cheb(conv, x, L):
    """sum_k T_k(L) x W_k + b, one step, one graph."""
    out = sum(Tk @ x @ lin.weight.t() for Tk, lin in zip(polynomials(L, len(conv.lins)), conv.lins))
    return out + conv.bias if conv.bias is not None else out


def gated(mod, xs):
    """The gated temporal conv on a list of steps [N, C]: taps summed one by one."""
    W, b, K, C = mod.conv.weight, mod.conv.bias, mod.kernel_size, mod.out_channels
    out = []
    for t in range(len(xs) - K + 1):
        pq = b + sum(xs[t + k] @ W[:, :, k].t() for k in range(K))
        res = xs[t + K - 1] if mod.res is None else xs[t + K - 1] @ mod.res.weight.t()
        out.append((pq[:, :C] + res) * torch.sigmoid(pq[:, C:]))
    return out


def norm(ln, h):
    mu = h.mean(-1, keepdim=True)
    var = h.var(-1, unbiased=False, keepdim=True)
    return (h - mu) / torch.sqrt(var + ln.eps) * ln.weight + ln.bias


def graphs_of(data):
    """Per graph of a batch: (node slice, local edge_index, edge ids)."""
    batch = data.get("batch")
    if batch is None:
        batch = torch.zeros(data.num_nodes, dtype=torch.long)
    out = []
    for g in range(int(batch.max()) + 1):
        nodes = (batch == g).nonzero().view(-1)
        lo, hi = int(nodes[0]), int(nodes[-1]) + 1
        eids = ((data.edge_index[1] >= lo) & (data.edge_index[1] < hi)).nonzero().view(-1)
        out.append((slice(lo, hi), data.edge_index[:, eids] - lo, eids))
    return out


def step_weights(data, eids, T):
    """[E_g, T] weights: the 1-channel edge_attr (or 1) times the edge mask."""
    E = eids.numel()
    w = data.edge_attr[eids, :, 0].to(DT) if data.get("edge_attr") is not None else torch.ones(E, T, dtype=DT)
    if data.get("edge_mask") is not None:
        w = w * data.edge_mask[eids].to(DT)
    return w


def stgcn_reference(model, data, horizon):
    """STGCN's forecast, graph by graph and step by step (horizon <= model.horizon)."""
    outs = []
    T = data.x.size(1)
    for nodes, ei, eids in graphs_of(data):
        x = data.x[nodes][:, -model.obs_len:]                               # [n, obs, F]
        n = x.size(0)
        w = step_weights(data, eids, T)[:, -model.obs_len:]
        laps = [laplacian(ei, n, w[:, t]) for t in range(model.obs_len)]
        nm = data.get("node_mask")
        m = None if nm is None else nm[nodes][:, -model.obs_len:].to(DT)   # [n, obs]
        hs = [x[:, t] * (1 if m is None else m[:, t:t + 1]) for t in range(model.obs_len)]
        for block in model.blocks:
            h1 = gated(block.temporal1, hs)
            off = model.obs_len - len(h1)
            if m is not None:
                h1 = [h * m[:, off + t:off + t + 1] for t, h in enumerate(h1)]
            h2 = [F.relu(cheb(block.spatial, h, laps[off + t])) for t, h in enumerate(h1)]
            hs = [norm(block.norm, h) for h in gated(block.temporal2, h2)]
        h = norm(model.out_norm, gated(model.out_temporal, hs)[0])
        out = model.out_lin(h).view(n, model.horizon, model.out_channels)[:, :horizon]
        if m is not None:
            out = out * m[:, -1:, None]
        outs.append(out)
    return torch.cat(outs)


def gru_reference(model, data, horizon=0):
    """GConvGRU's forward (horizon 0) or forecast, graph by graph and step by step."""
    H = model.hidden
    outs = []
    T = data.x.size(1)
    for nodes, ei, eids in graphs_of(data):
        x = data.x[nodes]
        n = x.size(0)
        w = step_weights(data, eids, T)
        nm = data.get("node_mask")
        m = torch.ones(n, T, dtype=torch.bool) if nm is None else nm[nodes]
        h = torch.zeros(n, H, dtype=DT)

        def cell(x_t, h, L, m_t):
            mt = m_t.view(-1, 1)
            h_in = h * mt
            gx, gh = cheb(model.conv_x, x_t * mt, L), cheb(model.conv_zr, h_in, L)
            z = torch.sigmoid(gx[:, :H] + gh[:, :H])
            r = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:])
            cand = torch.tanh(gx[:, 2 * H:] + cheb(model.conv_h, r * h_in, L))
            return torch.where(mt, z * h + (1 - z) * cand, h)

        steps = []
        for t in range(T):
            h = cell(x[:, t], h, laplacian(ei, n, w[:, t]), m[:, t])
            steps.append(model.readout(h) * m[:, t:t + 1])
        if horizon == 0:
            outs.append(torch.stack(steps, 1))
            continue
        L = laplacian(ei, n, w[:, -1])
        preds = [steps[-1]]
        for _ in range(horizon - 1):
            h = cell(preds[-1], h, L, m[:, -1])
            preds.append(model.readout(h) * m[:, -1:])
        outs.append(torch.stack(preds, 1))
    return torch.cat(outs)


# ------------------------------------------------------------------ inputs
def batch(kind, T=12, F_in=2, seed=0):
    """Three graphs of different sizes; kind: 'plain', 'weighted' (static
    weights), 'dynamic' (weights per step and an edge mask with holes), 'masked'
    (dynamic plus node masks)."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for i, n in enumerate((5, 7, 4)):
        d = fake_st_data(num_nodes=n, T=T, F=F_in, num_edges=3 * n,
                         generator=torch.Generator().manual_seed(seed + i))
        d.x = d.x.to(DT)
        E = d.num_edges
        for key in ("node_type", "edge_type", "edge_attr", "node_mask", "edge_mask"):
            if key in d:
                del d[key]
        if kind == "weighted":
            d.edge_attr = (torch.rand(E, 1, 1, generator=g, dtype=DT) + 0.1).expand(E, T, 1).contiguous()
        elif kind in ("dynamic", "masked"):
            d.edge_attr = torch.rand(E, T, 1, generator=g, dtype=DT) + 0.1
            d.edge_mask = torch.rand(E, T, generator=g) > 0.3
        if kind == "masked":
            d.node_mask = torch.rand(n, T, generator=g) > 0.25
            d.node_mask[0] = True
        graphs.append(d)
    return Batch.from_data_list(graphs)


def grads(model, loss):
    params = [p for p in model.parameters()]
    return torch.autograd.grad(loss, params)


KINDS = ["plain", "weighted", "dynamic", "masked"]


# ------------------------------------------------------------------- STGCN
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("config", [dict(hidden=8, spatial_hidden=3, K=3),     # Clenshaw side (16 < 64)
                                    dict(hidden=4, spatial_hidden=6, K=2),     # forward recursion side
                                    dict(hidden=5, K=4, kernel_size=2),        # widths equal, K = 4
                                    dict(hidden=32, spatial_hidden=40, K=2),   # per-tap temporal products
                                    dict(hidden=6, spatial_hidden=4, temporal_hidden=3, K=3),
                                    dict(hidden=8, spatial_hidden=3, temporal_hidden=5, K=3),  # Clenshaw side
                                    dict(hidden=33, spatial_hidden=7, temporal_hidden=7, K=2)])  # the authors' code
def test_stgcn_matches_loop_reference(kind, config):
    torch.manual_seed(0)
    data = batch(kind)
    model = STGCN(None, 2, 2, obs_len=10, horizon=4, **config).to(DT)
    fast = model.forecast(data, 3)
    slow = stgcn_reference(model, data, 3)
    assert torch.allclose(fast, slow, **TOL)
    target = torch.randn_like(fast)
    for a, b in zip(grads(model, (fast * target).sum()), grads(model, (slow * target).sum())):
        assert torch.allclose(a, b, **TOL)
    # the cached operators are reused and give the same result again
    assert torch.allclose(model.forecast(data, 3), fast, **TOL)


def test_stgcn_float32_and_no_grad():
    torch.manual_seed(0)
    data = batch("dynamic")
    model = STGCN(None, 2, 2, obs_len=10, horizon=4, hidden=8, spatial_hidden=3).to(DT)
    expected = stgcn_reference(model, data, 4)
    with torch.no_grad():
        assert torch.allclose(model.forecast(data, 4), expected, **TOL)
    data32 = data.clone()
    data32.x, data32.edge_attr = data.x.float(), data.edge_attr.float()
    assert torch.allclose(model.float().forecast(data32, 4).double(), expected, atol=1e-5)


# ---------------------------------------------------------------- GConvGRU
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("K", [1, 2, 3])
def test_gconv_gru_matches_loop_reference(kind, K):
    torch.manual_seed(0)
    data = batch(kind, T=6)
    model = GConvGRU(None, 2, 2, hidden=5, K=K).to(DT)
    fast, slow = model(data), gru_reference(model, data)
    assert torch.allclose(fast, slow, **TOL)
    target = torch.randn_like(fast)
    for a, b in zip(grads(model, (fast * target).sum()), grads(model, (slow * target).sum())):
        assert torch.allclose(a, b, **TOL)
    fc, fc_ref = model.forecast(data, 4), gru_reference(model, data, horizon=4)
    assert torch.allclose(fc, fc_ref, **TOL)
    for a, b in zip(grads(model, fc.square().sum()), grads(model, fc_ref.square().sum())):
        assert torch.allclose(a, b, **TOL)


def test_gconv_gru_cell_matches_reference():
    torch.manual_seed(0)
    data = batch("weighted", T=1)
    model = GConvGRU(None, 2, 2, hidden=4, K=3).to(DT)
    x, h = torch.randn(data.num_nodes, 2, dtype=DT), torch.randn(data.num_nodes, 4, dtype=DT)
    w = data.edge_attr[:, 0, 0]
    L = laplacian(data.edge_index, data.num_nodes, w)
    H = 4
    gx, gh = cheb(model.conv_x, x, L), cheb(model.conv_zr, h, L)
    z, r = torch.sigmoid(gx[:, :H] + gh[:, :H]), torch.sigmoid(gx[:, H:2 * H] + gh[:, H:])
    expected = z * h + (1 - z) * torch.tanh(gx[:, 2 * H:] + cheb(model.conv_h, r * h, L))
    assert torch.allclose(model.cell(x, h, data.edge_index, w), expected, **TOL)


# ------------------------------------------------------------ the operator
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("widths", [(3, 7), (7, 3), (4, 4)])
@pytest.mark.parametrize("per_step", [False, True])
def test_cheb_conv_both_sides_match_dense_polynomials(K, widths, per_step):
    g = torch.Generator().manual_seed(K)
    N, T, E = 9, 4, 30
    c_in, c_out = widths
    ei = torch.randint(0, N, (2, E), generator=g)
    weight = torch.rand(E, T, generator=g, dtype=DT) if per_step else torch.rand(E, generator=g, dtype=DT)
    torch.manual_seed(0)
    conv = ChebConv(c_in, c_out, K=K, normalization="sym").to(DT)
    x = torch.randn(T, N, c_in, generator=g, dtype=DT, requires_grad=True)
    fast = cheb_steps(conv, x, ei, weight)
    slow = torch.stack([cheb(conv, x[t], laplacian(ei, N, weight[:, t] if per_step else weight))
                        for t in range(T)])
    assert torch.allclose(fast, slow, **TOL)
    target = torch.randn_like(fast)
    ga = torch.autograd.grad((fast * target).sum(), [x, *conv.parameters()])
    gb = torch.autograd.grad((slow * target).sum(), [x, *conv.parameters()])
    for a, b in zip(ga, gb):
        assert torch.allclose(a, b, **TOL)


def test_edge_weights_that_need_a_gradient():
    g = torch.Generator().manual_seed(0)
    N, E = 8, 24
    ei = torch.randint(0, N, (2, E), generator=g)
    w = (torch.rand(E, generator=g, dtype=DT) + 0.1).requires_grad_()
    conv = ChebConv(3, 2, K=3, normalization="sym").to(DT)
    x = torch.randn(N, 3, generator=g, dtype=DT)
    op = ChebGraph(conv, ei, N, w, DT).step(0)
    fast = cheb_conv(conv, op, x)
    slow = conv(x, ei, w)                                                  # PyG's message passing
    assert torch.allclose(fast, slow, **TOL)
    (ga,), (gb,) = torch.autograd.grad(fast.sum(), [w]), torch.autograd.grad(slow.sum(), [w])
    assert torch.allclose(ga, gb, **TOL)


# ------------------------------------------------------------------ caching
def test_cache_follows_the_graph():
    torch.manual_seed(0)
    data = batch("weighted")
    model = STGCN(None, 2, 2, obs_len=10, horizon=4, hidden=6, spatial_hidden=3).to(DT).eval()
    first = model.forecast(data, 4)
    graph = model._graphs._graph
    assert model.forecast(data, 4) is not None and model._graphs._graph is graph      # kept
    # an in-place change of the weights (through a view) is seen
    data.edge_attr[:5] *= 3.0
    changed = model.forecast(data, 4)
    assert model._graphs._graph is not graph
    assert torch.allclose(changed, stgcn_reference(model, data, 4), **TOL)
    assert not torch.allclose(changed, first)
    # so is a change of the edges in place
    data.edge_index[0, :3] = data.edge_index[0, 3:6].clone()
    assert torch.allclose(model.forecast(data, 4), stgcn_reference(model, data, 4), **TOL)
    # a new batch (same sizes, new tensors) is a new graph
    other = batch("dynamic", seed=5)
    assert torch.allclose(model.forecast(other, 4), stgcn_reference(model, other, 4), **TOL)
    # an edge mask added later counts
    masked = other.clone()
    masked.edge_mask = masked.edge_mask.clone()
    masked.edge_mask[:4] = False
    assert torch.allclose(model.forecast(masked, 4), stgcn_reference(model, masked, 4), **TOL)


def test_cache_is_not_copied_or_saved():
    data = batch("plain")
    model = GConvGRU(None, 2, 2, hidden=3).to(DT)
    out = model(data)
    assert model._graphs._graph is not None
    clone = copy.deepcopy(model)
    assert isinstance(clone._graphs, GraphCache) and clone._graphs._graph is None
    restored = pickle.loads(pickle.dumps(model))
    assert restored._graphs._graph is None
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert torch.allclose(loaded(data), out, **TOL) and torch.allclose(clone(data), out, **TOL)


@pytest.mark.parametrize("kind", ["weighted", "dynamic"])
def test_weights_with_gradients_are_not_cached(kind):
    data = batch(kind)
    data.edge_attr = data.edge_attr.clone().requires_grad_()
    model = GConvGRU(None, 2, 2, hidden=3).to(DT)
    out = model(data)
    assert model._graphs._graph is None
    (g,) = torch.autograd.grad(out.square().sum(), [data.edge_attr])
    (g_ref,) = torch.autograd.grad(gru_reference(model, data).square().sum(), [data.edge_attr])
    assert g.abs().sum() > 0
    if kind == "weighted":  # constant over time: one weight per edge, its gradient on the first step
        g, g_ref = g.sum(1), g_ref.sum(1)
    assert torch.allclose(g, g_ref, **TOL)

@pytest.mark.parametrize("c_in", [1, 3, 12, 40])                          # windowed and per-tap products
@pytest.mark.parametrize("K", [1, 2, 3])
def test_gated_temporal_conv_matches_tap_sums(c_in, K):
    from srnn_pyg.models.stgcn import _GatedTemporalConv
    torch.manual_seed(c_in)
    for c_out in (c_in, 5):
        mod = _GatedTemporalConv(c_in, c_out, K).to(DT)
        x = torch.randn(7, 4, c_in, dtype=DT, requires_grad=True)
        fast = mod(x)
        slow = torch.stack(gated(mod, list(x.unbind(0))))
        assert torch.allclose(fast, slow, **TOL)
        target = torch.randn_like(fast)
        ga = torch.autograd.grad((fast * target).sum(), [x, *mod.parameters()])
        gb = torch.autograd.grad((slow * target).sum(), [x, *mod.parameters()])
        for a, b in zip(ga, gb):
            assert torch.allclose(a, b, **TOL)


_NEEDS = [("weight", "bias", "res"), ("x", "bias", "res"), ("x", "weight", "res"), ("x", "weight", "bias"),
          ("x", "bias"), ("x", "res"), ("x",), ("weight",), ("bias",)]


@pytest.mark.parametrize("c_in", [3, 40])                                 # windowed and per-tap products
@pytest.mark.parametrize("c_out,needs", [(c_out, needs) for c_out in (None, 5)  # None: identity residual
                                          for needs in _NEEDS if c_out is not None or "res" not in needs])
def test_gated_temporal_conv_gradients_of_what_needs_them(c_in, c_out, needs):
    """Each input's gradient is right when the others need none (frozen
    parameters, inputs without gradients), and absent where it is not asked."""
    from srnn_pyg.models.stgcn import _GatedTemporalConv
    torch.manual_seed(c_in)
    mod = _GatedTemporalConv(c_in, c_in if c_out is None else c_out, 3).to(DT)
    named = {"weight": mod.conv.weight, "bias": mod.conv.bias, "res": None if mod.res is None else mod.res.weight}
    x = torch.randn(6, 4, c_in, dtype=DT, requires_grad="x" in needs)
    for name, p in named.items():
        if p is not None:
            p.requires_grad_(name in needs)
    leaves = [t for t in [x, *named.values()] if t is not None and t.requires_grad]
    target = torch.randn(4, 4, mod.out_channels, dtype=DT)
    fast = torch.autograd.grad((mod(x) * target).sum(), leaves)
    slow = torch.autograd.grad((torch.stack(gated(mod, list(x.unbind(0)))) * target).sum(), leaves)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, **TOL)
    assert all(p.grad is None for p in mod.parameters())


@pytest.mark.parametrize("c_in", [3, 40])
def test_gated_temporal_conv_takes_strided_gradients(c_in):
    """An incoming gradient that is not contiguous (an expanded one from
    ``sum()``, a transposed one) gives the same gradients as its contiguous copy."""
    from srnn_pyg.models.stgcn import _GatedTemporalConv
    torch.manual_seed(c_in)
    mod = _GatedTemporalConv(c_in, 5, 3).to(DT)
    x = torch.randn(6, 4, c_in, dtype=DT, requires_grad=True)
    leaves = [x, *mod.parameters()]
    fast = torch.autograd.grad(mod(x).sum(), leaves)                       # a stride-0 gradient
    slow = torch.autograd.grad(torch.stack(gated(mod, list(x.unbind(0)))).sum(), leaves)
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, **TOL)
    target = torch.randn(5, 4, 4, dtype=DT).transpose(0, 2)                # [4, 4, 5], not contiguous
    fast = torch.autograd.grad(mod(x), leaves, target)
    slow = torch.autograd.grad(mod(x), leaves, target.contiguous())
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b, **TOL)


@pytest.mark.parametrize("c_in,c_out,K", [(1, 4, 3), (3, 3, 2), (33, 2, 3), (33, 33, 1)])
def test_gated_causal_conv_gradcheck(c_in, c_out, K):
    """The autograd node's own backward against finite differences (float64)."""
    from srnn_pyg.models.stgcn import _GatedCausalConv
    g = torch.Generator().manual_seed(c_in + K)
    x = torch.randn(5, 3, c_in, dtype=DT, generator=g, requires_grad=True)
    w = (0.3 * torch.randn(2 * c_out, c_in, K, dtype=DT, generator=g)).requires_grad_()
    b = torch.randn(2 * c_out, dtype=DT, generator=g, requires_grad=True)
    res = None if c_in == c_out else (0.3 * torch.randn(c_out, c_in, dtype=DT, generator=g)).requires_grad_()
    inputs = (x, w, b, res)
    assert torch.autograd.gradcheck(lambda *a: _GatedCausalConv.apply(*a), inputs)


def test_gated_temporal_conv_refuses_bad_inputs():
    from srnn_pyg.models.stgcn import _GatedCausalConv, _GatedTemporalConv
    mod = _GatedTemporalConv(3, 4, 3)
    with pytest.raises(ValueError, match=r"'x' must be \[T, N, 3\] with T >= kernel_size=3 \(got \[2, 5, 3\]\)"):
        mod(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"got \[7, 5, 2\]"):
        mod(torch.randn(7, 5, 2))
    with pytest.raises(ValueError, match="identity residual .*got 3 and 4"):
        _GatedCausalConv.apply(torch.randn(5, 2, 3), torch.randn(8, 3, 2), torch.randn(8), None)
