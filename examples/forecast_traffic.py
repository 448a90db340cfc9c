"""Forecast traffic speed on the Los-loop sensor graph with Structural-RNN.

Trains an S-RNN (residual, one-step-ahead teacher forcing over the observed
and the future steps) that also reads the time of day and each sensor's daily
profile, its training mean at that time of day (three covariates, known for
the future steps too: ``LosLoop(time_of_day=True, daily_profile=True)``,
``covariates=3``; both chosen on validation data in the accuracy benchmark),
the structure-free NodeLSTM and, when registered, the graph-convolutional
STGCN, both given the same inputs (STGCN over its observed window: it
forecasts all steps at once), on Los-loop (207 METR-LA loop detectors, 5-minute
mean speeds, T-GCN's chronological split); then forecasts the next hour from
12 observed steps (1 hour) on the test part and prints MAE, RMSE (mph) and
MAPE (%) at 15, 30 and 60 minutes beside the last-value and historical-average
baselines.

Training is ``srnn_pyg.engine.fit`` with the protocol's loss (L1: the headline
metric is the MAE), and every choice is made on the validation part (a tenth
of the series' steps, just before the test part, ``LosLoop(split="val")``):
each model keeps its epoch with the lowest validation MAE of its 12-step
forecast and stops after ``--patience`` epochs without a lower one; the
one-step models (S-RNN, NodeLSTM) are then trained on their own 12-step
forecasts for a few epochs, kept only if that lowers the validation MAE.
STGCN forecasts all 12 steps at once and trains on them directly.

Needs the data: set SRNN_PYG_DATA (or pass --data-root) to the folder that
holds los_loop/.

    python examples/forecast_traffic.py             # a few minutes on a laptop CPU
    python examples/forecast_traffic.py --full      # every training window, bigger models
    python examples/forecast_traffic.py --smoke     # seconds: a check that it runs
"""
import argparse
import copy
import os
import sys
import time

import torch
from torch_geometric.loader import DataLoader
from tqdm import tqdm

from srnn_pyg.datasets import LosLoop, resolve_root
from srnn_pyg.engine import fit
from srnn_pyg.models import StructuralRNN, available, build

HORIZON_STEPS = (3, 6, 12)                      # 15, 30 and 60 minutes


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("SRNN_PYG_DATA"),
                   help="folder holding los_loop/ (default: $SRNN_PYG_DATA)")
    p.add_argument("--stride", type=int, default=4, help="steps between training windows (default: 4)")
    p.add_argument("--epochs", type=int, default=10,
                   help="at most this many passes over the training windows (default: 10)")
    p.add_argument("--rollout-epochs", type=int, default=3,
                   help="then at most this many passes that train the one-step models' 12-step forecast, at a "
                        "third of the learning rate (default: 3)")
    p.add_argument("--patience", type=int, default=3,
                   help="stop after this many epochs without a lower validation MAE (default: 3)")
    p.add_argument("--hidden", type=int, default=32, help="hidden sizes of every model (default: 32)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default: 1)")
    p.add_argument("--out", default=os.path.join("runs", "examples", "traffic_forecast.png"),
                   help="picture to write (default: runs/examples/traffic_forecast.png)")
    p.add_argument("--full", action="store_true",
                   help="every training window, hidden 64, at most 40 + 10 epochs, patience 5")
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the pipeline")
    args = p.parse_args()
    if args.full:
        args.stride, args.hidden, args.epochs, args.rollout_epochs, args.patience = 1, 64, 40, 10, 5
    if args.smoke:
        args.stride, args.epochs, args.rollout_epochs, args.hidden = 200, 1, 1, 8
    return args


def check_data(root, folder):
    """Exit with status 2 and a message naming SRNN_PYG_DATA when the data is not there."""
    try:
        resolve_root(root or None, folder)                                    # "" means unset
    except FileNotFoundError as err:
        print(f"{os.path.basename(__file__)}: no data: {err} (this script: --data-root, or SRNN_PYG_DATA)",
              file=sys.stderr)
        sys.exit(2)


