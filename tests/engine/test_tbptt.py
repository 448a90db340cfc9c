"""Truncated backpropagation through time (TrainConfig(tbptt=K))."""
import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import TrainConfig, fit
from srnn_pyg.engine.tbptt import time_chunks
from srnn_pyg.models import NodeLSTM, StructuralRNN
from srnn_pyg.testing import fake_schema, fake_st_data

SMALL = dict(edge_hidden=6, node_hidden=6, edge_mlp=(6,), node_mlp=(6,))


def _windows(n=6, T=7, H=3, F=3, classification=False):
    g = torch.Generator().manual_seed(0)
    schema = fake_schema(with_relations=True)
    out = []
    for i in range(n):
        d = fake_st_data(9, T, F, schema=schema, masks=True, generator=g)
        if classification:
            d.y = torch.randint(0, 4, (d.num_nodes, H), generator=g)
        else:
            d.y = torch.randn(d.num_nodes, H, F, generator=g)
        out.append(d)
    return schema, out


def _fit(tbptt, lr=1e-2, epochs=1, classification=False, cell="lstm", **kw):
    schema, data = _windows(classification=classification)
    torch.manual_seed(0)
    C = 4 if classification else 3
    model = StructuralRNN(schema, 3, C, task="classification" if classification else "regression", cell=cell,
                          **SMALL)
    result = fit(model, DataLoader(data, batch_size=3), config=TrainConfig(
        epochs=epochs, lr=lr, progress=False, tbptt=tbptt, objective="teacher_forcing", **kw))
    return model, result


def test_chunks_cover_the_sequence():
    assert time_chunks(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert time_chunks(4, 10) == [(0, 4)]


@pytest.mark.parametrize("classification", [False, True])
def test_one_chunk_is_training_without_tbptt(classification):
    # K at least the sequence length: the same optimiser steps, losses and weights as whole sequences
    a, ra = _fit(None, classification=classification, epochs=2)
    b, rb = _fit(50, classification=classification, epochs=2)
    assert [r["train_loss"] for r in ra.history] == pytest.approx([r["train_loss"] for r in rb.history], rel=1e-6)
    assert ra.history[-1]["step"] == rb.history[-1]["step"]
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chunk_losses_add_up_to_the_sequence_loss(cell):
    # the state carries across chunks: at fixed weights (a learning rate too small to move them
    # measurably) the entry-weighted chunk losses equal the whole-sequence loss
    _, whole = _fit(None, lr=1e-12, cell=cell)
    _, chunked = _fit(3, lr=1e-12, cell=cell)
    assert chunked.history[0]["train_loss"] == pytest.approx(whole.history[0]["train_loss"], rel=1e-5)


def test_one_optimiser_step_per_chunk_and_truncated_gradients():
    _, r = _fit(3)
    # 6 windows in batches of 3 = 2 batches; teacher forcing over T + H - 1 = 9 steps = 3 chunks each
    assert r.history[0]["step"] == 2 * 3
    m1, _ = _fit(3)
    m2, _ = _fit(None)
    assert any(not torch.allclose(p, q) for p, q in zip(m1.parameters(), m2.parameters()))


def test_bad_settings_name_tbptt():
    with pytest.raises(ValueError, match="'tbptt'"):
        TrainConfig(epochs=1, tbptt=0)
    schema, data = _windows()
    with pytest.raises(ValueError, match="tbptt=3.*objective='teacher_forcing'"):
        fit(StructuralRNN(schema, 3, 3, **SMALL), DataLoader(data, 3),
            config=TrainConfig(epochs=1, progress=False, tbptt=3, objective="rollout"))
    with pytest.raises(ValueError, match="tbptt=3.*step"):
        fit(NodeLSTM(schema, 3, 3, hidden=4), DataLoader(data, 3),
            config=TrainConfig(epochs=1, progress=False, tbptt=3))
