r"""Rotation conversions of the motion-capture literature: exponential maps,
rotation matrices and Euler angles, vectorised over any leading dimensions.

Poses of the motion datasets (:class:`~srnn_pyg.datasets.CMUMocap`,
:class:`~srnn_pyg.datasets.H36M`) store each joint as an exponential map (axis
times angle, radians). The error of this literature is measured in Euler
angles: every exponential map is turned into a rotation matrix with
Rodrigues' formula, and the matrix into three angles :math:`(e_1, e_2, e_3)`
with :math:`R = (R_z(e_3)\, R_y(e_2)\, R_x(e_1))^\top`, the convention of the
S-RNN evaluation code (`Jain et al., CVPR 2016
<https://arxiv.org/abs/1511.05298>`_) that `Martinez et al. (CVPR 2017)
<https://arxiv.org/abs/1705.02445>`_ and their successors reuse.

:mod:`srnn_pyg.metrics` (the Euler-angle error) and
:mod:`srnn_pyg.datasets.motion` both build on this module, which imports
neither.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "expmap_to_rotmat",
    "rotmat_to_euler",
    "expmap_to_euler",
    "euler_to_rotmat",
    "rotmat_to_expmap",
]


def _check_last(x: Tensor, size: int, name: str, what: str) -> None:
    if not isinstance(x, Tensor) or x.dim() < 1 or x.size(-1) != size:
        got = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name}: '{what}' must be [..., {size}] (got {got})")
    _check_real(x, name, what)


def _check_real(x: Tensor, name: str, what: str) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name}: '{what}' must be a floating-point tensor (got {x.dtype})")


def _skew(v: Tensor) -> Tensor:
    """The cross-product matrix of ``v``: ``[..., 3]`` to ``[..., 3, 3]``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    rows = torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1)     # [..., 9]
    return rows.view(*v.shape[:-1], 3, 3)                            # [..., 3, 3]


def expmap_to_rotmat(r: Tensor) -> Tensor:
    r"""Exponential maps to rotation matrices (Rodrigues' formula).

    With :math:`\theta = \|r\|`, :math:`k = r / \theta` and :math:`K` the
    cross-product matrix of :math:`k`:

    .. math::
        R = I + \sin\theta\, K + (1 - \cos\theta)\, K^2

    The zero vector gives the identity. The coefficients are evaluated as
    :math:`\sin\theta / \theta` and :math:`2 \sin^2(\theta / 2) / \theta^2`
    times the cross-product matrix of :math:`r` itself, exact down to the
    smallest angles.

    Args:
        r (Tensor): exponential maps (axis times angle in radians).

    Shapes:
        - **input:** ``[..., 3]``
        - **output:** ``[..., 3, 3]``
    """
    _check_last(r, 3, "expmap_to_rotmat", "r")
    theta = r.norm(dim=-1, keepdim=True).unsqueeze(-1)                # [..., 1, 1]
    S = _skew(r)                                                      # theta K, [..., 3, 3]
    a = torch.sinc(theta / math.pi)                                   # sin(t) / t, 1 at 0
    b = 0.5 * torch.sinc(theta / (2.0 * math.pi)) ** 2                # (1 - cos t) / t^2, 1/2 at 0
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    return eye + a * S + b * (S @ S)


def rotmat_to_euler(R: Tensor) -> Tensor:
    r"""Rotation matrices to the Euler angles of the S-RNN / Martinez et al.
    evaluation, :math:`R = (R_z(e_3)\, R_y(e_2)\, R_x(e_1))^\top`:

    .. math::
        e_2 = -\arcsin R_{02}, \quad
        e_1 = \operatorname{atan2}(R_{12}, R_{22}), \quad
        e_3 = \operatorname{atan2}(R_{01}, R_{00})

    At gimbal lock (:math:`R_{02} = \pm 1` exactly) the protocol sets
    :math:`e_3 = 0` and :math:`e_1 = \operatorname{atan2}(R_{01}, R_{02})`, as
    the reference code does, although for :math:`R_{02} = -1` these angles do
    not give back :math:`R` (the case never occurs in recorded data).
    :math:`R_{02}` is clamped to :math:`[-1, 1]` first, so rounding never
    gives NaN.

    Args:
        R (Tensor): rotation matrices.

    Shapes:
        - **input:** ``[..., 3, 3]``
        - **output:** ``[..., 3]`` (:math:`e_1, e_2, e_3`; radians)
    """
    if not isinstance(R, Tensor) or R.dim() < 2 or tuple(R.shape[-2:]) != (3, 3):
        got = list(R.shape) if isinstance(R, Tensor) else type(R).__name__
        raise ValueError(f"rotmat_to_euler: 'R' must be [..., 3, 3] (got {got})")
    _check_real(R, "rotmat_to_euler", "R")
    r02 = R[..., 0, 2].clamp(-1.0, 1.0)
    e2 = -torch.asin(r02)
    # cos(e2) >= 0, so dividing both atan2 arguments by it (as the reference
    # code does) leaves the angle unchanged and is skipped here.
    e1 = torch.atan2(R[..., 1, 2], R[..., 2, 2])
    e3 = torch.atan2(R[..., 0, 1], R[..., 0, 0])
    lock = r02.abs() == 1.0
    e1 = torch.where(lock, torch.atan2(R[..., 0, 1], r02), e1)
    e3 = torch.where(lock, torch.zeros_like(e3), e3)
    return torch.stack([e1, e2, e3], dim=-1)


