"""The restricted unpickler against hand-forged pickles: object arrays, huge
allocations, deep nesting, cycles, and a fuzz of mutated valid pickles."""
import os
import pickle
import random
import struct

import numpy as np
import pytest

from srnn_pyg.datasets import DataFormatError, UnsafePickleError
from srnn_pyg.datasets.safe_pickle import MAX_DEPTH, safe_load, safe_loads

REC = b"cnumpy.core.multiarray\n_reconstruct\n"
NDARRAY = b"cnumpy\nndarray\n"
DTYPE = b"cnumpy\ndtype\n"
FROMBUF = b"cnumpy.core.numeric\n_frombuffer\n"


def binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def dtype_op(spec: bytes) -> bytes:
    """``numpy.dtype(spec, False, True)`` as pickle opcodes (protocol 2 style)."""
    return DTYPE + b"(" + binbytes(spec) + b"\x89\x88tR"


def reconstruct_with_state(shape_ops: bytes, dtype_ops: bytes, raw: bytes) -> bytes:
    """``_reconstruct(ndarray, (0,), b'b')`` then ``BUILD (1, shape, dtype, False, raw)``."""
    return (b"\x80\x02" + REC + b"(" + NDARRAY + b"K\x00\x85" + binbytes(b"b") + b"tR"
            + b"(K\x01" + shape_ops + dtype_ops + b"\x89" + binbytes(raw) + b"tb.")


# --------------------------------------------------------------- still loads
@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_round_trip_of_plain_data(protocol):
    obj = {"f": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.array([[1, 2]], dtype=np.int64),
           "s": np.array(["ab", "c"]), "t": np.array(["2020-01-01"], dtype="M8[ns]"),
           "fo": np.asfortranarray(np.ones((2, 3))), "sc": [np.float64(1.5), np.int32(-3), np.bool_(True)],
           "plain": (1, 2.5, "x", b"raw", None, True, {1, 2}, frozenset({3}), bytearray(b"ab"), 3 + 4j)}
    out = safe_loads(pickle.dumps(obj, protocol=protocol))
    for key in ("f", "i", "s", "t", "fo"):
        assert out[key].dtype == obj[key].dtype and np.array_equal(out[key], obj[key])
    assert out["sc"] == obj["sc"] and [type(v) for v in out["sc"]] == [type(v) for v in obj["sc"]]
    assert out["plain"] == obj["plain"]


def test_nesting_up_to_the_limit_loads():
    deep = []
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    assert safe_loads(pickle.dumps(deep, protocol=2)) == deep


# ------------------------------------------------------------- object arrays
def test_refuses_ndarray_called_on_a_buffer():
    forged = (b"\x80\x02" + NDARRAY + b"(K\x01\x85" + binbytes(b"O") + binbytes(b"\x41" * 8) + b"tR.")
    with pytest.raises(UnsafePickleError, match=r"evil\.pik: refusing a direct call of numpy\.ndarray"):
        safe_loads(forged, source="evil.pik")


def test_refuses_object_dtype_in_array_state():
    forged = reconstruct_with_state(b"K\x01\x85", dtype_op(b"O8"), b"\x41" * 8)
    with pytest.raises(UnsafePickleError, match=r"refusing the dtype spec 'O8'"):
        safe_loads(forged, source="evil.pik")


def test_refuses_object_dtype_built_by_state():
    # dtype('V8') whose state claims the object flags (63): would make raw bytes pointers.
    state = b"(K\x03X\x01\x00\x00\x00|NNNK\x08K\x08K?t"
    forged = (b"\x80\x02" + REC + b"(" + NDARRAY + b"K\x00\x85" + binbytes(b"b") + b"tR"
              + b"(K\x01K\x01\x85" + dtype_op(b"V8") + state + b"b\x89" + binbytes(b"\x41" * 8) + b"tb.")
    with pytest.raises(UnsafePickleError, match=r"dtype state"):
        safe_loads(forged)


