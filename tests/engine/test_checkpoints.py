"""srnn_pyg.engine.checkpoints and files: checkpoints written by fit, model
persistence (save_model/load_model from registry_name + model_args) and
atomic writes."""
import errno
import io
import json
import os
import pickle

import pytest
import torch
from engine_helpers import SMALL, run, srnn
from torch_geometric.loader import DataLoader

import srnn_pyg
from srnn_pyg.engine import atomic_save, atomic_write_text, load_checkpoint, load_model, save_model
from srnn_pyg.models import build


def test_checkpoint_contents_and_load_model(springs, tmp_path):
    model = srnn(springs[0].schema, residual=True)
    result = run(model, springs, tmp_path, scheduler="step")
    ckpt = load_checkpoint(tmp_path / "last.pt")
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "step", "best_score",
                "history", "model_record", "config"):
        assert key in ckpt
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}
    record = ckpt["model_record"]
    assert record["name"] == "srnn" and record["args"]["schema"] == springs[0].schema.to_dict()
    assert record["args"]["residual"] is True
    loaded = load_model(tmp_path)                                            # the directory: best.pt
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == result.best_epoch
    batch = next(iter(DataLoader(springs[1], batch_size=8)))
    model.load_state_dict(best["model"])
    model.eval()
    assert torch.allclose(loaded.forecast(batch, 3), model.forecast(batch, 3))


def test_models_built_by_hand_are_rebuilt_from_their_checkpoints(springs, tmp_path):
    from srnn_pyg.models import NodeLSTM
    model = NodeLSTM(springs[0].schema, 4, 4, hidden=8, residual=True)
    run(model, springs, tmp_path, epochs=1)
    loaded = load_model(tmp_path / "last.pt")
    assert repr(loaded) == repr(model) and loaded.residual


def _same_outputs(a, b, data, horizon=3):
    a.eval(), b.eval()
    with torch.no_grad():
        same_forecast = torch.equal(a.forecast(data, horizon), b.forecast(data, horizon))
        same_forward = not a.has_forward or torch.equal(a(data), b(data))
    return same_forecast and same_forward


def test_save_model_round_trips_hand_built_models(springs, tmp_path):
    from srnn_pyg.models import LSTM3LR, StructuralRNN
    schema = springs[0].schema
    batch = next(iter(DataLoader(springs[1], batch_size=8)))
    torch.manual_seed(0)
    lstm = LSTM3LR(schema, 4, 4, 5, hidden=8, num_layers=2, residual=True)     # num_nodes positional
    torch.manual_seed(0)
    net = StructuralRNN(schema, 4, 4, edge_hidden=6, node_hidden=10, edge_mlp=(6,), node_mlp=(10, 10),
                        edge_scope="edge", aggr="attention", residual=True, num_layers=2, dropout=0.2)
    for model in (lstm, net):
        path = save_model(model, tmp_path / f"{type(model).__name__}.pt")
        loaded = load_model(path)
        assert type(loaded) is type(model) and repr(loaded) == repr(model)
        assert loaded.model_args == model.model_args and not loaded.training
        assert _same_outputs(model, loaded, batch)
    assert srnn_pyg.save_model is save_model and srnn_pyg.load_model is load_model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LSTM3LR.pt", "StructuralRNN.pt"]   # no temps


def test_save_model_refuses_models_it_cannot_rebuild(tmp_path, springs):
    from engine_helpers import Probe
    with pytest.raises(ValueError, match="registered"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "lin.pt")
    with pytest.raises(ValueError, match="Probe is not a registered Forecaster"):
        save_model(Probe(), tmp_path / "probe.pt")
    from srnn_pyg.models import StructuralRNN

    class Sub(StructuralRNN):                        # inherits registry_name, is not registered itself
        pass
    with pytest.raises(ValueError, match="Sub is not a registered"):
        save_model(Sub(springs[0].schema, 4, 4, **SMALL), tmp_path / "sub.pt")
    model = srnn(springs[0].schema)
    model.model_args = {**model.model_args, "edge_mlp": object()}
    with pytest.raises(ValueError, match="'edge_mlp'"):
        save_model(model, tmp_path / "odd.pt")
    assert list(tmp_path.iterdir()) == []


