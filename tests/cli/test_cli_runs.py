"""Run folders of ``srnn-pyg train``: never overwritten, resumed from the
folder alone, contradicting flags refused; threads and per-epoch lines."""
import json

import pytest
import torch
import yaml

from srnn_pyg.cli import main
from srnn_pyg.cli.options import MAX_DEFAULT_THREADS, default_threads
from srnn_pyg.engine import load_checkpoint

from cli_helpers import TINY


def _epochs(run):
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_runs_without_out_dir_get_new_numbered_folders(tmp_path, capsys):
    assert main(["train", "--trainer.epochs", "1"] + TINY) == 0
    assert main(["train", "--trainer.epochs", "1", "--model.residual", "true"] + TINY) == 0
    first, second = tmp_path / "runs" / "springs-srnn-001", tmp_path / "runs" / "springs-srnn-002"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [first.name, second.name]
    assert yaml.safe_load((first / "config.yaml").read_text())["model"]["residual"] is False
    assert yaml.safe_load((second / "config.yaml").read_text())["model"]["residual"] is True
    assert (first / "last.pt").is_file() and (second / "last.pt").is_file()


def test_existing_out_dir_is_refused_unless_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run)] + TINY) == 0
    before = (run / "last.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run)] + TINY) == 2
    err = capsys.readouterr().err
    assert "--out_dir" in err and "--overwrite" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    assert (run / "last.pt").read_bytes() == before
    (run / "notes.txt").write_text("mine")
    assert main(["train", "--trainer.epochs", "2", "--out_dir", str(run), "--overwrite"] + TINY) == 0
    assert _epochs(run) == [1, 2] and (run / "notes.txt").read_text() == "mine"


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} if folder.exists() else None


def test_a_run_that_fails_before_its_first_checkpoint_leaves_every_folder_as_it_was(tmp_path, capsys):
    """--overwrite sets the old run aside and puts it back if the new run never starts (a bad argument
    found after parsing); a failed new run leaves no folder; a refused resume gets its config back."""
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run)] + TINY) == 0
    (run / "notes.txt").write_text("mine")
    before = _files(run)
    bad = ["--model.edge_hidden", "0"]                         # refused when the model is built
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run), "--overwrite"] + TINY + bad) == 2
    assert "edge_hidden" in capsys.readouterr().err
    assert _files(run) == before and sorted(p.name for p in run.iterdir()) == sorted(before)
    # a new folder, named or numbered, is not left behind by a run that never started
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(tmp_path / "new")] + TINY + bad) == 2
    assert main(["train", "--trainer.epochs", "1"] + TINY + bad) == 2
    assert not (tmp_path / "new").exists() and list((tmp_path / "runs").iterdir()) == []
    # a resume refused by the trainer (another model) keeps the run's config.yaml
    assert main(["train", "--resume", str(run), "--trainer.epochs", "2", "--override", "--model.edge_hidden",
                 "4"]) == 2
    assert "cannot resume" in capsys.readouterr().err and _files(run) == before
    assert main(["train", "--resume", str(run), "--trainer.epochs", "2", "--no-progress"]) == 0
    assert _epochs(run) == [1, 2]
    # a run that starts replaces the old one for good; nothing is left aside
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run), "--overwrite"] + TINY) == 0
    assert _epochs(run) == [1] and (run / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


def test_compare_keeps_the_former_run_of_a_model_that_failed(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "--models", "srnn,node_lstm", "--trainer.epochs", "1", "--out_dir", str(out)] + TINY[2:]
    assert main(args + ["--data", "springs"]) == 0
    old = {n: _files(out / n) for n in ("srnn", "node_lstm")}
    assert main(args + ["--data", "springs", "--overwrite", "--model-arg", "node_lstm.hidden=0"]) == 1
    assert "node_lstm failed" in capsys.readouterr().err
    assert _files(out / "node_lstm") == old["node_lstm"] and _files(out / "srnn") != old["srnn"]
    assert "| node_lstm |" in (out / "compare.md").read_text()


def test_a_failed_compare_keeps_the_models_it_trained_and_the_users_files(tmp_path, capsys, monkeypatch):
    """The comparison's folder is cleaned after its model folders, of its own files only: a model that
    finished keeps its run, a file the user saved meanwhile stays."""
    import srnn_pyg.cli.training as training
    real = training._fit_one

    def second_fails(name, sets, cfg, out_dir, *a, **kw):
        if name == "node_lstm":
            (out_dir.parent / "my_notes.txt").write_text("mine")             # saved by the user meanwhile
            raise KeyboardInterrupt
        return real(name, sets, cfg, out_dir, *a, **kw)
    monkeypatch.setattr(training, "_fit_one", second_fails)
    args = ["compare", "--models", "srnn,node_lstm", "--trainer.epochs", "1"] + TINY
    assert main(args) == 130                                                  # a new numbered folder
    made = tmp_path / "runs" / "compare-springs-001"
    assert (made / "srnn" / "last.pt").is_file() and (made / "srnn" / "config.yaml").is_file()
    assert (made / "my_notes.txt").read_text() == "mine" and not (made / "node_lstm").exists()
    assert not (made / "config.yaml").exists()              # the comparison's own file: it never finished
    assert main(["train", "--resume", str(made / "srnn"), "--trainer.epochs", "2", "--no-progress"]) == 0


def test_a_run_set_aside_by_a_killed_overwrite_is_pointed_out(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run)] + TINY) == 0
    aside = run / ".srnn-pyg-replaced-x1"                   # as a killed --overwrite leaves it
    aside.mkdir()
    for name in ("last.pt", "best.pt", "metrics.jsonl", "result.json"):
        (run / name).rename(aside / name)
    for argv in (["train", "--trainer.epochs", "1", "--out_dir", str(run), "--overwrite"] + TINY,
                 ["train", "--resume", str(run), "--trainer.epochs", "2"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "holds '.srnn-pyg-replaced-x1', the run an --overwrite set aside" in err and "move its files" in err
    assert sorted(p.name for p in aside.iterdir()) == ["best.pt", "last.pt", "metrics.jsonl", "result.json"]


def test_resume_needs_only_the_run_folder_and_matches_one_run(tmp_path, capsys):
    part, whole = tmp_path / "part", tmp_path / "whole"
    assert main(["train", "--trainer.epochs", "2", "--out_dir", str(part), "--model.residual", "true"] + TINY) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(part), "--trainer.epochs", "3", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "resumed at epoch 2 of 3" in out and "both parts" in out
    assert len([line for line in out.splitlines() if line.startswith("epoch ")]) == 1
    assert _epochs(part) == [1, 2, 3]
    assert main(["train", "--trainer.epochs", "3", "--out_dir", str(whole), "--model.residual", "true"] + TINY) == 0
    a, b = load_checkpoint(part / "last.pt"), load_checkpoint(whole / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert yaml.safe_load((part / "config.yaml").read_text())["trainer"]["epochs"] == 3


def test_resume_refuses_contradicting_flags_unless_override(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "1", "--out_dir", str(run)] + TINY) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--trainer.epochs", "2", "--trainer.lr", "0.5",
                 "--model.residual", "true"]) == 2
    err = capsys.readouterr().err
    assert "--trainer.lr" in err and "--model.residual" in err and "--override" in err
    assert len(err.strip().splitlines()) == 1 and _epochs(run) == [1]
    # an agreeing flag is no contradiction
    assert main(["train", "--resume", str(run), "--trainer.epochs", "2", "--trainer.lr", "0.01"]) == 0
    assert main(["train", "--resume", str(run), "--trainer.epochs", "3", "--trainer.lr", "0.5", "--override"]) == 0
    assert _epochs(run) == [1, 2, 3]
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["lr"] == 0.5


