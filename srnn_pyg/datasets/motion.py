r"""What the motion-capture datasets (:class:`~srnn_pyg.datasets.CMUMocap`,
:class:`~srnn_pyg.datasets.H36M`) share: the text-file reader, the two
skeleton graphs, the base class :class:`MotionDataset` (with the protocol's
scoring) and the option checks.

Poses are stored as the motion-forecasting literature stores them: one row per
frame of ``3 * K`` numbers, the global translation followed by the exponential
map (axis times angle, radians) of each of the ``K - 1`` joints, the first of
which is the global rotation. The rotation conversions live in
:mod:`srnn_pyg.geometry` (re-exported here).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .. import metrics as M
from ..data import STData
from ..geometry import (euler_to_rotmat, expmap_to_euler, expmap_to_rotmat, rotmat_to_euler,
                        rotmat_to_expmap)
from ..schema import STSchema
from .base import DataFormatError, STDataset, forecast_view, require_file

__all__ = [
    "expmap_to_rotmat",
    "rotmat_to_euler",
    "expmap_to_euler",
    "euler_to_rotmat",
    "rotmat_to_expmap",
    "read_motion_file",
    "Skeleton",
    "MotionDataset",
    "check_motion_options",
    "check_motion_features",
]

# Dimensions whose standard deviation over the training frames is below this
# are constant: normalised with std 1 and left out of ``dim_used`` (the
# threshold of the S-RNN / Martinez et al. code).
STD_THRESHOLD = 1e-4

#: what a window's ``x`` holds (``features=``): poses, or poses and their per-frame change
FEATURES = ("pos", "pos_vel")
#: per-feature loss weights the windows may carry (``loss_weight=``)
LOSS_WEIGHTS = (None, "std", "var")
#: the first pose values, the global translation and rotation, which the Euler-angle error leaves out
NUM_GLOBAL_DIMS = 6


# ------------------------------------------------------------------ reading
def read_motion_file(path: Union[str, os.PathLike], num_columns: int, what: str = "") -> np.ndarray:
    """Read a comma-separated text file of one pose per line.

    Args:
        path (str or Path): the file.
        num_columns (int): values expected on every line.
        what (str, optional): a description for the missing-file error.

    Returns:
        ``[num_lines, num_columns]`` float64 array.

    Raises:
        FileNotFoundError: naming the file, if it is absent.
        DataFormatError: naming the file and the line, for an empty file, a
            line with another number of values (a truncated last line among
            them), a value that is not a number, or NaN/infinite values.
    """
    path = require_file(path, what)
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise DataFormatError(f"'{path}': not a text file ({err})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():                            # trailing newlines only
        lines.pop()
    if not lines:
        raise DataFormatError(f"'{path}': the file is empty (expected lines of {num_columns} "
                              f"comma-separated numbers)")
    for i, line in enumerate(lines):
        n = line.count(",") + 1
        if n != num_columns:
            hint = " (a truncated file?)" if i == len(lines) - 1 else ""
            raise DataFormatError(f"'{path}', line {i + 1}: expected {num_columns} comma-separated "
                                  f"values, got {n if line.strip() else 0}{hint}")
    try:
        flat = np.array(",".join(lines).split(","), dtype=np.float64)
    except ValueError:
        for i, line in enumerate(lines):
            for j, token in enumerate(line.split(",")):
                try:
                    float(token)
                except ValueError:
                    raise DataFormatError(f"'{path}', line {i + 1}, column {j + 1}: {token.strip()!r} "
                                          f"is not a number") from None
        raise  # pragma: no cover - numpy and float() disagree
    arr = flat.reshape(len(lines), num_columns)
    with np.errstate(over="ignore"):                                      # as float32: 1e39 is inf
        bad = ~np.isfinite(arr.astype(np.float32))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataFormatError(f"'{path}', line {i + 1}, column {j + 1}: non-finite value "
                              f"{float(arr[i, j])} (expected finite numbers within float32 range, "
                              f"|x| <= 3.4e38)")
    return arr


# ----------------------------------------------------------------- skeleton
JOINT_NODE_TYPES = ("root", "torso", "arm", "leg")
JOINT_EDGE_TYPES = (("root", "root"), ("root", "torso"), ("root", "leg"), ("torso", "torso"),
                    ("torso", "arm"), ("arm", "arm"), ("leg", "leg"))
PART_NODE_TYPES = ("torso", "arm", "leg")
PART_EDGE_TYPES = (("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg"))


@dataclass(frozen=True)
class Skeleton:
    r"""The kinematic tree of a pose format and its partition into body parts.

    A pose has ``K = len(parents) + 1`` triples: triple 0 is the global
    translation, triple ``j + 1`` the exponential map of joint ``j`` (joint 0
    is the root, whose rotation is the global rotation).

    Attributes:
        name (str): the format's name.
        parents (tuple[int]): the parent joint of each joint, ``-1`` for the root.
        joint_types (tuple[str]): each joint's node type in the per-joint
            graph, one of ``"root"``, ``"torso"``, ``"arm"``, ``"leg"``.
        parts (tuple): the body-part nodes, each ``(name, node type, triples)``
            with the pose triples whose values the node holds, in order.
    """

    name: str
    parents: Tuple[int, ...]
    joint_types: Tuple[str, ...]
    parts: Tuple[Tuple[str, str, Tuple[int, ...]], ...]

    @property
    def num_triples(self) -> int:
        return len(self.parents) + 1

    @property
    def num_dims(self) -> int:
        return 3 * self.num_triples

    def graph(self, kind: str) -> Tuple[STSchema, List[str], Tensor, Tensor, Tensor, Tensor]:
        """The spatial graph of ``kind`` (``"body_parts"`` or ``"joints"``).

        Returns:
            ``(schema, node_names, node_type [N], edge_index [2, E],
            edge_type [E], node_dims [N, F])`` where ``node_dims[n, f]`` is the
            pose dimension that feature ``f`` of node ``n`` holds, ``-1`` for
            padding.
        """
        if kind == "body_parts":
            schema = STSchema(PART_NODE_TYPES, PART_EDGE_TYPES)
            names = [p[0] for p in self.parts]
            types = [p[1] for p in self.parts]
            triples = [list(p[2]) for p in self.parts]
            pairs = []
            for a in range(len(types)):
                for b in range(a + 1, len(types)):
                    ta, tb = types[a], types[b]
                    if ("torso" in (ta, tb) and ta != tb) or ta == tb != "torso":
                        pairs.append((a, b))
        elif kind == "joints":
            schema = STSchema(JOINT_NODE_TYPES, JOINT_EDGE_TYPES)
            names = ["translation"] + [f"joint{j}" for j in range(len(self.parents))]
            types = ["root"] + list(self.joint_types)
            triples = [[k] for k in range(self.num_triples)]
            pairs = [(0, 1)] + [(p + 1, j + 1) for j, p in enumerate(self.parents) if p >= 0]
        else:
            raise ValueError(f"{self.name}: 'graph' must be 'body_parts' or 'joints' (got {kind!r})")
        F = 3 * max(len(t) for t in triples)
        node_dims = torch.full((len(names), F), -1, dtype=torch.long)
        for n, ts in enumerate(triples):
            dims = torch.tensor([3 * t + c for t in ts for c in range(3)], dtype=torch.long)
            node_dims[n, :dims.numel()] = dims
        node_type = torch.tensor([schema.node_type_index(t) for t in types], dtype=torch.long)
        pair = torch.tensor(pairs, dtype=torch.long).view(-1, 2).t()   # [2, P]
        edge_index = torch.cat([pair, pair.flip(0)], dim=1)             # [2, 2P]: both ways
        edge_type = schema.infer_edge_type(node_type[edge_index[0]], node_type[edge_index[1]])
        return schema, names, node_type, edge_index, edge_type, node_dims


# -------------------------------------------------------------- the dataset
class MotionDataset(STDataset):
    r"""Base class of the exponential-map motion datasets: windows of a
    skeleton graph cut from normalised recordings.

    Subclasses read the files, then call :meth:`_set_graph`, :meth:`_set_stats`
    (training split only), :meth:`_add_recording` once per recording and
    :meth:`_add_windows`, and finally ``super().__init__(transform)``.

    Every window is an :class:`~srnn_pyg.STData` with ``x`` ``[N, obs, F]``
    (observed frames) and ``y`` ``[N, horizon, F]`` (the frames that follow),
    normalised with the training split's per-dimension ``mean`` and ``std``.
    With ``features="pos_vel"``, ``x`` is ``[N, obs, 2 F]``: the normalised
    frames, then their change since the frame before (in the recording, also
    for a window's first frame; 0 at a recording's first frame) times
    :attr:`velocity_scale`; ``y`` stays the ``F`` pose features. A model reads
    both and predicts the poses, rebuilding the velocities of its own
    predictions with the same rule (``derived="velocity"``,
    ``velocity_scale=dataset.velocity_scale``).

    With ``loss_weight="std"``, every window also carries ``y_weight``
    ``[N, F]`` (:attr:`target_weight`): the training losses weigh each pose
    feature by its training standard deviation (divided by the mean of those
    weights). On normalised data with equal weights a joint that barely
    moves counts as much as one that swings, while the Euler-angle error
    sums errors in radians; the weighted squared error is ``e^2 / std`` for
    an error ``e`` in the data's units (half way from ``e^2 / std^2``).
    ``loss_weight="var"`` weighs by the variance instead: the squared error
    in the data's units (up to one factor for all features).
    The features the metric leaves out (the global translation and rotation,
    the constant dimensions, the padding) keep weight 1: a forecast still
    feeds them back.
    Node ``n`` holds the pose dimensions ``node_dims[n]`` (``-1``: zero
    padding, so that every node has ``F`` features; ``feature_mask`` marks the
    real ones). :meth:`to_pose` turns node-major windows or predictions back
    into poses in the data's units, ready for
    :func:`~srnn_pyg.metrics.euler_angle_error`.

    Attributes:
        folder (Path): the folder the files were read from.
        schema (STSchema): node and edge types of the graph.
        node_names (list[str]): the graph's nodes, in order.
        node_dims (Tensor): ``[N, F]`` pose dimension of each node feature, ``-1``
            for padding.
        feature_mask (Tensor): ``[N, F]`` bool, ``node_dims >= 0``.
        mean (Tensor): ``[D]`` per-dimension mean of the training frames.
        std (Tensor): ``[D]`` standard deviation; 1 for constant dimensions.
        dim_used (Tensor): ``[D]`` bool, dimensions that vary in training.
        velocity_scale (float): one over the standard deviation of the
            frame-to-frame change of the normalised training frames (at
            :attr:`fps`, pooled over ``dim_used``), so that the velocity
            inputs of ``features="pos_vel"`` have unit spread.
        features (str): ``"pos"`` or ``"pos_vel"``.
        loss_weight (str): :obj:`None`, ``"std"`` or ``"var"``.
        target_weight (Tensor): ``[N, F]`` the windows' ``y_weight`` with
            ``loss_weight="std"``, else :obj:`None`.
        fps (float): frame rate of the windows.
        frame_step (int): recordings keep every ``frame_step``-th frame of a file.
        recordings (list[STData]): whole normalised recordings, ``x`` ``[N, T, F]``
            (``[N, T, 2 F]`` with ``features="pos_vel"``).
        recording_names (list[str]): the file of each recording.
        index (list[tuple[int, int]]): ``(recording, first observed frame)`` per window.
        window_action (list[str]): the action of each window.
    """

    skeleton: Skeleton
    fps: float = 25.0
    frame_step: int = 2
    features: str = "pos"
    loss_weight: Optional[str] = None
    target_weight: Optional[Tensor] = None
    velocity_scale: Optional[float] = None
    splits = ("train", "test")
    task = "regression"
    #: The constructor option that holds part of the training data out as
    #: the ``"val"`` split (``"val_recordings"``, ``"val_subjects"``), or
    #: :obj:`None`.
    holdout_option: Optional[str] = None
    #: each split's own window spacing, not passed on by ``open(..., train=...)``
    split_own = STDataset.split_own | {"stride", "windows", "num_seeded", "subjects"}
    #: The times after the last observed frame that the tables report.
    report_ms: Tuple[int, ...] = (80, 160, 320, 400, 560, 1000)

    # ------------------------------------------------------------ protocol
    @classmethod
    def open_kwargs(cls, split: str, *, train: Optional[STDataset] = None, **options: Any) -> Dict[str, Any]:
        """:meth:`STDataset.open_kwargs`; a test split takes ``train``'s
        normalisation statistics instead of reading the training files again,
        and its held-out part (:attr:`holdout_option`) unless given (a
        different one is refused: see :meth:`stats`)."""
        kw = super().open_kwargs(split, train=train, **cls._train_holdout(train, options))
        if split != "train" and train is not None and "stats" not in kw:
            kw["stats"] = train.stats()
        return kw

    @classmethod
    def open(cls, split: str, *, train: Optional[STDataset] = None, **options: Any) -> STDataset:
        """:meth:`STDataset.open`; a split opened from ``train`` takes its
        held-out part (:attr:`holdout_option`) unless given."""
        return super().open(split, train=train, **cls._train_holdout(train, options))

    @classmethod
    def _train_holdout(cls, train: Optional[STDataset], options: Dict[str, Any]) -> Dict[str, Any]:
        option = cls.holdout_option
        if train is not None and option is not None and option not in options and hasattr(train, option):
            return {**options, option: train.holdout_value()}
        return options

    def holdout_value(self) -> Any:
        """The value of :attr:`holdout_option` this split was opened with, in
        plain Python (:obj:`None` where the class has no such option)."""
        option = type(self).holdout_option
        if option is None:
            return None
        value = getattr(self, option)
        return list(value) if isinstance(value, tuple) else value

    def reuse_options(self) -> Dict[str, Any]:
        """``{"stats": ...}``: :meth:`stats` in plain Python (lists), with
        which the command line opens the other splits of a saved run without
        reading the training files again; the held-out part comes with them,
        so another one is refused rather than silently normalised otherwise."""
        return {"stats": {k: (v.item() if v.dim() == 0 else v.tolist()) for k, v in self.stats().items()}}

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """The Euler-angle error (:func:`~srnn_pyg.metrics.euler_angle_error`,
        poses in the data's units, dimensions that vary over the true frames)
        at 80, 160, 320, 400, 560 and 1000 ms (those within the horizon),
        columns ``80ms`` etc."""
        pred, y, _ = forecast_view(collected)
        err = M.euler_angle_error(self.to_pose(pred), self.to_pose(y))              # [H]
        frames = M.frames_at_ms(self.report_ms, fps=self.fps)
        return {f"{ms}ms": float(err[f]) for ms, f in zip(self.report_ms, frames) if f < pred.size(1)}

    def feedback_kwargs(self) -> Dict[str, Any]:
        """``derived="velocity"`` and :attr:`velocity_scale` with
        ``features="pos_vel"`` (see :meth:`STDataset.feedback_kwargs`)."""
        if self.features != "pos_vel":
            return {}
        return {"derived": "velocity", "velocity_scale": float(self.velocity_scale)}

    def get(self, idx: int) -> STData:
        window = super().get(idx)
        if self.features == "pos_vel":                                 # targets: the poses alone
            window.y = window.y[..., :self.num_pose_features]
        if self.loss_weight is not None:
            window.y_weight = self.target_weight.clone()                # a transform may edit it
        return window

    # ------------------------------------------------------------ building
    def _set_graph(self, graph: str) -> None:
        (self.schema, self.node_names, self.node_type, self.edge_index, self.edge_type,
         self.node_dims) = self.skeleton.graph(graph)
        self.graph = graph
        self.feature_mask = self.node_dims >= 0                          # [N, F]

    @property
    def num_pose_dims(self) -> int:
        """``D``: numbers per pose."""
        return self.skeleton.num_dims

    @property
    def num_pose_features(self) -> int:
        """``F``: pose features per node (after padding), what ``y`` holds and
        a model predicts."""
        return int(self.node_dims.size(1))

    @property
    def num_node_features(self) -> int:
        """Input features per node, the width of ``x``: ``F``, or ``2 F`` with
        ``features="pos_vel"``."""
        return self.num_pose_features * (2 if self.features == "pos_vel" else 1)

    @property
    def num_graph_nodes(self) -> int:
        """``N``: nodes per skeleton graph."""
        return int(self.node_dims.size(0))

    def _set_stats(self, frames: Optional[Sequence[np.ndarray]] = None,
                   stats: Optional[Dict[str, Tensor]] = None) -> None:
        """Normalisation statistics from the training frames (the population
        standard deviation; dimensions below :data:`STD_THRESHOLD` get std 1),
        or copied from ``stats`` (see :meth:`stats`); also
        :attr:`velocity_scale`."""
        D = self.num_pose_dims
        if stats is not None:
            try:
                mean, std, used = (torch.as_tensor(stats[k]) for k in ("mean", "std", "dim_used"))
            except (KeyError, TypeError):
                raise ValueError(f"{type(self).__name__}: 'stats' must be a dict with 'mean', 'std' "
                                 f"and 'dim_used' (as returned by .stats())") from None
            for key, value in (("mean", mean), ("std", std), ("dim_used", used)):
                if tuple(value.shape) != (D,):
                    raise ValueError(f"{type(self).__name__}: stats['{key}'] must be [{D}] "
                                     f"(got {list(value.shape)})")
            self._check_holdout(stats)
            self.mean, self.std, self.dim_used = mean.float(), std.float(), used.bool()
            scale = stats.get("velocity_scale")
            if scale is not None:
                value = torch.as_tensor(scale, dtype=torch.float64)
                if value.numel() != 1 or not bool(torch.isfinite(value).all()) or not float(value) > 0:
                    raise ValueError(f"{type(self).__name__}: stats['velocity_scale'] must be one finite number "
                                     f"> 0 (got {scale!r})")
                scale = float(value)
            self.velocity_scale = scale
            if self.features == "pos_vel" and self.velocity_scale is None:
                raise ValueError(f"{type(self).__name__}: features='pos_vel' needs stats['velocity_scale'] > 0 "
                                 f"(the training split's, from its .stats(); got None)")
        else:
            flat = np.concatenate(list(frames), axis=0)                  # [sum T, D]
            mean, std = flat.mean(0), flat.std(0)
            used = std >= STD_THRESHOLD
            std = np.where(used, std, 1.0)
            self.mean = torch.from_numpy(mean).float()
            self.std = torch.from_numpy(std).float()
            self.dim_used = torch.from_numpy(used)
            self.velocity_scale = _velocity_scale(frames, mean, std, used, self.frame_step)
        safe = self.node_dims.clamp_min(0)
        self.node_mean = torch.where(self.feature_mask, self.mean[safe], 0.0)   # [N, F]
        self.node_std = torch.where(self.feature_mask, self.std[safe], 1.0)     # [N, F]
        if self.loss_weight is not None:
            scored = self.feature_mask & self.dim_used[safe] & (self.node_dims >= NUM_GLOBAL_DIMS)
            weight = torch.ones_like(self.node_std)
            spread = self.node_std.pow(2 if self.loss_weight == "var" else 1)
            if bool(scored.any()):
                weight[scored] = spread[scored] / spread[scored].mean()
            self.target_weight = weight

    def stats(self) -> Dict[str, Tensor]:
        """The normalisation statistics, to pass as ``stats=`` to another split
        (which then does not read the training files again); with them the
        held-out part they leave out (:attr:`holdout_option`, where the
        class has one), which a split given these statistics must share."""
        out = {"mean": self.mean.clone(), "std": self.std.clone(), "dim_used": self.dim_used.clone()}
        if self.velocity_scale is not None:
            out["velocity_scale"] = torch.tensor(self.velocity_scale, dtype=torch.float64)
        if type(self).holdout_option is not None:
            out[type(self).holdout_option] = torch.tensor(self.holdout_value(), dtype=torch.long)
        return out

    def _check_holdout(self, stats: Mapping[str, Any]) -> None:
        """Refuse statistics that left out another held-out part than this
        split's (statistics without that key, e.g. made by hand, pass)."""
        option = type(self).holdout_option
        if option is None or option not in stats:
            return
        theirs, ours = torch.as_tensor(stats[option]).tolist(), self.holdout_value()
        if (sorted(theirs) if isinstance(theirs, list) else theirs) != \
                (sorted(ours) if isinstance(ours, list) else ours):
            raise ValueError(f"{type(self).__name__}: 'stats' come from a training split opened with "
                             f"{option}={theirs!r}, but this {self.split!r} split has {option}={ours!r}: "
                             f"pass the same {option} to every split")

    def _add_recording(self, frames: np.ndarray, name: str) -> int:
        """Normalise a recording ``[T, D]`` (data units, already downsampled)
        into node layout and keep it; returns its index."""
        pose = torch.from_numpy(np.ascontiguousarray(frames)).float()    # [T, D]
        x = self.from_pose(pose)                                         # [N, T, F]
        if self.features == "pos_vel":
            vel = torch.zeros_like(x)
            vel[:, 1:] = (x[:, 1:] - x[:, :-1]) * self.velocity_scale
            x = torch.cat([x, vel], dim=-1)                              # [N, T, 2F]
        rec = STData(x=x, edge_index=self.edge_index,
                     node_type=self.node_type, edge_type=self.edge_type)
        rec.schema = self.schema
        self.recordings.append(rec)
        self.recording_names.append(name)
        return len(self.recordings) - 1

    def _add_windows(self, rec: int, starts: Sequence[int], action: str) -> None:
        for s in starts:
            self.index.append((rec, int(s)))
            self.window_action.append(action)

    def _check_windows(self) -> None:
        """A split without a window is refused here, not in a training loop later."""
        if not self.index:
            longest = max((r.x.size(1) for r in self.recordings), default=0)
            raise ValueError(f"{type(self).__name__}: the {self.split!r} split has no window: obs + horizon = "
                             f"{self.obs} + {self.horizon} frames, and its longest recording has {longest} "
                             f"(at 25 fps)")

    def _init_lists(self) -> None:
        self.recordings: List[STData] = []
        self.recording_names: List[str] = []
        self.index: List[Tuple[int, int]] = []
        self.window_action: List[str] = []

    # ------------------------------------------------------------- layouts
    def from_pose(self, pose: Tensor, normalize: bool = True) -> Tensor:
        """Poses to node layout.

        Args:
            pose (Tensor): ``[T, D]`` or ``[B, T, D]`` in the data's units.
            normalize (bool, optional): also normalise. (default: :obj:`True`)

        Shapes:
            - **output:** ``[B * N, T, F]`` (``[N, T, F]`` for one sequence), zero padding.
        """
        single = pose.dim() == 2
        if pose.dim() not in (2, 3) or pose.size(-1) != self.num_pose_dims:
            raise ValueError(f"{type(self).__name__}.from_pose: 'pose' must be [T, D] or [B, T, D] "
                             f"with D={self.num_pose_dims} (got {list(pose.shape)})")
        pose = pose.unsqueeze(0) if single else pose                     # [B, T, D]
        if normalize:
            pose = (pose - self.mean.to(pose)) / self.std.to(pose)
        B, T, _ = pose.shape
        N, F = self.node_dims.shape
        idx = self.node_dims.to(pose.device).clamp_min(0).view(-1)       # [N*F]
        out = pose.index_select(-1, idx).view(B, T, N, F)                # [B, T, N, F]
        out = out * self.feature_mask.to(pose.device, pose.dtype)       # zero padding
        return out.permute(0, 2, 1, 3).reshape(B * N, T, F)              # [B*N, T, F]

    def to_pose(self, x: Tensor, denormalize: bool = True) -> Tensor:
        """Node layout (windows' ``x``/``y``, a model's predictions, batched or
        not) back to poses. Denormalised, the dimensions constant in training
        (``dim_used`` false) are set to their training mean, as the protocol's
        code rebuilds poses before the Euler-angle error (a model's prediction
        there, however small its error, would otherwise move the angles of
        joints that share a rotation with a varying dimension).

        Args:
            x (Tensor): ``[B * N, T, F]``, nodes of each graph in the dataset's order.
            denormalize (bool, optional): map to the data's units.
                (default: :obj:`True`)

        Shapes:
            - **output:** ``[B, T, D]``
        """
        N, F = self.node_dims.shape
        if x.dim() != 3 or x.size(-1) != F or x.size(0) % N != 0:
            raise ValueError(f"{type(self).__name__}.to_pose: 'x' must be [B * N, T, F] with N={N}, "
                             f"F={F} (got {list(x.shape)})")
        B, T = x.size(0) // N, x.size(1)
        flat = x.view(B, N, T, F).permute(0, 2, 1, 3).reshape(B, T, N * F)   # [B, T, N*F]
        pose = flat.index_select(-1, self._pose_source().to(x.device))      # [B, T, D]
        if denormalize:
            mean = self.mean.to(pose)
            pose = pose * self.std.to(pose) + mean
            # Dimensions constant in training are the training mean, whatever a model predicts there, as
            # the protocol's code rebuilds poses (Martinez et al.'s and S-RNN's unNormalizeData).
            pose = torch.where(self.dim_used.to(pose.device), pose, mean)
        return pose

    def _pose_source(self) -> Tensor:
        """For each pose dimension, its position in the flattened ``[N * F]`` node layout."""
        src = torch.full((self.num_pose_dims,), -1, dtype=torch.long)
        flat = self.node_dims.view(-1)
        pos = torch.nonzero(flat >= 0).view(-1)
        src[flat[pos]] = pos
        if bool((src < 0).any()):  # pragma: no cover - every skeleton covers every dimension
            raise RuntimeError(f"{type(self).__name__}: pose dimensions {torch.nonzero(src < 0).view(-1)} "
                               f"belong to no node")
        return src

    def normalize(self, x: Tensor) -> Tensor:
        """Data units to model units, for poses ``[..., D]`` or node layout ``[B * N, T, F]``."""
        if x.size(-1) == self.num_pose_dims:
            return (x - self.mean.to(x)) / self.std.to(x)
        return (x - self._node_stat(self.node_mean, x)) / self._node_stat(self.node_std, x)

    def denormalize(self, x: Tensor) -> Tensor:
        """Model units back to data units, for poses ``[..., D]`` or node
        layout ``[B * N, T, F]`` (padding stays 0)."""
        if x.size(-1) == self.num_pose_dims:
            return x * self.std.to(x) + self.mean.to(x)
        return x * self._node_stat(self.node_std, x) + self._node_stat(self.node_mean, x)

    def _node_stat(self, stat: Tensor, x: Tensor) -> Tensor:
        N, F = stat.shape
        if x.dim() != 3 or x.size(-1) != F or x.size(0) % N != 0:
            raise ValueError(f"{type(self).__name__}: expected poses [..., {self.num_pose_dims}] or "
                             f"node layout [B * N, T, F] with N={N}, F={F} (got {list(x.shape)})")
        return stat.to(x).repeat(x.size(0) // N, 1).unsqueeze(1)         # [B*N, 1, F]

    # -------------------------------------------------------------- access
    @property
    def actions(self) -> List[str]:
        """The actions of the windows, in order of first appearance."""
        return list(dict.fromkeys(self.window_action))

    def action_indices(self, action: str) -> List[int]:
        """The indices of the windows of one action (``dataset[idx]`` gives a subset)."""
        if action not in self.window_action:
            raise ValueError(f"{type(self).__name__}: no windows of action {action!r} "
                             f"(actions: {self.actions})")
        return [i for i, a in enumerate(self.window_action) if a == action]

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)}, split={self.split!r}, graph={self.graph!r}, "
                f"obs={self.obs}, horizon={self.horizon})")


