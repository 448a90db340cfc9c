import io

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from srnn_pyg import STData, STSchema
from srnn_pyg.models import StructuralRNN, build
from srnn_pyg.testing import (devices, fake_schema, fake_st_data, reference_forecast,
                              reference_forward)

SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _model(schema, F=3, out=None, **kw):
    torch.manual_seed(0)
    return StructuralRNN(schema, F, out or F, **{**SMALL, **kw}).eval()


CONFIGS = [
    dict(edge_scope="slot"),
    dict(edge_scope="edge", aggr="sum"),
    dict(edge_scope="edge", aggr="mean"),
    dict(edge_scope="edge", aggr="max"),
    dict(edge_scope="slot", residual=True, num_layers=2, spatial_features="diff"),
    dict(edge_scope="edge", aggr="mean", spatial_features="concat_attr", edge_channels=2,
         temporal_features="diff"),
    dict(edge_scope="edge", aggr="attention"),
    dict(edge_scope="slot", spatial=False),
    dict(edge_scope="edge", aggr="sum", edge_state="start"),
    dict(edge_scope="slot", edge_state="appear", num_layers=2),
]


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
@pytest.mark.parametrize("masks", [False, True])
def test_matches_reference(device, config, masks):
    schema = fake_schema(with_relations=True)
    data = fake_st_data(9, 5, 3, schema=schema, masks=masks, edge_attr_dim=2, generator=_gen(1))
    model = _model(schema, **config).to(device)
    data = data.to(device)
    with torch.no_grad():
        out, hid = model(data, return_hidden=True)
        ref_out, ref_hid = reference_forward(model, data, return_hidden=True)
    assert out.shape == (9, 5, 3) and hid.shape == (9, 5, 5)
    assert torch.allclose(out, ref_out, atol=1e-5)
    assert torch.allclose(hid, ref_hid, atol=1e-5)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS[:4], ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_classification_matches_reference(device, config):
    schema = fake_schema()
    data = fake_st_data(8, 4, 3, schema=schema, masks=True, classes=5, generator=_gen(2)).to(device)
    model = _model(schema, 3, 5, task="classification", **config).to(device)
    with torch.no_grad():
        assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5)
    with pytest.raises(ValueError, match="task='regression'"):
        model.forecast(data, 3)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS[:5] + CONFIGS[6:], ids=lambda c: "-".join(f"{v}" for v in c.values()))
