import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.datasets import Brain4Cars, DataFormatError, UnsafePickleError, safe_load
from srnn_pyg.datasets.brain4cars import cv_split, distinct_sequences, read_file, recordings, sequence_keys
from srnn_pyg.datasets.safe_pickle import safe_loads
from srnn_pyg.metrics import anticipate, maneuver_scores

ACTIONS = ["end_action", "lchange", "rchange", "lturn", "rturn"]
T = 7


def _train_obj(S=6, seed=0):
    rng = np.random.default_rng(seed)
    feats = rng.uniform(-1, 1, (T, S, 13)).astype(np.float32)
    feats[:, :, 9:12] = rng.integers(0, 2, (T, S, 3))
    labels = np.repeat((np.arange(S) % 5 + 1)[None, :], T, axis=0).astype(np.int64)   # 1..5
    for s, pad in ((1, 1), (3, 3)):                                      # augmented, padded prefixes
        labels[:pad, s] = 0
        feats[:pad, s] = 0.0
    return {"labels": labels, "features": feats, "actions": list(ACTIONS),
            "params": {"min_length_sequence": 4, "use_data_augmentation": True}}


def _test_obj(S=5, seed=1):
    rng = np.random.default_rng(seed)
    feats = [rng.uniform(-1, 1, (T, 1, 13)).astype(np.float32) for _ in range(S)]
    labels = [np.full((T, 1), s % 5 + 1, dtype=np.int64) for s in range(S)]
    return {"labels": labels, "features": feats, "actions": list(ACTIONS)}


def write_fold(root: Path, fold=1, train=None, test=None, protocol=0):
    root.mkdir(parents=True, exist_ok=True)
    (root / f"fold_{fold}_train.pik").write_bytes(pickle.dumps(train or _train_obj(), protocol=protocol))
    (root / f"fold_{fold}_test.pik").write_bytes(pickle.dumps(test or _test_obj(), protocol=protocol))


@pytest.fixture
def b4c(tmp_path):
    write_fold(tmp_path / "brain4cars")
    return tmp_path


# ----------------------------------------------------------- safe unpickler
# A Python 2 protocol-0 pickle of {'labels': array([1, 5]), 'actions': [...]}, as the real files are.
PY2_PICKLE = (
    b"(dp1\nS'labels'\np2\ncnumpy.core.multiarray\n_reconstruct\np3\n(cnumpy\nndarray\np4\n(I0\ntS'b'\n"
    b"tRp5\n(I1\n(I2\ntcnumpy\ndtype\np6\n(S'i8'\nI0\nI1\ntRp7\n(I3\nS'<'\nNNNI-1\nI-1\nI0\ntbI00\n"
    b"S'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00'\ntbsS'actions'\n"
    b"p8\n(lp9\nS'end_action'\naS'lchange'\nas.")


def test_safe_load_python2_pickle():
    obj = safe_loads(PY2_PICKLE)
    assert obj["actions"] == ["end_action", "lchange"]
    assert obj["labels"].dtype == np.int64 and obj["labels"].tolist() == [1, 5]


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_safe_load_numpy_and_plain_data(tmp_path, protocol):
    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3), 2.5, "s", None],
           "c": (True, b"raw"), "d": {"nested": np.array([[1, 2]])}}
    path = tmp_path / "ok.pik"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    out = safe_load(path)
    assert np.array_equal(out["a"], obj["a"]) and out["a"].dtype == np.float32
    assert out["b"] == obj["b"] and out["c"] == obj["c"]
    assert np.array_equal(out["d"]["nested"], obj["d"]["nested"])


class Payload:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


class Custom:
    def __init__(self):
        self.value = 1


@pytest.mark.parametrize("obj,name", [
    (os.system, r"(posix|nt)\.system"),
    (Payload(), r"(posix|nt)\.system"),
    (Custom(), r"Custom"),
    ({"x": [Custom()]}, r"Custom"),
    (collections.OrderedDict(a=1), r"collections\.OrderedDict"),
    (eval, r"(__builtin__|builtins)\.eval"),
])
def test_safe_load_refuses_other_globals(tmp_path, obj, name):
    path = tmp_path / "evil.pik"
    path.write_bytes(pickle.dumps(obj, protocol=2))
    with pytest.raises(UnsafePickleError, match=rf"evil\.pik: refusing to unpickle global '.*{name}"):
        safe_load(path)


