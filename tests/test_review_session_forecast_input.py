"""Review of ``srnn-pyg forecast CHECKPOINT --input FILE``: cases that the
change's own tests do not cover and that fail today.

- windows whose attributes differ (a later window lacks one the first has)
  end in a ``KeyError`` traceback from ``Batch.from_data_list`` instead of a
  one-line error naming ``--input``;
- ``--horizon`` (the forecast's length for windows without a ``y``) also
  reopens the run's dataset with that horizon, so a horizon longer than the
  dataset's training part refuses to forecast windows that need no dataset
  windows at all;
- ``--output`` may be the ``--input`` file (with ``--overwrite``): the user's
  windows are replaced by the forecast;
- a list of ``Batch`` objects (a few saved DataLoader batches) is taken as
  windows and refused with a message about mixed schemas;
- a file that ``weights_only`` refuses is reported with torch's boilerplate
  first line (terminal colour codes included), not the class it refused.
"""
import json

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from srnn_pyg.cli import main
from srnn_pyg.datasets import Chickenpox, Springs

FAST = ["--obs", "6", "--horizon", "3", "--batch-size", "8", "--epochs", "1", "--hidden", "8",
        "--no-progress", "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review_input") / "run"
    n = torch.get_num_threads()
    try:
        assert main(["train", "--model", "srnn", "--num-graphs", "20", "--out-dir", str(folder)] + FAST) == 0
    finally:
        torch.set_num_threads(n)
    return folder


def _windows(n=3):
    train = Springs(num_graphs=20, obs=6, horizon=3)
    test = Springs(num_graphs=4, obs=6, horizon=3, split="test", stats=train.stats)
    return [test[i] for i in range(n)]


def _forecast(run, tmp_path, obj, *extra):
    path = tmp_path / "mine.pt"
    torch.save(obj, path)
    return main(["forecast", str(run / "best.pt"), "--input", str(path), "--device", "cpu", "--threads", "1",
                 "--no-plot", "--output", str(tmp_path / "f.pt"), *extra])


@pytest.mark.parametrize("key", ["node_type", "edge_index"])
def test_windows_with_different_attributes_are_a_one_line_error(run, tmp_path, capsys, key):
    windows = _windows()
    del windows[1][key]                       # the first window has it, the second does not
    code = _forecast(run, tmp_path, windows)  # today: KeyError from torch_geometric's collate, a traceback
    err = capsys.readouterr().err
    assert code == 2 and "--input" in err and len(err.strip().splitlines()) == 1, err


def test_horizon_of_input_windows_does_not_reopen_the_dataset_with_it(tmp_path, capsys):
    """Windows without a truth, forecast 60 steps: the run's dataset (a small
    Chickenpox file, 41 training snapshots) is opened for its units only, so
    its splits need not hold windows of 60 steps."""
    weeks, counties = 210, 4
    fx = np.sin(np.arange(weeks)[:, None] / 7 + np.arange(counties)[None, :])
    (tmp_path / "data" / "pyg_temporal").mkdir(parents=True)
    (tmp_path / "data" / "pyg_temporal" / "chickenpox.json").write_text(json.dumps(
        {"edges": [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2]],
         "node_ids": {f"C{i}": i for i in range(counties)}, "FX": fx.round(3).tolist()}))
    root, folder = str(tmp_path / "data"), tmp_path / "cp"
    n = torch.get_num_threads()
    try:
        assert main(["train", "--model", "srnn", "--dataset", "chickenpox", "--data-root", root, "--epochs", "1",
                     "--hidden", "8", "--no-progress", "--device", "cpu", "--threads", "1",
                     "--out-dir", str(folder)]) == 0
    finally:
        torch.set_num_threads(n)
    test = Chickenpox(root=root, split="test")
    windows = [test[i] for i in range(2)]
    for w in windows:
        del w.y
    torch.save(windows, tmp_path / "future.pt")
    capsys.readouterr()
    code = main(["forecast", str(folder / "best.pt"), "--input", str(tmp_path / "future.pt"), "--horizon", "60",
                 "--data-root", root, "--device", "cpu", "--threads", "1", "--no-plot",
                 "--output", str(tmp_path / "f.pt")])
    err = capsys.readouterr().err
    assert code == 0, err                     # today: "Chickenpox: split 'train' holds no window ... horizon=60"
    assert torch.load(tmp_path / "f.pt")["pred"].shape[1] == 60


def test_output_is_never_the_input_file(run, tmp_path, capsys):
    windows = _windows(2)
    path = tmp_path / "mine.pt"
    torch.save(windows, path)
    code = main(["forecast", str(run / "best.pt"), "--input", str(path), "--output", str(path), "--overwrite",
                 "--device", "cpu", "--threads", "1", "--no-plot"])
    capsys.readouterr()
    kept = torch.load(path)
    assert code == 2 and isinstance(kept, list), "the user's windows were replaced by the forecast"


def test_a_list_of_batches_is_its_windows_or_refused_by_name(run, tmp_path, capsys):
    windows = _windows(3)
    code = _forecast(run, tmp_path, [Batch.from_data_list(windows[:2]), Batch.from_data_list(windows[2:])])
    out, err = capsys.readouterr()
    if code == 0:
        assert "the 3 window(s)" in out and torch.load(tmp_path / "f.pt")["ptr"].numel() == 4
    else:                                     # today: "a batch mixes graphs of different schemas (...)"
        assert code == 2 and "Batch" in err and "schemas" not in err, err


def test_a_file_weights_only_refuses_names_what_it_refused(run, tmp_path, capsys):
    w = _windows(2)
    plain = Batch.from_data_list([Data(x=d.x, edge_index=d.edge_index, y=d.y, node_type=d.node_type) for d in w])
    code = _forecast(run, tmp_path, plain)    # a Batch of plain Data: pickled by a class weights_only refuses
    err = capsys.readouterr().err
    assert code == 2 and "--input" in err
    assert "\x1b[" not in err, err            # today: torch's first line, with its terminal colour codes
    # the refused global (torch's 'Unsupported global: ...' line, cut short), and what to do
    assert "Unsupported global: GLOBAL torch_geometric.data" in err and "build the windows as srnn_pyg.STData" in err
