r"""Brain4Cars driver-maneuver anticipation, as prepared for the S-RNN paper's
driving experiment: :class:`Brain4Cars`."""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

import numpy as np
import torch
from torch import Tensor

from .. import metrics as M
from ..data import STData
from ..schema import STSchema
from .base import DataFormatError, STDataset, require_file, resolve_root
from .registry import register_dataset
from .safe_pickle import safe_load

__all__ = ["Brain4Cars"]

_SPLITS = ("train", "test")
_GRAPHS = ("srnn", "single")
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
    augmentation (shorter prefixes of sequences, padded at the start with zero
    steps labelled 0); test files hold the 99 whole sequences.

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
    ``fold`` (default 1; :meth:`open` takes ``fold=``, and rejects ``obs`` and
    ``horizon``: the sequences are fixed); batch size 64. :meth:`score`
    decides each sequence by the first driver step whose most likely class
    is a maneuver (:func:`~srnn_pyg.metrics.anticipate`) and reports
    ``precision``, ``recall`` and ``f1`` in percent and ``time_to_maneuver``
    in seconds (:func:`~srnn_pyg.metrics.maneuver_scores`).

    .. note::
        In the copy of the files we checked, the five ``fold_<k>_test.pik``
        files are byte-identical (one 99-sequence test set); the training files
        differ per fold.

    Args:
        root (str or PathLike, optional): the folder with the ``fold_*.pik``
            files (or the folder that holds ``brain4cars/``); by default
            ``$SRNN_PYG_DATA/brain4cars``. (default: :obj:`None`)
        fold (int, optional): the cross-validation fold, 1 to 5. (default: :obj:`1`)
        split (str, optional): ``"train"`` or ``"test"``. (default: :obj:`"train"`)
        graph (str, optional): ``"srnn"`` (driver and road nodes) or ``"single"``.
            (default: :obj:`"srnn"`)
        transform (callable, optional): applied to each sample. (default: :obj:`None`)

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
    defaults = {"obs": None, "horizon": None, "fold": 1, "graph": "srnn", "batch_size": 64}
    window_options: Dict[str, str] = {}

    def __init__(self, root: Optional[Union[str, os.PathLike]] = None, fold: int = 1,
                 split: str = "train", graph: str = "srnn", transform: Optional[Callable] = None):
        if split not in _SPLITS:
            raise ValueError(f"Brain4Cars: 'split' must be one of {_SPLITS} (got {split!r})")
        if graph not in _GRAPHS:
            raise ValueError(f"Brain4Cars: 'graph' must be one of {_GRAPHS} (got {graph!r})")
        if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not 1 <= fold <= 5:
            raise ValueError(f"Brain4Cars: 'fold' must be an integer from 1 to 5 (got {fold!r})")
        self.root = resolve_root(root, "brain4cars")
        self.fold, self.split, self.graph = int(fold), split, graph
        self.path = require_file(self.root / f"fold_{self.fold}_{split}.pik",
                                 f"Brain4Cars fold {self.fold}, {split} split")
        feats, labels = self._read(safe_load(self.path))               # [S, T, 13], [S, T]
        S, T, _ = feats.shape
        self.obs, self.horizon = T, 0

        valid = labels > 0                                              # padding is label 0
        if not valid.any(1).all():
            s = int(np.flatnonzero(~valid.any(1))[0])
            raise DataFormatError(f"{self.path}: sequence {s} has no labelled step (all labels 0)")
        cls = np.where(valid, labels - 1, 0)                            # 0 = end_action .. 4 = rturn
        last = cls[:, -1]
        if not valid[:, -1].all():
            s = int(np.flatnonzero(~valid[:, -1])[0])
            raise DataFormatError(f"{self.path}: sequence {s} ends with a padding step (label 0); "
                                  f"padding is expected at the start only")

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
        self._labels = torch.from_numpy(cls).long()                     # [S, T]
        self.maneuvers = torch.from_numpy(last).long()                  # [S]
        self.mean = self.std = None
        self.index = [(s, 0) for s in range(S)]
        super().__init__(transform)

    def _read(self, obj: Any):
        path = self.path
        if not isinstance(obj, dict):
            raise DataFormatError(f"{path}: expected a pickled dict with 'features' and 'labels' "
                                  f"(got {type(obj).__name__})")
        for key in ("features", "labels"):
            if key not in obj:
                raise DataFormatError(f"{path}: missing key {key!r} (found {sorted(map(str, obj))})")
        actions = obj.get("actions")
        if actions is not None and tuple(str(a) for a in actions) != ACTIONS:
            raise DataFormatError(f"{path}: 'actions' must be {list(ACTIONS)} (got {list(actions)})")
        X, Y = obj["features"], obj["labels"]
        if isinstance(X, np.ndarray):  # train: features [T, S, 13], labels [T, S]
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
                xs, ys = np.asarray(xs), np.asarray(ys)
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
        if feats.shape[1] < 1:
            raise DataFormatError(f"{path}: the sequences are empty (T=0)")
        if not np.issubdtype(np.asarray(labels).dtype, np.integer):
            raise DataFormatError(f"{path}: 'labels' must be integers (got {np.asarray(labels).dtype})")
        feats = np.asarray(feats, dtype=np.float32)
        if not np.isfinite(feats).all():
            s, t, f = (int(i[0]) for i in np.nonzero(~np.isfinite(feats)))
            raise DataFormatError(f"{path}: sequence {s}, step {t}, feature {f} is not finite "
                                  f"({feats[s, t, f]})")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.min() < 0 or labels.max() > len(ACTIONS):
            raise DataFormatError(f"{path}: labels must lie in 0..{len(ACTIONS)} (0 = padding, "
                                  f"1..{len(ACTIONS)} = {list(ACTIONS)}; got [{labels.min()}, "
                                  f"{labels.max()}])")
        return np.ascontiguousarray(feats), np.ascontiguousarray(labels)

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
        """:meth:`STDataset.open_kwargs`; ``obs`` and ``horizon`` do not apply."""
        given = [k for k, v in (("obs", obs), ("horizon", horizon)) if v is not None]
        if given:
            raise ValueError(f"{cls.name}: option {given[0]!r} does not apply (sequences of 7 steps, "
                             f"one label per step)")
        return super().open_kwargs(split, **options)

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """``precision``, ``recall``, ``f1`` (percent, averaged over the four
        maneuvers) and ``time_to_maneuver`` (seconds) of the driver nodes'
        decisions: the first step whose arg-max class is a maneuver decides."""
        logits = collected["pred"]                                           # [N, T, C]
        labels = logits.argmax(-1)                                           # [N, T]
        y_mask = collected.get("y_mask")
        driver = y_mask.any(1) if y_mask is not None else torch.ones(labels.size(0), dtype=torch.bool)
        node_mask = collected.get("node_mask")
        pred, when = M.anticipate(labels[driver], mask=None if node_mask is None else node_mask[driver],
                                  step_seconds=self.step_seconds)
        target = collected["maneuver"] if "maneuver" in collected else collected["y"][driver][:, -1]
        s = M.maneuver_scores(pred, target, num_classes=logits.size(-1), time=when)
        return {"precision": 100 * s["precision"], "recall": 100 * s["recall"], "f1": 100 * s["f1"],
                "time_to_maneuver": float(s.get("time_to_maneuver", float("nan")))}

    @property
    def num_classes(self) -> int:
        return len(ACTIONS)

    def class_counts(self) -> Tensor:
        """How many sequences end in each class, ``[5]`` in :attr:`actions` order."""
        return torch.bincount(self.maneuvers, minlength=len(ACTIONS))

    def __repr__(self) -> str:
        return (f"Brain4Cars({len(self)}, fold={self.fold}, split={self.split!r}, "
                f"graph={self.graph!r})")


def _shape(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return str(list(v.shape))
    if isinstance(v, (list, tuple)):
        return f"{type(v).__name__} of {len(v)}"
    return type(v).__name__