def test_safe_load_codec_and_errors(tmp_path):
    rot = b"c_codecs\nencode\n(Vabc\nVrot13\ntR."
    with pytest.raises(UnsafePickleError, match="latin-1"):
        safe_loads(rot, source="rot.pik")
    (tmp_path / "cut.pik").write_bytes(pickle.dumps({"a": np.zeros(50)}, protocol=2)[:60])
    with pytest.raises(DataFormatError, match=r"cut\.pik: not a readable pickle"):
        safe_load(tmp_path / "cut.pik")
    with pytest.raises(FileNotFoundError, match=r"absent\.pik"):
        safe_load(tmp_path / "absent.pik")


# ---------------------------------------------------------------- Brain4Cars
def test_train_split_layout_and_labels(b4c):
    obj = _train_obj()
    ds = Brain4Cars(b4c, fold=1, split="train")
    assert len(ds) == 6 and ds.obs == 7 and ds.num_classes == 5
    d = ds[3]                                                            # padded with 3 zero steps
    feats = torch.tensor(obj["features"][:, 3])                          # [T, 13]
    assert d.x.shape == (2, T, 13) and d.validate(ds.schema)
    assert ds.schema.node_types == ["driver", "road"] and ds.schema.num_edge_types == 1
    assert d.edge_index.tolist() == [[0, 1], [1, 0]] and d.node_type.tolist() == [0, 1]
    assert torch.equal(d.x[0, :, :9], feats[:, :9]) and bool((d.x[0, :, 9:] == 0).all())
    assert torch.equal(d.x[1, :, 9:], feats[:, 9:]) and bool((d.x[1, :, :9] == 0).all())
    assert d.node_mask.tolist() == [[False] * 3 + [True] * 4] * 2
    assert d.y.dtype == torch.long and d.y.tolist() == [[0] * 3 + [3] * 4] * 2   # file 4 = lturn = 3
    assert d.y_mask[0].tolist() == [False] * 3 + [True] * 4 and not bool(d.y_mask[1].any())
    assert d.maneuver.tolist() == [3]
    assert ds.maneuvers.tolist() == [0, 1, 2, 3, 4, 0]
    assert ds.class_counts().tolist() == [2, 1, 1, 1, 1]
    assert repr(ds) == "Brain4Cars(6, fold=1, split='train', graph='srnn')"


def test_test_split_and_single_graph(b4c):
    obj = _test_obj()
    ds = Brain4Cars(b4c, fold=1, split="test", graph="single")
    assert len(ds) == 5
    d = ds[2]
    assert d.x.shape == (1, T, 13) and d.edge_index.shape == (2, 0)
    assert torch.equal(d.x[0], torch.tensor(obj["features"][2][:, 0]))
    assert bool(d.node_mask.all()) and bool(d.y_mask.all()) and d.maneuver.tolist() == [2]
    assert d.validate(ds.schema) and ds.schema.num_edge_types == 0


def test_batching_and_protocol(b4c):
    ds = Brain4Cars(b4c, split="train")
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.x.shape == (8, T, 13) and batch.y.shape == (8, T)
    assert batch.maneuver.tolist() == [0, 1, 2, 3]
    assert batch.edge_index.tolist() == [[0, 1, 2, 3, 4, 5, 6, 7], [1, 0, 3, 2, 5, 4, 7, 6]]
    # an oracle that announces each sequence's maneuver from its first real step
    step = torch.where(batch.y_mask[batch.node_type == 0], batch.y[batch.node_type == 0],
                       torch.zeros_like(batch.y[batch.node_type == 0]))
    pred, time = anticipate(step, mask=batch.node_mask[batch.node_type == 0])
    assert pred.tolist() == [0, 1, 2, 3]
    assert time.tolist() == pytest.approx([0.0, 4.0, 4.8, 2.4])           # 5, 6 and 3 steps of 0.8 s
    scores = maneuver_scores(pred, batch.maneuver, time=time)
    # rturn is neither predicted nor present: it counts 0 in both averages
    assert scores["precision"] == 0.75 and scores["recall"] == 0.75
    assert scores["time_to_maneuver"] == pytest.approx((4.0 + 4.8 + 2.4) / 3)


