"""Tests written after a hand-made mutation run of ``srnn_pyg/loader.py`` (OneHopLoader, OneHopSampler)
and ``srnn_pyg/models/srnn_chunked.py`` (forecast_in_chunks, ChunkedRollout): each compares with a slow
reference (loops over edges, copies or chunks) or with values worked out by hand, and fails on a mutant
that the rest of the tests (test_loader.py, models/test_srnn_chunked.py, ...) let through.

Mutants killed here (the change, then the test that kills it):

* loader.py, ``num_sampled_nodes=[node.numel(), 0]`` or ``num_sampled_edges=[0]`` in the sampler's
  output: ``test_sampler_worked_by_hand`` and ``test_sampler_and_batches_match_a_loop_reference``.
* loader.py, ``OneHopSampler`` accepting an edge id equal to ``num_nodes`` (``>`` for ``>=``), or
  refusing a graph of 0 nodes (``num_nodes <= 0``): ``test_sampler_range_checks_at_the_boundary``.
* loader.py, ``input_id`` numbered from 0 in each batch instead of the seeds' positions in
  ``input_nodes``: ``test_input_id_is_the_seeds_position_in_input_nodes``.
* loader.py, ``transform_sampler_output`` or ``transform`` not applied in ``filter_fn``:
  ``test_transforms_are_applied``.
* loader.py, ``filter_per_worker=True`` not forced (PyG infers False for data on a GPU, and batches
  then leave ``collate_fn`` unfinished): ``test_batches_are_finished_in_collate_fn_whatever_pyg_infers``.
* loader.py, ``one_hop_node_index`` accepting a node id equal to ``num_nodes`` (``>`` for ``>=``):
  ``test_one_hop_node_index_refuses_an_id_equal_to_num_nodes``.
* loader.py, ``check_graph`` without the negative-id check of ``edge_index``, without the row check of
  the node keys, or with ``edge_weight`` left out of ``EDGE_KEYS`` (its rows unchecked):
  ``test_graph_checks_name_the_key``.
* loader.py, an unknown key when ``N == E`` counting edges unless its name says ``"node"`` (the
  default flipped): ``test_unknown_keys_count_nodes_when_nodes_equal_edges``.
* loader.py, the ``v.dim() == 0`` test dropped in ``key_kinds`` (a 0-d unknown key then raises):
  ``test_a_scalar_key_of_unknown_name_is_kept``.
* srnn_chunked.py, chunks of ``chunk_size + 1`` seeds, or ``node_order`` ignored (``order_of``
  returning ``arange(N)``): ``test_chunks_are_runs_of_node_order_with_their_one_hop_graphs``.
* srnn_chunked.py, ``nm[:, :1]`` (presence at the first observed step) held over the roll-out instead of
  the last: ``test_nodes_absent_at_the_first_step_only_are_forecast``.
* srnn_chunked.py, ``tile`` shifting edge ``j`` by ``(j % k) * N`` (``repeat`` for
  ``repeat_interleave``; the same graph whenever ``E`` and ``k`` are coprime), or not copying
  ``u_future``: ``test_tile_matches_a_loop_over_copies`` and
  ``test_samples_with_covariates_on_an_even_edge_count``; ``tile`` not carrying the schema (no effect
  on the values): ``test_tile_matches_a_loop_over_copies``.
* srnn_chunked.py, an empty graph with ``num_samples=K`` returning ``[0, horizon, out]``:
  ``test_empty_graph_with_samples_has_the_samples_dimension``.
* srnn_chunked.py, ``index_bytes`` counting a storage once per tensor viewing it:
  ``test_index_bytes_counts_each_storage_once``.

Equivalent mutants (no observable change), for the record: the sampler's ``argsort`` of targets not
stable (the edge ids are sorted afterwards); ``batch_size`` taken from ``num_sampled_nodes[0]``; in
srnn_chunked.py, the ``owned`` rows computed with ``<=``, the non-owned rows gathering row 0, every row
written back (a chunk's state holds its seeds' rows only: every row is owned), the stores not cleared
at ``warm_up`` (every row is rewritten), ``edge_attr`` windows sliced without their lag (it has 1 or
``T`` steps), ``last_present=None`` in ``run_chunk`` (presence is held, so it equals the current mask),
the final ``select`` of a step dropped (an absent node's head parameters are already zero), the
sample copies chunked in node-id order instead of ``node_order``'s, the warm-up in one part, the chunks
advanced in reverse order.
"""
import pytest
import torch

from srnn_pyg import STData
from srnn_pyg.loader import OneHopLoader, OneHopSampler, one_hop_node_index
from srnn_pyg.models import StructuralRNN
from srnn_pyg.models.srnn_chunked import ChunkedRollout, forecast_in_chunks, tile
from srnn_pyg.testing import fake_schema, fake_st_data

SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _graph(num_nodes=15, T=5, F=3, seed=1, **kw):
    return fake_st_data(num_nodes, T, F, schema=fake_schema(with_relations=True), generator=_gen(seed), **kw)


def _one_hop_reference(edge_index, seeds):
    """The one-hop sample of ``seeds`` by loops: the seeds, then the other sources of the edges arriving
    at them in increasing id; those edges in increasing id; local ``row``/``col``; the counts."""
    src, dst = edge_index.tolist()
    seeds = [int(s) for s in seeds]
    edges = [e for e in range(len(dst)) if dst[e] in seeds]
    others = sorted({src[e] for e in edges} - set(seeds))
    node = seeds + others
    local = {v: i for i, v in enumerate(node)}
    row, col = [local[src[e]] for e in edges], [local[dst[e]] for e in edges]
    return node, edges, row, col, [len(seeds), len(others)], [len(edges)]


# ------------------------------------------------------------------ OneHopSampler
def _sample(sampler, seeds):
    from torch_geometric.sampler import NodeSamplerInput
    seeds = torch.tensor(seeds, dtype=torch.long)
    return sampler.sample_from_nodes(NodeSamplerInput(input_id=torch.arange(seeds.numel()), node=seeds))


def test_sampler_worked_by_hand():
    #            e0      e1      e2      e3      e4      e5      e6      e7
    edges = [(0, 1), (2, 1), (3, 4), (1, 0), (5, 1), (4, 3), (0, 4), (2, 5)]
    out = _sample(OneHopSampler(torch.tensor(edges).t().contiguous(), 6), [4, 1])
    # into 4: e2 (3 -> 4), e6 (0 -> 4); into 1: e0 (0 -> 1), e1 (2 -> 1), e4 (5 -> 1)
    assert out.edge.tolist() == [0, 1, 2, 4, 6]
    assert out.node.tolist() == [4, 1, 0, 2, 3, 5]                # seeds, then sources 0, 2, 3, 5
    assert out.row.tolist() == [2, 3, 4, 5, 2] and out.col.tolist() == [1, 1, 0, 1, 0]
    assert list(out.num_sampled_nodes) == [2, 4] and list(out.num_sampled_edges) == [5]


def test_sampler_and_batches_match_a_loop_reference():
    data = _graph(num_nodes=17, seed=3)
    sampler = OneHopSampler(data.edge_index, 17)
    for seeds in ([0], [16, 3, 9], [5, 1, 12, 7, 2], list(range(17))[::-1]):
        out = _sample(sampler, seeds)
        node, edges, row, col, n_nodes, n_edges = _one_hop_reference(data.edge_index, seeds)
        assert out.node.tolist() == node and out.edge.tolist() == edges
        assert out.row.tolist() == row and out.col.tolist() == col
        assert list(out.num_sampled_nodes) == n_nodes and list(out.num_sampled_edges) == n_edges
    for batch in OneHopLoader(data, 4, input_nodes=[11, 2, 7, 0, 15, 4, 9]):
        seeds = batch.n_id[:batch.batch_size].tolist()
        node, edges, row, col, n_nodes, n_edges = _one_hop_reference(data.edge_index, seeds)
        assert batch.n_id.tolist() == node and batch.e_id.tolist() == edges
        assert batch.edge_index.tolist() == [row, col]
        assert list(batch.num_sampled_nodes) == n_nodes and list(batch.num_sampled_edges) == n_edges


def test_sampler_range_checks_at_the_boundary():
    with pytest.raises(ValueError, match=r"'edge_index' must lie in \[0, 2\] \(got values in \[0, 3\]\)"):
        OneHopSampler(torch.tensor([[0, 1], [3, 2]]), 3)
    empty = OneHopSampler(torch.zeros(2, 0, dtype=torch.long), 0)           # num_nodes: an int >= 0
    assert empty.ptr.tolist() == [0] and empty.incoming(torch.zeros(0, dtype=torch.long)).numel() == 0


# ------------------------------------------------------------------ OneHopLoader
def test_input_id_is_the_seeds_position_in_input_nodes():
    data = _graph()
    given = [9, 2, 7, 4, 0, 13]
    loader = OneHopLoader(data, 3, input_nodes=given)
    batch = loader(torch.tensor([3, 0, 5]))
    assert batch.input_id.tolist() == [3, 0, 5] and batch.n_id[:3].tolist() == [4, 9, 13]
    torch.manual_seed(0)
    ids = []
    for batch in OneHopLoader(data, 4, shuffle=True, input_nodes=given):
        assert [given[i] for i in batch.input_id.tolist()] == batch.n_id[:batch.batch_size].tolist()
        ids += batch.input_id.tolist()
    assert sorted(ids) == list(range(6)) and ids != list(range(6))        # shuffled, every position once


