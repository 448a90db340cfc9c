"""A stranger's review of the public training and scoring API: ``srnn_pyg.engine``
(TrainConfig, fit, evaluate, collect, callbacks, checkpoints, save_model /
load_model), ``srnn_pyg.loader`` (OneHopLoader) and ``srnn_pyg.metrics``.

Tests without the ``test_ok_`` prefix demonstrate a defect: each failed on the
code it was written against (they pass since the fixes), and its docstring says
what a user expects and what happened. ``test_ok_*`` tests record what was checked and works.
Tiny synthetic data (``fake_st_data``), hidden size 8, one thread.
"""
import copy
import math

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

import srnn_pyg.metrics as M
from srnn_pyg import STData
from srnn_pyg.engine import (TrainConfig, collect, evaluate, fit, load_checkpoint, load_model,
                             save_model)
from srnn_pyg.engine.loggers import CSVLogger
from srnn_pyg.loader import OneHopLoader, seed_nodes, seed_view
from srnn_pyg.models import StructuralRNN
from srnn_pyg.testing import fake_schema, fake_st_data

torch.set_num_threads(1)

SCHEMA = fake_schema(2)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def windows(n=4, seed=0, nodes=5, **kw):
    g = torch.Generator().manual_seed(seed)
    return [fake_st_data(nodes, T=4, F=2, schema=SCHEMA, horizon=3, generator=g, **kw) for _ in range(n)]


def srnn(**kw):
    torch.manual_seed(0)
    return StructuralRNN(SCHEMA, 2, 2, edge_hidden=8, node_hidden=8, **kw)


def named_error(fn, *names, kinds=(TypeError, ValueError)):
    """Call ``fn``; it must raise one of ``kinds`` whose message holds every one of ``names``."""
    with pytest.raises(kinds) as info:
        fn()
    for name in names:
        assert name in str(info.value), f"{type(info.value).__name__}: {info.value}"


# ============================================================ engine: masks in the rollout objective
def _absent_at_last_step(big_target):
    """Windows with node_mask (no y_mask) whose node 0 is absent at the last observed step;
    node 0's future y set to ``big_target``."""
    ds = windows(3, masks=True)
    for d in ds:
        d.node_mask[0, -1] = False
        d.y[0] = big_target
    return ds


def test_rollout_metrics_honour_node_mask_without_y_mask():
    """errors.md / training.md: losses and metrics are masked by ``y_mask``, "or
    ``node_mask`` held over the horizon"; teacher forcing does hold it. Expected: the
    rollout metrics of ``evaluate`` ignore a node absent at the last observed step (it
    forecasts zeros by design), so its ``y`` cannot change them. Happens:
    ``rollout_targets`` uses ``y_mask`` only, so the absent node's zero forecast is
    scored against its ``y`` (here mse ~1e6 instead of ~1)."""
    m = srnn().eval()
    small = evaluate(m, DataLoader(_absent_at_last_step(0.0), batch_size=3), metrics=["mse", "ade"],
                     objective="rollout")
    big = evaluate(m, DataLoader(_absent_at_last_step(1000.0), batch_size=3), metrics=["mse", "ade"],
                   objective="rollout")
    assert big["mse"] == pytest.approx(small["mse"], rel=1e-5)
    assert big["ade"] == pytest.approx(small["ade"], rel=1e-5)


def test_rollout_training_loss_honours_node_mask_without_y_mask():
    """Same defect in training: ``fit(objective="rollout")`` trains on the zero forecast
    of a node that is absent at the last observed step (one batch, so train_loss is
    the loss before any update). Expected: equal train_loss whatever that node's y;
    happens: ~2e5 against ~1."""
    losses = []
    for target in (0.0, 1000.0):
        r = fit(srnn(), DataLoader(_absent_at_last_step(target), batch_size=3), epochs=1,
                objective="rollout", progress=False)
        losses.append(r.final["train_loss"])
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


