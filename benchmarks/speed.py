"""Train-step and forecast time of the vectorised S-RNN against the bare RNN
floor, the loop reference and every registered baseline.

On random typed graphs (3 node types, 5 edge types) with N nodes, E about 4N
directed edges, T steps and F=6 features:

- train step: zero_grad, forward, the mean square of the model's one-step
  outputs (no target), backward and an Adam step (lr 1e-4), as in
  ``speed_vs_revision.py``;
- bare RNN floor: the same RNN blocks (and node decoders) called on random
  tensors of the shapes they see in the model, with no gathering, scattering
  or concatenation; its train step is the same, with its own Adam over the
  parameters of the blocks it calls;
- loop reference: the same model computed by ``srnn_pyg.testing.reference_forward``
  (Python loops over steps, nodes and edges), its train step likewise;
- forecast: the T observed steps, then horizons 100 and 200 (the observed steps
  cost the same in both, so the ratio of the two stays under 2 for linear cost).

Timing (``common.paired``): the train step and the floor run in interleaved
pairs in one process, back to back, the order alternating pair by pair; one
warm-up call of each, then ``--reps`` pairs. The table gives both medians and
the median and minimum of the per-pair ratios (train step / floor), so a drift
of the machine's load falls on both sides of a ratio. The loop reference is
paired the same way with the vectorised train step, ``--reference-reps`` pairs
(one by default) and no warm-up, as it is slow; its speed-up is the median of
the per-pair ratios (reference / train step). Forecasts are not paired: the
median of ``max(1, reps // 2)`` no-grad calls after one warm-up. Each
baseline's train step (the same Adam step; a forecast loss for models without
a one-step form) is the median of ``--reps`` calls after one warm-up.

    python benchmarks/speed.py                       # N = 10, 100, 1000 -> results/speed_cpu.md
    python benchmarks/speed.py --sizes 10 100 --reps 3 --no-reference
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Iterable

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, paired, timeit, write_atomic  # noqa: E402

from srnn_pyg.models import StructuralRNN, available, build  # noqa: E402
from srnn_pyg.testing import fake_schema, fake_st_data, reference_forward  # noqa: E402

LR = 1e-4  # the learning rate of every Adam optimiser here
# Small, comparable sizes for the baselines (hidden 64 where a model has one).
BASELINE_KWARGS = {
    "node_lstm": dict(hidden=64),
    "erd": dict(hidden=64),
    "lstm3lr": dict(hidden=64),
    "gconv_gru": dict(hidden=64),
    "stgcn": dict(hidden=64),
    "skeleton_stgcn": dict(hidden=64),
}


def graph(N: int, T: int, F: int, device: str):
    schema = fake_schema(3)
    data = fake_st_data(N, T, F, schema=schema, num_edges=4 * N, generator=torch.Generator().manual_seed(N))
    return schema, data.to(device)


def train_step(params: Iterable[torch.nn.Parameter], loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
    """One optimiser step: zero_grad, ``loss()`` (the forward), backward, and a step of an Adam
    optimiser of its own over ``params``."""
    opt = torch.optim.Adam(params, lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()
    step.optimizer = opt                        # for inspection (tests)
    return step


def model_step(model, data):
    """The train step of a model with a one-step form: the mean square of its outputs."""
    return train_step(model.parameters(), lambda: model(data).pow(2).mean())


def reference_step(model, data):
    """The same train step, the S-RNN computed by the loop reference."""
    return train_step(model.parameters(), lambda: reference_forward(model, data).pow(2).mean())


def baseline_step(model, data):
    """A baseline's train step: on its one-step outputs, or on a forecast for models without a one-step form."""
    h = getattr(model, "horizon", 12)
    out = (lambda: model(data)) if model.has_forward else (lambda: model.forecast(data, h))
    with torch.no_grad():
        out()               # builds the layers of models that build them on their first batch (ERD, LSTM-3LR)
    return train_step(model.parameters(), lambda: out().pow(2).mean())


