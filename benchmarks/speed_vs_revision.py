"""This checkout's S-RNN (or STGCN, ``--model stgcn``) against the same model at
an earlier git revision, in one process: train step (forward, backward and an
Adam step) and forecast, interleaved pair by pair, reported as the median and
minimum of the paired ratios (this checkout / the revision; below 1 is faster
now).

The revision's package is extracted with ``git archive`` into a temporary
folder and imported under another name, so both versions run side by side on
the same graphs, threads and machine state.

    python benchmarks/speed_vs_revision.py --rev 2d5520c --threads 1
    python benchmarks/speed_vs_revision.py --rev e38c4f0 --model stgcn --threads 1

STGCN runs in the released code's 64/16/64 layout (``temporal_hidden=16``,
two blocks, Chebyshev K=3, temporal kernel 3) on batches of ``--batch``
random graphs of N nodes (E about 4N), 12 observed and 12 predicted steps,
one feature; its train step is the MSE of ``forecast`` against random targets.
The revision's ``STGCN`` must take ``temporal_hidden`` (from commit 95b1f89 on);
an older one is refused with a message. ``--T``, ``--F``, ``--hidden`` and
``--horizon`` are the S-RNN's sizes; STGCN's are fixed as above.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, write_atomic  # noqa: E402

from srnn_pyg import STData  # noqa: E402
from srnn_pyg.models import STGCN, StructuralRNN  # noqa: E402
from srnn_pyg.testing import fake_schema, fake_st_data  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_revision(rev: str, folder: str, name: str = "StructuralRNN"):
    """The model class ``name`` of the package at ``rev``, imported as ``srnn_pyg_rev``."""
    archive = os.path.join(folder, "rev.tar")
    subprocess.run(["git", "archive", "--format=tar", "-o", archive, rev, "srnn_pyg"], cwd=ROOT, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    shutil.move(os.path.join(folder, "srnn_pyg"), os.path.join(folder, "srnn_pyg_rev"))
    sys.path.insert(0, folder)
    cls = getattr(importlib.import_module("srnn_pyg_rev.models"), name, None)
    if cls is None:
        raise SystemExit(f"speed_vs_revision: revision {rev} has no srnn_pyg.models.{name}; pick a later one")
    return cls


def convert(data, module_name: str):
    """The same graph as the revision's STData class (PyG checks the class on batching only)."""
    cls = importlib.import_module(module_name).STData
    out = cls()
    for key, value in data.items():
        if key != "schema":
            out[key] = value
    return out


def train_step(model, data):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        model(data).pow(2).mean().backward()
        opt.step()
    return step


def stgcn_train_step(model, data, target):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model.forecast(data, target.size(1)), target).backward()
        opt.step()
    return step


def forecast_step(model, data, horizon):
    def step():
        with torch.no_grad():
            model.forecast(data, horizon)
    return step


def paired(a, b, reps: int):
    """Interleaved timings of ``a`` (this checkout) and ``b`` (the revision): medians and ratios."""
    a(), b()                                                     # warm-up
    ta, tb, ratios = [], [], []
    for i in range(reps):
        order = (a, b) if i % 2 == 0 else (b, a)
        times = {}
        for fn in order:
            start = time.perf_counter()
            fn()
            times[fn] = time.perf_counter() - start
        ta.append(times[a])
        tb.append(times[b])
        ratios.append(times[a] / times[b])
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios), min(ratios)


def srnn_rows(args, Old):
    rows = []
    schema = fake_schema(3)
    old_schema = importlib.import_module("srnn_pyg_rev").STSchema.from_dict(schema.to_dict())
    for N in args.sizes:
        data = fake_st_data(N, args.T, args.F, schema=schema, num_edges=4 * N,
                            generator=torch.Generator().manual_seed(N))
        old_data = convert(data, "srnn_pyg_rev")
        for scope in ("slot", "edge"):
            kw = dict(edge_hidden=args.hidden, node_hidden=args.hidden, edge_mlp=(args.hidden,),
                      node_mlp=(args.hidden,), edge_scope=scope)
            torch.manual_seed(0)
            new = StructuralRNN(schema, args.F, args.F, **kw)
            torch.manual_seed(0)
            old = Old(old_schema, args.F, args.F, **kw)
            for what, a, b in (("train step", train_step(new, data), train_step(old, old_data)),
                               (f"forecast H={args.horizon}", forecast_step(new.eval(), data, args.horizon),
                                forecast_step(old.eval(), old_data, args.horizon))):
                new.train(what == "train step")
                old.train(what == "train step")
                ta, tb, med, low = paired(a, b, args.reps)
                rows.append([N, scope, what, f"{ta * 1e3:.1f} ms", f"{tb * 1e3:.1f} ms", f"{med:.3f}",
                             f"{low:.3f}"])
                print(rows[-1], flush=True)
    return rows