@pytest.mark.parametrize("argv,message", [
    (["train", "--resume", "nowhere"], "nowhere"),
    (["train", "--resume"], "--resume"),
    (["compare", "--resume", "runs/x"], "compare does not resume"),
    (["train", "--resume", "run", "--model", "node_lstm"], "--model: the run in run used 'srnn'"),
])
def test_bad_resume_is_one_line(argv, message, tmp_path, capsys):
    assert main(["train", "--trainer.epochs", "1", "--out_dir", "run"] + TINY) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_resume_of_a_folder_without_config(tmp_path, capsys):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "last.pt").write_bytes(b"")
    assert main(["train", "--resume", str(tmp_path / "old")]) == 2
    assert "config.yaml" in capsys.readouterr().err


@pytest.mark.parametrize("n", [1, 2])
def test_threads_sets_torch_threads(n, tmp_path):
    argv = ["train", "--trainer.epochs", "1", "--out_dir", str(tmp_path / "run")] + TINY
    argv[argv.index("--threads") + 1] = str(n)
    assert main(argv) == 0
    assert torch.get_num_threads() == n


def test_default_threads_follow_the_affinity(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert default_threads() == MAX_DEFAULT_THREADS
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {3}, raising=False)
    assert default_threads() == 1


def test_no_progress_keeps_one_line_per_epoch_with_the_protocol(tmp_path, capsys):
    assert main(["train", "--trainer.epochs", "3", "--out_dir", str(tmp_path / "run")] + TINY) == 0
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("val_MSE@1" in line and "train_loss" in line for line in lines)
    assert "it/s" not in err and "%|" not in err


