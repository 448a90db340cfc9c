"""Tests written after a hand-made mutation run of srnn_pyg/lightning.py and srnn_pyg/geometry.py: each
fails on a mutant that the rest of the suite let through. The Lightning tests skip where the ``lightning``
extra is not installed, as tests/test_lightning.py does.

Mutants killed here (the change, then the test that kills it):

lightning.py

* ``_TRAINER_FIELDS`` without ``"amp"`` or ``"callbacks"``, or the warning only for two or more unread fields:
  ``test_each_fit_only_field_set_on_its_own_warns``.
* ``_USED`` without ``"horizon"``, ``"scheduler_kwargs"``, ``"grad_clip"``, ``"noise"``, ``"monitor_mode"`` or
  ``"truncate_gradient"``; a ``NoiseSchedule`` recorded as itself instead of its pairs:
  ``test_the_record_rebuilds_every_field_the_module_reads``.
* ``_plain`` taking any list, or dicts with keys other than strings; ``_config_record`` keeping values that are
  not plain (a callable optimiser): ``test_the_record_leaves_out_values_that_are_not_plain_data``.
* ``objective="auto"`` resolved to teacher forcing for every model:
  ``test_auto_objective_of_a_model_without_forward_is_rollout``.
* no default ``TrainConfig(epochs=1)`` (``grad_clip=None``), ``forward`` a one-step forecast, ``__repr__``
  without the objective: ``test_without_a_config_the_module_takes_the_defaults_and_calls_the_models_forward``.
* the model's ``feedback`` not passed to the loss: ``test_a_model_that_rebuilds_its_inputs_trains_with_its_feedback``.
* the head not cached (its warning given at every batch): ``test_the_ignored_point_loss_warns_once_not_every_batch``.
* ``objective="rollout"`` on class labels not refused: ``test_rollout_on_class_labels_is_refused``.
* no noise schedule; the schedule read at step 0 instead of the global step; noise outside a Trainer:
  ``test_noise_follows_the_schedule_at_the_global_step_and_only_under_a_trainer``.
* the losses kept off the progress bar (in ``_log`` or by its default); ``test_step`` logging ``val_loss`` or
  scoring as training does (``train=True``); checkpoints recording ``config.epochs`` instead of the Trainer's:
  ``test_losses_on_the_progress_bar_test_loss_and_the_trainers_epochs_in_checkpoints``.
* ``predict_step`` preferring the targets' length to ``config.horizon``:
  ``test_predict_uses_the_configured_horizon_before_the_targets_length``.
* ``max_epochs=-1`` taken as the schedule's length: ``test_an_unlimited_max_epochs_keeps_the_configs_schedule_length``.
* frozen parameters handed to the optimiser, ``trainable = False`` not checked:
  ``test_only_trainable_parameters_are_optimised``.
* ``configure_gradient_clipping`` ignoring the Trainer's value, the config's, or the algorithm:
  ``test_the_trainers_clip_value_and_algorithm_replace_the_configs``.
* ``pin_memory`` forced (over the user's) or on without CUDA; the schema of an empty list of windows; the padded
  training loader not shuffling; ``exclude_keys`` refused:
  ``test_loaders_pin_memory_as_asked_and_the_padded_training_loader_shuffles``.
* ``from_dataset`` taking 4 splits, swapping val and test, opening them without the training split, opening
  splits the data lacks, dropping ``loader_kwargs``, ``seed`` or ``pad``, failing on a single split:
  ``test_from_dataset_opens_each_split_from_the_training_one_and_passes_the_options``.

Left alive as equivalent: ``_unread_fields`` without its exception for empty ``callbacks``/``meta``
(``TrainConfig`` turns them into ``()`` and ``{}``, their defaults); ``except Exception`` around
``model_record`` (it raises ``ValueError`` only); ``_run`` rewritten as ``forecast(data, horizon or 1) if
horizon is not None`` (the same for every positive horizon, the only kind ``TrainConfig`` accepts);
``noise_p`` also passed when validating (the std is 0 there, so ``add_noise`` returns the batch untouched);
``_stretch_schedules`` without its ``saved == epochs`` return (``stretch_schedule`` returns ``None`` for equal
lengths); the test loss pooled in the validation loss's ``MeanMetric`` (Lightning resets it at the end of each
loop, and the two loops never overlap).

geometry.py

* ``expmap_to_rotmat``'s identity built in the default dtype (half-precision maps came back as float32):
  ``test_rotation_matrices_keep_the_dtype_of_the_exponential_maps``.
* ``rotmat_to_euler`` checking only the last dimension; ``_check_last`` without its ``x.dim() < 1`` (a 0-d tensor
  gave an IndexError): ``test_shapes_that_only_look_right_are_refused``.
* ``expmap_to_euler`` without its own floating-point check (the error named ``expmap_to_rotmat``'s ``'r'``):
  ``test_an_integer_pose_is_refused_under_the_poses_own_name``.
* gimbal lock taken for ``|R02| >= 1 - 1e-7`` instead of exactly 1:
  ``test_euler_angles_just_off_gimbal_lock_are_no_lock``.
* ``e3`` not set to 0 at gimbal lock: ``test_at_gimbal_lock_e3_is_zero_whatever_rounding_left_in_the_first_row``.
* the axis past pi / 2 read from the smallest diagonal entry of ``k k^T`` (``argmin``):
  ``test_the_log_map_past_a_quarter_turn_about_axes_with_zero_components``.
* ``rotmat_to_expmap``'s ratio at ``|v| = 0`` set to 1 instead of 1/2; ``theta / |v|`` without its guard;
  ``1 - cos`` without ``clamp_min`` (NaN gradients at the identity):
  ``test_the_log_map_has_finite_gradients_at_the_identity``.

Left alive as equivalent: the clamp of ``cos`` to [-1, 1] in ``rotmat_to_expmap`` (``atan2`` takes any
value, and the symmetric branch, used only for ``cos < 0``, divides by ``1 - cos > 1``; a finite rotation
matrix leaves [-1, 1] by rounding only); the symmetric branch from ``cos < -0.9`` instead of ``cos < 0`` (both
branches are exact formulas, and the ``v`` branch's relative error, about eps / sin(theta), stays under 3 eps
there); ``cos <= 0`` for ``cos < 0`` (at ``cos = 0`` the symmetric part gives the same axis exactly).
"""
import json
import math
import warnings

