"""Tests written after a hand-made mutation run of the code that keeps a user's saved files whole
(engine/files.py, engine/runfolder.py, engine/checkpoints.py, cli/runs.py): each fails on a mutant
that the rest of tests/engine and tests/cli let through.

Mutants killed here (the change, then the test that kills it):

* files.py, the temporary file made in the working folder instead of the target's:
  ``test_the_temporary_file_is_written_beside_its_target``.
* files.py, no fsync of the temporary file before the rename: ``test_a_failed_fsync_keeps_the_previous_file``.
* files.py, the folder not fsynced after the rename: ``test_the_rename_is_made_durable_by_syncing_the_folder``.
* files.py, ``remove_stale_temps`` removing every file's temporaries (``*.tmp-*``):
  ``test_stale_temps_of_the_named_files_only_are_removed``.
* files.py, ``MetricsLog.append`` not checking for a short write:
  ``test_a_line_cut_short_is_truncated_away`` (and ``test_a_line_whose_fsync_fails_is_truncated_away``
  for the truncation itself).
* files.py, ``MetricsLog.reset`` writing in place (``Path.write_text``): ``test_metrics_reset_is_atomic``.
* files.py, ``atomic_write_text`` encoding as ASCII: ``test_text_is_written_as_utf8``.
* checkpoints.py, the length check only catching truncation (``<`` for ``!=``):
  ``test_an_extended_file_is_named_as_such``.
* checkpoints.py, ``save_model``'s refusal to replace a checkpoint skipped, or made to look for model files
  only: ``test_save_model_never_replaces_a_training_checkpoint``.
* checkpoints.py, ``resumes_in`` true for ``resume=False`` or no out_dir:
  ``test_resumes_in_needs_a_resume_and_a_folder``.
* runfolder.py, ``reconcile_best`` calling a best.pt of the checkpoint's own epoch "ahead" (``>=``):
  ``test_a_best_pt_of_the_checkpoints_own_epoch_but_not_its_best_is_no_resume_ahead``.
* runfolder.py, a replaced run's best.pt counted (``own`` ignored):
  ``test_a_replaced_runs_best_pt_never_counts_as_the_resumed_runs``.
* runfolder.py, ``check_init_from`` refusing only ``init_from == out_dir``:
  ``test_init_from_inside_out_dir_is_refused_at_any_depth``.
* runfolder.py, ``resume=True`` without last.pt counted as resuming (init_from not checked):
  ``test_a_missing_init_from_is_refused_when_resume_true_starts_a_new_run``.
* runfolder.py, ``resume_path`` of a run folder without last.pt not refused, or resolved to its best.pt:
  ``test_resume_from_a_run_folder_is_its_last_pt_never_its_best``.
* runfolder.py, ``selection_changed`` comparing the monitor only, not its direction:
  ``test_a_monitor_of_the_other_direction_is_a_changed_selection``.
* cli/runs.py, ``prepare_out_dir``'s "not a srnn-pyg run" refusal skipped, or any YAML dict taken for a run
  config: ``test_overwrite_refuses_a_folder_whose_config_is_not_a_run``.
* cli/runs.py, a folder of user files only accepted without --overwrite:
  ``test_a_folder_holding_only_user_files_needs_overwrite``.
* cli/runs.py, ``tensorboard/`` not set aside by --overwrite:
  ``test_overwrite_sets_the_old_tensorboard_aside_and_drops_it_once_started``.
* cli/runs.py, ``RunGuard`` taking an unchanged marker for a started run; removing files the folder held
  before; not restoring a resumed run's config.yaml; not recognising atomic-write temporaries:
  ``test_a_failed_resume_gives_back_exactly_what_the_folder_held``.
* cli/runs.py, ``RunGuard`` removing an empty folder the user made:
  ``test_a_failed_run_keeps_the_empty_folder_the_user_made``.
* cli/runs.py, ``read_config`` accepting a config with only one of model and data:
  ``test_a_config_without_a_data_section_is_no_train_config``.
* cli/runs.py, ``_norm`` leaving tuples as they are: ``test_tuples_and_lists_of_the_same_values_do_not_contradict``.

Left alive as equivalent: runfolder.py ``_holding`` without its "not out/best.pt" condition (with
``own=True`` that file was already found not to hold the epoch; with ``own=False`` the source lies
outside ``out``).
"""
import errno
import json
from types import SimpleNamespace

import pytest

from srnn_pyg import STSchema
from srnn_pyg.cli.options import CLIError
from srnn_pyg.cli.runs import RunGuard, contradictions, prepare_out_dir, read_config
from srnn_pyg.engine import files
from srnn_pyg.engine.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, resumes_in, save_model, write_checked
from srnn_pyg.engine.files import MetricsLog, atomic_write, atomic_write_text, remove_stale_temps
from srnn_pyg.engine.runfolder import check_init_from, reconcile_best, resume_path, selection_changed

