"""Train-step and forecast time of the vectorised S-RNN against the loop
reference, the bare RNN floor and every registered baseline.

On random typed graphs (3 node types, 5 edge types) with N nodes, E about 4N
directed edges, T steps and F=6 features:

- train step: forward + backward of the mean square of the model's one-step
  outputs (no target; no optimiser step, unlike ``speed_vs_revision.py``);
- forecast: 50 observed steps, then horizons 100 and 200 (the observed steps
  cost the same in both, so the ratio of the two stays under 2 for linear cost);
  the median of ``max(1, reps // 2)`` calls after one warm-up;
- loop reference: the same model computed by ``srnn_pyg.testing.reference_forward``
  (Python loops over steps, nodes and edges); ``--reference-reps`` calls (one by
  default) with no warm-up;
- bare RNN floor: the same RNN blocks (and node decoders) called on random
  tensors of the shapes they see in the model, with no gathering, scattering
  or concatenation.

The train step, the floor, the reference and the forecasts are timed one after
another, not interleaved: on a shared machine the "vs floor" and "speed-up"
ratios carry the load's drift between them.

    python benchmarks/speed.py                       # N = 10, 100, 1000 -> results/speed_cpu.md
    python benchmarks/speed.py --sizes 10 100 --reps 3 --no-reference
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, timeit, write_atomic  # noqa: E402

from srnn_pyg.models import StructuralRNN, available, build  # noqa: E402
from srnn_pyg.testing import fake_schema, fake_st_data, reference_forward  # noqa: E402

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


def train_step(model, data):
    def step():
        model.zero_grad(set_to_none=True)
        out = model(data)
        out.pow(2).mean().backward()
    return step


def reference_step(model, data):
    def step():
        model.zero_grad(set_to_none=True)
        reference_forward(model, data).pow(2).mean().backward()
    return step


def floor_step(model: StructuralRNN, data):
    """The model's RNN blocks on random inputs of the shapes they see, nothing else."""
    lay = model.layer.layout(data.x, data.edge_index, data.get("node_type"), data.get("edge_type"),
                             check_finite=False)
    T = data.x.size(1)
    dev, dt = data.x.device, data.x.dtype
    calls = []
    for k, rnn in enumerate(model.edge_rnns):
        rows = lay.slot_blocks[k][1] if model.edge_scope == "slot" else lay.edge_counts[k]
        calls.append((rnn, rows))
    for p, rnn in enumerate(model.temporal_rnns):
        calls.append((rnn, lay.node_counts[p]))
    for p, rnn in enumerate(model.node_rnns):
        calls.append((rnn, lay.node_counts[p]))
    for p, mlp in enumerate(model.decoders):                # each node type's decoder after its nodeRNN
        calls.append((mlp, lay.node_counts[p]))
    inputs = [torch.randn(rows, T, _width(m), device=dev, dtype=dt) for m, rows in calls]

    def step():
        model.zero_grad(set_to_none=True)
        loss = 0
        for (rnn, rows), inp in zip(calls, inputs):
            if rows > 0:
                out = rnn(inp)
                loss = loss + (out[0] if isinstance(out, tuple) else out).pow(2).mean()
        loss.backward()
    return step


def _width(module) -> int:
    """Input width of an RNN block or a decoder MLP."""
    return module.in_channels if hasattr(module, "pre") else module.channel_list[0]


