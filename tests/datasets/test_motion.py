"""The motion-file reader, the skeleton graphs and the Euler-angle error
(srnn_pyg.datasets.motion, srnn_pyg.metrics); the rotation conversions are
tested in tests/test_geometry.py."""
import math

import numpy as np
import pytest
import torch

from srnn_pyg.datasets import DataFormatError
from srnn_pyg.datasets.cmu_mocap import CMU_SKELETON
from srnn_pyg.datasets.h36m import H36M_SKELETON
from srnn_pyg.datasets.motion import read_motion_file
from srnn_pyg.metrics import euler_angle_error, euler_varying_dims, frames_at_ms


def _skew(v):
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).view(*v.shape[:-1], 3, 3)


# --------------------------------------------------------------------- reader
def _write(path, rows):
    path.write_text("".join(",".join(str(v) for v in row) + "\n" for row in rows))
    return path


def test_read_motion_file(tmp_path):
    rows = [[0.5, -1, 2e-3], [1, 2, 3], [-0, 0, 7]]
    path = _write(tmp_path / "a_1.txt", rows)
    arr = read_motion_file(path, 3)
    assert arr.dtype == np.float64 and np.array_equal(arr, np.array(rows, dtype=np.float64))
    with open(path, "a") as f:  # trailing blank lines are fine
        f.write("\n\n")
    assert read_motion_file(path, 3).shape == (3, 3)


@pytest.mark.parametrize("content,pattern", [
    ("1,2,3\n4,5,6\n7,8", r"line 3: expected 3 comma-separated values, got 2 \(a truncated file\?\)"),
    ("1,2,3\n4,5,6,7\n7,8,9\n", r"line 2: expected 3 comma-separated values, got 4"),
    ("1,2,3\n\n7,8,9\n", r"line 2: expected 3 comma-separated values, got 0"),
    ("1,2,3\n4,nan,6\n", r"line 2, column 2: non-finite value nan"),
    ("1,2,3\n4,5,inf\n", r"line 2, column 3: non-finite value inf"),
    ("1,2,3\n4,5,x6\n", r"line 2, column 3: 'x6' is not a number"),
    ("1,2,3\n4,5,\n", r"line 2, column 3: '' is not a number"),
    ("", r"the file is empty"),
])
def test_read_motion_file_malformed(tmp_path, content, pattern):
    path = tmp_path / "bad_1.txt"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=pattern) as info:
        read_motion_file(path, 3)
    assert str(path) in str(info.value)


def test_read_motion_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing data file: expected '.*nope_1\.txt' \(a thing\)"):
        read_motion_file(tmp_path / "nope_1.txt", 3, "a thing")


