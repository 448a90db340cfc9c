"""What the commands build from their options, through the public registries:
dataset splits (:func:`srnn_pyg.datasets.get` and the class's ``open``) and
models (:func:`srnn_pyg.models.get` / :func:`srnn_pyg.models.build`).

A run's data options are kept as one plain dict, the *data config*
(``data_root``, ``obs``, ``horizon``, ``num_graphs``, ``fold``, ``seed`` and
``extra`` keyword arguments), which the checkpoint stores so that
``evaluate`` and ``forecast`` open the same data again."""
from __future__ import annotations

import inspect
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .options import CLIError, key_values

__all__ = ["dataset_names", "dataset_class", "data_config", "typed_data_config", "open_split", "open_splits",
           "keep_reuse", "no_split_message", "task_of", "check_device", "option_error",
           "model_class", "model_kwargs", "model_extra", "build", "num_params", "objective_for", "loader"]

#: data-config keys handed to ``open`` as extra keywords when given
_EXTRA_KEYS = ("num_graphs", "fold")


# ================================================================= datasets
def dataset_names() -> List[str]:
    from ..datasets import available
    return list(available())


def dataset_class(name: str):
    """The registered dataset class ``name`` (:class:`CLIError` when unknown)."""
    from .. import datasets
    if not isinstance(name, str) or name.lower() not in datasets.available():
        raise CLIError(f"unknown dataset {name!r} (available: {', '.join(datasets.available())})")
    return datasets.get(name)


def data_config(args) -> Dict[str, Any]:
    """The data config of ``evaluate``/``forecast``'s former-style options."""
    return {"data_root": str(args.data_root) if args.data_root else None, "obs": args.obs,
            "horizon": args.horizon, "num_graphs": args.num_graphs, "fold": args.fold,
            "seed": getattr(args, "seed", 0), "extra": key_values(args.dataset_arg, "--dataset-arg")}


def typed_data_config(data, extra: Dict[str, Any]) -> Dict[str, Any]:
    """The data config of the typed ``--data.*`` options: ``data`` is the
    parsed group, ``extra`` its constructor values that differ from the
    signature's defaults (see :func:`srnn_pyg.cli.typed.explicit`)."""
    generic = ("root", "obs", "horizon")
    return {"data_root": data.get("root"), "obs": data.get("obs"), "horizon": data.get("horizon"),
            "seed": data.get("seed", 0) if data.get("seed") is not None else 0,
            "extra": {k: v for k, v in extra.items() if k not in generic}}


def _open_kwargs(cfg: Dict[str, Any]) -> Dict[str, Any]:
    kw: Dict[str, Any] = {"root": cfg.get("data_root"), "obs": cfg.get("obs"),
                          "horizon": cfg.get("horizon"), "seed": cfg.get("seed", 0)}
    kw.update({k: cfg[k] for k in _EXTRA_KEYS if cfg.get(k) is not None})
    kw.update(cfg.get("extra") or {})
    return kw


def open_split(name: str, split: str, cfg: Dict[str, Any], train=None):
    """One split of dataset ``name`` from the data config; ``train`` is the
    opened training split whose statistics a val/test split reuses."""
    cls = dataset_class(name)
    if split not in cls.splits:
        raise CLIError(f"{name} has no split {split!r} (splits: {', '.join(cls.splits)})")
    try:
        return cls.open(split, train=train, **_open_kwargs(cfg))
    except TypeError as e:
        raise CLIError(f"{name}: bad dataset argument ({e})") from None


