"""The typed options of ``srnn-pyg train``: from the model's constructor, the
dataset's and TrainConfig, with --config, --print_config and config.yaml."""
import pytest
import yaml

from srnn_pyg.cli import main
from srnn_pyg.engine import load_checkpoint

from cli_helpers import TINY


def _model_args(run):
    return load_checkpoint(run / "last.pt")["model_record"]["args"]


@pytest.mark.parametrize("text,value", [("true", True), ("false", False), ("no", False), ("yes", True)])
def test_bool_model_option_is_a_bool(text, value, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--model", "srnn", "--model.residual", text, "--trainer.epochs", "1",
                 "--out_dir", str(run)] + TINY) == 0
    assert _model_args(run).get("residual", False) is value      # the default is not recorded
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"]["residual"] is value and saved["model"]["name"] == "srnn"


@pytest.mark.parametrize("argv,words", [
    (["--model.node_hidden", "32.7"], ["--model.node_hidden", "int", "32.7"]),
    (["--model.residual", "maybe"], ["--model.residual", "bool", "maybe"]),
    (["--trainer.epochs", "2.5"], ["--trainer.epochs", "int", "2.5"]),
    (["--model.wings", "2"], ["unknown option --model.wings", "residual"]),
    (["--trainer.bogus", "1"], ["unknown option --trainer.bogus", "epochs"]),
    (["--data.wings", "1"], ["unknown option --data.wings", "num_graphs"]),
    (["--trainer.lr", "-1"], ["--trainer.lr", "positive"]),
    (["--logger", "wandb"], ["--logger", "csv", "wandb"]),
    (["--model", "nope"], ["unknown model 'nope'", "srnn"]),
    (["--threads", "0"], ["--threads", "0"]),
])
def test_wrong_type_or_unknown_key_is_one_line(argv, words, tmp_path, capsys):
    assert main(["train"] + TINY + argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for word in words:
        assert word in err
    assert not (tmp_path / "runs").exists()               # nothing was made for a bad command


def test_config_file_round_trip_and_flags_after_it_win(tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["train", "--model.residual", "true", "--model.dropout", "0.25", "--trainer.epochs", "1",
                 "--data.num_nodes", "4", "--out_dir", str(first)] + TINY) == 0
    again = tmp_path / "again"
    assert main(["train", "--config", str(first / "config.yaml"), "--model.dropout", "0.0",
                 "--out_dir", str(again)]) == 0
    assert _model_args(first)["dropout"] == 0.25
    args = _model_args(again)
    assert args["residual"] is True and args.get("dropout", 0.0) == 0.0 and args["edge_hidden"] == 8
    meta = load_checkpoint(again / "last.pt")["meta"]
    assert meta["dataset_config"]["extra"]["num_nodes"] == 4
    assert load_checkpoint(again / "last.pt")["model_record"]["args"]["schema"] is not None
    saved = yaml.safe_load((again / "config.yaml").read_text())
    assert saved["trainer"]["epochs"] == 1 and "config" not in saved and "out_dir" not in saved
    # a run's config.yaml names no folder, so repeating it makes a new run
    assert main(["train", "--config", str(again / "config.yaml")]) == 0
    assert _model_args(tmp_path / "runs" / "springs-srnn-001")["residual"] is True


def test_print_config_prints_yaml_and_trains_nothing(tmp_path, capsys):
    assert main(["train", "--model", "srnn", "--model.residual", "true", "--trainer.epochs", "7",
                 "--print_config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["residual"] is True and cfg["trainer"]["epochs"] == 7 and cfg["data"]["name"] == "springs"
    assert "num_graphs" in cfg["data"] and "lr" in cfg["trainer"]
    assert not (tmp_path / "runs").exists()


def test_model_options_follow_the_chosen_model(capsys):
    # node_lstm's constructor has 'hidden' but no 'residual'... or the other way round: read its signature
    import inspect
    from srnn_pyg.models import get
    params = set(inspect.signature(get("node_lstm").__init__).parameters)
    assert main(["train", "--model", "node_lstm", "--help"]) == 0
    text = capsys.readouterr().out
    for name in params - {"self", "schema", "in_channels", "out_channels"}:
        assert f"--model.{name}" in text
    assert "--model.edge_scope" not in text                      # an S-RNN argument


def test_former_flags_still_work(tmp_path):
    run = tmp_path / "old"
    assert main(["train", "--dataset", "springs", "--num-graphs", "20", "--obs", "6", "--horizon", "3",
                 "--epochs", "1", "--out-dir", str(run), "--model-arg", "residual=True", "--batch-size", "8",
                 "--hidden", "8", "--device", "cpu", "--threads", "1", "--no-progress"]) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["num_graphs"] == 20 and saved["trainer"]["epochs"] == 1 and saved["progress"] is False
    assert _model_args(run)["residual"] is True


@pytest.mark.parametrize("item,words", [
    ("srnn.node_hidden=32.7", ["--model-arg srnn.node_hidden", "int", "32.7"]),
    ("srnn.wings=3", ["unknown option --model-arg srnn.wings", "residual"]),
    ("srnn.residual=maybe", ["--model-arg srnn.residual", "bool", "maybe"]),
])
def test_compare_model_args_are_typed_too(item, words, tmp_path, capsys):
    assert main(["compare", "--models", "srnn,zero_velocity", "--model-arg", item, "--trainer.epochs", "1"]
                + TINY) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(w in err for w in words)
    assert not (tmp_path / "runs").exists()


def test_compare_model_arg_no_is_false(tmp_path):
    run = tmp_path / "cmp"
    assert main(["compare", "--models", "srnn,node_lstm", "--model-arg", "residual=no", "--model-arg",
                 "srnn.residual=yes", "--trainer.epochs", "1", "--out_dir", str(run)] + TINY) == 0
    assert _model_args(run / "srnn")["residual"] is True
    assert _model_args(run / "node_lstm").get("residual", False) is False


def test_former_key_values_are_read_as_python_literals():
    from srnn_pyg.cli.options import legacy_value
    assert legacy_value("'hotel'") == "hotel"              # a quoted string loses its quotes
    assert legacy_value("hotel") == "hotel"                # a bare word stays
    assert legacy_value("['walking', 'soccer']") == '["walking", "soccer"]'
    assert legacy_value("(1, 2)") == "[1, 2]"
    assert legacy_value("True") == "true" and legacy_value("None") == "null"
    assert legacy_value("32") == "32" and legacy_value("1e-3") == "1e-3"


def test_windows_with_future_covariates_size_the_model_for_them():
    """Windows carrying ``u_future`` (Los-loop with ``time_of_day=True``) build an S-RNN that reads
    them (``covariates``), with the predicted channels out; models without covariates are unaffected."""
    import torch

    from srnn_pyg.cli.resources import build
    from srnn_pyg.testing import fake_st_data

    windows = []
    for s in range(2):
        w = fake_st_data(num_nodes=4, T=5, F=3, horizon=2, generator=torch.Generator().manual_seed(s))
        w.y = w.y[..., :1]                                           # predict channel 0 only
        w.u_future = torch.rand(4, 2, 2)                             # two covariates per future step
        windows.append(w)
    model = build("srnn", _Windows(windows), hidden=8, extra={})
    assert (model.in_channels, model.out_channels, model.feedback.covariates) == (3, 1, 2)
    assert model.forecast(windows[0], 2).shape == (4, 2, 1)
    assert build("srnn", _Windows(windows), hidden=8, extra={"covariates": 0}).feedback.covariates == 0
    # the baselines that roll out read them too (tests/models/test_baseline_covariates.py); one that
    # does not take them is built without
    assert build("node_lstm", _Windows(windows), hidden=8, extra={}).model_args["covariates"] == 2
    assert "covariates" not in build("erd", _Windows(windows), hidden=8, extra={}).model_args


class _Windows(list):
    """A list of windows with the attributes the command reads from a dataset."""

    @property
    def schema(self):
        return self[0].schema
