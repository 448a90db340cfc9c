"""accuracy.py --ablation (the official items one at a time) and the paper-recipe row run end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
ABLATION_KEYS = ("srnn", "abl_peephole", "abl_fused", "abl_temporal_fc", "abl_no_x", "abl_relu_encoder",
                 "abl_default_init", "abl_before_0_2", "abl_typed_order", "abl_temporal_x", "abl_no_residual",
                 "abl_tf_only", "abl_ar_lags", "abl_fused_ar_lags", "abl_linear_start", "abl_fused_linear_start",
                 "srnn_paper")


def _accuracy(*args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, str(BENCHMARKS / "accuracy.py"), *args, "--threads", "1"], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600)


def test_ablation_smoke_writes_its_own_files(tmp_path):
    out = tmp_path / "results"
    proc = _accuracy("--dataset", "springs", "--smoke", "--ablation", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["ablation_springs_smoke.json", "ablation_springs_smoke.md"]
    md = (out / "ablation_springs_smoke.md").read_text()
    assert md.startswith("# Accuracy: Springs") and "S-RNN ablation, item by item" in md
    assert "--ablation" in md and "`ablation_springs_smoke.json`" in md
    result = json.loads((out / "ablation_springs_smoke.json").read_text())
    assert set(result["models"]) == set(ABLATION_KEYS)
    # each ablation row is the improved model with one switch: its label names the item
    for label in ("peephole LSTM cell", "fused LSTM outputs", "temporal edge FC only", "nodeRNN without x",
                  "PyTorch's default init", "features ordered by edge type", "no residual"):
        assert f"S-RNN (improved), {label}" in md, label


def test_ablation_rows_build_what_they_say():
    """Every ablation row differs from ``srnn`` in exactly its item (the built models' settings)."""
    import importlib.util

    import torch

    from srnn_pyg.models import build
    from srnn_pyg.testing import fake_st_data

    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("accuracy_ablation_t", BENCHMARKS / "accuracy.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("accuracy_ablation_t", None)
    mode = {"hidden": 8, "obs": 12}
    rows = {r.json_key: r for r in mod.ablation_rows(mode)}
    assert tuple(rows) == ABLATION_KEYS
    d = fake_st_data(num_nodes=5, T=4, F=3, generator=torch.Generator().manual_seed(0))
    settings = ("cell", "fused_lstm", "temporal_lstm", "linear_encoder", "node_input_x", "init", "spatial_kind",
                "temporal_kind", "residual", "variant", "ar_lags")
    built = {k: build("srnn", d.schema, 3, 3, **r.kwargs(mode)) for k, r in rows.items()}
    base = {s: getattr(built["srnn"], s) for s in settings}
    expected = {"abl_peephole": {"cell"}, "abl_fused": {"fused_lstm"}, "abl_temporal_fc": {"temporal_lstm"},
                "abl_relu_encoder": {"linear_encoder"}, "abl_no_x": {"node_input_x"}, "abl_default_init": {"init"},
                "abl_before_0_2": {"linear_encoder", "init"},
                "abl_typed_order": {"spatial_kind"}, "abl_temporal_x": {"temporal_kind"},
                "abl_no_residual": {"residual"}, "abl_tf_only": set(), "abl_ar_lags": {"ar_lags"},
                "abl_fused_ar_lags": {"fused_lstm", "ar_lags"}, "abl_linear_start": {"ar_lags"},
                "abl_fused_linear_start": {"fused_lstm", "ar_lags"}}
    for key, changed in expected.items():
        diff = {s for s in settings if getattr(built[key], s) != base[s]}
        assert diff == changed, (key, diff)
    assert rows["abl_tf_only"].recipe == "tf" and rows["srnn"].recipe == "tf+rollout"
    assert built["srnn_paper"].variant == "paper"
    assert built["abl_ar_lags"].ar_lags == 8                     # LinearAR's lags: min(obs, 8)
    assert {k for k, r in rows.items() if r.start} == {"abl_linear_start", "abl_fused_linear_start"}
    assert all(rows[k].start == "linear" for k in ("abl_linear_start", "abl_fused_linear_start"))


@pytest.mark.integration
def test_cmu_paper_recipe_row_smoke(tmp_path):
    """The CMU table's row of the paper variant trained with the official recipe (skipped without data)."""
    base = os.environ.get("SRNN_PYG_DATA")
    if not base or not Path(base).is_dir():
        pytest.skip("SRNN_PYG_DATA is unset: the real datasets are not available")
    out = tmp_path / "results"
    proc = _accuracy("--dataset", "cmu_mocap", "--smoke", "--out", str(out), cwd=tmp_path)
    if proc.returncode == 2 and "no data" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = (out / "accuracy_cmu_mocap_smoke.md").read_text()
    result = json.loads((out / "accuracy_cmu_mocap_smoke.json").read_text())
    assert {"srnn_paper", "srnn_paper_recipe"} <= set(result["models"])
    line = [r for r in md.splitlines() if r.startswith("| S-RNN (paper, official training recipe) |")][-1]
    assert "official training recipe" in line and "optimiser steps" in line