# ============================================================ engine: loaders that yield nothing
def test_fit_refuses_train_loader_without_batches(tmp_path):
    """A training loader that yields no batch (``drop_last=True`` with fewer windows than
    ``batch_size``) trains nothing. Expected: a ValueError naming 'train_loader' (an
    empty dataset already gets one). Happens: the epoch 'succeeds' with
    ``train_loss == 0.0``, a perfect score that becomes the best epoch and is written to
    best.pt."""
    loader = DataLoader(windows(3), batch_size=8, drop_last=True)
    named_error(lambda: fit(srnn(), loader, epochs=1, progress=False, out_dir=tmp_path / "run"),
                "train_loader")


def test_fit_refuses_empty_val_loader():
    """``fit(model, train, DataLoader([]))``: an empty validation loader. Expected: a
    ValueError naming 'val_loader', as an empty training loader gets ("holds no
    windows"). Happens: accepted; every val_* metric is NaN each epoch, only a warning
    says the monitor is not finite, and no epoch is ever the best."""
    named_error(lambda: fit(srnn(), DataLoader(windows(2), batch_size=2), DataLoader([], batch_size=2),
                            epochs=1, progress=False), "val_loader")


# ============================================================ engine: resume, checkpoints, files
def _three_epochs_best_first(out):
    calls = []

    def score(_):                          # rises every epoch: epoch 1 stays the best
        calls.append(1)
        return {"k": float(len(calls))}
    ds = windows(2)
    fit(srnn(), DataLoader(ds, batch_size=2), DataLoader(ds, batch_size=2), epochs=3, out_dir=out,
        val_score=score, monitor="val_k", progress=False)
    return ds, score


def test_resume_with_run_folder_continues_from_last_pt(tmp_path):
    """TrainConfig accepts ``resume=<run folder>`` ("the path of a checkpoint or run
    folder"); the command's ``--resume RUN`` continues from ``RUN/last.pt``. Expected:
    a run of 3 epochs resumed by its folder with epochs=3 trains nothing. Happens: the
    folder resolves to ``best.pt`` (epoch 1), so epochs 2 and 3 are trained again and
    last.pt, metrics.jsonl and the history are rewritten from the best epoch on."""
    out = tmp_path / "run"
    ds, score = _three_epochs_best_first(out)
    trained = []
    r = fit(srnn(), DataLoader(ds, batch_size=2), DataLoader(ds, batch_size=2), epochs=3, out_dir=out,
            resume=out, val_score=score, monitor="val_k", progress=False,
            callbacks=[lambda rec: trained.append(rec["epoch"])])
    assert trained == [], f"epochs trained again: {trained}"
    assert r.epochs_run == 3


def test_load_model_bad_map_location_is_not_blamed_on_the_file(tmp_path):
    """``load_model(path, map_location="gpu")`` (a typo; "cuda" on a CPU-only machine
    does the same). Expected: an error naming 'map_location'. Happens: "'...a.pt' is not
    a readable srnn_pyg.model or srnn_pyg.checkpoint file ... it is no PyTorch file":
    a good file is reported as unreadable or corrupt."""
    path = save_model(srnn(), tmp_path / "a.pt")
    with pytest.raises((ValueError, RuntimeError)) as info:
        load_model(path, map_location="gpu")
    assert "map_location" in str(info.value), str(info.value)
    assert "not a readable" not in str(info.value), str(info.value)


def test_save_model_refuses_to_overwrite_a_training_checkpoint(tmp_path):
    """``fit`` refuses to replace a run unless ``overwrite=True``, but
    ``save_model(model, "run/last.pt")`` silently replaces the run's training
    checkpoint with a model file (no optimizer, RNG or history). Expected: refused (or an
    explicit overwrite flag). Happens: written; ``fit(resume=True)`` then fails with
    "is a srnn_pyg.model file; expected a checkpoint": the run cannot be resumed."""
    out = tmp_path / "run"
    fit(srnn(), DataLoader(windows(2), batch_size=2), epochs=1, out_dir=out, progress=False)
    with pytest.raises((ValueError, FileExistsError)):
        save_model(srnn(), out / "last.pt")
    assert load_checkpoint(out / "last.pt")["format"] == "srnn_pyg.checkpoint"


