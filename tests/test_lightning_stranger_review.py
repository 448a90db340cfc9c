"""Lightning as a newcomer meets it: the paper schedule's steps, resume, clear errors, warnings for the
TrainConfig fields it does not read, and the docs' snippets (docs/lightning.md), scaled down."""
import re
import warnings
from pathlib import Path

import pytest
import torch
from torch_geometric.loader import DataLoader

pytest.importorskip("lightning")

import lightning as L  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402

from srnn_pyg.datasets import Springs  # noqa: E402
from srnn_pyg.engine import TrainConfig  # noqa: E402
from srnn_pyg.lightning import SRNNLightningModule, STDataModule  # noqa: E402
from srnn_pyg.models import StructuralRNN, build  # noqa: E402
from srnn_pyg.testing import fake_schema, fake_st_data  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "lightning.md"


def _springs(n=4):
    return Springs(num_graphs=n, obs=4, horizon=2, split="train", seed=0)


def _model(schema, **kw):
    torch.manual_seed(0)
    return StructuralRNN(schema, 4, 4, edge_hidden=4, node_hidden=4, **kw)


def _trainer(epochs, root, **kw):
    return L.Trainer(accelerator="cpu", max_epochs=epochs, logger=False, enable_progress_bar=False,
                     enable_model_summary=False, default_root_dir=root, **kw)


def test_paper_scheduler_is_stepped_after_every_optimiser_step():
    """fit() steps the "paper" MultiStepLR (milestones in iterations) after each optimiser step; the module
    handed it to Lightning with interval="epoch", so its cuts at 1500 and 4500 steps came 1500 epochs late."""
    model = _model(_springs(2).schema, variant="paper")
    paper = SRNNLightningModule(model, TrainConfig(epochs=1, recipe="paper")).configure_optimizers()
    assert paper["lr_scheduler"]["interval"] == "step"
    cosine = SRNNLightningModule(model, TrainConfig(epochs=1, scheduler="cosine")).configure_optimizers()
    assert cosine["lr_scheduler"]["interval"] == "epoch"


def test_resume_with_more_epochs_refits_the_cosine_schedule(tmp_path):
    """Resumed to 4 epochs from a 2-epoch run, the restored cosine kept T_max=2 and rose back to the full rate."""
    train = _springs()
    config = TrainConfig(epochs=2, scheduler="cosine", lr=1.0)
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    _trainer(2, tmp_path, callbacks=[ckpt]).fit(SRNNLightningModule(_model(train.schema), config),
                                                DataLoader(train, batch_size=4))
    trainer = _trainer(4, tmp_path)
    with pytest.warns(UserWarning, match="resumed with max_epochs=4, the checkpoint's run had 2"):
        trainer.fit(SRNNLightningModule(_model(train.schema), config), DataLoader(train, batch_size=4),
                    ckpt_path=str(tmp_path / "last.ckpt"))
    assert trainer.lr_scheduler_configs[0].scheduler.T_max == 4
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)


def test_a_loaded_module_trained_anew_keeps_its_fresh_schedule(tmp_path):
    """load_from_checkpoint, then trainer.fit without ckpt_path: a new run, nothing to refit, no warning."""
    train = _springs()
    module = SRNNLightningModule(_model(train.schema), TrainConfig(epochs=2, scheduler="cosine", lr=1.0))
    module.on_load_checkpoint({"srnn_pyg_schedule_epochs": 2})       # what load_from_checkpoint calls
    trainer = _trainer(3, tmp_path, enable_checkpointing=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="SRNNLightningModule")
        trainer.fit(module, DataLoader(train, batch_size=4))
    assert trainer.lr_scheduler_configs[0].scheduler.T_max == 3


def test_nothing_to_train_is_a_clear_error():
    module = SRNNLightningModule(build("zero_velocity", _springs(2).schema, 4, 4))
    with pytest.raises(ValueError, match=r"ZeroVelocity has no trainable parameters.*trainer.test"):
        module.configure_optimizers()

    class Lazy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.LazyLinear(3)

        def forward(self, data):
            return self.lin(data.x)

    with pytest.raises(ValueError, match=r"first batch builds.*module.model\(next\(iter\(loader\)\)\)"):
        SRNNLightningModule(Lazy()).configure_optimizers()


