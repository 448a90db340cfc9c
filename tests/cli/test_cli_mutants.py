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
from srnn_pyg.cli.options import CLIError, checkpoint_parser, key_values, noise_option
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


# ------------------------------------------------------------------------------------ options.py
def test_an_abbreviated_option_of_evaluate_is_refused():
    with pytest.raises(CLIError, match="--out"):
        checkpoint_parser("evaluate").parse_args(["run", "--out", "scores.json"])



def test_a_hyphen_in_a_key_value_key_is_an_underscore():
    assert key_values(["num-graphs=20", "node_lstm.hidden-size=4"], "--model-arg", scoped=True) == \
        {"num_graphs": 20, "node_lstm.hidden_size": 4}



def test_the_word_none_is_no_noise():
    assert noise_option("none") is None and noise_option(None) is None and noise_option("0.01") == 0.01


# ------------------------------------------------------------------------------------- typed.py
def test_train_defaults_to_ten_epochs_and_the_automatic_objective(capsys):
    assert main(["train", "--print_config"]) == 0
    trainer = yaml.safe_load(capsys.readouterr().out)["trainer"]
    assert trainer["epochs"] == 10 and trainer["objective"] == "auto"



def test_a_wrong_value_inside_a_list_is_reported_as_the_whole_value_given(capsys):
    assert main(["train", "--model.edge_mlp", "[a]"]) == 2
    err = capsys.readouterr().err
    assert "--model.edge_mlp: expected" in err and "(got \"['a']\")" in err


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
