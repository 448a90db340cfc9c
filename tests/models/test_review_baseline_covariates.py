"""Review checks for the baselines' covariates (tests/models/test_baseline_covariates.py leaves these
open): masked roll-outs keep finite gradients, STGCN checks the covariates its fed-back chunks read,
and STGCN's chunk roll-out with masks and per-step edge weights matches a hand loop."""
import pytest
import torch

from srnn_pyg import STData
from srnn_pyg.models import GConvGRU, NodeLSTM, STGCN
from srnn_pyg.testing import fake_st_data

N, T, H = 6, 7, 3


def _masked(F: int, C: int, edge_weight: bool = False) -> STData:
    g = torch.Generator().manual_seed(0)
    d = fake_st_data(num_nodes=N, T=T, F=F, masks=True, edge_attr_dim=1 if edge_weight else 0, generator=g)
    if edge_weight:
        d.edge_attr = d.edge_attr.abs() + 0.1
    elif "edge_attr" in d:
        del d.edge_attr
    d.u_future = torch.randn(N, 4 * H, C, generator=g)
    d.node_mask[0, -1] = False                      # absent at the last observed step: NaN everywhere
    d.x[0, -1] = float("nan")
    d.u_future[0] = float("nan")
    return d


@pytest.mark.parametrize("derived", [None, "velocity"])
@pytest.mark.parametrize("cls,kw", [(NodeLSTM, dict(hidden=8)), (GConvGRU, dict(hidden=8, K=2)),
                                    (STGCN, dict(obs_len=5, horizon=H, hidden=8, K=2, blocks=1))])
def test_absent_node_nan_covariates_leave_gradients_finite(cls, kw, derived):
    """The NaN inputs of a node absent at the last observed step must be masked before they enter the
    network, not only at the output: else the backward pass turns them into NaN parameter gradients."""
    F = (2 if derived else 1) + 1 + 2
    torch.manual_seed(0)
    model = cls(None, F, 1, covariates=2, derived=derived, velocity_scale=2.0, **kw)
    out = model.forecast(_masked(F, 2), 3 * H)
    assert torch.isfinite(out).all() and torch.equal(out[0], torch.zeros(3 * H, 1))
    out.sum().backward()
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, bad


def test_stgcn_checks_the_covariates_of_its_fed_back_chunks():
    model = STGCN(None, 3, 1, obs_len=5, horizon=H, hidden=8, K=2, blocks=1, covariates=2)
    d = _masked(3, 2)
    d.u_future[1, H] = float("nan")                 # a present node, the second chunk's first step
    with pytest.raises(ValueError, match="'u_future' must be finite.*node 1, future step 3"):
        model.forecast(d, 3 * H)                    # feeds back chunks 0 and 1
    model.forecast(d, 2 * H)                        # feeds back chunk 0 only: step 3 is not read
    d = _masked(3, 2)
    d.u_future = d.u_future.double()
    with pytest.raises(TypeError, match="'u_future' must have the model's dtype"):
        model.forecast(d, 2 * H)


def test_stgcn_chunks_with_masks_and_per_step_edge_weights_match_a_hand_loop():
    F, C = 5, 2                                     # position, velocity, one held channel, two covariates
    d = _masked(F, C, edge_weight=True)
    d.node_mask[0, -1] = True                       # every node present at the end, one absent earlier
    d.x[0, -1] = 0.5
    d.u_future[0] = 0.25
    d.node_mask[2, 3] = False
    d.x[2, 3] = float("nan")
    torch.manual_seed(0)
    model = STGCN(None, F, 1, obs_len=5, horizon=H, hidden=8, K=2, blocks=1, covariates=C,
                  derived="velocity", velocity_scale=2.0).eval()
    with torch.no_grad():
        got = model.forecast(d, 3 * H)
        x, ea, nm, em, chunks = d.x, d.edge_attr, d.node_mask, d.edge_mask, []
        for k in range(3):
            p = model.forecast(STData(x=x, edge_index=d.edge_index, edge_attr=ea, node_mask=nm, edge_mask=em), H)
            chunks.append(p)
            last, frames = x[:, -1:], []
            for j in range(H):
                f = torch.cat([p[:, j:j + 1], (p[:, j:j + 1] - last[..., :1]) * 2.0, d.x[:, -1:, 2:3],
                               d.u_future[:, k * H + j:k * H + j + 1]], dim=-1)
                frames.append(f)
                last = f
            x = torch.cat([x] + frames, dim=1)
            ea = torch.cat([ea, ea[:, -1:].expand(-1, H, -1)], dim=1)
            nm = torch.cat([nm, nm[:, -1:].expand(-1, H)], dim=1)
            em = torch.cat([em, em[:, -1:].expand(-1, H)], dim=1)
    assert torch.allclose(got, torch.cat(chunks, dim=1), atol=1e-5)
