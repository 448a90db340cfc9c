"""The Lightning wrapper trains what engine.fit trains: the same objective and loss."""
import importlib
import sys

import pytest
import torch
from torch_geometric.loader import DataLoader

pytest.importorskip("lightning")

import lightning as L  # noqa: E402

from srnn_pyg.datasets import Springs  # noqa: E402
from srnn_pyg.engine import TrainConfig, evaluate  # noqa: E402
from srnn_pyg.engine.objectives import StepModule, batch_loss  # noqa: E402
from srnn_pyg.lightning import SRNNLightningModule, STDataModule  # noqa: E402
from srnn_pyg.models import StructuralRNN  # noqa: E402
from srnn_pyg.nn.heads import head_of  # noqa: E402
from srnn_pyg.testing import fake_st_data  # noqa: E402


def _springs(n=32, split="train", stats=None):
    return Springs(num_graphs=n, obs=10, horizon=5, split=split, seed=0, stats=stats)


def _model(schema, seed=0):
    torch.manual_seed(seed)
    return StructuralRNN(schema, 4, 4, edge_hidden=8, node_hidden=8)


def _trainer(**kw):
    opts = dict(accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False,
                enable_progress_bar=False, enable_model_summary=False)
    return L.Trainer(**{**opts, **kw})


def test_two_epochs_lower_the_library_loss():
    train = _springs()
    val = _springs(8, "val", stats=train.stats)
    model = _model(train.schema)
    loader = DataLoader(train, batch_size=32)
    before = evaluate(model, loader, metrics=["loss"])["loss"]
    module = SRNNLightningModule(model, TrainConfig(epochs=2, lr=1e-2))
    trainer = _trainer()
    trainer.fit(module, datamodule=STDataModule(train, val, batch_size=8))
    after = evaluate(model, loader, metrics=["loss"])["loss"]
    assert after < 0.9 * before
    assert {"train_loss", "val_loss"} <= set(trainer.callback_metrics)
    opt = trainer.optimizers[0]                                 # the config's optimiser
    assert isinstance(opt, torch.optim.Adam) and opt.param_groups[0]["lr"] == 1e-2
    # val_loss is pooled over the epoch as evaluate() pools it
    final = evaluate(model, DataLoader(val, batch_size=3), metrics=["loss"])["loss"]
    assert float(trainer.callback_metrics["val_loss"]) == pytest.approx(final, rel=1e-5)


@pytest.mark.parametrize("objective", ["teacher_forcing", "rollout"])
def test_step_loss_is_the_library_objective(objective):
    train = _springs(6)
    batch = next(iter(DataLoader(train, batch_size=6)))
    model = _model(train.schema, seed=1)
    module = SRNNLightningModule(model, TrainConfig(epochs=1, objective=objective))
    loss = module.training_step(batch, 0).detach()
    expected, _ = batch_loss(StepModule(model), head_of(model), batch, objective)
    assert torch.allclose(loss, expected)
    scored = evaluate(model, [batch], metrics=["loss"], objective=objective)["loss"]
    assert float(loss) == pytest.approx(scored, rel=1e-5)
    assert torch.allclose(module.validation_step(batch, 0).detach(), expected.detach())
    assert module.predict_step(batch, 0).shape == batch.y.shape


def test_config_loss_and_scheduler_are_used():
    train = _springs(6)
    batch = next(iter(DataLoader(train, batch_size=6)))
    model = _model(train.schema)
    module = SRNNLightningModule(model, TrainConfig(epochs=1, loss="l1", scheduler="cosine", optimizer="sgd"))
    with torch.no_grad():
        inp = torch.cat([batch.x, batch.y], 1)
        data = batch.clone()
        data.x = inp[:, :-1]
        l1 = (model(data) - inp[:, 1:]).abs().mean()
    assert torch.allclose(module.loss(batch)[0], l1, atol=1e-6)
    model.head.huber_delta = 0.05                          # a Huber run keeps the head's own delta
    with torch.no_grad():
        err = model(data) - inp[:, 1:]
    huber = SRNNLightningModule(model, TrainConfig(epochs=1, loss="huber")).loss(batch)[0]
    assert torch.allclose(huber, torch.nn.functional.huber_loss(err, torch.zeros_like(err), delta=0.05), atol=1e-6)
    trainer = _trainer(max_epochs=3, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(module, DataLoader(train, batch_size=6))
    sched = trainer.lr_scheduler_configs[0].scheduler
    assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingLR) and sched.T_max == 3  # the Trainer's epochs
    assert isinstance(trainer.optimizers[0], torch.optim.SGD)