from engine_helpers import srnn


# -------------------------------------------------------------------------------------- files.py
def test_the_temporary_file_is_written_beside_its_target(tmp_path, monkeypatch):
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    target = tmp_path / "run" / "last.pt"
    seen = []

    def write(f):
        f.write(b"data")
        seen.extend(p.name for p in target.parent.iterdir())
    atomic_write(target, write)
    assert len(seen) == 1 and seen[0].startswith(".last.pt" + files.TMP_MARK)
    assert list(elsewhere.iterdir()) == []
    assert [p.name for p in target.parent.iterdir()] == ["last.pt"]


def test_a_failed_fsync_keeps_the_previous_file(tmp_path, monkeypatch):
    """The data is on disk before the rename: a file whose fsync fails never replaces the old one."""
    target = tmp_path / "best.pt"
    target.write_bytes(b"old")

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="best.pt"):
        atomic_write(target, lambda f: f.write(b"new"))
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_the_rename_is_made_durable_by_syncing_the_folder(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(files, "_fsync_dir", synced.append)
    atomic_write_text("x", tmp_path / "sub" / "a.txt")
    assert synced == [tmp_path / "sub"]


def test_text_is_written_as_utf8(tmp_path):
    text = "épreuve ∑ 東京\n"
    atomic_write_text(text, tmp_path / "t.txt")
    assert (tmp_path / "t.txt").read_bytes() == text.encode("utf-8")


def test_stale_temps_of_the_named_files_only_are_removed(tmp_path):
    names = [".last.pt.tmp-1-dead", ".best.pt.tmp-2-dead", "last.pt.tmp-3", ".last.pt.bak", "last.pt"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    remove_stale_temps(tmp_path, ["last.pt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


class _ShortWrites:
    """A file opened by MetricsLog.append whose writes stop halfway (a disk that fills up)."""

    def __init__(self, f):
        self.f = f

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()

    def write(self, data):
        return self.f.write(data[: len(data) // 2])

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_a_line_cut_short_is_truncated_away(tmp_path, monkeypatch):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"epoch": 1, "loss": 0.5})
    before = log.path.read_bytes()
    real_open = open
    monkeypatch.setattr(files, "open", lambda *a, **k: _ShortWrites(real_open(*a, **k)), raising=False)
    with pytest.raises(OSError, match="metrics.jsonl") as info:
        log.append({"epoch": 2, "loss": 0.25})
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert log.path.read_bytes() == before
    log.append({"epoch": 2, "loss": 0.25})
    assert [json.loads(s)["epoch"] for s in log.path.read_text().splitlines()] == [1, 2]


def test_a_line_whose_fsync_fails_is_truncated_away(tmp_path, monkeypatch):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"epoch": 1})
    before = log.path.read_bytes()

    def failing_fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="append to"):
        log.append({"epoch": 2})
    monkeypatch.undo()
    assert log.path.read_bytes() == before


def test_metrics_reset_is_atomic(tmp_path, monkeypatch):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.reset([{"epoch": 1}, {"epoch": 2}])
    before = log.path.read_bytes()

    def killed(src, dst):
        raise OSError(errno.EIO, "killed before the rename")
    monkeypatch.setattr(files.os, "replace", killed)
    with pytest.raises(OSError):
        log.reset([{"epoch": 1}])
    monkeypatch.undo()
    assert log.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


# -------------------------------------------------------------------------------- checkpoints.py
def _ckpt(path, epoch, **extra):
    write_checked({"format": CHECKPOINT_FORMAT, "epoch": epoch, **extra}, path)


def test_an_extended_file_is_named_as_such(tmp_path):
    _ckpt(tmp_path / "last.pt", 1)
    with open(tmp_path / "last.pt", "ab") as f:
        f.write(b"tail")
    with pytest.raises(ValueError, match="truncated or was extended"):
        load_checkpoint(tmp_path / "last.pt")


def test_save_model_never_replaces_a_training_checkpoint(tmp_path):
    _ckpt(tmp_path / "last.pt", 3)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(ValueError, match="training checkpoint"):
        save_model(srnn(STSchema(["walker"], [("walker", "walker")])), tmp_path / "last.pt")
    assert (tmp_path / "last.pt").read_bytes() == before


def test_resumes_in_needs_a_resume_and_a_folder(tmp_path):
    assert not resumes_in(False, tmp_path)
    assert not resumes_in(None, tmp_path)
    assert not resumes_in(tmp_path / "last.pt", None)
    assert resumes_in(tmp_path / "last.pt", tmp_path)


# ---------------------------------------------------------------------------------- runfolder.py
def test_a_best_pt_of_the_checkpoints_own_epoch_but_not_its_best_is_no_resume_ahead(tmp_path):
    _ckpt(tmp_path / "best.pt", 3)
    status, _ = reconcile_best(tmp_path, {"epoch": 3, "best_epoch": 2}, tmp_path / "last.pt", True)
    assert status == "error"


def test_a_replaced_runs_best_pt_never_counts_as_the_resumed_runs(tmp_path):
    out, src = tmp_path / "out", tmp_path / "src"
    _ckpt(out / "best.pt", 2, tag="replaced run")
    ckpt = {"format": CHECKPOINT_FORMAT, "epoch": 2, "best_epoch": 2, "tag": "resumed run"}
    assert reconcile_best(out, ckpt, src / "last.pt", True, own=False) == ("ok", None)
    assert load_checkpoint(out / "best.pt")["tag"] == "resumed run"


def test_init_from_inside_out_dir_is_refused_at_any_depth(tmp_path):
    _ckpt(tmp_path / "out" / "sub" / "best.pt", 1)
    c = SimpleNamespace(init_from=tmp_path / "out" / "sub" / "best.pt", out_dir=tmp_path / "out", resume=None)
    with pytest.raises(ValueError, match="inside out_dir"):
        check_init_from(c)


def test_a_missing_init_from_is_refused_when_resume_true_starts_a_new_run(tmp_path):
    c = SimpleNamespace(init_from=tmp_path / "missing.pt", out_dir=tmp_path / "out", resume=True)
    with pytest.raises(FileNotFoundError, match="init_from"):
        check_init_from(c)


def test_resume_from_a_run_folder_is_its_last_pt_never_its_best(tmp_path):
    _ckpt(tmp_path / "best.pt", 1)
    with pytest.raises(FileNotFoundError, match="last.pt"):
        resume_path(tmp_path, None)
    _ckpt(tmp_path / "last.pt", 2)
    assert resume_path(tmp_path, None) == tmp_path / "last.pt"


def test_a_monitor_of_the_other_direction_is_a_changed_selection():
    saved = {"monitor": "val_ade", "monitor_mode": "min"}
    assert selection_changed(saved, "val_ade", "max", None, None) == ("val_ade", "min")
    assert selection_changed(saved, "val_ade", "min", None, None) is None


# -------------------------------------------------------------------------------------- cli/runs.py
def test_overwrite_refuses_a_folder_whose_config_is_not_a_run(tmp_path):
    (tmp_path / "config.yaml").write_text("foo: 1\n")
    with pytest.raises(CLIError, match="not a srnn-pyg run"):
        prepare_out_dir(tmp_path, overwrite=True, resumable=True)
    assert (tmp_path / "config.yaml").read_text() == "foo: 1\n"


def test_a_folder_holding_only_user_files_needs_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CLIError, match="already holds notes.txt"):
        prepare_out_dir(tmp_path, overwrite=False, resumable=False)


