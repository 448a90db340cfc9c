"""Inputs a reviewer found accepted silently or refused unclearly by the
models: each now gives the right result or an error naming the argument,
the expected and the received value."""
import math

import numpy as np
import pytest
import torch

from srnn_pyg import STData, STSchema
from srnn_pyg import models as M

SCH = STSchema(["n"], [("n", "n")])


def small(N=4, T=6, F=2, **keys):
    return STData(x=torch.randn(N, T, F), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), **keys)


def test_gaussian_samples_with_covariates_tile_u_future():
    """num_samples copies the graph; u_future must be copied with it (it was dropped, and the error
    said u_future was missing)."""
    torch.manual_seed(0)
    g = M.StructuralRNN(SCH, 5, 2, derived="velocity", covariates=1, head="gaussian", edge_hidden=8, node_hidden=8)
    d = STData(x=torch.randn(4, 6, 5), edge_index=torch.tensor([[0, 1], [1, 2]]), u_future=torch.randn(4, 4, 1))
    out = g.forecast(d, 3, num_samples=3)
    assert out.shape[-2:] == (3, 2) and torch.isfinite(out).all()


def test_u_future_must_be_finite_and_of_the_model_dtype():
    m = M.StructuralRNN(SCH, 3, 2, covariates=1, edge_hidden=8, node_hidden=8)
    d = small(F=3, u_future=torch.randn(4, 4, 1))
    assert torch.isfinite(m.forecast(d, 4)).all()
    d.u_future[1, 2, 0] = math.nan
    with pytest.raises(ValueError, match=r"'u_future' must be finite for the nodes present at the last observed "
                                         r"step \(got a non-finite value at node 1, future step 2\)"):
        m.forecast(d, 4)
    d.node_mask = torch.ones(4, 6, dtype=torch.bool)
    d.node_mask[1, -1] = False                                 # absent at the last observed step: not read
    assert m.forecast(d, 4).shape == (4, 4, 2)
    d = small(F=3, u_future=torch.randn(4, 4, 1, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"'u_future' must have the model's dtype torch.float32 \(got torch.float64"):
        m.forecast(d, 4)


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan, math.inf, "2"])
def test_velocity_scale_must_be_a_positive_finite_number(scale):
    with pytest.raises(ValueError, match=r"'velocity_scale' must be a finite number > 0 \(got "):
        M.StructuralRNN(SCH, 4, 2, derived="velocity", velocity_scale=scale)


@pytest.mark.parametrize("key,value", [("node_hidden", 2.5), ("edge_hidden", 7.9), ("edge_hidden", 0),
                                       ("edge_mlp", (0,)), ("node_mlp", (-1,)), ("edge_mlp", 64),
                                       ("node_mlp", (8.0,)), ("edge_mlp", "64")])
def test_sizes_are_checked_not_truncated(key, value):
    with pytest.raises(ValueError, match=rf"StructuralRNN: '{key}' must be a "):
        M.StructuralRNN(SCH, 2, 2, **{key: value})


def test_numpy_integers_are_integers():
    m = M.StructuralRNN(SCH, 2, 2, edge_hidden=np.int64(8), node_hidden=8, edge_mlp=[np.int64(8)])
    assert m.forecast(small(), np.int64(3)).shape == (4, 3, 2)
    assert M.ZeroVelocity(None, 2, 2).forecast(small(), np.int32(2)).shape == (4, 2, 2)


@pytest.mark.parametrize("cls", [M.ERD, M.LSTM3LR])
def test_models_without_edges_ignore_edge_mask(cls):
    """ERD and LSTM3LR read no edges: an edge_mask with absent edges changes nothing (it was refused)."""
    torch.manual_seed(0)
    m = cls(SCH, 2, 2).eval()
    d = small()
    ref = m.forecast(d, 3)
    d.edge_mask = torch.ones(4, 6, dtype=torch.bool)
    d.edge_mask[0, :3] = False
    assert torch.equal(m.forecast(d, 3), ref)
    d.node_mask = torch.ones(4, 6, dtype=torch.bool)
    d.node_mask[0, 0] = False
    with pytest.raises(ValueError, match=rf"{cls.__name__} cannot handle absent nodes: 'node_mask' must be all True"):
        m.forecast(d, 3)


