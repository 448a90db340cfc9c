"""Our STGCN and GConvGRU against PyTorch Geometric Temporal's ``STConv`` and
``GConvGRU`` on the same problem, measured side by side in one process.

The problem: a METR-LA-like graph of N=207 sensors (random positions in the
unit square, each linked to its nearest neighbours both ways, Gaussian-kernel
edge weights; E about 1600-2800 directed edges), T=12 observed steps, batches
of 8 and 32 windows, one input channel.

- STGCN in the paper's configuration (Yu et al. 2018): two ST-Conv blocks,
  channels 64/16/64, Chebyshev K=3, temporal kernel 3, then an output block
  (a gated temporal conv over the remaining steps, a layer norm, a linear map
  to the 12 predicted steps). PyG Temporal ships the blocks only
  (``STConv``); its side of the comparison gets an output block of the same
  shape, built from its own ``TemporalConv``, which (as in its blocks) adds a
  third, residual convolution and a ReLU: about 1.5x the dense work of ours in
  that block (0.49 against 0.33 GFLOP in a batch-8 train step; the excess is
  some 7 % of PyG Temporal's dense work per step).
- STGCN-code: our STGCN with the 64/16/64 channels laid out as in the
  authors' released code, which narrows them in the first temporal
  convolution rather than in the graph convolution (temporal c_in -> 16,
  graph 16 -> 16, temporal 16 -> 64; ``temporal_hidden=16``). These are the
  widths PyG Temporal's ``STConv(hidden_channels=16, out_channels=64)`` has,
  so both sides run the same widths (PyG Temporal's temporal convolutions
  still have a third, residual convolution); PyG Temporal's side is the
  model above.
- GConvGRU with hidden 64 and K=3, a linear readout per step (PyG Temporal's
  cell has none; its side gets the same ``Linear``), one-step-ahead loss.

Each case is timed as a train step (forward, MSE loss, backward, Adam step)
and as a no-grad forward, on the same input tensors every rep: our models
build their scaled Laplacians once and keep them while the graph's tensors are
unchanged, PyG Temporal's ``ChebConv`` normalises on every call (for the
batch-8 STGCN-code and GConvGRU train steps, a new graph every step costs ours
about as much as the kept one). The two implementations alternate rep by rep (the
order flips every rep), and the table reports the median and the minimum of
the paired ratios (PyG Temporal time / ours) beside the median times. One
more train step of each is counted (the dense matrix products and
convolutions, :class:`DenseWork`) and set against this core's best
matrix-product rate: the time the same work cannot go below, beside the time
each speed-up target asks for.

PyG Temporal is optional and imported here only: install it with
``pip install --no-deps torch-geometric-temporal``. It imports ``torch_sparse``
at import time (for ``EvolveGCNO``, which is not benchmarked), and
``torch_sparse`` does not install everywhere; this script therefore puts a
stand-in module object named ``torch_sparse`` into ``sys.modules`` just for
that import and removes it right after. The stand-in only satisfies the
import (it has a ``SparseTensor`` name that raises when used); nothing is
installed, and ``STConv``/``GConvGRU`` never touch it. When PyG Temporal is
not importable the script says so and exits 0.

    python benchmarks/pyg_temporal.py --threads 1        # -> results/pyg_temporal_cpu.md
    python benchmarks/pyg_temporal.py --batches 2 --reps 2 --nodes 20 --out table.md
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import types
from typing import Callable, List, Tuple

import torch
from torch import Tensor
from torch.utils._pytree import tree_leaves
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, write_atomic  # noqa: E402

import torch_geometric  # noqa: E402,F401  (before the stand-in: PyG must not see a torch_sparse)
from torch_geometric.data import Batch  # noqa: E402

from srnn_pyg import STData  # noqa: E402
from srnn_pyg.models import GConvGRU, STGCN  # noqa: E402


# ------------------------------------------------------------- PyG Temporal
def import_pyg_temporal():
    """``(module, version)`` of PyG Temporal, or ``(None, reason)``.

    ``torch_sparse`` is replaced, for the import only, by a module object that
    satisfies ``from torch_sparse import SparseTensor`` and nothing else;
    a real ``torch_sparse``, if installed, is used as it is.
    """
    stand_in = None
    try:
        import torch_sparse  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torch_sparse")
        stand_in.__doc__ = ("Benchmark stand-in: satisfies PyG Temporal's import of torch_sparse only; "
                            "any use raises.")

        class SparseTensor:  # the one name PyG Temporal imports
            def __init__(self, *args, **kwargs):
                raise RuntimeError("torch_sparse stand-in of benchmarks/pyg_temporal.py: not usable")

        stand_in.SparseTensor = SparseTensor
        sys.modules["torch_sparse"] = stand_in
    try:
        import torch_geometric_temporal as tgt
        from torch_geometric_temporal.nn.attention.stgcn import STConv, TemporalConv
        from torch_geometric_temporal.nn.recurrent.gconv_gru import GConvGRU as TGConvGRU
    except ImportError as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        if stand_in is not None and sys.modules.get("torch_sparse") is stand_in:
            del sys.modules["torch_sparse"]
    try:
        from importlib.metadata import version
        ver = version("torch-geometric-temporal")
    except Exception:  # noqa: BLE001 - the module's own (sometimes stale) attribute then
        ver = getattr(tgt, "__version__", "unknown")
    mod = types.SimpleNamespace(STConv=STConv, TemporalConv=TemporalConv, GConvGRU=TGConvGRU)
    return mod, ver


class TemporalSTGCN(torch.nn.Module):
    """PyG Temporal's STGCN: ``STConv`` blocks, then the output block our STGCN
    has (a gated temporal conv over the remaining steps, here PyG Temporal's
    ``TemporalConv``; a layer norm; a linear map to ``horizon * out``)."""

    def __init__(self, tg, num_nodes: int, in_channels: int, out_channels: int, obs_len: int,
                 horizon: int, hidden: int, spatial: int, blocks: int, kernel_size: int, K: int):
        super().__init__()
        self.blocks = torch.nn.ModuleList([
            tg.STConv(num_nodes, in_channels if b == 0 else hidden, spatial, hidden, kernel_size, K)
            for b in range(blocks)])
        remaining = obs_len - 2 * blocks * (kernel_size - 1)
        self.out_temporal = tg.TemporalConv(hidden, hidden, remaining)
        self.out_norm = torch.nn.LayerNorm(hidden)
        self.out_lin = torch.nn.Linear(hidden, horizon * out_channels)
        self.horizon, self.out_channels = horizon, out_channels

    def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
        """``x`` ``[B, T, N, F]`` -> ``[B, N, horizon, out]``."""
        h = x
        for block in self.blocks:
            h = block(h, edge_index, weight)                               # [B, T_b, N, hidden]
        h = self.out_norm(self.out_temporal(h))[:, 0]                      # [B, N, hidden]
        B, N = h.shape[:2]
        return self.out_lin(h).view(B, N, self.horizon, self.out_channels)


class TemporalGRU(torch.nn.Module):
    """PyG Temporal's ``GConvGRU`` cell unrolled over the steps of a batched
    graph, with the linear readout our GConvGRU has."""

    def __init__(self, tg, in_channels: int, out_channels: int, hidden: int, K: int):
        super().__init__()
        self.cell = tg.GConvGRU(in_channels, hidden, K)
        self.readout = torch.nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor, weight: Tensor) -> Tensor:
        """``x`` ``[N, T, F]`` -> ``[N, T, out]``, one-step-ahead predictions."""
        h = None
        outs = []
        for t in range(x.size(1)):
            h = self.cell(x[:, t], edge_index, weight, h)
            outs.append(self.readout(h))
        return torch.stack(outs, dim=1)


# ------------------------------------------------------------------ problem
def metr_la_like(num_nodes: int, neighbours: int, generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """A road-sensor-like graph: ``(edge_index [2, E], weight [E])``, each node
    linked both ways to its ``neighbours`` nearest, Gaussian-kernel weights."""
    pos = torch.rand(num_nodes, 2, generator=generator)
    d = torch.cdist(pos, pos)
    d.fill_diagonal_(float("inf"))
    near = d.topk(neighbours, dim=1, largest=False).indices                # [N, k]
    adj = torch.zeros(num_nodes, num_nodes, dtype=torch.bool)
    adj[torch.arange(num_nodes).repeat_interleave(neighbours), near.reshape(-1)] = True
    adj |= adj.t().clone()
    src, dst = adj.nonzero(as_tuple=True)
    dist = d[src, dst]
    sigma = dist.std()
    weight = torch.exp(-(dist / sigma) ** 2)
    return torch.stack([src, dst]), weight


# The speed-ups asked of us (PyG Temporal time / ours, every batch and measure).
# STGCN-code: our STGCN with the 64/16/64 channels laid out as the authors'
# released code lays them out, PyG Temporal's widths (the same widths on both
# sides), under the target asked of STGCN.
TARGETS = {"STGCN": 5.0, "STGCN-code": 5.0, "GConvGRU": 2.0}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def paired(ours: Callable[[], object], theirs: Callable[[], object], reps: int,
           warmup: int, sync: Callable[[], None] = lambda: None) -> Tuple[float, float, float, float]:
    """``(our median s, their median s, median ratio, min ratio)``; the two
    alternate, the order flipping every rep; ratio = theirs / ours. ``sync``
    waits for the device's queued work (CUDA) before a clock is read."""
    for _ in range(warmup):
        ours()
        theirs()
    t_ours: List[float] = []
    t_theirs: List[float] = []
    for r in range(reps):
        pair = [(ours, t_ours), (theirs, t_theirs)]
        for fn, times in (pair if r % 2 == 0 else pair[::-1]):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
    ratios = [b / a for a, b in zip(t_ours, t_theirs)]
    return statistics.median(t_ours), statistics.median(t_theirs), statistics.median(ratios), min(ratios)