def test_open_and_score(b4c):
    write_fold(b4c / "brain4cars", fold=3)
    ds = Brain4Cars.open("train", root=b4c, fold=3, seed=5)
    assert (ds.fold, ds.split, len(ds)) == (3, "train", 6)
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    driver = batch.node_type == 0
    # logits whose arg-max is the true label from step 4 on, class 0 before
    C = ds.num_classes
    labels = torch.where(torch.arange(T) >= 4, batch.y, torch.zeros_like(batch.y))   # [N, T]
    logits = torch.nn.functional.one_hot(labels, C).float() * 3.0
    logits[:, :, 1] += 0.5                                               # a weaker lchange everywhere
    logits[0::4, 5, 2] += 9.0                                            # rchange at step 5 of drivers 0, 2, 4
    collected = {"pred": logits, "y": batch.y, "y_mask": batch.y_mask, "node_mask": batch.node_mask,
                 "node_type": batch.node_type, "maneuver": batch.maneuver}
    out = ds.score(collected)
    assert list(out) == ["precision", "recall", "f1", "time_to_maneuver"]
    pred, when = anticipate(logits.argmax(-1)[driver], mask=batch.node_mask[driver], step_seconds=0.8)
    ref = maneuver_scores(pred, batch.maneuver, num_classes=C, time=when)
    assert out["precision"] == pytest.approx(100 * ref["precision"])
    assert out["recall"] == pytest.approx(100 * ref["recall"])
    assert out["f1"] == pytest.approx(100 * ref["f1"])
    assert out["time_to_maneuver"] == pytest.approx(ref["time_to_maneuver"])
    # by hand: sequence 0 (straight) is taken for an rchange, the others are right, 2 steps early
    assert out["precision"] == pytest.approx(100 * (1 + 0.5 + 1 + 1) / 4) and out["recall"] == pytest.approx(100)
    assert out["f1"] == pytest.approx(100 * 2 * 0.875 / 1.875) and out["time_to_maneuver"] == pytest.approx(1.6)
    # without "maneuver" the driver's last label is the target: the same here
    del collected["maneuver"]
    assert ds.score(collected) == out


def test_python2_style_protocol0_files(tmp_path):
    write_fold(tmp_path, fold=4, protocol=0)
    assert len(Brain4Cars(tmp_path, fold=4, split="test")) == 5


def _mutated(kind):
    obj = _train_obj()
    if kind == "width":
        obj["features"] = obj["features"][:, :, :12]
    elif kind == "nan":
        obj["features"][2, 4, 7] = np.nan
    elif kind == "label":
        obj["labels"][5, 2] = 9
    elif kind == "nolabel":
        obj["labels"][:, 1] = 0
    elif kind == "actions":
        obj["actions"] = ["straight", "left", "right"]
    elif kind == "labels_shape":
        obj["labels"] = obj["labels"][:, :4]
    elif kind == "no_features":
        del obj["features"]
    return obj


@pytest.mark.parametrize("kind,pattern", [
    ("width", r"fold_1_train\.pik: 'features' must be \[T, num_sequences, 13\] \(got \[7, 6, 12\]\)"),
    ("nan", r"fold_1_train\.pik: sequence 4, step 2, feature 7 is not finite"),
    ("label", r"labels must lie in 0\.\.5"),
    ("nolabel", r"sequence 1 has no labelled step"),
    ("actions", r"'actions' must be"),
    ("labels_shape", r"'labels' must be \[T, num_sequences\]"),
    ("no_features", r"missing key 'features'"),
])
def test_malformed_files(tmp_path, kind, pattern):
    write_fold(tmp_path, train=_mutated(kind))
    with pytest.raises(DataFormatError, match=pattern):
        Brain4Cars(tmp_path, split="train")


def test_malformed_test_file_truncated_and_evil(tmp_path):
    bad = _test_obj()
    bad["features"][3] = bad["features"][3][:5]
    write_fold(tmp_path, test=bad)
    with pytest.raises(DataFormatError, match=r"fold_1_test\.pik: sequence 3 must have features \[7, 1, 13"):
        Brain4Cars(tmp_path, split="test")
    path = tmp_path / "fold_1_test.pik"
    path.write_bytes(pickle.dumps(_test_obj(), protocol=2)[:-200])
    with pytest.raises(DataFormatError, match=r"fold_1_test\.pik"):
        Brain4Cars(tmp_path, split="test")
    path.write_bytes(pickle.dumps({"features": Payload(), "labels": []}, protocol=0))
    with pytest.raises(UnsafePickleError, match=r"fold_1_test\.pik: refusing"):
        Brain4Cars(tmp_path, split="test")


