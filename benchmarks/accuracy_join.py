"""Join the machine-readable results of several ``accuracy.py`` runs of one
dataset, mode and seeds into one table, and compute the "where we lose" list
over all of their models.

A run too long for one process is split by rows (``--rows``) into parts that
run side by side; each part's own "where we lose" list only sees its own rows,
so it can call ``srnn`` best when the rival that beats it ran in the other
part. This script reads the parts' JSON results and writes one Markdown table
(metric by model, mean ± std over the seeds) with the list computed over every
model, and its JSON twin in the same format as the parts (plus
``"joined_from"``). Each part's Markdown report keeps its protocol, per-group
tables and training details; the joined file names them.

    python benchmarks/accuracy_join.py benchmarks/results/accuracy_eth_ucy_a.json \\
        benchmarks/results/accuracy_eth_ucy_b.json --out benchmarks/results/accuracy_eth_ucy_joined.md

A model present in several parts (an untrained or closed-form baseline run
beside each part) must have the same means in each, and the parts must share
the dataset, the mode and the seed values; anything else is refused with the
file and the mismatch named.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from accuracy_results import ABLATION, SUBJECT, Stat, cell, lose_lines  # noqa: E402
from common import command, markdown_table, write_atomic  # noqa: E402

REQUIRED = ("dataset", "mode", "seeds", "lower_is_better", "models")


def load_part(path: str) -> Dict[str, Any]:
    """One part's JSON results, checked for the keys a join reads."""
    try:
        with open(path) as f:
            part = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"results file {path!r}: cannot be read as JSON ({e})") from None
    if not isinstance(part, dict):
        raise ValueError(f"results file {path!r}: expected a JSON object, got {type(part).__name__}")
    missing = [k for k in REQUIRED if k not in part]
    if missing:
        raise ValueError(f"results file {path!r}: expected the keys {list(REQUIRED)} of accuracy.py's results, "
                         f"missing {missing}")
    return part