def test_fit_only_fields_warn_and_defaults_do_not():
    schema = _springs(2).schema
    with pytest.warns(UserWarning, match=r"early_stopping=3, seed=7 are fit\(\)'s options"):
        SRNNLightningModule(_model(schema), TrainConfig(epochs=1, early_stopping=3, seed=7))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SRNNLightningModule(_model(schema), TrainConfig(epochs=1, lr=1e-2, scheduler="cosine"))


def test_point_loss_on_a_gaussian_head_warns_as_fit_does():
    model = StructuralRNN(fake_schema(), 2, 2, edge_hidden=4, node_hidden=4, head="gaussian")
    module = SRNNLightningModule(model, TrainConfig(epochs=1, loss="l1"))
    with pytest.warns(UserWarning, match="loss='l1' is the point loss of a deterministic head"):
        module.loss(fake_st_data(4, 5, 2, horizon=2, generator=torch.Generator().manual_seed(0)))


def test_predict_without_targets_needs_a_horizon():
    """Windows without 'y' were forecast 1 step, whatever the user expected."""
    batch = next(iter(DataLoader(_springs(2), batch_size=2)))
    del batch.y
    model = _model(_springs(2).schema)
    with pytest.raises(ValueError, match=r"no targets 'y'.*TrainConfig\(horizon=\.\.\.\)"):
        SRNNLightningModule(model).predict_step(batch, 0)
    assert SRNNLightningModule(model, TrainConfig(epochs=1, horizon=3)).predict_step(batch, 0).shape[1] == 3


def test_from_dataset_refuses_a_misspelt_split():
    """splits=("train", "valid") left validation out without a word."""
    with pytest.raises(ValueError, match=r"has no split 'valid' \(splits: train, val, test"):
        STDataModule.from_dataset("springs", splits=("train", "valid"), num_graphs=2)
    with pytest.raises(ValueError, match="'splits' must be a tuple of 1 to 3 split names"):
        STDataModule.from_dataset("springs", splits="train", num_graphs=2)


def test_docs_snippets_run_scaled_down(tmp_path, monkeypatch):
    """The complete run of docs/lightning.md, then its checkpoint snippet (which named a last.ckpt that the
    run never wrote and lacked its import), with 1000 systems and 20 epochs cut to 4 and 1."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    run, load = blocks[0], blocks[1]
    small = run.replace("num_graphs=1000", "num_graphs=4, obs=4, horizon=2").replace("max_epochs=20", "max_epochs=1")
    small = small.replace("edge_hidden=32, node_hidden=32", "edge_hidden=4, node_hidden=4")
    small = small.replace('accelerator="auto"', 'accelerator="cpu", logger=False, enable_progress_bar=False, '
                                                 'enable_model_summary=False')
    assert small.count("num_graphs=4") == 1 and small.count("max_epochs=1") == 1
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(small + "\n" + load, str(DOCS), "exec"), scope)   # noqa: S102
    assert type(scope["model"]) is StructuralRNN


def test_examples_doc_counts_the_quickstart_lines():
    """docs/examples.md said the quick start had 47 lines; it has 48."""
    root = DOCS.parent.parent
    stated = int(re.search(r"^(\d+) lines, in the order", (root / "docs" / "examples.md").read_text(), re.M).group(1))
    assert stated == len((root / "examples" / "quickstart.py").read_text().splitlines())


def test_a_data_module_of_windows_takes_the_schema_they_carry():
    from srnn_pyg.datasets import Springs
    from srnn_pyg.lightning import STDataModule
    train = Springs(num_graphs=4, obs=4, horizon=2, split="train", seed=0)
    windows = [train[i] for i in range(len(train))]
    module = STDataModule(windows, batch_size=2)
    assert module.schema is not None and module.schema == train.schema


def test_datamodule_refuses_split_names_it_does_not_have():
    # STDataModule(tr, val=va) used to pass val= on to the DataLoaders and drop the split
    windows = list(Springs(num_graphs=2, num_nodes=3, seed=0, num_windows=2))
    with pytest.raises(TypeError, match="val= is val_dataset="):
        STDataModule(windows, val=windows, batch_size=2)
    with pytest.raises(TypeError, match="shufle"):
        STDataModule(windows, shufle=True)
    dm = STDataModule(windows, val_dataset=windows, batch_size=2, num_workers=0, follow_batch=["x"])
    assert sum(b.num_graphs for b in dm.val_dataloader()) == len(windows)