def test_loading_runs_no_code(tmp_path):
    """Files are read with weights_only=True: a pickle that would call a
    function is refused, and nothing is called."""
    called = []

    class Evil:
        def __reduce__(self):
            return (called.append, ("ran",))

    buf = io.BytesIO()
    pickle.dump({"format": "srnn_pyg.model", "model": Evil()}, buf)
    (tmp_path / "evil.pt").write_bytes(buf.getvalue())
    for load in (load_model, load_checkpoint):
        with pytest.raises(ValueError, match="not a readable"):
            load(tmp_path / "evil.pt")
    assert called == []
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"'.*other.pt' is a something else file; expected an srnn_pyg.model file "
                                         r"\(a save_model file\)"):
        load_model(tmp_path / "other.pt")
    torch.save({"format": "srnn_pyg.model"}, tmp_path / "model.pt")       # the other kind names itself
    with pytest.raises(ValueError, match=r"is a srnn_pyg.model file; expected an srnn_pyg.checkpoint file \(a "
                                         r"checkpoint of fit: last.pt, best.pt\)"):
        load_checkpoint(tmp_path / "model.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="is a PyTorch file without a 'format' key naming one"):
        load_checkpoint(tmp_path / "list.pt")


@pytest.mark.parametrize("fail", ["save", "replace"])
def test_a_checkpoint_write_killed_midway_keeps_the_previous_one(springs, tmp_path, monkeypatch, fail):
    model = srnn(springs[0].schema)
    run(model, springs, tmp_path, epochs=1)
    # A temporary file left by a process killed while writing:
    (tmp_path / ".last.pt.tmp-1-dead").write_bytes(b"not a checkpoint")

    if fail == "save":
        real_save = torch.save

        def broken_save(obj, f, *a, **kw):
            f.write(b"half a checkpoint")                                   # then the "crash"
            raise OSError("disk full")
        monkeypatch.setattr(torch, "save", broken_save)
    else:
        real_replace = os.replace

        def broken_replace(src, dst):
            if str(dst).endswith(".pt"):
                raise OSError("killed before the rename")
            return real_replace(src, dst)
        monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        run(model, springs, tmp_path, epochs=2, resume=True)
    monkeypatch.undo()
    if fail == "save":
        assert torch.save is real_save

    assert load_checkpoint(tmp_path)["epoch"] == 1                          # best.pt
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    load_model(tmp_path / "last.pt")
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in leftovers if n.endswith(".pt")] == ["best.pt", "last.pt"]
    assert not any(".tmp-" in n for n in leftovers)                         # cleaned, stale one too

    again = run(model, springs, tmp_path, epochs=2, resume=True)            # resumes from epoch 1
    assert [r["epoch"] for r in again.history] == [1, 2]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2]


