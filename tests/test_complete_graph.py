"""``CompleteGraph``: one edge type's edges replaced by every pair of its node
types, other types and per-edge data kept, on typed and untyped windows."""
from collections import Counter

import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg import STData, STSchema
from srnn_pyg.models import build
from srnn_pyg.testing import devices
from srnn_pyg.transforms import CompleteGraph

SCHEMA = STSchema(["human", "object"], [("human", "human"), ("human", "object")])


def typed_window(directed_ho=False):
    """Nodes 0-2 humans, 3-4 objects; a sparse human-human graph with one
    self-loop, and one human-object edge (with its reverse unless directed)."""
    schema = SCHEMA if not directed_ho else STSchema(["human", "object"], [("human", "human"),
                                                                           ("human", "object")],
                                                     directed=[False, True])
    ei = torch.tensor([[0, 1, 2, 0, 3], [1, 0, 2, 3, 0]])
    et = torch.tensor([0, 0, 0, 1, 1])
    if directed_ho:
        ei, et = ei[:, :4], et[:4]
    attr = torch.arange(ei.size(1) * 2 * 3, dtype=torch.float).view(-1, 2, 3)
    return STData(x=torch.randn(5, 2, 4), edge_index=ei, edge_type=et, edge_attr=attr,
                  node_type=torch.tensor([0, 0, 0, 1, 1]), schema=schema)


def pairs(ei, et=None, k=None):
    keep = slice(None) if et is None else et == k
    return Counter(map(tuple, ei[:, keep].t().tolist()))


def test_completes_one_type_and_keeps_the_others():
    data = typed_window()
    before = {k: data[k].clone() for k in ("edge_index", "edge_type", "edge_attr")}
    given = {k: data[k] for k in before}
    out = CompleteGraph(edge_type="human-human")(data)
    for k, v in before.items():
        assert torch.equal(given[k], v)                                  # the tensors given are unchanged
    ei, et = out.edge_index, out.edge_type
    # the human-object edges first, as they were, with their attributes
    assert ei[:, :2].tolist() == [[0, 3], [3, 0]] and et[:2].tolist() == [1, 1]
    assert torch.equal(out.edge_attr[:2], before["edge_attr"][3:])
    # every ordered human pair, and a self-loop for each human (the window had one)
    want = Counter((i, j) for i in range(3) for j in range(3))
    assert pairs(ei, et, 0) == want and ei[:, 2:].tolist() == [list(p) for p in zip(*sorted(want))]
    rows = {p: r for r, p in enumerate(map(tuple, ei.t().tolist()))}
    for e, p in enumerate(map(tuple, before["edge_index"][:, :3].t().tolist())):
        assert torch.equal(out.edge_attr[rows[p]], before["edge_attr"][e])   # linked pairs keep their row
    assert bool((out.edge_attr[rows[(1, 2)]] == 1.0).all()) and bool((out.edge_attr[rows[(0, 0)]] == 1).all())
    assert out.edge_attr.shape == (2 + 9, 2, 3)


def test_undirected_and_directed_types_between_two_node_types():
    out = CompleteGraph(edge_type=("human", "object"), fill_value=-2.0)(typed_window())
    ho = pairs(out.edge_index, out.edge_type, 1)
    assert ho == Counter([(h, o) for h in range(3) for o in (3, 4)] + [(o, h) for h in range(3) for o in (3, 4)])
    assert pairs(out.edge_index, out.edge_type, 0) == Counter([(0, 1), (1, 0), (2, 2)])
    new = (out.edge_type == 1) & ~torch.isin(out.edge_index[0] * 5 + out.edge_index[1], torch.tensor([3, 15]))
    assert bool((out.edge_attr[new] == -2.0).all())
    directed = CompleteGraph(edge_type=1)(typed_window(directed_ho=True))
    assert pairs(directed.edge_index, directed.edge_type, 1) == Counter((h, o) for h in range(3) for o in (3, 4))


@pytest.mark.parametrize("self_loops, loops_in_window, expected", [
    (None, True, 3), (None, False, 0), (True, False, 3), (False, True, 0)])
