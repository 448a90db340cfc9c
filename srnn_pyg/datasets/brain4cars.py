r"""Brain4Cars driver-maneuver anticipation, as prepared for the S-RNN paper's
driving experiment: :class:`Brain4Cars`."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .. import metrics as M
from ..data import STData
from ..schema import STSchema
from .base import DataFormatError, STDataset, require_file, resolve_root
from .registry import register_dataset
from .safe_pickle import safe_load

__all__ = ["Brain4Cars", "read_file", "sequence_keys", "recordings", "distinct_sequences",
           "assign_folds", "cv_split"]

_SPLITS = ("train", "test")
_GRAPHS = ("srnn", "single")
_FOLDS = ("upstream", "cv")
NUM_FOLDS = 5
ACTIONS = ("end_action", "lchange", "rchange", "lturn", "rturn")
NUM_FEATURES = 13
INSIDE = slice(0, 9)      # driver-facing camera: head-motion features
OUTSIDE = slice(9, 13)    # road camera, GPS and maps: lane/intersection flags, speed


@register_dataset("brain4cars")
class Brain4Cars(STDataset):
    r"""Brain4Cars maneuver anticipation (`Jain et al., ICRA 2016
    <https://arxiv.org/abs/1601.00740>`_) in the form the S-RNN paper's third
    experiment uses it (`Jain et al., CVPR 2016 <https://arxiv.org/abs/1511.05298>`_):
    the feature files of the authors' ``RNNexp`` repository
    (``anticipatory-rnn/maneuver-anticipation``), five folds, each with a
    ``fold_<k>_train.pik`` and a ``fold_<k>_test.pik`` (Python 2 pickles, read
    with a restricted unpickler that admits only numpy arrays and plain data).

    Every sample is a sequence of ``T = 7`` steps of 0.8 s (20 video frames at
    25 fps) that ends when the maneuver starts, with 13 features per step and a
    label per step. Classes: ``0 = end_action`` (driving straight), ``1 =
    lchange``, ``2 = rchange``, ``3 = lturn``, ``4 = rturn`` (the files store
    them as 1..5, and 0 for padding, which this loader turns into masks).
    Training files hold 1888 to 1915 sequences, with the authors' data
    augmentation (subsequences of a sequence's steps, some steps dropped,
    padded at the start with zero steps labelled 0, and exact copies); test
    files hold the 99 whole sequences.

    Feature layout (13 columns): ``[0:9]`` inside the car, the driver's head
    motion from the face camera; ``[9:13]`` outside, read as three 0/1 flags
    (lane on the left, lane on the right, near an intersection) and the
    normalised speed. The split ``9 + 4`` is the one the authors' own fusion
    model uses (``road_features_dimension = 4``, the last columns; ``maneuver-rnn.py``,
    ``evaluateCheckpoint.py``); the meaning of the four outside columns follows
    the Brain4Cars paper and their values (three binary, one in [0, 1]).

    Graph (``graph="srnn"``, the S-RNN paper's driving ST-graph): two nodes per
    sample, ``"driver"`` (node 0) and ``"road"`` (node 1), joined by one
    undirected ``driver-road`` edge (stored both ways). Both nodes keep the
    13-column layout, each with the other's columns zeroed (``x[0, :, 9:] = 0``,
    ``x[1, :, :9] = 0``), so a column means the same for both node types.
    ``graph="single"``: one ``"driver"`` node with all 13 features, no edges.

    Labels: ``y`` ``[N, T]`` long, the per-step label (the same for both nodes),
    aligned with ``x`` (``y[:, t]`` is the label of step ``t``; the maneuver a
    model should anticipate from steps ``0..t``); ``y_mask`` ``[N, T]`` is true on
    the driver node's real steps only (the road node is not scored, and padding
    is never scored); ``node_mask`` ``[N, T]`` marks real (non-padding) steps.
    ``maneuver`` ``[1]`` long is the sequence label (its last step, as the
    authors' evaluation takes it; ``[B]`` in a batch). The features are used as
    stored (the authors do not normalise them): ``mean``/``std`` are :obj:`None`.

    Evaluate with :func:`srnn_pyg.metrics.anticipate` (the first step that
    predicts a maneuver, and the time left before it) and
    :func:`srnn_pyg.metrics.maneuver_scores` (precision and recall averaged over
    the four maneuvers, F1, time-to-maneuver), the authors' protocol.

    **Protocol** (registry name ``"brain4cars"``, a classification task;
    :meth:`open`, :meth:`score`): splits ``"train"`` and ``"test"`` of one
    ``fold`` (default 1) of one set of ``folds`` (:meth:`open` takes ``fold=``,
    ``folds=`` and, with ``folds="cv"``, ``seed=``; it rejects ``obs`` and
    ``horizon``: the sequences are fixed); batch size 64. :meth:`score`
    decides each sequence by the first driver step whose most likely class
    is a maneuver (:func:`~srnn_pyg.metrics.anticipate`) and reports
    ``precision``, ``recall`` and ``f1`` in percent and ``time_to_maneuver``
    in seconds (:func:`~srnn_pyg.metrics.maneuver_scores`).

    Two sets of folds. A *sequence* is its features ``[7, 13]`` and labels
    ``[7]``; two are the same when both are equal element for element
    (:func:`sequence_keys`). A *recording* groups the sequences that share a
    labelled step (an equal 13-feature row, :func:`recordings`): a whole
    sequence, its copies and the augmented subsequences drawn from it.

    * ``folds="upstream"`` (the constructor's default): the released
      ``fold_<k>_{train,test}.pik``. Their five test files are
      **byte-identical** (the same blob at all five fold paths of the authors'
      repository, although its ``readData.py`` reads a test folder per fold),
      so the five "folds" are five training sets scored on one 99-sequence test
      set, not a cross-validation. They also **leak**: test sequence #40
      appears whole in every training file (3, 3, 3, 2, 2 copies in folds 1-5)
      and augmented subsequences of it and of other test sequences' recordings
      are there too. The training split here drops every sequence of a test
      sequence's recording: 43, 47, 43, 46, 45 of the 1888, 1912, 1915, 1906,
      1897 sequences (1845, 1865, 1872, 1860, 1852 remain; :attr:`removed`).
    * ``folds="cv"``: a 5-fold cross-validation of our own over the release
      (:func:`cv_split`). All ten files are pooled and de-duplicated: 10013
      sequences read, 2495 distinct, of which 487 whole (unpadded; 130, 121,
      123, 58, 55 per class) and 2008 augmented, in 460 recordings (none
      mixes two maneuvers). Each recording goes to one fold, seeded by
      ``seed`` and stratified by maneuver on the whole sequences (per class,
      the folds' counts differ by at most 1), so every distinct sequence
      belongs to exactly one fold. The ``"test"`` split of fold ``k`` is its
      whole sequences (97 or 98; augmented subsequences are never scored, as
      in the release), and the ``"train"`` split every sequence of the other
      four folds (about 2000, each distinct sequence once): nothing of a test
      recording is trained on. This is the split to report; a figure from it
      is not the same protocol as the paper's (which used the released folds).

    Neither set of files has a validation part. :attr:`recording` (``[S]``,
    the recording id of each sequence) and :attr:`whole` (``[S]``, unpadded)
    let one be carved without a leak: :meth:`holdout` holds out whole
    recordings, stratified by maneuver, and validates on their whole sequences.

    Args:
    Args:
        root (str or PathLike, optional): the folder with the ``fold_*.pik``
            files (or the folder that holds ``brain4cars/``); by default
            ``$SRNN_PYG_DATA/brain4cars``. (default: :obj:`None`)
        fold (int, optional): the cross-validation fold, 1 to 5. (default: :obj:`1`)
        split (str, optional): ``"train"`` or ``"test"``. (default: :obj:`"train"`)
        graph (str, optional): ``"srnn"`` (driver and road nodes) or ``"single"``.
            (default: :obj:`"srnn"`)
        transform (callable, optional): applied to each sample. (default: :obj:`None`)
        folds (str, optional): ``"upstream"`` (the released files, leak
            removed) or ``"cv"`` (our seeded, stratified cross-validation of
            the distinct sequences). (default: :obj:`"upstream"`)
        seed (int, optional): the seed of the ``"cv"`` folds (ignored by
            ``"upstream"``). (default: :obj:`0`)

    Shapes:
        - **sample** :class:`~srnn_pyg.STData`: ``x`` ``[N, 7, 13]`` (``N = 2`` or
          ``1``), ``edge_index`` ``[2, 2]`` or ``[2, 0]``, ``y`` ``[N, 7]`` long,
          ``y_mask`` ``[N, 7]``, ``node_mask`` ``[N, 7]``, ``maneuver`` ``[1]`` long.
    """

    actions = ACTIONS
    inside_features = INSIDE
    outside_features = OUTSIDE
    step_seconds = 0.8
    splits = _SPLITS
    task = "classification"
    defaults = {"obs": None, "horizon": None, "fold": 1, "graph": "srnn", "folds": "upstream",
                "batch_size": 64}
    window_options: Dict[str, str] = {}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, fold: int = 1,
                 split: str = "train", graph: str = "srnn", transform: Optional[Callable] = None,
                 folds: str = "upstream", seed: int = 0):
        if split not in _SPLITS:
            raise ValueError(f"Brain4Cars: 'split' must be one of {_SPLITS} (got {split!r})")
        if graph not in _GRAPHS:
            raise ValueError(f"Brain4Cars: 'graph' must be one of {_GRAPHS} (got {graph!r})")
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not 1 <= fold <= 5:
            raise ValueError(f"Brain4Cars: 'fold' must be an integer from 1 to 5 (got {fold!r})")
        if folds not in _FOLDS:
            raise ValueError(f"Brain4Cars: 'folds' must be one of {_FOLDS} (got {folds!r})")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Brain4Cars: 'seed' must be an integer >= 0 (got {seed!r})")
        self.root = resolve_root(root, "brain4cars")
        self.fold, self.split, self.graph = int(fold), split, graph
        self.folds, self.seed = folds, int(seed)
        if folds == "upstream":
            feats, labels, self.removed = self._upstream()
        else:
            feats, labels = self._cv()
            self.removed = 0
        S, T, _ = feats.shape
        self.obs, self.horizon = T, 0

        valid = labels > 0                                              # padding is label 0
        cls = np.where(valid, labels - 1, 0)                            # 0 = end_action .. 4 = rturn
        last = cls[:, -1]

        x = torch.from_numpy(feats).float()                             # [S, T, 13]
        if graph == "srnn":
            driver, road = x.clone(), x.clone()
            driver[..., OUTSIDE] = 0.0
            road[..., INSIDE] = 0.0
            self._x = torch.stack([driver, road], dim=1)                # [S, 2, T, 13]
            self.schema = STSchema(["driver", "road"], [("driver", "road")])
            self._edge_index = torch.tensor([[0, 1], [1, 0]], dtype=torch.long)
            self._node_type = torch.tensor([0, 1], dtype=torch.long)
        else:
            self._x = x.unsqueeze(1)                                    # [S, 1, T, 13]
            self.schema = STSchema(["driver"], [])
            self._edge_index = torch.zeros(2, 0, dtype=torch.long)
            self._node_type = torch.zeros(1, dtype=torch.long)
        self._valid = torch.from_numpy(valid)                           # [S, T]
        self.recording = torch.from_numpy(recordings(feats, labels))    # [S], ids from 0
        self.whole = torch.from_numpy(valid.all(1))                     # [S], no padding
        self._labels = torch.from_numpy(cls).long()                     # [S, T]
        self.maneuvers = torch.from_numpy(last).long()                  # [S]
        self.mean = self.std = None
        self.index = [(s, 0) for s in range(S)]
        super().__init__(transform)

    def _file(self, fold: int, split: str) -> Path:
        return require_file(self.root / f"fold_{fold}_{split}.pik", f"Brain4Cars fold {fold}, {split} split")

    def _upstream(self) -> Tuple[np.ndarray, np.ndarray, int]:
        """The released files of :attr:`fold`; the training split without the
        sequences of a test sequence's recording (see the class notes)."""
        self.path = self._file(self.fold, self.split)
        feats, labels = read_file(self.path)
        if self.split == "test":
            return feats, labels, 0
        test_f, test_l = read_file(self._file(self.fold, "test"))
        n = len(feats)
        group = recordings(np.concatenate([feats, test_f]), np.concatenate([labels, test_l]))
        keep = ~np.isin(group[:n], group[n:])
        if not keep.any():
            raise DataFormatError(f"{self.path}: every one of its {n} sequences shares a step with a sequence of "
                                  f"{self._file(self.fold, 'test').name}, so removing the test recordings leaves "
                                  f"no training sequence (expected a training file; is it a copy of the test file?)")
        return feats[keep], labels[keep], int(n - keep.sum())

    def _cv(self) -> Tuple[np.ndarray, np.ndarray]:
        """The seeded cross-validation split :attr:`fold` (see the class notes)."""
        self.path = self.root
        feats, labels, fold_of = cv_split(self.root, self.seed)
        if self.split == "test":
            pick = (fold_of == self.fold) & (labels > 0).all(1)
        else:
            pick = fold_of != self.fold
        return feats[pick], labels[pick]

    # --------------------------------------------------------------- samples
    def get(self, idx: int) -> STData:
        s = self.index[idx][0]
        x = self._x[s]                                                  # [N, T, 13], a view
        N, T = x.size(0), x.size(1)
        valid = self._valid[s].expand(N, T)                             # [N, T]
        y_mask = valid.clone()
        y_mask[1:] = False                                              # only the driver is scored
        E = self._edge_index.size(1)
        data = STData(x=x, edge_index=self._edge_index, node_type=self._node_type,
                      edge_type=torch.zeros(E, dtype=torch.long),
                      y=self._labels[s].expand(N, T).clone(), y_mask=y_mask,
                      node_mask=valid.clone(), maneuver=self.maneuvers[s:s + 1].clone())
        data.schema = self.schema
        return data

    # -------------------------------------------------------------- protocol
    @classmethod
    def open_kwargs(cls, split: str, *, obs: Optional[int] = None, horizon: Optional[int] = None,
                    **options: Any) -> Dict[str, Any]:
        """:meth:`STDataset.open_kwargs`; ``obs`` and ``horizon`` do not apply,
        ``seed`` is passed on with ``folds="cv"`` only (the released folds take none)."""
        given = [k for k, v in (("obs", obs), ("horizon", horizon)) if v is not None]
        if given:
            raise ValueError(f"{cls.name}: option {given[0]!r} does not apply (sequences of 7 steps, "
                             f"one label per step)")
        seed = options.pop("seed", None)
        seed = 0 if seed is None else seed
        kw = super().open_kwargs(split, **options)
        if kw.get("folds", "upstream") == "cv":          # the seed draws the cross-validation folds
            kw["seed"] = seed
        return kw

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """``precision``, ``recall``, ``f1`` (percent, averaged over the four
        maneuvers) and ``time_to_maneuver`` (seconds) of the driver nodes'
        decisions: the first step whose arg-max class is a maneuver decides."""
        logits = collected["pred"]                                           # [N, T, C]
        labels = logits.argmax(-1)                                           # [N, T]
        # The driver nodes: node type 0 (the first node of every sequence), else the
        # nodes with a target, else every node (one node per sequence).
        node_type, y_mask = collected.get("node_type"), collected.get("y_mask")
        if node_type is not None:
            driver = node_type.view(-1) == 0
        elif y_mask is not None:
            driver = y_mask.any(1)
        else:
            driver = torch.ones(labels.size(0), dtype=torch.bool)
        if "maneuver" in collected and int(driver.sum()) != collected["maneuver"].numel():
            raise ValueError(f"Brain4Cars.score: 'collected' must hold one driver node per sequence "
                             f"({collected['maneuver'].numel()} maneuvers; got {int(driver.sum())} driver nodes "
                             f"among {labels.size(0)})")
        node_mask = collected.get("node_mask")
        pred, when = M.anticipate(labels[driver], mask=None if node_mask is None else node_mask[driver],
                                  step_seconds=self.step_seconds)
        target = collected["maneuver"] if "maneuver" in collected else collected["y"][driver][:, -1]
        s = M.maneuver_scores(pred, target, num_classes=logits.size(-1), time=when)
        return {"precision": 100 * s["precision"], "recall": 100 * s["recall"], "f1": 100 * s["f1"],
                "time_to_maneuver": float(s.get("time_to_maneuver", float("nan")))}

    def holdout(self, share: float = 0.15, seed: int = 0) -> Tuple[List[int], List[int]]:
        """Carve a validation part out of this split by whole recordings.

        A random share of the sequences would not do: a whole sequence, its
        copies and its augmented subsequences are one recording (see the class
        notes), so almost every held-out sequence would have a sibling among the
        kept ones (289 of 300 on the first ``"cv"`` fold's training split). Per
        maneuver, the recordings are shuffled (``numpy.random.default_rng(seed)``)
        and ``round(share * count)`` of them are held out, at least one and at
        most all but one (a maneuver with one recording stays in the kept
        part). The validation part is the held-out
        recordings' whole sequences, like the ``"test"`` split; their augmented
        subsequences are dropped; the kept part is every sequence of the other
        recordings. On a view (``dataset[idx]``) the positions refer to the view.

        Args:
            share (float, optional): the share of each maneuver's recordings to
                hold out, in ``(0, 1)``. (default: :obj:`0.15`)
            seed (int, optional): the seed of the draw. (default: :obj:`0`)

        Returns:
            ``(keep, val)``: sorted positions in this dataset, disjoint by recording.

        Raises:
            ValueError: for a ``share`` outside ``(0, 1)``, a negative or
                non-integer ``seed``, an empty dataset, or held-out recordings
                without a whole sequence (an empty validation part).
        """
        if isinstance(share, bool) or not isinstance(share, (int, float, np.integer, np.floating)) \
                or not 0.0 < float(share) < 1.0:
            raise ValueError(f"Brain4Cars.holdout: 'share' must be a number in (0, 1) (got {share!r})")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
            raise ValueError(f"Brain4Cars.holdout: 'seed' must be an integer >= 0 (got {seed!r})")
        if len(self) == 0:
            raise ValueError("Brain4Cars.holdout: the dataset is empty (got a split or view of 0 sequences)")
        pos = torch.as_tensor(self.indices(), dtype=torch.long)
        rec = self.recording[pos].numpy()
        cls = self.maneuvers[pos].numpy()
        rng = np.random.default_rng(int(seed))
        held: List[int] = []
        for c in np.unique(cls):
            members = np.unique(rec[cls == c])
            members = members[rng.permutation(len(members))]
            k = min(max(int(round(float(share) * len(members))), 1), len(members) - 1)   # keep one at least
            held.extend(members[:k].tolist())
        out = np.isin(rec, held)
        whole = self.whole[pos].numpy()
        if not (out & whole).any():
            raise ValueError(f"Brain4Cars.holdout: the held-out recordings have no whole sequence (share={share!r}, "
                             f"{len(self)} sequences in {len(np.unique(rec))} recordings); hold out more")
        return np.flatnonzero(~out).tolist(), np.flatnonzero(out & whole).tolist()

    @property
    def num_classes(self) -> int:
        return len(ACTIONS)

    def class_counts(self) -> Tensor:
        """How many sequences end in each class, ``[5]`` in :attr:`actions` order."""
        return torch.bincount(self.maneuvers, minlength=len(ACTIONS))

    def __repr__(self) -> str:
        cv = f", folds='cv', seed={self.seed}" if self.folds == "cv" else ""
        return (f"Brain4Cars({len(self)}, fold={self.fold}, split={self.split!r}, "
                f"graph={self.graph!r}{cv})")


def _shape(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return str(list(v.shape))
    if isinstance(v, (list, tuple)):
        return f"{type(v).__name__} of {len(v)}"
    return type(v).__name__


def _numeric(path: Path, what: str, value: Any) -> np.ndarray:
    """``value`` as a numeric (bool, integer or float) array, else a
    :class:`DataFormatError` naming the file, ``what`` and what was found."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:            # ragged nested lists
        raise DataFormatError(f"{path}: {what} must be a numeric array (got {_shape(value)} that is not "
                              f"rectangular: {exc})") from None
    if arr.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}: {what} must be numbers (got an array of dtype {arr.dtype}"
                              f"{', ragged or mixed' if arr.dtype.kind == 'O' else ''})")
    return arr


def read_file(path: Path) -> Tuple[np.ndarray, np.ndarray]:
    """One ``fold_*.pik`` file, read with the restricted unpickler and checked:
    features ``[S, T, 13]`` float32 and labels ``[S, T]`` int64 (0 = padding
    at the start, 1..5 = :data:`ACTIONS`)."""
    obj = safe_load(path)
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: expected a pickled dict with 'features' and 'labels' "
                              f"(got {type(obj).__name__})")
    for key in ("features", "labels"):
        if key not in obj:
            raise DataFormatError(f"{path}: missing key {key!r} (found {sorted(map(str, obj))})")
    actions = obj.get("actions")
    if actions is not None and (not isinstance(actions, (list, tuple))
                                or tuple(str(a) for a in actions) != ACTIONS):
        raise DataFormatError(f"{path}: 'actions' must be the list {list(ACTIONS)} (got {actions!r:.200})")
    X, Y = obj["features"], obj["labels"]
    if isinstance(X, np.ndarray):  # train: features [T, S, 13], labels [T, S]
        _numeric(path, "features", X)
        if X.ndim != 3 or X.shape[2] != NUM_FEATURES:
            raise DataFormatError(f"{path}: 'features' must be [T, num_sequences, {NUM_FEATURES}] "
                                  f"(got {list(X.shape)})")
        if not isinstance(Y, np.ndarray) or Y.shape != X.shape[:2]:
            raise DataFormatError(f"{path}: 'labels' must be [T, num_sequences] = "
                                  f"{list(X.shape[:2])} (got {_shape(Y)})")
        feats, labels = X.transpose(1, 0, 2), Y.T                   # [S, T, 13], [S, T]
    elif isinstance(X, (list, tuple)):  # test: lists of [T, 1, 13] and [T, 1]
        if not isinstance(Y, (list, tuple)) or len(Y) != len(X):
            raise DataFormatError(f"{path}: 'labels' must be a list as long as 'features' "
                                  f"({len(X)}; got {_shape(Y)})")
        if not X:
            raise DataFormatError(f"{path}: 'features' is empty")
        T = np.asarray(X[0]).shape[0] if np.ndim(X[0]) >= 1 else 0
        f_rows: List[np.ndarray] = []
        l_rows: List[np.ndarray] = []
        for s, (xs, ys) in enumerate(zip(X, Y)):
            xs = _numeric(path, f"features of sequence {s}", xs)
            ys = _numeric(path, f"labels of sequence {s}", ys)
            if xs.shape != (T, 1, NUM_FEATURES) or ys.shape != (T, 1):
                raise DataFormatError(f"{path}: sequence {s} must have features [{T}, 1, "
                                      f"{NUM_FEATURES}] and labels [{T}, 1] (got "
                                      f"{list(xs.shape)} and {list(ys.shape)})")
            f_rows.append(xs[:, 0])
            l_rows.append(ys[:, 0])
        feats, labels = np.stack(f_rows), np.stack(l_rows)
    else:
        raise DataFormatError(f"{path}: 'features' must be an array or a list of arrays "
                              f"(got {type(X).__name__})")
    if feats.shape[0] < 1:
        raise DataFormatError(f"{path}: 'features' holds no sequence (got shape {list(feats.shape)})")
    if feats.shape[1] < 1:
        raise DataFormatError(f"{path}: the sequences are empty (T=0)")
    if not np.issubdtype(np.asarray(labels).dtype, np.integer):
        raise DataFormatError(f"{path}: 'labels' must be integers (got {np.asarray(labels).dtype})")
    with np.errstate(over="ignore", invalid="ignore"):                   # 1e39 becomes inf here
        feats = np.asarray(feats, dtype=np.float32)
    if not np.isfinite(feats).all():
        s, t, f = (int(i[0]) for i in np.nonzero(~np.isfinite(feats)))
        raise DataFormatError(f"{path}: sequence {s}, step {t}, feature {f} is not finite as float32 "
                              f"({feats[s, t, f]}; NaN, infinite or beyond +-3.4e38)")
    labels = np.asarray(labels, dtype=np.int64)
    if labels.min() < 0 or labels.max() > len(ACTIONS):
        raise DataFormatError(f"{path}: labels must lie in 0..{len(ACTIONS)} (0 = padding, "
                              f"1..{len(ACTIONS)} = {list(ACTIONS)}; got [{labels.min()}, "
                              f"{labels.max()}])")
    valid = labels > 0
    if not valid.any(1).all():
        s = int(np.flatnonzero(~valid.any(1))[0])
        raise DataFormatError(f"{path}: sequence {s} has no labelled step (all labels 0)")
    if not valid[:, -1].all():
        s = int(np.flatnonzero(~valid[:, -1])[0])
        raise DataFormatError(f"{path}: sequence {s} ends with a padding step (label 0); "
                              f"padding is expected at the start only")
    return np.ascontiguousarray(feats), np.ascontiguousarray(labels)


# ----------------------------------------------------------- sequences, folds
def sequence_keys(feats: np.ndarray, labels: np.ndarray) -> List[bytes]:
    """One key per sequence: two sequences are the same sequence when their
    float32 features ``[T, 13]`` and int64 labels ``[T]`` are equal element for
    element (padding included)."""
    f = np.ascontiguousarray(feats, dtype=np.float32)
    y = np.ascontiguousarray(labels, dtype=np.int64)
    return [a.tobytes() + b.tobytes() for a, b in zip(f, y)]


def recordings(feats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[S]`` int64: a recording id per sequence, the connected components of
    "shares a labelled step": sequences with one equal 13-feature row among
    their labelled (non-padding) steps belong to one recording. The authors'
    augmentation draws subsequences of a whole sequence's steps, so a copy, an
    augmented subsequence and the whole sequence fall into one recording; ids
    count from 0 in order of first appearance."""
    S = len(feats)
    parent = np.arange(S)

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return int(a)

    first: Dict[bytes, int] = {}
    rows = np.ascontiguousarray(feats, dtype=np.float32)
    for s, t in zip(*np.nonzero(labels > 0)):
        key = rows[s, t].tobytes()
        if key in first:
            a, b = find(int(s)), find(first[key])
            parent[max(a, b)] = min(a, b)
        else:
            first[key] = int(s)
    roots = np.array([find(s) for s in range(S)], dtype=np.int64)
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


@functools.lru_cache(maxsize=4)
def _pooled(root: str, stamp: Tuple) -> Tuple[np.ndarray, np.ndarray, int]:
    feats: List[np.ndarray] = []
    labels: List[np.ndarray] = []
    for k in range(1, NUM_FOLDS + 1):
        for split in _SPLITS:
            f, y = read_file(Path(root) / f"fold_{k}_{split}.pik")
            feats.append(f)
            labels.append(y)
    F, Y = np.concatenate(feats), np.concatenate(labels)
    keys = sequence_keys(F, Y)
    first = sorted({k: i for i, k in reversed(list(enumerate(keys)))}.values())
    return F[first], Y[first], len(keys)


def distinct_sequences(root: Union[str, os.PathLike]) -> Tuple[np.ndarray, np.ndarray, int]:
    """Every distinct sequence (:func:`sequence_keys`) of the ten files under
    ``root``, in order of first appearance (fold 1 train, fold 1 test, fold 2
    train, ...): features ``[D, T, 13]``, labels ``[D, T]`` and the number of
    sequences read before de-duplication."""
    paths = [require_file(Path(root) / f"fold_{k}_{s}.pik", f"Brain4Cars fold {k}, {s} split "
                          f"(folds='cv' pools all five folds)")
             for k in range(1, NUM_FOLDS + 1) for s in _SPLITS]
    stats = [p.stat() for p in paths]           # a changed or replaced file changes its stamp
    stamp = tuple((p.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) for p, st in zip(paths, stats))
    F, Y, n = _pooled(str(Path(root).resolve()), stamp)
    return F.copy(), Y.copy(), n


def assign_folds(groups: np.ndarray, classes: np.ndarray, whole: np.ndarray, seed: int = 0,
                 k: int = NUM_FOLDS) -> np.ndarray:
    """``[S]`` fold (1..k) per sequence: whole recordings (``groups``) go to one
    fold, stratified by class. Per class, the recordings are shuffled
    (``numpy.random.default_rng(seed)``), ordered by their number of whole
    sequences (most first, stable) and each given to the fold with the fewest
    whole sequences of that class, ties to the fold with the fewest whole
    sequences overall, then with the fewest recordings, then the lowest index.
    Per class the folds' counts then differ by at most 1 wherever the class has
    enough one-sequence recordings to even out the larger ones (as in the release)."""
    G = int(groups.max()) + 1 if len(groups) else 0
    g_class = np.zeros(G, dtype=np.int64)
    g_class[groups] = classes                       # one class per recording (checked by the caller)
    g_whole = np.bincount(groups, weights=whole.astype(np.float64), minlength=G).astype(np.int64)
    rng = np.random.default_rng(seed)
    per_class = np.zeros((int(g_class.max()) + 1 if G else 1, k), dtype=np.int64)
    total, count = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64)
    g_fold = np.zeros(G, dtype=np.int64)
    for c in np.unique(g_class):
        members = np.flatnonzero(g_class == c)
        members = members[rng.permutation(len(members))]
        members = members[np.argsort(-g_whole[members], kind="stable")]
        for g in members:
            f = min(range(k), key=lambda j: (per_class[c, j], total[j], count[j], j))
            g_fold[g] = f + 1
            per_class[c, f] += g_whole[g]
            total[f] += g_whole[g]
            count[f] += 1
    return g_fold[groups]


def cv_split(root: Union[str, os.PathLike], seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``folds="cv"`` split: the distinct sequences (:func:`distinct_sequences`),
    features ``[D, T, 13]``, labels ``[D, T]``, and the fold (1..5) of each,
    from :func:`assign_folds` over :func:`recordings`, stratified by the
    maneuver (the last step's label) and counting whole (unpadded) sequences.

    Raises:
        DataFormatError: if one recording holds sequences of two maneuvers.
    """
    feats, labels, _ = distinct_sequences(root)
    groups = recordings(feats, labels)
    classes = labels[:, -1] - 1
    G = int(groups.max()) + 1
    lo = np.full(G, len(ACTIONS))
    hi = np.full(G, -1)
    np.minimum.at(lo, groups, classes)
    np.maximum.at(hi, groups, classes)
    if (lo != hi).any():
        g = int(np.flatnonzero(lo != hi)[0])
        raise DataFormatError(f"{root}: sequences that share a step end in different maneuvers "
                              f"({ACTIONS[lo[g]]} and {ACTIONS[hi[g]]}); cannot keep them in one fold")
    return feats, labels, assign_folds(groups, classes, (labels > 0).all(1), seed)
