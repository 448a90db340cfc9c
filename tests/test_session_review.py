"""Regressions found reviewing a session's changes: HeteroData round trips
with per-edge keys, store tensors that are not per node, a key named like
to_hetero's own ids; a resume that a smaller patience stops at once."""
import warnings

import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader

from srnn_pyg import STData, STSchema, from_hetero, to_hetero


def _typed_graph():
    """Five nodes of two types (out of type order) and five edges: as many
    edges as nodes, so a per-edge key has a row per node too."""
    schema = STSchema(["a", "b"], [("a", "a"), ("a", "b"), ("b", "b")], directed=[False, True, False])
    nt = torch.tensor([1, 0, 1, 0, 0])
    ei = torch.tensor([[0, 2, 1, 3, 1], [2, 0, 3, 1, 0]])
    et = schema.infer_edge_type(nt[ei[0]], nt[ei[1]])
    g = torch.Generator().manual_seed(0)
    data = STData(x=torch.randn(5, 3, 2, generator=g), edge_index=ei, node_type=nt, edge_type=et)
    data.schema = schema
    return data


def test_from_hetero_keeps_a_per_edge_key_in_edge_order_when_edges_equal_nodes():
    data = _typed_graph()
    data.edge_weight = torch.arange(5.0)                  # per edge ('edge' in its name), E == N
    data.score = torch.arange(5.0) * 10                    # per node
    back = from_hetero(to_hetero(data))
    for key in ("x", "edge_index", "edge_type", "edge_weight", "score"):
        assert torch.equal(back[key], data[key]), key


def test_from_hetero_leaves_out_store_tensors_without_a_row_per_node_or_edge():
    hetero = HeteroData()
    hetero["a"].x = torch.randn(2, 3, 1)
    hetero["b"].x = torch.randn(3, 3, 1)
    for name in ("a", "b"):
        hetero[name].scale = torch.tensor(2.0)              # 0-d: cannot be joined
        hetero[name].table = torch.randn(4, 2)              # a per-type table, not per node
    hetero["a", "to", "b"].edge_index = torch.tensor([[0, 1], [1, 2]])
    hetero["a", "to", "b"].gain = torch.tensor(1.5)
    back = from_hetero(hetero)
    assert back.x.shape == (5, 3, 1) and back.num_edges == 2
    assert "scale" not in back and "table" not in back and "gain" not in back


def test_to_hetero_numbers_nodes_by_its_own_ids_over_a_key_of_the_same_name():
    data = _typed_graph()
    data.node_id = torch.arange(100, 105)                  # the user's own ids, not positions
    data.edge_id = torch.arange(200, 205)
    hetero = to_hetero(data)
    assert torch.equal(hetero["a"].node_id, torch.tensor([1, 3, 4]))
    back = from_hetero(hetero)
    for key in ("x", "edge_index", "edge_type", "node_type"):
        assert torch.equal(back[key], data[key]), key


def test_a_resume_that_a_smaller_patience_stops_at_once_says_so(tmp_path):
    from srnn_pyg.datasets import Springs
    from srnn_pyg.engine import fit, load_checkpoint
    from srnn_pyg.models import build
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train = Springs(num_graphs=8, obs=4, horizon=2, split="train", seed=0)
        val = Springs(num_graphs=4, obs=4, horizon=2, split="val", seed=0, stats=train.stats)

        def run(**kw):
            torch.manual_seed(1)
            model = build("srnn", train.schema, 4, 4, edge_hidden=4, node_hidden=4, edge_mlp=(4,), node_mlp=(4,))
            return fit(model, DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), lr=1e-2,
                       progress=False, device="cpu", out_dir=tmp_path / "r", **kw)

        run(epochs=2)
        ckpt = load_checkpoint(tmp_path / "r" / "last.pt")
        assert not ckpt["stopped_early"]
        ckpt["bad_epochs"] = 3                              # three epochs without improvement, never stopped
        torch.save(ckpt, tmp_path / "r" / "last.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.warns(UserWarning, match=r"was at epoch 2 \(3 epoch\(s\) without improvement, "
                                                 r"early_stopping=None\); with early_stopping=2 nothing is trained"):
                result = run(epochs=4, resume=True, early_stopping=2)
        assert result.epochs_run == 2 and result.stopped_early
    finally:
        torch.set_num_threads(threads)


def test_a_stream_of_the_same_graph_needs_no_host_sync_to_check_it(monkeypatch):
    """A state handed the very tensors its layout was built from is accepted without comparing values (a
    host sync per call on a GPU); other tensors with the same values are compared, and in-place edits are
    caught."""
    import torch

    from srnn_pyg import STData, STSchema
    from srnn_pyg.models import StructuralRNN
    from srnn_pyg.nn.state import GraphLayout

    schema = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    torch.manual_seed(0)
    m = StructuralRNN(schema, 2, 2, edge_hidden=8, node_hidden=8)
    d = STData(x=torch.randn(4, 3, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
               node_type=torch.tensor([0, 1, 1, 1]), edge_type=torch.tensor([0, 1, 1]))
    _, state = m.step(d)
    compared = []
    real = GraphLayout._same_values
    monkeypatch.setattr(GraphLayout, "_same_values", lambda *a: compared.append(1) or real(*a))
    m.step(d, state)
    assert compared == []                                   # the same tensors: no comparison
    m.step(d.clone(), state)
    assert compared == [1]                                  # equal copies: compared once, accepted
    d.edge_index[0, 1] = 3                                  # edited in place: its version moved
    with pytest.raises(ValueError, match="'state' belongs to another graph"):
        m.step(d, state)
    out, _ = m.step(d, state, validate=False)               # a loop that checked its input itself
    assert out.shape == (4, 3, 2)


def test_a_stream_under_inference_mode_is_checked_by_value():
    """Inference tensors keep no version counter: the same tensors are compared by value there."""
    from srnn_pyg.models import StructuralRNN

    schema = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    m = StructuralRNN(schema, 2, 2, edge_hidden=8, node_hidden=8)
    with torch.inference_mode():
        d = STData(x=torch.randn(4, 3, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
                   node_type=torch.tensor([0, 1, 1, 1]), edge_type=torch.tensor([0, 1, 1]))
        _, state = m.step(d)
        out, state = m.step(d, state)
        assert out.shape == (4, 3, 2)
        d.edge_index = torch.tensor([[0, 3, 2], [1, 2, 1]])
        with pytest.raises(ValueError, match="'state' belongs to another graph"):
            m.step(d, state)
