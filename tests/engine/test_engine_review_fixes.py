"""Review fixes of the engine: best.pt never holds another epoch than the best
its run records, plain meta and epoch records, set-up checks before an old
run is replaced, resume=True on a run without last.pt, a diverging model in
compare, a scalar monitor, and the types of TrainConfig's switches."""
import datetime
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from engine_helpers import run, srnn

import srnn_pyg.engine.loop as loop
from srnn_pyg.engine import TrainConfig, TrainingDivergedError, evaluate, load_checkpoint, load_model


def scripted(values):
    """A val_score returning the next of ``values`` at each call (the epoch's score), as ``val_s``."""
    values = list(values)

    def score(collected):
        return {"s": values.pop(0)}
    return score


def selected(springs, tmp, scores, **kw):
    """``run`` selecting on the scripted ``val_s``."""
    return run(srnn(springs[0].schema), springs, tmp, monitor="val_s", val_score=scripted(scores), **kw)


def keep_best_pt(tmp, copies):
    """A callback copying best.pt after each epoch to ``copies[epoch]``."""
    def cb(record):
        dest = tmp.parent / f"best-after-{record['epoch']}.pt"
        shutil.copy(tmp / "best.pt", dest)
        copies[record["epoch"]] = dest
    return cb


def weights_equal(model, state):
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def files_of(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


# ------------------------------------------------------------------ 1. best.pt
def test_best_pt_is_written_before_last_pt(springs, tmp_path, monkeypatch):
    order, real = [], loop.write_checked

    def spy(obj, path):
        order.append((obj["epoch"], path.name))
        return real(obj, path)
    monkeypatch.setattr(loop, "write_checked", spy)
    selected(springs, tmp_path / "r", [3.0, 1.0])
    assert order == [(1, "best.pt"), (1, "last.pt"), (2, "best.pt"), (2, "last.pt")]


def test_a_crash_between_best_and_last_is_resumed_to_consistent_files(springs, tmp_path, monkeypatch):
    out, real = tmp_path / "r", loop.write_checked

    def dies_before_last_of_epoch_2(obj, path):
        if obj["epoch"] == 2 and path.name == "last.pt":
            raise KeyboardInterrupt
        return real(obj, path)
    monkeypatch.setattr(loop, "write_checked", dies_before_last_of_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        selected(springs, out, [3.0, 1.0], epochs=3)
    assert load_checkpoint(out / "best.pt")["epoch"] == 2 and load_checkpoint(out / "last.pt")["best_epoch"] == 1
    monkeypatch.setattr(loop, "write_checked", real)
    model = srnn(springs[0].schema)
    with pytest.warns(UserWarning, match="did not reproduce"):     # the retrained epoch 2 scores worse now
        result = run(model, springs, out, epochs=3, resume=True, restore_best=True, monitor="val_s",
                     val_score=scripted([5.0, 4.0]))
    best = load_checkpoint(out / "best.pt")
    assert result.best_epoch == best["epoch"] == json.loads((out / "result.json").read_text())["best_epoch"] == 3
    assert weights_equal(model, best["model"])


def test_resume_rewrites_a_best_pt_older_than_the_recorded_best(springs, tmp_path):
    out, copies = tmp_path / "r", {}
    selected(springs, out, [3.0, 1.0], callbacks=[keep_best_pt(out, copies)])
    shutil.copy(copies[1], out / "best.pt")             # as a crash between last.pt and best.pt left it
    model = srnn(springs[0].schema)
    with pytest.warns(UserWarning, match="rewritten"):
        result = run(model, springs, out, epochs=2, resume=True, restore_best=True, monitor="val_s",
                     val_score=scripted([]))
    last = load_checkpoint(out / "last.pt")
    assert result.best_epoch == 2 and load_checkpoint(out / "best.pt")["epoch"] == 2
    assert weights_equal(model, last["model"]) and weights_equal(load_model(out), last["model"])


def test_restore_best_refuses_a_best_pt_of_another_epoch(springs, tmp_path):
    out, copies = tmp_path / "r", {}
    selected(springs, out, [3.0, 1.0, 2.0], epochs=3, callbacks=[keep_best_pt(out, copies)])
    shutil.copy(copies[1], out / "best.pt")             # epoch 1's weights; last.pt records epoch 2 as the best
    with pytest.raises(ValueError, match=r"restore_best.*epoch 1.*epoch 2"):
        run(srnn(springs[0].schema), springs, out, epochs=3, resume=True, restore_best=True, monitor="val_s",
            val_score=scripted([]))
    with pytest.warns(UserWarning, match="forgotten"):
        result = run(srnn(springs[0].schema), springs, out, epochs=4, resume=True, monitor="val_s",
                     val_score=scripted([9.0]))
    assert result.best_epoch == load_checkpoint(out / "best.pt")["epoch"] == 4


def test_resume_from_another_folder_brings_its_best_pt(springs, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    selected(springs, a, [3.0, 1.0, 2.0], epochs=3)
    model = srnn(springs[0].schema)
    result = run(model, springs, b, epochs=3, resume=a / "last.pt", restore_best=True, monitor="val_s",
                 val_score=scripted([]))
    assert result.best_epoch == load_checkpoint(b / "best.pt")["epoch"] == 2
    assert weights_equal(model, load_checkpoint(a / "best.pt")["model"])


# ------------------------------------------------------- 2. meta and records
@pytest.mark.parametrize("value, kind", [(datetime.date(2020, 1, 1), "date"), (object(), "object"),
                                         ({1, 2}, "set"), (lambda: 0, "function")])
def test_meta_that_is_not_plain_data_is_refused_up_front(value, kind):
    with pytest.raises(ValueError, match=rf"'meta'.*meta\['x'\]\['y'\] is a {kind}"):
        TrainConfig(epochs=1, meta={"x": {"y": value}})


def test_numpy_meta_and_numpy_records_are_saved_as_plain_values(springs, tmp_path):
    assert TrainConfig(epochs=1, meta={"a": np.zeros(2), "b": np.float32(0.5)}).meta == {"a": [0.0, 0.0], "b": 0.5}

    def add(record):
        record["per_node"] = np.array([1.0, 2.0])
        record["count"] = np.int64(3)
    result = run(srnn(springs[0].schema), springs, tmp_path / "r", meta={"a": np.arange(2)}, callbacks=[add])
    ckpt = load_checkpoint(tmp_path / "r" / "last.pt")
    assert ckpt["meta"] == {"a": [0, 1]} and ckpt["history"][0]["per_node"] == [1.0, 2.0]
    assert json.loads((tmp_path / "r" / "result.json").read_text())["history"][1]["count"] == 3
    assert result.history[1]["per_node"] == [1.0, 2.0]


def test_a_record_value_of_another_kind_is_refused_naming_its_key(springs, tmp_path):
    def add(record):
        record["when"] = datetime.date(2020, 1, 1)
    with pytest.raises(TypeError, match=r"'when'.*date"):
        run(srnn(springs[0].schema), springs, tmp_path / "r", callbacks=[add])
    assert load_checkpoint(tmp_path / "r" / "last.pt")["epoch"] == 1      # the epoch's checkpoint reads back


# -------------------------------------------------------- 3. and 4. out_dir
@pytest.mark.parametrize("bad", [dict(tbptt=5, objective="rollout"),
                                 dict(scheduler="step", scheduler_kwargs={"nope": 1})])
def test_overwrite_keeps_the_old_run_when_a_set_up_check_fails(springs, tmp_path, bad):
    out = tmp_path / "r"
    run(srnn(springs[0].schema), springs, out, epochs=1)
    before = files_of(out)
    with pytest.raises((ValueError, TypeError)):
        run(srnn(springs[0].schema), springs, out, epochs=1, overwrite=True, **bad)
    assert files_of(out) == before


def test_resume_true_on_a_run_without_last_pt_is_refused(springs, tmp_path):
    out = tmp_path / "r"
    run(srnn(springs[0].schema), springs, out, epochs=1)
    (out / "last.pt").unlink()
    before = files_of(out)
    with pytest.raises(ValueError, match=r"resume=True.*without one.*overwrite=True"):
        run(srnn(springs[0].schema), springs, out, epochs=1, resume=True)
    assert files_of(out) == before
    with pytest.warns(UserWarning, match="starting a new run"):
        run(srnn(springs[0].schema), springs, out, epochs=2, resume=True, overwrite=True)
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


# ------------------------------------------------------------------ 5. compare
def test_compare_makes_an_error_row_of_a_diverging_model(tmp_path, capsys, monkeypatch):
    import srnn_pyg.cli.training as training
    from srnn_pyg.cli import main
    real = training._fit_one

    def node_lstm_diverges(name, *a, **kw):
        if name == "node_lstm":
            raise TrainingDivergedError("fit: training diverged at epoch 1, step 1: the training loss became nan")
        return real(name, *a, **kw)
    monkeypatch.setattr(training, "_fit_one", node_lstm_diverges)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "cmp"
    argv = ["compare", "--models", "srnn,node_lstm", "--trainer.epochs", "1", "--out_dir", str(out), "--data",
            "springs", "--data.num_graphs", "8", "--data.obs", "6", "--data.horizon", "3", "--batch_size", "8",
            "--hidden", "8", "--trainer.device", "cpu", "--threads", "1", "--no-progress"]
    assert main(argv) == 1
    assert "node_lstm failed: fit: training diverged" in capsys.readouterr().err
    table = (out / "compare.md").read_text()
    assert "| srnn |" in table and "| node_lstm |" in table and (out / "srnn" / "config.yaml").is_file()


# ------------------------------------------------------------------ 6. monitor
def test_a_list_metric_as_monitor_is_refused(springs, tmp_path):
    with pytest.raises(ValueError, match=r"'monitor'.*'val_mse_per_step'"):
        run(srnn(springs[0].schema), springs, tmp_path / "r", monitor="val_mse_per_step")
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------- 7. the types
@pytest.mark.parametrize("name", ["compile", "overwrite", "progress", "distributed", "restore_best"])
@pytest.mark.parametrize("value", ["false", 1, 0, None])
def test_switches_must_be_bools(name, value):
    with pytest.raises(ValueError, match=rf"'{name}' must be True or False \(got {value!r}\)"):
        TrainConfig(epochs=1, **{name: value})


@pytest.mark.parametrize("value", [1, 0])
def test_amp_is_not_an_int(value):
    with pytest.raises(ValueError, match=rf"'amp'.*got {value}"):
        TrainConfig(epochs=1, amp=value)


@pytest.mark.parametrize("bad", ["mse", 3, ["mse", 3]])
def test_metrics_must_be_a_list_of_names(springs, bad):
    with pytest.raises(ValueError, match=r"TrainConfig: 'metrics'"):
        TrainConfig(epochs=1, metrics=bad)
    model = srnn(springs[0].schema)
    from torch_geometric.loader import DataLoader
    with pytest.raises(ValueError, match=r"evaluate: 'metrics'"):
        evaluate(model, DataLoader(springs[1], batch_size=8), metrics=bad)


@pytest.mark.parametrize("field, value", [("out_dir", ""), ("resume", ""), ("init_from", ""), ("out_dir", 3),
                                          ("resume", 1), ("resume", 3.5), ("monitor", ""), ("monitor", 3)])
def test_empty_or_mistyped_paths_are_refused(field, value):
    with pytest.raises(ValueError, match=rf"'{field}'.*got {value!r}"):
        TrainConfig(epochs=1, **{field: value})


def test_bools_and_paths_still_accepted(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = TrainConfig(epochs=1, compile=False, amp="bf16", out_dir=tmp_path, resume=False, metrics=("mse",))
    assert c.metrics == ["mse"] and c.resume is False


def test_a_seed_beyond_64_bits_is_refused_up_front():
    """seed=2**70 was accepted and failed inside fit with torch's 'Overflow when unpacking long long'."""
    with pytest.raises(ValueError, match=r"TrainConfig: 'seed' must be an int in \[0, 2\*\*63\) "
                                         r".*got 1180591620717411303424"):
        TrainConfig(epochs=1, seed=2 ** 70)
    assert TrainConfig(epochs=1, seed=2 ** 63 - 1).seed == 2 ** 63 - 1