def stgcn_rows(args, Old):
    from torch_geometric.data import Batch

    if "temporal_hidden" not in inspect.signature(Old.__init__).parameters:
        raise SystemExit(f"speed_vs_revision: revision {args.rev}'s STGCN has no 'temporal_hidden' (the released "
                         f"code's layout compared here, from commit 95b1f89 on); pick a later revision")
    rows = []
    T = H = 12
    for N in args.sizes:
        g = torch.Generator().manual_seed(N)
        graphs = []
        for _ in range(args.batch):
            d = fake_st_data(N, T, 1, num_edges=4 * N, generator=g)
            graphs.append(STData(x=d.x, edge_index=d.edge_index))
        data = Batch.from_data_list(graphs)
        old_data = Batch.from_data_list([convert(d, "srnn_pyg_rev") for d in graphs])
        target = torch.randn(data.num_nodes, H, 1, generator=g)
        kw = dict(obs_len=T, horizon=H, hidden=64, spatial_hidden=16, temporal_hidden=16, blocks=2,
                  kernel_size=3, K=3)
        torch.manual_seed(0)
        new = STGCN(None, 1, 1, **kw)
        torch.manual_seed(0)
        old = Old(None, 1, 1, **kw)
        for what, a, b in (("train step", stgcn_train_step(new, data, target),
                            stgcn_train_step(old, old_data, target)),
                           (f"forecast H={H}", forecast_step(new.eval(), data, H),
                            forecast_step(old.eval(), old_data, H))):
            new.train(what == "train step")
            old.train(what == "train step")
            ta, tb, med, low = paired(a, b, args.reps)
            rows.append([N, args.batch, what, f"{ta * 1e3:.2f} ms", f"{tb * 1e3:.2f} ms", f"{med:.3f}",
                         f"{low:.3f}"])
            print(rows[-1], flush=True)
    return rows


def checkout() -> str:
    """The checkout measured: its commit, and whether tracked files differ from it."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "not a git checkout"
    return head + (", with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rev", required=True, help="the git revision to compare with")
    p.add_argument("--model", choices=["srnn", "stgcn"], default="srnn")
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="graph sizes N (default: 10 100 1000; STGCN: 10 25 207)")
    p.add_argument("--batch", type=int, default=4, help="STGCN: graphs per batch (default: 4)")
    p.add_argument("--T", type=int, default=50, help="S-RNN: steps (default: 50)")
    p.add_argument("--F", type=int, default=6, help="S-RNN: features (default: 6)")
    p.add_argument("--hidden", type=int, default=64, help="S-RNN: width (default: 64)")
    p.add_argument("--horizon", type=int, default=100,
                   help="S-RNN: forecast steps (default: 100)")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None,
                   help="result file (default: results/speed_vs_revision_cpu.md; STGCN: "
                        "results/speed_vs_revision_stgcn_cpu.md)")
    args = p.parse_args()
    if args.reps < 1 or args.batch < 1 or (args.sizes is not None and min(args.sizes) < 1):
        p.error(f"--reps, --batch and --sizes must be positive (got {args.reps}, {args.batch}, {args.sizes})")
    stgcn = args.model == "stgcn"
    args.sizes = args.sizes or ([10, 25, 207] if stgcn else [10, 100, 1000])
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results",
                                        f"speed_vs_revision{'_stgcn' if stgcn else ''}_cpu.md")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        if args.model == "stgcn":
            rows = stgcn_rows(args, load_revision(args.rev, folder, "STGCN"))
        else:
            rows = srnn_rows(args, load_revision(args.rev, folder))
    text = "\n\n".join([
        f"# {'STGCN' if stgcn else 'S-RNN'} speed: this checkout ({checkout()}) against revision `{args.rev}`",
        (f"STGCN in the released code's 64/16/64 layout (temporal_hidden=16, 2 blocks, K=3, kernel 3), "
         f"batches of {args.batch} random graphs, E about 4N, 12 observed and 12 predicted steps, F=1. "
         if stgcn else
         f"T={args.T}, F={args.F}, hidden {args.hidden}, random graphs with 3 node types, E about 4N. ")
        + f"Train step = forward, backward and an Adam step. Each pair is timed back to back (alternating "
        f"which runs first); {args.reps} pairs after a warm-up; ratio = this checkout / revision.",
        machine("cpu"),
        f"Command: `{command()}`",
        markdown_table(["N", "edge scope", "what", "now (median)", "revision (median)", "ratio median",
                        "ratio min"], rows) if not stgcn else
        markdown_table(["N", "batch", "what", "now (median)", "revision (median)", "ratio median", "ratio min"], rows),
    ]) + "\n"
    write_atomic(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