def euler_to_rotmat(e: Tensor) -> Tensor:
    r"""Euler angles to rotation matrices,
    :math:`R = (R_z(e_3)\, R_y(e_2)\, R_x(e_1))^\top`: the inverse of
    :func:`rotmat_to_euler` away from gimbal lock.

    Shapes:
        - **input:** ``[..., 3]``
        - **output:** ``[..., 3, 3]``
    """
    _check_last(e, 3, "euler_to_rotmat", "e")
    c1, c2, c3 = torch.cos(e).unbind(-1)
    s1, s2, s3 = torch.sin(e).unbind(-1)
    rows = torch.stack([
        c2 * c3, c2 * s3, -s2,
        s1 * s2 * c3 - c1 * s3, s1 * s2 * s3 + c1 * c3, s1 * c2,
        c1 * s2 * c3 + s1 * s3, c1 * s2 * s3 - s1 * c3, c1 * c2,
    ], dim=-1)                                                         # [..., 9]
    return rows.view(*e.shape[:-1], 3, 3)


def rotmat_to_expmap(R: Tensor) -> Tensor:
    r"""Rotation matrices to exponential maps with angle in :math:`[0, \pi]`
    (the inverse of :func:`expmap_to_rotmat` for :math:`\|r\| < \pi`).

    The angle is :math:`\operatorname{atan2}(\|v\| / 2, (\operatorname{tr} R - 1) / 2)`
    with :math:`v = (R_{21} - R_{12}, R_{02} - R_{20}, R_{10} - R_{01})`. The
    axis is :math:`v / \|v\|` for angles up to :math:`\pi / 2`; beyond, where
    :math:`v` vanishes, it is read from the symmetric part
    :math:`(R + R^\top) / 2 = \cos\theta\, I + (1 - \cos\theta)\, k k^\top`.

    Shapes:
        - **input:** ``[..., 3, 3]``
        - **output:** ``[..., 3]``
    """
    if not isinstance(R, Tensor) or R.dim() < 2 or tuple(R.shape[-2:]) != (3, 3):
        got = list(R.shape) if isinstance(R, Tensor) else type(R).__name__
        raise ValueError(f"rotmat_to_expmap: 'R' must be [..., 3, 3] (got {got})")
    _check_real(R, "rotmat_to_expmap", "R")
    v = torch.stack([R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0],
                     R[..., 1, 0] - R[..., 0, 1]], dim=-1)            # [..., 3] = 2 sin(t) k
    vnorm = v.norm(dim=-1, keepdim=True)                              # [..., 1]
    cos = ((R.diagonal(dim1=-2, dim2=-1).sum(-1, keepdim=True) - 1.0) / 2.0).clamp(-1.0, 1.0)
    theta = torch.atan2(vnorm / 2.0, cos)                             # [..., 1]
    # Up to pi / 2: r = v * theta / |v| (theta / |v| -> 1/2 as the angle vanishes, exact for tiny ones).
    ratio = torch.where(vnorm > 0, theta / torch.where(vnorm > 0, vnorm, torch.ones_like(vnorm)), 0.5)
    # Symmetric part: k k^T = ((R + R^T) / 2 - cos I) / (1 - cos), well posed for cos < 0.
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    kkT = ((R + R.transpose(-1, -2)) / 2.0 - cos.unsqueeze(-1) * eye) \
        / (1.0 - cos).clamp_min(1e-12).unsqueeze(-1)                  # [..., 3, 3]
    diag = kkT.diagonal(dim1=-2, dim2=-1)                             # [..., 3]
    i = diag.argmax(dim=-1, keepdim=True)                             # [..., 1]
    col = torch.gather(kkT, -1, i.unsqueeze(-2).expand(*kkT.shape[:-1], 1)).squeeze(-1)  # [..., 3]
    axis_s = col / torch.gather(diag, -1, i).clamp_min(1e-12).sqrt()
    flip = ((axis_s * v).sum(-1, keepdim=True) < 0).to(R.dtype)       # match the sign of v
    axis_s = axis_s * (1.0 - 2.0 * flip)
    return torch.where(cos < 0, axis_s * theta, v * ratio)


def expmap_to_euler(pose: Tensor) -> Tensor:
    r"""Pose vectors of exponential maps to the same layout in Euler angles:
    each consecutive triple goes through :func:`expmap_to_rotmat` then
    :func:`rotmat_to_euler`.

    The first triple of a pose is the global translation, not a rotation; it is
    converted like the others (as the evaluation code of Li et al. 2018 does)
    and the error leaves it out anyway.

    Shapes:
        - **input:** ``[..., 3 * K]``
        - **output:** ``[..., 3 * K]``
    """
    if not isinstance(pose, Tensor) or pose.dim() < 1 or pose.size(-1) % 3 != 0:
        got = list(pose.shape) if isinstance(pose, Tensor) else type(pose).__name__
        raise ValueError(f"expmap_to_euler: 'pose' must be [..., 3 * K] (got {got})")
    _check_real(pose, "expmap_to_euler", "pose")
    triples = pose.reshape(*pose.shape[:-1], pose.size(-1) // 3, 3)   # [..., K, 3]
    return rotmat_to_euler(expmap_to_rotmat(triples)).reshape(pose.shape)
