r"""Random number generators: seeding, saving and restoring every generator
a run draws from (so a resumed run continues the same random streams), and a
data order that is a function of the seed and the epoch only."""
from __future__ import annotations

import contextlib
import random
from typing import Any, Dict, Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["seed_everything", "rng_state", "set_rng_state", "kept_rng", "SeededRandomSampler"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def rng_state() -> Dict[str, Any]:
    """The state of every generator as tensors and plain data (loadable with
    ``torch.load(..., weights_only=True)``): ``python``, ``numpy``, ``torch``
    and ``cuda`` (one state per device, empty without CUDA)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned. CUDA states are restored only
    on a machine with the same number of devices."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


@contextlib.contextmanager
def kept_rng() -> Iterator[None]:
    """Every generator (Python, NumPy, PyTorch, each CUDA device) as it was
    on entry, restored on exit: what runs inside draws nothing that the code
    after it would have drawn."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class SeededRandomSampler(Sampler):
    """A random permutation of ``range(n)`` that is a function of ``(seed,
    epoch)`` only, so a resumed run sees the same order as an uninterrupted
    one. Call :meth:`set_epoch` before each epoch.

    Args:
        n (int): dataset size.
        seed (int): base seed.
    """

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed((self.seed * 1_000_003 + self.epoch) % (2 ** 63))
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n
