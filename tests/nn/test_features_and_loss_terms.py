"""Tests added after a mutation run of the model math (54 of 57 mutants killed): the sign of the
"diff" spatial feature, the weights of the point losses and the count of the Gaussian loss terms, each
against an entry-by-entry computation or the slow loop reference."""
import math

import torch

from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn.features import spatial_features
from srnn_pyg.nn.heads import DeterministicHead, GaussianHead
from srnn_pyg.testing import fake_schema, fake_st_data, reference_forward


# --------------------------------------------------------------- M22
def test_diff_spatial_feature_is_receiver_then_sender_minus_receiver():
    """features.py: "diff" is [x_i, x_j - x_i] (x_i the receiver), entry by entry."""
    g = torch.Generator().manual_seed(0)
    x_i, x_j = torch.randn(4, 3, 2, generator=g), torch.randn(4, 3, 2, generator=g)
    out = spatial_features("diff", x_i, x_j, None)
    assert out.shape == (4, 3, 4)
    for e in range(4):
        for t in range(3):
            for c in range(2):
                assert out[e, t, c] == x_i[e, t, c]
                assert torch.isclose(out[e, t, 2 + c], x_j[e, t, c] - x_i[e, t, c])


def test_srnn_with_diff_spatial_features_matches_the_loop_reference():
    """The model with spatial_features="diff" (slot and edge scopes) against
    the slow reference (srnn_pyg.testing.reference_forward)."""
    schema = fake_schema()
    data = fake_st_data(7, 4, 3, schema=schema, masks=True, generator=torch.Generator().manual_seed(1))
    for kw in (dict(edge_scope="slot"), dict(edge_scope="edge", aggr="mean")):
        torch.manual_seed(0)
        model = StructuralRNN(schema, 3, 3, edge_hidden=5, node_hidden=4, edge_mlp=(6,), node_mlp=(),
                              spatial_features="diff", **kw).eval()
        with torch.no_grad():
            assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5), kw


# --------------------------------------------------------------- M33
def test_weighted_point_losses_match_an_entry_by_entry_loop():
    """DeterministicHead with per-node, per-feature weights: sum(w * err) / sum(w)
    over the kept entries, for mse, l1 and huber, with and without a mask."""
    g = torch.Generator().manual_seed(2)
    N, T, F = 3, 4, 2
    pred, target = torch.randn(N, T, F, generator=g), torch.randn(N, T, F, generator=g)
    weight = torch.tensor([[1.0, 0.25], [0.0, 2.0], [0.5, 0.5]])
    mask = torch.rand(N, T, generator=g) > 0.3
    mask[0, 0] = True

    def err(kind, d):
        if kind == "mse":
            return d * d
        if kind == "l1":
            return abs(d)
        return 0.5 * d * d if abs(d) <= 1.0 else abs(d) - 0.5

    for kind in ("mse", "l1", "huber"):
        head = DeterministicHead(F, loss=kind)
        for m in (None, mask):
            total = count = 0.0
            for i in range(N):
                for t in range(T):
                    if m is not None and not bool(m[i, t]):
                        continue
                    for f in range(F):
                        w = float(weight[i, f])
                        total += w * err(kind, float(pred[i, t, f] - target[i, t, f]))
                        count += w
            s, c = head.loss_terms(pred, target, m, weight)
            assert math.isclose(float(c), count, rel_tol=1e-6), (kind, m is None)
            assert math.isclose(float(s), total, rel_tol=1e-5), (kind, m is None)
            assert math.isclose(float(head.loss(pred, target, m, weight)), total / count, rel_tol=1e-5)


# --------------------------------------------------------------- M34
def _nll(p, y):
    mx, my, sx, sy, rho = (float(v) for v in p)
    dx, dy = float(y[0]) - mx, float(y[1]) - my
    one_m = 1 - rho * rho
    z = (dx / sx) ** 2 + (dy / sy) ** 2 - 2 * rho * dx * dy / (sx * sy)
    return math.log(2 * math.pi * sx * sy * math.sqrt(one_m)) + z / (2 * one_m)


def test_gaussian_loss_terms_count_only_kept_entries_and_batches_average_exactly():
    """GaussianHead.loss_terms: (sum of the per-entry NLL over kept entries,
    number of kept entries), so that summing the terms of two batches gives
    the mean over the kept entries of both (head.loss alone cannot see the
    count: it divides it out again)."""
    g = torch.Generator().manual_seed(3)
    head = GaussianHead()
    parts = []
    for n in (3, 5):
        params = head(torch.randn(n, 4, 5, generator=g))
        target = torch.randn(n, 4, 2, generator=g)
        mask = torch.rand(n, 4, generator=g) > 0.5
        mask[0, 0] = True
        parts.append((params, target, mask))
    total_s = total_c = 0.0
    ref_sum = ref_count = 0.0
    for params, target, mask in parts:
        s, c = head.loss_terms(params, target, mask)
        kept = [(i, t) for i in range(mask.size(0)) for t in range(mask.size(1)) if bool(mask[i, t])]
        ref = sum(_nll(params[i, t], target[i, t]) for i, t in kept)
        assert float(c) == len(kept)
        assert math.isclose(float(s), ref, rel_tol=1e-5)
        total_s, total_c = total_s + float(s), total_c + float(c)
        ref_sum, ref_count = ref_sum + ref, ref_count + len(kept)
    assert math.isclose(total_s / total_c, ref_sum / ref_count, rel_tol=1e-5)
