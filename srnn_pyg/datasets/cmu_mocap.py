r"""CMU motion capture for motion forecasting, in the protocol of Li et al.
(CVPR 2018) and Mao et al. (ICCV 2019): :class:`CMUMocap`."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
from torch import Tensor

from ..data import STData
from .base import DataFormatError, resolve_root
from .motion import MotionDataset, Skeleton, check_motion_features, check_motion_options, read_motion_file
from .registry import register_dataset

__all__ = ["CMUMocap"]

# The 38-joint CMU skeleton of Li et al. (2018): joint j's exponential map sits
# in columns 3 + 3j .. 5 + 3j, after the global translation. Joint 0 is the
# hips; 1-6 and 7-12 the left and right leg chains (hip joint, femur, tibia,
# foot, toes, end site); 13-19 lower back, upper back, thorax, lower neck,
# upper neck, head, end site; 20-28 and 29-37 the left and right arm chains
# (clavicle, humerus, radius, wrist, hand, fingers, end site, thumb, end site).
CMU_SKELETON = Skeleton(
    name="CMUMocap",
    parents=(-1, 0, 1, 2, 3, 4, 5, 0, 7, 8, 9, 10, 11, 0, 13, 14, 15, 16, 17, 18,
             15, 20, 21, 22, 23, 24, 25, 23, 27, 15, 29, 30, 31, 32, 33, 34, 32, 36),
    joint_types=("root",) + ("leg",) * 12 + ("torso",) * 7 + ("arm",) * 18,
    parts=(
        ("torso", "torso", (0, 1) + tuple(range(14, 21))),   # translation, hips, spine to head: 27 values
        ("left_arm", "arm", tuple(range(21, 30))),            # 27 values
        ("right_arm", "arm", tuple(range(30, 39))),           # 27 values
        ("left_leg", "leg", tuple(range(2, 8))),              # 18 values, padded to 27
        ("right_leg", "leg", tuple(range(8, 14))),            # 18 values, padded to 27
    ),
)

_FILE = re.compile(r"^(?P<action>.+)_(?P<num>\d+)\.txt$")


@register_dataset("cmu_mocap")
class CMUMocap(MotionDataset):
    r"""CMU motion capture (`mocap.cs.cmu.edu <http://mocap.cs.cmu.edu>`_) as
    prepared by `Li et al. (CVPR 2018) <https://arxiv.org/abs/1805.00655>`_ and
    evaluated by `Mao et al. (ICCV 2019) <https://arxiv.org/abs/1908.05436>`_:
    windows of a skeleton graph for motion forecasting.

    Files: ``<root>/{train,test}/<action>/<action>_<n>.txt`` (``n = 1, 2, ...``),
    one frame per line, 117 comma-separated values: the global translation,
    then the exponential maps of 38 joints (see ``CMU_SKELETON``). ``root`` is
    the folder that holds ``train/`` and ``test/`` (or its parent); without it,
    ``$SRNN_PYG_DATA/cmu_mocap``.

    Protocol (the code of both papers):

    * every file is downsampled by 2 (frames 0, 2, 4, ...): :obj:`fps` = 25;
    * ``obs`` observed frames (50 in both papers' tables for Res-sup. and
      ConvSeq2Seq; Mao et al. observe 10 of them) and ``horizon`` predicted
      ones (25 = 1000 ms);
    * training windows: every start, ``stride`` frames apart;
    * validation (not part of the published protocol, which has none; only
      with ``val_recordings=k >= 1``): the last ``k`` training recordings of
      each action (``<action>_<n>.txt`` with the highest ``n``) form the
      ``"val"`` split, with sliding windows like the training ones, and the
      ``"train"`` split leaves them out, as do the normalisation statistics
      computed by every split (an action that this split does not load and
      that has no more than ``k`` recordings keeps them all there); whole
      recordings, so no validation window shares a frame with a training
      one;
    * test windows: for each test file, a fresh
      ``numpy.random.RandomState(1234567890)`` draws ``num_seeded`` (8) starts
      ``s = randint(0, T - 75)`` of ``T`` downsampled frames; the window's
      prediction begins at frame ``s + 50`` and its observation is the
      ``obs`` frames before (with ``obs > 50`` or ``horizon > 25`` the 50 and
      25 above become ``obs`` and ``horizon``);
    * normalisation: per-dimension mean and (population) standard deviation
      of the full-rate training frames of every training action (less the
      held-out recordings); a dimension
      whose std is below ``1e-4`` is constant: std 1, ``dim_used`` false;
    * error: :func:`~srnn_pyg.metrics.euler_angle_error` at 80, 160, 320, 400,
      560 and 1000 ms (frames 1, 3, 7, 9, 13, 24), global translation and
      rotation left out.

    Registry name ``"cmu_mocap"`` (:meth:`open`, :meth:`score`): splits
    ``"train"``, ``"test"`` and, with ``val_recordings >= 1``, ``"val"``
    (on the command line ``--dataset-arg val_recordings=1``); defaults ``obs = 50``, ``horizon = 25``,
    ``graph = "body_parts"``, batch size 16; ``open("test", train=train)``
    reuses the training statistics (:meth:`stats`). :meth:`score` reports the
    Euler-angle error at the six times above, columns ``80ms`` ...
    ``1000ms`` (those within the horizon); it takes the evaluated dimensions
    from the true frames (the :func:`~srnn_pyg.metrics.euler_angle_error`
    default), not from the observed and true frames as
    ``examples/forecast_motion.py`` does per action.

    .. code-block:: python

        train = CMUMocap(split="train", stride=8, val_recordings=1)
        val = CMUMocap.open("val", train=train, stride=8)     # train's val_recordings and statistics
        test = CMUMocap.open("test", train=train)

    Graphs (``graph=``):

    * ``"body_parts"``: the S-RNN body-part graph, 5 nodes (torso, left arm,
      right arm, left leg, right leg) of node types ``torso``, ``arm``, ``leg``;
      edge types torso-arm, torso-leg, arm-arm (left-right), leg-leg. The torso
      holds the global translation, the hips and the spine-to-head chain (27
      values), each arm its 9 joints (27 values), each leg its 6 joints (18
      values, zero-padded to 27: see ``feature_mask``).
    * ``"joints"``: one node per triple (39 nodes, 3 features): node 0 the
      global translation, node ``j + 1`` joint ``j``; edges along the
      kinematic tree, node types ``root`` (translation and hips), ``torso``,
      ``arm``, ``leg``; edge types root-root, root-torso, root-leg,
      torso-torso, torso-arm, arm-arm, leg-leg.

    Args:
        root (str, optional): the data folder. (default: :obj:`None`:
            ``$SRNN_PYG_DATA/cmu_mocap``)
        split (str, optional): ``"train"``, ``"test"`` or (with
            ``val_recordings >= 1``) ``"val"``. (default: :obj:`"train"`)
        actions (list[str], optional): actions to load. (default: :obj:`None`:
            every action folder of the split)
        graph (str, optional): ``"body_parts"`` or ``"joints"``.
            (default: :obj:`"body_parts"`)
        obs (int, optional): observed frames per window. (default: :obj:`50`)
        horizon (int, optional): predicted frames per window. (default: :obj:`25`)
        stride (int, optional): frames between sliding windows. (default: :obj:`1`)
        windows (str, optional): ``"sliding"`` or ``"seeded"``. (default:
            :obj:`None`: sliding for ``"train"`` and ``"val"``, seeded for
            ``"test"``)
        num_seeded (int, optional): seeded windows per file. (default: :obj:`8`)
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
        val_recordings (int, optional): how many of each action's last
            training recordings to hold out as the ``"val"`` split (left out
            of ``"train"`` and of the normalisation statistics); every action
            loaded needs more training recordings than that. :meth:`open`
            with ``train=`` takes the training split's; ``stats`` that left
            out another number are refused (:meth:`stats` records it).
            (default: :obj:`0`: no validation split, every training recording
            in ``"train"``, as the protocol)

    Shapes:
        - **window:** :class:`~srnn_pyg.STData` with ``x`` ``[N, obs, F]``
          (``[N, obs, 2 F]`` with ``features="pos_vel"``),
          ``y`` ``[N, horizon, F]`` (normalised), ``edge_index`` ``[2, E]``,
          ``node_type`` ``[N]``, ``edge_type`` ``[E]``; ``N, F, E`` = 5, 27, 12
          (``"body_parts"``) or 39, 3, 76 (``"joints"``); with ``loss_weight``
          also ``y_weight`` ``[N, F]``.
        - :meth:`to_pose`: ``[B * N, T, F]`` to ``[B, T, 117]``.

    .. note::
        Acknowledgement asked by the data's authors: "The data used in this
        project was obtained from mocap.cs.cmu.edu. The database was created
        with funding from NSF EIA-0196217."
    """

    #: The eight actions of the protocol (the shared copy may hold fewer).
    ACTIONS = ("basketball", "basketball_signal", "directing_traffic", "jumping", "running",
               "soccer", "walking", "washwindow")
    SEED = 1234567890
    NUM_COLUMNS = 117
    skeleton = CMU_SKELETON
    splits = ("train", "val", "test")
    holdout_option = "val_recordings"
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
        num_seeded: int = 8,
        stats: Optional[Dict[str, Tensor]] = None,
        transform: Optional[Callable[[STData], STData]] = None,
        features: str = "pos",
        loss_weight: Optional[str] = None,
        val_recordings: int = 0,
    ):
        name = type(self).__name__
        self.windows = check_motion_options(name, split, graph, obs, horizon, stride, windows,
                                            splits=self.splits)
        if not isinstance(val_recordings, int) or isinstance(val_recordings, bool) or val_recordings < 0:
            raise ValueError(f"{name}: 'val_recordings' must be an int >= 0 (got {val_recordings!r})")
        if split == "val" and val_recordings < 1:
            raise ValueError(f"{name}: split='val' needs val_recordings >= 1 (how many of each action's last "
                             f"training recordings to hold out; got {val_recordings})")
        self.features = check_motion_features(name, features, loss_weight)
        self.loss_weight = loss_weight
        if isinstance(num_seeded, bool) or not isinstance(num_seeded, int) or num_seeded < 1:
            raise ValueError(f"{name}: 'num_seeded' must be a positive int (got {num_seeded!r})")
        self.folder = resolve_root(root, "cmu_mocap")
        self.split, self.obs, self.horizon, self.stride = split, obs, horizon, stride
        self.num_seeded = num_seeded
        self.val_recordings = val_recordings

        split_dir = self._split_dir(split)
        found = _find_actions(split_dir)
        if actions is None:
            if not found:
                raise FileNotFoundError(f"{name}: no action folders in '{split_dir}' (expected "
                                        f"'<action>/<action>_1.txt', e.g. "
                                        f"'{split_dir / 'walking' / 'walking_1.txt'}')")
            actions = found
        else:
            actions = [actions] if isinstance(actions, str) else list(actions)
            if not actions or len(set(actions)) != len(actions):
                raise ValueError(f"{name}: 'actions' must be distinct action names (got {actions})")
        files = {a: self._held_out(_action_files(split_dir, a), a, split) for a in actions}

        self._init_lists()
        self._set_graph(graph)
        cache: Dict[Path, np.ndarray] = {}
        if stats is None:
            train_dir = self._split_dir("train")
            train_actions = _find_actions(train_dir)
            if not train_actions:
                raise FileNotFoundError(f"{name}: no training action folders in '{train_dir}' "
                                        f"(needed for the normalisation statistics)")
            for a in train_actions:
                for path in self._held_out(_action_files(train_dir, a), a, "train", strict=a in files):
                    cache[path] = self._read(path)
            self._set_stats(list(cache.values()))
        else:
            self._set_stats(stats=stats)
        if split != "train":
            cache = {}

        for a in actions:
            for path in files[a]:
                frames = cache[path] if path in cache else self._read(path)
                seq = frames[::self.frame_step]                    # 25 fps at frame_step=2
                rec = self._add_recording(seq, f"{split_dir.name}/{a}/{path.name}")
                self._add_windows(rec, self._starts(seq.shape[0], path), a)
        self._check_windows()
        super().__init__(transform)

    @classmethod
    def missing_split(cls, split: str, **extra) -> Optional[str]:
        """:meth:`STDataset.missing_split`; ``"val"`` exists only with
        ``val_recordings >= 1``."""
        reason = super().missing_split(split, **extra)
        if reason is None and split == "val" and not extra.get("val_recordings"):
            return ("the validation split holds out each action's last training recordings: pass "
                    "val_recordings >= 1")
        return reason

    # ------------------------------------------------------------ helpers
    def _held_out(self, files: List[Path], action: str, split: str, strict: bool = True) -> List[Path]:
        """An action's training files for ``split``: all but the last
        ``val_recordings`` for ``"train"``, those for ``"val"``; the test
        files as they are. An action with too few files is an error
        (``strict``) or, for the statistics of an action this split does not
        load, kept whole (it can hold nothing out)."""
        k = self.val_recordings
        if not k or split == "test":
            return files
        if len(files) <= k and not strict:
            return files
        if len(files) <= k:
            raise ValueError(f"{type(self).__name__}: val_recordings={k} would hold out every training "
                             f"recording of action {action!r} ({len(files)} file(s)); each action needs "
                             f"more than {k}")
        return files[:-k] if split == "train" else files[-k:]

    def _split_dir(self, split: str) -> Path:
        path = self.folder / ("train" if split == "val" else split)
        if not path.is_dir():
            raise FileNotFoundError(f"{type(self).__name__}: split folder not found: expected "
                                    f"'{path}' (holding '<action>/<action>_1.txt' files)")
        return path

    def _read(self, path: Path) -> np.ndarray:
        return read_motion_file(path, self.NUM_COLUMNS, "a CMU mocap recording")

    def _starts(self, T: int, path: Path) -> List[int]:
        """Window starts (first observed frame) in a recording of ``T`` frames."""
        if self.windows == "sliding":
            return list(range(0, T - self.obs - self.horizon + 1, self.stride))
        prefix, total = max(self.obs, 50), max(self.obs, 50) + max(self.horizon, 25)
        if T <= total:
            raise DataFormatError(f"'{path}': {T} frames after downsampling to 25 fps; the seeded "
                                  f"test windows need more than {total}")
        rng = np.random.RandomState(self.SEED)
        return [int(rng.randint(0, T - total)) + prefix - self.obs for _ in range(self.num_seeded)]


def _find_actions(split_dir: Path) -> List[str]:
    """The action folders of a split: subfolders ``<a>`` holding some ``<a>_<n>.txt``."""
    out = []
    for sub in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if any(_FILE.match(f.name) and _FILE.match(f.name)["action"] == sub.name for f in sub.iterdir()):
            out.append(sub.name)
    return out


def _action_files(split_dir: Path, action: str) -> List[Path]:
    """``<action>_1.txt, <action>_2.txt, ...`` of one action, in order; a gap
    in the numbering is a missing file."""
    folder = split_dir / action
    first = folder / f"{action}_1.txt"
    if not folder.is_dir():
        raise FileNotFoundError(f"CMUMocap: missing data file: expected '{first}' (action {action!r})")
    found = sorted((m["num"], f) for f, m in ((f, _FILE.match(f.name)) for f in folder.iterdir())
                   if m is not None and m["action"] == action)
    odd = next((f for num, f in found if num != str(int(num)) or int(num) == 0), None)
    if odd is not None:                      # walking_0.txt, walking_01.txt: not in the numbering 1, 2, ...
        raise DataFormatError(f"{odd}: unexpected file name in the folder of action {action!r} (expected "
                              f"{action}_1.txt, {action}_2.txt, ..., numbered from 1 without leading zeros; "
                              f"move or rename it)")
    nums = sorted(int(num) for num, _ in found)
    gap = next((k for k, n in enumerate(nums, start=1) if k != n), None) if nums else 1
    if gap is not None:
        missing = folder / f"{action}_{gap}.txt"
        raise FileNotFoundError(f"CMUMocap: missing data file: expected '{missing}' "
                                f"(found numbers {nums} for action {action!r})")
    return [folder / f"{action}_{n}.txt" for n in nums]
