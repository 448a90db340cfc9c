"""The memory of one one-hop training batch as the graph grows: S-RNN (slot
scope) on the random typed graphs of ``scaling.py --onehop`` (3 node types, E
about 4N, T=50, F=6, hidden 64), batches of ``--batch-size`` seed nodes from
:class:`srnn_pyg.loader.OneHopLoader`, N = 1e3 ... 1e6, each size in a fresh
process.

``scaling.py --onehop`` reports the resident high-water mark of a whole epoch,
which also holds the heap the allocator keeps between batches and so grows
with the number of batches. Here each batch is measured alone: before it, the
freed heap is handed back to the system (glibc's ``malloc_trim``) and the
kernel's high-water mark is reset (``/proc/self/clear_refs``); the batch's
peak is the high-water mark during its sampling, forward, loss, backward and
Adam step, above the resident set before it (the graph, the sampler's index,
the model and the optimiser's state). The table gives the median and the
largest of ``--batches`` batches per size (the first batch, which allocates
the optimiser's state, included), the batch's rows and edges, and the
process's resident set before the batches. Linux only (the reset needs
``/proc``); elsewhere the script says so and measures nothing.

    python benchmarks/batch_memory.py --threads 1          # -> results/scaling_onehop_batch_memory_cpu.md
    python benchmarks/batch_memory.py --sizes 200 400 --batch-size 32 --T 8 --out scratch   # seconds
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from typing import List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, write_atomic  # noqa: E402
from scaling import MiB, PeakMemory, _proc_status, make_model, one_step_loss  # noqa: E402
from speed import graph  # noqa: E402
from srnn_pyg.loader import OneHopLoader  # noqa: E402

SIZES = [1000, 10000, 100000, 1000000]


def trim() -> bool:
    """Hand the freed heap back to the system (glibc), so that a batch's peak is its own."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0)) or True
    except (OSError, AttributeError):
        return False


def measure(N: int, T: int, F: int, hidden: int, batch_size: int, batches: int) -> dict:
    """Per-batch peaks of the first ``batches`` batches of an epoch on a graph of ``N`` nodes."""
    schema, data = graph(N, T, F, "cpu")
    torch.manual_seed(0)
    model = make_model("srnn_slot", schema, F, hidden, T)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = OneHopLoader(data, batch_size, shuffle=True)
    probe = PeakMemory("cpu")
    trimmed = trim()
    before = _proc_status("VmRSS")
    peaks: List[float] = []
    rows: List[int] = []
    edges: List[int] = []
    times: List[float] = []
    it = iter(loader)
    for _ in range(min(batches, len(loader))):
        trim()
        probe.start()
        if not probe.resettable:
            return dict(error="the resident high-water mark cannot be reset here (/proc/self/clear_refs)")
        t0 = time.perf_counter()
        batch = next(it)
        opt.zero_grad(set_to_none=True)
        one_step_loss(model, batch).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        above, _ = probe.stop()
        peaks.append(above / MiB)
        rows.append(batch.num_nodes)
        edges.append(batch.num_edges)
        del batch
    return dict(N=N, E=data.num_edges, batches=len(loader), measured=len(peaks), trimmed=trimmed,
                median=statistics.median(peaks), max=max(peaks), first=peaks[0], rows=statistics.mean(rows),
                edges=statistics.mean(edges), seeds=batch_size, time=statistics.median(times),
                before=(before or 0) / MiB)