@pytest.mark.parametrize("make", [lambda s: M.GConvGRU(s, 2, 2, hidden=8, edge_weight=True),
                                  lambda s: M.STGCN(s, 2, 2, obs_len=12, horizon=2, hidden=8, spatial_hidden=4,
                                                    edge_weight=True)])
def test_graph_convolutions_refuse_negative_or_other_dtype_weights(make):
    """A negative edge weight made the Laplacian's degrees wrong and the output NaN, silently."""
    m = make(SCH).eval()
    d = small(T=12)
    d.edge_attr = torch.rand(4, 12, 1)
    assert torch.isfinite(m.forecast(d, 2)).all()
    d.edge_attr[2, 5, 0] = -1.0
    with pytest.raises(ValueError, match=r"finite and non-negative where the edge is present .*\(got -1.0 at edge 2"):
        m.forecast(d, 2)
    d.edge_attr = torch.rand(4, 12, 1, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"'edge_attr' must have the model's dtype torch.float32"):
        m.forecast(d, 2)


def test_skeleton_stgcn_with_typed_importance_needs_edge_types():
    """edge_importance='type' with several edge types and no edge_type treated every edge as type 0, silently."""
    schema = STSchema(["a", "b"], [("a", "a"), ("a", "b")])
    d = STData(x=torch.randn(3, 12, 2), edge_index=torch.tensor([[0, 1, 0], [1, 0, 2]]),
               node_type=torch.tensor([0, 0, 1]))
    m = M.SkeletonSTGCN(schema, 2, 2, hidden=8).eval()
    with pytest.raises(ValueError, match=r"SkeletonSTGCN: 'edge_type' \[num_edges\] is needed: edge_importance='type' "
                                         r"weighs each of the schema's 2 edge types"):
        m.forecast(d, 2)
    d.edge_type = torch.tensor([0, 0, 1])
    assert m.forecast(d, 2).shape == (3, 2, 2)


def _typed_stream():
    schema = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    torch.manual_seed(0)
    m = M.StructuralRNN(schema, 2, 2, edge_hidden=8, node_hidden=8)
    d = STData(x=torch.randn(4, 3, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
               node_type=torch.tensor([0, 1, 1, 1]), edge_type=torch.tensor([0, 1, 1]))
    return m, d


def test_step_refuses_a_state_of_another_graph_of_the_same_size():
    """The state keeps the grouping of the graph it was computed on; a rewired graph with as many
    nodes and edges was run with the old grouping, silently."""
    m, d = _typed_stream()
    _, state = m.step(d.clone())
    out, _ = m.step(d.clone(), state)                          # the same graph, other tensors: fine
    assert torch.isfinite(out).all()
    rewired = d.clone()
    rewired.edge_index = torch.tensor([[0, 3, 2], [1, 2, 1]])
    retyped = d.clone()
    retyped.node_type, retyped.edge_index = torch.tensor([0, 1, 1, 1]), torch.tensor([[0, 2, 1], [2, 1, 3]])
    for other in (rewired, retyped):
        with pytest.raises(ValueError, match=r"StructuralRNN: 'state' belongs to another graph: 'edge_index', "
                                             r"'node_type' or 'edge_type' differ"):
            m.step(other, state)
    with pytest.raises(ValueError, match=r"SRNNLayer: 'state' belongs to another graph"):
        m.layer(rewired.x, rewired.edge_index, rewired.node_type, rewired.edge_type, state=state)


def test_step_matches_forward_over_chunks_of_the_stream():
    m, d = _typed_stream()
    full = m(d)
    a, state = m.step(STData(x=d.x[:, :2], edge_index=d.edge_index, node_type=d.node_type, edge_type=d.edge_type))
    b, _ = m.step(STData(x=d.x[:, 2:], edge_index=d.edge_index, node_type=d.node_type, edge_type=d.edge_type), state)
    torch.testing.assert_close(torch.cat([a, b], dim=1), full)
