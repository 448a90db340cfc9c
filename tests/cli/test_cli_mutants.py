"""Tests written after a hand-made mutation run of the command line (cli/training.py, commands.py,
options.py, typed.py, resources.py, tables.py, plot.py): each fails on a mutant that the rest of the
suite lets through.

Mutants killed here (the change, then the test that kills it):

* training.py, ``_flag`` keeping the first ``--out_dir`` for a bare ``--resume``:
  ``test_a_bare_resume_continues_the_last_out_dir_given``.
* training.py, ``_name_from_configs`` taking the model's name from the first ``--config`` that names one:
  ``test_the_last_config_file_names_the_model``.
* training.py, ``_run_loss`` giving the dataset's protocol loss to a model whose head is not a point head:
  ``test_the_datasets_protocol_loss_is_for_models_with_a_point_head_only``.
* training.py, the checkpoint's meta without ``batch_size``, or without the ``command``:
  ``test_the_checkpoint_records_the_data_the_command_and_the_batch_size``.
* typed.py, ``threads`` or ``protocol_every`` left out of ``RUN_KEYS`` (a resume that changes them refused):
  ``test_a_resume_may_change_the_runs_own_options_without_override``.
* typed.py, the default of ``--trainer.epochs`` changed, or the ``auto`` default of ``--trainer.objective``
  dropped: ``test_train_defaults_to_ten_epochs_and_the_automatic_objective``.
* typed.py, ``one_line`` naming the first value jsonargparse quotes (an element) instead of the last (the
  value given): ``test_a_wrong_value_inside_a_list_is_reported_as_the_whole_value_given``.
* options.py, ``CommandParser`` taking abbreviated options: ``test_an_abbreviated_option_of_evaluate_is_refused``.
* options.py, ``key_values`` keeping hyphens in keys: ``test_a_hyphen_in_a_key_value_key_is_an_underscore``.
* options.py, ``noise_option`` not reading ``"none"`` as no noise: ``test_the_word_none_is_no_noise``.
* commands.py, ``_checkpoint_config`` starting from the run's data options for another dataset, replacing the
  run's ``extra`` options by ``--dataset-arg``'s, or resetting the run's seed:
  ``test_evaluate_opens_the_runs_data_with_the_options_given_added``.
* commands.py, ``_check_output`` not refusing the checkpoint read itself (outside a run folder, with
  --overwrite): ``test_an_output_never_replaces_the_checkpoint_read_even_with_overwrite``.
* resources.py, ``typed_data_config`` keeping ``root``/``obs``/``horizon`` in ``extra`` (where they override
  evaluate's and forecast's options): ``test_forecast_options_override_the_window_sizes_the_run_recorded``
  (and ``test_the_checkpoint_records_the_data_the_command_and_the_batch_size``).
* resources.py, ``--hidden`` not sizing S-RNN's MLPs: ``test_hidden_sizes_the_srnn_mlps_too``.
* resources.py, ``model_extra`` matching a ``MODEL.KEY`` scope in one case only:
  ``test_a_model_arguments_scope_is_a_model_name_in_any_case``.
* tables.py, ``fmt(None)`` written as ``None``: ``test_a_missing_value_is_a_blank_cell``.
* tables.py, the CSV written with ``\\r\\n`` line ends, or its numbers rounded as in the Markdown table:
  ``test_the_csv_table_keeps_full_precision_and_plain_newlines``.
* plot.py, ``position_channels`` ignoring the class's ``defaults``:
  ``test_position_channels_fall_back_to_the_dataset_classs_defaults``.
* plot.py, the class picture naming the label of the first step, not the last:
  ``test_the_class_picture_names_the_label_of_the_last_observed_step``.
* plot.py, trajectories drawn when the windows have only as many features as the larger position channel
  (``>=`` for ``>``): ``test_a_position_the_windows_lack_is_drawn_as_curves_over_time``.

A second run (the 78 mutants left) added:

* training.py, ``_check_resume`` taking a model key the saved config lacks (an older config) for a change of
  model (``and k in before`` dropped): ``test_a_model_key_the_saved_config_lacks_is_no_change_of_model``.
* training.py, compare's dataset not taken from a ``--config`` file:
  ``test_compare_takes_the_dataset_from_a_config_file``.
* training.py, compare not checking each model's folder before anything:
  ``test_compare_checks_each_models_folder_before_anything``.
* training.py, compare's new numbered folder kept (not ``made``) when it stops before training:
  ``test_a_compare_that_stops_before_training_leaves_no_new_folder``.
* training.py, ``_compare_row`` scoring the last epoch's weights (``restore_best=False``), or writing the epochs
  run as the best epoch: ``test_compare_scores_each_model_at_its_best_epoch_when_there_is_a_validation_split``.
* training.py, ``_compare_row`` scoring an empty split: ``test_compare_gives_an_error_row_for_an_empty_split``.
* training.py, ``train --resume RUN --overwrite`` not refused: ``test_resume_and_overwrite_together_are_refused``.
* training.py, ``_check_trainer`` not refusing a protocol monitor that ``--protocol_every`` scores too rarely
  (refused only once the data is open): ``test_a_protocol_monitor_scored_too_rarely_is_refused_before_the_data_opens``.
* commands.py, ``evaluate`` not passing the run's ``horizon``:
  ``test_evaluate_scores_with_the_runs_loss_objective_and_horizon``.
* commands.py, ``_predict`` forecasting as many steps as the truth has, not ``--horizon``:
  ``test_forecast_horizon_wins_over_the_truths_length``.
* commands.py, ``forecast --index`` refusing a negative index, or taking one past the last:
  ``test_forecast_index_counts_from_the_end_and_stops_before_the_last``.
* commands.py, ``forecast --input`` asking a classification run for ``--horizon``:
  ``test_classification_windows_without_truth_need_no_horizon``.
* commands.py, ``_predict`` writing a classifier's logits, not its probabilities:
  ``test_a_class_forecast_is_a_probability_per_class``.
* commands.py, ``_predict`` keeping ``x_data_units``/``y_data_units`` when the forecast's conversion fails:
  ``test_the_data_units_are_all_three_or_none``.
* commands.py, the forecast written to ``forecast.pt`` in the working folder, not next to the checkpoint:
  ``test_the_forecast_goes_next_to_the_checkpoint_by_default``.
* commands.py, ``--threads`` of evaluate/forecast ignored: ``test_evaluate_uses_the_threads_given``.
* options.py, ``key_values`` taking ``A.B.C`` keys: ``test_a_scoped_key_has_at_most_one_dot``.
* options.py, ``prescan`` keeping hyphens in ``--model-arg`` keys, or without ``--weight-decay``:
  ``test_the_former_flags_are_typed_keys``.
* options.py, ``prescan`` letting ``compare --model`` through to the typed parser:
  ``test_compare_points_model_to_models``.
* typed.py, ``one_line`` naming ``NoneType`` where the option takes ``null``:
  ``test_an_optional_value_is_expected_as_null``.
* resources.py, ``_channels`` counting one class too few for a dataset without ``num_classes``:
  ``test_the_classes_of_a_dataset_without_num_classes_count_from_its_largest_label``.
* resources.py, ``objective_for`` taking a model without ``has_forward`` for a rollout-only one:
  ``test_the_automatic_objective_of_a_model_without_has_forward_is_teacher_forcing``.
* resources.py, ``dataset_class`` finding a registered dataset in lower case only:
  ``test_a_dataset_name_is_found_in_any_case``.
* resources.py, ``typed_data_config`` dropping ``--data.seed`` (always 0):
  ``test_the_seed_of_the_data_options_is_kept``.
* resources.py, ``loader`` never shuffling: ``test_the_training_loader_shuffles``.
* plot.py, ``plot_labels`` naming classes from a callable ``actions``:
  ``test_a_callable_actions_attribute_names_no_classes``.
* plot.py, ``_curves`` drawing every node, not at most six: ``test_at_most_six_nodes_are_drawn_as_curves``.
* plot.py, the picture drawing the observed steps in model units next to a forecast in data units:
  ``test_the_picture_draws_the_observed_steps_in_data_units``.

Left alive as equivalent: training.py ``_trainer_kwargs`` resolving ``auto`` to ``rollout`` when no model is
known (that TrainConfig is built only to check the values, and none of its checks depends on the objective);
resources.py ``open_split``'s own unknown-split check removed (the dataset's ``open`` refuses it with the same
message); tables.py ``fmt``'s switch to whole numbers at 1e3 instead of 1e4 (``.4g`` and ``.0f`` agree
below 9999.5); commands.py ``_protocol``'s empty-split check removed (``evaluate()`` refuses an empty
loader first); options.py ``noise_option`` taking a bool as it is (``float(True)`` is no better a std);
commands.py ``--horizon`` kept as a data option for ``forecast --input`` (Springs opens at any horizon and
its statistics do not depend on it); resources.py ``model_extra`` without its ``**kwargs`` case (no
registered model takes ``**kwargs``); plot.py ``plot_forecast`` without its ``mkdir`` (``atomic_write`` makes
the folder).
"""
import json
import shutil
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
import torch
import yaml

