"""benchmarks/validation_search.py: train-only augmentation and a smoke run (no test split opened)."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def vs():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import validation_search
        yield validation_search
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_train_augment_reaches_the_training_windows_only(vs):
    from srnn_pyg import datasets
    from srnn_pyg.transforms import RandomRotation

    cls = datasets.get("springs")
    rotate = RandomRotation({"x": [(0, 1), (2, 3)], "y": [(0, 1), (2, 3)]}, generator=torch.Generator().manual_seed(0))
    search = vs.Search(variants={}, metric="MSE", data=dict(num_graphs=10))
    train, val = vs._open(cls, search, {"train_augment": rotate})
    assert train.transform is rotate and val.transform is None
    assert not torch.equal(train[0].x, train[0].x)                       # drawn anew at every read
    plain, _ = vs._open(cls, search, {})
    # the same windows, turned: lengths of every (position, velocity) pair kept
    assert torch.allclose(train[0].x[..., :2].norm(dim=-1), plain[0].x[..., :2].norm(dim=-1), atol=1e-5)
    # composed after the search's own transform
    seen = []
    search2 = vs.Search(variants={}, metric="MSE", data=dict(num_graphs=10, transform=lambda d: seen.append(1) or d))
    train2, val2 = vs._open(cls, search2, {"train_augment": rotate})
    train2[0], val2[0]
    assert len(seen) == 2


def test_smoke_run_writes_its_table(tmp_path):
    out = tmp_path / "validation.md"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "validation_search.py"), "--dataset", "chickenpox",
                           "--seeds", "1", "--epochs", "1", "--variants", "no residual", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    if proc.returncode != 0 and "SRNN_PYG_DATA" in proc.stderr + proc.stdout:
        pytest.skip("Chickenpox data not available")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()
    assert "--variants 'no residual'" in text                          # the command, quoted as run
    assert "| no residual |" in text and "linear_ar (reference, not an S-RNN)" in text
    assert "The test split is never opened" in text


def test_cmu_search_holds_out_whole_recordings_and_finetunes(vs, tmp_path):
    """The CMU search carves each action's last recording (as the accuracy
    benchmark does) and runs with velocity inputs and rollout fine-tuning."""
    import os
    if not os.environ.get("SRNN_PYG_DATA"):
        pytest.skip("SRNN_PYG_DATA is not set")
    from srnn_pyg import datasets
    search = vs.SEARCHES["cmu_mocap"]
    train, val = vs._open(datasets.get("cmu_mocap"), search, {"features": "pos_vel"})
    base = vs._base(train)
    rec = lambda part: {base.index[int(i)][0] for i in part.indices()}     # noqa: E731
    last = {}
    for r, name in enumerate(base.recording_names):
        action = name.split("/")[1]
        last[action] = max(last.get(action, -1), r)
    assert rec(val) == set(last.values()) and not rec(val) & rec(train)
    assert train[0].x.size(-1) == 54 and val[0].y.size(-1) == 27
    out = tmp_path / "validation.md"
    variant = "+ velocity inputs (pos_vel, derived velocity)"
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "validation_search.py"), "--dataset", "cmu_mocap",
                           "--seeds", "1", "--epochs", "2", "--hidden", "8", "--variants", variant,
                           "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()
    assert "| validation mean | 80ms | 160ms | 320ms | 400ms | 560ms | 1000ms | s per seed |" in text
    assert f"| {variant} |" in text and "zero_velocity (reference, not an S-RNN)" in text


def test_fine_tuning_schedule(vs, monkeypatch):
    """``rollout_share`` and ``rollout_lr`` set the rollout phase; a share of 1
    trains by rollout alone; the fine-tuned model is kept only if it helps."""
    from srnn_pyg.engine import TrainConfig
    calls = []
    def fake_fit(model, loader, val, config):                # each phase moves the weights by 1
        calls.append(config)
        with torch.no_grad():
            model.weight.add_(1.0)

    monkeypatch.setattr(vs, "fit", fake_fit)
    scores = iter([1.0, 0.5, 1.0, 2.0])
    monkeypatch.setattr(vs, "_scores", lambda val, model: {"mean": next(scores)})
    model = torch.nn.Linear(2, 2)
    start = model.weight.detach().clone()
    search = vs.Search(variants={}, metric="mean", finetune=True)
    config = TrainConfig(epochs=12, lr=0.3, progress=False)
    vs._train(model, [0], [0], search, config)
    assert [(c.epochs, c.objective) for c in calls] == [(8, "teacher_forcing"), (4, "rollout")]
    assert [c.lr for c in calls] == pytest.approx([0.3, 0.1])
    assert torch.allclose(model.weight, start + 2)                # the rollout phase lowered the score: kept
    calls.clear()
    vs._train(model, [0], [0], search, config, rollout_share=0.5, rollout_lr=1.0)
    assert [(c.epochs, c.objective, c.lr) for c in calls] == [(6, "teacher_forcing", 0.3), (6, "rollout", 0.3)]
    assert torch.allclose(model.weight, start + 3)                # it raised the score: undone
    calls.clear()
    vs._train(model, [0], [0], search, config, rollout_share=1.0)
    assert [(c.epochs, c.objective, c.lr) for c in calls] == [(12, "rollout", 0.3)]
