r"""Truncated backpropagation through time (``TrainConfig(tbptt=K)``).

A long sequence is cut into chunks of ``K`` steps. The model runs the chunks
in order through its streaming form, ``out, state = model.step(chunk,
state)`` (:meth:`srnn_pyg.models.StructuralRNN.step`), so every chunk starts
from the recurrent state the previous one ended in, exactly as one pass over
the whole sequence would; the state is detached between chunks, so gradients
flow back at most ``K`` steps, and the optimiser steps once per chunk. Memory
then grows with ``K``, not with the sequence length.

The official S-RNN code truncates differently (``TrainConfig(truncate_gradient=K)``,
:func:`truncated_gradient`): one pass and one update per batch of whole
sequences, the backward pass of each recurrent cell cut to its last ``K``
steps (Theano's ``scan(truncate_gradient=K)``).

At initial weights (or with a learning rate of zero) the chunk losses,
weighted by their entries, add up to the whole-sequence teacher-forcing loss;
with ``K`` at least the sequence length one chunk is the whole sequence and
training is the same as without ``tbptt``.
"""
from __future__ import annotations

import contextlib
import copy
import inspect
from typing import Any, Callable, Iterator, List, Optional, Tuple

import torch
from torch import Tensor

from .noise import add_noise
from ..loader import seed_view
from ..nn.heads import loss_terms, weighted_mean
from ..nn.peephole import PeepholeLSTM
from .objectives import label_targets, node_type_terms, target_weight, teacher_forcing

__all__ = ["check_tbptt", "tbptt_batch", "time_chunks", "truncated_gradient"]

#: keys whose dimension 1 is time (node- or edge-level), cut with the chunk
_TIME_KEYS = ("x", "node_mask", "edge_mask", "edge_attr")


def check_tbptt(model: Any, config: Any, classification: bool, distributed: bool) -> None:
    """Refuse, with a message naming ``tbptt``, the settings it cannot honour."""
    K = config.tbptt
    if K is None:
        return
    step = getattr(model, "step", None)
    if not callable(step):
        raise ValueError(f"fit: 'tbptt={K}' runs the model chunk by chunk through its streaming form "
                         f"model.step(data, state); {type(model).__name__} has none (use tbptt=None)")
    if not classification and config.objective != "teacher_forcing":
        raise ValueError(f"fit: 'tbptt={K}' truncates teacher forcing; objective={config.objective!r} "
                         f"is not supported with it (use objective='teacher_forcing')")
    if distributed:
        raise ValueError(f"fit: 'tbptt={K}' is not supported under DistributedDataParallel yet (DDP "
                         f"synchronises gradients through forward only)")
    if config.compile:
        raise ValueError(f"fit: 'tbptt={K}' calls model.step, which torch.compile of forward does not "
                         f"cover (use compile=False)")


@contextlib.contextmanager
def truncated_gradient(model: Any, config: Any) -> Iterator[None]:
    """For the run, ``config.truncate_gradient`` on every
    :class:`~srnn_pyg.nn.peephole.PeepholeLSTM` of ``model`` (each put back as
    it was afterwards); a ``ValueError`` naming the field if the model has no
    such cell or the objective is not teacher forcing."""
    K = config.truncate_gradient
    trains = getattr(model, "trainable", True) and any(p.requires_grad for p in model.parameters())
    if K is None or not trains:                      # nothing back-propagates: nothing to truncate
        yield
        return
    cells = [m for m in model.modules() if isinstance(m, PeepholeLSTM)] if hasattr(model, "modules") else []
    why = "recipe='paper' sets it; " if config.recipe == "paper" else ""
    if not cells:
        raise ValueError(f"fit: 'truncate_gradient={K}' ({why}Theano's truncation, inside the recurrent cells) acts on "
                         f"peephole LSTMs (variant='paper' or cell='peephole'); {type(model).__name__} has none. "
                         f"Use tbptt={K} for chunked truncated back-propagation instead")
    if config.objective != "teacher_forcing":
        raise ValueError(f"fit: 'truncate_gradient={K}' truncates teacher forcing over whole sequences; "
                         f"objective={config.objective!r} is not supported with it")
    before = [cell.truncate_gradient for cell in cells]
    try:
        for cell in cells:
            cell.truncate_gradient = K
        yield
    finally:
        for cell, value in zip(cells, before):
            cell.truncate_gradient = value


