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
    assert mine.truncate_gradient is None                                     # your truncation, not both
    with pytest.raises(ValueError, match="'tbptt' .* and 'truncate_gradient' .* set one"):
        TrainConfig(epochs=3, tbptt=4, truncate_gradient=10)
    assert TrainConfig(epochs=3).optimizer == "adam" and TrainConfig(epochs=3).tbptt is None
    with pytest.raises(ValueError, match="'recipe'"):
        TrainConfig(epochs=3, recipe="official")
    with pytest.raises(ValueError, match="'noise_p'"):
        TrainConfig(epochs=3, noise_p=1.5)
    with pytest.raises(ValueError, match="'momentum'"):
        TrainConfig(epochs=3, momentum=1.0)
    assert c.optimizer == "momentum" and c.truncate_gradient == 10 and c.tbptt is None


def test_paper_recipe_trains_with_momentum_and_the_iteration_schedule():
    schema, data = _windows(T=30)
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, variant="paper", **SMALL)
    # milestones moved to iterations 2 and 4 so that a short run crosses them
    r = fit(model, DataLoader(data, batch_size=2), config=TrainConfig(
        epochs=2, recipe="paper", progress=False, scheduler_kwargs=dict(milestones=[2, 4])))
    # 3 batches of 31 teacher-forcing steps: one update per batch, as the official iterations count (the
    # truncation is inside the cells, not chunks), so the schedule's milestones count batches
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


def test_theano_momentum_is_the_official_update():
    """v <- mu v - lr g, p <- p + v: PyTorch's SGD at a constant rate, but a cut of the rate fades in."""
    from srnn_pyg.engine.optim import TheanoMomentum
    w0 = torch.tensor([1.0, -2.0])
    grads = [torch.tensor([0.5, 1.0]), torch.tensor([-1.0, 0.25]), torch.tensor([2.0, -0.5])]
    lrs = [0.1, 0.1, 0.01]                                    # a cut before the third step
    p_t, p_s = w0.clone().requires_grad_(), w0.clone().requires_grad_()
    theano, sgd = TheanoMomentum([p_t], lr=0.1, momentum=0.9), torch.optim.SGD([p_s], lr=0.1, momentum=0.9)
    v, want = torch.zeros(2), w0.clone()
    for k, (g, lr) in enumerate(zip(grads, lrs)):
        for opt, p in ((theano, p_t), (sgd, p_s)):
            opt.param_groups[0]["lr"] = lr
            p.grad = g.clone()
            opt.step()
        v = 0.9 * v - lr * g
        want = want + v
        assert torch.allclose(p_t.detach(), want, atol=1e-7)
        if k < 2:                                             # the same updates while the rate is constant
            assert torch.allclose(p_t.detach(), p_s.detach(), atol=1e-7)
    assert not torch.allclose(p_t.detach(), p_s.detach(), atol=1e-4)        # the cut: SGD's step shrinks at once
    decayed = TheanoMomentum([torch.ones(1, requires_grad=True)], lr=0.1, momentum=0.0, weight_decay=0.5)
    p = decayed.param_groups[0]["params"][0]
    p.grad = torch.zeros(1)
    decayed.step()
    assert torch.allclose(p.detach(), torch.tensor([1.0 - 0.1 * 0.5]))


def test_truncate_gradient_acts_in_the_cells_for_the_run_only():
    from srnn_pyg.nn.peephole import PeepholeLSTM
    schema, data = _windows(T=12)
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, variant="paper", **SMALL)
    cells = [m for m in model.modules() if isinstance(m, PeepholeLSTM)]
    seen = []
    fit(model, DataLoader(data, batch_size=3), config=TrainConfig(
        epochs=1, truncate_gradient=4, progress=False,
        callbacks=[lambda record: seen.append({c.truncate_gradient for c in cells})]))
    assert cells and seen == [{4}]                                           # set while training ...
    assert all(c.truncate_gradient is None for c in cells)                    # ... and put back after
    with pytest.raises(ValueError, match="'truncate_gradient=10' \\(recipe='paper' sets it; .* has none"):
        fit(StructuralRNN(schema, 3, 3, **SMALL), DataLoader(data, batch_size=3), epochs=1, recipe="paper",
            progress=False)
    with pytest.raises(ValueError, match="'truncate_gradient=4' truncates teacher forcing"):
        fit(model, DataLoader(data, batch_size=3), epochs=1, truncate_gradient=4, objective="rollout",
            progress=False)
    assert all(c.truncate_gradient is None for c in cells)                    # put back after an error too


