"""benchmarks/accuracy_join.py: joining the results of accuracy.py runs split by
rows gives one table whose "where we lose" list sees every model (a rival from
another part included), and refuses parts that cannot be joined."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "accuracy_join.py"
LOWER = {"mae@15": True, "mae@60": True, "f1": False}


def part(models, std=None, runs=None, mode="default", seeds=(0, 1, 2), labels=None, validation=None, epochs=40):
    std = std or {k: {m: 0.1 for m in v} for k, v in models.items()}
    runs = runs or {k: 3 for k in models}
    return {"dataset": "toy", "mode": mode, "seeds": len(seeds), "seed_values": list(seeds),
            "settings": {"settings": {"epochs": epochs, "hidden": 32}, "device": "cpu", "srnn_pyg": "0.2.0"},
            "lower_is_better": {m: LOWER[m] for v in models.values() for m in v}, "models": models,
            "std": std, "runs": runs, "train_seconds": {k: 1.5 for k in models},
            "labels": labels or {k: k.upper() for k in models}, "validation": validation or {}}


@pytest.fixture(scope="module")
def join_mod():
    import importlib.util

    bench = str(ROOT / "benchmarks")
    had = {m: m in sys.modules for m in ("common", "accuracy_results")}
    spec = importlib.util.spec_from_file_location("accuracy_join_t", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    finally:
        while bench in sys.path:
            sys.path.remove(bench)
        for m, present in had.items():
            if not present:
                sys.modules.pop(m, None)
    return mod


def write(tmp_path, name, obj, command=None):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    if command:
        path.with_suffix(".md").write_text(f"# x\n\nCommand: `{command}`\n")
    return str(path)


A = {"srnn": {"mae@15": 1.0, "mae@60": 2.0, "f1": 0.5}, "last": {"mae@15": 1.2, "mae@60": 2.5, "f1": 0.4}}
B = {"srnn_spatial_false": {"mae@15": 1.1, "mae@60": 1.9, "f1": 0.6},
     "last": {"mae@15": 1.2, "mae@60": 2.5, "f1": 0.4}, "gru": {"mae@15": 0.9, "mae@60": 2.2, "f1": 0.3}}


def test_join_sees_rivals_of_every_part(join_mod):
    joined = join_mod.join([part(A, validation={"srnn": {"metric": "val mae", "mean": 0.2, "std": 0.01,
                                                         "runs": 3}}), part(B)], ["a.json", "b.json"])
    assert list(joined["models"]) == ["srnn", "srnn_spatial_false", "last", "gru"]
    assert joined["models"]["gru"] == B["gru"] and joined["joined_from"] == ["a.json", "b.json"]
    assert joined["validation"]["srnn"]["mean"] == 0.2 and joined["runs"]["gru"] == 3
    lines = "\n".join(join_mod.lose_lines(joined))
    # each part alone would call srnn best on mae@15 (A) or not know srnn at all (B)
    assert "`mae@15`: 1.000 vs 0.900, GRU (`gru`)" in lines
    assert "`mae@60`: 2.000 vs 1.900, SRNN_SPATIAL_FALSE" in lines
    assert "`f1`: 0.500 vs 0.600" in lines
    assert "`mae@60` (1.900 vs 2.000)" in lines and "`mae@15` (" not in lines
    alone = "\n".join(join_mod.lose_lines(part(A)))
    assert "none: it is the best on every metric" in alone              # what the join corrects


def test_join_refuses_parts_that_disagree(join_mod):
    with pytest.raises(ValueError, match=r"b.json: model 'last' is also in a.json with other results"):
        join_mod.join([part(A), part({**B, "last": {"mae@15": 1.3, "mae@60": 2.5, "f1": 0.4}})],
                      ["a.json", "b.json"])
    with pytest.raises(ValueError, match=r"b.json: mode is 'quick', expected 'default'"):
        join_mod.join([part(A), part(B, mode="quick")], ["a.json", "b.json"])
    with pytest.raises(ValueError, match=r"seeds is 2, expected 3"):
        join_mod.join([part(A), part(B, seeds=(0, 1))], ["a.json", "b.json"])
    with pytest.raises(ValueError, match=r"seed_values is \[3, 4, 5\], expected \[0, 1, 2\]"):
        join_mod.join([part(A), part(B, seeds=(3, 4, 5))], ["a.json", "b.json"])
    with pytest.raises(ValueError, match=r"b.json: made with other settings than a.json: settings is "
                                         r"\{'settings': \{'epochs': 10, 'hidden': 32, "):
        join_mod.join([part(A), part(B, epochs=10)], ["a.json", "b.json"])
    assert join_mod.join([part(A), part(B, epochs=10)], ["a.json", "b.json"], check=False)["models"]["gru"]
    old = {k: v for k, v in part(B).items() if k != "settings"}
    with pytest.raises(ValueError, match="b.json: cannot tell what the run was made with"):
        join_mod.join([part(A), old], ["a.json", "b.json"])
    with pytest.raises(ValueError, match="at least 2 results files"):
        join_mod.join([part(A)], ["a.json"])
    flipped = part(B)
    flipped["lower_is_better"]["f1"] = True
    with pytest.raises(ValueError, match="metric 'f1' has lower_is_better=True, expected False as in a.json"):
        join_mod.join([part(A), flipped], ["a.json", "b.json"])


def test_metric_table_cells(join_mod):
    joined = join_mod.join([part(A, runs={"srnn": 3, "last": 1}), part(B, runs={"srnn_spatial_false": 3,
                                                                                   "last": 1, "gru": 3})],
                           ["a.json", "b.json"])
    table = join_mod.metric_table(joined, ["mae@*"], digits=2)
    lines = table.splitlines()
    assert lines[0].startswith("| metric | SRNN (`srnn`) | SRNN_SPATIAL_FALSE")
    assert lines[2] == "| `mae@15` ↓ | 1.00 ± 0.10 | 1.10 ± 0.10 | 1.20 | 0.90 ± 0.10 |"
    assert len(lines) == 4 and "f1" not in table
    assert "`f1` ↑" in join_mod.metric_table(joined)
    with pytest.raises(ValueError, match=r"metrics: no metric of the results matches \['rmse\*'\]"):
        join_mod.metric_table(joined, ["rmse*"])


def run(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_writes_report_and_twin(tmp_path):
    a = write(tmp_path, "accuracy_toy_a.json", part(A), command="python benchmarks/accuracy.py --rows srnn last")
    with open(Path(a).with_suffix(".md"), "a") as f:
        f.write("\n## Protocol\n\n- Toy protocol of part a.\n\n## Results by group\n\n| x |\n"
                "\n## Published figures (not re-run here)\n\n| source | mae@15 |\n|---|---|\n| Paper X | 0.7 |\n")
    b = write(tmp_path, "accuracy_toy_b.json", part(B), command="python benchmarks/accuracy.py --rows gru")
    with open(Path(b).with_suffix(".md"), "a") as f:
        f.write("\n## Protocol\n\n- Toy protocol of part b.\n")
    out = tmp_path / "res" / "accuracy_toy_joined.md"
    proc = run(a, b, "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "`accuracy_toy_a.json` (`srnn`, `last`): `python benchmarks/accuracy.py --rows srnn last`" in text
    assert "`accuracy_toy_b.json` (`srnn_spatial_false`, `last`, `gru`): `python benchmarks/accuracy.py --rows gru`" \
        in text
    assert "`mae@15`: 1.000 vs 0.900, GRU (`gru`)" in text
    assert text.rstrip().endswith("| Paper X | 0.7 |")                     # the published figures carried over
    assert "(From `accuracy_toy_a.md`, the first part's report.)" in text
    protocol = text.index("## Protocol\n\n- Toy protocol of part a.\n")   # the first part's protocol, once
    assert protocol < text.index("## Results") and text.count("## Protocol") == 1
    assert "Toy protocol of part b" not in text and "## Results by group" not in text
    assert str(tmp_path) not in text                                        # no machine path in the report
    assert "--out accuracy_toy_joined.md`" in text.splitlines()[2] or "--out res/accuracy_toy_joined.md`" in text
    twin = json.loads(out.with_suffix(".json").read_text())
    assert twin["joined_from"] == ["accuracy_toy_a.json", "accuracy_toy_b.json"]
    assert set(twin["models"]) == {"srnn", "srnn_spatial_false", "last", "gru"}


def test_cli_refusals_leave_files_alone(tmp_path):
    a = write(tmp_path, "a.json", part(A))
    b = write(tmp_path, "b.json", part(B))
    before = Path(a).read_text()
    proc = run(a, b, "--out", str(tmp_path / "a.md"), cwd=tmp_path)
    assert proc.returncode == 2 and "would overwrite the part" in proc.stderr
    assert Path(a).read_text() == before and not (tmp_path / "a.md").exists()
    proc = run(a, b, "--out", str(tmp_path / "j.txt"), cwd=tmp_path)
    assert proc.returncode == 2 and "--out: expected a Markdown file name ending in .md, got" in proc.stderr
    (tmp_path / "bad.json").write_text("[1, 2]")
    proc = run(a, str(tmp_path / "bad.json"), "--out", str(tmp_path / "j.md"), cwd=tmp_path)
    assert proc.returncode == 2 and "expected a JSON object, got list" in proc.stderr
    (tmp_path / "short.json").write_text(json.dumps({"dataset": "toy"}))
    proc = run(a, str(tmp_path / "short.json"), "--out", str(tmp_path / "j.md"), cwd=tmp_path)
    assert proc.returncode == 2 and "missing ['mode', 'seeds', 'lower_is_better', 'models']" in proc.stderr
    assert not (tmp_path / "j.md").exists() and not (tmp_path / "j.json").exists()
    proc = run(a, a, "--out", str(tmp_path / "j.md"), cwd=tmp_path)
    assert proc.returncode == 2 and "is given twice" in proc.stderr
    os.symlink(a, tmp_path / "link.json")
    proc = run(str(tmp_path / "link.json"), b, "--out", str(tmp_path / "a.md"), cwd=tmp_path)
    assert proc.returncode == 2 and "would overwrite the part" in proc.stderr and Path(a).read_text() == before
    mine = tmp_path / "mine.md"
    mine.write_text("a user's notes")
    proc = run(a, b, "--out", str(mine), cwd=tmp_path)
    assert proc.returncode == 2 and "exists and is not an earlier join's output; pass --force" in proc.stderr
    assert mine.read_text() == "a user's notes"
    assert run(a, b, "--out", str(tmp_path / "j.md"), cwd=tmp_path).returncode == 0
    assert run(a, b, "--out", str(tmp_path / "j.md"), cwd=tmp_path).returncode == 0     # an earlier join: replaced
    assert run(a, b, "--out", str(mine), "--force", cwd=tmp_path).returncode == 0


def old_part(tmp_path, name, models, command, settings="`patience=5, epochs=40, hidden=32`; trained rows ..."):
    """Results written before accuracy.py recorded its settings, with their report beside them."""
    obj = {k: v for k, v in part(models).items() if k != "settings"}
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    path.with_suffix(".md").write_text(f"# x\n\nCommand: `{command}`\n\nSettings of this mode: {settings}\n")
    return str(path)


def test_older_parts_are_compared_by_their_reports(join_mod, tmp_path):
    cmd = "python benchmarks/accuracy.py --dataset toy --seeds 3 --rows {} --threads 1"
    a = old_part(tmp_path, "a.json", A, cmd.format("srnn last"))
    b = old_part(tmp_path, "b.json", B, "python benchmarks/accuracy.py --rows=gru last --seeds 3 --dataset toy")
    assert set(join_mod.join([join_mod.load_part(p) for p in (a, b)], [a, b])["models"]) == {
        "srnn", "srnn_spatial_false", "last", "gru"}
    capped = old_part(tmp_path, "c.json", B, cmd.format("gru") + " --epochs 10")
    with pytest.raises(ValueError, match=r"c.json: made with other settings than .*a.json: command is "
                                         r"\['--dataset toy', '--epochs 10', 'python"):
        join_mod.join([join_mod.load_part(p) for p in (a, capped)], [a, capped])
    other = old_part(tmp_path, "d.json", B, cmd.format("gru"), settings="`patience=5, epochs=10, hidden=32`; x")
    with pytest.raises(ValueError, match=r"settings line is '`patience=5, epochs=10, hidden=32`'"):
        join_mod.join([join_mod.load_part(p) for p in (a, other)], [a, other])
    # a newer part (recorded settings) beside an older one: compared by what both have, their reports
    newer = write(tmp_path, "f.json", part(B), command=cmd.format("gru"))
    Path(newer).with_suffix(".md").write_text(f"Command: `{cmd.format('gru')}`\n\nSettings of this mode: "
                                              f"`patience=5, epochs=40, hidden=32`; trained rows ...\n")
    assert "gru" in join_mod.join([join_mod.load_part(p) for p in (a, newer)], [a, newer])["models"]
    Path(newer).with_suffix(".md").unlink()
    with pytest.raises(ValueError, match="f.json: cannot tell what the run was made with beside the other parts"):
        join_mod.join([join_mod.load_part(p) for p in (a, newer)], [a, newer])
    bare = write(tmp_path, "e.json", {k: v for k, v in part(B).items() if k != "settings"})
    with pytest.raises(ValueError, match="e.json: cannot tell what the run was made with .* pass --unchecked"):
        join_mod.join([join_mod.load_part(p) for p in (a, bare)], [a, bare])


def test_malformed_parts_are_refused(join_mod, tmp_path):
    for bad, msg in (({**part(A), "models": {"x": 1.0}}, r"'models'\['x'\] must map metrics to numbers"),
                     ({**part(A), "std": []}, "'std' must be an object, got list"),
                     ({**part(A), "lower_is_better": {"mae@15": True}},
                      r"metrics \['f1', 'mae@60'\] have no 'lower_is_better' entry")):
        with pytest.raises(ValueError, match=msg):
            join_mod.load_part(write(tmp_path, "bad.json", bad))


def test_where_we_lose_for_another_subject(join_mod, tmp_path):
    """--subject and --ablation name the models the list is about (a join of
    candidate rows has no ``srnn``); a key that was not joined is refused with
    the joined models named, and nothing is written."""
    cand = {"srnn_a": {"mae@15": 1.0, "mae@60": 2.0, "f1": 0.5}, "last": {"mae@15": 1.2, "mae@60": 2.5, "f1": 0.4}}
    other = {"srnn_b": {"mae@15": 0.9, "mae@60": 2.1, "f1": 0.5}, "last": {"mae@15": 1.2, "mae@60": 2.5, "f1": 0.4}}
    joined = join_mod.join([part(cand), part(other)], ["a.json", "b.json"])
    assert join_mod.lose_lines(joined) == ["- `srnn` was not run."]             # the defaults, as before
    lines = "\n".join(join_mod.lose_lines(joined, 3, "srnn_a", "srnn_b"))
    assert "`srnn_a` (SRNN_A) is not the best on:" in lines
    assert "`mae@15`: 1.000 vs 0.900, SRNN_B (`srnn_b`)" in lines and "`mae@60`:" not in lines
    assert "`f1`: 0.500 vs 0.500" in lines                                       # a tie counts against it
    assert "`srnn_b` is at least as good as `srnn_a` on:\n\n- `mae@15` (0.900 vs 1.000); `f1`" in lines
    assert "the graph does not help" not in lines
    a, b = write(tmp_path, "a.json", part(cand)), write(tmp_path, "b.json", part(other))
    out = tmp_path / "j.md"
    proc = run(a, b, "--out", str(out), "--subject", "srnn_a", "--ablation", "srnn_b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "where `srnn_a` is not the single best model, and where `srnn_b` is at least as good" in text
    assert "--subject srnn_a --ablation srnn_b" in text.splitlines()[2]          # the command says so
    proc = run(a, b, "--out", str(tmp_path / "k.md"), "--subject", "srnn_c", cwd=tmp_path)
    assert proc.returncode == 2 and "--subject: expected one of the joined models ['last', 'srnn_a', " \
        "'srnn_b'], got 'srnn_c'" in proc.stderr
    assert not (tmp_path / "k.md").exists() and not (tmp_path / "k.json").exists()


def test_pooled_equals_statistics_over_all_values(join_mod):
    import random
    import statistics

    rng = random.Random(3)
    for _ in range(50):
        sizes = [rng.randint(1, 4) for _ in range(rng.randint(1, 4))]
        groups = [[rng.gauss(1.0, 0.5) for _ in range(n)] for n in sizes]
        stats = [(statistics.mean(g), statistics.stdev(g) if len(g) > 1 else 0.0, len(g)) for g in groups]
        values = [v for g in groups for v in g]
        mean, std, n = join_mod.pooled(stats + [(None, None, 1)])
        assert n == len(values) and mean == pytest.approx(statistics.mean(values), abs=1e-12)
        assert std == pytest.approx(statistics.stdev(values) if len(values) > 1 else 0.0, abs=1e-12)
    assert join_mod.pooled([(None, None, 1)]) == (None, None, 0)


def seed_part(seed, srnn, val, epochs=40, last=None):
    models = {"srnn": {"mae@15": srnn, "mae@60": 2 * srnn}, "last": last or {"mae@15": 1.2, "mae@60": 2.5}}
    out = part(models, std={k: {m: 0.0 for m in v} for k, v in models.items()}, runs={"srnn": 1, "last": 1},
               seeds=(seed,), epochs=epochs,
               validation={"srnn": {"metric": "val mae", "mean": val, "std": None, "runs": 1,
                                    "protocol": {"mae@15": {"mean": val / 2, "std": None, "runs": 1}}}})
    out["train_seconds"] = {"srnn": 10.0 * (seed + 1), "last": 0.0}
    return out


def test_merge_seeds_pools_trained_rows_and_keeps_baselines_once(join_mod):
    import statistics

    parts = [seed_part(0, 1.0, 0.4), seed_part(1, 1.3, 0.5), seed_part(2, 0.7, 0.3)]
    merged = join_mod.merge_seeds(parts, ["s0.json", "s1.json", "s2.json"])
    assert merged["seed_values"] == [0, 1, 2] and merged["seeds"] == 3 and merged["merged_seeds"]
    assert merged["models"]["srnn"]["mae@15"] == pytest.approx(1.0)
    assert merged["std"]["srnn"]["mae@60"] == pytest.approx(statistics.stdev([2.0, 2.6, 1.4]))
    assert merged["runs"] == {"srnn": 3, "last": 1}
    assert merged["models"]["last"] == {"mae@15": 1.2, "mae@60": 2.5} and merged["std"]["last"]["mae@15"] == 0.0
    assert merged["train_seconds"]["srnn"] == pytest.approx(20.0)
    val = merged["validation"]["srnn"]
    assert val["mean"] == pytest.approx(0.4) and val["runs"] == 3 and val["metric"] == "val mae"
    assert val["std"] == pytest.approx(statistics.stdev([0.4, 0.5, 0.3]))
    assert val["protocol"]["mae@15"]["mean"] == pytest.approx(0.2) and val["protocol"]["mae@15"]["runs"] == 3
    # a merged file is a 3-seed part: it row-joins with another 3-seed part
    joined = join_mod.join([merged, part({"gru": {"mae@15": 0.9, "mae@60": 2.2}})], ["m.json", "g.json"])
    assert set(joined["models"]) == {"srnn", "last", "gru"} and joined["runs"]["srnn"] == 3


def test_merge_seeds_refusals(join_mod):
    names = ["s0.json", "s1.json"]
    with pytest.raises(ValueError, match=r"s1.json: seed 0 was also run in s0.json"):
        join_mod.merge_seeds([seed_part(0, 1.0, 0.4), seed_part(0, 1.1, 0.4)], names)
    with pytest.raises(ValueError, match=r"s1.json: made with other settings than s0.json"):
        join_mod.merge_seeds([seed_part(0, 1.0, 0.4), seed_part(1, 1.1, 0.4, epochs=10)], names)
    other = seed_part(1, 1.1, 0.4)
    other["models"]["gru"] = {"mae@15": 1.0, "mae@60": 2.0}
    with pytest.raises(ValueError, match=r"s1.json: models \['gru', 'last', 'srnn'\], expected \['last', 'srnn'\]"):
        join_mod.merge_seeds([seed_part(0, 1.0, 0.4), other], names)
    with pytest.raises(ValueError, match="mode is 'quick', expected 'default'"):
        quick = seed_part(1, 1.1, 0.4)
        quick["mode"] = "quick"
        join_mod.merge_seeds([seed_part(0, 1.0, 0.4), quick], names)


def test_cli_merge_seeds(tmp_path):
    paths = [write(tmp_path, f"s{i}.json", seed_part(i, 1.0 + 0.1 * i, 0.4),
                   command=f"python benchmarks/accuracy.py --rows srnn last --seeds 1 --first-seed {i}")
             for i in range(2)]
    out = tmp_path / "merged.md"
    proc = run(*paths, "--merge-seeds", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "seeds [0, 1]: the runs below trained the same rows" in text and "pooled" in text
    assert "1.050 ± 0.071" in text                       # mean ± sample std of 1.0 and 1.1
    twin = json.loads(out.with_suffix(".json").read_text())
    assert twin["runs"]["srnn"] == 2 and twin["joined_from"] == ["s0.json", "s1.json"]
    proc = run(*paths, "--out", str(tmp_path / "rows.md"), cwd=tmp_path)      # without the flag: a row join
    assert proc.returncode == 2 and "seed_values is [1], expected [0]" in proc.stderr


def test_merge_seeds_counts_each_metric_by_its_own_runs(join_mod, monkeypatch):
    """A metric that was NaN on some seeds is pooled over the seeds that have it (accuracy.py's
    metric_runs), exactly as one run over every seed would aggregate it."""
    import importlib.util
    import statistics

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("accuracy_results_t", ROOT / "benchmarks" / "accuracy_results.py")
    res = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "accuracy_results_t", res)            # its dataclasses look it up
    spec.loader.exec_module(res)
    runs = [{"mae@15": 1.0, "mae@60": 2.0}, {"mae@15": float("nan"), "mae@60": 3.0}, {"mae@15": 2.0, "mae@60": 2.5}]

    def made(seeds, values):
        agg = {"S": res.aggregate(values), "L": res.aggregate([{"mae@15": 1.2, "mae@60": 2.5}])}
        out = res.results_json("toy", "default", seeds, agg, {"S": "srnn", "L": "last"}, LOWER.get, {"S": 1.0})
        out["settings"] = part(A)["settings"]
        out["deterministic"] = ["last"]
        return out

    merged = join_mod.merge_seeds([made([0, 1], runs[:2]), made([2], runs[2:])], ["a.json", "b.json"])
    whole = made([0, 1, 2], runs)
    for metric in ("mae@15", "mae@60"):
        assert merged["models"]["srnn"][metric] == pytest.approx(whole["models"]["srnn"][metric])
        assert merged["std"]["srnn"][metric] == pytest.approx(whole["std"]["srnn"][metric])
        assert merged["metric_runs"]["srnn"][metric] == whole["metric_runs"]["srnn"][metric]
    assert merged["models"]["srnn"]["mae@15"] == pytest.approx(1.5)
    assert merged["std"]["srnn"]["mae@15"] == pytest.approx(statistics.stdev([1.0, 2.0]))
    assert merged["runs"] == {"srnn": 3, "last": 1} and merged["deterministic"] == ["last"]
    # a row recorded as run once must agree in every part; one recorded once in only some is refused
    other = made([2], runs[2:])
    other["models"]["last"]["mae@15"] = 1.3
    with pytest.raises(ValueError, match=r"b.json: model 'last' runs once .* but its results differ"):
        join_mod.merge_seeds([made([0, 1], runs[:2]), other], ["a.json", "b.json"])
    other = made([2], runs[2:])
    other["deterministic"] = []
    with pytest.raises(ValueError, match=r"b.json: model 'last' is run once .* in a.json and the other way here"):
        join_mod.merge_seeds([made([0, 1], runs[:2]), other], ["a.json", "b.json"])


def test_merge_seeds_older_parts(join_mod):
    """Parts written before accuracy.py recorded its run-once rows: a row with the same means up to
    float32 rounding (other thread counts) counts once; metrics of a later part are kept; a part
    without seed values is refused."""
    a, b = seed_part(0, 1.0, 0.4), seed_part(1, 1.2, 0.5, last={"mae@15": 1.2 * (1 + 1e-7), "mae@60": 2.5})
    b["lower_is_better"]["f1"] = False
    b["models"]["srnn"]["f1"] = 0.5
    merged = join_mod.merge_seeds([a, b], ["s0.json", "s1.json"])
    assert merged["runs"]["last"] == 1 and merged["deterministic"] == ["last"]
    assert merged["models"]["srnn"]["f1"] == 0.5 and merged["metric_runs"]["srnn"]["f1"] == 1
    assert merged["metric_runs"]["srnn"]["mae@15"] == 2
    b["seed_values"] = None
    with pytest.raises(ValueError, match=r"s1.json: no 'seed_values'"):
        join_mod.merge_seeds([a, b], ["s0.json", "s1.json"])


def test_settings_recorded_later_take_their_former_value(join_mod):
    """A run recorded before accuracy.py wrote ``refit`` and ``former_scoring`` had them off: it joins a later
    run with them off, not one with them on; the filled-in keys are accuracy_lib.COMMON's."""
    later = part(B)
    later["settings"] = {**later["settings"], "settings": {**later["settings"]["settings"], "refit": False,
                                                           "former_scoring": False}}
    assert join_mod.join([part(A), later], ["a.json", "b.json"])["models"]["gru"]
    on = part(B)
    on["settings"] = {**on["settings"], "settings": {**on["settings"]["settings"], "refit": True}}
    with pytest.raises(ValueError, match="made with other settings"):
        join_mod.join([part(A), on], ["a.json", "b.json"])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import accuracy_lib
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert all(accuracy_lib.COMMON[k] == v for k, v in join_mod.LATER_SETTINGS.items())
