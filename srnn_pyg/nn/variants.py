"""The option checks of :class:`~srnn_pyg.nn.SRNNLayer`: one value among
several (:func:`choice`), and the settings each ``variant`` implies for the
options left :obj:`None` (:func:`variant_options`)."""
from __future__ import annotations

from typing import Optional, Sequence

from .args import is_bool, real

__all__ = ["choice", "VARIANT_ITEMS", "variant_options"]


def choice(owner: str, name: str, value: object, options: Sequence[object]) -> None:
    """Raise a ``ValueError`` naming ``owner`` and the argument unless ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{owner}: '{name}' must be one of {list(options)} (got {value!r})")


#: The settings each variant implies for the item switches left :obj:`None`.
VARIANT_ITEMS = {
    "paper": dict(fused_lstm=True, temporal_lstm=False, linear_encoder=True, node_input_x=False, init="uniform"),
    "improved": dict(fused_lstm=False, temporal_lstm=True, linear_encoder=True, node_input_x=True, init="uniform"),
}


def variant_options(name: str, variant: str, spatial_features: Optional[str], temporal_features: Optional[str],
                    cell: Optional[str], lstm_grad_clip: Optional[float], init: Optional[str],
                    items: dict) -> dict:
    """The settings ``variant`` implies for every option left :obj:`None`
    (``"improved"``: this library's; ``"paper"``: the official code's), checked."""
    choice(name, "variant", variant, ("improved", "paper"))
    paper = variant == "paper"
    if spatial_features is None:
        spatial_features = "concat_typed" if paper else "concat"
    if temporal_features is None:
        temporal_features = "x" if paper else "concat_diff"
    if cell is None:
        cell = "peephole" if paper else "lstm"
    choice(name, "cell", cell, ("lstm", "gru", "peephole"))
    items = dict(items)
    # The improved variant shares two of the official items, chosen on validation data (a linear
    # last encoder layer and the uniform init: docs/accuracy.md); before version 0.2 it had neither.
    defaults = VARIANT_ITEMS[variant]
    for key, value in items.items():
        if value is None:
            items[key] = defaults[key]
        elif not is_bool(value):
            raise TypeError(f"{name}: '{key}' must be a bool (a NumPy one too) or None, meaning the "
                            f"variant's setting (got {value!r})")
        else:
            items[key] = bool(value)
    if init is None:
        init = defaults["init"]
    choice(name, "init", init, ("default", "uniform"))
    if lstm_grad_clip is None and paper and cell == "peephole":
        lstm_grad_clip = 25.0
    if lstm_grad_clip is not None:
        lstm_grad_clip = real(name, "lstm_grad_clip", lstm_grad_clip, strict=True)
    if lstm_grad_clip is not None and cell != "peephole":
        raise ValueError(f"{name}: 'lstm_grad_clip' clips the gradient through the peephole cell's state "
                         f"at every step; PyTorch's fused LSTM and GRU expose no per-step gradient "
                         f"(got cell={cell!r}, lstm_grad_clip={lstm_grad_clip!r})")
    return dict(items, spatial_features=spatial_features, temporal_features=temporal_features, cell=cell,
                lstm_grad_clip=lstm_grad_clip, init=init)