def test_csv_logger_drops_the_replaced_runs_rows(tmp_path):
    """``overwrite=True`` replaces a run; metrics.jsonl starts afresh. Expected:
    ``CSVLogger``'s metrics.csv holds the new run's rows only. Happens: the replaced
    run's epoch-0 row (from ``validate_start``) is kept, so metrics.csv mixes two runs
    and disagrees with metrics.jsonl."""
    out = tmp_path / "run"
    ds = windows(2)
    tl = DataLoader(ds, batch_size=2)
    fit(srnn(), tl, tl, epochs=1, out_dir=out, validate_start=True, callbacks=[CSVLogger(out)], progress=False)
    fit(srnn(), tl, tl, epochs=1, out_dir=out, overwrite=True, callbacks=[CSVLogger(out)], progress=False)
    rows = (out / "metrics.csv").read_text().strip().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["1"], rows


# ============================================================ engine: TrainConfig and fit arguments
@pytest.mark.parametrize("kwargs", [dict(step_size=0), dict(gamma="x")])
def test_scheduler_kwargs_bad_values_refused_before_training(kwargs):
    """docs/training.md: "a value the scheduler refuses is a ValueError naming
    scheduler_kwargs". Expected: ``scheduler="step", scheduler_kwargs={"step_size": 0}``
    (or a string gamma) refused before training. Happens: torch's constructor accepts
    them, a whole epoch trains, then a raw ``ZeroDivisionError: integer modulo by zero``
    (``TypeError: can't multiply sequence``) comes from inside torch's scheduler."""
    named_error(lambda: fit(srnn(), DataLoader(windows(2), batch_size=2), epochs=2, scheduler="step",
                            scheduler_kwargs=kwargs, progress=False), "scheduler_kwargs")


def test_scheduler_kwargs_cosine_t_max_zero_refused():
    """Same as above for ``scheduler="cosine", scheduler_kwargs={"T_max": 0}``: a raw
    ZeroDivisionError after the first epoch."""
    named_error(lambda: fit(srnn(), DataLoader(windows(2), batch_size=2), epochs=2, scheduler="cosine",
                            scheduler_kwargs={"T_max": 0}, progress=False), "scheduler_kwargs")


def test_trainconfig_single_callback_named_error():
    """``TrainConfig(callbacks=my_fn)`` (a callable, not a list). Expected: a
    ValueError naming 'callbacks' (as ``callbacks=[1]`` gets), or the callable taken as
    one callback. Happens: a raw ``TypeError: 'function' object is not iterable``."""
    def log(record):
        pass
    try:
        config = TrainConfig(epochs=1, callbacks=log)
    except (TypeError, ValueError) as e:
        assert "callbacks" in str(e), str(e)
    else:
        assert tuple(config.callbacks) == (log,)


@pytest.mark.parametrize("value", [5, "ab"])
def test_trainconfig_scheduler_kwargs_not_a_dict_named(value):
    """``TrainConfig(scheduler="step", scheduler_kwargs=5)``. Expected: a ValueError
    naming 'scheduler_kwargs'. Happens: ``TypeError: 'int' object is not iterable`` /
    ``ValueError: dictionary update sequence element #0 has length 1``."""
    named_error(lambda: TrainConfig(epochs=1, scheduler="step", scheduler_kwargs=value), "scheduler_kwargs")


@pytest.mark.parametrize("device", ["gpu", object()])
def test_trainconfig_checks_device_when_built(device):
    """docs/training.md: "TrainConfig holds every option, checked when it is built (a
    bad value raises a ValueError naming the field)". Expected: ``TrainConfig(epochs=1,
    device="gpu")`` raises naming 'device'. Happens: accepted; the error comes only from
    ``fit``."""
    named_error(lambda: TrainConfig(epochs=1, device=device), "device")


def test_fit_config_passed_as_val_loader_is_named():
    """``fit(model, train_loader, TrainConfig(epochs=1))`` puts the config in the
    ``val_loader`` slot. Expected: an error saying so (naming 'val_loader' or
    'config'). Happens: "the number of 'epochs' is required (pass epochs=... or a
    TrainConfig)", although a TrainConfig with epochs was passed."""
    named_error(lambda: fit(srnn(), DataLoader(windows(2), batch_size=2), TrainConfig(epochs=1)),
                "val_loader")


