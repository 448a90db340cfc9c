r"""Checkpoints and model persistence.

A model is saved as its *record*, ``{"name": registry name, "args":
constructor arguments}`` (``type(model).registry_name`` and
``model.model_args``, which every :class:`~srnn_pyg.models.Forecaster`
records when it is built; an :class:`~srnn_pyg.STSchema` argument is stored
as :meth:`~srnn_pyg.STSchema.to_dict`), next to its weights. So
:func:`load_model` rebuilds any registered model, built by name or by hand,
without the user's code. Files hold tensors and plain data only and are read
with ``torch.load(..., weights_only=True)``: loading one runs no code.

.. code-block:: python

    save_model(model, "srnn.pt")
    model = load_model("srnn.pt")           # the same class, arguments and weights, in eval mode
    model = load_model("runs/srnn")         # or the best.pt (else last.pt) of a fit run

The checkpoints :func:`~srnn_pyg.engine.fit` writes (``last.pt``,
``best.pt``) hold the same record plus the training state (optimiser,
scheduler, scaler, RNG states, history) for an exact resume;
:func:`load_checkpoint` reads them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from ..models import get as registered_model
from ..schema import STSchema
from .files import PathLike, atomic_save

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "MODEL_FORMAT", "LAST", "BEST", "METRICS_FILE",
           "RESULT_FILE", "model_record", "build_from_record", "save_model", "load_model",
           "load_checkpoint", "resolve_checkpoint"]

CHECKPOINT_FORMAT = "srnn_pyg.checkpoint"
#: 2: the model record (``model_record``) replaced version 1's build ``spec``
CHECKPOINT_VERSION = 2
MODEL_FORMAT = "srnn_pyg.model"
MODEL_VERSION = 1
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
LAST, BEST = "last.pt", "best.pt"


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def model_record(model: nn.Module) -> Dict[str, Any]:
    """How to rebuild ``model``: ``{"name": registry name, "args":
    constructor arguments (schemas as dicts), "schema_args": names of the
    STSchema arguments}``.

    Raises:
        ValueError: if ``model`` is not a registered
            :class:`~srnn_pyg.models.Forecaster` (its own class registered
            with :func:`~srnn_pyg.models.register`), or an argument is not
            an STSchema or plain Python data.
    """
    cls, name = type(model), getattr(type(model), "registry_name", None)
    args = getattr(model, "model_args", None)
    try:
        registered = name is not None and registered_model(name) is cls
    except ValueError:
        registered = False
    if not registered or not isinstance(args, dict):
        raise ValueError(f"save_model: {cls.__name__} is not a registered Forecaster, so it cannot be "
                         f"rebuilt by name; register it with @srnn_pyg.models.register(name), or save "
                         f"model.state_dict() and build the model yourself to load it")
    out, schemas = {}, []
    for key, value in args.items():
        if isinstance(value, STSchema):
            out[key] = value.to_dict()
            schemas.append(key)
        elif _plain(value):
            out[key] = value
        else:
            raise ValueError(f"save_model: {cls.__name__}'s argument {key!r} is a {type(value).__name__}; "
                             f"only an STSchema or plain Python data (None, bool, int, float, str, and "
                             f"lists, tuples, dicts of them) can be saved")
    return {"name": name, "args": out, "schema_args": schemas}


def build_from_record(record: Dict[str, Any]) -> nn.Module:
    """A new model from a :func:`model_record` (weights freshly initialised)."""
    cls = registered_model(record["name"])
    args = dict(record["args"])
    for key in record.get("schema_args", ()):
        if args.get(key) is not None:
            args[key] = STSchema.from_dict(args[key])
    return cls(**args)


def _legacy_record(spec: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The record of a version-1 checkpoint's build ``spec``, if it has one."""
    if not spec or spec.get("name") is None or spec.get("kwargs") is None:
        return None
    args = {"schema": spec.get("schema"), "in_channels": spec["in_channels"],
            "out_channels": spec["out_channels"], **spec["kwargs"]}
    return {"name": spec["name"], "args": args, "schema_args": ["schema"]}


def save_model(model: nn.Module, path: PathLike) -> Path:
    """Save ``model``'s record (:func:`model_record`) and weights to ``path``,
    atomically (a reader sees the old file or the new one). Read it back
    with :func:`load_model`.

    Raises:
        ValueError: if the model cannot be rebuilt by name (see
            :func:`model_record`).
    """
    record = model_record(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return atomic_save({"format": MODEL_FORMAT, "version": MODEL_VERSION, "model_record": record,
                        "model": state}, path)


def resolve_checkpoint(path: PathLike) -> Path:
    """``path`` itself, or for a run directory its ``best.pt``, else ``last.pt``.

    Raises:
        FileNotFoundError: naming the missing file or directory.
    """
    path = Path(path)
    if path.is_dir():
        for name in (BEST, LAST):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"no checkpoint in '{path}' (expected '{BEST}' or '{LAST}')")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: '{path}'")
    return path


def _read(path: PathLike, map_location: Any, formats) -> Dict[str, Any]:
    path = resolve_checkpoint(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"'{path}' is not a readable srnn_pyg file ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or obj.get("format") not in formats:
        raise ValueError(f"'{path}' is not an srnn_pyg {' or '.join(formats)} file (no 'format' key "
                         f"naming one)")
    obj["path"] = str(path)
    return obj


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`~srnn_pyg.engine.fit` (a file, or a
    run directory: its ``best.pt``, else ``last.pt``), with
    ``weights_only=True``. Keys: ``model`` (state dict), ``model_record``
    (:obj:`None` for a model that is not registered), ``optimizer``,
    ``scheduler``, ``scaler``, ``rng``, ``epoch``, ``step``, ``best_score``,
    ``best_epoch``, ``bad_epochs``, ``stopped_early``, ``history``,
    ``monitor``, ``mode``, ``config``, ``meta``, and ``path``.

    Raises:
        FileNotFoundError: naming the missing file or directory.
        ValueError: if the file is not a checkpoint of this library.
    """
    return _read(path, map_location, (CHECKPOINT_FORMAT,))


def load_model(path: PathLike, map_location: Any = "cpu") -> nn.Module:
    """Rebuild the model saved by :func:`save_model`, or by
    :func:`~srnn_pyg.engine.fit` in a checkpoint (a file or a run
    directory), and load its weights; returned in eval mode on
    ``map_location``.

    Raises:
        FileNotFoundError: naming the missing file or directory.
        ValueError: if the file is not one of this library's, or its model
            is not a registered one (then build the model yourself and load
            ``load_checkpoint(path)["model"]``).
    """
    obj = _read(path, map_location, (MODEL_FORMAT, CHECKPOINT_FORMAT))
    record = obj.get("model_record") or _legacy_record(obj.get("spec"))
    if record is None:
        raise ValueError(f"load_model: '{obj['path']}' does not record how to build its model (it was not "
                         f"a registered Forecaster); build the model yourself and load "
                         f"load_checkpoint(path)['model']")
    model = build_from_record(record)
    model.load_state_dict(obj["model"])
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval()