@pytest.mark.parametrize("masks", [False, True])
def test_forecast_matches_stepwise_reference(device, config, masks):
    schema = fake_schema()
    data = fake_st_data(7, 4, 3, schema=schema, masks=masks, generator=_gen(3)).to(device)
    model = _model(schema, **config).to(device)
    with torch.no_grad():
        pred = model.forecast(data, 5)
        ref = reference_forecast(model, data, 5)
    assert pred.shape == (7, 5, 3)
    assert torch.allclose(pred, ref, atol=1e-5)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_batch_equals_graphs_one_by_one(device, config):
    schema = fake_schema(with_relations=True)
    graphs = [fake_st_data(n, 6, 3, schema=schema, masks=True, edge_attr_dim=2,
                           generator=_gen(n)) for n in (5, 8, 11)]
    model = _model(schema, **config).to(device)
    batch = next(iter(DataLoader(graphs, batch_size=3))).to(device)
    with torch.no_grad():
        out = model(batch)
        pred = model.forecast(batch, 4)
        singles = [model(g.to(device)) for g in graphs]
        single_preds = [model.forecast(g.to(device), 4) for g in graphs]
    assert torch.allclose(out, torch.cat(singles), atol=1e-5)
    assert torch.allclose(pred, torch.cat(single_preds), atol=1e-5)
    # the batched result also matches the loop reference run on the whole batch
    assert torch.allclose(out, reference_forward(model, batch), atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS[:4], ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_permutation_equivariance(config):
    schema = fake_schema()
    data = fake_st_data(10, 5, 3, schema=schema, masks=True, generator=_gen(4))
    model = _model(schema, **config)
    perm = torch.randperm(10, generator=_gen(5))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(10)
    permuted = STData(x=data.x[perm], node_type=data.node_type[perm], node_mask=data.node_mask[perm],
                      edge_index=inv[data.edge_index], edge_type=data.edge_type, edge_mask=data.edge_mask)
    # also shuffle the edge order: the result must not depend on it
    eperm = torch.randperm(data.num_edges, generator=_gen(6))
    for key in ("edge_type", "edge_mask"):
        permuted[key] = permuted[key][eperm]
    permuted.edge_index = permuted.edge_index[:, eperm]
    with torch.no_grad():
        assert torch.allclose(model(permuted), model(data)[perm], atol=1e-5)
        assert torch.allclose(model.forecast(permuted, 3), model.forecast(data, 3)[perm], atol=1e-5)


def test_absent_nodes_do_not_influence_present_ones():
    schema = fake_schema()
    data = fake_st_data(9, 6, 3, schema=schema, masks=True, generator=_gen(7))
    model = _model(schema, edge_scope="edge", aggr="mean")
    changed = data.clone()
    absent = ~data.node_mask                                           # [N, T]
    changed.x = torch.where(absent.unsqueeze(-1), torch.randn_like(data.x) * 100, data.x)
    with torch.no_grad():
        a, b = model(data), model(changed)
    assert torch.equal(a, b)
    assert (a[absent] == 0).all()


def test_parameters_shared_per_type_and_independent_of_graph_size():
    schema = fake_schema()
    model = _model(schema)
    n_params = sum(p.numel() for p in model.parameters())
    assert len(model.edge_rnns) == schema.num_edge_types
    assert len(model.node_rnns) == len(model.temporal_rnns) == schema.num_node_types
    for n in (4, 40):
        data = fake_st_data(n, 3, 3, schema=schema, generator=_gen(n))
        assert model(data).shape == (n, 3, 3)
    assert sum(p.numel() for p in model.parameters()) == n_params
    # the nodeRNN of a type reads one slot per incoming edge type
    for p, rnn in enumerate(model.node_rnns):
        assert rnn.in_channels == 3 + 6 + 6 * len(schema.incoming(p))


@pytest.mark.parametrize("edge_scope", ["slot", "edge"])
def test_every_rnn_receives_gradient(edge_scope):
    schema = fake_schema(with_relations=True)
    data = fake_st_data(30, 4, 3, schema=schema, num_edges=80, generator=_gen(8))
    assert set(data.edge_type.tolist()) == set(range(schema.num_edge_types))
    model = _model(schema, edge_scope=edge_scope, edge_mlp=(16,), node_mlp=(16,)).train()
    model(data).pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_state_dict_round_trip_and_reset():
    schema = fake_schema()
    data = fake_st_data(8, 4, 3, schema=schema, generator=_gen(9))
    model = _model(schema)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    other = _model(schema)
    other.reset_parameters()
    with torch.no_grad():
        assert not torch.allclose(other(data), model(data))
        other.load_state_dict(torch.load(buf))
        assert torch.equal(other(data), model(data))
    before = [p.clone() for p in model.parameters()]
    model.reset_parameters()
    # every weight matrix is drawn anew (the default init="uniform" starts every bias at zero)
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters()) if a.dim() > 1]
    assert changed and all(changed)


