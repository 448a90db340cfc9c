"""Tests of the srnn-pyg command (srnn_pyg.cli.main, in process, on small Springs),
written with the former flags (--dataset, --epochs, --out-dir, --model-arg, ...), which
the typed command still reads; tests/cli/ has the typed options, run folders and resume."""
import csv
import json
import os

import pytest
import torch

from srnn_pyg.cli import main
from srnn_pyg.engine import load_checkpoint, load_model

DATA = ["--num-graphs", "20", "--obs", "6", "--horizon", "3", "--batch-size", "8"]
FAST = DATA + ["--epochs", "2", "--hidden", "8", "--lr", "0.01", "--no-progress", "--device", "cpu",
               "--threads", "1"]


def _kwargs(ckpt):
    """The model's constructor keywords recorded in a checkpoint (besides schema and channels)."""
    args = ckpt["model_record"]["args"]
    return {k: v for k, v in args.items() if k not in ("schema", "in_channels", "out_channels")}


@pytest.fixture(autouse=True)
def small(monkeypatch, tmp_path):
    # the real data stay reachable for the tests that use them, by an explicit --data-root
    if os.environ.get("SRNN_PYG_DATA"):
        monkeypatch.setenv("SRNN_PYG_DATA_FOR_TESTS", os.environ["SRNN_PYG_DATA"])
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SRNN_PYG_DATA", raising=False)
    yield
    torch.set_num_threads(n)


def test_train_then_evaluate_and_forecast(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "srnn", "--model-arg", "residual=True", "--out-dir", str(run)]
                + FAST) == 0
    out = capsys.readouterr().out
    assert "best val_mse" in out and "evaluate with" in out      # a forecaster is kept on its forecast error
    assert {p.name for p in run.iterdir()} == {"best.pt", "last.pt", "metrics.jsonl", "result.json",
                                               "config.yaml"}
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["meta"]["dataset"] == "springs"
    assert _kwargs(ckpt)["residual"] is True and _kwargs(ckpt)["edge_hidden"] == 8

    assert main(["evaluate", str(run), "--split", "test", "--no-progress", "--device", "cpu",
                 "--output", str(tmp_path / "eval.json")]) == 0
    out = capsys.readouterr().out
    assert "MSE@1" in out and "| srnn |" in out
    scores = json.loads((tmp_path / "eval.json").read_text())
    assert scores["protocol"]["MSE@1"] <= scores["protocol"]["MSE"] + 1e-9
    assert scores["metrics"]["mse"] == pytest.approx(scores["protocol"]["MSE"], rel=1e-5)

    assert main(["forecast", str(run / "best.pt"), "--index", "0", "2", "--device", "cpu",
                 "--output", str(tmp_path / "f.pt")]) == 0
    pred = torch.load(tmp_path / "f.pt")
    assert pred["pred"].shape == (10, 3, 4) and pred["index"] == [0, 2]
    assert "pred_data_units" in pred
    model = load_model(run / "best.pt")
    assert torch.allclose(pred["pred"], model.forecast(_windows(pred), 3), atol=1e-6)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_outputs_never_replace_a_run_or_an_existing_file(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out-dir", str(run)] + FAST) == 0
    saved = {p.name: p.read_bytes() for p in run.iterdir()}
    common = ["--device", "cpu", "--no-plot"]
    for name in ("best.pt", "last.pt", "config.yaml", "metrics.jsonl", "result.json"):
        for extra in ([], ["--overwrite"]):
            assert main(["forecast", str(run / "best.pt"), "--output", str(run / name)] + common + extra) == 2
            assert f"is a run's own file ({name})" in capsys.readouterr().err
            assert main(["evaluate", str(run), "--output", str(run / name), "--no-progress", "--device", "cpu"]
                        + extra) == 2
    assert {p.name: p.read_bytes() for p in run.iterdir()} == saved
    assert main(["forecast", str(run / "best.pt"), "--output", str(tmp_path / "same.pt"), "--plot",
                 str(tmp_path / "same.pt"), "--device", "cpu"]) == 2
    assert "is the --output file too" in capsys.readouterr().err and not (tmp_path / "same.pt").exists()
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "compare.md").write_text("table")
    assert main(["forecast", str(run / "best.pt"), "--output", str(tmp_path / "cmp" / "compare.md"), "--overwrite"]
                + common) == 2
    assert (tmp_path / "cmp" / "compare.md").read_text() == "table"
    assert main(["forecast", str(run / "best.pt")] + common) == 0                   # forecast.pt beside it
    assert main(["forecast", str(run / "best.pt")] + common) == 2
    assert "forecast.pt' already exists; pass --overwrite" in capsys.readouterr().err
    assert main(["forecast", str(run / "best.pt"), "--overwrite"] + common) == 0
    mine = tmp_path / "mine.json"
    mine.write_text("keep")
    assert main(["evaluate", str(run), "--output", str(mine), "--no-progress", "--device", "cpu"]) == 2
    assert mine.read_text() == "keep"
    assert main(["evaluate", str(run), "--output", str(mine), "--no-progress", "--device", "cpu",
                 "--overwrite"]) == 0
    assert "metrics" in json.loads(mine.read_text())


