r"""Human3.6M exponential maps for motion forecasting, in the protocol of the
S-RNN paper and Martinez et al. (2017): :class:`H36M`."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from torch import Tensor

from ..data import STData
from .base import ENV_VAR, DataFormatError, resolve_root
from .motion import MotionDataset, Skeleton, check_motion_features, check_motion_options, read_motion_file
from .registry import register_dataset

__all__ = ["H36M"]

# The 32-joint Human3.6M skeleton of the S-RNN and Martinez et al. code: joint
# j's exponential map sits in columns 3 + 3j .. 5 + 3j, after the global
# translation. Joint 0 is the hips; 1-5 and 6-10 the right and left leg
# chains; 11-15 spine, thorax, neck, head, end site; 16-23 and 24-31 the left
# and right arm chains (shoulder to hand, with thumb and finger end sites).
H36M_SKELETON = Skeleton(
    name="H36M",
    parents=(-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14,
             12, 16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30),
    joint_types=("root",) + ("leg",) * 10 + ("torso",) * 5 + ("arm",) * 16,
    # The S-RNN paper's partition (its code's nodeFeaturesRanges): columns
    # 0-5 and 36-50 torso, 51-74 left arm, 75-98 right arm, 21-35 left leg,
    # 6-20 right leg.
    parts=(
        ("torso", "torso", (0, 1, 12, 13, 14, 15, 16)),     # 21 values, padded to 24
        ("left_arm", "arm", tuple(range(17, 25))),          # 24 values
        ("right_arm", "arm", tuple(range(25, 33))),         # 24 values
        ("left_leg", "leg", tuple(range(7, 12))),           # 15 values, padded to 24
        ("right_leg", "leg", tuple(range(2, 7))),           # 15 values, padded to 24
    ),
)

_FILE = re.compile(r"^(?P<action>.+)_(?P<sub>[12])\.txt$")
_SUBDIRS = ("h3.6m/dataset", "h36m")


def _resolve_h36m_root(root: Optional[Union[str, os.PathLike]]) -> Path:
    """The folder holding ``S1/ ... S11/``: ``root`` itself, or its
    ``h3.6m/dataset`` or ``h36m`` subfolder; without ``root``, one of those
    under ``$SRNN_PYG_DATA``."""
    if root is None:
        base = os.environ.get(ENV_VAR)
        if base:
            for sub in _SUBDIRS:
                if (Path(base) / sub).is_dir():
                    return Path(base) / sub
        return resolve_root(None, _SUBDIRS[0])   # raises, naming what is missing
    for sub in _SUBDIRS:
        if (Path(root) / sub).is_dir():
            return Path(root) / sub
    return resolve_root(root, _SUBDIRS[0])


@register_dataset("h36m")
class H36M(MotionDataset):
    r"""Human3.6M (`Ionescu et al., TPAMI 2014 <http://vision.imar.ro/human3.6m>`_)
    exponential-map poses in the motion-forecasting protocol of the S-RNN paper
    (`Jain et al., CVPR 2016 <https://arxiv.org/abs/1511.05298>`_) and
    `Martinez et al. (CVPR 2017) <https://arxiv.org/abs/1705.02445>`_.

    Human3.6M may not be redistributed: this loader reads a user's own copy of
    the text files that the S-RNN and Martinez et al. code use,
    ``S<s>/<action>_<1|2>.txt`` for subjects 1, 5, 6, 7, 8, 9, 11 (one frame
    per line at 50 Hz, 99 comma-separated values: the global translation,
    then the exponential maps of 32 joints, see ``H36M_SKELETON``). ``root``
    is the folder that holds ``S1/`` etc., or a parent of it through
    ``h3.6m/dataset`` (the layout of the Martinez et al. download) or
    ``h36m``; without ``root``, ``$SRNN_PYG_DATA/h3.6m/dataset`` or
    ``$SRNN_PYG_DATA/h36m``, whichever exists.

    Protocol (the code of both papers):

    * subjects 1, 6, 7, 8, 9, 11 train, subject 5 tests; both subactions;
    * validation (the protocol has none; only with ``val_subjects``): training
      subjects held out as the ``"val"`` split (e.g. ``val_subjects=(11,)``),
      with sliding windows like the training ones; the ``"train"`` split and
      the normalisation statistics of every split leave them out;
    * every second frame is kept (frames 0, 2, 4, ...): :obj:`fps` = 25;
    * ``obs`` = 50 observed frames, ``horizon`` predicted frames (25 = 1000 ms);
    * training windows: every start, ``stride`` frames apart (Martinez et al.
      draw training windows at random instead);
    * test windows: for each action a fresh
      ``numpy.random.RandomState(1234567890)`` draws ``num_seeded`` (8) starts,
      alternately in subaction 1 and 2, ``s = randint(16, T - 150)`` of the
      subaction's ``T`` downsampled frames; the prediction begins at frame
      ``s + 50`` and the observation is the ``obs`` frames before it;
    * normalisation: per-dimension mean and (population) standard deviation of
      the full-rate training frames of every training action; a dimension
      whose std is below ``1e-4`` is constant: std 1, ``dim_used`` false;
    * error: :func:`~srnn_pyg.metrics.euler_angle_error` at 80, 160, 320,
      400, 560 and 1000 ms (frames 1, 3, 7, 9, 13, 24), global translation
      and rotation left out.

    Registry name ``"h36m"`` (:meth:`open`, :meth:`score`): splits
    ``"train"``, ``"test"`` and, with ``val_subjects``, ``"val"`` (on the
    command line ``--dataset-arg val_subjects=[11]``); defaults ``obs = 50``, ``horizon = 25``,
    ``graph = "body_parts"``, batch size 16; ``open("test", train=train)``
    reuses the training statistics (:meth:`stats`). :meth:`score` reports the
    Euler-angle error at the six times above, columns ``80ms`` ...
    ``1000ms`` (those within the horizon); it takes the evaluated dimensions
    from the true frames (the :func:`~srnn_pyg.metrics.euler_angle_error`
    default), not from the observed and true frames as
    ``examples/forecast_motion.py`` does per action.

    Graphs (``graph=``):

    * ``"body_parts"``: the S-RNN paper's graph for Human3.6M, 5 nodes (torso,
      left arm, right arm, left leg, right leg) of node types ``torso``,
      ``arm``, ``leg``; edge types torso-arm, torso-leg, arm-arm, leg-leg. The
      nodes hold the paper's column ranges: torso 21 values (translation,
      hips, spine to head), arms 24, legs 15; torso and legs are zero-padded
      to 24 (see ``feature_mask``).
    * ``"joints"``: one node per triple (33 nodes, 3 features): node 0 the
      global translation, node ``j + 1`` joint ``j``; edges along the kinematic
      tree; node types ``root`` (translation and hips), ``torso``, ``arm``,
      ``leg``; edge types root-root, root-torso, root-leg, torso-torso,
      torso-arm, arm-arm, leg-leg.

    Args:
        root (str, optional): the data folder. (default: :obj:`None`: from
            ``$SRNN_PYG_DATA``)
        split (str, optional): ``"train"``, ``"test"`` or (with
            ``val_subjects``) ``"val"``. (default: :obj:`"train"`)
        actions (list[str], optional): actions to load. (default: :obj:`None`:
            every action with files in the split's subjects)
        graph (str, optional): ``"body_parts"`` or ``"joints"``.
            (default: :obj:`"body_parts"`)
        obs (int, optional): observed frames per window. (default: :obj:`50`)
        horizon (int, optional): predicted frames per window. (default: :obj:`25`)
        stride (int, optional): frames between sliding windows. (default: :obj:`1`)
        windows (str, optional): ``"sliding"`` or ``"seeded"``. (default:
            :obj:`None`: sliding for ``"train"`` and ``"val"``, seeded for
            ``"test"``)
        subjects (list[int], optional): the split's subjects. (default:
            :obj:`None`: 1, 6, 7, 8, 9, 11 for ``"train"`` less
            ``val_subjects``, ``val_subjects`` for ``"val"``, 5 for ``"test"``)
        num_seeded (int, optional): seeded windows per action and subject.
            (default: :obj:`8`)
        stats (dict, optional): normalisation statistics of another split
            (:meth:`stats`), instead of reading the training files.
            (default: :obj:`None`)
        transform (callable, optional): applied to every window. (default: :obj:`None`)
        features (str, optional): ``"pos"`` (``x`` the normalised poses) or
            ``"pos_vel"`` (and their per-frame change times
            :attr:`velocity_scale`, ``x`` ``[N, obs, 2 F]``; see
            :class:`~srnn_pyg.datasets.motion.MotionDataset`). (default: :obj:`"pos"`)
        loss_weight (str, optional): :obj:`None`, or ``"std"``: every window
            carries ``y_weight`` ``[N, F]``, each pose feature's training
            standard deviation over their mean (1 for the global and constant
            dimensions and the padding), which the training losses weigh the
            targets by; ``"var"``: the variance over its mean, the squared
            error in the data's units (see
            :class:`~srnn_pyg.datasets.motion.MotionDataset`). (default: :obj:`None`)
        val_subjects (list[int], optional): training subjects held out as the
            ``"val"`` split, left out of ``"train"`` and of the normalisation
            statistics; at least one training subject must remain.
            :meth:`open` with ``train=`` takes the training split's;
            ``stats`` that left out other subjects are refused (:meth:`stats`
            records them). (default: :obj:`None`: no validation split, every
            training subject in ``"train"``, as the protocol)

    Shapes:
        - **window:** :class:`~srnn_pyg.STData` with ``x`` ``[N, obs, F]``
          (``[N, obs, 2 F]`` with ``features="pos_vel"``),
          ``y`` ``[N, horizon, F]`` (normalised), ``edge_index`` ``[2, E]``,
          ``node_type`` ``[N]``, ``edge_type`` ``[E]``; ``N, F, E`` = 5, 24, 12
          (``"body_parts"``) or 33, 3, 64 (``"joints"``); with ``loss_weight``
          also ``y_weight`` ``[N, F]``.
        - :meth:`to_pose`: ``[B * N, T, F]`` to ``[B, T, 99]``.
    """

    #: The 15 actions of the protocol.
    ACTIONS = ("walking", "eating", "smoking", "discussion", "directions", "greeting", "phoning",
               "posing", "purchases", "sitting", "sittingdown", "takingphoto", "waiting",
               "walkingdog", "walkingtogether")
    TRAIN_SUBJECTS = (1, 6, 7, 8, 9, 11)
    TEST_SUBJECTS = (5,)
    splits = ("train", "val", "test")
    holdout_option = "val_subjects"
    SEED = 1234567890
    NUM_COLUMNS = 99
    skeleton = H36M_SKELETON
    defaults = {"obs": 50, "horizon": 25, "graph": "body_parts", "batch_size": 16}

    def __init__(
        self,
        root: Optional[Union[str, os.PathLike]] = None,
        split: str = "train",
        actions: Optional[Sequence[str]] = None,
        graph: str = "body_parts",
        obs: int = 50,
        horizon: int = 25,
        stride: int = 1,
        windows: Optional[str] = None,
        subjects: Optional[Sequence[int]] = None,
        num_seeded: int = 8,
        stats: Optional[Dict[str, Tensor]] = None,
        transform: Optional[Callable[[STData], STData]] = None,
        features: str = "pos",
        loss_weight: Optional[str] = None,
        val_subjects: Optional[Sequence[int]] = None,
    ):
        name = type(self).__name__
        self.windows = check_motion_options(name, split, graph, obs, horizon, stride, windows,
                                            splits=self.splits)
        held = self._check_val_subjects(val_subjects)
        if split == "val" and not held:
            raise ValueError(f"{name}: split='val' needs val_subjects, the training subjects to hold out "
                             f"(e.g. [11]; got {val_subjects!r})")
        train_subjects = tuple(s for s in self.TRAIN_SUBJECTS if s not in held)
        self.features = check_motion_features(name, features, loss_weight)
        self.loss_weight = loss_weight
        if isinstance(num_seeded, bool) or not isinstance(num_seeded, int) or num_seeded < 1:
            raise ValueError(f"{name}: 'num_seeded' must be a positive int (got {num_seeded!r})")
        if self.windows == "seeded" and (obs > 66 or horizon > 100):
            raise ValueError(f"{name}: the seeded windows leave 66 frames before and 100 after the "
                             f"first predicted frame, so 'obs' <= 66 and 'horizon' <= 100 "
                             f"(got obs={obs}, horizon={horizon})")
        if subjects is None:
            subjects = {"train": train_subjects, "val": held}.get(split, self.TEST_SUBJECTS)
        subjects = tuple(int(s) for s in ([subjects] if isinstance(subjects, int) else subjects))
        if not subjects or len(set(subjects)) != len(subjects):
            raise ValueError(f"{name}: 'subjects' must be distinct subject numbers (got {list(subjects)})")
        if split == "train" and set(subjects) & set(held):
            raise ValueError(f"{name}: 'subjects' of the training split must leave out val_subjects "
                             f"{list(held)} (got {list(subjects)})")
        if split == "val" and not set(subjects) <= set(held):    # else it validates on training subjects
            raise ValueError(f"{name}: 'subjects' of the validation split must be among val_subjects "
                             f"{list(held)}, which training leaves out (got {list(subjects)})")
        self.folder = _resolve_h36m_root(root)
        self.split, self.obs, self.horizon, self.stride = split, obs, horizon, stride
        self.subjects, self.num_seeded, self.val_subjects = subjects, num_seeded, held

        if actions is None:
            actions = self._find_actions(subjects)
            if not actions:
                raise FileNotFoundError(
                    f"{name}: no '<action>_1.txt' files for subjects {list(subjects)} under "
                    f"'{self.folder}' (expected e.g. '{self.folder / f'S{subjects[0]}' / 'walking_1.txt'}')")
        else:
            actions = [actions] if isinstance(actions, str) else list(actions)
            if not actions or len(set(actions)) != len(actions):
                raise ValueError(f"{name}: 'actions' must be distinct action names (got {actions})")

        self._init_lists()
        self._set_graph(graph)
        cache: Dict[Tuple[int, str, int], np.ndarray] = {}
        if stats is None:
            if split == "train":
                train_subjects = subjects
            for a in self._find_actions(train_subjects):
                for s in train_subjects:
                    for sub in (1, 2):
                        cache[(s, a, sub)] = self._read(s, a, sub)
            if not cache:
                raise FileNotFoundError(f"{name}: no training files for subjects "
                                        f"{list(train_subjects)} under '{self.folder}' (needed for the "
                                        f"normalisation statistics)")
            self._set_stats(list(cache.values()))
        else:
            self._set_stats(stats=stats)
        if split != "train":
            cache = {}

        for a in actions:
            for s in subjects:
                lengths = {}
                recs = {}
                for sub in (1, 2):
                    frames = cache[(s, a, sub)] if (s, a, sub) in cache else self._read(s, a, sub)
                    seq = frames[::self.frame_step]                    # 25 fps at frame_step=2
                    recs[sub] = self._add_recording(seq, f"S{s}/{a}_{sub}.txt")
                    lengths[sub] = seq.shape[0]
                    if self.windows == "sliding":
                        starts = range(0, seq.shape[0] - obs - horizon + 1, stride)
                        self._add_windows(recs[sub], starts, a)
                if self.windows == "seeded":
                    for sub, start in self._seeded(s, a, lengths):
                        self._add_windows(recs[sub], [start], a)
        self._check_windows()
        super().__init__(transform)

    @classmethod
    def missing_split(cls, split: str, **extra) -> Optional[str]:
        """:meth:`STDataset.missing_split`; ``"val"`` exists only with
        ``val_subjects``."""
        reason = super().missing_split(split, **extra)
        if reason is None and split == "val" and not extra.get("val_subjects"):
            return "the validation split holds out training subjects: pass val_subjects, e.g. [11]"
        return reason

    # ------------------------------------------------------------ helpers
    def _check_val_subjects(self, val_subjects) -> Tuple[int, ...]:
        """``val_subjects`` as a tuple of distinct training subjects, leaving at least one."""
        name = type(self).__name__
        if val_subjects is None:
            return ()
        items = [val_subjects] if isinstance(val_subjects, int) else val_subjects
        try:
            held = tuple(items)
        except TypeError:
            held = None
        if held is None or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in held) \
                or len(set(held)) != len(held) or not set(held) <= set(self.TRAIN_SUBJECTS) \
                or len(held) >= len(self.TRAIN_SUBJECTS):
            raise ValueError(f"{name}: 'val_subjects' must be distinct training subjects "
                             f"{list(self.TRAIN_SUBJECTS)}, leaving at least one to train on "
                             f"(got {val_subjects!r})")
        return tuple(int(s) for s in held)

    def _path(self, subject: int, action: str, sub: int) -> Path:
        return self.folder / f"S{subject}" / f"{action}_{sub}.txt"

    def _read(self, subject: int, action: str, sub: int) -> np.ndarray:
        return read_motion_file(self._path(subject, action, sub), self.NUM_COLUMNS,
                                f"Human3.6M subject {subject}, action {action!r}, subaction {sub}")

    def _find_actions(self, subjects: Sequence[int]) -> List[str]:
        """Actions with a ``<action>_1.txt`` or ``<action>_2.txt`` in any of
        ``subjects``' folders: the protocol's 15 in their usual order, then any
        others alphabetically."""
        found = set()
        for s in subjects:
            folder = self.folder / f"S{s}"
            if folder.is_dir():
                found.update(m["action"] for m in (_FILE.match(f.name) for f in folder.iterdir())
                             if m is not None)
        return [a for a in self.ACTIONS if a in found] + sorted(found - set(self.ACTIONS))

    def _seeded(self, subject: int, action: str, lengths: Dict[int, int]) -> List[Tuple[int, int]]:
        """``(subaction, start)`` of the seeded test windows of one action."""
        for sub, T in lengths.items():
            if T - 150 <= 16:
                raise DataFormatError(f"'{self._path(subject, action, sub)}': {T} frames after "
                                      f"downsampling to 25 fps; the seeded test windows need more "
                                      f"than 166")
        rng = np.random.RandomState(self.SEED)
        out = []
        for i in range(self.num_seeded):
            sub = i % 2 + 1
            first = int(rng.randint(16, lengths[sub] - 150)) + 50      # first predicted frame
            out.append((sub, first - self.obs))
        return out