import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig
from srnn_pyg.engine.noise import NoiseSchedule
from srnn_pyg.engine.objectives import StepModule, batch_loss, feedback_of
from srnn_pyg.geometry import euler_to_rotmat, expmap_to_euler, expmap_to_rotmat, rotmat_to_euler, rotmat_to_expmap
from srnn_pyg.models import StructuralRNN, build
from srnn_pyg.nn.heads import head_of
from srnn_pyg.testing import fake_schema, fake_st_data


def _windows(n=4, T=4, H=2, F=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [fake_st_data(5, T, F, horizon=H, generator=g) for _ in range(n)]


def _model(F=4, out=4, **kw):
    torch.manual_seed(0)
    return StructuralRNN(fake_schema(), F, out, edge_hidden=4, node_hidden=4, **kw)


def _lightning():
    """The Lightning pieces, or a skip where the extra is not installed (CI installs ``.[test]``)."""
    L = pytest.importorskip("lightning")
    from srnn_pyg.lightning import SRNNLightningModule, STDataModule
    return L, SRNNLightningModule, STDataModule


def _trainer(L, **kw):
    opts = dict(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                enable_model_summary=False, num_sanity_val_steps=0)
    return L.Trainer(**{**opts, **kw})


# ------------------------------------------------------------------------------------------ lightning.py
@pytest.mark.parametrize("field", [dict(amp=True), dict(callbacks=[print]), dict(seed=7)])
def test_each_fit_only_field_set_on_its_own_warns(field):
    _, Module, _ = _lightning()
    with pytest.warns(UserWarning, match=f"fields {next(iter(field))}=.* are fit\\(\\)'s options"):
        Module(_model(), TrainConfig(epochs=1, **field))


def test_the_record_rebuilds_every_field_the_module_reads():
    _, Module, _ = _lightning()
    config = TrainConfig(epochs=4, horizon=2, scheduler="cosine", scheduler_kwargs={"eta_min": 0.01}, grad_clip=0.5,
                         noise=NoiseSchedule([(0, 0.1), (5, 0.2)]), monitor="val_loss", monitor_mode="min",
                         truncate_gradient=3, weight_decay=0.1, momentum=0.5, noise_p=0.5, loss="l1")
    again = Module(**Module(_model(), config).hparams)            # what load_from_checkpoint does
    for name in ("horizon", "scheduler", "scheduler_kwargs", "grad_clip", "monitor", "monitor_mode",
                 "truncate_gradient", "weight_decay", "momentum", "noise_p", "loss", "epochs"):
        assert getattr(again.config, name) == getattr(config, name), name
    assert again.schedule.to_list() == [[0, 0.1], [5, 0.2]]


def test_the_record_leaves_out_values_that_are_not_plain_data():
    _, Module, _ = _lightning()
    odd = [TrainConfig(epochs=1, optimizer=lambda params, **kw: torch.optim.SGD(params, lr=0.1)),
           TrainConfig(epochs=1, noise=[(0, torch.tensor(0.5))]),
           TrainConfig(epochs=1, scheduler="paper", scheduler_kwargs={"milestones": {(1,): 2}})]
    for config, left_out in zip(odd, ("optimizer", "noise", "scheduler_kwargs")):
        record = Module(_model(), config).hparams["config"]
        assert left_out not in record and "lr" in record
        json.dumps(record)                                        # plain data, as a YAML/JSON logger needs


def test_auto_objective_of_a_model_without_forward_is_rollout():
    _, Module, _ = _lightning()
    model = build("stgcn", fake_schema(), 4, 4)
    assert Module(model, TrainConfig(epochs=1, objective="auto")).config.objective == "rollout"


def test_without_a_config_the_module_takes_the_defaults_and_calls_the_models_forward():
    _, Module, _ = _lightning()
    model = _model()
    module = Module(model)
    assert module.config == TrainConfig(epochs=1)               # grad_clip=1.0 among them
    batch = next(iter(DataLoader(_windows(), batch_size=4)))
    with torch.no_grad():
        assert torch.equal(module(batch), model(batch))         # the one-step forward, not a forecast
    assert "objective='rollout'" in repr(Module(model, TrainConfig(epochs=1, objective="rollout")))


def test_a_model_that_rebuilds_its_inputs_trains_with_its_feedback():
    _, Module, _ = _lightning()
    model = _model(4, 2, derived="velocity")
    batch = next(iter(DataLoader(_windows(), batch_size=4)))
    batch.y = batch.y[..., :2]                                   # the predicted features only
    loss = Module(model, TrainConfig(epochs=1)).training_step(batch, 0)
    expected, _ = batch_loss(StepModule(model), head_of(model), batch, "teacher_forcing", feedback=feedback_of(model))
    assert torch.allclose(loss, expected)


def test_the_ignored_point_loss_warns_once_not_every_batch():
    _, Module, _ = _lightning()
    model = StructuralRNN(fake_schema(), 2, 2, edge_hidden=4, node_hidden=4, head="gaussian")
    module = Module(model, TrainConfig(epochs=1, loss="l1"))
    batch = fake_st_data(4, 5, 2, horizon=2, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        module.loss(batch)
        module.loss(batch)
    assert sum("point loss of a deterministic head" in str(w.message) for w in seen) == 1


def test_rollout_on_class_labels_is_refused():
    _, Module, _ = _lightning()
    batch = fake_st_data(6, 5, 4, classes=3, generator=torch.Generator().manual_seed(0))
    module = Module(_model(4, 3), TrainConfig(epochs=1, objective="rollout"))
    with pytest.raises(ValueError, match="objective='rollout' forecasts values, but the targets are class labels"):
        module.loss(batch)


def test_noise_follows_the_schedule_at_the_global_step_and_only_under_a_trainer():
    L, Module, _ = _lightning()
    windows = _windows()
    model = _model()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].x.clone()) if m.training else None)
    config = TrainConfig(epochs=2, noise=[(0, 0.0), (1, 5.0)], optimizer="sgd", lr=1e-4)
    _trainer(L, max_epochs=2, limit_val_batches=0).fit(Module(model, config), DataLoader(windows, batch_size=4))
    assert len(seen) == 2
    assert not torch.equal(seen[0], seen[1])                    # no noise at step 0, std 5 at step 1
    assert (seen[1] - seen[0]).abs().max() > 1.0
    batch = next(iter(DataLoader(windows, batch_size=4)))       # outside a Trainer: no noise
    loss = Module(model, TrainConfig(epochs=1, noise=5.0)).training_step(batch, 0)
    assert torch.allclose(loss, batch_loss(StepModule(model), head_of(model), batch, "teacher_forcing")[0])


