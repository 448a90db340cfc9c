"""Tests written after a hand-made mutation run of the motion-capture datasets (motion.py,
cmu_mocap.py, h36m.py), brain4cars.py and convert.py: each compares with the protocol written out as
an independent loop, with values worked out by hand or with a round trip, and fails on a mutant that
tests/datasets/test_{motion,cmu_mocap,h36m,brain4cars}.py and the conversion tests let through.

Mutants killed here (the change, then the test that kills it):

* motion.py, the constant-dimension threshold raised (``std > 100 * STD_THRESHOLD``); constant
  dimensions given ``std + 1`` instead of 1 (the same only where the std is exactly 0):
  ``test_cmu_stats_follow_the_protocol_written_out``.
* motion.py, the scored loss-weight features start after dimension 6 (``node_dims > 6``):
  ``test_cmu_loss_weights_written_out``.
* motion.py, ``score`` with the prediction and the truth swapped (the evaluated dimensions then
  come from the prediction): ``test_cmu_score_is_the_euler_error_in_data_units``.
* cmu_mocap.py, seeded starts drawn from ``randint(0, T - total + 1)``; ``total`` using ``horizon``
  instead of ``max(horizon, 25)``: ``test_cmu_seeded_windows_with_short_obs``.
* h36m.py, a ``"train"`` split given ``subjects=`` computing its statistics from every training
  subject: ``test_h36m_training_subjects_given_make_the_statistics``.
* h36m.py, seeded windows starting at ``first - obs`` with ``first = randint + obs`` instead of
  ``+ 50`` (only seen with ``obs != 50``): ``test_h36m_seeded_windows_written_out``.
* brain4cars.py, ``recordings`` joining the smaller root under the larger (ids no longer in order
  of first appearance): ``test_brain4cars_recording_ids_follow_first_appearance``.
* brain4cars.py, ``assign_folds`` balancing the total before the class count:
  ``test_brain4cars_folds_balance_each_class_first``; counting recordings instead of whole
  sequences per class: ``test_brain4cars_folds_balance_whole_sequences_not_recordings``.
* brain4cars.py, ``distinct_sequences`` keeping the last copy of a repeated sequence (another
  order, so other folds): ``test_brain4cars_distinct_sequences_keep_the_first_copy_in_order``.
* brain4cars.py, ``holdout`` without the "at least one recording per class" floor:
  ``test_brain4cars_holdout_keeps_one_recording_per_class_at_least``.
* convert.py, ``to_networkx`` folding a directed pair into ``(min, max)``; adding edges ``d -> s``:
  ``test_to_networkx_keeps_edge_direction``; never making a multigraph (two relations on one
  pair lose one): ``test_to_networkx_keeps_two_relations_between_one_pair``.
* convert.py, ``from_networkx`` looking the relation up as ``(dst type, rel, src type)``:
  ``test_from_networkx_edge_type_attribute_on_a_directed_relation``.
* convert.py, ``from_dense`` taking the dynamic ``edge_mask`` or the ``edge_attr`` weights from
  ``adj[:, dst, src]``: ``test_from_dense_dynamic_mask_and_weights_follow_src_dst``.
* convert.py, ``from_temporal_signal`` giving unweighted dynamic edges weight 0:
  ``test_from_temporal_signal_dynamic_edges_without_weights_weigh_one``.

Equivalent mutants (no test can tell): brain4cars.py padding labels ``-1`` clipped to 0 (the same
0); convert.py ``from_hetero`` inferring ``undirected = rev`` without ``or s == d`` (for a
self-loop type ``(d, r, s)`` is the type itself).
"""
import pickle

import numpy as np
import pytest
import torch

from srnn_pyg import STData, STSchema
from srnn_pyg.convert import from_dense, from_networkx, from_temporal_signal, to_networkx
from srnn_pyg.datasets import H36M, Brain4Cars, CMUMocap
from srnn_pyg.datasets.brain4cars import assign_folds, distinct_sequences, recordings
from srnn_pyg.metrics import euler_angle_error
# ------------------------------------------------------------------------------ motion / CMU
D = 117
TINY_STD = 112          # a column with std 5e-5: constant by the 1e-4 threshold
SMALL_STD = 113         # a column with std 1e-3: varying, though little


