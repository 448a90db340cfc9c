"""The seasonal-mean baseline: each node's training mean at the same phase
(e.g. time of day), fitted in closed form."""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.data.data import BaseData

from ..data import STData
from ..loader import one_hop_node_index, seed_count
from ..nn.args import count
from ..nn.checks import select
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["SeasonalMean"]


@register("seasonal_mean")
class SeasonalMean(Forecaster):
    r"""Seasonal mean: every node's value at a future step is forecast as that
    node's mean over the training data at the same phase of the period, the
    "historical average" baseline of traffic forecasting:

    .. math::
        \hat{\mathbf{x}}_{i,t} = \boldsymbol{\mu}_{i,\,t \bmod P},
        \qquad
        \boldsymbol{\mu}_{i,p} = \frac{1}{|S_{i,p}|}
        \sum_{t \in S_{i,p}} \mathbf{x}_{i,t}

    where :math:`P` is ``period`` (``288`` five-minute steps: the time of
    day) and :math:`S_{i,p}` the distinct absolute steps :math:`t` with
    :math:`t \bmod P = p` at which node :math:`i` is present in the training
    windows. A phase never seen for a node falls back to the node's mean over
    all its steps; a node never seen at all forecasts zero (the training mean
    in z-scored units). The observed values ``x`` of the window being
    forecast are not used, only its time.

    **Time.** The data must say when each window is: ``t_start``, the absolute
    step index of ``x[:, 0]``, a ``[1]`` long tensor per window (``[B]`` in a
    batch of ``B`` graphs), as :class:`~srnn_pyg.datasets.LosLoop` gives. Frame
    ``k`` of ``x`` is step ``t_start + k`` and frame ``k`` of ``y`` step
    ``t_start + T + k`` (``y`` continues ``x``, as with ``target="x"``
    windows); forecast step ``h`` (0-based) is step ``t_start + T + h``. All
    windows are taken to come from one timeline (one recording).

    **Nodes** are identified by their index within a graph, which needs every
    graph to have the same ``num_nodes`` nodes in the same order (fixed
    sensors): given, or taken from the first data the model sees
    (:meth:`fit_closed_form`, :meth:`forecast` or ``load_state_dict``; the
    buffers are then built on that data's device). Edges, node types and edge
    types are ignored.

    **Fitting** (:meth:`fit_closed_form`) uses the observed and target frames
    of the training windows. Windows overlap (stride 1 shares all but one
    frame between neighbours), so every (node, absolute step) enters the
    means once, however many windows hold it; copies of the same step (equal
    in windows cut from one recording) are averaged first. The fitted means
    are buffers, saved with the model (:func:`srnn_pyg.engine.save_model`).
    Nothing is trained by gradient (``trainable = False``: :func:`srnn_pyg.engine.fit`
    only evaluates it), and there is no one-step-ahead :meth:`forward`
    (``has_forward = False``). Before fitting every mean is zero.

    Masks: in :meth:`fit_closed_form` a frame counts only where its node is
    present (``node_mask`` on ``x``; ``y_mask`` on ``y``, else ``node_mask``'s
    last step held over ``y``). A node absent at the last observed step
    forecasts zeros, as every model of the library.

    Only the first ``out_channels`` features are predicted, so
    ``out_channels <= in_channels``.

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features: the first ``out_channels`` of
            the input's features.
        period (int, optional): the season length ``P`` in steps; the phase of
            step ``t`` is ``t % period``. ``288`` is a day of 5-minute steps
            (:attr:`LosLoop.steps_per_day <srnn_pyg.datasets.LosLoop.steps_per_day>`).
            (default: :obj:`288`)
        num_nodes (int, optional): nodes per graph; :obj:`None` takes it from
            the first data. (default: :obj:`None`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          ``t_start`` ``[B]`` (long, one per graph), optional ``node_mask``
          ``[N, T]``; batches of ``B`` graphs of ``num_nodes`` nodes each
        - **fit_closed_form input:** the same, plus optional ``y``
          ``[N, H, F]`` and ``y_mask`` ``[N, H]``
        - **mean:** ``[num_nodes, period, out_channels]``, fallback included
        - **count:** ``[num_nodes, period]``: distinct training steps behind
          each mean (zero where the fallback applies)
        - **forecast:** ``[N, horizon, out_channels]``
    """

    has_forward = False
    trainable = False
    #: keys the data must carry besides ``x``
    required_keys: Tuple[str, ...] = ("t_start",)

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int, *,
                 period: int = 288, num_nodes: Optional[int] = None):
        super().__init__(schema, in_channels, out_channels)
        if out_channels > in_channels:
            raise ValueError(f"SeasonalMean: 'out_channels' must be <= in_channels={in_channels} "
                             f"(got {out_channels})")
        period = count("SeasonalMean", "period", period)
        num_nodes = count("SeasonalMean", "num_nodes", num_nodes, optional=True, meaning="set by the first fit")
        self.period = period
        self.num_nodes: Optional[int] = None
        self.register_buffer("mean", None)                                  # built by _build
        self.register_buffer("count", None)
        if num_nodes is not None:
            self._build(num_nodes)

    # ------------------------------------------------------------ building
    def _build(self, num_nodes: int, device: Optional[torch.device] = None,
               dtype: Optional[torch.dtype] = None) -> None:
        self.mean = torch.zeros(num_nodes, self.period, self.out_channels, device=device, dtype=dtype)
        self.count = torch.zeros(num_nodes, self.period, device=device, dtype=torch.long)
        self.num_nodes = num_nodes
        if "model_args" in self.__dict__:          # built lazily: the record now rebuilds this size
            self.model_args["num_nodes"] = num_nodes

    def reset_parameters(self) -> None:
        """Forget the fit: every mean and count back to zero."""
        if self.mean is not None:
            self.mean.zero_()
            self.count.zero_()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A fresh model without num_nodes learns it from the checkpoint.
        mean = state_dict.get(prefix + "mean")
        if self.num_nodes is None and isinstance(mean, Tensor) and mean.dim() == 3:
            self._build(mean.size(0), mean.device, mean.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # ------------------------------------------------------------- helpers
    def _locate(self, data: STData, N: int, device: torch.device) -> Tuple[Tensor, Tensor]:
        """Per node, its index within its graph and its graph's ``t_start``
        (``[N]`` each; a host sync), building the buffers on first use. In a
        :class:`~srnn_pyg.loader.OneHopLoader` batch, a row's index is its node
        id (``n_id``, within its window when the loader's graph is a batch of
        windows), so ``num_nodes`` must be given."""
        if seed_count(data, "SeasonalMean") is not None:
            node, window = one_hop_node_index("SeasonalMean", data, self.num_nodes, device)
            t_start = data.get("t_start")
            windows = int(window.max()) + 1 if window.numel() else 1
            if not isinstance(t_start, Tensor) or t_start.is_floating_point() or t_start.numel() < windows:
                got = list(t_start.shape) if isinstance(t_start, Tensor) else type(t_start).__name__
                raise ValueError(f"SeasonalMean needs 't_start', one integer step index per window of the "
                                 f"loader's graph (at least {windows} here) (got {got})")
            return node, t_start.reshape(-1).to(device=device, dtype=torch.long)[window]
        ptr, batch = data.get("ptr"), data.get("batch")
        if ptr is not None:
            sizes: List[int] = (ptr[1:] - ptr[:-1]).tolist()
        elif batch is not None and batch.numel() > 0:
            if bool((batch[1:] < batch[:-1]).any()):
                raise ValueError("SeasonalMean: 'batch' must be sorted, each graph's nodes contiguous")
            sizes = torch.bincount(batch).tolist()
        else:
            sizes = [N]
        t_start = data.get("t_start")
        if t_start is None:
            raise ValueError("SeasonalMean needs to know when each window is: the data has no "
                             "'t_start' (the absolute step index of x[:, 0], a [1] long tensor per "
                             "window, [B] in a batch; e.g. LosLoop windows carry it)")
        if not isinstance(t_start, Tensor) or t_start.is_floating_point() or t_start.is_complex() \
                or t_start.dtype == torch.bool or t_start.numel() != len(sizes):
            got = (f"{t_start.dtype} {list(t_start.shape)}" if isinstance(t_start, Tensor)
                   else type(t_start).__name__)
            raise ValueError(f"SeasonalMean: 't_start' must be an integer tensor with one step index per "
                             f"graph ({len(sizes)} here) (got {got})")
        if len(set(sizes)) > 1:
            raise ValueError(f"SeasonalMean: one mean per node index needs all graphs of a batch to have "
                             f"the same number of nodes (got a batch mixing graph sizes "
                             f"{sorted(set(sizes))})")
        n = sizes[0]
        if self.num_nodes is None:
            self._build(n, device)
        elif n != self.num_nodes:
            raise ValueError(f"SeasonalMean: 'num_nodes' is {self.num_nodes} (fixed at construction or by "
                             f"the first data) but the graph has {n} nodes")
        node = torch.arange(N, device=device) % n
        start = t_start.reshape(-1).to(device=device, dtype=torch.long).repeat_interleave(n)   # [N]
        return node, start

    # --------------------------------------------------------------- model
    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        N, T, _ = x.shape
        node, start = self._locate(data, N, x.device)
        steps = start.unsqueeze(1) + T + torch.arange(horizon, device=x.device)   # [N, H]
        out = self.mean[node.unsqueeze(1), steps % self.period].to(x.dtype)       # [N, H, out]
        keep = self._last_node_mask(data)                                          # [N, 1, 1] or None
        return select(keep, out)

    # ---------------------------------------------------------- closed form
    def _frames(self, data: STData) -> Tuple[Tensor, Tensor]:
        """The present frames of one window (or batch): keys
        ``step * num_nodes + node`` ``[M]`` and values ``[M, out]`` (float64)."""
        x = self._check_input(data)
        y = data.get("y")
        seq, present = x, data.get("node_mask")
        if y is not None:
            if not isinstance(y, Tensor) or y.dim() != 3 or y.size(0) != x.size(0) \
                    or y.size(-1) != x.size(-1) or not y.is_floating_point():
                got = list(y.shape) if isinstance(y, Tensor) else type(y).__name__
                raise ValueError(f"SeasonalMean: fit_closed_form averages the frames of concat(x, y), so "
                                 f"'y' must be [N, H, F] float values with the F={x.size(-1)} features "
                                 f"of 'x' (got {got})")
            seq = torch.cat([x, y.to(x.dtype)], dim=1)                      # [N, T+H, F]
            nm, ym = data.get("node_mask"), data.get("y_mask")
            if nm is not None or ym is not None:
                past = nm if nm is not None else torch.ones_like(x[..., 0], dtype=torch.bool)
                if ym is not None:
                    future = ym
                elif nm is not None:
                    future = nm[:, -1:].expand(-1, y.size(1))
                else:
                    future = torch.ones_like(y[..., 0], dtype=torch.bool)
                present = torch.cat([past, future], dim=1)                 # [N, T+H]
        N, L, _ = seq.shape
        node, start = self._locate(data, N, seq.device)
        steps = start.unsqueeze(1) + torch.arange(L, device=seq.device)    # [N, L]
        keys = steps * self.num_nodes + node.unsqueeze(1)                  # [N, L]
        values = seq[..., : self.out_channels].double()                    # [N, L, out]
        if present is None:
            return keys.reshape(-1), values.reshape(-1, self.out_channels)
        ok = present.to(torch.bool)
        return keys[ok], values[ok]

    @torch.no_grad()
    def fit_closed_form(self, loader_or_data: Union[STData, Iterable[STData]]) -> "SeasonalMean":
        r"""Set every node's mean at every phase from the training windows
        (float64 sums): the present frames of ``x`` and ``y`` placed at their
        absolute steps by ``t_start``, each (node, step) once, then averaged
        per (node, step mod ``period``); phases never seen take the node's
        overall mean, nodes never seen zero. The memory grows with the
        distinct (node, step) pairs, not with the number of windows.

        Args:
            loader_or_data: one :class:`~srnn_pyg.STData` (or batch), or an
                iterable of them such as a :class:`~torch_geometric.loader.DataLoader`.

        Returns:
            the model itself, fitted.

        Raises:
            ValueError: if a window has no ``t_start``, or no frame is present.
        """
        if isinstance(loader_or_data, BaseData):
            items: Iterable[STData] = [loader_or_data]  # type: ignore[list-item]
        else:
            items = loader_or_data
        keys = torch.zeros(0, dtype=torch.long)                            # distinct (node, step), sorted
        sums = torch.zeros(0, self.out_channels, dtype=torch.float64)      # sum of the copies of each
        copies = torch.zeros(0, dtype=torch.float64)                       # how many copies
        for data in items:
            k, v = self._frames(data)
            k, v = k.cpu(), v.cpu()
            keys, inverse = torch.unique(torch.cat([keys, k]), sorted=True, return_inverse=True)
            sums = torch.zeros(keys.numel(), self.out_channels, dtype=torch.float64).index_add_(
                0, inverse, torch.cat([sums, v]))
            copies = torch.zeros(keys.numel(), dtype=torch.float64).index_add_(
                0, inverse, torch.cat([copies, torch.ones(k.numel(), dtype=torch.float64)]))
        if keys.numel() == 0:
            raise ValueError("SeasonalMean: 'loader_or_data' holds no present frame to average")
        n, P = self.num_nodes, self.period
        assert n is not None
        value = sums / copies.unsqueeze(1)                                 # [U, out], one per (node, step)
        node = keys % n
        phase = torch.div(keys, n, rounding_mode="floor") % P
        cell = node * P + phase                                            # [U]
        total = torch.zeros(n * P, self.out_channels, dtype=torch.float64).index_add_(0, cell, value)
        count = torch.zeros(n * P, dtype=torch.float64).index_add_(
            0, cell, torch.ones_like(copies)).view(n, P)
        total = total.view(n, P, self.out_channels)
        node_count = count.sum(1, keepdim=True)                            # [n, 1]
        node_mean = total.sum(1) / node_count.clamp_min(1)                 # [n, out]; 0 if never seen
        mean = torch.where(count.unsqueeze(-1) > 0, total / count.clamp_min(1).unsqueeze(-1),
                           node_mean.unsqueeze(1))                         # [n, P, out]
        self.mean.copy_(mean.to(self.mean.device, self.mean.dtype))
        self.count.copy_(count.to(self.count.device, self.count.dtype))
        return self

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, period={self.period}, "
                f"num_nodes={self.num_nodes})")
