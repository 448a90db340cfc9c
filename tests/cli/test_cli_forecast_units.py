"""``srnn-pyg forecast``'s data units when the windows' inputs hold more than
the predicted channels (covariates such as the time of day): the file's
``x_data_units`` holds the predicted channels of the observed steps, converted
by the dataset's statistics, and the covariates are left out (they are not in
the dataset's units; converting them too moved a clock's sin and cos to about
the mean of a speed)."""
import torch

from srnn_pyg.cli.commands import _predict
from srnn_pyg.models import NodeLSTM
from srnn_pyg.testing import fake_st_data


class _Dataset:
    """A split's windows with one normalised series channel (mean 50, std 10)."""
    mean, std = torch.tensor([50.0]), torch.tensor([10.0])

    def __init__(self, windows):
        self.windows = windows

    def __getitem__(self, i):
        return self.windows[i]

    def denormalize(self, x):
        return x * self.std + self.mean


def test_forecast_data_units_convert_the_predicted_channels_only():
    N, T, H = 6, 5, 3
    windows = []
    for s in range(2):
        d = fake_st_data(num_nodes=N, T=T, F=3, horizon=H, generator=torch.Generator().manual_seed(s))
        d.y = d.y[..., :1]                                             # the series; x also has (sin, cos)
        d.u_future = torch.rand(N, H, 2)
        windows.append(d)
    model = NodeLSTM(windows[0].schema, 3, 1, hidden=8, covariates=2).eval()
    out = _predict(model, windows, "cpu", None, False, _Dataset(windows))
    assert out["pred"].shape == (2 * N, H, 1)
    assert out["x_data_units"].shape == (2 * N, T, 1)
    assert torch.allclose(out["x_data_units"], out["x"][..., :1] * 10 + 50)
    assert torch.allclose(out["pred_data_units"], out["pred"] * 10 + 50)
    assert torch.allclose(out["y_data_units"], out["y"] * 10 + 50)
    assert out["x"].shape == (2 * N, T, 3)                             # the model's inputs stay whole


class _OtherWidth(_Dataset):
    """Statistics of two channels, where the model predicts one."""
    mean, std = torch.tensor([50.0, 0.0]), torch.tensor([10.0, 1.0])


def test_forecast_says_when_the_data_units_cannot_be_made(capsys):
    N, T, H = 6, 5, 3
    d = fake_st_data(num_nodes=N, T=T, F=3, horizon=H, generator=torch.Generator().manual_seed(0))
    d.y = d.y[..., :1]
    d.u_future = torch.rand(N, H, 2)
    model = NodeLSTM(d.schema, 3, 1, hidden=8, covariates=2).eval()
    out = _predict(model, [d], "cpu", None, False, _OtherWidth([d]))
    assert not any(k.endswith("_data_units") for k in out)              # none of the three, not a mix
    assert out["pred"].shape == (N, H, 1)
    note = capsys.readouterr().out
    assert "note: the forecast stays in model units only" in note
    assert "_OtherWidth.denormalize" in note and "1 predicted channel" in note


def test_forecast_data_units_of_motion_with_velocity_inputs(tmp_path):
    # CMU with features='pos_vel': x holds the poses and their change (2F), the model predicts the F poses;
    # the poses of x, y and the forecast come back in the data's units, through the per-node statistics
    import numpy as np
    from srnn_pyg.datasets import CMUMocap
    from srnn_pyg.models import StructuralRNN
    rng = np.random.default_rng(0)
    for split, lines in (("train", 240), ("test", 220)):                # CMU's text layout: 117 numbers a line
        folder = tmp_path / "cmu_mocap" / split / "walking"
        folder.mkdir(parents=True)
        t = np.arange(lines)[:, None]
        poses = rng.uniform(0.1, 0.7, (1, 117)) * np.sin(rng.uniform(0.02, 0.2, (1, 117)) * t
                                                          + rng.uniform(0, 6.3, (1, 117)))
        np.savetxt(folder / "walking_1.txt", poses, delimiter=",")
    train = CMUMocap(tmp_path, split="train", features="pos_vel")
    test = CMUMocap(tmp_path, split="test", features="pos_vel", stats=train.stats())
    d = test[0]
    F = d.y.size(-1)
    assert d.x.size(-1) == 2 * F
    model = StructuralRNN(d.schema, 2 * F, F, **test.feedback_kwargs()).eval()
    out = _predict(model, [test[0], test[1]], "cpu", None, False, test)
    assert out["x_data_units"].shape == out["x"][..., :F].shape
    assert torch.allclose(out["x_data_units"], test.denormalize(out["x"][..., :F]))
    assert torch.allclose(out["y_data_units"], test.denormalize(out["y"]))
    assert torch.allclose(out["pred_data_units"], test.denormalize(out["pred"]))
    assert not torch.allclose(out["pred_data_units"], out["pred"])      # the statistics were applied
