"""Suite-wide settings. On CUDA, the tests compare float32 computations with
float32 references at atol 1e-5: TF32 (cuDNN's default for convolutions and
RNNs on Ampere and newer GPUs) rounds matrix inputs to 10 mantissa bits and
would differ by about 1e-3, so it is turned off for the tests."""
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

# Hypothesis profiles (tests/test_properties.py): "default" keeps the suite fast on one core;
# "long" (pytest --hypothesis-profile=long) runs thousands of cases. No deadline: the first call of
# a model pays for allocations and would trip hypothesis' per-example timer.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the 'test' extra; the property tests skip without it
    pass
else:
    # database=None: write nothing outside pytest's tmp_path (no .hypothesis/ folder in the checkout)
    _common = dict(deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.register_profile("default", max_examples=30, **_common)
    settings.register_profile("long", max_examples=6000, **_common)
    settings.load_profile("default")

    from hypothesis.configuration import set_hypothesis_home_dir

    def pytest_sessionstart(session):
        """Hypothesis' own files (cached constants, failure patches) go under pytest's tmp path,
        not into a .hypothesis/ folder of the checkout."""
        set_hypothesis_home_dir(session.config._tmp_path_factory.mktemp("hypothesis"))
