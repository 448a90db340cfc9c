"""Degree-preserving random rewiring (``rewire_edges``, ``RewireEdges``): the
random-graph control of the accuracy benchmark."""
import warnings
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from torch_geometric.data import Batch

from srnn_pyg import STData
from srnn_pyg.transforms import RewireEdges, rewire_edges


def random_directed(n, p, seed):
    g = torch.Generator().manual_seed(seed)
    adj = torch.rand(n, n, generator=g) < p
    adj.fill_diagonal_(False)
    return adj.nonzero().t().contiguous()


def random_undirected(n, p, seed):
    adj = torch.zeros(n, n, dtype=torch.bool)
    ei = random_directed(n, p, seed)
    adj[ei[0], ei[1]] = True
    adj = torch.triu(adj, 1)
    adj = adj | adj.t()
    return adj.nonzero().t().contiguous()


def degrees(ei, et, n):
    """Per (type, node): (out-degree, in-degree)."""
    out = Counter((t, s) for s, t in zip(ei[0].tolist(), et.tolist()))
    inn = Counter((t, d) for d, t in zip(ei[1].tolist(), et.tolist()))
    return out, inn


def edge_set(ei):
    return Counter(map(tuple, ei.t().tolist()))


@given(n=st.integers(6, 14), p=st.floats(0.15, 0.5), seed=st.integers(0, 10_000),
       undirected=st.booleans(), typed=st.booleans())
def test_degrees_per_type_sources_and_simplicity_are_kept(n, p, seed, undirected, typed):
    ei = (random_undirected if undirected else random_directed)(n, p, seed)
    # node types by parity; edge types by the sum of the ends' parities (one type mixes a -> b and b -> a)
    nt = torch.arange(n) % 2 if typed else None
    et = (nt[ei[0]] + nt[ei[1]]) if typed else torch.zeros(ei.size(1), dtype=torch.long)
    # plus a directed type of other edges (i -> i + 1 where that edge is not there yet): swaps must not
    # create an edge that another type already has
    have = set(edge_set(ei))
    extra = [(i, (i + 1) % n) for i in range(n) if (i, (i + 1) % n) not in have]
    if extra:
        ei = torch.cat([ei, torch.tensor(extra).t()], dim=1)
        et = torch.cat([et, torch.full((len(extra),), 9)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                                 # rigid types are left as they are
        out = rewire_edges(ei, et, nt, swaps=3, seed=seed)
        again = rewire_edges(ei, et, nt, swaps=3, seed=seed)
    assert out.shape == ei.shape and out.dtype == torch.long
    assert torch.equal(out[0], ei[0])                                   # sources stay in their rows
    assert degrees(out, et, n) == degrees(ei, et, n)
    if typed:                                                           # each edge keeps its ends' types
        assert torch.equal(nt[out[1]], nt[ei[1]])
    assert not bool((out[0] == out[1]).any())                           # no self-loop created
    assert max(edge_set(out).values()) == 1                             # no edge twice, over all types
    if undirected:
        s = set(edge_set(out[:, et != 9]))
        assert s == {(b, a) for a, b in s}                              # still symmetric
    assert torch.equal(again, out)                                      # the same draw again


def test_every_reachable_graph_is_about_equally_likely():
    # three edges from even to odd nodes: the 6 ways to give the targets 1, 3, 5 to the sources 0, 2, 4
    ei = torch.tensor([[0, 2, 4], [1, 3, 5]])
    seen = Counter(tuple(rewire_edges(ei, seed=s)[1].tolist()) for s in range(600))
    assert len(seen) == 6
    assert all(60 <= n <= 140 for n in seen.values()), seen
    # two edges: the graph and its one swap, not always the same one (tries, not accepted swaps, are counted)
    two = {tuple(rewire_edges(torch.tensor([[0, 2], [1, 3]]), seed=s)[1].tolist()) for s in range(10)}
    assert two == {(1, 3), (3, 1)}


def test_rigid_and_partly_symmetric_types_warn():
    star = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])             # undirected star: rigid
    with pytest.warns(UserWarning, match="edge type 0 \\(6 edges\\) admits no degree-preserving swap"):
        assert torch.equal(rewire_edges(star), star)
    partly = torch.cat([random_undirected(12, 0.4, 1), torch.tensor([[0], [11]])], dim=1)
    partly = partly[:, ~((partly[0] == 11) & (partly[1] == 0))]            # 0 -> 11 without 11 -> 0
    with pytest.warns(UserWarning, match="edges in both directions, not all: it is rewired as a directed"):
        rewire_edges(partly)
    empty = rewire_edges(torch.zeros(2, 0, dtype=torch.long))
    assert empty.shape == (2, 0)


