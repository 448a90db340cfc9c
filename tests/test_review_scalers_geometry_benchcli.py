"""Review of scalers, geometry, conversions and the benchmark command lines: one
test per confirmed defect, each asserting the correct behaviour (so each fails
until the defect is fixed). Fast, no dataset files."""
import importlib.util
import os
import stat
import sys
from pathlib import Path

import pytest
import torch

from srnn_pyg import STData, STSchema, from_networkx, to_networkx
from srnn_pyg.geometry import expmap_to_euler, expmap_to_rotmat, rotmat_to_expmap
from srnn_pyg.scalers import Compose, MinMaxScaler, StandardScaler

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"


def _bench(name, filename):
    """Import a benchmarks/ script as a module (it imports benchmarks/common.py)."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
    mod = importlib.util.module_from_spec(spec)
    had = {m: m in sys.modules for m in ("common", "accuracy_lib", "accuracy_results", "accuracy_published")}
    sys.path.insert(0, str(BENCHMARKS))
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop(spec.name, None)
        for m, present in had.items():
            if not present:
                sys.modules.pop(m, None)
    return mod


# ------------------------------------------------------------------ scalers
def test_minmax_feature_range_refuses_extra_values_and_infinite_bounds():
    # (0, 1, 2) is silently taken as (0, 1); (0, inf) fits and transforms to x - min, not into the range
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match="feature_range"):
        MinMaxScaler((0.0, float("inf")))


def test_compose_refuses_a_scaler_class_instead_of_an_instance():
    # passes Compose's check (the class has the methods), then fit dies with
    # "AttributeError: 'Tensor' object has no attribute 'fit'"
    with pytest.raises(TypeError, match=r"scalers\[0\]"):
        Compose([StandardScaler])


def test_failed_load_state_dict_leaves_the_scaler_as_it_was():
    x = torch.randn(4, 10, 3)
    s = MinMaxScaler((-1, 1)).fit(x)
    before = s.transform(x)
    bad = {"kind": "minmax", "options": {"feature_range": (5.0, 1.0)}, "center": None, "scale": None}
    with pytest.raises(ValueError):
        s.load_state_dict(bad)
    assert s.fitted                                   # today: statistics wiped by the half-run __init__
    assert torch.equal(s.transform(x), before)


def test_load_state_dict_checks_the_statistics_it_takes():
    x = torch.randn(4, 10, 3)
    state = StandardScaler().fit(x).state_dict()
    for broken in (dict(state, center=state["center"].numpy()), dict(state, scale=None),
                   dict(state, center=[0.0, 0.0, 0.0])):
        try:
            s = StandardScaler().load_state_dict(broken)
        except (TypeError, ValueError):
            continue                                   # refused at load, naming the problem: fine
        s.transform(x)                                 # else it must work; today: AttributeError on .dim/.to


# ----------------------------------------------------------------- geometry
def test_expmap_to_euler_takes_an_empty_batch():
    # expmap_to_rotmat / rotmat_to_euler take [0, 3]; the pose layout dies in reshape(-1)
    assert expmap_to_euler(torch.zeros(0, 6)).shape == (0, 6)


def test_rotmat_to_expmap_keeps_tiny_angles():
    k = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    r = k / k.norm() * 1e-13
    back = rotmat_to_expmap(expmap_to_rotmat(r))
    # today: 0.2 * r (the axis is divided by clamp_min(|v|, 1e-12) while the angle is atan2'd exactly)
    assert torch.allclose(back, r, rtol=1e-6, atol=0)


def test_geometry_integer_input_is_a_clear_error():
    with pytest.raises((TypeError, ValueError), match="'r'"):
        expmap_to_rotmat(torch.tensor([1, 0, 0]))


# -------------------------------------------------------------- conversions
def test_to_networkx_keeps_parallel_edges_of_different_relations():
    schema = STSchema(["a"], [("a", "near", "a"), ("a", "far", "a")])
    data = STData(x=torch.randn(2, 3, 1), edge_index=torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]]),
                  node_type=torch.zeros(2, dtype=torch.long), edge_type=torch.tensor([0, 0, 1, 1]))
    data.schema = schema
    data.validate()
    back = from_networkx(to_networkx(data), schema=schema, edge_type_attr="rel")
    # today a plain nx.Graph keeps one of the two edges 0-1 (the 'far' one): [1, 1]
    assert sorted(back.edge_type.tolist()) == [0, 0, 1, 1]


# ------------------------------------------------------ benchmark commands
def test_write_atomic_gives_files_the_usual_permissions(tmp_path):
    common = _bench("common_review", "common.py")
    umask = os.umask(0)
    os.umask(umask)
    new, old = tmp_path / "new.md", tmp_path / "old.md"
    old.write_text("before")
    os.chmod(old, 0o644)
    common.write_atomic(str(new), "x")
    common.write_atomic(str(old), "y")
    # today both are 0o600 (tempfile.mkstemp's mode survives the rename)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(old.stat().st_mode) == 0o644


def test_scaling_quick_does_not_write_over_the_full_runs_table(tmp_path, monkeypatch):
    mod = _bench("scaling_review", "scaling.py")
    written = []

    class NoRun:
        def __init__(self, device="cpu"):
            pass

        def __call__(self, job, spec):
            return dict(error="not run in this test", memory=False)

    monkeypatch.setattr(mod, "Runner", NoRun)
    monkeypatch.setattr(mod, "plot", lambda *a, **k: False)
    monkeypatch.setattr(mod, "report", lambda *a, **k: "table")
    monkeypatch.setattr(mod, "write_atomic", lambda path, text: written.append(os.path.basename(path)))
    mod.main(["--quick", "--out", str(tmp_path)])
    assert written and "scaling_cpu.md" not in written, written  # the full run's table (results/scaling_cpu.md)


def test_accuracy_row_parts_do_not_overwrite_each_other(tmp_path, monkeypatch):
    mod = _bench("accuracy_review", "accuracy.py")
    written = []
    monkeypatch.setattr(mod, "run_bench", lambda ctx: None)
    monkeypatch.setattr(mod, "report", lambda ctx, res, secs: ("md", {}))
    monkeypatch.setattr(mod, "write_atomic", lambda path, text: written.append(path))
    for rows in (["linear_ar"], ["zero_velocity"]):
        args = mod.parse_args(["--dataset", "springs", "--smoke", "--rows", *rows])
        assert mod.run_one(args, "springs", str(tmp_path)) is None
    # today both parts (the documented way to split a run for accuracy_join.py) write accuracy_springs_smoke.md
    assert len(set(written)) == len(written), written


@pytest.mark.parametrize("setting", ["rollout_share=-1", "select_windows=0", "rollout_lr_factor=-1"])
def test_accuracy_set_refuses_out_of_range_values(setting):
    mod = _bench("accuracy_review_set", "accuracy.py")
    args = mod.parse_args(["--dataset", "springs", "--smoke", "--set", setting])
    # today: rollout_share=-1 runs ("the last -100% of the epochs"), select_windows=0 a ZeroDivisionError
    # and rollout_lr_factor=-1 a TrainConfig 'lr' error only after the teacher-forcing phase
    with pytest.raises(SystemExit):
        mod.Context(args, mod.BENCHES["springs"])


@pytest.mark.parametrize("flags", [["--seeds", "0"], ["--hidden", "0"], ["--epochs", "0"]])
def test_validation_search_refuses_non_positive_numbers(flags, monkeypatch, tmp_path):
    mod = _bench("validation_search_review", "validation_search.py")

    def opened(*a, **k):
        raise RuntimeError("the data was opened: the flags were not checked first")

    monkeypatch.setattr(mod, "_open", opened)
    monkeypatch.setattr(sys, "argv", ["validation_search.py", *flags, "--out", str(tmp_path / "v.md")])
    # today: --seeds 0 dies with IndexError after opening the data; --hidden 0 / --epochs 0 are
    # silently replaced by the search's defaults (args.hidden or search.hidden)
    with pytest.raises(SystemExit):
        mod.main()


@pytest.mark.parametrize("flags", [["--sizes", "0"], ["--sizes", "-5"], ["--T", "0"], ["--hidden", "0"],
                                   ["--horizons", "5", "-1"]])
def test_speed_refuses_non_positive_sizes(flags):
    mod = _bench("speed_review", "speed.py")
    # today accepted: "optimizer got an empty parameter list", a negative-dimension RuntimeError, or a
    # StructuralRNN error after the first timings
    with pytest.raises(SystemExit):
        mod.parse_args(flags)


def test_speed_interrupted_run_does_not_silently_replace_the_table(tmp_path, monkeypatch):
    mod = _bench("speed_review_partial", "speed.py")
    out = tmp_path / "speed_cpu.md"
    out.write_text("the previous full table\n")
    calls = []

    def row(args, schema, data, scope):
        calls.append(scope)
        if len(calls) > 2:                              # the second size: the user presses Ctrl-C
            raise KeyboardInterrupt
        return ["10", "40", scope] + ["-"] * 9

    monkeypatch.setattr(mod, "graph", lambda N, T, F, dev: (None, None))
    monkeypatch.setattr(mod, "srnn_row", row)
    with pytest.raises(KeyboardInterrupt):
        mod.main(["--sizes", "10", "100", "--no-baselines", "--no-reference", "--out", str(out)])
    text = out.read_text()
    # either the previous table is kept, or the new one says it is incomplete
    assert "the previous full table" in text or any(w in text.lower() for w in ("incomplete", "partial",
                                                                               "interrupted"))


def test_pyg_temporal_bad_device_is_a_clear_error(monkeypatch, tmp_path):
    mod = _bench("pyg_temporal_review", "pyg_temporal.py")
    monkeypatch.setattr(mod, "import_pyg_temporal", lambda: (object(), "0.0"))
    monkeypatch.setattr(sys, "argv", ["pyg_temporal.py", "--device", "foo", "--out", str(tmp_path / "p.md")])
    # today: RuntimeError from torch.device("foo") before the script's own check of the device type
    with pytest.raises(SystemExit, match="--device"):
        mod.main()


def test_expmap_to_rotmat_is_exact_for_tiny_angles():
    # the axis was r / clamp_min(|r|, 1e-12): below 1e-12 the sin term shrank with the angle squared
    r = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) * 1e-14
    R = expmap_to_rotmat(r)
    skew = torch.tensor([[0.0, -r[2], r[1]], [r[2], 0.0, -r[0]], [-r[1], r[0], 0.0]], dtype=torch.float64)
    assert torch.allclose(R - torch.eye(3, dtype=torch.float64), skew, rtol=1e-6, atol=0)
    assert torch.equal(expmap_to_rotmat(torch.zeros(3)), torch.eye(3))
