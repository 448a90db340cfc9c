"""The command as a new user meets it: mistakes answered in one line naming
the option, nothing computed and then lost, a resumed run that keeps its
model and data, and run names in any case."""
import os
import shutil

import pytest
import torch
import yaml

from srnn_pyg.cli import main
from srnn_pyg.cli.options import version

from cli_helpers import TINY


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One run of two epochs on the tiny Springs problem, shared (copied) by the tests."""
    n = torch.get_num_threads()
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--trainer.epochs", "2", "--out_dir", str(run)] + TINY) == 0
    torch.set_num_threads(n)
    return run


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_resume_of_a_file_names_the_run_folder(run, capsys):
    assert main(["train", "--resume", str(run / "config.yaml")]) == 2
    err = _error(capsys)
    assert "got the file" in err and f"--resume {run}" in err and "does not exist" not in err


def test_resume_of_a_comparison_points_to_its_models(tmp_path, capsys):
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "config.yaml").write_text(yaml.safe_dump({"models": "srnn", "data": {"name": "springs"}}))
    assert main(["train", "--resume", str(tmp_path / "cmp")]) == 2
    assert "is a comparison" in _error(capsys)


def test_model_and_data_names_are_recorded_as_registered(tmp_path, capsys):
    """``--model SRNN`` ran, but was recorded as typed: resuming with ``--model srnn`` was refused as a change."""
    assert main(["train", "--model", "SRNN", "--data", "Springs", "--print_config"] + TINY[2:]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["name"] == "srnn" and cfg["data"]["name"] == "springs"


def test_resume_accepts_the_model_name_in_another_case(run, capsys):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["model"]["name"] = "SRNN"                         # a run recorded before names were lower-cased
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["train", "--resume", str(run), "--model", "srnn", "--trainer.epochs", "2", "--threads", "1"]) == 0


def test_resume_to_fewer_epochs_than_trained_is_refused_before_anything(run, capsys):
    before = _files(run)
    assert main(["train", "--resume", str(run), "--trainer.epochs", "1", "--threads", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("srnn-pyg train: error: --trainer.epochs:") and "2" in captured.err
    assert "resumed at" not in captured.out and _files(run) == before


@pytest.mark.parametrize("change", [["--data.num_nodes", "7"], ["--hidden", "4"], ["--model.residual", "true"]])
def test_resume_never_changes_the_model_or_the_data_even_with_override(run, capsys, change):
    before = _files(run)
    assert main(["train", "--resume", str(run), "--override", "--trainer.epochs", "3", "--threads", "1"] + change) == 2
    captured = capsys.readouterr()
    assert change[0] in captured.err and "even with --override" in captured.err
    assert "resumed at" not in captured.out and _files(run) == before


def test_an_unwritable_out_dir_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    assert main(["train", "--out_dir", str(tmp_path / "afile" / "run")] + TINY) == 2
    assert "'afile' is a file" in _error(capsys).replace(str(tmp_path) + os.sep, "")
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_read_only_folder_is_refused_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "access", lambda *a, **k: False)     # as for a user without write permission
    assert main(["train", "--out_dir", str(tmp_path / "new")] + TINY) == 2
    assert "not writable" in _error(capsys) and not (tmp_path / "new").exists()


def test_evaluate_and_forecast_check_their_outputs_before_working(run, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / "afile" / "x.json"
    assert main(["evaluate", str(run), "--output", str(out), "--threads", "1", "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "--output: cannot write" in captured.err and captured.out == ""
    assert main(["forecast", str(run), "--output", str(tmp_path / "f.pt"), "--plot", str(tmp_path / "afile" / "f.png"),
                 "--threads", "1"]) == 2
    assert "--plot: cannot write" in _error(capsys) and not (tmp_path / "f.pt").exists()


def test_a_file_error_is_one_line_not_a_traceback(monkeypatch, capsys):
    def refuse(argv):
        raise PermissionError(13, "could not write 'x.json': Permission denied")
    monkeypatch.setattr("srnn_pyg.cli.commands.cmd_evaluate", refuse)
    assert main(["evaluate", "run"]) == 2
    assert "Permission denied" in _error(capsys)


@pytest.mark.parametrize("command", ["evaluate", "forecast"])
def test_version_of_every_command(command, capsys):
    assert main([command, "--version"]) == 0
    assert capsys.readouterr().out.strip() == f"srnn-pyg {version()}"


@pytest.mark.parametrize("argv, flag", [
    (["train", "--hidden", "0"], "--hidden:"),
    (["train", "--trainer.device", "tpu"], "--trainer.device:"),
    (["train", "--data.num_nodes", "0"], "--data.num_nodes:"),
    (["evaluate", "no-such-run", "--device", "tpu"], "--device:"),
])
def test_errors_name_the_option_given(argv, flag, capsys):
    assert main(argv[:1] + (TINY if argv[0] == "train" else []) + argv[1:]) == 2   # the last value of a flag wins
    assert _error(capsys).startswith(f"srnn-pyg {argv[0]}: error: {flag}")


def test_evaluate_names_its_data_option(run, capsys):
    assert main(["evaluate", str(run), "--obs", "0", "--threads", "1"]) == 2
    assert _error(capsys).startswith("srnn-pyg evaluate: error: --obs:")


def test_an_unknown_key_in_a_config_file_is_named(tmp_path, capsys):
    (tmp_path / "run.yaml").write_text("modle:\n  name: srnn\n")
    assert main(["train", "--config", str(tmp_path / "run.yaml")]) == 2
    assert "unknown option --modle.name" in _error(capsys)


def test_overwrite_replaces_runs_only_not_a_folder_of_the_users_files(tmp_path, capsys):
    """A folder whose config.yaml and metrics.csv are the user's own (not a run) keeps them under --overwrite."""
    mine = tmp_path / "experiments"
    mine.mkdir()
    (mine / "config.yaml").write_text("optimizer: adam\nlayers: [64, 64]\n")
    (mine / "metrics.csv").write_text("step,loss\n1,0.5\n")
    before = _files(mine)
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(mine), "--overwrite"] + TINY) == 2
    err = capsys.readouterr().err
    assert "error: --overwrite: " in err and "is not a srnn-pyg run" in err and _files(mine) == before


def test_overwrite_still_replaces_a_run(run, capsys):
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run), "--overwrite"] + TINY) == 0
    assert len([line for line in (run / "metrics.jsonl").read_text().splitlines() if line]) == 1


@pytest.mark.parametrize("argv, match", [
    (["train", "--trainer.epochs", "1", "--override"], "--override changes options of a resumed run"),
    (["train", "--trainer.epochs", "1", "--overwrite"], "--overwrite replaces the run in --out_dir"),
    (["compare", "--models", "srnn", "--trainer.epochs", "1", "--overwrite"],
     "--overwrite replaces the comparison in --out_dir"),
])
def test_flags_that_would_do_nothing_are_refused(argv, match, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                                  # a default runs/ folder would land here
    assert main(argv + TINY) == 2
    assert match in capsys.readouterr().err and not (tmp_path / "runs").exists()


def test_forecast_refuses_no_plot_with_plot(run, capsys):
    assert main(["forecast", str(run / "best.pt"), "--no-plot", "--plot", str(run.parent / "x.png"),
                 "--threads", "1"]) == 2
    assert "--no-plot and --plot" in capsys.readouterr().err and not (run / "forecast.pt").exists()
