"""``--print_config`` prints only a config the run would accept, and makes or clears nothing;
no option may be abbreviated (``--out_d`` is not ``--out_dir``); a user error
prints its traceback only under ``SRNN_PYG_TRACEBACK=1``."""
import yaml

from srnn_pyg.cli import main


def test_print_config_checks_the_values_first(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "srnn", "--data", "springs", "--trainer.lr", "-5", "--out_dir", str(out),
                 "--print_config"]) == 2
    err = capsys.readouterr().err
    assert "--trainer.lr" in err and "-5" in err
    assert not out.exists()


def test_print_config_prints_what_train_reads_back_and_makes_no_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "srnn", "--data", "springs", "--trainer.lr", "0.01", "--out_dir", str(out),
                 "--print_config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["lr"] == 0.01 and printed["model"]["name"] == "srnn"
    assert printed["out_dir"] == str(out) and "config" not in printed
    assert not out.exists()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(printed))
    assert main(["train", "--config", str(path), "--trainer.lr", "0.02", "--print_config"]) == 0
    again = yaml.safe_load(capsys.readouterr().out)
    assert again == {**printed, "trainer": {**printed["trainer"], "lr": 0.02}}


def test_print_config_of_compare_checks_models_and_makes_nothing(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--models", "srnn,nosuch", "--data", "springs", "--out_dir", str(out),
                 "--print_config"]) == 2
    assert "nosuch" in capsys.readouterr().err
    assert main(["compare", "--models", "srnn,node_lstm", "--data", "springs", "--out_dir", str(out),
                 "--print_config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["models"] == "srnn,node_lstm"
    assert not out.exists()
    assert main(["compare", "--data", "springs", "--print_config=yes"]) == 2
    assert "--print_config takes no value" in capsys.readouterr().err


def test_no_option_is_abbreviated(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "srnn", "--data", "springs", "--out_d", str(out), "--print_config"]) == 2
    assert "--out_d" in capsys.readouterr().err
    assert main(["train", "--model", "srnn", "--data", "springs", "--trainer.epo", "1", "--print_config"]) == 2
    assert "--trainer.epo" in capsys.readouterr().err
    assert main(["evaluate", "--checkp", str(tmp_path / "x.pt")]) == 2
    assert "--checkp" in capsys.readouterr().err
    assert not out.exists()


def test_a_user_error_shows_its_traceback_only_when_asked(monkeypatch, capsys):
    argv = ["train", "--model", "srnn", "--data", "springs", "--trainer.lr", "-5"]
    monkeypatch.delenv("SRNN_PYG_TRACEBACK", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    monkeypatch.setenv("SRNN_PYG_TRACEBACK", "1")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.splitlines()[-1].startswith("srnn-pyg train: error: --trainer.lr")


def test_a_false_traceback_setting_is_off(monkeypatch, capsys):
    for value in ("false", "no", "0", "off"):
        monkeypatch.setenv("SRNN_PYG_TRACEBACK", value)
        assert main(["train", "--model", "srnn", "--data", "springs", "--trainer.lr", "-5"]) == 2
        assert "Traceback" not in capsys.readouterr().err
