import networkx as nx
import pytest
import torch
from torch_geometric.data import Batch

from srnn_pyg.data import STData
from srnn_pyg.models import SkeletonSTGCN, build
from srnn_pyg.models.skeleton_stgcn import num_partitions, partition_edges
from srnn_pyg.testing import devices, fake_st_data

# The hand-drawn graphs: a 5-node chain 0-1-2-3-4 and a tree 0-1, 1-2, 1-3, 3-4.
CHAIN = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4],
                      [1, 0, 2, 1, 3, 2, 4, 3]])
TREE = torch.tensor([[0, 1, 1, 2, 1, 3, 3, 4],
                     [1, 0, 2, 1, 3, 1, 4, 3]])
h, t, f = 1 / 2, 1 / 3, 1 / 4

# Each receiver averages over itself and its neighbours (D^-1 A, self loops
# included); rows are receivers, columns senders.
CHAIN_UNIFORM = [[[h, h, 0, 0, 0],
                  [t, t, t, 0, 0],
                  [0, t, t, t, 0],
                  [0, 0, t, t, t],
                  [0, 0, 0, h, h]]]
CHAIN_DISTANCE = [[[h, 0, 0, 0, 0],
                   [0, t, 0, 0, 0],
                   [0, 0, t, 0, 0],
                   [0, 0, 0, t, 0],
                   [0, 0, 0, 0, h]],
                  [[0, h, 0, 0, 0],
                   [t, 0, t, 0, 0],
                   [0, t, 0, t, 0],
                   [0, 0, t, 0, t],
                   [0, 0, 0, h, 0]]]
# Centre 2, distances to it r = [2, 1, 0, 1, 2]: root, centripetal (r_j < r_i),
# centrifugal (r_j >= r_i).
CHAIN_SPATIAL = [CHAIN_DISTANCE[0],
                 [[0, h, 0, 0, 0],
                  [0, 0, t, 0, 0],
                  [0, 0, 0, 0, 0],
                  [0, 0, t, 0, 0],
                  [0, 0, 0, h, 0]],
                 [[0, 0, 0, 0, 0],
                  [t, 0, 0, 0, 0],
                  [0, t, 0, t, 0],
                  [0, 0, 0, 0, t],
                  [0, 0, 0, 0, 0]]]
# Two hops: neighbourhood sizes 3, 4, 5, 4, 3.
CHAIN_DISTANCE_2HOP = [[[1 / 3, 0, 0, 0, 0],
                        [0, f, 0, 0, 0],
                        [0, 0, 1 / 5, 0, 0],
                        [0, 0, 0, f, 0],
                        [0, 0, 0, 0, 1 / 3]],
                       [[0, 1 / 3, 0, 0, 0],
                        [f, 0, f, 0, 0],
                        [0, 1 / 5, 0, 1 / 5, 0],
                        [0, 0, f, 0, f],
                        [0, 0, 0, 1 / 3, 0]],
                       [[0, 0, 1 / 3, 0, 0],
                        [0, 0, 0, f, 0],
                        [1 / 5, 0, 0, 0, 1 / 5],
                        [0, f, 0, 0, 0],
                        [0, 0, 1 / 3, 0, 0]]]
# The tree's centre is {1, 3} (eccentricity 2): the lower index, 1, is taken;
# r = [1, 0, 1, 1, 2], neighbourhood sizes 2, 4, 2, 3, 2.
TREE_SPATIAL = [[[h, 0, 0, 0, 0],
                 [0, f, 0, 0, 0],
                 [0, 0, h, 0, 0],
                 [0, 0, 0, t, 0],
                 [0, 0, 0, 0, h]],
                [[0, h, 0, 0, 0],
                 [0, 0, 0, 0, 0],
                 [0, h, 0, 0, 0],
                 [0, t, 0, 0, 0],
                 [0, 0, 0, h, 0]],
                [[0, 0, 0, 0, 0],
                 [f, 0, f, f, 0],
                 [0, 0, 0, 0, 0],
                 [0, 0, 0, 0, t],
                 [0, 0, 0, 0, 0]]]