def train_fn(model: torch.nn.Module, loss: Callable[[], Tensor]) -> Callable[[], None]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()
    return step


def forward_fn(model: torch.nn.Module, run: Callable[[], Tensor]) -> Callable[[], None]:
    def step():
        model.eval()
        with torch.no_grad():
            run()
    return step


class DenseWork(TorchDispatchMode):
    """Counts the floating-point operations of the dense matrix products and
    convolutions run under it, with the formulas of
    :mod:`torch.utils.flop_counter`; a product with a sparse factor (our graph
    propagation) is left out, as PyG Temporal's message passing (gathers and
    scatter-adds, not products) is: the count is the work both sides do the
    same way."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = formula_of(func)
        if formula is not None and not any(isinstance(t, Tensor) and t.layout != torch.strided
                                           for t in tree_leaves((args, kwargs))):
            self.flops += int(formula(*args, **kwargs, out_val=out))
        return out


def formula_of(func):
    """The FLOP formula of an aten op from :mod:`torch.utils.flop_counter`;
    an in-place op (``addmm_``, which the registry does not list) takes its
    out-of-place form's (the same products)."""
    from torch.utils.flop_counter import flop_registry
    packet = func._overloadpacket
    formula = flop_registry.get(packet)
    name = packet.__name__
    if formula is None and name.endswith("_") and not name.endswith("__"):
        base = getattr(torch.ops.aten, name[:-1], None)
        formula = flop_registry.get(base) if base is not None else None
    return formula


