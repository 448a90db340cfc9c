"""How time and memory grow with the graph and with the forecast horizon:
S-RNN (both edge scopes) and STGCN at equal hidden sizes.

On random typed graphs built as in ``speed.py`` (3 node types, 5 edge types,
E about 4N directed edges, T=50 steps, F=6 features, hidden 64):

- graph size, N = 10 ... 100,000: median time of a train step (forward + MSE
  loss + backward) and of a forward pass without gradients, and the peak memory
  of a train step. Every (model, N) runs in a fresh process, so the peak belongs
  to that step alone: on CPU the resident set's high-water mark, reset just
  before the step (torch's CPU allocations are invisible to tracemalloc); on
  CUDA ``torch.cuda.max_memory_allocated``;
- per row, the time ratio to the previous size and the "doubling factor", that
  ratio rescaled to a doubling of N+E (linear cost gives 2.0; the target is at
  most 2.2);
- horizon: ``forecast`` latency of S-RNN on one graph (N=1000) for horizons
  25 ... 400, and the ratio per doubling of the horizon.

A size is skipped when its memory, extrapolated linearly in N+E from the
model's last two sizes, would exceed ``--max-memory-gb`` (16 GiB by default); the cap is also set as
the worker's data limit (CPU) or memory fraction (CUDA), so that an allocation
past it fails and is recorded instead of swapping or waking the OOM killer.
On CPU that limit (``RLIMIT_DATA``) counts the data address space the process
has mapped, not its resident set: a train step fails there at about half the
cap in resident memory, so an "out of memory" row says the data limit was hit,
not that the size needs more than the cap.

With ``--onehop``: full-graph against one-hop mini-batch training
(:class:`srnn_pyg.loader.OneHopLoader`, a fixed batch of ``--batch-size``
seed nodes) at N = 1e3 ... 1e6, each size in a fresh process: the time of an
epoch (one pass over every node as a seed, sampling, forward, MSE loss on the
seed rows, backward and an Adam step per batch; no warm-up, so the first batch
of the process is in it), the time of one batch and the epoch's peak memory
(the resident high-water mark, which also holds what the allocator keeps
between batches and so grows with their number), and the full-graph train step
(one step is one epoch) where its memory fits; with
``srnn_pyg.models.srnn_chunked`` present, an exact ``--forecast-horizon``-step
forecast of the whole graph (``forecast_in_chunks``). An epoch whose first
batches project past ``--epoch-budget`` seconds is timed over its first
``--timed-batches`` batches and extrapolated (the table says so).

    python benchmarks/scaling.py --threads 1          # -> results/scaling_cpu.md and scaling_cpu.png
    python benchmarks/scaling.py --sizes 100 1000 --models srnn_slot stgcn --reps 3
    python benchmarks/scaling.py --quick --out scratch  # tiny sizes, a smoke check (seconds; scaling_cpu_quick.md)
    python benchmarks/scaling.py --onehop --threads 1   # -> results/scaling_onehop_cpu.md and .png
    python benchmarks/scaling.py --onehop --quick --out scratch
"""
from __future__ import annotations

import argparse
import gc
import importlib
import io
import math
import multiprocessing as mp
import os
import resource
import signal
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, timeit, write_atomic  # noqa: E402
from speed import BASELINE_KWARGS, fmt, graph  # noqa: E402

from srnn_pyg.loader import OneHopLoader, seed_view  # noqa: E402
from srnn_pyg.models import StructuralRNN, available, build  # noqa: E402

MiB = 2 ** 20
SRNN = {"srnn_slot": "slot", "srnn_edge": "edge", "srnn_slot_ckpt": "slot", "srnn_edge_ckpt": "edge"}
LABELS = {"srnn_slot": "S-RNN (slot)", "srnn_edge": "S-RNN (edge)", "stgcn": "STGCN",
          "srnn_slot_ckpt": "S-RNN (slot, checkpointing)", "srnn_edge_ckpt": "S-RNN (edge, checkpointing)"}
DEFAULTS = dict(sizes=[10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000], horizons=[25, 50, 100, 200, 400],
                horizon_nodes=1000, reps=5, threads=None)
QUICK = dict(sizes=[10, 30], horizons=[5, 10], horizon_nodes=30, reps=1, threads=1)
ONEHOP_DEFAULTS = dict(sizes=[1000, 10000, 100000, 1000000], models=["srnn_slot"], reps=3, threads=None,
                       batch_size=1024)
ONEHOP_QUICK = dict(sizes=[100, 400], models=["srnn_slot"], reps=1, threads=1, batch_size=64, T=10)
CHUNKED = "srnn_pyg.models.srnn_chunked"   # forecast_in_chunks: the exact forecast of a graph too large for one pass
TARGET = 2.2   # the bound on the cost of doubling the graph


# ------------------------------------------------------------------ models
def make_model(name: str, schema, F: int, hidden: int, T: int) -> torch.nn.Module:
    """S-RNN with every layer ``hidden`` wide, or a registered baseline with ``hidden``
    channels; a windowed baseline (STGCN) reads the same T observed steps as S-RNN."""
    if name in SRNN:
        model = StructuralRNN(schema, F, F, edge_hidden=hidden, node_hidden=hidden, edge_mlp=(hidden,),
                              node_mlp=(hidden,), edge_scope=SRNN[name])
        return model.gradient_checkpointing(name.endswith("_ckpt"))
    kwargs = dict(BASELINE_KWARGS.get(name, {}), hidden=hidden)
    for extra in (dict(kwargs, obs_len=T), kwargs, {}):   # widest call the constructor accepts
        try:
            return build(name, schema, F, F, **extra)
        except TypeError:
            continue
    raise ValueError(f"scaling.py: cannot build model {name!r}")


def closures(model: torch.nn.Module, data, F: int) -> Tuple[Callable[[], None], Callable[[], None]]:
    """A train step (forward + MSE loss + backward) and a forward pass without gradients.

    A model with a one-step form is scored on the next frame (its output at t
    against ``x`` at t + 1); a windowed forecaster (``has_forward=False``) on its
    own horizon, against fixed random targets.
    """
    if model.has_forward:
        target = data.x[:, 1:]                                             # [N, T-1, F]

        def predict():
            return model(data)[:, :-1]                                     # [N, T-1, F]
    else:
        h = int(getattr(model, "horizon", 12))
        target = torch.randn(data.num_nodes, h, F, generator=torch.Generator().manual_seed(1)).to(data.x.device)

        def predict():
            return model.forecast(data, h)                                 # [N, h, F]

    def train():
        model.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(predict(), target).backward()

    def forward():
        with torch.no_grad():
            predict()
    return train, forward


