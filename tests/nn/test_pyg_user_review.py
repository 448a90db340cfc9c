"""Defects found using SRNNLayer, STSchema and the heads as a PyG user would: streaming with masks on
some chunks only, the NaN check of a streamed chunk, out-of-range node types, unchecked layer sizes,
an edge_attr width the features never read, and float64 losses."""
import warnings

import pytest
import torch

from srnn_pyg import STData, STSchema
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn import DeterministicHead, GaussianHead, LogitsHead, SRNNLayer

SCHEMA = STSchema(["car", "ped"], [("car", "ped"), ("ped", "ped")])
NODE_TYPE = torch.tensor([0, 1, 1])
EDGE_INDEX = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
EDGE_TYPE = torch.tensor([0, 0, 1, 1])
SIZES = dict(edge_hidden=4, node_hidden=4, edge_mlp=(4,))


def _layer(**kw):
    torch.manual_seed(0)
    return SRNNLayer(SCHEMA, 2, **SIZES, **kw).eval()


@pytest.mark.parametrize("config", [dict(), dict(edge_scope="edge", aggr="attention"), dict(edge_state="appear")],
                         ids=["slot", "attention", "appear"])
def test_a_chunk_without_mask_after_a_masked_chunk_streams_like_one_call(config):
    """A node absent (NaN) in the first, masked chunk, and a next chunk passed without a mask (all present):
    the temporal difference must not read the absent frame (it gave NaN for every node)."""
    layer = _layer(**config)
    x = torch.randn(3, 4, 2)
    node_mask = torch.ones(3, 4, dtype=torch.bool)
    node_mask[1, 0] = False
    x[1, 0] = float("nan")
    with torch.no_grad():
        full, _ = layer(x, EDGE_INDEX, NODE_TYPE, EDGE_TYPE, node_mask=node_mask)
        first, state = layer(x[:, :1], EDGE_INDEX, NODE_TYPE, EDGE_TYPE, node_mask=node_mask[:, :1])
        rest, _ = layer(x[:, 1:], EDGE_INDEX, NODE_TYPE, EDGE_TYPE, state=state)
    stream = torch.cat([first, rest], dim=1)
    assert torch.isfinite(stream).all()
    assert torch.allclose(stream, full, atol=1e-6)


def test_a_streamed_chunk_is_still_checked_for_nan():
    """validate=True promises the scan for NaN/Inf at present steps; with a state it was skipped."""
    layer = _layer()
    x = torch.randn(3, 3, 2)
    with torch.no_grad():
        _, state = layer(x[:, :2], EDGE_INDEX, NODE_TYPE, EDGE_TYPE)
        bad = x[:, 2:].clone()
        bad[2, 0, 1] = float("inf")
        with pytest.raises(ValueError, match=r"'x' must be finite .*node 2, step 0, feature 1"):
            layer(bad, EDGE_INDEX, NODE_TYPE, EDGE_TYPE, state=state)
        masked = torch.tensor([[True], [True], [False]])        # absent there: no error
        layer(bad, EDGE_INDEX, NODE_TYPE, EDGE_TYPE, state=state, node_mask=masked)
        layer(bad, EDGE_INDEX, NODE_TYPE, EDGE_TYPE, state=state, validate=False)

    torch.manual_seed(0)
    model = StructuralRNN(SCHEMA, 2, 2, **SIZES).eval()
    data = STData(x=x[:, :2], edge_index=EDGE_INDEX, node_type=NODE_TYPE, edge_type=EDGE_TYPE)
    with torch.no_grad():
        _, state = model.step(data, None)
        frame = data.clone()
        frame.x = bad
        with pytest.raises(ValueError, match=r"'x' must be finite"):
            model.step(frame, state)


def test_infer_edge_type_refuses_node_types_out_of_range():
    """A negative node type wrapped around to the last type (a silent, wrong edge type); a too large
    one raised an IndexError naming nothing."""
    with pytest.raises(ValueError, match=r"'src_type' must lie in \[0, 1\].*got values in \[-1, 0\]"):
        SCHEMA.infer_edge_type(torch.tensor([-1, 0]), torch.tensor([1, 1]))
    with pytest.raises(ValueError, match=r"'dst_type' must lie in \[0, 1\].*got values in \[1, 3\]"):
        SCHEMA.infer_edge_type(torch.tensor([0, 1]), torch.tensor([1, 3]))
    with pytest.raises(TypeError, match="'src_type' must be an integer tensor"):
        SCHEMA.infer_edge_type(torch.tensor([0.0]), torch.tensor([1]))
    with pytest.raises(ValueError, match="one entry per edge"):
        SCHEMA.infer_edge_type(torch.tensor([0, 1]), torch.tensor([1]))
    assert SCHEMA.infer_edge_type(torch.tensor([0, 1, 1]), torch.tensor([1, 0, 1])).tolist() == [0, 0, 1]
    assert SCHEMA.infer_edge_type(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)).numel() == 0


@pytest.mark.parametrize("kw", [dict(edge_mlp="64"), dict(edge_mlp=64), dict(edge_mlp=(2.5,)), dict(edge_mlp=(0,)),
                                dict(edge_channels=-1), dict(edge_channels=2.5, spatial_features="attr"),
                                dict(dropout="0.1")], ids=str)
def test_layer_sizes_are_checked(kw):
    """edge_mlp='64' built two encoder layers of 6 and 4 units; 2.5 was truncated; others crashed deep inside."""
    key = next(iter(kw))
    with pytest.raises(ValueError, match=f"SRNNLayer: '{key}' must be"):
        SRNNLayer(SCHEMA, 2, **kw)


def test_edge_channels_the_features_do_not_read_warn():
    """edge_channels > 0 with the default spatial_features='concat' silently ignored every edge_attr."""
    with pytest.warns(UserWarning, match="edge_channels=3 is unused"):
        SRNNLayer(SCHEMA, 2, edge_channels=3, **SIZES)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SRNNLayer(SCHEMA, 2, edge_channels=3, spatial_features="concat_attr", **SIZES)


def test_heads_keep_a_float64_model_in_float64():
    """The losses were computed in float32 whatever the model's dtype: a float64 model lost precision
    and torch.autograd.gradcheck failed."""
    g = torch.Generator().manual_seed(0)
    target = torch.randn(2, 3, 2, generator=g, dtype=torch.float64)
    params = torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    head = DeterministicHead(2)
    assert head.loss(params, target).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda p: head.loss(p, target), (params,))
    gauss = GaussianHead()
    raw = torch.randn(2, 3, 5, generator=g, dtype=torch.float64)
    assert gauss.loss(gauss(raw), target).dtype == torch.float64
    logits = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    assert LogitsHead(4).loss(logits, torch.zeros(2, 3, dtype=torch.long)).dtype == torch.float64
    assert head.loss(params.detach().half(), target.half()).dtype == torch.float32   # half: float32
