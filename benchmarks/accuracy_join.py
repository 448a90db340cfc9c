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

The parts must share the dataset, the mode, the seed values and what they
were made with: the settings accuracy.py records in its results (the mode's
settings after ``--epochs``/``--set``, the data seed, device, scenes or folds,
the library's version), or, for results written before it recorded them, the
settings line and the command (less ``--rows``, ``--threads`` and ``--out``)
of the Markdown report beside each part. A model present in several parts
(an untrained or closed-form baseline run beside each) must have the same
means in each. Anything else is refused with the file and the mismatch
named; so is an ``--out`` that would replace a part or a file that is not an
earlier join's output (``--force`` replaces the latter).

``--merge-seeds`` joins the other way: runs of the same rows and settings
with other training seeds (``accuracy.py --first-seed``), for instance one
process per seed side by side. Each model's mean and sample standard
deviation are recomputed over all the runs from each part's mean, standard
deviation and run count (exactly, as if one run had trained every seed); a
model with the same means in every part (an untrained or closed-form
baseline) counts once. The seeds of the parts must not overlap.

    python benchmarks/accuracy_join.py accuracy_cmu_mocap_s0.json accuracy_cmu_mocap_s1.json \
        accuracy_cmu_mocap_s2.json --merge-seeds --out benchmarks/results/accuracy_cmu_mocap_seeds.md
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import shlex
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from accuracy_results import ABLATION, SUBJECT, Stat, cell, lose_lines, protocol_table  # noqa: E402
from common import command, markdown_table, write_atomic  # noqa: E402

REQUIRED = ("dataset", "mode", "seeds", "lower_is_better", "models")
#: settings that accuracy.py came to record later (accuracy_lib.COMMON), with the value that runs made before
#: them had: such a run's recorded settings are read with these filled in, so it joins runs made after
LATER_SETTINGS = {"refit": False, "former_scoring": False, "val_as_test": False}
#: the headings of accuracy.py's sections carried into the joined report from the first part's:
#: the protocol and the published figures (the same in every part of one benchmark)
PROTOCOL = "## Protocol"
PUBLISHED = "## Published figures"


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
    if not isinstance(part.get("deterministic", []), list):
        raise ValueError(f"results file {path!r}: 'deterministic' must be a list of model keys, got "
                         f"{type(part['deterministic']).__name__}")
    for key in ("lower_is_better", "models", "std", "runs", "metric_runs", "labels", "validation", "train_seconds"):
        value = part.get(key, {})
        if not isinstance(value, dict):
            raise ValueError(f"results file {path!r}: '{key}' must be an object, got {type(value).__name__}")
    for key in ("models", "std"):
        for model, means in part.get(key, {}).items():
            if not isinstance(means, dict) or not all(v is None or isinstance(v, (int, float))
                                                      for v in means.values()):
                raise ValueError(f"results file {path!r}: '{key}'['{model}'] must map metrics to numbers, got "
                                 f"{means!r:.80}")
    unknown = sorted({m for means in part["models"].values() for m in means} - set(part["lower_is_better"]))
    if unknown:
        raise ValueError(f"results file {path!r}: metrics {unknown} have no 'lower_is_better' entry")
    return part


#: options of accuracy.py that only choose the rows, the training seeds (compared through the results'
#: seed values) or the machine's threads: parts may differ in them
FREE_OPTIONS = {"--rows": "many", "--threads": 1, "--out": 1, "--seeds": 1, "--first-seed": 1}


def _words(cmd: str) -> List[str]:
    """A part's command line without the options parts may differ in, as
    its options with their values, sorted (their order does not matter)."""
    words, out, i = shlex.split(cmd), [], 0
    while i < len(words):
        word = words[i]
        option = word.split("=", 1)[0]
        i += 1
        if option not in FREE_OPTIONS:
            out.append(word)
        elif FREE_OPTIONS[option] == "many":                # --rows a b c, --rows=a b c
            while i < len(words) and not words[i].startswith("--"):
                i += 1
        elif "=" not in word:
            i += FREE_OPTIONS[option]
    groups: List[str] = []                                  # "--option values", in any order
    for word in out:
        if word.startswith("--") or not groups:
            groups.append(word)
        else:
            groups[-1] += " " + word
    return sorted(groups)


def _md_line(json_path: str, prefix: str) -> Optional[str]:
    """The line starting with ``prefix`` of the Markdown twin beside a part, without it."""
    md = os.path.splitext(json_path)[0] + ".md"
    try:
        with open(md) as f:
            for line in f:
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
    except OSError:
        pass
    return None


def made_with(part: Mapping[str, Any], path: str) -> Dict[str, Any]:
    """What a part was made with, for the join to compare: its ``"settings"``
    (written by accuracy.py since it records them) and, where its Markdown
    report is beside it, the report's settings line and command (less rows,
    threads and output folder); empty when neither is there."""
    out: Dict[str, Any] = {}
    if "settings" in part:
        recorded = part["settings"]
        if isinstance(recorded, Mapping) and isinstance(recorded.get("settings"), Mapping):
            missing = {k: v for k, v in LATER_SETTINGS.items() if k not in recorded["settings"]}
            recorded = {**recorded, "settings": {**recorded["settings"], **missing}}
        out["settings"] = recorded
    settings, cmd = _md_line(path, "Settings of this mode: "), _md_line(path, "Command: ")
    if settings is not None and cmd is not None:
        out.update({"settings line": settings.split(";")[0], "command": _words(cmd.strip("`"))})
    return out


def _same(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _check_parts(parts: Sequence[Mapping[str, Any]], names: Sequence[str], keys: Sequence[str], check: bool,
                 why: str) -> None:
    """Refuse fewer than two parts, parts that differ in ``keys`` and (with
    ``check``) parts made with other settings (:func:`made_with`)."""
    if len(parts) < 2:
        raise ValueError(f"parts: expected at least 2 results files to join, got {len(parts)}")
    first, first_name = parts[0], names[0]
    for key in keys:
        for part, name in zip(parts[1:], names[1:]):
            if part.get(key) != first.get(key):
                raise ValueError(f"{name}: {key} is {part.get(key)!r}, expected {first.get(key)!r} as in "
                                 f"{first_name} ({why})")
    if not check:
        return
    made = [made_with(part, name) for part, name in zip(parts, names)]
    # compare what every part has: the recorded settings, or (older parts) their reports' lines
    shared = set.intersection(*(set(m) for m in made))
    if not shared:
        name = next((n for m, n in zip(made, names) if not m), names[-1])
        raise ValueError(f"{name}: cannot tell what the run was made with beside the other parts (no "
                         f"'settings' in every part's results, and no Markdown report beside each with its "
                         f"settings and command); pass --unchecked to join it anyway")
    for m, name in zip(made[1:], names[1:]):
        key = next((k for k in sorted(shared) if m[k] != made[0][k]), None)
        if key is not None:
            raise ValueError(f"{name}: made with other settings than {first_name}: {key} is {m[key]!r}, "
                             f"expected {made[0][key]!r} (only runs of the same settings can be joined)")


def join(parts: Sequence[Mapping[str, Any]], names: Sequence[str], check: bool = True) -> Dict[str, Any]:
    """The results of ``parts`` (named ``names`` in errors and in
    ``"joined_from"``) as one results object of :func:`results_json`'s format;
    ``check``: refuse parts made with other settings (:func:`made_with`)."""
    _check_parts(parts, names, ("dataset", "mode", "seeds", "seed_values"), check,
                 "only runs of one dataset, mode and seeds can be joined")
    first = parts[0]
    out: Dict[str, Any] = {"dataset": first["dataset"], "mode": first["mode"], "seeds": first["seeds"],
                           "lower_is_better": {}, "models": {}, "std": {}, "runs": {}, "metric_runs": {},
                           "seed_values": first.get("seed_values"), "train_seconds": {}, "labels": {},
                           "validation": {}, "joined_from": [os.path.basename(n) for n in names]}
    if "settings" in first:
        out["settings"] = first["settings"]
    source: Dict[str, str] = {}
    said: Dict[str, str] = {}
    for part, name in zip(parts, names):
        for metric, lower in part["lower_is_better"].items():
            if out["lower_is_better"].setdefault(metric, lower) != lower:
                raise ValueError(f"{name}: metric {metric!r} has lower_is_better={lower}, "
                                 f"expected {not lower} as in {said[metric]}")
            said.setdefault(metric, name)
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
            if key in part.get("deterministic", ()):
                out.setdefault("deterministic", []).append(key)
            for field in ("std", "runs", "metric_runs", "train_seconds", "labels", "validation"):
                if key in part.get(field, {}):
                    out[field][key] = part[field][key]
    first_keys = [k for k in (SUBJECT, ABLATION) if k in out["models"]]
    order = first_keys + [k for k in out["models"] if k not in first_keys]
    for field in ("models", "std", "runs", "metric_runs", "train_seconds", "labels", "validation"):
        out[field] = {k: out[field][k] for k in order if k in out[field]}
    return out


def pooled(stats: Sequence[tuple]) -> tuple:
    """``(mean, sample std, n)`` of the union of groups given as ``(mean,
    std, n)`` each (std with ``n - 1`` in the denominator, any value for
    ``n == 1``; groups whose mean is :obj:`None` left out): exact, from the
    groups' sums of squares. ``(None, None, 0)`` when no group has a value."""
    groups = [(float(m), 0.0 if s is None or n < 2 else float(s), int(n)) for m, s, n in stats
              if m is not None and n > 0]
    total = sum(n for _, _, n in groups)
    if not total:
        return None, None, 0
    mean = sum(m * n for m, _, n in groups) / total
    squares = sum((n - 1) * s * s + n * (m - mean) ** 2 for m, s, n in groups)
    return mean, (math.sqrt(squares / (total - 1)) if total > 1 else 0.0), total


def _pool_validation(entries: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """One model's validation entries of several seed parts, pooled."""
    out = dict(entries[0])
    out["mean"], out["std"], out["runs"] = pooled([(e.get("mean"), e.get("std"), e.get("runs", 1))
                                                   for e in entries])
    protocols = [e["protocol"] for e in entries if isinstance(e.get("protocol"), dict)]
    if protocols:
        out["protocol"] = {}
        for metric in dict.fromkeys(m for p in protocols for m in p):
            m, sd, n = pooled([(e["protocol"][metric].get("mean"), e["protocol"][metric].get("std"),
                                e["protocol"][metric].get("runs", 1))
                               for e in entries if metric in (e.get("protocol") or {})])
            out["protocol"][metric] = {"mean": m, "std": sd, "runs": n}
    return out


def _deterministic(parts: Sequence[Mapping[str, Any]], names: Sequence[str], key: str) -> bool:
    """Whether ``key`` ran once per part (untrained or closed form): as the
    parts record it (``"deterministic"``, accuracy.py since it records it;
    then its results must agree across the parts), else (older parts) when
    its means agree to float32 rounding in every part."""
    first = parts[0]["models"][key]
    same = all(set(p["models"][key]) == set(first) and
               all(_close(p["models"][key][m], first[m]) for m in first) for p in parts[1:])
    if not all("deterministic" in p for p in parts):
        return same
    marked = [key in p["deterministic"] for p in parts]
    if any(marked) != all(marked):
        name = names[marked.index(not marked[0])]
        raise ValueError(f"{name}: model {key!r} is {'' if marked[0] else 'not '}run once (untrained or closed "
                         f"form) in {names[0]} and the other way here")
    if marked[0] and not same:
        name = next(n for p, n in zip(parts[1:], names[1:]) if p["models"][key] != first)
        raise ValueError(f"{name}: model {key!r} runs once (untrained or closed form) but its results differ from "
                         f"{names[0]}'s: the runs did not score the same data")
    return marked[0]


def _close(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)


def merge_seeds(parts: Sequence[Mapping[str, Any]], names: Sequence[str], check: bool = True) -> Dict[str, Any]:
    """The results of runs of the same rows and settings on disjoint
    training seeds (``accuracy.py --first-seed``) as one results object:
    each model's means and sample standard deviations pooled over every
    run, metric by metric (:func:`pooled`, with each part's runs of that
    metric: ``"metric_runs"``, else its model's ``"runs"``); a model that
    runs once (:func:`_deterministic`) kept once. Refused: parts without
    seed values, overlapping seeds, other datasets, modes or settings
    (``check``), a model missing from a part, a metric in other directions."""
    _check_parts(parts, names, ("dataset", "mode"), check,
                 "only runs of one dataset and mode can have their seeds merged")
    seen: Dict[int, str] = {}
    for part, name in zip(parts, names):
        if not part.get("seed_values"):
            raise ValueError(f"{name}: no 'seed_values': cannot tell which training seeds it ran")
        for seed in part["seed_values"]:
            if seed in seen:
                raise ValueError(f"{name}: seed {seed} was also run in {seen[seed]}; --merge-seeds needs runs "
                                 f"of other training seeds (accuracy.py --first-seed)")
            seen[seed] = name
    first = parts[0]
    lower: Dict[str, bool] = {}
    for part, name in zip(parts, names):
        if set(part["models"]) != set(first["models"]):
            raise ValueError(f"{name}: models {sorted(part['models'])}, expected {sorted(first['models'])} as in "
                             f"{names[0]} (--merge-seeds merges runs of the same rows)")
        for metric, low in part["lower_is_better"].items():
            if lower.setdefault(metric, low) != low:
                raise ValueError(f"{name}: metric {metric!r} has lower_is_better={low}, expected {not low} as in "
                                 f"an earlier part")
    out: Dict[str, Any] = {"dataset": first["dataset"], "mode": first["mode"], "seeds": len(seen),
                           "lower_is_better": lower, "models": {}, "std": {}, "runs": {}, "metric_runs": {},
                           "seed_values": sorted(seen), "train_seconds": {}, "labels": dict(first.get("labels", {})),
                           "validation": {}, "deterministic": [], "joined_from": [os.path.basename(n) for n in names],
                           "merged_seeds": True}
    if "settings" in first:
        out["settings"] = first["settings"]
    for key, means in first["models"].items():
        if _deterministic(parts, names, key):
            out["models"][key] = dict(means)
            out["deterministic"].append(key)
            for field in ("std", "runs", "metric_runs", "train_seconds", "validation"):
                if key in first.get(field, {}):
                    out[field][key] = first[field][key]
            continue
        metrics = list(dict.fromkeys(m for part in parts for m in part["models"][key]))
        out["models"][key], out["std"][key], out["metric_runs"][key] = {}, {}, {}
        for metric in metrics:
            groups = []
            for part in parts:
                mean = part["models"][key].get(metric)
                n = part.get("metric_runs", {}).get(key, {}).get(metric, part.get("runs", {}).get(key, 1))
                groups.append((mean, part.get("std", {}).get(key, {}).get(metric), n if mean is not None else 0))
            m, sd, n = pooled(groups)
            out["models"][key][metric], out["std"][key][metric], out["metric_runs"][key][metric] = m, sd, n
        runs = [part.get("runs", {}).get(key, 1) for part in parts]
        out["runs"][key] = sum(runs)
        seconds = [(part["train_seconds"][key], r) for part, r in zip(parts, runs)
                   if key in part.get("train_seconds", {})]
        if seconds:
            out["train_seconds"][key] = round(sum(t * r for t, r in seconds) / sum(r for _, r in seconds), 3)
        entries = [part["validation"][key] for part in parts if key in part.get("validation", {})]
        if entries:
            out["validation"][key] = _pool_validation(entries)
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


def _shown(path: str) -> str:
    """A part's path as the command line shows it: relative to the working
    folder when inside it, else the file name (no machine path in a report)."""
    rel = os.path.relpath(os.path.abspath(path))
    return os.path.basename(path) if rel.startswith(os.pardir) else rel


def _command(paths: Sequence[str], out: str) -> str:
    """This run's command line, paths shown by :func:`_shown`, ``--out`` kept."""
    shown = {os.path.abspath(p): _shown(p) for p in paths}
    words = command().split(" ")
    words = [shown.get(os.path.abspath(w), w) if w.endswith(".json") else w for w in words]
    return " ".join(words + ["--out", _shown(out)])


def report(result: Mapping[str, Any], paths: Sequence[str], patterns: Sequence[str], digits: int,
           out: str = "joined.md", subject: str = SUBJECT, ablation: str = ABLATION) -> str:
    """The joined Markdown report; its "where we lose" list is ``subject``'s
    (default ``srnn``), against every other model, and ``ablation``'s
    (default ``srnn_spatial_false``) against ``subject``."""
    for flag, key, default in (("--subject", subject, SUBJECT), ("--ablation", ablation, ABLATION)):
        if key != default and key not in result["models"]:     # a default key not joined: said in the list
            raise ValueError(f"{flag}: expected one of the joined models {sorted(result['models'])}, got {key!r}")
    joined = "rows" if result.get("merged_seeds") else "seeds"
    checked = (f"the same dataset, mode, settings and {joined}, checked" if result.get("checked", True) else
               f"the same dataset, mode and {joined}; their settings were NOT checked (--unchecked)")
    if result.get("merged_seeds"):
        said = (f"the runs below trained the same rows of the same benchmark ({checked}) on other training "
                f"seeds in separate processes; each trained model's mean and standard deviation are pooled over "
                f"all of their runs, and a model with the same results in every run (untrained or closed form) "
                f"counts once")
    else:
        said = (f"the runs below trained different rows of the same benchmark ({checked}) in separate "
                f"processes")
    text = [f"# Accuracy: {result['dataset']}, {len(paths)} runs joined", "",
            f"Command: `{_command(paths, out)}`", "",
            f"Mode **{result['mode']}**, seeds {result.get('seed_values')}: {said}. Each part's Markdown report "
            f"beside its JSON file has the per-group tables, the training details and the machine:", ""]
    for path in paths:
        part_models = [k for k, v in result["models"].items() if k in load_part(path)["models"]]
        cmd = _md_line(path, "Command: ")
        cmd = cmd.strip("`") if cmd else None
        text.append(f"- `{os.path.basename(path)}` ({', '.join(f'`{k}`' for k in part_models)})"
                    + (f": `{cmd}`" if cmd else ""))
    first = f"(From `{os.path.basename(os.path.splitext(paths[0])[0])}.md`, the first part's report.)"
    protocol = _section(paths[0], PROTOCOL)
    if protocol:
        text += ["", protocol.rstrip(), "", first]
    text += ["", "## Results", "",
             "Mean ± sample standard deviation (n - 1) over the seeds (one run for untrained and closed-form "
             "rows); "
             "↓ lower is better, ↑ higher is better.", "", metric_table(result, patterns, digits), "",
             f"**Where we lose** (computed from the means of every joined model, on every metric of the results, "
             f"shown above or not: where `{subject}` is not the single best model, and where "
             + ("its ablation without edgeRNNs" if (subject, ablation) == (SUBJECT, ABLATION) else f"`{ablation}`")
             + f" is at least as good; values are `{subject}`'s vs the other's):", ""]
    text += lose_lines(result, digits, subject, ablation) + [""]
    if result.get("validation"):
        rows = [[f"{result['labels'].get(k, k)} (`{k}`)", v.get("metric"),
                 _cell(v.get("mean"), v.get("std"), v.get("runs", 1), max(digits, 4))]
                for k, v in result["validation"].items()]
        text += ["## Validation", "", "The validation score each trained row was kept on (mean ± sample standard "
                 "deviation over the runs, each seed of each group; no test data):", "",
                 markdown_table(["model", "metric", "score"], rows), ""]
        protocol = protocol_table({f"{result['labels'].get(k, k)} (`{k}`)": v.get("protocol", {})
                                   for k, v in result["validation"].items()}, max(digits, 4))
        if protocol is not None:
            text += ["The dataset's own protocol on the validation split, for the kept models (no test data):", "",
                     protocol, ""]
    if result.get("train_seconds"):
        rows = [[f"{result['labels'].get(k, k)} (`{k}`)", f"{s:.1f} s"] for k, s in result["train_seconds"].items()]
        text += ["## Training time per seed", "", markdown_table(["model", "time"], rows), ""]
    published = _section(paths[0], PUBLISHED)
    if published:
        text += [first, "", published]
    return "\n".join(text)


def _section(json_path: str, heading: str) -> Optional[str]:
    """The section under ``heading`` (a level-2 heading, matched at its
    start) of the Markdown report beside a part, or :obj:`None`."""
    md = os.path.splitext(json_path)[0] + ".md"
    try:
        with open(md) as f:
            text = f.read()
    except OSError:
        return None
    start = 0 if text.startswith(heading) else text.find("\n" + heading) + 1
    if start <= 0 and not text.startswith(heading):
        return None
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else len(text)].rstrip() + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("parts", nargs="+", help="results JSON files of accuracy.py (at least 2)")
    p.add_argument("--out", required=True, help="the joined Markdown file; its JSON twin goes beside it")
    p.add_argument("--metrics", nargs="+", default=["*"], metavar="PATTERN",
                   help="metrics shown in the table (shell patterns; default: all); the JSON keeps all")
    p.add_argument("--digits", type=int, default=3, help="decimals in the table (default 3)")
    p.add_argument("--subject", default=SUBJECT, metavar="KEY",
                   help=f"the model whose losses the 'where we lose' list names (default: {SUBJECT}); e.g. a "
                        f"candidate row of a join that has no {SUBJECT}")
    p.add_argument("--ablation", default=ABLATION, metavar="KEY",
                   help=f"the model compared with --subject cell by cell (default: {ABLATION})")
    p.add_argument("--force", action="store_true",
                   help="replace an existing --out (or its JSON twin) that is not an earlier join's output")
    p.add_argument("--merge-seeds", action="store_true",
                   help="the parts are runs of the same rows on other training seeds (accuracy.py --first-seed): "
                        "pool each model's runs instead of joining rows")
    p.add_argument("--unchecked", action="store_true",
                   help="join parts whose settings cannot be read (older results without a report beside them); "
                        "the report says so")
    args = p.parse_args(argv)
    if not args.out.endswith(".md"):
        p.error(f"--out: expected a Markdown file name ending in .md, got {args.out!r}")
    if args.digits < 0:
        p.error(f"--digits: expected a non-negative integer, got {args.digits}")
    return args


def _refusal(args, json_out: str) -> Optional[str]:
    """Why the output may not be written (a part, a duplicate part, a file
    that is not an earlier join's output), or :obj:`None`."""
    real = [os.path.realpath(p) for p in args.parts]
    dup = next((p for i, p in enumerate(args.parts) if real[i] in real[:i]), None)
    if dup is not None:
        return f"the part {dup!r} is given twice"
    targets = {os.path.realpath(args.out), os.path.realpath(json_out)}
    for p, r in zip(args.parts, real):
        if r in targets or os.path.realpath(os.path.splitext(p)[0] + ".md") in targets:
            return f"--out {args.out!r} would overwrite the part {p!r} or its report"
    if args.force:
        return None
    for target in (json_out, args.out):
        if os.path.exists(target):
            try:
                with open(json_out) as f:
                    earlier = "joined_from" in json.load(f)
            except (OSError, ValueError, TypeError):
                earlier = False
            if not earlier:
                return (f"--out {args.out!r}: {target!r} exists and is not an earlier join's output; "
                        f"pass --force to replace it")
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    json_out = os.path.splitext(args.out)[0] + ".json"
    refusal = _refusal(args, json_out)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        combine = merge_seeds if args.merge_seeds else join
        result = combine([load_part(p) for p in args.parts], args.parts, check=not args.unchecked)
        result["checked"] = not args.unchecked
        text = report(result, args.parts, args.metrics, args.digits, args.out, args.subject, args.ablation)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_atomic(json_out, json.dumps(result, indent=1) + "\n")
    write_atomic(args.out, text)
    print(f"wrote {args.out} and {json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
