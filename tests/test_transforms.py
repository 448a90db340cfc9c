import math

import pytest
import torch

from srnn_pyg import STData
from srnn_pyg.transforms import RandomRotation


def window(seed=0):
    g = torch.Generator().manual_seed(seed)
    return STData(x=torch.randn(4, 6, 5, generator=g), y=torch.randn(4, 3, 2, generator=g),
                  origin=torch.randn(4, 2, generator=g), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
                  edge_attr=torch.randn(3, 6, 2, generator=g), node_mask=torch.ones(4, 6, dtype=torch.bool))


PAIRS = {"x": [(0, 1), (2, 3)], "y": [(0, 1)], "origin": [(0, 1)], "edge_attr": [(0, 1)]}


def angle_of(before, after):
    """The angle that takes the 2-vectors ``before`` to ``after`` (all of them, one angle)."""
    a = torch.atan2(after[..., 1], after[..., 0]) - torch.atan2(before[..., 1], before[..., 0])
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


def test_one_rigid_rotation_for_every_listed_pair():
    d = window()
    torch.manual_seed(3)
    out = RandomRotation(PAIRS)(d)
    theta = angle_of(d.x[..., 0:2], out.x[..., 0:2]).flatten()[0]
    assert theta.abs() > 1e-3                                           # it did rotate
    for key, pair in (("x", (0, 1)), ("x", (2, 3)), ("y", (0, 1)), ("origin", (0, 1)), ("edge_attr", (0, 1))):
        before, after = getattr(d, key)[..., list(pair)], getattr(out, key)[..., list(pair)]
        assert torch.allclose(before.norm(dim=-1), after.norm(dim=-1), atol=1e-5)   # lengths kept
        assert torch.allclose(angle_of(before, after), theta.expand_as(angle_of(before, after)), atol=1e-4)
    # the channel outside every pair, the masks and the graph are untouched
    assert torch.equal(out.x[..., 4], d.x[..., 4]) and torch.equal(out.node_mask, d.node_mask)
    assert torch.equal(out.edge_index, d.edge_index)
    # distances between nodes (absolute positions = origin + relative) are kept
    pos, pos_r = d.origin[:, None] + d.y, out.origin[:, None] + out.y
    assert torch.allclose(torch.cdist(pos[:, 0], pos[:, 0]), torch.cdist(pos_r[:, 0], pos_r[:, 0]), atol=1e-5)


def test_the_input_window_is_not_changed_and_each_call_draws_anew():
    d = window()
    x, y = d.x.clone(), d.y.clone()
    rot = RandomRotation(PAIRS, generator=torch.Generator().manual_seed(0))
    a, b = rot(d), rot(d)
    assert torch.equal(d.x, x) and torch.equal(d.y, y)
    assert not torch.allclose(a.x, b.x)


def test_seeded_generator_reproduces_and_zero_degrees_is_the_identity():
    d = window()
    a = RandomRotation(PAIRS, generator=torch.Generator().manual_seed(7))(d)
    b = RandomRotation(PAIRS, generator=torch.Generator().manual_seed(7))(d)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_attr, b.edge_attr)
    same = RandomRotation(PAIRS, degrees=0)(d)
    assert torch.allclose(same.x, d.x, atol=1e-6) and torch.allclose(same.y, d.y, atol=1e-6)


def test_degrees_bound_the_angle():
    d = window()
    rot = RandomRotation({"y": [(0, 1)]}, degrees=10, generator=torch.Generator().manual_seed(1))
    for _ in range(20):
        theta = angle_of(d.y, rot(d).y)
        assert theta.abs().max() <= math.radians(10) + 1e-4


def test_flip_mirrors_half_the_windows():
    d = window()
    rot = RandomRotation({"y": [(0, 1)]}, flip=True, generator=torch.Generator().manual_seed(2))
    dets = []
    for _ in range(200):
        R = rot.matrix()
        dets.append(round(float(torch.det(R))))
        assert torch.allclose(R @ R.t(), torch.eye(2, dtype=R.dtype), atol=1e-12)
    assert set(dets) == {-1, 1} and 60 < dets.count(-1) < 140
    # a mirrored window keeps lengths but reverses the turning direction between two vectors
    rot = RandomRotation({"x": [(0, 1), (2, 3)]}, flip=True, generator=torch.Generator().manual_seed(2))
    for _ in range(10):
        out = rot(d)
        cross = lambda t: t[..., 0] * t[..., 3] - t[..., 1] * t[..., 2]  # noqa: E731
        assert torch.allclose(cross(out.x).abs(), cross(d.x).abs(), atol=1e-5)


def test_absent_keys_are_skipped_and_other_dtypes_kept():
    d = window()
    del d.edge_attr
    out = RandomRotation(PAIRS)(d)
    assert "edge_attr" not in out
    d64 = window()
    d64.x = d64.x.double()
    assert RandomRotation({"x": [(0, 1)]})(d64).x.dtype == torch.float64


@pytest.mark.parametrize("kwargs, match", [
    (dict(pairs={}), "'pairs' must be a non-empty dict"),
    (dict(pairs=[("x", (0, 1))]), "'pairs' must be a non-empty dict"),
    (dict(pairs={"x": [(0, 0)]}), "distinct non-negative channels"),
    (dict(pairs={"x": [(0, 1), (1, 2)]}), "distinct non-negative channels"),
    (dict(pairs={"x": [(-1, 1)]}), "distinct non-negative channels"),
    (dict(pairs={"x": [0, 1]}), "list of channel pairs"),
    (dict(pairs={1: [(0, 1)]}), "attribute names"),
    (dict(degrees=270), "'degrees' must be a number in \\[0, 180\\] \\(got 270\\)"),
    (dict(degrees=True), "'degrees'"),
    (dict(flip=1), "'flip' must be a bool \\(got 1\\)"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomRotation(**kwargs)


def test_bad_windows_name_the_key_and_shape():
    d = window()
    with pytest.raises(ValueError, match=r"'pairs\['y'\]' reads channel 3, but 'y' has shape \[4, 3, 2\]"):
        RandomRotation({"y": [(2, 3)]})(d)
    with pytest.raises(ValueError, match="'edge_index' must be a floating-point tensor"):
        RandomRotation({"edge_index": [(0, 1)]})(d)
    assert "degrees=180" in repr(RandomRotation())