def test_missing_file_and_arguments(b4c):
    with pytest.raises(FileNotFoundError, match=r"fold_2_train\.pik"):
        Brain4Cars(b4c, fold=2)
    for fold in (0, 6, 1.5, "1"):
        with pytest.raises(ValueError, match="'fold' must be an integer from 1 to 5"):
            Brain4Cars(b4c, fold=fold)
    with pytest.raises(ValueError, match="'split'"):
        Brain4Cars(b4c, split="val")
    with pytest.raises(ValueError, match="'graph'"):
        Brain4Cars(b4c, graph="full")


# ------------------------------------------------------------------ real data
def _real_root() -> Path:
    base = os.environ.get("SRNN_PYG_DATA")
    if not base:
        pytest.skip("SRNN_PYG_DATA is unset: the real Brain4Cars files are not available")
    root = Path(base) / "brain4cars"
    if not (root / "fold_1_train.pik").is_file():
        pytest.skip(f"Brain4Cars files not found under {root}")
    return root


@pytest.mark.integration
def test_real_brain4cars():
    root = _real_root()
    sizes = {fold: len(Brain4Cars(root, fold=fold, split="train", graph="single")) for fold in range(1, 6)}
    # the released 1888, 1912, 1915, 1906, 1897 less the sequences of test recordings (the leak)
    assert sizes == {1: 1845, 2: 1865, 3: 1872, 4: 1860, 5: 1852}
    test = Brain4Cars(root, fold=1, split="test")
    assert len(test) == 99 and test.class_counts().tolist() == [26, 25, 25, 12, 11]
    train = Brain4Cars(root, fold=1, split="train")
    x = train._x                                                         # [S, 2, 7, 13]
    assert x.shape == (1845, 2, 7, 13) and bool(torch.isfinite(x).all())
    flags = x[:, 1, :, 9:12]
    assert bool(((flags == 0) | (flags == 1)).all())                     # lane / intersection flags
    speed = x[:, 1, :, 12]
    assert float(speed.min()) >= 0.0 and float(speed.max()) <= 1.0 + 1e-6
    d = train[100]
    assert d.validate(train.schema) and d.y.max() <= 4
    # straight driving announced nowhere: recall 0 on every maneuver
    none = maneuver_scores(torch.zeros(99, dtype=torch.long), test.maneuvers)
    assert none["precision"] == 0.0 and none["recall"] == 0.0



# ------------------------------------------------------------ upstream / cv folds
def _keys(ds):
    """The sequence keys of a dataset's samples, in the files' encoding."""
    labels = np.where(ds._valid.numpy(), ds._labels.numpy() + 1, 0)
    return sequence_keys(_feats(ds), labels)


def _feats(ds):
    """``[S, T, 13]`` as in the files: the driver's columns, then the road's
    (copied, not added, so that a stored -0.0 stays -0.0)."""
    feats = ds._x[:, 0].clone()
    if ds.graph == "srnn":
        feats[..., 9:] = ds._x[:, 1, :, 9:]
    return feats.numpy()


def _rows(ds):
    """The labelled 13-feature rows of a dataset's samples."""
    return {r.tobytes() for r in _feats(ds)[ds._valid.numpy()]}


def _subsequence(whole, labels, keep):
    """An augmented sample in the release's way: the steps ``keep`` of a whole
    sequence, padded at the start with zero steps labelled 0."""
    f, y = np.zeros_like(whole), np.zeros_like(labels)
    n = len(keep)
    f[T - n:], y[T - n:] = whole[keep], labels[keep]
    return f, y