def dense(part, num_nodes, num_parts, step=None):
    """[P, N, N] adjacency (row = receiver) from an EdgePartition."""
    w = part.edge_weight if step is None else part.edge_weight[:, step]
    A = torch.zeros(num_parts, num_nodes, num_nodes)
    A.index_put_((part.partition, part.edge_index[1], part.edge_index[0]), w, accumulate=True)
    return A


@pytest.mark.parametrize("strategy,center,max_hop,expected", [
    ("uniform", None, 1, CHAIN_UNIFORM),
    ("distance", None, 1, CHAIN_DISTANCE),
    ("spatial", 2, 1, CHAIN_SPATIAL),
    ("spatial", None, 1, CHAIN_SPATIAL),                                   # the chain's centre is 2
    ("distance", None, 2, CHAIN_DISTANCE_2HOP),
])
def test_partitions_of_a_chain(strategy, center, max_hop, expected):
    part = partition_edges(CHAIN, 5, strategy, center=center, max_hop=max_hop)
    P = num_partitions(strategy, max_hop)
    assert torch.allclose(dense(part, 5, P), torch.tensor(expected, dtype=torch.float), atol=1e-6)
    assert torch.equal(part.edge_index[:, :8], CHAIN)                      # input edges come first
    assert torch.equal(part.hop[:8], torch.ones(8, dtype=torch.long))


def test_spatial_partitions_of_a_tree_around_its_centre():
    graph = nx.Graph(TREE.t().tolist())
    assert sorted(nx.center(graph)) == [1, 3]
    for center in (None, 1):
        part = partition_edges(TREE, 5, "spatial", center=center)
        assert torch.allclose(dense(part, 5, 3), torch.tensor(TREE_SPATIAL), atol=1e-6)
    # Around node 3 instead, r = [2, 1, 2, 0, 1]: node 1's neighbour 3 is centripetal.
    A = dense(partition_edges(TREE, 5, "spatial", center=3), 5, 3)
    assert A[1, 1].tolist() == [0, 0, 0, f, 0]
    assert A[2, 1].tolist() == [f, 0, f, 0, 0]


def test_spatial_two_hops_splits_each_hop():
    A = dense(partition_edges(CHAIN, 5, "spatial", center=2, max_hop=2), 5, 5)
    # Receiver 1 (r=1): hop 1 -> 2 centripetal, 0 centrifugal; hop 2 -> 3 centrifugal.
    assert A[:, 1].tolist() == [[0, f, 0, 0, 0], [0, 0, f, 0, 0], [f, 0, 0, 0, 0],
                                [0, 0, 0, 0, 0], [0, 0, 0, f, 0]]
    assert torch.allclose(A.sum(0), torch.tensor(CHAIN_DISTANCE_2HOP).sum(0))


def test_batch_partitions_per_graph():
    edge_index = torch.cat([CHAIN, TREE + 5], dim=1)
    batch = torch.tensor([0] * 5 + [1] * 5)
    A = dense(partition_edges(edge_index, 10, "spatial", batch=batch), 10, 3)
    assert torch.allclose(A[:, :5, :5], torch.tensor(CHAIN_SPATIAL), atol=1e-6)
    assert torch.allclose(A[:, 5:, 5:], torch.tensor(TREE_SPATIAL), atol=1e-6)
    assert A[:, :5, 5:].abs().sum() == 0 and A[:, 5:, :5].abs().sum() == 0
    with pytest.raises(ValueError, match="'center'"):
        partition_edges(edge_index, 10, "spatial", center=5, batch=batch)


def test_weights_and_absent_senders():
    w = torch.tensor([1., 1., 1., 3., 1., 1., 1., 1.])                     # edge 2 -> 1 weighs 3
    A = dense(partition_edges(CHAIN, 5, "uniform", edge_weight=w), 5, 1)
    assert torch.allclose(A[0, 1], torch.tensor([1 / 5, 1 / 5, 3 / 5, 0, 0]))
    mask = torch.ones(5, 2, dtype=torch.bool)
    mask[1, 1] = False                                                     # node 1 gone at step 1
    part = partition_edges(CHAIN, 5, "uniform", node_mask=mask)
    assert part.edge_weight.shape == (13, 2)
    assert torch.allclose(dense(part, 5, 1, step=0), torch.tensor(CHAIN_UNIFORM))
    A1 = dense(part, 5, 1, step=1)[0]
    assert A1[0].tolist() == [1, 0, 0, 0, 0] and A1[2].tolist() == [0, 0, h, h, 0]