def test_an_undirected_type_between_two_node_types_keeps_them():
    # a bipartite "torso-arm"-like type stored both ways, the ends of other node types than each other
    nt = torch.tensor([0] * 6 + [1] * 6)
    und = [(i, 6 + (i + k) % 6) for i in range(6) for k in (0, 2)]
    ei = torch.tensor(und + [(b, a) for a, b in und]).t()
    out = rewire_edges(ei, node_type=nt, seed=1)
    assert torch.equal(nt[out[1]], nt[ei[1]])
    s = set(edge_set(out))
    assert s == {(b, a) for a, b in s} and s != set(edge_set(ei))


def test_the_graph_changes_and_the_seed_decides_how():
    ei = random_undirected(40, 0.15, 1)
    a, b = rewire_edges(ei, seed=0), rewire_edges(ei, seed=1)
    kept = set(edge_set(a)) & set(edge_set(ei))
    assert len(kept) < 0.3 * ei.size(1)                                 # most edges moved
    assert not torch.equal(a, b)


def test_self_loops_stay_and_types_keep_their_node_types():
    # node types: 0..3 "a", 4..9 "b"; type 0 a-b both ways, type 1 b-b, plus self-loops of type 2
    node_type = torch.tensor([0] * 4 + [1] * 6)
    ab = [(i, j) for i in range(4) for j in range(4, 10) if (i + j) % 3 == 0]
    bb = [(i, 4 + (i - 3) % 6) for i in range(4, 10)] + [(4 + (i - 3) % 6, i) for i in range(4, 10)]  # a ring
    loops = [(i, i) for i in range(10)]
    edges = ab + [(j, i) for i, j in ab] + bb + loops
    types = [0] * (2 * len(ab)) + [1] * len(bb) + [2] * len(loops)
    ei, et = torch.tensor(edges).t().contiguous(), torch.tensor(types)
    out = rewire_edges(ei, et, node_type, swaps=5, seed=3)
    assert torch.equal(out[:, et == 2], ei[:, et == 2])                 # self-loops untouched
    for t in (0, 1):
        keep = et == t
        pairs = {(int(node_type[s]), int(node_type[d])) for s, d in out[:, keep].t().tolist()}
        expected = {(int(node_type[s]), int(node_type[d])) for s, d in ei[:, keep].t().tolist()}
        assert pairs == expected
    assert not torch.equal(out[:, et == 0], ei[:, et == 0])


def test_directed_graph_with_repeated_edges_gets_no_new_repeats():
    ei = torch.cat([random_directed(12, 0.3, 5), torch.tensor([[0, 0], [1, 1]])], dim=1)
    if edge_set(ei)[(0, 1)] < 2:
        ei = torch.cat([ei, torch.tensor([[0], [1]])], dim=1)
    out = rewire_edges(ei, undirected=False, seed=2)
    assert sum(n - 1 for n in edge_set(out).values()) <= sum(n - 1 for n in edge_set(ei).values())
    assert degrees(out, torch.zeros(out.size(1), dtype=torch.long), 12) == \
        degrees(ei, torch.zeros(ei.size(1), dtype=torch.long), 12)


