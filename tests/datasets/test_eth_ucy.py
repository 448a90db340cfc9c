import math
import os
from pathlib import Path

import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.datasets import DataFormatError, ETHUCY
from srnn_pyg.datasets.eth_ucy import RECORDINGS, scene_files
from srnn_pyg.metrics import ade, best_of_k_ade_fde, fde

T, F = True, False

# A hand-written scene, frame step 10 (k = frame / 10):
#   ped 1 at (k, 0) for k = 0..5         ped 2 at (10, 2k) for k = 0..4
#   ped 3 at (5 + k, 5) for k = 1..3     ped 5 at (7, 7) for k = 0 only
#   ped 7 at (1, 1) for k = 3, 4
TRACKS = ([(10 * k, 1, k, 0) for k in range(6)] + [(10 * k, 2, 10, 2 * k) for k in range(5)]
          + [(10 * k, 3, 5 + k, 5) for k in range(1, 4)] + [(0, 5, 7, 7)]
          + [(10 * k, 7, 1, 1) for k in (3, 4)])


def _lines(tracks):
    rows = sorted(tracks, key=lambda r: (r[0], r[1]))
    return "".join(f"{f:.1f}\t{p:.1f}\t{x:.4f}\t{y:.4f}\n" for f, p, x, y in rows)


def _straight(ped0: int, frames: int = 25):
    """Three pedestrians walking straight lines at constant speed."""
    return [(10 * k, ped0 + i, 1.0 + 0.3 * k * (i + 1), 2.0 * i - 0.2 * k) for i in range(3)
            for k in range(frames)]


def write_eth_ucy(root: Path, hotel=None):
    """Every file of the layout; recording j gets pedestrian ids 100 j + (0, 1, 2)."""
    for j, stem in enumerate(RECORDINGS):
        for sub, name in (("all_data", stem), ("train", f"{stem}_train"), ("val", f"{stem}_val")):
            (root / sub).mkdir(parents=True, exist_ok=True)
            text = _lines(_straight(100 * j))
            if stem == "biwi_hotel" and sub == "all_data" and hotel is not None:
                text = hotel
            (root / sub / f"{name}.txt").write_text(text)
    return root


@pytest.fixture
def root(tmp_path):
    return write_eth_ucy(tmp_path / "eth_ucy", hotel=_lines(TRACKS))


def _t(rows, dtype=torch.float):
    return torch.tensor(rows, dtype=dtype)


# ----------------------------------------------------------------- windows
def test_full_windows_hand_checked(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2)
    assert ds.files == ["all_data/biwi_hotel.txt"]
    # starts k = 0, 1 hold peds 1 and 2 throughout; k = 2 only ped 1 (not more than min_peds=1)
    assert len(ds) == 2 and ds.index == [(0, 0), (0, 1)]
    d0, d1 = ds[0], ds[1]
    assert d0.ped_id.tolist() == [1, 2] and d1.ped_id.tolist() == [1, 2]
    assert d0.frame.tolist() == [[0, 10, 20, 30]] and d1.frame.tolist() == [[10, 20, 30, 40]]
    assert torch.equal(d0.origin, _t([[1, 0], [10, 2]]))
    assert torch.equal(d0.x, _t([[[-1, 0], [0, 0]], [[0, -2], [0, 0]]]))
    assert torch.equal(d0.y, _t([[[1, 0], [2, 0]], [[0, 2], [0, 4]]]))
    assert torch.equal(d1.origin, _t([[2, 0], [10, 4]]))
    assert torch.equal(ETHUCY.to_absolute(d1.y, d1.origin), _t([[[3, 0], [4, 0]], [[10, 6], [10, 8]]]))
    for d in (d0, d1):
        assert d.node_mask.all() and d.y_mask.all()
        assert d.edge_index.tolist() == [[0, 1], [1, 0]] and d.edge_mask.all()
        assert d.edge_mask.shape == (2, 2) and d.edge_type.tolist() == [0, 0]
        assert d.node_type.tolist() == [0, 0] and d.validate(ds.schema)
    assert ds.schema.node_types == ["pedestrian"] and ds.schema.num_edge_types == 1
    assert not ds.schema.edge_types[0].directed
    assert repr(ds) == "ETHUCY(2, test_scene='hotel', split='test', obs=2, horizon=2, keep='full')"