def test_graph_conv_matches_dense_reference():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=7, T=5, F=3)
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=6, strategy="spatial", max_hop=2)
    with torch.no_grad():
        model.importance.uniform_(0.5, 1.5)
    slot, dst, w, index = model._graph(data, data.x)
    unit, P = model.units[0], model.partitions
    imp = model.importance[0][index]
    x = torch.randn(7, 3, 5)                                               # [N, C, T]
    out = unit.graph_conv(x, slot, dst, (w * imp).view(-1, 1, 1))
    part = partition_edges(data.edge_index, 7, "spatial", max_hop=2)
    M = torch.zeros(P, 7, 7).index_put_((part.partition, part.edge_index[1], part.edge_index[0]),
                                        part.edge_weight * imp, accumulate=True)
    Wp = unit.gcn.weight.view(P, 6, 3)                                     # one 1x1 conv per partition
    bp = unit.gcn.bias.view(P, 6)
    expected = sum(torch.einsum("ij,jct->ict", M[p], torch.einsum("oc,jct->jot", Wp[p], x)
                                + bp[p].view(1, 6, 1)) for p in range(P))
    assert torch.allclose(out, expected, atol=1e-5)


def _quadratic_forecast(model, data, horizon):
    """Re-run forward over the whole prefix for every new step."""
    x, m = data.x, data.get("node_mask")
    preds = []
    for _ in range(horizon):
        step = data.clone()
        step.x = torch.cat([x] + preds, dim=1)
        if m is not None:
            step.node_mask = torch.cat([m] + [m[:, -1:]] * len(preds), dim=1)
        step.edge_mask = None
        preds.append(model(step)[:, -1:])
    return torch.cat(preds, dim=1)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("masks", [False, True])
def test_forecast_matches_quadratic_reference(device, masks):
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=8, F=3, masks=masks, device=device)
    data.edge_mask = None
    if masks:
        data.node_mask[0, -1] = False
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8, num_layers=2, kernel_size=3).to(device).eval()
    assert model.receptive_field == 5                                      # shorter than T + horizon
    out = model.forecast(data, 6)
    assert torch.allclose(out, _quadratic_forecast(model, data, 6), atol=1e-5)
    if masks:
        assert bool((out[0] == 0).all())


def test_forward_is_causal_residual_and_masked():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=7, F=3, masks=True)
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8, num_layers=2, kernel_size=3).eval()
    out = model(data)
    assert bool((out[~data.node_mask] == 0).all())
    later = data.clone()
    later.x = data.x.clone()
    later.x[:, 4:] += 1.0
    assert torch.equal(model(later)[:, :4], out[:, :4])
    torch.nn.init.zeros_(model.fcn.weight)
    torch.nn.init.zeros_(model.fcn.bias)
    assert torch.equal(model(data), data.x * data.node_mask.unsqueeze(-1))  # the change is zero


def test_absent_senders_do_not_matter():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=5, F=3)
    data.node_mask = torch.ones(6, 5, dtype=torch.bool)
    data.node_mask[2] = False
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8, num_layers=2, max_hop=2).eval()
    changed = data.clone()
    changed.x = data.x.clone()
    changed.x[2] += 5.0
    assert torch.equal(model(data), model(changed))


