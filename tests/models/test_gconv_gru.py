import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg.models import GConvGRU, build
from srnn_pyg.testing import devices, fake_st_data


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


def reference_cell(model, x, h, L):
    """The GCRN GRU step, gate by gate, with no fusion."""
    H = model.hidden
    gx = dense_cheb(model.conv_x, x, L)
    gh = dense_cheb(model.conv_zr, h, L)
    z = torch.sigmoid(gx[:, :H] + gh[:, :H])
    r = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:])
    cand = torch.tanh(gx[:, 2 * H:] + dense_cheb(model.conv_h, r * h, L))
    return z * h + (1 - z) * cand


def _data(num_nodes=6, T=5, F=3, **kwargs):
    return fake_st_data(num_nodes=num_nodes, T=T, F=F, generator=torch.Generator().manual_seed(1),
                        **kwargs)


@pytest.mark.parametrize("K", [1, 2, 3])
def test_cell_matches_reference_formula(K):
    torch.manual_seed(0)
    data = _data()
    model = GConvGRU(None, 3, 3, hidden=5, K=K)
    x, h = torch.randn(6, 3), torch.randn(6, 5)
    w = torch.rand(data.num_edges) + 0.1
    L = dense_scaled_laplacian(data.edge_index, 6, w)
    assert torch.allclose(model.cell(x, h, data.edge_index, w), reference_cell(model, x, h, L), atol=1e-5)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("dynamic", [False, True])
def test_forward_and_forecast_match_reference(device, dynamic):
    torch.manual_seed(0)
    data = _data(T=6, edge_attr_dim=1)
    E, T = data.num_edges, 6
    data.edge_attr = data.edge_attr.abs() + 0.1
    if dynamic:
        data.edge_mask = torch.rand(E, T, generator=torch.Generator().manual_seed(2)) > 0.3
    else:
        data.edge_attr = data.edge_attr[:, :1].expand(E, T, 1).contiguous()
    w = data.edge_attr[..., 0] * (data.edge_mask.float() if dynamic else 1.0)   # [E, T]
    model = GConvGRU(None, 3, 3, hidden=5).eval()
    h, expected = torch.zeros(6, 5), []
    for t in range(T):
        h = reference_cell(model, data.x[:, t], h, dense_scaled_laplacian(data.edge_index, 6, w[:, t]))
        expected.append(model.readout(h))
    pred, L_last = expected[-1], dense_scaled_laplacian(data.edge_index, 6, w[:, -1])
    future = [pred]
    for _ in range(3):                                                     # feed predictions back
        h = reference_cell(model, pred, h, L_last)
        pred = model.readout(h)
        future.append(pred)
    model, data = model.to(device), data.to(device)
    assert torch.allclose(model(data).cpu(), torch.stack(expected, 1), atol=1e-5)
    assert torch.allclose(model.forecast(data, 4).cpu(), torch.stack(future, 1), atol=1e-5)


def test_masks_zero_outputs_freeze_state_and_silence_absent_nodes():
    torch.manual_seed(0)
    data = _data(num_nodes=7, T=5)
    data.node_mask = torch.ones(7, 5, dtype=torch.bool)
    data.node_mask[2] = False                                              # absent throughout
    data.node_mask[4, 2:4] = False                                         # leaves, then comes back
    data.node_mask[5, -1] = False                                          # gone at the last step
    model = GConvGRU(None, 3, 3, hidden=6).eval()
    out, fc = model(data), model.forecast(data, 3)
    assert bool((out[~data.node_mask] == 0).all())
    assert bool((fc[2] == 0).all()) and bool((fc[5] == 0).all())
    states, _ = model._recur(data.x, data.edge_index, None, data.node_mask)
    assert torch.equal(states[3, 4], states[1, 4])                        # held while absent
    assert bool((states[:, 2] == 0).all())                                 # never present: zero state
    changed = data.clone()
    changed.x = data.x.clone()
    changed.x[2] += 5.0
    changed.x[4, 2:4] -= 3.0
    assert torch.equal(model(changed), out) and torch.equal(model.forecast(changed, 3), fc)


def test_batch_equals_graphs_one_by_one_dynamic():
    torch.manual_seed(0)
    graphs = [fake_st_data(num_nodes=n, T=5, F=3, masks=True, edge_attr_dim=1,
                           generator=torch.Generator().manual_seed(n)) for n in (5, 8)]
    for g in graphs:
        g.edge_attr = g.edge_attr.abs()
    model = GConvGRU(None, 3, 3, hidden=6).eval()
    batch = Batch.from_data_list(graphs)
    for fn in (model, lambda d: model.forecast(d, 3)):
        out = fn(batch)
        assert torch.allclose(out[:5], fn(graphs[0]), atol=1e-5)
        assert torch.allclose(out[5:], fn(graphs[1]), atol=1e-5)


def test_forward_is_causal():
    torch.manual_seed(0)
    data = _data(T=6)
    model = GConvGRU(None, 3, 2, hidden=6).eval()
    out = model(data)
    later = data.clone()
    later.x = data.x.clone()
    later.x[:, 4:] += 1.0
    assert torch.equal(model(later)[:, :4], out[:, :4])
    assert not torch.allclose(model(later)[:, 4:], out[:, 4:])


def test_errors_and_repr():
    with pytest.raises(ValueError, match="hidden"):
        GConvGRU(None, 3, 3, hidden=0)
    data = _data()
    model = GConvGRU(None, 3, 4, hidden=4)
    assert model.forecast(data, 1).shape == (6, 1, 4)
    with pytest.raises(ValueError, match="out_channels"):
        model.forecast(data, 2)                      # predicts more than it reads: nothing to feed back
    # reading more than it predicts, the third input is held (tests/models/test_baseline_covariates.py)
    assert GConvGRU(None, 3, 2, hidden=4).forecast(data, 2).shape == (6, 2, 2)
    model = build("gconv_gru", None, 3, 3, hidden=16, K=2)
    assert repr(model) == "GConvGRU(3, 3, hidden=16, K=2)"
    before = model.conv_zr.lins[0].weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.conv_zr.lins[0].weight)