# ============================================================ engine: evaluate / collect arguments
def test_evaluate_checks_amp_argument():
    """``TrainConfig(amp="yes")`` is refused, but ``evaluate(model, loader, amp="yes")``
    is accepted silently. Expected: ValueError naming 'amp'."""
    named_error(lambda: evaluate(srnn(), DataLoader(windows(2), batch_size=2), amp="yes"), "amp")


@pytest.mark.parametrize("fn", [evaluate, collect])
def test_evaluate_and_collect_refuse_a_tensor_as_loader(fn):
    """``evaluate(model, tensor)`` / ``collect(model, tensor)``. Expected: a
    TypeError naming 'loader' (fit's loaders get one). Happens: a raw
    ``AttributeError: 'Tensor' object has no attribute 'get'``."""
    named_error(lambda: fn(srnn(), torch.zeros(3)), "loader")


def test_collect_refuses_horizon_zero():
    """``evaluate(horizon=0)`` is refused; ``collect(model, loader, horizon=0)``
    silently forecasts the windows' whole horizon (``horizon or H``). Expected: a
    ValueError naming 'horizon'."""
    named_error(lambda: collect(srnn(), DataLoader(windows(2), batch_size=2), horizon=0), "horizon")


def test_collect_refuses_horizon_beyond_targets():
    """``collect(model, loader, horizon=5)`` on windows with 3 target steps.
    Expected: a ValueError naming 'horizon', as ``evaluate`` gives ("the windows hold
    only 3 target steps"). Happens: ``pred`` is [N, 5, F] and ``y`` [N, 3, F], shapes
    that a dataset's ``score`` then cannot pair."""
    named_error(lambda: collect(srnn(), DataLoader(windows(2), batch_size=2), horizon=5), "horizon")


# ============================================================ loader
def test_one_hop_loader_refuses_a_graph_without_nodes():
    """``OneHopLoader(data, 3)`` on a graph with 0 nodes selects no seed, as
    ``input_nodes=[]`` does, which is refused ("selects no node; give at least one
    seed"). Expected: the same ValueError. Happens: accepted, a loader of 0 batches."""
    empty = STData(x=torch.zeros(0, 4, 2), edge_index=torch.zeros(2, 0, dtype=torch.long),
                   node_type=torch.zeros(0, dtype=torch.long), edge_type=torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError):
        OneHopLoader(empty, 3)


# ============================================================ metrics
P3, T3 = torch.tensor([1., 2., 4.]), torch.tensor([1., 3., 2.])


@pytest.mark.parametrize("fn", [M.mse, M.mae, M.rmse])
def test_point_metrics_on_integer_tensors(fn):
    """``mse(torch.tensor([1, 2, 4]), torch.tensor([1, 3, 2]))``. Expected: the float
    value (``mape`` already gives it on integers) or a TypeError naming 'pred'.
    Happens: ``RuntimeError: value cannot be converted to type int64_t without
    overflow`` from inside torch (the NaN fallback of the masked mean in an int dtype)."""
    try:
        got = fn(P3.long(), T3.long())
    except TypeError as e:
        assert "pred" in str(e), str(e)
    else:
        assert float(got) == pytest.approx(float(fn(P3, T3)))


@pytest.mark.parametrize("fn", [M.ade, M.fde])
def test_displacement_metrics_on_integer_tensors(fn):
    """``ade``/``fde`` on integer positions (pixel coordinates, say). Expected: the
    float value or a TypeError naming 'pred'. Happens: ``RuntimeError:
    linalg.vector_norm: Expected a floating point or complex tensor``."""
    p = torch.tensor([[[0, 0], [1, 0], [3, 4]]])
    t = torch.zeros(1, 3, 2, dtype=torch.long)
    try:
        got = fn(p, t)
    except TypeError as e:
        assert "pred" in str(e), str(e)
    else:
        assert float(got) == pytest.approx(float(fn(p.float(), t.float())))


