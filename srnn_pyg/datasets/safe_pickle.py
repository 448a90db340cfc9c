r"""A restricted unpickler for the pickled datasets (Brain4Cars features, the
DCRNN ``adj_mx.pkl`` graph).

A plain :func:`pickle.load` runs whatever callable a file names, so a data file
from the internet could run arbitrary code. :func:`safe_load` admits only what
these files need: numpy arrays (numpy's ``_reconstruct`` and ``_frombuffer``,
:class:`numpy.ndarray`, :class:`numpy.dtype`, numpy scalars), and the built-in
containers, strings and numbers (dicts, lists, tuples, sets, ``str``,
``bytes``, ``int``, ``float``, ``bool``, ``None``). Any other global, e.g.
``os.system`` or a user class, is refused with an :class:`UnsafePickleError`
naming the file and the global.

Naming only allowed globals is not enough: numpy can be asked to read raw file
bytes as object pointers, and a few bytes can ask for terabytes. So every call
a pickle makes is checked before it runs, and :func:`safe_load` guarantees, for
any input file:

* no object-dtype array, scalar or dtype (nor a structured or sub-array dtype)
  is built; ``numpy.ndarray`` is never called directly; a dtype's or array's
  state is set only once, on a fresh one, and must describe a plain dtype;
* an array's data must be exactly as long as its shape and dtype say, and what
  the calls allocate in total is bounded by a small multiple of the file size;
* containers nest at most :data:`MAX_DEPTH` levels deep, hold no reference
  cycle, and their total size, counting shared parts once per use, is bounded
  relative to the file size;
* anything else wrong (truncated, garbled) is a :class:`DataFormatError`; no
  other exception escapes.

Python 2 pickles (the Brain4Cars files) are read with ``encoding="latin1"``,
which turns Python 2 byte strings holding array data back into bytes.
"""
from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from .base import DataFormatError

__all__ = ["safe_load", "safe_loads", "RestrictedUnpickler", "UnsafePickleError", "MAX_DEPTH"]

#: how deeply containers (lists, tuples, dicts, sets) may nest in a pickle
MAX_DEPTH = 100
# Bytes that the calls of a pickle may allocate: this many times the file size ...
_ALLOC_FACTOR = 8
# ... plus this much (a tiny file may still hold a few small arrays).
_ALLOC_SLACK = 1 << 20
_MAX_NDIM = 32
_TEXT_CODECS = ("latin1", "latin-1", "iso-8859-1", "l1", "ascii", "us-ascii", "utf-8", "utf8")
_CONTAINERS = (list, tuple, dict, set, frozenset)
_SCALARS = (int, float, complex, bool, str, bytes, bytearray, type(None))


class UnsafePickleError(DataFormatError, pickle.UnpicklingError):
    """A pickle names a global outside the allowed set, or asks an allowed one
    for something unsafe (an object array, a huge allocation, deep nesting);
    nothing unsafe was executed."""


def _numpy_fn(name: str, modules: Tuple[str, ...]) -> Callable:
    # numpy >= 2 moved numpy.core to numpy._core; both spellings appear in files.
    import importlib
    for mod in modules:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"safe_pickle: numpy has no {name} in {modules}")  # pragma: no cover


_RECONSTRUCT = _numpy_fn("_reconstruct", ("numpy._core.multiarray", "numpy.core.multiarray"))
_SCALAR = _numpy_fn("scalar", ("numpy._core.multiarray", "numpy.core.multiarray"))
_FROMBUFFER = _numpy_fn("_frombuffer", ("numpy._core.numeric", "numpy.core.numeric"))


