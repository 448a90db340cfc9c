"""Helpers shared by the engine's tests (not collected: no test_ prefix)."""
import inspect

import torch
from torch_geometric.loader import DataLoader

from srnn_pyg.engine import fit
from srnn_pyg.models import Forecaster, build, get

SMALL = dict(edge_hidden=8, node_hidden=8, edge_mlp=(8,), node_mlp=(8,))


def srnn(schema, seed=1, **kw):
    torch.manual_seed(seed)
    return build("srnn", schema, 4, 4, **SMALL, **kw)


def run(model, springs, tmp=None, **kw):
    """``fit`` for two epochs on the small Springs splits (keywords override)."""
    train, val = springs
    args = dict(epochs=2, lr=1e-2, progress=False, device="cpu")
    args.update(kw)
    return fit(model, DataLoader(train, batch_size=8, shuffle=True), DataLoader(val, batch_size=8),
               out_dir=tmp, **args)


def strip(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history]


def walkers(num, seed):
    """Windows of 2-d walkers (4 observed, 3 target steps), one late arrival each."""
    from srnn_pyg import STData, STSchema
    g = torch.Generator().manual_seed(seed)
    schema = STSchema(["walker"], [("walker", "walker")])
    pairs = torch.tensor([(i, j) for i in range(4) for j in range(4) if i != j]).T    # [2, 12]
    out = []
    for _ in range(num):
        walk = torch.cumsum(torch.randn(4, 7, 2, generator=g) * 0.1 + 0.2, dim=1)
        d = STData(x=walk[:, :4], y=walk[:, 4:], edge_index=pairs)
        d.node_mask = torch.ones(4, 4, dtype=torch.bool)
        d.node_mask[0, :2] = False
        d.x = d.x * d.node_mask.unsqueeze(-1)
        d.y_mask = torch.ones(4, 3, dtype=torch.bool)
        out.append(d)
    return schema, out


def small_kwargs(name, train, hidden=8):
    """Small constructor arguments for any registered model: hidden sizes of
    ``hidden`` and the window sizes of models built for them."""
    params = inspect.signature(get(name).__init__).parameters
    kw = {}
    if {"edge_hidden", "node_hidden"} <= set(params):
        kw.update(edge_hidden=hidden, node_hidden=hidden, edge_mlp=(hidden,), node_mlp=(hidden,))
    elif "hidden" in params:
        kw["hidden"] = hidden
    for key, value in (("obs_len", train.obs), ("horizon", train.horizon)):
        if key in params:
            kw[key] = value
    return kw


class Probe(Forecaster):
    """Records the inputs it is trained on (not registered)."""

    def __init__(self):
        super().__init__(None, 4, 4)
        self.lin = torch.nn.Linear(4, 4)
        self.seen = []

    def forward(self, data):
        if self.training:
            self.seen.append(data.x.detach().clone())
        return self.lin(data.x)

    def forecast(self, data, horizon):
        return self.lin(data.x[:, -1:]).expand(-1, horizon, -1)
