"""srnn_pyg.engine.loop: fit, its TrainConfig, exact resume, early stopping
and the other behaviours of the loop."""
import dataclasses
import json

import pytest
import torch
from engine_helpers import SMALL, Probe, run, srnn, strip
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig, fit, load_checkpoint, load_model
from srnn_pyg.models import build


# -------------------------------------------------------------------- resume
def test_resume_after_interruption_equals_an_uninterrupted_run(springs, tmp_path):
    common = dict(epochs=4, scheduler="cosine", noise=0.05, early_stopping=10)
    full = srnn(springs[0].schema, dropout=0.1)
    ref = run(full, springs, tmp_path / "full", **common)

    class Crash(Exception):
        pass

    def crash_after_2(record):
        if record["epoch"] == 2:
            raise Crash

    with pytest.raises(Crash):
        run(srnn(springs[0].schema, dropout=0.1), springs, tmp_path / "cut", callbacks=[crash_after_2],
            **common)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    resumed_model = srnn(springs[0].schema, seed=99, dropout=0.1)           # other init: overwritten
    resumed = run(resumed_model, springs, tmp_path / "cut", resume=True, **common)

    for (k, a), b in zip(full.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), k
    assert strip(resumed.history) == strip(ref.history)
    assert (resumed.best_epoch, resumed.best_score) == (ref.best_epoch, ref.best_score)
    lines = [json.loads(s) for s in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert strip(lines) == strip(json.loads(json.dumps(ref.history)))


def test_resume_of_a_finished_run_trains_no_more(springs, tmp_path):
    model = srnn(springs[0].schema)
    run(model, springs, tmp_path, epochs=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    again = run(model, springs, tmp_path, epochs=2, resume=tmp_path / "last.pt")
    assert again.epochs_run == 2 and len(again.history) == 2
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())



def _halving(opt):
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5 ** epoch)   # reads base_lrs at every step


@pytest.mark.parametrize("scheduler", [None, "cosine", _halving])
def test_resume_with_another_learning_rate_applies_it(springs, tmp_path, scheduler):
    """The restored optimiser state must not keep the former rate silently: a
    new ``lr`` scales every group's rate (and a schedule's base rates, so the
    schedule keeps its progress), a new ``weight_decay`` is set, with a warning."""
    common = dict(epochs=4, scheduler=scheduler, optimizer="adamw", weight_decay=0.0)
    ref = run(srnn(springs[0].schema), springs, tmp_path / "ref", **common)

    class Stop(Exception):
        pass

    def stop_after_2(record):
        if record["epoch"] == 2:
            raise Stop

    for cut in ("cut", "cut2"):                      # interrupted after epoch 2 of the same 4-epoch schedule
        with pytest.raises(Stop):
            run(srnn(springs[0].schema), springs, tmp_path / cut, callbacks=[stop_after_2], **common)
    with pytest.warns(UserWarning, match=r"other rates or epochs than the checkpoint's: 'lr' was 0.01, now 0.005: the "
                                         r"learning rate \(now .*\) is scaled by 0.5; 'weight_decay' was 0.0, now 0.1"):
        again = run(srnn(springs[0].schema), springs, tmp_path / "cut", resume=True,
                    **dict(common, lr=5e-3, weight_decay=0.1))
    lrs = [r["lr"] for r in again.history]
    assert lrs[:2] == [r["lr"] for r in ref.history[:2]]
    assert lrs[2:] == pytest.approx([0.5 * r["lr"] for r in ref.history[2:]], rel=1e-9)
    assert again.history[2]["train_loss"] != ref.history[2]["train_loss"]
    ckpt = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert ckpt["optimizer"]["param_groups"][0]["weight_decay"] == 0.1
    # the same rates: no warning, the same run as without the interruption
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = run(srnn(springs[0].schema), springs, tmp_path / "cut2", resume=True, **common)
    assert strip(same.history) == strip(ref.history)