@pytest.mark.parametrize("monitor,mode,expected", [(None, None, "min"), ("val_accuracy", None, "max"),
                                                    ("val_f1", "min", "min"), ("val_score", "max", "max")])
def test_plateau_follows_the_monitor_direction(monitor, mode, expected):
    """Lightning hands ReduceLROnPlateau the raw monitored value: a maximised monitor needs mode='max'."""
    model = _model(_springs(4).schema)
    module = SRNNLightningModule(model, TrainConfig(epochs=1, scheduler="plateau", monitor=monitor, monitor_mode=mode))
    out = module.configure_optimizers()
    sched = out["lr_scheduler"]["scheduler"]
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau) and sched.mode == expected
    assert out["lr_scheduler"]["monitor"] == (monitor or "val_loss")


def test_checkpoint_rebuilds_the_model_without_arguments(tmp_path):
    train = _springs(8)
    model = _model(train.schema)
    module = SRNNLightningModule(model, TrainConfig(epochs=1, lr=5e-3, objective="rollout"))
    trainer = _trainer(max_epochs=1, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(train, batch_size=4))
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    again = SRNNLightningModule.load_from_checkpoint(path)
    assert type(again.model) is StructuralRNN and again.config.objective == "rollout" and again.config.lr == 5e-3
    batch = next(iter(DataLoader(train, batch_size=8)))
    model.eval()
    again.model.eval()
    with torch.no_grad():
        assert torch.equal(again.model.forecast(batch, 5), model.forecast(batch, 5))


def test_datamodule_from_a_registered_dataset_and_padding():
    dm = STDataModule.from_dataset("springs", batch_size=4, obs=10, horizon=5, num_graphs=8)
    assert dm.schema is not None and dm.val_dataset is not None and dm.test_dataset is not None
    batch = next(iter(dm.train_dataloader()))
    assert batch.num_graphs == 4 and batch.x.shape[1:] == (10, 4)
    windows = [fake_st_data(4, T, 3, horizon=2, generator=torch.Generator().manual_seed(T)) for T in (3, 5, 4)]
    padded = STDataModule(windows, windows, pad=True, batch_size=3)
    batch = next(iter(padded.val_dataloader()))
    assert batch.x.shape == (12, 5, 3) and batch.node_mask.sum().item() == 4 * (3 + 5 + 4)
    with pytest.raises(RuntimeError):                          # PyG's collation cannot batch them
        next(iter(STDataModule(windows, batch_size=3).train_dataloader()))


def test_bad_arguments():
    schema = _springs(2).schema
    with pytest.raises(TypeError, match="'model' must be a torch.nn.Module"):
        SRNNLightningModule("srnn")
    with pytest.raises(TypeError, match="'config' must be a TrainConfig"):
        SRNNLightningModule(_model(schema), config=3)
    from srnn_pyg.models import build
    with pytest.raises(ValueError, match="objective='teacher_forcing' does not apply"):
        SRNNLightningModule(build("stgcn", schema, 4, 4))
    for field in (dict(init_from="runs/x"), dict(validate_start=True)):   # fit()'s, not silently ignored
        with pytest.raises(ValueError, match=r"'init_from' and 'validate_start' are fit\(\)'s options"):
            SRNNLightningModule(_model(schema), TrainConfig(epochs=1, **field))


def test_missing_lightning_names_the_extra(monkeypatch):
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning"):
        monkeypatch.setitem(sys.modules, name, None)             # "not installed"
    monkeypatch.delitem(sys.modules, "srnn_pyg.lightning")
    with pytest.raises(ImportError, match=r"pip install 'srnn_pyg\[lightning\]'"):
        importlib.import_module("srnn_pyg.lightning")


