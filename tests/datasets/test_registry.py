"""The dataset registry and the protocol interface every dataset shares
(srnn_pyg.datasets.registry, STDataset.open / has_split / score)."""
import inspect
import math
import os

import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import datasets
from srnn_pyg import metrics as M
from srnn_pyg.datasets import (ETHUCY, H36M, Brain4Cars, Chickenpox, CMUMocap, EnglandCovid, LosLoop, PedalMe,
                               PyGTemporalJSON, Springs, STDataset, register_dataset)
from srnn_pyg.datasets.base import forecast_view
from srnn_pyg.datasets.registry import datasets_taking
from srnn_pyg.nn.heads import LOSSES

NAMES = ["springs", "cmu_mocap", "h36m", "eth_ucy", "los_loop", "chickenpox", "pedalme", "england_covid",
         "pyg_temporal_json", "brain4cars"]
CLASSES = [Springs, CMUMocap, H36M, ETHUCY, LosLoop, Chickenpox, PedalMe, EnglandCovid, PyGTemporalJSON,
           Brain4Cars]


# ------------------------------------------------------------------ registry
def test_available_and_get():
    assert datasets.available() == NAMES
    for name, cls in zip(NAMES, CLASSES):
        assert datasets.get(name) is cls and cls.name == name
    assert datasets.get("Springs") is Springs
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist' \(available: springs, cmu_mocap, h36m"):
        datasets.get("mnist")
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.get(3)


def test_register_dataset_keeps_names_unique():
    assert register_dataset("springs")(Springs) is Springs                  # the same class again: fine
    other = type("Other", (STDataset,), {})
    with pytest.raises(ValueError, match="the name 'springs' is taken by Springs"):
        register_dataset("springs")(other)
    assert datasets.get("springs") is Springs


@pytest.mark.parametrize("cls", CLASSES, ids=NAMES)
def test_every_dataset_carries_its_protocol(cls):
    assert isinstance(cls.splits, tuple) and "train" in cls.splits and "test" in cls.splits
    assert set(cls.splits) <= {"train", "val", "test"}
    assert cls.task in ("regression", "classification")
    assert {"obs", "horizon", "batch_size"} <= set(cls.defaults)
    params = inspect.signature(cls.__init__).parameters
    for option in ("obs", "horizon"):                      # the defaults are the constructor's
        if cls.defaults[option] is None:
            assert option not in cls.window_options
            continue
        arg = cls.window_options[option]
        default = params[arg].default
        if default is None:                                # PyG Temporal: lags=None is the class's default_lags
            default = getattr(cls, f"default_{arg}")
        assert default == cls.defaults[option], (cls.name, option)
    for key, value in cls.defaults.items():               # other defaults: constructor arguments
        if key == "loss":                                  # a training default, not a constructor argument
            assert value in LOSSES, cls.name
        elif key not in ("obs", "horizon", "batch_size", "num_graphs", "train_ratio"):
            assert params[key].default == value, (cls.name, key)
    doc = cls.__doc__
    assert f'``"{cls.name}"``' in doc and ":meth:`score`" in doc and ":meth:`open`" in doc
    assert cls.score is not STDataset.score


def test_datasets_taking():
    assert datasets_taking("num_graphs") == ["springs"]
    assert datasets_taking("fold") == ["brain4cars"]
    assert datasets_taking("val_ratio") == ["los_loop", "chickenpox", "pedalme", "england_covid",
                                            "pyg_temporal_json"]
    assert datasets_taking("wings") == []


# --------------------------------------------------------------------- open
SMALL = dict(obs=6, horizon=3, num_graphs=20)


