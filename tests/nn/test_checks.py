"""Input checks of the S-RNN layer (``srnn_pyg/nn/checks.py``, the layout's
value checks): what they catch, that they cost one host sync, and that
``validate=False`` turns the scan off."""
import math

import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg import STSchema
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn import SRNNLayer
from srnn_pyg.nn.checks import check_edge_index, model_dtype, select
from srnn_pyg.testing import devices, fake_schema, fake_st_data


def _layer(schema, **kw):
    torch.manual_seed(0)
    return SRNNLayer(schema, 4, edge_hidden=4, node_hidden=4, edge_mlp=(4,), attention_channels=4, **kw)


def _args(d):
    return (d.x, d.edge_index, d.node_type, d.edge_type)


def test_select_is_nan_safe():
    x = torch.tensor([[1.0, math.nan], [math.inf, 2.0]])
    mask = torch.tensor([[True, False], [False, True]])
    assert torch.equal(select(mask, x), torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    assert select(None, x) is x
    out = select(mask[:, :1], x)        # a [N, 1] mask broadcasts over the last dimension
    assert torch.equal(out[1], torch.zeros(2)) and out[0, 0] == 1.0 and math.isnan(out[0, 1])


def test_model_dtype_and_edge_index():
    assert model_dtype(torch.nn.Linear(2, 2)) == torch.float32
    assert model_dtype(torch.nn.Linear(2, 2).double()) == torch.float64
    assert model_dtype(torch.nn.Identity()) is None
    with pytest.raises(ValueError, match=r"'edge_index' must be \[2, num_edges\] \(got \[5, 2\]; it looks tr"):
        check_edge_index("M", torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(TypeError, match=r"'edge_index' must be torch.long \(got torch.int32\)"):
        check_edge_index("M", torch.zeros(2, 5, dtype=torch.int32))


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("scope,aggr", [("slot", "sum"), ("edge", "sum"), ("edge", "attention")])
def test_layout_reads_everything_in_one_host_sync(monkeypatch, device, scope, aggr):
    data = fake_st_data(num_nodes=9, T=4, F=4, masks=True, device=device)
    layer = _layer(data.schema, edge_scope=scope, aggr=aggr, edge_state="start").to(device)
    syncs = []
    for attr in ("tolist", "item", "__bool__", "__int__"):
        real = getattr(torch.Tensor, attr)
        monkeypatch.setattr(torch.Tensor, attr,
                            lambda self, *a, _real=real, _attr=attr: syncs.append(_attr) or _real(self, *a))
    layer(*_args(data), node_mask=data.node_mask, edge_mask=data.edge_mask)
    monkeypatch.undo()
    assert syncs == ["tolist"]


def test_edges_that_do_not_fit_their_type_are_rejected():
    schema = STSchema(["a", "b"], [("a", "b", ), ("b", "b")], directed=[True, False])
    layer = _layer(schema)
    x = torch.randn(3, 2, 4)
    node_type = torch.tensor([0, 1, 1])
    ok = torch.tensor([[0, 1], [1, 2]])                 # a -> b (type 0), b -> b (type 1)
    layer(x, ok, node_type, torch.tensor([0, 1]))
    for edge_index, edge_type in ((torch.tensor([[1], [0]]), torch.tensor([0])),   # b -> a: directed type
                                  (torch.tensor([[0], [1]]), torch.tensor([1]))):  # a -> b as b-b: sender
        with pytest.raises(ValueError, match=r"'edge_type' must fit .*got edge 0 of type"):
            layer(x, edge_index, node_type, edge_type)


def test_range_errors_name_the_key():
    data = fake_st_data(num_nodes=6, T=3, F=4)
    layer = _layer(data.schema)
    for key, value, pattern in (("node_type", -1, r"'node_type' must lie in \[0, 2\].*got values in \[-1"),
                                ("node_type", 3, r"'node_type' must lie in \[0, 2\].*got values in \[0, 3\]"),
                                ("edge_type", 99, r"'edge_type' must lie in \[0, 4\].*99\]"),
                                ("edge_index", 6, r"'edge_index' must lie in \[0, 5\].*6\]")):
        bad = data.clone()
        bad[key] = data[key].clone()
        bad[key].view(-1)[0] = value
        with pytest.raises(ValueError, match=pattern):
            layer(*_args(bad))


@pytest.mark.parametrize("device", devices())
def test_validate_false_skips_the_scan_but_not_the_ranges(device):
    data = fake_st_data(num_nodes=6, T=3, F=4, device=device)
    layer = _layer(data.schema).to(device)
    data.x[1, 2, 3] = math.nan
    with pytest.raises(ValueError, match=r"'x' must be finite .*got nan at node 1, step 2, feature 3"):
        layer(*_args(data))
    out, _ = layer(*_args(data), validate=False)             # the caller's promise: no scan
    assert out.shape == (6, 3, 4)
    with pytest.raises(ValueError, match="'x' must be finite"):
        layer(*_args(data), validate=False, check_finite=True)
    data.node_type[0] = 5
    with pytest.raises(ValueError, match="'node_type' must lie"):
        layer(*_args(data), validate=False)


@pytest.mark.parametrize("device", devices())
def test_nan_at_an_absent_step_is_allowed(device):
    data = fake_st_data(num_nodes=6, T=3, F=4, masks=True, device=device)
    data.node_mask[1, 1] = False
    data.x[1, 1] = math.nan
    out, _ = _layer(data.schema).to(device)(*_args(data), node_mask=data.node_mask, edge_mask=data.edge_mask)
    assert bool(out.isfinite().all()) and bool((out[1, 1] == 0).all())


def test_attention_without_edges():
    """A graph, or a batch, with no edges: slots stay zero, nothing fails."""
    schema = fake_schema(2)
    torch.manual_seed(0)
    model = StructuralRNN(schema, 4, 4, edge_hidden=4, node_hidden=4, edge_scope="edge", aggr="attention")
    empty = fake_st_data(num_nodes=5, T=3, F=4, schema=schema, num_edges=0)
    assert empty.edge_index.size(1) == 0
    assert bool(model(empty).isfinite().all()) and model.forecast(empty, 2).shape == (5, 2, 4)
    assert model.attention(empty).shape == (0, 3)
    full = fake_st_data(num_nodes=4, T=3, F=4, schema=schema, generator=torch.Generator().manual_seed(1))
    batch = Batch.from_data_list([empty, full])
    out = model(batch)
    assert torch.allclose(out[:5], model(empty), atol=1e-6) and torch.allclose(out[5:], model(full), atol=1e-6)


def test_empty_graph_gives_an_empty_output():
    schema = fake_schema(2)
    layer = _layer(schema, edge_scope="edge", aggr="mean")
    out, state = layer(torch.zeros(0, 3, 4), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                       torch.zeros(0, dtype=torch.long))
    assert out.shape == (0, 3, 4) and state.layout.num_nodes == 0
