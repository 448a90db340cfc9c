"""Tests written after a hand-made mutation run of the dataset code (base.py, eth_ucy.py, springs.py,
los_loop.py, pyg_temporal.py, temporal_json.py): each builds tiny synthetic data (or none) and checks a
value worked out by hand or an independent construction, and fails on a mutant that the rest of
tests/datasets let through.

Mutants killed here (the change in the dataset's file, then the test that kills it):

* base.py, ``fit_stats`` without the guard that gives a constant feature std 1:
  ``test_fit_stats_gives_a_constant_feature_unit_std``.
* base.py, the generic classification ``score`` reading the first ``T`` steps of the logits instead of
  the last: ``test_generic_classification_score_reads_the_last_steps``.
* base.py, ``open(..., train=...)`` letting the training split's options override those given
  (``{**extra, **inherited}``): ``test_open_option_given_wins_over_the_training_splits``.
* base.py, ``open(..., train=...)`` ignoring a ``seed`` given in favour of the training split's:
  ``test_springs_open_seed_given_wins_over_the_training_splits``.
* eth_ucy.py, ``score`` not requiring presence at every observed step (``node_mask`` dropped):
  ``test_eth_score_leaves_out_pedestrians_missing_an_observed_step``.
* eth_ucy.py, samples longer than the forecast cut from the end instead of the start:
  ``test_eth_score_cuts_longer_samples_to_their_first_steps``.
* eth_ucy.py, ``skip`` passed on by ``open(..., train=...)`` (dropped from ``split_own``):
  ``test_eth_open_does_not_pass_on_the_training_skip``.
* eth_ucy.py, the ``radius`` test strict (``<``) instead of "at most" (``<=``):
  ``test_eth_radius_keeps_a_pair_exactly_radius_apart``.
* springs.py, ``window_stride`` defaulting to ``obs`` instead of ``horizon``:
  ``test_springs_default_window_stride_is_the_horizon``.
* springs.py, a val split without ``stats`` simulating ``num_graphs`` (its own default, 200) training
  simulations instead of the training default (1000) to fit them:
  ``test_springs_val_default_size_fits_the_train_defaults_stats``.
* springs.py, a scaler by name fitted on the val split's own frames instead of the training split's:
  ``test_springs_val_scaler_is_fitted_on_the_train_split``.
* springs.py, ``num_windows``/``window_stride`` passed on by ``open(..., train=...)``:
  ``test_springs_open_does_not_pass_on_the_training_windows``.
* temporal_json.py, ``MATRIX_KEYS`` tried in another order (``"X"`` before ``"FX"``):
  ``test_matrix_layout_prefers_fx_over_x``.

Survivors judged equivalent: pyg_temporal.py, ``val_ratio`` left out of ``split_options`` (the
recorded constructor options already hold it whenever it was given; otherwise the default applies on
both sides).
"""
import json
import math

import pytest
import torch

from srnn_pyg.datasets import ETHUCY, PyGTemporalJSON, Springs, STDataset
from srnn_pyg.datasets.eth_ucy import RECORDINGS
from srnn_pyg.datasets.temporal_json import read_temporal_json


# ------------------------------------------------------------------------------------------ base
def test_fit_stats_gives_a_constant_feature_unit_std():
    mean, std = STDataset.fit_stats([torch.tensor([[1.0, 5.0], [3.0, 5.0]])])
    assert mean.tolist() == [2.0, 5.0]
    assert std.tolist() == pytest.approx([math.sqrt(2.0), 1.0])


class _Labels(STDataset):
    task = "classification"


def test_generic_classification_score_reads_the_last_steps():
    # three steps of logits, the labels of the last two: step 0 says class 0, steps 1-2 class 1
    pred = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]]])              # [1, 3, 2]
    y = torch.tensor([[1, 1]])                                                 # [1, 2]
    assert _Labels().score({"pred": pred, "y": y}) == {"accuracy": 1.0}


def _json(tmp_path, name, obj):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def test_open_option_given_wins_over_the_training_splits(tmp_path):
    path = _json(tmp_path, "s.json", {"edges": [[0, 1]], "X": [[t, 2.0 * t + t % 3] for t in range(20)]})
    train = PyGTemporalJSON.open("train", path=str(path), standardize="all")
    assert train.mean is not None
    assert PyGTemporalJSON.open("test", train=train).mean is not None          # inherited
    assert PyGTemporalJSON.open("test", train=train, standardize=None).mean is None   # given wins


def test_springs_open_seed_given_wins_over_the_training_splits():
    train = Springs.open("train", num_graphs=2, obs=2, horizon=1, seed=0)
    val = Springs.open("val", train=train, seed=3)
    ref = Springs(num_graphs=1, obs=2, horizon=1, split="val", seed=3, stats=train.stats)
    assert val.seed == 3 and torch.equal(val[0].x, ref[0].x)


