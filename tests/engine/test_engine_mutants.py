"""Tests written after a hand-made mutation run of the training engine
(loop.py, tbptt.py, noise.py, optim.py, rng.py, checkpoints.py). Each test
fails on the mutants named in it, which the rest of the suite let pass:

- loop.py: gradient clipping skipped; clipping applied after the optimiser step
  (test_sgd_with_momentum_and_clipping_equals_a_manual_loop)
- loop.py: the per-iteration ("paper") scheduler skipping its first step
  (test_the_paper_schedule_steps_after_every_optimiser_step)
- loop.py: the sampler's epoch never set (test_a_shuffled_loader_changes_its_order_with_the_epoch)
- loop.py: a non-finite validated start counted as an epoch without improvement
  (test_a_non_finite_start_is_not_an_epoch_without_improvement)
- loop.py: the count of epochs without improvement not reset by an improvement
  (test_an_improvement_resets_the_patience)
- loop.py: a validated start making a maximised score the plateau reference without negating it
  (test_a_validated_start_is_the_plateau_reference_of_a_maximised_score)
- tbptt.py: a chunk without scored steps not carrying the recurrent state on
  (test_classification_chunks_carry_the_state_through_unscored_chunks)
- tbptt.py: noise_p ignored in the scored chunks (test_noise_p_zero_adds_no_noise_under_tbptt)
- noise.py: a std of 0 still drawing noise (test_a_zero_noise_std_draws_nothing)
- noise.py: absent nodes getting noise; the Bernoulli frame mask inverted
  (test_add_noise_spares_absent_nodes_and_noises_a_fraction_p_of_frames)
- noise.py: a constant std starting at step 1, not 0 (test_a_constant_noise_applies_from_the_first_step)
- optim.py: SGD built without the config's momentum (test_sgd_with_momentum_and_clipping_equals_a_manual_loop)
- optim.py: ReduceLROnPlateau given a maximised score without negating it
  (test_the_plateau_scheduler_follows_a_maximised_score)
- optim.py: a new lr on resume leaving the groups' initial_lr at the old rate
  (test_a_new_lr_on_resume_rescales_the_saved_initial_rates)
- rng.py: the sampler's order ignoring the epoch (test_a_shuffled_loader_changes_its_order_with_the_epoch)
- rng.py: NumPy's or Python's generator not restored on resume
  (test_resume_continues_numpy_and_python_random_streams)
- checkpoints.py: model records compared without treating tuples and lists alike
  (test_init_from_a_model_built_with_lists_instead_of_tuples)
"""
import random

import numpy as np
import pytest
import torch
from engine_helpers import SMALL, Probe, srnn
from torch.utils.data import Dataset
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig, fit, load_checkpoint
from srnn_pyg.engine.noise import add_noise, as_noise_schedule
from srnn_pyg.engine.objectives import StepModule, batch_loss, feedback_of
from srnn_pyg.models import Forecaster, StructuralRNN, build
from srnn_pyg.nn.heads import head_of
from srnn_pyg.testing import fake_schema, fake_st_data


class Linear(Forecaster):
    """A deterministic one-step model (no dropout, no recurrence): its updates are easy to replay."""

    def __init__(self):
        super().__init__(None, 4, 4)
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, data):
        return self.lin(data.x)

    def forecast(self, data, horizon):
        return self.lin(data.x[:, -1:]).expand(-1, horizon, -1)


def _scripted(values):
    """A val_score returning ``{"s": v}`` for the successive values (one per validation)."""
    calls = iter(values)

    def score(collected):
        return {"s": next(calls)}
    return score


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