@pytest.mark.parametrize("call", [
    lambda: M.mse(P3, T3, torch.tensor([1., 0., 0.5])),
    lambda: M.mae(P3, T3, torch.tensor([1, 0, 2])),
    lambda: M.accuracy(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3]), torch.tensor([1., 0.5, 1.])),
    lambda: M.ade(torch.ones(1, 3, 2), torch.zeros(1, 3, 2), torch.tensor([[0.1, 0.1, 0.]])),
    lambda: M.confusion_matrix(torch.tensor([1, 2, 0]), torch.tensor([1, 1, 0]), 3, mask=torch.tensor([0.5, 0., 1.])),
], ids=["mse-float", "mae-int", "accuracy-float", "ade-float", "confusion-float"])
def test_metric_masks_must_be_bool(call):
    """The module promises "an optional boolean ``mask``"; ``bivariate_gaussian_nll``,
    ``euler_angle_error`` and ``anticipate`` refuse other dtypes. Expected: a
    TypeError/ValueError naming 'mask' for a float or int mask. Happens: silently
    accepted, with two meanings: ``mse``/``mae``/``mape``/``accuracy``/``per_horizon``
    use it as *weights* (mse with [1, 0, 0.5] gives 1.333, neither the masked 2.0 nor an
    error; an int mask [1, 0, 2] counts an entry twice), while ``ade``/``fde``/
    ``confusion_matrix`` cast it to bool (0.1 counts fully)."""
    named_error(call, "mask")


def test_confusion_matrix_mask_of_wrong_length_is_named():
    """``confusion_matrix(pred, target, 3, mask=<2 values for 3 entries>)`` (and
    ``maneuver_scores`` with such a mask). Expected: a ValueError naming 'mask'.
    Happens: a raw ``IndexError: The shape of the mask [2] ... does not match``."""
    named_error(lambda: M.confusion_matrix(torch.tensor([1, 2, 0]), torch.tensor([1, 1, 0]), 3,
                                           mask=torch.tensor([True, False])), "mask")
    named_error(lambda: M.maneuver_scores(torch.tensor([1, 2, 0]), torch.tensor([1, 1, 0]), 3,
                                          mask=torch.tensor([True, False])), "mask")


def test_confusion_matrix_refuses_float_predictions():
    """``confusion_matrix(torch.tensor([0.9, 1.7, 0.2]), target, 3)``: scores or
    probabilities instead of labels. Expected: a TypeError naming 'pred' (labels are
    integers). Happens: silently truncated by ``.long()`` (0.9 -> class 0, 1.7 -> 1)."""
    named_error(lambda: M.confusion_matrix(torch.tensor([0.9, 1.7, 0.2]), torch.tensor([1, 1, 0]), 3), "pred")


def test_fde_with_no_predicted_step():
    """``fde`` on ``[N, 0, 2]`` (no predicted step). Expected: NaN (the module's rule
    for nothing scored; ``ade`` gives NaN) or a ValueError naming 'pred'. Happens: a
    raw ``IndexError: index -1 is out of bounds``."""
    try:
        got = M.fde(torch.zeros(2, 0, 2), torch.zeros(2, 0, 2))
    except ValueError as e:
        assert "pred" in str(e), str(e)
    else:
        assert math.isnan(float(got))


def test_best_of_k_with_no_sample():
    """``best_of_k_ade_fde`` with K = 0 samples. Expected: a ValueError naming
    'samples'. Happens: a raw ``IndexError: min(): Expected reduction dim 0 to have
    non-zero size``."""
    named_error(lambda: M.best_of_k_ade_fde(torch.zeros(0, 1, 3, 2), torch.zeros(1, 3, 2)), "samples")


@pytest.mark.parametrize("shape", [(0, 4, 12), (2, 0, 12)], ids=["no-sequence", "no-frame"])
def test_euler_angle_error_on_empty_input(shape):
    """``euler_angle_error`` on ``[0, H, D]`` or ``[B, 0, D]``. Expected: NaN (or an
    empty result) or a ValueError naming the argument. Happens: a raw
    ``RuntimeError: cannot reshape tensor of 0 elements`` from ``expmap_to_euler``."""
    x = torch.zeros(*shape)
    try:
        M.euler_angle_error(x, x)
    except ValueError as e:
        assert "expmap" in str(e), str(e)


def test_euler_angle_error_reduce_none_checks_mask():
    """``euler_angle_error(pred, target, mask=m, reduce="none")``: with
    ``reduce="mean"`` a mask that is not a bool [B] is refused; with ``"none"`` it is
    ignored unchecked (here 3 values for B = 2). Expected: the same ValueError naming
    'mask' (or the mask applied)."""
    torch.manual_seed(0)
    p, t = torch.randn(2, 4, 12) * 0.3, torch.randn(2, 4, 12) * 0.3
    named_error(lambda: M.euler_angle_error(p, t, mask=torch.tensor([True, False, True]), reduce="none"), "mask")


