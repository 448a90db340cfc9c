import pytest
import torch

from srnn_pyg.data import STData
from srnn_pyg.models import ZeroVelocity, build


def _data(x, node_mask=None):
    data = STData(x=torch.tensor(x, dtype=torch.float), edge_index=torch.empty(2, 0, dtype=torch.long))
    if node_mask is not None:
        data.node_mask = torch.tensor(node_mask)
    return data


X = [[[0., 0.], [1., 2.], [3., 5.]],
     [[1., 1.], [1., 1.], [2., 0.]]]


def test_forecast_repeats_last_frame():
    out = ZeroVelocity(None, 2, 2).forecast(_data(X), 3)
    expected = torch.tensor([[[3., 5.]] * 3, [[2., 0.]] * 3])
    assert torch.equal(out, expected)


def test_forward_is_identity():
    data = _data(X)
    assert torch.equal(ZeroVelocity(None, 2, 2)(data), data.x)


def test_fewer_out_channels():
    out = ZeroVelocity(None, 2, 1).forecast(_data(X), 2)
    assert torch.equal(out, torch.tensor([[[3.], [3.]], [[2.], [2.]]]))


def test_masks():
    data = _data(X, [[True, True, True], [True, False, False]])
    model = ZeroVelocity(None, 2, 2)
    assert torch.equal(model.forecast(data, 2), torch.tensor([[[3., 5.], [3., 5.]], [[0., 0.], [0., 0.]]]))
    expected = torch.tensor([[[0., 0.], [1., 2.], [3., 5.]],
                             [[1., 1.], [0., 0.], [0., 0.]]])
    assert torch.equal(model(data), expected)


def test_errors_and_repr():
    with pytest.raises(ValueError, match="out_channels"):
        ZeroVelocity(None, 2, 3)
    model = build("zero_velocity", None, 2, 2)
    assert repr(model) == "ZeroVelocity(2, 2)"
    with pytest.raises(ValueError, match="horizon"):
        model.forecast(_data(X), 0)
