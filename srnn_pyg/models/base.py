"""The interface every model of the library implements: :class:`Forecaster`."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from ..data import STData
from ..nn.args import count, plain
from ..nn.checks import (check_data, check_dtype, check_edge_index, check_horizon, check_masks, check_values,
                         model_dtype)
from ..nn.heads import DeterministicHead, Head
from ..schema import STSchema

__all__ = ["Forecaster"]


class Forecaster(torch.nn.Module):
    r"""Base class of every model: S-RNN and the baselines take the same
    :class:`~srnn_pyg.STData` (features ``[N, T, F]``, ``edge_index``, types,
    masks, batched graphs) so that training, evaluation and benchmarks swap
    them by name (:func:`srnn_pyg.models.build`).

    Subclasses implement :meth:`forecast` and, where the model has a
    one-step-ahead (or per-step logits) form, :meth:`forward`.

    Class attributes describe what a model uses, for documentation and for the
    trainer:

    * ``has_forward``: :meth:`forward` gives ``[N, T, out]``, at step ``t`` the
      prediction for ``t + 1`` (so teacher forcing applies).
    * ``uses_types``: node and edge types change the computation.
    * ``uses_graph``: edges change the computation.
    * ``supports_masks``: absent nodes/edges (``node_mask``/``edge_mask``) are
      handled; models without it raise on dynamic graphs.
    * ``trainable``: has parameters to fit.
    """

    has_forward: bool = True
    uses_types: bool = False
    #: the type keys read when :attr:`uses_types` (the others are ignored, whatever they hold)
    type_keys: Tuple[str, ...] = ("node_type", "edge_type")
    uses_graph: bool = False
    supports_masks: bool = True
    trainable: bool = True
    #: the name the class is registered under (:func:`srnn_pyg.models.register`)
    registry_name: Optional[str] = None
    #: the constructor call that built this model, by parameter name (set at construction)
    model_args: Dict[str, Any]
    #: check values at the entry (NaN/Inf in ``x`` at present steps, index ranges), at the cost of one
    #: host sync per call; set ``model.validate = False`` for inner loops over data checked once already
    validate: bool = True
    #: whether a graph with no nodes is accepted (and gives an empty output)
    accepts_empty: bool = True
    #: how a forecast rebuilds the next input from a prediction when the model reads more than it
    #: predicts (:class:`~srnn_pyg.nn.feedback.Feedback`); None: the prediction is the next input
    feedback: Optional[Any] = None

    def __init_subclass__(cls, **kwargs):
        # Record every model's constructor call, as nanoGPT keeps ``model_args``:
        # the class and ``model_args`` rebuild the model (``save_model``/``load_model``).
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording(cls.__init__)

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int):
        super().__init__()
        if schema is not None and not isinstance(schema, STSchema):
            raise TypeError(f"{type(self).__name__}: 'schema' must be an STSchema "
                            f"(got {type(schema).__name__})")
        in_channels = count(type(self).__name__, "in_channels", in_channels)
        out_channels = count(type(self).__name__, "out_channels", out_channels)
        self.schema = schema
        self.in_channels = in_channels
        self.out_channels = out_channels
        #: what the output means, its loss and sampling (:mod:`srnn_pyg.nn.heads`)
        self.head: Head = DeterministicHead(out_channels)

    def reset_parameters(self) -> None:
        """Re-initialise every parameter."""

    def forward(self, data: STData) -> Tensor:  # pragma: no cover - documented default
        raise NotImplementedError(f"{type(self).__name__} has no one-step-ahead form; "
                                  f"use forecast(data, horizon)")

    def forecast(self, data: STData, horizon: int) -> Tensor:
        """Predict ``[N, horizon, out_channels]`` after the observed ``data.x``."""
        raise NotImplementedError

    # ------------------------------------------------------------- helpers
    def _check_input(self, data: STData, horizon: Any = ...) -> Tensor:
        """Validate the tensors a model reads and return ``x``; errors name the
        model, the argument, the expected and the received value
        (``docs/errors.md``). Shapes and dtypes cost nothing; with
        :attr:`validate` one host sync also checks that ``x`` is finite at
        present steps and, for a graph model, that ``edge_index`` is in range."""
        name = type(self).__name__
        check_data(name, data)
        x = getattr(data, "x", None)
        if not isinstance(x, Tensor) or x.dim() != 3:
            raise ValueError(f"{name}: 'x' must be [num_nodes, T, F] (got {_shape(x)})")
        check_dtype(name, "x", x, model_dtype(self))
        N, T, F = x.shape
        if F != self.in_channels:
            raise ValueError(f"{name}: 'x' must be [num_nodes, T, F] with F={self.in_channels} "
                             f"(got {list(x.shape)})")
        if T == 0:
            raise ValueError(f"{name}: 'x' must have at least one time step (got {list(x.shape)})")
        if N == 0 and not self.accepts_empty:
            raise ValueError(f"{name}: 'x' must have at least one node (got {list(x.shape)})")
        if horizon is not ...:  # a forecast (``...``: forward, no horizon)
            check_horizon(name, horizon)
        edge_index = data.get("edge_index") if self.uses_graph else None
        E = check_edge_index(name, edge_index) if self.uses_graph else None
        nm, em = data.get("node_mask"), data.get("edge_mask")
        check_masks(name, nm, em, N, T, E)
        if not self.supports_masks:                     # a model that reads no edges ignores 'edge_mask'
            em_read = em if self.uses_graph else None
            if (nm is not None and not bool(nm.all())) or (em_read is not None and not bool(em_read.all())):
                raise ValueError(f"{name} cannot handle absent nodes" + (" or edges (dynamic graphs): 'node_mask'/"
                                 "'edge_mask' must be all True" if self.uses_graph else ": 'node_mask' must be all "
                                 "True (its 'edge_mask' is ignored: it reads no edges)"))
        ranges = []
        if self.uses_graph:
            ranges.append(("edge_index", edge_index, N))
        if self.uses_types and self.schema is not None:
            ranges += self._type_ranges(data, N, E)
        if self.validate:
            check_values(name, x, nm, ranges)
        return x

    def _type_ranges(self, data: STData, N: int, E: Optional[int]) -> list:
        """``node_type`` ``[N]`` and ``edge_type`` ``[E]`` (long, where given) and
        their bounds, for a baseline that reads types."""
        name, out = type(self).__name__, []
        for key, rows, bound in (("node_type", N, self.schema.num_node_types),
                                 ("edge_type", E, self.schema.num_edge_types)):
            if key not in self.type_keys:
                continue
            v = data.get(key)
            if v is None or rows is None:
                continue
            if not isinstance(v, Tensor) or tuple(v.shape) != (rows,):
                raise ValueError(f"{name}: '{key}' must be [{rows}] (got {_shape(v)})")
            if v.dtype != torch.long:
                raise TypeError(f"{name}: '{key}' must be torch.long (got {v.dtype})")
            out.append((key, v, bound))
        return out

    @staticmethod
    def _last_node_mask(data: STData) -> Optional[Tensor]:
        """``[N, 1, 1]`` bool presence at the last observed step, or None."""
        m = data.get("node_mask")
        return None if m is None else m[:, -1].view(-1, 1, 1)


def _shape(v: Any) -> str:
    return str(list(v.shape)) if isinstance(v, Tensor) else type(v).__name__


def _recording(init):
    """Wrap a subclass ``__init__`` so that the outermost call stores its
    arguments, by name, in ``self.model_args`` (positional ones included,
    defaults not filled in)."""
    sig = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        outer = "_building" not in self.__dict__
        if outer:
            object.__setattr__(self, "_building", True)
        try:
            init(self, *args, **kwargs)
        finally:
            if outer:
                del self.__dict__["_building"]
        if outer:
            bound = sig.bind(self, *args, **kwargs).arguments
            record: Dict[str, Any] = {}
            for name, value in list(bound.items())[1:]:
                kind = sig.parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    record.update({k: plain(v) for k, v in value.items()})
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    raise TypeError(f"{type(self).__name__}: a model's constructor cannot take *args "
                                    f"(they cannot be recorded by name)")
                else:
                    record[name] = plain(value)              # NumPy numbers saved as Python ones
            object.__setattr__(self, "model_args", record)

    return wrapper