def test_losses_on_the_progress_bar_test_loss_and_the_trainers_epochs_in_checkpoints():
    L, Module, _ = _lightning()
    windows = _windows()
    model = _model()
    module = Module(model, TrainConfig(epochs=5, node_type_loss=True))
    trainer = _trainer(L)
    trainer.fit(module, DataLoader(windows, batch_size=4), DataLoader(windows, batch_size=4))
    assert {"train_loss", "val_loss"} <= set(trainer.progress_bar_metrics)
    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["srnn_pyg_schedule_epochs"] == 1          # the Trainer's max_epochs, not config.epochs
    scores = trainer.test(module, DataLoader(windows, batch_size=4), verbose=False)[0]
    batch = next(iter(DataLoader(windows, batch_size=4)))
    plain, _ = batch_loss(StepModule(model), head_of(model), batch, "teacher_forcing")   # tested as fit validates
    plain = plain.detach()
    assert set(scores) == {"test_loss"} and scores["test_loss"] == pytest.approx(float(plain), rel=1e-5)
    fresh = Module(model, TrainConfig(epochs=5, node_type_loss=True))   # outside a Trainer
    assert torch.allclose(fresh.test_step(batch, 0).detach(), plain)


def test_predict_uses_the_configured_horizon_before_the_targets_length():
    _, Module, _ = _lightning()
    batch = next(iter(DataLoader(_windows(H=2), batch_size=4)))
    assert Module(_model(), TrainConfig(epochs=1, horizon=3)).predict_step(batch, 0).shape[1] == 3
    assert Module(_model(), TrainConfig(epochs=1)).predict_step(batch, 0).shape[1] == 2