def _release(root: Path, recs=(12, 11, 10, 9, 8), seed=0):
    """Five folds in the release's format: recordings of one whole sequence
    (some of two, sharing the first step) and augmented subsequences; one test
    file, the same at all five paths, of one whole sequence of 10 recordings;
    the training files hold the other recordings (copies included), a whole
    copy of test sequence 3 and a subsequence of test sequence 5's recording."""
    rng = np.random.default_rng(seed)
    whole, aug = [], []                                    # per recording: [(f, y)], [(f, y)]
    label = [c + 1 for c, n in enumerate(recs) for _ in range(n)]
    rng.shuffle(label)
    for r, c in enumerate(label):
        f = rng.uniform(-1, 1, (T, 13)).round(3).astype(np.float32)
        seqs = [(f, np.full(T, c, dtype=np.int64))]
        if r % 7 == 2:                                     # a second window sharing the first step
            g = rng.uniform(-1, 1, (T, 13)).round(3).astype(np.float32)
            g[0] = f[0]
            seqs.append((g, np.full(T, c, dtype=np.int64)))
        whole.append(seqs)
        aug.append([_subsequence(*seqs[0], keep) for keep in ([0, 1, 2, 3, 4, 5], [0, 3, 4, 5, 6],
                                                               [1, 2, 3, 6])])
    test_recs = list(range(10))
    test = [whole[r][0] for r in test_recs]
    test_obj = {"labels": [y[:, None] for _, y in test], "features": [f[:, None] for f, _ in test],
                "actions": list(ACTIONS)}
    for k in range(1, 6):
        pool = [sq for r in range(10, len(label)) for sq in whole[r] + aug[r] if rng.random() < 0.9]
        pool += pool[:5] + [whole[3][0], aug[5][k % 3]]                   # copies; the leak
        f = np.stack([p[0] for p in pool], axis=1)
        y = np.stack([p[1] for p in pool], axis=1)
        write_fold(root, fold=k, train={"labels": y, "features": f, "actions": list(ACTIONS)},
                   test=test_obj, protocol=2)
    return whole, aug


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "brain4cars"
    whole, aug = _release(root)
    return root, whole, aug


def test_upstream_folds_drop_the_test_recordings(release):
    root, whole, aug = release
    assert (root / "fold_1_test.pik").read_bytes() == (root / "fold_5_test.pik").read_bytes()
    for k in range(1, 6):
        file_keys = sequence_keys(*read_file(root / f"fold_{k}_train.pik"))
        train = Brain4Cars(root, fold=k, graph="single")
        test = Brain4Cars(root, fold=k, split="test")
        assert len(test) == 10 and test.removed == 0
        keys, test_keys = _keys(train), set(_keys(test))
        assert train.removed == 2 and len(train) == len(file_keys) - 2
        assert not test_keys & set(keys) and test_keys & set(file_keys)   # the copy was there
        assert not _rows(train) & _rows(test)                             # nothing of a test recording
        leaked = sequence_keys(*(a[None] for a in aug[5][k % 3]))[0]       # a subsequence of test #5
        assert leaked in file_keys and leaked not in keys
        assert keys == [q for q in file_keys if q not in test_keys and q != leaked]
    assert repr(Brain4Cars(root, fold=2, split="test")) == "Brain4Cars(10, fold=2, split='test', graph='srnn')"


def test_cv_folds_partition_the_distinct_sequences(release):
    root, whole, aug = release
    feats, labels, read = distinct_sequences(root)
    n_whole = 10 + sum(len(w) for w in whole[10:])                       # test: one window per recording
    assert (labels > 0).all(1).sum() == n_whole                           # every whole sequence, once
    assert len(feats) == len(set(sequence_keys(feats, labels))) < read
    _, _, fold_of = cv_split(root, seed=0)
    groups = recordings(feats, labels)
    for g in np.unique(groups):                                          # a recording stays in one fold
        assert len(set(fold_of[groups == g])) == 1
    tests, trains, counts = [], [], []
    for k in range(1, 6):
        test = Brain4Cars(root, fold=k, split="test", folds="cv", seed=0)
        train = Brain4Cars(root, fold=k, split="train", folds="cv", seed=0, graph="single")
        tests.append(set(_keys(test)))
        trains.append(set(_keys(train)))
        assert len(tests[-1]) == len(test) and len(trains[-1]) == len(train)   # distinct within a split
        assert bool(test._valid.all())                                   # whole sequences only
        assert not tests[-1] & trains[-1] and not _rows(test) & _rows(train)
        counts.append(test.class_counts().tolist())
        assert repr(test) == f"Brain4Cars({len(test)}, fold={k}, split='test', graph='srnn', folds='cv', seed=0)"
    all_keys = set(sequence_keys(feats, labels))
    whole_keys = set(sequence_keys(feats[(labels > 0).all(1)], labels[(labels > 0).all(1)]))
    assert sum(len(t) for t in tests) == len(whole_keys) == len(set().union(*tests))   # disjoint, covering
    assert set().union(*tests) == whole_keys
    for k in range(5):                                                   # train = the other four folds
        others = {q for q, f in zip(sequence_keys(feats, labels), fold_of) if f != k + 1}
        assert trains[k] == others and trains[k] < all_keys
    counts = np.array(counts)                                            # [fold, class]
    assert (counts.max(0) - counts.min(0) <= 1).all() and counts.sum() == n_whole