def _velocity_scale(frames: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray, used: np.ndarray,
                    step: int) -> float:
    """One over the standard deviation of the frame-to-frame change of the
    normalised frames kept at every ``step``-th frame, over the ``used``
    dimensions (1 where nothing changes)."""
    diffs = [np.diff(((f[::step] - mean) / std)[:, used], axis=0) for f in frames if f[::step].shape[0] > 1]
    spread = float(np.concatenate(diffs).std()) if diffs else 0.0
    return 1.0 / spread if spread > 0 else 1.0


def check_motion_features(name: str, features: str, loss_weight: Optional[str] = None) -> str:
    """``features`` (``"pos"`` or ``"pos_vel"``) and ``loss_weight`` (:obj:`None`,
    ``"std"`` or ``"var"``) checked; returns ``features``."""
    if features not in FEATURES:
        raise ValueError(f"{name}: 'features' must be one of {list(FEATURES)} (got {features!r})")
    if loss_weight not in LOSS_WEIGHTS:
        raise ValueError(f"{name}: 'loss_weight' must be one of {list(LOSS_WEIGHTS)} (got {loss_weight!r})")
    return features


def check_motion_options(name: str, split: str, graph: str, obs: int, horizon: int, stride: int,
                         windows: Optional[str], splits: Sequence[str] = ("train", "test")) -> str:
    """Check the options the motion datasets share; returns the window kind
    (``windows``, or its default: ``"sliding"`` for training and validation,
    ``"seeded"`` for testing). ``splits``: the dataset's splits.

    Raises:
        ValueError: naming the dataset ``name`` and the option.
    """
    if split not in splits:
        names = [repr(s) for s in splits]
        raise ValueError(f"{name}: 'split' must be {', '.join(names[:-1])} or {names[-1]} (got {split!r})")
    if graph not in ("body_parts", "joints"):
        raise ValueError(f"{name}: 'graph' must be 'body_parts' or 'joints' (got {graph!r})")
    for key, value in (("obs", obs), ("horizon", horizon), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: '{key}' must be a positive int (got {value!r})")
    if windows is None:
        windows = "seeded" if split == "test" else "sliding"
    if windows not in ("sliding", "seeded"):
        raise ValueError(f"{name}: 'windows' must be 'sliding' or 'seeded' (got {windows!r})")
    return windows

