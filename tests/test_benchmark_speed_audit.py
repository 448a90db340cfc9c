"""An audit of the speed, scaling and PyG Temporal benchmarks: the tables say what is timed and how,
the paired ratios point the way the tables say, bad settings are refused before any timing, and the
numbers that docs/scaling.md quotes are those of the committed tables."""
import argparse
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
SCRIPTS = ("common", "speed", "scaling", "pyg_temporal", "speed_vs_revision")


@pytest.fixture(scope="module")
def bench():
    """The benchmark scripts as modules (imported as the scripts import each other)."""
    had = {name for name in SCRIPTS if name in sys.modules}
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield argparse.Namespace(**{name: importlib.import_module(name) for name in SCRIPTS})
    finally:
        sys.path.remove(str(BENCHMARKS))
        for name in SCRIPTS:
            if name not in had:
                sys.modules.pop(name, None)


def _cells(md: str, first: str):
    """The cells of the table rows of ``md`` whose first cell is ``first``."""
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in md.splitlines()
            if line.startswith(f"| {first} |")]


def _seconds(cell: str) -> float:
    value, unit = cell.split()[:2]
    return float(value) / (1e3 if unit == "ms" else 1.0)


# ------------------------------------------------------------------ what the tables say is timed
def test_speed_report_says_what_is_timed(bench):
    args = argparse.Namespace(T=50, F=6, hidden=64, reps=5, reference_reps=1, horizons=[100, 200])
    text = bench.speed.report(args, [], [], "cpu")
    header = text.split("\n- CPU")[0]
    assert "Adam step" in header and "optimiser step is included" in header and "mean square" in header
    assert "one-step-ahead loss" not in header                      # there is no target in that loss
    assert "interleaved pairs" in header and "5 pair(s) after one warm-up call of each" in header
    assert "Forecasts (not paired): median of 2 no-grad call(s) after one warm-up" in header
    assert "Loop reference: 1 pair(s) with the vectorised train step" in header and "no warm-up" in header
    assert "not interleaved" not in header


def test_scaling_cap_is_described_as_a_data_limit(bench):
    sc = bench.scaling
    assert "RLIMIT_DATA" in sc.cap_note("cpu") and "half" in sc.cap_note("cpu")
    assert sc.cap_note("cuda") == ""
    cell = sc.oom_status("RuntimeError", 16.0)
    assert cell.startswith("out of memory (RuntimeError") and "data limit of 16 GiB" in cell


def test_onehop_report_calls_the_batch_peak_an_epoch_high_water_mark(bench):
    args = argparse.Namespace(T=50, F=6, hidden=64, batch_size=1024, epoch_budget=900.0, timed_batches=20,
                              max_memory_gb=16.0, models=["srnn_slot"], forecast_horizon=12,
                              forecast_chunk=None, forecast_budget=600.0)
    text = bench.scaling.onehop_report(args, "cpu", {"srnn_slot": []}, {"srnn_slot": []}, {}, None, None)
    assert "i.e. the largest batch's working set" not in text
    assert "grows with the number of batches" in text and "No warm-up" in text
    assert "RLIMIT_DATA" in text


