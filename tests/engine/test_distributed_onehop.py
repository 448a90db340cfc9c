"""srnn_pyg.engine.distributed with one-hop seed batches: shards of seed nodes, and DDP with two
Gloo processes equal to one process reading the union of their batches."""
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from engine_helpers import strip

from srnn_pyg.engine import TrainConfig, evaluate, fit
from srnn_pyg.engine.distributed import DistContext, ShardSampler, eval_loader, train_loader
from srnn_pyg.engine.rng import SeededRandomSampler
from srnn_pyg.loader import OneHopLoader, seed_nodes
from srnn_pyg.models import StructuralRNN
from srnn_pyg.testing import fake_schema, fake_st_data

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(edge_hidden=6, node_hidden=5, edge_mlp=(7,), node_mlp=(4,))
TRAIN_SEEDS, VAL_SEEDS = list(range(28)), list(range(28, 35))     # 14 train seeds per rank; 7 to validate


def _graph():
    """A random typed graph as one window (``y``: 2 future frames), without masks: every seed
    weighs the same in a batch's mean loss, so equal batches on each rank weigh the same."""
    return fake_st_data(36, 5, 3, schema=fake_schema(with_relations=True), num_edges=140, horizon=2,
                        generator=torch.Generator().manual_seed(4))


def _model(schema, seed=1):
    torch.manual_seed(seed)
    return StructuralRNN(schema, 3, 3, **SMALL)


