"""``t_start`` is graph-level whatever the node and edge counts: a one-node
graph or a batch with as many graphs as nodes keeps it whole through
:func:`to_hetero`/:func:`from_hetero` and through the one-hop loader."""
import torch
from torch_geometric.data import Batch

from srnn_pyg import OneHopLoader, STData, from_hetero, to_hetero
from srnn_pyg.loader import key_kinds

torch.set_num_threads(1)


def one_node(t_start: int = 7) -> STData:
    return STData(x=torch.randn(1, 4, 2), edge_index=torch.empty(2, 0, dtype=torch.long),
                  t_start=torch.tensor([t_start]))


def test_t_start_of_a_one_node_graph_is_graph_level_in_to_hetero():
    data = one_node()
    hetero = to_hetero(data)
    assert torch.equal(hetero.t_start, torch.tensor([7]))
    assert "t_start" not in hetero[hetero.node_types[0]]
    back = from_hetero(hetero)
    assert torch.equal(back.t_start, data.t_start) and torch.equal(back.x, data.x)


def test_t_start_of_a_one_edge_graph_is_graph_level():
    data = STData(x=torch.randn(2, 4, 2), edge_index=torch.tensor([[0], [1]]), t_start=torch.tensor([3]))
    assert key_kinds(data, 2, 1)["t_start"] == "keep"
    hetero = to_hetero(data)
    assert torch.equal(hetero.t_start, torch.tensor([3]))
    assert torch.equal(from_hetero(hetero).t_start, torch.tensor([3]))


def test_other_row_keys_still_follow_their_counts():
    data = STData(x=torch.randn(3, 4, 2), edge_index=torch.tensor([[0, 1], [1, 2]]),
                  node_score=torch.arange(3.0), edge_score=torch.arange(2.0), label=torch.tensor([1]))
    kinds = key_kinds(data, 3, 2)
    assert (kinds["node_score"], kinds["edge_score"], kinds["label"]) == ("node", "edge", "keep")
    hetero = to_hetero(data)
    assert torch.equal(hetero[hetero.node_types[0]].node_score, torch.arange(3.0))
    back = from_hetero(hetero)
    assert torch.equal(back.node_score, data.node_score) and torch.equal(back.edge_score, data.edge_score)


def test_a_batch_with_as_many_graphs_as_nodes_keeps_every_t_start_in_one_hop_batches():
    batch = Batch.from_data_list([one_node(5), one_node(9)])                 # N = 2 = number of graphs
    assert batch.t_start.tolist() == [5, 9]
    kinds = key_kinds(batch, batch.num_nodes, batch.num_edges)
    assert kinds["t_start"] == "keep"
    for sub in OneHopLoader(batch, batch_size=1, shuffle=False):
        assert sub.t_start.tolist() == [5, 9]                                # not sliced as a node key