def test_springs_open_maps_options_like_the_cli():
    train = Springs.open("train", seed=3, **SMALL)
    assert (len(train), train.obs, train.horizon, train.seed) == (20, 6, 3, 3)
    ref = Springs(num_graphs=20, obs=6, horizon=3, seed=3)
    assert torch.equal(train[5].x, ref[5].x)
    # val/test get num_graphs // 5 and the training statistics
    test = Springs.open("test", seed=3, train=train, **SMALL)
    assert len(test) == 4 and torch.equal(test.mean, train.mean) and torch.equal(test.std, train.std)
    ref = Springs(num_graphs=4, obs=6, horizon=3, seed=3, split="test", stats=train.stats)
    assert torch.equal(test[2].x, ref[2].x) and torch.equal(test[2].y, ref[2].y)
    # without train=, the training split of the same options is opened to fit them
    alone = Springs.open("test", seed=3, **SMALL)
    assert torch.equal(alone.mean, train.mean) and torch.equal(alone[2].x, test[2].x)
    assert len(Springs.open("val", obs=6, horizon=3, num_graphs=3)) == 1       # max(1, 3 // 5)
    # root is ignored (no files); explicit stats and normalize=False win
    assert len(Springs.open("val", root="nowhere", **SMALL)) == 4
    raw = Springs.open("val", normalize=False, **SMALL)
    assert raw.mean is None
    # reuse_options: plain lists that rebuild the same split without the training split
    kept = train.reuse_options()
    assert isinstance(kept["stats"][0], list) and len(kept["stats"][1]) == 4
    again = Springs.open("test", seed=3, **SMALL, **kept)
    assert torch.equal(again[1].x, test[1].x)
    assert raw.reuse_options() == {}


def test_defaults_open_the_protocol():
    ds = Springs.open("test", num_graphs=5)
    assert (ds.obs, ds.horizon) == (Springs.defaults["obs"], Springs.defaults["horizon"])


def test_open_errors_name_dataset_split_and_option():
    with pytest.raises(ValueError, match=r"springs has no split 'dev' \(splits: train, val, test\)"):
        Springs.open("dev")
    with pytest.raises(ValueError, match=r"cmu_mocap has no split 'val' \(.*val_recordings >= 1\)"):
        CMUMocap.open("val")
    with pytest.raises(ValueError, match=r"h36m has no split 'dev' \(splits: train, val, test\)"):
        H36M.open("dev")
    with pytest.raises(ValueError, match=r"chickenpox has no split 'val' \(.*val_ratio > 0"):
        Chickenpox.open("val")
    with pytest.raises(ValueError, match=r"los_loop has no split 'val' \(.*val_ratio > 0"):
        LosLoop.open("val", val_ratio=0.0)
    # options that do not apply are refused before any file is read
    with pytest.raises(ValueError, match=r"cmu_mocap: option 'num_graphs' does not apply \(it applies to "
                                         r"springs only\)"):
        CMUMocap.open("train", num_graphs=3)
    with pytest.raises(ValueError, match=r"springs: option 'fold' does not apply \(it applies to brain4cars"):
        Springs.open("train", fold=2)
    with pytest.raises(ValueError, match=r"springs: option 'wings' does not apply \(options: .*num_graphs"):
        Springs.open("train", wings=2)
    with pytest.raises(ValueError, match=r"brain4cars: option 'obs' does not apply \(sequences of 7 steps"):
        Brain4Cars.open("train", obs=5)
    with pytest.raises(ValueError, match=r"brain4cars: option 'horizon' does not apply"):
        Brain4Cars.open("test", horizon=2)


def test_has_split():
    assert Springs.has_split("val") and not Springs.has_split("dev")
    assert not CMUMocap.has_split("val") and H36M.has_split("test")
    for cls in (Chickenpox, PedalMe, EnglandCovid):
        assert not cls.has_split("val") and not cls.has_split("val", val_ratio=0.0)
        assert cls.has_split("val", val_ratio=0.1) and cls.has_split("test")
    assert LosLoop.has_split("val") and not LosLoop.has_split("val", val_ratio=0)
    assert ETHUCY.has_split("val") and not Brain4Cars.has_split("val")


