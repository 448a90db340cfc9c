"""Every example runs end to end with --smoke (seconds), writes only where it is told."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
PNG = b"\x89PNG\r\n\x1a\n"

# Examples whose --out is a folder, and the files their --smoke run writes there;
# every other example takes --out as the path of its picture.
OUT_FOLDERS = {
    "forecast_crowds.py": ("crowds_eth.md", "crowds_eth.png"),
    "quickstart.py": ("scores.json",),
}


def _repo_files():
    """Pictures and run folders at the repository's top level."""
    return {p.name for p in REPO.iterdir() if p.suffix == ".png" or p.name in ("runs", "outputs")}


def _run(script, cwd, *args, env=None):
    env = dict(os.environ if env is None else env, MPLBACKEND="Agg")
    cmd = [sys.executable, str(EXAMPLES / script), "--smoke", "--threads", "1", *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return proc, proc.stdout + proc.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_smoke(script, tmp_path):
    before = _repo_files()
    out = tmp_path / ("out" if script in OUT_FOLDERS else "pictures/out.png")    # a folder to create
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc, output = _run(script, cwd, "--out", out)
    if proc.returncode == 2 and "SRNN_PYG_DATA" in output:      # the examples' "no data" exit
        pytest.skip(f"needs the real data: {output.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    expected = [out / name for name in OUT_FOLDERS[script]] if script in OUT_FOLDERS else [out]
    for path in expected:
        assert path.exists(), f"{script} --smoke did not write {path.name}"
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG
    assert not any(cwd.iterdir()), f"{script} wrote {sorted(p.name for p in cwd.iterdir())} outside --out"
    assert _repo_files() == before, f"{script} wrote into the repository"
    if script == "forecast_crowds.py":      # the Gaussian S-RNNs are scored best-of-20 too
        rows = [r for r in (out / "crowds_eth.md").read_text().splitlines() if r.startswith("| S-RNN")]
        assert rows and all(not r.rstrip().endswith("| - | - |") for r in rows), rows


def test_default_output_goes_under_runs(tmp_path):
    proc, output = _run("forecast_springs.py", tmp_path)
    assert proc.returncode == 0, output[-2000:]
    picture = tmp_path / "runs" / "examples" / "springs_forecast.png"
    assert picture.read_bytes()[:8] == PNG
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]


def _write_los_loop(root: Path, steps: int = 700, sensors: int = 6):
    """A small Los-loop in the real file format: speeds with a daily cycle."""
    rng = np.random.default_rng(0)
    t, n = np.arange(steps)[:, None], np.arange(sensors)[None, :]
    speed = 55 + 8 * np.sin(2 * np.pi * t / 288 + n) + rng.normal(0, 1, (steps, sensors))
    ids = [str(773860 + i) for i in range(sensors)]
    root.mkdir(parents=True)
    rows = [",".join(ids)] + [",".join(f"{v:.4f}" for v in row) for row in speed]
    (root / "los_speed.csv").write_text("\n".join(rows) + "\n")
    adj = (np.abs(n.T - n) <= 1).astype(float)
    (root / "los_adj.csv").write_text("\n".join(",".join(f"{v:.1f}" for v in row) for row in adj) + "\n")


def test_traffic_example_on_a_small_recording(tmp_path):
    """The real-data path of an example, on files written here (no download)."""
    _write_los_loop(tmp_path / "data" / "los_loop")
    env = dict(os.environ, SRNN_PYG_DATA=str(tmp_path / "data"))
    out = tmp_path / "traffic.png"
    proc, output = _run("forecast_traffic.py", tmp_path, "--out", out, env=env)
    assert proc.returncode == 0, output[-2000:]
    assert out.read_bytes()[:8] == PNG and "S-RNN" in output


def _drawn(monkeypatch, *args, **kwargs):
    """Run plot_forecast and return its figure (kept from plt.close)."""
    plt = pytest.importorskip("matplotlib.pyplot")
    from srnn_pyg.cli.plot import plot_forecast
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    assert plot_forecast(*args, **kwargs)
    return figures[0]


def _legend_texts(ax):
    return [t.get_text() for child in ax.get_children() if type(child).__name__ == "Legend" for t in child.texts]


def test_forecast_picture_names_nodes_units_and_line_styles(tmp_path, monkeypatch):
    import torch

    from srnn_pyg.cli.plot import plot_labels
    torch.manual_seed(0)
    out = {"x": torch.randn(6, 12, 1), "y": torch.randn(6, 12, 1), "pred": torch.randn(6, 12, 1),
           "ptr": torch.tensor([0, 3, 6]), "node_type": torch.zeros(6, dtype=torch.long)}
    out.update({f"{k}_data_units": out[k] * 10 + 50 for k in ("x", "y", "pred")})

    class Sensors:
        sensor_ids = ["717447", "717446", "717445"]
    labels = plot_labels(Sensors())
    assert labels == {"node_names": ["sensor 717447", "sensor 717446", "sensor 717445"]}
    path = tmp_path / "run" / "forecast.png"                    # its folder is created
    fig = _drawn(monkeypatch, out, "los_loop", False, path, None, **labels)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "minutes after the last observed step" and ax.get_ylabel() == "speed (mph)"
    texts = _legend_texts(ax)
    assert {"observed", "truth", "forecast"} <= set(texts) and "sensor 717445" in texts
    assert path.read_bytes()[:8] == PNG
    # positions in the plane, nodes named by their schema types
    out2 = {k: torch.randn(4, 5, 2) for k in ("x", "y", "pred")}
    out2.update(ptr=torch.tensor([0, 4]), node_type=torch.tensor([0, 1, 1, 0]))
    fig = _drawn(monkeypatch, out2, "eth_ucy", False, tmp_path / "p.png", (0, 1), type_names=["adult", "child"])
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x (normalised units)", "y (normalised units)")
    assert "node 1 (child)" in _legend_texts(ax)


@pytest.mark.parametrize("script, folder", [("forecast_traffic.py", "los_loop"), ("forecast_motion.py", "cmu_mocap"),
                                            ("anticipate_maneuvers.py", "brain4cars")])
def test_real_data_examples_without_data_exit_2(script, folder, tmp_path):
    """No data (unset, empty, or a folder without the dataset): exit 2 naming SRNN_PYG_DATA, no traceback."""
    for value in (None, "", str(tmp_path / "nowhere")):
        env = {k: v for k, v in os.environ.items() if k != "SRNN_PYG_DATA"}
        if value is not None:
            env["SRNN_PYG_DATA"] = value
        proc, output = _run(script, tmp_path, env=env)
        assert proc.returncode == 2, output[-2000:]
        assert "no data" in output and "SRNN_PYG_DATA" in output and folder in output
        assert "Traceback" not in output
