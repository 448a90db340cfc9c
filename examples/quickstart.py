"""Quick start: a dataset, an S-RNN, fit, evaluate, and the dataset's own scores.

    python examples/quickstart.py              # about half a minute on one CPU thread
    python examples/quickstart.py --smoke      # seconds: a check that it runs
"""
import argparse
import json
import os

import torch
from torch_geometric.loader import DataLoader

from srnn_pyg import datasets
from srnn_pyg.engine import TrainConfig, collect, evaluate, fit
from srnn_pyg.models import StructuralRNN

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--hidden", type=int, default=32)
parser.add_argument("--graphs", type=int, default=500, help="training systems (default: 500)")
parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
parser.add_argument("--out", default=os.path.join("runs", "examples", "quickstart"),
                    help="folder for scores.json (default: runs/examples/quickstart)")
parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the pipeline")
args = parser.parse_args()
if args.smoke:
    args.epochs, args.hidden, args.graphs = 1, 8, 20
torch.set_num_threads(max(1, args.threads))
torch.manual_seed(0)

# A dataset carries its splits, options and scoring; any name of datasets.available() opens alike.
Springs = datasets.get("springs")
train = Springs.open("train", num_graphs=args.graphs)
val, test = Springs.open("val", train=train), Springs.open("test", train=train)

F = train[0].x.size(-1)                                   # positions and velocities of each particle
model = StructuralRNN(train.schema, F, F, edge_hidden=args.hidden, node_hidden=args.hidden, residual=True)

config = TrainConfig(epochs=args.epochs, lr=3e-3, progress=not args.smoke)
fit(model, DataLoader(train, batch_size=32, shuffle=True), DataLoader(val, batch_size=64), config)

test_loader = DataLoader(test, batch_size=64)
print("evaluate:", evaluate(model, test_loader))          # one-step and rollout errors
scores = test.score(collect(model, test_loader))          # the protocol's metrics (MSE after 1, 10, 20 steps)
print("protocol:", scores)
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "scores.json"), "w") as f:
    json.dump(scores, f, indent=1)