def _cmu_poses(rng, T):
    t = np.arange(T)[:, None]
    x = 0.4 * np.sin(rng.uniform(0.05, 0.3, (1, D)) * t + rng.uniform(0, 6, (1, D))) \
        + rng.uniform(-0.5, 0.5, (1, D))
    x[:, [9, 10, 11, 30]] = 0.25                                      # exactly constant (6 varies)
    sign = np.where(np.arange(T) % 2 == 0, 1.0, -1.0)
    x[:, TINY_STD] = 0.3 + 5e-5 * sign
    x[:, SMALL_STD] = -0.2 + 1e-3 * sign
    return x


def _write_cmu(root, layout, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for split, actions in layout.items():
        for action, lengths in actions.items():
            folder = root / "cmu_mocap" / split / action
            folder.mkdir(parents=True, exist_ok=True)
            for n, T in enumerate(lengths, start=1):
                arr = _cmu_poses(rng, T)
                np.savetxt(folder / f"{action}_{n}.txt", arr, delimiter=",", fmt="%.17g")
                out[(split, action, n)] = arr
    return out


def _reference_stats(train_arrays):
    flat = np.concatenate(train_arrays)
    mean, std = flat.mean(0), flat.std(0)                              # population std, full rate
    used = std >= 1e-4
    std = np.where(used, std, 1.0)
    diffs = np.concatenate([np.diff(((a[::2] - mean) / std)[:, used], axis=0) for a in train_arrays])
    return mean, std, used, 1.0 / diffs.std()


CMU_LAYOUT = {"train": {"walking": [41, 36]}, "test": {"walking": [190, 181]}}


def test_cmu_stats_follow_the_protocol_written_out(tmp_path):
    files = _write_cmu(tmp_path, CMU_LAYOUT)
    ds = CMUMocap(tmp_path / "cmu_mocap", obs=3, horizon=2)
    mean, std, used, scale = _reference_stats([files["train", "walking", n] for n in (1, 2)])
    assert not used[TINY_STD] and used[SMALL_STD]
    assert torch.equal(ds.dim_used, torch.from_numpy(used))
    assert float(ds.std[TINY_STD]) == 1.0
    assert torch.allclose(ds.mean.double(), torch.from_numpy(mean), atol=1e-6)
    assert torch.allclose(ds.std.double(), torch.from_numpy(std), rtol=1e-5)
    assert ds.velocity_scale == pytest.approx(scale, rel=1e-6)


def test_cmu_sliding_windows_are_every_second_frame(tmp_path):
    files = _write_cmu(tmp_path, CMU_LAYOUT)
    ds = CMUMocap(tmp_path / "cmu_mocap", obs=3, horizon=2, stride=2, features="pos_vel")
    seq = files["train", "walking", 2][::2]                            # 18 frames at 25 fps
    norm = (seq - ds.mean.double().numpy()) / ds.std.double().numpy()
    starts = [s for r, s in ds.index if r == 1]
    assert starts == list(range(0, 18 - 5 + 1, 2))
    F = ds.num_pose_features
    for i, (r, s) in enumerate(ds.index):
        if r != 1:
            continue
        w = ds[i]
        x_pose = ds.to_pose(w.x[..., :F], denormalize=False)[0].double().numpy()
        y_pose = ds.to_pose(w.y, denormalize=False)[0].double().numpy()
        np.testing.assert_allclose(x_pose, norm[s:s + 3], atol=1e-5)
        np.testing.assert_allclose(y_pose, norm[s + 3:s + 5], atol=1e-5)
        prev = norm[s - 1:s + 2] if s > 0 else np.concatenate([norm[:1], norm[:2]])
        vel = (norm[s:s + 3] - prev) * ds.velocity_scale
        np.testing.assert_allclose(ds.to_pose(w.x[..., F:], denormalize=False)[0].double().numpy(),
                                   vel, atol=1e-4)


def test_cmu_seeded_windows_with_short_obs(tmp_path):
    files = _write_cmu(tmp_path, CMU_LAYOUT)
    train = CMUMocap(tmp_path / "cmu_mocap", obs=3, horizon=2)
    test = CMUMocap(tmp_path / "cmu_mocap", split="test", obs=10, horizon=5, num_seeded=3,
                    stats=train.stats())
    expected = []
    for rec, n in enumerate((1, 2)):
        T = files["test", "walking", n][::2].shape[0]
        rng = np.random.RandomState(1234567890)                       # fresh for every file
        expected += [(rec, int(rng.randint(0, T - 75)) + 50 - 10) for _ in range(3)]
    assert test.index == expected


def _cmu_train(tmp_path, **kw):
    _write_cmu(tmp_path, CMU_LAYOUT)
    return CMUMocap(tmp_path / "cmu_mocap", obs=3, horizon=2, **kw)


def test_cmu_pose_round_trip_padding_and_constant_dims(tmp_path):
    ds = _cmu_train(tmp_path)
    g = torch.Generator().manual_seed(0)
    pose = ds.mean + ds.std * torch.randn(2, 4, D, generator=g)
    pose = torch.where(ds.dim_used, pose, ds.mean)                      # constant dims at their mean
    nodes = ds.from_pose(pose)                                           # [2 N, 4, F]
    mask = ds.feature_mask.repeat(2, 1).unsqueeze(1).expand_as(nodes)
    assert bool((nodes[~mask] == 0).all())                              # padding is zero
    assert torch.allclose(ds.to_pose(nodes), pose, atol=1e-5)
    # a prediction in a constant dimension (30 shares a rotation with 31, 32) is replaced by the mean
    moved = nodes.clone()
    n, f = (int(i) for i in torch.nonzero(ds.node_dims == 30)[0])
    moved[n, :, f] = 3.0
    assert torch.allclose(ds.to_pose(moved), pose, atol=1e-5)


def test_cmu_score_is_the_euler_error_in_data_units(tmp_path):
    ds = _cmu_train(tmp_path)
    g = torch.Generator().manual_seed(1)
    H = 14
    true = ds.mean + ds.std * torch.randn(H, D, generator=g)
    true = torch.where(ds.dim_used, true, ds.mean)
    true[:, 39:42] = true[0, 39:42]                                     # one joint still in the true frames
    pred = true + 0.05 * torch.randn(H, D, generator=g)
    pred = torch.where(ds.dim_used, pred, ds.mean)
    expected = euler_angle_error(pred[None], true[None])
    got = ds.score({"pred": ds.from_pose(pred), "y": ds.from_pose(true)})
    frames = {80: 1, 160: 3, 320: 7, 400: 9, 560: 13}
    assert sorted(got) == sorted(f"{ms}ms" for ms in frames)
    for ms, f in frames.items():
        assert got[f"{ms}ms"] == pytest.approx(float(expected[f]), rel=1e-4, abs=1e-6)
    swapped = euler_angle_error(true[None], pred[None])
    assert not torch.allclose(swapped, expected)                        # the true frames pick the dims


@pytest.mark.parametrize("kind", ["std", "var"])
def test_cmu_loss_weights_written_out(tmp_path, kind):
    ds = _cmu_train(tmp_path, loss_weight=kind)
    N, F = ds.node_dims.shape
    scored = [(n, f) for n in range(N) for f in range(F)
              if ds.node_dims[n, f] >= 6 and bool(ds.dim_used[ds.node_dims[n, f]])]
    spread = {(n, f): float(ds.std[ds.node_dims[n, f]]) ** (1 if kind == "std" else 2) for n, f in scored}
    mean = sum(spread.values()) / len(spread)
    expected = torch.ones(N, F)
    for key, value in spread.items():
        expected[key] = value / mean
    assert torch.allclose(ds.target_weight, expected, rtol=1e-5)
    assert torch.equal(ds[0].y_weight, ds.target_weight)


# ---------------------------------------------------------------------------------- H36M
def _write_h36m_test(root, lengths):
    rng = np.random.default_rng(3)
    folder = root / "S5"
    folder.mkdir(parents=True)
    for (action, sub), T in lengths.items():
        np.savetxt(folder / f"{action}_{sub}.txt", rng.uniform(-1, 1, (T, 99)), delimiter=",", fmt="%.6f")


def test_h36m_seeded_windows_written_out(tmp_path):
    lengths = {("walking", 1): 340, ("walking", 2): 362, ("eating", 1): 380, ("eating", 2): 336}
    _write_h36m_test(tmp_path, lengths)
    stats = {"mean": torch.zeros(99), "std": torch.ones(99), "dim_used": torch.ones(99, dtype=torch.bool)}
    ds = H36M(tmp_path, split="test", actions=["walking", "eating"], obs=10, horizon=5, num_seeded=4,
              stats=stats)
    expected = []
    for a, action in enumerate(("walking", "eating")):
        rng = np.random.RandomState(1234567890)                       # fresh for every action
        for i in range(4):
            sub = i % 2 + 1                                            # subactions 1, 2, 1, 2
            T = len(range(0, lengths[action, sub], 2))
            first = int(rng.randint(16, T - 150)) + 50                 # the first predicted frame
            expected.append((2 * a + sub - 1, first - 10))
    assert ds.index == expected
    assert ds.recording_names == ["S5/walking_1.txt", "S5/walking_2.txt", "S5/eating_1.txt", "S5/eating_2.txt"]


# ----------------------------------------------------------------------------- Brain4Cars
def test_brain4cars_recording_ids_follow_first_appearance():
    feats = np.zeros((3, 2, 13), dtype=np.float32)
    feats[:, :, 0] = [[1, 2], [3, 4], [5, 2]]                          # sequences 0 and 2 share a step
    labels = np.ones((3, 2), dtype=np.int64)
    assert recordings(feats, labels).tolist() == [0, 1, 0]


def test_brain4cars_folds_balance_each_class_first():
    groups = np.array([0, 0, 0, 1, 2])                                 # recording 0: three sequences
    classes = np.array([0, 0, 0, 1, 1])
    whole = np.ones(5, dtype=bool)
    for seed in range(4):
        fold = assign_folds(groups, classes, whole, seed=seed, k=2)
        assert fold[0] == fold[1] == fold[2]
        assert sorted(fold[3:].tolist()) == [1, 2]                     # class 1 spread over both folds


def test_h36m_training_subjects_given_make_the_statistics(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "S1").mkdir()
    arrays = [rng.uniform(-1, 1, (40 + 2 * sub, 99)) for sub in (1, 2)]
    for sub, arr in zip((1, 2), arrays):
        np.savetxt(tmp_path / "S1" / f"walking_{sub}.txt", arr, delimiter=",", fmt="%.6f")
    ds = H36M(tmp_path, subjects=[1], obs=3, horizon=2)                 # only subject 1 on disk
    arrays = [np.round(a, 6) for a in arrays]
    mean = np.concatenate(arrays).mean(0)
    assert torch.allclose(ds.mean.double(), torch.from_numpy(mean), atol=1e-6)


def _pik(path, values):
    feats = np.zeros((3, len(values), 13), dtype=np.float32)            # [T, S, 13]
    feats[:, :, 0] = np.asarray(values, dtype=np.float32)[None]
    feats[:, :, 1] = np.arange(3)[:, None]
    labels = np.ones((3, len(values)), dtype=np.int64)
    path.write_bytes(pickle.dumps({"features": feats, "labels": labels}))


def test_brain4cars_distinct_sequences_keep_the_first_copy_in_order(tmp_path):
    values = {(1, "train"): [10], (1, "test"): [20], (2, "train"): [10, 30]}
    for k in range(1, 6):
        for split in ("train", "test"):
            _pik(tmp_path / f"fold_{k}_{split}.pik", values.get((k, split), [100 * k + len(split)]))
    feats, _, total = distinct_sequences(tmp_path)
    assert total == 11
    assert feats[:, 0, 0].tolist() == [10, 20, 30, 204, 305, 304, 405, 404, 505, 504]


def test_brain4cars_holdout_keeps_one_recording_per_class_at_least(tmp_path):
    root = tmp_path / "brain4cars"
    root.mkdir()
    rng = np.random.default_rng(0)
    feats = rng.uniform(-1, 1, (7, 10, 13)).astype(np.float32)
    labels = np.repeat((np.arange(10) % 5 + 1)[None], 7, axis=0).astype(np.int64)
    (root / "fold_1_train.pik").write_bytes(pickle.dumps({"features": feats, "labels": labels}))
    test = {"features": [rng.uniform(-1, 1, (7, 1, 13)).astype(np.float32)],
            "labels": [np.full((7, 1), 2, dtype=np.int64)]}
    (root / "fold_1_test.pik").write_bytes(pickle.dumps(test))
    ds = Brain4Cars(root)
    keep, held = ds.holdout(share=0.01)
    assert len(held) == 5 and sorted(ds.maneuvers[held].tolist()) == [0, 1, 2, 3, 4]
    assert sorted(keep + held) == list(range(10))


def test_brain4cars_folds_balance_whole_sequences_not_recordings():
    groups = np.array([0, 0, 0, 1, 2, 3])                              # A has three sequences, B-D one
    classes = np.zeros(6, dtype=np.int64)
    for seed in range(4):
        fold = assign_folds(groups, classes, np.ones(6, dtype=bool), seed=seed, k=2)
        assert fold[3] == fold[4] == fold[5] != fold[0]


# ------------------------------------------------------------------------------ convert
def _directed_data():
    schema = STSchema(["node"], [("node", "node")], directed=True)
    data = STData(x=torch.arange(12.0).view(3, 2, 2), edge_index=torch.tensor([[0, 1, 0], [1, 0, 2]]),
                  node_type=torch.zeros(3, dtype=torch.long), edge_type=torch.zeros(3, dtype=torch.long))
    data.schema = schema
    return data


def test_to_networkx_keeps_edge_direction():
    g = to_networkx(_directed_data())
    assert g.is_directed()
    assert sorted(g.edges()) == [(0, 1), (0, 2), (1, 0)]


def test_to_networkx_keeps_two_relations_between_one_pair():
    schema = STSchema(["node"], [("node", "near", "node"), ("node", "far", "node")])
    data = STData(x=torch.zeros(2, 1, 1), edge_index=torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]]),
                  node_type=torch.zeros(2, dtype=torch.long), edge_type=torch.tensor([0, 0, 1, 1]))
    g = to_networkx(data, schema)
    assert sorted(rel for _, _, rel in g.edges(data="rel")) == ["far", "near"]


