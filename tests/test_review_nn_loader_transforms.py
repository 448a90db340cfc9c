"""Defects found by a review of srnn_pyg.nn, srnn_pyg.loader and srnn_pyg.transforms.

Each test asserts the correct (documented or expected) behaviour, so it fails
while the defect is there.
"""
import warnings

import numpy as np
import pytest
import torch

from srnn_pyg.models import StructuralRNN
from srnn_pyg.models.srnn_chunked import ChunkedRollout
from srnn_pyg.nn import DeterministicHead, LogitsHead, SRNNLayer, spatial_features, temporal_features
from srnn_pyg.testing import fake_st_data
from srnn_pyg.testing.fake import fake_schema
from srnn_pyg.transforms import RandomRotation

torch.set_num_threads(1)


def _layer_and_data(**kwargs):
    schema = fake_schema(3)
    data = fake_st_data(7, T=4, F=3, schema=schema)
    layer = SRNNLayer(schema, 3, edge_hidden=5, node_hidden=4, **kwargs).eval()
    return schema, layer, data


def test_layer_non_tensor_x_raises_clear_error():
    # docs/errors.md: SRNNLayer raises ValueError/TypeError naming the argument; today a list
    # 'x' dies with AttributeError: 'list' object has no attribute 'size' (forward reads x.size(0)
    # before check_graph_inputs).
    _, layer, d = _layer_and_data()
    with pytest.raises((TypeError, ValueError), match="'x'"):
        layer(d.x.tolist(), d.edge_index, d.node_type, d.edge_type)


def test_layer_state_of_another_layer_is_refused_clearly():
    # A state made by a layer of other widths, on the same graph, passes the 'state' checks and
    # fails inside nn.LSTM: RuntimeError "Expected hidden[0] size (1, 3, 5), got [1, 3, 6]".
    schema, layer, d = _layer_and_data()
    other = SRNNLayer(schema, 3, edge_hidden=6, node_hidden=4).eval()
    _, state = other(d.x, d.edge_index, d.node_type, d.edge_type)
    with pytest.raises(ValueError, match="'state'"):
        layer(d.x, d.edge_index, d.node_type, d.edge_type, state=state)


def test_layer_check_finite_true_scans_x_with_validate_false_and_a_state():
    # docs/errors.md: "validate=False skips the entry checks and the NaN/Inf scan; check_finite=
    # sets the scan alone". With a state, check_finite=True is ignored when validate=False.
    _, layer, d = _layer_and_data()
    args = (d.edge_index, d.node_type, d.edge_type)
    _, state = layer(d.x[:, :2], *args)
    x = d.x[:, 2:].clone()
    x[1, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        layer(x, *args, state=state, validate=False, check_finite=True)


def test_layer_accepts_numpy_array_edge_mlp():
    # docs/errors.md ("Constructor arguments", every model and SRNNLayer): layer widths
    # (edge_mlp, ...) may be "a list, a tuple or a 1-d array of positive ints"; StructuralRNN
    # takes np.array([8]), SRNNLayer refuses it.
    layer = SRNNLayer(fake_schema(2), 3, edge_mlp=np.array([8]))
    assert layer.edge_mlp == (8,)


def test_layer_item_flags_take_numpy_bools_and_refuse_others_with_type_error():
    # docs/errors.md: flags "must be bools (NumPy's too) ... A non-bool raises TypeError".
    # fused_lstm / temporal_lstm / linear_encoder / node_input_x refuse np.bool_ and raise
    # ValueError for a string (srnn_layer.variant_options).
    schema = fake_schema(2)
    layer = SRNNLayer(schema, 3, fused_lstm=np.bool_(True), node_input_x=np.bool_(True))
    assert layer.fused_lstm is True and layer.node_input_x is True
    with pytest.raises(TypeError, match="'fused_lstm'"):
        SRNNLayer(schema, 3, fused_lstm="yes")


def test_feature_functions_refuse_unknown_kinds():
    # temporal_features silently returns x for any unknown kind; spatial_features silently
    # computes "concat_attr" for any unknown kind when edge_attr is given.
    x = torch.randn(3, 4, 2)
    ea = torch.randn(3, 4, 1)
    with pytest.raises(ValueError, match="concat"):
        temporal_features("concat", x, x)
    with pytest.raises(ValueError, match="sum"):
        spatial_features("sum", x, x, ea)


def test_deterministic_head_mask_of_wrong_shape_is_named():
    # GaussianHead names a mask of the wrong shape; DeterministicHead (and LogitsHead) fail in
    # torch.where: "The size of tensor a (3) must match the size of tensor b (4)".
    p, t = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match="mask"):
        DeterministicHead(3).loss(p, t, torch.ones(2, 3, dtype=torch.bool))


