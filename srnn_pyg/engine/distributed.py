r"""Data-parallel training under ``torchrun``: the process group
(:func:`setup_distributed`), what a process knows about it
(:class:`DistContext`), and loaders whose order is seeded or sharded across
processes (:func:`train_loader`, :func:`eval_loader`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler, Sampler

from .device import DeviceLike
from .rng import SeededRandomSampler

__all__ = ["DistContext", "setup_distributed", "EvalShard", "with_sampler", "train_loader", "eval_loader"]


@dataclass
class DistContext:
    """This process's place in a (possibly absent) process group.

    Attributes:
        enabled (bool): more than one process trains.
        rank, world, local_rank (int): as ``torchrun`` sets them.
        created (bool): :func:`setup_distributed` initialised the group (and
            :meth:`close` destroys it).
    """

    enabled: bool = False
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    created: bool = False

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and shows progress."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def all_reduce(self, t: Tensor) -> Tensor:
        """Sum ``t`` in place over the processes (a no-op alone)."""
        if self.enabled:
            torch.distributed.all_reduce(t)
        return t

    def close(self) -> None:
        """Destroy the process group if :func:`setup_distributed` created it."""
        if self.created and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def setup_distributed(distributed: bool, device: Optional[DeviceLike] = None) -> DistContext:
    """Join the process group: one initialised by the caller is used whatever
    ``distributed`` says; with ``distributed=True`` under ``torchrun`` one is
    initialised (NCCL on CUDA, else Gloo).

    Raises:
        ValueError: ``distributed=True`` outside ``torchrun``.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        return DistContext(world > 1, dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", 0)), False)
    if not distributed:
        return DistContext()
    missing = [k for k in ("RANK", "WORLD_SIZE") if k not in os.environ]
    if missing:
        raise ValueError(f"fit: 'distributed=True' needs a torchrun launch (environment variables RANK "
                         f"and WORLD_SIZE; {', '.join(missing)} not set) or an initialised "
                         f"torch.distributed process group")
    if not dist.is_available():
        raise ValueError("fit: 'distributed=True' but this PyTorch build has no torch.distributed")
    want_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    dist.init_process_group(backend="nccl" if want_cuda else "gloo")
    world = dist.get_world_size()
    return DistContext(world > 1, dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", 0)), True)


class EvalShard(Sampler):
    """Rank ``r`` of ``w`` takes samples ``r, r + w, ...``: every sample is
    evaluated exactly once (no padding), and sums are all-reduced."""

    def __init__(self, n: int, rank: int, world: int):
        self.n, self.rank, self.world = n, rank, world

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world))


def with_sampler(loader: DataLoader, sampler: Sampler) -> DataLoader:
    """``loader`` with another sampler, keeping its collate function (PyG's
    batching), batch size and worker settings."""
    if loader.batch_size is None:
        raise ValueError("fit: the loader must batch with 'batch_size' (got a custom batch_sampler), "
                         "so that its order can be seeded or sharded")
    kw = dict(batch_size=loader.batch_size, sampler=sampler, collate_fn=loader.collate_fn,
              num_workers=loader.num_workers, pin_memory=loader.pin_memory, drop_last=loader.drop_last,
              timeout=loader.timeout, worker_init_fn=loader.worker_init_fn)
    if loader.num_workers > 0:
        kw.update(persistent_workers=loader.persistent_workers, prefetch_factor=loader.prefetch_factor)
    return DataLoader(loader.dataset, **kw)


def train_loader(loader: DataLoader, seed: int, dist: DistContext) -> Tuple[DataLoader, Optional[Sampler]]:
    """The training loader and its sampler (call ``set_epoch`` on it): a
    shuffling loader gets a :class:`SeededRandomSampler`, or under DDP a
    :class:`~torch.utils.data.distributed.DistributedSampler`; any other
    loader is used as it is (sampler :obj:`None`)."""
    shuffle = isinstance(loader.sampler, RandomSampler)
    if dist.enabled:
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(loader.dataset, num_replicas=dist.world, rank=dist.rank,
                                     shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
        return with_sampler(loader, sampler), sampler
    if shuffle:
        sampler = SeededRandomSampler(len(loader.dataset), seed)
        return with_sampler(loader, sampler), sampler
    return loader, None


def eval_loader(loader: Optional[DataLoader], dist: DistContext) -> Optional[DataLoader]:
    """``loader`` sharded with :class:`EvalShard` under DDP, else itself."""
    if loader is None or not dist.enabled:
        return loader
    return with_sampler(loader, EvalShard(len(loader.dataset), dist.rank, dist.world))