def test_repr_and_registry():
    schema = STSchema(["torso", "arm", "leg"],
                      [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
    model = StructuralRNN(schema, 6, 6)
    assert repr(model) == ("StructuralRNN(schema=3 node/4 edge types, 6, 6, edge_scope='slot', "
                           "aggr='sum', task='regression')")
    assert isinstance(build("srnn", schema, 6, 6), StructuralRNN)


def test_paper_preset_sizes():
    schema = fake_schema()
    model = StructuralRNN(schema, 6, 6, preset="paper_motion")
    er, nr, dec = model.edge_rnns[0], model.node_rnns[0], model.decoders[0]
    assert [lin.out_features for lin in er.pre] == [256, 256] and er.hidden == 512
    assert nr.hidden == 512 and [lin.out_channels for lin in dec.lins[:-1]] == [256, 100]
    assert dec.lins[-1].out_channels == 6
    # explicit sizes win over the preset
    assert StructuralRNN(schema, 6, 6, preset="paper_motion", edge_hidden=32).edge_hidden == 32


def test_special_graphs():
    # a node type with no incoming spatial edge type (directed t0 -> t1 only), isolated nodes
    schema = STSchema(["a", "b"], [("a", "b")], directed=True)
    assert schema.incoming("a") == []
    data = STData(x=torch.randn(5, 4, 2), node_type=torch.tensor([0, 0, 1, 1, 1]),
                  edge_index=torch.tensor([[0, 1], [2, 2]]), edge_type=torch.tensor([0, 0]))
    model = _model(schema, 2)
    with torch.no_grad():
        assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5)
        assert model.forecast(data, 3).shape == (5, 3, 2)
    # a single node, no edges
    single = STData(x=torch.randn(1, 4, 2), node_type=torch.tensor([1]),
                    edge_index=torch.empty(2, 0, dtype=torch.long), edge_type=torch.empty(0, dtype=torch.long))
    with torch.no_grad():
        assert torch.allclose(model(single), reference_forward(model, single), atol=1e-5)
        assert model.forecast(single, 2).shape == (1, 2, 2)
    # a batch in which a node type is missing altogether
    only_a = STData(x=torch.randn(3, 4, 2), node_type=torch.zeros(3, dtype=torch.long),
                    edge_index=torch.empty(2, 0, dtype=torch.long), edge_type=torch.empty(0, dtype=torch.long))
    with torch.no_grad():
        assert model(only_a).shape == (3, 4, 2)


def test_embed_as_a_layer():
    from torch_geometric.nn import GCNConv

    schema = fake_schema()
    data = fake_st_data(8, 5, 3, schema=schema, generator=_gen(10))
    srnn = _model(schema)
    emb = srnn.embed(data)
    assert emb.shape == (8, 5, 5)
    out = GCNConv(5, 2)(emb[:, -1], data.edge_index)   # last step's states into a GNN
    out.sum().backward()
    assert srnn.node_rnns[0].lstm.weight_ih_l0.grad is not None


def test_dropout_only_in_training():
    schema = fake_schema()
    data = fake_st_data(8, 5, 3, schema=schema, generator=_gen(11))
    model = _model(schema, dropout=0.5)
    with torch.no_grad():
        assert torch.equal(model(data), model(data))
        model.train()
        assert not torch.equal(model(data), model(data))


def test_bad_arguments_and_input():
    schema = fake_schema()
    data = fake_st_data(6, 4, 3, schema=schema, generator=_gen(12))
    with pytest.raises(ValueError, match="edge_scope"):
        StructuralRNN(schema, 3, 3, edge_scope="node")
    with pytest.raises(ValueError, match="aggr"):
        StructuralRNN(schema, 3, 3, aggr="median")
    with pytest.raises(ValueError, match="residual"):
        StructuralRNN(schema, 2, 3, residual=True)
    with pytest.raises(ValueError, match="edge_scope='edge'"):
        StructuralRNN(schema, 3, 3, aggr="attention")
    for aggr in ("mean", "max"):                   # the slot scope sums features: another aggr would be ignored
        with pytest.raises(ValueError, match=f"aggr='{aggr}' aggregates each edge's own edgeRNN output, so it "
                                             f"needs edge_scope='edge'.*got aggr='{aggr}', edge_scope='slot'"):
            StructuralRNN(schema, 3, 3, aggr=aggr)
    with pytest.raises(ValueError, match="out_channels=2"):
        StructuralRNN(schema, 3, 3, head="gaussian")
    with pytest.raises(ValueError, match="edge_channels"):
        StructuralRNN(schema, 3, 3, spatial_features="attr")
    with pytest.raises(ValueError, match="preset"):
        StructuralRNN(schema, 3, 3, preset="huge")
    model = _model(schema)
    with pytest.raises(ValueError, match=r"F=3 \(got \[6, 4, 5\]\)"):
        model(STData(x=torch.randn(6, 4, 5), edge_index=data.edge_index, node_type=data.node_type,
                     edge_type=data.edge_type))
    with pytest.raises(ValueError, match="horizon"):
        model.forecast(data, 0)
    with pytest.raises(ValueError, match="node_type"):
        model(STData(x=data.x, edge_index=data.edge_index, edge_type=data.edge_type))
    bad = data.clone()
    bad.node_mask = torch.ones(6, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="node_mask"):
        model(bad)
    with pytest.raises(ValueError, match="2 -> 3|out_channels"):
        _model(schema, 2, 3).forecast(STData(x=torch.randn(6, 4, 2), edge_index=data.edge_index,
                                             node_type=data.node_type, edge_type=data.edge_type), 2)


def test_trains_on_a_toy_task():
    """A few optimiser steps reduce the one-step-ahead loss on smooth signals."""
    schema = fake_schema()
    data = fake_st_data(12, 20, 2, schema=schema, generator=_gen(13))
    t = torch.linspace(0, 3, 20)
    data.x = torch.stack([torch.sin(t), torch.cos(t)], -1).expand(12, -1, -1).contiguous()
    model = StructuralRNN(schema, 2, 2, residual=True, **SMALL)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = (model(data)[:, :-1] - data.x[:, 1:]).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_batch_object_from_pyg():
    schema = fake_schema()
    graphs = [fake_st_data(n, 3, 3, schema=schema, generator=_gen(n)) for n in (4, 6)]
    batch = Batch.from_data_list(graphs)
    assert batch.schema == schema
    assert _model(schema)(batch).shape == (10, 3, 3)


def test_attention_weights_sum_to_one_over_present_incoming_edges():
    from torch_geometric.utils import scatter

    schema = fake_schema(with_relations=True)
    data = fake_st_data(10, 6, 3, schema=schema, masks=True, generator=_gen(20))
    model = _model(schema, edge_scope="edge", aggr="attention")
    with torch.no_grad():
        alpha = model.attention(data)
        _, ref = reference_forward(model, data, return_attention=True)
    assert torch.allclose(alpha, ref, atol=1e-5)
    src, dst = data.edge_index
    present = data.edge_mask & data.node_mask[src] & data.node_mask[dst]          # [E, T]
    assert (alpha[~present] == 0).all()
    group = dst * schema.num_edge_types + data.edge_type
    sums = scatter(alpha, group, dim=0, dim_size=10 * schema.num_edge_types)      # [N*K, T]
    counts = scatter(present.float(), group, dim=0, dim_size=10 * schema.num_edge_types)
    assert torch.allclose(sums[counts > 0], torch.ones_like(sums[counts > 0]), atol=1e-5)
    assert (sums[counts == 0] == 0).all()


def test_spatial_ablation_ignores_edges():
    schema = fake_schema()
    data = fake_st_data(8, 5, 3, schema=schema, generator=_gen(21))
    model = _model(schema, spatial=False)
    assert len(model.edge_rnns) == 0 and "spatial=False" in repr(model)
    rewired = data.clone()
    rewired.edge_index = rewired.edge_index.flip(0)[:, :2]
    rewired.edge_type = rewired.edge_type[:2]
    with torch.no_grad():
        assert torch.equal(model(data), model(rewired))


def test_gaussian_head():
    schema = fake_schema()
    data = fake_st_data(6, 5, 2, schema=schema, masks=True, generator=_gen(22))
    model = _model(schema, 2, 2, head="gaussian", residual=True, edge_scope="edge", aggr="attention")
    with torch.no_grad():
        out = model(data)
        assert torch.allclose(out, reference_forward(model, data), atol=1e-5)
        assert out.shape == (6, 5, 5)
        here = data.node_mask
        assert (out[..., 2:4][here] > 0).all() and (out[..., 4][here].abs() < 1).all()
        mean = model.forecast(data, 4)
        assert torch.allclose(mean, reference_forecast(model, data, 4), atol=1e-5)
        torch.manual_seed(0)
        samples = model.forecast(data, 4, num_samples=7)
    assert samples.shape == (7, 6, 4, 2)
    assert not torch.allclose(samples[0], samples[1])
    absent = ~data.node_mask[:, -1]
    assert (samples[:, absent] == 0).all()
    # the first step of every sample is a draw around the first mean
    assert torch.allclose(samples[:, :, 0].mean(0), mean[:, 0], atol=3 * out[:, -1, 2:4].max().item())


def _crowd(num_people, T, seed):
    """One scene: all ordered pairs of pedestrians as edges, people arriving and
    leaving at random (some leave and come back), an edge where both are present."""
    g = _gen(seed)
    enter = torch.randint(0, T // 2, (num_people,), generator=g)
    leave = torch.randint(T // 2 + 1, T + 1, (num_people,), generator=g)
    enter[-1], leave[-1] = 0, T                                        # someone there throughout
    t = torch.arange(T)
    node_mask = (t >= enter.unsqueeze(1)) & (t < leave.unsqueeze(1))
    node_mask[0, T // 2] = False                                       # a gap: gone for one frame
    i, j = torch.meshgrid(torch.arange(num_people), torch.arange(num_people), indexing="ij")
    keep = i != j
    edge_index = torch.stack([i[keep], j[keep]])
    edge_mask = node_mask[edge_index[0]] & node_mask[edge_index[1]]
    x = torch.randn(num_people, T, 2, generator=g) * node_mask.unsqueeze(-1)
    return STData(x=x, edge_index=edge_index, node_mask=node_mask, edge_mask=edge_mask)


CROWD = STSchema(["ped"], [("ped", "near", "ped")])
CROWD_SIZES = dict(node_mlp=())     # no ReLU decoder, so no dead unit can hide the spatial input


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("config", [dict(aggr="attention"), dict(aggr="mean"), dict(aggr="sum", edge_state="start")],
                         ids=["attention", "mean", "start"])
def test_dynamic_crowd_matches_reference_batched_and_forecast(device, config):
    graphs = [_crowd(5, 7, seed) for seed in (11, 12)]
    model = _model(CROWD, 2, edge_scope="edge", **CROWD_SIZES, **config).to(device)
    batch = Batch.from_data_list(graphs).to(device)
    with torch.no_grad():
        out = model(batch)
        assert torch.allclose(out, reference_forward(model, batch), atol=1e-5)
        for k, g in enumerate(graphs):                                 # batched == one by one
            g = g.to(device)
            assert torch.allclose(out[batch.ptr[k]:batch.ptr[k + 1]], model(g), atol=1e-5)
        assert torch.allclose(model.forecast(batch, 4), reference_forecast(model, batch, 4), atol=1e-5)


def test_edge_state_starts_when_the_edge_appears():
    data = _crowd(5, 7, 11)
    late = data.edge_mask.to(torch.uint8).argmax(1) > 0
    assert late.any()                                                  # some edges appear late
    # PyTorch's init: its non-zero biases move an edge's state before the edge appears (with the
    # uniform init's zero biases a state fed only zeros stays zero, and the two modes coincide)
    appear = _model(CROWD, 2, edge_scope="edge", aggr="attention", init="default", **CROWD_SIZES)
    start = _model(CROWD, 2, edge_scope="edge", aggr="attention", edge_state="start", init="default",
                   **CROWD_SIZES)
    assert appear.edge_state == "appear" and _model(CROWD, 2).edge_state == "start"   # defaults per scope
    with torch.no_grad():
        assert not torch.allclose(appear(data), start(data), atol=1e-4)
        full = STData(x=data.x, edge_index=data.edge_index)            # everyone present from step 0
        assert torch.allclose(appear(full), start(full), atol=1e-6)
    # what an edge saw before it appeared cannot matter, nor can the frames before it
    shifted = data.clone()
    shifted.x = torch.where(data.node_mask.unsqueeze(-1), data.x, torch.randn_like(data.x) * 50)
    with torch.no_grad():
        assert torch.allclose(appear(shifted)[data.node_mask], appear(data)[data.node_mask], atol=1e-6)
    with pytest.raises(ValueError, match="edge_state"):
        StructuralRNN(CROWD, 2, 2, edge_state="later")


def test_late_edges_receive_gradient():
    data = _crowd(6, 8, 13)
    model = _model(CROWD, 2, edge_scope="edge", aggr="attention").train()
    model(data)[data.node_mask].pow(2).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_a_batch_of_another_or_mixed_schema_is_refused():
    a = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    b = STSchema(["a", "b"], [("a", "a"), ("a", "b")])          # same type counts, other edge types
    g = torch.Generator().manual_seed(0)
    da, db = fake_st_data(6, 4, 3, schema=a, generator=g), fake_st_data(6, 4, 3, schema=b, generator=g)
    da.schema, db.schema = a, b
    model = StructuralRNN(a, 3, 3, edge_hidden=4, node_hidden=4)
    assert model(Batch.from_data_list([da, da])).shape == (12, 4, 3)
    with pytest.raises(ValueError, match="schema"):
        model(db)                                                     # another schema than the model's
    with pytest.raises(ValueError, match="mixes graphs of different schemas"):
        model(Batch.from_data_list([da, db]))
    model.validate = False                                            # the switch for inner loops
    assert model(Batch.from_data_list([da, da])).shape == (12, 4, 3)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("residual", [True, "velocity"])
def test_velocity_inputs_and_residuals_match_reference(device, residual):
    # positions and derived velocities in, positions out: forward and forecast against the loop reference
    schema = fake_schema()
    data = fake_st_data(7, 5, 4, schema=schema, masks=True, generator=_gen(8)).to(device)
    model = _model(schema, 4, 2, residual=residual, derived="velocity", velocity_scale=2.5).to(device)
    with torch.no_grad():
        assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5)
        assert torch.allclose(model.forecast(data, 4), reference_forecast(model, data, 4), atol=1e-5)


def test_velocity_residual_is_a_constant_velocity_prior():
    # with the decoders' last layer at zero, residual="velocity" forecasts constant velocity exactly
    schema = fake_schema()
    g = _gen(9)
    pos = torch.cumsum(torch.randn(6, 5, 2, generator=g), dim=1)                  # [N, T, 2]
    vel = torch.cat([torch.zeros(6, 1, 2), pos[:, 1:] - pos[:, :-1]], dim=1) * 2.0
    data = fake_st_data(6, 5, 4, schema=schema, generator=g)
    data.x = torch.cat([pos, vel], dim=-1)
    model = _model(schema, 4, 2, residual="velocity", derived="velocity", velocity_scale=2.0)
    with torch.no_grad():
        for mlp in model.decoders:
            mlp.lins[-1].weight.zero_()
            mlp.lins[-1].bias.zero_()
        pred = model.forecast(data, 3)
    step = pos[:, -1] - pos[:, -2]
    want = torch.stack([pos[:, -1] + k * step for k in (1, 2, 3)], dim=1)
    assert torch.allclose(pred, want, atol=1e-5)
    with pytest.raises(ValueError, match="derived='velocity'"):
        StructuralRNN(schema, 4, 2, residual="velocity")
    with pytest.raises(ValueError, match="'residual'"):
        StructuralRNN(schema, 4, 2, residual="acceleration", derived="velocity")


@pytest.mark.parametrize("config", [dict(edge_scope="slot", dropout=0.3),
                                    dict(edge_scope="edge", aggr="attention", dropout=0.3, num_layers=2)],
                         ids=["slot", "edge-attention"])
def test_gradient_checkpointing_gives_the_same_gradients(config):
    schema = fake_schema(with_relations=True)
    data = fake_st_data(9, 6, 3, schema=schema, masks=True, generator=_gen(11))

    def grads(checkpointed):
        model = _model(schema, **config).train()              # dropout on: its masks must be replayed
        model.gradient_checkpointing(checkpointed)
        torch.manual_seed(5)
        out = model(data)
        out.pow(2).mean().backward()
        return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]

    from srnn_pyg.nn.rnn_block import RNNBlock
    runs = []
    real = RNNBlock._run

    def counted(self, *args, **kwargs):
        runs.append(torch.is_grad_enabled())
        return real(self, *args, **kwargs)

    RNNBlock._run = counted
    try:
        out_a, g_a = grads(False)
        plain = len(runs)
        out_b, g_b = grads(True)
    finally:
        RNNBlock._run = real
    assert len(runs) - plain == 2 * plain                      # every block runs again in backward
    assert torch.equal(out_a, out_b) and len(g_a) == len(g_b) > 0
    for a, b in zip(g_a, g_b):
        assert torch.allclose(a, b, atol=1e-6)
    model = _model(schema, **config).gradient_checkpointing(True)
    assert all(m.checkpointing for m in model.modules() if hasattr(m, "checkpointing"))
    with torch.no_grad():                                      # inference: no checkpoint, same outputs
        assert torch.allclose(model.eval()(data), reference_forward(model, data), atol=1e-5)
    with pytest.raises(TypeError, match="'enable'"):
        model.gradient_checkpointing("yes")


def test_edge_attr_must_cover_the_steps_of_x():
    """An edge_attr with another number of steps than x is refused, naming both (it was read silently)."""
    from srnn_pyg.models import StructuralRNN
    from srnn_pyg.testing import fake_schema, fake_st_data
    data = fake_st_data(6, 5, 3, schema=fake_schema(with_relations=True), edge_attr_dim=2,
                        generator=torch.Generator().manual_seed(0))
    model = StructuralRNN(data.schema, 3, 3, edge_hidden=4, node_hidden=4, spatial_features="concat_attr",
                          edge_channels=2)
    model(data)
    held = data.clone()
    held.edge_attr = held.edge_attr[:, -1:]                                   # one step: held over the window
    model(held)
    for steps in (6, 4):
        bad = data.clone()
        bad.edge_attr = torch.randn(data.num_edges, steps, 2)
        with pytest.raises(ValueError, match=r"'edge_attr' must be \[num_edges, T, 2\] with num_edges=\d+ and T=5"):
            model(bad)
