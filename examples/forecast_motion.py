"""Forecast human motion on CMU mocap with Structural-RNN (the body-part graph).

Trains an S-RNN (residual, one-step-ahead teacher forcing over the observed
and the future frames, then a few epochs on the forecast itself, with
``srnn_pyg.engine.fit``) and the structure-free
NodeLSTM on CMU motion capture (torso, two arms and two legs: 3 node types, 4
edge types), then forecasts 25 frames (1 s) from 50 observed ones on the
protocol's seeded test windows and prints the Euler-angle error at 80, 160,
320, 400, 560 and 1000 ms beside the zero-velocity baseline, per action and
averaged over the actions.

Every choice is made on validation data: each action's last training
recording is held out (``CMUMocap(val_recordings=1)``), each training phase
keeps its epoch with the lowest validation Euler-angle error (the dataset's
own score through ``TrainConfig.val_score``) and stops after ``--patience``
epochs without a lower one, and the forecast-training phase is kept only if
it lowers that error (``TrainConfig.validate_start``: the weights it starts
from are its epoch 0 and stay unless an epoch beats them).

The S-RNN has the settings CMU's validation part chose (docs/accuracy.md): it
reads the poses and their per-frame change (``features="pos_vel"``, rebuilt
from its own predictions during a forecast: ``derived="velocity"``), with
dropout 0.3 between its layers. NodeLSTM reads the poses, with the same dropout.

Needs the data: set SRNN_PYG_DATA (or pass --data-root) to the folder that
holds cmu_mocap/.

    python examples/forecast_motion.py                    # two to three minutes on a laptop CPU
    python examples/forecast_motion.py --actions walking  # one action
    python examples/forecast_motion.py --full             # every training window, bigger model
    python examples/forecast_motion.py --smoke            # seconds: a check that it runs
"""
import argparse
import copy
import os
import sys
import time

import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.datasets import CMUMocap, resolve_root
from srnn_pyg.datasets.motion import expmap_to_euler
from srnn_pyg.engine import fit
from srnn_pyg.metrics import euler_angle_error, euler_varying_dims, frames_at_ms
from srnn_pyg.models import StructuralRNN, build

MS = (80, 160, 320, 400, 560, 1000)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("SRNN_PYG_DATA"),
                   help="folder holding cmu_mocap/ (default: $SRNN_PYG_DATA)")
    p.add_argument("--actions", nargs="+", default=None,
                   help="actions to train and test on (default: every action in the data)")
    p.add_argument("--stride", type=int, default=8, help="frames between training windows (default: 8)")
    p.add_argument("--epochs", type=int, default=15, help="at most this many teacher-forcing passes over the "
                                                            "training windows (default: 15)")
    p.add_argument("--rollout-epochs", type=int, default=5,
                   help="then at most this many passes that train the 25-frame forecast itself, at a third of "
                        "the learning rate (default: 5)")
    p.add_argument("--patience", type=int, default=3,
                   help="stop a phase after this many epochs without a lower validation error (default: 3)")
    p.add_argument("--hidden", type=int, default=64, help="RNN and MLP sizes (default: 64)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--dropout", type=float, default=0.3,
                   help="dropout between layers, both models (default: 0.3, the benchmark's choice on "
                        "validation at width 128)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default: 1)")
    p.add_argument("--out", default=os.path.join("runs", "examples", "motion_forecast.png"),
                   help="picture to write (default: runs/examples/motion_forecast.png)")
    p.add_argument("--full", action="store_true",
                   help="every training window, hidden 128, at most 40 + 20 epochs, patience 5")
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the pipeline")
    args = p.parse_args()
    if args.full:
        args.stride, args.hidden, args.epochs, args.rollout_epochs, args.patience = 1, 128, 40, 20, 5
    if args.smoke:
        args.actions = args.actions or ["walking"]
        args.stride, args.epochs, args.rollout_epochs, args.hidden = 50, 1, 1, 8
    return args


