"""The official S-RNN training recipe (TrainConfig(recipe="paper")) and its parts."""
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig, fit
from srnn_pyg.engine.config import PAPER_RECIPE
from srnn_pyg.engine.noise import add_noise
from srnn_pyg.engine.objectives import node_type_terms
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn.heads import DeterministicHead
from srnn_pyg.testing import fake_schema, fake_st_data

SMALL = dict(edge_hidden=6, node_hidden=6, edge_mlp=(6,), node_mlp=(6,))


def _windows(n=6, T=6, H=2, F=3):
    g = torch.Generator().manual_seed(0)
    schema = fake_schema(with_relations=True)
    out = []
    for _ in range(n):
        d = fake_st_data(8, T, F, schema=schema, generator=g)
        d.y = torch.randn(d.num_nodes, H, F, generator=g)
        out.append(d)
    return schema, out


def test_paper_recipe_fills_the_fields_left_at_their_defaults():
    c = TrainConfig(epochs=3, recipe="paper")
    for name, value in PAPER_RECIPE.items():
        assert getattr(c, name) == value
    mine = TrainConfig(epochs=3, recipe="paper", tbptt=4, lr=5e-3)
    assert mine.tbptt == 4 and mine.lr == 5e-3 and mine.momentum == 0.99      # yours win, the rest is the paper's
    assert TrainConfig(epochs=3).optimizer == "adam" and TrainConfig(epochs=3).tbptt is None
    with pytest.raises(ValueError, match="'recipe'"):
        TrainConfig(epochs=3, recipe="official")
    with pytest.raises(ValueError, match="'noise_p'"):
        TrainConfig(epochs=3, noise_p=1.5)
    with pytest.raises(ValueError, match="'momentum'"):
        TrainConfig(epochs=3, momentum=1.0)


def test_paper_recipe_trains_with_sgd_momentum_and_the_iteration_schedule():
    schema, data = _windows()
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, **SMALL)
    # milestones moved to iterations 2 and 4 so that a short run crosses them
    r = fit(model, DataLoader(data, batch_size=2), config=TrainConfig(
        epochs=2, recipe="paper", progress=False, scheduler_kwargs=dict(milestones=[2, 4])))
    # 3 batches of 7 teacher-forcing steps, tbptt 10: one chunk each -> 3 optimiser steps per epoch
    assert [h["step"] for h in r.history] == [3, 6]
    assert r.history[0]["lr"] == pytest.approx(1e-4) and r.history[1]["lr"] == pytest.approx(1e-5)
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in r.history)


def test_bernoulli_noise_masks_whole_frames_per_graph():
    schema, data = _windows(n=40, T=6)
    batch = Batch.from_data_list(data)
    torch.manual_seed(0)
    noisy = add_noise(batch, 1.0, p=0.5)
    hit = (noisy.x != batch.x).any(-1)                                        # [N, T]
    for g in range(40):
        nodes = hit[batch.batch == g]
        assert bool((nodes == nodes[0]).all())                                # a frame is noisy for all its nodes
    share = hit.float().mean().item()
    assert 0.35 < share < 0.65                                                # about half the frames
    assert add_noise(batch, 1.0, p=0.0) is batch
    full = add_noise(batch, 1.0, p=1.0)
    assert bool((full.x != batch.x).all())


def test_node_type_loss_is_the_official_sum_over_types():
    head = DeterministicHead(2)
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(5, 3, 2, generator=g), torch.randn(5, 3, 2, generator=g)
    node_type = torch.tensor([0, 0, 1, 1, 1])
    loss, count = node_type_terms(head, pred, target, None, node_type)
    want = sum(3 * 2 * ((pred[node_type == k] - target[node_type == k]) ** 2).mean() for k in (0, 1))
    assert float(loss) == pytest.approx(float(want), rel=1e-6) and float(count) == 30
    mask = torch.ones(5, 3, dtype=torch.bool)
    mask[0] = False
    loss_m, _ = node_type_terms(head, pred, target, mask, node_type)
    want_m = 3 * 2 * ((pred[1] - target[1]) ** 2).mean() + 3 * 2 * ((pred[2:] - target[2:]) ** 2).mean()
    assert float(loss_m) == pytest.approx(float(want_m), rel=1e-6)