def _windows(pred):
    from srnn_pyg.datasets import Springs
    train = Springs(num_graphs=20, obs=6, horizon=3)
    test = Springs(num_graphs=4, obs=6, horizon=3, split="test", stats=train.stats)
    from torch_geometric.data import Batch
    return Batch.from_data_list([test[i] for i in pred["index"]])


def test_train_resume_continues(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main(["train", "--out-dir", run] + FAST) == 0
    args = ["train", "--out-dir", run, "--resume"] + FAST
    args[args.index("--epochs") + 1] = "3"
    assert main(args + ["--trainer.lr", "0.02", "--override"]) == 0
    captured = capsys.readouterr()
    assert "resumed at epoch 2 of 3" in captured.out
    warned = [line for line in captured.err.splitlines() if "lr" in line]    # the changed rate, one line
    assert len(warned) == 1 and warned[0].startswith("srnn-pyg train: warning: ") and ".py:" not in warned[0]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2, 3]


def test_compare_writes_markdown_and_csv(tmp_path, capsys):
    out_dir = tmp_path / "cmp"
    assert main(["compare", "--models", "srnn,node_lstm,zero_velocity,constant_velocity",
                 "--model-arg", "residual=True", "--model-arg", "node_lstm.hidden=4",
                 "--out-dir", str(out_dir)] + FAST) == 0
    printed = capsys.readouterr().out
    md = (out_dir / "compare.md").read_text()
    assert md.count("\n| ") == 5 and "MSE@1" in md and "| constant_velocity |" in md
    assert "| constant_velocity |" in printed
    rows = list(csv.DictReader((out_dir / "compare.csv").open()))
    assert [r["model"] for r in rows] == ["srnn", "node_lstm", "zero_velocity", "constant_velocity"]
    assert all(float(r["MSE"]) > 0 for r in rows)
    assert rows[2]["params"] == "0" and int(rows[0]["params"]) > 0
    for name in ("srnn", "node_lstm", "zero_velocity"):
        assert (out_dir / name / "best.pt").is_file()
    # residual=True went to the models that take it; node_lstm.hidden to node_lstm only
    assert _kwargs(load_checkpoint(out_dir / "srnn" / "best.pt"))["residual"] is True
    assert _kwargs(load_checkpoint(out_dir / "node_lstm" / "best.pt")) == {"hidden": 4, "residual": True}
    assert _kwargs(load_checkpoint(out_dir / "zero_velocity" / "best.pt")) == {}
    assert not any(".tmp-" in p.name for p in out_dir.iterdir())