def forecast_training(model, loader, val_loader, fmt="{:.3f}", **kw):
    """Train ``model`` on its own forecasts. Its current weights are validated first, as epoch 0
    (``validate_start``), and ``restore_best`` keeps them unless an epoch lowers the validation
    score: the forecast training is kept only if it helps. A diverged run restores them too."""
    kept = copy.deepcopy(model.state_dict())
    try:
        then = fit(model, loader, val_loader, objective="rollout", validate_start=True, **kw)
    except FloatingPointError as e:  # fit's TrainingDivergedError
        model.load_state_dict(kept)
        return f"forecast training diverged ({e}): not kept"
    if then.best_epoch:
        return (f"forecast training {fmt.format(then.best_score)} at epoch {then.best_epoch} of "
                f"{then.epochs_run}: kept")
    if then.best_epoch is None:     # no finite validation score at all: nothing was restored
        model.load_state_dict(kept)
    return f"forecast training did not lower it in {then.epochs_run} epoch(s): not kept"


def euler_score(val_part):
    """The validation score each phase selects on: the mean over the six
    horizons of the dataset's own Euler-angle error (``CMUMocap.score``)."""
    def score(collected):
        per = val_part.score(collected)
        return {"euler": sum(per.values()) / len(per)}
    return score


def check_data(root, folder):
    """Exit with status 2 and a message naming SRNN_PYG_DATA when the data is not there."""
    try:
        resolve_root(root or None, folder)                                    # "" means unset
    except FileNotFoundError as err:
        print(f"{os.path.basename(__file__)}: no data: {err} (this script: --data-root, or SRNN_PYG_DATA)",
              file=sys.stderr)
        sys.exit(2)


def main():
    args = parse_args()
    check_data(args.data_root, "cmu_mocap")
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    # validation: each action's last training recording, left out of training and of the statistics
    opts = dict(actions=args.actions, val_recordings=1)
    train = CMUMocap(args.data_root, split="train", stride=args.stride, **opts)
    val = CMUMocap(args.data_root, split="val", stride=args.stride, stats=train.stats(), **opts)
    test = CMUMocap(args.data_root, split="test", stats=train.stats(), **opts)
    # the same windows with velocities, for the S-RNN
    train_v, val_v, test_v = (CMUMocap(args.data_root, split=split, stride=args.stride, features="pos_vel",
                                       stats=None if split == "train" else train.stats(), **opts)
                              for split in ("train", "val", "test"))
    print(f"train: {train}\nval:   {val}\ntest:  {test}\nschema: {train.schema}")
    F, H = train.num_node_features, test.horizon

    h = args.hidden
    models = {
        # CMU's validation data prefers a ReLU encoder layer and PyTorch's init to the 0.2
        # defaults, velocity inputs and dropout 0.3 (docs/accuracy.md)
        "S-RNN": StructuralRNN(train.schema, 2 * F, F, edge_hidden=h, node_hidden=h, edge_mlp=(h,),
                               node_mlp=(h,), residual=True, linear_encoder=False, init="default",
                               derived="velocity", velocity_scale=train_v.velocity_scale,
                               dropout=args.dropout),
        "NodeLSTM": build("node_lstm", train.schema, F, F, hidden=h, residual=True, dropout=args.dropout),
    }
    windows = {"S-RNN": (train_v, val_v, test_v), "NodeLSTM": (train, val, test)}
    start = time.perf_counter()
    for name, model in models.items():
        train_part, val_part, _ = windows[name]
        loader = DataLoader(train_part, batch_size=args.batch_size, shuffle=True)
        val_loader = DataLoader(val_part, batch_size=64)
        select = dict(val_score=euler_score(val_part), monitor="val_euler", early_stopping=args.patience,
                      restore_best=True, grad_clip=1.0, seed=args.seed, device="cpu", progress=not args.smoke)
        first = fit(model, loader, val_loader, epochs=args.epochs, lr=args.lr, **select)
        line = (f"{name}: teacher forcing, validation Euler error {first.best_score:.3f} at epoch "
                f"{first.best_epoch} of {first.epochs_run}")
        if args.rollout_epochs:   # the forecast feeds its own predictions (and velocities) back: train on that
            line += "; " + forecast_training(model, loader, val_loader, epochs=args.rollout_epochs,
                                             lr=args.lr / 3, **select)
        print(line)
    print(f"trained in {time.perf_counter() - start:.0f} s")
    models["ZeroVelocity"] = build("zero_velocity", train.schema, F, F)
    windows["ZeroVelocity"] = (train, val, test)

    # Euler-angle error per action on the seeded test windows (Li et al. 2018):
    # poses back in the data's units, evaluated dimensions = those that vary
    # over the observed and true future frames of each window.
    steps = frames_at_ms(MS, fps=test.fps)
    errors = {name: {} for name in models}
    preds = {}
    for action in test.actions:
        idx = test.action_indices(action)
        batch = next(iter(DataLoader(test[idx], batch_size=len(idx))))
        observed, target = test.to_pose(batch.x), test.to_pose(batch.y)          # [B, T, 117]
        dims = euler_varying_dims(torch.cat([observed, target], dim=1))         # [B, 117]
        for name, model in models.items():
            own = windows[name][2]
            inputs = next(iter(DataLoader(own[idx], batch_size=len(idx))))      # the same windows
            model.eval()
            with torch.no_grad():
                pred = test.to_pose(model.forecast(inputs, H))                    # [B, H, 117]
            errors[name][action] = euler_angle_error(pred, target, dims=dims)[steps]
            preds.setdefault(action, {})[name] = pred
        preds[action]["observed"], preds[action]["true"] = observed, target

    print(f"\nEuler-angle error on the CMU mocap test windows ({len(test)} windows, {test.num_seeded} "
          f"per test file), lower is better")
    header = f"{'action':<12} {'model':<13}" + "".join(f"{ms:>8} ms" for ms in MS)
    print(header + "\n" + "-" * len(header))
    for action in test.actions + ["average"]:
        for name in models:
            err = errors[name][action] if action != "average" else \
                torch.stack(list(errors[name].values())).mean(0)
            print(f"{action:<12} {name:<13}" + "".join(f"{float(e):>11.3f}" for e in err))
    plot(preds, args.out)