def test_maneuver_scores_with_nothing_scored_is_nan():
    """The module says a metric with no entry to score is NaN ("nothing was scored,
    which is no error of 0"). Expected: ``maneuver_scores`` with every sequence masked
    out gives NaN precision/recall/F1. Happens: 0.0, 0.0, 0.0, the worst possible
    score, reported for an empty selection."""
    out = M.maneuver_scores(torch.tensor([1, 2]), torch.tensor([1, 2]), 3, mask=torch.tensor([False, False]))
    assert math.isnan(out["f1"]) and math.isnan(out["precision"]) and math.isnan(out["recall"]), out


# ============================================================ what works
def test_ok_metrics_match_hand_computation():
    assert float(M.mse(P3, T3)) == pytest.approx(5 / 3)
    assert float(M.mae(P3, T3)) == pytest.approx(1.0)
    assert float(M.rmse(P3, T3)) == pytest.approx(math.sqrt(5 / 3))
    assert float(M.mape(P3, T3)) == pytest.approx(100 * (0 + 1 / 3 + 1) / 3)
    assert float(M.mse(P3, T3, torch.tensor([True, False, True]))) == pytest.approx(2.0)
    assert math.isnan(float(M.mse(P3, T3, torch.zeros(3, dtype=torch.bool))))
    nan = torch.tensor([float("nan"), 1.])
    assert float(M.mse(nan, torch.tensor([0., 1.]), torch.tensor([False, True]))) == 0.0
    target = torch.tensor([[[1.], [2.], [3.]], [[3.], [2.], [1.]]])
    assert M.per_horizon("mse", torch.zeros(2, 3, 1), target).tolist() == [5., 4., 5.]
    m = torch.tensor([[True, True, False], [False, True, True]])
    assert M.per_horizon("mae", torch.zeros(2, 3, 1), target, m).tolist() == [1., 2., 1.]
    p = torch.tensor([[[0., 0.], [1., 0.], [3., 4.]]])          # errors 0, 1, 5
    t = torch.zeros(1, 3, 2)
    assert float(M.ade(p, t)) == pytest.approx(2.0) and float(M.fde(p, t)) == pytest.approx(5.0)
    assert float(M.ade(p, t, torch.tensor([[True, True, False]]))) == pytest.approx(0.5)
    s = torch.tensor([[[[1., 0.]], [[3., 0.]]], [[[2., 0.]], [[0., 1.]]]])   # K=2, N=2, H=1
    assert [float(v) for v in M.best_of_k_ade_fde(s, torch.zeros(2, 1, 2))] == [1.0, 1.0]
    assert [float(v) for v in M.best_of_k_ade_fde(s, torch.zeros(2, 1, 2), per="scene")] == [1.5, 1.5]
    sc = M.maneuver_scores(torch.tensor([1, 2, 0]), torch.tensor([1, 1, 0]), 3)
    assert (sc["precision"], sc["recall"]) == (0.5, 0.25) and sc["f1"] == pytest.approx(1 / 3)
    assert float(M.accuracy(torch.tensor([1, 2, 3]), torch.tensor([1, 0, 3]))) == pytest.approx(2 / 3)


def test_ok_euler_angle_error_matches_hand_computation():
    from srnn_pyg.geometry import expmap_to_euler
    torch.manual_seed(0)
    p, t = torch.randn(2, 4, 12) * 0.3, torch.randn(2, 4, 12) * 0.3
    ep, et = expmap_to_euler(p.double()), expmap_to_euler(t.double())
    use = et.std(1, unbiased=False) > 1e-4
    use[:, :6] = False
    hand = (((ep - et) ** 2) * use.unsqueeze(1)).sum(-1).sqrt()
    assert torch.allclose(M.euler_angle_error(p, t).double(), hand.mean(0), atol=1e-6)
    masked = M.euler_angle_error(p, t, mask=torch.tensor([True, False])).double()
    assert torch.allclose(masked, hand[0], atol=1e-6)