@pytest.mark.parametrize("argv,message", [
    (["train", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["train", "--model", "transformer"], "unknown model 'transformer'"),
    (["compare", "--models", "srnn,nope"], "unknown model 'nope'"),
    (["compare", "--models", "srnn,node_lstm", "--model-arg", "residul=True"],
     "--model-arg residul: none of the compared models (srnn, node_lstm) takes 'residul'"),
    (["train", "--model-arg", "wings=2"], "unknown option --model.wings"),
    (["train", "--model-arg", "wings"], "KEY=VALUE"),
    (["train", "--model-arg", "nope.hidden=3"], "unknown option --model.nope.hidden"),
    (["compare", "--models", "srnn", "--model-arg", "nope.hidden=3"], "unknown model 'nope'"),
    (["train", "--noise", "loud"], "--trainer.noise"),
    (["train", "--dataset", "los_loop"], "SRNN_PYG_DATA"),
    (["train", "--dataset", "brain4cars", "--data-root", "missing_dir"], "missing_dir"),
    (["train", "--dataset", "cmu_mocap", "--num-graphs", "3"], "unknown option --data.num_graphs"),
    (["evaluate", "no_such_run"], "no_such_run"),
])
def test_bad_arguments_exit_non_zero_with_a_message(argv, message, capsys):
    assert main(argv + ["--no-progress"] if argv[0] != "evaluate" else argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,message", [
    (["train", "--epochs", "0"], "--trainer.epochs: must be a positive int"),
    (["train", "--batch_size", "0"], "--batch_size: expected a positive number of windows"),
    (["compare", "--batch_size", "-3"], "--batch_size: expected a positive number of windows"),
    (["train", "--num_workers", "-1"], "--num_workers: expected 0"),
    (["train", "--protocol_every", "-1"], "--protocol_every: expected 0 (never) or a positive"),
    (["train", "--lr", "abc"], "--trainer.lr: expected float"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["train", "--objective", "guess"], "--trainer.objective: must be one of"),
    (["evaluate"], "checkpoint"),
    (["forecast", "run", "--index", "x"], "--index"),
    (["evaluate", "run", "--batch-size", "0"], "--batch-size: expected a positive number of windows (got 0)"),
    (["forecast", "run", "--num-workers", "-1"], "--num-workers: expected 0 or more"),
])
def test_parser_errors_are_one_line_with_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_warnings_print_as_one_line_naming_the_command(monkeypatch, capsys):
    import warnings

    import srnn_pyg.cli as cli

    def run(command, argv):
        warnings.warn_explicit("the library's own\n  warning", UserWarning,
                               os.path.join(cli._PACKAGE, "engine", "loop.py"), 3)
        warnings.warn_explicit("a dependency's", DeprecationWarning, os.path.join("site", "dep.py"), 7)
        return 0
    monkeypatch.setattr(cli, "_run", run)
    assert main(["evaluate", "run"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "srnn-pyg evaluate: warning: the library's own warning",
        "srnn-pyg evaluate: warning: a dependency's (DeprecationWarning from dep.py:7)"]


def test_a_malformed_config_file_is_one_line_with_exit_2(tmp_path, capsys):
    (tmp_path / "broken.yaml").write_text("model: [\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("model: [\n")
    for argv in (["train", "--config", str(tmp_path / "broken.yaml")], ["train", "--resume", str(tmp_path / "run")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("srnn-pyg train: error: malformed YAML") and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_no_command_prints_the_commands_and_exits_2(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


@pytest.mark.parametrize("command", [None, "train", "evaluate", "compare", "forecast"])
def test_help_explains_every_option(command, capsys):
    assert main(([command] if command else []) + ["--help"]) == 0
    text = capsys.readouterr().out
    if command in ("train", "compare"):
        for opt in ("--data", "--trainer.KEY", "--hidden", "--config", "--print_config", "--out_dir", "--threads",
                    "--logger", "--no-progress", "--overwrite"):
            assert opt in text
        assert ("--resume" in text) == (command == "train")       # compare does not resume
    elif command is not None:
        assert "--dataset" in text and "--threads" in text


def test_typed_help_lists_the_signatures(capsys):
    assert main(["train", "--model", "srnn", "--data", "springs", "--help"]) == 0
    text = capsys.readouterr().out
    for opt in ("--model.residual", "--model.node_hidden", "--data.num_graphs", "--data.obs", "--trainer.epochs",
                "--trainer.lr", "--trainer.noise", "--trainer.scheduler", "--trainer.amp", "--out_dir"):
        assert opt in text
    epochs = " ".join(text.split("--trainer.epochs EPOCHS\n", 1)[1].split("--trainer.")[0].split())
    assert "(type: int, default: 10)" in epochs and "required" not in epochs
    assert main(["compare", "--help"]) == 0                    # its pointer to the typed options works
    hint = " ".join(capsys.readouterr().out.split()).split("List the typed options: ")[1].split(" (loads")[0]
    assert main(hint.split()[1:]) == 0 and "--trainer.epochs" in capsys.readouterr().out


# ------------------------------------------------------- every registered dataset
def test_dataset_names_come_from_the_registry(capsys):
    from srnn_pyg.datasets import available
    assert main(["train", "--data", "springs", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in available():
        assert name in text
    assert {"eth_ucy", "h36m"} <= set(available())


def _write_h36m(folder, frames=360, seed=0):
    """Tiny Human3.6M-format files (99 comma-separated values per 50 Hz line)
    for every subject of the protocol and two actions."""
    import numpy as np
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None]
    for s in (1, 5, 6, 7, 8, 9, 11):
        (folder / f"S{s}").mkdir(parents=True, exist_ok=True)
        for action in ("walking", "eating"):
            for sub in (1, 2):
                x = 0.3 * np.sin(rng.uniform(0.01, 0.1, (1, 99)) * t + rng.uniform(0, 6, (1, 99)))
                np.savetxt(folder / f"S{s}" / f"{action}_{sub}.txt", x, delimiter=",", fmt="%.6f")


def test_train_and_evaluate_h36m_on_small_files(tmp_path, capsys):
    _write_h36m(tmp_path / "data" / "h3.6m" / "dataset")
    run = tmp_path / "run"
    argv = ["--dataset", "h36m", "--data-root", str(tmp_path / "data"), "--obs", "10", "--horizon", "5",
            "--batch-size", "16", "--dataset-arg", "stride=50"]
    assert main(["train", "--out-dir", str(run), "--epochs", "1", "--hidden", "8", "--no-progress",
                 "--device", "cpu", "--threads", "1"] + argv) == 0
    assert "trained srnn on h36m" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--device", "cpu", "--no-progress", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "h36m, split test" in out and "80ms" in out


def test_h36m_validates_on_held_out_subjects(tmp_path, capsys):
    _write_h36m(tmp_path / "data" / "h3.6m" / "dataset")
    run = tmp_path / "run"
    argv = ["--dataset", "h36m", "--data-root", str(tmp_path / "data"), "--obs", "10", "--horizon", "5",
            "--batch-size", "16", "--dataset-arg", "stride=50", "--dataset-arg", "val_subjects=[11]"]
    assert main(["train", "--out-dir", str(run), "--epochs", "2", "--hidden", "8", "--no-progress",
                 "--device", "cpu", "--threads", "1", "--trainer.monitor", "val_80ms"] + argv) == 0
    assert "best val_80ms" in capsys.readouterr().out
    history = json.loads((run / "result.json").read_text())["history"]
    assert all("val_loss" in h and "val_80ms" in h for h in history)
    assert main(["evaluate", str(run), "--split", "val", "--device", "cpu", "--no-progress", "--threads", "1"]) == 0
    assert "h36m, split val" in capsys.readouterr().out


def test_a_monitor_the_protocol_does_not_score_is_refused_before_training(tmp_path, capsys):
    _write_h36m(tmp_path / "data" / "h3.6m" / "dataset")
    run = tmp_path / "run"
    argv = ["--dataset", "h36m", "--data-root", str(tmp_path / "data"), "--obs", "10", "--horizon", "5",
            "--batch-size", "16", "--dataset-arg", "stride=50", "--dataset-arg", "val_subjects=[11]"]
    assert main(["train", "--out-dir", str(run), "--epochs", "2", "--hidden", "8", "--no-progress",
                 "--device", "cpu", "--threads", "1", "--trainer.monitor", "val_90ms"] + argv) == 2
    err = capsys.readouterr().err
    assert "--trainer.monitor: 'val_90ms' names no score of this dataset's protocol" in err and "80ms" in err
    assert "epoch 1" not in err and not run.exists()                  # refused before any epoch, no folder left


def test_h36m_without_its_files_names_them(tmp_path, capsys):
    assert main(["train", "--dataset", "h36m", "--data-root", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _write_cmu(root, layout, seed=0):
    """Tiny CMU-format files: ``layout`` {split: {action: [lines per file]}}."""
    import numpy as np
    rng = np.random.default_rng(seed)
    for split, actions in layout.items():
        for action, lengths in actions.items():
            folder = root / "cmu_mocap" / split / action
            folder.mkdir(parents=True, exist_ok=True)
            for n, T in enumerate(lengths, start=1):
                t = np.arange(T)[:, None]
                x = 0.4 * np.sin(rng.uniform(0.02, 0.2, (1, 117)) * t + rng.uniform(0, 6, (1, 117)))
                np.savetxt(folder / f"{action}_{n}.txt", x, delimiter=",", fmt="%.6f")


@pytest.mark.parametrize("held", [0, 1])
def test_cmu_mocap_with_and_without_a_validation_split(tmp_path, capsys, held):
    _write_cmu(tmp_path / "data", {"train": {"walking": [220, 200, 210], "running": [200, 190]},
                                   "test": {"walking": [200], "running": [190]}})
    run = tmp_path / "run"
    argv = ["--dataset", "cmu_mocap", "--data-root", str(tmp_path / "data"), "--obs", "10", "--horizon", "5",
            "--dataset-arg", "stride=20", "--dataset-arg", f"val_recordings={held}"]
    assert main(["train", "--out-dir", str(run), "--epochs", "2", "--hidden", "8", "--no-progress",
                 "--device", "cpu", "--threads", "1"] + argv) == 0
    capsys.readouterr()
    history = json.loads((run / "result.json").read_text())["history"]
    assert all(("val_loss" in h) == bool(held) for h in history)
    evaluate = ["evaluate", str(run), "--device", "cpu", "--no-progress", "--threads", "1"]
    assert main(evaluate) == 0
    assert "cmu_mocap, split test" in capsys.readouterr().out
    if held:
        assert main(evaluate + ["--split", "val"]) == 0
        assert "cmu_mocap, split val" in capsys.readouterr().out
    else:  # no validation split: one line naming why, not a traceback
        assert main(evaluate + ["--split", "val"]) == 2
        err = capsys.readouterr().err
        assert "cmu_mocap has no split 'val'" in err and "val_recordings >= 1" in err and "Traceback" not in err
    # another held-out part at evaluation would normalise otherwise than training: refused
    assert main(evaluate + ["--dataset-arg", f"val_recordings={held + 1}"]) == 2
    err = capsys.readouterr().err
    assert f"opened with val_recordings={held}, but this 'test' split has val_recordings={held + 1}" in err


def test_evaluate_names_a_missing_split_of_a_run_without_saved_statistics(tmp_path, capsys):
    """A dataset whose splits are opened from the training split (no statistics in the run): the
    missing validation split is named with its reason."""
    T, N = 40, 3
    path = tmp_path / "series.json"
    path.write_text(json.dumps({"edges": [[0, 1], [1, 2]], "weights": [1.0, 1.0],
                                "FX": [[float(t + n) for n in range(N)] for t in range(T)]}))
    run = tmp_path / "run"
    assert main(["train", "--dataset", "pyg_temporal_json", "--dataset-arg", f"path='{path}'",
                 "--out-dir", str(run), "--epochs", "1", "--hidden", "4", "--no-progress", "--device", "cpu",
                 "--threads", "1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "val", "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "pyg_temporal_json has no split 'val'" in err and "val_ratio > 0" in err and "Traceback" not in err


# small options per real dataset, so that one epoch takes seconds
REAL = {"cmu_mocap": ["--dataset-arg", "stride=200", "--dataset-arg", "actions=['walking']",
                      "--dataset-arg", "val_recordings=1"],
        "los_loop": ["--dataset-arg", "stride=100"], "chickenpox": [], "pedalme": [], "england_covid": [],
        "brain4cars": [], "eth_ucy": ["--dataset-arg", "skip=40", "--dataset-arg", "test_scene='hotel'"],
        "pyg_temporal_json": ["--dataset-arg", "path='pedalme_london.json'"]}


def test_every_registered_dataset_has_a_cli_test():
    from srnn_pyg.datasets import available
    assert set(available()) == set(REAL) | {"springs", "h36m"}


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(REAL))
def test_train_and_evaluate_every_real_dataset(name, tmp_path, capsys):
    from pathlib import Path
    from srnn_pyg.datasets import get
    base = os.environ.get("SRNN_PYG_DATA_FOR_TESTS")
    if not base:
        pytest.skip("SRNN_PYG_DATA is unset: the real datasets are not available")
    try:
        get(name).open("train", root=base)
    except FileNotFoundError as e:
        pytest.skip(f"{name}: {e}")
    run = tmp_path / "run"
    assert main(["train", "--dataset", name, "--data-root", base, "--hidden", "8", "--epochs", "1",
                 "--no-progress", "--device", "cpu", "--out-dir", str(run)] + REAL[name]) == 0
    assert main(["evaluate", str(run), "--device", "cpu", "--no-progress", "--output",
                 str(tmp_path / "eval.json")]) == 0
    assert f"{name}, split test" in capsys.readouterr().out
    scores = json.loads((tmp_path / "eval.json").read_text())["protocol"]
    assert scores and all(isinstance(v, float) for v in scores.values())
    assert Path(run / "best.pt").is_file()
    if name == "cmu_mocap":  # validation on each action's last training recording
        history = json.loads((run / "result.json").read_text())["history"]
        assert "val_loss" in history[-1]


def test_a_new_run_from_a_runs_best_weights_keeps_them_unless_beaten(tmp_path, capsys):
    """Fine-tuning from the command line: the first run's config and weights, another objective and rate;
    the starting weights are epoch 0 and stay the best unless an epoch beats them."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["train", "--dataset", "springs", "--num-graphs", "24", "--hidden", "8", "--epochs", "2",
                 "--no-progress", "--device", "cpu", "--threads", "1", "--out-dir", str(first)]) == 0
    assert main(["train", "--config", str(first / "config.yaml"), "--trainer.init_from", str(first),
                 "--trainer.objective", "rollout", "--trainer.lr", "50", "--trainer.grad_clip", "null",
                 "--trainer.epochs", "2", "--trainer.monitor", "val_mse", "--no-progress", "--threads", "1",
                 "--out_dir", str(second)]) == 0
    assert "best val_mse" in capsys.readouterr().out
    result = json.loads((second / "result.json").read_text())
    assert [h["epoch"] for h in result["history"]] == [0, 1, 2] and result["best_epoch"] == 0
    from srnn_pyg.engine import load_checkpoint
    best = load_checkpoint(first / "best.pt")["model"]
    assert all(torch.equal(v, best[k]) for k, v in load_checkpoint(second / "best.pt")["model"].items())
    # fine-tuning into the folder it starts from would clear (--overwrite) or overwrite it: refused first
    before = sorted(p.name for p in first.iterdir())
    for extra in ([], ["--overwrite"]):
        assert main(["train", "--config", str(first / "config.yaml"), "--trainer.init_from", str(first),
                     "--trainer.epochs", "1", "--no-progress", "--out_dir", str(first)] + extra) == 2
        err = capsys.readouterr().err
        assert "--trainer.init_from" in err and "fine-tune into another folder" in err
        assert sorted(p.name for p in first.iterdir()) == before
    # compare clears each model's folder under --out_dir: refused before anything is cleared
    cmp_dir, node = tmp_path / "cmp", tmp_path / "cmp" / "srnn"
    assert main(["train", "--config", str(first / "config.yaml"), "--trainer.epochs", "1", "--no-progress",
                 "--out_dir", str(node)]) == 0
    kept = sorted(p.name for p in node.iterdir())
    assert main(["compare", "--models", "srnn", "--data", "springs", "--data.num_graphs", "24", "--hidden", "8",
                 "--trainer.epochs", "1", "--trainer.init_from", str(node), "--no-progress", "--threads", "1",
                 "--out_dir", str(cmp_dir), "--overwrite"]) == 2
    assert "fine-tune into another folder" in capsys.readouterr().err
    assert sorted(p.name for p in node.iterdir()) == kept and "best.pt" in kept
    assert main(["train", "--config", str(first / "config.yaml"), "--trainer.init_from", str(tmp_path / "none"),
                 "--trainer.epochs", "1", "--no-progress", "--out_dir", str(tmp_path / "third")]) == 2
    assert "--trainer.init_from: checkpoint not found: " in capsys.readouterr().err
    assert not (tmp_path / "third").exists()


@pytest.mark.parametrize("protocol, flag, expected, monitor", [
    ("l1", [], "l1", "val_mae"), ("l1", ["--trainer.loss", "mse"], "mse", "val_mse"),
    ("euclidean", [], "euclidean", "val_ade"), ("l1", ["--trainer.monitor", "val_loss"], "l1", "val_loss"),
    ("euclidean", ["--trainer.metrics", "[loss, mse]"], "euclidean", "val_ade"),
    ("l1", ["--trainer.objective", "rollout"], "l1", "val_mae")])
def test_train_uses_the_datasets_protocol_loss_unless_told(tmp_path, capsys, monkeypatch, protocol, flag,
                                                           expected, monitor):
    """A dataset whose protocol names a training loss (Los-loop's L1, ETH/UCY's Euclidean length) trains
    with it by default, as the accuracy benchmark does, and a forecaster is kept on the validation error
    of its forecast in that loss's sense (MAE, ADE, else MSE); explicit flags win."""
    from srnn_pyg.datasets import Springs
    monkeypatch.setitem(Springs.defaults, "loss", protocol)
    run = tmp_path / "run"
    assert main(["train", "--dataset", "springs", "--num-graphs", "16", "--hidden", "8", "--epochs", "1",
                 "--no-progress", "--device", "cpu", "--threads", "1", "--out-dir", str(run)] + flag) == 0
    from srnn_pyg.engine import load_checkpoint
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["config"]["loss"] == expected and ckpt["config"]["monitor"] == monitor
    assert monitor in ckpt["history"][-1] and f"best {monitor}" in capsys.readouterr().out
    # evaluate scores the loss the run trained with: its val_loss again on the validation split
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(run / "last.pt"), "--split", "val", "--device", "cpu", "--no-progress",
                 "--threads", "1", "--output", str(out)]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["loss"] == pytest.approx(ckpt["history"][-1]["val_loss"], rel=1e-6)
    # and the run resumes with its loss, monitor and the metrics the monitor needs
    assert main(["train", "--resume", str(run), "--trainer.epochs", "2", "--no-progress", "--threads", "1"]) == 0
    resumed = load_checkpoint(run / "last.pt")
    assert [h["epoch"] for h in resumed["history"]] == [1, 2] and monitor in resumed["history"][-1]
    assert resumed["config"]["loss"] == expected and resumed["config"]["monitor"] == monitor


def test_a_resumed_run_from_before_the_protocol_loss_keeps_the_heads_own(tmp_path, capsys, monkeypatch):
    from srnn_pyg.datasets import Springs
    from srnn_pyg.engine import load_checkpoint, write_checked
    run = tmp_path / "run"
    args = ["--no-progress", "--device", "cpu", "--threads", "1"]
    assert main(["train", "--dataset", "springs", "--num-graphs", "16", "--hidden", "8", "--epochs", "1",
                 "--out-dir", str(run)] + args) == 0
    ckpt = load_checkpoint(run / "last.pt")
    del ckpt["config"]["loss"]                          # as a checkpoint of an earlier version,
    ckpt["config"]["monitor"] = ckpt["monitor"] = "val_loss"       # which selected on val_loss by default
    ckpt["best_score"] = ckpt["history"][-1]["val_loss"]
    ckpt.pop("path", None)
    write_checked(ckpt, run / "last.pt")
    monkeypatch.setitem(Springs.defaults, "loss", "l1")
    assert main(["train", "--resume", str(run), "--trainer.epochs", "2"] + args) == 0
    saved = load_checkpoint(run / "last.pt")["config"]
    assert saved["loss"] is None and saved["monitor"] == "val_loss"