def run_size(args, N: int) -> dict:
    """One size in a fresh process (its memory is its own)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(N), "--T", str(args.T), "--F", str(args.F),
           "--hidden", str(args.hidden), "--batch-size", str(args.batch_size), "--batches", str(args.batches),
           "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " ".join((done.stderr or "").split()[-20:])
        return dict(N=N, error=f"worker exit code {done.returncode}: {tail}")
    return json.loads(lines[-1])


def _times(a: float, b: float) -> str:
    """``a / b`` as a factor; a peak of 0 MiB (a tiny batch that fitted in memory the process already had)
    has no ratio."""
    return f"{a / b:.2f}x" if b > 0 else "no ratio: the smaller peak is 0 MiB"


def report(args, rows: List[dict]) -> str:
    head = ["N", "E", "batches in the epoch", "batches measured", "rows / edges per batch (mean)",
            "batch peak, median (MiB)", "batch peak, largest (MiB)", "first batch (MiB)",
            "per seed and step, median (KB)", "batch time, median", "process before the batches (MiB)"]
    body = []
    for r in rows:
        if "error" in r:
            body.append([f"{r['N']:,}", "", "", "", "", r["error"], "", "", "", "", ""])
            continue
        per = r["median"] * MiB / (r["seeds"] * args.T) / 1000
        body.append([f"{r['N']:,}", f"{r['E']:,}", f"{r['batches']:,}", str(r["measured"]),
                     f"{r['rows']:,.0f} / {r['edges']:,.0f}", f"{r['median']:,.0f}", f"{r['max']:,.0f}",
                     f"{r['first']:,.0f}", f"{per:.1f}", f"{r['time']:.2f} s", f"{r['before']:,.0f}"])
    ok = [r for r in rows if "error" not in r]
    lines = [
        "# One-hop batch memory against the graph's size (cpu)", "",
        f"S-RNN (slot scope), T={args.T}, F={args.F}, hidden {args.hidden}, random typed graphs with E about "
        f"4N (as `scaling.py --onehop`), batches of {args.batch_size} seed nodes (`OneHopLoader`, shuffled), "
        f"a train step per batch (sampling, forward, MSE loss on the seeds, backward, Adam step). Each batch is "
        f"measured alone: the freed heap handed back (`malloc_trim`) and the resident high-water mark reset "
        f"before it; its peak is the high-water mark during it above the resident set before it. Each size "
        f"runs in a fresh process.", "",
        machine("cpu"),
        f"- Command: `{command()}`", "",
        markdown_table(head, body), ""]
    if len(ok) >= 2:
        lo, hi = ok[0], ok[-1]
        lines.append(f"From N={lo['N']:,} to N={hi['N']:,} ({hi['N'] / lo['N']:,.0f}x the nodes) the median "
                     f"batch peak goes from {lo['median']:,.0f} to {hi['median']:,.0f} MiB "
                     f"({_times(hi['median'], lo['median'])}) and the largest from {lo['max']:,.0f} to "
                     f"{hi['max']:,.0f} MiB ({_times(hi['max'], lo['max'])}); the batch's rows go from "
                     f"{lo['rows']:,.0f} to {hi['rows']:,.0f} (seeds and their in-neighbours; a small graph's "
                     f"seeds share more neighbours).")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    p.add_argument("--T", type=int, default=50)
    p.add_argument("--F", type=int, default=6)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--batches", type=int, default=20, help="batches measured per size (default: 20)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="output folder (default: results/ next to this script)")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for key in ("T", "F", "hidden", "batch_size", "batches", "threads"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be a positive int (got {getattr(args, key)})")
    if min(args.sizes) < 2:
        p.error(f"--sizes must be at least 2 (got {args.sizes})")
    return args


def main(argv=None) -> Optional[int]:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.worker is not None:
        print(json.dumps(measure(args.worker, args.T, args.F, args.hidden, args.batch_size, args.batches)))
        return 0
    if not os.path.exists("/proc/self/clear_refs"):
        print("batch_memory.py: needs Linux's /proc/self/clear_refs to reset the high-water mark; nothing measured")
        return 0
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    path = os.path.join(out, "scaling_onehop_batch_memory_cpu.md")
    rows: List[dict] = []
    for N in sorted(set(args.sizes)):
        rows.append(run_size(args, N))
        r = rows[-1]
        print(f"N={N:<8} " + (r["error"] if "error" in r else
              f"batch peak median {r['median']:.0f} MiB, largest {r['max']:.0f} MiB, rows {r['rows']:.0f}"),
              flush=True)
        os.makedirs(out, exist_ok=True)
        write_atomic(path, report(args, rows))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