def test_transforms_are_applied():
    data = _graph()
    seen = []

    def no_edges(out):                          # the sampler's output, before the batch is built
        seen.append(out.node.clone())
        out.edge, out.row, out.col = out.edge[:0], out.row[:0], out.col[:0]
        return out

    def mark(batch):
        batch.marked = torch.tensor([7])
        return batch

    batch = next(iter(OneHopLoader(data, 4, transform_sampler_output=no_edges)))
    assert len(seen) == 1 and torch.equal(seen[0], batch.n_id)
    assert batch.edge_index.shape == (2, 0) and batch.e_id.numel() == 0 and batch.edge_type.numel() == 0
    assert all(batch.marked.tolist() == [7] for batch in OneHopLoader(data, 4, transform=mark))


def test_batches_are_finished_in_collate_fn_whatever_pyg_infers(monkeypatch):
    # PyG infers filter_per_worker=False for data on a GPU; the loader must set True itself so that a
    # DataLoader rebuilt over its dataset with its collate_fn (as fit does) yields STData batches.
    import torch_geometric.loader.node_loader as node_loader
    monkeypatch.setattr(node_loader, "infer_filter_per_worker", lambda data: False)
    loader = OneHopLoader(_graph(), 4)
    assert loader.filter_per_worker is True
    assert isinstance(loader.collate_fn([2, 5]), STData)


def test_one_hop_node_index_refuses_an_id_equal_to_num_nodes():
    data = _graph(num_nodes=10)
    batch = OneHopLoader(data, 2, input_nodes=[9, 3])(torch.tensor([0, 1]))
    node, window = one_hop_node_index("M", batch, 10, "cpu")
    assert torch.equal(node, batch.n_id) and not window.any()
    with pytest.raises(ValueError, match=r"^M: 'num_nodes' is 9 but .* node id 9 .* at least 10$"):
        one_hop_node_index("M", batch, 9, "cpu")


def test_graph_checks_name_the_key():
    data = _graph(num_nodes=10, masks=True)
    bad = data.clone()
    bad.edge_index = bad.edge_index.clone()
    bad.edge_index[0, 3] = -1
    with pytest.raises(ValueError, match=r"'data.edge_index' must hold node ids in \[0, 9\] .*\[-1, 9\]"):
        OneHopLoader(bad, 4)
    bad = data.clone()
    bad.node_mask = bad.node_mask[:-1]
    with pytest.raises(ValueError, match=r"'data.node_mask' must have num_nodes=10 rows \(got \[9, 5\]\)"):
        OneHopLoader(bad, 4)
    bad = data.clone()
    bad.edge_weight = torch.rand(10)                              # N rows, not E
    assert data.num_edges != 10
    with pytest.raises(ValueError, match=rf"'data.edge_weight' must have num_edges={data.num_edges} rows"):
        OneHopLoader(bad, 4)


def test_unknown_keys_count_nodes_when_nodes_equal_edges():
    # 4 nodes, 4 edges: a key of unknown name counts nodes unless its name contains "edge"
    data = STData(x=torch.randn(4, 3, 2), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]))
    data.pos = torch.arange(4.0) + 10
    data.score = torch.arange(4.0) + 20
    data.edge_flow = torch.arange(4.0) + 30
    batch = OneHopLoader(data, 1)(torch.tensor([3]))               # seed 3: edge 2 (2 -> 3)
    assert batch.n_id.tolist() == [3, 2] and batch.e_id.tolist() == [2]
    assert batch.pos.tolist() == [13.0, 12.0] and batch.score.tolist() == [23.0, 22.0]
    assert batch.edge_flow.tolist() == [32.0]


def test_a_scalar_key_of_unknown_name_is_kept():
    data = _graph(num_nodes=8)
    data.temperature = torch.tensor(0.5)
    batch = next(iter(OneHopLoader(data, 3)))
    assert batch.temperature.dim() == 0 and float(batch.temperature) == 0.5


# ------------------------------------------------------------------ forecast_in_chunks
def _model(schema, F=3, out=None, **kw):
    """A small S-RNN, PyTorch's initialisation with the weights doubled (the nodes couple strongly
    enough that a wrong neighbour's frame misses the tolerance by far)."""
    torch.manual_seed(0)
    model = StructuralRNN(schema, F, out or F, **{**SMALL, "init": "default", **kw}).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    return model