def test_transform_keeps_per_edge_data_and_the_datasets_tensors():
    ei = random_undirected(15, 0.3, 2)
    E = ei.size(1)
    data = STData(x=torch.randn(15, 4, 2), edge_index=ei, edge_attr=torch.randn(E, 4, 3),
                  edge_mask=torch.rand(E, 4) > 0.2)
    attr, mask, before = data.edge_attr, data.edge_mask, ei.clone()
    t = RewireEdges(seed=4)
    out = t(data.clone())
    assert torch.equal(ei, before)                                       # not changed in place
    assert out.edge_attr is not None and torch.equal(out.edge_attr, attr) and torch.equal(out.edge_mask, mask)
    expected = rewire_edges(ei, seed=4)
    assert torch.equal(out.edge_index, expected)
    out.edge_index.add_(100)                                             # a user's change stays theirs
    again = t(data.clone())                                              # the same graph: the kept draw
    assert torch.equal(again.edge_index, expected)
    other_ei = random_undirected(15, 0.3, 3)
    other = t(STData(x=torch.randn(15, 4, 2), edge_index=other_ei))
    assert torch.equal(other.edge_index, rewire_edges(other_ei, seed=4))
    assert torch.equal(t(data.clone()).edge_index, expected)            # both graphs kept
    # other node types on the same edges: another draw
    nt = torch.arange(15) % 3
    typed = t(STData(x=torch.randn(15, 4, 2), edge_index=ei, node_type=nt))
    assert torch.equal(typed.edge_index, rewire_edges(ei, node_type=nt, seed=4))
    assert repr(t) == "RewireEdges(swaps=10, seed=4, undirected=None)"
    batch = Batch.from_data_list([STData(x=torch.randn(15, 4, 2), edge_index=ei)] * 2)
    with pytest.raises(ValueError, match="got a collated batch of 2 graphs; rewire each window before"):
        t(batch)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="'edge_index' must be a \\[2, E\\] long tensor"):
        rewire_edges(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="'edge_index' must hold node indices >= 0 \\(got -1\\)"):
        rewire_edges(torch.tensor([[0, -1], [1, 2]]))
    with pytest.raises(ValueError, match="'edge_type' must be a \\[3\\] long tensor"):
        rewire_edges(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="'node_type' must be a \\[N\\] long tensor with N > 2"):
        rewire_edges(torch.tensor([[0, 1], [1, 2]]), node_type=torch.zeros(2, dtype=torch.long))
    for bad in (0, float("inf"), True):
        with pytest.raises(ValueError, match="'swaps' must be a positive finite number"):
            RewireEdges(swaps=bad)
    with pytest.raises(ValueError, match="'seed' must be an int"):
        RewireEdges(seed=1.5)
    assert RewireEdges(swaps=np.float32(2.0), seed=np.int64(3)).seed == 3
    with pytest.raises(ValueError, match="'undirected=True' needs every edge of type 0 in both directions, "
                                         "once each \\(got 0 of its 3 edges"):
        rewire_edges(torch.tensor([[0, 1, 2], [1, 2, 0]]), undirected=True)
    with pytest.raises(ValueError, match="has no 'edge_index'"):
        RewireEdges()(STData(x=torch.randn(3, 2, 1)))


def test_an_undirected_swap_may_not_create_an_edge_another_type_has_either_way():
    # type 0: {0, 1} and {2, 3} both ways; type 1: 3 -> 0 and 2 -> 0. Each swap of type 0 would make
    # 0 - 3 or 0 - 2, whose reverse direction type 1 already holds: nothing may move.
    ei = torch.tensor([[0, 1, 2, 3, 3, 2], [1, 0, 3, 2, 0, 0]])
    et = torch.tensor([0, 0, 0, 0, 1, 1])
    with pytest.warns(UserWarning, match="edge type 0 \\(4 edges\\) admits no degree-preserving swap"):
        assert torch.equal(rewire_edges(ei, et, seed=0), ei)
