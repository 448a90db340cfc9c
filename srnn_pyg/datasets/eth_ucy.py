r"""ETH/UCY crowd trajectories with the leave-one-scene-out protocol of
Social-GAN: :class:`ETHUCY`."""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ..nn.args import count
from .. import metrics as M
from ..data import STData
from ..schema import STSchema
from .base import DataFormatError, STDataset, forecast_view, require_file, resolve_root
from .registry import register_dataset

__all__ = ["ETHUCY"]

_SPLITS = ("train", "val", "test")
_KEEP = ("full", "partial")
_FEATURES = ("pos", "pos_vel")
_COORDS = ("pedestrian", "window")

# The eight recordings, by file stem, and the files of each of the five test scenes.
# ``crowds_zara03`` and ``uni_examples`` are never a test scene: they only ever add
# training and validation data (Social-GAN's ``datasets/<scene>/{train,val}`` folders
# hold them for every test scene, ``univ`` included).
RECORDINGS = ("biwi_eth", "biwi_hotel", "crowds_zara01", "crowds_zara02", "crowds_zara03",
              "students001", "students003", "uni_examples")
TEST_SCENES: Dict[str, Tuple[str, ...]] = {
    "eth": ("biwi_eth",),
    "hotel": ("biwi_hotel",),
    "univ": ("students001", "students003"),
    "zara1": ("crowds_zara01",),
    "zara2": ("crowds_zara02",),
}


def scene_files(test_scene: str, split: str) -> List[str]:
    """The files, relative to the data root, that ``split`` reads when
    ``test_scene`` is held out (see :class:`ETHUCY`)."""
    if test_scene not in TEST_SCENES:
        raise ValueError(f"ETHUCY: 'test_scene' must be one of {tuple(TEST_SCENES)} (got {test_scene!r})")
    if split not in _SPLITS:
        raise ValueError(f"ETHUCY: 'split' must be one of {_SPLITS} (got {split!r})")
    held_out = TEST_SCENES[test_scene]
    if split == "test":
        return [f"all_data/{stem}.txt" for stem in held_out]
    return [f"{split}/{stem}_{split}.txt" for stem in RECORDINGS if stem not in held_out]