def test_window_coordinates_share_one_point(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, coords="window")
    d0 = ds[0]                                     # peds 1, 2: last observed at (1, 0) and (10, 2)
    assert torch.equal(d0.origin, _t([[5.5, 1], [5.5, 1]]))
    assert torch.equal(d0.x, _t([[[-5.5, -1], [-4.5, -1]], [[4.5, -1], [4.5, 1]]]))
    assert torch.equal(ETHUCY.to_absolute(d0.y, d0.origin), _t([[[2, 0], [3, 0]], [[10, 4], [10, 6]]]))
    ped = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2)
    for a, b in zip(ds, ped):                      # same windows, same metres, same errors
        assert torch.allclose(ETHUCY.to_absolute(a.y, a.origin), ETHUCY.to_absolute(b.y, b.origin))
        assert torch.equal(a.edge_index, b.edge_index)
    partial = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial",
                     coords="window", features="pos_vel")
    for d in partial:
        assert (d.origin == d.origin[:1]).all() and (d.x[~d.node_mask] == 0).all()
    assert "coords='window'" in repr(ds)


def test_partial_nodes_masks_and_edges(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial")
    assert len(ds) == 2                                                  # same windows as "full"
    d0 = ds[0]
    # ped 7 is seen only in the future: no node; ped 3 from k=1, ped 5 at k=0 only
    assert d0.ped_id.tolist() == [1, 2, 3, 5]
    assert d0.node_mask.tolist() == [[T, T], [T, T], [F, T], [T, F]]
    assert d0.y_mask.tolist() == [[T, T], [T, T], [T, T], [F, F]]
    assert torch.equal(d0.origin, _t([[1, 0], [10, 2], [6, 5], [7, 7]]))
    assert torch.equal(d0.x[2:], _t([[[0, 0], [0, 0]], [[0, 0], [0, 0]]]))
    assert torch.equal(d0.y[2:], _t([[[1, 0], [2, 0]], [[0, 0], [0, 0]]]))  # absent: zeros
    # at k=0: peds 1, 2, 5 (nodes 0, 1, 3); at k=1: peds 1, 2, 3 (nodes 0, 1, 2)
    assert d0.edge_index.tolist() == [[0, 0, 0, 1, 1, 1, 2, 2, 3, 3],
                                      [1, 2, 3, 0, 2, 3, 0, 1, 0, 1]]
    assert d0.edge_mask.tolist() == [[T, T], [F, T], [T, F], [T, T], [F, T], [T, F],
                                     [F, T], [F, T], [T, F], [T, F]]
    assert d0.validate(ds.schema)
    d1 = ds[1]                                                           # ped 3 leaves after k=3
    assert d1.ped_id.tolist() == [1, 2, 3]
    assert d1.node_mask.all() and d1.y_mask.tolist() == [[T, T], [T, T], [T, F]]
    assert torch.equal(d1.origin[2], _t([7, 5]))
    assert torch.equal(d1.x[2], _t([[-1, 0], [0, 0]])) and torch.equal(d1.y[2], _t([[1, 0], [0, 0]]))
    assert d1.edge_index.size(1) == 6 and d1.edge_mask.all()


def test_radius_edges(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial", radius=8.0)
    d0 = ds[0]
    # k=0: |1-2| = 10, |1-5| = 9.9, |2-5| = 7.6;  k=1: |1-2| = 9.2, |1-3| = 7.1, |2-3| = 5
    assert d0.edge_index.tolist() == [[0, 1, 1, 2, 2, 3], [2, 2, 3, 0, 1, 1]]
    assert d0.edge_mask.tolist() == [[F, T], [F, T], [T, F], [F, T], [F, T], [T, F]]
    full = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, radius=8.0)[0]
    assert full.edge_index.size(1) == 0 and full.edge_mask.shape == (0, 2)
    assert full.validate(ds.schema)


def test_velocity_features(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial",
                features="pos_vel")
    d0, d1 = ds[0], ds[1]
    assert d0.x.shape == (4, 2, 4) and d0.y.shape == (4, 2, 2)
    assert torch.equal(d0.x[..., :2], ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2,
                                             keep="partial")[0].x)
    # displacement per step; zero at the first frame and where the previous frame is missing
    assert torch.equal(d0.x[:, :, 2:], _t([[[0, 0], [1, 0]], [[0, 0], [0, 2]],
                                           [[0, 0], [0, 0]], [[0, 0], [0, 0]]]))
    assert torch.equal(d1.x[2, :, 2:], _t([[0, 0], [1, 0]]))
    # the command line builds forecasters that rebuild the displacements of their predictions
    assert ds.feedback_kwargs() == {"derived": "velocity"}
    assert ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2).feedback_kwargs() == {}