# ------------------------------------------------------------------ shards, in one process
@pytest.mark.parametrize("n,world", [(24, 2), (23, 2), (23, 3), (5, 4)])
def test_shards_are_disjoint_equal_and_seeded(n, world):
    def shards(epoch, seed=7, shuffle=True):
        out = []
        for rank in range(world):
            s = ShardSampler(n, rank, world, seed, shuffle=shuffle)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    for shuffle in (True, False):
        parts = shards(0, shuffle=shuffle)
        flat = [i for p in parts for i in p]
        assert len(set(flat)) == len(flat) == world * (n // world)         # no seed twice, n mod w left out
        assert all(len(p) == n // world == len(ShardSampler(n, 0, world, 7)) for p in parts)
        assert parts == shards(0, shuffle=shuffle)                          # a function of (seed, epoch)
    assert shards(0) != shards(1) and shards(0) != shards(0, seed=8)        # epoch- and seed-dependent
    assert shards(0, shuffle=False) == shards(1, shuffle=False)
    assert shards(0, shuffle=False)[0] == list(range(0, world * (n // world), world))


def test_shard_batches_together_are_one_process_batches():
    # Batch k of every rank together is batch k of one process with w times the batch size.
    n, world, B = 22, 2, 4
    ranks = []
    for rank in range(world):
        s = ShardSampler(n, rank, world, seed=3)
        s.set_epoch(2)
        order = list(s)
        ranks.append([order[i:i + B] for i in range(0, len(order), B)])
    single = SeededRandomSampler(n, 3)
    single.set_epoch(2)
    order = list(single)
    one = [order[i:i + world * B] for i in range(0, n, world * B)]
    assert [sorted(a + b) for a, b in zip(*ranks)] == [sorted(b) for b in one]
    assert [len(b) for b in ranks[0]] == [len(b) for b in ranks[1]] == [4, 4, 3]


def test_train_and_eval_loaders_shard_seed_nodes():
    data = _graph()
    world = 2
    for shuffle in (True, False):
        loader = OneHopLoader(data, 4, shuffle=shuffle, input_nodes=list(range(27)))    # 27 seeds: one sits out
        per_rank = []
        for rank in range(world):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                 # 27 seeds without shuffling: warned below
                rebuilt, sampler = train_loader(loader, 5, DistContext(True, rank, world))
            assert isinstance(sampler, ShardSampler)
            sampler.set_epoch(1)
            per_rank.append([seed_nodes(b).tolist() for b in rebuilt])
        assert [len(b) for b in per_rank[0]] == [len(b) for b in per_rank[1]] == [4, 4, 4, 1]
        seen = [i for r in per_rank for b in r for i in b]
        assert len(seen) == len(set(seen)) == 26
        assert not shuffle or seen != sorted(seen)
    # evaluation: every seed exactly once, whatever the ranks' batch counts
    val = OneHopLoader(data, 3, input_nodes=VAL_SEEDS)
    scored = [seed_nodes(b).tolist() for r in range(world) for b in eval_loader(val, DistContext(True, r, world))]
    assert sorted(i for b in scored for i in b) == VAL_SEEDS
    assert eval_loader(val, DistContext()) is val


def test_shard_errors_name_the_argument():
    data = _graph()
    with pytest.raises(ValueError, match="'train_loader' has 1 seed node\\(s\\), fewer than the 2 processes"):
        train_loader(OneHopLoader(data, 4, input_nodes=[3]), 0, DistContext(True, 0, 2))
    with pytest.raises(ValueError, match="'filter_per_worker' must be True"):      # refused when built ...
        OneHopLoader(data, 4, filter_per_worker=False)
    loader = OneHopLoader(data, 4)
    loader.filter_per_worker = False             # ... and, for any NodeLoader set so, when sharded
    with pytest.raises(ValueError, match="filter_per_worker=False"):
        train_loader(loader, 0, DistContext(True, 0, 2))
    with pytest.warns(UserWarning, match="the last 1 \\(in the loader's order\\) are never trained on"):
        train_loader(OneHopLoader(data, 4, input_nodes=list(range(27))), 0, DistContext(True, 0, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_loader(OneHopLoader(data, 4, shuffle=True, input_nodes=list(range(27))), 0, DistContext(True, 0, 2))
    for kw, msg in ((dict(rank=2), r"'rank' must be an int in \[0, 1\] \(got 2\)"),
                    (dict(world=0), r"'world' must be an int >= 1 \(got 0\)")):
        args = dict(n=5, rank=0, world=2, seed=0)
        args.update(kw)
        with pytest.raises(ValueError, match=msg):
            ShardSampler(**args)


# ------------------------------------------------------------------ DDP, two Gloo processes
_DDP_SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    import torch.distributed as dist
    from srnn_pyg.engine import TrainConfig, fit
    from srnn_pyg.loader import OneHopLoader
    from srnn_pyg.models import StructuralRNN
    out, rank = sys.argv[1], os.environ["RANK"]
    dist.init_process_group("gloo")           # one group for the three fits below (fit leaves it open)
    data = torch.load(os.path.join(out, "graph.pt"))
    spec = json.load(open(os.path.join(out, "spec.json")))

    def model():
        torch.manual_seed(int(rank) + 1)      # a different init on each rank: DDP must broadcast rank 0's
        return StructuralRNN(data.schema, 3, 3, **spec["small"])

    def run(m, name, epochs, **kw):
        snaps = []
        config = TrainConfig(epochs=epochs, lr=1e-2, seed=3, distributed=True, device="cpu", progress=False,
                             out_dir=os.path.join(out, name), objective="teacher_forcing", metrics=["loss", "tf_mse"],
                             callbacks=[lambda r: snaps.append({k: v.clone() for k, v in m.state_dict().items()})],
                             **kw)
        train = OneHopLoader(data, spec["batch"], shuffle=True, input_nodes=spec["train"])
        val = OneHopLoader(data, 3, input_nodes=spec["val"])
        return fit(m, train, val, config), snaps

    result, snaps = run(model(), "run_a", 2)
    torch.save(snaps, os.path.join(out, f"epochs{rank}.pt"))
    with open(os.path.join(out, f"history{rank}.json"), "w") as f:
        json.dump(result.to_dict()["history"], f)
    run(model(), "run_b", 1)                                  # stopped after one epoch ...
    m = model()
    run(m, "run_b", 2, resume=True)                           # ... and resumed
    torch.save(m.state_dict(), os.path.join(out, f"resumed{rank}.pt"))
    dist.destroy_process_group()
""")


def test_ddp_one_hop_equals_one_process_on_the_union_of_batches(tmp_path):
    data = _graph()
    torch.save(data, tmp_path / "graph.pt")
    (tmp_path / "spec.json").write_text(json.dumps(dict(small=SMALL, batch=4, train=TRAIN_SEEDS, val=VAL_SEEDS)))
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # the checkout under test comes first, whatever copy of srnn_pyg is installed
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    e0, e1 = torch.load(tmp_path / "epochs0.pt"), torch.load(tmp_path / "epochs1.pt")
    assert len(e0) == len(e1) == 2
    assert all(torch.equal(a[k], b[k]) for a, b in zip(e0, e1) for k in a)        # the ranks agree

    # One process, batches of 2 x 4 seeds on the same seeded order: batch k is the union of the
    # ranks' batches k (ShardSampler). DDP averages the ranks' gradients of their batch-mean
    # losses; with the same number of target entries on each rank (no masks, equal batch sizes)
    # that is the gradient of the mean loss over the union, which the single process computes.
    model = _model(data.schema)
    snaps = []
    config = TrainConfig(epochs=2, lr=1e-2, seed=3, device="cpu", progress=False, objective="teacher_forcing",
                         metrics=["loss", "tf_mse"],
                         callbacks=[lambda r: snaps.append({k: v.clone() for k, v in model.state_dict().items()})])
    single = fit(model, OneHopLoader(data, 8, shuffle=True, input_nodes=TRAIN_SEEDS),
                 OneHopLoader(data, 7, input_nodes=VAL_SEEDS), config)
    for epoch, (ddp, one) in enumerate(zip(e0, snaps), 1):
        for k in one:
            assert torch.allclose(ddp[k], one[k], atol=1e-6, rtol=1e-5), (epoch, k, (ddp[k] - one[k]).abs().max())
    assert any(not torch.equal(snaps[0][k], snaps[1][k]) for k in snaps[0])       # it did train

    h0 = json.loads((tmp_path / "history0.json").read_text())
    h1 = json.loads((tmp_path / "history1.json").read_text())
    assert strip(h0) == strip(h1) and [r["step"] for r in h0] == [4, 8]        # 14 seeds per rank, 4 per batch
    hs = single.history
    for a, b in zip(h0, hs):
        for key in ("train_loss", "val_loss", "val_tf_mse"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
    # the sharded validation (4 and 3 seeds on the two ranks) is that of one process over all 7
    scores = evaluate(model, OneHopLoader(data, 7, input_nodes=VAL_SEEDS), metrics=["loss", "tf_mse"],
                      objective="teacher_forcing")
    assert h0[-1]["val_tf_mse"] == pytest.approx(scores["tf_mse"], rel=1e-5)

    # resume: one epoch, then a resumed second one, gives the weights of two epochs in one go
    r0, r1 = torch.load(tmp_path / "resumed0.pt"), torch.load(tmp_path / "resumed1.pt")
    assert all(torch.equal(r0[k], e0[-1][k]) and torch.equal(r1[k], e0[-1][k]) for k in r0)