def test_refuses_object_frombuffer_and_scalar():
    frombuf = (b"\x80\x02" + FROMBUF + b"(" + binbytes(b"\x41" * 8) + dtype_op(b"i8")
               + b"K\x01\x85X\x01\x00\x00\x00Ct" + b"R.")
    assert safe_loads(frombuf).tolist() == [0x4141414141414141]     # a plain dtype loads
    with pytest.raises(UnsafePickleError, match="dtype spec 'O'"):
        safe_loads(frombuf.replace(binbytes(b"i8"), binbytes(b"O")))
    scalar = b"\x80\x02cnumpy.core.multiarray\nscalar\n(" + dtype_op(b"O") + binbytes(b"\x41" * 8) + b"tR."
    with pytest.raises(UnsafePickleError, match="dtype spec 'O'"):
        safe_loads(scalar)


def test_refuses_state_on_a_used_dtype_and_on_other_objects():
    # The dtype memoised, used by an array, then grown: the array would read past its data.
    forged = (b"\x80\x02" + REC + b"(" + NDARRAY + b"K\x00\x85" + binbytes(b"b") + b"tR"
              + b"(K\x01K\x01\x85" + dtype_op(b"S1") + b"q\x01\x89" + binbytes(b"a") + b"tb"
              + b"0h\x01(K\x03X\x01\x00\x00\x00|NNNM\x00\x10K\x01K\x00tb.")
    with pytest.raises(UnsafePickleError, match="setting the state of a"):
        safe_loads(forged)
    with pytest.raises(UnsafePickleError, match="setting the state of a list"):
        safe_loads(b"\x80\x02]}b.")


# ------------------------------------------------------- bounded allocation
def test_refuses_huge_bytes_before_allocating():
    forged = b"\x80\x02c__builtin__\nbytes\n(\x8a\x05\x00\x00\x00\x00\x04tR."       # bytes(2**34)
    with pytest.raises(UnsafePickleError, match=r"a bytes object of 17179869184 bytes: more than a 32-byte file"):
        safe_loads(forged)


def test_refuses_huge_shapes():
    huge = b"(J\x00\x00\x01\x00J\x00\x00\x01\x00t"                    # (65536, 65536)
    placeholder = (b"\x80\x02" + REC + b"(" + NDARRAY + huge + binbytes(b"b") + b"tR.")
    with pytest.raises(UnsafePickleError, match=r"array of shape \[65536, 65536\]"):
        safe_loads(placeholder)
    small_buffer = reconstruct_with_state(huge, dtype_op(b"f8"), b"\x00" * 8)
    with pytest.raises(UnsafePickleError, match=r"over 8 bytes of data"):
        safe_loads(small_buffer)


def test_refuses_exploding_conversions():
    with pytest.raises(UnsafePickleError, match=r"str\(\) of a list"):
        safe_loads(b"\x80\x02c__builtin__\nstr\n]\x85R.")
    with pytest.raises(UnsafePickleError, match="encoding other than"):
        safe_loads(b"\x80\x02c__builtin__\nstr\n(C\x02xxX\x04\x00\x00\x00zlibtR.")
    # the same 1000-char str turned into a list again and again
    many = b"\x80\x02c__builtin__\nlist\nq\x00X\xe8\x03\x00\x00" + b"a" * 1000 + b"\x85q\x01"
    many += b"h\x00h\x01R0" * 5000 + b"N."
    with pytest.raises(UnsafePickleError, match="more than a .*-byte file can describe"):
        safe_loads(many)


# ------------------------------------------------------- nesting and cycles
def test_refuses_deep_tuples_before_hashing():
    forged = b"\x80\x02}N" + b"\x85" * 100000 + b"Ns."             # {(((None,),),...): None}
    with pytest.raises(UnsafePickleError, match=f"nested more than {MAX_DEPTH} levels"):
        safe_loads(forged)
    for close in (b"t", b"l", b"d"):                                 # ~1 KB: 500 nested containers
        with pytest.raises(UnsafePickleError, match="nested MARK"):
            safe_loads(b"(" * 500 + close * 500 + b".")