def test_epoch_loss_pools_fractional_target_weights_as_evaluate_does():
    # batches weigh the epoch mean by their target weight, also when it is fractional (y_weight)
    train = _springs(8)
    g = torch.Generator().manual_seed(0)
    windows = []
    for w in _springs(7, "val", stats=train.stats):
        w.y_weight = 0.05 * torch.rand(w.y.size(0), w.y.size(-1), generator=g)   # sums of a few units per batch
        windows.append(w)
    model = _model(train.schema)
    trainer = _trainer()
    trainer.validate(SRNNLightningModule(model, TrainConfig(epochs=1)), DataLoader(windows, batch_size=3),
                     verbose=False)
    pooled = evaluate(model, DataLoader(windows, batch_size=3), metrics=["loss"])["loss"]
    assert float(trainer.callback_metrics["val_loss"]) == pytest.approx(pooled, rel=1e-5)


def test_lightning_module_resolves_auto_and_refuses_tbptt():
    pytest.importorskip("lightning")
    from srnn_pyg.engine import TrainConfig
    from srnn_pyg.lightning import SRNNLightningModule
    from srnn_pyg.models import StructuralRNN
    from srnn_pyg.testing import fake_schema
    model = StructuralRNN(fake_schema(), 3, 3, edge_hidden=4, node_hidden=4)
    assert SRNNLightningModule(model, TrainConfig(epochs=1, objective="auto")).config.objective == "teacher_forcing"
    with pytest.raises(ValueError, match="'tbptt' \\(got 4\\) is fit\\(\\)'s chunked training"):
        SRNNLightningModule(model, TrainConfig(epochs=1, tbptt=4))


def test_training_step_takes_node_type_loss_and_noise_p_and_checkpoints_keep_them(tmp_path):
    """The paper recipe's per-node-type loss and its noise share were ignored by the module (its loss was
    the plain mean), and momentum, noise_p and node_type_loss were not in its checkpoints."""
    train = _springs(6)
    batch = next(iter(DataLoader(train, batch_size=6)))
    model = _model(train.schema, seed=1)
    config = TrainConfig(epochs=1, node_type_loss=True, optimizer="sgd", momentum=0.5, noise_p=0.5)
    module = SRNNLightningModule(model, config)
    loss = module.training_step(batch, 0).detach()
    expected, _ = batch_loss(StepModule(model), head_of(model), batch, "teacher_forcing", node_type_loss=True)
    plain, _ = batch_loss(StepModule(model), head_of(model), batch, "teacher_forcing")
    assert torch.allclose(loss, expected) and not torch.allclose(loss, plain)
    assert torch.allclose(module.validation_step(batch, 0).detach(), plain.detach())   # validated as fit does
    trainer = _trainer(max_epochs=1, default_root_dir=tmp_path)
    trainer.fit(module, DataLoader(train, batch_size=6))
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    again = SRNNLightningModule.load_from_checkpoint(tmp_path / "last.ckpt")
    assert (again.config.momentum, again.config.noise_p, again.config.node_type_loss) == (0.5, 0.5, True)


def test_a_failed_fit_puts_truncate_gradient_back_on_the_cells():
    from srnn_pyg.nn.peephole import PeepholeLSTM
    train = _springs(8)
    torch.manual_seed(0)
    model = StructuralRNN(train.schema, 4, 4, edge_hidden=8, node_hidden=8, cell="peephole")
    cells = [m for m in model.modules() if isinstance(m, PeepholeLSTM)]
    assert cells and all(c.truncate_gradient is None for c in cells)

    class Boom(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args):
            assert all(c.truncate_gradient == 3 for c in cells)     # on while it trains
            raise RuntimeError("boom")

    module = SRNNLightningModule(model, TrainConfig(epochs=1, truncate_gradient=3))
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(max_epochs=1, callbacks=[Boom()]).fit(module, datamodule=STDataModule(train, batch_size=4))
    assert all(c.truncate_gradient is None for c in cells)          # put back after the crash
    module = SRNNLightningModule(model, TrainConfig(epochs=1, truncate_gradient=3))
    _trainer(max_epochs=1).fit(module, datamodule=STDataModule(train, batch_size=4))
    assert all(c.truncate_gradient is None for c in cells)          # and after a run that ends
