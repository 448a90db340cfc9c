"""The picture of ``srnn-pyg forecast``: the first window's forecast against
the truth (trajectories in the plane for data with position channels, curves
over time otherwise, class probabilities for classification)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

__all__ = ["plot_forecast", "position_channels"]


def position_channels(dataset) -> Optional[Tuple[int, int]]:
    """The two feature channels holding a position in the plane, where the
    dataset declares them (``position_channels`` attribute or default)."""
    pos = getattr(dataset, "position_channels", None)
    if pos is None:
        pos = (getattr(type(dataset), "defaults", None) or {}).get("position_channels")
    if pos is None or len(pos) != 2:
        return None
    return int(pos[0]), int(pos[1])


def _classes(ax, name: str, pred, y) -> None:
    probs = pred[0]                                                              # [T, C]
    for c in range(probs.size(-1)):
        ax.plot(probs[:, c], label=f"class {c}")
    ax.set_xlabel("step")
    ax.set_ylabel("probability")
    ax.set_title(f"{name}: class probabilities of node 0 (true label {int(y[0, -1])})")


def _trajectories(ax, name: str, x, y, pred, pos: Tuple[int, int]) -> None:
    a, b = pos
    for i in range(x.size(0)):
        c = f"C{i % 10}"
        ax.plot(x[i, :, a], x[i, :, b], color=c, alpha=0.3, lw=1)
        ax.plot(y[i, :, a], y[i, :, b], color=c, lw=2, label="true" if i == 0 else None)
        ax.plot(pred[i, :, a], pred[i, :, b], color=c, lw=2, ls="--", label="forecast" if i == 0 else None)
    ax.set_aspect("equal")
    ax.set_title(f"{name}: observed (faint), true (solid), forecast (dashed)")


def _curves(ax, name: str, x, y, pred) -> None:
    T, n = x.size(1), min(x.size(0), 6)
    for i in range(n):
        c = f"C{i}"
        ax.plot(range(T), x[i, :, 0], color=c, alpha=0.4)
        ax.plot(range(T, T + y.size(1)), y[i, :, 0], color=c, label="true" if i == 0 else None)
        ax.plot(range(T, T + pred.size(1)), pred[i, :, 0], color=c, ls="--",
                label="forecast" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_title(f"{name}: feature 0 of the first {n} nodes")


def plot_forecast(out: Dict[str, Any], name: str, classification: bool, path: Path,
                  pos: Optional[Tuple[int, int]] = None) -> bool:
    """Draw the first window of ``out`` (the forecast file's dict) to ``path``
    (PNG, written atomically); False when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return False
    from ..engine import atomic_write

    ptr = out["ptr"]
    n = int(ptr[1] - ptr[0])                                                     # the first window
    x = out.get("x_data_units", out["x"])[:n]
    y = out.get("y_data_units", out["y"])[:n]
    pred = out.get("pred_data_units", out["pred"])[:n]
    fig, ax = plt.subplots(figsize=(7, 5))
    if classification:
        _classes(ax, name, pred, y)
    elif pos is not None and x.size(-1) > max(pos):
        _trajectories(ax, name, x, y, pred, pos)
    else:
        _curves(ax, name, x, y, pred)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
    return True