def test_truncated_fit_equals_training_on_the_last_steps_of_the_cells():
    """One update with truncate_gradient=K moves the cells' weights exactly as the gradient in which every
    cell's outputs before the last K steps are constants (the official Theano truncation)."""
    from srnn_pyg.nn.peephole import PeepholeLSTM
    schema, data = _windows(n=2, T=9)
    batch = Batch.from_data_list(data)
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, variant="paper", **SMALL)
    target = torch.cat([batch.x[:, 1:], batch.y[:, :1]], dim=1)
    cells = [m for m in model.modules() if isinstance(m, PeepholeLSTM)]
    params = list(model.parameters())

    def grads(K):
        for c in cells:
            c.truncate_gradient = K
        out = model(batch)
        return torch.autograd.grad(((out - target) ** 2).sum(), params, allow_unused=True)

    full, cut = grads(None), grads(4)
    same_as_full = grads(10)                                                  # K >= T: nothing is cut
    for c in cells:
        c.truncate_gradient = None
    assert all((a is None and b is None) or torch.allclose(a, b) for a, b in zip(full, same_as_full))
    names = [n for n, _ in model.named_parameters()]
    changed = {n for n, a, b in zip(names, full, cut) if a is not None and not torch.allclose(a, b)}
    assert {n for n in names if ".lstm." in n} <= changed                     # every cell learns from fewer steps
    decoders = [n for n in names if n.startswith("decoders.")]
    assert decoders and not changed & set(decoders)                           # what reads them, from every step


def test_objective_auto_picks_by_the_model(tmp_path):
    """objective='auto' (the command line's default) in Python too: teacher forcing for a model with a
    one-step forward, rollout for a direct forecaster; the run records the resolved name."""
    from srnn_pyg.engine import load_checkpoint
    from srnn_pyg.models import build
    schema, data = _windows(T=13)
    torch.manual_seed(0)
    fit(StructuralRNN(schema, 3, 3, **SMALL), DataLoader(data, batch_size=3), epochs=1, objective="auto",
        progress=False, out_dir=tmp_path / "tf")
    stgcn = build("stgcn", schema, 3, 3, obs_len=13, horizon=2)
    fit(stgcn, DataLoader(data, batch_size=3), epochs=1, objective="auto", progress=False, out_dir=tmp_path / "ro")
    assert load_checkpoint(tmp_path / "tf" / "last.pt")["config"]["objective"] == "teacher_forcing"
    assert load_checkpoint(tmp_path / "ro" / "last.pt")["config"]["objective"] == "rollout"
    with pytest.raises(ValueError, match=r"'objective' must be one of \['teacher_forcing', 'rollout', 'auto'\]"):
        TrainConfig(epochs=1, objective="best")


def test_targets_and_their_mask_are_checked_with_names():
    """A float y_mask, a y_mask of another shape or a y of other nodes is a ValueError naming the key (they
    were NotImplementedError from a bitwise op, a 'node_mask' error, or a RuntimeError)."""
    from srnn_pyg.engine import evaluate
    schema, data = _windows(n=2, T=6)
    model = StructuralRNN(schema, 3, 3, **SMALL)
    cases = [("y_mask", torch.ones(8, 2), "'y_mask' must be a torch.bool \\[8, 2\\]"),
             ("y_mask", torch.ones(8, 3, dtype=torch.bool), "'y_mask' must be a torch.bool \\[8, 2\\]"),
             ("y", torch.randn(7, 2, 3), "'y' must be \\[N, H, F\\] .* with the N=8 nodes")]
    for key, value, message in cases:
        bad = [d.clone() for d in data]
        bad[0][key] = value
        if key == "y":
            bad = bad[:1]
        for run in (lambda: fit(model, DataLoader(bad, batch_size=1), epochs=1, progress=False),
                    lambda: evaluate(model, DataLoader(bad, batch_size=1), metrics=["mse"])):
            with pytest.raises(ValueError, match=message):
                run()