def open_splits(name: str, cfg: Dict[str, Any], splits: Sequence[Optional[str]],
                with_train: bool = True) -> Dict[str, Any]:
    """The training split and each of ``splits`` (those that are not None),
    every one normalised with the training split's statistics.

    ``"val"`` is left out (None) where the dataset has no validation part
    (no such split, or one without windows under this config). With
    ``with_train=False`` and the training split's ``reuse`` options in the
    config (:func:`keep_reuse`), the other splits are opened with those
    instead of opening the training split again."""
    reuse = cfg.get("reuse") or {}
    if not with_train and reuse and "train" not in splits:
        cfg = {**cfg, "extra": {**(cfg.get("extra") or {}), **reuse}}
        return {s: open_split(name, s, cfg) for s in splits if s is not None}
    train = open_split(name, "train", cfg)
    out: Dict[str, Any] = {"train": train}
    for split in splits:
        if split is None or split in out:
            continue
        if split == "val" and not _has_val(name, cfg):
            out["val"] = None
            continue
        out[split] = open_split(name, split, cfg, train=train)
    return out


def keep_reuse(cfg: Dict[str, Any], train) -> None:
    """Record in the data config (and so in the checkpoint) the options with
    which other splits are normalised like ``train`` without opening it again
    (``train.reuse_options()``, e.g. Springs' statistics)."""
    reuse = train.reuse_options() if hasattr(train, "reuse_options") else {}
    if reuse:
        cfg["reuse"] = reuse
    recorded = train.recorded_options() if hasattr(train, "recorded_options") else {}
    if recorded:                                     # e.g. a data file's absolute path, for the saved run
        cfg["extra"] = {**(cfg.get("extra") or {}), **recorded}


def no_split_message(name: str, cfg: Dict[str, Any], split: str) -> str:
    """Why dataset ``name`` has no ``split`` under the data config ``cfg``."""
    cls = dataset_class(name)
    extra = {k: v for k, v in _open_kwargs(cfg).items() if k not in ("root", "obs", "horizon", "seed")}
    why = getattr(cls, "missing_split", None)
    reason = why(split, **extra) if why is not None else None
    return f"{name} has no split {split!r}" + (f" ({reason})" if reason else "")


def _has_val(name: str, cfg: Dict[str, Any]) -> bool:
    cls = dataset_class(name)
    if "val" not in cls.splits:
        return False
    has = getattr(cls, "has_split", None)
    extra = {k: v for k, v in _open_kwargs(cfg).items() if k not in ("root", "obs", "horizon", "seed")}
    return True if has is None else bool(has("val", **extra))


def option_error(error: Exception, flags: Dict[str, str]) -> Exception:
    """A constructor's ``Class: 'key' must be ...`` error as a :class:`CLIError`
    naming the command's option for ``key`` (``flags``: key -> option); other
    errors as they are."""
    m = re.match(r"\w+: '(\w+)' (.*)", " ".join(str(error).split()))
    if m and m.group(1) in flags:
        return CLIError(f"{flags[m.group(1)]}: {m.group(2)}")
    return error


def check_device(device: Optional[str], flag: str) -> None:
    """A device option that names no usable device is a :class:`CLIError` naming ``flag``."""
    from ..engine import resolve_device
    try:
        resolve_device(device)
    except ValueError as e:
        raise CLIError(f"{flag}: {' '.join(str(e).split())}") from None


def task_of(dataset) -> str:
    """``"regression"`` or ``"classification"``: the dataset class's task."""
    return getattr(type(dataset), "task", None) or getattr(dataset, "task", "regression")


def loader(dataset, batch_size: int, shuffle: bool = False, num_workers: int = 0):
    from torch_geometric.loader import DataLoader
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers)


# =================================================================== models
def model_class(name: str):
    """The registered model class ``name`` (:class:`CLIError` when unknown)."""
    from .. import models
    if not isinstance(name, str) or name.lower() not in models.available():
        raise CLIError(f"unknown model {name!r} (available: {', '.join(models.available())})")
    return models.get(name)


def _params(name: str):
    return inspect.signature(model_class(name).__init__).parameters


def _takes_any(params) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in params.values())


