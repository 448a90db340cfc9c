"""SRNNLayer: tensors in, explicit state out; chunks and single frames equal one call."""
import pytest
import torch

from srnn_pyg import STData, STSchema
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn import SRNNLayer, SRNNState
from srnn_pyg.testing import devices, fake_schema, fake_st_data, reference_forward

SIZES = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,))
CONFIGS = [
    dict(edge_scope="slot"),
    dict(edge_scope="slot", edge_state="appear", num_layers=2),
    dict(edge_scope="edge", aggr="sum"),
    dict(edge_scope="edge", aggr="mean", edge_state="start"),
    dict(edge_scope="edge", aggr="max"),
    dict(edge_scope="edge", aggr="attention"),
    dict(edge_scope="edge", aggr="mean", spatial_features="concat_attr", edge_channels=2, temporal_features="diff"),
    dict(edge_scope="slot", spatial=False),
]
CHUNKINGS = [(2, 1, 3), (1,) * 6, (5, 1)]


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _crowd(num_people, T, seed):
    """People arriving and leaving (one leaves for a frame and comes back); edges
    between all ordered pairs, present when both ends are: many edges appear late."""
    g = _gen(seed)
    enter = torch.randint(0, T // 2, (num_people,), generator=g)
    leave = torch.randint(T // 2 + 1, T + 1, (num_people,), generator=g)
    enter[-1], leave[-1] = 0, T
    t = torch.arange(T)
    node_mask = (t >= enter.unsqueeze(1)) & (t < leave.unsqueeze(1))
    node_mask[0, T // 2] = False
    i, j = torch.meshgrid(torch.arange(num_people), torch.arange(num_people), indexing="ij")
    keep = i != j
    edge_index = torch.stack([i[keep], j[keep]])
    edge_mask = node_mask[edge_index[0]] & node_mask[edge_index[1]]
    x = torch.randn(num_people, T, 2, generator=g) * node_mask.unsqueeze(-1)
    return STData(x=x, edge_index=edge_index, node_mask=node_mask, edge_mask=edge_mask)


def _inputs(data):
    return (data.x, data.edge_index, data.get("node_type"), data.get("edge_type"))


def _chunk(data, a, b):
    kw = {}
    for key in ("node_mask", "edge_mask", "edge_attr"):
        v = data.get(key)
        if v is not None:
            kw[key] = v[:, a:b]
    return data.x[:, a:b], kw


def _run_chunks(layer, data, sizes):
    outs, state, a = [], None, 0
    x, ei, nt, et = _inputs(data)
    for n in sizes:
        xc, kw = _chunk(data, a, a + n)
        out, state = layer(xc, ei, nt, et, state=state, **kw)
        outs.append(out)
        a += n
    return torch.cat(outs, dim=1), state


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
@pytest.mark.parametrize("masks", [False, True])
def test_chunks_equal_one_call(device, config, masks):
    schema = fake_schema(with_relations=True)
    data = fake_st_data(9, 6, 3, schema=schema, masks=masks, edge_attr_dim=2, generator=_gen(1)).to(device)
    torch.manual_seed(0)
    layer = SRNNLayer(schema, 3, **SIZES, **config).to(device).eval()
    x, ei, nt, et = _inputs(data)
    kw = {k: data.get(k) for k in ("node_mask", "edge_mask", "edge_attr") if data.get(k) is not None}
    with torch.no_grad():
        full, state = layer(x, ei, nt, et, **kw)
        assert full.shape == (9, 6, 5) and isinstance(state, SRNNState)
        by_type, _ = layer(x, ei, nt, et, order="type", **kw)
        assert torch.equal(by_type, full[state.layout.node_perm])
        assert torch.equal(by_type[state.layout.node_rank], full)
        for sizes in CHUNKINGS:
            chunked, last = _run_chunks(layer, data, sizes)
            assert torch.allclose(chunked, full, atol=1e-5), sizes
            for a, b in zip(last.node, state.node):
                assert (a is None and b is None) or torch.allclose(a[0], b[0], atol=1e-5)


@pytest.mark.parametrize("config", [dict(aggr="attention"), dict(aggr="mean"), dict(aggr="sum", edge_state="start"),
                                    dict(aggr="max")], ids=["attention", "mean", "start", "max"])
def test_streaming_a_crowd_one_frame_at_a_time(config):
    """Late-appearing edges (edge_state='appear'): frame-by-frame equals one call."""
    data = _crowd(6, 8, 11)
    assert (data.edge_mask.to(torch.uint8).argmax(1) > 0).any()
    schema = STSchema(["ped"], [("ped", "near", "ped")])
    torch.manual_seed(0)
    layer = SRNNLayer(schema, 2, edge_scope="edge", **SIZES, **config).eval()
    with torch.no_grad():
        full, state = layer(data.x, data.edge_index, node_mask=data.node_mask, edge_mask=data.edge_mask)
        stream, last = _run_chunks(layer, data, (1,) * 8)
    assert torch.allclose(stream, full, atol=1e-5)
    if config.get("edge_state") != "start":
        assert torch.equal(last.edge_started[0], state.edge_started[0])
        assert not bool(last.edge_started[0].all()) or bool(data.edge_mask.any(1).all())
    if config["aggr"] == "attention":
        assert torch.allclose(last.attention, state.attention[:, -1:], atol=1e-6)


def test_layer_is_the_model_core_and_matches_the_reference():
    schema = fake_schema()
    data = fake_st_data(8, 5, 3, schema=schema, masks=True, generator=_gen(3))
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, **SIZES, edge_scope="edge", aggr="attention").eval()
    with torch.no_grad():
        hid, _ = model.layer(data.x, data.edge_index, data.node_type, data.edge_type,
                             node_mask=data.node_mask, edge_mask=data.edge_mask)
        _, ref_hid = reference_forward(model, data, return_hidden=True)
        assert torch.allclose(hid, ref_hid, atol=1e-5)
        assert torch.allclose(hid, model.embed(data), atol=1e-6)


def test_gradients_flow_through_chunks_and_detach_cuts_them():
    schema = fake_schema()
    data = fake_st_data(7, 6, 3, schema=schema, generator=_gen(4))
    layer = SRNNLayer(schema, 3, **SIZES)
    x = data.x.clone().requires_grad_()
    a, state = layer(x[:, :3], data.edge_index, data.node_type, data.edge_type)
    b, _ = layer(x[:, 3:], data.edge_index, data.node_type, data.edge_type, state=state)
    b.sum().backward()
    assert x.grad[:, :3].abs().sum() > 0                      # the second chunk depends on the first
    x.grad = None
    b, _ = layer(x[:, 3:], data.edge_index, data.node_type, data.edge_type, state=state.detach())
    b.sum().backward()
    assert x.grad is None or x.grad[:, :3].abs().sum() == 0


def test_single_type_graph_needs_no_types_and_repr():
    schema = STSchema(["ped"], [("ped", "ped")])
    layer = SRNNLayer(schema, 2, **SIZES)
    x = torch.randn(4, 3, 2)
    ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
    out, state = layer(x, ei)
    assert out.shape == (4, 3, 5) and state.last_x.shape == (4, 2)
    assert repr(layer) == ("SRNNLayer(schema=1 node/1 edge types, 2, edge_hidden=6, node_hidden=5, "
                           "edge_scope='slot', aggr='sum')")


def test_bad_inputs_name_the_argument():
    schema = fake_schema()
    data = fake_st_data(6, 4, 3, schema=schema, generator=_gen(5))
    layer = SRNNLayer(schema, 3, **SIZES)
    x, ei, nt, et = _inputs(data)
    with pytest.raises(ValueError, match=r"'x' must be \[num_nodes, T, F\] with F=3"):
        layer(torch.randn(6, 4, 5), ei, nt, et)
    with pytest.raises(ValueError, match="node_type"):
        layer(x, ei, None, et)
    with pytest.raises(ValueError, match="edge_index"):
        layer(x, ei + 100, nt, et)
    with pytest.raises(ValueError, match="edge_index"):
        layer(x, ei - 100, nt, et)
    with pytest.raises(ValueError, match="node_type"):
        layer(x, ei, nt - 5, et)
    with pytest.raises(ValueError, match="edge_type"):
        layer(x, ei, nt, et + 50)
    with pytest.raises(ValueError, match="node_mask"):
        layer(x, ei, nt, et, node_mask=torch.ones(6, 3, dtype=torch.bool))
    _, state = layer(x, ei, nt, et)
    with pytest.raises(ValueError, match="state"):
        layer(x[:3], ei[:, :0], nt[:3], et[:0], state=state)
    with pytest.raises(ValueError, match="edge_scope"):
        SRNNLayer(schema, 3, edge_scope="node")
    with pytest.raises(ValueError, match="in_channels"):
        SRNNLayer(schema, 0)


@pytest.mark.parametrize("config", [dict(edge_scope="slot", residual=True), dict(edge_scope="edge", aggr="attention"),
                                    dict(edge_scope="edge", aggr="mean", task="classification")],
                         ids=["slot-residual", "edge-attention", "classification"])
def test_model_streams_one_frame_in_one_prediction_out(config):
    schema = fake_schema()
    data = fake_st_data(8, 6, 3, schema=schema, masks=True, generator=_gen(6))
    torch.manual_seed(0)
    out_channels = 4 if config.get("task") == "classification" else 3
    model = StructuralRNN(schema, 3, out_channels, **SIZES, **config).eval()
    state, outs = None, []
    with torch.no_grad():
        full = model(data)
        for t in range(6):
            frame = data.clone()
            frame.x, frame.node_mask, frame.edge_mask = data.x[:, t:t + 1], data.node_mask[:, t:t + 1], \
                data.edge_mask[:, t:t + 1]
            out, state = model.step(frame, state)
            outs.append(out)
    assert torch.allclose(torch.cat(outs, 1), full, atol=1e-5)
    with pytest.raises(ValueError, match="state"):
        model.step(fake_st_data(5, 2, 3, schema=schema, generator=_gen(7)), state)
