"""StructuralRNN(variant="paper") against the loop reference written from the
official S-RNN code (asheshjain399/RNNexp, branch srnn; asheshjain399/NeuralModels)."""
import pytest
import torch
from torch_geometric.data import Batch

import srnn_pyg.nn.srnn_layer as srnn_layer_module
from srnn_pyg import STData, STSchema
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn.peephole import PeepholeLSTM
from srnn_pyg.testing import fake_schema, fake_st_data, reference_forward
from srnn_pyg.testing.paper_reference import paper_reference_forecast, paper_reference_forward

# distinct sizes everywhere, so that a wrong slice or concatenation cannot line up by chance
SMALL = dict(edge_mlp=(5, 4), edge_hidden=3, node_hidden=4, node_mlp=(6, 5))
TOL = dict(atol=1e-10, rtol=0)

#: the paper's human-motion graph (H3.6m ``crf``): a torso, two arms, two legs
HUMAN = STSchema(["torso", "arm", "leg"],
                 [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])
#: the same with a head reached only from the torso: node types of different fused widths
HUMAN_HEAD = STSchema(["torso", "arm", "leg", "head"],
                      [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg"), ("head", "torso")])
#: all directed, mixed-type and same-type: b receives a->b and b->b, a receives c->a, c receives b->c
DIRECTED = STSchema(["a", "b", "c"], [("a", "b"), ("b", "b"), ("c", "a"), ("b", "c")], directed=True)
#: directed and undirected types together
MIXED = STSchema(["a", "b", "c"], [("a", "b"), ("b", "b"), ("c", "a"), ("b", "c")],
                 directed=[True, False, True, False])

SCHEMAS = {"human": HUMAN, "human_head": HUMAN_HEAD, "directed": DIRECTED, "mixed": MIXED,
           "relations": fake_schema(with_relations=True)}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _model(schema, F=3, out=None, seed=0, scale=0.5, **kw):
    """A paper-variant model in float64 whose every parameter (biases included) is redrawn uniform in
    +-``scale``: the official +-0.05 with zero biases gives outputs near 1e-7, where an absolute
    tolerance would hide mistakes and a wrong bias could not show."""
    torch.manual_seed(seed)
    model = StructuralRNN(schema, F, out or F, variant="paper", **{**SMALL, **kw}).double().eval()
    if scale is not None:
        with torch.no_grad():
            for p in model.parameters():
                p.uniform_(-scale, scale)
    return model


def _data(schema, n=9, T=5, F=3, seed=1, **kw):
    data = fake_st_data(n, T, F, schema=schema, generator=_gen(seed), **kw)
    data.x = data.x.double()
    return data


def _human_graph(T=4, F=3, seed=2, head=False):
    """The official graph: torso, right arm, left arm, right leg, left leg (and a head), both ways."""
    schema = HUMAN_HEAD if head else HUMAN
    node_type = [0, 1, 1, 2, 2] + ([3] if head else [])
    pairs = [(0, 1, 0), (0, 2, 0), (0, 3, 1), (0, 4, 1), (1, 2, 2), (3, 4, 3)] + ([(5, 0, 4)] if head else [])
    src = [a for a, b, _ in pairs] + [b for a, b, _ in pairs]
    dst = [b for a, b, _ in pairs] + [a for a, b, _ in pairs]
    et = [k for _, _, k in pairs] * 2
    data = STData(x=torch.randn(len(node_type), T, F, generator=_gen(seed), dtype=torch.float64),
                  edge_index=torch.tensor([src, dst]), node_type=torch.tensor(node_type),
                  edge_type=torch.tensor(et))
    data.schema = schema
    return data


def _max_diff(a, b):
    return float((a - b).abs().max())


# ---------------------------------------------------------------------------------- equality
@pytest.mark.parametrize("name", list(SCHEMAS))
@pytest.mark.parametrize("masks", [False, True])
def test_forward_matches_paper_reference(name, masks):
    schema = SCHEMAS[name]
    data = _data(schema, masks=masks)
    model = _model(schema)
    with torch.no_grad():
        out, hid = model(data, return_hidden=True)
        ref_out, ref_hid = paper_reference_forward(model, data, return_hidden=True)
    assert out.shape == ref_out.shape == (9, 5, 3)
    assert hid.shape == ref_hid.shape
    assert torch.allclose(out, ref_out, **TOL), _max_diff(out, ref_out)
    assert torch.allclose(hid, ref_hid, **TOL), _max_diff(hid, ref_hid)


@pytest.mark.parametrize("head", [False, True])
def test_human_graph_matches_paper_reference(head):
    data = _human_graph(head=head)
    model = _model(data.schema)
    with torch.no_grad():
        assert torch.allclose(model(data), paper_reference_forward(model, data), **TOL)
        assert torch.allclose(model.forecast(data, 3), paper_reference_forecast(model, data, 3), **TOL)


@pytest.mark.parametrize("name", ["human", "directed", "mixed"])
@pytest.mark.parametrize("masks", [False, True])
def test_forecast_matches_paper_reference(name, masks):
    schema = SCHEMAS[name]
    data = _data(schema, n=7, T=4, masks=masks, seed=3)
    model = _model(schema)
    with torch.no_grad():
        pred = model.forecast(data, 4)
        ref = paper_reference_forecast(model, data, 4)
    assert pred.shape == (7, 4, 3)
    assert torch.allclose(pred, ref, **TOL), _max_diff(pred, ref)


def test_forecast_with_nodes_absent_at_the_last_step_matches_paper_reference():
    data = _data(HUMAN, n=8, T=4, masks=True, seed=9)
    data.node_mask[:3, -1] = False                      # absent when the forecast starts: they predict zeros
    model = _model(HUMAN)
    with torch.no_grad():
        pred = model.forecast(data, 3)
        assert torch.allclose(pred, paper_reference_forecast(model, data, 3), **TOL)
    assert (pred[:3] == 0).all() and (pred[3:] != 0).any()


def test_graphs_without_some_types_match_paper_reference():
    """No arms (the torso's torso-arm slot stays empty: its edgeRNN output is zero), and a lone torso."""
    full = _human_graph(T=4)
    keep = [0, 3, 4]                                    # torso, right leg, left leg
    sub = STData(x=full.x[keep], node_type=full.node_type[keep],
                 edge_index=torch.tensor([[0, 0, 1, 2, 1, 2], [1, 2, 2, 1, 0, 0]]),
                 edge_type=torch.tensor([1, 1, 3, 3, 1, 1]))
    lone = STData(x=full.x[:1], node_type=full.node_type[:1], edge_index=torch.empty(2, 0, dtype=torch.long),
                  edge_type=torch.empty(0, dtype=torch.long))
    model = _model(HUMAN)
    for data in (sub, lone):
        with torch.no_grad():
            assert torch.allclose(model(data), paper_reference_forward(model, data), **TOL)
            assert torch.allclose(model.forecast(data, 2), paper_reference_forecast(model, data, 2), **TOL)


def test_forecast_with_held_inputs_matches_paper_reference():
    # more inputs than outputs: the unpredicted inputs keep their last value
    data = _data(HUMAN, n=7, T=4, F=5, seed=4)
    model = _model(HUMAN, F=5, out=3)
    with torch.no_grad():
        assert torch.allclose(model.forecast(data, 3), paper_reference_forecast(model, data, 3), **TOL)


@pytest.mark.parametrize("name", ["human", "directed", "relations"])
def test_batch_matches_paper_reference(name):
    schema = SCHEMAS[name]
    graphs = [fake_st_data(n, 5, 3, schema=schema, masks=True, generator=_gen(n)) for n in (5, 8, 11)]
    batch = Batch.from_data_list(graphs)
    batch.x = batch.x.double()
    model = _model(schema)
    with torch.no_grad():
        out = model(batch)
        pred = model.forecast(batch, 3)
        assert torch.allclose(out, paper_reference_forward(model, batch), **TOL)
        assert torch.allclose(pred, paper_reference_forecast(model, batch, 3), **TOL)
        singles = []
        for g in graphs:
            g.x = g.x.double()
            singles.append(paper_reference_forward(model, g))
    assert torch.allclose(out, torch.cat(singles), **TOL)


def test_slot_appearance_matches_paper_reference():
    # edge_state="appear" is the library's (the official code has no masks); the reference follows it
    data = _data(HUMAN, masks=True, seed=5)
    model = _model(HUMAN, edge_state="appear")
    with torch.no_grad():
        assert torch.allclose(model(data), paper_reference_forward(model, data), **TOL)


def test_paper_preset_matches_paper_reference():
    data = _human_graph(T=2, F=4)
    model = _model(HUMAN, F=4, preset="paper_motion", edge_mlp=None, edge_hidden=None, node_hidden=None,
                   node_mlp=None)
    with torch.no_grad():
        assert torch.allclose(model(data), paper_reference_forward(model, data), **TOL)


def test_reference_refuses_other_settings():
    data = _data(HUMAN)
    for kw in (dict(variant="improved"), dict(edge_scope="edge"), dict(temporal_features="concat_diff"),
               dict(spatial_features="concat"), dict(cell="lstm"), dict(num_layers=2), dict(fused_lstm=False),
               dict(temporal_lstm=True), dict(linear_encoder=False), dict(node_input_x=True)):
        model = StructuralRNN(HUMAN, 3, 3, **{**SMALL, "variant": "paper", **kw})
        with pytest.raises(ValueError, match="paper_reference_forward"):
            paper_reference_forward(model, data)


# ------------------------------------------------------------------------- the official features
def test_spatial_features_follow_get_dra_features():
    """The torso's torso-arm input sums [x_torso, x_arm] over both arms (the receiver part twice); each
    arm reads [x_torso, x_arm]; same-type arm-arm reads the receiver first."""
    data = _human_graph(T=2)
    model = _model(HUMAN)
    seen = {}
    hooks = [model.edge_rnns[k].register_forward_pre_hook(lambda m, args, k=k: seen.__setitem__(k, args[0]))
             for k in range(4)]
    with torch.no_grad():
        model(data)
    for h in hooks:
        h.remove()
    x = data.x                                               # nodes: torso, r_arm, l_arm, r_leg, l_leg
    torso_arm = seen[0]                                      # slot rows: torso, r_arm, l_arm
    assert torch.allclose(torso_arm[0], torch.cat([2 * x[0], x[1] + x[2]], -1))
    assert torch.allclose(torso_arm[1], torch.cat([x[0], x[1]], -1))
    assert torch.allclose(torso_arm[2], torch.cat([x[0], x[2]], -1))
    arm_arm = seen[2]                                        # slot rows: r_arm, l_arm
    assert torch.allclose(arm_arm[0], torch.cat([x[1], x[2]], -1))
    assert torch.allclose(arm_arm[1], torch.cat([x[2], x[1]], -1))


def test_swapped_feature_order_is_caught(monkeypatch):
    """Receiver-first features (the improved variant's order) on the torso-arm schema make the paper
    model differ from the reference; on a schema of same-type edge types only they agree."""
    original = srnn_layer_module.spatial_features

    def receiver_first(kind, x_i, x_j, edge_attr, swap=None):
        return original(kind, x_i, x_j, edge_attr, None)

    monkeypatch.setattr(srnn_layer_module, "spatial_features", receiver_first)
    data = _human_graph()
    model = _model(HUMAN)
    with torch.no_grad():
        assert not torch.allclose(model(data), paper_reference_forward(model, data), atol=1e-6)
    same_type = STSchema(["a", "b"], [("a", "a"), ("b", "b")])
    data = _data(same_type, seed=6)
    model = _model(same_type)
    with torch.no_grad():
        assert torch.allclose(model(data), paper_reference_forward(model, data), **TOL)


@pytest.mark.parametrize("mutation", ["relu_second_layer", "no_output_peephole", "no_forget_peephole"])
def test_mutated_model_is_caught(monkeypatch, mutation):
    """A ReLU after the second encoder layer, or a peephole left out of the cell, breaks the equality."""
    data = _human_graph()
    model = _model(HUMAN)
    if mutation == "relu_second_layer":
        for rnn in list(model.edge_rnns) + list(model.temporal_rnns):
            monkeypatch.setattr(rnn, "pre_last_linear", False)
    else:
        row = 2 if mutation == "no_output_peephole" else 1
        original = PeepholeLSTM.forward

        def without_peephole(self, *args, **kwargs):
            saved = self.weight_peep_l0.detach()[row].clone()
            with torch.no_grad():
                self.weight_peep_l0[row].zero_()
            try:
                return original(self, *args, **kwargs)
            finally:
                with torch.no_grad():
                    self.weight_peep_l0[row].copy_(saved)

        monkeypatch.setattr(PeepholeLSTM, "forward", without_peephole)
    with torch.no_grad():
        assert not torch.allclose(model(data), paper_reference_forward(model, data), atol=1e-6)
        assert not torch.allclose(model.forecast(data, 2), paper_reference_forecast(model, data, 2), atol=1e-6)
    monkeypatch.undo()
    with torch.no_grad():
        assert torch.allclose(model(data), paper_reference_forward(model, data), **TOL)


# ------------------------------------------------------------------------------- structure
def test_paper_blocks_structure():
    schema = HUMAN_HEAD
    F = 3
    model = _model(schema, F=F)
    assert model.variant == "paper" and model.cell == "peephole" and model.lstm_grad_clip == 25.0
    assert model.spatial_kind == "concat_typed" and model.temporal_kind == "x" and not model.residual
    # temporal edgeRNN: FC (ReLU) then FC (linear), no LSTM and no recurrent parameter
    for rnn in model.temporal_rnns:
        assert rnn.lstm is None and [lin.out_features for lin in rnn.pre] == [5, 4]
        assert all(name.startswith("pre.") for name, _ in rnn.named_parameters())
    # spatial edgeRNN: FC-FC then a fused peephole LSTM: output [h, its input]
    for rnn in model.edge_rnns:
        assert [lin.out_features for lin in rnn.pre] == [5, 4] and rnn.in_channels == 2 * F
        assert rnn.fused and rnn.channels == rnn.rnn_channels == 3 + 4
        assert len(rnn.post) == 0 and rnn.out is None
    # nodeRNN: its edgeRNNs' outputs only (no x), a fused LSTM, then FC-FC-FC
    for p, (rnn, dec) in enumerate(zip(model.node_rnns, model.decoders)):
        width = 4 + len(schema.incoming(p)) * 7                     # temporal FC + spatial [h, z] per type
        assert rnn.in_channels == width and len(rnn.pre) == 0 and len(rnn.post) == 0 and rnn.out is None
        assert rnn.fused and rnn.rnn_channels == 4 + width
        assert [lin.in_channels for lin in dec.lins] == [4 + width, 6, 5] and dec.lins[-1].out_channels == F
    assert model.layer.out_channels == max(model.layer.node_channels(p) for p in range(4))
    assert len({model.layer.node_channels(p) for p in range(4)}) > 1     # the head is narrower: padded


def test_node_rnn_does_not_read_x_directly():
    # with every edgeRNN's encoder zeroed, x cannot reach the nodeRNN: the output no longer depends on x
    data = _human_graph()
    model = _model(HUMAN)
    with torch.no_grad():
        for rnn in list(model.temporal_rnns) + list(model.edge_rnns):
            rnn.pre[0].weight.zero_()
        other = data.clone()
        other.x = torch.randn_like(data.x)
        assert torch.equal(model(data), model(other))


def test_second_encoder_layer_is_linear():
    """The second FC of every edgeRNN is linear: its outputs (the temporal edge's output, the fused part
    of a spatial edge's output) take negative values, which a ReLU would never give."""
    data = _human_graph()
    model = _model(HUMAN)
    with torch.no_grad():
        for rnn in model.temporal_rnns:
            y, _, _ = rnn(data.x)
            assert (y < 0).any()
        for rnn in model.edge_rnns:
            y, _, _ = rnn(torch.cat([data.x, data.x.flip(0)], -1))
            z = y[..., rnn.hidden:]
            assert z.shape[-1] == 4 and (z < 0).any()
            assert torch.allclose(z, rnn.pre[1](torch.relu(rnn.pre[0](torch.cat([data.x, data.x.flip(0)], -1)))))


def test_uniform_initialisation_and_zero_biases():
    model = StructuralRNN(HUMAN, 3, 3, variant="paper", **SMALL)
    count = 0
    for name, p in model.named_parameters():
        count += 1
        if name.split(".")[-1].startswith("bias"):
            assert torch.count_nonzero(p) == 0, name
        else:
            assert p.abs().max() <= 0.05, name
    assert count > 0
    big = StructuralRNN(HUMAN, 3, 3, preset="paper_motion")        # enough samples to see the spread
    weights = torch.cat([p.detach().flatten() for n, p in big.named_parameters() if "weight" in n])
    assert weights.abs().max() <= 0.05 and weights.abs().max() > 0.049
    assert abs(float(weights.mean())) < 1e-3 and 0.0283 < float(weights.std()) < 0.0294   # 0.05 / sqrt(3)
    biases = torch.cat([p.flatten() for n, p in big.named_parameters() if n.split(".")[-1].startswith("bias")])
    assert torch.count_nonzero(biases) == 0


def test_peepholes_exist_and_matter():
    data = _human_graph()
    model = _model(HUMAN)
    cells = [rnn.lstm for rnn in list(model.edge_rnns) + list(model.node_rnns)]
    for cell in cells:
        assert cell.weight_peep_l0.shape == (3, cell.hidden_size)
    with torch.no_grad():
        base = model(data)
        for row in range(3):                                  # the i, f and o peepholes, one at a time
            saved = [cell.weight_peep_l0[row].clone() for cell in cells]
            for cell in cells:
                cell.weight_peep_l0[row].zero_()
            out = model(data)
            assert not torch.allclose(out, base, atol=1e-8), row
            assert torch.allclose(out, paper_reference_forward(model, data), **TOL)
            for cell, s in zip(cells, saved):
                cell.weight_peep_l0[row].copy_(s)
        assert torch.equal(model(data), base)


def _grads(model, loss):
    model.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_state_gradient_clip_matches_reference_hooks():
    """lstm_grad_clip clamps the gradient through h_{t-1} and c_{t-1} at every step: the model's parameter
    gradients equal those through the reference with an explicit clamp hook, and differ from unclipped."""
    data = _human_graph(T=6)
    w = torch.randn(5, 6, 3, generator=_gen(7), dtype=torch.float64)
    clipped = _model(HUMAN, lstm_grad_clip=1e-4)
    g_model = _grads(clipped, (clipped(data) * w).sum())
    g_ref = _grads(clipped, (paper_reference_forward(clipped, data) * w).sum())
    g_free = _grads(clipped, (paper_reference_forward(clipped, data, grad_clip=None) * w).sum())
    assert set(g_model) == set(g_ref) == set(g_free)
    for n in g_model:
        assert torch.allclose(g_model[n], g_ref[n], **TOL), (n, _max_diff(g_model[n], g_ref[n]))
    # the clip is active here: the recurrent parameters' gradients change
    changed = [n for n in g_model if not torch.allclose(g_model[n], g_free[n], atol=1e-8)]
    assert any("edge_rnns" in n and "lstm" in n for n in changed)
    assert any("node_rnns" in n and "lstm" in n for n in changed)
    # a bound never reached is the unclipped cell
    loose = _model(HUMAN, lstm_grad_clip=1e30)
    g_loose = _grads(loose, (loose(data) * w).sum())
    for n in g_loose:
        assert torch.allclose(g_loose[n], g_free[n], **TOL), n


def test_paper_motion_preset():
    model = StructuralRNN(HUMAN, 6, 6, preset="paper_motion")
    assert model.variant == "paper" and model.cell == "peephole" and model.lstm_grad_clip == 25.0
    for rnn in model.edge_rnns:                       # FC256-FC256-LSTM512, fused
        assert [lin.out_features for lin in rnn.pre] == [256, 256] and rnn.hidden == 512 and rnn.fused
        assert rnn.pre_last_linear
    for rnn in model.temporal_rnns:                   # FC256-FC256
        assert [lin.out_features for lin in rnn.pre] == [256, 256] and rnn.lstm is None
    for rnn, dec in zip(model.node_rnns, model.decoders):    # LSTM512-FC256-FC100-FC
        assert rnn.hidden == 512 and rnn.fused and rnn.cell == "peephole"
        assert [lin.out_channels for lin in dec.lins] == [256, 100, 6]
        assert dec.lins[0].in_channels == 512 + 256 + 2 * (512 + 256)
    assert StructuralRNN(HUMAN, 6, 6, preset="paper_motion", variant="improved").variant == "improved"


def test_improved_variant_is_unchanged():
    schema = fake_schema()
    torch.manual_seed(0)
    model = StructuralRNN(schema, 3, 3, edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,)).eval()
    assert model.variant == "improved" and model.cell == "lstm" and model.lstm_grad_clip is None
    assert model.spatial_kind == "concat" and model.temporal_kind == "concat_diff"
    assert isinstance(model.edge_rnns[0].lstm, torch.nn.LSTM) and not model.edge_rnns[0].fused
    # since 0.2 the improved variant shares the official linear encoder layer and uniform init
    assert model.temporal_rnns[0].lstm is not None and model.edge_rnns[0].pre_last_linear
    assert model.init == "uniform"
    for p, rnn in enumerate(model.node_rnns):
        assert rnn.in_channels == 3 + 6 + 6 * len(schema.incoming(p)) and rnn.rnn_channels == 5
    data = fake_st_data(9, 5, 3, schema=schema, masks=True, generator=_gen(8))
    with torch.no_grad():
        assert torch.allclose(model(data), reference_forward(model, data), atol=1e-5)
    with pytest.raises(ValueError, match="paper_reference_forward"):
        paper_reference_forward(model, data)


# ------------------------------------------------------------------------- stacked LSTMs
def test_multilayer_fused_lstm_follows_official_skips():
    """NeuralModels' multilayerLSTM(skip_input=True, skip_output=True, input_output_fused=True): layer
    l > 0 reads [h_{l-1}, input] and the output is [h_1, ..., h_L, input] (the official S-RNN uses one
    layer; the stacking is reproduced for num_layers > 1 all the same)."""
    model = _model(HUMAN, num_layers=2)
    rnn = model.node_rnns[0]
    width = rnn.in_channels
    assert rnn.rnn_channels == 2 * 4 + width
    assert rnn.lstm.weight_ih_l1.shape[1] == 4 + width
    z = torch.randn(3, 5, width, dtype=torch.float64)
    cell = rnn.lstm
    out, _ = cell(z)
    h1, _ = _lstm_layers(cell, z)
    assert torch.allclose(out, h1, atol=1e-12)


def _lstm_layers(cell, z):
    """The official stacking, layer by layer, with the library's cell run one layer at a time."""
    from srnn_pyg.nn.peephole import PeepholeLSTM
    outs, inp = [], z
    for layer in range(cell.num_layers):
        one = PeepholeLSTM(inp.size(-1), cell.hidden_size).double()
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias", "weight_peep"):
                getattr(one, f"{name}_l0").copy_(getattr(cell, f"{name}_l{layer}"))
        h, _ = one(inp)
        outs.append(h)
        inp = torch.cat([h, z], dim=-1)
    return torch.cat(outs, dim=-1), None
