"""Output heads: transform, point, sample and loss in one component."""
import math

import pytest
import torch
import torch.nn.functional as F

from srnn_pyg.metrics import bivariate_gaussian_nll
from srnn_pyg.models import NodeLSTM, SkeletonSTGCN, StructuralRNN
from srnn_pyg.nn import DeterministicHead, GaussianHead, LogitsHead, build_head, head_of
from srnn_pyg.testing import fake_schema


def test_deterministic_losses_against_direct_formulas():
    torch.manual_seed(0)
    pred, target = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    mask = torch.rand(4, 3) > 0.3
    w = mask.unsqueeze(-1).float().expand_as(pred)
    for kind, err in (("mse", (pred - target) ** 2), ("l1", (pred - target).abs()),
                      ("huber", F.huber_loss(pred, target, reduction="none", delta=0.5))):
        head = DeterministicHead(2, loss=kind, huber_delta=0.5)
        assert torch.allclose(head.loss(pred, target), err.mean(), atol=1e-6)
        assert torch.allclose(head.loss(pred, target, mask), (err * w).sum() / w.sum(), atol=1e-6)
        s, c = head.loss_terms(pred, target, mask)
        assert float(c) == float(w.sum())
    assert torch.equal(DeterministicHead(2)(pred), pred) and torch.equal(DeterministicHead(2).sample(pred), pred)
    with pytest.raises(ValueError, match="loss"):
        DeterministicHead(2, loss="hinge")


def test_euclidean_loss_is_the_mean_displacement_error():
    """The ADE objective: per node and step the error vector's length, averaged over node-steps."""
    torch.manual_seed(0)
    pred, target = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    mask = torch.rand(4, 3) > 0.3
    head = DeterministicHead(2, loss="euclidean")
    dist = torch.tensor([[math.dist(pred[i, t].tolist(), target[i, t].tolist()) for t in range(3)]
                         for i in range(4)])                                    # [4, 3], by hand
    assert torch.allclose(head.loss(pred, target), dist.mean(), atol=1e-5)
    assert torch.allclose(head.loss(pred, target, mask), dist[mask].mean(), atol=1e-5)
    s, c = head.loss_terms(pred, target, mask)
    assert float(c) == float(mask.sum())                                     # node-steps, not features
    # a per-feature mask counts a node-step once, if any of its features is present
    fmask = mask.unsqueeze(-1).expand(4, 3, 2).clone()
    fmask[0, 0] = torch.tensor([True, False])
    _, c = head.loss_terms(pred, target, fmask)
    assert float(c) == float(fmask.any(-1).sum())
    # smooth at zero error: a finite gradient, and zero there
    p = target.clone().requires_grad_(True)
    g = torch.autograd.grad(head.loss(p, target), p)[0]
    assert torch.isfinite(g).all() and g.abs().max() < 1e-3
    with pytest.raises(ValueError, match="targets"):
        DeterministicHead(2).loss(pred, target[..., :1])


def test_gaussian_transform_loss_point_and_samples():
    torch.manual_seed(1)
    raw = torch.randn(5, 4, 5)
    head = GaussianHead()
    params = head(raw)
    assert head.raw_channels == 5 and params.shape == raw.shape
    assert torch.allclose(params[..., 2:4], raw[..., 2:4].exp()) and torch.allclose(params[..., 4], raw[..., 4].tanh())
    assert torch.equal(head.point(params), params[..., :2])
    target = torch.randn(5, 4, 2)
    mask = torch.rand(5, 4) > 0.4
    assert torch.allclose(head.loss(params, target, mask), bivariate_gaussian_nll(params, target, mask))
    # one entry by hand: an isotropic unit Gaussian at the origin, target (1, 0)
    p = torch.tensor([[0.0, 0.0, 1.0, 1.0, 0.0]])
    assert math.isclose(float(head.loss(p, torch.tensor([[1.0, 0.0]]))), math.log(2 * math.pi) + 0.5, rel_tol=1e-6)
    # samples: mean, spread and correlation of the predicted Gaussian
    p = torch.tensor([1.0, -2.0, 0.5, 2.0, 0.8]).expand(200_000, 5)
    s = head.sample(p, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(s.mean(0), torch.tensor([1.0, -2.0]), atol=0.02)
    assert torch.allclose(s.std(0), torch.tensor([0.5, 2.0]), atol=0.02)
    assert abs(float(torch.corrcoef(s.t())[0, 1]) - 0.8) < 0.01
    with pytest.raises(ValueError, match="out_channels"):
        GaussianHead(3)


def test_logits_cross_entropy_with_padding():
    torch.manual_seed(2)
    logits, labels = torch.randn(4, 3, 5), torch.randint(0, 5, (4, 3))
    mask = torch.ones(4, 3, dtype=torch.bool)
    mask[0, 0] = False
    padded = labels.clone()
    padded[0, 0] = -1                                             # padding may hold anything
    head = LogitsHead(5)
    ce = F.cross_entropy(logits.reshape(-1, 5), labels.reshape(-1), reduction="none").view(4, 3)
    assert torch.allclose(head.loss(logits, padded, mask), ce[mask].mean(), atol=1e-6)
    assert head.classification and not DeterministicHead(5).classification
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        head.loss(logits, labels + 5)


def test_build_head_and_head_of_models():
    assert isinstance(build_head("gaussian", 2), GaussianHead)
    with pytest.raises(ValueError, match="kind"):
        build_head("mixture", 2)
    schema = fake_schema()
    assert isinstance(StructuralRNN(schema, 2, 2, head="gaussian").head, GaussianHead)
    assert isinstance(StructuralRNN(schema, 3, 5, task="classification").head, LogitsHead)
    assert isinstance(SkeletonSTGCN(schema, 3, 5, task="classification").head, LogitsHead)
    lstm = NodeLSTM(schema, 3, 3)
    assert type(head_of(lstm)) is DeterministicHead
    # a baseline without a task option reads as class scores on labelled data
    assert isinstance(head_of(lstm, classification=True), LogitsHead)
    with pytest.raises(ValueError, match="gaussian"):
        head_of(StructuralRNN(schema, 2, 2, head="gaussian"), classification=True)
    with pytest.raises(ValueError, match="real-valued"):
        head_of(StructuralRNN(schema, 3, 5, task="classification"), classification=False)
    plain = torch.nn.Linear(3, 3)
    assert isinstance(head_of(plain), DeterministicHead)


def test_masked_losses_ignore_nan_targets_and_their_gradients():
    """Masks select: a NaN target (or logit) at a masked entry changes neither the loss nor the gradient."""
    torch.manual_seed(0)
    pred = torch.randn(4, 3, 2, requires_grad=True)
    target = torch.randn(4, 3, 2)
    mask = torch.rand(4, 3) > 0.3
    poisoned = torch.where(mask.unsqueeze(-1), target, torch.full_like(target, float("nan")))
    for kind in ("mse", "l1", "huber", "euclidean"):
        head = DeterministicHead(2, loss=kind)
        clean = torch.autograd.grad(head.loss(pred, target, mask), pred)[0]
        loss = head.loss(pred, poisoned, mask)
        assert torch.isfinite(loss) and torch.allclose(loss, head.loss(pred, target, mask))
        assert torch.equal(torch.autograd.grad(loss, pred)[0], clean)
    logits = torch.randn(4, 3, 5)
    logits[~mask] = float("nan")
    labels = torch.randint(0, 5, (4, 3))
    assert torch.isfinite(LogitsHead(5).loss(logits, labels, mask))
