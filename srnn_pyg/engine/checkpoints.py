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

Integrity: a file is a short header (:data:`MAGIC`, the SHA-256 of the
payload and its length) followed by the ``torch.save`` payload. Readers check
the length and the checksum *before* parsing anything, so a truncated or
corrupted file is a :class:`ValueError` naming the path, never a crash or a
model with silently wrong weights. Read these files with
:func:`load_checkpoint` / :func:`load_model` (a bare :func:`torch.load` does
not understand the header). Files written before checksums (a plain
``torch.save`` zip) still load, unchecked. :func:`load_model` also builds the
model on PyTorch's ``meta`` device first and refuses a record whose model
would be far larger than the weights the file holds, or whose parameter
names and shapes differ from them.
"""
from __future__ import annotations

import hashlib
import inspect
import io
import struct
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from ..models import get as registered_model
from ..schema import STSchema
from .files import PathLike, atomic_write, write_error

__all__ = ["read_weights", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "MODEL_FORMAT", "LAST", "BEST", "METRICS_FILE",
           "RESULT_FILE", "MAGIC", "model_record", "build_from_record", "save_model", "load_model",
           "load_checkpoint", "resolve_checkpoint", "write_checked", "record_differences",
           "state_differences", "resumes_in"]

CHECKPOINT_FORMAT = "srnn_pyg.checkpoint"
#: 2: the model record (``model_record``) replaced version 1's build ``spec``
CHECKPOINT_VERSION = 2
MODEL_FORMAT = "srnn_pyg.model"
MODEL_VERSION = 1
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
LAST, BEST = "last.pt", "best.pt"
#: the first bytes of a checked file; then the payload's SHA-256 (32 bytes) and length (8 bytes)
MAGIC = b"\x93SRNN_PYG\x01"
_HEADER = struct.Struct(">32sQ")
# load_model refuses a model whose parameters and buffers would take more than
# this many times the bytes of the weights in its file (plus the slack below).
_SIZE_FACTOR = 4
_SIZE_SLACK = 1 << 20


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
    STSchema arguments, "defaults": the class's ``defaults_version``}``.
    A record saved under older defaults is rebuilt with the settings those
    defaults filled in (the class's ``upgrade_args``), so a model saved by
    an earlier version loads as it was trained.

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
    return {"name": name, "args": out, "schema_args": schemas, "defaults": getattr(cls, "defaults_version", 1)}


def build_from_record(record: Dict[str, Any]) -> nn.Module:
    """A new model from a :func:`model_record` (weights freshly initialised)."""
    cls, args = _record_call(record)
    return cls(**args)


def _record_call(record: Dict[str, Any]):
    """The class and constructor arguments (schemas rebuilt) of a record."""
    cls = registered_model(record["name"])
    args = dict(upgraded(record)["args"])
    for key in record.get("schema_args", ()):
        if args.get(key) is not None:
            args[key] = STSchema.from_dict(args[key])
    return cls, args


def upgraded(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """``record`` with the settings its (older) defaults filled in made
    explicit, by the class's ``upgrade_args``; ``record`` itself when it was
    saved under the current defaults (records from before the defaults were
    versioned count as version 1)."""
    try:
        cls = registered_model(record["name"])
    except (KeyError, ValueError):
        return record
    saved = record.get("defaults", 1)
    if saved < getattr(cls, "defaults_version", 1) and hasattr(cls, "upgrade_args"):
        return dict(record, args=cls.upgrade_args(dict(record.get("args") or {}), saved))
    return record


def _legacy_record(spec: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The record of a version-1 checkpoint's build ``spec``, if it has one."""
    if not spec or spec.get("name") is None or spec.get("kwargs") is None:
        return None
    args = {"schema": spec.get("schema"), "in_channels": spec["in_channels"],
            "out_channels": spec["out_channels"], **spec["kwargs"]}
    return {"name": spec["name"], "args": args, "schema_args": ["schema"]}


