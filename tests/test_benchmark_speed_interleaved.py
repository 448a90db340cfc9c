"""benchmarks/speed.py times what it compares in interleaved pairs, with the optimiser step in every
train step: tiny runs of the script (no assertion on a timing value), its train steps, and the shared
pairing helper of benchmarks/common.py."""
import argparse
import importlib
import math
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = ("common", "speed")
TINY = ["--T", "5", "--hidden", "4", "--reps", "2", "--horizons", "3", "6", "--threads", "1"]
COLUMNS = ["N", "E", "edge scope", "train step (median)", "bare RNN floor (median)", "vs floor (median ratio)",
           "vs floor (min ratio)", "loop reference (median)", "speed-up (median ratio)", "forecast H=3",
           "forecast H=6", "forecast ratio"]


@pytest.fixture(scope="module")
def bench():
    had = {name for name in SCRIPTS if name in sys.modules}
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield argparse.Namespace(**{name: importlib.import_module(name) for name in SCRIPTS})
    finally:
        sys.path.remove(str(BENCHMARKS))
        for name in SCRIPTS:
            if name not in had:
                sys.modules.pop(name, None)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(bench, monkeypatch, tmp_path, argv):
    out = tmp_path / "speed.md"
    monkeypatch.setattr(sys, "argv", ["speed.py", *argv])
    bench.speed.main([*argv, "--out", str(out)])
    return out.read_text()


def _table(md: str, header_start: str):
    """The header and the rows of the first table of ``md`` whose header begins with ``header_start``."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start} |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines[start:end]]
    return cells[0], cells[2:]


def _ratio(cell: str) -> float:
    assert cell.endswith("x"), cell
    return float(cell[:-1])


def _assert_ratios(row, columns):
    for col in columns:
        value = _ratio(row[COLUMNS.index(col)])
        assert math.isfinite(value) and value > 0, (col, row)


def test_tiny_run_reports_paired_medians_and_ratios(bench, monkeypatch, tmp_path):
    written = []
    monkeypatch.setattr(bench.speed, "write_atomic", lambda path, text: (written.append(text),
                                                                         bench.common.write_atomic(path, text)))
    md = _run(bench, monkeypatch, tmp_path, ["--sizes", "4", "6", *TINY, "--no-baselines", "--no-reference"])
    header, rows = _table(md, "N")
    assert header == COLUMNS
    assert [(r[0], r[2]) for r in rows] == [("4", "slot"), ("4", "edge"), ("6", "slot"), ("6", "edge")]
    for row in rows:
        _assert_ratios(row, ["vs floor (median ratio)", "vs floor (min ratio)", "forecast ratio"])
        assert _ratio(row[6]) <= _ratio(row[5])                     # the min of the ratios is at most the median
        assert row[7] == row[8] == "-"                                # no reference asked for
    assert "## Baselines" not in md
    intro = md.split("\n- CPU")[0]
    assert "interleaved pairs" in intro and "2 pair(s) after one warm-up call of each" in intro
    assert "Adam step" in intro and "Loop reference: not run" in intro
    # written after each size: the first file has the first size's rows only
    assert len(written) == 2 and [r[0] for r in _table(written[0], "N")[1]] == ["4", "4"]


def test_tiny_run_with_reference_and_baselines(bench, monkeypatch, tmp_path):
    md = _run(bench, monkeypatch, tmp_path, ["--sizes", "4", *TINY, "--reference-reps", "1"])
    header, rows = _table(md, "N")
    assert header == COLUMNS and len(rows) == 2
    for row in rows:
        _assert_ratios(row, ["vs floor (median ratio)", "vs floor (min ratio)", "speed-up (median ratio)",
                             "forecast ratio"])
        assert row[7].endswith(("ms", " s"))
    base_header, base_rows = _table(md, "N | model")
    assert base_header == ["N", "model", "train step (median)", "parameters", "loss on"]
    timed = [r for r in base_rows if not r[2].startswith("error")]
    assert {"node_lstm", "erd", "lstm3lr"} <= {r[1] for r in timed}   # lazily built layers included
    assert "with the same Adam step" in md


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _changed(before, params):
    return [not torch.equal(b, p) for b, p in zip(before, params)]


def _stepped(step, params):
    """Which of ``params`` the step's Adam optimiser holds, and which it has taken exactly one step on."""
    opt = step.optimizer
    held = {id(p) for group in opt.param_groups for p in group["params"]}
    return [id(p) in held for p in params], [int(opt.state.get(p, {}).get("step", 0)) == 1 for p in params]


def _model(bench, scope="slot"):
    torch.manual_seed(0)
    schema, data = bench.speed.graph(6, 5, 3, "cpu")
    model = bench.speed.StructuralRNN(schema, 3, 3, edge_hidden=4, node_hidden=4, edge_mlp=(4,), node_mlp=(4,),
                                      edge_scope=scope)
    return model, data