# ------------------------------------------------------------------ ratios and doubling factors
class _Clock:
    """A fake ``time.perf_counter`` that the timed functions advance."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_paired_ratios_point_the_way_the_tables_say(bench, monkeypatch):
    clock = _Clock()

    def cost(seconds):
        def fn():
            clock.now += seconds
        return fn
    monkeypatch.setattr(bench.pyg_temporal.time, "perf_counter", clock)
    ours, theirs, med, low = bench.pyg_temporal.paired(cost(1.0), cost(3.0), reps=4, warmup=1)
    assert (ours, theirs, med, low) == (1.0, 3.0, 3.0, 3.0)          # PyG Temporal time / ours
    monkeypatch.setattr(bench.speed_vs_revision.time, "perf_counter", clock)
    now, rev, med, low = bench.speed_vs_revision.paired(cost(1.0), cost(2.0), reps=3)
    assert (now, rev, med, low) == (1.0, 2.0, 0.5, 0.5)               # this checkout / the revision


def test_committed_onehop_doubling_factors_follow_from_their_ratios(bench):
    md = (RESULTS / "scaling_onehop_cpu.md").read_text()
    rows = [r for r in _cells(md, "1000") + _cells(md, "10000") + _cells(md, "100000") + _cells(md, "1000000")
            if len(r) == 14]
    assert [int(r[0]) for r in rows] == [1000, 10000, 100000, 1000000]
    factors = []
    for prev, row in zip(rows, rows[1:]):
        ratio = float(row[5].rstrip("x"))
        factor = bench.scaling.doubling(1.0, ratio, float(prev[2]), float(row[2]))
        assert factor == pytest.approx(float(row[6]), abs=0.006)
        factors.append(float(row[6]))
    assert max(factors) <= bench.scaling.TARGET
    # the batch-peak column grows with the number of batches: not flat in N
    peaks = [float(r[11].replace(",", "")) for r in rows]
    assert peaks == sorted(peaks) and peaks[-1] / peaks[0] > 2


# ------------------------------------------------------------------ settings refused before timing
def test_scaling_refuses_settings_that_fail_late(bench):
    for argv in (["--reps", "0"], ["--max-memory-gb", "0"], ["--sizes", "0", "10"]):
        with pytest.raises(SystemExit):
            bench.scaling.parse_args(argv)


@pytest.mark.parametrize("script, argv", [
    ("speed", ["--reps", "0"]),
    ("speed", ["--reference-reps", "0"]),
    ("speed_vs_revision", ["--rev", "HEAD", "--reps", "0"]),
    ("speed_vs_revision", ["--rev", "HEAD", "--model", "stgcn", "--batch", "0"]),
    ("pyg_temporal", ["--reps", "0"]),
    ("pyg_temporal", ["--nodes", "5", "--neighbours", "7"]),
    ("pyg_temporal", ["--T", "8"]),
])
def test_scripts_refuse_settings_that_fail_late(bench, monkeypatch, script, argv):
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])
    with pytest.raises(SystemExit) as err:
        getattr(bench, script).main()
    assert err.value.code == 2


# ------------------------------------------------------------------ docs/scaling.md quotes the tables
def test_docs_scaling_quotes_the_committed_tables():
    doc = (ROOT / "docs" / "scaling.md").read_text()
    ckpt = (RESULTS / "scaling_checkpointing_cpu.md").read_text()
    assert len(_cells(ckpt, "3000")) == 4                             # plain and checkpointed, both scopes
    plain_slot, ckpt_slot, plain_edge, ckpt_edge = _cells(ckpt, "3000")
    for row in (plain_slot, ckpt_slot, plain_edge, ckpt_edge):
        assert f"{row[9]} MiB" in doc or f" {row[9]} " in doc
    for plain, ckpt_row, quoted in ((plain_slot, ckpt_slot, 28), (plain_edge, ckpt_edge, 55)):
        assert round(100 * (_seconds(ckpt_row[4]) / _seconds(plain[4]) - 1)) == quoted
        assert f"{quoted} %" in doc
    onehop = (RESULTS / "scaling_onehop_cpu.md").read_text()
    batches = [r for n in ("1000", "10000", "100000", "1000000") for r in _cells(onehop, n) if len(r) == 14]
    for row in batches:
        assert f"{row[11]} MiB" in doc                                  # each batch peak, as in the table
    per_seed = [round(float(r[11].replace(",", "")) * 2 ** 20 / (1024 * 50) / 1e3) for r in batches[1:]]
    assert per_seed[0] == 20 and per_seed[-1] == 31 and "14 to 31 KB" in doc
    assert "stay flat" not in doc
    # "flat" is said of a batch's own peak only, from the table that measures each batch alone
    flat = " ".join(doc.split())
    per_batch = (RESULTS / "scaling_onehop_batch_memory_cpu.md").read_text()
    medians = [r[5] for n in ("1,000", "10,000", "100,000", "1,000,000") for r in _cells(per_batch, n)]
    assert "scaling_onehop_batch_memory_cpu.md" in doc and "flat memory per batch" in doc
    assert f"{', '.join(medians[:-1])} and {medians[-1]} MiB" in flat
    assert ", ".join(r[6] for r in batches[1:]) in doc.replace(" and ", ", ")   # the epoch's doubling factors
