"""TrainConfig.init_from (a new run from a checkpoint's weights) and
TrainConfig.validate_start (the starting weights as epoch 0, eligible as the
best epoch): fine-tuning that is kept only where it beats its start."""
import json

import pytest
import torch
from engine_helpers import run, srnn, strip

from srnn_pyg.engine import TrainConfig, fit, load_checkpoint, save_model
from srnn_pyg.models import build
from torch_geometric.loader import DataLoader


def _frozen(params):
    """An optimiser that changes nothing: no epoch can beat the start (ties keep the earlier epoch)."""
    return torch.optim.SGD(params, lr=0.0)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture()
def first(springs, tmp_path):
    """A trained run: its folder and its best weights."""
    model = srnn(springs[0].schema)
    result = run(model, springs, tmp_path / "first", epochs=2, restore_best=True)
    return tmp_path / "first", _weights(model), result


def test_a_new_run_starts_from_the_checkpoint_and_keeps_it_when_training_does_not_beat_it(springs, tmp_path,
                                                                                          first):
    folder, best, result = first
    model = srnn(springs[0].schema, seed=7)                          # other weights: replaced by the checkpoint's
    again = run(model, springs, tmp_path / "tune", epochs=2, optimizer=_frozen, init_from=folder,
                restore_best=True)
    start = again.history[0]
    assert (start["epoch"], start["step"], start["train_loss"]) == (0, 0, None)
    assert start["val_loss"] == pytest.approx(result.best_score, rel=1e-12)   # the same weights, the same score
    assert [r["epoch"] for r in again.history] == [0, 1, 2]
    assert again.best_epoch == 0 and again.best_score == start["val_loss"]
    assert _same(_weights(model), best)                              # nothing beat the start: kept
    ckpt = load_checkpoint(tmp_path / "tune" / "best.pt")
    assert ckpt["epoch"] == 0 and _same(ckpt["model"], best)
    assert ckpt["config"]["init_from"] == str(folder / "best.pt") and ckpt["config"]["validate_start"] is True
    lines = [json.loads(s) for s in (tmp_path / "tune" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [0, 1, 2]
    # the optimiser, the history and the selection of the first run are not taken: a fresh optimiser at epoch 0
    assert load_checkpoint(folder / "best.pt")["optimizer"]["state"] != {} and ckpt["optimizer"]["state"] == {}


def test_fine_tuning_that_beats_the_start_is_kept(springs, tmp_path, first):
    folder, best, result = first
    model = srnn(springs[0].schema, seed=7)
    again = run(model, springs, tmp_path / "tune", epochs=3, lr=3e-3, init_from=folder / "best.pt",
                restore_best=True)
    assert again.best_epoch > 0 and again.best_score < again.history[0]["val_loss"]
    assert not _same(_weights(model), best)


def test_early_stopping_counts_from_the_start(springs, tmp_path, first):
    folder, _, _ = first
    again = run(srnn(springs[0].schema), springs, tmp_path / "tune", epochs=5, optimizer=_frozen,
                init_from=folder, early_stopping=1)
    assert [r["epoch"] for r in again.history] == [0, 1] and again.stopped_early and again.best_epoch == 0


@pytest.mark.parametrize("scheduler", [None, "cosine", "step"])
def test_validating_the_start_changes_no_training(springs, tmp_path, scheduler):
    """Epoch 0 leaves every generator and the schedule as they were: the
    trained weights and the epochs' records are those of the run without it."""
    common = dict(epochs=3, noise=0.05, scheduler=scheduler, early_stopping=5,
                  scheduler_kwargs=dict(step_size=1) if scheduler == "step" else {})
    plain, checked = srnn(springs[0].schema, dropout=0.2), srnn(springs[0].schema, dropout=0.2)
    ref = run(plain, springs, tmp_path / "plain", **common)
    res = run(checked, springs, tmp_path / "checked", validate_start=True, **common)
    assert _same(_weights(plain), _weights(checked))
    assert strip(res.history[1:]) == strip(ref.history)
    assert res.history[0]["epoch"] == 0 and res.best_epoch in (0, 1, 2, 3)


def test_a_run_interrupted_after_its_start_resumes_exactly(springs, tmp_path, first):
    folder, _, _ = first
    common = dict(epochs=3, lr=3e-3, init_from=folder, noise=0.05)
    full_model = srnn(springs[0].schema)
    full = run(full_model, springs, tmp_path / "full", **common)

    class Stop(Exception):
        pass

    def stop_at_start(record):
        if record["epoch"] == 0:
            raise Stop

    with pytest.raises(Stop):
        run(srnn(springs[0].schema), springs, tmp_path / "cut", callbacks=[stop_at_start], **common)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 0
    resumed_model = srnn(springs[0].schema, seed=3)
    resumed = run(resumed_model, springs, tmp_path / "cut", resume=True, **common)
    assert _same(_weights(full_model), _weights(resumed_model))
    assert strip(resumed.history) == strip(full.history)


def test_validate_start_without_init_from(springs, tmp_path):
    model = srnn(springs[0].schema)
    start = _weights(model)
    res = run(model, springs, tmp_path / "r", epochs=1, optimizer=_frozen, validate_start=True,
              restore_best=True)
    assert res.best_epoch == 0 and _same(_weights(model), start)
    # without an out_dir the best weights are kept in memory
    model = srnn(springs[0].schema)
    start = _weights(model)
    res = run(model, springs, None, epochs=1, optimizer=_frozen, validate_start=True, restore_best=True)
    assert res.best_epoch == 0 and _same(_weights(model), start)
    # off by default
    assert run(srnn(springs[0].schema), springs, None, epochs=1).history[0]["epoch"] == 1


def test_init_from_without_validation_data_starts_there_and_validates_nothing(springs, first):
    folder, best, _ = first
    model = srnn(springs[0].schema, seed=4)
    res = fit(model, DataLoader(springs[0], batch_size=8), None, epochs=1, optimizer=_frozen, init_from=folder,
              progress=False)
    assert [r["epoch"] for r in res.history] == [1] and _same(_weights(model), best)


def test_the_plateau_scheduler_counts_from_the_start(springs, tmp_path):
    """Epochs no better than the start are bad epochs for the plateau scheduler too."""
    tiny = dict(optimizer=lambda p: torch.optim.SGD(p, lr=1e-12), scheduler="plateau",
                scheduler_kwargs=dict(patience=0, factor=0.1), epochs=2)
    with_start = run(srnn(springs[0].schema), springs, tmp_path / "a", validate_start=True, **tiny)
    without = run(srnn(springs[0].schema), springs, tmp_path / "b", **tiny)
    assert with_start.history[2]["lr"] == pytest.approx(1e-13) and without.history[1]["lr"] == pytest.approx(1e-12)


def test_init_from_errors(springs, tmp_path, first):
    folder, best, _ = first
    other = build("srnn", springs[0].schema, 4, 4, edge_hidden=4, node_hidden=4)
    with pytest.raises(ValueError, match=r"fit: cannot start from '.*best\.pt' \(init_from\): it differs from "
                                         r"this run in .*edge_hidden.*\(saved vs current\)"):
        run(other, springs, tmp_path / "x", init_from=folder)
    with pytest.raises(FileNotFoundError, match=r"fit: 'init_from': checkpoint not found: '.*nowhere\.pt'"):
        run(srnn(springs[0].schema), springs, tmp_path / "y", init_from=tmp_path / "nowhere.pt")
    assert not (tmp_path / "y").exists()                                    # refused before anything is written
    with pytest.raises(ValueError, match=r"fit: 'init_from' \('.*first'\) is inside out_dir \('.*first'\): this "
                                         r"run would overwrite the checkpoint it starts from"):
        run(srnn(springs[0].schema), springs, folder, init_from=folder)
    assert load_checkpoint(folder / "best.pt")["epoch"] in (1, 2)
    with pytest.raises(ValueError, match=r"monitor='train_loss' has no value before training"):
        run(srnn(springs[0].schema), springs, tmp_path / "z", validate_start=True, monitor="train_loss")
    # a save_model file holds what init_from needs
    model = srnn(springs[0].schema)
    model.load_state_dict(best)
    save_model(model, tmp_path / "saved.pt")
    res = run(srnn(springs[0].schema, seed=2), springs, tmp_path / "w", epochs=1, optimizer=_frozen,
              init_from=tmp_path / "saved.pt")
    assert res.best_epoch == 0 and load_checkpoint(tmp_path / "w" / "best.pt")["config"]["init_from"].endswith(
        "saved.pt")
    with pytest.raises(ValueError, match=r"'validate_start=True' validates the starting weights, so it needs "
                                         r"a val_loader \(got None\)"):
        fit(srnn(springs[0].schema), DataLoader(springs[0], batch_size=8), None, epochs=1, validate_start=True,
            progress=False)
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match=r"'validate_start' must be None, True or False \(got "):
            TrainConfig(epochs=1, validate_start=bad)
    with pytest.raises(ValueError, match=r"'init_from' must be None or the path of a checkpoint"):
        TrainConfig(epochs=1, init_from=3)


def test_a_resumed_run_takes_its_own_weights_not_init_from(springs, tmp_path, first):
    folder, best, _ = first
    model = srnn(springs[0].schema)
    run(model, springs, tmp_path / "own", epochs=1)
    own = _weights(model)
    again = srnn(springs[0].schema, seed=9)
    res = run(again, springs, tmp_path / "own", epochs=1, resume=True, init_from=folder)
    assert _same(_weights(again), own) and not _same(own, best) and [r["epoch"] for r in res.history] == [1]