def test_paper_recipe_with_models_that_do_not_train_and_with_your_tbptt(tmp_path):
    """The recipe's truncation is skipped for a model with nothing to train (it refused zero velocity);
    a tbptt set by replace() replaces it (it raised); a run of the 0.2 recipe (SGD, tbptt=10) is told how
    to resume."""
    from srnn_pyg.models import build
    schema, data = _windows(T=12)
    fit(build("zero_velocity", schema, 3, 3), DataLoader(data, batch_size=3), epochs=1, recipe="paper",
        progress=False)
    c = TrainConfig(epochs=1, recipe="paper").replace(tbptt=4)
    assert c.tbptt == 4 and c.truncate_gradient is None
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, variant="paper", **SMALL)
    old = dict(epochs=1, recipe="paper", optimizer="sgd", tbptt=10, progress=False, out_dir=tmp_path / "run")
    fit(model, DataLoader(data, batch_size=3), **old)
    with pytest.raises(ValueError, match="a run of the 0.2 paper recipe: resume it with optimizer='sgd', tbptt=10"):
        fit(model, DataLoader(data, batch_size=3), epochs=2, recipe="paper", progress=False,
            out_dir=tmp_path / "run", resume=True)
    fit(model, DataLoader(data, batch_size=3), **{**old, "epochs": 2, "resume": True})


def test_fields_you_pass_keep_your_value_under_the_paper_recipe_even_at_their_defaults():
    mine = dict(optimizer="adam", lr=1e-3, grad_clip=1.0, noise_p=1.0, scheduler=None, noise=None,
                momentum=0.9, node_type_loss=False, truncate_gradient=None)
    c = TrainConfig(epochs=1, recipe="paper", **mine)
    assert {name: getattr(c, name) for name in mine} == mine
    assert c.given() == frozenset(mine) | {"epochs", "recipe"}
    one = TrainConfig(epochs=1, recipe="paper", optimizer="adam")           # one field yours, the rest the paper's
    assert one.optimizer == "adam" and one.grad_clip == 25.0 and one.noise == "paper" and one.node_type_loss
    assert TrainConfig(1, recipe="paper").optimizer == "momentum"           # a positional epochs is given, not more
    assert TrainConfig(2, "teacher_forcing").given() == frozenset({"epochs", "objective"})


def test_replace_keeps_the_fields_you_gave_and_refills_the_others_from_the_recipe():
    paper = TrainConfig(epochs=1, recipe="paper", lr=5e-3)
    again = paper.replace(noise_p=1.0)                                      # the default value, given now
    assert again.noise_p == 1.0 and again.lr == 5e-3 and again.optimizer == "momentum"
    assert again.given() == frozenset({"epochs", "recipe", "lr", "noise_p"})
    on = TrainConfig(epochs=1, optimizer="adam").replace(recipe="paper")
    assert on.optimizer == "adam" and on.grad_clip == 25.0 and on.truncate_gradient == 10
    off = paper.replace(recipe="default")                                   # the recipe's values go with it
    assert off.optimizer == "adam" and off.grad_clip == 1.0 and off.truncate_gradient is None and off.lr == 5e-3
    chunked = paper.replace(tbptt=5)                                        # your truncation, not both
    assert chunked.tbptt == 5 and chunked.truncate_gradient is None
    assert paper.replace() == paper and TrainConfig(epochs=1).replace(lr=2e-3) == TrainConfig(epochs=1, lr=2e-3)


def test_the_command_line_counts_a_recipe_field_at_its_default_as_not_given():
    import dataclasses
    from types import SimpleNamespace

    from srnn_pyg.cli.training import _trainer_kwargs
    everything = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}
    everything.update(epochs=2, recipe="paper", scheduler_kwargs={}, meta={})
    line = lambda **kw: SimpleNamespace(trainer=SimpleNamespace(as_dict=lambda: {**everything, **kw}))  # noqa: E731
    c = TrainConfig(**_trainer_kwargs(line()))
    assert all(getattr(c, name) == value for name, value in PAPER_RECIPE.items())
    c = TrainConfig(**_trainer_kwargs(line(optimizer="sgd", grad_clip=5.0)))
    assert c.optimizer == "sgd" and c.grad_clip == 5.0 and c.momentum == 0.99
