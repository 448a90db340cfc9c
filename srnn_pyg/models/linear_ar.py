"""The linear autoregression baseline, fitted in closed form."""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch_geometric.data.data import BaseData

from ..data import STData
from ..loader import one_hop_node_index, seed_count
from ..nn.args import count, flag, real
from ..nn.checks import select
from ..nn.feedback import Feedback
from ..schema import STSchema
from .base import Forecaster
from .registry import register

__all__ = ["LinearAR"]


@register("linear_ar")
class LinearAR(Forecaster):
    r"""Linear autoregression on each node's own recent frames, the baseline a
    reviewer asks for before any graph model:

    .. math::
        \hat{\mathbf{x}}_{i,t+1} = \mathbf{b} + \sum_{k=1}^{p}
        \mathbf{W}_{k}\,\mathbf{x}_{i,t-k+1}

    with ``p = lags``: every predicted feature is a linear function (with
    bias) of all ``in_channels`` features of the node's last ``p`` frames. The
    coefficients are ``pooled`` (one :math:`(\mathbf{W}, \mathbf{b})` shared
    by every node) or, with ``per_node=True``, one set per node index within
    a graph (:math:`\mathbf{W}^{(i)}, \mathbf{b}^{(i)}`), which needs every
    graph to have the same ``num_nodes`` nodes in the same order: given, or
    taken from the first data the model sees (:meth:`fit_closed_form`,
    :meth:`forward`, :meth:`forecast` or ``load_state_dict``; the parameters
    are then built on that data's device, so do this before creating an
    optimizer). Edges, node types and edge types are ignored.

    Two ways to fit it:

    * :meth:`fit_closed_form` solves the ridge-regularised least squares
      problem exactly (normal equations accumulated in float64 over a loader,
      so the memory does not grow with the data) on every teacher-forcing
      pair of the windows: each ``p``-frame history inside
      ``concat(x, y)`` and the frame that follows it;
    * :func:`srnn_pyg.engine.fit` trains the same parameters by gradient
      (teacher forcing through :meth:`forward`).

    The parameters start as the last-value (persistence) model: :math:`\mathbf{W}_1`
    copies the first ``out_channels`` features, every other coefficient is zero.

    :meth:`forward` pads the start of the sequence with its first frame
    repeated, so the first ``p - 1`` steps predict from a partial history.
    :meth:`forecast` rolls out one step at a time, feeding each prediction
    back as the newest frame (linear cost in the horizon). With
    ``out_channels < in_channels`` only the first ``out_channels`` features
    are predicted; the fed-back frame is built by the rule S-RNN's forecasts
    use (:class:`~srnn_pyg.nn.feedback.Feedback`): with ``derived="velocity"``
    the next features are the predicted ones' first difference, the last
    ``covariates`` features are read from the window's ``u_future`` ``[N, H,
    covariates]`` (covariates known in advance, such as the time of day), the
    others keep their last observed values (held constant over the horizon).
    :meth:`fit_closed_form` extends each window with the frames of its
    targets built by the same rule, so ``y`` may hold the predicted features
    only (``[N, H, out_channels]``, with ``u_future`` for the covariates).

    Masks: inputs of absent node-steps (``node_mask`` false) are zeroed and
    their outputs are zero; a node absent at the last observed step forecasts
    zeros. In :meth:`fit_closed_form` a pair enters the fit only when its
    target and all ``p`` frames of its history are present (``node_mask`` on
    ``x``, ``y_mask`` on ``y``, else ``node_mask``'s last step held over
    ``y``; a frame built from ``y`` that reads the last observed step, its
    held features or its first velocity, counts as absent for a node absent
    there), and the padded first steps are not used.

    Args:
        schema (STSchema, optional): unused, accepted for the common interface.
        in_channels (int): input features ``F``.
        out_channels (int): predicted features: the first ``out_channels`` of
            the input's features, so ``out_channels <= in_channels``.
        lags (int, optional): the order ``p``: frames of history per
            prediction. (default: :obj:`4`)
        per_node (bool, optional): one coefficient set per node index within a
            graph instead of one pooled set. (default: :obj:`False`)
        ridge (float, optional): the ridge penalty :math:`\lambda \ge 0` of
            :meth:`fit_closed_form`, added to the diagonal of the normal
            equations (bias included). (default: :obj:`1e-6`)
        num_nodes (int, optional): nodes per graph for ``per_node=True``;
            :obj:`None` takes it from the first data. Ignored when pooled.
            (default: :obj:`None`)
        covariates (int, optional): the last ``covariates`` input features
            are known in advance and read from ``u_future`` in forecasts and
            in the closed-form fit, as S-RNN's ``covariates``. (default: :obj:`0`)
        derived (str, optional): :obj:`None` or ``"velocity"``: input
            features ``[out, 2 out)`` are the first difference of the predicted
            ones times ``velocity_scale``, rebuilt so in the fed-back frames,
            as S-RNN's ``derived``. (default: :obj:`None`)
        velocity_scale (float, optional): the scale of the derived
            velocities. (default: :obj:`1.0`)

    Shapes:
        - **input:** :class:`~srnn_pyg.STData` with ``x`` ``[N, T, F]``,
          optional ``node_mask`` ``[N, T]``; batches of any graphs (pooled) or
          of graphs of ``num_nodes`` nodes each (``per_node``)
        - **weight:** ``[out_channels, lags, in_channels]`` (pooled) or
          ``[num_nodes, out_channels, lags, in_channels]``; ``weight[..., k, :]``
          multiplies the frame ``k`` steps before the newest
        - **bias:** ``[out_channels]`` or ``[num_nodes, out_channels]``
        - **forward:** ``[N, T, out_channels]``, at step ``t`` the prediction
          for ``t + 1``
        - **forecast:** ``[N, horizon, out_channels]``
    """

    def __init__(self, schema: Optional[STSchema], in_channels: int, out_channels: int, *,
                 lags: int = 4, per_node: bool = False, ridge: float = 1e-6,
                 num_nodes: Optional[int] = None, covariates: int = 0, derived: Optional[str] = None,
                 velocity_scale: float = 1.0):
        super().__init__(schema, in_channels, out_channels)
        if out_channels > in_channels:
            raise ValueError(f"LinearAR: 'out_channels' must be <= in_channels={in_channels} "
                             f"(got {out_channels})")
        self.feedback = Feedback(in_channels, out_channels, covariates, derived, velocity_scale, owner="LinearAR")
        self.covariates, self.derived, self.velocity_scale = covariates, derived, self.feedback.velocity_scale
        lags, per_node = count("LinearAR", "lags", lags), flag("LinearAR", "per_node", per_node)
        ridge = real("LinearAR", "ridge", ridge)
        num_nodes = count("LinearAR", "num_nodes", num_nodes, optional=True, meaning="set by the first fit")
        self.lags, self.per_node, self.ridge = lags, per_node, float(ridge)
        self.num_nodes: Optional[int] = None
        if per_node:
            self.register_parameter("weight", None)                         # built by _build
            self.register_parameter("bias", None)
            if num_nodes is not None:
                self._build(num_nodes)
        else:
            self.weight = nn.Parameter(torch.empty(out_channels, lags, in_channels))
            self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    # ------------------------------------------------------------ building
    def _build(self, num_nodes: int, device: Optional[torch.device] = None,
               dtype: Optional[torch.dtype] = None) -> None:
        kw = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(num_nodes, self.out_channels, self.lags,
                                               self.in_channels, **kw))
        self.bias = nn.Parameter(torch.empty(num_nodes, self.out_channels, **kw))
        self.num_nodes = num_nodes
        if "model_args" in self.__dict__:          # built lazily: the record now rebuilds this size
            self.model_args["num_nodes"] = num_nodes
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Reset to the last-value (persistence) model."""
        if self.weight is None:
            return
        with torch.no_grad():
            self.weight.zero_()
            self.bias.zero_()
            eye = torch.eye(self.out_channels, self.in_channels, dtype=self.weight.dtype,
                            device=self.weight.device)
            self.weight[..., 0, :] = eye

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A fresh per-node model without num_nodes learns it from the checkpoint.
        bias = state_dict.get(prefix + "bias")
        if self.per_node and self.num_nodes is None and isinstance(bias, Tensor) and bias.dim() == 2:
            self._build(bias.size(0), bias.device, bias.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # ------------------------------------------------------------- helpers
    def _node_index(self, data: STData, N: int, device: torch.device) -> Optional[Tensor]:
        """Per node, its index within its graph (``per_node`` only; a host
        sync), building the parameters on first use. In a
        :class:`~srnn_pyg.loader.OneHopLoader` batch (a subgraph), a node's
        index is its id in the whole graph (``n_id``), taken within its
        window when the loader's graph is a batch of windows (``batch``)."""
        if not self.per_node:
            return None
        if seed_count(data, "LinearAR") is not None:
            return one_hop_node_index("LinearAR", data, self.num_nodes, device)[0]
        ptr, batch = data.get("ptr"), data.get("batch")
        if ptr is not None:
            sizes: List[int] = (ptr[1:] - ptr[:-1]).tolist()
        elif batch is not None and batch.numel() > 0:
            if bool((batch[1:] < batch[:-1]).any()):
                raise ValueError("LinearAR: 'batch' must be sorted, each graph's nodes contiguous")
            sizes = torch.bincount(batch).tolist()
        else:
            sizes = [N]
        if len(set(sizes)) > 1:
            raise ValueError(f"LinearAR: per_node=True fits one coefficient set per node index, so all "
                             f"graphs of a batch must have the same number of nodes (got a batch "
                             f"mixing graph sizes {sorted(set(sizes))})")
        n = sizes[0]
        if self.num_nodes is None:
            self._build(n, device)
        elif n != self.num_nodes:
            raise ValueError(f"LinearAR: 'num_nodes' is {self.num_nodes} (fixed at construction or by "
                             f"the first data) but the graph has {n} nodes")
        return torch.arange(N, device=device) % n

    def _history(self, x: Tensor) -> Tensor:
        """``x`` ``[N, T, F]`` -> ``[N, T, lags, F]``: at step ``t`` the frames
        ``t, t-1, ..., t-lags+1``, the first frame repeated before the start."""
        pad = x[:, :1].expand(-1, self.lags - 1, -1)
        padded = torch.cat([pad, x], dim=1)                                 # [N, T+lags-1, F]
        win = padded.unfold(1, self.lags, 1)                                # [N, T, F, lags], oldest first
        return win.flip(-1).transpose(-1, -2)                               # [N, T, lags, F], newest first

    def _predict(self, hist: Tensor, idx: Optional[Tensor]) -> Tensor:
        """Histories ``[N, t, lags, F]`` -> predictions ``[N, t, out]``."""
        if idx is None:
            return torch.einsum("ntkf,okf->nto", hist, self.weight) + self.bias
        return (torch.einsum("ntkf,nokf->nto", hist, self.weight[idx])
                + self.bias[idx].unsqueeze(1))

    # --------------------------------------------------------------- model
    def forward(self, data: STData) -> Tensor:
        x = self._check_input(data)
        idx = self._node_index(data, x.size(0), x.device)
        m = data.get("node_mask")
        x = select(m, x)                                                   # absent steps: zeros
        out = self._predict(self._history(x), idx)                         # [N, T, out]
        return select(m, out)

    def forecast(self, data: STData, horizon: int) -> Tensor:
        x = self._check_input(data, horizon)
        idx = self._node_index(data, x.size(0), x.device)
        m = data.get("node_mask")
        x = select(m, x)                                                   # absent steps: zeros
        keep = self._last_node_mask(data)                                  # [N, 1, 1] or None
        self.feedback.check_future(data, horizon)
        hist = self._history(x[:, -self.lags:])[:, -1:]                    # [N, 1, lags, F]
        preds = []
        for h in range(horizon):
            step = self._predict(hist, idx)                                # [N, 1, out]
            step = select(keep, step)
            preds.append(step)
            if h + 1 < horizon:                                            # the next input frame
                frame = self.feedback.step(step, hist[:, :, 0], data, h)   # [N, 1, F]
                frame = select(keep, frame)                                # absent nodes: zeros, as read
                hist = torch.cat([frame.unsqueeze(2), hist[:, :, :-1]], dim=2)   # newest first
        return torch.cat(preds, dim=1)                                     # [N, H, out]

    # ---------------------------------------------------------- closed form
    def _pairs(self, data: STData) -> Tuple[Tensor, Tensor, Tensor, Optional[Tensor]]:
        """Teacher-forcing pairs of one window: histories ``[N, S, lags, F]``,
        targets ``[N, S, out]``, validity ``[N, S]`` and node indices."""
        x = self._check_input(data)
        y = data.get("y")
        seq, present = x, data.get("node_mask")
        if y is not None:
            F = x.size(-1)
            widths = sorted({F, self.out_channels})
            if not isinstance(y, Tensor) or y.dim() != 3 or y.size(-1) not in widths \
                    or not y.is_floating_point():
                got = list(y.shape) if isinstance(y, Tensor) else type(y).__name__
                raise ValueError(f"LinearAR: fit_closed_form regresses the frames of concat(x, y), so "
                                 f"'y' must be [N, H, F] float values with the F={F} features of 'x'"
                                 + (f" or the {self.out_channels} predicted ones" if len(widths) > 1 else "")
                                 + f" (got {got})")
            y = y.to(x.dtype)
            rebuilt = y.size(-1) != F
            if rebuilt:                                                    # the targets' input frames
                y = self.feedback.frames(y, data)
            seq = torch.cat([x, y], dim=1)                                  # [N, T+H, F]
            nm, ym = data.get("node_mask"), data.get("y_mask")
            if nm is not None or ym is not None:
                past = nm if nm is not None else torch.ones_like(x[..., 0], dtype=torch.bool)
                if ym is not None:
                    future = ym.to(torch.bool)
                    if rebuilt and nm is not None:                         # frames read x's last step
                        future = future & self.feedback.frames_present(nm[:, -1:], y.size(1))
                elif nm is not None:
                    future = nm[:, -1:].expand(-1, y.size(1))
                else:
                    future = torch.ones_like(y[..., 0], dtype=torch.bool)
                present = torch.cat([past, future], dim=1)                 # [N, T+H]
        idx = self._node_index(data, x.size(0), x.device)
        N, L, _ = seq.shape
        S = L - self.lags                                                   # pairs with a full history
        if S <= 0:
            empty = seq.new_zeros(N, 0)
            return seq.new_zeros(N, 0, self.lags, seq.size(-1)), seq.new_zeros(N, 0, self.out_channels), \
                empty.bool(), idx
        valid = torch.ones(N, L, dtype=torch.bool, device=seq.device) if present is None \
            else present.to(torch.bool)
        if present is not None:
            seq = select(valid, seq)                                        # NaN-safe: masks select
        hist = seq[:, :-1].unfold(1, self.lags, 1).flip(-1).transpose(-1, -2)   # [N, S, lags, F]
        ok = valid[:, :-1].unfold(1, self.lags, 1).all(-1) & valid[:, self.lags:]  # [N, S]
        return hist, seq[:, self.lags:, : self.out_channels], ok, idx

    @torch.no_grad()
    def fit_closed_form(self, loader_or_data: Union[STData, Iterable[STData]]) -> "LinearAR":
        r"""Set the coefficients to the ridge least-squares solution

        .. math::
            \min_{\mathbf{W}, \mathbf{b}} \sum \big\|\mathbf{x}_{t+1} - \mathbf{b}
            - \textstyle\sum_k \mathbf{W}_k \mathbf{x}_{t-k+1}\big\|^2
            + \lambda \big(\|\mathbf{W}\|^2 + \|\mathbf{b}\|^2\big)

        over every teacher-forcing pair of every window (pooled: all nodes
        together; ``per_node``: each node index on its own), in float64; in a
        :class:`~srnn_pyg.loader.OneHopLoader` batch, of its seed nodes only
        (its other nodes are other batches' seeds), so that one pass over the
        loader fits what the whole graph fits. With
        ``per_node``, a node index that has no pair gets the ridge solution of
        no data: zero coefficients (it predicts zeros).

        Args:
            loader_or_data: one :class:`~srnn_pyg.STData` (or batch), or an
                iterable of them such as a :class:`~torch_geometric.loader.DataLoader`;
                ``y`` ``[N, H, F]`` (or ``[N, H, out_channels]``, its frames
                built as a forecast builds them), where present, extends each window.

        Returns:
            the model itself, fitted.

        Raises:
            ValueError: if no pair has a full present history and target, or
                a value a pair reads is NaN or infinite.
        """
        if isinstance(loader_or_data, BaseData):
            items: Iterable[STData] = [loader_or_data]  # type: ignore[list-item]
        else:
            items = loader_or_data
        D = self.lags * self.in_channels + 1
        gram: Optional[Tensor] = None                                      # [G, D, D]
        cross: Optional[Tensor] = None                                     # [G, D, out]
        count = 0
        for data in items:
            hist, target, ok, idx = self._pairs(data)
            seeds = seed_count(data, "LinearAR")
            if seeds is not None:                                          # count each node once per pass
                ok = ok.clone()
                ok[seeds:] = False
            N, S = ok.shape
            z = torch.cat([hist.reshape(N, S, D - 1), torch.ones_like(hist[..., 0, :1])], dim=-1)
            z = select(ok, z.double())                                     # [N, S, D], invalid rows zero
            t = select(ok, target.double())                                # [N, S, out]
            count += int(ok.sum())
            if idx is None:
                g = torch.einsum("nsd,nse->de", z, z).unsqueeze(0)
                c = torch.einsum("nsd,nso->do", z, t).unsqueeze(0)
            else:
                G = self.num_nodes
                g = z.new_zeros(G, D, D).index_add_(0, idx, torch.einsum("nsd,nse->nde", z, z))
                c = z.new_zeros(G, D, self.out_channels).index_add_(0, idx, torch.einsum("nsd,nso->ndo", z, t))
            g, c = g.cpu(), c.cpu()
            gram = g if gram is None else gram + g
            cross = c if cross is None else cross + c
        if gram is None or count == 0:
            raise ValueError(f"LinearAR: 'loader_or_data' holds no teacher-forcing pair (a present history "
                             f"of lags={self.lags} frames followed by a present frame)")
        if not bool(torch.isfinite(gram).all() and torch.isfinite(cross).all()):
            raise ValueError("LinearAR: fit_closed_form needs finite values in every pair it fits: 'x', 'y' and "
                             "'u_future' where 'node_mask'/'y_mask' say present (got NaN or Inf); mask the "
                             "missing values out")
        eye = torch.eye(D, dtype=gram.dtype)
        # the SVD driver: the default (QR with pivoting, "gelsy") gave solutions of these ill-conditioned systems
        # (collinear lags; condition number about 4e9 on Chickenpox) that changed in their 7th digit with the
        # process's memory history, so a seed's training from init_linear was not reproducible run to run
        sol = torch.linalg.lstsq(gram + self.ridge * eye, cross, driver="gelsd").solution  # [G, D, out]
        sol = sol.transpose(-1, -2)                                        # [G, out, D]
        weight = sol[..., :-1].reshape(-1, self.out_channels, self.lags, self.in_channels)
        bias = sol[..., -1]
        if not self.per_node:
            weight, bias = weight[0], bias[0]
        self.weight.copy_(weight.to(self.weight.device, self.weight.dtype))
        self.bias.copy_(bias.to(self.bias.device, self.bias.dtype))
        return self

    def __repr__(self) -> str:
        extra = f", num_nodes={self.num_nodes}" if self.per_node else ""
        extra += f", covariates={self.covariates}" if self.covariates else ""
        extra += f", derived={self.derived!r}" if self.derived else ""
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, lags={self.lags}, "
                f"per_node={self.per_node}{extra})")
