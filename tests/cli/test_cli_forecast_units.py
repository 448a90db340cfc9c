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