class HistoricalAverage(torch.nn.Module):
    """The mean of the observed steps, held for the whole horizon (T-GCN's "HA" baseline form)."""

    def forecast(self, data, horizon):
        return data.x.mean(dim=1, keepdim=True).expand(-1, horizon, -1)      # [N, H, 1]


def main():
    args = parse_args()
    check_data(args.data_root, "los_loop")
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    # Windows with the time of day (sin, cos) and the sensor's daily profile as three more input
    # channels and, for the predicted steps, as u_future (for the trained models), and the same
    # windows with the speed alone (for the last value and the historical average); validation: the
    # 10 % of the steps just before the test part.
    sets = {}
    for kind, extra in (("covariates", dict(time_of_day=True, daily_profile=True)), ("speed", {})):
        train = LosLoop(args.data_root, split="train", stride=args.stride, **extra)
        val = LosLoop(args.data_root, split="val", stride=args.stride, **extra)
        test = LosLoop(args.data_root, split="test", **extra)
        sets[kind] = (train, val, test[:16] if args.smoke else test)          # smoke: a few test windows
    train, val, test = sets["covariates"]
    print(f"train: {train}\nval:   {val}\ntest:  {test}\nschema: {train.schema}")
    H, h = test.horizon, args.hidden

    models = {
        # 4 inputs (speed, sin and cos of the time of day, daily profile), 1 output; the last 3 inputs
        # are covariates, which each model's forecast reads for the future steps from u_future
        "S-RNN": StructuralRNN(train.schema, 4, 1, edge_hidden=h, node_hidden=h, edge_mlp=(h,),
                               node_mlp=(h,), residual=True, covariates=3),
        "NodeLSTM": build("node_lstm", train.schema, 4, 1, hidden=h, residual=True, covariates=3),
    }
    if "stgcn" in available():
        models["STGCN"] = build("stgcn", train.schema, 4, 1, obs_len=train.obs, horizon=H, hidden=h,
                                covariates=3)
    kind = {name: "covariates" for name in models}
    start = time.perf_counter()
    for name, model in models.items():
        train_model(name, model, *sets[kind[name]][:2], args)
    print(f"trained in {time.perf_counter() - start:.0f} s")
    models["LastValue"] = build("zero_velocity", train.schema, 1, 1)
    models["HistoricalAverage"] = HistoricalAverage()
    kind.update(LastValue="speed", HistoricalAverage="speed")

    preds = {}
    with torch.no_grad():
        for name, model in models.items():                                      # the same windows in order
            model.eval()
            own = sets[kind[name]][2]
            out = [model.forecast(batch, H).view(batch.num_graphs, -1, H)        # [B, 207, H]
                   for batch in tqdm(DataLoader(own, batch_size=32), desc=f"test {name}", leave=False)]
            preds[name] = torch.cat(out)                                        # [W, 207, H]
    target = torch.cat([b.y.view(b.num_graphs, -1, H) for b in DataLoader(test, batch_size=32)])

    minutes = [s * test.minutes_per_step for s in HORIZON_STEPS]
    print(f"\nLos-loop test part ({len(test)} windows x 207 sensors), speed errors in mph (MAPE in %)")
    print((f"{'':<18}" + "".join(f"{f'{m} min':^24}" for m in minutes)).rstrip())
    header = f"{'model':<18}" + f"{'MAE':>7}{'RMSE':>7}{'MAPE':>7}   " * len(minutes)
    print(header.rstrip() + "\n" + "-" * len(header.rstrip()))
    for name, pred in preds.items():
        scores = test.horizon_metrics(pred.reshape(-1, H), target.reshape(-1, H), HORIZON_STEPS)
        print(f"{name:<18}" + "   ".join(
            f"{s['mae']:>7.2f}{s['rmse']:>7.2f}{s['mape']:>6.1f}%" for s in scores.values()))
    print(f"done in {time.perf_counter() - start:.0f} s after loading")
    plot(test, preds, target, args.out)


