r"""The Gaussian input-noise curriculum of the S-RNN paper:
:class:`NoiseSchedule`, :data:`PAPER_NOISE_SCHEDULE`, and :func:`add_noise`,
which perturbs a batch's inputs."""
from __future__ import annotations

import bisect
import copy
import math
from typing import Any, Iterable, List, Optional, Tuple

import torch

__all__ = ["NoiseSchedule", "PAPER_NOISE_SCHEDULE", "as_noise_schedule", "add_noise"]

#: The Gaussian input-noise curriculum of the S-RNN human-motion experiments
#: (``noise_schedule`` / ``noise_rate_schedule`` in the authors' RNNexp
#: ``hyperParameterTuning.py``, for S-RNN, ERD and LSTM-3LR alike): from the
#: given iteration on, every training input gets zero-mean Gaussian noise of
#: this standard deviation (the code's comment says "variance", but the value
#: is passed as the ``std`` of the noise). No noise before iteration 250.
PAPER_NOISE_SCHEDULE: Tuple[Tuple[int, float], ...] = (
    (250, 0.01), (500, 0.05), (1000, 0.1), (1300, 0.2), (2000, 0.3), (2500, 0.5), (3300, 0.7))


class NoiseSchedule:
    r"""A step function of the training iteration: the standard deviation of
    the zero-mean Gaussian noise added to the model's inputs, as the S-RNN
    paper trains its motion models (the noise is raised at given iterations,
    so the model learns to correct its own drift before it has to).

    The step with index ``i`` (``0`` for the first optimiser step, counted
    over the whole run) uses the std of the last pair whose iteration is
    ``<= i``, and no noise before the first pair.

    Args:
        schedule (sequence of (int, float)): ``(iteration, std)`` pairs with
            strictly increasing iterations ``>= 0`` and stds ``>= 0``, e.g.
            :data:`PAPER_NOISE_SCHEDULE`.

    .. code-block:: python

        s = NoiseSchedule(PAPER_NOISE_SCHEDULE)
        s(0), s(250), s(999), s(1000), s(10_000)    # 0.0, 0.01, 0.05, 0.1, 0.7
    """

    def __init__(self, schedule: Iterable[Tuple[int, float]]):
        try:
            pairs = [(int(it), float(std)) for it, std in schedule]
        except (TypeError, ValueError):
            raise ValueError(f"NoiseSchedule: 'schedule' must be (iteration, std) pairs "
                             f"(got {schedule!r})") from None
        if not pairs:
            raise ValueError("NoiseSchedule: 'schedule' must hold at least one (iteration, std) pair "
                             "(got none)")
        its = [it for it, _ in pairs]
        if its[0] < 0 or any(b <= a for a, b in zip(its, its[1:])):
            raise ValueError(f"NoiseSchedule: iterations must be >= 0 and strictly increasing "
                             f"(got {its})")
        stds = [s for _, s in pairs]
        if any(not math.isfinite(s) or s < 0 for s in stds):
            raise ValueError(f"NoiseSchedule: stds must be finite and >= 0 (got {stds})")
        self.iterations, self.stds = its, stds

    def __call__(self, iteration: int) -> float:
        k = bisect.bisect_right(self.iterations, int(iteration)) - 1
        return self.stds[k] if k >= 0 else 0.0

    def to_list(self) -> List[List[float]]:
        return [[it, s] for it, s in zip(self.iterations, self.stds)]

    def __repr__(self) -> str:
        return f"NoiseSchedule({list(zip(self.iterations, self.stds))})"


def as_noise_schedule(noise: Any) -> Optional[NoiseSchedule]:
    """The schedule a ``noise`` option describes: :obj:`None` (no noise), a
    constant std, ``"paper"`` (:data:`PAPER_NOISE_SCHEDULE`), ``(iteration,
    std)`` pairs or a :class:`NoiseSchedule`.

    Raises:
        ValueError: naming ``'noise'`` for anything else.
    """
    if noise is None:
        return None
    if isinstance(noise, NoiseSchedule):
        return noise
    if isinstance(noise, str):
        if noise == "paper":
            return NoiseSchedule(PAPER_NOISE_SCHEDULE)
        raise ValueError(f"fit: 'noise' must be None, a std, 'paper', (iteration, std) pairs or a "
                         f"NoiseSchedule (got {noise!r})")
    if isinstance(noise, (int, float)) and not isinstance(noise, bool):
        if not math.isfinite(noise) or noise < 0:
            raise ValueError(f"fit: a constant 'noise' std must be finite and >= 0 (got {noise!r})")
        return NoiseSchedule([(0, float(noise))])
    return NoiseSchedule(noise)


def add_noise(batch, std: float, p: float = 1.0):
    """A shallow copy of ``batch`` whose ``x`` has zero-mean Gaussian noise of
    standard deviation ``std`` (absent nodes, per ``node_mask``, stay zero);
    ``batch`` itself unchanged when ``std <= 0``.

    With ``p < 1`` each (graph, time step) frame gets the noise with
    probability ``p`` only, all its nodes alike (a Bernoulli mask per frame
    and sequence, as the official S-RNN code draws it; a batch's graphs are
    its sequences, told apart by ``batch.batch``)."""
    if std <= 0 or p <= 0:
        return batch
    x = batch.x
    noise = torch.randn_like(x) * std
    nm = batch.get("node_mask")
    if nm is not None and nm.shape == x.shape[:2]:
        noise = noise * nm.unsqueeze(-1).to(x.dtype)                              # absent stays absent
    if p < 1:
        graph = batch.get("batch")
        if not isinstance(graph, torch.Tensor) or graph.numel() != x.size(0):
            graph = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        frames = torch.rand(int(graph.max()) + 1 if graph.numel() else 1, x.size(1), device=x.device) < p
        noise = torch.where(frames[graph].unsqueeze(-1), noise, torch.zeros_like(noise))  # [N, T, F]
    out = copy.copy(batch)                                                        # tensors shared
    out.x = x + noise
    return out