def test_an_unlimited_max_epochs_keeps_the_configs_schedule_length():
    L, Module, _ = _lightning()
    trainer = _trainer(L, max_epochs=-1, max_steps=1)
    trainer.fit(Module(_model(), TrainConfig(epochs=3, scheduler="cosine")), DataLoader(_windows(), batch_size=4))
    assert trainer.lr_scheduler_configs[0].scheduler.T_max == 3


def test_only_trainable_parameters_are_optimised():
    _, Module, _ = _lightning()
    model = _model()
    frozen = next(model.parameters())
    frozen.requires_grad_(False)
    opt = Module(model).configure_optimizers()
    assert all(p is not frozen for group in opt.param_groups for p in group["params"])
    model.trainable = False                                     # a model that says it learns nothing
    with pytest.raises(ValueError, match="has no trainable parameters"):
        Module(model).configure_optimizers()


def test_the_trainers_clip_value_and_algorithm_replace_the_configs(monkeypatch):
    _, Module, _ = _lightning()
    module = Module(_model(), TrainConfig(epochs=1, grad_clip=0.7))
    calls = []
    monkeypatch.setattr(module, "clip_gradients", lambda opt, **kw: calls.append(kw))
    module.configure_gradient_clipping(None)
    module.configure_gradient_clipping(None, 0.2, "value")
    assert calls == [dict(gradient_clip_val=0.7, gradient_clip_algorithm=None),
                     dict(gradient_clip_val=0.2, gradient_clip_algorithm="value")]


def test_loaders_pin_memory_as_asked_and_the_padded_training_loader_shuffles():
    _, _, Data = _lightning()
    windows = _windows()
    assert Data(windows, batch_size=2).kwargs["pin_memory"] == torch.cuda.is_available()
    for asked in (True, False):                                  # the user's choice, whatever the machine
        assert Data(windows, batch_size=2, pin_memory=asked).kwargs["pin_memory"] is asked
    padded = Data(windows, windows, pad=True, batch_size=2)
    assert isinstance(padded.train_dataloader().sampler, torch.utils.data.RandomSampler)
    assert isinstance(padded.val_dataloader().sampler, torch.utils.data.SequentialSampler)
    assert Data([], batch_size=2).schema is None
    dm = Data(windows, batch_size=4, exclude_keys=["y_weight"])
    assert next(iter(dm.train_dataloader())).num_graphs == 4


class _Splits:
    """A registered-dataset stand-in for STDataModule.from_dataset: records how each split was opened."""
    splits = ("train", "val", "test", "extra")
    present = ("train", "val", "extra")

    @classmethod
    def has_split(cls, split, **extra):
        return split in cls.present

    @classmethod
    def open(cls, split, train=None, **opts):
        windows = _windows(2)
        for w in windows:
            w.split, w.opened_with = split, dict(opts, train=train)
        return windows