def save_model(model: nn.Module, path: PathLike, overwrite: bool = False) -> Path:
    """Save ``model``'s record (:func:`model_record`) and weights to ``path``,
    atomically (a reader sees the old file or the new one). Read it back
    with :func:`load_model`.

    ``path`` may already hold an earlier :func:`save_model` file (or be
    empty): it is replaced. Anything else there is kept unless
    ``overwrite=True``: a file that is not a readable model file of this
    library (damaged, or written by something else) is named in a
    ``ValueError``, so that nothing is lost by a mistyped path. A training
    checkpoint of :func:`~srnn_pyg.engine.fit` is never replaced.

    Raises:
        ValueError: if the model cannot be rebuilt by name (see
            :func:`model_record`), if ``path`` holds a training checkpoint
            of :func:`~srnn_pyg.engine.fit` (``last.pt``, ``best.pt``), or
            if it holds another file and ``overwrite`` is false.
    """
    if not isinstance(overwrite, bool):
        raise ValueError(f"save_model: 'overwrite' must be True or False (got {overwrite!r})")
    record = model_record(model)
    target = Path(path)
    if target.is_file() and target.stat().st_size > 0:
        found, reason = _existing(target)
        if found == CHECKPOINT_FORMAT:
            raise ValueError(f"save_model: '{target}' is a training checkpoint of fit (the state a run resumes "
                             f"from); a model file there would end the run's resume: save the model elsewhere")
        if found != MODEL_FORMAT and not overwrite:
            raise ValueError(f"save_model: '{target}' already exists and is not a model file of save_model "
                             f"({reason}); it is left as it is: save the model elsewhere, or pass "
                             f"overwrite=True to replace it")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return write_checked({"format": MODEL_FORMAT, "version": MODEL_VERSION, "model_record": record,
                          "model": state}, path)


def _existing(path: Path) -> Tuple[Optional[str], str]:
    """The format of the file at ``path`` (a checkpoint of
    :func:`~srnn_pyg.engine.fit` or a :func:`save_model` file), or
    :obj:`None` and why it is neither."""
    try:
        return _read(path, "cpu", (CHECKPOINT_FORMAT, MODEL_FORMAT))["format"], ""
    except (ValueError, OSError) as exc:
        return None, str(exc)


def write_checked(obj: Any, path: PathLike) -> Path:
    """``torch.save(obj)`` behind the checksum header, written atomically.

    Raises:
        OSError: naming ``path`` and the reason (disk full, permission
            denied, ...); an existing file at ``path`` is then unchanged.
    """
    buf = io.BytesIO()
    try:
        torch.save(obj, buf)
    except OSError as exc:
        raise write_error(path, exc) from exc
    payload = buf.getbuffer()
    header = MAGIC + _HEADER.pack(hashlib.sha256(payload).digest(), len(payload))

    def write(f) -> None:
        f.write(header)
        f.write(payload)
    try:
        return atomic_write(path, write)
    finally:
        payload.release()


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


def _payload(path: Path, data: bytes) -> Any:
    """The payload of a checked file, after its length and checksum are verified."""
    head = len(MAGIC) + _HEADER.size
    if len(data) < head:
        raise ValueError(f"'{path}' is truncated: {len(data)} bytes, shorter than the {head}-byte header")
    digest, length = _HEADER.unpack_from(data, len(MAGIC))
    payload = memoryview(data)[head:]
    if len(payload) != length:
        raise ValueError(f"'{path}' is truncated or was extended: the header promises {length} bytes "
                         f"of data, the file holds {len(payload)}")
    if hashlib.sha256(payload).digest() != digest:
        raise ValueError(f"'{path}' is corrupted: its SHA-256 checksum does not match its contents")
    return io.BytesIO(payload)