def time_chunks(length: int, K: int) -> List[Tuple[int, int]]:
    """``[(start, stop), ...]`` covering ``0 .. length`` in pieces of ``K``."""
    return [(s, min(s + K, length)) for s in range(0, length, K)]


def _cut(data: Any, start: int, stop: int, length: int) -> Any:
    """A shallow copy of ``data`` with every time-indexed key cut to ``start:stop``."""
    out = copy.copy(data)
    for key in _TIME_KEYS:
        v = data.get(key)
        if isinstance(v, Tensor) and v.dim() >= 2 and v.size(1) == length:
            out[key] = v[:, start:stop]
    return out


def _sequence(batch: Any, classification: bool, feedback: Optional[Any]) -> Tuple[Any, Tensor, Optional[Tensor]]:
    """The inputs over the whole sequence and per-step targets and mask aligned
    with them (step ``t`` of the output scored against ``target[:, t]``)."""
    if not classification:
        return teacher_forcing(batch, feedback)
    T = batch.x.size(1)
    # per-step logits of the last H steps are scored (label_targets); build full-length labels and mask
    dummy = batch.x.new_zeros(batch.x.size(0), T, 1)
    _, labels, mask = label_targets(batch, dummy)
    H = labels.size(1)
    full = labels.new_zeros(labels.size(0), T)
    full[:, T - H:] = labels
    present = torch.zeros(labels.size(0), T, dtype=torch.bool, device=labels.device)
    present[:, T - H:] = True if mask is None else mask
    return batch, full, present


def tbptt_batch(model: Any, head: Any, batch: Any, K: int, noise_std: float, classification: bool,
                feedback: Optional[Any], amp_ctx: Callable, optimizer_step: Callable[[Tensor], None],
                noise_p: float = 1.0, node_type_loss: bool = False) -> Tuple[Tensor, Tensor]:
    """Train on one batch chunk by chunk; returns the entry-weighted sum of
    the chunk losses and the number of entries (as ``batch_loss`` would give
    ``loss * weight`` and ``weight`` for the whole sequence)."""
    inp, target, mask = _sequence(batch, classification, feedback)
    weight = target_weight(batch, classification)
    length = inp.x.size(1)
    state = None
    # one batch's chunks share its graph: no per-chunk check of the state's graph and of x (host syncs per
    # chunk); the first chunk's layout checks the graph, and a NaN still ends the epoch (TrainingDivergedError)
    quiet = {"validate": False} if "validate" in inspect.signature(model.step).parameters else {}
    loss_sum = torch.zeros((), dtype=torch.float64, device=inp.x.device)
    weight_sum = torch.zeros((), dtype=torch.float64, device=inp.x.device)
    for start, stop in time_chunks(length, K):
        chunk = _cut(inp, start, stop, length)
        t_chunk = target[:, start:stop]
        m_chunk = None if mask is None else mask[:, start:stop]
        if m_chunk is not None and not bool(seed_view(batch, m_chunk).any()):   # nothing the loss reads
            with torch.no_grad():       # nothing to score here: only carry the state on
                _, state = model.step(add_noise(chunk, noise_std, noise_p), state, **quiet)
            state = state.detach()
            continue
        with amp_ctx():
            out, state = model.step(add_noise(chunk, noise_std, noise_p), state, **quiet)
            # one-hop batches: the model returns the seed rows; the targets are cut to them
            t_chunk, m_chunk, types, w = seed_view(batch, t_chunk, m_chunk, inp.get("node_type"), weight)
            if node_type_loss and not classification:
                loss, c = node_type_terms(head, out, t_chunk, m_chunk, types, w)
            else:
                s, c = loss_terms(head, out, t_chunk, m_chunk, w)
                loss = weighted_mean(s, c)
        optimizer_step(loss)
        state = state.detach()
        loss_sum += loss.detach().double() * c.double()
        weight_sum += c.double()
    return loss_sum, weight_sum