from srnn_pyg.cli import commands, main, plot, resources
from srnn_pyg.cli.options import CLIError, checkpoint_parser, key_values, noise_option, prescan
from srnn_pyg.cli.plot import position_channels
from srnn_pyg.cli.tables import csv_table, fmt, markdown_table
from srnn_pyg.engine import load_checkpoint

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


def _epochs(run):
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


# ----------------------------------------------------------------------------------- training.py
def test_a_bare_resume_continues_the_last_out_dir_given(run, tmp_path, capsys):
    argv = ["train", "--resume", "--out_dir", str(tmp_path / "elsewhere"), "--out_dir", str(run),
            "--trainer.epochs", "3"]
    assert main(argv) == 0, capsys.readouterr().err
    assert _epochs(run) == [1, 2, 3] and not (tmp_path / "elsewhere").exists()


def test_the_last_config_file_names_the_model(tmp_path, capsys):
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text("model:\n  name: srnn\ndata:\n  name: springs\n")
    second.write_text("model:\n  name: node_lstm\n")
    assert main(["train", "--config", str(first), "--config", str(second), "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["name"] == "node_lstm" and "edge_hidden" not in printed["model"]


def test_the_checkpoint_records_the_data_the_command_and_the_batch_size(trained):
    meta = load_checkpoint(trained / "last.pt")["meta"]
    assert meta["dataset"] == "springs" and meta["batch_size"] == 8
    assert meta["command"].startswith("srnn-pyg train --trainer.epochs 2 --out_dir ")
    assert meta["dataset_config"]["obs"] == 6 and meta["dataset_config"]["extra"] == {"num_graphs": 20}
    assert len(meta["dataset_config"]["reuse"]["stats"]) == 2           # the training statistics, for evaluate


def test_the_datasets_protocol_loss_is_for_models_with_a_point_head_only():
    from srnn_pyg.cli.training import _run_loss
    from srnn_pyg.nn.heads import GaussianHead

    class Crowds:
        defaults, task = {"loss": "euclidean"}, "regression"

    cfg = SimpleNamespace(trainer=SimpleNamespace(loss=None))
    point, gaussian = torch.nn.Linear(2, 2), torch.nn.Linear(2, 5)
    gaussian.head = GaussianHead()
    assert _run_loss(cfg, Crowds(), point) == "euclidean"
    assert _run_loss(cfg, Crowds(), gaussian) is None                 # a Gaussian head keeps its own loss


def test_a_resume_may_change_the_runs_own_options_without_override(run, capsys):
    argv = ["train", "--resume", str(run), "--trainer.epochs", "3", "--threads", "2", "--protocol_every", "0"]
    assert main(argv) == 0, capsys.readouterr().err
    assert _epochs(run) == [1, 2, 3]


def test_a_protocol_monitor_scored_too_rarely_is_refused_before_the_data_opens(capsys):
    assert main(["train", "--protocol_every", "0", "--trainer.monitor", "val_MSE", "--print_config"] + TINY) == 2
    assert "--protocol_every 0" in capsys.readouterr().err


def test_a_model_key_the_saved_config_lacks_is_no_change_of_model(run, capsys):
    saved = yaml.safe_load((run / "config.yaml").read_text())
    key = next(k for k, v in saved["model"].items() if k != "name" and v is not None)   # as an older config lacks
    del saved["model"][key]
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    assert main(["train", "--resume", str(run), "--override", "--trainer.epochs", "3"]) == 0, capsys.readouterr().err
    assert _epochs(run) == [1, 2, 3]


def test_compare_checks_each_models_folder_before_anything(tmp_path, capsys):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "zero_velocity").write_text("a file where the model's folder goes")
    argv = ["compare", "--models", "zero_velocity", "--out_dir", str(out), "--overwrite", "--print_config"] + TINY
    assert main(argv) == 2
    assert "expected a folder" in capsys.readouterr().err


def test_a_compare_that_stops_before_training_leaves_no_new_folder(tmp_path, monkeypatch):
    from srnn_pyg.cli import training

    def interrupted(n):
        raise KeyboardInterrupt
    monkeypatch.setattr(training, "_set_threads", interrupted)
    assert main(["compare", "--models", "zero_velocity"] + TINY) == 130
    assert not (tmp_path / "runs" / "compare-springs-001").exists()


def test_compare_takes_the_dataset_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  name: h36m\n")
    assert main(["compare", "--models", "zero_velocity", "--config", str(config), "--print_config"]) == 0, \
        capsys.readouterr().err
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert data["name"] == "h36m" and "num_graphs" not in data


def _row(monkeypatch, tmp_path, split, val):
    """``_compare_row`` of one model with the training stubbed out; returns the row and the fit's keywords."""
    from srnn_pyg.cli import training
    seen = {}

    def fit_one(name, sets, cfg, out_dir, extra, meta, **kw):
        seen.update(kw)
        return torch.nn.Linear(1, 1), SimpleNamespace(epochs_run=2, best_epoch=1), 0.0
    monkeypatch.setattr(training, "_fit_one", fit_one)
    monkeypatch.setattr(training, "_model_config", lambda text, n, extra: text)
    (tmp_path / "config.yaml").write_text("{}\n")
    row = training._compare_row(SimpleNamespace(split="test"), "zero", {}, {"train": [], "val": val, "test": split},
                                tmp_path, [], {})
    return row, seen


def _split(n):
    split = MagicMock(score=MagicMock(return_value={"MSE": 0.5}))
    split.__len__.return_value = n
    return split


def test_compare_scores_each_model_at_its_best_epoch_when_there_is_a_validation_split(monkeypatch, tmp_path):
    split = _split(1)
    monkeypatch.setattr("srnn_pyg.engine.collect", lambda *a, **k: {})
    row, seen = _row(monkeypatch, tmp_path, split, val=["window"])
    assert seen["restore_best"] is True and (row["epochs"], row["best epoch"], row["MSE"]) == (2, 1, 0.5)
    assert _row(monkeypatch, tmp_path, split, val=None)[1]["restore_best"] is False


def test_compare_gives_an_error_row_for_an_empty_split(monkeypatch, tmp_path):
    split = _split(0)
    monkeypatch.setattr("srnn_pyg.engine.collect", lambda *a, **k: {})
    row, _ = _row(monkeypatch, tmp_path, split, val=None)
    assert row == {"model": "zero", "error": "the test split holds no windows"}


def test_resume_and_overwrite_together_are_refused(run, capsys):
    assert main(["train", "--resume", str(run), "--overwrite", "--trainer.epochs", "3"]) == 2
    assert "--resume continues a run and --overwrite replaces it" in capsys.readouterr().err
    assert _epochs(run) == [1, 2]


# ------------------------------------------------------------------------------------ commands.py
def test_evaluate_opens_the_runs_data_with_the_options_given_added():
    args = checkpoint_parser("evaluate").parse_args(["run", "--dataset-arg", "num_nodes=5", "--obs", "4"])
    meta = {"dataset": "springs", "dataset_config": {"obs": 6, "horizon": 3, "seed": 3, "extra": {"num_graphs": 20}}}
    cfg = commands._checkpoint_config(args, meta, "springs")
    assert cfg == {"obs": 4, "horizon": 3, "seed": 3, "extra": {"num_graphs": 20, "num_nodes": 5}}
    # another dataset than the run's starts from its own defaults, not from the run's options
    assert commands._checkpoint_config(args, meta, "h36m") == {"seed": 0, "obs": 4, "extra": {"num_nodes": 5}}



def test_an_output_never_replaces_the_checkpoint_read_even_with_overwrite(run, tmp_path, capsys):
    model = tmp_path / "model.pt"                          # a checkpoint outside any run folder
    model.write_bytes((run / "best.pt").read_bytes())
    assert main(["evaluate", str(model), "--output", str(model), "--overwrite", "--device", "cpu"]) == 2
    assert "is a run's own file" in capsys.readouterr().err
    assert model.read_bytes() == (run / "best.pt").read_bytes()


def test_evaluate_scores_with_the_runs_loss_objective_and_horizon(run, tmp_path, monkeypatch):
    import srnn_pyg.engine
    real, seen = commands._from_checkpoint, {}

    def from_checkpoint(args, **kw):
        ckpt, *rest = real(args, **kw)
        ckpt["config"] = {**ckpt["config"], "loss": "l1", "objective": "rollout", "horizon": 2}
        return (ckpt, *rest)

    def evaluate(model, loader, **kw):
        seen.update(kw)
        return {}
    monkeypatch.setattr(commands, "_from_checkpoint", from_checkpoint)
    monkeypatch.setattr(srnn_pyg.engine, "evaluate", evaluate)
    assert main(["evaluate", str(run / "best.pt"), "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
    assert (seen["loss"], seen["objective"], seen["horizon"]) == ("l1", "rollout", 2)


def test_forecast_horizon_wins_over_the_truths_length(run, tmp_path, capsys):
    from srnn_pyg.datasets import Springs
    train = Springs(num_graphs=20, obs=6, horizon=3)
    torch.save([Springs(num_graphs=2, obs=6, horizon=3, split="test", stats=train.stats)[0]], tmp_path / "in.pt")
    assert main(["forecast", str(run / "best.pt"), "--input", str(tmp_path / "in.pt"), "--horizon", "5",
                 "--no-plot", "--device", "cpu", "--output", str(tmp_path / "f.pt")]) == 0, capsys.readouterr().err
    saved = torch.load(tmp_path / "f.pt", weights_only=False)
    assert saved["pred"].shape[1] == 5 and saved["y"].shape[1] == 3


def test_forecast_index_counts_from_the_end_and_stops_before_the_last(run, tmp_path, capsys):
    common = ["forecast", str(run / "best.pt"), "--no-plot", "--device", "cpu", "--threads", "1", "--overwrite",
              "--output", str(tmp_path / "f.pt"), "--index"]
    assert main(common + ["100000"]) == 2
    n = int(capsys.readouterr().err.split("split's ")[1].split()[0])
    assert main(common + [str(n)]) == 2 and f"--index {n} is outside" in capsys.readouterr().err
    assert main(common + [str(-n)]) == 0, capsys.readouterr().err
    assert torch.load(tmp_path / "f.pt", weights_only=False)["index"] == [-n]


def test_classification_windows_without_truth_need_no_horizon(run, tmp_path, monkeypatch, capsys):
    from srnn_pyg.datasets import Springs
    monkeypatch.setattr(resources, "task_of", lambda dataset: "classification")
    monkeypatch.setattr(Springs, "task", "classification", raising=False)
    monkeypatch.setattr(commands, "_predict", lambda *a: {"pred": torch.zeros(5, 6, 2)})   # no model run
    windows = [SimpleNamespace(get=lambda key: None)]
    monkeypatch.setattr(commands, "_read_windows", lambda path, model: windows)
    (tmp_path / "in.pt").write_bytes(b"")
    assert main(["forecast", str(run / "best.pt"), "--input", str(tmp_path / "in.pt"), "--no-plot", "--device",
                 "cpu", "--output", str(tmp_path / "f.pt")]) == 0, capsys.readouterr().err
    assert torch.load(tmp_path / "f.pt", weights_only=False)["pred"].shape == (5, 6, 2)


def test_a_class_forecast_is_a_probability_per_class():
    from torch_geometric.data import Data
    window = Data(x=torch.zeros(2, 3, 1), edge_index=torch.zeros(2, 0, dtype=torch.long))
    logits = torch.tensor([2.0, 0.0]).expand(2, 3, 2)                # [nodes, T, classes]
    out = commands._predict(lambda batch: logits, [window], "cpu", None, True, None)
    assert torch.allclose(out["pred"], torch.softmax(logits, dim=-1))


def test_the_data_units_are_all_three_or_none(capsys):
    from torch_geometric.data import Data
    calls = []

    def denormalize(values):                                           # converts x and y, fails on the forecast
        calls.append(values)
        if len(calls) == 3:
            raise ValueError("no statistics for these channels")
        return values * 2
    dataset = SimpleNamespace(mean=torch.zeros(1), denormalize=denormalize)
    window = Data(x=torch.ones(2, 3, 1), y=torch.ones(2, 2, 1), edge_index=torch.zeros(2, 0, dtype=torch.long))
    model = SimpleNamespace(forecast=lambda batch, h: torch.zeros(2, h, 1))
    out = commands._predict(model, [window], "cpu", None, False, dataset)
    assert not {"x_data_units", "y_data_units", "pred_data_units"} & set(out) and len(calls) == 3
    assert "stays in model units only" in capsys.readouterr().out


def test_the_forecast_goes_next_to_the_checkpoint_by_default(run, tmp_path, capsys):
    assert main(["forecast", str(run / "best.pt"), "--no-plot", "--device", "cpu", "--threads", "1"]) == 0, \
        capsys.readouterr().err
    assert (run / "forecast.pt").is_file() and not (tmp_path / "forecast.pt").exists()


def test_evaluate_uses_the_threads_given(monkeypatch):
    seen = []
    monkeypatch.setattr(torch, "set_num_threads", seen.append)
    assert commands._parse("evaluate", ["run/best.pt", "--threads", "3", "--device", "cpu"]) is not None
    assert seen == [3]


# ------------------------------------------------------------------------------------ options.py
def test_an_abbreviated_option_of_evaluate_is_refused():
    with pytest.raises(CLIError, match="--out"):
        checkpoint_parser("evaluate").parse_args(["run", "--out", "scores.json"])



def test_a_hyphen_in_a_key_value_key_is_an_underscore():
    assert key_values(["num-graphs=20", "node_lstm.hidden-size=4"], "--model-arg", scoped=True) == \
        {"num_graphs": 20, "node_lstm.hidden_size": 4}



def test_the_word_none_is_no_noise():
    assert noise_option("none") is None and noise_option(None) is None and noise_option("0.01") == 0.01


def test_a_scoped_key_has_at_most_one_dot():
    with pytest.raises(CLIError, match="is not an argument name"):
        key_values(["srnn.edge.hidden=4"], "--model-arg", scoped=True)


def test_the_former_flags_are_typed_keys():
    assert prescan(["--grad-clip", "0", "--weight-decay", "0.1", "--model-arg", "hidden-size=4"], "train").argv == \
        ["--trainer.grad_clip", "null", "--trainer.weight_decay", "0.1", "--model.hidden_size", "4"]


def test_compare_points_model_to_models(capsys):
    assert main(["compare", "--model", "srnn"]) == 2
    assert "compare: use --models A,B,... (got --model)" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- typed.py
def test_train_defaults_to_ten_epochs_and_the_automatic_objective(capsys):
    assert main(["train", "--print_config"]) == 0
    trainer = yaml.safe_load(capsys.readouterr().out)["trainer"]
    assert trainer["epochs"] == 10 and trainer["objective"] == "auto"



def test_a_wrong_value_inside_a_list_is_reported_as_the_whole_value_given(capsys):
    assert main(["train", "--model.edge_mlp", "[a]"]) == 2
    err = capsys.readouterr().err
    assert "--model.edge_mlp: expected" in err and "(got \"['a']\")" in err


def test_an_optional_value_is_expected_as_null(capsys):
    assert main(["train", "--hidden", "abc"]) == 2
    err = capsys.readouterr().err
    assert "--hidden: expected" in err and "null" in err and "NoneType" not in err


# ---------------------------------------------------------------------------------- resources.py
def test_forecast_options_override_the_window_sizes_the_run_recorded(run, tmp_path, capsys):
    out = tmp_path / "f.pt"
    assert main(["forecast", str(run / "best.pt"), "--horizon", "2", "--no-plot", "--output", str(out),
                 "--device", "cpu", "--threads", "1"]) == 0, capsys.readouterr().err
    saved = torch.load(out, weights_only=False)
    assert saved["y"].shape[1] == saved["pred"].shape[1] == 2          # the windows were opened with 2 steps


def test_hidden_sizes_the_srnn_mlps_too():
    kw = resources.model_kwargs("srnn", 8, False, {})
    assert kw["edge_hidden"] == kw["node_hidden"] == 8 and kw["edge_mlp"] == kw["node_mlp"] == (8,)


def test_a_model_arguments_scope_is_a_model_name_in_any_case():
    items = ["Node_LSTM.hidden=4", "srnn.residual=True"]
    assert resources.model_extra(items, "node_lstm", strict=False) == {"hidden": 4}


def test_the_classes_of_a_dataset_without_num_classes_count_from_its_largest_label():
    sample = SimpleNamespace(x=torch.zeros(2, 3, 5), y=torch.tensor([[0, 2]]))
    assert resources._channels([sample], classification=True) == (5, 3)


def test_the_automatic_objective_of_a_model_without_has_forward_is_teacher_forcing():
    assert resources.objective_for("auto", object()) == "teacher_forcing"
    assert resources.objective_for("auto", SimpleNamespace(has_forward=False)) == "rollout"


def test_a_dataset_name_is_found_in_any_case():
    assert resources.dataset_class("Springs") is resources.dataset_class("springs")


def test_the_seed_of_the_data_options_is_kept():
    data = {"root": None, "obs": 6, "horizon": 3, "seed": 7}
    assert resources.typed_data_config(data, {})["seed"] == 7
    assert resources.typed_data_config({**data, "seed": None}, {})["seed"] == 0


def test_the_training_loader_shuffles():
    from torch.utils.data import RandomSampler
    assert isinstance(resources.loader(list(range(4)), 2, shuffle=True).sampler, RandomSampler)
    assert not isinstance(resources.loader(list(range(4)), 2).sampler, RandomSampler)


# ------------------------------------------------------------------------------------- tables.py
def test_a_missing_value_is_a_blank_cell():
    assert fmt(None) == ""
    assert markdown_table([{"model": "zero", "best epoch": None}]).splitlines()[-1] == "| zero |  |"


def test_the_csv_table_keeps_full_precision_and_plain_newlines():
    assert csv_table([{"model": "srnn", "MSE": 0.123456789, "best epoch": None}]) == \
        "model,MSE,best epoch\nsrnn,0.123456789,\n"


# --------------------------------------------------------------------------------------- plot.py
def test_position_channels_fall_back_to_the_dataset_classs_defaults():
    class Crowds:
        defaults = {"position_channels": (2, 3)}
    assert position_channels(Crowds()) == (2, 3)
    assert position_channels(SimpleNamespace()) is None


def test_the_class_picture_names_the_label_of_the_last_observed_step():
    ax = MagicMock()
    pred = torch.full((1, 3, 2), 0.5)                                  # [nodes, T, classes]
    labels = torch.tensor([[0, 0, 1]])                                 # the manoeuvre shows at the last step
    plot._classes(ax, MagicMock(), "brain4cars", pred, labels, ["straight", "turn"], "driver")
    assert ax.set_title.call_args[0][0].endswith("(true: turn)")


def test_a_position_the_windows_lack_is_drawn_as_curves_over_time(tmp_path):
    pytest.importorskip("matplotlib")
    n = 3                                                               # one feature: no (0, 1) plane to draw
    out = {"x": torch.randn(n, 4, 1), "y": torch.randn(n, 2, 1), "pred": torch.randn(n, 2, 1),
           "ptr": torch.tensor([0, n])}
    picture = tmp_path / "pictures" / "f.png"                         # its folder is made
    assert plot.plot_forecast(out, "springs", False, picture, pos=(0, 1))
    assert picture.read_bytes()[:4] == b"\x89PNG"


def test_a_callable_actions_attribute_names_no_classes():
    assert "class_names" not in plot.plot_labels(SimpleNamespace(actions=lambda: ["a"]))
    assert plot.plot_labels(SimpleNamespace(actions=("go", 1)))["class_names"] == ["go", "1"]


def test_at_most_six_nodes_are_drawn_as_curves():
    ax, n = MagicMock(), 8
    x, y = torch.zeros(n, 4, 1), torch.zeros(n, 2, 1)
    plot._curves(ax, MagicMock(), "springs", x, y, y, "value", [f"n{i}" for i in range(n)], (1.0, "steps"))
    assert ax.plot.call_count == 3 * 6 and "6 of its 8 nodes" in ax.set_title.call_args[0][0]


def test_the_picture_draws_the_observed_steps_in_data_units(monkeypatch, tmp_path):
    pytest.importorskip("matplotlib")
    seen = {}
    monkeypatch.setattr(plot, "_curves", lambda ax, plt, name, x, *rest: seen.setdefault("x", x))
    out = {"x": torch.zeros(2, 4, 1), "x_data_units": torch.ones(2, 4, 1), "pred": torch.zeros(2, 2, 1),
           "pred_data_units": torch.ones(2, 2, 1), "ptr": torch.tensor([0, 2])}
    assert plot.plot_forecast(out, "springs", False, tmp_path / "f.png")
    assert torch.equal(seen["x"], torch.ones(2, 4, 1))