def test_progress_shows_bars_and_the_epoch_lines(tmp_path, capsys):
    argv = ["train", "--trainer.epochs", "2", "--out_dir", str(tmp_path / "run")] + TINY
    argv.remove("--no-progress")
    assert main(argv) == 0
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("epoch 2/2")]
    assert len(lines) == 1 and "val_loss" in lines[0] and "val_MSE@1" in lines[0]   # one line, with the protocol
    assert "epoch 1/2" in err                                                 # the bar


def test_compare_gets_a_new_folder_with_its_config(tmp_path, capsys):
    argv = ["compare", "--models", "srnn,zero_velocity", "--trainer.epochs", "1"] + TINY
    assert main(argv) == 0
    run = tmp_path / "runs" / "compare-springs-001"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["models"] == "srnn,zero_velocity" and saved["data"]["num_graphs"] == 20
    assert (run / "compare.csv").is_file() and (run / "srnn" / "best.pt").is_file()
    assert main(argv + ["--out_dir", str(run)]) == 2                  # never overwritten by accident
    assert "--overwrite" in capsys.readouterr().err
    # each model's folder is a train run that resumes on its own
    model_cfg = yaml.safe_load((run / "srnn" / "config.yaml").read_text())
    assert model_cfg["model"]["name"] == "srnn" and "models" not in model_cfg
    assert main(["train", "--resume", str(run / "srnn"), "--trainer.epochs", "2"]) == 0
    assert "resumed at epoch 1 of 2" in capsys.readouterr().out and _epochs(run / "srnn") == [1, 2]


def test_monitor_may_name_a_protocol_score(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "3", "--trainer.monitor", "val_MSE@1", "--trainer.early_stopping", "5",
                 "--out_dir", str(run)] + TINY) == 0
    result = json.loads((run / "result.json").read_text())
    scores = [r["val_MSE@1"] for r in result["history"]]
    assert result["monitor"] == "val_MSE@1" and result["best_score"] == min(scores)
    assert result["best_epoch"] == 1 + scores.index(min(scores))
    assert load_checkpoint(run / "best.pt")["epoch"] == result["best_epoch"]
    # every epoch's protocol scores are in metrics.jsonl too (the trainer records them)
    assert [json.loads(line)["val_MSE@1"] for line in (run / "metrics.jsonl").read_text().splitlines()] == scores
    assert "best val_MSE@1:" in capsys.readouterr().out


def test_a_protocol_monitor_needs_the_protocol_every_epoch(tmp_path, capsys):
    argv = ["train", "--trainer.epochs", "2", "--trainer.monitor", "val_MSE", "--protocol_every", "2",
            "--out_dir", str(tmp_path / "run")] + TINY
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--trainer.monitor: 'val_MSE' is not a trainer metric" in err and "--protocol_every 1 (got " \
           "--protocol_every 2)" in err
    assert not (tmp_path / "run").exists()                       # refused before the run folder is made
    assert main(["train", "--trainer.epochs", "1", "--trainer.monitor", "val_nope", "--out_dir",
                 str(tmp_path / "typo")] + TINY) == 2                  # refused before the first epoch
    assert "--trainer.monitor: 'val_nope' names no score of this dataset's protocol (val_KEY, KEY one of MSE, " \
           "MSE@1)" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()
    assert main(["train", "--trainer.epochs", "1", "--trainer.monitor_mode", "lower", "--out_dir",
                 str(tmp_path / "mode")] + TINY) == 2
    assert "--trainer.monitor_mode: must be None, 'min' or 'max' (got 'lower')" in capsys.readouterr().err


def test_scoring_the_protocol_never_changes_training(tmp_path):
    """Whether the protocol is scored every epoch (the trainer's val_score), every other epoch (a callback) or
    never, the same run ends with the same weights: scoring keeps the RNG states (dropout, noise)."""
    weights = []
    for every in ("0", "1", "2"):
        run = tmp_path / f"every{every}"
        assert main(["train", "--trainer.epochs", "3", "--trainer.noise", "0.05", "--model.dropout", "0.3",
                     "--protocol_every", every, "--out_dir", str(run)] + TINY) == 0
        weights.append(load_checkpoint(run / "last.pt")["model"])
        history = json.loads((run / "result.json").read_text())["history"]
        assert ["val_MSE@1" in r for r in history] == {"0": [False] * 3, "1": [True] * 3,
                                                       "2": [False, True, False]}[every]
    for other in weights[1:]:
        assert all(torch.equal(weights[0][k], other[k]) for k in weights[0])


def test_protocol_keys_that_the_trainer_uses_are_renamed():
    from srnn_pyg.cli.training import protocol_score

    class Split:
        def score(self, collected):
            return {"accuracy": 0.5, "MSE": 1.0, "f1": 70.0, "mae": 2.0}
    assert protocol_score(Split())({}) == {"protocol_accuracy": 0.5, "MSE": 1.0, "f1": 70.0, "protocol_mae": 2.0}


