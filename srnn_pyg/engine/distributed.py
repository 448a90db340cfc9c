r"""Data-parallel training under ``torchrun``: the process group
(:func:`setup_distributed`), what a process knows about it
(:class:`DistContext`), and loaders whose order is seeded or sharded across
processes (:func:`train_loader`, :func:`eval_loader`).

Two kinds of training loaders are sharded:

- loaders of windows (a PyG ``DataLoader``): a
  :class:`~torch.utils.data.distributed.DistributedSampler`, which pads the
  last shard with repeated windows (or drops them with ``drop_last=True``);
- loaders of seed nodes (a PyG ``NodeLoader`` such as
  :class:`~srnn_pyg.loader.OneHopLoader`): a :class:`ShardSampler`, which
  never repeats a seed. Rank ``r`` of ``w`` takes positions ``r, r + w, ...``
  of the epoch's seeded order, cut to a multiple of ``w`` (the last
  ``n mod w`` seeds of the order sit the epoch out), so every rank has the
  same number of seeds, hence of batches and the same batch sizes (DDP's
  collectives never wait for a rank that has run out). Batch ``k`` of the
  ``w`` ranks together is then batch ``k`` of one process with batch size
  ``w * batch_size`` on the same seeded order.

Each rank's loss is the mean over its batch's target entries and DDP
averages the ranks' gradients: when every rank's batch holds as many target
entries (no masks, equal batch sizes) a step is exactly that of the mean
loss over the union of the batches (tested); with masks the ranks' batches
weigh equally rather than by their counts. Validation shards windows or seed
nodes with :class:`EvalShard` (each scored once) and all-reduces the metric
sums, so it is exact.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

import torch
from torch import Tensor
from torch.utils.data import DataLoader, RandomSampler, Sampler
from torch_geometric.loader import NodeLoader

from .device import DeviceLike
from .rng import SeededRandomSampler

__all__ = ["DistContext", "setup_distributed", "EvalShard", "ShardSampler", "with_sampler", "train_loader",
           "eval_loader"]


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

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every process (``obj`` itself alone)."""
        if not self.enabled:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

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


