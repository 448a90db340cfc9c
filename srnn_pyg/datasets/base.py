"""What every dataset of the library shares: :class:`STDataset` (windows,
normalisation and the protocol interface :meth:`~STDataset.open` /
:meth:`~STDataset.score`), data roots, errors."""
from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path
from typing import (Any, Callable, ClassVar, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import torch
from torch import Tensor
from torch_geometric.data import Dataset

from .. import metrics as M
from ..data import STData
from ..scalers import MinMaxScaler, RobustScaler, Scaler, StandardScaler
from ..schema import STSchema
from .registry import datasets_taking

__all__ = ["STDataset", "resolve_root", "require_file", "DataFormatError", "forecast_view"]

ENV_VAR = "SRNN_PYG_DATA"


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file and, where it
    applies, the line."""


def resolve_root(root: Optional[Union[str, os.PathLike]], subdir: str) -> Path:
    """The folder of one dataset: ``root`` if given, else ``$SRNN_PYG_DATA/subdir``.

    ``root`` may point at the dataset's own folder or at the folder that holds
    ``subdir``.

    Raises:
        FileNotFoundError: naming the folder that was expected.
    """
    if root is None:
        base = os.environ.get(ENV_VAR)
        if not base:
            raise FileNotFoundError(
                f"no data root: pass root=... or set {ENV_VAR} to the folder that holds "
                f"'{subdir}/'")
        root = Path(base) / subdir
    root = Path(root)
    if (root / subdir).is_dir():
        root = root / subdir
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: expected '{root}' (the '{subdir}' data)")
    return root


def require_file(path: Union[str, os.PathLike], what: str = "") -> Path:
    """``path`` as a :class:`Path`; :class:`FileNotFoundError` naming it if absent."""
    path = Path(path)
    if not path.is_file():
        extra = f" ({what})" if what else ""
        raise FileNotFoundError(f"missing data file: expected '{path}'{extra}")
    return path


def forecast_view(collected: Mapping[str, Tensor]) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """``(pred, y, y_mask)`` of a regression ``collected`` dict (see
    :meth:`STDataset.score`): the targets and their mask cut to the forecast's
    ``H`` steps; ``y_mask`` is :obj:`None` where the data has none.

    Raises:
        ValueError: if ``"pred"`` or ``"y"`` is missing or they do not line up.
    """
    for key in ("pred", "y"):
        if key not in collected:
            raise ValueError(f"score: the collected predictions lack {key!r} (keys: {sorted(collected)})")
    pred, y = collected["pred"], collected["y"]
    if pred.dim() != 3 or y.dim() != 3 or pred.size(0) != y.size(0) or pred.size(1) > y.size(1):
        raise ValueError(f"score: 'pred' must be [N, H, F] and 'y' [N, T >= H, F] "
                         f"(got {list(pred.shape)} and {list(y.shape)})")
    H = pred.size(1)
    y_mask = collected.get("y_mask")
    return pred, y[:, :H], None if y_mask is None else y_mask[:, :H]


#: scalers by name, for a dataset's ``normalize`` option (:meth:`STDataset.fit_scaler`)
SCALERS = {"standard": StandardScaler, "robust": RobustScaler, "minmax": MinMaxScaler}


class STDataset(Dataset):
    r"""A PyG :class:`~torch_geometric.data.Dataset` of :class:`~srnn_pyg.STData`
    windows cut lazily from whole recordings (no copy per window).

    Subclasses fill ``self.recordings`` (each an :class:`STData` holding a whole
    sequence, ``x`` ``[N, T_total, F]``, already normalised), ``self.index``
    (``(recording, start)`` pairs), ``self.schema``, ``obs`` and ``horizon``,
    and the normalisation statistics ``mean``/``std`` (``[F]``, from the
    training split only), then call ``super().__init__(transform=...)``.

    :meth:`denormalize` maps a model's predictions back to the data's units.

    **The protocol.** A dataset registered with
    :func:`~srnn_pyg.datasets.register_dataset` carries its literature's
    protocol, so that one pipeline serves every dataset:

    * class attributes :attr:`name` (the registry name), :attr:`splits`,
      :attr:`task` (``"regression"`` or ``"classification"``) and
      :attr:`defaults` (the protocol's window sizes and a batch size that
      suits the data);
    * :meth:`open` builds one split from generic options (``obs`` and
      ``horizon`` mapped to the class's own arguments, the training split's
      statistics reused), :meth:`has_split` says whether a split exists for
      given options;
    * :meth:`score` turns the predictions over a split (the dict of
      :func:`srnn_pyg.engine.collect`) into the table the literature reports,
      computed by :mod:`srnn_pyg.metrics`.

    .. code-block:: python

        cls = srnn_pyg.datasets.get("los_loop")
        train = cls.open("train")
        test = cls.open("test", train=train)
        test.score(collect(model, DataLoader(test, batch_size=8)))
    """

    schema: STSchema
    obs: int
    horizon: int

    #: The registry name (set by :func:`~srnn_pyg.datasets.register_dataset`).
    name: ClassVar[str] = ""
    #: The splits the protocol defines.
    splits: ClassVar[Tuple[str, ...]] = ("train", "val", "test")
    #: ``"regression"`` (forecasts ``[N, H, F]``) or ``"classification"`` (labels per step).
    task: ClassVar[str] = "regression"
    #: The protocol's defaults: ``obs``, ``horizon`` (``None`` where they do not
    #: apply), ``batch_size``, the dataset's own main options, and ``loss`` where the
    #: headline metric asks for another training loss than the squared error
    #: (``TrainConfig.loss``; e.g. ``"l1"`` for Los-loop's MAE).
    defaults: ClassVar[Dict[str, Any]] = {}
    #: The constructor argument that :meth:`open`'s ``obs`` and ``horizon`` map
    #: to; a generic option missing here does not apply (:meth:`open` raises).
    window_options: ClassVar[Dict[str, str]] = {"obs": "obs", "horizon": "horizon"}
    #: Whether the constructor takes :meth:`open`'s ``root`` (data files) and
    #: ``seed`` (random data); where not, the option is ignored.
    uses_root: ClassVar[bool] = True
    uses_seed: ClassVar[bool] = False
    #: Constructor options a split keeps to itself: :meth:`open` with
    #: ``train=`` passes on every other option the training split was built
    #: with (the window sizes, the held-out scene or fold, the normalisation).
    split_own: ClassVar[FrozenSet[str]] = frozenset({"split", "transform", "stats"})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_options(cls.__init__)

    def split_options(self) -> Dict[str, Any]:
        """The constructor options this split was built with, less
        :attr:`split_own`: what :meth:`open` passes on to the splits opened
        with ``train=self`` (an option given there wins)."""
        own = type(self).split_own
        return {k: v for k, v in self.__dict__.get("_init_options", {}).items() if k not in own}

    # ------------------------------------------------------------ protocol
    @classmethod
    def extra_options(cls) -> FrozenSet[str]:
        """The keywords :meth:`open` takes besides its generic ones: the
        constructor's arguments other than ``split``."""
        params = inspect.signature(cls.__init__).parameters
        return frozenset(k for k, p in params.items() if k not in ("self", "split")
                         and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))

    @classmethod
    def missing_split(cls, split: str, **extra: Any) -> Optional[str]:
        """Why ``split`` does not exist with the options ``extra``, or
        :obj:`None` if it does (see :meth:`has_split`)."""
        if split not in cls.splits:
            return f"splits: {', '.join(cls.splits)}"
        return None

    @classmethod
    def has_split(cls, split: str, **extra: Any) -> bool:
        """Whether :meth:`open` can build ``split`` with the options ``extra``
        (e.g. PyG Temporal sets have a ``"val"`` split only with ``val_ratio > 0``)."""
        return cls.missing_split(split, **extra) is None

    @classmethod
    def open_kwargs(cls, split: str, *, root=None, obs: Optional[int] = None,
                    horizon: Optional[int] = None, seed: Optional[int] = None, train: Optional["STDataset"] = None,
                    **extra: Any) -> Dict[str, Any]:
        """The constructor's keywords for :meth:`open` (the same arguments):
        ``obs``/``horizon`` under the names of :attr:`window_options`, ``root``
        and ``seed`` where the class uses them, then ``extra`` (which wins
        over a generic option mapped to the same argument) and ``split``.
        Subclasses extend it (e.g. to reuse ``train``'s statistics).

        Raises:
            ValueError: naming the option, for ``obs``/``horizon`` or an
                ``extra`` keyword that does not apply to this dataset.
        """
        allowed = cls.extra_options()
        for key in extra:
            if key not in allowed:
                where = datasets_taking(key)
                hint = (f"it applies to {', '.join(where)} only" if where
                        else f"options: {', '.join(sorted(allowed))}")
                raise ValueError(f"{cls.name or cls.__name__}: option {key!r} does not apply ({hint})")
        kw: Dict[str, Any] = {}
        for option, value in (("obs", obs), ("horizon", horizon)):
            if value is None:
                continue
            if option not in cls.window_options:
                raise ValueError(f"{cls.name or cls.__name__}: option {option!r} does not apply "
                                 f"(the windows are fixed)")
            kw[cls.window_options[option]] = value
        if cls.uses_root:
            kw["root"] = root
        if cls.uses_seed:
            kw["seed"] = 0 if seed is None else seed
        kw.update(extra)
        kw["split"] = split
        return kw

    @classmethod
    def open(cls, split: str, *, root=None, obs: Optional[int] = None, horizon: Optional[int] = None,
             seed: Optional[int] = None, train: Optional["STDataset"] = None, **extra: Any) -> "STDataset":
        """One split of the dataset from generic options.

        Args:
            split (str): one of :attr:`splits`.
            root (str or PathLike, optional): the data folder (ignored by
                synthetic data). (default: :obj:`None`: ``$SRNN_PYG_DATA``)
            obs (int, optional): observed steps per window, whatever the class
                calls them (``lags`` for PyG Temporal sets). (default:
                :obj:`None`: :attr:`defaults`)
            horizon (int, optional): predicted steps per window. (default:
                :obj:`None`: :attr:`defaults`)
            seed (int, optional): seed of random data (ignored by recorded
                data). (default: :obj:`None`: ``train``'s, else 0)
            train (STDataset, optional): the training split; the split
                opened takes its options (:meth:`split_options`: window
                sizes, held-out scene, fold or recordings, normalisation,
                graph and features; an option given here wins) and reuses
                its normalisation statistics instead of computing them
                again. (default: :obj:`None`)
            **extra: any other keyword of the class's constructor.

        Raises:
            ValueError: naming the dataset, the split and the valid ones for
                a split that does not exist; naming the option for one that
                does not apply.
        """
        if train is not None:
            if not isinstance(train, cls):
                raise TypeError(f"{cls.name or cls.__name__}: 'train' must be a training split of this dataset "
                                f"(got {type(train).__name__})")
            inherited = {k: v for k, v in train.split_options().items() if k in cls.extra_options()}
            kept = {option: inherited.pop(cls.window_options[option], None) for option in ("obs", "horizon")
                    if option in cls.window_options}
            obs = kept.get("obs") if obs is None else obs               # a generic option given here wins
            horizon = kept.get("horizon") if horizon is None else horizon
            kept_root, kept_seed = inherited.pop("root", None), inherited.pop("seed", None)
            root = kept_root if root is None else root
            seed = kept_seed if seed is None else seed              # a seed given here wins
            extra = {**inherited, **extra}
        reason = cls.missing_split(split, **extra)
        if reason is not None:
            raise ValueError(f"{cls.name or cls.__name__} has no split {split!r} ({reason})")
        return cls(**cls.open_kwargs(split, root=root, obs=obs, horizon=horizon, seed=seed,
                                     train=train, **extra))

    def feedback_kwargs(self) -> Dict[str, Any]:
        """Model keywords with which a forecaster rebuilds these windows'
        extra input channels from its own predictions (e.g. ``{"derived":
        "velocity"}`` for windows that hold velocities beside the predicted
        positions); empty where ``x`` holds only what is predicted (and
        covariates, which ``u_future`` carries). The command line passes
        them to models that take them."""
        return {}

    def reuse_options(self) -> Dict[str, Any]:
        """Keywords, in plain Python (to store in a checkpoint), with which
        :meth:`open` builds another split normalised like this training split
        without opening the training split again; empty where the data needs
        none (e.g. statistics read from the files)."""
        return {}

    def score(self, collected: Mapping[str, Tensor]) -> Dict[str, float]:
        """The protocol's metrics over the predictions of a whole split, as
        ``{column: value}`` (computed by :mod:`srnn_pyg.metrics`).

        ``collected`` is the dict of :func:`srnn_pyg.engine.collect`:
        ``"pred"`` (forecasts ``[N, H, F]`` in model units, or logits ``[N, T,
        C]``), ``"y"`` and, where present, ``"y_mask"``, ``"node_mask"``,
        ``"node_type"``, ``"x"``, ``"maneuver"``, ``"samples"`` ``[K, N, H,
        F]``; rows are the nodes of the split's windows in dataset order.

        This generic version reports ``accuracy`` per step (classification) or
        ``MSE`` and ``MAE`` in model units (regression); datasets override it.
        """
        if self.task == "classification":
            y = collected["y"]
            labels = collected["pred"][:, -y.size(1):].argmax(-1)                # [N, T]
            return {"accuracy": float(M.accuracy(labels, y, collected.get("y_mask")))}
        pred, y, y_mask = forecast_view(collected)
        return {"MSE": float(M.mse(pred, y, y_mask)), "MAE": float(M.mae(pred, y, y_mask))}

    def __init__(self, transform: Optional[Callable] = None):
        if not hasattr(self, "recordings"):
            self.recordings: List[STData] = []
        if not hasattr(self, "index"):
            self.index: List[Tuple[int, int]] = []
        root = self.__dict__.get("root")          # PyG's Dataset.__init__ overwrites it
        super().__init__(None, transform)
        if root is not None:
            self.root = root

    # PyG's Dataset asks for these; nothing is downloaded or processed on disk.
    @property
    def raw_file_names(self) -> List[str]:
        return []

    @property
    def processed_file_names(self) -> List[str]:
        return []

    def len(self) -> int:
        return len(self.index)

    def get(self, idx: int) -> STData:
        rec, start = self.index[idx]
        return self.recordings[rec].window(start, self.obs, self.horizon)

    # ---------------------------------------------------------- normalising
    mean: Optional[Tensor] = None
    std: Optional[Tensor] = None

    def normalize(self, x: Tensor) -> Tensor:
        """Data units to model units: ``(x - mean) / std`` over the last dim."""
        if self.mean is None:
            return x
        return (x - self.mean.to(x)) / self.std.to(x)

    def denormalize(self, x: Tensor) -> Tensor:
        """Model units back to data units: ``x * std + mean`` over the last dim."""
        if self.mean is None:
            return x
        return x * self.std.to(x) + self.mean.to(x)

    def fit_scaler(self, spec: Union[str, Scaler], frames: Tensor, what: str = "normalize") -> Tuple[Tensor, Tensor]:
        """Normalise with a :mod:`srnn_pyg.scalers` scaler: ``spec`` is a name
        (``"standard"``, ``"robust"``, ``"minmax"``) or a scaler object, fitted
        on ``frames`` ``[..., F]`` (the training split) unless it is fitted
        already; it becomes :attr:`scaler`. Returns its affine map as
        ``(mean, std)`` ``[F]`` (``(x - center) / scale``), which
        :meth:`normalize` and :meth:`denormalize` apply."""
        name = type(self).__name__
        if isinstance(spec, str):
            if spec not in SCALERS:
                raise ValueError(f"{name}: '{what}' must name one of {list(SCALERS)} or be a scaler (got {spec!r})")
            spec = SCALERS[spec]()
        if not isinstance(spec, Scaler):
            raise TypeError(f"{name}: '{what}' must be a scaler name or a srnn_pyg.scalers scaler "
                            f"(got {type(spec).__name__})")
        F = frames.size(-1)
        if not spec.fitted:
            spec.fit(frames.reshape(-1, F))
        center, scale = spec.center.reshape(-1).float(), spec.scale.reshape(-1).float()
        if center.numel() not in (1, F):
            raise ValueError(f"{name}: the '{what}' scaler must hold one statistic per feature ({F}) or one "
                             f"for all (axis='feature' or 'all'; got center of shape {list(spec.center.shape)})")
        self._scaler = spec
        return center.expand(F).clone(), scale.expand(F).clone()

    @property
    def scaler(self) -> Optional[Scaler]:
        """This split's normalisation as a :mod:`srnn_pyg.scalers` object,
        fitted on the training split: ``scaler.inverse_transform(pred)`` equals
        :meth:`denormalize` for per-feature statistics (the scaler a dataset
        was built with, or a :class:`~srnn_pyg.scalers.StandardScaler`
        holding ``mean`` and ``std``); :obj:`None` without normalisation.
        Save it with ``scaler.state_dict()``."""
        own = getattr(self, "_scaler", None)
        if own is not None:
            return own
        if self.mean is None:
            return None
        return StandardScaler().load_state_dict({"kind": StandardScaler.kind, "options": {},
                                                 "center": self.mean.clone(), "scale": self.std.clone()})

    @staticmethod
    def fit_stats(frames: Sequence[Tensor], eps: float = 1e-8) -> Tuple[Tensor, Tensor]:
        """Per-feature mean and std over ``[..., F]`` tensors (the training split);
        a feature that never varies gets std 1."""
        flat = torch.cat([f.reshape(-1, f.size(-1)).double() for f in frames])
        mean, std = flat.mean(0), flat.std(0)
        std = torch.where(std < eps, torch.ones_like(std), std)
        return mean.float(), std.float()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)}, obs={self.obs}, horizon={self.horizon})"


def _recording_options(init: Callable) -> Callable:
    """Wrap a dataset's ``__init__`` so that the outermost call keeps the
    options it was given, by name (``_init_options``), for
    :meth:`STDataset.split_options`."""
    sig = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args: Any, **kwargs: Any) -> None:
        outer = "_init_options" not in self.__dict__
        if outer:
            bound = sig.bind(self, *args, **kwargs).arguments
            self.__dict__["_init_options"] = {k: v for k, v in list(bound.items())[1:]
                                              if sig.parameters[k].kind not in (inspect.Parameter.VAR_KEYWORD,
                                                                                inspect.Parameter.VAR_POSITIONAL)}
        init(self, *args, **kwargs)

    return wrapper
