"""Teacher forcing for a model that rebuilds its future inputs (held features, derived velocities)
leaves out the rebuilt frames that read a node's absent last observed step: the loss stays finite
and those frames are masked, as LinearAR's closed-form fit masks them."""
import math

import torch

from srnn_pyg.engine.objectives import batch_loss, teacher_forcing
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn.feedback import Feedback
from srnn_pyg.testing import fake_schema, fake_st_data

torch.set_num_threads(1)


def window(F_in=3, F_out=1, T=5, H=3):
    schema = fake_schema()
    d = fake_st_data(4, T, F_in, schema=schema, generator=torch.Generator().manual_seed(0))
    d.y = torch.randn(4, H, F_out, generator=torch.Generator().manual_seed(1))
    d.node_mask = torch.ones(4, T, dtype=torch.bool)
    d.node_mask[0, -1] = False                      # node 0 misses its last observed reading...
    d.x[0, -1] = float("nan")                       # ...whose value is missing
    d.y_mask = torch.ones(4, H, dtype=torch.bool)   # but its future is known
    d.edge_mask = None
    return schema, d


def test_held_features_of_an_absent_last_step_are_not_read():
    schema, d = window()
    fb = Feedback(3, 1)                                                  # features 1, 2 held
    inp, target, mask = teacher_forcing(d, fb)
    T = d.x.size(1)
    assert not mask[0, T - 1:].any() and mask[1:].all()                 # node 0's rebuilt frames: out
    assert not inp.node_mask[0, T - 1:].any()
    model = StructuralRNN(schema, 3, 1, edge_hidden=4, node_hidden=4)
    loss, _ = batch_loss(model, model.head, d, "teacher_forcing", None, 0.0, False, model.feedback)
    assert math.isfinite(float(loss.detach()))


def test_a_derived_velocity_reads_the_last_step_in_the_first_frame_only():
    fb = Feedback(2, 1, derived="velocity")
    last = torch.tensor([[True], [False]])
    assert fb.frames_present(last, 3).tolist() == [[True, True, True], [False, True, True]]
    assert Feedback(3, 1, covariates=2).frames_present(last, 2).all()   # covariates read u_future
    assert Feedback(3, 1).frames_present(last, 2).tolist() == [[True, True], [False, False]]