# ------------------------------------------------------------ optimiser step
def test_sgd_with_momentum_and_clipping_equals_a_manual_loop(springs):
    train = springs[0]
    torch.manual_seed(0)
    model = Linear()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    clip, lr = 0.05, 0.1
    fit(model, DataLoader(train, batch_size=8), epochs=2, optimizer="sgd", momentum=0.9, lr=lr, grad_clip=clip,
        progress=False, device="cpu", objective="teacher_forcing")

    manual = Linear()
    manual.load_state_dict(start)
    opt = torch.optim.SGD(list(manual.parameters()), lr=lr, momentum=0.9)
    runner, head, clipped = StepModule(manual), head_of(manual, classification=False), []
    manual.train()
    for _ in range(2):
        for batch in DataLoader(train, batch_size=8):
            loss, _ = batch_loss(runner, head, batch, "teacher_forcing", None, 0.0, False, feedback_of(manual))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clipped.append(float(torch.nn.utils.clip_grad_norm_(list(manual.parameters()), clip)) > clip)
            opt.step()
    assert any(clipped)             # the clipping acts: skipping it, or clipping after the step, changes the run
    for (name, a), b in zip(model.named_parameters(), manual.parameters()):
        assert torch.equal(a, b), name


def test_the_paper_schedule_steps_after_every_optimiser_step(springs):
    # one batch per epoch: the rate after epoch e is the rate after e optimiser steps
    torch.manual_seed(0)
    r = fit(Linear(), DataLoader(springs[0], batch_size=64), epochs=4, optimizer="sgd", lr=0.1,
            scheduler="paper", scheduler_kwargs=dict(milestones=[1, 3]), progress=False, device="cpu")
    assert [h["step"] for h in r.history] == [1, 2, 3, 4]
    assert [h["lr"] for h in r.history] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])


# ------------------------------------------------------------- data order
def test_a_shuffled_loader_changes_its_order_with_the_epoch(springs):
    items = [springs[0][i] for i in range(6)]
    probe = Probe()
    fit(probe, DataLoader(items, batch_size=1, shuffle=True), epochs=3, progress=False, device="cpu")
    assert len(probe.seen) == 18

    def index(seen):
        hits = [i for i, d in enumerate(items) if torch.equal(seen[:, 0], d.x[:, 0])]
        assert len(hits) == 1
        return hits[0]
    orders = [[index(s) for s in probe.seen[e * 6:(e + 1) * 6]] for e in range(3)]
    assert all(sorted(o) == list(range(6)) for o in orders)     # each epoch is a permutation of the data
    assert len({tuple(o) for o in orders}) > 1                   # a function of the epoch, not one order


# ----------------------------------------------- early stopping and selection
def test_a_non_finite_start_is_not_an_epoch_without_improvement(springs):
    train, val = springs
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="not a finite number"):
        r = fit(Linear(), DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=2,
                validate_start=True, val_score=_scripted([float("inf"), 1.0, 2.0]), monitor="val_s",
                early_stopping=1, progress=False, device="cpu")
    assert [h["epoch"] for h in r.history] == [0, 1, 2]
    assert (r.best_epoch, r.best_score, r.stopped_early) == (1, 1.0, True)


def test_an_improvement_resets_the_patience(springs):
    train, val = springs
    torch.manual_seed(0)
    r = fit(Linear(), DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=5,
            val_score=_scripted([1.0, 2.0, 0.5, 2.0, 0.3]), monitor="val_s", early_stopping=2, progress=False,
            device="cpu")
    assert [h["epoch"] for h in r.history] == [1, 2, 3, 4, 5]
    assert (r.best_epoch, r.best_score, r.stopped_early) == (5, 0.3, False)


def test_the_plateau_scheduler_follows_a_maximised_score(springs):
    train, val = springs
    torch.manual_seed(0)
    r = fit(Linear(), DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=4, lr=0.01,
            val_score=_scripted([0.1, 0.2, 0.15, 0.15]), monitor="val_s", monitor_mode="max", scheduler="plateau",
            scheduler_kwargs=dict(patience=0), progress=False, device="cpu")
    # a record holds the rate its epoch trained with: 0.2 beats 0.1 (no cut); 0.15 does not beat 0.2 (halved
    # after epoch 3)
    assert [h["lr"] for h in r.history] == pytest.approx([0.01, 0.01, 0.01, 0.005])
    assert r.best_epoch == 2