def test_self_loops(self_loops, loops_in_window, expected):
    data = typed_window()
    if not loops_in_window:
        keep = data.edge_index[0] != data.edge_index[1]
        data.edge_index, data.edge_type, data.edge_attr = (data.edge_index[:, keep], data.edge_type[keep],
                                                           data.edge_attr[keep])
    out = CompleteGraph("human-human", self_loops=self_loops)(data)
    mine = out.edge_type == 0
    assert int((out.edge_index[0, mine] == out.edge_index[1, mine]).sum()) == expected
    assert int(mine.sum()) == 6 + expected


def test_untyped_window_and_a_model_on_it():
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    data = STData(x=torch.randn(4, 3, 2), edge_index=ei, y=torch.randn(4, 1, 2))
    out = CompleteGraph()(data.clone())
    assert pairs(out.edge_index) == Counter((i, j) for i in range(4) for j in range(4) if i != j)
    assert "edge_attr" not in out and "edge_type" not in out
    model = build("srnn", STSchema(["n"], [("n", "n")]), 2, 2, edge_scope="edge", aggr="mean", node_hidden=8,
                  edge_hidden=8)
    batch = Batch.from_data_list([out, out])
    assert model(batch).shape[0] == 8


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"the schema has 2 edge types \(\['human-human', 'human-object'\]\); "
                                         r"name the one to complete with 'edge_type'"):
        CompleteGraph()(typed_window())
    with pytest.raises(ValueError, match=r"'edge_type' 'robot-human' is not an edge type of the schema"):
        CompleteGraph("robot-human")(typed_window())
    other = typed_window()
    other.edge_weight_t = torch.ones(5, 2)
    with pytest.raises(ValueError, match=r"per-edge data \['edge_weight_t'\] that cannot be made up for new "):
        CompleteGraph("human-human")(other)
    with pytest.raises(ValueError, match=r"'edge_attr' and 6 new edges, but 'fill_value' is None"):
        CompleteGraph("human-human", fill_value=None)(typed_window())
    batch = Batch.from_data_list([typed_window(), typed_window()])
    with pytest.raises(ValueError, match="got a collated batch of 2 graphs; complete each window before"):
        CompleteGraph("human-human")(batch)
    typed = STData(x=torch.randn(3, 2, 1), edge_index=torch.tensor([[0], [1]]), node_type=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="without a 'schema' must have one node type and one edge type "
                                         "\\(got 'node_type' values \\[0, 1\\]\\)"):
        CompleteGraph()(typed)
    with pytest.raises(ValueError, match="'edge_type' 'a-b' needs a window with a 'schema'"):
        CompleteGraph("a-b")(STData(x=torch.randn(3, 2, 1), edge_index=torch.tensor([[0], [1]])))
    with pytest.raises(ValueError, match=r"'data.edge_index' must be a \[2, num_edges\] torch.long tensor"):
        CompleteGraph()(STData(x=torch.randn(3, 2, 1)))
    short = typed_window()
    short.edge_attr = short.edge_attr[:3]
    with pytest.raises(ValueError, match=r"'data.edge_attr' must have num_edges=5 rows \(got \[3, 2, 3\]\)"):
        CompleteGraph("human-human")(short)
    for key in ("node_type", "edge_type"):
        missing = typed_window()
        del missing[key]
        with pytest.raises(ValueError, match=f"the schema has 2 {key.replace('_', ' ')}s but the window has no "
                                             f"'{key}'"):
            CompleteGraph("human-human")(missing)
    weighted = STData(x=torch.randn(4, 2, 1), edge_index=torch.tensor([[0, 1], [1, 2]]), weight=torch.ones(2))
    with pytest.raises(ValueError, match=r"per-edge data \['weight'\]"):   # 2 rows: the edges', not the nodes'
        CompleteGraph()(weighted)
    for kwargs, msg in ((dict(self_loops=1), "'self_loops' must be True, False or None"),
                        (dict(fill_value=float("nan")), "'fill_value' must be a finite number or None"),
                        (dict(fill_value=True), "'fill_value' must be a finite number or None"),
                        (dict(edge_type=1.5), "'edge_type' must be an edge type's name")):
        with pytest.raises(ValueError, match=msg):
            CompleteGraph(**kwargs)
    assert repr(CompleteGraph("h-h")) == "CompleteGraph(edge_type='h-h', self_loops=None, fill_value=1.0)"