def test_batch_equals_graphs_one_by_one_with_masks():
    torch.manual_seed(0)
    graphs = [fake_st_data(num_nodes=n, T=6, F=3, masks=True, edge_attr_dim=1,
                           generator=torch.Generator().manual_seed(n)) for n in (5, 9)]
    for g in graphs:
        g.edge_attr = g.edge_attr.abs()
    model = SkeletonSTGCN(graphs[0].schema, 3, 3, hidden=8, max_hop=2).eval()
    with torch.no_grad():
        model.importance.uniform_(0.5, 1.5)
    batch = Batch.from_data_list(graphs)
    for fn in (model, lambda d: model.forecast(d, 3)):
        out = fn(batch)
        assert torch.allclose(out[:5], fn(graphs[0]), atol=1e-5)
        assert torch.allclose(out[5:], fn(graphs[1]), atol=1e-5)


def test_edge_importance_by_type_and_by_skeleton():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=5, F=3)
    model = SkeletonSTGCN(data.schema, 3, 3, hidden=8).eval()
    assert model.uses_types and model.importance.shape == (3, (data.schema.num_edge_types + 1) * 3)
    before = model(data)
    with torch.no_grad():
        model.importance.view(3, -1, 3)[:, int(data.edge_type[0])] = 2.0   # one edge type
    assert not torch.allclose(model(data), before)
    skel = SkeletonSTGCN(data.schema, 3, 3, hidden=8, edge_importance="skeleton", num_nodes=6)
    assert not skel.uses_types and skel.importance.shape == (3, 3 * 6 * 6)
    two = Batch.from_data_list([data, data])
    assert skel(two).shape == (12, 5, 3)
    other = fake_st_data(num_nodes=4, T=5, F=3)
    with pytest.raises(ValueError, match="num_nodes=6"):
        skel(Batch.from_data_list([data, other]))
    plain = SkeletonSTGCN(None, 3, 3, hidden=8, edge_importance=None)
    assert plain.importance is None and not plain.uses_types


def test_classification_head():
    torch.manual_seed(0)
    data = fake_st_data(num_nodes=6, T=5, F=3, classes=4)
    model = SkeletonSTGCN(data.schema, 3, 4, hidden=8, task="classification").eval()
    logits = model(data)
    assert logits.shape == (6, 5, 4)
    fc = model.forecast(data, 3)
    assert torch.equal(fc, logits[:, -1:].expand(-1, 3, -1))


def test_works_on_a_plain_graph_without_types():
    data = STData(x=torch.randn(5, 4, 2), edge_index=CHAIN)
    model = SkeletonSTGCN(None, 2, 2, hidden=4, center=2)
    assert model(data).shape == (5, 4, 2) and model.forecast(data, 2).shape == (5, 2, 2)


def test_errors_and_repr():
    with pytest.raises(ValueError, match="strategy"):
        SkeletonSTGCN(None, 3, 3, strategy="radial")
    with pytest.raises(ValueError, match="strategy"):
        partition_edges(CHAIN, 5, "radial")
    with pytest.raises(ValueError, match="task"):
        SkeletonSTGCN(None, 3, 3, task="ranking")
    with pytest.raises(ValueError, match="out_channels"):
        SkeletonSTGCN(None, 3, 4)
    with pytest.raises(ValueError, match="num_nodes"):
        SkeletonSTGCN(None, 3, 3, edge_importance="skeleton")
    with pytest.raises(ValueError, match="edge_importance"):
        SkeletonSTGCN(None, 3, 3, edge_importance="edge")
    with pytest.raises(ValueError, match="max_hop"):
        SkeletonSTGCN(None, 3, 3, max_hop=0)
    data = STData(x=torch.randn(5, 4, 3), edge_index=CHAIN)
    with pytest.raises(ValueError, match="'center'"):
        SkeletonSTGCN(None, 3, 3, center=7)(data)
    with pytest.raises(ValueError, match="out_channels"):
        SkeletonSTGCN(None, 3, 2).forecast(data, 2)
    assert SkeletonSTGCN(None, 3, 2).forecast(data, 1).shape == (5, 1, 2)
    model = build("skeleton_stgcn", None, 3, 3, hidden=16, strategy="distance")
    assert repr(model) == ("SkeletonSTGCN(3, 3, hidden=16, num_layers=3, strategy='distance', "
                           "task='regression')")
    before = model.fcn.weight.clone()
    model.reset_parameters()
    assert not torch.equal(before, model.fcn.weight)