@pytest.mark.parametrize("scheduler", ["cosine", "step"])
def test_resume_with_more_epochs_stretches_a_schedule_sized_by_them(springs, tmp_path, scheduler):
    """A run of 2 epochs resumed to 6: the cosine (or step) schedule of 2 epochs would end at rate 0 (or cut
    early); it is refitted to 6 epochs, so the epochs after the resume have the rates of a 6-epoch run."""
    run(srnn(springs[0].schema), springs, tmp_path / "short", epochs=2, scheduler=scheduler)
    with pytest.warns(UserWarning, match=r"'epochs' was 2, now 6: the (cosine|step) schedule now"):
        longer = run(srnn(springs[0].schema), springs, tmp_path / "short", epochs=6, scheduler=scheduler, resume=True)
    whole = run(srnn(springs[0].schema), springs, tmp_path / "whole", epochs=6, scheduler=scheduler)
    lrs = [r["lr"] for r in longer.history]
    assert lrs[2:] == pytest.approx([r["lr"] for r in whole.history[2:]], rel=1e-9) and min(lrs) > 0
    kw = dict(scheduler_kwargs={"T_max": 2} if scheduler == "cosine" else {"step_size": 1})
    run(srnn(springs[0].schema), springs, tmp_path / "fixed", epochs=2, scheduler=scheduler, **kw)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # a length the user fixed is kept, silently
        run(srnn(springs[0].schema), springs, tmp_path / "fixed", epochs=3, scheduler=scheduler, resume=True, **kw)


def test_resume_with_another_sgd_momentum_applies_it(springs, tmp_path):
    common = dict(epochs=2, optimizer="sgd", momentum=0.9)
    run(srnn(springs[0].schema), springs, tmp_path, **dict(common, epochs=1))
    with pytest.warns(UserWarning, match=r"'momentum' was 0.9, now 0.5"):
        run(srnn(springs[0].schema), springs, tmp_path, resume=True, **dict(common, momentum=0.5))
    assert load_checkpoint(tmp_path / "last.pt")["optimizer"]["param_groups"][0]["momentum"] == 0.5

# ------------------------------------------------------------ other behaviour
def test_non_trainable_models_are_evaluated_only(springs, tmp_path):
    model = build("zero_velocity", springs[0].schema, 4, 4)
    result = run(model, springs, tmp_path, epochs=3)
    assert [r["epoch"] for r in result.history] == [0]
    assert result.history[0]["val_mse"] > 0 and result.history[0]["train_loss"] is None
    assert repr(load_model(tmp_path)) == repr(model)


def test_early_stopping(springs):
    model = srnn(springs[0].schema)
    frozen = lambda params: torch.optim.SGD(params, lr=0.0)                # noqa: E731  never improves
    result = run(model, springs, epochs=20, early_stopping=2, optimizer=frozen, monitor="val_mse")
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1


def test_amp_on_cpu_warns_and_trains(springs):
    with pytest.warns(UserWarning, match="CUDA"):
        result = run(srnn(springs[0].schema), springs, epochs=1, amp=True)
    assert result.history[0]["train_loss"] > 0


def test_argument_errors_name_the_argument(springs):
    model = srnn(springs[0].schema)
    for kw, match in ((dict(epochs=0), "'epochs'"), (dict(objective="tf"), "'objective'"),
                      (dict(scheduler="linear"), "'scheduler'"), (dict(lr=-1.0), "'lr'"),
                      (dict(noise=[(3, 0.1), (1, 0.2)]), "increasing"),
                      (dict(monitor="val_nope"), "'monitor'"), (dict(resume=True), "'out_dir'")):
        with pytest.raises(ValueError, match=match):
            run(model, springs, **{**dict(epochs=1), **kw})

    class NoForward(Probe):
        has_forward = False
    with pytest.raises(ValueError, match="teacher_forcing"):
        run(NoForward(), springs, objective="teacher_forcing")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model("nowhere/best.pt")


# --------------------------------------------------------------- TrainConfig
def test_a_config_and_keywords_train_alike(springs, tmp_path):
    train, val = springs
    config = TrainConfig(epochs=2, lr=1e-2, progress=False, device="cpu", scheduler="step")
    a, b = srnn(train.schema), srnn(train.schema)
    ra = fit(a, DataLoader(train, batch_size=8, shuffle=True), DataLoader(val, batch_size=8), config)
    rb = fit(b, DataLoader(train, batch_size=8, shuffle=True), DataLoader(val, batch_size=8),
             **dataclasses.asdict(config))
    assert strip(ra.history) == strip(rb.history)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    rc = fit(srnn(train.schema), DataLoader(train, batch_size=8), None, config, epochs=1)   # overridden
    assert [r["epoch"] for r in rc.history] == [1] and config.epochs == 2
    with pytest.raises(TypeError, match="'epoch'"):
        fit(a, DataLoader(train, batch_size=8), epoch=1)
    with pytest.raises(TypeError, match="'epochs'"):
        fit(a, DataLoader(train, batch_size=8))