def test_from_dataset_opens_each_split_from_the_training_one_and_passes_the_options():
    _, _, Data = _lightning()
    dm = Data.from_dataset(_Splits, splits=("train", "extra", "test"), seed=5, obs=4, pad=True, batch_size=1,
                           loader_kwargs=dict(drop_last=True))
    assert dm.train_dataset[0].split == "train" and dm.val_dataset[0].split == "extra"
    assert dm.test_dataset is None                               # a split the data lacks is left out
    assert dm.val_dataset[0].opened_with["train"] is dm.train_dataset
    assert dm.train_dataset[0].opened_with["seed"] == 5 and dm.pad and dm.kwargs["drop_last"] is True
    assert Data.from_dataset(_Splits, splits=("train",)).val_dataset is None
    with pytest.raises(ValueError, match="'splits' must be a tuple of 1 to 3 split names"):
        Data.from_dataset(_Splits, splits=("train", "val", "test", "extra"))
    both = Data.from_dataset(_Splits, splits=("train", "val", "extra"))
    assert both.val_dataset[0].split == "val" and both.test_dataset[0].split == "extra"


# ------------------------------------------------------------------------------------------ geometry.py
def _about(axis, angle):
    return torch.nn.functional.normalize(torch.tensor(axis, dtype=torch.float64), dim=-1) * angle


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_rotation_matrices_keep_the_dtype_of_the_exponential_maps(dtype):
    r = torch.tensor([[0.1, -0.2, 0.3]], dtype=dtype)
    assert expmap_to_rotmat(r).dtype == dtype
    assert euler_to_rotmat(r).dtype == dtype


def test_shapes_that_only_look_right_are_refused():
    with pytest.raises(ValueError, match=r"rotmat_to_euler: 'R' must be \[\.\.\., 3, 3\] \(got \[2, 3\]\)"):
        rotmat_to_euler(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"expmap_to_rotmat: 'r' must be \[\.\.\., 3\] \(got \[\]\)"):
        expmap_to_rotmat(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"euler_to_rotmat: 'e' must be \[\.\.\., 3\]"):
        euler_to_rotmat(torch.zeros(2, 4))


def test_an_integer_pose_is_refused_under_the_poses_own_name():
    with pytest.raises(TypeError, match=r"expmap_to_euler: 'pose' must be a floating-point tensor"):
        expmap_to_euler(torch.zeros(2, 6, dtype=torch.long))


@pytest.mark.parametrize("axis", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 2, 0), (0, -1, 3), (2, 0, -1)])
def test_the_log_map_past_a_quarter_turn_about_axes_with_zero_components(axis):
    # beyond pi / 2 the axis comes from the symmetric part: its largest diagonal entry, never a zero one
    for angle in (2.0, 3.0, math.pi - 1e-3):
        r = _about(axis, angle)
        assert torch.allclose(rotmat_to_expmap(expmap_to_rotmat(r)), r, atol=1e-9)


def test_the_log_map_has_finite_gradients_at_the_identity():
    R = torch.eye(3, dtype=torch.float64, requires_grad=True)
    rotmat_to_expmap(R).sum().backward()
    assert torch.isfinite(R.grad).all()
    # d r / d R at the identity: r = vee((R - R^T) / 2), so the gradient of sum(r) is skew
    assert torch.allclose(R.grad, -R.grad.T) and R.grad[1, 0] == pytest.approx(0.5)
    r = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    expmap_to_rotmat(r)[0, 1].backward()                        # R[0, 1] = -r_z to first order
    assert torch.allclose(r.grad, torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64))


def test_euler_angles_just_off_gimbal_lock_are_no_lock():
    for e2 in (math.pi / 2 - 1e-4, -(math.pi / 2 - 1e-4)):
        e = torch.tensor([0.4, e2, -0.7], dtype=torch.float64)
        R = euler_to_rotmat(e)
        assert R[0, 2].abs() < 1.0
        assert torch.allclose(rotmat_to_euler(R), e, atol=1e-6)


def test_at_gimbal_lock_e3_is_zero_whatever_rounding_left_in_the_first_row():
    # R[0, 2] = 1 exactly, so R[0, 0] and R[0, 1] are rounding noise: atan2 of them would be any angle
    R = euler_to_rotmat(torch.tensor([0.3, -math.pi / 2, 0.0], dtype=torch.float64))
    R[0, 0], R[0, 1], R[0, 2] = -1e-17, 1e-17, 1.0
    e = rotmat_to_euler(R)
    assert e[2] == 0.0 and e[1] == -math.pi / 2
    assert e[0] == pytest.approx(math.atan2(1e-17, 1.0), abs=1e-30)
