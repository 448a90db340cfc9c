"""The picture of ``srnn-pyg forecast``: the first window's forecast against
the truth (trajectories in the plane for data with position channels, curves
over time otherwise, class probabilities for classification), with labelled
axes and units, named nodes and a legend for the line styles."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ["plot_forecast", "position_channels", "plot_labels", "value_units"]

# What one step and one value of each dataset are; others: steps and data units.
_STEP = {"los_loop": (5.0, "minutes"), "cmu_mocap": (40.0, "ms"), "h36m": (40.0, "ms"),
         "eth_ucy": (0.4, "s")}
_UNITS = {"los_loop": "speed (mph)", "cmu_mocap": "exponential map (rad)", "h36m": "exponential map (rad)",
          "eth_ucy": "m", "springs": "simulation units"}
_MAX_CURVES = 6                                   # nodes drawn as curves over time


def position_channels(dataset) -> Optional[Tuple[int, int]]:
    """The two feature channels holding a position in the plane, where the
    dataset declares them (``position_channels`` attribute or default)."""
    pos = getattr(dataset, "position_channels", None)
    if pos is None:
        pos = (getattr(type(dataset), "defaults", None) or {}).get("position_channels")
    if pos is None or len(pos) != 2:
        return None
    return int(pos[0]), int(pos[1])


def plot_labels(dataset) -> Dict[str, Any]:
    """The names a picture of ``dataset`` can show, as keywords of
    :func:`plot_forecast`: ``node_names`` (a motion dataset's ``node_names``,
    or ``"sensor <id>"`` from a sensor graph's ``sensor_ids``), ``type_names``
    (the schema's node types) and ``class_names`` (a classification
    dataset's ``actions``)."""
    out: Dict[str, Any] = {}
    schema = getattr(dataset, "schema", None)
    if schema is not None and getattr(schema, "node_types", None) is not None:
        out["type_names"] = [str(t) for t in schema.node_types]
    names = getattr(dataset, "node_names", None)
    sensors = getattr(dataset, "sensor_ids", None)
    if names is None and sensors is not None:
        names = [f"sensor {s}" for s in sensors]
    if names is not None:
        out["node_names"] = [str(n) for n in names]
    actions = getattr(dataset, "actions", None)
    if actions is not None and not callable(actions):
        out["class_names"] = [str(a) for a in actions]
    return out


def value_units(name: str, data_units: bool) -> str:
    """The axis label of the values of dataset ``name``."""
    if not data_units:
        return "value (normalised units)"
    return _UNITS.get(name, "value (data units)")


def _node_label(i: int, names: Optional[Sequence[str]], types: Any, type_names: Optional[Sequence[str]]) -> str:
    if names is not None and i < len(names):
        return names[i]
    if types is None:
        return f"node {i}"
    t = int(types[i])
    return f"node {i} ({type_names[t] if type_names is not None and t < len(type_names) else f'type {t}'})"


def _style_handles(plt, observed: bool = True) -> List[Any]:
    """Black legend entries that explain the line styles."""
    out = [plt.Line2D([], [], color="black", lw=1, alpha=0.4, label="observed")] if observed else []
    return out + [plt.Line2D([], [], color="black", lw=2, label="truth"),
                  plt.Line2D([], [], color="black", lw=2, ls="--", label="forecast")]


def _classes(ax, plt, name: str, pred, y, class_names: Optional[Sequence[str]], node: str) -> None:
    probs = pred[0]                                                              # [T, C]
    for c in range(probs.size(-1)):
        label = class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"
        ax.plot(range(1, probs.size(0) + 1), probs[:, c], label=label)
    true_name = None
    if y.numel():
        truth = int(y[0, -1])
        true_name = class_names[truth] if class_names is not None and truth < len(class_names) else f"class {truth}"
    ax.set_xlabel("observed step")
    ax.set_ylabel("predicted probability")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{name}: class probabilities of {node}" + (f" (true: {true_name})" if true_name else ""))
    ax.legend(title="class", fontsize=8)


def _trajectories(ax, plt, name: str, x, y, pred, pos: Tuple[int, int], units: str, labels: List[str]) -> None:
    a, b = pos
    nodes = []
    for i in range(x.size(0)):
        c = f"C{i % 10}"
        ax.plot(x[i, :, a], x[i, :, b], color=c, alpha=0.4, lw=1)
        ax.plot(y[i, :, a], y[i, :, b], color=c, lw=2)
        ax.plot(pred[i, :, a], pred[i, :, b], color=c, lw=2, ls="--")
        nodes.append(plt.Line2D([], [], color=c, lw=2, label=labels[i]))
    unit = units.split("(")[-1].rstrip(")") if "(" in units else units
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"y ({unit})")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(f"{name}: trajectories of the first window")
    first = ax.legend(handles=_style_handles(plt), loc="upper left", fontsize=8, title="line style")
    ax.add_artist(first)
    ax.legend(handles=nodes[:10], loc="lower right", fontsize=7, title="node")


def _curves(ax, plt, name: str, x, y, pred, units: str, labels: List[str], step: Tuple[float, str]) -> None:
    T, n = x.size(1), min(x.size(0), _MAX_CURVES)
    dt, unit = step
    past = [dt * t for t in range(-T + 1, 1)]
    future = [dt * t for t in range(1, max(y.size(1), pred.size(1)) + 1)]
    nodes = []
    for i in range(n):
        c = f"C{i}"
        ax.plot(past, x[i, :, 0], color=c, alpha=0.4, lw=1)
        ax.plot(future[:y.size(1)], y[i, :, 0], color=c, lw=2)
        ax.plot(future[:pred.size(1)], pred[i, :, 0], color=c, lw=2, ls="--")
        nodes.append(plt.Line2D([], [], color=c, lw=2, label=labels[i]))
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel(f"{unit} after the last observed step")
    ax.set_ylabel(units + ("" if x.size(-1) == 1 else ", feature 0"))
    ax.set_title(f"{name}: the first window, {n} of its {x.size(0)} nodes")
    first = ax.legend(handles=_style_handles(plt), loc="upper left", fontsize=8, title="line style")
    ax.add_artist(first)
    ax.legend(handles=nodes, loc="lower left", fontsize=7, title="node")


def plot_forecast(out: Dict[str, Any], name: str, classification: bool, path: Path,
                  pos: Optional[Tuple[int, int]] = None, node_names: Optional[Sequence[str]] = None,
                  class_names: Optional[Sequence[str]] = None, type_names: Optional[Sequence[str]] = None) -> bool:
    """Draw the first window of ``out`` (the forecast file's dict) to ``path``
    (PNG, written atomically; its folder is created); False when matplotlib
    is not installed. ``node_names``, ``type_names`` and ``class_names`` (see
    :func:`plot_labels`) name the nodes and classes in the legend."""
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
    data_units = "pred_data_units" in out
    x = out.get("x_data_units", out["x"])[:n]
    pred = out.get("pred_data_units", out["pred"])[:n]
    y = out.get("y_data_units", out.get("y"))
    # windows forecast without their truth (forecast --input): an empty truth, no curve
    y = y[:n] if y is not None else pred.new_zeros((n, 0) if classification else (n, 0, pred.size(-1)))
    types = out.get("node_type")
    labels = [_node_label(i, node_names, types, type_names) for i in range(n)]
    units = value_units(name, data_units)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    if classification:
        _classes(ax, plt, name, pred, y, class_names, labels[0])
    elif pos is not None and x.size(-1) > max(pos):
        _trajectories(ax, plt, name, x, y, pred, pos, units, labels)
    else:
        _curves(ax, plt, name, x, y, pred, units, labels, _STEP.get(name, (1.0, "steps")))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(buf.getvalue()))
    return True
