"""Forecast typed interacting particles with Structural-RNN: the library's main job.

Trains an S-RNN on the synthetic Springs system (two particle masses, two
spring stiffnesses, so two node types and six edge types) with one-step-ahead
teacher forcing (``srnn_pyg.engine.fit``), keeping the epoch whose 20-step
forecast has the lowest MSE on separate validation systems and stopping after
``--patience`` epochs without a lower one; then rolls it out 20 steps on unseen
test systems and compares the forecast MSE with the zero- and constant-velocity
baselines.

    python examples/forecast_springs.py                 # about a minute on a laptop CPU
    python examples/forecast_springs.py --full          # larger model and data
    python examples/forecast_springs.py --smoke         # seconds: a check that it runs
"""
import argparse
import os
import time

import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.datasets import Springs
from srnn_pyg.engine import fit
from srnn_pyg.metrics import per_horizon
from srnn_pyg.models import StructuralRNN, available, build


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--graphs", type=int, default=1000, help="training systems (default: 1000)")
    p.add_argument("--test-graphs", type=int, default=200, help="validation and test systems, each (default: 200)")
    p.add_argument("--epochs", type=int, default=20,
                   help="at most this many passes over the training systems (default: 20)")
    p.add_argument("--patience", type=int, default=5,
                   help="stop after this many epochs without a lower validation MSE (default: 5)")
    p.add_argument("--hidden", type=int, default=32, help="edgeRNN and nodeRNN sizes (default: 32)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--horizon", type=int, default=20, help="forecast steps (default: 20)")
    p.add_argument("--edge-scope", choices=["slot", "edge"], default="slot")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default: 1)")
    p.add_argument("--out", default=os.path.join("runs", "examples", "springs_forecast.png"),
                   help="picture to write (default: runs/examples/springs_forecast.png)")
    p.add_argument("--full", action="store_true", help="4000 systems, hidden 64, 40 epochs")
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the pipeline")
    args = p.parse_args()
    if args.full:
        args.graphs, args.hidden, args.epochs = 4000, 64, 40
    if args.smoke:
        args.graphs, args.test_graphs, args.epochs, args.hidden = 16, 8, 1, 8
    return args


def main():
    args = parse_args()
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    train = Springs(num_graphs=args.graphs, split="train", horizon=args.horizon, seed=args.seed)
    val, test = (Springs(num_graphs=args.test_graphs, split=split, horizon=args.horizon, seed=args.seed,
                         stats=train.stats) for split in ("val", "test"))
    print(f"train: {train}   val: {val}   test: {test}\nschema: {train.schema}")

    model = StructuralRNN(train.schema, 4, 4, edge_hidden=args.hidden, node_hidden=args.hidden,
                          edge_mlp=(args.hidden,), node_mlp=(args.hidden,), residual=True,
                          edge_scope=args.edge_scope)
    start = time.perf_counter()
    # teacher forcing over the whole window (inputs 0..T-2, targets 1..T-1); after each epoch the
    # 20-step forecast of the validation systems is scored, and the epoch with the lowest MSE is kept
    result = fit(model, DataLoader(train, batch_size=args.batch_size, shuffle=True),
                 DataLoader(val, batch_size=64), epochs=args.epochs, lr=args.lr, grad_clip=1.0,
                 monitor="val_mse", early_stopping=args.patience, restore_best=True, seed=args.seed,
                 device="cpu", progress=not args.smoke)
    print(f"trained in {time.perf_counter() - start:.0f} s: validation forecast MSE {result.best_score:.5f} "
          f"at epoch {result.best_epoch} of {result.epochs_run}")

    model.eval()
    batch = next(iter(DataLoader(test, batch_size=len(test))))
    models = {"S-RNN": model, "ZeroVelocity": build("zero_velocity", train.schema, 4, 4)}
    if "constant_velocity" in available():
        models["ConstantVelocity"] = build("constant_velocity", train.schema, 4, 4)
    steps = [h for h in (1, 10, 20) if h <= args.horizon]
    print(f"\nforecast MSE on {len(test)} test systems (normalised units), horizon " +
          " / ".join(map(str, steps)))
    preds = {}
    with torch.no_grad():
        for name, m in models.items():
            preds[name] = m.forecast(batch, args.horizon)
            mse = per_horizon("mse", preds[name], batch.y)
            print(f"  {name:<18}" + "  ".join(f"{mse[h - 1].item():.3e}" for h in steps))
    plot(test, batch, preds, args.out)


def plot(test, batch, preds, path):
    """The first test system in the plane (simulation units): each particle's
    observed path, true future and S-RNN forecast; springs as grey lines."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return
    n = int(batch.ptr[1])                                                # the first test system
    obs = test.denormalize(batch.x[:n])                                  # [n, T, 4]: x, y, vx, vy
    true = test.denormalize(batch.y[:n])
    pred = test.denormalize(preds["S-RNN"][:n])
    fig, ax = plt.subplots(figsize=(7, 6.5))
    particles = []
    for i in range(n):
        color = f"C{i}"
        kind = test.schema.node_types[int(batch.node_type[i])]
        ax.plot(obs[i, :, 0], obs[i, :, 1], color=color, alpha=0.35, lw=1)
        ax.plot(true[i, :, 0], true[i, :, 1], color=color, lw=2)
        ax.plot(pred[i, :, 0], pred[i, :, 1], color=color, lw=2, ls="--")
        ax.plot(obs[i, -1, 0], obs[i, -1, 1], "o", color=color, ms=9 if kind == "heavy" else 5)
        particles.append(plt.Line2D([], [], color=color, marker="o", ms=9 if kind == "heavy" else 5, lw=2,
                                    label=f"particle {i} ({kind})"))
    src, dst = batch.edge_index[:, batch.edge_index[0] < n]
    for s, d in zip(src.tolist(), dst.tolist()):
        ax.plot([obs[s, -1, 0], obs[d, -1, 0]], [obs[s, -1, 1], obs[d, -1, 1]], color="grey", lw=0.6, ls=":")
    styles = [plt.Line2D([], [], color="black", alpha=0.35, lw=1, label="observed path"),
              plt.Line2D([], [], color="black", lw=2, label=f"true future ({true.size(1)} steps)"),
              plt.Line2D([], [], color="black", lw=2, ls="--", label="S-RNN forecast"),
              plt.Line2D([], [], color="black", marker="o", lw=0, label="last observed position"),
              plt.Line2D([], [], color="grey", lw=0.6, ls=":", label="spring (at the last observed step)")]
    ax.add_artist(ax.legend(handles=styles, loc="upper left", fontsize=8, title="line style"))
    ax.legend(handles=particles, loc="lower right", fontsize=8, title="particle")
    ax.set_xlabel("x position (simulation units)")
    ax.set_ylabel("y position (simulation units)")
    ax.set_title("Springs, first test system: observed, true and forecast paths")
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