def test_overwrite_sets_the_old_tensorboard_aside_and_drops_it_once_started(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"old")
    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / "events").write_bytes(b"old events")
    with RunGuard({tmp_path: "last.pt"}, overwrite=True):
        assert not (tmp_path / "tensorboard").exists()
        (tmp_path / "last.pt").write_bytes(b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_a_failed_resume_gives_back_exactly_what_the_folder_held(tmp_path):
    held = {"last.pt": b"ckpt", "metrics.jsonl": b"{}\n", "config.yaml": b"model: {}\ndata: {}\n"}
    for name, data in held.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(RuntimeError):
        with RunGuard({tmp_path: "last.pt"}):
            (tmp_path / "config.yaml").write_bytes(b"model: {x: 1}\ndata: {}\n")
            (tmp_path / "metrics.csv").write_bytes(b"epoch\n")
            (tmp_path / ".last.pt.tmp-9-dead").write_bytes(b"half")
            raise RuntimeError("refused before the first epoch")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == held


def test_a_failed_run_keeps_the_empty_folder_the_user_made(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError):
        with RunGuard({out: "last.pt"}):
            raise RuntimeError("bad model argument")
    assert out.is_dir()


def test_a_config_without_a_data_section_is_no_train_config(tmp_path):
    (tmp_path / "config.yaml").write_text("model: {name: srnn}\n")
    with pytest.raises(CLIError, match="not a train config"):
        read_config(tmp_path)


def test_tuples_and_lists_of_the_same_values_do_not_contradict():
    assert contradictions({"model.sizes": [8, 8]}, {"model.sizes": (8, 8)}, []) == []
    assert contradictions({"model.sizes": [8, 8]}, {"model.sizes": (8, 4)}, []) == ["model.sizes"]