def test_plain_modules_train_with_fit(springs, tmp_path):
    """Any module with forward/forecast trains; its checkpoints cannot rebuild it."""
    class Plain(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 4)

        def forward(self, data):
            return data.x + self.lin(data.x)

        def forecast(self, data, horizon):
            return (data.x[:, -1:] + self.lin(data.x[:, -1:])).expand(-1, horizon, -1)

    torch.manual_seed(0)
    model = Plain()
    with pytest.warns(UserWarning, match="not a registered Forecaster"):
        result = run(model, springs, tmp_path, epochs=3)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.model_record is None and load_checkpoint(tmp_path)["model_record"] is None
    with pytest.raises(ValueError, match="registered"):
        load_model(tmp_path)


@pytest.mark.parametrize("with_dir", [False, True])
def test_restore_best_brings_back_the_best_epoch_with_or_without_a_run_folder(springs, tmp_path, with_dir):
    """Validation-based early stopping: the weights of the best validation epoch come back."""
    from srnn_pyg.engine import evaluate

    train, val = springs
    seen = []
    model = srnn(train.schema, init="default", linear_encoder=False)   # lr 0.3 makes a later epoch worse
    kept = {}

    def remember(record):                       # the weights after each epoch, and its validation score
        seen.append(record["val_mse"])
        kept[record["epoch"]] = {k: v.clone() for k, v in model.state_dict().items()}

    result = fit(model, DataLoader(train, 4, shuffle=True), DataLoader(val, 8),
                 epochs=6, lr=0.3, monitor="val_mse", restore_best=True, progress=False, callbacks=[remember],
                 out_dir=tmp_path / "run" if with_dir else None)
    best = min(range(len(seen)), key=seen.__getitem__) + 1
    assert result.best_epoch == best
    for k, v in model.state_dict().items():
        assert torch.equal(v, kept[best][k]), k
    assert best < len(seen) or with_dir                   # (the large lr makes some later epoch worse)
    assert evaluate(model, DataLoader(val, 8))["mse"] == pytest.approx(seen[best - 1], rel=1e-5)


def test_a_model_with_nothing_to_train_and_no_forward_is_scored_on_forecasts(springs):
    from srnn_pyg.models import Forecaster

    class Hold(Forecaster):                     # no parameters, no one-step form (like seasonal_mean)
        has_forward, trainable = False, False

        def forecast(self, data, horizon):
            return data.x[:, -1:].expand(-1, horizon, -1)

    result = fit(Hold(springs[0].schema, 4, 4), DataLoader(springs[0], 8), DataLoader(springs[1], 8), epochs=3,
                 progress=False)                # the default objective (teacher forcing) cannot apply
    assert "val_mse" in result.history[-1] and "val_tf_mse" not in result.history[-1]


@pytest.mark.parametrize("loss", ["l1", "huber", None])
def test_the_run_loss_replaces_a_deterministic_heads_loss(springs, loss):
    import torch.nn.functional as F

    from srnn_pyg.engine.objectives import teacher_forcing

    train, _ = springs
    model = srnn(train.schema)
    model.head.huber_delta = 0.3                  # the head's own delta is kept when the run's loss is Huber
    frozen = lambda params: torch.optim.SGD(params, lr=0.0)                # noqa: E731  weights stay
    result = fit(model, DataLoader(train, len(train)), epochs=1, optimizer=frozen, loss=loss, progress=False)
    batch = next(iter(DataLoader(train, len(train))))
    inp, target, mask = teacher_forcing(batch)
    with torch.no_grad():
        err = model(inp) - target
    expected = {"l1": err.abs(), "huber": F.huber_loss(err, torch.zeros_like(err), reduction="none", delta=0.3),
                None: err.pow(2)}[loss].mean()
    assert result.history[-1]["train_loss"] == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(epochs=1, loss="hinge")


# ----------------------------------------------------------------- divergence
def _corrupting_adam(at_step, value=float("nan")):
    """An Adam that writes ``value`` into the first weight at its ``at_step``-th step."""
    def make(params):
        params = list(params)
        opt = torch.optim.Adam(params, lr=1e-2)
        real_step, count = opt.step, [0]

        def step(*a, **kw):
            out = real_step(*a, **kw)
            count[0] += 1
            if count[0] >= at_step:
                with torch.no_grad():
                    params[0].view(-1)[0] = value
            return out
        opt.step = step
        return opt
    return make