def test_a_validated_start_is_the_plateau_reference_of_a_maximised_score(springs):
    train, val = springs
    torch.manual_seed(0)
    r = fit(Linear(), DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=2, lr=0.01,
            validate_start=True, val_score=_scripted([0.5, 0.4, 0.45]), monitor="val_s", monitor_mode="max",
            scheduler="plateau", scheduler_kwargs=dict(patience=0), progress=False, device="cpu")
    # epoch 1 (0.4) is worse than the start (0.5): with patience 0 the rate is halved for epoch 2
    assert [h["lr"] for h in r.history] == pytest.approx([0.01, 0.01, 0.005])
    assert r.best_epoch == 0


# -------------------------------------------------------------------- tbptt
def _class_windows(n=4, T=7, H=3, F=3):
    g = torch.Generator().manual_seed(0)
    schema = fake_schema(with_relations=True)
    out = []
    for _ in range(n):
        d = fake_st_data(9, T, F, schema=schema, masks=True, generator=g)
        d.y = torch.randint(0, 4, (d.num_nodes, H), generator=g)
        out.append(d)
    return schema, out


def test_classification_chunks_carry_the_state_through_unscored_chunks():
    # T=7 steps, labels on the last 3: with K=2 the chunks (0, 2) and (2, 4) score nothing, yet at fixed
    # weights the chunk losses add up to the whole-sequence loss only if they carry the state on
    schema, data = _class_windows()
    losses = []
    for tbptt in (None, 2):
        torch.manual_seed(0)
        model = StructuralRNN(schema, 3, 4, task="classification", **SMALL)
        r = fit(model, DataLoader(data, batch_size=2), config=TrainConfig(epochs=1, lr=1e-12, progress=False,
                                                                          tbptt=tbptt, device="cpu"))
        losses.append(r.history[0]["train_loss"])
    assert losses[1] == pytest.approx(losses[0], rel=1e-6)


def _reg_windows(n=4, T=6, H=2, F=3):
    g = torch.Generator().manual_seed(0)
    schema = fake_schema(with_relations=True)
    out = []
    for _ in range(n):
        d = fake_st_data(8, T, F, schema=schema, masks=True, generator=g)
        d.y = torch.randn(d.num_nodes, H, F, generator=g)
        out.append(d)
    return schema, out


def test_noise_p_zero_adds_no_noise_under_tbptt():
    schema, data = _reg_windows()
    weights = []
    for noise in (None, 0.5):
        torch.manual_seed(0)
        model = StructuralRNN(schema, 3, 3, **SMALL)
        fit(model, DataLoader(data, batch_size=2), config=TrainConfig(
            epochs=1, lr=1e-2, progress=False, tbptt=3, noise=noise, noise_p=0.0, device="cpu"))
        weights.append(_params(model))
    assert all(torch.equal(a, b) for a, b in zip(*weights))


# -------------------------------------------------------------------- noise
def test_a_zero_noise_std_draws_nothing(springs):
    # a std of 0 (the trainer's value when there is no noise, and a schedule's before its first step)
    # returns the batch itself and draws nothing: the global generator, which dropout's masks come from,
    # is where it was
    batch = next(iter(DataLoader(springs[0], batch_size=8)))
    for p in (1.0, 0.5):
        state = torch.random.get_rng_state()
        assert add_noise(batch, 0.0, p) is batch
        assert torch.equal(torch.random.get_rng_state(), state)
    state = torch.random.get_rng_state()
    assert add_noise(batch, 0.1) is not batch
    assert not torch.equal(torch.random.get_rng_state(), state)


def test_add_noise_spares_absent_nodes_and_noises_a_fraction_p_of_frames():
    G, per, T = 20, 5, 40
    g = torch.Generator().manual_seed(3)
    mask = torch.rand(G * per, T, generator=g) > 0.3
    x = torch.ones(G * per, T, 2) * mask.unsqueeze(-1)
    data = Data(x=x, node_mask=mask, batch=torch.arange(G).repeat_interleave(per))
    torch.manual_seed(0)
    full = add_noise(data, 1.0)
    assert torch.equal(full.x[~mask], x[~mask])                     # absent nodes stay zero
    assert bool((full.x[mask] != x[mask]).all())
    torch.manual_seed(0)
    some = add_noise(data, 1.0, p=0.2)
    changed = (some.x != x).any(-1)                                  # [N, T]
    frames = torch.zeros(G, T, dtype=torch.bool).index_put_((data.batch.unsqueeze(1).expand(-1, T),
                                                             torch.arange(T).expand(G * per, -1)), changed,
                                                            accumulate=True)
    fraction = float(frames.float().mean())
    assert 0.1 < fraction < 0.3                                      # about p = 0.2 of the 800 frames
    assert torch.equal(data.x, x)                                    # the batch itself is unchanged


