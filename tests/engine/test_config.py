"""srnn_pyg.engine.config: TrainConfig checks its fields and documents each."""
import dataclasses
import re

import pytest

from srnn_pyg.engine import NoiseSchedule, TrainConfig


def test_every_field_is_documented_with_its_default():
    doc = TrainConfig.__doc__
    for f in dataclasses.fields(TrainConfig):
        assert re.search(rf"^\s+{f.name} \(", doc, re.M), f.name
    documented = re.findall(r"^        (\w+) \(", doc, re.M)
    assert documented == [f.name for f in dataclasses.fields(TrainConfig)]
    assert doc.count("(default:") == len(dataclasses.fields(TrainConfig)) - 1     # epochs: required


@pytest.mark.parametrize("kw,match", [
    (dict(epochs=0), "'epochs'"), (dict(epochs=True), "'epochs'"), (dict(horizon=0), "'horizon'"),
    (dict(early_stopping=-1), "'early_stopping'"), (dict(objective="tf"), "'objective'"),
    (dict(lr=0), "'lr'"), (dict(weight_decay=-1), "'weight_decay'"), (dict(grad_clip=0), "'grad_clip'"),
    (dict(scheduler="linear"), "'scheduler'"), (dict(optimizer="lbfgs"), "'optimizer'"),
    (dict(optimizer=None), "'optimizer'"), (dict(amp="fp8"), "'amp'"), (dict(seed=-1), "'seed'"),
    (dict(resume=True), "'out_dir'"), (dict(noise="loud"), "'noise'"), (dict(noise=-0.1), "'noise'"),
    (dict(noise=[(3, 0.1), (1, 0.2)]), "increasing"), (dict(callbacks=[1]), "'callbacks'"),
])
def test_bad_fields_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{"epochs": 1, **kw})


def test_defaults_normalisation_and_replace():
    c = TrainConfig(epochs=3, scheduler_kwargs=None, meta=None, callbacks=None, metrics=("mse",),
                    noise=NoiseSchedule([(0, 0.1)]))
    assert (c.scheduler_kwargs, c.meta, c.callbacks, c.metrics) == ({}, {}, (), ["mse"])
    assert (c.objective, c.optimizer, c.lr, c.grad_clip, c.seed, c.progress) == \
        ("teacher_forcing", "adam", 1e-3, 1.0, 0, True)
    d = c.replace(lr=0.5)
    assert d.lr == 0.5 and c.lr == 1e-3
    with pytest.raises(ValueError, match="'lr'"):
        c.replace(lr=-1)
    with pytest.raises(TypeError, match="'lrr'"):
        c.replace(lrr=1)
    with pytest.raises(TypeError):
        TrainConfig()                                                      # epochs is required


@pytest.mark.parametrize("field", ["lr", "weight_decay", "grad_clip"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf")])
def test_non_finite_numbers_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=rf"'{field}' must be a finite .*\(got -?(inf|nan)\)"):
        TrainConfig(epochs=1, **{field: value})
    TrainConfig(epochs=1, **{field: 0.5})                     # a finite value of the same field is fine
