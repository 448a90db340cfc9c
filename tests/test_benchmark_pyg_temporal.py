"""benchmarks/pyg_temporal.py runs end to end on a tiny problem and writes its
table (skipped without PyG Temporal), and says so and exits 0 when PyG
Temporal cannot be imported."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "pyg_temporal.py"


def run(*args, cwd, extra_path=()):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_path), str(ROOT)]
                                        + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(importlib.util.find_spec("torch_geometric_temporal") is None,
                    reason="torch_geometric_temporal is not installed")
def test_pyg_temporal_tiny(tmp_path):
    out = tmp_path / "table.md"
    proc = run("--nodes", "20", "--neighbours", "3", "--batches", "2", "--reps", "2", "--warmup", "0",
               "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    md = out.read_text()
    assert md.startswith("# Graph-convolution baselines against PyTorch Geometric Temporal")
    assert "Command: `python benchmarks/pyg_temporal.py --nodes 20" in md and "--out" not in md
    assert "torch_geometric_temporal " in md and "stand-in" in md
    time = md.split("## Time")[1].split("## Work")[0]
    names = ("| STGCN | 2 |", "| STGCN-code | 2 |", "| GConvGRU | 2 |")
    rows = [line for line in time.splitlines() if line.startswith(names)]
    assert len(rows) == 6 and all(line.count(" ms |") == 2 and line.rstrip().endswith("x |") for line in rows), md
    params = [line for line in md.splitlines() if line.startswith(("| STGCN |", "| STGCN-code |", "| GConvGRU |"))
              and line.count("|") == 4]
    assert len(params) == 3, md
    work = md.split("## Work")[1].split("## Targets")[0]
    assert "GFLOP/s" in work, md
    counted = [line.split("|")[3:7] for line in work.splitlines() if line.startswith(names)]
    assert len(counted) == 3 and all(float(v) > 0 for cells in counted for v in cells), md


@pytest.mark.skipif(importlib.util.find_spec("torch_geometric_temporal") is None,
                    reason="torch_geometric_temporal is not installed")
def test_pyg_temporal_device_refusals(tmp_path):
    import torch

    out = tmp_path / "table.md"
    if not torch.cuda.is_available():
        proc = run("--device", "cuda", "--out", str(out), cwd=tmp_path)
        assert proc.returncode != 0 and not out.exists()
        assert "--device cuda asked for, but CUDA is not available here" in proc.stderr
    proc = run("--device", "meta", "--out", str(out), cwd=tmp_path)
    assert proc.returncode != 0 and not out.exists()
    assert "--device must be cpu or cuda (got 'meta')" in proc.stderr


def test_pyg_temporal_absent(tmp_path):
    fake = tmp_path / "site"
    (fake / "torch_geometric_temporal").mkdir(parents=True)
    (fake / "torch_geometric_temporal" / "__init__.py").write_text("raise ImportError('not here')\n")
    out = tmp_path / "table.md"
    proc = run("--out", str(out), cwd=tmp_path, extra_path=[fake])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PyG Temporal is not importable" in proc.stdout and not out.exists()


def _load_script():
    spec = importlib.util.spec_from_file_location("pyg_temporal_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("c_in", [3, 40])  # the windowed product (bias a row of the weights); per-tap products
def test_dense_work_counts_every_product(c_in):
    """The work count of the benchmark's table: every dense product of our
    gated temporal conv, in-place ``addmm_`` included, and no sparse one."""
    import torch
    from srnn_pyg.models.stgcn import _GatedTemporalConv

    bench = _load_script()
    T, N, K, C = 7, 5, 3, 8
    rows = (T - K + 1) * N
    conv = _GatedTemporalConv(c_in, C, K)
    x = torch.randn(T, N, c_in, requires_grad=True)
    taps = K * c_in + (1 if c_in < 32 else 0)                               # the bias column when narrow
    forward = 2 * rows * taps * 2 * C
    assert bench.dense_gflop(lambda: conv(x)) * 1e9 == forward
    backward = 2 * rows * K * c_in * 2 * C + 2 * rows * taps * 2 * C         # input, then weight gradients
    assert bench.dense_gflop(lambda: conv(x).sum().backward()) * 1e9 == forward + backward
    lap = torch.eye(6).to_sparse_csr()
    assert bench.dense_gflop(lambda: lap @ torch.randn(6, 4)) == 0