# ------------------------------------------------------------------ memory
def _proc_status(key: str) -> Optional[int]:
    """A ``/proc/self/status`` field in bytes (Linux), or None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _maxrss() -> int:
    """Peak resident set of this process in bytes (``ru_maxrss`` is in KiB on Linux, bytes on macOS)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


class PeakMemory:
    """The peak memory of a stretch of code in this process, above what was in use when it began.

    CUDA: ``torch.cuda.max_memory_allocated`` after a reset. CPU: the resident
    set's high-water mark ``VmHWM``, reset to the current resident set by writing
    5 to ``/proc/self/clear_refs`` (Linux); where that is refused, the change of
    ``ru_maxrss``, which the fresh process per measurement keeps meaningful.
    """

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.resettable = False
        self.base = 0

    def start(self) -> None:
        gc.collect(1)   # the young garbage of the set-up; a full pass over torch's objects costs ~0.3 s
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.resettable = _proc_status("VmHWM") is not None
        except OSError:
            self.resettable = False
        self.base = _proc_status("VmRSS") if self.resettable else _maxrss()

    def stop(self) -> Tuple[int, int]:
        """``(above the start, total)`` in bytes."""
        if self.cuda:
            torch.cuda.synchronize()
            total = torch.cuda.max_memory_allocated()
        else:
            total = _proc_status("VmHWM") if self.resettable else _maxrss()
        return max(total - self.base, 0), total