def test_atomic_save_never_exposes_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(2)}, path)

    def broken(obj, f, *a, **kw):
        f.write(b"junk")
        raise RuntimeError("interrupted")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError):
        atomic_save({"a": torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
    atomic_write_text("hello\n", tmp_path / "sub" / "t.txt")                 # parents are created
    assert (tmp_path / "sub" / "t.txt").read_text() == "hello\n"


def test_version_1_checkpoints_still_load(springs, tmp_path):
    """Checkpoints written before the model record (a build 'spec') rebuild too, with the
    defaults of their time (ReLU encoder, PyTorch's init: version 1)."""
    model = srnn(springs[0].schema, residual=True, linear_encoder=False, init="default").eval()
    spec = {"name": "srnn", "schema": springs[0].schema.to_dict(), "in_channels": 4, "out_channels": 4,
            "kwargs": {**SMALL, "residual": True}}
    torch.save({"format": "srnn_pyg.checkpoint", "version": 1, "model": model.state_dict(), "spec": spec},
               tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    batch = next(iter(DataLoader(springs[1], batch_size=8)))
    with torch.no_grad():
        assert torch.equal(loaded.forecast(batch, 3), model.forecast(batch, 3))


# ------------------------------------------------------------- integrity
def _saved(springs, tmp_path, **kw):
    model = srnn(springs[0].schema, **kw).eval()
    return model, save_model(model, tmp_path / "m.pt")


def test_checksum_catches_corruption_and_truncation(springs, tmp_path):
    from srnn_pyg.engine.checkpoints import MAGIC
    model, path = _saved(springs, tmp_path)
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10                       # one bit inside the weights
    (tmp_path / "flip.pt").write_bytes(bytes(flipped))
    (tmp_path / "cut.pt").write_bytes(data[:-100])
    for load in (load_model, load_checkpoint):
        with pytest.raises(ValueError, match=r"'.*flip\.pt' is corrupted: its SHA-256 checksum"):
            load(tmp_path / "flip.pt")
    with pytest.raises(ValueError, match=r"'.*cut\.pt' is truncated or was extended: the header promises"):
        load_model(tmp_path / "cut.pt")
    with pytest.raises(ValueError, match=r"'.*m\.pt' is truncated"):
        (tmp_path / "m.pt").write_bytes(data[:20])
        load_model(tmp_path / "m.pt")


def test_save_model_keeps_a_damaged_or_foreign_file_unless_told(springs, tmp_path):
    model, path = _saved(springs, tmp_path)
    again = srnn(springs[0].schema, seed=2).eval()
    save_model(again, path)                                 # a model file is replaced without a word
    assert all(torch.equal(a, b) for a, b in zip(load_model(path).state_dict().values(),
                                                 again.state_dict().values()))
    data = path.read_bytes()
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 0x10
    foreign = tmp_path / "notes.pt"
    torch.save({"weights": torch.ones(3)}, foreign)
    (tmp_path / "last.pt").write_bytes(data[: len(data) // 2])  # a checkpoint cut short, say
    path.write_bytes(bytes(damaged))
    cases = [(path, "is corrupted"), (tmp_path / "last.pt", "is truncated"), (foreign, "without a 'format' key")]
    for target, why in cases:
        before = target.read_bytes()
        with pytest.raises(ValueError, match=rf"save_model: '.*{target.name}' already exists and is not a model "
                                             rf"file of save_model \(.*{why}.*\); it is left as it is: .*"
                                             rf"overwrite=True"):
            save_model(model, target)
        assert target.read_bytes() == before
        save_model(model, target, overwrite=True)
        assert all(torch.equal(a, b) for a, b in zip(load_model(target).state_dict().values(),
                                                     model.state_dict().values()))
    with pytest.raises(ValueError, match="'overwrite' must be True or False"):
        save_model(model, path, overwrite="yes")
    (tmp_path / "empty.pt").write_bytes(b"")
    save_model(model, tmp_path / "empty.pt")                # an empty file holds nothing to keep
    assert load_model(tmp_path / "empty.pt").registry_name == model.registry_name


def test_files_without_a_checksum_still_load(springs, tmp_path):
    from srnn_pyg.engine.checkpoints import model_record
    model = srnn(springs[0].schema).eval()
    torch.save({"format": "srnn_pyg.model", "version": 1, "model_record": model_record(model),
                "model": model.state_dict()}, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))


def _forge(path, record, state):
    from srnn_pyg.engine.checkpoints import write_checked
    write_checked({"format": "srnn_pyg.model", "version": 1, "model_record": record, "model": state}, path)


def test_load_model_refuses_a_record_far_larger_than_its_weights(springs, tmp_path):
    from srnn_pyg.engine.checkpoints import model_record
    model = srnn(springs[0].schema)
    record = model_record(model)
    record["args"].update(edge_hidden=200_000, node_hidden=200_000)   # terabytes if built for real
    _forge(tmp_path / "huge.pt", record, model.state_dict())
    with pytest.raises(ValueError, match=r"records a 'srnn' model of \d+ bytes of weights but holds only "
                                         r"\d+; the record is corrupt"):
        load_model(tmp_path / "huge.pt")


def test_load_model_names_the_keys_that_do_not_fit(springs, tmp_path):
    from srnn_pyg.engine.checkpoints import model_record
    small, wide = srnn(springs[0].schema), build("srnn", springs[0].schema, 4, 4, **{**SMALL, "node_hidden": 12})
    state = dict(wide.state_dict())
    state.pop(next(iter(state)))
    _forge(tmp_path / "odd.pt", model_record(small), state)
    with pytest.raises(ValueError, match=r"do not fit the 'srnn' model its record builds: missing \S+; "
                                         r"\S+ \[\d+(, \d+)*\] vs \[\d+(, \d+)*\] in the file") as err:
        load_model(tmp_path / "odd.pt")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------ OS errors
def test_disk_full_names_the_path_and_keeps_the_old_file(springs, tmp_path, monkeypatch):
    model, path = _saved(springs, tmp_path)
    before = path.read_bytes()

    def full(obj, f, *a, **kw):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match=r"could not write '.*m\.pt': No space left on device \(errno 28\); "
                                      r"the previous file, if any, is unchanged") as err:
        save_model(model, path)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_permission_denied_and_missing_directories_name_the_path(springs, tmp_path, monkeypatch):
    model, path = _saved(springs, tmp_path)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=r"could not write '.*file/sub/x\.pt': "):
        save_model(model, tmp_path / "file" / "sub" / "x.pt")
    real_replace = os.replace

    def denied(src, dst):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(PermissionError, match=r"could not write '.*m\.pt': Permission denied"):
        save_model(model, path)
    monkeypatch.setattr(os, "replace", real_replace)
    load_model(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "m.pt"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_directory(springs, tmp_path):
    model, path = _saved(springs, tmp_path)
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match=r"could not write '.*m\.pt': Permission denied"):
            save_model(model, path)
    finally:
        tmp_path.chmod(0o700)
    load_model(path)


def test_fit_reports_unwritable_run_folders_and_metrics(springs, tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("a file where the run folder should go")
    with pytest.raises(OSError, match=r"could not create the run folder '.*taken': "):
        run(srnn(springs[0].schema), springs, tmp_path / "taken", epochs=1)
    from srnn_pyg.engine.files import MetricsLog
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"epoch": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"could not append to '.*metrics\.jsonl': No space left on device"):
        log.append({"epoch": 2})
    monkeypatch.undo()
    assert (tmp_path / "metrics.jsonl").read_text() == '{"epoch": 1}\n'    # the failed line is cut off


def test_records_saved_under_older_defaults_load_as_they_were_trained(springs, tmp_path):
    """Version 0.2 changed two defaults of the improved S-RNN (linear_encoder, init); a record
    saved before (no "defaults" key) rebuilds the model it was: ReLU encoder, PyTorch's init."""
    from srnn_pyg.engine.checkpoints import build_from_record, model_record
    schema = springs[0].schema
    new = srnn(schema)
    record = model_record(new)
    assert record["defaults"] == 2 and new.linear_encoder and new.init == "uniform"
    again = build_from_record(record)
    assert (again.linear_encoder, again.init) == (True, "uniform")
    old = {k: v for k, v in record.items() if k != "defaults"}               # as 0.1 wrote it
    built = build_from_record(old)
    assert (built.linear_encoder, built.init) == (False, "default")
    assert not any(b.pre_last_linear for b in built.layer.edge_rnns)
    # the math follows: the old model's weights give the old model's outputs after load_model
    torch.manual_seed(0)
    model_v1 = build("srnn", schema, 4, 4, **SMALL, linear_encoder=False, init="default").eval()
    v1 = model_record(model_v1)
    v1["args"] = {k: v for k, v in v1["args"].items() if k not in ("linear_encoder", "init")}
    v1.pop("defaults")
    _forge(tmp_path / "v1.pt", v1, model_v1.state_dict())
    loaded = load_model(tmp_path / "v1.pt").eval()
    with torch.no_grad():
        assert torch.equal(loaded(springs[0][0]), model_v1(springs[0][0]))
    # settings a record gave explicitly, and the paper variant's own, are kept
    kept = dict(old, args=dict(old["args"], linear_encoder=True))
    assert build_from_record(kept).linear_encoder is True
    paper = dict(old, args=dict(old["args"], variant="paper"))
    assert (build_from_record(paper).linear_encoder, build_from_record(paper).init) == (True, "uniform")
    preset = dict(old, args=dict(old["args"], preset="paper_motion", edge_hidden=8, node_hidden=8,
                                 edge_mlp=[8], node_mlp=[8]))
    assert build_from_record(preset).variant == "paper" and build_from_record(preset).init == "uniform"


def test_resume_compares_an_old_run_with_the_settings_it_had(springs, tmp_path):
    """A run saved by 0.1 (record without "defaults") resumes into a model built with its
    settings, and is refused, naming the keys, into a model with the 0.2 defaults."""
    from srnn_pyg.engine.checkpoints import load_checkpoint, record_differences, write_checked
    old_model = srnn(springs[0].schema, linear_encoder=False, init="default")
    run(old_model, springs, tmp_path, epochs=1)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    record = dict(ckpt["model_record"])
    record.pop("defaults")                                                   # as 0.1 wrote it
    record["args"] = {k: v for k, v in record["args"].items() if k not in ("linear_encoder", "init")}
    ckpt["model_record"] = record
    write_checked(ckpt, tmp_path / "last.pt")
    from srnn_pyg.engine.checkpoints import model_record
    diffs = record_differences(record, model_record(srnn(springs[0].schema)))
    assert sorted(d.split(" ")[0] for d in diffs) == ["args.init", "args.linear_encoder"], diffs
    assert record_differences(record, model_record(old_model)) == []
    again = run(srnn(springs[0].schema, linear_encoder=False, init="default"), springs, tmp_path, epochs=2,
                resume=True)
    assert [r["epoch"] for r in again.history] == [1, 2]
    with pytest.raises(ValueError, match="linear_encoder"):
        run(srnn(springs[0].schema), springs, tmp_path, epochs=3, resume=True)