def dense_gflop(fn: Callable[[], None]) -> float:
    """GFLOP of the dense products of one call of ``fn`` (:class:`DenseWork`)."""
    with DenseWork() as work:
        fn()
    return work.flops / 1e9


def matmul_rate(reps: int = 20, device: str = "cpu", sync: Callable[[], None] = lambda: None) -> float:
    """The device's best rate on plain float32 matrix products (GFLOP/s: the
    fastest of ``reps`` products, over three shapes like the layers'), the
    rate the dense work of a step cannot beat by much."""
    best = 0.0
    for m, k, n in ((4096, 256, 256), (8192, 64, 64), (8192, 64, 128)):
        a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
        a @ b
        for _ in range(reps):
            sync()
            start = time.perf_counter()
            a @ b
            sync()
            best = max(best, 2 * m * k * n / (time.perf_counter() - start) / 1e9)
    return best


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


# --------------------------------------------------------------------- main
def check_args(parser: argparse.ArgumentParser, args) -> None:
    """Refuse settings that would fail only after the first timings."""
    if args.reps < 1 or args.warmup < 0:
        parser.error(f"--reps must be at least 1 and --warmup at least 0 (got {args.reps}, {args.warmup})")
    if not 1 <= args.neighbours < args.nodes:
        parser.error(f"--neighbours must be in [1, --nodes - 1] (got {args.neighbours} for {args.nodes} nodes)")
    if args.T <= 2 * 2 * (3 - 1):     # two ST-Conv blocks of temporal kernel 3, then the output block
        parser.error(f"--T must exceed 8 (two ST-Conv blocks of temporal kernel 3; got {args.T})")
    if min(args.batches) < 1 or min(args.horizon, args.F, args.gru_hidden, args.K, args.threads) < 1:
        parser.error("--batches, --horizon, --F, --gru-hidden, --K and --threads must be positive")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[8, 32], help="batch sizes (default: 8 32)")
    p.add_argument("--nodes", type=int, default=207, help="graph size N (default: 207, METR-LA)")
    p.add_argument("--neighbours", type=int, default=7,
                   help="nearest neighbours linked per node, both ways (default: 7)")
    p.add_argument("--T", type=int, default=12, help="observed steps (default: 12)")
    p.add_argument("--horizon", type=int, default=12, help="STGCN's predicted steps (default: 12)")
    p.add_argument("--F", type=int, default=1, help="input features (default: 1)")
    p.add_argument("--gru-hidden", type=int, default=64, help="GConvGRU hidden size (default: 64)")
    p.add_argument("--K", type=int, default=3, help="Chebyshev order (default: 3)")
    p.add_argument("--reps", type=int, default=15, help="timed pairs per case (default: 15)")
    p.add_argument("--warmup", type=int, default=2, help="untimed pairs first (default: 2)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda (default: cpu); on CUDA, TF32 is turned off for products and convolutions")
    p.add_argument("--models", nargs="+", choices=list(TARGETS), default=list(TARGETS),
                   help="models to compare (default: all)")
    p.add_argument("--out", default=None, help="result file (default: results/pyg_temporal_<device>.md)")
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def main():
    args = parse_args()
    tg, version = import_pyg_temporal()
    if tg is None:
        print(f"PyG Temporal is not importable ({version}); skipped. Install it with "
              f"'pip install --no-deps torch-geometric-temporal'.")
        return
    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError):
        raise SystemExit(f"pyg_temporal: --device must be cpu or cuda (got {args.device!r})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"pyg_temporal: --device {args.device} asked for, but CUDA is not available here")
    if device.type not in ("cpu", "cuda"):
        raise SystemExit(f"pyg_temporal: --device must be cpu or cuda (got {args.device!r})")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":  # full float32 on both sides (PyG Temporal's convolutions would take TF32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(args.threads)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"pyg_temporal_{device.type}.md")

    g = torch.Generator().manual_seed(0)
    N, T, F, H = args.nodes, args.T, args.F, args.horizon
    edge_index, weight = metr_la_like(N, args.neighbours, g)
    E = edge_index.size(1)
    print(f"graph: N={N}, E={E}", flush=True)

    # The paper's STGCN: blocks 64/16/64, K=3, temporal kernel 3.
    torch.manual_seed(0)
    stgcn = STGCN(None, F, F, obs_len=T, horizon=H, hidden=64, spatial_hidden=16, blocks=2,
                  kernel_size=3, K=args.K)
    t_stgcn = TemporalSTGCN(tg, N, F, F, T, H, hidden=64, spatial=16, blocks=2, kernel_size=3, K=args.K)
    # The authors' released code narrows in the first temporal conv (64/16/64
    # there: temporal c_in -> 16, graph 16 -> 16, temporal 16 -> 64), as PyG
    # Temporal's STConv(hidden_channels=16, out_channels=64) does.
    torch.manual_seed(0)
    stgcn_code = STGCN(None, F, F, obs_len=T, horizon=H, hidden=64, spatial_hidden=16, temporal_hidden=16,
                       blocks=2, kernel_size=3, K=args.K)
    gru = GConvGRU(None, F, F, hidden=args.gru_hidden, K=args.K)
    t_gru = TemporalGRU(tg, F, F, args.gru_hidden, args.K)
    for module in (stgcn, t_stgcn, stgcn_code, gru, t_gru):
        module.to(device)
    edge_index, weight = edge_index.to(device), weight.to(device)
    params = [["STGCN", f"{count(stgcn):,}", f"{count(t_stgcn):,}"],
              ["STGCN-code", f"{count(stgcn_code):,}", f"{count(t_stgcn):,}"],
              ["GConvGRU", f"{count(gru):,}", f"{count(t_gru):,}"]]
    for row in params:
        print("parameters (ours, PyG Temporal):", row, flush=True)

    load = [os.getloadavg()[0]] if hasattr(os, "getloadavg") else []
    rows, work = [], []
    for B in args.batches:
        x = torch.randn(B, T, N, F, generator=g)                           # [B, T, N, F]
        y = torch.randn(B, H, N, F, generator=g)                           # STGCN's targets
        nxt = torch.randn(B, T, N, F, generator=g)                         # GConvGRU's one-step targets
        x, y, nxt = x.to(device), y.to(device), nxt.to(device)
        graphs = [STData(x=x[b].transpose(0, 1), edge_index=edge_index,
                         edge_attr=weight.view(E, 1, 1).expand(E, T, 1)) for b in range(B)]
        data = Batch.from_data_list(graphs)
        y_nodes = y.permute(0, 2, 1, 3).reshape(B * N, H, F)               # [B*N, H, F], batch order
        nxt_nodes = nxt.permute(0, 2, 1, 3).reshape(B * N, T, F)
        x_nodes = data.x                                                   # [B*N, T, F]
        # PyG Temporal's GConvGRU takes the batch as one graph, as ours does
        b_index, b_weight = data.edge_index, weight.repeat(B)

        cases = [
            ("STGCN", stgcn, t_stgcn,
             lambda: torch.nn.functional.mse_loss(stgcn.forecast(data, H), y_nodes),
             lambda: torch.nn.functional.mse_loss(t_stgcn(x, edge_index, weight),
                                                  y.permute(0, 2, 1, 3)),
             lambda: stgcn.forecast(data, H), lambda: t_stgcn(x, edge_index, weight)),
            ("STGCN-code", stgcn_code, t_stgcn,
             lambda: torch.nn.functional.mse_loss(stgcn_code.forecast(data, H), y_nodes),
             lambda: torch.nn.functional.mse_loss(t_stgcn(x, edge_index, weight),
                                                  y.permute(0, 2, 1, 3)),
             lambda: stgcn_code.forecast(data, H), lambda: t_stgcn(x, edge_index, weight)),
            ("GConvGRU", gru, t_gru,
             lambda: torch.nn.functional.mse_loss(gru(data), nxt_nodes),
             lambda: torch.nn.functional.mse_loss(t_gru(x_nodes, b_index, b_weight), nxt_nodes),
             lambda: gru(data), lambda: t_gru(x_nodes, b_index, b_weight)),
        ]
        for name, ours, theirs, loss_o, loss_t, run_o, run_t in cases:
            if name not in args.models:
                continue
            for what, fo, ft in (("train step", train_fn(ours, loss_o), train_fn(theirs, loss_t)),
                                 ("forward (no grad)", forward_fn(ours, run_o), forward_fn(theirs, run_t))):
                a, b, med, low = paired(fo, ft, args.reps, args.warmup, sync)
                rows.append([name, B, what, ms(a), ms(b), f"{med:.2f}x", f"{low:.2f}x"])
                print(rows[-1], flush=True)
                if what == "train step":  # one more step of each, its dense products counted
                    work.append((name, B, dense_gflop(fo), dense_gflop(ft), b))
    rate = matmul_rate(device=device, sync=sync)
    if load:
        load.append(os.getloadavg()[0])
    write_atomic(out, report(args, N, E, version, params, rows, load, work, rate))
    print(f"wrote {out}")


def report(args, N: int, E: int, version: str, params, rows, load: List[float], work, rate: float) -> str:
    text = [
        f"# Graph-convolution baselines against PyTorch Geometric Temporal ({args.device})\n",
        f"Same problem for both: a METR-LA-like graph (N={N} nodes, E={E} directed weighted edges), "
        f"T={args.T} observed steps, F={args.F} input channel(s), batches of {', '.join(map(str, args.batches))}. "
        f"STGCN in the paper's configuration (two ST-Conv blocks, channels 64/16/64, Chebyshev "
        f"K={args.K}, temporal kernel 3, output block to {args.horizon} steps: the paper's text "
        "narrows in the graph convolution, temporal 64, graph 64 -> 16, temporal 64); STGCN-code the "
        "same channels laid out as in the authors' released code, which narrows in the first temporal "
        "convolution (temporal 16, graph 16 -> 16, temporal 64: `temporal_hidden=16`), the widths PyG "
        "Temporal's `STConv(hidden_channels=16, out_channels=64)` has, so that both sides run the same "
        "widths (PyG Temporal's side is the same model in both rows); GConvGRU with hidden "
        f"{args.gru_hidden}, K={args.K} and a linear readout. Train step = forward + MSE loss + "
        "backward + Adam step; forward = the same forward under `torch.no_grad()` in eval mode. "
        f"The two implementations alternate in one process ({args.reps} timed pairs after "
        f"{args.warmup} warm-up pairs, the order flipping each pair); ratio = PyG Temporal time / "
        "ours, per pair." + (" On CUDA every timing waits for the device (`torch.cuda.synchronize`) "
                             "and TF32 is off for products and convolutions on both sides."
                             if args.device.startswith("cuda") else "") + "\n",
        machine("cuda" if args.device.startswith("cuda") else "cpu")
        + f"\n- torch_geometric_temporal {version} (imported with a stand-in "
        "`torch_sparse` module that satisfies its import only)"
        + (f"\n- load average (1 min) {load[0]:.1f} at the start, {load[1]:.1f} at the end" if load else ""),
        "", f"Command: `{command()}`", "",
        "## Parameters", "",
        markdown_table(["model", "ours", "PyG Temporal"], params), "",
        "The counts differ because the blocks differ, not the sizes: PyG Temporal's `TemporalConv` "
        "has three full-width convolutions (P, Q and a residual convolution) where ours has one "
        "convolution to `[P Q]` and a bias-free 1x1 residual map only where the widths change; its "
        "`STConv` graph convolution maps `hidden_channels` to itself, so the 64/16/64 block "
        "is `STConv(hidden_channels=16, out_channels=64)` there (temporal 16, graph 16 -> 16, "
        "temporal 64, as in STGCN-code) and temporal 64, graph 64 -> 16, temporal 64 in the STGCN "
        "row; it normalises with a "
        "`BatchNorm2d` over the nodes (ours: a layer norm over channels). GConvGRU: PyG Temporal "
        "has six Chebyshev convolutions, each with a bias (three of them redundant: `3 * hidden` "
        "more parameters); ours has the same three input and three hidden maps fused into three "
        "convolutions, the biases in the input one.", "",
        "## Time", "",
        markdown_table(["model", "batch", "measure", "ours (median)", "PyG Temporal (median)",
                        "ratio (median)", "ratio (min)"], rows),
        "", "## Work", "",
        "Floating-point operations of the dense matrix products and convolutions of one train step "
        "(forward, backward, Adam), counted with `torch.utils.flop_counter`'s formulas; products with "
        "a sparse factor (our graph propagation) are left out, as PyG Temporal's message passing "
        "(gathers and scatter-adds) is. The floor is that work at this device's best rate on plain "
        f"float32 matrix products ({rate:.0f} GFLOP/s, the fastest of 20 products of each of three "
        "shapes like the layers'): the products alone take about that long at least, however they "
        "are arranged. The last column is PyG Temporal's median train "
        "step divided by the speed-up asked.", "",
        markdown_table(["model", "batch", "ours (GFLOP)", "PyG Temporal (GFLOP)", "our floor (ms)",
                        "needed for the target (ms)"],
                       [[name, B, f"{g_o:.2f}", f"{g_t:.2f}", f"{1e3 * g_o / rate:.1f}",
                         f"{1e3 * t_b / TARGETS[name]:.1f}"] for name, B, g_o, g_t, t_b in work]),
        "", "## Targets", "",
    ]
    for name, target in TARGETS.items():
        mine = [float(r[5].rstrip("x")) for r in rows if r[0] == name]
        if mine:
            met = [f"batch {r[1]}, {r[2]}: {r[5]}" for r in rows if r[0] == name and float(r[5].rstrip("x")) >= target]
            text.append(f"- {name}: at least {target:g}x asked; median ratios {min(mine):.2f}x to "
                        f"{max(mine):.2f}x, met in {len(met)} of {len(mine)} cases"
                        + (f" ({'; '.join(met)})" if met else "") + ".")
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    main()
