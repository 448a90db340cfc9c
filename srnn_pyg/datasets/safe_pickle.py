r"""A restricted unpickler for the pickled datasets (Brain4Cars features, the
DCRNN ``adj_mx.pkl`` graph).

A plain :func:`pickle.load` runs whatever callable a file names, so a data file
from the internet could run arbitrary code. :func:`safe_load` admits only what
these files need: numpy arrays (numpy's ``_reconstruct`` and ``_frombuffer``,
:class:`numpy.ndarray`, :class:`numpy.dtype`, numpy scalars), and the built-in containers, strings and
numbers that the pickle opcodes build by themselves (dicts, lists, tuples, sets,
``str``, ``bytes``, ``int``, ``float``, ``bool``, ``None``). Any other global,
e.g. ``os.system`` or a user class, is refused with an
:class:`UnsafePickleError` naming the file and the global.

Python 2 pickles (the Brain4Cars files) are read with ``encoding="latin1"``,
which turns Python 2 byte strings holding array data back into bytes.
"""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, Tuple, Union

import numpy as np

from .base import DataFormatError

__all__ = ["safe_load", "safe_loads", "RestrictedUnpickler", "UnsafePickleError"]


class UnsafePickleError(DataFormatError, pickle.UnpicklingError):
    """A pickle names a global outside the allowed set; nothing was executed."""


def _reconstruct() -> Callable:
    # numpy >= 2 moved numpy.core to numpy._core; both spellings appear in files.
    try:
        from numpy._core.multiarray import _reconstruct as fn  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core.multiarray import _reconstruct as fn  # type: ignore[no-redef]
    return fn


def _scalar() -> Callable:
    try:
        from numpy._core.multiarray import scalar as fn  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core.multiarray import scalar as fn  # type: ignore[no-redef]
    return fn


def _frombuffer() -> Callable:
    # pickle protocol 5 rebuilds arrays from a buffer through numpy's _frombuffer.
    try:
        from numpy._core.numeric import _frombuffer as fn  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core.numeric import _frombuffer as fn  # type: ignore[no-redef]
    return fn


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 pickles of ``bytes`` (protocol < 3) use it,
    limited to the latin-1 codec (no other codec is reachable)."""
    if str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError(f"safe_load: '_codecs.encode' is allowed only with the latin-1 "
                                f"codec (got {encoding!r})")
    return str(text).encode("latin-1", errors)


def _allowed() -> Dict[Tuple[str, str], Any]:
    rec, sca = _reconstruct(), _scalar()
    table: Dict[Tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "_reconstruct")] = rec
        table[(mod, "scalar")] = sca
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        table[(mod, "_frombuffer")] = _frombuffer()
    for mod in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "ndarray")] = np.ndarray
        table[(mod, "dtype")] = np.dtype
    # Python 3 pickles (protocol 2) of bytes, and Python 2 / 3 built-in names.
    table[("_codecs", "encode")] = _latin1_encode
    for mod in ("builtins", "__builtin__"):
        for name, obj in (("dict", dict), ("list", list), ("tuple", tuple), ("set", set),
                          ("frozenset", frozenset), ("str", str), ("bytes", bytes),
                          ("bytearray", bytearray), ("int", int), ("float", float),
                          ("complex", complex), ("bool", bool)):
            table[(mod, name)] = obj
    table[("__builtin__", "unicode")] = str
    table[("__builtin__", "long")] = int
    # numpy dtype classes (numpy >= 1.25 pickles dtypes through them).
    for name in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "BoolDType",
                 "UInt8DType", "Int8DType", "Int16DType", "UInt16DType", "UInt32DType",
                 "UInt64DType", "Float16DType", "BytesDType", "StrDType"):
        cls = getattr(getattr(np, "dtypes", None), name, None)
        if cls is not None:
            table[("numpy.dtypes", name)] = cls
    return table


_ALLOWED = _allowed()


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` whose :meth:`find_class` admits only numpy
    arrays, dtypes and scalars and built-in containers, strings and numbers.

    Args:
        file: a binary file object.
        source (str, optional): a name for error messages (the file path).
            (default: :obj:`"<bytes>"`)
        encoding (str, optional): how Python 2 ``str`` objects are decoded;
            ``"latin1"`` keeps numpy array data intact. (default: :obj:`"latin1"`)
    """

    def __init__(self, file, source: str = "<bytes>", encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"{self.source}: refusing to unpickle global '{module}.{name}'; only numpy "
                f"arrays, dicts, lists, tuples, strings and numbers are allowed")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refusing a persistent id ({pid!r}) in the pickle")


def safe_loads(data: bytes, source: str = "<bytes>", encoding: str = "latin1") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Raises:
        UnsafePickleError: if the pickle names a global that is not allowed.
        DataFormatError: if the pickle is truncated or malformed.
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source, encoding=encoding).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError,
            AttributeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{source}: not a readable pickle ({type(exc).__name__}: {exc}); "
                              f"the file may be truncated or corrupt") from exc


def safe_load(path: Union[str, os.PathLike], encoding: str = "latin1") -> Any:
    """Read a pickle file with :class:`RestrictedUnpickler`.

    .. code-block:: python

        data = safe_load("fold_1_train.pik")   # {'features': ndarray, 'labels': ndarray, ...}

    Args:
        path (str or PathLike): the file.
        encoding (str, optional): decoding of Python 2 strings. (default: :obj:`"latin1"`)

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        UnsafePickleError: if the pickle names a global outside the allowed set.
        DataFormatError: if the file is truncated or not a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing data file: expected '{path}'")
    return safe_loads(path.read_bytes(), source=str(path), encoding=encoding)
