"""A small, budgeted search over S-RNN variants on validation data only.

Each variant is trained with validation early stopping (``restore_best``) once
per seed and scored on the validation part; the test split is never opened.
The table goes to ``results/validation_<dataset>.md``.

    python benchmarks/validation_search.py --dataset chickenpox --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
from torch_geometric.loader import DataLoader

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import command, machine, markdown_table, write_atomic  # noqa: E402

from srnn_pyg import datasets  # noqa: E402
from srnn_pyg.engine import TrainConfig, collect, fit  # noqa: E402
from srnn_pyg.models import build  # noqa: E402

# name -> (StructuralRNN keywords, TrainConfig keywords)
VARIANTS = {
    "residual (shipped default)": (dict(residual=True), {}),
    "no residual": ({}, {}),
    "residual, dropout 0.3": (dict(residual=True, dropout=0.3), {}),
    "residual, dropout 0.5": (dict(residual=True, dropout=0.5), {}),
    "residual, dropout 0.3, spatial=False": (dict(residual=True, dropout=0.3, spatial=False), {}),
    "residual, dropout 0.3, edge scope, mean": (dict(residual=True, dropout=0.3, edge_scope="edge", aggr="mean"),
                                                {}),
}
# Where each dataset's validation part comes from (its protocol has none for chickenpox).
SPLITS = {"chickenpox": dict(val_ratio=0.04)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="chickenpox", choices=sorted(SPLITS))
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=500)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cls = datasets.get(args.dataset)
    train = cls.open("train", **SPLITS[args.dataset])
    val = cls.open("val", train=train, **SPLITS[args.dataset])
    F = train[0].x.size(-1)
    H = args.hidden
    rows, started = [], time.time()
    for name, (model_kw, train_kw) in VARIANTS.items():
        scores = []
        for seed in range(args.seeds):
            torch.manual_seed(seed)
            model = build("srnn", train.schema, F, F, edge_hidden=H, node_hidden=H, edge_mlp=(H,), node_mlp=(H,),
                          **model_kw)
            config = TrainConfig(epochs=args.epochs, lr=args.lr, seed=seed, progress=False,
                                 early_stopping=args.patience, monitor="val_mse", restore_best=True,
                                 metrics=["mse"], **train_kw)
            fit(model, DataLoader(train, 16, shuffle=True), DataLoader(val, 32), config)
            scores.append(val.score(collect(model, DataLoader(val, 64)))["MSE"])
        rows.append([name, f"{statistics.mean(scores):.3f} ± {statistics.stdev(scores):.3f}"
                     if len(scores) > 1 else f"{scores[0]:.3f}"])
        print(rows[-1], flush=True)
    linear = build("linear_ar", train.schema, F, F, lags=train[0].x.size(1)).fit_closed_form(DataLoader(train, 64))
    rows.append(["linear_ar (closed form)", f"{val.score(collect(linear, DataLoader(val, 64)))['MSE']:.3f}"])
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                   f"validation_{args.dataset}.md")
    text = "\n\n".join([
        f"# S-RNN variants on {args.dataset}'s validation part",
        f"Validation: `{SPLITS[args.dataset]}`; hidden {H}; Adam, lr {args.lr}; early stopping after "
        f"{args.patience} epochs without a better validation MSE (at most {args.epochs}), best epoch kept; "
        f"{args.seeds} seeds (mean ± std). The test split is never opened. {time.time() - started:.0f} s.",
        machine("cpu"), f"Command: `{command()}`",
        markdown_table(["S-RNN variant", "validation MSE"], rows)]) + "\n"
    write_atomic(out, text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
