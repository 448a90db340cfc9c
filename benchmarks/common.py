"""Shared helpers of the benchmark scripts: timing, machine description, atomic table writes."""
from __future__ import annotations

import os
import platform
import shlex
import stat
import statistics
import sys
import tempfile
import time
from typing import Callable, List, NamedTuple, Optional, Union

import torch


def timeit(fn: Callable[[], object], reps: int = 5, warmup: int = 1, device: Optional[str] = None) -> float:
    """Median wall time of ``fn`` in seconds over ``reps`` runs after ``warmup`` runs."""
    sync = device_sync(device)
    for _ in range(warmup):
        fn()
        sync()
    times: List[float] = []
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def device_sync(device: Optional[str] = None) -> Callable[[], None]:
    """A function that waits for the device's queued work (CUDA), or does nothing (CPU)."""
    return (lambda: torch.cuda.synchronize()) if device == "cuda" else (lambda: None)


class Paired(NamedTuple):
    """Two functions timed in interleaved pairs: median seconds of each, and the median and
    minimum of the per-pair ratios ``a / b``."""
    a: float
    b: float
    ratio: float
    ratio_min: float


def paired(a: Callable[[], object], b: Callable[[], object], reps: int, warmup: int = 1,
           device: Optional[str] = None) -> Paired:
    """Time ``a`` and ``b`` back to back, ``reps`` pairs in this process, after ``warmup`` calls of
    each: ``a`` first in even pairs, ``b`` first in odd ones, so that a change in the machine's load
    falls on both. Each call is timed alone, the device synchronised around it."""
    sync = device_sync(device)
    for _ in range(warmup):
        for fn in (a, b):
            fn()
            sync()
    times_a: List[float] = []
    times_b: List[float] = []
    for r in range(reps):
        pair = [(a, times_a), (b, times_b)]
        for fn, times in (pair if r % 2 == 0 else pair[::-1]):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
    ratios = [x / y for x, y in zip(times_a, times_b)]
    return Paired(statistics.median(times_a), statistics.median(times_b), statistics.median(ratios), min(ratios))


def machine(device: str = "cpu") -> str:
    """A one-paragraph description of where a benchmark ran."""
    import torch_geometric

    from srnn_pyg import __version__
    from srnn_pyg.typing import WITH_TORCH_SCATTER

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    parts = [f"CPU: {cpu} ({os.cpu_count()} logical cores, torch threads {torch.get_num_threads()})"]
    if device == "cuda":
        parts.append(f"GPU: {torch.cuda.get_device_name()}")
    parts.append(f"Python {platform.python_version()}, torch {torch.__version__}, "
                 f"torch_geometric {torch_geometric.__version__}, srnn_pyg {__version__}, "
                 f"torch_scatter {'installed' if WITH_TORCH_SCATTER else 'not installed'}")
    tuned = allocator_settings()
    if tuned:
        parts.append("set in the environment (memory allocation; changes speed, never results): "
                     + ", ".join(f"`{t}`" for t in tuned))
    return "\n".join(f"- {p}" for p in parts)


_ALLOCATOR_PREFIXES = ("MALLOC_", "TCMALLOC_", "JEMALLOC_", "GLIBC_TUNABLES", "PYTORCH_CUDA_ALLOC_CONF", "LD_PRELOAD")


def allocator_settings(environ=None) -> list:
    """The environment's memory-allocation settings, ``NAME=value`` sorted by
    name: glibc's ``MALLOC_*`` and ``GLIBC_TUNABLES``, tcmalloc's and
    jemalloc's variables, ``PYTORCH_CUDA_ALLOC_CONF``, and ``LD_PRELOAD`` with
    each preloaded library by its file name only (no folder of this machine
    goes into a table)."""
    environ = os.environ if environ is None else environ
    out = []
    for key in sorted(environ):
        if not key.startswith(_ALLOCATOR_PREFIXES):
            continue
        value = environ[key]
        if key == "LD_PRELOAD":
            value = " ".join(os.path.basename(lib) for lib in value.replace(":", " ").split())
        out.append(f"{key}={value}")
    return out


def command() -> str:
    """The command line that made a table, as run from the repository root;
    ``--out DIR`` is left out (the table says where it is by being there)."""
    args, skip = [], False
    for a in sys.argv[1:]:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            args.append(a)
    return "python " + " ".join(["benchmarks/" + os.path.basename(sys.argv[0])] + [shlex.quote(a) for a in args])


def write_atomic(path: str, text: Union[str, bytes]) -> None:
    """Write ``text`` (or raw ``bytes``, e.g. a PNG) to ``path`` through a temporary file and a rename.
    The file gets the mode a plain ``open`` would give it (an existing file keeps its own), not the
    temporary file's private one."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        if os.path.exists(path):
            mode = stat.S_IMODE(os.stat(path).st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def markdown_table(header: List[str], rows: List[List[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
