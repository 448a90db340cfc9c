import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.datasets import Brain4Cars, DataFormatError, UnsafePickleError, safe_load
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
    assert sizes == {1: 1888, 2: 1912, 3: 1915, 4: 1906, 5: 1897}
    test = Brain4Cars(root, fold=1, split="test")
    assert len(test) == 99 and test.class_counts().tolist() == [26, 25, 25, 12, 11]
    train = Brain4Cars(root, fold=1, split="train")
    x = train._x                                                         # [S, 2, 7, 13]
    assert x.shape == (1888, 2, 7, 13) and bool(torch.isfinite(x).all())
    flags = x[:, 1, :, 9:12]
    assert bool(((flags == 0) | (flags == 1)).all())                     # lane / intersection flags
    speed = x[:, 1, :, 12]
    assert float(speed.min()) >= 0.0 and float(speed.max()) <= 1.0 + 1e-6
    d = train[100]
    assert d.validate(train.schema) and d.y.max() <= 4
    # straight driving announced nowhere: recall 0 on every maneuver
    none = maneuver_scores(torch.zeros(99, dtype=torch.long), test.maneuvers)
    assert none["precision"] == 0.0 and none["recall"] == 0.0
