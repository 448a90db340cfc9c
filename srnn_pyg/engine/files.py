r"""Durable files: atomic writes (a reader sees the old file or the new one,
never a partial one, even if the process dies midway), JSON-safe values, and
the ``metrics.jsonl`` log of a run.

An operating-system failure while writing (disk full, permission denied, a
missing or read-only directory) raises an :class:`OSError` of the same kind
whose message names the file and the reason, e.g. ``could not write
'runs/srnn/last.pt': No space left on device (errno 28); the previous file, if
any, is unchanged``.
"""
from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["PathLike", "TMP_MARK", "atomic_write", "atomic_save", "atomic_write_text",
           "remove_stale_temps", "to_jsonable", "first_unplain", "MetricsLog", "write_error"]

PathLike = Union[str, os.PathLike]

#: part of the name of the temporary file an atomic write renames over its target
TMP_MARK = ".tmp-"


def _fsync_dir(path: Path) -> None:
    try:  # the rename itself is durable only once the directory is synced (POSIX)
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _tmp_path(path: Path) -> Path:
    # A hidden name that never ends in ".pt", in the target's directory so the
    # final os.replace is a rename on one file system.
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_error(path: PathLike, exc: OSError, action: str = "write") -> OSError:
    """``exc`` again, of the same type, with a message that names ``path`` and
    the operating system's reason (raise it ``from exc``)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    code = f" (errno {exc.errno})" if exc.errno is not None else ""
    message = f"could not {action} '{path}': {reason}{code}"
    if action == "write":
        message += "; the previous file, if any, is unchanged"
    try:
        return type(exc)(exc.errno, message) if exc.errno is not None else type(exc)(message)
    except TypeError:  # an OSError subclass with another signature
        return OSError(exc.errno, message)


def atomic_write(path: PathLike, write_fn: Callable[[Any], None]) -> Path:
    """Call ``write_fn(f)`` on a binary file that becomes ``path`` only once
    it is complete: written to a temporary file in the same directory,
    flushed and fsynced, then renamed over ``path`` (:func:`os.replace`).
    The temporary file is removed if ``write_fn`` raises. Parent directories
    are created. Returns ``path``.

    Raises:
        OSError: of the kind the system raised (e.g. :class:`PermissionError`),
            naming ``path`` and the reason; ``path`` is then unchanged.
    """
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(obj: Any, path: PathLike) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_write`."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def remove_stale_temps(directory: PathLike, names: Iterable[str]) -> None:
    """Delete the temporary files of :func:`atomic_write` for the given
    target ``names`` in ``directory``: left there by a process killed while
    writing."""
    directory = Path(directory)
    for name in names:
        for p in directory.glob(f".{name}{TMP_MARK}*"):
            with contextlib.suppress(OSError):
                p.unlink()


def to_jsonable(value: Any) -> Any:
    """``value`` with tensors, NumPy scalars and arrays and paths made plain,
    tuples made lists, and non-finite floats made :obj:`None` (strict JSON).
    Other objects are returned as they are (:func:`first_unplain` finds
    them)."""
    if isinstance(value, (np.generic, np.ndarray)) and value.dtype.kind in "biufU":   # before float: np.float64 is one
        return to_jsonable(value.tolist())
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Tensor):
        return to_jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def first_unplain(value: Any, where: str = "") -> Optional[Tuple[str, Any]]:
    """``(where, part)`` for the first part of ``value`` that is not plain
    data (``None``, ``bool``, ``int``, ``float``, ``str``, and lists, tuples
    and str-keyed dicts of them: what a checkpoint read with
    ``weights_only=True`` and a JSON file can hold), ``where`` extended by
    the keys and indices that lead to it; :obj:`None` if all of it is."""
    if value is None or type(value) in (bool, int, float, str):    # not subclasses: numpy's, enums pickle by class
        return None
    if type(value) in (list, tuple):
        for i, item in enumerate(value):
            found = first_unplain(item, f"{where}[{i}]")
            if found is not None:
                return found
        return None
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                return f"{where} (a key)", key
            found = first_unplain(item, f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    return where, value


class MetricsLog:
    """``metrics.jsonl``: one JSON object per epoch, appended line by line and
    fsynced; rewritten atomically from a checkpoint's history on resume (so
    lines of epochs after the checkpoint disappear).

    Args:
        path (str or Path): the log file.
    """

    def __init__(self, path: PathLike):
        self.path = Path(path)

    def reset(self, history: List[Dict[str, Any]]) -> None:
        atomic_write_text("".join(json.dumps(to_jsonable(r)) + "\n" for r in history), self.path)

    def append(self, record: Dict[str, Any]) -> None:
        """Append one line. Raises :class:`OSError` naming the file and the
        reason; a line cut short by a full disk is truncated away again."""
        line = (json.dumps(to_jsonable(record)) + "\n").encode("utf-8")
        try:
            with open(self.path, "ab", buffering=0) as f:      # unbuffered: no retry at close
                start = f.tell()
                try:
                    if f.write(line) != len(line):
                        raise OSError(errno.ENOSPC, "No space left on device (short write)")
                    os.fsync(f.fileno())
                except OSError:
                    with contextlib.suppress(OSError):
                        f.truncate(start)
                    raise
        except OSError as exc:
            raise write_error(self.path, exc, "append to") from exc