def floor_step(model: StructuralRNN, data):
    """The model's RNN blocks and decoders on random inputs of the shapes they see, nothing else,
    with an Adam optimiser over the parameters of the blocks called."""
    lay = model.layer.layout(data.x, data.edge_index, data.get("node_type"), data.get("edge_type"),
                             check_finite=False)
    T = data.x.size(1)
    dev, dt = data.x.device, data.x.dtype
    calls = []
    for k, rnn in enumerate(model.edge_rnns):
        calls.append((rnn, lay.slot_blocks[k][1] if model.edge_scope == "slot" else lay.edge_counts[k]))
    for modules in (model.temporal_rnns, model.node_rnns, model.decoders):  # decoders after the nodeRNNs
        calls += [(m, lay.node_counts[p]) for p, m in enumerate(modules)]
    calls = [(m, torch.randn(rows, T, _width(m), device=dev, dtype=dt)) for m, rows in calls if rows > 0]
    params = list({id(q): q for m, _ in calls for q in m.parameters()}.values())

    def loss():
        total = 0
        for m, inp in calls:
            out = m(inp)
            total = total + (out[0] if isinstance(out, tuple) else out).pow(2).mean()
        return total
    return train_step(params, loss)


def _width(module) -> int:
    """Input width of an RNN block or a decoder MLP."""
    return module.in_channels if hasattr(module, "pre") else module.channel_list[0]


def fmt(seconds):
    return "-" if seconds is None else (f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s")


def ratio(x):
    return "-" if x is None else f"{x:.2f}x"


def srnn_row(args, schema, data, scope: str) -> list:
    """One row of the S-RNN table: train step and floor paired, the reference paired with the train step,
    forecasts."""
    dev = args.device
    model = StructuralRNN(schema, args.F, args.F, edge_hidden=args.hidden, node_hidden=args.hidden,
                          edge_mlp=(args.hidden,), node_mlp=(args.hidden,), edge_scope=scope).to(dev)
    vec = model_step(model, data)
    floor = paired(vec, floor_step(model, data), args.reps, warmup=1, device=dev)
    ref = None
    if not args.no_reference:
        ref = paired(reference_step(model, data), vec, args.reference_reps, warmup=0, device=dev)
    model.eval()
    fc = []
    for h in args.horizons:
        with torch.no_grad():
            fc.append(timeit(lambda: model.forecast(data, h), forecast_reps(args), device=dev))
    return [data.num_nodes, data.num_edges, scope, fmt(floor.a), fmt(floor.b), ratio(floor.ratio),
            ratio(floor.ratio_min), fmt(ref.a if ref else None), ratio(ref.ratio if ref else None),
            fmt(fc[0]), fmt(fc[1]), ratio(fc[1] / fc[0])]


def forecast_reps(args) -> int:
    return max(1, args.reps // 2)


def baseline_rows(args, schema, data) -> list:
    """A train step of every trainable registered baseline but the S-RNN, or why it could not run."""
    rows, dev, N = [], args.device, data.num_nodes
    for name in available():
        if name == "srnn":
            continue
        try:
            model = build(name, schema, args.F, args.F, **BASELINE_KWARGS.get(name, {})).to(dev)
        except TypeError:
            model = build(name, schema, args.F, args.F).to(dev)
        if not model.trainable:
            continue
        try:
            t = timeit(baseline_step(model, data), args.reps, device=dev)
        except Exception as e:  # a baseline that cannot run on this graph: say why
            rows.append([N, name, f"error: {type(e).__name__}: {str(e)[:60]}", "", ""])
            continue
        params = sum(q.numel() for q in model.parameters())
        rows.append([N, name, fmt(t), f"{params:,}", "forward" if model.has_forward else "forecast"])
        print(rows[-1], flush=True)
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="node counts N")
    p.add_argument("--T", type=int, default=50, help="time steps (default: 50)")
    p.add_argument("--F", type=int, default=6, help="features (default: 6)")
    p.add_argument("--hidden", type=int, default=64, help="edgeRNN/nodeRNN sizes (default: 64)")
    p.add_argument("--reps", type=int, default=5,
                   help="timed pairs of train step and floor after one warm-up (default: 5)")
    p.add_argument("--horizons", type=int, nargs=2, default=[100, 200])
    p.add_argument("--no-reference", action="store_true", help="skip the slow loop reference")
    p.add_argument("--reference-reps", type=int, default=1,
                   help="timed pairs of loop reference and train step, no warm-up (default: 1)")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice); 1 gives stable timings on a busy machine")
    p.add_argument("--out", default=None, help="result file (default: results/speed_<device>.md)")
    args = p.parse_args(argv)
    for name in ("reps", "reference_reps", "T", "F", "hidden"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    for name in ("sizes", "horizons"):
        bad = [v for v in getattr(args, name) if v < 1]
        if bad:
            p.error(f"--{name} must all be at least 1 (got {bad[0]})")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1 (got {args.threads})")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    rows, base_rows = [], []
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"speed_{dev}.md")
    for i, N in enumerate(args.sizes):
        schema, data = graph(N, args.T, args.F, dev)
        for scope in ("slot", "edge"):
            rows.append(srnn_row(args, schema, data, scope))
            print(rows[-1], flush=True)
        if not args.no_baselines:
            base_rows += baseline_rows(args, schema, data)
        # after each size, nothing lost; the table says which sizes are still to come
        write_atomic(out, report(args, rows, base_rows, dev, pending=args.sizes[i + 1:]))
    print(f"wrote {out}")