def test_min_peds_skip_and_recorded_frames(root, tmp_path):
    assert len(ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, min_peds=0)) == 3
    d = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, min_peds=0, keep="partial")[2]
    assert d.ped_id.tolist() == [1, 2, 3, 7] and d.y_mask[:, -1].tolist() == [T, F, F, F]
    assert ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, skip=2).index == [(0, 0)]
    with pytest.raises(ValueError, match="no window of 4 frames with more than 2 pedestrians"):
        ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, min_peds=2)
    # windows run over the recorded frames (Social-GAN): a stretch with nobody in view is skipped
    gap = [(f, p, f / 10.0, p) for f in (0, 10, 20, 60, 70) for p in (1, 2)]
    r2 = write_eth_ucy(tmp_path / "gap", hotel=_lines(gap))
    ds = ETHUCY(r2, test_scene="hotel", split="test", obs=2, horizon=2)
    assert [d.frame.tolist()[0] for d in ds] == [[0, 10, 20, 60], [10, 20, 60, 70]]


def test_default_protocol_and_constant_velocity(tmp_path):
    root = write_eth_ucy(tmp_path)
    ds = ETHUCY(root, test_scene="zara1", split="test")
    assert len(ds) == 25 - 20 + 1
    d = ds[0]
    assert d.x.shape == (3, 8, 2) and d.y.shape == (3, 12, 2) and d.origin.shape == (3, 2)
    assert d.edge_index.size(1) == 6 and d.edge_mask.shape == (6, 8)
    assert torch.equal(d.x[:, -1], torch.zeros(3, 2))
    vel = d.x[:, -1] - d.x[:, -2]                                        # straight lines:
    pred = vel[:, None] * torch.arange(1, 13).view(1, 12, 1)             # constant velocity is exact
    assert float(ade(pred, d.y)) < 1e-5 and float(fde(pred, d.y)) < 1e-5


