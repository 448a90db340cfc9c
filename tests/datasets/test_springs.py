import pytest
import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import STSchema
from srnn_pyg import metrics as M
from srnn_pyg.datasets import Springs

SMALL = dict(num_graphs=16, obs=12, horizon=6)


def _frames(ds):
    """All recordings as one ``[B, N, T, 4]`` tensor (one graph size)."""
    return torch.stack([rec.x for rec in ds.recordings])


def _masses_and_stiffness(ds, rec):
    """Per-node mass ``[N]`` and the dense stiffness matrix ``[N, N]`` read
    from the data's node and edge types."""
    m = ds.masses[rec.node_type]
    k = torch.zeros(rec.num_nodes, rec.num_nodes)
    k[rec.edge_index[0], rec.edge_index[1]] = ds.stiffness[ds.edge_spring[rec.edge_type]]
    return m, k


def test_defaults_shapes_and_schema():
    ds = Springs(num_graphs=8)
    assert len(ds) == 8 and ds.obs == 40 and ds.horizon == 20
    assert repr(ds) == "Springs(8, split='train', obs=40, horizon=20)"
    assert ds.schema == STSchema(
        ["light", "heavy"],
        [("light", "soft", "light"), ("light", "soft", "heavy"), ("heavy", "soft", "heavy"),
         ("light", "stiff", "light"), ("light", "stiff", "heavy"), ("heavy", "stiff", "heavy")])
    assert ds.masses.tolist() == [1.0, 4.0]
    assert torch.allclose(ds.stiffness, torch.tensor([0.1, 1.0]))
    assert ds.edge_spring.tolist() == [0, 0, 0, 1, 1, 1]
    for i in range(len(ds)):
        data = ds[i]
        assert data.x.shape == (5, 40, 4) and data.y.shape == (5, 20, 4)
        assert data.x.dtype == torch.float32
        assert data.validate(ds.schema)
    assert len(Springs(split="test", num_graphs=None, horizon=1, obs=1)) == 200


def test_deterministic_and_distinct():
    a, b = Springs(seed=3, **SMALL), Springs(seed=3, **SMALL)
    for ra, rb in zip(a.recordings, b.recordings):
        for key in ("x", "edge_index", "node_type", "edge_type"):
            assert torch.equal(ra[key], rb[key])
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    raw = _frames(Springs(seed=3, normalize=False, **SMALL))
    for other in (Springs(seed=4, normalize=False, **SMALL),
                  Springs(seed=3, split="val", normalize=False, **SMALL),
                  Springs(seed=3, split="test", normalize=False, **SMALL)):
        # no simulation's initial state appears in the other dataset
        x0, y0 = raw[:, :, 0].flatten(1), _frames(other)[:, :, 0].flatten(1)
        assert torch.cdist(x0, y0).min() > 1e-3
    # the first simulations do not depend on how many are drawn
    more = Springs(seed=3, normalize=False, **{**SMALL, "num_graphs": 40})
    assert torch.equal(_frames(more)[:16], raw)
    assert all(torch.equal(ra.edge_index, rb.edge_index)
               for ra, rb in zip(a.recordings, more.recordings))