def test_ok_evaluate_pools_exactly_and_agrees_with_metrics():
    ds = windows(5, masks=True)
    for i, d in enumerate(ds):
        d.y_mask = torch.rand(d.num_nodes, 3, generator=torch.Generator().manual_seed(i)) > 0.3
    m = srnn().eval()
    names = ["mse", "mae", "ade", "mape", "mse_per_step"]
    one = evaluate(m, DataLoader(ds, batch_size=1), metrics=names)
    all_ = evaluate(m, DataLoader(ds, batch_size=5), metrics=names)
    c = collect(m, DataLoader(ds, batch_size=2))
    mask = c["y_mask"]
    for name, fn in (("mse", M.mse), ("mae", M.mae), ("ade", M.ade), ("mape", M.mape)):
        hand = float(fn(c["pred"], c["y"], mask))
        assert one[name] == pytest.approx(hand, rel=1e-5) and all_[name] == pytest.approx(hand, rel=1e-5)
    assert all_["mse_per_step"] == pytest.approx(M.per_horizon("mse", c["pred"], c["y"], mask).tolist(), rel=1e-5)


def test_ok_one_hop_batches_equal_full_graph_for_seeds():
    g = torch.Generator().manual_seed(3)
    ds = [fake_st_data(6, T=4, F=2, schema=SCHEMA, horizon=2, generator=g, masks=True, edge_attr_dim=3)
          for _ in range(3)]
    big = Batch.from_data_list(ds)
    for kw in ({}, {"edge_scope": "edge", "aggr": "attention"}):
        m = srnn(edge_channels=3, spatial_features="concat_attr", **kw).eval()
        with torch.no_grad():
            full, first = m(big), m.forecast(big, 1)
            seen = []
            for b in OneHopLoader(big, 2, input_nodes=torch.tensor([0, 3, 7, 11, 17]), shuffle=True):
                ids = seed_nodes(b)
                seen += ids.tolist()
                assert torch.allclose(seed_view(b, m(b)), full[ids], atol=1e-5)
                assert torch.allclose(seed_view(b, m.forecast(b, 1)), first[ids], atol=1e-5)
        assert sorted(seen) == [0, 3, 7, 11, 17]
    m = srnn().eval()
    assert evaluate(m, OneHopLoader(big, 4), metrics=["loss", "tf_mse"])["tf_mse"] == pytest.approx(
        evaluate(m, DataLoader(ds, batch_size=3), metrics=["loss", "tf_mse"])["tf_mse"], rel=1e-5)


@pytest.mark.parametrize("kw,name", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=2, input_nodes=[0, 40]), "input_nodes"),
    (dict(batch_size=2, input_nodes=[-1]), "input_nodes"), (dict(batch_size=2, input_nodes=[]), "input_nodes"),
    (dict(batch_size=2, input_nodes=torch.zeros(3, dtype=torch.bool)), "input_nodes"),
    (dict(batch_size=2, input_nodes=[1, 1]), "input_nodes"), (dict(batch_size=2, shuffle=1), "shuffle")])
def test_ok_one_hop_loader_arguments_checked(kw, name):
    d = windows(1, nodes=6)[0]
    named_error(lambda: OneHopLoader(d, **kw), name)


def test_ok_trainconfig_checks_fields():
    for kw, name in ((dict(epochs=0), "epochs"), (dict(epochs=1, lr=float("nan")), "lr"),
                     (dict(epochs=1, lr="1e-3"), "lr"), (dict(epochs=1, grad_clip=0), "grad_clip"),
                     (dict(epochs=1, monitor_mode="MIN"), "monitor_mode"), (dict(epochs=1, metrics="mse"), "metrics"),
                     (dict(epochs=1, out_dir=""), "out_dir"), (dict(epochs=1, overwrite="yes"), "overwrite"),
                     (dict(epochs=1, meta={"a": object()}), "meta"), (dict(epochs=1, amp="yes"), "amp"),
                     (dict(epochs=1, resume=True), "out_dir")):
        named_error(lambda: TrainConfig(**kw), name)
    named_error(lambda: fit(srnn(), DataLoader(windows(2), batch_size=2), epochs=1, bogus=1), "bogus")