def _cap_memory(device: str, cap_bytes: int) -> None:
    """Make allocations past ``cap_bytes`` fail with an error this process can catch."""
    if device.startswith("cuda"):
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index     # "cuda" means the current GPU
        total = torch.cuda.get_device_properties(index).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap_bytes / total), index)
        return
    used = _proc_status("VmData")
    if used is None or not hasattr(resource, "RLIMIT_DATA"):
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = used + cap_bytes if hard == resource.RLIM_INFINITY else min(used + cap_bytes, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def oom_status(error: str, cap_gb: float) -> str:
    """The table cell of a measurement that ran out of memory. On CPU the cap is the
    worker's ``RLIMIT_DATA``, which counts mapped data address space, not resident memory."""
    return f"out of memory ({error}, at the data limit of {cap_gb:g} GiB; see the note on the cap)"


def cap_note(device: str) -> str:
    """What the memory cap is on ``device``, for the reports' text."""
    if device.startswith("cuda"):
        return ""
    return (": sizes whose estimated peak passes it are skipped, and it is each worker's data limit "
            "(`RLIMIT_DATA`), which counts mapped address space, not resident memory: a train step fails "
            "there at about half the cap in resident memory")


def _is_oom(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, MemoryError) or any(s in text for s in ("out of memory", "can't allocate memory",
                                                                     "not enough memory"))


# ------------------------------------------------------------------ workers
def n_reps(first: float, reps: int, budget: float) -> int:
    """Timed repetitions for a call that took ``first`` seconds: ``reps`` when they fit in
    ``budget`` seconds, fewer for slow calls, but never under ``min(3, reps)``."""
    return max(min(3, reps), min(reps, int(budget / max(first, 1e-9))))


def _once(fn: Callable[[], None], device: str, probe: PeakMemory) -> Tuple[float, int, int]:
    """Run ``fn`` once (the warm-up): its time, peak memory above the start, and total peak."""
    probe.start()
    start = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return (seconds, *probe.stop())


def _median(fn: Callable[[], None], first: float, spec: dict) -> Tuple[float, int]:
    """Median time of ``fn`` after the warm-up that took ``first`` seconds (one more warm-up
    when calls are cheap, where a second call may still be settling)."""
    reps = n_reps(first, spec["reps"], spec["budget"])
    sync = "cuda" if spec["device"].startswith("cuda") else None
    return timeit(fn, reps, warmup=1 if first < 1.0 else 0, device=sync), reps


def measure_size(spec: dict) -> dict:
    """One model on one graph: train step (time, peak memory) and forward pass (time)."""
    dev = spec["device"]
    base = 0 if dev.startswith("cuda") else (_proc_status("VmRSS") or _maxrss())
    schema, data = graph(spec["N"], spec["T"], spec["F"], dev)
    torch.manual_seed(0)
    model = make_model(spec["model"], schema, spec["F"], spec["hidden"], spec["T"]).to(dev)
    train, forward = closures(model, data, spec["F"])
    probe = PeakMemory(dev)
    first, step_bytes, total_bytes = _once(train, dev, probe)            # also the warm-up
    t_train, reps = _median(train, first, spec)
    model.eval()
    first_fwd, _, _ = _once(forward, dev, probe)
    t_fwd, _ = _median(forward, first_fwd, spec)
    return dict(E=data.num_edges, reps=reps, train=t_train, forward=t_fwd, step_mib=step_bytes / MiB,
                peak_mib=total_bytes / MiB, base_mib=base / MiB)


def measure_horizon(spec: dict) -> dict:
    """S-RNN ``forecast`` latency (no gradients) for one horizon after the T observed steps."""
    dev = spec["device"]
    schema, data = graph(spec["N"], spec["T"], spec["F"], dev)
    torch.manual_seed(0)
    model = make_model(spec["model"], schema, spec["F"], spec["hidden"], spec["T"]).to(dev).eval()

    def run():
        with torch.no_grad():
            model.forecast(data, spec["horizon"])
    first, step_bytes, _ = _once(run, dev, PeakMemory(dev))
    seconds, reps = _median(run, first, spec)
    return dict(time=seconds, reps=reps, step_mib=step_bytes / MiB)


def one_step_loss(model: torch.nn.Module, batch) -> torch.Tensor:
    """MSE of the one-step-ahead prediction on the seed rows (all rows of a whole graph)."""
    pred, target = seed_view(batch, model(batch)[:, :-1], batch.x[:, 1:])
    return torch.nn.functional.mse_loss(pred, target)


def measure_full(spec: dict) -> dict:
    """The full-graph train step with its optimiser step (one step is one epoch): the
    warm-up gives the peak memory, then the median of the timed repetitions."""
    dev = spec["device"]
    base = 0 if dev.startswith("cuda") else (_proc_status("VmRSS") or _maxrss())
    schema, data = graph(spec["N"], spec["T"], spec["F"], dev)
    torch.manual_seed(0)
    model = make_model(spec["model"], schema, spec["F"], spec["hidden"], spec["T"]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        one_step_loss(model, data).backward()
        opt.step()
    first, step_bytes, total_bytes = _once(step, dev, PeakMemory(dev))
    seconds, reps = _median(step, first, spec)
    return dict(E=data.num_edges, reps=reps, train=seconds, step_mib=step_bytes / MiB,
                peak_mib=max(total_bytes, _maxrss()) / MiB, base_mib=base / MiB)


def measure_onehop(spec: dict) -> dict:
    """One epoch of one-hop mini-batch training: every node a seed once, batches of
    ``batch_size`` in a random order, an Adam step per batch. Each batch's time covers its
    sampling, forward, loss, backward and optimiser step; there is no warm-up batch, so the
    process's first (cold) step is the first batch timed. The peak memory of a batch is that
    of the epoch: the resident set's high-water mark during the epoch above the memory in use
    before it (the graph, the sampler's index and the model, which the process peak includes).
    That is the largest batch's working set plus what the allocator keeps between batches
    (freed heap it does not return), which grows with the number of batches: not a per-batch
    measure that is independent of N. ``batch`` is ``sorted(times)[timed // 2]``, the upper of
    the two middle times when ``timed`` is even. When the first batches
    project the epoch past ``epoch_budget`` seconds, only the first ``timed_batches`` run and
    the epoch is extrapolated from their mean."""
    dev = spec["device"]
    schema, data = graph(spec["N"], spec["T"], spec["F"], dev)
    torch.manual_seed(0)
    model = make_model(spec["model"], schema, spec["F"], spec["hidden"], spec["T"]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = OneHopLoader(data, spec["batch_size"], shuffle=True)
    batches = len(loader)
    probe = PeakMemory(dev)
    times, seeds, rows, edges = [], [], [], []
    limit, probe_after = batches, min(3, batches)
    probe.start()
    start = time.perf_counter()
    it = iter(loader)
    for i in range(batches):
        t0 = time.perf_counter()
        batch = next(it)
        opt.zero_grad(set_to_none=True)
        one_step_loss(model, batch).backward()
        opt.step()
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        seeds.append(batch.batch_size)
        rows.append(batch.num_nodes)
        edges.append(batch.num_edges)
        if i + 1 == probe_after and spec["epoch_budget"] is not None:
            projected = (time.perf_counter() - start) / probe_after * batches
            if projected > spec["epoch_budget"]:
                limit = max(probe_after, min(batches, spec["timed_batches"]))
        if i + 1 >= limit:
            break
    wall = time.perf_counter() - start
    step_bytes, _ = probe.stop()
    timed = len(times)
    tensors = [v for v in data.to_dict().values() if isinstance(v, torch.Tensor)]
    return dict(E=data.num_edges, batches=batches, timed=timed,
                epoch=wall if timed == batches else wall / timed * batches,
                batch=sorted(times)[timed // 2], rows=sum(rows) / timed, edges=sum(edges) / timed,
                redundancy=sum(rows) / sum(seeds), step_mib=step_bytes / MiB, peak_mib=_maxrss() / MiB,
                data_mib=sum(v.numel() * v.element_size() for v in tensors) / MiB)


def measure_forecast(spec: dict) -> dict:
    """The exact ``horizon``-step forecast of the whole graph with ``forecast_in_chunks``
    (no gradients): time of one call (the median of more where they fit the time budget)
    and its peak memory above the memory in use before it."""
    forecast_in_chunks = importlib.import_module(CHUNKED).forecast_in_chunks
    dev = spec["device"]
    schema, data = graph(spec["N"], spec["T"], spec["F"], dev)
    torch.manual_seed(0)
    model = make_model(spec["model"], schema, spec["F"], spec["hidden"], spec["T"]).to(dev).eval()
    kwargs = {} if spec["chunk_size"] is None else dict(chunk_size=spec["chunk_size"])

    def run():
        with torch.no_grad():
            forecast_in_chunks(model, data, spec["horizon"], state_device="cpu", **kwargs)
    first, step_bytes, total_bytes = _once(run, dev, PeakMemory(dev))
    if first * (1 + spec["reps"]) > spec["budget"]:
        return dict(time=first, reps=1, step_mib=step_bytes / MiB, peak_mib=_maxrss() / MiB)
    seconds, reps = _median(run, first, spec)
    return dict(time=seconds, reps=reps, step_mib=step_bytes / MiB, peak_mib=_maxrss() / MiB)


JOBS = {"size": measure_size, "horizon": measure_horizon, "full": measure_full, "onehop": measure_onehop,
        "forecast": measure_forecast}


def _worker(conn, job: str, spec: dict) -> None:
    """Entry point of a fresh process: one measurement, its result (or its error) sent back."""
    try:
        if spec["threads"]:
            torch.set_num_threads(spec["threads"])
        _cap_memory(spec["device"], spec["cap_bytes"])
        result = JOBS[job](spec)
    except Exception as e:  # out of memory above all, but any failure is a result to record
        oom = _is_oom(e)
        result = dict(error=type(e).__name__ if oom else f"{type(e).__name__}: {' '.join(str(e).split())[:120]}",
                      memory=oom)
    conn.send(result)
    conn.close()


class Runner:
    """Runs each measurement in a fresh process forked from a server that has imported
    torch once (``forkserver``; ``spawn`` where there is none), so that memory peaks are
    the measurement's own and a crash or an OOM kill costs one row, not the run."""

    def __init__(self, device: str = "cpu"):
        # CUDA cannot be used in a process forked from one that touched it (the forkserver's
        # preloaded modules may): on CUDA every worker is spawned fresh.
        forkserver = not device.startswith("cuda") and "forkserver" in mp.get_all_start_methods()
        method = "forkserver" if forkserver else "spawn"
        self.ctx = mp.get_context(method)
        if method == "forkserver":
            # "__main__": this script, imported once by the server rather than by every worker
            self.ctx.set_forkserver_preload(["__main__", "torch", "torch_geometric", "srnn_pyg.models"])

    def __call__(self, job: str, spec: dict) -> dict:
        recv, send = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(target=_worker, args=(send, job, spec), daemon=True)
        proc.start()
        send.close()
        try:
            result = recv.recv()
        except EOFError:   # died without a word
            result = None
        proc.join()
        if result is None:
            killed = proc.exitcode == -signal.SIGKILL            # the OOM killer's signal
            result = dict(error=f"worker died (exit code {proc.exitcode}"
                                + ("; killed, most likely for memory)" if killed else ")"), memory=killed)
        return result


# ------------------------------------------------------------------ report
def doubling(t0: float, t1: float, s0: float, s1: float) -> float:
    """The time ratio ``t1 / t0`` rescaled to a doubling of the size: ``ratio ** (log 2 / log(s1 / s0))``."""
    return (t1 / t0) ** (math.log(2) / math.log(s1 / s0))


def _ratios(rows: List[dict], key: str, size_key: str) -> List[Tuple[Optional[float], Optional[float]]]:
    """Per row, (ratio, doubling factor) of ``key`` against the previous row that has one."""
    out, prev = [], None
    for r in rows:
        val = r.get(key)
        if val is None or prev is None or r[size_key] <= prev[size_key] or val <= 0 or prev[key] <= 0:
            out.append((None, None))                   # (a measured 0, e.g. no memory growth: no ratio)
        else:
            out.append((val / prev[key], doubling(prev[key], val, prev[size_key], r[size_key])))
        if val is not None:
            prev = r
    return out


def _x(value: Optional[float], digits: int = 2, suffix: str = "x") -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _mib(value: Optional[float]) -> str:
    return "-" if value is None else (f"{value:,.1f}" if value < 100 else f"{value:,.0f}")


def size_table(rows: List[dict]) -> str:
    train, fwd = _ratios(rows, "train", "size"), _ratios(rows, "forward", "size")
    body = []
    for r, (tr, td), (_, fd) in zip(rows, train, fwd):
        if "status" in r:
            body.append([r["N"], "-", "-", "-", r["status"]] + ["-"] * 6)
            continue
        body.append([r["N"], r["E"], r["size"], r["reps"], fmt(r["train"]), _x(tr), _x(td, suffix=""),
                     fmt(r["forward"]), _x(fd, suffix=""), _mib(r["step_mib"]), _mib(r["peak_mib"])])
    return markdown_table(["N", "E", "N+E", "reps", "train step", "ratio", "doubling factor", "forward",
                           "doubling factor (forward)", "train step peak (MiB)", "process peak (MiB)"], body)


def horizon_table(rows: List[dict]) -> str:
    ratios = _ratios(rows, "time", "horizon")
    body = [[r["horizon"], "-", r["status"], "-", "-", "-"] if "status" in r else
            [r["horizon"], r["reps"], fmt(r["time"]), _x(q), _x(d, suffix=""), _mib(r["step_mib"])]
            for r, (q, d) in zip(rows, ratios)]
    return markdown_table(["horizon", "reps", "forecast", "ratio", "ratio per doubling", "forecast peak (MiB)"],
                          body)


def summary(model: str, rows: List[dict]) -> str:
    pairs = [(d, r["N"]) for r, (_, d) in zip(rows, _ratios(rows, "train", "size")) if d is not None]
    if not pairs:
        return f"- {LABELS.get(model, model)}: fewer than two sizes measured"
    worst, at = max(pairs)
    verdict = "met" if worst <= TARGET else "not met"
    return (f"- {LABELS.get(model, model)}: doubling N+E multiplies the train step time by at most "
            f"{worst:.2f} (on the step up to N={at}); target <= {TARGET}: {verdict}")


def report(args, dev: str, sizes: Dict[str, List[dict]], horizons: Dict[str, List[dict]], png: Optional[str]) -> str:
    text = [f"# Scaling on {dev}\n",
            f"Random typed graphs as in `speed.py` (3 node types, 5 edge types, E about 4N), T={args.T}, "
            f"F={args.F}, hidden {args.hidden} for every model. Train step = forward + MSE loss + backward "
            "(S-RNN: one-step-ahead loss; a model without a one-step form, like STGCN, reads the same T steps "
            "and is scored on its own forecast horizon, 12 steps for STGCN); forward = the same prediction "
            "without gradients. Every "
            "(model, N) runs in a fresh process; its first train step is the warm-up and gives the peak "
            "memory (train step peak: above the memory in use before the step; process peak: the whole "
            "process, libraries included" + (")" if dev == "cuda" else ", as resident set size)")
            + "; then the median of `reps` timed repetitions (fewer for slow sizes). Doubling factor = "
            "time ratio to the previous size rescaled to a doubling of N+E: `ratio ** (log 2 / log(size "
            f"ratio))`; linear cost gives 2.0. Memory cap {args.max_memory_gb:g} GiB{cap_note(dev)}.\n",
            machine(dev), "", f"Command: `{command()}`", "", "## Doubling the graph", ""]
    text += [summary(m, sizes[m]) for m in args.models]
    for m in args.models:
        text += ["", f"## {LABELS.get(m, m)}: graph size", "", size_table(sizes[m])]
    if any(horizons.values()):
        text += ["", f"## Forecast horizon (N={args.horizon_nodes}, {args.T} observed steps, no gradients)"]
        for m, rows in horizons.items():
            text += ["", f"### {LABELS[m]}", "", horizon_table(rows)]
    if png:
        text += ["", f"![scaling]({os.path.basename(png)})"]
    return "\n".join(text) + "\n"


def plot(path: str, models: List[str], sizes: Dict[str, List[dict]], horizons: Dict[str, List[dict]],
         dev: str) -> bool:
    """Log-log train step time and peak memory against N+E, and forecast time against the
    horizon; dotted: linear growth through each curve's last point."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import NullFormatter
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", flush=True)
        return False
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = [(axes[0], sizes, "size", "train", "N + E", "train step (s)"),
              (axes[1], sizes, "size", "step_mib", "N + E", "train step peak memory (MiB)"),
              (axes[2], horizons, "horizon", "time", "forecast horizon (steps)", "forecast latency (s)")]
    for ax, table, xkey, ykey, xlabel, ylabel in panels:
        for i, m in enumerate(models):
            pts = [(r[xkey], r[ykey]) for r in table.get(m, []) if r.get(ykey)]
            if not pts:
                continue
            xs, ys = zip(*pts)
            color = f"C{i}"
            ax.plot(xs, ys, "o-", color=color, label=LABELS.get(m, m))
            ax.plot([xs[0], xs[-1]], [ys[-1] * xs[0] / xs[-1], ys[-1]], ":", color=color, linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if not ax.lines:   # nothing measured yet (or all skipped)
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.plot([], [], "k:", linewidth=1, label="linear")
        ax.set_xscale("log")
        ax.set_yscale("log")
        if xkey == "horizon":   # few values, each worth a plain label
            ticks = sorted({r["horizon"] for rows in table.values() for r in rows})
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Scaling on {dev}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
    return True


# ------------------------------------------------------------------ one-hop report
def _epoch_cell(r: dict) -> str:
    if r["timed"] == r["batches"]:
        return fmt(r["epoch"])
    return f"{fmt(r['epoch'])} (extrapolated: {r['timed']} of {r['batches']} batches timed)"


def onehop_table(rows: List[dict]) -> str:
    ratios = _ratios(rows, "epoch", "size")
    body = []
    for r, (q, d) in zip(rows, ratios):
        if "status" in r:
            body.append([r["N"], "-", "-", "-", r["status"]] + ["-"] * 9)
            continue
        body.append([r["N"], r["E"], r["size"], r["batches"], _epoch_cell(r), _x(q), _x(d, suffix=""),
                     fmt(r["batch"]), f"{r['rows']:,.0f}", f"{r['edges']:,.0f}", f"{r['redundancy']:.2f}",
                     _mib(r["step_mib"]), _mib(r["data_mib"]), _mib(r["peak_mib"])])
    return markdown_table(["N", "E", "N+E", "batches", "epoch", "ratio", "doubling factor", "batch (median)",
                           "nodes per batch", "edges per batch", "nodes / seeds", "batch peak (MiB)",
                           "graph tensors (MiB)", "process peak (MiB)"], body)


def full_table(rows: List[dict]) -> str:
    ratios = _ratios(rows, "train", "size")
    body = [[r["N"], "-", "-", "-", r["status"]] + ["-"] * 4 if "status" in r else
            [r["N"], r["E"], r["size"], r["reps"], fmt(r["train"]), _x(d, suffix=""), _mib(r["step_mib"]),
             f"{r['step_mib'] * MiB / (r['N'] * r['T']):,.0f}", _mib(r["peak_mib"])]
            for r, (_, d) in zip(rows, ratios)]
    return markdown_table(["N", "E", "N+E", "reps", "train step = epoch", "doubling factor",
                           "train step peak (MiB)", "bytes per node per step", "process peak (MiB)"], body)


def forecast_table(rows: List[dict]) -> str:
    ratios = _ratios(rows, "time", "size")
    body = [[r["N"], "-", r["status"], "-", "-", "-"] if "status" in r else
            [r["N"], r["reps"], fmt(r["time"]), _x(d, suffix=""), _mib(r["step_mib"]), _mib(r["peak_mib"])]
            for r, (_, d) in zip(rows, ratios)]
    return markdown_table(["N", "reps", "forecast", "doubling factor", "forecast peak (MiB)",
                           "process peak (MiB)"], body)


def onehop_summary(model: str, rows: List[dict], full: List[dict]) -> List[str]:
    label = LABELS.get(model, model)
    done = [r for r in rows if "status" not in r]
    steps = [(d, prev, r) for r, (_, d) in zip(rows, _ratios(rows, "epoch", "size")) if d is not None
             for prev in [max((p for p in done if p["N"] < r["N"]), key=lambda p: p["N"])]]
    out = []
    if steps:
        worst = max(d for d, _, _ in steps)
        each = "; ".join(f"N={p['N']:,} to {r['N']:,}: {d:.2f} (nodes / seeds {p['redundancy']:.2f} to "
                         f"{r['redundancy']:.2f})" for d, p, r in steps)
        out.append(f"- {label}, one-hop epoch: doubling N+E multiplies the epoch time by {each}; at most "
                   f"{worst:.2f}, target <= {TARGET}: {'met' if worst <= TARGET else 'not met'}")
        # an epoch computes N x (nodes / seeds) rows: its time divided by nodes / seeds, rescaled the same way
        per_row = [doubling(p["epoch"] / p["redundancy"], r["epoch"] / r["redundancy"], p["size"], r["size"])
                   for _, p, r in steps]
        out.append(f"- {label}, one-hop epoch time divided by nodes / seeds (the time per node row it "
                   f"computes, times N): doubling factors {', '.join(f'{d:.2f}' for d in per_row)}; at most "
                   f"{max(per_row):.2f}, target <= {TARGET}: {'met' if max(per_row) <= TARGET else 'not met'} "
                   f"(the epoch's excess over linear is the growth of nodes / seeds, which levels off near "
                   f"1 + the in-degree once the batch's in-neighbours rarely repeat)")
    if len(done) >= 2:
        out.append(f"- {label}, one batch of a fixed number of seeds: median time "
                   + ", ".join(f"{fmt(r['batch'])} (N={r['N']:,})" for r in done)
                   + "; peak memory during the epoch (the allocator's kept heap included) "
                   + ", ".join(f"{_mib(r['step_mib'])} MiB" for r in done))
    epochs = [r for r in done if r["timed"] == r["batches"]]
    if epochs:
        r = epochs[-1]
        out.append(f"- {label}: largest graph with a measured one-hop epoch: N={r['N']:,}, E={r['E']:,} "
                   f"({fmt(r['epoch'])}, process peak {_mib(r['peak_mib'])} MiB)")
    more = [r for r in done if r["timed"] < r["batches"]]
    if more:
        r = more[-1]
        out.append(f"- {label}: N={r['N']:,} trained {r['timed']} of its {r['batches']} batches (process peak "
                   f"{_mib(r['peak_mib'])} MiB); its epoch time is extrapolated: {fmt(r['epoch'])}")
    fits = [r for r in full if "status" not in r]
    if fits:
        out.append(f"- {label}, full graph: largest train step that fits: N={fits[-1]['N']:,} "
                   f"({fmt(fits[-1]['train'])}, peak {_mib(fits[-1]['step_mib'])} MiB)")
    return out


def load_note(loads: List[float]) -> str:
    """The machine's load during the run, from the 1-minute load averages sampled after each measurement."""
    if not loads:
        return ""
    cores = os.cpu_count() or 1
    busy = max(loads) > cores + 0.5
    return (f"1-minute load average sampled during the run: {min(loads):.1f} to {max(loads):.1f} on {cores} "
            f"logical cores" + (" (other jobs were running: times are inflated and their ratios noisy; the "
                                "memory columns are not affected)." if busy else "."))


def onehop_report(args, dev: str, onehop: Dict[str, List[dict]], full: Dict[str, List[dict]],
                  forecasts: Dict[str, List[dict]], forecast_note: Optional[str], png: Optional[str],
                  loads: Optional[List[float]] = None) -> str:
    text = [f"# One-hop mini-batch training against full-graph training on {dev}\n",
            f"Random typed graphs as in `speed.py` (3 node types, 5 edge types, E about 4N), T={args.T}, "
            f"F={args.F}, hidden {args.hidden}. Every (model, N, kind) runs in a fresh process. One-hop epoch: "
            f"`OneHopLoader(data, batch_size={args.batch_size}, shuffle=True)`, every node a seed once; per "
            "batch: sampling, forward, MSE of the one-step-ahead prediction on the seed rows, backward and an "
            "Adam step (no workers: sampling is in the epoch time). Batch (median): the middle time of the "
            "timed batches (for an even count, the upper of the two middle ones). Nodes per batch: seeds "
            "and their in-neighbours (`n_b`); nodes / seeds: how many rows "
            "an epoch computes per node. Batch peak: the resident set's high-water mark during the epoch "
            "above the memory in use before it (graph, sampler index, model): the largest batch's working "
            "set plus the freed heap the allocator keeps between batches, which grows with the number of "
            "batches; process peak: the whole process's high-water mark, graph generation and "
            "libraries included. No warm-up: the first batch of the epoch is the process's first step. "
            f"An epoch whose first 3 batches project past {args.epoch_budget:g} s is "
            f"timed over its first {args.timed_batches} batches and its time extrapolated from their mean "
            "(marked in the table). Full graph: one train step (the same loss on every node, backward, Adam "
            "step) is one epoch; its first step is the warm-up and gives the peak memory, then the median of "
            "`reps`; skipped where its memory, linear in N+E through the last two sizes, would pass the cap "
            f"({args.max_memory_gb:g} GiB{cap_note(dev)}). Doubling factor = time ratio to the previous size "
            "rescaled to a "
            "doubling of N+E, `ratio ** (log 2 / log(size ratio))`; linear cost gives 2.0.\n",
            machine(dev), "", f"Command: `{command()}`", ""]
    if loads:
        text += [load_note(loads), ""]
    text += ["## Summary", ""]
    for m in args.models:
        text += onehop_summary(m, onehop[m], full[m])
    for m in args.models:
        text += ["", f"## {LABELS.get(m, m)}: one-hop batches of {args.batch_size} seeds", "", onehop_table(onehop[m]),
                 "", f"## {LABELS.get(m, m)}: full graph", "", full_table(full[m])]
    text += ["", f"## Forecast of the whole graph, {args.forecast_horizon} steps (`forecast_in_chunks`)", ""]
    if forecast_note:
        text.append(forecast_note)
    for m, rows in forecasts.items():
        if rows:
            chunk = f"chunk_size={args.forecast_chunk}" if args.forecast_chunk else "its default chunk size"
            text += [f"### {LABELS.get(m, m)}", "",
                     f"Exact forecast (`{CHUNKED}.forecast_in_chunks`, {chunk}, states on the CPU), no "
                     f"gradients, after the {args.T} observed steps; one call, or the median of `reps` where "
                     "they fit the time budget. Forecast peak: above the memory in use before the call. Sizes "
                     f"whose time, linear in N+E from the previous size, would pass {args.forecast_budget:g} s "
                     "are skipped.", "", forecast_table(rows), ""]
    if png:
        text += ["", f"![one-hop scaling]({os.path.basename(png)})"]
    return "\n".join(text) + "\n"


def onehop_plot(path: str, models: List[str], onehop: Dict[str, List[dict]], full: Dict[str, List[dict]],
                dev: str) -> bool:
    """Log-log epoch time (one-hop and full graph) and peak memory against N+E, and the time
    per one-hop batch against N; dotted: linear growth through each curve's last point."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", flush=True)
        return False
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    for i, m in enumerate(models):
        label = LABELS.get(m, m)
        series = [(axes[0], onehop, "epoch", f"{label}, one-hop epoch", "o-", True),
                  (axes[0], full, "train", f"{label}, full-graph step", "s--", True),
                  (axes[1], onehop, "batch", f"{label}, one-hop batch", "o-", False),
                  (axes[2], onehop, "step_mib", f"{label}, one-hop batch", "o-", False),
                  (axes[2], full, "step_mib", f"{label}, full-graph step", "s--", False)]
        for ax, table, key, name, style, linear in series:
            pts = [(r["size"], r[key]) for r in table.get(m, []) if r.get(key)]
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, style, color=f"C{i}" if "one-hop" in name else f"C{i + 1}", label=name)
            extra = [r for r in table.get(m, []) if r.get(key) and r.get("timed", 0) < r.get("batches", 0)]
            if key == "epoch" and extra:
                ax.plot([r["size"] for r in extra], [r[key] for r in extra], "x", color="k", markersize=10,
                        label="extrapolated epoch")
            if linear:
                ax.plot([xs[0], xs[-1]], [ys[-1] * xs[0] / xs[-1], ys[-1]], ":", color="gray", linewidth=1)
    for ax, ylabel in zip(axes, ["epoch time (s)", "time per batch (s)", "peak memory of a step (MiB)"]):
        ax.set_xlabel("N + E")
        ax.set_ylabel(ylabel)
        if not ax.lines:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.set_xscale("log")
        if ax is axes[1]:           # a linear axis from 0: a flat curve looks flat
            ax.set_ylim(bottom=0, top=1.15 * max(max(line.get_ydata()) for line in ax.lines))
        else:
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].plot([], [], ":", color="gray", linewidth=1, label="linear")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"One-hop mini-batch vs full-graph training on {dev}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buf.getvalue())
    return True


# ------------------------------------------------------------------ driver
def estimate_mib(done: List[dict], N: int) -> float:
    """The process's peak memory (MiB) for N nodes, linear in N+E: through the last two
    measured sizes, or, with one, proportional above the memory the process held at start."""
    last = done[-1]
    size = N + N * last["E"] / last["N"]
    if len(done) >= 2:
        prev = done[-2]
        slope = (last["peak_mib"] - prev["peak_mib"]) / (last["size"] - prev["size"])
        if slope > 0:
            return last["peak_mib"] + slope * (size - last["size"])
    return last["base_mib"] + (last["peak_mib"] - last["base_mib"]) * size / last["size"]


def parse_args(argv=None):
    models = list(SRNN) + [n for n in available() if n != "srnn"]
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help=f"node counts N (default: {' '.join(map(str, DEFAULTS['sizes']))})")
    p.add_argument("--models", nargs="+", default=None, choices=models,
                   help="srnn_slot, srnn_edge, or a registered baseline (default: srnn_slot srnn_edge stgcn; "
                        "with --onehop: srnn_slot)")
    p.add_argument("--T", type=int, default=None, help="time steps (default: 50)")
    p.add_argument("--F", type=int, default=6, help="features (default: 6)")
    p.add_argument("--hidden", type=int, default=64, help="hidden size of every model (default: 64)")
    p.add_argument("--reps", type=int, default=None,
                   help="timed repetitions at most, median reported (default: 5; fewer, down to 3, for slow sizes)")
    p.add_argument("--time-budget", type=float, default=60.0,
                   help="seconds of timed repetitions per measurement that decide how far reps shrink (default: 60)")
    p.add_argument("--horizons", type=int, nargs="*", default=None,
                   help=f"forecast horizons (default: {' '.join(map(str, DEFAULTS['horizons']))}; none: skip)")
    p.add_argument("--horizon-nodes", type=int, default=None, help="N of the horizon graph (default: 1000)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="skip sizes whose memory would pass this many GiB (default: 16 on CPU, 90%% of the GPU)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice); 1 gives stable timings on a busy machine")
    p.add_argument("--out", default=None, help="output folder (default: results/ next to this script)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and horizons, one repetition: a smoke check")
    g = p.add_argument_group("one-hop mode (--onehop)")
    g.add_argument("--onehop", action="store_true",
                   help="full-graph against one-hop mini-batch training (default sizes 1e3 1e4 1e5 1e6; "
                        "writes scaling_onehop_<device>.md and .png)")
    g.add_argument("--batch-size", type=int, default=None, help="seed nodes per one-hop batch (default: 1024)")
    g.add_argument("--epoch-budget", type=float, default=900.0,
                   help="an epoch whose first 3 batches project past this many seconds is timed over "
                        "--timed-batches batches and extrapolated, as the table says (default: 900)")
    g.add_argument("--timed-batches", type=int, default=20,
                   help="batches timed in an extrapolated epoch (default: 20)")
    g.add_argument("--forecast-horizon", type=int, default=12,
                   help=f"steps of the whole-graph forecast by {CHUNKED}.forecast_in_chunks, measured when "
                        "that module imports (default: 12; 0: skip)")
    g.add_argument("--forecast-chunk", type=int, default=None,
                   help="chunk_size of forecast_in_chunks (default: the function's own)")
    g.add_argument("--forecast-budget", type=float, default=600.0,
                   help="skip forecast sizes whose time, linear in N+E from the previous size, would pass "
                        "this many seconds (default: 600)")
    args = p.parse_args(argv)
    if args.onehop:
        preset = dict(ONEHOP_QUICK if args.quick else ONEHOP_DEFAULTS, horizons=[], horizon_nodes=0)
    else:
        preset = dict(QUICK if args.quick else DEFAULTS, models=["srnn_slot", "srnn_edge", "stgcn"])
    preset.setdefault("T", 50)
    for key, value in preset.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.onehop:
        bad = [m for m in args.models if m not in SRNN]
        if bad:
            p.error(f"--onehop: one-hop batches are exact for S-RNN only; --models must be among {list(SRNN)} "
                    f"(got {bad})")
        for key in ("batch_size", "timed_batches"):
            if getattr(args, key) < 1:
                p.error(f"--{key.replace('_', '-')} must be a positive int (got {getattr(args, key)})")
        if args.forecast_horizon < 0:
            p.error(f"--forecast-horizon must be >= 0 (got {args.forecast_horizon})")
    if args.reps < 1:
        p.error(f"--reps must be at least 1 (got {args.reps})")
    if args.max_memory_gb is not None and not args.max_memory_gb > 0:
        p.error(f"--max-memory-gb must be positive (got {args.max_memory_gb:g})")
    if min(args.sizes) < 1 or min(args.horizons, default=1) < 1:
        p.error("--sizes and --horizons must be positive")
    args.sizes = sorted(set(args.sizes))
    args.horizons = sorted(set(args.horizons))
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda: no GPU is available")
    if args.max_memory_gb is None:
        args.max_memory_gb = 16.0 if args.device == "cpu" else \
            round(0.9 * torch.cuda.get_device_properties(torch.device(args.device)).total_memory / 2 ** 30, 1)
    return args


def chunked_forecast_note(horizon: int) -> Optional[str]:
    """Why the whole-graph forecast is not measured, or None when it can be."""
    if horizon == 0:
        return "Not measured (`--forecast-horizon 0`)."
    try:
        module = importlib.import_module(CHUNKED)
        getattr(module, "forecast_in_chunks")
    except (ImportError, AttributeError) as e:
        return (f"Not measured: `{CHUNKED}.forecast_in_chunks` is not available in this checkout "
                f"({type(e).__name__}); rerun with `--forecast-horizon {horizon}` once it is.")
    return None


def main_onehop(args) -> None:
    """Full-graph against one-hop mini-batch training, size by size (see the module's docstring)."""
    dev = args.device
    tag = "cuda" if dev.startswith("cuda") else dev
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    name = f"scaling_onehop_{tag}{'_quick' if args.quick else ''}"          # a smoke check never replaces a run
    md, png = os.path.join(out, f"{name}.md"), os.path.join(out, f"{name}.png")
    cap_mib = args.max_memory_gb * 1024
    base_spec = dict(T=args.T, F=args.F, hidden=args.hidden, device=dev, threads=args.threads, reps=args.reps,
                     budget=args.time_budget, cap_bytes=int(cap_mib * MiB), batch_size=args.batch_size,
                     epoch_budget=args.epoch_budget, timed_batches=args.timed_batches,
                     horizon=args.forecast_horizon, chunk_size=args.forecast_chunk)
    note = chunked_forecast_note(args.forecast_horizon)
    run = Runner(args.device)
    onehop: Dict[str, List[dict]] = {m: [] for m in args.models}
    full: Dict[str, List[dict]] = {m: [] for m in args.models}
    forecasts: Dict[str, List[dict]] = {m: [] for m in args.models} if note is None else {}
    loads: List[float] = []

    def write(pending: str = "") -> None:
        drawn = onehop_plot(png, args.models, onehop, full, tag)
        write_atomic(md, incomplete(pending) + onehop_report(args, tag, onehop, full, forecasts, note,
                                                             png if drawn else None, loads))

    def measured(job: str, spec: dict, extra: dict) -> dict:
        res = run(job, spec)
        if hasattr(os, "getloadavg"):
            loads.append(os.getloadavg()[0])
        if "error" not in res:
            return dict(res, **extra)
        why = oom_status(res["error"], args.max_memory_gb) if res["memory"] else f"error: {res['error']}"
        return dict(extra, status=why, memory=res["memory"])

    for i, N in enumerate(args.sizes):
        left = pending_text([f"{N} (in part)"] + args.sizes[i + 1:])   # this size is measured model by model
        for m in args.models:
            spec = dict(base_spec, model=m, N=N)
            # the full graph, where its memory fits
            done = [r for r in full[m] if "status" not in r]
            ran_out = [r["N"] for r in full[m] if r.get("memory")]
            est = estimate_mib(done, N) if done else None
            if ran_out:
                row = dict(N=N, status=f"skipped (memory: N={ran_out[0]} ran out)")
            elif est is not None and est > cap_mib:
                row = dict(N=N, status=f"skipped (memory: est. {est / 1024:.1f} GiB > {args.max_memory_gb:g} GiB)")
            else:
                res = measured("full", spec, dict(N=N, T=args.T))
                row = res if "status" in res else dict(res, size=N + res["E"])
            full[m].append(row)
            print(f"{LABELS.get(m, m):>13}  N={N:<8} full graph: " + (row["status"] if "status" in row else
                  f"train step {fmt(row['train'])}  peak {_mib(row['step_mib'])} MiB"), flush=True)
            # one-hop batches
            ran_out = [r["N"] for r in onehop[m] if r.get("memory")]
            if ran_out:
                row = dict(N=N, status=f"skipped (memory: N={ran_out[0]} ran out)")
            else:
                res = measured("onehop", spec, dict(N=N))
                row = res if "status" in res else dict(res, size=N + res["E"])
            onehop[m].append(row)
            print(f"{LABELS.get(m, m):>13}  N={N:<8} one-hop: " + (row["status"] if "status" in row else
                  f"epoch {_epoch_cell(row)}  batch {fmt(row['batch'])}  peak {_mib(row['step_mib'])} MiB"),
                  flush=True)
            write(left)
            # the exact whole-graph forecast, where forecast_in_chunks exists
            if m in forecasts:
                prev = [r for r in forecasts[m] if "status" not in r]
                size = row.get("size") or (prev[-1]["size"] * N / prev[-1]["N"] if prev else None)
                est = prev[-1]["time"] * size / prev[-1]["size"] if prev and size else None
                if est is not None and est > args.forecast_budget:
                    frow = dict(N=N, status=f"skipped (time: est. {fmt(est)} > {args.forecast_budget:g} s)")
                else:
                    res = measured("forecast", spec, dict(N=N))
                    frow = res if "status" in res else dict(res, size=size or N)
                forecasts[m].append(frow)
                print(f"{LABELS.get(m, m):>13}  N={N:<8} forecast: " + (frow["status"] if "status" in frow else
                      f"{fmt(frow['time'])}  peak {_mib(frow['step_mib'])} MiB"), flush=True)
                write(left)
        write(pending_text(args.sizes[i + 1:]))             # after each size: nothing lost; complete at the end
    print(f"wrote {md}")


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.onehop:
        main_onehop(args)
        return
    dev = args.device
    tag = "cuda" if dev.startswith("cuda") else dev
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    name = f"scaling_{tag}{'_quick' if args.quick else ''}"                  # a smoke check never replaces a run
    md, png = os.path.join(out, f"{name}.md"), os.path.join(out, f"{name}.png")
    cap_mib = args.max_memory_gb * 1024
    base_spec = dict(T=args.T, F=args.F, hidden=args.hidden, device=dev, threads=args.threads, reps=args.reps,
                  budget=args.time_budget, cap_bytes=int(cap_mib * MiB))
    run = Runner(args.device)
    sizes: Dict[str, List[dict]] = {m: [] for m in args.models}
    horizons: Dict[str, List[dict]] = {m: [] for m in args.models if m in SRNN} if args.horizons else {}

    def write(pending: str = "") -> None:
        drawn = plot(png, args.models, sizes, horizons, tag)
        write_atomic(md, incomplete(pending) + report(args, tag, sizes, horizons, png if drawn else None))

    for i, N in enumerate(args.sizes):
        for m in args.models:
            done = [r for r in sizes[m] if "status" not in r]
            ran_out = [r["N"] for r in sizes[m] if r.get("memory")]
            est = estimate_mib(done, N) if done else None
            if ran_out:
                row = dict(N=N, status=f"skipped (memory: N={ran_out[0]} ran out)")
            elif est is not None and est > cap_mib:
                row = dict(N=N, status=f"skipped (memory: est. {est / 1024:.1f} GiB > {args.max_memory_gb:g} GiB)")
            else:
                res = run("size", dict(base_spec, model=m, N=N))
                if "error" in res:
                    why = oom_status(res["error"], args.max_memory_gb) if res["memory"] \
                        else f"error: {res['error']}"
                    row = dict(N=N, status=why, memory=res["memory"])
                else:
                    row = dict(res, N=N, size=N + res["E"])
            sizes[m].append(row)
            print(f"{LABELS.get(m, m):>13}  N={N:<7} " + (row["status"] if "status" in row else
                  f"train {fmt(row['train'])}  forward {fmt(row['forward'])}  peak {_mib(row['step_mib'])} MiB "
                  f"(reps {row['reps']})"), flush=True)
        write(pending_text(args.sizes[i + 1:], args.horizons if horizons else ()))   # after each size: nothing lost

    for j, h in enumerate(args.horizons if horizons else []):
        for m in horizons:
            res = run("horizon", dict(base_spec, model=m, N=args.horizon_nodes, horizon=h))
            row = dict(horizon=h, status=res["error"]) if "error" in res else dict(res, horizon=h)
            horizons[m].append(row)
            print(f"{LABELS[m]:>13}  H={h:<5} " + (row["status"] if "status" in row else fmt(row["time"])),
                  flush=True)
        write(pending_text((), args.horizons[j + 1:]))
    if not args.sizes and not horizons:
        write()
    print(f"wrote {md}")


def pending_text(sizes: Sequence[object], horizons: Sequence[int] = ()) -> str:
    """What a run has still to measure, in words (empty when nothing is left)."""
    parts = ([f"sizes N = {', '.join(map(str, sizes))}"] if sizes else []) + \
        ([f"forecast horizons {', '.join(map(str, horizons))}"] if horizons else [])
    return " and ".join(parts)


def incomplete(pending: str) -> str:
    """The line that opens a table written before its run ended."""
    return (f"**Incomplete**: {pending} of this run are not measured yet (the run stopped, or is still "
            f"running).\n\n") if pending else ""


if __name__ == "__main__":
    main()