# --------------------------------------------------------------------------------------- ETH/UCY
def _eth_root(tmp_path, hotel=None, frames=12):
    """Every file of the layout: three pedestrians on straight lines in each; ``hotel`` (rows
    ``(frame, ped, x, y)``) replaces the hotel test recording."""
    root = tmp_path / "eth_ucy"
    walk = [(10 * k, p, 0.5 * k + p, 3.0 * p - 0.25 * k) for p in range(3) for k in range(frames)]
    for stem in RECORDINGS:
        for sub, name in (("all_data", stem), ("train", f"{stem}_train"), ("val", f"{stem}_val")):
            (root / sub).mkdir(parents=True, exist_ok=True)
            rows = hotel if (hotel is not None and stem == "biwi_hotel" and sub == "all_data") else walk
            rows = sorted(rows)
            (root / sub / f"{name}.txt").write_text("".join(f"{f}\t{p}\t{x:.4f}\t{y:.4f}\n" for f, p, x, y in rows))
    return root


def test_eth_score_leaves_out_pedestrians_missing_an_observed_step(tmp_path):
    ds = ETHUCY(_eth_root(tmp_path), split="test", obs=2, horizon=2)
    pred = torch.tensor([[[3.0, 4.0], [3.0, 4.0]], [[10.0, 0.0], [10.0, 0.0]]])    # errors 5 and 10
    collected = {"pred": pred, "y": torch.zeros(2, 2, 2), "y_mask": torch.ones(2, 2, dtype=torch.bool),
                 "node_mask": torch.tensor([[True, True], [False, True]])}
    out = ds.score(collected)
    assert out["ADE"] == pytest.approx(5.0) and out["FDE"] == pytest.approx(5.0)


def test_eth_score_cuts_longer_samples_to_their_first_steps(tmp_path):
    ds = ETHUCY(_eth_root(tmp_path), split="test", obs=2, horizon=2)
    samples = torch.zeros(2, 1, 3, 2)                                    # [K, N, H + 1, 2]
    samples[0, 0, :, 0] = torch.tensor([1.0, 1.0, 100.0])
    samples[1, 0, :, 0] = torch.tensor([3.0, 3.0, 0.0])
    out = ds.score({"pred": torch.zeros(1, 2, 2), "y": torch.zeros(1, 2, 2), "samples": samples})
    # over the first two steps sample 0 is best: ADE 1, FDE 1
    assert out["minADE@2"] == pytest.approx(1.0) and out["minFDE@2"] == pytest.approx(1.0)


def test_eth_open_does_not_pass_on_the_training_skip(tmp_path):
    train = ETHUCY.open("train", root=_eth_root(tmp_path), obs=2, horizon=2, skip=2)
    assert train.skip == 2
    test = ETHUCY.open("test", train=train)
    assert test.skip == 1 and len(test) == 12 - 4 + 1                       # every start of 12 frames


def test_eth_radius_keeps_a_pair_exactly_radius_apart(tmp_path):
    hotel = [(10 * k, p, float(p), 0.0) for p in (1, 2) for k in range(4)]   # always 1 m apart
    root = _eth_root(tmp_path, hotel=hotel)
    at = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, radius=1.0)[0]
    assert at.edge_index.tolist() == [[0, 1], [1, 0]] and at.edge_mask.all()
    below = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, radius=0.999)[0]
    assert below.edge_index.size(1) == 0


# --------------------------------------------------------------------------------------- Springs
def test_springs_default_window_stride_is_the_horizon():
    ds = Springs(num_graphs=1, obs=3, horizon=2, num_windows=2, normalize=False)
    assert ds.window_stride == 2 and ds.index == [(0, 0), (0, 2)]
    frames = ds.recordings[0].x                                              # [N, 7, 4]
    assert frames.size(1) == 3 + 2 + 2
    assert torch.equal(ds[1].x, frames[:, 2:5]) and torch.equal(ds[1].y, frames[:, 5:7])


def test_springs_val_default_size_fits_the_train_defaults_stats():
    train = Springs(split="train", obs=1, horizon=1)                         # 1000 simulations
    val = Springs(split="val", obs=1, horizon=1)                             # 200, stats of the 1000
    assert len(val) == 200
    assert torch.equal(val.mean, train.mean) and torch.equal(val.std, train.std)


def test_springs_val_scaler_is_fitted_on_the_train_split():
    train = Springs(split="train", num_graphs=3, obs=2, horizon=1, normalize="minmax")
    val = Springs(split="val", num_graphs=3, obs=2, horizon=1, normalize="minmax")
    assert torch.equal(val.mean, train.mean) and torch.equal(val.std, train.std)


def test_springs_open_does_not_pass_on_the_training_windows():
    train = Springs.open("train", num_graphs=5, obs=2, horizon=1, num_windows=3)
    assert len(train) == 15
    val = Springs.open("val", train=train)
    assert (val.num_windows, val.window_stride, len(val)) == (1, 1, 1)


# ---------------------------------------------------------------------------------- temporal JSON
def test_matrix_layout_prefers_fx_over_x(tmp_path):
    path = _json(tmp_path, "both.json", {"edges": [[0, 1]], "FX": [[1.0, 2.0], [3.0, 4.0]],
                                         "X": [[9.0, 9.0], [9.0, 9.0]]})
    signal = read_temporal_json(path)
    assert signal.series == ["FX"] and signal.values[..., 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]