def report(args, rows, base_rows, dev, pending=()) -> str:
    reference = ("not run" if getattr(args, "no_reference", False) else
                 f"{args.reference_reps} pair(s) with the vectorised train step, interleaved the same way, no "
                 f"warm-up; speed-up = median of the per-pair ratios reference / train step")
    text = [f"# Speed on {dev}\n"] + ([
        f"**Incomplete**: sizes {', '.join(map(str, pending))} of this run are not measured yet (the run "
        f"stopped, or is still running).\n"] if pending else []) + [
            "Train step = zero_grad, forward, the mean square of the one-step outputs (no target), backward "
            f"and an Adam step (lr {LR:g}): the optimiser step is included, for the S-RNN, the floor (its own "
            "Adam over the RNN blocks and decoders it calls) and the baselines. "
            f"T={args.T}, F={args.F}, hidden {args.hidden}, random graphs with 3 node types and 5 edge types, "
            f"E about 4N. Train step and bare RNN floor: timed in interleaved pairs in one process (back to "
            f"back, the order alternating pair by pair), {args.reps} pair(s) after one warm-up call of each; "
            f"the times are the medians, \"vs floor\" the median and the minimum of the per-pair ratios "
            f"train step / floor. Loop reference: {reference}. Forecasts (not paired): median of "
            f"{forecast_reps(args)} no-grad call(s) after one warm-up; ratio = H={args.horizons[1]} / "
            f"H={args.horizons[0]}.\n",
            machine(dev), "", f"Command: `{command()}`", "", "## S-RNN", "",
            markdown_table(["N", "E", "edge scope", "train step (median)", "bare RNN floor (median)",
                            "vs floor (median ratio)", "vs floor (min ratio)", "loop reference (median)",
                            "speed-up (median ratio)", f"forecast H={args.horizons[0]}",
                            f"forecast H={args.horizons[1]}", "forecast ratio"], rows)]
    if base_rows:
        text += ["", "## Baselines (train step at the same sizes)", "",
                 f"Each baseline's train step (with the same Adam step) is the median of {args.reps} calls "
                 "after one warm-up, timed alone (not paired). Models without a one-step form "
                 "(`has_forward=False`) are timed on a forecast loss.", "",
                 markdown_table(["N", "model", "train step (median)", "parameters", "loss on"], base_rows)]
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    main()
