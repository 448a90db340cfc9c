"""Plug Structural-RNN into an existing PyG pipeline; no data files needed.

A small road network with two kinds of sensors (highway and street) is built
in networkx and its speeds are simulated (daily rush hours plus incidents
whose congestion spreads to neighbouring sensors). The example then walks
through what a PyG user does with their own data:

1. declare a custom schema (2 node types, 3 edge types) and convert the graph
   (``from_networkx``) or a PyG Temporal-style signal (``from_temporal_signal``:
   a stand-in with ``edge_index``, ``edge_weight``, ``features``, ``targets``,
   like PyG Temporal's ``StaticGraphTemporalSignal``) into an ``STData``;
2. cut it into (observed, future) windows with ``srnn_pyg.TimeWindows`` and
   batch them with ``torch_geometric.loader.DataLoader``;
3. train an S-RNN for a few epochs (one-step-ahead teacher forcing);
4. use S-RNN's ``embed()`` (the nodeRNN states) as the encoder of a larger PyG
   model: a ``torch_geometric.nn.GCNConv`` head that predicts the whole horizon
   at once, fine-tuned end to end;
5. forecast the test part and compare with NodeLSTM and the last value.

    python examples/pyg_pipeline.py             # well under a minute on a laptop CPU
    python examples/pyg_pipeline.py --full      # a longer simulation, bigger models
    python examples/pyg_pipeline.py --smoke     # seconds: a check that it runs
"""
import argparse
import copy
import os
import time

import networkx as nx
import numpy as np
import torch
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv
from tqdm import tqdm

from srnn_pyg import STSchema, TimeWindows, from_networkx, from_temporal_signal
from srnn_pyg.metrics import per_horizon
from srnn_pyg.models import StructuralRNN, build

STEPS_PER_DAY = 288                                  # 5-minute steps
FREE_FLOW = {"highway": 65.0, "street": 30.0}        # mph


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=int, default=8, help="simulated days; the last quarter is the test part")
    p.add_argument("--highway", type=int, default=8, help="highway sensors, each with 2 street sensors")
    p.add_argument("--obs", type=int, default=12, help="observed steps per window (default: 12)")
    p.add_argument("--horizon", type=int, default=6, help="forecast steps (default: 6 = 30 min)")
    p.add_argument("--epochs", type=int, default=8, help="S-RNN and NodeLSTM epochs (default: 8)")
    p.add_argument("--head-epochs", type=int, default=5, help="epochs for the GCN head (default: 5)")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default: 1)")
    p.add_argument("--out", default=os.path.join("runs", "examples", "pyg_pipeline_forecast.png"),
                   help="picture to write (default: runs/examples/pyg_pipeline_forecast.png)")
    p.add_argument("--full", action="store_true", help="28 days, hidden 64, 10 + 6 epochs")
    p.add_argument("--smoke", action="store_true", help="a tiny run that only checks the pipeline")
    args = p.parse_args()
    if args.full:
        args.days, args.hidden, args.epochs, args.head_epochs = 28, 64, 10, 6
    if args.smoke:
        args.days, args.highway, args.epochs, args.head_epochs, args.hidden = 1, 3, 1, 1, 8
    return args


# ------------------------------------------------------------------ the data
def road_network(num_highway):
    """A highway (a chain of sensors) with two street sensors at each exit;
    streets of neighbouring exits are joined. Edge weights: 1 / distance."""
    g = nx.Graph()
    for i in range(num_highway):
        g.add_node(f"h{i}", type="highway")
        for side in "ab":
            g.add_node(f"s{i}{side}", type="street")
            g.add_edge(f"h{i}", f"s{i}{side}", weight=1.0)
        if i > 0:
            g.add_edge(f"h{i - 1}", f"h{i}", weight=0.5)
            g.add_edge(f"s{i - 1}a", f"s{i}a", weight=0.8)
            g.add_edge(f"s{i - 1}b", f"s{i}b", weight=0.8)
    return g


def simulate(g, steps, rng):
    """Speeds ``[T, N]`` (mph): free flow, minus rush-hour demand, minus congestion
    that incidents start and the graph spreads (a damped diffusion)."""
    nodes = list(g.nodes)
    kind = [g.nodes[n]["type"] for n in nodes]
    free = np.array([FREE_FLOW[k] for k in kind])
    adj = nx.to_numpy_array(g, nodelist=nodes, weight="weight")
    spread = adj / adj.sum(1, keepdims=True)                                   # row-normalised
    hour = (np.arange(steps) % STEPS_PER_DAY) * 24.0 / STEPS_PER_DAY
    rush = np.exp(-0.5 * ((hour - 8.0) / 1.0) ** 2) + 0.8 * np.exp(-0.5 * ((hour - 17.5) / 1.3) ** 2)
    scale = np.array([0.45 if k == "highway" else 0.3 for k in kind]) * free  # [N]
    jam, speeds = np.zeros(len(nodes)), np.empty((steps, len(nodes)))
    for t in range(steps):
        shock = np.zeros(len(nodes))
        if rng.random() < 0.04:                                               # an incident every ~2 hours
            shock[rng.integers(len(nodes))] = rng.uniform(10.0, 25.0)
        jam = 0.8 * jam + 0.17 * spread @ jam + shock
        speeds[t] = free - rush[t] * scale - np.minimum(jam, 0.8 * free) + rng.normal(0, 0.5, len(nodes))
    return np.clip(speeds, 3.0, None)


