"""A maintainer's review of the stranger-review fixes found regressions and
gaps; each test here pins the behaviour that review asked for."""
import json

import numpy as np
import pytest
import torch
from torch_geometric.data import HeteroData
from torch_geometric.loader import DataLoader

import srnn_pyg.metrics as M
from srnn_pyg import STData
from srnn_pyg.datasets import Chickenpox
from srnn_pyg.datasets.base import STDataset
from srnn_pyg.engine import evaluate, fit
from srnn_pyg.models import ERD, ConstantVelocity, GConvGRU, NodeLSTM, StructuralRNN
from srnn_pyg.scalers import MinMaxScaler, RobustScaler, StandardScaler
from srnn_pyg.testing import fake_schema, fake_st_data

torch.set_num_threads(1)
SCHEMA = fake_schema(2)
SMALL = dict(edge_hidden=8, node_hidden=8, edge_mlp=(8,), node_mlp=(8,))


def _windows(n=2):
    return [fake_st_data(num_nodes=4, T=5, F=3, horizon=2, schema=SCHEMA,
                         generator=torch.Generator().manual_seed(i)) for i in range(n)]


# ------------------------------------------------------------------ engine
def test_amp_none_trains_as_no_amp():
    """TrainConfig takes amp=None (a YAML null); fit must train with it, as without amp."""
    model = NodeLSTM(SCHEMA, 3, 3, hidden=4)
    result = fit(model, DataLoader(_windows(), batch_size=2), epochs=1, amp=None, progress=False)
    assert result.epochs_run == 1
    with pytest.raises(ValueError, match="'amp'"):
        evaluate(model, DataLoader(_windows(), batch_size=2), amp=1)


def test_a_hetero_graph_is_not_a_loader():
    with pytest.raises(TypeError, match="DataLoader"):
        evaluate(NodeLSTM(SCHEMA, 3, 3, hidden=4), HeteroData())


# ------------------------------------------------------------------ models
def test_numpy_bools_are_flags_and_numpy_arrays_are_widths():
    assert GConvGRU(SCHEMA, 3, 3, hidden=4, edge_weight=np.True_).edge_weight is True
    assert StructuralRNN(SCHEMA, 3, 3, spatial=np.False_, **SMALL).spatial is False
    assert NodeLSTM(SCHEMA, 3, 3, hidden=4, residual=np.True_).residual is True
    assert ERD(SCHEMA, 3, 3, encoder_channels=np.array([8, 8]), lstm_channels=8,
               decoder_channels=(8,)).encoder_channels == (8, 8)
    assert ConstantVelocity(SCHEMA, 3, 3, position_channels=np.array([0, 1])).position_channels == [0, 1]
    m = StructuralRNN(SCHEMA, 3, 3, edge_hidden=8, node_hidden=8, edge_mlp=np.array([8]), node_mlp=torch.tensor([8]))
    assert m.edge_mlp == (8,) and m.node_mlp == (8,)
    assert type(ERD(SCHEMA, 3, 3, hidden=4, num_nodes=np.int64(4)).num_nodes) is int
    with pytest.raises(TypeError, match="'edge_weight'"):
        GConvGRU(SCHEMA, 3, 3, hidden=4, edge_weight=1)


# ----------------------------------------------------------------- metrics
def test_euler_error_of_one_sequence_keeps_its_shape_with_a_mask():
    torch.manual_seed(0)
    p = torch.randn(5, 12) * 0.3
    out = M.euler_angle_error(p, p * 1.1, reduce="none", mask=torch.tensor([True]))
    assert out.shape == (5,)
    assert torch.equal(out, M.euler_angle_error(p, p * 1.1, reduce="none"))
    masked = M.euler_angle_error(p.expand(2, 5, 12), (p * 1.1).expand(2, 5, 12), reduce="none",
                                 mask=torch.tensor([True, False]))
    assert masked.shape == (2, 5) and bool(masked[1].isnan().all()) and not bool(masked[0].isnan().any())


def test_every_scaler_takes_a_1d_series_as_one_feature():
    x = torch.arange(10.0)
    for cls in (StandardScaler, MinMaxScaler, RobustScaler):
        s = cls().fit(x)
        assert s.center.numel() == 1
        assert torch.allclose(s.inverse_transform(s.transform(x)), x, atol=1e-5)
    assert torch.allclose(MinMaxScaler().fit(x).transform(x), x / 9)


# -------------------------------------------------------- open(train=...)
class _Toy(STDataset):
    """A dataset of one tiny recording, to test what open(split, train=...) passes on."""
    name = "toy"
    uses_root = False
    uses_seed = True
    split_own = STDataset.split_own | {"stride"}

    def __init__(self, split="train", obs=2, horizon=1, scene="a", stride=1, seed=0, transform=None):
        self.split, self.obs, self.horizon, self.scene, self.stride, self.seed = split, obs, horizon, scene, \
            stride, seed
        rec = STData(x=torch.randn(2, 12, 1), edge_index=torch.zeros(2, 0, dtype=torch.long))
        self.recordings = [rec]
        self.index = [(0, s) for s in range(0, 12 - obs - horizon + 1, stride)]
        super().__init__(transform)


def test_a_split_opened_from_train_takes_its_options_and_its_own_spacing():
    train = _Toy.open("train", obs=3, horizon=2, scene="b", stride=2, seed=np.int64(7))
    test = _Toy.open("test", train=train)
    assert (test.obs, test.horizon, test.scene, test.stride, test.seed) == (3, 2, "b", 1, 7)
    assert _Toy.open("test", train=train, seed=0).seed == 0              # a seed given here wins
    assert _Toy.open("test", train=train, obs=4, scene="c").obs == 4
    assert _Toy.open("test", train=train, obs=4, scene="c").scene == "c"
    direct = _Toy(split="train", scene="d")                              # built without open: recorded too
    assert _Toy.open("val", train=direct).scene == "d"
    with pytest.raises(TypeError, match="'train'"):
        _Toy.open("test", train=object())


def test_a_pyg_temporal_split_takes_the_training_splits_root(tmp_path, monkeypatch):
    monkeypatch.delenv("SRNN_PYG_DATA", raising=False)
    rng = np.random.default_rng(0)
    (tmp_path / "chickenpox.json").write_text(json.dumps(
        {"edges": [[0, 1], [1, 0], [1, 2], [2, 1]], "FX": rng.normal(size=(60, 3)).round(3).tolist()}))
    train = Chickenpox.open("train", root=tmp_path, obs=3, train_ratio=0.5)
    test = Chickenpox.open("test", train=train)
    assert (test.lags, test.train_ratio) == (3, 0.5) and len(test) > 0