def read_tracks(path: Path) -> np.ndarray:
    """A trajectory file as a float64 array ``[rows, 4]`` of ``frame, ped_id, x, y``.

    Columns are separated by tabs (or any whitespace); blank lines are skipped.

    Raises:
        DataFormatError: naming the file and line of a row that does not have
            4 columns, holds a value that is not a finite number, a frame or
            pedestrian id that is not a whole number, or repeats a
            ``(frame, ped_id)`` pair of an earlier line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc})") from exc
    rows: List[List[str]] = []
    linenos: List[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise DataFormatError(f"{path}, line {lineno}: expected 4 tab-separated columns "
                                  f"'frame ped_id x y' (got {len(parts)}: {line.strip()!r})")
        rows.append(parts)
        linenos.append(lineno)
    if not rows:
        raise DataFormatError(f"{path}: no data rows (expected lines 'frame ped_id x y')")
    try:
        data = np.array(rows, dtype=np.float64)                         # [R, 4]
    except ValueError:
        for parts, lineno in zip(rows, linenos):                        # find the culprit
            for col, p in enumerate(parts):
                try:
                    float(p)
                except ValueError:
                    raise DataFormatError(f"{path}, line {lineno}, column {col + 1}: {p!r} is not "
                                          f"a number") from None
        raise
    with np.errstate(over="ignore"):                                      # as float32: 1e39 is inf
        bad = ~np.isfinite(data.astype(np.float32))
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise DataFormatError(f"{path}, line {linenos[r]}, column {c + 1}: the value is "
                              f"{rows[r][c]!r} (expected a finite number within float32 range, "
                              f"|x| <= 3.4e38)")
    ids = data[:, :2]
    frac = ids != np.round(ids)
    if frac.any():
        r, c = (int(i[0]) for i in np.nonzero(frac))
        what = ("frame", "ped_id")[c]
        raise DataFormatError(f"{path}, line {linenos[r]}: the {what} must be a whole number "
                              f"(got {rows[r][c]!r})")
    _, fi = np.unique(data[:, 0], return_inverse=True)
    peds, pi = np.unique(data[:, 1], return_inverse=True)
    key = fi.reshape(-1) * len(peds) + pi.reshape(-1)                   # one number per (frame, ped)
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = int(first[np.flatnonzero(counts > 1)[0]])
        again = int(np.flatnonzero(key == key[dup])[1])
        raise DataFormatError(f"{path}, line {linenos[again]}: pedestrian {int(data[dup, 1])} appears "
                              f"twice at frame {int(data[dup, 0])} (first on line {linenos[dup]})")
    return data


@register_dataset("eth_ucy")
class ETHUCY(STDataset):
    r"""ETH/UCY pedestrian trajectories (ETH: `Pellegrini et al., ICCV 2009
    <https://doi.org/10.1109/ICCV.2009.5459260>`_; UCY: Lerner et al.,
    Eurographics 2007) as crowd ST-graphs, windowed and split with the
    leave-one-scene-out protocol of Social-GAN (`Gupta et al., CVPR 2018
    <https://arxiv.org/abs/1803.10892>`_), which Social-STGCNN and most later
    work keep.

    Files: ``<root>/all_data/<stem>.txt``, ``<root>/train/<stem>_train.txt`` and
    ``<root>/val/<stem>_val.txt`` for the eight recordings ``biwi_eth``,
    ``biwi_hotel``, ``crowds_zara01``, ``crowds_zara02``, ``crowds_zara03``,
    ``students001``, ``students003`` and ``uni_examples``; one line per
    pedestrian per frame, ``frame ped_id x y`` (tab-separated, metres; frames
    are numbered in steps of 10, one step is 0.4 s).

    Protocol (Social-GAN, ``agrimgupta92/sgan``, ``sgan/data/trajectories.py``;
    the same code in ``abduallahmohamed/Social-STGCNN``, ``utils.py``):

    * splits: for the held-out ``test_scene`` (``eth``, ``hotel``, ``univ``,
      ``zara1``, ``zara2``), ``"train"`` reads every other recording's
      ``*_train.txt``, ``"val"`` every other recording's ``*_val.txt`` and
      ``"test"`` the scene's whole recordings in ``all_data`` (``univ`` =
      ``students001`` + ``students003``). ``crowds_zara03`` and
      ``uni_examples`` are never tested on: they are in the training and
      validation data of every test scene (for ``univ`` too).
    * windows: each file separately, over its sorted distinct frame numbers
      (consecutive *recorded* frames: a stretch with nobody in view is not a
      frame of the file), ``obs + horizon = 8 + 12 = 20`` frames, starting at
      every ``skip``-th frame (``skip = 1``).
    * pedestrians: Social-GAN keeps a pedestrian in a window only if it is
      present at all 20 frames, and keeps a window only if it holds *more than*
      ``min_peds`` such pedestrians (``num_peds_considered > min_ped`` with
      ``min_ped = 1``: at least two). That is ``keep="full"`` (the default,
      comparable with published numbers). ``keep="partial"`` keeps the same
      windows but adds, as context, every other pedestrian seen at one or more
      observed frames, with ``node_mask``/``y_mask`` marking its frames; score
      only entries where ``y_mask`` holds (or only pedestrians whose ``y_mask``
      is all true, the published protocol: :func:`~srnn_pyg.metrics.ade`,
      :func:`~srnn_pyg.metrics.best_of_k_ade_fde`).
    * coordinates: relative to each pedestrian's last observed position
      ``origin`` (the position at the window's last observed frame for the
      kept pedestrians; ``coords="pedestrian"``). Every pedestrian is then at
      ``(0, 0)`` at the last observed frame, which hides where the others are
      from models that read positions across edges; ``coords="window"``
      instead measures every pedestrian of a window from one point, the mean
      of their last observed positions (``origin`` is that point, repeated
      per node), so spatial edge features see true relative positions. ADE
      and FDE are the same in both frames. Social-GAN feeds its model per-step displacements and
      adds predictions to the last observed position; ``features="pos_vel"``
      adds those displacements (metres per 0.4 s step, zero at the first
      observed frame, as in Social-GAN, and wherever the previous frame is
      missing). Social-GAN rounds positions to 4 decimals; here they are kept
      as read (differences below 0.1 mm).

    Nodes are ordered by pedestrian id within a window, windows by file (in the
    order of :func:`scene_files`) then start frame. Spatial edges join every two
    pedestrians present at the same observed frame (within ``radius`` metres if
    given), stored both ways, with ``edge_mask`` ``[E, obs]`` marking the frames
    at which the edge exists; one node type ``"pedestrian"`` and one undirected
    edge type ``("pedestrian", "pedestrian")``. Edges are built when a window is
    read.

    **Protocol** (registry name ``"eth_ucy"``; :meth:`open`, :meth:`score`):
    splits ``"train"``, ``"val"``, ``"test"`` of one ``test_scene``; defaults
    ``obs = 8``, ``horizon = 12``, ``test_scene = "eth"``, batch size 32,
    training loss ``"euclidean"`` (the length of each pedestrian's error
    vector per step: the ADE the protocol reports; ``defaults["loss"]``, which
    the accuracy benchmark gives every deterministic model it trains).
    :meth:`score` reports ``ADE`` and ``FDE`` in metres over the pedestrians
    present at every observed and predicted step (Social-GAN's protocol) and, given
    ``K`` sampled forecasts, ``minADE@K`` and ``minFDE@K``, each pedestrian
    keeping its best sample (:func:`~srnn_pyg.metrics.best_of_k_ade_fde`;
    also per scene-window, ``minADE@K (scene)``, where the window of each
    node is given).

    .. code-block:: python

        train = ETHUCY(test_scene="eth", split="train")   # root from $SRNN_PYG_DATA/eth_ucy
        test = ETHUCY(test_scene="eth", split="test")
        data = test[0]            # x [N, 8, 2], y [N, 12, 2], origin [N, 2]
        metres = ETHUCY.to_absolute(pred, data.origin)   # [N, 12, 2] in the scene's frame

    Args:
        root (str or PathLike, optional): the folder with ``all_data/``,
            ``train/`` and ``val/`` (or the folder that holds ``eth_ucy/``); by
            default ``$SRNN_PYG_DATA/eth_ucy``. (default: :obj:`None`)
        test_scene (str, optional): the held-out scene, one of ``"eth"``,
            ``"hotel"``, ``"univ"``, ``"zara1"``, ``"zara2"``. (default: :obj:`"eth"`)
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``. (default: :obj:`"train"`)
        obs (int, optional): observed frames per window. (default: :obj:`8`)
        horizon (int, optional): predicted frames per window. (default: :obj:`12`)
        skip (int, optional): frames between window starts. (default: :obj:`1`)
        min_peds (int, optional): a window is kept if it has more than this
            many pedestrians present at all its frames. (default: :obj:`1`)
        keep (str, optional): ``"full"`` (only pedestrians present at all
            frames) or ``"partial"`` (also those seen at some observed frame).
            (default: :obj:`"full"`)
        features (str, optional): ``"pos"`` (relative positions, ``F = 2``) or
            ``"pos_vel"`` (and per-step displacements, ``F = 4``). (default: :obj:`"pos"`)
        radius (float, optional): join two pedestrians only at frames where
            they are at most this many metres apart. (default: :obj:`None`: all pairs)
        coords (str, optional): ``"pedestrian"`` (relative to each one's last
            observed position, as Social-GAN) or ``"window"`` (relative to the
            mean of a window's last observed positions). (default: :obj:`"pedestrian"`)
        transform (callable, optional): applied to each window. (default: :obj:`None`)

    Shapes:
        - **window** :class:`~srnn_pyg.STData`: ``x`` ``[N, obs, F]``, ``y``
          ``[N, horizon, 2]`` (metres, relative to ``origin``), ``origin``
          ``[N, 2]`` (metres), ``node_mask`` ``[N, obs]``, ``y_mask``
          ``[N, horizon]``, ``edge_index`` ``[2, E]``, ``edge_mask`` ``[E, obs]``,
          ``node_type`` ``[N]``, ``edge_type`` ``[E]``, ``ped_id`` ``[N]`` (the
          file's ids), ``frame`` ``[1, obs + horizon]`` (the file's frame numbers).
    """

    frame_step = 10
    seconds_per_step = 0.4
    splits = _SPLITS
    task = "regression"
    #: the features that are 2-d positions (for trajectory pictures)
    position_channels = (0, 1)
    defaults = {"obs": 8, "horizon": 12, "test_scene": "eth", "batch_size": 32, "loss": "euclidean"}
    #: each split's own window spacing, not passed on by ``open(..., train=...)``
    split_own = STDataset.split_own | {"skip"}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, test_scene: str = "eth",
                 split: str = "train", obs: int = 8, horizon: int = 12, skip: int = 1,
                 min_peds: int = 1, keep: str = "full", features: str = "pos",
                 radius: Optional[float] = None, coords: str = "pedestrian",
                 transform: Optional[Callable] = None):
        files = scene_files(test_scene, split)                          # checks both names
        if keep not in _KEEP:
            raise ValueError(f"ETHUCY: 'keep' must be one of {_KEEP} (got {keep!r})")
        if features not in _FEATURES:
            raise ValueError(f"ETHUCY: 'features' must be one of {_FEATURES} (got {features!r})")
        if coords not in _COORDS:
            raise ValueError(f"ETHUCY: 'coords' must be one of {_COORDS} (got {coords!r})")
        obs, horizon, skip = count("ETHUCY", "obs", obs), count("ETHUCY", "horizon", horizon), \
            count("ETHUCY", "skip", skip)
        min_peds = count("ETHUCY", "min_peds", min_peds, least=0)
        if radius is not None and (isinstance(radius, bool) or not isinstance(radius, numbers.Real)
                                   or not radius > 0 or not math.isfinite(radius)):
            raise ValueError(f"ETHUCY: 'radius' must be a positive number of metres or None "
                             f"(got {radius!r})")
        self.root = resolve_root(root, "eth_ucy")
        self.test_scene, self.split, self.keep, self.features = test_scene, split, keep, features
        self.coords = coords
        self.obs, self.horizon, self.skip, self.min_peds = obs, horizon, skip, min_peds
        self.radius = None if radius is None else float(radius)
        self.files = files
        paths = [require_file(self.root / f, f"ETH/UCY {split} data for test scene {test_scene!r}")
                 for f in files]

        parts = [self._windows(read_tracks(p)) for p in paths]
        counts = [len(p["start"]) for p in parts]
        if sum(counts) == 0:
            raise ValueError(f"ETHUCY: split {split!r} of test scene {test_scene!r} has no window of "
                             f"{obs + horizon} frames with more than {min_peds} pedestrians present "
                             f"throughout (files: {files})")
        cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        sizes = np.concatenate([p["sizes"] for p in parts])
        self._ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)   # [W + 1]
        self._x = torch.from_numpy(cat["x"]).float()                   # [M, obs, F]
        self._y = torch.from_numpy(cat["y"]).float()                   # [M, horizon, 2]
        self._node_mask = torch.from_numpy(cat["node_mask"])            # [M, obs]
        self._y_mask = torch.from_numpy(cat["y_mask"])                  # [M, horizon]
        self._origin = torch.from_numpy(cat["origin"]).float()         # [M, 2]
        self._abs = torch.from_numpy(cat["abs"])                        # [M, obs, 2] float64
        self._ped = torch.from_numpy(cat["ped"]).long()                 # [M]
        self._frame = torch.from_numpy(cat["frame"]).long()             # [W, obs + horizon]
        self.window_file = np.repeat(np.arange(len(files)), counts)     # [W] index into files
        self.index = [(int(f), int(s)) for f, s in zip(self.window_file, cat["start"])]
        self.schema = STSchema(["pedestrian"], [("pedestrian", "pedestrian")])
        self.mean = self.std = None                                     # metres, not normalised
        data_root = self.root
        super().__init__(transform)
        self.root = data_root                                           # PyG's Dataset resets it

    # -------------------------------------------------------------- windows
    def _windows(self, data: np.ndarray) -> Dict[str, np.ndarray]:
        """Every kept window of one file, as flat per-node arrays (no loop over windows)."""
        obs, S = self.obs, self.obs + self.horizon
        frames, fi = np.unique(data[:, 0], return_inverse=True)         # sorted recorded frames
        peds, pi = np.unique(data[:, 1], return_inverse=True)           # sorted pedestrian ids
        Fr, P = len(frames), len(peds)
        pos = np.zeros((Fr, P, 2))                                      # [frames, peds, 2]
        present = np.zeros((Fr, P), dtype=bool)
        pos[fi, pi] = data[:, 2:4]
        present[fi, pi] = True
        starts = np.arange(0, max(Fr - S + 1, 0), self.skip)            # [W0]
        csum = np.concatenate([np.zeros((1, P), np.int64), np.cumsum(present, 0)])  # [frames + 1, P]
        full = (csum[starts + S] - csum[starts]) == S                   # [W0, P]: present throughout
        kept = full.sum(1) > self.min_peds                              # [W0]
        starts, full = starts[kept], full[kept]
        if self.keep == "full":
            node = full
        else:
            node = (csum[starts + obs] - csum[starts]) > 0              # [W, P]: seen while observed
        w, p = np.nonzero(node)                                         # window-major, ped order
        t = starts[w][:, None] + np.arange(S)                           # [M, S]
        P_abs = pos[t, p[:, None]]                                      # [M, S, 2]
        pres = present[t, p[:, None]]                                   # [M, S]
        last = obs - 1 - np.argmax(pres[:, obs - 1::-1], axis=1)        # last observed frame
        origin = P_abs[np.arange(len(w)), last]                         # [M, 2]
        if self.coords == "window":                                     # one point per window
            count = np.bincount(w, minlength=len(starts))[w, None]      # [M, 1]
            centre = np.stack([np.bincount(w, origin[:, d], len(starts)) for d in range(2)], -1)
            origin = centre[w] / count                                  # [M, 2]
        rel = (P_abs - origin[:, None]) * pres[..., None]               # [M, S, 2], 0 if absent
        x = rel[:, :obs]
        if self.features == "pos_vel":
            both = pres[:, 1:obs] & pres[:, :obs - 1]                   # [M, obs - 1]
            vel = np.zeros_like(x)
            vel[:, 1:] = (x[:, 1:] - x[:, :-1]) * both[..., None]
            x = np.concatenate([x, vel], axis=-1)                       # [M, obs, 4]
        return {"x": x, "y": rel[:, obs:], "node_mask": pres[:, :obs], "y_mask": pres[:, obs:],
                "origin": origin, "abs": P_abs[:, :obs] * pres[:, :obs, None], "ped": peds[p],
                "frame": frames[starts[:, None] + np.arange(S)], "start": starts,
                "sizes": np.bincount(w, minlength=len(starts))}

    def feedback_kwargs(self) -> Dict[str, Any]:
        """``derived="velocity"`` with ``features="pos_vel"`` (the displacements
        after the positions; see :meth:`STDataset.feedback_kwargs`)."""
        return {"derived": "velocity"} if self.features == "pos_vel" else {}

    def get(self, idx: int) -> STData:
        lo, hi = int(self._ptr[idx]), int(self._ptr[idx + 1])
        n = hi - lo
        nm = self._node_mask[lo:hi]                                     # [n, obs]
        ar = torch.arange(n)
        src, dst = ar.repeat_interleave(n), ar.repeat(n)                # all ordered pairs, src-major
        off = src != dst
        src, dst = src[off], dst[off]                                   # [n (n - 1)]
        m = nm[src] & nm[dst]                                           # [n (n - 1), obs]
        if self.radius is not None:
            pos = self._abs[lo:hi]                                      # [n, obs, 2] metres
            m = m & ((pos[src] - pos[dst]).norm(dim=-1) <= self.radius)
        e = m.any(1)
        edge_index = torch.stack([src[e], dst[e]])                      # [2, E]
        E = edge_index.size(1)
        data = STData(x=self._x[lo:hi], edge_index=edge_index,
                      node_type=torch.zeros(n, dtype=torch.long),
                      edge_type=torch.zeros(E, dtype=torch.long),
                      node_mask=nm, edge_mask=m[e], y=self._y[lo:hi], y_mask=self._y_mask[lo:hi],
                      origin=self._origin[lo:hi], ped_id=self._ped[lo:hi],
                      frame=self._frame[idx:idx + 1])
        data.schema = self.schema
        return data

    # -------------------------------------------------------------- helpers
    def neighbour_distance(self) -> Tensor:
        """``[N]`` float64 metres: for each pedestrian of each window (in the
        order a non-shuffled loader stacks them, over this dataset or view),
        the smallest distance to another pedestrian of the same window at an
        observed frame where both are present; ``inf`` for a pedestrian who
        never shares an observed frame with another. It depends on the
        observed frames only, so it can split the test pedestrians into
        groups (alone, far, close) without looking at their futures."""
        out = []
        for idx in self.indices():
            lo, hi = int(self._ptr[idx]), int(self._ptr[idx + 1])
            pos, nm = self._abs[lo:hi], self._node_mask[lo:hi]                 # [n, obs, 2], [n, obs]
            d = (pos[:, None] - pos[None]).norm(dim=-1)                         # [n, n, obs]
            both = nm[:, None] & nm[None]
            both &= ~torch.eye(hi - lo, dtype=torch.bool)[..., None]
            out.append(d.masked_fill(~both, math.inf).flatten(1).amin(1) if hi > lo else d.new_zeros(0))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    @staticmethod
    def to_absolute(rel: Tensor, origin: Tensor) -> Tensor:
        """Positions relative to ``origin`` (``[N, H, 2]``) back to the scene's
        metres: ``rel + origin[:, None]``."""
        if rel.dim() < 3 or rel.size(-1) != 2 or tuple(origin.shape) != (rel.size(-3), 2):
            raise ValueError(f"ETHUCY.to_absolute: 'rel' must be [..., N, H, 2] and 'origin' [N, 2] "
                             f"(got {list(rel.shape)} and {list(origin.shape)})")
        return rel + origin.to(rel).unsqueeze(-2)

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """``ADE`` and ``FDE`` (metres) over the pedestrians of Social-GAN's
        protocol, present at every observed (``node_mask``) and predicted
        (``y_mask``) step, so that ``keep="partial"`` scores the same
        pedestrians as ``keep="full"`` (the others are context); with
        ``"samples"`` ``[K, N, H, 2]`` also ``minADE@K`` and ``minFDE@K`` per
        pedestrian and, with ``"batch"`` (``[N]`` long, the window of each
        node), ``minADE@K (scene)`` and ``minFDE@K (scene)``."""
        pred, y, y_mask = forecast_view(collected)
        keep = None if y_mask is None else y_mask.all(1)                      # [N]
        seen = collected.get("node_mask")
        if isinstance(seen, Tensor) and seen.dim() == 2 and seen.size(0) == pred.size(0):
            keep = seen.all(1) if keep is None else keep & seen.all(1)
        out = {"ADE": float(M.ade(pred, y, keep)), "FDE": float(M.fde(pred, y, keep))}
        samples = collected.get("samples")
        if samples is not None:
            samples = samples[..., :pred.size(1), :]                         # [K, N, H, 2]
            K = samples.size(0)
            ade, fde = M.best_of_k_ade_fde(samples, y, keep, per="pedestrian")
            out.update({f"minADE@{K}": float(ade), f"minFDE@{K}": float(fde)})
            if collected.get("batch") is not None:
                ade, fde = M.best_of_k_ade_fde(samples, y, keep, per="scene", batch=collected["batch"])
                out.update({f"minADE@{K} (scene)": float(ade), f"minFDE@{K} (scene)": float(fde)})
        return out

    @property
    def num_nodes_total(self) -> int:
        """Pedestrian-windows (nodes) over all windows of the split."""
        return int(self._ptr[-1])

    def __repr__(self) -> str:
        return (f"ETHUCY({len(self)}, test_scene={self.test_scene!r}, split={self.split!r}, "
                f"obs={self.obs}, horizon={self.horizon}, keep={self.keep!r}"
                + ("" if self.coords == "pedestrian" else f", coords={self.coords!r}") + ")")