def _codec(encoding: Any) -> str:
    return str(encoding).lower().replace("_", "-")


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 pickles of ``bytes`` (protocol < 3) use it,
    limited to the latin-1 codec (no other codec is reachable)."""
    if _codec(encoding) not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError(f"safe_load: '_codecs.encode' is allowed only with the latin-1 "
                                f"codec (got {encoding!r})")
    return str(text).encode("latin-1", errors)


_BUILTIN_TYPES = (dict, list, tuple, set, frozenset, str, bytes, bytearray, int, float, complex, bool)


def _allowed() -> Dict[Tuple[str, str], Any]:
    table: Dict[Tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "_reconstruct")] = _RECONSTRUCT
        table[(mod, "scalar")] = _SCALAR
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        table[(mod, "_frombuffer")] = _FROMBUFFER
    for mod in ("numpy", "numpy.core.multiarray", "numpy._core.multiarray"):
        table[(mod, "ndarray")] = np.ndarray
        table[(mod, "dtype")] = np.dtype
    # Python 3 pickles (protocol 2) of bytes, and Python 2 / 3 built-in names.
    table[("_codecs", "encode")] = _latin1_encode
    for mod in ("builtins", "__builtin__"):
        for cls in _BUILTIN_TYPES:
            table[(mod, cls.__name__)] = cls
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


def _kind(obj: Any) -> str:
    return type(obj).__name__


def _children(obj: Any) -> Iterable[Any]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield v
    else:
        yield from obj


class _Walk:
    """The height and the expanded size (shared parts counted once per use) of
    a loaded object, computed without recursion; refuses cycles."""

    def __init__(self, refuse: Callable[[str], Exception], size_cap: int):
        self.refuse, self.cap = refuse, size_cap

    def run(self, root: Any) -> None:
        done: Dict[int, Tuple[int, int]] = {}
        on_path: set = set()
        todo: List[Tuple[Any, bool]] = [(root, False)]
        while todo:
            obj, leaving = todo.pop()
            if not isinstance(obj, _CONTAINERS):
                if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.hasobject:
                    raise self.refuse("an array of Python objects")
                continue
            key = id(obj)
            if leaving:
                height, size = 1, 1
                for c in _children(obj):
                    h, s = done.get(id(c), (0, 1)) if isinstance(c, _CONTAINERS) else (0, 1)
                    height, size = max(height, h + 1), min(size + s, self.cap + 1)
                on_path.discard(key)
                done[key] = (height, size)
                if height > MAX_DEPTH:
                    raise self.refuse(f"containers nested more than {MAX_DEPTH} levels deep")
                if size > self.cap:
                    raise self.refuse(f"containers holding more than {self.cap} items in all (shared "
                                      f"parts counted at each use), out of proportion to the file")
            elif key in on_path:
                raise self.refuse(f"a {_kind(obj)} that contains itself")
            elif key not in done:
                on_path.add(key)
                todo.append((obj, True))
                todo.extend((c, False) for c in _children(obj))


# pickle's pure-Python unpickler runs one Python method per opcode, so each one
# can be checked; the C unpickler cannot be intercepted (and sizes its memo
# array by the largest index a file names).
_Base = pickle._Unpickler  # noqa: SLF001


class RestrictedUnpickler(_Base):
    """A pure-Python :class:`pickle.Unpickler` that admits only numpy arrays,
    dtypes and scalars and built-in containers, strings and numbers, checks
    every call and state a pickle asks for, and bounds allocation and nesting
    (see the module's docstring).

    Args:
        file: a binary file object.
        source (str, optional): a name for error messages (the file path).
            (default: :obj:`"<bytes>"`)
        encoding (str, optional): how Python 2 ``str`` objects are decoded;
            ``"latin1"`` keeps numpy array data intact. (default: :obj:`"latin1"`)
        size (int, optional): the pickle's size in bytes, which bounds what
            it may allocate. (default: :obj:`None`: the file's size, found by
            seeking)
    """

    dispatch = dict(_Base.dispatch)

    def __init__(self, file, source: str = "<bytes>", encoding: str = "latin1",
                 size: Optional[int] = None):
        super().__init__(file, encoding=encoding)
        self.source = source
        self._file_readline = self._whole_line(file.readline)
        if size is None:
            try:
                here = file.tell()
                size = file.seek(0, io.SEEK_END) - here
                file.seek(here)
            except (AttributeError, OSError, ValueError):
                size = 0
        self.size = int(size)
        self.left = _ALLOC_FACTOR * self.size + _ALLOC_SLACK
        self._depth: Dict[int, int] = {}
        self._alive: List[Any] = []                 # keeps ids in _depth and the sets below valid
        self._fresh_dtypes: set = set()             # dtypes whose state may still be set
        self._fresh_arrays: set = set()             # arrays from _reconstruct, state not yet set

    @staticmethod
    def _whole_line(readline: Callable[[], bytes]) -> Callable[[], bytes]:
        def read() -> bytes:
            line = readline()
            if not line.endswith(b"\n"):
                raise pickle.UnpicklingError("the pickle ends inside a text argument (no newline)")
            return line
        return read

    # ------------------------------------------------------------ refusals
    def refuse(self, what: str) -> UnsafePickleError:
        return UnsafePickleError(f"{self.source}: refusing {what} in the pickle; nothing was executed")

    def find_class(self, module: str, name: str) -> Any:
        obj = _ALLOWED.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"{self.source}: refusing to unpickle global '{module}.{name}'; only numpy "
                f"arrays, dicts, lists, tuples, strings and numbers are allowed")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise self.refuse(f"a persistent id (a {_kind(pid)})")

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` against the allocation budget, before allocating."""
        if nbytes > self.left:
            raise self.refuse(f"{what} of {nbytes} bytes: more than a {self.size}-byte file can "
                              f"describe (at most {self.left} bytes left to allocate)")
        self.left -= nbytes

    # --------------------------------------------------------------- depth
    def depth_of(self, obj: Any) -> int:
        return self._depth.get(id(obj), 1 if isinstance(obj, _CONTAINERS) else 0)

    def check_items(self, items: Iterable[Any]) -> int:
        """The depth of a container holding ``items``; refused past :data:`MAX_DEPTH`
        (checked before the items are hashed: hashing deep tuples recurses in C)."""
        d = 1 + max((self.depth_of(i) for i in items), default=0)
        if d > MAX_DEPTH:
            raise self.refuse(f"containers nested more than {MAX_DEPTH} levels deep")
        return d

    def record(self, target: Any, depth: int) -> None:
        if id(target) not in self._depth:
            self._alive.append(target)
        self._depth[id(target)] = max(self._depth.get(id(target), 1), depth)

    def load_mark(self) -> None:
        if len(self.metastack) > MAX_DEPTH + 16:
            raise self.refuse(f"more than {MAX_DEPTH + 16} nested MARK opcodes")
        _Base.load_mark(self)
    dispatch[pickle.MARK[0]] = load_mark

    def _marked(self, opcode: bytes, target_type: Any = None) -> None:
        """Run a MARK-based opcode after checking its items (and its target)."""
        d = self.check_items(self.stack)
        if target_type is None:                                     # TUPLE, LIST, DICT, FROZENSET
            _Base.dispatch[opcode[0]](self)
            self.record(self.stack[-1], d)
            return
        target = self.metastack[-1][-1] if self.metastack and self.metastack[-1] else None
        if type(target) is not target_type:                         # APPENDS, SETITEMS, ADDITEMS
            raise self.refuse(f"adding items to a {_kind(target)} (expected a {target_type.__name__})")
        _Base.dispatch[opcode[0]](self)
        self.record(target, d)

    def _top(self, opcode: bytes, n: int) -> None:
        """TUPLE1/2/3: the tuple of the top ``n`` items."""
        if len(self.stack) < n:
            raise pickle.UnpicklingError(f"{opcode!r} needs {n} items on the stack")
        d = self.check_items(self.stack[-n:])
        _Base.dispatch[opcode[0]](self)
        self.record(self.stack[-1], d)

    def _one_item(self, opcode: bytes, n: int, target_type: Any) -> None:
        """APPEND (n=1) and SETITEM (n=2): the target below the top ``n`` items."""
        if len(self.stack) < n + 1:
            raise pickle.UnpicklingError(f"{opcode!r} needs {n + 1} items on the stack")
        target = self.stack[-n - 1]
        if type(target) is not target_type:
            raise self.refuse(f"adding items to a {_kind(target)} (expected a {target_type.__name__})")
        d = self.check_items(self.stack[-n:])
        _Base.dispatch[opcode[0]](self)
        self.record(target, d)

    for _op, _n in ((pickle.TUPLE1, 1), (pickle.TUPLE2, 2), (pickle.TUPLE3, 3)):
        dispatch[_op[0]] = (lambda op, n: lambda self: self._top(op, n))(_op, _n)
    for _op in (pickle.TUPLE, pickle.LIST, pickle.DICT, pickle.FROZENSET):
        dispatch[_op[0]] = (lambda op: lambda self: self._marked(op))(_op)
    for _op, _t in ((pickle.APPENDS, list), (pickle.SETITEMS, dict), (pickle.ADDITEMS, set)):
        dispatch[_op[0]] = (lambda op, t: lambda self: self._marked(op, t))(_op, _t)
    dispatch[pickle.APPEND[0]] = lambda self: self._one_item(pickle.APPEND, 1, list)
    dispatch[pickle.SETITEM[0]] = lambda self: self._one_item(pickle.SETITEM, 2, dict)
    del _op, _n, _t

    # --------------------------------------------------------------- calls
    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple:
            raise self.refuse(f"a call whose arguments are a {_kind(args)}, not a tuple")
        self.stack[-1] = self.call(func, args)
    dispatch[pickle.REDUCE[0]] = load_reduce

    def _no_instances(self) -> None:
        raise self.refuse("building a class instance (NEWOBJ/INST/OBJ opcodes); only numpy "
                          "arrays and built-in data are allowed")
    for _op in (pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.INST, pickle.OBJ):
        dispatch[_op[0]] = _no_instances
    del _op

    def call(self, func: Any, args: tuple) -> Any:
        """``func(*args)`` for an allowed ``func`` whose arguments pass its check."""
        if func is np.ndarray:
            raise self.refuse("a direct call of numpy.ndarray (it can read raw bytes as pointers)")
        check = _CHECKS.get(id(func))
        if check is None or check[0] is not func:
            name = getattr(func, "__name__", _kind(func))
            raise self.refuse(f"a call of {name!r}, which is not an allowed constructor")
        out = check[1](self, func, args)
        if isinstance(out, _CONTAINERS):
            self.record(out, self.check_items(_children(out)))
        return out

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray and id(inst) in self._fresh_arrays:
            _build_array(self, inst, state)
            self._fresh_arrays.discard(id(inst))
        elif isinstance(inst, np.dtype) and id(inst) in self._fresh_dtypes:
            _build_dtype(self, inst, state)
            self._fresh_dtypes.discard(id(inst))
        else:
            raise self.refuse(f"setting the state of a {_kind(inst)} (only a new numpy array or "
                              f"dtype takes a state, once)")
    dispatch[pickle.BUILD[0]] = load_build

    def fresh(self, obj: Any, kind: str) -> Any:
        """Remember a new array (``kind="array"``) or dtype whose state may be set once."""
        self._alive.append(obj)
        (self._fresh_arrays if kind == "array" else self._fresh_dtypes).add(id(obj))
        return obj

    def use_dtype(self, dtype: Any) -> np.dtype:
        """``dtype`` checked as a plain dtype, and frozen (its state can no longer be set)."""
        if not isinstance(dtype, np.dtype):
            raise self.refuse(f"a {_kind(dtype)} where a numpy dtype belongs")
        self._fresh_dtypes.discard(id(dtype))
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise self.refuse(f"the dtype {dtype!s} (object, structured and sub-array dtypes "
                              f"are not allowed)")
        return dtype

    def load(self) -> Any:
        obj = super().load()
        _Walk(self.refuse, 16 * self.size + (1 << 20)).run(obj)
        return obj


# ------------------------------------------------------- checked calls
def _shape(u: RestrictedUnpickler, shape: Any) -> Tuple[int, ...]:
    if type(shape) is not tuple or len(shape) > _MAX_NDIM or \
            not all(type(n) is int and n >= 0 for n in shape):
        raise u.refuse(f"an array shape that is not a tuple of at most {_MAX_NDIM} non-negative ints "
                       f"(got a {_kind(shape)})")
    return shape


def _array_bytes(u: RestrictedUnpickler, shape: Tuple[int, ...], dtype: np.dtype, data: Any = None) -> int:
    """The bytes of an array of ``shape`` and ``dtype``, charged; equal to ``len(data)`` if given."""
    if dtype.itemsize < 1:
        raise u.refuse(f"an array of the zero-size dtype {dtype!s}")
    nbytes = math.prod(shape) * dtype.itemsize
    if data is not None and nbytes != len(data):
        raise u.refuse(f"an array of shape {list(shape)} and dtype {dtype!s} ({nbytes} bytes) "
                       f"over {len(data)} bytes of data")
    u.charge(nbytes, f"an array of shape {list(shape)} and dtype {dtype!s}")
    return nbytes


def _dtype_arg(u: RestrictedUnpickler, spec: Any) -> np.dtype:
    if isinstance(spec, np.dtype):
        return u.use_dtype(spec)
    if isinstance(spec, bytes):
        spec = spec.decode("latin-1")
    if type(spec) is not str or len(spec) > 64 or "O" in spec or "," in spec or "(" in spec:
        raise u.refuse(f"the dtype spec {str(spec)[:70]!r} (only plain numeric, string and date "
                       f"dtypes are allowed)")
    return u.use_dtype(np.dtype(spec))


def _call_dtype(u: RestrictedUnpickler, func: Any, args: tuple) -> np.dtype:
    """``numpy.dtype(spec, align, copy)``: a new plain dtype whose state may be set once."""
    if not 1 <= len(args) <= 3 or not all(type(a) in (bool, int) for a in args[1:]):
        raise u.refuse(f"numpy.dtype called with {len(args)} arguments")
    dt = _dtype_arg(u, args[0])
    return u.fresh(np.dtype(dt.str, bool(args[1]) if len(args) > 1 else False, True), "dtype")


def _call_reconstruct(u: RestrictedUnpickler, func: Any, args: tuple) -> np.ndarray:
    """numpy's ``_reconstruct(ndarray, shape, dtype)``: a placeholder array whose
    state (``BUILD``) is then set once."""
    if len(args) != 3 or args[0] is not np.ndarray:
        raise u.refuse("numpy _reconstruct of anything but a plain numpy.ndarray")
    shape, dtype = _shape(u, args[1]), _dtype_arg(u, args[2])
    _array_bytes(u, shape, dtype)
    return u.fresh(func(np.ndarray, shape, dtype), "array")


def _call_frombuffer(u: RestrictedUnpickler, func: Any, args: tuple) -> np.ndarray:
    """numpy's ``_frombuffer(buffer, dtype, shape, order)`` (pickle protocol 5)."""
    if len(args) != 4 or type(args[0]) not in (bytes, bytearray) or args[3] not in ("C", "F"):
        raise u.refuse("numpy _frombuffer without (bytes, dtype, shape, 'C' or 'F')")
    dtype, shape = u.use_dtype(args[1]), _shape(u, args[2])
    _array_bytes(u, shape, dtype, args[0])
    return func(args[0], dtype, shape, args[3])


def _call_scalar(u: RestrictedUnpickler, func: Any, args: tuple) -> Any:
    """numpy's ``scalar(dtype, raw bytes)``."""
    if len(args) != 2 or type(args[1]) not in (bytes, str):
        raise u.refuse("a numpy scalar without (dtype, raw bytes)")
    dtype = u.use_dtype(args[0])
    _array_bytes(u, (), dtype, args[1])
    return func(dtype, args[1])


_DATE_UNITS = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as", "generic")


def _reference_state(dtype: np.dtype, state: tuple) -> Any:
    """The state numpy itself pickles for the dtype of ``dtype``'s kind and
    size with ``state``'s byte order (and, for dates, unit); :obj:`None` if
    ``state`` names no such dtype."""
    base = dtype.str[1:]                                            # 'f8', 'U2', 'M8'
    if dtype.kind in "Mm":                                          # the unit is in the state only
        meta = state[8] if len(state) == 9 else None
        unit = meta[1] if type(meta) is tuple and len(meta) == 2 and type(meta[1]) is tuple else None
        if unit is None or len(unit) != 4 or type(unit[1]) is not int or not 1 <= unit[1] < 2 ** 20:
            return None
        name = unit[0].decode("latin-1") if type(unit[0]) is bytes else unit[0]
        if name not in _DATE_UNITS:
            return None
        base = f"{dtype.kind}8" if name == "generic" else f"{dtype.kind}8[{unit[1] if unit[1] != 1 else ''}{name}]"
    ref = np.dtype(base)
    if state[1] in ("<", ">"):
        ref = ref.newbyteorder(state[1])
    return ref.__reduce__()[2]


def _build_dtype(u: RestrictedUnpickler, dtype: np.dtype, state: Any) -> None:
    """A dtype's state: set only if it equals the state numpy itself writes
    for a plain dtype of the same kind (numpy crashes on some other states)."""
    plain = type(state) is tuple and len(state) in (8, 9) and state[1] in ("<", ">", "|", "=")
    if not plain or _reference_state(dtype, state) != state:
        raise u.refuse(f"a dtype state that is not a plain {dtype.str!r} dtype's own")
    dtype.__setstate__(state)
    ref = np.dtype(dtype.str)
    same = (dtype == ref and dtype.itemsize == ref.itemsize and dtype.alignment == ref.alignment
            and dtype.flags == ref.flags)
    if not same or dtype.hasobject:
        raise u.refuse(f"a dtype state that does not describe the plain dtype {dtype.str!r}")


def _build_array(u: RestrictedUnpickler, arr: np.ndarray, state: Any) -> None:
    """An array's state ``(version, shape, dtype, is_fortran, raw bytes)``."""
    if type(state) is not tuple or len(state) not in (4, 5):
        raise u.refuse(f"an array state that is not a 4- or 5-tuple (a {_kind(state)})")
    shape, dtype, fortran, raw = state[-4:]
    if len(state) == 5 and type(state[0]) is not int:
        raise u.refuse(f"an array state version that is a {_kind(state[0])}")
    if type(raw) not in (bytes, str) or type(fortran) not in (bool, int):
        raise u.refuse(f"array data that is a {_kind(raw)}, not raw bytes")
    shape, dtype = _shape(u, shape), u.use_dtype(dtype)
    _array_bytes(u, shape, dtype, raw)
    arr.__setstate__(state)


def _text(u: RestrictedUnpickler, name: str, args: tuple) -> None:
    """``(bytes or str, encoding[, errors])`` with a text codec (no zlib and co)."""
    if len(args) > 3 or type(args[0]) not in (bytes, bytearray, str) or \
            _codec(args[1]) not in _TEXT_CODECS or (len(args) == 3 and type(args[2]) is not str):
        raise u.refuse(f"{name}() with an encoding other than {', '.join(_TEXT_CODECS)}")
    u.charge(4 * len(args[0]), f"a {name} object")


def _call_builtin(u: RestrictedUnpickler, cls: Any, args: tuple) -> Any:
    """A built-in type called on data it copies (its size charged): never a
    conversion that could explode (``str`` of a container, ``bytes(2**34)``)."""
    name = cls.__name__
    if not args:
        return cls()
    a = args[0]
    if cls in (str, bytes, bytearray) and len(args) >= 2:
        _text(u, name, args)
    elif len(args) > 2 or (len(args) == 2 and cls not in (int, complex)):
        raise u.refuse(f"{name}() with {len(args)} arguments")
    elif cls in (list, tuple, set, frozenset, dict, bytes, bytearray) and type(a) in _CONTAINERS + (str, bytes,
                                                                                               bytearray):
        u.charge(8 * len(a) + 64, f"a {name} object")
    elif cls in (bytes, bytearray) and type(a) is int and a >= 0:
        u.charge(a, f"a {name} object")
    elif cls is str and type(a) is str:
        pass
    elif cls in (int, float, complex, bool) and type(a) in (int, float, bool, str, bytes) and \
            (len(args) == 1 or type(args[1]) in ((int,) if cls is int else (int, float))):
        pass
    else:
        raise u.refuse(f"{name}() of a {_kind(a)}")
    return cls(*args)


def _call_encode(u: RestrictedUnpickler, func: Any, args: tuple) -> bytes:
    if not 1 <= len(args) <= 3 or type(args[0]) is not str or not all(type(a) is str for a in args[1:]):
        raise u.refuse("_codecs.encode of anything but a str")
    codec = args[1] if len(args) > 1 else "utf-8"
    if _codec(codec) not in ("latin1", "latin-1", "iso-8859-1"):
        raise u.refuse(f"'_codecs.encode' with the codec {codec[:40]!r} (only latin-1 is allowed)")
    u.charge(len(args[0]), "a bytes object")
    return func(*args)


def _checks() -> Dict[int, Tuple[Any, Callable]]:
    table: Dict[int, Tuple[Any, Callable]] = {}
    for func, check in ((np.dtype, _call_dtype), (_RECONSTRUCT, _call_reconstruct),
                        (_FROMBUFFER, _call_frombuffer), (_SCALAR, _call_scalar),
                        (_latin1_encode, _call_encode)):
        table[id(func)] = (func, check)
    for cls in _BUILTIN_TYPES:
        table[id(cls)] = (cls, _call_builtin)
    return table


_CHECKS = _checks()


def safe_loads(data: bytes, source: str = "<bytes>", encoding: str = "latin1") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`.

    Raises:
        UnsafePickleError: if the pickle names a global that is not allowed,
            or asks an allowed one for something unsafe (see the module).
        DataFormatError: if the pickle is truncated or malformed.
    """
    data = bytes(data)
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source, encoding=encoding,
                                   size=len(data)).load()
    except UnsafePickleError:
        raise
    except (Exception, RecursionError) as exc:  # noqa: BLE001 - any failure of a malformed file
        raise DataFormatError(f"{source}: not a readable pickle ({type(exc).__name__}: "
                              f"{_short(exc)}); the file may be truncated or corrupt") from None


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[:limit] + "..."


def safe_load(path: Union[str, os.PathLike], encoding: str = "latin1") -> Any:
    """Read a pickle file with :class:`RestrictedUnpickler`.

    .. code-block:: python

        data = safe_load("fold_1_train.pik")   # {'features': ndarray, 'labels': ndarray, ...}

    Args:
        path (str or PathLike): the file.
        encoding (str, optional): decoding of Python 2 strings. (default: :obj:`"latin1"`)

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        UnsafePickleError: if the pickle names a global outside the allowed
            set, or asks for an object array, a huge allocation or deep nesting.
        DataFormatError: if the file is truncated or not a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing data file: expected '{path}'")
    return safe_loads(path.read_bytes(), source=str(path), encoding=encoding)