def test_chunks_are_runs_of_node_order_with_their_one_hop_graphs():
    data = _graph(num_nodes=11, seed=4)
    model = _model(data.schema)
    perm = torch.randperm(11, generator=_gen(2))
    for given, order in ((None, list(range(11))), (perm, perm.tolist())):
        roll = ChunkedRollout(model, data, 4, node_order=given)
        assert [ch.seeds.tolist() for ch in roll.chunks] == [order[0:4], order[4:8], order[8:11]]
        for ch in roll.chunks:
            node, edges, row, col, _, _ = _one_hop_reference(data.edge_index, ch.seeds.tolist())
            assert ch.n_id.tolist() == node and ch.e_id.tolist() == edges
            assert ch.static["edge_index"].tolist() == [row, col]


def test_nodes_absent_at_the_first_step_only_are_forecast():
    # presence is held at the last observed step: a node absent at first, present at the end, is forecast
    data = _graph(num_nodes=14, seed=5, masks=True)
    late, gone = [1, 4, 6], [2, 8]
    data.node_mask[late, 0] = False
    data.node_mask[gone, -1] = False
    model = _model(data.schema, edge_scope="edge", aggr="sum")
    with torch.no_grad():
        full = model.forecast(data, 4)
    got = forecast_in_chunks(model, data, 4, chunk_size=4)
    assert torch.allclose(got, full, atol=1e-5), (got - full).abs().max()
    assert bool((got[late].abs().sum((1, 2)) > 0).all()) and not got[gone].any()


def test_tile_matches_a_loop_over_copies():
    data = _graph(num_nodes=7, seed=6, masks=True, edge_attr_dim=2)
    data.u_future = torch.randn(7, 3, 1, generator=_gen(7))
    N, E, k = 7, data.num_edges, 3
    out = tile(data, k)
    assert out.edge_index.shape == (2, k * E) and out.schema is data.schema
    for c in range(k):
        for e in range(E):
            j = c * E + e
            assert out.edge_index[:, j].tolist() == [int(data.edge_index[0, e]) + c * N,
                                                     int(data.edge_index[1, e]) + c * N]
            for key in ("edge_type", "edge_mask", "edge_attr"):
                assert torch.equal(out[key][j], data[key][e]), key
        for i in range(N):
            for key in ("x", "node_type", "node_mask", "u_future"):
                assert torch.equal(out[key][c * N + i], data[key][i]), key


def test_samples_with_covariates_on_an_even_edge_count():
    # an undirected schema stores each edge both ways: E is even, a multiple of num_samples=2
    schema = fake_schema(2)
    data = fake_st_data(12, 5, 3, schema=schema, masks=True, generator=_gen(8))
    data.u_future = torch.randn(12, 4, 1, generator=_gen(9))
    assert data.num_edges % 2 == 0
    model = _model(schema, 3, 2, head="gaussian", covariates=1, edge_scope="edge", aggr="sum")
    torch.manual_seed(5)
    with torch.no_grad():
        full = model.forecast(data, 4, num_samples=2)
    torch.manual_seed(5)
    got = forecast_in_chunks(model, data, 4, chunk_size=5, num_samples=2)
    assert got.shape == (2, 12, 4, 2)
    assert torch.allclose(got, full, atol=1e-5), (got - full).abs().max()
    assert (got[0] - got[1]).abs().max() > 1e-3                               # the samples differ


def test_empty_graph_with_samples_has_the_samples_dimension():
    nothing = STData(x=torch.zeros(0, 4, 2), edge_index=torch.zeros(2, 0, dtype=torch.long),
                     node_type=torch.zeros(0, dtype=torch.long), edge_type=torch.zeros(0, dtype=torch.long))
    gauss = _model(fake_schema(), 2, 2, head="gaussian")
    assert forecast_in_chunks(gauss, nothing, 3, chunk_size=4, num_samples=2).shape == (2, 0, 3, 2)
    assert forecast_in_chunks(gauss, nothing, 3, chunk_size=4).shape == (0, 3, 2)


def test_index_bytes_counts_each_storage_once():
    data = _graph(num_nodes=10, seed=10)
    roll = ChunkedRollout(_model(data.schema), data, 3)
    # before the warm-up: every chunk's seeds view one [N] long order; n_id, e_id and edge_index are
    # each a storage of their own (8 bytes an entry)
    want = 8 * 10
    for ch in roll.chunks:
        node, edges, _, _, _, _ = _one_hop_reference(data.edge_index, ch.seeds.tolist())
        want += 8 * (len(node) + len(edges) + 2 * len(edges))
    assert len(roll.chunks) == 4 and roll.index_bytes() == want
    roll.warm_up()
    storages = {}
    for ch in roll.chunks:
        tensors = [ch.seeds, ch.n_id, ch.e_id, *ch.static.values(), *vars(ch.layout).values()]
        for rmap in ch.node_maps + ch.edge_maps:
            tensors += [rmap.gather, rmap.local, rmap.glob] if rmap is not None else []
        for t in tensors:
            if isinstance(t, torch.Tensor):
                storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    assert roll.index_bytes() == sum(storages.values()) > want