# ------------------------------------------------------------------- skeletons
@pytest.mark.parametrize("skeleton,D", [(CMU_SKELETON, 117), (H36M_SKELETON, 99)])
def test_skeleton_graphs(skeleton, D):
    assert skeleton.num_dims == D
    assert len(skeleton.joint_types) == len(skeleton.parents)
    # the body parts cover every pose dimension exactly once
    parts = sorted(t for _, _, ts in skeleton.parts for t in ts)
    assert parts == list(range(D // 3))
    schema, names, node_type, edge_index, edge_type, node_dims = skeleton.graph("body_parts")
    assert names == ["torso", "left_arm", "right_arm", "left_leg", "right_leg"]
    assert [schema.node_types[t] for t in node_type] == ["torso", "arm", "arm", "leg", "leg"]
    pairs = {tuple(p) for p in edge_index.t().tolist()}
    assert pairs == {(0, 1), (0, 2), (0, 3), (0, 4), (1, 2), (3, 4),
                     (1, 0), (2, 0), (3, 0), (4, 0), (2, 1), (4, 3)}
    names_of = [schema.edge_types[k].name for k in edge_type]
    assert names_of.count("torso-arm") == 4 and names_of.count("arm-arm") == 2
    widths = (node_dims >= 0).sum(1).tolist()
    assert widths[1] == widths[2] and widths[3] == widths[4]       # arms match, legs match
    assert sorted(node_dims[node_dims >= 0].tolist()) == list(range(D))
    # joints: a tree over D / 3 nodes, stored both ways
    schema, names, node_type, edge_index, edge_type, node_dims = skeleton.graph("joints")
    K = D // 3
    assert node_dims.tolist() == [[3 * k, 3 * k + 1, 3 * k + 2] for k in range(K)]
    assert edge_index.shape == (2, 2 * (K - 1))
    expected = {(0, 1)} | {(p + 1, j + 1) for j, p in enumerate(skeleton.parents) if p >= 0}
    assert {tuple(p) for p in edge_index[:, :K - 1].t().tolist()} == expected
    assert schema.node_types[node_type[0]] == "root" and schema.node_types[node_type[1]] == "root"
    with pytest.raises(ValueError, match="'graph' must be 'body_parts' or 'joints'"):
        skeleton.graph("bones")


def test_h36m_body_parts_are_the_srnn_ranges():
    _, names, _, _, _, node_dims = H36M_SKELETON.graph("body_parts")
    ranges = {"torso": list(range(6)) + list(range(36, 51)), "right_arm": list(range(75, 99)),
              "left_arm": list(range(51, 75)), "right_leg": list(range(6, 21)),
              "left_leg": list(range(21, 36))}
    for n, name in enumerate(names):
        assert [d for d in node_dims[n].tolist() if d >= 0] == ranges[name]


# ---------------------------------------------------------------------- metric
def test_frames_at_ms():
    assert frames_at_ms() == [1, 3, 7, 9, 13, 24]
    assert frames_at_ms(80) == 1
    assert frames_at_ms([100, 200], fps=50) == [4, 9]
    with pytest.raises(ValueError, match=r"30 ms must be a positive whole number of frames at 25"):
        frames_at_ms(30)
    with pytest.raises(ValueError, match="whole number"):
        frames_at_ms(0)


def _reference_error(pred, target):
    """A slow loop over sequences, frames and joints: Rodrigues by the matrix
    exponential, the protocol's angles with math.atan2/asin, global dims
    zeroed, dims kept where the target's std over the frames exceeds 1e-4."""
    B, H, D = target.shape
    out = torch.zeros(B, H, dtype=torch.float64)

    def euler(seq):
        e = np.zeros((H, D))
        for t in range(H):
            for k in range(D // 3):
                R = torch.linalg.matrix_exp(_skew(seq[t, 3 * k:3 * k + 3].double())).numpy()
                e2 = -math.asin(R[0, 2])
                e[t, 3 * k:3 * k + 3] = (math.atan2(R[1, 2], R[2, 2]), e2, math.atan2(R[0, 1], R[0, 0]))
        e[:, :6] = 0
        return e

    for b in range(B):
        p, q = euler(pred[b]), euler(target[b])
        use = np.std(q, axis=0) > 1e-4
        out[b] = torch.from_numpy(np.sqrt(((p[:, use] - q[:, use]) ** 2).sum(1)))
    return out.mean(0)


def test_euler_angle_error_matches_reference():
    g = torch.Generator().manual_seed(3)
    target = torch.randn(3, 6, 15, generator=g)
    target[..., 9:12] = 0.2          # one joint constant over the frames: not evaluated
    pred = target + 0.1 * torch.randn(3, 6, 15, generator=g)
    err = euler_angle_error(pred, target)
    assert err.shape == (6,) and err.dtype == torch.float32
    assert torch.allclose(err.double(), _reference_error(pred, target), atol=1e-5)
    assert torch.equal(euler_angle_error(target, target), torch.zeros(6))
    assert euler_angle_error(pred, target, reduce="none").shape == (3, 6)
    assert torch.allclose(euler_angle_error(pred[0], target[0]),
                          euler_angle_error(pred[:1], target[:1]))


def test_euler_angle_error_dims_global_and_mask():
    g = torch.Generator().manual_seed(4)
    target = torch.randn(4, 5, 12, generator=g)
    target[..., 9:12] = 0.3
    pred = target + 0.05 * torch.randn(4, 5, 12, generator=g)
    base = euler_angle_error(pred, target)
    moved = pred.clone()
    moved[..., :6] += 1.0            # global translation and rotation are left out
    assert torch.allclose(euler_angle_error(moved, target), base)
    moved = pred.clone()
    moved[..., 9:12] += 0.5          # a joint constant in the target is left out by default ...
    assert torch.allclose(euler_angle_error(moved, target), base)
    every = torch.ones(12, dtype=torch.bool)   # ... but not with all dims
    assert (euler_angle_error(moved, target, dims=every) > euler_angle_error(pred, target, dims=every)).all()
    assert torch.equal(euler_varying_dims(target)[:, 9:], torch.zeros(4, 3, dtype=torch.bool))
    assert torch.equal(euler_varying_dims(target)[:, :6], torch.zeros(4, 6, dtype=torch.bool))
    per_seq = euler_angle_error(pred, target, reduce="none")
    mask = torch.tensor([True, False, True, False])
    assert torch.allclose(euler_angle_error(pred, target, mask=mask), per_seq[mask].mean(0))
    with pytest.raises(ValueError, match="same shape"):
        euler_angle_error(pred, target[:, :3])
    with pytest.raises(ValueError, match=r"'dims' must be a bool mask \[D\] or \[B, D\]"):
        euler_angle_error(pred, target, dims=torch.ones(11, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"'mask' must be a bool \[B\]"):
        euler_angle_error(pred, target, mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"'pred_expmap' must be \[B, H, 3 \* K\]"):
        euler_angle_error(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="'reduce'"):
        euler_angle_error(pred, target, reduce="sum")
