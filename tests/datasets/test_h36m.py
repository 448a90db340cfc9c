"""H36M on small files in the Human3.6M exponential-map format that the tests
write themselves (the real data may not be redistributed)."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import STSchema
from srnn_pyg.datasets import H36M, DataFormatError
from srnn_pyg.metrics import euler_angle_error, frames_at_ms
from srnn_pyg.models.zero_velocity import ZeroVelocity

D = 99
SUBJECTS = (1, 5, 6, 7, 8, 9, 11)
ACTIONS = ("walking", "eating")
CONSTANT = [15, 16, 17, 33]       # never moving columns, like the end sites of the real files
SEED = 1234567890


def _motion(rng, T):
    t = np.arange(T)[:, None]
    freq = rng.uniform(0.01, 0.1, size=(1, D))
    phase = rng.uniform(0, 2 * np.pi, size=(1, D))
    x = rng.uniform(0.1, 0.6, size=(1, D)) * np.sin(freq * t + phase) + rng.uniform(-1, 1, size=(1, D))
    x[:, :3] *= 500.0                                       # millimetres
    x[:, CONSTANT] = -0.5
    return x


def _write_h36m(folder, seed=0):
    """``S<s>/<action>_<sub>.txt`` for every subject, action and subaction; the
    50 Hz files have 336 to 359 lines (168 to 180 frames at 25 fps), values
    with 6 decimals (as written)."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in SUBJECTS:
        (Path(folder) / f"S{s}").mkdir(parents=True, exist_ok=True)
        for a in ACTIONS:
            for sub in (1, 2):
                T = int(rng.integers(336, 360))
                arr = np.round(_motion(rng, T), 6)
                path = Path(folder) / f"S{s}" / f"{a}_{sub}.txt"
                np.savetxt(path, arr, delimiter=",", fmt="%.6f")
                out[(s, a, sub)] = arr
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Files written once per module (tests that change files work on a copy)."""
    folder = tmp_path_factory.mktemp("h36m_source") / "h3.6m" / "dataset"
    return folder, _write_h36m(folder)


@pytest.fixture(scope="module")
def train_stats(source):
    return H36M(source[0], split="train", stride=25).stats()


@pytest.fixture()
def h36m(tmp_path, source):
    folder = tmp_path / "h3.6m" / "dataset"
    shutil.copytree(source[0], folder)
    return tmp_path, folder, source[1]


def test_train_windows_and_stats(source):
    folder, files = source
    ds = H36M(folder.parent.parent, split="train", stride=10)     # the parent of h3.6m/dataset
    assert ds.folder == folder and ds.subjects == (1, 6, 7, 8, 9, 11)
    assert ds.actions == ["walking", "eating"]
    expected = sum(len(range(0, (len(a) + 1) // 2 - 75 + 1, 10))
                   for (s, _, _), a in files.items() if s != 5)
    assert len(ds) == expected
    assert repr(ds) == f"H36M({expected}, split='train', graph='body_parts', obs=50, horizon=25)"
    # statistics: full-rate frames of the training subjects only
    train = np.concatenate([a for (s, _, _), a in files.items() if s != 5])
    assert torch.allclose(ds.mean.double(), torch.from_numpy(train.mean(0)), rtol=1e-6, atol=1e-4)
    std = train.std(0)
    assert ds.dim_used.tolist() == (std >= 1e-4).tolist()
    assert (~ds.dim_used).nonzero().view(-1).tolist() == CONSTANT
    assert ds.std[CONSTANT].tolist() == [1.0] * 4
    # windows: consecutive frames of the downsampled recording
    i = 3
    rec, start = ds.index[i]
    s, a, sub = 1, "walking", 1
    assert ds.recording_names[rec] == f"S{s}/{a}_{sub}.txt"
    raw = files[(s, a, sub)][::2]
    data = ds[i]
    assert data.x.shape == (5, 50, 24) and data.y.shape == (5, 25, 24) and data.validate(ds.schema)
    assert torch.allclose(ds.to_pose(data.x)[0].double(), torch.from_numpy(raw[start:start + 50]),
                          rtol=1e-5, atol=1e-3)
    assert torch.allclose(ds.to_pose(data.y)[0].double(), torch.from_numpy(raw[start + 50:start + 75]),
                          rtol=1e-5, atol=1e-3)


def _martinez_windows(files, action, subject=5, count=8):
    """The seeded procedure of Martinez et al. (2017), written out again:
    one RandomState(1234567890) per action, alternating subactions 1 and 2,
    start = randint(16, T - 150), prediction from start + 50."""
    T1 = len(files[(subject, action, 1)][::2])
    T2 = len(files[(subject, action, 2)][::2])
    rng = np.random.RandomState(SEED)
    out = []
    for i in range(count):
        sub = i % 2 + 1
        out.append((sub, rng.randint(16, (T1 if sub == 1 else T2) - 150)))
    return out


def test_seeded_test_windows(source, train_stats):
    folder, files = source
    ds = H36M(folder, split="test", stats=train_stats)
    assert ds.subjects == (5,) and ds.windows == "seeded" and len(ds) == 16
    assert torch.equal(ds.mean, train_stats["mean"])
    for action in ACTIONS:
        windows = ds.action_indices(action)
        assert len(windows) == 8
        for i, (sub, idx) in zip(windows, _martinez_windows(files, action)):
            rec, start = ds.index[i]
            assert ds.recording_names[rec] == f"S5/{action}_{sub}.txt" and start == idx
            raw = files[(5, action, sub)][::2]
            data = ds[i]
            assert torch.allclose(ds.to_pose(data.x)[0].double(), torch.from_numpy(raw[idx:idx + 50]),
                                  rtol=1e-5, atol=1e-3)
            assert torch.allclose(ds.to_pose(data.y)[0].double(),
                                  torch.from_numpy(raw[idx + 50:idx + 75]), rtol=1e-5, atol=1e-3)
    # long-term horizon (100 frames, as the S-RNN paper) and fewer observed frames
    long = H36M(folder, split="test", horizon=100, obs=10, stats=train_stats)
    assert [long.index[i][1] for i in range(16)] == [ds.index[i][1] + 40 for i in range(16)]
    assert long[0].y.shape == (5, 100, 24)
    with pytest.raises(ValueError, match=r"'obs' <= 66 and 'horizon' <= 100 \(got obs=50, horizon=101\)"):
        H36M(folder, split="test", horizon=101, stats=train_stats)


def test_schema_graphs_batching_and_metric(source):
    folder, files = source
    ds = H36M(folder, split="test")
    assert ds.schema == STSchema(["torso", "arm", "leg"],
                                 [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
    assert ds.feature_mask.sum(1).tolist() == [21, 24, 24, 15, 15]
    batch = next(iter(DataLoader(ds, batch_size=8)))
    assert batch.x.shape == (40, 50, 24) and batch.num_graphs == 8
    pose = ds.to_pose(batch.y)
    assert pose.shape == (8, 25, D)
    assert torch.allclose(ds.denormalize(ds.normalize(pose)), pose, rtol=1e-5, atol=1e-3)
    model = ZeroVelocity(ds.schema, 24, 24)
    err = euler_angle_error(ds.to_pose(model.forecast(batch, 25)), pose)[frames_at_ms()]
    assert err.shape == (6,) and bool((err > 0).all())
    joints = H36M(folder, split="test", graph="joints", stats=ds.stats())
    data = joints[5]
    assert data.x.shape == (33, 50, 3) and data.edge_index.shape == (2, 64) and data.validate(joints.schema)
    assert torch.allclose(joints.to_pose(data.y), ds.to_pose(ds[5].y), atol=1e-4)


def test_open_and_score(source, train_stats):
    folder, _ = source
    train = H36M.open("train", root=folder, stride=25)
    assert torch.equal(train.stats()["mean"], train_stats["mean"])
    ds = H36M.open("test", root=folder, train=train, horizon=10)
    ref = H36M(folder, split="test", horizon=10)
    assert torch.equal(ds.std, ref.std) and torch.equal(ds[7].y, ref[7].y)
    batch = next(iter(DataLoader(ds, batch_size=8)))
    g = torch.Generator().manual_seed(1)
    pred = batch.y + 0.05 * torch.randn(batch.y.shape, generator=g)
    out = ds.score({"pred": pred, "y": batch.y})
    assert list(out) == ["80ms", "160ms", "320ms", "400ms"]
    err = euler_angle_error(ds.to_pose(pred), ds.to_pose(batch.y))
    assert [out[k] for k in out] == pytest.approx([float(err[f]) for f in (1, 3, 7, 9)], rel=1e-6)


def test_pos_vel_windows(source, train_stats):
    folder, files = source
    ds = H36M(folder, split="test", stats=train_stats, features="pos_vel", horizon=10)
    ref = H36M(folder, split="test", stats=train_stats, horizon=10)
    assert ds.velocity_scale == pytest.approx(float(train_stats["velocity_scale"])) and ds.velocity_scale > 1
    for i in (0, 5, len(ds) - 1):
        rec, start = ds.index[i]
        data, plain = ds[i], ref[i]
        assert data.x.shape == (5, 50, 48) and data.y.shape == (5, 10, 24)
        assert torch.equal(data.x[..., :24], plain.x) and torch.equal(data.y, plain.y)
        frames = ref.recordings[rec].x
        vel = (frames[:, start:start + 50] - frames[:, start - 1:start + 49]) * ds.velocity_scale
        assert start > 0 and torch.allclose(data.x[..., 24:], vel, atol=1e-5)
    # the scale of the training split: the 25 fps changes of the normalised training frames
    train = np.concatenate([np.diff((a[::2] - train_stats["mean"].double().numpy())
                                    / train_stats["std"].double().numpy(), axis=0)
                            [:, train_stats["dim_used"].numpy()] for (s, _, _), a in files.items() if s != 5])
    assert ds.velocity_scale == pytest.approx(1.0 / train.std(), rel=1e-6)
    with pytest.raises(ValueError, match=r"H36M: 'features' must be one of"):
        H36M(folder, split="test", stats=train_stats, features="speed")


def test_root_layouts_and_environment(tmp_path, monkeypatch, source, train_stats):
    shutil.copytree(source[0], tmp_path / "h36m")
    kw = dict(split="test", stats=train_stats)
    assert H36M(tmp_path, **kw).folder == tmp_path / "h36m"                  # <root>/h36m
    assert H36M(tmp_path / "h36m", **kw).folder == tmp_path / "h36m"         # the folder itself
    monkeypatch.setenv("SRNN_PYG_DATA", str(tmp_path))
    assert len(H36M(**kw)) == 16
    monkeypatch.setenv("SRNN_PYG_DATA", str(source[0].parent.parent))         # <env>/h3.6m/dataset
    assert H36M(**kw).folder == source[0]
    monkeypatch.setenv("SRNN_PYG_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError,
                       match=r"dataset folder not found: expected '.*elsewhere.h3\.6m.dataset'"):
        H36M(**kw)
    monkeypatch.delenv("SRNN_PYG_DATA")
    with pytest.raises(FileNotFoundError, match="SRNN_PYG_DATA"):
        H36M(**kw)


@pytest.mark.parametrize("how,pattern", [
    ("truncated", r"S5.walking_2\.txt', line \d+: expected 99 comma-separated values, got \d+ "
                  r"\(a truncated file\?\)"),
    ("nan", r"S5.walking_2\.txt', line 7, column 12: non-finite value nan"),
    ("columns", r"S5.walking_2\.txt', line 2: expected 99 comma-separated values, got 98"),
])
def test_malformed_files(h36m, train_stats, how, pattern):
    root, folder, files = h36m
    path = folder / "S5" / "walking_2.txt"
    lines = path.read_text().splitlines()
    if how == "truncated":
        lines[-1] = lines[-1][: len(lines[-1]) // 3]
    elif how == "nan":
        cols = lines[6].split(",")
        cols[11] = "NaN"
        lines[6] = ",".join(cols)
    else:
        lines[1] = lines[1].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFormatError, match=pattern):
        H36M(folder, split="test", stats=train_stats)


def test_missing_and_short_files(h36m):
    root, folder, files = h36m
    (folder / "S8" / "eating_2.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"expected '.*S8.eating_2\.txt' \(Human3\.6M subject 8, "
                                                r"action 'eating', subaction 2\)"):
        H36M(folder, split="test")
    with pytest.raises(FileNotFoundError, match=r"expected '.*S5.posing_1\.txt'"):
        H36M(folder, split="test", actions=["posing"], stats={"mean": torch.zeros(D), "std": torch.ones(D),
                                                             "dim_used": torch.ones(D, dtype=torch.bool)})


def test_short_test_file(h36m, train_stats):
    root, folder, files = h36m
    path = folder / "S5" / "eating_2.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:330]) + "\n")
    with pytest.raises(DataFormatError, match=r"S5.eating_2\.txt': 165 frames after downsampling to 25 fps; "
                                              r"the seeded test windows need more than 166"):
        H36M(folder, split="test", stats=train_stats)


def test_argument_errors(source):
    folder, _ = source
    with pytest.raises(ValueError, match=r"'subjects' must be distinct subject numbers"):
        H36M(folder, subjects=[1, 1])
    with pytest.raises(ValueError, match=r"'num_seeded' must be a positive int"):
        H36M(folder, split="test", num_seeded=0)
    with pytest.raises(FileNotFoundError, match=r"no '<action>_1\.txt' files for subjects \[3\]"):
        H36M(folder, split="train", subjects=[3])


def test_validation_split_holds_out_training_subjects(source):
    folder, files = source
    train = H36M(folder, split="train", stride=25, val_subjects=[11])
    val = H36M.open("val", root=folder, train=train, stride=25, val_subjects=[11])
    assert train.subjects == (1, 6, 7, 8, 9) and val.subjects == (11,) and val.split == "val"
    assert val.windows == "sliding" and {n.split("/")[0] for n in val.recording_names} == {"S11"}
    assert not {n.split("/")[0] for n in train.recording_names} & {"S11", "S5"}
    assert len(val) == sum(len(range(0, (len(a) + 1) // 2 - 75 + 1, 25))
                           for (s, _, _), a in files.items() if s == 11)
    # the statistics leave the held-out subject out, in every split opened without them
    kept = np.concatenate([a for (s, _, _), a in files.items() if s not in (5, 11)])
    assert torch.allclose(train.mean.double(), torch.from_numpy(kept.mean(0)), rtol=1e-6, atol=1e-4)
    for other in (H36M(folder, split="val", stride=25, val_subjects=(11,)),
                  H36M(folder, split="test", val_subjects=11)):
        assert torch.equal(other.mean, train.mean) and torch.equal(other.std, train.std)
    assert not torch.equal(H36M(folder, stride=25).mean, train.mean)
    # the validation windows are the held-out subject's frames, normalised like training
    rec, start = val.index[0]
    raw = files[(11, "walking", 1)][::2]
    assert val.recording_names[rec] == "S11/walking_1.txt"
    assert torch.allclose(val.to_pose(val[0].x)[0].double(), torch.from_numpy(raw[start:start + 50]),
                          rtol=1e-5, atol=1e-3)
    # no validation split without val_subjects; errors name the argument
    assert H36M.has_split("val", val_subjects=[11]) and not H36M.has_split("val")
    with pytest.raises(ValueError, match=r"h36m has no split 'val' \(.*pass val_subjects"):
        H36M.open("val", root=folder)
    with pytest.raises(ValueError, match=r"split='val' needs val_subjects"):
        H36M(folder, split="val")
    for bad in ([5], [11, 11], [1, 6, 7, 8, 9, 11], ["11"], [True], 1.5):
        with pytest.raises(ValueError, match=r"'val_subjects' must be distinct training subjects "
                                             r"\[1, 6, 7, 8, 9, 11\], leaving at least one"):
            H36M(folder, val_subjects=bad)
    with pytest.raises(ValueError, match=r"'subjects' of the training split must leave out val_subjects "
                                         r"\[11\] \(got \[9, 11\]\)"):
        H36M(folder, subjects=[9, 11], val_subjects=[11])
    with pytest.raises(ValueError, match=r"'subjects' of the validation split must be among val_subjects "
                                         r"\[11\], which training leaves out \(got \[1\]\)"):
        H36M(folder, split="val", subjects=[1], val_subjects=[11])


def test_validation_subjects_agree_across_splits(source):
    folder, _ = source
    train = H36M(folder, split="train", stride=50, val_subjects=[9, 11])
    val = H36M.open("val", root=folder, train=train, stride=50)               # takes train's val_subjects
    assert val.subjects == (9, 11) and val.val_subjects == (9, 11)
    assert train.stats()["val_subjects"].tolist() == [9, 11]
    assert H36M(folder, split="val", stride=50, val_subjects=[11, 9], stats=train.stats()).subjects == (11, 9)
    with pytest.raises(ValueError, match=r"'stats' come from a training split opened with val_subjects=\[9, 11\], "
                                         r"but this 'test' split has val_subjects=\[\]"):
        H36M(folder, split="test", stats=train.stats())
    reuse = train.reuse_options()["stats"]
    assert reuse["val_subjects"] == [9, 11] and isinstance(reuse["dim_used"][0], bool)
