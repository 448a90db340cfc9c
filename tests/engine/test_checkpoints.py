"""srnn_pyg.engine.checkpoints and files: checkpoints written by fit, model
persistence (save_model/load_model from registry_name + model_args) and
atomic writes."""
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
    with pytest.raises(ValueError, match="not an srnn_pyg"):
        load_model(tmp_path / "other.pt")


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
    """Checkpoints written before the model record (a build 'spec') rebuild too."""
    model = srnn(springs[0].schema, residual=True).eval()
    spec = {"name": "srnn", "schema": springs[0].schema.to_dict(), "in_channels": 4, "out_channels": 4,
            "kwargs": {**SMALL, "residual": True}}
    torch.save({"format": "srnn_pyg.checkpoint", "version": 1, "model": model.state_dict(), "spec": spec},
               tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    batch = next(iter(DataLoader(springs[1], batch_size=8)))
    with torch.no_grad():
        assert torch.equal(loaded.forecast(batch, 3), model.forecast(batch, 3))
