import pytest
import torch

from srnn_pyg.datasets import Springs


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models: threads only add contention on a shared machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def springs():
    train = Springs(num_graphs=24, obs=6, horizon=3, split="train", seed=0)
    val = Springs(num_graphs=8, obs=6, horizon=3, split="val", seed=0, stats=train.stats)
    return train, val


@pytest.fixture(scope="module")
def springs_long():
    # Convolutional models (STGCN) need a dozen observed steps.
    train = Springs(num_graphs=16, obs=12, horizon=3, split="train", seed=0)
    return train, Springs(num_graphs=8, obs=12, horizon=3, split="val", seed=0, stats=train.stats)