# A few recurrent weights of the tiny graph's rare edge types get gradients near 1e-14, which an Adam step
# of lr 1e-4 moves by less than float32's rounding: the tests ask for most weights to move, and for the
# optimiser to have stepped on every parameter with a gradient.
@pytest.mark.parametrize("which", ["model_step", "reference_step"])
def test_train_steps_take_an_optimiser_step(bench, which):
    model, data = _model(bench)
    params = list(model.parameters())
    before = _snapshot(params)
    step = getattr(bench.speed, which)(model, data)
    step()
    held, stepped = _stepped(step, params)
    assert all(held) and stepped == [p.grad is not None for p in params]
    changed = _changed(before, params)
    assert sum(changed) > 0.9 * len(params)                           # the weights moved
    decoder = {id(p) for p in model.decoders.parameters()}
    assert all(c for c, p in zip(changed, params) if id(p) in decoder)


@pytest.mark.parametrize("scope", ["slot", "edge"])
def test_floor_step_updates_the_blocks_it_calls(bench, scope):
    model, data = _model(bench, scope)
    blocks = [*model.edge_rnns, *model.temporal_rnns, *model.node_rnns, *model.decoders]
    params = [p for m in blocks for p in m.parameters()]
    others = [p for p in model.parameters() if all(p is not q for q in params)]
    before, before_others = _snapshot(params), _snapshot(others)
    step = bench.speed.floor_step(model, data)
    step()
    held, stepped = _stepped(step, params)
    assert held == stepped == [p.grad is not None for p in params]   # its own Adam over the blocks it calls
    assert sum(held) > len(params) // 2 and not any(_stepped(step, others)[0])
    changed = _changed(before, params)
    assert sum(changed) > 0.9 * sum(held) and all(h for c, h in zip(changed, held) if c)
    assert not any(_changed(before_others, others))


@pytest.mark.parametrize("name", ["node_lstm", "erd"])              # ERD builds its layers on the first batch
def test_baseline_step_takes_an_optimiser_step(bench, name):
    torch.manual_seed(0)
    schema, data = bench.speed.graph(6, 5, 3, "cpu")
    model = bench.speed.build(name, schema, 3, 3, hidden=4)
    step = bench.speed.baseline_step(model, data)
    params = list(model.parameters())
    before = _snapshot(params)
    step()
    assert params and all(_stepped(step, params)[0])
    assert sum(_changed(before, params)) > 0.9 * len(params)


def test_pairs_alternate_which_runs_first(bench):
    calls = []
    res = bench.common.paired(lambda: calls.append("a"), lambda: calls.append("b"), reps=4, warmup=1)
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert len(res) == 4 and all(math.isfinite(v) and v >= 0 for v in res[:2])
    calls.clear()
    bench.common.paired(lambda: calls.append("ref"), lambda: calls.append("vec"), reps=1, warmup=0)
    assert calls == ["ref", "vec"]


def test_paired_ratios_are_a_over_b(bench, monkeypatch):
    clock = [0.0]
    costs = iter([3.0, 1.0, 1.0, 4.0, 2.0, 1.0])                    # pair 0: a 3, b 1; pair 1: b 1, a 4; ...

    def fn():
        clock[0] += next(costs)
    monkeypatch.setattr(bench.common.time, "perf_counter", lambda: clock[0])
    res = bench.common.paired(fn, fn, reps=3, warmup=0)
    assert res == bench.common.Paired(a=3.0, b=1.0, ratio=3.0, ratio_min=2.0)


def test_speed_pairs_train_step_with_floor_and_reference_with_train_step(bench, monkeypatch):
    """The script uses the shared helper: (train step, floor) after a warm-up, (reference, train step) without."""
    assert bench.speed.paired is bench.common.paired
    seen = []

    def fake(a, b, reps, warmup=1, device=None):
        seen.append((a, b, reps, warmup))
        return bench.common.Paired(2.0, 1.0, 2.0, 1.5)
    monkeypatch.setattr(bench.speed, "paired", fake)
    args = bench.speed.parse_args(["--sizes", "6", *TINY, "--reps", "3", "--reference-reps", "2"])
    schema, data = bench.speed.graph(6, args.T, args.F, "cpu")
    row = bench.speed.srnn_row(args, schema, data, "slot")
    (vec, floor, reps, warmup), (ref, vec2, ref_reps, ref_warmup) = seen
    assert vec is vec2 and floor is not vec and ref is not vec
    assert (reps, warmup, ref_reps, ref_warmup) == (3, 1, 2, 0)
    assert row[3:9] == ["2000.0 ms", "1000.0 ms", "2.00x", "1.50x", "2000.0 ms", "2.00x"]
