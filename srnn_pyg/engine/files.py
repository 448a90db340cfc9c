r"""Durable files: atomic writes (a reader sees the old file or the new one,
never a partial one, even if the process dies midway), JSON-safe values, and
the ``metrics.jsonl`` log of a run."""
from __future__ import annotations

import contextlib
import json
import math
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["PathLike", "TMP_MARK", "atomic_write", "atomic_save", "atomic_write_text",
           "remove_stale_temps", "to_jsonable", "MetricsLog"]

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


def atomic_write(path: PathLike, write_fn: Callable[[Any], None]) -> Path:
    """Call ``write_fn(f)`` on a binary file that becomes ``path`` only once
    it is complete: written to a temporary file in the same directory,
    flushed and fsynced, then renamed over ``path`` (:func:`os.replace`).
    The temporary file is removed if ``write_fn`` raises. Parent directories
    are created. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
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
    """``value`` with tensors, NumPy scalars and paths made plain, tuples made
    lists, and non-finite floats made :obj:`None` (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return to_jsonable(value.item())
    if isinstance(value, Tensor):
        return to_jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


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
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(to_jsonable(record)) + "\n")
            f.flush()
            os.fsync(f.fileno())