class TemporalSignal:
    """A stand-in for PyG Temporal's ``StaticGraphTemporalSignal``: one graph,
    a list of per-step node features and targets (here the next step's speed)."""

    def __init__(self, edge_index, edge_weight, features, targets):
        self.edge_index, self.edge_weight = edge_index, edge_weight
        self.features, self.targets = features, targets


def main():
    args = parse_args()
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    # 1. A custom schema and the graph, from networkx. Undirected edge types:
    # both directions share one edgeRNN, as in the S-RNN paper.
    schema = STSchema(["highway", "street"],
                      [("highway", "highway"), ("highway", "street"), ("street", "street")])
    g = road_network(args.highway)
    speed = simulate(g, args.days * STEPS_PER_DAY, rng)                       # [T, N] mph
    T, N = speed.shape
    split = T - T // 4                                                        # the last quarter: test
    mean, std = speed[:split].mean(), speed[:split].std()
    x = torch.from_numpy((speed - mean) / std).float().t().unsqueeze(-1)      # [N, T, 1] normalised
    graph = from_networkx(g, x=x, schema=schema)                             # STData, validated

    # ... or from a PyG Temporal signal over the same graph (what a PyG
    # Temporal user already has); its edge weights become edge_attr [E, T, 1].
    names = list(g.nodes)
    weight = np.array([g.edges[names[s], names[d]]["weight"] for s, d in graph.edge_index.t().tolist()])
    signal = TemporalSignal(graph.edge_index.numpy(), weight,
                            features=[x[:, t].numpy() for t in range(T)],
                            targets=[x[:, min(t + 1, T - 1), 0].numpy() for t in range(T)])
    recording = from_temporal_signal(signal, schema=schema, node_type=graph.node_type)
    assert torch.equal(recording.x, graph.x) and torch.equal(recording.edge_type, graph.edge_type)
    print(f"graph: {N} sensors ({int((graph.node_type == 0).sum())} highway), {graph.num_edges} directed "
          f"edges, {T} steps\nschema: {schema}\nrecording: {recording}")

    # 2. Windows over the training and test parts, batched by PyG's DataLoader.
    train = TimeWindows(recording.window(0, split), args.obs, args.horizon, stride=2)
    test = TimeWindows(recording.window(split, T - split), args.obs, args.horizon, stride=1)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    print(f"train windows: {train}\ntest windows:  {test}")

    # 3. S-RNN (and the NodeLSTM baseline), one-step-ahead teacher forcing.
    h = args.hidden
    srnn = StructuralRNN(schema, 1, 1, edge_hidden=h, node_hidden=h, edge_mlp=(h,), node_mlp=(h,),
                         residual=True)
    node_lstm = build("node_lstm", schema, 1, 1, hidden=h, residual=True)
    start = time.perf_counter()
    for name, model in (("S-RNN", srnn), ("NodeLSTM", node_lstm)):
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        for epoch in tqdm(range(args.epochs), desc=name, leave=False):
            for batch in loader:
                seq = torch.cat([batch.x, batch.y], dim=1)                    # [B*N, obs + H, 1]
                batch.x = seq[:, :-1]
                loss = (model(batch) - seq[:, 1:]).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
        print(f"{name}: last batch loss {loss.item():.4f}")

    # 4. S-RNN as a layer: its nodeRNN states feed a GCN head; a copy of the
    # trained S-RNN is fine-tuned end to end with it (the original is kept for
    # the comparison below).
    head_model = SRNNGCNForecaster(copy.deepcopy(srnn), args.horizon)
    opt = torch.optim.Adam(head_model.parameters(), lr=args.lr)
    for epoch in tqdm(range(args.head_epochs), desc="S-RNN + GCN head", leave=False):
        for batch in loader:
            loss = (head_model(batch) - batch.y).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head_model.parameters(), 1.0)
            opt.step()
    print(f"S-RNN + GCN head: last batch loss {loss.item():.4f}")
    print(f"trained in {time.perf_counter() - start:.0f} s")

    # 5. Forecast every test window; errors in mph.
    batch = next(iter(DataLoader(test, batch_size=len(test))))
    models = {"S-RNN": srnn, "S-RNN + GCN head": head_model, "NodeLSTM": node_lstm,
              "LastValue": build("zero_velocity", schema, 1, 1)}
    preds = {}
    with torch.no_grad():
        for name, model in models.items():
            model.eval()
            preds[name] = model.forecast(batch, args.horizon) * std          # [W*N, H, 1], mph - mean
    target = batch.y * std                                                    # mph - mean
    steps = sorted({1, args.horizon // 2, args.horizon} - {0})
    print(f"\nforecast error on {len(test)} test windows x {N} sensors (mph); step = 5 min")
    header = f"{'model':<18}" + "".join(f"{f'MAE@{s}':>9}" for s in steps) + \
        "".join(f"{f'RMSE@{s}':>9}" for s in steps)
    print(header + "\n" + "-" * len(header))
    for name, pred in preds.items():
        mae, rmse = per_horizon("mae", pred, target), per_horizon("rmse", pred, target)
        print(f"{name:<18}" + "".join(f"{float(mae[s - 1]):>9.2f}" for s in steps)
              + "".join(f"{float(rmse[s - 1]):>9.2f}" for s in steps))
    plot(batch, preds, mean, std, N, names, split, args.out)


class SRNNGCNForecaster(torch.nn.Module):
    """S-RNN as an encoder inside a PyG model: the nodeRNN states at the last
    observed step go through a GCNConv (with the edge weights) and a linear
    layer that predicts the change over the whole horizon at once."""

    def __init__(self, srnn, horizon, hidden=32):
        super().__init__()
        self.srnn, self.horizon = srnn, horizon
        self.conv = GCNConv(srnn.node_hidden, hidden)
        self.lin = torch.nn.Linear(hidden, horizon)

    def forward(self, data):
        h = self.srnn.embed(data)[:, -1]                                      # [N, node_hidden]
        w = data.edge_attr[:, -1, 0] if data.get("edge_attr") is not None else None  # [E]
        z = self.conv(h, data.edge_index, w).relu()                           # [N, hidden]
        return data.x[:, -1:] + self.lin(z).unsqueeze(-1)                     # [N, horizon, 1]

    def forecast(self, data, horizon):
        """The same call as the library's models (one fixed horizon here)."""
        if horizon != self.horizon:
            raise ValueError(f"SRNNGCNForecaster: trained for horizon {self.horizon} (got {horizon})")
        return self(data)


def plot(batch, preds, mean, std, N, names, start, path, clock=(7, 30)):
    """The test window whose last observed step is at 7:30 (the morning rush
    builds up): observed, true and forecast speeds of four sensors."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return
    W = batch.num_graphs
    y = batch.y.view(W, N, -1) * std + mean                                  # [W, N, H] mph
    x = batch.x.view(W, N, -1) * std + mean                                  # [W, N, obs]
    obs, H = x.size(-1), y.size(-1)
    step = (clock[0] * 60 + clock[1]) // 5
    w = (step - (start + obs - 1)) % STEPS_PER_DAY                           # window ending at that time
    w = w if w < W else 0
    wanted = ["h0", f"h{sum(n.startswith('h') for n in names) // 2}", "s0a", "s1b"]
    nodes = [names.index(n) for n in wanted if n in names]
    t_obs, t_fut = np.arange(-obs + 1, 1) * 5, np.arange(1, H + 1) * 5
    fig, axes = plt.subplots(1, len(nodes), figsize=(3.4 * len(nodes), 3.4), squeeze=False)
    for ax, n in zip(axes[0], nodes):
        ax.plot(t_obs, x[w, n], color="black", lw=1, label="observed")
        ax.plot(t_fut, y[w, n], color="black", lw=2, label="true")
        for (name, p), color in zip(preds.items(), ("C0", "C2", "C1", "grey")):
            ax.plot(t_fut, (p.view(W, N, -1)[w, n] + mean).numpy(), color=color,
                    ls=":" if name == "LastValue" else "--", label=name)
        ax.axvline(0, color="grey", lw=0.5)
        kind = "highway" if names[n].startswith("h") else "street"
        ax.set_title(f"sensor {names[n]} ({kind})", fontsize=10)
        ax.set_xlabel("minutes after the last observed step")
    axes[0, 0].set_ylabel("speed (mph)")
    axes[0, 0].legend(fontsize=7, title="line style", title_fontsize=7)
    end = (start + w + obs - 1) % STEPS_PER_DAY * 5
    fig.suptitle(f"Simulated road network: the test window ending at {end // 60}:{end % 60:02d}, "
                 f"{H * 5}-minute forecasts")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
