"""Tests of srnn_pyg.train: objectives, masks, noise curriculum, exact resume,
atomic checkpoints, DDP (gloo, 2 processes) and evaluation of every model."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.datasets import Springs
from srnn_pyg.models import Forecaster, available
from srnn_pyg.testing import fake_schema, fake_st_data
from srnn_pyg.train import (PAPER_NOISE_SCHEDULE, NoiseSchedule, _teacher_forcing, atomic_save,
                            build_model, evaluate, fit, load_checkpoint, load_model)

SMALL = dict(edge_hidden=8, node_hidden=8, edge_mlp=(8,), node_mlp=(8,))


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models: threads only add contention on a shared machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def springs():
    train = Springs(num_graphs=24, obs=6, horizon=3, split="train", seed=0)
    val = Springs(num_graphs=8, obs=6, horizon=3, split="val", seed=0, stats=train.stats)
    return train, val


def _srnn(schema, seed=1, **kw):
    torch.manual_seed(seed)
    return build_model("srnn", schema, 4, 4, **SMALL, **kw)


def _run(model, springs, tmp=None, **kw):
    train, val = springs
    args = dict(epochs=2, lr=1e-2, progress=False, device="cpu")
    args.update(kw)
    return fit(model, DataLoader(train, batch_size=8, shuffle=True), DataLoader(val, batch_size=8),
               out_dir=tmp, **args)


def _strip(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


# ------------------------------------------------------------------ objectives
@pytest.mark.parametrize("name,objective", [("srnn", "teacher_forcing"), ("srnn", "rollout"),
                                            ("node_lstm", "rollout")])
def test_objectives_reduce_the_loss(springs, name, objective):
    train, _ = springs
    torch.manual_seed(0)
    kw = SMALL if name == "srnn" else dict(hidden=8)
    model = build_model(name, train.schema, 4, 4, residual=True, **kw)
    loader = DataLoader(train, batch_size=8)
    before = evaluate(model, loader, metrics=["loss"], objective=objective)["loss"]
    result = _run(model, springs, epochs=3, objective=objective, lr=1e-2)
    after = evaluate(model, loader, metrics=["loss"], objective=objective)["loss"]
    assert after < 0.8 * before
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.epochs_run == 3 and result.best_epoch is not None


def test_teacher_forcing_inputs_targets_and_masks():
    data = fake_st_data(num_nodes=4, T=3, F=2, horizon=2, masks=True)
    data.y_mask = torch.tensor([[True, False], [True, True], [False, True], [True, True]])
    inp, target, mask = _teacher_forcing(data)
    seq = torch.cat([data.x, data.y], 1)
    assert torch.equal(inp.x, seq[:, :-1]) and torch.equal(target, seq[:, 1:])
    present = torch.cat([data.node_mask, data.y_mask], 1)
    assert torch.equal(inp.node_mask, present[:, :-1])
    assert torch.equal(mask, present[:, 1:] & present[:, :-1])
    assert inp.edge_mask.shape == (data.edge_index.size(1), 4)
    assert torch.equal(inp.edge_mask[:, 3], data.edge_mask[:, -1])        # last step held
    assert data.x.shape == (4, 3, 2)                                        # the batch is left alone


def test_losses_ignore_masked_targets(springs):
    train, _ = springs
    data = train[0]
    data.y_mask = torch.ones(data.y.shape[:2], dtype=torch.bool)
    data.y_mask[0, 1] = False
    model = build_model("zero_velocity", train.schema, 4, 4)
    clean = evaluate(model, [data], metrics=["mse", "mae"])
    data.y = data.y.clone()
    data.y[0, 1] = 1e6                                                      # absent: must not count
    assert evaluate(model, [data], metrics=["mse", "mae"]) == pytest.approx(clean, rel=1e-6)


def _walkers(num, seed):
    """Windows of 2-d walkers (4 observed, 3 target steps), one late arrival each."""
    from srnn_pyg import STData, STSchema
    g = torch.Generator().manual_seed(seed)
    schema = STSchema(["walker"], [("walker", "walker")])
    pairs = torch.tensor([(i, j) for i in range(4) for j in range(4) if i != j]).T    # [2, 12]
    out = []
    for _ in range(num):
        walk = torch.cumsum(torch.randn(4, 7, 2, generator=g) * 0.1 + 0.2, dim=1)
        d = STData(x=walk[:, :4], y=walk[:, 4:], edge_index=pairs)
        d.node_mask = torch.ones(4, 4, dtype=torch.bool)
        d.node_mask[0, :2] = False
        d.x = d.x * d.node_mask.unsqueeze(-1)
        d.y_mask = torch.ones(4, 3, dtype=torch.bool)
        out.append(d)
    return schema, out


def test_gaussian_head_trains_by_nll():
    from srnn_pyg.metrics import bivariate_gaussian_nll
    schema, data = _walkers(12, 0)
    torch.manual_seed(0)
    model = build_model("srnn", schema, 2, 2, **SMALL, edge_scope="edge", aggr="attention", head="gaussian")
    loader = DataLoader(data, batch_size=4)
    before = evaluate(model, loader, metrics=["loss", "tf_mse", "mse"], objective="teacher_forcing")
    inp, target, mask = _teacher_forcing(next(iter(DataLoader(data, batch_size=12))))
    with torch.no_grad():
        direct = float(bivariate_gaussian_nll(model(inp), target, mask))
        tf_mse = float(((model(inp)[..., :2] - target) ** 2 * mask.unsqueeze(-1)).sum() / (2 * mask.sum()))
    assert before["loss"] == pytest.approx(direct, rel=1e-5)          # the loss is the NLL
    assert before["tf_mse"] == pytest.approx(tf_mse, rel=1e-5)        # tf_mse scores the means
    result = fit(model, loader, loader, epochs=8, lr=1e-2, progress=False, device="cpu")
    assert result.history[-1]["val_loss"] < before["loss"] - 0.5
    assert evaluate(model, loader, metrics=["mse"])["mse"] < before["mse"]
    wide = data[0].clone()                                 # 4 features in, a 2-d Gaussian out
    wide.x, wide.y = torch.cat([wide.x, wide.x], -1), torch.cat([wide.y, wide.y], -1)
    bad = build_model("srnn", schema, 4, 2, **SMALL, head="gaussian")
    with pytest.raises(ValueError, match="Gaussian head"):
        fit(bad, DataLoader([wide]), epochs=1, progress=False, device="cpu")


def test_classification_cross_entropy_and_accuracy():
    schema = fake_schema(2)
    g = torch.Generator().manual_seed(0)
    windows = []
    for _ in range(12):
        d = fake_st_data(num_nodes=5, T=4, F=3, schema=schema, generator=g)
        d.y = (d.x[..., 0] > 0).long()                                      # [N, T] learnable labels
        d.y_mask = torch.ones_like(d.y, dtype=torch.bool)
        d.y_mask[-1] = False
        windows.append(d)
    torch.manual_seed(0)
    model = build_model("srnn", schema, 3, 2, task="classification", **SMALL)
    loader = DataLoader(windows, batch_size=4)
    before = evaluate(model, loader)
    assert set(before) == {"loss", "ce", "accuracy"}
    result = fit(model, DataLoader(windows, batch_size=4, shuffle=True), loader, epochs=6, lr=2e-2,
                 progress=False, monitor="val_accuracy", device="cpu")
    after = evaluate(model, loader)
    assert after["ce"] < before["ce"] and after["accuracy"] > 0.7
    assert result.mode == "max"
    with pytest.raises(ValueError, match="rollout"):
        fit(model, loader, epochs=1, objective="rollout", progress=False, device="cpu")


# --------------------------------------------------------------------- noise
def test_noise_schedule_steps():
    s = NoiseSchedule(PAPER_NOISE_SCHEDULE)
    assert [it for it, _ in PAPER_NOISE_SCHEDULE] == [250, 500, 1000, 1300, 2000, 2500, 3300]
    assert [std for _, std in PAPER_NOISE_SCHEDULE] == [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    assert [s(i) for i in (0, 249, 250, 499, 500, 1299, 1300, 3299, 3300, 10 ** 6)] == \
        [0.0, 0.0, 0.01, 0.01, 0.05, 0.1, 0.2, 0.5, 0.7, 0.7]
    with pytest.raises(ValueError, match="increasing"):
        NoiseSchedule([(5, 0.1), (5, 0.2)])
    with pytest.raises(ValueError, match="std"):
        NoiseSchedule([(0, -1.0)])


class _Probe(Forecaster):
    """Records the inputs it is trained on."""

    def __init__(self):
        super().__init__(None, 4, 4)
        self.lin = torch.nn.Linear(4, 4)
        self.seen = []

    def forward(self, data):
        if self.training:
            self.seen.append(data.x.detach().clone())
        return self.lin(data.x)

    def forecast(self, data, horizon):
        return self.lin(data.x[:, -1:]).expand(-1, horizon, -1)


def test_noise_curriculum_raises_the_std_at_the_given_steps(springs):
    train, val = springs
    probe = _Probe()
    schedule = [(2, 0.5), (5, 2.0)]
    result = fit(probe, DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=3,
                 noise=schedule, progress=False, device="cpu")              # 3 batches per epoch
    clean = [torch.cat([b.x, b.y], 1)[:, :-1] for b in DataLoader(train, batch_size=8)]
    stds = [float((seen - clean[i % 3]).std()) for i, seen in enumerate(probe.seen)]
    assert len(stds) == 9
    assert stds[0] == 0.0 and stds[1] == 0.0
    for i in (2, 3, 4):
        assert stds[i] == pytest.approx(0.5, rel=0.15)
    for i in (5, 6, 7, 8):
        assert stds[i] == pytest.approx(2.0, rel=0.15)
    assert [r["noise_std"] for r in result.history] == [0.5, 2.0, 2.0]     # the epoch's last step


# -------------------------------------------------------------------- resume
def test_resume_after_interruption_equals_an_uninterrupted_run(springs, tmp_path):
    common = dict(epochs=4, scheduler="cosine", noise=0.05, early_stopping=10)
    full = _srnn(springs[0].schema, dropout=0.1)
    ref = _run(full, springs, tmp_path / "full", **common)

    class Crash(Exception):
        pass

    def crash_after_2(record):
        if record["epoch"] == 2:
            raise Crash

    with pytest.raises(Crash):
        _run(_srnn(springs[0].schema, dropout=0.1), springs, tmp_path / "cut", callbacks=[crash_after_2],
             **common)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    resumed_model = _srnn(springs[0].schema, seed=99, dropout=0.1)           # other init: overwritten
    resumed = _run(resumed_model, springs, tmp_path / "cut", resume=True, **common)

    for (k, a), b in zip(full.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), k
    assert _strip(resumed.history) == _strip(ref.history)
    assert (resumed.best_epoch, resumed.best_score) == (ref.best_epoch, ref.best_score)
    lines = [json.loads(s) for s in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert _strip(lines) == _strip(json.loads(json.dumps(ref.history)))


def test_resume_of_a_finished_run_trains_no_more(springs, tmp_path):
    model = _srnn(springs[0].schema)
    _run(model, springs, tmp_path, epochs=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again = _run(model, springs, tmp_path, epochs=2, resume=tmp_path / "last.pt")
    assert again.epochs_run == 2 and len(again.history) == 2
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --------------------------------------------------------------- checkpoints
def test_checkpoint_contents_and_load_model(springs, tmp_path):
    model = _srnn(springs[0].schema, residual=True)
    result = _run(model, springs, tmp_path, scheduler="step")
    ckpt = load_checkpoint(tmp_path / "last.pt")
    for key in ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "step", "best_score",
                "history", "spec", "config"):
        assert key in ckpt
    assert set(ckpt["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert ckpt["spec"]["name"] == "srnn" and ckpt["spec"]["schema"] == springs[0].schema.to_dict()
    assert ckpt["spec"]["kwargs"]["residual"] is True
    loaded = load_model(tmp_path)                                            # the directory: best.pt
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == result.best_epoch
    batch = next(iter(DataLoader(springs[1], batch_size=8)))
    model.load_state_dict(best["model"])
    model.eval()
    assert torch.allclose(loaded.forecast(batch, 3), model.forecast(batch, 3))


def test_model_spec_is_recovered_for_models_built_by_hand(springs, tmp_path):
    from srnn_pyg.models import NodeLSTM
    model = NodeLSTM(springs[0].schema, 4, 4, hidden=8, residual=True)
    _run(model, springs, tmp_path, epochs=1)
    loaded = load_model(tmp_path / "last.pt")
    assert repr(loaded) == repr(model) and loaded.residual


@pytest.mark.parametrize("fail", ["save", "replace"])
def test_a_checkpoint_write_killed_midway_keeps_the_previous_one(springs, tmp_path, monkeypatch, fail):
    model = _srnn(springs[0].schema)
    _run(model, springs, tmp_path, epochs=1)
    # A temporary file left by a process killed while writing:
    (tmp_path / ".last.pt.tmp-1-dead").write_bytes(b"not a checkpoint")

    if fail == "save":
        real_save = torch.save

        def broken_save(obj, f, *a, **kw):
            f.write(b"half a checkpoint")                                   # then the "crash"
            raise OSError("disk full")
        monkeypatch.setattr(torch, "save", broken_save)
    else:
        real_replace = os.replace

        def broken_replace(src, dst):
            if str(dst).endswith(".pt"):
                raise OSError("killed before the rename")
            return real_replace(src, dst)
        monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        _run(model, springs, tmp_path, epochs=2, resume=True)
    monkeypatch.undo()
    if fail == "save":
        assert torch.save is real_save

    assert load_checkpoint(tmp_path)["epoch"] == 1                          # best.pt
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    load_model(tmp_path / "last.pt")
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in leftovers if n.endswith(".pt")] == ["best.pt", "last.pt"]
    assert not any(".tmp-" in n for n in leftovers)                         # cleaned, stale one too

    again = _run(model, springs, tmp_path, epochs=2, resume=True)           # resumes from epoch 1
    assert [r["epoch"] for r in again.history] == [1, 2]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(s)["epoch"] for s in lines] == [1, 2]


def test_atomic_save_never_exposes_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    atomic_save({"a": torch.ones(2)}, path)

    def broken(obj, f, *a, **kw):
        f.write(b"junk")
        raise RuntimeError("interrupted")
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(RuntimeError):
        atomic_save({"a": torch.zeros(2)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]


# ------------------------------------------------------------ other behaviour
def test_non_trainable_models_are_evaluated_only(springs, tmp_path):
    model = build_model("zero_velocity", springs[0].schema, 4, 4)
    result = _run(model, springs, tmp_path, epochs=3)
    assert [r["epoch"] for r in result.history] == [0]
    assert result.history[0]["val_mse"] > 0 and result.history[0]["train_loss"] is None
    assert repr(load_model(tmp_path)) == repr(model)


def test_early_stopping(springs):
    model = _srnn(springs[0].schema)
    frozen = lambda params: torch.optim.SGD(params, lr=0.0)                # noqa: E731  never improves
    result = _run(model, springs, epochs=20, early_stopping=2, optimizer=frozen, monitor="val_mse")
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_amp_on_cpu_warns_and_trains(springs):
    with pytest.warns(UserWarning, match="CUDA"):
        result = _run(_srnn(springs[0].schema), springs, epochs=1, amp=True)
    assert result.history[0]["train_loss"] > 0


def test_argument_errors_name_the_argument(springs):
    model = _srnn(springs[0].schema)
    for kw, match in ((dict(epochs=0), "'epochs'"), (dict(objective="tf"), "'objective'"),
                      (dict(scheduler="linear"), "'scheduler'"), (dict(lr=-1.0), "'lr'"),
                      (dict(noise=[(3, 0.1), (1, 0.2)]), "increasing"),
                      (dict(monitor="val_nope"), "'monitor'"), (dict(resume=True), "'out_dir'")):
        with pytest.raises(ValueError, match=match):
            _run(model, springs, **{**dict(epochs=1), **kw})

    class NoForward(_Probe):
        has_forward = False
    with pytest.raises(ValueError, match="teacher_forcing"):
        _run(NoForward(), springs, objective="teacher_forcing")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model("nowhere/best.pt")


def _small_kwargs(name, train):
    from srnn_pyg.cli import _model_kwargs
    return _model_kwargs(name, 8, False, {}, {"obs_len": train.obs, "horizon": train.horizon})


@pytest.fixture(scope="module")
def springs_long():
    # Convolutional models (STGCN) need a dozen observed steps.
    train = Springs(num_graphs=16, obs=12, horizon=3, split="train", seed=0)
    return train, Springs(num_graphs=8, obs=12, horizon=3, split="val", seed=0, stats=train.stats)


@pytest.mark.parametrize("name", available())
def test_every_registered_model_trains_and_evaluates(name, springs_long):
    springs = springs_long
    train, val = springs
    torch.manual_seed(0)
    model = build_model(name, train.schema, 4, 4, **_small_kwargs(name, train))
    objective = "teacher_forcing" if model.has_forward else "rollout"
    result = _run(model, springs, epochs=1, objective=objective)
    scores = evaluate(model, DataLoader(val, batch_size=8))
    assert len(scores["mse_per_step"]) == 3 and scores["mse"] > 0
    assert ("tf_mse" in scores) == bool(model.has_forward)
    assert result.history[-1]["val_mse"] == pytest.approx(scores["mse"], rel=1e-5)


# ----------------------------------------------------------------------- DDP
_DDP_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    from torch_geometric.loader import DataLoader
    from srnn_pyg.datasets import Springs
    from srnn_pyg.train import build_model, fit
    out, rank = sys.argv[1], os.environ["RANK"]
    train = Springs(num_graphs=12, obs=5, horizon=2)
    val = Springs(num_graphs=5, obs=5, horizon=2, split="val", stats=train.stats)
    torch.manual_seed(int(rank) + 1)      # a different init on each rank: DDP must broadcast rank 0's
    model = build_model("srnn", train.schema, 4, 4, edge_hidden=8, node_hidden=8, edge_mlp=(8,),
                        node_mlp=(8,))
    result = fit(model, DataLoader(train, batch_size=3, shuffle=True), DataLoader(val, batch_size=2),
                 epochs=2, lr=1e-2, distributed=True, device="cpu", progress=False,
                 out_dir=os.path.join(out, "run"))
    torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
    with open(os.path.join(out, f"history{rank}.json"), "w") as f:
        json.dump(result.to_dict()["history"], f)
""")


def test_ddp_two_gloo_processes_agree(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    h0 = json.loads((tmp_path / "history0.json").read_text())
    h1 = json.loads((tmp_path / "history1.json").read_text())
    assert _strip(h0) == _strip(h1) and [r["epoch"] for r in h0] == [1, 2]
    assert h0[0]["step"] == 2                                   # 12 windows / (2 ranks x 3 per batch)
    # The reduced validation metrics are those of one process over the whole split.
    model = load_model(tmp_path / "run" / "last.pt")
    assert all(torch.equal(a[k], v) for k, v in model.state_dict().items())
    train = Springs(num_graphs=12, obs=5, horizon=2)
    val = Springs(num_graphs=5, obs=5, horizon=2, split="val", stats=train.stats)
    scores = evaluate(model, DataLoader(val, batch_size=5))
    assert h0[-1]["val_mse"] == pytest.approx(scores["mse"], rel=1e-5)
    assert h0[-1]["val_tf_mse"] == pytest.approx(scores["tf_mse"], rel=1e-5)
    files = sorted(p.name for p in Path(tmp_path / "run").iterdir())
    assert files == ["best.pt", "last.pt", "metrics.jsonl", "result.json"]