def test_ok_run_folder_is_protected(tmp_path):
    ds = windows(2)
    tl = DataLoader(ds, batch_size=2)
    a, b = tmp_path / "a", tmp_path / "b"
    fit(srnn(), tl, epochs=1, out_dir=a, progress=False)
    fit(srnn(), tl, epochs=1, out_dir=b, progress=False)
    before = (b / "last.pt").read_bytes()
    named_error(lambda: fit(srnn(), tl, epochs=2, out_dir=a, progress=False), "overwrite")
    named_error(lambda: fit(srnn(), tl, epochs=2, out_dir=b, resume=a / "last.pt", progress=False), "overwrite")
    named_error(lambda: fit(srnn(), tl, epochs=2, out_dir=a, init_from=a, progress=False), "init_from")
    named_error(lambda: fit(srnn(edge_scope="edge"), tl, epochs=2, out_dir=a, resume=True, progress=False),
                "cannot resume")
    assert (b / "last.pt").read_bytes() == before
    r = fit(srnn(), tl, epochs=2, out_dir=a, resume=True, progress=False)
    assert [h["epoch"] for h in r.history] == [1, 2]


def test_ok_save_load_roundtrip_and_interrupted_save(tmp_path, monkeypatch):
    import os
    m = srnn()
    path = save_model(m, tmp_path / "m.pt")
    again = load_model(path)
    assert all(torch.equal(x, y) for x, y in zip(m.state_dict().values(), again.state_dict().values()))
    good = path.read_bytes()

    def boom(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        save_model(srnn(edge_scope="edge"), path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]
    (tmp_path / "junk.pt").write_bytes(b"hello")
    named_error(lambda: load_model(tmp_path / "junk.pt"), "junk.pt")
    named_error(lambda: load_model(tmp_path / "nope.pt"), "nope.pt", kinds=(FileNotFoundError,))
    named_error(lambda: save_model(torch.nn.Linear(2, 2), tmp_path / "l.pt"), "registered")


def test_ok_fit_evaluate_classification_and_loader_errors():
    g = torch.Generator().manual_seed(0)
    ds = [fake_st_data(5, T=4, F=2, schema=SCHEMA, classes=3, generator=g, masks=True) for _ in range(3)]
    torch.manual_seed(0)
    m = StructuralRNN(SCHEMA, 2, 3, edge_hidden=8, node_hidden=8, task="classification").eval()
    e = evaluate(m, DataLoader(ds, batch_size=2))
    c = collect(m, DataLoader(ds, batch_size=2))
    assert e["accuracy"] == pytest.approx(float(M.accuracy(c["pred"].argmax(-1), c["y"], c["node_mask"])))
    r = fit(m, DataLoader(ds, batch_size=2), DataLoader(ds, batch_size=3), epochs=1, progress=False,
            monitor="val_accuracy")
    assert r.mode == "max"
    named_error(lambda: fit(srnn(), DataLoader([], batch_size=2), epochs=1), "train_loader")
    named_error(lambda: evaluate(srnn(), DataLoader([], batch_size=2)), "loader")
    named_error(lambda: evaluate(srnn(), DataLoader(windows(2), batch_size=2), horizon=9), "horizon")
    named_error(lambda: evaluate(srnn(), DataLoader(windows(2), batch_size=2), metrics=["bogus"]), "bogus")
    named_error(lambda: collect(srnn(), DataLoader([], batch_size=2)), "no windows")


def test_ok_nan_targets_under_y_mask_do_not_leak():
    ds = windows(2)
    for d in ds:
        d.y_mask = torch.ones(d.num_nodes, 3, dtype=torch.bool)
        d.y_mask[0, 1] = False
        d.y[0, 1] = float("nan")
    names = ["loss", "mse", "mae", "mape", "ade", "tf_mse"]
    for objective in ("teacher_forcing", "rollout"):
        out = evaluate(srnn().eval(), DataLoader(ds, batch_size=2), metrics=names, objective=objective)
        assert all(math.isfinite(v) for v in out.values()), out
        r = fit(srnn(), DataLoader(copy.deepcopy(ds), batch_size=2), epochs=1, objective=objective, progress=False)
        assert math.isfinite(r.final["train_loss"])
