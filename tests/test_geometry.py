"""Rotation conversions (srnn_pyg.geometry): exponential maps, rotation
matrices and the Euler angles of the motion-forecasting protocol."""
import math

import pytest
import torch

from srnn_pyg.geometry import (euler_to_rotmat, expmap_to_euler, expmap_to_rotmat, rotmat_to_euler,
                               rotmat_to_expmap)
from srnn_pyg.testing import devices

HALF_PI = math.pi / 2


def _skew(v):
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).view(*v.shape[:-1], 3, 3)


@pytest.mark.parametrize("device", devices())
def test_identity(device):
    r = torch.zeros(4, 3, device=device)
    R = expmap_to_rotmat(r)
    assert R.shape == (4, 3, 3) and R.device.type == device
    assert torch.equal(R, torch.eye(3, device=device).expand(4, 3, 3))
    assert torch.equal(rotmat_to_euler(R), torch.zeros(4, 3, device=device))
    assert torch.equal(rotmat_to_expmap(R), torch.zeros(4, 3, device=device))


# 90 degrees about x, y, z: the matrix, and the protocol's angles (e1, e2, e3)
# with R = (Rz(e3) Ry(e2) Rx(e1))^T. About y, R[0, 2] = 1: gimbal lock.
QUARTER_TURNS = [
    ([HALF_PI, 0, 0], [[1, 0, 0], [0, 0, -1], [0, 1, 0]], [-HALF_PI, 0, 0]),
    ([0, HALF_PI, 0], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], [0, -HALF_PI, 0]),
    ([0, 0, HALF_PI], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], [0, 0, -HALF_PI]),
]


@pytest.mark.parametrize("expmap,matrix,euler", QUARTER_TURNS)
def test_quarter_turns(expmap, matrix, euler):
    r = torch.tensor(expmap, dtype=torch.float64)
    R = expmap_to_rotmat(r)
    assert torch.allclose(R, torch.tensor(matrix, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(rotmat_to_euler(R), torch.tensor(euler, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(euler_to_rotmat(torch.tensor(euler, dtype=torch.float64)), R, atol=1e-12)
    assert torch.allclose(rotmat_to_expmap(R), r, atol=1e-12)
    # the negative turn: the negated angles, except about y (R[0, 2] = -1, gimbal
    # lock), where the reference code's special case gives (pi, pi/2, 0)
    back = rotmat_to_euler(expmap_to_rotmat(-r))
    if expmap[1] == 0:
        assert torch.allclose(back, -torch.tensor(euler, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(euler_to_rotmat(back), expmap_to_rotmat(-r), atol=1e-12)
    else:
        assert torch.allclose(back, torch.tensor([math.pi, HALF_PI, 0], dtype=torch.float64), atol=1e-12)


def test_gimbal_lock_follows_protocol():
    # R[0, 2] = +-1 exactly: e3 = 0, e1 = atan2(R01, R02), e2 = -+pi/2.
    for e1, sign in ((0.3, 1.0), (-1.1, -1.0)):
        e = torch.tensor([e1, -sign * HALF_PI, 0.0], dtype=torch.float64)
        R = euler_to_rotmat(e)
        R[0, 2] = sign  # exact, as the reference's special case needs
        out = rotmat_to_euler(R)
        assert out[2] == 0 and out[1] == -math.asin(sign)
        assert out[0] == pytest.approx(math.atan2(R[0, 1].item(), sign))
    # rounding past 1 gives no NaN
    R = torch.eye(3, dtype=torch.float64)[[2, 1, 0]] * torch.tensor([1.0, 1.0, -1.0]).view(3, 1)
    R[0, 2] = 1.0 + 1e-12
    assert torch.isfinite(rotmat_to_euler(R)).all()


@pytest.mark.parametrize("device", devices())
def test_rodrigues_matches_matrix_exponential(device):
    g = torch.Generator().manual_seed(0)
    r = (torch.randn(2, 50, 3, generator=g, dtype=torch.float64) * 1.5).to(device)
    R = expmap_to_rotmat(r)
    assert R.shape == (2, 50, 3, 3)
    assert torch.allclose(R, torch.linalg.matrix_exp(_skew(r)), atol=1e-12)
    eye = torch.eye(3, dtype=torch.float64, device=device)
    assert torch.allclose(R @ R.transpose(-1, -2), eye.expand_as(R), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(2, 50, dtype=torch.float64, device=device))
    # float32 too
    assert torch.allclose(expmap_to_rotmat(r.float()), R.float(), atol=1e-5)


def test_round_trips():
    g = torch.Generator().manual_seed(1)
    # expmap -> rotmat -> expmap, angles below pi (the log map's range)
    axis = torch.nn.functional.normalize(torch.randn(500, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(500, 1, generator=g, dtype=torch.float64) * (math.pi - 1e-6)
    r = axis * angle
    assert torch.allclose(rotmat_to_expmap(expmap_to_rotmat(r)), r, atol=1e-9)
    # near and at pi the axis is read from the symmetric part
    for theta in (math.pi - 1e-7, math.pi):
        v = torch.tensor([1.0, 2.0, -2.0], dtype=torch.float64) / 3 * theta
        back = rotmat_to_expmap(expmap_to_rotmat(v))
        assert torch.allclose(expmap_to_rotmat(back), expmap_to_rotmat(v), atol=1e-9)
        assert back.norm() == pytest.approx(theta, abs=1e-6)
    # euler -> rotmat -> euler inside the convention's range
    e = torch.stack([(torch.rand(500, generator=g, dtype=torch.float64) * 2 - 1) * (math.pi - 1e-3),
                     (torch.rand(500, generator=g, dtype=torch.float64) * 2 - 1) * (HALF_PI - 1e-3),
                     (torch.rand(500, generator=g, dtype=torch.float64) * 2 - 1) * (math.pi - 1e-3)], -1)
    assert torch.allclose(rotmat_to_euler(euler_to_rotmat(e)), e, atol=1e-9)
    # rotmat -> euler -> rotmat for any rotation
    R = expmap_to_rotmat(torch.randn(500, 3, generator=g, dtype=torch.float64) * 2)
    assert torch.allclose(euler_to_rotmat(rotmat_to_euler(R)), R, atol=1e-9)


def test_expmap_to_euler_pose_layout():
    g = torch.Generator().manual_seed(2)
    pose = torch.randn(3, 7, 12, generator=g, dtype=torch.float64)
    out = expmap_to_euler(pose)
    assert out.shape == pose.shape
    for k in range(4):
        ref = rotmat_to_euler(expmap_to_rotmat(pose[..., 3 * k:3 * k + 3]))
        assert torch.equal(out[..., 3 * k:3 * k + 3], ref)


def test_rotation_errors():
    with pytest.raises(ValueError, match=r"expmap_to_rotmat: 'r' must be \[\.\.\., 3\] \(got \[2, 4\]\)"):
        expmap_to_rotmat(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"rotmat_to_euler: 'R' must be \[\.\.\., 3, 3\]"):
        rotmat_to_euler(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"rotmat_to_expmap"):
        rotmat_to_expmap(torch.zeros(3))
    with pytest.raises(ValueError,
                       match=r"expmap_to_euler: 'pose' must be \[\.\.\., 3 \* K\] \(got \[5, 7\]\)"):
        expmap_to_euler(torch.zeros(5, 7))