def test_refuses_deep_lists_grown_after_nesting():
    # R = [T] with T forty tuples around the list L0; then L0 grows a chain of 70
    # lists through memo references: only the final walk sees R's real depth.
    forged = b"\x80\x02]q\x000]h\x00" + b"\x85" * 40 + b"ah\x00"
    for i in range(1, 71):
        forged += b"]q" + bytes([i]) + b"a0h" + bytes([i])
    with pytest.raises(UnsafePickleError, match=f"nested more than {MAX_DEPTH} levels"):
        safe_loads(forged + b"0.")
    assert len(safe_loads(forged.replace(b"\x85" * 40, b"\x85" * 10) + b"0.")) == 1


def test_refuses_cycles_and_shared_explosions():
    with pytest.raises(UnsafePickleError, match="a list that contains itself"):
        safe_loads(b"\x80\x02]q\x00h\x00a.")
    bomb = b"\x80\x02]q\x00"                                         # a_i = [a_{i-1}] * 4
    for i in range(1, 60):
        prev = b"h" + bytes([i - 1])
        bomb += b"0(" + prev * 4 + b"lq" + bytes([i])
    with pytest.raises(UnsafePickleError, match=r"items in all \(shared"):
        safe_loads(bomb + b".")


def test_refuses_instances_and_persistent_ids():
    with pytest.raises(UnsafePickleError, match="building a class instance"):
        safe_loads(b"\x80\x02c__builtin__\nlist\n)\x81.")
    with pytest.raises(UnsafePickleError, match="persistent id"):
        safe_loads(b"\x80\x02K\x01Q.")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.pik"
    path.write_bytes(b"\x80\x02c__builtin__\nbytes\n(\x8a\x05\x00\x00\x00\x00\x04tR.")
    with pytest.raises(UnsafePickleError, match=r"bad\.pik: refusing"):
        safe_load(path)
    path.write_bytes(b"\x80\x02K")
    with pytest.raises(DataFormatError, match=r"bad\.pik: not a readable pickle"):
        safe_load(path)


# ---------------------------------------------------------------------- fuzz
def _seeds():
    obj = {"features": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "labels": [np.int64(1), 2],
           "names": ("a", b"b", None), "adj": np.eye(3), "s": {1.5, "x"}}
    seeds = [pickle.dumps(obj, protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)]
    seeds.append(pickle.dumps([list(range(5)), {"k": np.array(["u"])}], protocol=0))
    return seeds


_OPCODES = bytes(sorted({op.code.encode("latin-1")[0] for op in __import__("pickletools").opcodes}))


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        how = rng.randrange(5)
        pos = rng.randrange(len(data)) if data else 0
        if how == 0 and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif how == 1:
            data = data[:pos]
        elif how == 2:
            data[pos:pos] = bytes([rng.choice(_OPCODES)])
        elif how == 3 and data:
            data[pos] = rng.randrange(256)
        else:
            data[pos:pos] = struct.pack("<I", rng.choice([0, 1, 255, 2 ** 31 - 1, 2 ** 32 - 1]))
    return bytes(data)


def fuzz(count: int, seed: int = 0) -> dict:
    """Load ``count`` mutated pickles; each must load or raise DataFormatError
    (UnsafePickleError is one). Returns the counts per outcome."""
    rng = random.Random(seed)
    seeds = _seeds()
    outcomes = {"loaded": 0, "UnsafePickleError": 0, "DataFormatError": 0}
    for _ in range(count):
        data = _mutate(rng, rng.choice(seeds))
        try:
            safe_loads(data, source="fuzz.pik")
        except UnsafePickleError as e:
            assert str(e).startswith("fuzz.pik: "), str(e)
            outcomes["UnsafePickleError"] += 1
        except DataFormatError as e:
            assert str(e).startswith("fuzz.pik: "), str(e)
            outcomes["DataFormatError"] += 1
        else:
            outcomes["loaded"] += 1
    return outcomes


def test_fuzz_mutated_pickles():
    long = os.environ.get("SRNN_PYG_FUZZ_LONG") == "1"
    outcomes = fuzz(200_000 if long else 5_000)
    print("safe_pickle fuzz outcomes:", outcomes)
    assert outcomes["loaded"] > 0 and outcomes["DataFormatError"] > 0 and outcomes["UnsafePickleError"] > 0