def test_cv_folds_follow_the_seed(release):
    root = release[0]
    a, b, c = (cv_split(root, seed=s)[2] for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    t0 = Brain4Cars(root, fold=2, split="test", folds="cv", seed=0)
    t0b = Brain4Cars.open("test", root=root, fold=2, folds="cv", seed=0)
    t1 = Brain4Cars.open("test", root=root, fold=2, folds="cv", seed=1)
    assert _keys(t0) == _keys(t0b) and set(_keys(t0)) != set(_keys(t1)) and t1.seed == 1
    assert Brain4Cars.open_kwargs("test", folds="cv", seed=4) == {"root": None, "folds": "cv", "seed": 4,
                                                                   "split": "test"}
    assert "seed" not in Brain4Cars.open_kwargs("test", folds="upstream", seed=4)


def test_fold_options_errors(release, tmp_path):
    root = release[0]
    with pytest.raises(ValueError, match="'folds' must be one of"):
        Brain4Cars(root, folds="random")
    with pytest.raises(ValueError, match="'seed' must be an integer"):
        Brain4Cars(root, folds="cv", seed=1.5)
    write_fold(tmp_path / "only1")
    with pytest.raises(FileNotFoundError, match=r"fold_2_train\.pik"):
        Brain4Cars(tmp_path / "only1", folds="cv")


@pytest.mark.integration
def test_real_brain4cars_folds():
    root = _real_root()
    feats, labels, read = distinct_sequences(root)
    whole = (labels > 0).all(1)
    assert (read, len(feats), int(whole.sum())) == (10013, 2495, 487)
    assert np.bincount(labels[whole, -1] - 1, minlength=5).tolist() == [130, 121, 123, 58, 55]
    assert int(recordings(feats, labels).max()) + 1 == 460
    test = Brain4Cars(root, fold=1, split="test")
    test_keys, test_rows = set(_keys(test)), _rows(test)
    for k in range(1, 6):                                                # upstream: no test sequence trained on
        train = Brain4Cars(root, fold=k, graph="single")
        assert not test_keys & set(_keys(train)) and not test_rows & _rows(train)
    tests, counts = [], []
    for k in range(1, 6):
        te = Brain4Cars(root, fold=k, split="test", folds="cv", graph="single")
        tr = Brain4Cars(root, fold=k, split="train", folds="cv", graph="single")
        tests.append(set(_keys(te)))
        counts.append(te.class_counts().tolist())
        assert not tests[-1] & set(_keys(tr)) and not _rows(te) & _rows(tr)
        assert len(te) in (97, 98) and 1900 < len(tr) < 2100
    assert sum(map(len, tests)) == len(set().union(*tests)) == 487
    counts = np.array(counts)
    assert (counts.max(0) - counts.min(0) <= 1).all()
    assert not np.array_equal(cv_split(root, seed=0)[2], cv_split(root, seed=1)[2])


def test_holdout_is_disjoint_by_recording(release):
    root, whole, aug = release
    train = Brain4Cars(root, fold=2, split="train", folds="cv", seed=0, graph="single")
    rec = train.recording.numpy()
    assert rec.shape == (len(train),) and train.whole.shape == (len(train),)
    truth = {q: r for r in range(len(whole)) for f, y in whole[r] + aug[r]
             for q in sequence_keys(f[None], y[None])}
    true_rec = np.array([truth[q] for q in _keys(train)])                # the fixture's recording of each
    pairs = set(zip(rec.tolist(), true_rec.tolist()))
    assert len(pairs) == len(set(rec.tolist())) == len(set(true_rec.tolist()))   # the same partition
    assert np.array_equal(train.whole.numpy(), train._valid.numpy().all(1))
    keep, val = train.holdout(0.25, seed=3)
    assert val and keep and not set(keep) & set(val) and keep == sorted(keep) and val == sorted(val)
    assert not np.isin(rec[val], rec[keep]).any()                        # no sibling of a validation sequence kept
    assert bool(train.whole[val].all())                                  # validated on whole sequences only
    dropped = set(range(len(train))) - set(keep) - set(val)              # the held-out augmented ones
    assert dropped and not train.whole[sorted(dropped)].any()
    assert np.isin(rec[sorted(dropped)], rec[val]).all()
    held = np.unique(rec[val])
    per_class = {int(c): len(np.unique(rec[train.maneuvers.numpy() == c])) for c in range(5)}
    for c, n in per_class.items():                                       # stratified: round(share * count)
        got = len(np.unique(rec[val][train.maneuvers[val].numpy() == c]))
        assert got == min(max(int(round(0.25 * n)), 1), n - 1) or not n
    assert len(held) == sum(min(max(int(round(0.25 * n)), 1), n - 1) for n in per_class.values() if n)
    assert train.holdout(0.25, seed=3) == (keep, val) and train.holdout(0.25, seed=4) != (keep, val)


def test_holdout_on_a_view_and_errors(release):
    root = release[0]
    train = Brain4Cars(root, fold=1, split="train", folds="cv", seed=0)
    view = train[list(range(1, len(train), 2))]
    keep, val = view.holdout(0.3, seed=0)
    assert max(keep + val) < len(view)                                   # positions in the view
    rec = view.recording[torch.as_tensor(view.indices())].numpy()
    assert not np.isin(rec[val], rec[keep]).any()
    assert all(bool(view[i].node_mask.all()) for i in val)               # whole sequences
    for share in (0, 1, 1.5, True, "0.2"):
        with pytest.raises(ValueError, match=r"holdout: 'share' must be a number in \(0, 1\)"):
            train.holdout(share)
    for seed in (0.5, -1):
        with pytest.raises(ValueError, match="holdout: 'seed' must be an integer >= 0"):
            train.holdout(0.2, seed=seed)
    assert train.holdout(np.float32(0.3), seed=np.int64(0)) == train.holdout(0.3, seed=0)
    with pytest.raises(ValueError, match="holdout: the dataset is empty"):
        train[[]].holdout(0.2)
    augmented = train[[i for i in range(len(train)) if not bool(train.whole[i])]]
    with pytest.raises(ValueError, match="held-out recordings have no whole sequence"):
        augmented.holdout(0.5)


def test_holdout_keeps_every_maneuver(release):
    train = Brain4Cars(release[0], fold=3, split="train", folds="cv", seed=0)
    keep, val = train.holdout(0.99, seed=1)                              # at most all but one recording
    kept = set(train.maneuvers[keep].tolist())
    assert kept == set(train.maneuvers.tolist()) and val


def test_score_finds_the_drivers_without_y_mask_and_checks_their_count(b4c):
    write_fold(b4c / "brain4cars", fold=3)
    ds = Brain4Cars.open("train", root=b4c, fold=3, seed=5)
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    logits = torch.nn.functional.one_hot(batch.y, ds.num_classes).float()
    full = {"pred": logits, "y": batch.y, "y_mask": batch.y_mask, "node_mask": batch.node_mask,
            "node_type": batch.node_type, "maneuver": batch.maneuver}
    out = ds.score(full)
    # without y_mask the node types say which nodes are drivers: the road nodes are not scored
    assert ds.score({k: v for k, v in full.items() if k != "y_mask"}) == out
    # with neither, every node is a driver: a count that does not match the maneuvers is an error
    with pytest.raises(ValueError, match=r"one driver node per sequence \(6 maneuvers; got 12"):
        ds.score({k: v for k, v in full.items() if k not in ("y_mask", "node_type")})
    driver = batch.node_type == 0
    one_node = {"pred": logits[driver], "y": batch.y[driver], "maneuver": batch.maneuver}
    assert ds.score(one_node) == ds.score({**one_node, "node_type": torch.zeros(int(driver.sum()))})