def _check_map_location(map_location: Any) -> None:
    """A device name or :class:`torch.device` that names no device, or CUDA
    where there is none, is refused here, not reported as an unreadable file."""
    if isinstance(map_location, (str, torch.device)):
        try:
            dev = torch.device(map_location)
        except (RuntimeError, TypeError):
            raise ValueError(f"'map_location' must name a torch device such as 'cpu' or 'cuda' "
                             f"(got {map_location!r})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"'map_location' is {map_location!r} but CUDA is not available; pass 'cpu'")


def _read(path: PathLike, map_location: Any, formats) -> Dict[str, Any]:
    _check_map_location(map_location)
    path = resolve_checkpoint(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise write_error(path, exc, "read") from exc
    source = _payload(path, data) if data.startswith(MAGIC) else io.BytesIO(data)  # old files: unchecked
    try:
        obj = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever a malformed file makes torch raise
        raise ValueError(f"'{path}' is not a readable {' or '.join(formats)} file: torch.load(weights_only=True) "
                         f"cannot read it ({type(e).__name__}): it is no PyTorch file, or one that holds more "
                         f"than tensors and plain values") from None
    found = obj.get("format") if isinstance(obj, dict) else None
    if found not in formats:
        what = f"a {found} file" if isinstance(found, str) else "a PyTorch file without a 'format' key naming one"
        writers = {CHECKPOINT_FORMAT: "a checkpoint of fit: last.pt, best.pt", MODEL_FORMAT: "a save_model file"}
        expected = " or ".join(f"{f} file ({writers[f]})" if f in writers else f"{f} file" for f in formats)
        raise ValueError(f"'{path}' is {what}; expected an {expected}")
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
        ValueError: if the file is truncated, corrupted (its checksum does
            not match; files written before checksums are not checked) or
            not a checkpoint of this library.
    """
    return _read(path, map_location, (CHECKPOINT_FORMAT,))


def _plain_form(value: Any) -> Any:
    """Tuples as lists, so a record compares equal after a round trip through JSON."""
    if isinstance(value, (list, tuple)):
        return [_plain_form(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain_form(v) for k, v in value.items()}
    return value


def record_differences(saved: Optional[Mapping[str, Any]], current: Optional[Mapping[str, Any]]) -> List[str]:
    """The keys in which two model records differ (``name``, ``args.<key>``),
    each as ``"key (saved vs current)"``; empty when they agree."""
    if saved is None or current is None:
        return []
    out = []
    if saved.get("name") != current.get("name"):
        out.append(f"name ({saved.get('name')!r} vs {current.get('name')!r})")
        return out
    defaults = _defaults(current.get("name"))
    # a record saved under older defaults is compared with the settings those defaults gave it
    a, b = upgraded(saved).get("args") or {}, current.get("args") or {}
    for key in sorted(set(a) | set(b)):
        old, new = (x.get(key, defaults.get(key, _ABSENT)) for x in (a, b))
        if _plain_form(old) != _plain_form(new):
            if all(isinstance(v, dict) and "node_types" in v for v in (old, new)):
                out.extend(f"args.{key}.{d}" for d in _schema_differences(old, new))
                continue
            shown = ["<absent>" if v is _ABSENT else repr(v)[:40] for v in (old, new)]
            out.append(f"args.{key} ({shown[0]} vs {shown[1]})")
    return out


def _schema_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> List[str]:
    """Where two schema dicts (:meth:`STSchema.to_dict`) differ, each as ``"part (saved vs current)"``."""
    out = []
    for part in ("node_types", "edge_types", "directed", "temporal"):
        a, b = _plain_form(old.get(part)), _plain_form(new.get(part))
        if a != b:
            if isinstance(a, list) and isinstance(b, list) and part != "directed":
                gone, added = [x for x in a if x not in b], [x for x in b if x not in a]
                shown = f"saved only {gone}, current only {added}" if gone or added else "another order"
                out.append(f"{part} ({shown[:160]})")
            else:
                out.append(f"{part} ({repr(a)[:60]} vs {repr(b)[:60]})")
    return out or ["schema (saved vs current)"]


_ABSENT = object()


def _defaults(name: Any) -> Dict[str, Any]:
    """The constructor defaults of a registered model (a record omits them)."""
    try:
        params = inspect.signature(registered_model(name).__init__).parameters
    except (ValueError, TypeError):
        return {}
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def _shape_of(value: Any) -> Optional[List[int]]:
    if isinstance(value, nn.parameter.UninitializedParameter):
        return None                                          # a lazy parameter takes any shape
    return list(value.shape) if isinstance(value, Tensor) else None


def state_differences(expected: Mapping[str, Any], found: Mapping[str, Any], limit: int = 6) -> List[str]:
    """How the state dict ``found`` differs from ``expected`` (a model's):
    missing and unexpected keys and shape mismatches, at most ``limit``
    items (then a count of the rest)."""
    out = [f"missing {k}" for k in expected if k not in found]
    out += [f"unexpected {k}" for k in found if k not in expected]
    for k in expected:
        if k in found:
            want, got = _shape_of(expected[k]), _shape_of(found[k])
            if want is not None and got is not None and want != got:
                out.append(f"{k} {want} vs {got} in the file")
    return out[:limit] + ([f"and {len(out) - limit} more"] if len(out) > limit else [])


def _tensor_bytes(state: Mapping[str, Any]) -> int:
    return sum(v.numel() * v.element_size() for v in state.values()
               if isinstance(v, Tensor) and not isinstance(v, nn.parameter.UninitializedParameter))


def _check_size(path: str, record: Dict[str, Any], state: Mapping[str, Any]) -> None:
    """Build the model on the meta device (no memory) and refuse it if it would
    be far larger than the file's weights, or its names and shapes differ."""
    try:
        cls, args = _record_call(record)                    # schemas are built on the CPU
        with torch.device("meta"):
            probe = cls(**args)
    except Exception:  # noqa: BLE001 - a constructor that cannot run on meta: built for real below
        return
    expected = probe.state_dict()
    need, have = _tensor_bytes(expected), _tensor_bytes(state)
    if need > _SIZE_FACTOR * have + _SIZE_SLACK:
        raise ValueError(f"load_model: '{path}' records a {record['name']!r} model of {need} bytes of "
                         f"weights but holds only {have}; the record is corrupt or was edited")
    diffs = state_differences(expected, state)
    if diffs:
        raise ValueError(f"load_model: the weights in '{path}' do not fit the {record['name']!r} model "
                         f"its record builds: {'; '.join(diffs)}")


def read_weights(path: PathLike, map_location: Any = "cpu") -> Dict[str, Any]:
    """The file's ``path``, ``model_record`` and ``model`` weights, from a
    training checkpoint or a :func:`save_model` file (a file, or a run
    directory: its ``best.pt``, else ``last.pt``), checksum verified.

    Raises:
        FileNotFoundError: naming the missing file or directory.
        ValueError: if the file is truncated, corrupted or not one of this
            library's.
    """
    obj = _read(path, map_location, (MODEL_FORMAT, CHECKPOINT_FORMAT))
    return {"path": obj["path"], "model_record": obj.get("model_record"), "model": obj.get("model")}


def load_model(path: PathLike, map_location: Any = "cpu") -> nn.Module:
    """Rebuild the model saved by :func:`save_model`, or by
    :func:`~srnn_pyg.engine.fit` in a checkpoint (a file or a run
    directory), and load its weights; returned in eval mode on
    ``map_location``. The file's checksum is verified first (files written
    before checksums load unchecked), and the model is built on the ``meta``
    device and compared with the file's weights before any memory is
    allocated for it.

    Raises:
        FileNotFoundError: naming the missing file or directory.
        ValueError: if the file is truncated or corrupted, not one of this
            library's, its model is not a registered one (then build the
            model yourself and load ``load_checkpoint(path)["model"]``), or
            its record builds a model that its weights do not fit (naming
            the differing keys) or that is far larger than the file.
    """
    obj = _read(path, map_location, (MODEL_FORMAT, CHECKPOINT_FORMAT))
    record = obj.get("model_record") or _legacy_record(obj.get("spec"))
    if record is None:
        raise ValueError(f"load_model: '{obj['path']}' does not record how to build its model (it was not "
                         f"a registered Forecaster); build the model yourself and load "
                         f"load_checkpoint(path)['model']")
    state = obj.get("model")
    if not (isinstance(record, dict) and isinstance(record.get("name"), str)
            and isinstance(record.get("args"), dict) and isinstance(state, dict)):
        raise ValueError(f"load_model: '{obj['path']}' holds a malformed model record or weights")
    _check_size(obj["path"], record, state)
    try:
        model = build_from_record(record)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"load_model: cannot rebuild the {record['name']!r} model of '{obj['path']}' "
                         f"from its record ({type(e).__name__}: {e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        diffs = state_differences(model.state_dict(), state) or ["values of another kind"]
        raise ValueError(f"load_model: the weights in '{obj['path']}' do not fit its model: "
                         f"{'; '.join(diffs)}") from None
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    return model.eval()


def resumes_in(resume: Any, out_dir: Optional[Path]) -> bool:
    """``TrainConfig.resume`` continues the run in ``out_dir``: ``True``, or a
    checkpoint (or run folder) inside it."""
    if resume is True:
        return True
    if resume in (None, False) or out_dir is None:
        return False
    src, out = Path(resume).resolve(), Path(out_dir).resolve()
    return src == out or out in src.parents