# Joints to draw: (pose triple = joint + 1, label); see CMU_SKELETON in the dataset code.
JOINTS = ((3, "left femur"), (4, "left tibia"), (9, "right femur"), (10, "right tibia"),
          (22, "left humerus"), (31, "right humerus"))


def plot(preds, path):
    """Joint angles (Euler, radians) of one test window: observed, true and predicted.

    The dataset code has no forward kinematics, so the picture shows joint-angle
    curves rather than stick figures."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return
    action = "walking" if "walking" in preds else next(iter(preds))
    p = {k: expmap_to_euler(v[0].double()) for k, v in preds[action].items()}  # [T, 117] each
    T_obs, H = p["observed"].size(0), p["true"].size(0)
    ms = 40.0                                                                   # 25 fps
    t_obs = torch.arange(-T_obs + 1, 1) * ms
    t_fut = torch.arange(1, H + 1) * ms
    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
    styles = {"S-RNN": dict(color="C0", lw=2, ls="--"), "NodeLSTM": dict(color="C1", lw=1.5, ls="--"),
              "ZeroVelocity": dict(color="grey", lw=1, ls=":")}
    for ax, (triple, label) in zip(axes.flat, JOINTS):
        dims = slice(3 * triple, 3 * triple + 3)
        full = torch.cat([p["observed"][:, dims], p["true"][:, dims]])         # [T, 3]
        c = int(full.std(0).argmax())                                           # the angle that moves most
        d = 3 * triple + c
        ax.plot(t_obs, p["observed"][:, d], color="black", lw=1, label="observed")
        ax.plot(t_fut, p["true"][:, d], color="black", lw=2, label="true")
        for name, style in styles.items():
            if name in p:
                ax.plot(t_fut, p[name][:, d], label=name, **style)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_title(f"{label}, Euler angle {c + 1}")
        ax.set_ylabel("Euler angle (rad)")
    for ax in axes[-1]:
        ax.set_xlabel("ms after the last observed frame")
    axes.flat[0].legend(fontsize=8, title="line style", title_fontsize=8)
    fig.suptitle(f"CMU mocap, {action}, first test window: joint angles, 1 s forecast")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
