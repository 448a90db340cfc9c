"""The numbers of an ``accuracy.py`` run over seeds: mean and standard deviation
per model and metric (:func:`aggregate`), their Markdown cells and tables
(:func:`cell`, :func:`stat_table`), the machine-readable results
(:func:`results_json`) and the "where we lose" lines computed from them
(:func:`lose_lines`). Pure functions of plain dictionaries: no torch, no data."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from common import markdown_table

Scores = Dict[str, float]
#: the model whose wins and losses the tables are about, and its ablation without edgeRNNs
SUBJECT, ABLATION = "srnn", "srnn_spatial_false"


@dataclass(frozen=True)
class Stat:
    """One metric of one model over its runs (seeds): the mean, the sample
    standard deviation (``n - 1`` in the denominator; 0 for a single run) and
    the number of runs with a finite value."""

    mean: float
    std: float
    n: int


def _finite(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def aggregate(runs: Sequence[Mapping[str, float]]) -> Dict[str, Stat]:
    """``{metric: Stat}`` over ``runs`` (one ``{metric: value}`` per seed),
    metrics in order of first appearance; a metric with no finite value in
    any run is ``Stat(nan, nan, 0)``."""
    keys: Dict[str, None] = {}
    for r in runs:
        keys.update(dict.fromkeys(r))
    out = {}
    for k in keys:
        vals = [float(r[k]) for r in runs if k in r and _finite(r[k])]
        if not vals:
            out[k] = Stat(math.nan, math.nan, 0)
            continue
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        out[k] = Stat(sum(vals) / len(vals), std, len(vals))
    return out


def cell(stat: Optional[Stat], digits: int = 3, suffix: str = "") -> str:
    """``mean ± std`` (just the mean for a single run; ``nan`` for none)."""
    if stat is None or stat.n == 0 or not _finite(stat.mean):
        return "nan"
    text = f"{stat.mean:.{digits}f}{suffix}"
    return text + (f" ± {stat.std:.{digits}f}" if stat.n > 1 else "")


def stat_table(agg: Mapping[str, Mapping[str, Stat]], columns: Optional[Sequence[str]] = None, digits: int = 3,
               header: Callable[[str], str] = lambda c: c, suffix: Callable[[str], str] = lambda c: "",
               first: str = "model") -> str:
    """``{row: {column: Stat}}`` as a Markdown table (columns: the first
    row's keys unless given)."""
    cols = list(columns if columns is not None else next(iter(agg.values())))
    rows = [[label] + [cell(s.get(c), digits, suffix(c)) for c in cols] for label, s in agg.items()]
    return markdown_table([first] + [header(c) for c in cols], rows)


def _num(v: float) -> Optional[float]:
    return float(v) if _finite(v) else None                                 # JSON has no NaN


def results_json(dataset: str, mode: str, seeds: Sequence[int], agg: Mapping[str, Mapping[str, Stat]],
                 keys: Mapping[str, str], lower_is_better: Callable[[str], Optional[bool]],
                 train_seconds: Mapping[str, float]) -> Dict[str, Any]:
    """The machine-readable results of one table (issue 12's format):
    ``{"dataset", "mode", "seeds", "lower_is_better", "models"}``, ``models``
    keyed by the model key of each table row (``keys[label]``), one mean per
    metric; extra keys ``"std"`` (same layout), ``"runs"`` (seeds behind each
    model: 1 for untrained baselines; ``"metric_runs"`` the same per
    metric, the runs with a finite value), ``"train_seconds"`` (per seed, all
    groups), ``"labels"`` (the table's row names) and ``"seed_values"``.
    Metrics for which ``lower_is_better`` is :obj:`None` (e.g. a chosen
    threshold) are left out."""
    lower: Dict[str, bool] = {}
    models: Dict[str, Dict[str, Optional[float]]] = {}
    std: Dict[str, Dict[str, Optional[float]]] = {}
    runs: Dict[str, int] = {}
    metric_runs: Dict[str, Dict[str, int]] = {}
    for label, stats in agg.items():
        key = keys[label]
        if key in models:
            raise ValueError(f"two table rows share the model key {key!r}")
        metrics = {k: s for k, s in stats.items() if lower_is_better(k) is not None}
        lower.update({k: bool(lower_is_better(k)) for k in metrics})
        models[key] = {k: _num(s.mean) for k, s in metrics.items()}
        std[key] = {k: _num(s.std) for k, s in metrics.items()}
        runs[key] = max([s.n for s in metrics.values()] or [0])
        metric_runs[key] = {k: s.n for k, s in metrics.items()}
    return {"dataset": dataset, "mode": mode, "seeds": len(seeds), "lower_is_better": lower, "models": models,
            "std": std, "runs": runs, "metric_runs": metric_runs, "seed_values": list(seeds),
            "train_seconds": {keys[label]: round(float(s), 3) for label, s in train_seconds.items()},
            "labels": {keys[label]: label for label in agg}}


def _better(a: float, b: float, lower: bool) -> bool:
    """``a`` at least as good as ``b`` (a tie counts against the subject)."""
    return a <= b if lower else a >= b


def lose_lines(result: Mapping[str, Any], digits: int = 3, subject: str = SUBJECT,
               ablation: str = ABLATION) -> List[str]:
    """Computed from :func:`results_json`'s means: every metric where
    ``subject`` (``srnn``) is not the single best model (with the best other
    model and both values), then every metric where ``ablation``
    (``srnn_spatial_false``) is at least as good as ``subject``."""
    models, lower, labels = result["models"], result["lower_is_better"], result.get("labels", {})
    mine = models.get(subject)
    if mine is None:
        return [f"- `{subject}` was not run."]
    name = lambda k: f"{labels.get(k, k)} (`{k}`)"  # noqa: E731
    lost, same = [], []
    for metric, v in mine.items():
        if v is None:
            continue
        others = [(k, m[metric]) for k, m in models.items() if k != subject and m.get(metric) is not None]
        rivals = [(k, w) for k, w in others if _better(w, v, lower[metric])]
        if rivals:
            best = min(rivals, key=lambda kw: kw[1] if lower[metric] else -kw[1])
            lost.append(f"- `{metric}`: {v:.{digits}f} vs {best[1]:.{digits}f}, {name(best[0])}"
                        + (f" and {len(rivals) - 1} more" if len(rivals) > 1 else ""))
        w = models.get(ablation, {}).get(metric)
        if w is not None and _better(w, v, lower[metric]):
            same.append(f"`{metric}` ({w:.{digits}f} vs {v:.{digits}f})")
    out = [f"`{subject}` ({labels.get(subject, subject)}) is not the best on:", ""]
    out += lost or ["- none: it is the best on every metric"]
    why = " (the graph does not help)" if ablation == ABLATION else ""
    out += ["", f"`{ablation}` is at least as good as `{subject}`{why} on:", ""]
    if ablation not in models:
        out.append(f"- `{ablation}` was not run")
    else:
        out.append("- " + ("; ".join(same) if same else "none: the structure helps on every metric"))
    return out


def protocol_table(entries: Dict[str, Dict[str, Dict[str, Any]]], digits: int = 4) -> Optional[str]:
    """``{model label: {key: {"mean", "std"}}}`` (the protocol's validation scores) as a table, or :obj:`None`."""
    keys = list(dict.fromkeys(k for per in entries.values() for k in per))
    if not keys:
        return None

    def fmt(v):
        if v is None:
            return "-"
        spread = f" ± {v['std']:.{digits}f}" if v.get("std") is not None else ""
        return f"{v['mean']:.{digits}f}{spread}"
    return markdown_table(["model"] + keys, [[label] + [fmt(per.get(k)) for k in keys]
                                             for label, per in entries.items() if per])