def test_a_constant_noise_applies_from_the_first_step(springs):
    assert as_noise_schedule(0.3)(0) == 0.3
    probe = Probe()
    loader = DataLoader(springs[0], batch_size=8)
    fit(probe, loader, epochs=1, noise=0.5, progress=False, device="cpu")
    first = next(iter(loader))
    clean = torch.cat([first.x, first.y], 1)[:, :-1]
    assert float((probe.seen[0] - clean).std()) == pytest.approx(0.5, rel=0.2)


# ------------------------------------------------------------------- resume
class _Stop(Exception):
    pass


def _stop_at(epoch):
    def callback(record):
        if record["epoch"] == epoch:
            raise _Stop
    return callback


def test_a_new_lr_on_resume_rescales_the_saved_initial_rates(springs, tmp_path):
    train = springs[0]
    common = dict(epochs=3, scheduler="cosine", optimizer="adamw", progress=False, device="cpu")
    with pytest.raises(_Stop):
        fit(srnn(train.schema), DataLoader(train, batch_size=8), out_dir=tmp_path, lr=1e-2,
            callbacks=[_stop_at(1)], **common)
    with pytest.warns(UserWarning, match="'lr' was 0.01, now 0.005"):
        fit(srnn(train.schema), DataLoader(train, batch_size=8), out_dir=tmp_path, lr=5e-3, resume=True,
            **common)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["epoch"] == 3
    assert ckpt["scheduler"]["base_lrs"] == pytest.approx([5e-3])
    assert [g["initial_lr"] for g in ckpt["optimizer"]["param_groups"]] == pytest.approx([5e-3])


class _Jittered(Dataset):
    """Windows whose inputs get NumPy and Python random jitter when read (in the main process)."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        d = self.items[i].clone()
        d.x = d.x + torch.from_numpy(np.random.normal(0.0, 0.05, tuple(d.x.shape))).float()
        d.x[..., 0] = d.x[..., 0] + random.gauss(0.0, 0.05)
        return d


def test_resume_continues_numpy_and_python_random_streams(springs, tmp_path):
    train = springs[0]
    data = _Jittered([train[i] for i in range(16)])
    common = dict(epochs=3, lr=1e-2, progress=False, device="cpu")
    full = srnn(train.schema)
    fit(full, DataLoader(data, batch_size=8), out_dir=tmp_path / "full", **common)
    with pytest.raises(_Stop):
        fit(srnn(train.schema), DataLoader(data, batch_size=8), out_dir=tmp_path / "cut",
            callbacks=[_stop_at(1)], **common)
    random.seed(12345)                 # whatever the streams are now, the resume restores the checkpoint's
    np.random.seed(12345)
    resumed = srnn(train.schema, seed=7)
    fit(resumed, DataLoader(data, batch_size=8), out_dir=tmp_path / "cut", resume=True, **common)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


# -------------------------------------------------------------- checkpoints
def test_init_from_a_model_built_with_lists_instead_of_tuples(springs, tmp_path):
    train = springs[0]
    first = srnn(train.schema)                                   # edge_mlp=(8,), node_mlp=(8,)
    fit(first, DataLoader(train, batch_size=8), out_dir=tmp_path / "a", epochs=1, progress=False, device="cpu")
    torch.manual_seed(5)
    second = build("srnn", train.schema, 4, 4, edge_hidden=8, node_hidden=8, edge_mlp=[8], node_mlp=[8])
    r = fit(second, DataLoader(train, batch_size=8), out_dir=tmp_path / "b", epochs=1, lr=1e-12,
            init_from=tmp_path / "a", progress=False, device="cpu")
    assert r.epochs_run == 1                                     # the same model: it starts from the file
    for (k, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.allclose(a, b, rtol=0, atol=1e-9), k