def test_duplicate_edges_interleaved_types_and_an_empty_type():
    schema = STSchema(["n"], [("n", "near", "n"), ("n", "far", "n")])
    # type 0 edges, with a duplicate of (0, 1), interleaved with type 1 edges
    ei = torch.tensor([[0, 2, 0, 1, 3], [1, 3, 1, 0, 2]])
    et = torch.tensor([0, 1, 0, 0, 1], dtype=torch.long)
    attr = torch.tensor([[10.0], [20.0], [11.0], [12.0], [21.0]])
    data = STData(x=torch.randn(4, 2, 1), edge_index=ei, edge_type=et, edge_attr=attr, schema=schema)
    out = CompleteGraph(edge_type=("n", "near", "n"), fill_value=0.0)(data)
    assert out.edge_index[:, :2].tolist() == [[2, 3], [3, 2]] and out.edge_attr[:2].view(-1).tolist() == [20, 21]
    assert out.edge_type.dtype == torch.long and out.edge_type[2:].eq(0).all()
    rows = {p: r for r, p in enumerate(map(tuple, out.edge_index.t().tolist()))}
    assert out.edge_attr[rows[(0, 1)]].item() == 10.0                   # the first (0, 1) edge's row
    assert out.edge_attr[rows[(1, 0)]].item() == 12.0 and out.edge_attr[rows[(2, 1)]].item() == 0.0
    assert out.edge_index.size(1) == 2 + 12
    # a type with no edges yet: all its pairs are new
    empty = STData(x=torch.randn(3, 2, 1), edge_index=torch.tensor([[0], [1]]), edge_type=torch.tensor([1]),
                   edge_attr=torch.tensor([[5.0]]), schema=schema)
    out = CompleteGraph(edge_type=0, fill_value=-1.0)(empty)
    assert out.edge_attr.view(-1).tolist() == [5.0] + [-1.0] * 6
    with pytest.raises(ValueError, match="'edge_type' 2 is not an edge type index of the schema \\(0 to 1"):
        CompleteGraph(edge_type=2)(empty)


@pytest.mark.parametrize("device", devices())
def test_on_every_device(device):
    data = typed_window().to(device)
    out = CompleteGraph(edge_type="human-object")(data)
    cpu = CompleteGraph(edge_type="human-object")(typed_window())
    for key in ("edge_index", "edge_type", "edge_attr"):
        assert out[key].device.type == torch.device(device).type
        assert torch.equal(out[key].cpu(), cpu[key])


@pytest.mark.parametrize("with_node_mask", [True, False])
def test_edge_masks_kept_for_linked_pairs_and_derived_for_new_ones(with_node_mask):
    """A linked pair keeps its first edge's mask row; a new pair is present
    where both nodes are (every step without a node mask); other types keep theirs."""
    data = typed_window()
    data.x = torch.randn(5, 3, 4)
    data.edge_attr = torch.randn(5, 3, 2)
    em = torch.tensor([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.bool)
    data.edge_mask = em.clone()
    nm = torch.tensor([[1, 1, 1], [1, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=torch.bool)
    if with_node_mask:
        data.node_mask = nm
    out = CompleteGraph("human-human", self_loops=False)(data)
    assert out.edge_mask.shape == (out.edge_index.size(1), 3) and out.edge_mask.dtype == torch.bool
    masks = {}
    for e in range(out.edge_index.size(1)):
        masks[(int(out.edge_type[e]),) + tuple(out.edge_index[:, e].tolist())] = out.edge_mask[e].tolist()
    assert masks[(1, 0, 3)] == em[3].tolist() and masks[(1, 3, 0)] == em[4].tolist()   # other type kept
    assert masks[(0, 0, 1)] == em[0].tolist() and masks[(0, 1, 0)] == em[1].tolist()   # linked pairs kept
    for i, j in [(0, 2), (2, 0), (1, 2), (2, 1)]:                                      # new pairs
        expected = (nm[i] & nm[j]).tolist() if with_node_mask else [True] * 3
        assert masks[(0, i, j)] == expected, (i, j)
    assert (0, 2, 2) not in masks                                                      # no self-loops asked
