"""``srnn-pyg forecast CHECKPOINT --input FILE``: forecasting windows a user
saved (``torch.save`` of an ``STData``, a list of them or a ``Batch``), with or
without their truth, equal to the model's own forecast; bad files and
options are one-line errors that name ``--input`` (or the option) and what was
expected."""
import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg.cli import main
from srnn_pyg.datasets import Springs
from srnn_pyg.engine import load_model

FAST = ["--num-graphs", "20", "--obs", "6", "--horizon", "3", "--batch-size", "8", "--epochs", "1", "--hidden", "8",
        "--no-progress", "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("input") / "run"
    n = torch.get_num_threads()
    try:
        assert main(["train", "--model", "srnn", "--out-dir", str(folder)] + FAST) == 0
    finally:
        torch.set_num_threads(n)
    return folder


def _windows(n=3):
    train = Springs(num_graphs=20, obs=6, horizon=3)
    test = Springs(num_graphs=4, obs=6, horizon=3, split="test", stats=train.stats)
    return [test[i] for i in range(n)]


@pytest.mark.parametrize("form", ["list", "batch", "one"])
def test_forecast_of_saved_windows_equals_the_models(run, tmp_path, capsys, form):
    windows = _windows()
    saved = {"list": windows, "batch": Batch.from_data_list(windows), "one": windows[0]}[form]
    torch.save(saved, tmp_path / "mine.pt")
    out = tmp_path / "f.pt"
    assert main(["forecast", str(run / "best.pt"), "--input", str(tmp_path / "mine.pt"), "--device", "cpu",
                 "--output", str(out), "--no-plot"]) == 0
    n = 1 if form == "one" else 3
    assert f"for the {n} window(s) of" in capsys.readouterr().out
    got = torch.load(out)
    expected = load_model(run / "best.pt").eval().forecast(Batch.from_data_list(windows[:n]), 3)
    assert torch.allclose(got["pred"], expected, atol=1e-6)
    assert torch.equal(got["y"], torch.cat([w.y for w in windows[:n]]))
    assert "pred_data_units" in got and got["input"] == str(tmp_path / "mine.pt") and "index" not in got


def test_windows_without_truth_need_a_horizon_and_forecast_it(run, tmp_path, capsys):
    windows = _windows(2)
    for w in windows:
        del w.y
    torch.save(windows, tmp_path / "future.pt")
    common = ["forecast", str(run / "best.pt"), "--input", str(tmp_path / "future.pt"), "--device", "cpu"]
    assert main(common + ["--output", str(tmp_path / "a.pt"), "--no-plot"]) == 2
    assert "--horizon: the windows of --input have no 'y'" in capsys.readouterr().err
    assert not (tmp_path / "a.pt").exists()
    assert main(common + ["--horizon", "5", "--output", str(tmp_path / "b.pt")]) == 0
    got = torch.load(tmp_path / "b.pt")
    assert got["pred"].shape[1] == 5 and "y" not in got and "y_data_units" not in got
    expected = load_model(run / "best.pt").eval().forecast(Batch.from_data_list(windows), 5)
    assert torch.allclose(got["pred"], expected, atol=1e-6)
    pytest.importorskip("matplotlib")
    assert (tmp_path / "b.png").stat().st_size > 1000             # a picture without a truth curve


def _error(run, tmp_path, capsys, obj, *extra, raw=None):
    path = tmp_path / "bad.pt"
    if raw is not None:
        path.write_bytes(raw)
    else:
        torch.save(obj, path)
    code = main(["forecast", str(run / "best.pt"), "--input", str(path), "--device", "cpu", "--no-plot",
                 "--output", str(tmp_path / "never.pt"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "never.pt").exists(), err
    assert len(err.strip().splitlines()) == 1, err                 # one line, no traceback
    return err


def test_bad_input_files_are_refused_by_name(run, tmp_path, capsys):
    w = _windows(2)
    assert "expected an STData window, a list of them or a Batch (got a dict)" in _error(
        run, tmp_path, capsys, {"x": w[0].x})
    assert "(got an empty list)" in _error(run, tmp_path, capsys, [])
    assert "cannot read" in _error(run, tmp_path, capsys, None, raw=b"not a torch file")
    bad = w[0].clone()
    bad.x = bad.x[..., :2]
    assert "window 0: 'x' has 2 features per step, the checkpoint's model reads in_channels=4" in _error(
        run, tmp_path, capsys, [bad])
    bad = w[1].clone()
    bad.x = bad.x[:, 0]
    assert "window 1: 'x' must be a float tensor [num_nodes, T, features] (got shape [" in _error(
        run, tmp_path, capsys, [w[0], bad])
    half = w[1].clone()
    del half.y
    assert "window(s) [1] have no 'y' and the others have one" in _error(run, tmp_path, capsys, [w[0], half])
    bad = w[0].clone()
    bad.node_type = bad.node_type + 7                              # types the checkpoint's schema does not have
    assert "error: --input: SRNNLayer: 'node_type' must lie in [0, 1] for this schema (got values in [7, 8])" in \
        _error(run, tmp_path, capsys, [bad])                      # the model's own check, named
    assert "--index picks windows of a split" in _error(run, tmp_path, capsys, w, "--index", "0")
    code = main(["forecast", str(run / "best.pt"), "--input", str(tmp_path / "nothing.pt"), "--device", "cpu"])
    assert code == 2 and "which does not exist" in capsys.readouterr().err


def test_input_without_the_runs_data_forecasts_in_model_units(run, tmp_path, capsys, monkeypatch):
    """Where the run's dataset cannot be opened (its files are elsewhere), ``--input`` still forecasts, in the
    model's units, with a note; a split's forecast still needs the data."""
    from srnn_pyg.cli import resources

    def missing(*args, **kwargs):
        raise FileNotFoundError("no data root: set SRNN_PYG_DATA")

    monkeypatch.setattr(resources, "open_splits", missing)
    windows = _windows(2)
    torch.save(windows, tmp_path / "mine.pt")
    assert main(["forecast", str(run / "best.pt"), "--input", str(tmp_path / "mine.pt"), "--device", "cpu",
                 "--output", str(tmp_path / "f.pt"), "--no-plot"]) == 0
    assert "note: the run's dataset (springs) could not be opened (no data root" in capsys.readouterr().out
    got = torch.load(tmp_path / "f.pt")
    assert "pred_data_units" not in got
    expected = load_model(run / "best.pt").eval().forecast(Batch.from_data_list(windows), 3)
    assert torch.allclose(got["pred"], expected, atol=1e-6)
    assert main(["forecast", str(run / "best.pt"), "--device", "cpu", "--output", str(tmp_path / "g.pt"),
                 "--no-plot"]) == 2
    assert "no data root" in capsys.readouterr().err


def test_split_is_not_taken_with_input(run, tmp_path, capsys):
    torch.save(_windows(1), tmp_path / "mine.pt")
    assert main(["forecast", str(run / "best.pt"), "--input", str(tmp_path / "mine.pt"), "--split", "val",
                 "--device", "cpu", "--no-plot", "--output", str(tmp_path / "f.pt")]) == 2
    assert "--split picks a split's windows, --input gives its own windows" in capsys.readouterr().err
    assert not (tmp_path / "f.pt").exists()