def test_graph_is_random_undirected_and_typed():
    ds = Springs(num_graphs=200, num_nodes=6, obs=2, horizon=1, normalize=False)
    counts, node_counts = [], torch.zeros(2)
    for rec in ds.recordings:
        src, dst = rec.edge_index
        assert bool((src != dst).all())
        keys = (src * 6 + dst).tolist()
        assert sorted(keys) == sorted((dst * 6 + src).tolist()) and len(set(keys)) == len(keys)
        # both directions of a spring carry the same type
        et = torch.full((6, 6), -1, dtype=torch.long)
        et[src, dst] = rec.edge_type
        assert torch.equal(et, et.t())
        # the edge type names the endpoint node types (checked by the schema)
        assert rec.validate(ds.schema)
        for (s, d, k) in zip(src.tolist(), dst.tolist(), rec.edge_type.tolist()):
            et_k = ds.schema.edge_types[k]
            names = ds.schema.node_types
            assert {et_k.src, et_k.dst} == {names[rec.node_type[s]], names[rec.node_type[d]]}
            assert et_k.rel == ["soft", "stiff"][int(ds.edge_spring[k])]
        counts.append(src.numel() // 2)
        node_counts += torch.bincount(rec.node_type, minlength=2)
    # each of the 15 pairs is joined with probability 0.5; both node types occur
    assert abs(sum(counts) / len(counts) - 7.5) < 0.5
    assert len(set(counts)) > 3
    assert (node_counts / node_counts.sum() - 0.5).abs().max() < 0.05
    spring_types = torch.bincount(ds.edge_spring[torch.cat([r.edge_type for r in ds.recordings])])
    assert (spring_types.float() / spring_types.sum() - 0.5).abs().max() < 0.05
    none = Springs(num_graphs=4, obs=2, horizon=1, spring_prob=0.0)
    assert all(rec.num_edges == 0 for rec in none.recordings)
    full = Springs(num_graphs=4, obs=2, horizon=1, spring_prob=1.0)
    assert all(rec.num_edges == 20 for rec in full.recordings)


def test_momentum_conserved_without_walls():
    ds = Springs(box_size=None, normalize=False, **SMALL)
    for rec in ds.recordings:
        m, _ = _masses_and_stiffness(ds, rec)
        p = (m.view(-1, 1, 1) * rec.x[..., 2:]).sum(0)                    # [T, 2]
        assert torch.allclose(p, p[:1].expand_as(p), atol=1e-5)
    # with walls momentum changes (a small box is hit often)
    walled = Springs(box_size=0.5, normalize=False, **SMALL)
    x = _frames(walled)
    assert x[..., :2].abs().max() <= 0.5 + 1e-6
    rec = walled.recordings[0]
    p = (walled.masses[rec.node_type].view(-1, 1, 1) * rec.x[..., 2:]).sum(0)
    assert (p - p[:1]).abs().max() > 1e-2


# A wall hit mirrors a position within one step, an O(dt) change of the
# spring energy; a small box is hit often, so its tolerance is looser.
@pytest.mark.parametrize("box_size, rtol", [(None, 1e-3), (5.0, 1e-3), (1.0, 1e-2)])
def test_energy_conserved(box_size, rtol):
    ds = Springs(box_size=box_size, normalize=False, **SMALL)
    for rec in ds.recordings:
        m, k = _masses_and_stiffness(ds, rec)
        pos, vel = rec.x[..., :2].double(), rec.x[..., 2:].double()        # [N, T, 2]
        kinetic = 0.5 * (m.double().view(-1, 1) * vel.pow(2).sum(-1)).sum(0)  # [T]
        diff = pos.unsqueeze(1) - pos.unsqueeze(0)                          # [N, N, T, 2]
        potential = 0.25 * (k.double().unsqueeze(-1) * diff.pow(2).sum(-1)).sum((0, 1))
        energy = kinetic + potential
        assert (energy - energy[0]).abs().max() <= rtol * energy[0]


def test_newton_second_law_with_typed_masses_and_springs():
    # frames one integration step apart: central differences of the stored
    # positions and velocities give the velocity and the acceleration
    ds = Springs(box_size=None, normalize=False, sample_every=1, dt=0.005, **SMALL)
    h = ds.frame_dt
    for rec in ds.recordings:
        m, k = _masses_and_stiffness(ds, rec)
        pos, vel = rec.x[..., :2].double(), rec.x[..., 2:].double()        # [N, T, 2]
        v_fd = (pos[:, 2:] - pos[:, :-2]) / (2 * h)
        assert torch.allclose(v_fd, vel[:, 1:-1], atol=2e-3)
        a_fd = (vel[:, 2:] - vel[:, :-2]) / (2 * h)
        diff = pos.unsqueeze(1) - pos.unsqueeze(0)                          # [N, N, T, 2]
        force = -(k.double().view(*k.shape, 1, 1) * diff).sum(1)            # [N, T, 2]
        a = force / m.double().view(-1, 1, 1)
        assert torch.allclose(a_fd, a[:, 1:-1], atol=2e-3)


def test_normalisation():
    train = Springs(seed=1, **SMALL)
    x = _frames(train).reshape(-1, 4)
    assert torch.allclose(x.mean(0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(x.std(0), torch.ones(4), atol=1e-3)
    raw = Springs(seed=1, normalize=False, **SMALL)
    assert raw.mean is None and raw.stats is None
    assert torch.allclose(train.denormalize(train[0].y), raw[0].y, atol=1e-5)
    # val/test use the train statistics, given or recomputed
    test = Springs(seed=1, split="test", **SMALL)
    assert torch.allclose(test.mean, train.mean) and torch.allclose(test.std, train.std)
    given = Springs(seed=1, split="test", stats=train.stats, **SMALL)
    assert torch.equal(given[0].x, test[0].x)
    raw_test = Springs(seed=1, split="test", normalize=False, **SMALL)
    assert torch.allclose(test.denormalize(test[3].x), raw_test[3].x, atol=1e-5)
    assert x.abs().max() < 10


def test_batching():
    ds = Springs(**SMALL)
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch.num_graphs == 5
    assert batch.x.shape == (25, 12, 4) and batch.y.shape == (25, 6, 4)
    assert batch.node_type.shape == (25,) and batch.edge_type.shape == (batch.num_edges,)
    assert batch.num_edges == sum(ds[i].num_edges for i in range(5))
    assert batch.schema == ds.schema
    assert batch.validate(ds.schema)
    # edges of graph g point at its own nodes
    assert torch.equal(batch.batch[batch.edge_index[0]], batch.batch[batch.edge_index[1]])


def test_windows_per_simulation():
    ds = Springs(num_windows=3, window_stride=4, **SMALL)
    assert len(ds) == 48
    rec = ds.recordings[1]
    assert rec.x.shape == (5, 12 + 6 + 2 * 4, 4)
    w = ds[3 + 2]                                                          # simulation 1, window 2
    assert torch.equal(w.x, rec.x[:, 8:20]) and torch.equal(w.y, rec.x[:, 20:26])


def test_other_type_counts():
    ds = Springs(num_node_types=3, num_spring_types=1, masses=[1.0, 2.0, 3.0], **SMALL)
    assert ds.schema.node_types == ["light", "medium", "heavy"]
    assert [tuple(et[:3]) for et in ds.schema.edge_types] == [
        ("light", "spring", "light"), ("light", "spring", "medium"), ("light", "spring", "heavy"),
        ("medium", "spring", "medium"), ("medium", "spring", "heavy"), ("heavy", "spring", "heavy")]
    assert all(ds[i].validate(ds.schema) for i in range(len(ds)))
    one = Springs(num_node_types=1, num_spring_types=4, **SMALL)
    assert one.schema.node_types == ["particle"] and one.schema.num_edge_types == 4
    assert [et.rel for et in one.schema.edge_types] == ["k0", "k1", "k2", "k3"]
    assert torch.allclose(one.stiffness, torch.tensor([0.1, 0.2154, 0.4642, 1.0]), atol=1e-4)


@pytest.mark.parametrize("kwargs, match", [
    (dict(split="dev"), "'split'"),
    (dict(num_nodes=1), "'num_nodes'"),
    (dict(obs=0), "'obs'"),
    (dict(masses=[1.0]), "'masses'"),
    (dict(stiffness=[1.0, -1.0]), "'stiffness'"),
    (dict(spring_prob=1.5), "'spring_prob'"),
    (dict(box_size=0.0), "'box_size'"),
    (dict(stats=(torch.zeros(3), torch.ones(3))), "'stats'"),
])
def test_errors_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Springs(num_graphs=2, **kwargs)


# ----------------------------------------------------------------- protocol
def test_score_is_mse_per_horizon():
    ds = Springs(num_graphs=3, obs=4, horizon=20)
    g = torch.Generator().manual_seed(0)
    y = torch.randn(15, 20, 4, generator=g)
    pred = y + torch.randn(15, 20, 4, generator=g) * torch.linspace(0.1, 2.0, 20).view(1, 20, 1)
    out = ds.score({"pred": pred, "y": y, "x": torch.zeros(15, 4, 4)})
    assert list(out) == ["MSE@1", "MSE@10", "MSE@20", "MSE"]
    per = M.per_horizon("mse", pred, y)
    for h in (1, 10, 20):
        assert out[f"MSE@{h}"] == pytest.approx(float(per[h - 1]))
        assert out[f"MSE@{h}"] == pytest.approx(float(((pred[:, h - 1] - y[:, h - 1]) ** 2).mean()))
    assert out["MSE"] == pytest.approx(float(M.mse(pred, y)))
    assert out["MSE@1"] < out["MSE@10"] < out["MSE@20"]
    # a shorter forecast is scored on the steps it has
    short = ds.score({"pred": pred[:, :5], "y": y})
    assert list(short) == ["MSE@1", "MSE"]
    assert short["MSE"] == pytest.approx(float(M.mse(pred[:, :5], y[:, :5])))


def test_normalize_with_a_scaler_fitted_on_the_train_split():
    import numpy as np

    from srnn_pyg.scalers import MinMaxScaler, RobustScaler
    raw = Springs(split="train", num_graphs=6, seed=3, normalize=False)
    frames = torch.cat([raw.recordings[i].x.reshape(-1, 4) for i in range(len(raw.recordings))])
    tr = Springs(split="train", num_graphs=6, seed=3, normalize="robust")
    q1, med, q3 = np.percentile(frames.numpy(), [25, 50, 75], axis=0)
    assert isinstance(tr.scaler, RobustScaler)
    assert torch.allclose(tr.mean, torch.tensor(med).float(), atol=1e-5)
    assert torch.allclose(tr.std, torch.tensor(q3 - q1).float(), atol=1e-5)
    assert torch.allclose(tr.denormalize(tr[0].x), raw[0].x, atol=1e-4)
    # val/test take the train split's map (opened through the registry, as the command does)
    va = Springs.open("val", num_graphs=6, seed=3, train=tr, normalize="robust")
    assert torch.allclose(va.mean, tr.mean) and torch.allclose(va.std, tr.std)
    mm = MinMaxScaler()
    Springs(split="train", num_graphs=6, seed=3, normalize=mm)
    assert mm.fitted and torch.allclose(mm.center.reshape(-1).float(), frames.min(0).values, atol=1e-6)
    with pytest.raises(ValueError, match="'normalize'"):
        Springs(split="train", num_graphs=6, seed=3, normalize="quantile")