def test_splits_read_the_right_files(tmp_path):
    root = write_eth_ucy(tmp_path)

    def recordings(scene, split):
        ds = ETHUCY(root, test_scene=scene, split=split)
        ids = torch.cat([ds[i].ped_id for i in range(len(ds))])
        return sorted({RECORDINGS[int(i) // 100] for i in ids})

    others = [s for s in RECORDINGS if s not in ("students001", "students003")]
    assert recordings("univ", "train") == others                         # uni_examples included
    assert recordings("univ", "val") == others
    assert recordings("univ", "test") == ["students001", "students003"]
    assert recordings("zara1", "train") == [s for s in RECORDINGS if s != "crowds_zara01"]
    assert recordings("eth", "test") == ["biwi_eth"]
    assert scene_files("zara2", "val")[0] == "val/biwi_eth_val.txt"
    assert "train/crowds_zara03_train.txt" in scene_files("zara2", "train")
    assert len(scene_files("hotel", "train")) == 7


def test_batching(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial")
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.x.shape == (7, 2, 2) and batch.origin.shape == (7, 2)
    assert batch.edge_index.size(1) == 16 and int(batch.edge_index[:, 10:].min()) == 4
    assert batch.frame.tolist() == [[0, 10, 20, 30], [10, 20, 30, 40]]
    assert batch.ped_id.tolist() == [1, 2, 3, 5, 1, 2, 3] and batch.batch.tolist() == [0] * 4 + [1] * 3


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("edit,pattern", [
    (lambda L: L[:3] + ["20.0\t1.0\t2.0"] + L[3:], r"biwi_hotel\.txt, line 4: expected 4 .*got 3"),
    (lambda L: L[:5] + [L[5].rsplit("\t", 1)[0] + "\tnan"] + L[6:],
     r"biwi_hotel\.txt, line 6, column 4: the value is 'nan'"),
    (lambda L: L[:2] + ["0.0\t9.0\tfar\t1.0"] + L[2:], r"biwi_hotel\.txt, line 3, column 3: 'far' is not"),
    (lambda L: L + ["15.5\t9.0\t1.0\t1.0"], r"biwi_hotel\.txt, line 18: the frame must be a whole"),
    (lambda L: L + [L[1]], r"biwi_hotel\.txt, line 18: pedestrian 2 appears twice at frame 0 "
                           r"\(first on line 2\)"),
    (lambda L: [], r"biwi_hotel\.txt: no data rows"),
])
def test_malformed_files(root, edit, pattern):
    path = root / "all_data" / "biwi_hotel.txt"
    lines = path.read_text().splitlines()
    assert len(lines) == 17
    path.write_text("\n".join(edit(lines)) + "\n")
    with pytest.raises(DataFormatError, match=pattern):
        ETHUCY(root, test_scene="hotel", split="test")


def test_missing_files_and_root(root, monkeypatch):
    (root / "train" / "uni_examples_train.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"train/uni_examples_train\.txt.*test scene 'univ'"):
        ETHUCY(root, test_scene="univ", split="train")
    assert len(ETHUCY(root, test_scene="univ", split="val")) > 0
    monkeypatch.delenv("SRNN_PYG_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="SRNN_PYG_DATA"):
        ETHUCY()
    monkeypatch.setenv("SRNN_PYG_DATA", str(root.parent))                # holds eth_ucy/
    assert ETHUCY(test_scene="hotel", split="test", obs=2, horizon=2).root == root
    monkeypatch.setenv("SRNN_PYG_DATA", str(root / "nowhere"))
    with pytest.raises(FileNotFoundError, match="eth_ucy"):
        ETHUCY()


def test_bad_arguments(root):
    for kwargs, name in ((dict(test_scene="zara3"), "'test_scene'"), (dict(split="valid"), "'split'"),
                         (dict(keep="some"), "'keep'"), (dict(features="vel"), "'features'"),
                         (dict(skip=0), "'skip'"), (dict(min_peds=-1), "'min_peds'"),
                         (dict(radius=0.0), "'radius'"), (dict(coords="scene"), "'coords'")):
        with pytest.raises(ValueError, match=name):
            ETHUCY(root, **kwargs)
    with pytest.raises(ValueError, match="to_absolute"):
        ETHUCY.to_absolute(torch.zeros(3, 12, 2), torch.zeros(2, 2))


# ----------------------------------------------------------------- metrics
def _pair():
    target = torch.zeros(2, 2, 2)
    pred = _t([[[3, 4], [0, 0]], [[1, 0], [0, 2]]])                      # errors [[5, 0], [1, 2]]
    return pred, target


def test_ade_fde_hand_computed():
    pred, target = _pair()
    assert float(ade(pred, target)) == pytest.approx(2.0)
    assert float(fde(pred, target)) == pytest.approx(1.0)
    steps = torch.tensor([[T, F], [T, T]])
    assert float(ade(pred, target, steps)) == pytest.approx(8 / 3)
    assert float(fde(pred, target, steps)) == pytest.approx(2.0)         # only ped 1 at the end
    peds = torch.tensor([F, T])
    assert float(ade(pred, target, peds)) == pytest.approx(1.5)
    assert float(fde(pred, target, peds)) == pytest.approx(2.0)
    assert math.isnan(float(ade(pred, target, torch.zeros(2, dtype=torch.bool))))   # nothing scored
    with pytest.raises(ValueError, match="'mask'"):
        ade(pred, target, torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="same shape"):
        fde(pred, target[:, :1])


def _samples():
    # errors along x only: k=0 peds [1,1], [4,4], [2,2]; k=1 [3,3], [1,1], [1,3]
    err = _t([[[1, 1], [4, 4], [2, 2]], [[3, 3], [1, 1], [1, 3]]])        # [K=2, N=3, H=2]
    samples = torch.stack([err, torch.zeros_like(err)], -1)             # [2, 3, 2, 2]
    return samples, torch.zeros(3, 2, 2), torch.tensor([0, 0, 1])


def test_best_of_k_hand_computed():
    samples, target, batch = _samples()
    a, f = best_of_k_ade_fde(samples, target)                            # per pedestrian
    assert (float(a), float(f)) == pytest.approx((4 / 3, 4 / 3))
    a, f = best_of_k_ade_fde(samples, target, per="scene", batch=batch)  # Social-GAN
    assert (float(a), float(f)) == pytest.approx((2.0, 2.0))
    a, f = best_of_k_ade_fde(samples, target, per="scene")               # one scene
    assert (float(a), float(f)) == pytest.approx((2.0, 7 / 3))
    one = best_of_k_ade_fde(samples[:1], target, per="scene", batch=batch)
    assert float(one[0]) == pytest.approx(float(ade(samples[0], target)))
    assert float(one[1]) == pytest.approx(float(fde(samples[0], target)))


def test_best_of_k_masks_partial_pedestrians():
    samples, target, batch = _samples()
    y_mask = torch.tensor([[T, T], [T, F], [T, T]])                      # ped 1 leaves: not scored
    a, f = best_of_k_ade_fde(samples, target, y_mask)
    assert (float(a), float(f)) == pytest.approx((1.5, 1.5))
    a, f = best_of_k_ade_fde(samples, target, y_mask, per="scene", batch=batch)
    assert (float(a), float(f)) == pytest.approx((1.5, 1.5))
    torch.manual_seed(0)
    s, t = torch.randn(20, 9, 12, 2), torch.randn(9, 12, 2)
    b = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    ped = best_of_k_ade_fde(s, t)
    scene = best_of_k_ade_fde(s, t, per="scene", batch=b)
    assert float(ped[0]) <= float(scene[0]) and float(ped[1]) <= float(scene[1])
    with pytest.raises(ValueError, match="'per'"):
        best_of_k_ade_fde(s, t, per="window")
    with pytest.raises(ValueError, match=r"\[K, N, H, D\]"):
        best_of_k_ade_fde(s[0], t)


# ---------------------------------------------------------------- protocol
def test_open_and_score(root):
    ds = ETHUCY.open("test", root=root, obs=3, horizon=2, test_scene="hotel", keep="partial")
    ref = ETHUCY(root, test_scene="hotel", split="test", obs=3, horizon=2, keep="partial")
    assert len(ds) == len(ref) and torch.equal(ds[0].x, ref[0].x)
    assert ETHUCY.open("val", root=root).test_scene == "eth"
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    assert not bool(batch.y_mask.all())                                 # some pedestrians leave
    g = torch.Generator().manual_seed(0)
    pred = batch.y + torch.randn(batch.y.shape, generator=g)
    keep = batch.y_mask.all(1)
    out = ds.score({"pred": pred, "y": batch.y, "y_mask": batch.y_mask})
    assert out == {"ADE": pytest.approx(float(ade(pred, batch.y, keep))),
                   "FDE": pytest.approx(float(fde(pred, batch.y, keep)))}
    err = (pred - batch.y).norm(dim=-1)[keep]                            # [N', H]
    assert out["ADE"] == pytest.approx(float(err.mean())) and out["FDE"] == pytest.approx(float(err[:, -1].mean()))
    # K samples: best of K per pedestrian, and per window when the windows are given
    samples = batch.y + torch.randn((5,) + tuple(batch.y.shape), generator=g)
    out = ds.score({"pred": pred, "y": batch.y, "y_mask": batch.y_mask, "samples": samples})
    assert list(out) == ["ADE", "FDE", "minADE@5", "minFDE@5"]
    a, f = best_of_k_ade_fde(samples, batch.y, keep)
    assert (out["minADE@5"], out["minFDE@5"]) == pytest.approx((float(a), float(f)))
    out = ds.score({"pred": pred, "y": batch.y, "y_mask": batch.y_mask, "samples": samples,
                    "batch": batch.batch})
    a, f = best_of_k_ade_fde(samples, batch.y, keep, per="scene", batch=batch.batch)
    assert (out["minADE@5 (scene)"], out["minFDE@5 (scene)"]) == pytest.approx((float(a), float(f)))
    assert out["minADE@5"] <= out["minADE@5 (scene)"]


# --------------------------------------------------------------- real data
def _real_root() -> Path:
    base = os.environ.get("SRNN_PYG_DATA")
    if not base:
        pytest.skip("SRNN_PYG_DATA is unset: the real ETH/UCY files are not available")
    root = Path(base) / "eth_ucy"
    if not (root / "all_data" / "biwi_eth.txt").is_file():
        pytest.skip(f"ETH/UCY files not found under {root}")
    return root


@pytest.mark.integration
def test_real_eth_ucy():
    root = _real_root()
    sizes = {}
    for split in ("train", "val", "test"):
        ds = ETHUCY(root, test_scene="eth", split=split)
        sizes[split] = len(ds)
        steps = torch.cat([ds[i].frame for i in range(0, len(ds), 7)]).diff(dim=1)
        assert bool((steps == ETHUCY.frame_step).all())                # no gap inside a window
        for i in (0, len(ds) // 2, len(ds) - 1):
            d = ds[i]
            N = d.num_nodes
            assert N >= 2 and d.x.shape == (N, 8, 2) and d.y.shape == (N, 12, 2)
            assert d.validate(ds.schema) and d.node_mask.all() and d.y_mask.all()
            assert d.edge_index.size(1) == N * (N - 1)
            assert torch.equal(d.x[:, -1], torch.zeros(N, 2))
            assert float(d.y.abs().max()) < 15.0 and float(d.x.abs().max()) < 15.0
            assert float(d.origin.min()) > -11.0 and float(d.origin.max()) < 15.0
    # the test count is the 70 ETH windows of Social-GAN / Social-STGCNN's loader
    assert sizes == {"train": 2785, "val": 660, "test": 70}
    test = ETHUCY(root, test_scene="eth", split="test")
    batch = next(iter(DataLoader(test, batch_size=len(test))))
    vel = batch.x[:, -1] - batch.x[:, -2]
    pred = vel[:, None] * torch.arange(1, 13, dtype=torch.float).view(1, 12, 1)
    assert 0.3 < float(ade(pred, batch.y)) < 1.5                         # constant velocity, metres
    partial = ETHUCY(root, test_scene="eth", split="test", keep="partial", features="pos_vel", radius=3.0)
    assert len(partial) == 70 and partial.num_nodes_total >= test.num_nodes_total
    assert partial[10].validate(partial.schema) and partial[10].x.shape[-1] == 4


def test_neighbour_distance_hand_checked(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2)
    # window k=0: peds 1 (0,0),(1,0) and 2 (10,0),(10,2); window k=1: (1,0),(2,0) and (10,2),(10,4)
    d = ds.neighbour_distance()
    assert d.dtype == torch.float64
    assert torch.allclose(d, torch.tensor([85 ** 0.5] * 2 + [80 ** 0.5] * 2, dtype=torch.float64))
    assert torch.equal(ds[[1]].neighbour_distance(), d[2:])               # a view: its windows only


def test_neighbour_distance_against_a_loop(root):
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=3, horizon=2, keep="partial")
    d = ds.neighbour_distance()
    want = []
    for i in range(len(ds)):
        w = ds[i]
        pos = (w.x + w.origin[:, None]).double()                           # [n, obs, 2] metres where present
        for a in range(w.num_nodes):
            best = float("inf")
            for b in range(w.num_nodes):
                for t in range(w.x.size(1)):
                    if a != b and w.node_mask[a, t] and w.node_mask[b, t]:
                        best = min(best, float((pos[a, t] - pos[b, t]).norm()))
            want.append(best)
    assert len(d) == len(want) == sum(ds[i].num_nodes for i in range(len(ds)))
    assert torch.allclose(d, torch.tensor(want, dtype=torch.float64), atol=1e-4)
    assert torch.isfinite(d).all()


def test_neighbour_distance_alone_is_inf(tmp_path):
    # ped 1 walks alone; then ped 2 is seen at k = 0 only, ped 3 from k = 1 on (at (5, 5 + k)): 2 and 3 never meet
    lone = [(10 * k, 1, k, 0) for k in range(6)]
    root = write_eth_ucy(tmp_path / "eth_ucy", hotel=_lines(lone))
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, min_peds=0)
    assert len(ds) and torch.isinf(ds.neighbour_distance()).all()
    late = lone + [(0, 2, 5, 5)] + [(10 * k, 3, 5, 5 + k) for k in range(1, 6)]
    root = write_eth_ucy(tmp_path / "eth_ucy2", hotel=_lines(late))
    ds = ETHUCY(root, test_scene="hotel", split="test", obs=2, horizon=2, keep="partial", min_peds=0)
    w, d = ds[0], ds[[0]].neighbour_distance()
    assert w.num_nodes == 3 and torch.equal(w.ped_id.view(-1).long(), torch.tensor([1, 2, 3]))
    assert torch.allclose(d, torch.tensor([50 ** 0.5, 50 ** 0.5, 52 ** 0.5], dtype=torch.float64))
