"""srnn_pyg.engine.noise: the noise curriculum of the S-RNN paper."""
import pytest
import torch
from engine_helpers import Probe
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import PAPER_NOISE_SCHEDULE, NoiseSchedule, fit


def test_noise_schedule_steps():
    s = NoiseSchedule(PAPER_NOISE_SCHEDULE)
    assert [it for it, _ in PAPER_NOISE_SCHEDULE] == [250, 500, 1000, 1300, 2000, 2500, 3300]
    assert [std for _, std in PAPER_NOISE_SCHEDULE] == [0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7]
    assert [s(i) for i in (0, 249, 250, 499, 500, 1299, 1300, 3299, 3300, 10 ** 6)] == \
        [0.0, 0.0, 0.01, 0.01, 0.05, 0.1, 0.2, 0.5, 0.7, 0.7]
    with pytest.raises(ValueError, match="increasing"):
        NoiseSchedule([(5, 0.1), (5, 0.2)])
    with pytest.raises(ValueError, match="std"):
        NoiseSchedule([(0, -1.0)])


def test_noise_curriculum_raises_the_std_at_the_given_steps(springs):
    train, val = springs
    probe = Probe()
    schedule = [(2, 0.5), (5, 2.0)]
    result = fit(probe, DataLoader(train, batch_size=8), DataLoader(val, batch_size=8), epochs=3,
                 noise=schedule, progress=False, device="cpu")              # 3 batches per epoch
    clean = [torch.cat([b.x, b.y], 1)[:, :-1] for b in DataLoader(train, batch_size=8)]
    stds = [float((seen - clean[i % 3]).std()) for i, seen in enumerate(probe.seen)]
    assert len(stds) == 9
    assert stds[0] == 0.0 and stds[1] == 0.0
    for i in (2, 3, 4):
        assert stds[i] == pytest.approx(0.5, rel=0.15)
    for i in (5, 6, 7, 8):
        assert stds[i] == pytest.approx(2.0, rel=0.15)
    assert [r["noise_std"] for r in result.history] == [0.5, 2.0, 2.0]     # the epoch's last step
