"""variant="paper" and the item switches: each builds what it says, and the
state, chunking, checkpointing and training paths work for both variants.
(The paper variant's math against a loop reference: tests/models/test_srnn_paper.py.)"""
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import fit, load_model, save_model
from srnn_pyg.models import StructuralRNN
from srnn_pyg.nn import SRNNLayer
from srnn_pyg.nn.peephole import PeepholeLSTM
from srnn_pyg.testing import fake_st_data

SIZES = dict(edge_hidden=5, node_hidden=4, edge_mlp=(6, 3), node_mlp=(5,))


def _data(seed=0, **kw):
    return fake_st_data(num_nodes=8, T=6, F=3, generator=torch.Generator().manual_seed(seed), **kw)


def _model(data, seed=0, **kw):
    torch.manual_seed(seed)
    return StructuralRNN(data.schema, 3, 3, **dict(SIZES, **kw)).eval()


def test_variant_defaults():
    d = _data()
    imp, pap = _model(d).layer, _model(d, variant="paper").layer
    # the improved variant shares the linear encoder and the uniform init (chosen on validation, version 0.2)
    assert (imp.cell, imp.fused_lstm, imp.temporal_lstm, imp.linear_encoder, imp.node_input_x, imp.init) == \
        ("lstm", False, True, True, True, "uniform")
    assert (imp.spatial_kind, imp.temporal_kind, imp.lstm_grad_clip) == ("concat", "concat_diff", None)
    assert (pap.cell, pap.fused_lstm, pap.temporal_lstm, pap.linear_encoder, pap.node_input_x, pap.init) == \
        ("peephole", True, False, True, False, "uniform")
    assert (pap.spatial_kind, pap.temporal_kind, pap.lstm_grad_clip) == ("concat_typed", "x", 25.0)
    assert StructuralRNN(d.schema, 3, 3, preset="paper_motion").variant == "paper"
    assert StructuralRNN(d.schema, 3, 3, preset="paper_motion", variant="improved").variant == "improved"


def test_each_switch_changes_its_item_only():
    d = _data()
    base = _model(d).layer
    P = d.schema.num_node_types
    fused = _model(d, fused_lstm=True).layer
    assert fused.spatial_width == 5 + 3 and all(fused.node_channels(p) > 4 for p in range(P))
    assert isinstance(fused.node_rnns[0].lstm, torch.nn.LSTM)           # the cell is its own switch
    nt = _model(d, temporal_lstm=False).layer
    assert all(not b.stateful for b in nt.temporal_rnns) and nt.temporal_width == 3
    assert all(b.stateful for b in nt.edge_rnns)
    lin = _model(d, linear_encoder=False).layer
    assert not lin.edge_rnns[0].pre_last_linear and base.edge_rnns[0].pre_last_linear
    nox = _model(d, node_input_x=False).layer
    assert nox.node_rnns[0].in_channels == base.node_rnns[0].in_channels - 3
    uni = _model(d, init="default")                                   # PyTorch's init, wider than +-0.05
    assert all(p.abs().max() <= 0.05 for p in _model(d).parameters())
    assert any(p.abs().max() > 0.05 for p in uni.parameters())
    pee = _model(d, cell="peephole").layer
    assert isinstance(pee.node_rnns[0].lstm, PeepholeLSTM) and pee.lstm_grad_clip is None
    for m in (fused, nt, lin, nox, uni.layer, pee):
        assert m.variant == "improved"


@pytest.mark.parametrize("kw", [dict(variant="paper"), dict(variant="paper", edge_scope="edge", aggr="mean"),
                                dict(fused_lstm=True, temporal_lstm=False), dict(variant="paper", cell="lstm")])
def test_chunks_equal_one_call_and_forecast_runs(kw):
    d = _data(1, masks=True)
    m = _model(d, **kw)
    with torch.no_grad():
        whole = m(d)
        state, outs = None, []
        for a, b in ((0, 2), (2, 3), (3, 6)):
            part = d.clone()
            part.x, part.node_mask, part.edge_mask = d.x[:, a:b], d.node_mask[:, a:b], d.edge_mask[:, a:b]
            out, state = m.step(part, state)
            outs.append(out)
        assert torch.allclose(torch.cat(outs, 1), whole, atol=1e-5)
        assert m.forecast(d, 3).shape == (8, 3, 3)


def test_checkpointing_and_save_load_keep_the_paper_variant(tmp_path):
    d = _data(2)
    m = _model(d, variant="paper").train()

    def grads(model):
        model.zero_grad()
        model(d).pow(2).sum().backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads(m)
    m.gradient_checkpointing(True)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain, grads(m)))
    m.gradient_checkpointing(False).eval()
    path = save_model(m, tmp_path / "paper.pt")
    back = load_model(path).eval()
    assert back.variant == "paper" and isinstance(back.layer.node_rnns[0].lstm, PeepholeLSTM)
    with torch.no_grad():
        assert torch.equal(back(d), m(d))


def test_paper_recipe_trains_the_paper_variant():
    windows = [fake_st_data(num_nodes=6, T=9, F=3, horizon=3, generator=torch.Generator().manual_seed(s))
               for s in range(4)]
    m = _model(windows[0], variant="paper")
    before = [p.detach().clone() for p in m.parameters()]
    res = fit(m, DataLoader(windows, batch_size=2), epochs=1, recipe="paper", progress=False, seed=0)
    assert res.history[-1]["step"] == 2                     # one update per batch (the truncation is in the cells)
    assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))


def test_bad_variant_options_are_named():
    d = _data()
    with pytest.raises(ValueError, match="variant"):
        _model(d, variant="official")
    with pytest.raises(ValueError, match="lstm_grad_clip"):
        _model(d, lstm_grad_clip=25.0)                       # the fused PyTorch LSTM cannot clip per step
    with pytest.raises(TypeError, match="fused_lstm"):              # a flag, as every model's (docs/errors.md)
        _model(d, fused_lstm="yes")
    with pytest.raises(ValueError, match="init"):
        _model(d, init="xavier")
    with pytest.raises(ValueError, match="node_input_x"):
        SRNNLayer(d.schema.__class__(["a"], [], temporal=False), 3, variant="paper")