class ShardSampler(Sampler):
    """Rank ``rank`` of ``world``: a disjoint share of an order of ``n``
    samples (the seed nodes of a ``NodeLoader``) that is a function of
    ``(seed, epoch)`` only, so a resumed run sees the same shards.

    The order is that of :class:`~srnn_pyg.engine.rng.SeededRandomSampler`
    (``shuffle=True``; call :meth:`set_epoch` before each epoch) or
    ``range(n)``. It is cut to ``world * (n // world)`` positions and rank
    ``r`` takes positions ``r, r + world, ...``: no sample is repeated or
    shared, every rank gets ``n // world`` of them, and the last
    ``n mod world`` of the order are left out of the epoch (with shuffling,
    other ones each epoch). Batch ``k`` of every rank together is batch ``k``
    of one process reading the same order with ``world`` times the batch size.

    Args:
        n (int): number of samples.
        rank (int): this process's rank.
        world (int): number of processes.
        seed (int): base seed of the order.
        shuffle (bool, optional): a new seeded order every epoch, else
            ``range(n)``. (default: :obj:`True`)
    """

    def __init__(self, n: int, rank: int, world: int, seed: int, shuffle: bool = True):
        for key, value, low in (("n", n, 0), ("world", world, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ShardSampler: '{key}' must be an int >= {low} (got {value!r})")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world:
            raise ValueError(f"ShardSampler: 'rank' must be an int in [0, {world - 1}] (got {rank!r})")
        self.n, self.rank, self.world, self.seed, self.shuffle = n, rank, world, int(seed), bool(shuffle)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    @property
    def left_out(self) -> int:
        """Samples of each epoch's order that no rank gets: ``n mod world``."""
        return self.n % self.world

    def order(self) -> List[int]:
        """This epoch's order of all ``n`` samples, before sharding."""
        if not self.shuffle:
            return list(range(self.n))
        full = SeededRandomSampler(self.n, self.seed)
        full.set_epoch(self.epoch)
        return list(full)

    def __iter__(self) -> Iterator[int]:
        used = self.world * (self.n // self.world)
        return iter(self.order()[self.rank:used:self.world])

    def __len__(self) -> int:
        return self.n // self.world


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
    shuffling loader gets a :class:`SeededRandomSampler`; under DDP a loader
    of seed nodes (a ``NodeLoader``, e.g.
    :class:`~srnn_pyg.loader.OneHopLoader`) gets a :class:`ShardSampler`
    and a loader of windows a
    :class:`~torch.utils.data.distributed.DistributedSampler`; any other
    loader, or any iterable of batches (e.g. a list), is used as it is
    (sampler :obj:`None`) outside DDP.

    Raises:
        ValueError: under DDP, a loader of fewer seed nodes than processes,
            a ``NodeLoader`` built with ``filter_per_worker=False``, or an
            iterable that is not a ``DataLoader``.
    """
    shuffle = isinstance(getattr(loader, "sampler", None), RandomSampler)
    if dist.enabled and not isinstance(loader, DataLoader):
        raise ValueError(f"fit: under DDP, 'train_loader' must be a torch DataLoader (a PyG DataLoader or "
                         f"NodeLoader), which each process shards (got {type(loader).__name__})")
    if dist.enabled:
        if isinstance(loader, NodeLoader):
            check_node_loader(loader, "fit: 'train_loader'")
            n = len(loader.dataset)
            if n < dist.world:
                raise ValueError(f"fit: 'train_loader' has {n} seed node(s), fewer than the {dist.world} "
                                 f"processes; every process needs at least one")
            sampler = ShardSampler(n, dist.rank, dist.world, seed, shuffle=shuffle)
            if sampler.left_out and not shuffle and dist.main:
                warnings.warn(f"fit: the {n} seed nodes of 'train_loader' do not split evenly over {dist.world} "
                              f"processes: the last {sampler.left_out} (in the loader's order) are never "
                              f"trained on; use shuffle=True (other ones sit out each epoch) or a multiple of "
                              f"{dist.world} seeds")
            return with_sampler(loader, sampler), sampler
        from torch.utils.data.distributed import DistributedSampler
        sampler = DistributedSampler(loader.dataset, num_replicas=dist.world, rank=dist.rank,
                                     shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
        return with_sampler(loader, sampler), sampler
    if shuffle:
        sampler = SeededRandomSampler(len(loader.dataset), seed)
        return with_sampler(loader, sampler), sampler
    return loader, None


def eval_loader(loader: Optional[DataLoader], dist: DistContext) -> Optional[DataLoader]:
    """``loader`` sharded with :class:`EvalShard` under DDP, else itself: each
    window, or each seed node of a ``NodeLoader``, is scored by exactly one
    rank (ranks may run different numbers of batches: evaluation has no
    collective but the final all-reduce of the sums)."""
    if loader is None or not dist.enabled:
        return loader
    if isinstance(loader, NodeLoader):
        check_node_loader(loader, "fit: 'val_loader'")
    return with_sampler(loader, EvalShard(len(loader.dataset), dist.rank, dist.world))


def check_node_loader(loader: NodeLoader, what: str) -> None:
    """A ``NodeLoader`` rebuilt with another sampler must finish its batches
    in its ``collate_fn`` (``filter_per_worker=True``, the default of
    :class:`~srnn_pyg.loader.OneHopLoader`)."""
    if not getattr(loader, "filter_per_worker", True):
        raise ValueError(f"{what} is a {type(loader).__name__} with filter_per_worker=False, whose batches are "
                         f"finished outside its collate_fn and cannot be sharded across processes; build it "
                         f"with filter_per_worker=True")