def test_logits_head_non_long_labels_are_named():
    # LogitsHead documents long labels; float (or int32) labels fail inside F.cross_entropy:
    # RuntimeError "expected target dtype to be Long or Byte, but got Float".
    logits = torch.randn(2, 4, 3)
    with pytest.raises((TypeError, ValueError), match="label"):
        LogitsHead(3).loss(logits, torch.ones(2, 4))


def test_random_rotation_refuses_non_integer_channels():
    # (0.7, 1.9) is silently truncated to channels (0, 1) by int().
    with pytest.raises(ValueError, match="pairs"):
        RandomRotation({"x": [(0.7, 1.9)]})


def test_chunked_rollout_advance_names_a_frame_of_wrong_size():
    # ChunkedRollout.advance is public (a live feed builds its own frames); a frame with fewer
    # rows than the graph's nodes dies with IndexError "index 5 is out of bounds for dimension 0".
    schema = fake_schema(3)
    d = fake_st_data(9, T=4, F=3, schema=schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = StructuralRNN(schema, 3, 3, edge_hidden=6, node_hidden=5).eval()
    roll = ChunkedRollout(model, d, 4)
    roll.warm_up()
    frame = d.x[:5, -1:]
    with pytest.raises(ValueError, match="frame"):
        roll.advance(frame, frame)


def test_state_of_another_scope_or_cell_is_refused_by_the_layer_and_the_model():
    schema, layer, d = _layer_and_data()
    args = (d.edge_index, d.node_type, d.edge_type)
    for kwargs in (dict(edge_scope="edge"), dict(cell="gru"), dict(num_layers=2)):
        other = SRNNLayer(schema, 3, edge_hidden=5, node_hidden=4, **kwargs).eval()
        _, state = other(d.x, *args)
        with pytest.raises(ValueError, match="'state'"):
            layer(d.x, *args, state=state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = StructuralRNN(schema, 3, 3, edge_hidden=6, node_hidden=5).eval()
        b = StructuralRNN(schema, 3, 3, edge_hidden=7, node_hidden=5).eval()
    _, state = b.step(d, None)
    with pytest.raises(ValueError, match="StructuralRNN: 'state'"):
        a.step(d, state)
    out, _ = a.step(d, a.step(d, None)[1])                         # its own state still runs
    assert out.shape[:2] == (d.num_nodes, d.x.size(1))


def test_numpy_ints_are_ints_for_loader_chunks_and_receivers():
    from srnn_pyg.loader import OneHopLoader
    schema, layer, d = _layer_and_data()
    assert len(list(OneHopLoader(d, batch_size=np.int64(4)))) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = StructuralRNN(schema, 3, 3, edge_hidden=6, node_hidden=5).eval()
    with torch.no_grad():
        want = model.forecast(d, 2)
        got = model.forecast_chunked(d, 2, chunk_size=np.int64(3), warmup_steps=np.int32(2))
    assert torch.allclose(got, want, atol=1e-5)
    out, _ = layer(d.x, d.edge_index, d.node_type, d.edge_type, num_receivers=np.int64(d.num_nodes))
    assert out.shape[0] == d.num_nodes

