"""The embedded synthetic dataset: typed interacting particles on springs, :class:`Springs`."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .. import metrics as M
from ..data import STData
from ..scalers import Scaler
from ..schema import STSchema
from .base import STDataset, forecast_view
from .registry import register_dataset

__all__ = ["Springs"]

_SPLITS = ("train", "val", "test")
_DEFAULT_NUM_GRAPHS = {"train": 1000, "val": 200, "test": 200}
_NODE_NAMES = {1: ["particle"], 2: ["light", "heavy"], 3: ["light", "medium", "heavy"]}
_SPRING_NAMES = {1: ["spring"], 2: ["soft", "stiff"], 3: ["soft", "medium", "stiff"]}


def _geometric(lo: float, hi: float, n: int) -> List[float]:
    """``n`` values from ``lo`` to ``hi``, evenly spaced on a log scale (``[lo]`` if ``n == 1``)."""
    if n == 1:
        return [float(lo)]
    return [float(v) for v in np.geomspace(lo, hi, n)]


def _type_names(n: int, table: dict, prefix: str) -> List[str]:
    return list(table[n]) if n in table else [f"{prefix}{i}" for i in range(n)]


def _check_physics(name: str, spring_prob: float, loc_std: float, dt: float, vel_norm: float,
                   box_size: Optional[float]) -> None:
    if not 0.0 <= float(spring_prob) <= 1.0:
        raise ValueError(f"{name}: 'spring_prob' must lie in [0, 1] (got {spring_prob!r})")
    for arg, value in (("loc_std", loc_std), ("dt", dt)):
        if not float(value) > 0:
            raise ValueError(f"{name}: '{arg}' must be > 0 (got {value!r})")
    if not float(vel_norm) >= 0:
        raise ValueError(f"{name}: 'vel_norm' must be >= 0 (got {vel_norm!r})")
    if box_size is not None and not float(box_size) > 0:
        raise ValueError(f"{name}: 'box_size' must be > 0 or None (got {box_size!r})")


def _type_values(name: str, arg: str, values: Optional[Sequence[float]], count: int, count_arg: str,
                 span: Tuple[float, float]) -> List[float]:
    """One positive value per type: ``values``, or ``count`` spaced geometrically over ``span``."""
    values = _geometric(span[0], span[1], count) if values is None else list(values)
    if len(values) != count:
        raise ValueError(f"{name}: '{arg}' must hold {count_arg}={count} values "
                         f"(got {len(values)}: {values})")
    if not all(float(v) > 0 for v in values):
        raise ValueError(f"{name}: '{arg}' must all be > 0 (got {values})")
    return values


def _typed_schema(P: int, S: int) -> Tuple[STSchema, Tensor, Tensor]:
    """The schema of ``P`` particle and ``S`` spring types: node types in mass
    order; edge types spring-type major, then unordered node-type pairs
    ``a <= b``. Also the edge type of each ``(spring, type, type)``
    (``[S, P, P]``) and the spring type of each edge type."""
    node_names = _type_names(P, _NODE_NAMES, "m")
    rel_names = _type_names(S, _SPRING_NAMES, "k")
    pairs = [(a, b) for a in range(P) for b in range(a, P)]
    schema = STSchema(node_names, [(node_names[a], rel, node_names[b])
                                   for rel in rel_names for a, b in pairs])
    lookup = torch.empty(S, P, P, dtype=torch.long)                     # spring, type, type -> k
    for s in range(S):
        for q, (a, b) in enumerate(pairs):
            lookup[s, a, b] = lookup[s, b, a] = s * len(pairs) + q
    return schema, lookup, torch.arange(S).repeat_interleave(len(pairs))


def _simulate(seed_seq: np.random.SeedSequence, B: int, N: int, T: int, masses: np.ndarray,
              stiffness: np.ndarray, spring_prob: float, box_size: Optional[float], loc_std: float,
              vel_norm: float, dt: float, sample_every: int
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Simulate ``B`` independent systems of ``N`` particles for ``T`` frames at once.

    Every random quantity of simulation ``b`` is read from row ``b`` of two
    row-major draws (one uniform, one normal, from separate streams), so the
    first ``B'`` simulations do not depend on ``B``.

    Returns:
        ``x`` ``[B, N, T, 4]`` float64 (position, velocity), ``node_type``
        ``[B, N]`` int64 and ``spring`` ``[B, N, N]`` int64 (spring type index,
        ``-1`` where two particles are not joined; symmetric, ``-1`` on the diagonal).
    """
    P, S = len(masses), len(stiffness)
    iu, ju = np.triu_indices(N, k=1)
    M = iu.size                                                      # pairs i < j
    uni_seq, nor_seq = seed_seq.spawn(2)
    u = np.random.default_rng(uni_seq).random((B, N + 2 * M))         # [B, N + 2M]
    z = np.random.default_rng(nor_seq).standard_normal((B, 4 * N))   # [B, 4N]

    node_type = np.minimum((u[:, :N] * P).astype(np.int64), P - 1)   # [B, N]
    joined = u[:, N:N + M] < spring_prob                             # [B, M]
    kind = np.minimum((u[:, N + M:] * S).astype(np.int64), S - 1)    # [B, M]
    pair_spring = np.where(joined, kind, -1)                         # [B, M]
    spring = np.full((B, N, N), -1, dtype=np.int64)
    spring[:, iu, ju] = pair_spring
    spring[:, ju, iu] = pair_spring

    # Hooke forces with zero rest length are linear in the positions:
    # F_i = -sum_j k_ij (x_i - x_j) = -(L x)_i with the weighted Laplacian L = D - K.
    k = np.where(spring >= 0, stiffness[np.maximum(spring, 0)], 0.0)   # [B, N, N]
    lap = np.eye(N)[None] * k.sum(-1, keepdims=True) - k               # [B, N, N]
    inv_m = (1.0 / masses[node_type])[..., None]                       # [B, N, 1]

    def accel(pos: np.ndarray) -> np.ndarray:
        return -(lap @ pos) * inv_m                                    # [B, N, 2]

    pos = z[:, :2 * N].reshape(B, N, 2) * loc_std                      # [B, N, 2]
    vel = z[:, 2 * N:].reshape(B, N, 2)                                # [B, N, 2]
    vel = vel * (vel_norm / np.maximum(np.linalg.norm(vel, axis=-1, keepdims=True), 1e-12))

    def walls(pos: np.ndarray, vel: np.ndarray) -> None:
        # Elastic walls at +-b: unfold the straight path through the mirror images
        # of the box. The k-th image spans [(2k-1)b, (2k+1)b); odd images are
        # mirrored, so position and velocity flip there. Exact for any overshoot.
        if box_size is None:
            return
        b = box_size
        image = np.floor((pos + b) / (2 * b))                        # [B, N, 2]
        if not image.any():
            return
        odd = np.mod(image, 2) == 1
        local = pos - 2 * b * image                                  # in [-b, b)
        pos[...] = np.where(odd, -local, local)
        vel[...] = np.where(odd, -vel, vel)

    walls(pos, vel)
    x = np.empty((B, N, T, 4))
    x[:, :, 0, :2], x[:, :, 0, 2:] = pos, vel
    acc = accel(pos)
    for t in range(1, T):  # velocity Verlet (kick-drift-kick), vectorised over simulations
        for _ in range(sample_every):
            vel += 0.5 * dt * acc
            pos += dt * vel
            walls(pos, vel)
            acc = accel(pos)
            vel += 0.5 * dt * acc
        x[:, :, t, :2], x[:, :, t, 2:] = pos, vel
    return x, node_type, spring


