import pytest
import torch

from srnn_pyg.data import STData
from srnn_pyg.models import ConstantVelocity, build


def _data(x, node_mask=None):
    data = STData(x=torch.tensor(x, dtype=torch.float), edge_index=torch.empty(2, 0, dtype=torch.long))
    if node_mask is not None:
        data.node_mask = torch.tensor(node_mask)
    return data


# Node 0 moves by (2, 3) in its last step, node 1 by (1, -1).
X = [[[0., 0.], [1., 2.], [3., 5.]],
     [[1., 1.], [1., 1.], [2., 0.]]]


def test_forecast_extrapolates_last_velocity():
    out = ConstantVelocity(None, 2, 2).forecast(_data(X), 3)
    expected = torch.tensor([[[5., 8.], [7., 11.], [9., 14.]],
                             [[3., -1.], [4., -2.], [5., -3.]]])
    assert torch.equal(out, expected)


def test_forward_one_step_ahead():
    out = ConstantVelocity(None, 2, 2)(_data(X))
    expected = torch.tensor([[[0., 0.], [2., 4.], [5., 8.]],      # t=0: no velocity yet
                             [[1., 1.], [1., 1.], [3., -1.]]])
    assert torch.equal(out, expected)


def test_position_channels():
    model = ConstantVelocity(None, 2, 2, position_channels=[0])
    out = model.forecast(_data(X), 2)
    expected = torch.tensor([[[5., 5.], [7., 5.]],                  # channel 1 held at its last value
                             [[3., 0.], [4., 0.]]])
    assert torch.equal(out, expected)
    assert torch.equal(model(_data(X))[0], torch.tensor([[0., 0.], [2., 2.], [5., 5.]]))


def test_single_frame_falls_back_to_zero_velocity():
    out = ConstantVelocity(None, 2, 2).forecast(_data([[[1., 2.]], [[3., 4.]]]), 2)
    assert torch.equal(out, torch.tensor([[[1., 2.], [1., 2.]], [[3., 4.], [3., 4.]]]))


def test_fewer_out_channels():
    out = ConstantVelocity(None, 2, 1).forecast(_data(X), 2)
    assert torch.equal(out, torch.tensor([[[5.], [7.]], [[3.], [4.]]]))


def test_mask_absent_before_last_step_gives_no_velocity():
    data = _data(X, [[True, True, True], [True, False, True]])
    model = ConstantVelocity(None, 2, 2)
    expected = torch.tensor([[[5., 8.], [7., 11.]],
                             [[2., 0.], [2., 0.]]])              # node 1 missed step 1: repeats
    assert torch.equal(model.forecast(data, 2), expected)
    expected = torch.tensor([[[0., 0.], [2., 4.], [5., 8.]],
                             [[1., 1.], [0., 0.], [2., 0.]]])    # absent at t=1: zero output
    assert torch.equal(model(data), expected)


def test_mask_absent_at_last_step_predicts_zeros():
    data = _data(X, [[True, True, True], [True, True, False]])
    out = ConstantVelocity(None, 2, 2).forecast(data, 2)
    assert torch.equal(out, torch.tensor([[[5., 8.], [7., 11.]], [[0., 0.], [0., 0.]]]))


def test_errors_and_repr():
    with pytest.raises(ValueError, match="out_channels"):
        ConstantVelocity(None, 2, 3)
    with pytest.raises(ValueError, match="position_channels"):
        ConstantVelocity(None, 2, 2, position_channels=[2])
    with pytest.raises(ValueError, match="position_channels"):
        ConstantVelocity(None, 2, 2, position_channels=[0, 0])
    assert repr(build("constant_velocity", None, 4, 4)) == "ConstantVelocity(4, 4)"
    assert repr(ConstantVelocity(None, 4, 2, position_channels=[1, 0])) == \
        "ConstantVelocity(4, 2, position_channels=[0, 1])"
    model = ConstantVelocity(None, 2, 2)
    assert list(model.state_dict()) == []
    with pytest.raises(ValueError, match="'x'"):
        model.forecast(_data([[[1., 2., 3.]]]), 1)
    with pytest.raises(ValueError, match="horizon"):
        model.forecast(_data(X), -1)