def test_divergence_stops_before_overwriting_checkpoints(springs, tmp_path):
    from srnn_pyg.engine.loop import TrainingDivergedError
    model = srnn(springs[0].schema)
    run(model, springs, tmp_path, epochs=1, optimizer=_corrupting_adam(10 ** 9))       # never corrupts
    good = load_checkpoint(tmp_path / "last.pt")["model"]
    # epoch 2 starts with a NaN weight: the loss of its first batch is NaN
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 2, step \d+: the training loss became "
                                                 r"nan; .*last\.pt' still holds epoch 1\. Lower 'lr'") as err:
        run(model, springs, tmp_path, epochs=3, resume=True, optimizer=_corrupting_adam(1))
    assert isinstance(err.value, TrainingDivergedError)
    for name in ("last.pt", "best.pt"):
        ckpt = load_checkpoint(tmp_path / name)
        assert ckpt["epoch"] == 1
        assert all(torch.equal(ckpt["model"][k], v) for k, v in good.items())


def test_non_finite_weights_with_a_finite_loss_are_caught_at_the_epoch_end(springs, tmp_path):
    # 24 graphs in batches of 8: the weights turn infinite at the epoch's last step,
    # after its loss was computed; the running-loss check (every 10 batches) never sees it.
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 3: weights became NaN or infinite \(\S+\)"
                                                 r".*no checkpoint was written"):
        run(srnn(springs[0].schema), springs, tmp_path, epochs=2, optimizer=_corrupting_adam(3, float("inf")))
    assert not (tmp_path / "last.pt").exists() and not (tmp_path / "best.pt").exists()


# ------------------------------------------------------- resume compatibility
@pytest.mark.parametrize("change,match", [
    (dict(model=dict(edge_hidden=16)), r"args\.edge_hidden \(8 vs 16\)"),
    (dict(model=dict(residual=True)), r"args\.residual \(False vs True\)"),
    (dict(config=dict(optimizer="sgd")), r"optimizer \('adam' vs 'sgd'\)"),
])
def test_resume_refuses_another_model_or_optimizer_in_one_line(springs, tmp_path, change, match):
    run(srnn(springs[0].schema), springs, tmp_path, epochs=1)
    torch.manual_seed(0)
    other = build("srnn", springs[0].schema, 4, 4, **{**SMALL, **change.get("model", {})})
    with pytest.raises(ValueError, match=rf"cannot resume from '.*last\.pt': it differs from this run in "
                                         rf".*{match}") as err:
        run(other, springs, tmp_path, epochs=2, resume=True, **change.get("config", {}))
    assert "\n" not in str(err.value)


def test_resume_refuses_another_schema(springs, tmp_path):
    from srnn_pyg import STSchema
    run(srnn(springs[0].schema), springs, tmp_path, epochs=1)
    d = springs[0].schema.to_dict()
    d["node_types"] = [n + "_x" for n in d["node_types"]]
    d["edge_types"] = [[src + "_x", rel, dst + "_x"] for src, rel, dst in d["edge_types"]]
    renamed = STSchema.from_dict(d)
    with pytest.raises(ValueError, match=r"args\.schema\.node_types \(saved only \['light', 'heavy'\], current "
                                         r"only \['light_x', 'heavy_x'\]\); args\.schema\.edge_types \(saved only"):
        run(srnn(renamed), springs, tmp_path, epochs=2, resume=True)


def test_an_out_dir_holding_a_run_is_refused_unless_resume_or_overwrite(springs, tmp_path):
    first = run(srnn(springs[0].schema), springs, tmp_path, epochs=1)
    saved = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=r"fit: out_dir '.*' already holds a run \(last\.pt, best\.pt, metrics\.jsonl, "
                                         r"result\.json\): pass resume=True to continue it, overwrite=True"):
        run(srnn(springs[0].schema), springs, tmp_path, epochs=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == saved        # nothing touched
    again = run(srnn(springs[0].schema), springs, tmp_path, epochs=2, overwrite=True)
    assert [r["epoch"] for r in again.history] == [1, 2] and first.history[0]["epoch"] == 1
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]                     # the old run's lines are gone
    # resuming another run's checkpoint into this folder would replace this run too
    other = tmp_path.with_name(tmp_path.name + "_other")                         # beside it, not inside
    run(srnn(springs[0].schema), springs, other, epochs=1)
    with pytest.raises(ValueError, match="already holds a run"):
        run(srnn(springs[0].schema), springs, tmp_path, epochs=2, resume=str(other / "last.pt"))
    # overwrite leaves nothing of the old run, not even a best.pt the new run never beats
    never = lambda c: {"nan": float("nan")}                                     # noqa: E731
    run(srnn(springs[0].schema), springs, tmp_path, epochs=1, overwrite=True, val_score=never, monitor="val_nan")
    assert not (tmp_path / "best.pt").exists() and load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
