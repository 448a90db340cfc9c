"""Data augmentation for windows of moving things."""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.transforms import BaseTransform

__all__ = ["RandomRotation"]

Pairs = Sequence[Tuple[int, int]]


class RandomRotation(BaseTransform):
    r"""Rotates every planar vector of a window by one random angle, and
    optionally mirrors it: the whole scene turns rigidly, so the distances
    between things, and every error measured in them, stay the same.

    For each window an angle :math:`\theta` is drawn uniformly from
    ``[-degrees, degrees]``, and with ``flip=True`` a mirror
    :math:`(u, v) \mapsto (u, -v)` is applied first with probability 1/2;
    then every pair of channels ``(u, v)`` listed in ``pairs`` (positions,
    velocities, offsets, targets ...) of every listed key becomes

    .. math::
        (u \cos\theta - v \sin\theta,\; u \sin\theta + v \cos\theta),

    at every node or edge and step alike. Listed keys are replaced by rotated
    copies (the dataset's own tensors are never changed); other keys are left
    as they are. Keys listed but absent from a window are skipped, so one
    transform serves windows with and without, e.g., ``edge_attr``.

    Trajectory forecasters train on rotated (and mirrored) scenes to see
    every walking direction (Trajectron++ does); use it on the training split
    only, after any transform that builds the features it rotates.

    .. code-block:: python

        from srnn_pyg.transforms import RandomRotation

        # ETH/UCY with features="pos_vel": x = [px, py, vx, vy], y = [px, py],
        # origin [N, 2] (absolute), edge_attr [E, T, 2] (offsets between origins)
        rotate = RandomRotation({"x": [(0, 1), (2, 3)], "y": [(0, 1)], "origin": [(0, 1)],
                                 "edge_attr": [(0, 1)]}, flip=True)
        data = rotate(train[0])

    Args:
        pairs (dict, optional): key -> list of channel pairs ``(u, v)`` of its
            last dimension. (default: ``{"x": [(0, 1)], "y": [(0, 1)]}``)
        degrees (float, optional): the largest rotation either way; ``180``
            draws every direction. (default: :obj:`180.0`)
        flip (bool, optional): also mirror half of the windows.
            (default: :obj:`False`)
        generator (torch.Generator, optional): the random source (default:
            torch's global one, which :func:`srnn_pyg.fit` seeds).
    """

    def __init__(self, pairs: Optional[Mapping[str, Pairs]] = None, degrees: float = 180.0, flip: bool = False,
                 generator: Optional[torch.Generator] = None):
        name = type(self).__name__
        pairs = {"x": [(0, 1)], "y": [(0, 1)]} if pairs is None else pairs
        if not isinstance(pairs, Mapping) or not pairs:
            raise ValueError(f"{name}: 'pairs' must be a non-empty dict of key -> [(u, v), ...] "
                             f"(got {pairs!r})")
        checked: Dict[str, Tuple[Tuple[int, int], ...]] = {}
        for key, plist in pairs.items():
            if not isinstance(key, str):
                raise ValueError(f"{name}: 'pairs' keys must be attribute names (got {key!r})")
            try:
                plist = tuple((int(u), int(v)) for u, v in plist)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: 'pairs[{key!r}]' must be a list of channel pairs (u, v) "
                                 f"(got {plist!r})") from None
            flat = [c for p in plist for c in p]
            if not plist or min(flat) < 0 or len(set(flat)) != len(flat):
                raise ValueError(f"{name}: 'pairs[{key!r}]' must list distinct non-negative channels in "
                                 f"pairs (got {list(plist)})")
            checked[key] = plist
        if isinstance(degrees, bool) or not isinstance(degrees, (int, float)) or not 0 <= degrees <= 180:
            raise ValueError(f"{name}: 'degrees' must be a number in [0, 180] (got {degrees!r})")
        if not isinstance(flip, bool):
            raise ValueError(f"{name}: 'flip' must be a bool (got {flip!r})")
        self.pairs, self.degrees, self.flip, self.generator = checked, float(degrees), flip, generator

    def matrix(self) -> Tensor:
        """A new random ``[2, 2]`` map (float64): the rotation, after the
        mirror where one is drawn."""
        g = self.generator
        theta = (torch.rand((), generator=g, dtype=torch.float64) * 2 - 1) * math.radians(self.degrees)
        c, s = torch.cos(theta), torch.sin(theta)
        R = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
        if self.flip and bool(torch.rand((), generator=g) < 0.5):
            R = R @ torch.tensor([[1.0, 0.0], [0.0, -1.0]], dtype=torch.float64)
        return R

    def forward(self, data):
        R = self.matrix()
        for key, plist in self.pairs.items():
            value = getattr(data, key, None) if key in data else None
            if value is None:
                continue
            if not torch.is_tensor(value) or not value.is_floating_point():
                raise ValueError(f"{type(self).__name__}: '{key}' must be a floating-point tensor to rotate "
                                 f"(got {type(value).__name__}"
                                 f"{'' if not torch.is_tensor(value) else ' of ' + str(value.dtype)})")
            top = max(c for p in plist for c in p)
            if value.dim() == 0 or value.size(-1) <= top:
                raise ValueError(f"{type(self).__name__}: 'pairs[{key!r}]' reads channel {top}, but '{key}' "
                                 f"has shape {list(value.shape)}")
            out = value.clone()
            Rk = R.to(value.dtype)
            for u, v in plist:
                uv = value[..., [u, v]] @ Rk.t()                               # [..., 2]
                out[..., u], out[..., v] = uv[..., 0], uv[..., 1]
            setattr(data, key, out)
        return data

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({dict((k, list(v)) for k, v in self.pairs.items())}, "
                f"degrees={self.degrees:g}, flip={self.flip})")
