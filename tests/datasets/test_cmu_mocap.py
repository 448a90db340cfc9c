"""CMUMocap on small files that the tests write in the real format, plus an
integration test on the real files under $SRNN_PYG_DATA."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import STSchema
from srnn_pyg.datasets import CMUMocap, DataFormatError
from srnn_pyg.metrics import euler_angle_error, frames_at_ms
from srnn_pyg.models.zero_velocity import ZeroVelocity

D = 117
CONSTANT = [6, 7, 8, 30]          # columns that never move (as the end sites of real files)
SEED = 1234567890


def _motion(rng, T):
    """Smooth random poses ``[T, 117]``: root position in centimetres-like
    units, exponential maps within +-1.5 rad, a few constant columns."""
    t = np.arange(T)[:, None]
    freq = rng.uniform(0.02, 0.2, size=(1, D))
    phase = rng.uniform(0, 2 * np.pi, size=(1, D))
    amp = rng.uniform(0.1, 0.7, size=(1, D))
    x = amp * np.sin(freq * t + phase) + rng.uniform(-0.8, 0.8, size=(1, D))
    x[:, :3] *= 20.0
    x[:, CONSTANT] = 0.25
    return x


def _write_cmu(root, layout, seed=0):
    """``layout``: {split: {action: [num_lines, ...]}}; returns {path: array}."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, actions in layout.items():
        for action, lengths in actions.items():
            folder = Path(root) / split / action
            folder.mkdir(parents=True, exist_ok=True)
            for n, T in enumerate(lengths, start=1):
                arr = _motion(rng, T)
                path = folder / f"{action}_{n}.txt"
                np.savetxt(path, arr, delimiter=",", fmt="%.17g")
                out[path] = arr
    return out


LAYOUT = {"train": {"walking": [200, 181], "running": [170]},
          "test": {"walking": [200], "running": [190]}}


@pytest.fixture()
def cmu(tmp_path):
    files = _write_cmu(tmp_path / "cmu_mocap", LAYOUT)
    return tmp_path, files