def _same(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def join(parts: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Dict[str, Any]:
    """The results of ``parts`` (named ``names`` in errors and in
    ``"joined_from"``) as one results object of :func:`results_json`'s format."""
    if len(parts) < 2:
        raise ValueError(f"parts: expected at least 2 results files to join, got {len(parts)}")
    first, first_name = parts[0], names[0]
    for key in ("dataset", "mode", "seeds", "seed_values"):
        for part, name in zip(parts[1:], names[1:]):
            if part.get(key) != first.get(key):
                raise ValueError(f"{name}: {key} is {part.get(key)!r}, expected {first.get(key)!r} as in "
                                 f"{first_name} (only runs of one dataset, mode and seeds can be joined)")
    out: Dict[str, Any] = {"dataset": first["dataset"], "mode": first["mode"], "seeds": first["seeds"],
                           "lower_is_better": {}, "models": {}, "std": {}, "runs": {},
                           "seed_values": first.get("seed_values"), "train_seconds": {}, "labels": {},
                           "validation": {}, "joined_from": [os.path.basename(n) for n in names]}
    source: Dict[str, str] = {}
    for part, name in zip(parts, names):
        for metric, lower in part["lower_is_better"].items():
            if out["lower_is_better"].setdefault(metric, lower) != lower:
                raise ValueError(f"{name}: metric {metric!r} has lower_is_better={lower}, "
                                 f"expected {not lower} as in an earlier part")
        for key, means in part["models"].items():
            if key in out["models"]:
                old = out["models"][key]
                diff = [m for m in set(old) | set(means) if not _same(old.get(m), means.get(m))]
                if diff:
                    raise ValueError(f"{name}: model {key!r} is also in {source[key]} with other results "
                                     f"(e.g. {sorted(diff)[0]!r}: {means.get(sorted(diff)[0])} against "
                                     f"{old.get(sorted(diff)[0])}); a model may appear in several parts only "
                                     f"with the same results")
                continue
            source[key] = name
            out["models"][key] = dict(means)
            for field in ("std", "runs", "train_seconds", "labels", "validation"):
                if key in part.get(field, {}):
                    out[field][key] = part[field][key]
    first_keys = [k for k in (SUBJECT, ABLATION) if k in out["models"]]
    order = first_keys + [k for k in out["models"] if k not in first_keys]
    for field in ("models", "std", "runs", "train_seconds", "labels", "validation"):
        out[field] = {k: out[field][k] for k in order if k in out[field]}
    return out


def _cell(mean: Optional[float], std: Optional[float], runs: int, digits: int) -> str:
    """``mean ± std`` as in the parts' own tables; ``-`` where a model has no value."""
    if mean is None:
        return "-"
    return cell(Stat(mean, math.nan if std is None else std, runs), digits)


def metric_table(result: Mapping[str, Any], patterns: Sequence[str] = ("*",), digits: int = 3) -> str:
    """Metric by model: each cell the mean ± std over the seeds (a run's
    std is left out for deterministic rows); metrics chosen by ``patterns``
    (shell-style, e.g. ``ade_*``), in the order the results list them."""
    models, std, runs, labels = result["models"], result["std"], result["runs"], result["labels"]
    metrics: List[str] = []
    for means in models.values():
        metrics += [m for m in means if m not in metrics and any(fnmatch.fnmatchcase(m, p) for p in patterns)]
    if not metrics:
        raise ValueError(f"metrics: no metric of the results matches {list(patterns)}")
    arrow = {True: "↓", False: "↑"}
    rows = [[f"`{m}` {arrow[result['lower_is_better'][m]]}"]
            + [_cell(means.get(m), std.get(k, {}).get(m), runs.get(k, 1), digits) for k, means in models.items()]
            for m in metrics]
    return markdown_table(["metric"] + [f"{labels.get(k, k)} (`{k}`)" for k in models], rows)


def _command_of(json_path: str) -> Optional[str]:
    """The ``Command:`` line of the Markdown twin beside a part, if there is one."""
    md = os.path.splitext(json_path)[0] + ".md"
    try:
        with open(md) as f:
            for line in f:
                if line.startswith("Command: "):
                    return line[len("Command: "):].strip().strip("`")
    except OSError:
        pass
    return None


def _shown(path: str) -> str:
    """A part's path as the command line shows it: relative to the working
    folder when inside it, else the file name (no machine path in a report)."""
    rel = os.path.relpath(os.path.abspath(path))
    return os.path.basename(path) if rel.startswith(os.pardir) else rel


def _command(paths: Sequence[str]) -> str:
    shown = {os.path.abspath(p): _shown(p) for p in paths}
    words = command().split(" ")
    return " ".join(shown.get(os.path.abspath(w), w) if w.endswith(".json") else w for w in words)


def report(result: Mapping[str, Any], paths: Sequence[str], patterns: Sequence[str], digits: int) -> str:
    """The joined Markdown report."""
    text = [f"# Accuracy: {result['dataset']}, {len(paths)} runs joined", "",
            f"Command: `{_command(paths)}`", "",
            f"Mode **{result['mode']}**, seeds {result.get('seed_values')}: the runs below trained different "
            f"rows of the same benchmark (same dataset, mode, settings and seeds) in separate processes. Each "
            f"part's Markdown report beside its JSON file has the protocol, the per-group tables, the training "
            f"details and the machine:", ""]
    for path in paths:
        part_models = [k for k, v in result["models"].items() if k in load_part(path)["models"]]
        cmd = _command_of(path)
        text.append(f"- `{os.path.basename(path)}` ({', '.join(f'`{k}`' for k in part_models)})"
                    + (f": `{cmd}`" if cmd else ""))
    text += ["", "## Results", "",
             "Mean ± standard deviation over the seeds (one run for untrained and closed-form rows); "
             "↓ lower is better, ↑ higher is better.", "", metric_table(result, patterns, digits), "",
             "**Where we lose** (computed from the means of every joined model, on every metric of the results, shown "
             "above or not: where `srnn` is not the single "
             "best model, and where its ablation without edgeRNNs is at least as good; values are `srnn`'s vs the "
             "other's):", ""]
    text += lose_lines(result, digits) + [""]
    if result.get("validation"):
        rows = [[f"{result['labels'].get(k, k)} (`{k}`)", v.get("metric"),
                 _cell(v.get("mean"), v.get("std"), v.get("runs", 1), max(digits, 4))]
                for k, v in result["validation"].items()]
        text += ["## Validation", "", "The validation score each trained row was kept on (no test data):", "",
                 markdown_table(["model", "metric", "score"], rows), ""]
    if result.get("train_seconds"):
        rows = [[f"{result['labels'].get(k, k)} (`{k}`)", f"{s:.1f} s"] for k, s in result["train_seconds"].items()]
        text += ["## Training time per seed", "", markdown_table(["model", "time"], rows), ""]
    return "\n".join(text)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("parts", nargs="+", help="results JSON files of accuracy.py (at least 2)")
    p.add_argument("--out", required=True, help="the joined Markdown file; its JSON twin goes beside it")
    p.add_argument("--metrics", nargs="+", default=["*"], metavar="PATTERN",
                   help="metrics shown in the table (shell patterns; default: all); the JSON keeps all")
    p.add_argument("--digits", type=int, default=3, help="decimals in the table (default 3)")
    args = p.parse_args(argv)
    if not args.out.endswith(".md"):
        p.error(f"--out: expected a Markdown file name ending in .md, got {args.out!r}")
    if args.digits < 0:
        p.error(f"--digits: expected a non-negative integer, got {args.digits}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    json_out = os.path.splitext(args.out)[0] + ".json"
    targets = {os.path.abspath(args.out), os.path.abspath(json_out)}
    clash = [p for p in args.parts if os.path.abspath(p) in targets or
             os.path.abspath(os.path.splitext(p)[0] + ".md") in targets]
    if clash:
        print(f"error: --out {args.out!r} would overwrite the part {clash[0]!r} or its report", file=sys.stderr)
        return 2
    try:
        result = join([load_part(p) for p in args.parts], args.parts)
        text = report(result, args.parts, args.metrics, args.digits)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_atomic(json_out, json.dumps(result, indent=1) + "\n")
    write_atomic(args.out, text)
    print(f"wrote {args.out} and {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