def test_from_networkx_edge_type_attribute_on_a_directed_relation():
    nx = pytest.importorskip("networkx")
    schema = STSchema(["a", "b"], [("a", "likes", "b")], directed=True)
    g = nx.DiGraph()
    g.add_node("u", type="a", x=np.zeros((2, 1)))
    g.add_node("v", type="b", x=np.ones((2, 1)))
    g.add_edge("u", "v", rel="likes")
    data = from_networkx(g, schema=schema, edge_type_attr="rel")
    assert data.edge_index.tolist() == [[0], [1]] and data.edge_type.tolist() == [0]


def test_from_dense_dynamic_mask_and_weights_follow_src_dst():
    adj = torch.zeros(3, 3, 3)
    adj[0, 0, 1] = 2.0                                                  # edge 0 -> 1 at step 0
    adj[1, 1, 0] = 5.0                                                  # edge 1 -> 0 at step 1
    adj[2, 0, 1], adj[2, 2, 1] = 3.0, 4.0
    data = from_dense(torch.zeros(3, 3, 1), adj, edge_weight=True)
    for e, (s, d) in enumerate(data.edge_index.t().tolist()):
        for t in range(3):
            assert bool(data.edge_mask[e, t]) == bool(adj[t, s, d] != 0)
            assert float(data.edge_attr[e, t, 0]) == float(adj[t, s, d])


class _Signal:
    def __init__(self, features, edge_indices, edge_weights):
        self.features, self.edge_indices, self.edge_weights = features, edge_indices, edge_weights
        self.targets = None


def test_from_temporal_signal_dynamic_edges_without_weights_weigh_one():
    feats = [np.zeros((3, 2)) for _ in range(2)]
    edges = [np.array([[0, 1], [1, 2]]), np.array([[1], [2]])]
    data = from_temporal_signal(_Signal(feats, edges, None))
    assert data.edge_index.tolist() == [[0, 1], [1, 2]]
    assert data.edge_mask.tolist() == [[True, False], [True, True]]
    assert data.edge_attr[..., 0].tolist() == [[1.0, 0.0], [1.0, 1.0]]