def test_windows_shapes_schema_and_batching(cmu):
    root, files = cmu
    ds = CMUMocap(root, split="train")                        # root holds cmu_mocap/
    assert ds.folder == root / "cmu_mocap"
    assert repr(ds) == "CMUMocap(54, split='train', graph='body_parts', obs=50, horizon=25)"
    # sliding windows: 100 - 75 + 1, 91 - 75 + 1, 85 - 75 + 1 (files downsampled by 2)
    assert len(ds) == 26 + 17 + 11
    assert ds.actions == ["running", "walking"] and ds.fps == 25.0
    assert ds.schema == STSchema(["torso", "arm", "leg"],
                                 [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
    assert ds.node_names == ["torso", "left_arm", "right_arm", "left_leg", "right_leg"]
    assert ds.feature_mask.sum(1).tolist() == [27, 27, 27, 18, 18]
    for i in (0, len(ds) - 1):
        data = ds[i]
        assert data.x.shape == (5, 50, 27) and data.y.shape == (5, 25, 27)
        assert data.x.dtype == torch.float32 and data.validate(ds.schema)
        assert data.x[3:, :, 18:].abs().sum() == 0 and data.y[3:, :, 18:].abs().sum() == 0  # padding
    loader = DataLoader(ds, batch_size=8, shuffle=False)
    batch = next(iter(loader))
    assert batch.num_graphs == 8 and batch.x.shape == (40, 50, 27) and batch.y.shape == (40, 25, 27)
    assert batch.edge_index.shape == (2, 96) and int(batch.edge_index.max()) == 39
    assert batch.schema == ds.schema
    pose = ds.to_pose(batch.x)
    assert pose.shape == (8, 50, D)
    assert torch.allclose(pose[3], ds.to_pose(ds[3].x)[0])


def test_windows_are_consecutive_downsampled_frames(cmu):
    root, files = cmu
    ds = CMUMocap(root / "cmu_mocap", split="train", stride=5, obs=10, horizon=7)
    raw = files[root / "cmu_mocap" / "train" / "running" / "running_1.txt"][::2]   # 25 fps
    first = ds.action_indices("running")[0]
    assert ds.recording_names[ds.index[first][0]] == "train/running/running_1.txt"
    for k, i in enumerate(ds.action_indices("running")):
        s = 5 * k
        assert ds.index[i][1] == s
        data = ds[i]
        x, y = ds.to_pose(data.x)[0], ds.to_pose(data.y)[0]
        assert torch.allclose(x.double(), torch.from_numpy(raw[s:s + 10]), atol=1e-4)
        assert torch.allclose(y.double(), torch.from_numpy(raw[s + 10:s + 17]), atol=1e-4)
    assert len(ds.action_indices("running")) == (85 - 17) // 5 + 1


def test_seeded_test_windows(cmu):
    root, files = cmu
    train = CMUMocap(root, split="train")
    ds = CMUMocap(root, split="test", stats=train.stats())
    assert ds.windows == "seeded" and len(ds) == 16            # 8 per test file
    for action, T in (("walking", 100), ("running", 95)):
        raw = files[root / "cmu_mocap" / "test" / action / f"{action}_1.txt"][::2]
        rng = np.random.RandomState(SEED)
        idx = [rng.randint(0, T - 75) for _ in range(8)]
        windows = ds.action_indices(action)
        assert [ds.index[i][1] for i in windows] == idx
        for i, s in zip(windows, idx):
            data = ds[i]
            assert torch.allclose(ds.to_pose(data.x)[0].double(), torch.from_numpy(raw[s:s + 50]), atol=1e-4)
            assert torch.allclose(ds.to_pose(data.y)[0].double(), torch.from_numpy(raw[s + 50:s + 75]),
                                  atol=1e-4)
    # fewer observed frames keep the same predicted frames (Mao et al. observe 10)
    short = CMUMocap(root, split="test", obs=10, stats=train.stats())
    for i in range(len(ds)):
        assert short.index[i][1] == ds.index[i][1] + 40
        assert torch.equal(short[i].y, ds[i].y) and torch.equal(short[i].x, ds[i].x[:, 40:])
    # sliding windows on the test split on request
    assert len(CMUMocap(root, split="test", windows="sliding", stats=train.stats())) == 26 + 21


def test_normalisation_from_training_split(cmu):
    root, files = cmu
    train_frames = np.concatenate([a for p, a in files.items() if "train" in p.parts])
    ds = CMUMocap(root, split="test")
    mean, std = train_frames.mean(0), train_frames.std(0)
    assert torch.allclose(ds.mean.double(), torch.from_numpy(mean), atol=1e-5)
    used = std >= 1e-4
    assert ds.dim_used.tolist() == used.tolist() and (~used).nonzero()[0].tolist() == CONSTANT
    assert torch.allclose(ds.std.double(), torch.from_numpy(np.where(used, std, 1.0)), rtol=1e-5)
    # constant dimensions are 0 after normalising; stats of another split are reused as given
    data = ds[0]
    pose_n = ds.to_pose(data.x, denormalize=False)
    assert pose_n[..., CONSTANT].abs().max() < 1e-6
    again = CMUMocap(root, split="test", stats=ds.stats())
    assert torch.equal(again.mean, ds.mean) and torch.equal(again[3].x, ds[3].x)
    # round trips: poses <-> node layout, normalise <-> denormalise
    pose = ds.to_pose(data.x)
    assert torch.allclose(ds.from_pose(pose), data.x, atol=1e-5)
    assert torch.allclose(ds.denormalize(ds.normalize(pose)), pose, atol=1e-4)
    nodes = ds.denormalize(data.x)                                # node layout, data units
    assert torch.allclose(nodes, ds.from_pose(pose, normalize=False), atol=1e-4)
    assert torch.allclose(ds.normalize(nodes), data.x, atol=1e-5)
    with pytest.raises(ValueError, match=r"to_pose: 'x' must be \[B \* N, T, F\] with N=5, F=27"):
        ds.to_pose(torch.zeros(4, 3, 27))
    with pytest.raises(ValueError, match=r"stats\['mean'\] must be \[117\]"):
        CMUMocap(root, split="test", stats={"mean": torch.zeros(3), "std": torch.ones(3),
                                            "dim_used": torch.ones(3, dtype=torch.bool)})


def test_joint_graph(cmu):
    root, _ = cmu
    ds = CMUMocap(root, split="test", graph="joints")
    data = ds[0]
    assert data.x.shape == (39, 50, 3) and data.edge_index.shape == (2, 76)
    assert ds.schema.node_types == ["root", "torso", "arm", "leg"]
    assert data.validate(ds.schema)
    assert ds.feature_mask.all()
    body = CMUMocap(root, split="test", stats=ds.stats())
    assert torch.allclose(ds.to_pose(data.y), body.to_pose(body[0].y), atol=1e-6)
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.x.shape == (156, 50, 3) and ds.to_pose(batch.y).shape == (4, 25, D)


def test_zero_velocity_error_under_protocol(cmu):
    root, _ = cmu
    ds = CMUMocap(root, split="test", actions="walking")
    assert ds.actions == ["walking"] and len(ds) == 8
    batch = next(iter(DataLoader(ds, batch_size=8)))
    model = ZeroVelocity(ds.schema, ds.num_node_features, ds.num_node_features)
    pred, target = ds.to_pose(model.forecast(batch, 25)), ds.to_pose(batch.y)
    assert torch.allclose(pred, ds.to_pose(batch.x)[:, -1:].expand_as(pred), atol=1e-5)
    err = euler_angle_error(pred, target)[frames_at_ms()]
    assert err.shape == (6,) and bool((err > 0).all())
    assert float(euler_angle_error(target, target).abs().max()) == 0.0


def test_open_reuses_the_training_statistics(cmu):
    root, _ = cmu
    train = CMUMocap.open("train", root=root, obs=20, horizon=10, stride=50)
    assert (train.obs, train.horizon, train.stride) == (20, 10, 50)
    test = CMUMocap.open("test", root=root, obs=20, horizon=10, train=train)
    ref = CMUMocap(root, split="test", obs=20, horizon=10)
    assert torch.equal(test.mean, ref.mean) and torch.equal(test.dim_used, ref.dim_used)
    assert len(test) == len(ref) and torch.equal(test[3].x, ref[3].x) and torch.equal(test[3].y, ref[3].y)
    assert CMUMocap.open_kwargs("test", train=train)["stats"]["mean"].shape == (D,)
    assert "stats" not in CMUMocap.open_kwargs("test")
    # the command line keeps the statistics in the run's config (plain Python) and opens the other
    # splits with them, without the training files
    reuse = train.reuse_options()
    assert set(reuse["stats"]) == {"mean", "std", "dim_used", "velocity_scale", "val_recordings"}
    assert reuse["stats"]["val_recordings"] == 0 and isinstance(reuse["stats"]["mean"][0], float)
    again = CMUMocap.open("test", root=root, obs=20, horizon=10, **reuse)
    assert torch.equal(again.mean, ref.mean) and torch.equal(again.std, ref.std)
    assert torch.equal(again[3].x, ref[3].x) and again.velocity_scale == pytest.approx(ref.velocity_scale)


def test_score_is_euler_error_at_the_reported_times(cmu):
    root, _ = cmu
    ds = CMUMocap(root, split="test")
    batch = next(iter(DataLoader(ds, batch_size=16)))
    g = torch.Generator().manual_seed(0)
    pred = batch.y + 0.05 * torch.randn(batch.y.shape, generator=g)
    out = ds.score({"pred": pred, "y": batch.y, "x": batch.x})
    assert list(out) == ["80ms", "160ms", "320ms", "400ms", "560ms", "1000ms"]
    err = euler_angle_error(ds.to_pose(pred), ds.to_pose(batch.y))
    for ms, f in zip((80, 160, 320, 400, 560, 1000), (1, 3, 7, 9, 13, 24)):
        assert out[f"{ms}ms"] == pytest.approx(float(err[f]), rel=1e-6)
    assert all(v > 0 for v in out.values())
    # a 10-frame forecast reaches 400 ms
    short = ds.score({"pred": pred[:, :10], "y": batch.y})
    assert list(short) == ["80ms", "160ms", "320ms", "400ms"]
    err10 = euler_angle_error(ds.to_pose(pred[:, :10]), ds.to_pose(batch.y[:, :10]))
    assert short["400ms"] == pytest.approx(float(err10[9]), rel=1e-6)


def test_root_from_environment(cmu, monkeypatch):
    root, _ = cmu
    monkeypatch.setenv("SRNN_PYG_DATA", str(root))
    assert len(CMUMocap(split="test")) == 16
    monkeypatch.delenv("SRNN_PYG_DATA")
    with pytest.raises(FileNotFoundError, match="SRNN_PYG_DATA"):
        CMUMocap(split="test")


# ------------------------------------------------------------------- errors
def _corrupt(path, how):
    lines = path.read_text().splitlines()
    if how == "truncated":
        path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:len(lines[-1]) // 2])
    elif how == "columns":
        lines[4] = lines[4] + ",1.0"
        path.write_text("\n".join(lines) + "\n")
    elif how == "nan":
        cols = lines[9].split(",")
        cols[7] = "nan"
        lines[9] = ",".join(cols)
        path.write_text("\n".join(lines) + "\n")
    elif how == "text":
        cols = lines[2].split(",")
        cols[0] = "0.5x"
        lines[2] = ",".join(cols)
        path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("how,pattern", [
    ("truncated", r"line 200: expected 117 comma-separated values, got \d+ \(a truncated file\?\)"),
    ("columns", r"line 5: expected 117 comma-separated values, got 118"),
    ("nan", r"line 10, column 8: non-finite value nan"),
    ("text", r"line 3, column 1: '0.5x' is not a number"),
])
def test_malformed_files(cmu, split, how, pattern):
    root, _ = cmu
    path = root / "cmu_mocap" / split / "walking" / "walking_1.txt"
    _corrupt(path, how)
    with pytest.raises(DataFormatError, match=pattern) as info:
        CMUMocap(root, split=split)
    assert str(path) in str(info.value)


def test_missing_files(cmu):
    root, _ = cmu
    base = root / "cmu_mocap"
    with pytest.raises(FileNotFoundError, match=r"expected '.*dancing_1\.txt' \(action 'dancing'\)"):
        CMUMocap(root, split="test", actions=["dancing"])
    (base / "train" / "walking" / "walking_2.txt").rename(base / "train" / "walking" / "walking_3.txt")
    with pytest.raises(FileNotFoundError, match=r"expected '.*walking_2\.txt' \(found numbers \[1, 3\]"):
        CMUMocap(root, split="test")
    (root / "nowhere").mkdir()
    with pytest.raises(FileNotFoundError, match=r"split folder not found: expected '.*nowhere.test'"):
        CMUMocap(root / "nowhere", split="test")
    (base / "test" / "running" / "running_1.txt").unlink()
    (base / "test" / "running").rmdir()
    with pytest.raises(FileNotFoundError, match=r"dataset folder not found"):
        CMUMocap(root / "absent")


def test_short_test_file(tmp_path):
    _write_cmu(tmp_path, {"train": {"walking": [200]}, "test": {"walking": [150]}})
    with pytest.raises(DataFormatError, match=r"walking_1\.txt': 75 frames after downsampling to 25 fps; "
                                              r"the seeded test windows need more than 75"):
        CMUMocap(tmp_path, split="test")


def test_argument_errors(cmu):
    root, _ = cmu
    with pytest.raises(ValueError, match=r"'split' must be 'train', 'val' or 'test' \(got 'valid'\)"):
        CMUMocap(root, split="valid")
    with pytest.raises(ValueError, match=r"split='val' needs val_recordings >= 1 .*got 0"):
        CMUMocap(root, split="val")
    for bad in (-1, 1.0, True, "1"):
        with pytest.raises(ValueError, match=r"'val_recordings' must be an int >= 0 \(got "):
            CMUMocap(root, val_recordings=bad)
    with pytest.raises(ValueError, match=r"'graph' must be 'body_parts' or 'joints' \(got 'bones'\)"):
        CMUMocap(root, graph="bones")
    with pytest.raises(ValueError, match=r"'obs' must be a positive int \(got 0\)"):
        CMUMocap(root, obs=0)
    with pytest.raises(ValueError, match=r"'windows' must be 'sliding' or 'seeded'"):
        CMUMocap(root, windows="random")
    with pytest.raises(ValueError, match=r"'actions' must be distinct"):
        CMUMocap(root, actions=["walking", "walking"])
    ds = CMUMocap(root, split="test")
    with pytest.raises(ValueError, match=r"no windows of action 'dancing'"):
        ds.action_indices("dancing")


# ------------------------------------------------------- positions and velocities
def test_pos_vel_windows_hold_the_frame_changes(cmu):
    root, files = cmu
    pos = CMUMocap(root, split="train", stride=4, obs=10, horizon=6)
    ds = CMUMocap(root, split="train", stride=4, obs=10, horizon=6, features="pos_vel")
    # the scale: one over the spread of the normalised 25 fps frame changes, the varying columns only
    used = ds.dim_used.numpy()
    changes = [np.diff(((a[::2] - ds.mean.double().numpy()) / ds.std.double().numpy())[:, used], axis=0)
               for p, a in files.items() if "train" in p.parts]
    assert ds.velocity_scale == pytest.approx(1.0 / np.concatenate(changes).std(), rel=1e-6)
    assert pos.velocity_scale == pytest.approx(ds.velocity_scale) and pos.features == "pos"
    assert len(ds) == len(pos) and (ds.num_node_features, ds.num_pose_features) == (54, 27)
    assert (pos.num_node_features, pos.num_pose_features) == (27, 27)
    for i in range(len(ds)):
        rec, start = ds.index[i]
        data, ref = ds[i], pos[i]
        assert data.x.shape == (5, 10, 54) and data.y.shape == (5, 6, 27) and data.validate(ds.schema)
        assert torch.equal(data.x[..., :27], ref.x) and torch.equal(data.y, ref.y)
        frames = pos.recordings[rec].x                                   # [5, T, 27], normalised
        prev = frames[:, start - 1:start + 9] if start > 0 else \
            torch.cat([frames[:, :1], frames[:, :9]], dim=1)             # no frame before the first
        vel = (frames[:, start:start + 10] - prev) * ds.velocity_scale
        assert torch.allclose(data.x[..., 27:], vel, atol=1e-5)
        assert data.x[3:, :, 27 + 18:].abs().sum() == 0                  # padding: no change
    # a batch keeps the layout; a forecast scores on the poses alone
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.x.shape == (20, 10, 54) and batch.y.shape == (20, 6, 27)


def test_pos_vel_inputs_are_what_a_forecast_rebuilds(cmu):
    """The dataset's velocities and the model's feedback rule agree: the
    frames teacher forcing builds from the targets are the recording's."""
    from srnn_pyg.models import StructuralRNN
    from srnn_pyg.nn.feedback import Feedback
    root, _ = cmu
    ds = CMUMocap(root, split="train", stride=7, obs=12, horizon=8, features="pos_vel")
    rule = Feedback(54, 27, derived="velocity", velocity_scale=ds.velocity_scale)
    for i in range(0, len(ds), 3):
        rec, start = ds.index[i]
        data = ds[i]
        assert torch.allclose(rule.frames(data.y, data), ds.recordings[rec].x[:, start + 12:start + 20], atol=1e-5)
    # the command line builds an S-RNN with the same rule
    from srnn_pyg.cli.resources import build
    built = build("srnn", ds, 8, {})
    assert built.feedback.derived == "velocity" and built.feedback.velocity_scale == ds.velocity_scale
    assert ds.feedback_kwargs() == {"derived": "velocity", "velocity_scale": ds.velocity_scale}
    torch.manual_seed(0)
    model = StructuralRNN(ds.schema, 54, 27, edge_hidden=8, node_hidden=8, residual=True, derived="velocity",
                          velocity_scale=ds.velocity_scale)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    out = model.forecast(batch, 8)
    assert out.shape == (15, 8, 27)
    scores = ds.score({"pred": out, "y": batch.y})
    assert list(scores) == ["80ms", "160ms", "320ms"] and all(0 < v < 10 for v in scores.values())


def test_pos_vel_statistics_and_errors(cmu):
    root, _ = cmu
    train = CMUMocap(root, split="train", features="pos_vel")
    stats = train.stats()
    assert float(stats["velocity_scale"]) == train.velocity_scale
    test = CMUMocap.open("test", root=root, train=train, features="pos_vel")
    assert test.velocity_scale == train.velocity_scale and test[0].x.shape == (5, 50, 54)
    plain = CMUMocap(root, split="test", stats=stats)                    # positions: the scale is carried
    assert plain.velocity_scale == train.velocity_scale and plain[0].x.shape == (5, 50, 27)
    old = {k: v for k, v in stats.items() if k != "velocity_scale"}     # statistics saved before the scale
    assert CMUMocap(root, split="test", stats=old).velocity_scale is None
    with pytest.raises(ValueError, match=r"features='pos_vel' needs stats\['velocity_scale'\] > 0"):
        CMUMocap(root, split="test", stats=old, features="pos_vel")
    with pytest.raises(ValueError, match=r"'features' must be one of \['pos', 'pos_vel'\] \(got 'vel'\)"):
        CMUMocap(root, features="vel")
    for bad in (torch.tensor([1.0, 2.0]), float("inf"), -1.0):
        with pytest.raises(ValueError, match=r"stats\['velocity_scale'\] must be one finite number > 0"):
            CMUMocap(root, split="test", stats=dict(old, velocity_scale=bad))


@pytest.mark.parametrize("kind, power", [("std", 1), ("var", 2)])
def test_loss_weight_weighs_each_pose_feature_by_its_spread(cmu, kind, power):
    root, files = cmu
    ds = CMUMocap(root, split="train", stride=20, loss_weight=kind)
    frames = np.concatenate([a for p, a in files.items() if "train" in p.parts])
    std = frames.std(0) ** power
    # the features the Euler-angle error scores: real, moving, past the global translation and rotation
    scored = [(n, f, int(d)) for n in range(5) for f, d in enumerate(ds.node_dims[n].tolist())
              if d >= 6 and d not in CONSTANT]
    mean = np.mean([std[d] for _, _, d in scored])
    want = torch.ones(5, 27)
    for n, f, d in scored:
        want[n, f] = std[d] / mean
    assert torch.allclose(ds.target_weight, want, rtol=1e-5)
    assert torch.equal(ds[0].y_weight, ds.target_weight) and ds[0].y_weight is not ds.target_weight
    assert ds[0].validate(ds.schema)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert torch.equal(batch.y_weight, ds.target_weight.repeat(3, 1))
    assert "y_weight" not in CMUMocap(root, split="train", stride=20)[0]
    test = CMUMocap.open("test", root=root, train=ds, loss_weight=kind, features="pos_vel")
    assert torch.equal(test.target_weight, ds.target_weight) and test[0].y_weight.shape == (5, 27)
    with pytest.raises(ValueError, match=r"'loss_weight' must be one of \[None, 'std', 'var'\] \(got 'sd'\)"):
        CMUMocap(root, loss_weight="sd")


# --------------------------------------------------------------- integration
def _real_root():
    base = os.environ.get("SRNN_PYG_DATA")
    if not base:
        pytest.skip("SRNN_PYG_DATA is not set: point it at the folder holding cmu_mocap/")
    root = Path(base) / "cmu_mocap"
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        pytest.skip(f"no CMU mocap data: '{root}' has no train/ and test/ folders")
    return root


@pytest.mark.integration
def test_real_cmu_mocap():
    root = _real_root()
    train = CMUMocap(split="train")
    test = CMUMocap(split="test", stats=train.stats())
    # window counts follow from the file lengths
    expected = 0
    for path in sorted((root / "train").glob("*/*_*.txt")):
        n = (sum(1 for line in open(path) if line.strip()) + 1) // 2
        expected += max(0, n - 75 + 1)
    test_files = sorted((root / "test").glob("*/*_*.txt"))
    assert len(train) == expected and len(test) == 8 * len(test_files)
    assert set(test.actions) <= set(CMUMocap.ACTIONS)
    for ds in (train, test):
        data = ds[len(ds) // 2]
        assert data.x.shape == (5, 50, 27) and data.y.shape == (5, 25, 27) and data.validate(ds.schema)
    # value ranges: exponential maps stay within a few radians; normalised data is standardised
    batch = next(iter(DataLoader(test, batch_size=len(test))))
    pose = test.to_pose(torch.cat([batch.x, batch.y], dim=1))        # [B, 75, 117]
    assert pose[..., 3:].abs().max() < 2 * np.pi
    x = torch.stack([rec.x for rec in train.recordings[:1]])
    assert x.abs().max() < 50 and bool(train.dim_used[3:].any())
    # normalisation round trip against the file
    path = test_files[0]
    raw = np.loadtxt(path, delimiter=",")[::2]
    s = test.index[0][1]
    assert torch.allclose(test.to_pose(test[0].x)[0].double(), torch.from_numpy(raw[s:s + 50]), atol=1e-4)
    # the zero-velocity baseline's error grows with the horizon and stays plausible
    model = ZeroVelocity(test.schema, 27, 27)
    err = euler_angle_error(test.to_pose(model.forecast(batch, 25)), test.to_pose(batch.y))[frames_at_ms()]
    assert 0.05 < float(err[0]) < 1.0 and float(err[-1]) > float(err[0])


VAL_LAYOUT = {"train": {"walking": [200, 181, 190], "running": [170, 160]},
              "test": {"walking": [200], "running": [190]}}


def test_validation_split_holds_out_each_actions_last_recordings(tmp_path):
    files = _write_cmu(tmp_path / "cmu_mocap", VAL_LAYOUT, seed=3)
    train = CMUMocap(tmp_path, stride=5, val_recordings=1)
    val = CMUMocap.open("val", root=tmp_path, train=train, stride=5, val_recordings=1)
    assert train.recording_names == ["train/running/running_1.txt", "train/walking/walking_1.txt",
                                     "train/walking/walking_2.txt"]
    assert val.recording_names == ["train/running/running_2.txt", "train/walking/walking_3.txt"]
    assert val.windows == "sliding" and val.split == "val"
    # sliding windows at the stride: 80 and 95 downsampled frames, 75 per window
    assert len(val) == len(range(0, 80 - 75 + 1, 5)) + len(range(0, 95 - 75 + 1, 5))
    # the statistics are the kept recordings' alone, in every split opened without them
    kept = [a for p, a in files.items() if p.parent.parent.name == "train" and p.name not in
            ("running_2.txt", "walking_3.txt")]
    flat = np.concatenate(kept, axis=0)
    assert np.allclose(train.mean.numpy(), flat.mean(0), rtol=1e-6, atol=1e-6)
    std = flat.std(0)
    assert np.allclose(train.std.numpy(), np.where(std >= 1e-4, std, 1.0), rtol=1e-5)
    alone = CMUMocap(tmp_path, split="val", stride=5, val_recordings=1)
    test = CMUMocap(tmp_path, split="test", val_recordings=1)
    for other in (alone, test):
        assert torch.equal(other.mean, train.mean) and torch.equal(other.std, train.std)
    assert not torch.equal(CMUMocap(tmp_path, stride=5).mean, train.mean)
    # the validation windows are the held-out files' frames, normalised like training
    raw = files[tmp_path / "cmu_mocap" / "train" / "running" / "running_2.txt"][::2]
    pose = val.to_pose(torch.cat([val[0].x, val[0].y], dim=1))[0]                  # [75, 117]
    assert torch.allclose(pose, torch.from_numpy(raw[:75]).float(), atol=1e-4)
    # without val_recordings there is no validation split, and every training file trains
    assert CMUMocap.has_split("val", val_recordings=1) and not CMUMocap.has_split("val")
    with pytest.raises(ValueError, match=r"has no split 'val' \(the validation split holds out .*"
                                         r"val_recordings >= 1\)"):
        CMUMocap.open("val", root=tmp_path)
    assert len(CMUMocap(tmp_path, stride=5).recording_names) == 5
    # an action must keep a training recording
    with pytest.raises(ValueError, match=r"val_recordings=2 would hold out every training recording of "
                                         r"action 'running' \(2 file\(s\)\)"):
        CMUMocap(tmp_path, val_recordings=2)


def test_validation_split_is_the_benchmarks_held_out_part(tmp_path):
    """The benchmark carves CMU's validation part from the full training split
    (benchmarks/accuracy.py, ``held_out_files``): the same windows."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from accuracy import held_out_files
    finally:
        sys.path.pop(0)
    _write_cmu(tmp_path / "cmu_mocap", VAL_LAYOUT, seed=4)
    full = CMUMocap(tmp_path, stride=3)
    keep, held = held_out_files(full)
    train = CMUMocap(tmp_path, stride=3, val_recordings=1)
    val = CMUMocap(tmp_path, split="val", stride=3, val_recordings=1)

    def windows(ds, positions):
        return [(ds.recording_names[ds.index[p][0]], ds.index[p][1], ds.window_action[p]) for p in positions]
    assert windows(full, held) == windows(val, range(len(val)))
    assert windows(full, keep) == windows(train, range(len(train)))


def test_validation_split_options_agree_across_splits(tmp_path):
    layout = {"train": {"walking": [200] * 11, "running": [170]}, "test": {"walking": [200], "running": [190]}}
    _write_cmu(tmp_path / "cmu_mocap", layout, seed=5)
    # the last recording is the highest number (11 after 10), not the last in text order
    val = CMUMocap(tmp_path, split="val", actions=["walking"], stride=25, val_recordings=1)
    assert val.recording_names == ["train/walking/walking_11.txt"]
    # an action this split does not load keeps its only recording in the statistics
    train = CMUMocap(tmp_path, actions=["walking"], stride=25, val_recordings=2)
    assert train.recording_names == [f"train/walking/walking_{n}.txt" for n in range(1, 10)]
    with pytest.raises(ValueError, match=r"would hold out every training recording of action 'running'"):
        CMUMocap(tmp_path, actions=["running"], val_recordings=1)
    # a split opened from a training split takes its held-out part; another one is refused
    assert CMUMocap.open("val", root=tmp_path, train=train, actions=["walking"], stride=25).val_recordings == 2
    with pytest.raises(ValueError, match=r"'stats' come from a training split opened with val_recordings=2, "
                                         r"but this 'val' split has val_recordings=1: pass the same"):
        CMUMocap.open("val", root=tmp_path, train=train, actions=["walking"], val_recordings=1)
    with pytest.raises(ValueError, match=r"val_recordings=2, but this 'test' split has val_recordings=0"):
        CMUMocap(tmp_path, split="test", stats=train.stats())
    # seeded windows on the validation recordings, if asked for
    seeded = CMUMocap(tmp_path, split="val", actions=["walking"], windows="seeded", val_recordings=1)
    assert len(seeded) == 8 and seeded.windows == "seeded"
    assert torch.equal(seeded.mean, CMUMocap(tmp_path, actions=["walking"], stride=50, val_recordings=1).mean)


def test_constant_dimensions_are_scored_at_their_training_mean(cmu):
    """A prediction's values on the dimensions constant in training are replaced by the training mean before
    the Euler angles, as the protocol's code rebuilds poses: an error only there changes no score."""
    root, _ = cmu
    train = CMUMocap(root, split="train")
    ds = CMUMocap(root, split="test", stats=train.stats())
    batch = next(iter(DataLoader(ds, batch_size=16)))
    true = ds.to_pose(batch.y)                                                # [B, H, 117] data units
    const = ~ds.dim_used
    assert const.any() and torch.equal(true[..., const], ds.mean[const].expand_as(true[..., const]))
    wrong = true.clone()
    wrong[..., const] += 0.7                                                  # wrong only where nothing varies
    pred = ds.from_pose(wrong)                                                # node layout, model units
    assert torch.allclose(ds.to_pose(pred), true, atol=1e-5)
    assert all(v < 1e-5 for v in ds.score({"pred": pred, "y": batch.y}).values())