def fmt(seconds):
    return "-" if seconds is None else (f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000], help="node counts N")
    p.add_argument("--T", type=int, default=50, help="time steps (default: 50)")
    p.add_argument("--F", type=int, default=6, help="features (default: 6)")
    p.add_argument("--hidden", type=int, default=64, help="edgeRNN/nodeRNN sizes (default: 64)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions, median reported (default: 5)")
    p.add_argument("--horizons", type=int, nargs=2, default=[100, 200])
    p.add_argument("--no-reference", action="store_true", help="skip the slow loop reference")
    p.add_argument("--reference-reps", type=int, default=1)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: torch's choice); 1 gives stable timings on a busy machine")
    p.add_argument("--out", default=None, help="result file (default: results/speed_<device>.md)")
    args = p.parse_args()
    for name in ("reps", "reference_reps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device

    rows, base_rows = [], []
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"speed_{dev}.md")
    for N in args.sizes:
        schema, data = graph(N, args.T, args.F, dev)
        for scope in ("slot", "edge"):
            model = StructuralRNN(schema, args.F, args.F, edge_hidden=args.hidden, node_hidden=args.hidden,
                                  edge_mlp=(args.hidden,), node_mlp=(args.hidden,),
                                  edge_scope=scope).to(dev)
            vec = timeit(train_step(model, data), args.reps, device=dev)
            floor = timeit(floor_step(model, data), args.reps, device=dev)
            ref = None
            if not args.no_reference:
                ref = timeit(reference_step(model, data), args.reference_reps, warmup=0, device=dev)
            model.eval()
            fc = []
            for h in args.horizons:
                with torch.no_grad():
                    fc.append(timeit(lambda: model.forecast(data, h), max(1, args.reps // 2), device=dev))
            rows.append([N, data.num_edges, scope, fmt(vec), fmt(floor), f"{vec / floor:.2f}x",
                         fmt(ref), "-" if ref is None else f"{ref / vec:.0f}x",
                         fmt(fc[0]), fmt(fc[1]), f"{fc[1] / fc[0]:.2f}x"])
            print(rows[-1], flush=True)
        if not args.no_baselines:
            for name in available():
                if name == "srnn":
                    continue
                kwargs = dict(BASELINE_KWARGS.get(name, {}))
                try:
                    model = build(name, schema, args.F, args.F, **kwargs).to(dev)
                except TypeError:
                    model = build(name, schema, args.F, args.F).to(dev)
                if not model.trainable:
                    continue
                if model.has_forward:
                    step = train_step(model, data)
                else:
                    h = getattr(model, "horizon", 12)

                    def step(model=model, h=h):
                        model.zero_grad(set_to_none=True)
                        model.forecast(data, h).pow(2).mean().backward()
                try:
                    t = timeit(step, args.reps, device=dev)
                except Exception as e:  # a baseline that cannot run on this graph: say why
                    base_rows.append([N, name, f"error: {type(e).__name__}: {str(e)[:60]}"])
                    continue
                params = sum(q.numel() for q in model.parameters())
                base_rows.append([N, name, fmt(t), f"{params:,}", "forward" if model.has_forward else "forecast"])
                print(base_rows[-1], flush=True)
        write_atomic(out, report(args, rows, base_rows, dev))     # after each size: nothing lost

    print(f"wrote {out}")


def report(args, rows, base_rows, dev) -> str:
    text = [f"# Speed on {dev}\n", "Train step = forward + backward of the mean square of the one-step "
            "outputs (no optimiser step); "
            f"T={args.T}, F={args.F}, hidden {args.hidden}, random graphs with 3 node types and 5 edge types, "
            f"E about 4N. Train step and floor: median of {args.reps} timed repetitions after one warm-up; "
            f"forecasts: median of {max(1, args.reps // 2)} after one warm-up; loop reference: "
            f"{args.reference_reps} call(s), no warm-up. Timed one after another, not interleaved.\n",
            machine(dev), "", f"Command: `{command()}`", "", "## S-RNN", "",
            markdown_table(["N", "E", "edge scope", "train step", "bare RNN floor", "vs floor",
                            "loop reference", "speed-up", f"forecast H={args.horizons[0]}",
                            f"forecast H={args.horizons[1]}", "ratio"], rows)]
    if base_rows:
        text += ["", "## Baselines (train step at the same sizes)", "",
                 "Models without a one-step form (`has_forward=False`) are timed on a forecast loss.", "",
                 markdown_table(["N", "model", "train step", "parameters", "loss on"],
                                [r + [""] * (5 - len(r)) for r in base_rows])]
    return "\n".join(text) + "\n"


if __name__ == "__main__":
    main()