@register_dataset("springs")
class Springs(STDataset):
    r"""Typed interacting particles joined by springs, after the springs
    system of `Kipf et al., "Neural Relational Inference for Interacting
    Systems" (ICML 2018) <https://arxiv.org/abs/1802.04687>`_, with particle
    types (masses) and spring types (stiffnesses), so that a typed S-RNN has
    one nodeRNN per particle type and one edgeRNN per pair of particle types
    and spring type. The library's embedded default dataset: simulated on the
    fly (about a second for the default train split), seeded, no download.

    Each simulation places ``num_nodes`` particles in the square box
    :math:`[-b, b]^2` (positions :math:`\sim \mathcal{N}(0, \sigma^2)`, speeds
    ``vel_norm`` in uniformly random directions), draws each particle's type
    uniformly (mass :math:`m_i`), joins each unordered pair with probability
    ``spring_prob`` by a spring of a uniformly drawn type (stiffness
    :math:`k_{ij}`, zero rest length), and integrates

    .. math::
        m_i \ddot{\mathbf{p}}_i = -\sum_{j \in \mathcal{N}(i)} k_{ij}
        \left(\mathbf{p}_i - \mathbf{p}_j\right)

    with velocity Verlet steps of ``dt``, keeping every ``sample_every``-th
    step as a frame; a particle crossing a wall is mirrored back into the box
    and its velocity component reversed (elastic walls). Momentum is conserved
    between wall hits and the energy
    :math:`\sum_i \frac{m_i}{2}\|\dot{\mathbf{p}}_i\|^2 + \sum_{i<j}
    \frac{k_{ij}}{2}\|\mathbf{p}_i - \mathbf{p}_j\|^2` throughout, up to the
    integration error. With the defaults (``dt * sample_every = 0.1`` time units
    per frame, stiffness ``0.1``/``1.0``, masses ``1``/``4``) soft springs bend
    trajectories slowly, as in NRI, and stiff springs between light particles
    oscillate with a period of a few dozen frames.

    Each simulation gives ``num_windows`` windows of ``obs`` observed and
    ``horizon`` future frames (``window_stride`` frames apart), each an
    :class:`~srnn_pyg.STData` with ``x`` ``[num_nodes, obs, 4]`` and ``y``
    ``[num_nodes, horizon, 4]``; the features are position ``(p_x, p_y)`` then
    velocity ``(v_x, v_y)``. Springs are stored both ways in ``edge_index``.
    Each simulation draws its own graph and node types, so windows differ in
    edge count; windows of one simulation share it.

    **Normalisation.** With ``normalize=True`` (default) the windows hold
    ``(x - mean) / std`` per feature, with :attr:`mean` and :attr:`std`
    (``[4]``) fitted on all frames of the train split; :meth:`denormalize`
    maps predictions back. A val/test split takes ``stats=train.stats``, or,
    without it, simulates the train split of the same configuration (the same
    ``num_graphs``, or the train default when it is :obj:`None`) to fit them.
    With the defaults the normalised features stay within about ``+-5``
    (positions) and ``+-7`` (velocities). With ``normalize=False`` the windows
    hold raw units (positions within ``[-box_size, box_size]``, about ``+-4.5``
    with the defaults; velocities within about ``+-3.5``); :attr:`mean` and
    :attr:`std` are then :obj:`None`. Either way the values are of order 1.

    **Schema.** Node types are ``["light", "heavy"]`` (mass order) and the
    undirected edge types are ``(a, rel, b)`` for each spring type ``rel`` in
    ``["soft", "stiff"]`` and each unordered pair ``a <= b`` of node types,
    spring type major: ``[("light", "soft", "light"), ("light", "soft", "heavy"),
    ("heavy", "soft", "heavy"), ("light", "stiff", "light"), ("light",
    "stiff", "heavy"), ("heavy", "stiff", "heavy")]``, with temporal edges.
    With other counts the names are ``["particle"]``/``["spring"]`` for one
    type, ``["light", "medium", "heavy"]``/``["soft", "medium", "stiff"]``
    for three, and ``m0, m1, ...``/``k0, k1, ...`` beyond.

    .. code-block:: python

        from torch_geometric.loader import DataLoader
        train = Springs(split="train")
        test = Springs(split="test", stats=train.stats)
        batch = next(iter(DataLoader(train, batch_size=32, shuffle=True)))
        batch.x.shape, batch.y.shape   # [160, 40, 4], [160, 20, 4]

    **Protocol** (registry name ``"springs"``; :meth:`open`, :meth:`score`):
    splits ``"train"``, ``"val"``, ``"test"``; defaults ``obs = 40``,
    ``horizon = 20``, 1000 / 200 / 200 simulations, batch size 32.
    ``Springs.open(split, num_graphs=n, seed=s)`` gives the training split
    ``n`` simulations and the val/test splits ``max(1, n // 5)``; a val/test
    split takes the training split's statistics (``train=``, or else it opens
    the training split of the same options to fit them); ``root`` is ignored.
    :meth:`score` reports the MSE over all four features in normalised units
    after 1, 10 and 20 steps (``MSE@1``, ``MSE@10``, ``MSE@20``, those within
    the horizon) and over the whole horizon (``MSE``), as
    ``examples/forecast_springs.py`` does.

    Args:
        num_graphs (int, optional): number of simulations; :obj:`None` gives
            1000 for ``"train"`` and 200 for ``"val"``/``"test"``.
            (default: :obj:`None`)
        num_nodes (int, optional): particles per simulation. (default: :obj:`5`)
        obs (int, optional): observed frames per window. (default: :obj:`40`)
        horizon (int, optional): future frames per window. (default: :obj:`20`)
        split (str, optional): ``"train"``, ``"val"`` or ``"test"``; each split
            draws from its own random stream, so splits never share a
            simulation. (default: :obj:`"train"`)
        seed (int, optional): seed; the data is a function of the seed, the
            split and the physical arguments, and the first ``n`` simulations
            do not depend on ``num_graphs``. (default: :obj:`0`)
        num_node_types (int, optional): particle types, one mass each.
            (default: :obj:`2`)
        num_spring_types (int, optional): spring types, one stiffness each.
            (default: :obj:`2`)
        masses (sequence of float, optional): the mass of each particle type,
            ``num_node_types`` values; :obj:`None` spaces them geometrically
            from 1 to 4. (default: :obj:`None`)
        stiffness (sequence of float, optional): the stiffness of each spring
            type, ``num_spring_types`` values; :obj:`None` spaces them
            geometrically from 0.1 (NRI's interaction strength) to 1.
            (default: :obj:`None`)
        spring_prob (float, optional): probability that a pair of particles
            is joined by a spring. (default: :obj:`0.5`)
        box_size (float, optional): walls at ``+-box_size``; :obj:`None`
            removes them. (default: :obj:`5.0`)
        loc_std (float, optional): standard deviation of initial positions.
            (default: :obj:`0.5`)
        vel_norm (float, optional): initial speed of every particle.
            (default: :obj:`0.5`)
        dt (float, optional): integration step. (default: :obj:`0.01`)
        sample_every (int, optional): integration steps per frame.
            (default: :obj:`10`)
        num_windows (int, optional): windows per simulation. (default: :obj:`1`)
        window_stride (int, optional): frames between the starts of
            consecutive windows of a simulation; :obj:`None` uses ``horizon``.
            (default: :obj:`None`)
        normalize (bool, str or Scaler, optional): normalise the windows
            with the train statistics: ``True`` (mean and std per feature), a
            scaler name (``"standard"``, ``"robust"``, ``"minmax"``) or a
            :mod:`srnn_pyg.scalers` scaler (fitted on the train split's
            frames unless fitted already; :attr:`scaler`), or ``False``.
            (default: :obj:`True`)
        stats (tuple of Tensor, optional): ``(mean, std)`` of the train split,
            each ``[4]``, to normalise with instead of fitting them.
            (default: :obj:`None`)
        transform (callable, optional): applied to each window on access.
            (default: :obj:`None`)

    Attributes:
        schema (STSchema): the node and edge types described above.
        masses (Tensor): ``[num_node_types]`` mass of each node type.
        stiffness (Tensor): ``[num_spring_types]`` stiffness of each spring type.
        edge_spring (Tensor): ``[num_edge_types]`` spring type of each edge type.
        frame_dt (float): simulated time between frames, ``dt * sample_every``.
        mean, std (Tensor or None): ``[4]`` train statistics (``None`` if not normalised).
    """

    num_features = 4
    splits = _SPLITS
    task = "regression"
    #: the features that are 2-d positions (for trajectory pictures)
    position_channels = (0, 1)
    defaults = {"obs": 40, "horizon": 20, "num_graphs": 1000, "batch_size": 32}
    uses_root = False
    uses_seed = True
    #: how each split cuts its simulations into windows, not passed on by ``open(..., train=...)``
    split_own = STDataset.split_own | {"num_windows", "window_stride"}

    def __init__(
        self,
        num_graphs: Optional[int] = None,
        num_nodes: int = 5,
        obs: int = 40,
        horizon: int = 20,
        split: str = "train",
        seed: int = 0,
        num_node_types: int = 2,
        num_spring_types: int = 2,
        masses: Optional[Sequence[float]] = None,
        stiffness: Optional[Sequence[float]] = None,
        spring_prob: float = 0.5,
        box_size: Optional[float] = 5.0,
        loc_std: float = 0.5,
        vel_norm: float = 0.5,
        dt: float = 0.01,
        sample_every: int = 10,
        num_windows: int = 1,
        window_stride: Optional[int] = None,
        normalize: Union[bool, str, Scaler] = True,
        stats: Optional[Tuple[Tensor, Tensor]] = None,
        transform: Optional[Callable] = None,
    ):
        name = type(self).__name__
        if split not in _SPLITS:
            raise ValueError(f"{name}: 'split' must be one of {list(_SPLITS)} (got {split!r})")
        self._default_size = num_graphs is None
        if num_graphs is None:
            num_graphs = _DEFAULT_NUM_GRAPHS[split]
        if window_stride is None:
            window_stride = horizon
        for arg, value, low in (("num_graphs", num_graphs, 1), ("num_nodes", num_nodes, 2),
                                ("obs", obs, 1), ("horizon", horizon, 1),
                                ("num_node_types", num_node_types, 1),
                                ("num_spring_types", num_spring_types, 1),
                                ("sample_every", sample_every, 1), ("num_windows", num_windows, 1),
                                ("window_stride", window_stride, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: '{arg}' must be an int >= {low} (got {value!r})")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{name}: 'seed' must be a non-negative int (got {seed!r})")
        _check_physics(name, spring_prob, loc_std, dt, vel_norm, box_size)
        masses = _type_values(name, "masses", masses, num_node_types, "num_node_types", (1.0, 4.0))
        stiffness = _type_values(name, "stiffness", stiffness, num_spring_types, "num_spring_types",
                                 (0.1, 1.0))
        if stats is not None:
            if (not isinstance(stats, (tuple, list)) or len(stats) != 2
                    or any(tuple(torch.as_tensor(s).shape) != (4,) for s in stats)):
                raise ValueError(f"{name}: 'stats' must be a pair (mean, std) of [4] tensors "
                                 f"(got {stats!r})")

        self.split, self.seed = split, int(seed)
        self.num_graphs, self.num_nodes = int(num_graphs), int(num_nodes)
        self.obs, self.horizon = int(obs), int(horizon)
        self.num_windows, self.window_stride = int(num_windows), int(window_stride)
        self.frame_dt = float(dt) * int(sample_every)
        self.masses = torch.tensor(masses, dtype=torch.float)
        self.stiffness = torch.tensor(stiffness, dtype=torch.float)
        physics = dict(N=self.num_nodes, masses=np.asarray(masses, dtype=np.float64),
                       stiffness=np.asarray(stiffness, dtype=np.float64),
                       spring_prob=float(spring_prob),
                       box_size=None if box_size is None else float(box_size),
                       loc_std=float(loc_std), vel_norm=float(vel_norm), dt=float(dt),
                       sample_every=int(sample_every))
        self._physics = physics

        self.schema, lookup, self.edge_spring = _typed_schema(num_node_types, num_spring_types)

        T_total = self.obs + self.horizon + (self.num_windows - 1) * self.window_stride
        x, node_type, spring = _simulate(self._seed_sequence(split), self.num_graphs, T=T_total,
                                         **physics)
        x = torch.from_numpy(x).float()                                  # [B, N, T, 4]

        if normalize is not False and normalize is not None:
            if stats is None and normalize is True:
                stats = self.fit_stats([self._train_frames(x, T_total)])
            elif stats is None:            # a scaler by name or object, fitted on the train split's frames
                stats = self.fit_scaler(normalize, self._train_frames(x, T_total))
            self.mean = torch.as_tensor(stats[0], dtype=torch.float).clone()
            self.std = torch.as_tensor(stats[1], dtype=torch.float).clone()
            x = self.normalize(x)
        else:
            self.mean = self.std = None

        self.recordings = self._recordings(x, torch.from_numpy(node_type), torch.from_numpy(spring),
                                           lookup)
        self.index = [(b, w * self.window_stride) for b in range(self.num_graphs)
                      for w in range(self.num_windows)]
        super().__init__(transform=transform)

    # ----------------------------------------------------------------- helpers
    def _recordings(self, x: Tensor, node_type: Tensor, spring: Tensor, lookup: Tensor) -> List[STData]:
        """One recording per simulation from ``x`` ``[B, N, T, 4]``, node types
        ``[B, N]`` and spring types ``[B, N, N]``; the loop is over simulations
        (objects), the physics is vectorised."""
        b_idx, src, dst = (spring >= 0).nonzero(as_tuple=True)           # sorted by simulation
        edge_type = lookup[spring[b_idx, src, dst], node_type[b_idx, src], node_type[b_idx, dst]]
        counts = torch.bincount(b_idx, minlength=self.num_graphs).tolist()
        out: List[STData] = []
        for b, (s, d, et) in enumerate(zip(src.split(counts), dst.split(counts),
                                           edge_type.split(counts))):
            rec = STData(x=x[b], edge_index=torch.stack([s, d]), node_type=node_type[b], edge_type=et)
            rec.schema = self.schema
            out.append(rec)
        return out

    def _seed_sequence(self, split: str) -> np.random.SeedSequence:
        return np.random.SeedSequence([self.seed, _SPLITS.index(split)])

    def _train_frames(self, x: Tensor, T_total: int) -> Tensor:
        """The train split's raw frames (simulated again for a val/test split)."""
        if self.split != "train":
            B = _DEFAULT_NUM_GRAPHS["train"] if self._default_size else self.num_graphs
            raw, _, _ = _simulate(self._seed_sequence("train"), B, T=T_total, **self._physics)
            x = torch.from_numpy(raw).float()
        return x

    @property
    def stats(self) -> Optional[Tuple[Tensor, Tensor]]:
        """``(mean, std)`` of the train split, to pass to a val/test :class:`Springs`."""
        return None if self.mean is None else (self.mean, self.std)

    # ---------------------------------------------------------------- protocol
    @classmethod
    def open_kwargs(cls, split: str, *, train: Optional[STDataset] = None, **options: Any) -> Dict[str, Any]:
        """:meth:`STDataset.open_kwargs`, then the CLI's conventions:
        ``num_graphs`` counts training simulations (val/test get
        ``max(1, num_graphs // 5)``), and a normalised val/test split takes
        the statistics of ``train`` (or of the training split opened with
        the same options)."""
        kw = super().open_kwargs(split, train=train, **options)
        if split == "train":
            return kw
        if kw.get("num_graphs") is not None:
            kw["num_graphs"] = max(1, kw["num_graphs"] // 5)
        if "stats" not in kw and kw.get("normalize", True):
            kw["stats"] = (train if train is not None else cls.open("train", **options)).stats
        return kw

    def reuse_options(self) -> Dict[str, Any]:
        """``{"stats": [mean, std]}`` as lists (empty if not normalised)."""
        return {} if self.mean is None else {"stats": [self.mean.tolist(), self.std.tolist()]}

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """``MSE@1``, ``MSE@10``, ``MSE@20`` (those within the horizon) and
        ``MSE`` over the horizon, all features, normalised units."""
        pred, y, y_mask = forecast_view(collected)
        per = M.per_horizon("mse", pred, y, y_mask)                          # [H]
        out = {f"MSE@{h}": float(per[h - 1]) for h in (1, 10, 20) if h <= pred.size(1)}
        out["MSE"] = float(M.mse(pred, y, y_mask))
        return out

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)}, split={self.split!r}, obs={self.obs}, "
                f"horizon={self.horizon})")