def test_resume_with_fewer_epochs_than_trained_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--trainer.epochs", "2", "--out_dir", str(run)] + TINY) == 0
    config = (run / "config.yaml").read_bytes()
    assert main(["train", "--resume", str(run), "--trainer.epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'epochs' is the total" in err and "pass epochs >= 2" in err and "(got 1)" in err
    assert (run / "config.yaml").read_bytes() == config and _epochs(run) == [1, 2]


def test_closed_form_baselines_are_fitted_in_closed_form(tmp_path, capsys):
    """compare fits linear_ar by its closed form on the training split (not by gradient, not left at its
    initial weights) and scores it: its weights are those of fit_closed_form on the same training windows."""
    import copy

    from torch_geometric.loader import DataLoader

    from srnn_pyg.datasets import Springs
    from srnn_pyg.engine import load_model
    run = tmp_path / "cmp"
    assert main(["compare", "--models", "linear_ar,zero_velocity", "--trainer.epochs", "3",
                 "--out_dir", str(run)] + TINY) == 0
    history = json.loads((run / "linear_ar" / "result.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0] and history[0]["train_loss"] is None     # no gradient epoch
    saved = load_model(run / "linear_ar" / "best.pt")
    opts = yaml.safe_load((run / "config.yaml").read_text())["data"]
    train = Springs(split="train", **{k: v for k, v in opts.items() if k not in ("name", "split")})
    fitted = copy.deepcopy(saved).fit_closed_form(DataLoader(train, batch_size=8))     # refit: the same weights
    for a, b in zip(saved.state_dict().values(), fitted.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6)


def test_compare_on_a_split_the_data_lacks_is_refused_before_training(tmp_path, capsys):
    path = tmp_path / "series.json"
    path.write_text(json.dumps({"edges": [[0, 1], [1, 0]], "X": [[t % 5, -t % 3] for t in range(40)]}))
    assert main(["compare", "--data", "pyg_temporal_json", "--data.path", str(path), "--models", "zero_velocity",
                 "--split", "val", "--trainer.epochs", "1", "--threads", "1", "--no-progress",
                 "--out_dir", str(tmp_path / "cmp")]) == 2
    assert "--split: pyg_temporal_json has no 'val' split" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()


def test_a_run_on_a_relative_json_path_is_evaluated_from_elsewhere(tmp_path, monkeypatch, capsys):
    data = tmp_path / "work"
    data.mkdir()
    (data / "series.json").write_text(json.dumps({"edges": [[0, 1], [1, 0]],
                                                  "X": [[t % 5, -t % 3] for t in range(40)]}))
    monkeypatch.chdir(data)
    assert main(["train", "--data", "pyg_temporal_json", "--data.path", "series.json", "--model", "zero_velocity",
                 "--trainer.epochs", "1", "--threads", "1", "--no-progress", "--out_dir", str(tmp_path / "run")]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--threads", "1", "--no-progress"]) == 0
    first = capsys.readouterr().out
    assert "pyg_temporal_json, split test" in first
    other = tmp_path / "other.json"                  # an option given to evaluate still wins
    other.write_text(json.dumps({"edges": [[0, 1], [1, 0]], "X": [[100 + t * t, t] for t in range(40)]}))
    assert main(["evaluate", str(tmp_path / "run"), "--dataset-arg", f"path={other}", "--threads", "1",
                 "--no-progress"]) == 0
    rows = [[line for line in out.splitlines() if line.startswith("| zero_velocity")] for out in
            (first, capsys.readouterr().out)]
    assert rows[0] and rows[1] and rows[0] != rows[1]


def test_a_typed_json_file_trains_an_srnn_with_its_types(tmp_path, capsys):
    """--data.node_type reaches the JSON loader: the run's model has one nodeRNN per node type."""
    kinds = ["driver", "road", "road", "road"]
    nodes = [{"id": i, "type": k, "X": [((t + i) % 7) / 7 for t in range(30)]} for i, k in enumerate(kinds)]
    links = [{"source": j, "target": i} for i in range(4) for j in range(4) if i != j]
    path = tmp_path / "typed.json"
    path.write_text(json.dumps({"nodes": nodes, "links": links}))
    assert main(["train", "--data", "pyg_temporal_json", "--data.path", str(path), "--data.node_type", "type",
                 "--model", "srnn", "--hidden", "8", "--trainer.epochs", "1", "--threads", "1", "--no-progress",
                 "--out_dir", str(tmp_path / "run")]) == 0
    schema = load_checkpoint(tmp_path / "run" / "last.pt")["model_record"]["args"]["schema"]
    assert schema["node_types"] == ["driver", "road"]
    assert schema["edge_types"] == [["driver", "to", "road"], ["road", "to", "road"]]
    assert main(["evaluate", str(tmp_path / "run"), "--threads", "1", "--no-progress"]) == 0
    assert "pyg_temporal_json, split test" in capsys.readouterr().out