def model_kwargs(name: str, hidden: Optional[int], classification: bool, extra: Dict[str, Any],
                 structure: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Constructor arguments from the command's options: ``--hidden`` mapped
    to each model's size arguments, ``task`` for classification data, the
    window sizes and covariates (``structure``: ``obs_len``, ``horizon``,
    ``covariates``: the width of the windows' ``u_future``, and the dataset's
    ``feedback_kwargs()``, e.g. ``derived="velocity"``) for models that take
    them, then ``--model-arg`` values, which win."""
    params = _params(name)
    kw: Dict[str, Any] = {}
    if hidden is not None:
        if {"edge_hidden", "node_hidden"} <= set(params):
            kw.update(edge_hidden=hidden, node_hidden=hidden)
            if "edge_mlp" in params and "node_mlp" in params:
                kw.update(edge_mlp=(hidden,), node_mlp=(hidden,))
        elif "hidden" in params:
            kw["hidden"] = hidden
        elif "hidden_channels" in params:
            kw["hidden_channels"] = hidden
    if classification and "task" in params:
        kw["task"] = "classification"
    for key, value in (structure or {}).items():  # window sizes of models that are built for them
        if key in params and value:
            kw[key] = value
    kw.update(extra)
    unknown = [k for k in kw if k not in params and not _takes_any(params)]
    if unknown:
        own = [p for p in params if p not in ("self", "schema", "in_channels", "out_channels")]
        raise CLIError(f"model {name!r} takes no argument {unknown[0]!r} (its arguments: {', '.join(own)})")
    return kw


def model_extra(items: Optional[Sequence[str]], name: str, strict: bool) -> Dict[str, Any]:
    """The ``--model-arg`` values for model ``name``: its ``name.KEY`` ones
    and the unscoped ones. With ``strict=False`` (compare), an unscoped key
    that the model does not take is left out for that model."""
    params = _params(name)
    out: Dict[str, Any] = {}
    for key, value in key_values(items, "--model-arg", scoped=True).items():
        scope, _, arg = key.rpartition(".")
        if scope:
            model_class(scope)
            if scope.lower() == name.lower():
                out[arg] = value
        elif strict or _takes_any(params) or arg in params:
            out[arg] = value
    return out


def _channels(dataset, classification: bool) -> Tuple[int, int]:
    sample = dataset[0]
    in_ch = int(sample.x.size(-1))
    if classification:
        n = getattr(dataset, "num_classes", None)
        out_ch = int(n) if n is not None else int(sample.y.max()) + 1
    else:
        out_ch = int(sample.y.size(-1))
    return in_ch, out_ch


def build(name: str, train_set, hidden: Optional[int], extra: Dict[str, Any]):
    """Model ``name`` sized for ``train_set``'s windows."""
    from ..models import build as build_model
    classification = task_of(train_set) == "classification"
    in_ch, out_ch = _channels(train_set, classification)
    u = train_set[0].get("u_future")   # covariates known in the future (time of day...): the model reads them
    structure = {"obs_len": int(getattr(train_set, "obs", 0) or 0),
                 "horizon": int(getattr(train_set, "horizon", 0) or 0),
                 "covariates": int(u.size(-1)) if u is not None and not classification else 0}
    hints = getattr(train_set, "feedback_kwargs", None)   # how the model rebuilds derived inputs (velocities)
    if callable(hints) and not classification:
        structure.update(hints())
    kw = model_kwargs(name, hidden, classification, extra, structure)
    try:
        return build_model(name, train_set.schema, in_ch, out_ch, **kw)
    except TypeError as e:
        raise CLIError(f"model {name!r}: bad argument ({e})") from None


def objective_for(choice: str, model) -> str:
    """``--objective``: ``auto`` is teacher forcing for models with a
    one-step-ahead ``forward``, else rollout."""
    if choice != "auto":
        return choice
    return "teacher_forcing" if getattr(model, "has_forward", True) else "rollout"


def num_params(model) -> int:
    import torch
    return sum(p.numel() for p in model.parameters()
               if not isinstance(p, torch.nn.parameter.UninitializedParameter))