def train_model(name, model, train, val, args):
    """``fit`` with the protocol's L1 loss, selected on the validation MAE of the 12-step forecast.

    One-step models learn by teacher forcing (the future steps' inputs: the true speed and the time of
    day and profile, which ``u_future`` carries), then on their own forecasts
    (kept only if that lowers the validation MAE); STGCN, which has no one-step form, on its
    forecast alone."""
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    select = dict(loss=LosLoop.defaults["loss"], monitor="val_mae", early_stopping=args.patience,
                  restore_best=True, grad_clip=1.0, seed=args.seed, device="cpu", progress=not args.smoke)
    val_loader = DataLoader(val, batch_size=64)
    first = fit(model, loader, val_loader, epochs=args.epochs, lr=args.lr,
                objective="teacher_forcing" if model.has_forward else "rollout", **select)
    line = (f"{name}: validation MAE {first.best_score:.4f} (normalised units) at epoch {first.best_epoch} "
            f"of {first.epochs_run}")
    if model.has_forward and args.rollout_epochs:
        line += "; " + forecast_training(model, loader, val_loader, epochs=args.rollout_epochs, lr=args.lr / 3,
                                         **select)
    print(line)


def forecast_training(model, loader, val_loader, **kw):
    """Train a one-step model on its own forecasts. Its current weights are validated first, as
    epoch 0 (``validate_start``), and ``restore_best`` keeps them unless an epoch lowers the
    validation MAE: the forecast training is kept only if it helps. A diverged run restores them too."""
    kept = copy.deepcopy(model.state_dict())
    try:
        then = fit(model, loader, val_loader, objective="rollout", validate_start=True, **kw)
    except FloatingPointError as e:     # fit's TrainingDivergedError
        model.load_state_dict(kept)
        return f"forecast training diverged ({e}): not kept"
    if then.best_epoch:
        return f"forecast training {then.best_score:.4f} at epoch {then.best_epoch} of {then.epochs_run}: kept"
    if then.best_epoch is None:     # no finite validation score at all: nothing was restored
        model.load_state_dict(kept)
    return f"forecast training did not lower it in {then.epochs_run} epoch(s): not kept"


def plot(test, preds, target, path, sensors=3):
    """True speed over the test part and the 15- and 60-minute-ahead forecasts of a few sensors."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return
    true = test.denormalize(target)                                             # [W, 207, H] mph
    busy = true[:, :, 0].std(0).argsort(descending=True)[:sensors].tolist()    # the most variable sensors
    # window i observes steps i .. i+obs-1 of the test part; its step-h forecast is for step i+obs+h-1
    def hours(h, n=true.size(0)):
        return (torch.arange(n) + test.obs + h - 1) * test.minutes_per_step / 60.0

    fig, axes = plt.subplots(len(busy), 1, figsize=(11, 2.6 * len(busy) + 0.6), sharex=True, squeeze=False)
    for ax, s in zip(axes[:, 0], busy):
        whole = torch.cat([true[:, s, 0], true[-1, s, 1:]])                   # every target step once
        ax.plot(hours(1, whole.numel()), whole, color="black", lw=1.5, label="true speed")
        for name, step, color in (("S-RNN", 3, "C0"), ("S-RNN", 12, "C3"), ("LastValue", 12, "grey")):
            if name in preds:
                p = test.denormalize(preds[name][:, s, step - 1])              # [W]
                ax.plot(hours(step), p, color=color, lw=1, alpha=0.9,
                        ls=":" if name == "LastValue" else "-",
                        label=f"{name}, {step * test.minutes_per_step} min ahead")
        ax.set_ylabel("speed (mph)")
        ax.set_title(f"sensor {test.sensor_ids[s]}", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=8, bbox_to_anchor=(0.5, 0.955))
    axes[-1, 0].set_xlabel("hours since the start of the test part (forecasts drawn at the time they predict)")
    fig.suptitle("Los-loop test part: true speed and forecasts of the most variable sensors")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