def test_open_kwargs_map_generic_options():
    kw = Chickenpox.open_kwargs("train", root="r", obs=6, horizon=2, seed=4, val_ratio=0.1)
    assert kw == {"root": "r", "lags": 6, "horizon": 2, "val_ratio": 0.1, "split": "train"}
    assert Chickenpox.open_kwargs("test", obs=6, lags=3)["lags"] == 3              # the class's own name wins
    assert LosLoop.open_kwargs("val") == {"root": None, "split": "val"}
    assert Brain4Cars.open_kwargs("test", fold=3, seed=7) == {"root": None, "fold": 3, "split": "test"}
    assert Springs.open_kwargs("train", root="r", seed=2, obs=5) == {"obs": 5, "seed": 2, "split": "train"}


# -------------------------------------------------------------------- score
class _Tiny(STDataset):
    """A bare dataset for the generic score."""

    def __init__(self, task):
        self.task, self.obs, self.horizon = task, 1, 1
        super().__init__()


def test_generic_score():
    g = torch.Generator().manual_seed(0)
    pred, y = torch.randn(6, 4, 2, generator=g), torch.randn(6, 5, 2, generator=g)
    mask = torch.rand(6, 5, generator=g) > 0.3
    out = _Tiny("regression").score({"pred": pred, "y": y, "y_mask": mask})
    assert out == {"MSE": pytest.approx(float(M.mse(pred, y[:, :4], mask[:, :4]))),
                   "MAE": pytest.approx(float(M.mae(pred, y[:, :4], mask[:, :4])))}
    assert out["MSE"] == pytest.approx(float(((pred - y[:, :4]) ** 2)[mask[:, :4]].mean()))
    logits = torch.randn(6, 5, 3, generator=g)
    labels = torch.randint(0, 3, (6, 5), generator=g)
    out = _Tiny("classification").score({"pred": logits, "y": labels, "y_mask": mask})
    hit = (logits.argmax(-1) == labels)[mask].float().mean()
    assert out == {"accuracy": pytest.approx(float(hit))}


def test_forecast_view():
    pred, y = torch.zeros(3, 2, 1), torch.ones(3, 4, 1)
    p, t, m = forecast_view({"pred": pred, "y": y, "y_mask": torch.ones(3, 4, dtype=torch.bool)})
    assert p is pred and t.shape == (3, 2, 1) and m.shape == (3, 2)
    assert forecast_view({"pred": pred, "y": y})[2] is None
    with pytest.raises(ValueError, match=r"lack 'y'"):
        forecast_view({"pred": pred})
    with pytest.raises(ValueError, match=r"'pred' must be \[N, H, F\]"):
        forecast_view({"pred": torch.zeros(3, 5, 1), "y": y})


# ---------------------------------------------------------------- real data
@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_every_dataset_opens_and_scores_with_its_defaults(name):
    """Each registered dataset, with nothing but its name: the training split,
    the evaluation split with the training split's statistics, and a score
    of a collected-like dict (a perfect forecast scores 0)."""
    cls = datasets.get(name)
    small = {"num_graphs": 20} if name == "springs" else {}
    if name != "springs" and not os.environ.get("SRNN_PYG_DATA"):
        pytest.skip("SRNN_PYG_DATA is unset: the real datasets are not available")
    try:
        train = cls.open("train", **small)
    except FileNotFoundError as e:
        pytest.skip(f"{name}: {e}")
    ds = cls.open("test", train=train, **small)
    part = ds if cls.task == "classification" else ds[:16]               # every maneuver / a few windows
    batch = next(iter(DataLoader(part, batch_size=len(part))))
    collected = {k: batch[k] for k in ("y", "x", "y_mask", "node_mask", "node_type", "maneuver")
                 if batch.get(k) is not None}
    if cls.task == "classification":
        collected["pred"] = torch.nn.functional.one_hot(batch.y, ds.num_classes).float()
        out = ds.score(collected)
        assert set(out) == {"precision", "recall", "f1", "time_to_maneuver"} and out["f1"] > 0
        return
    H = batch.y.size(1)
    out = ds.score({**collected, "pred": batch.y + 0.1})
    assert out and all(math.isfinite(v) and v > 0 for v in out.values()), out
    exact = ds.score({**collected, "pred": batch.y[:, :H].clone()})
    assert list(exact) == list(out) and all(v == pytest.approx(0, abs=1e-4) for v in exact.values()), exact
