"""The "bad input" guarantees across the library, end to end: data files whose
values overflow float32 are refused by name and position, and a fuzz of
mutated checkpoints either loads or raises the documented ValueError (no other
exception, no crash). ``SRNN_PYG_FUZZ_LONG=1`` runs a longer fuzz."""
import hashlib
import io
import json
import os
import pickle
import random
import struct

import numpy as np
import pytest
import torch
from engine_helpers import srnn

from srnn_pyg.datasets import DataFormatError
from srnn_pyg.engine import load_checkpoint, load_model, model_record
from srnn_pyg.engine.checkpoints import CHECKPOINT_FORMAT, MAGIC, write_checked

LONG = os.environ.get("SRNN_PYG_FUZZ_LONG") == "1"


# ------------------------------------------------- float32 range in loaders
def test_motion_files_refuse_values_beyond_float32(tmp_path):
    from srnn_pyg.datasets.motion import read_motion_file
    path = tmp_path / "walking_1.txt"
    path.write_text("1.0,2.0,3.0\n4.0,1e39,6.0\n")
    with pytest.raises(DataFormatError, match=r"walking_1\.txt', line 2, column 2: non-finite value 1e\+39 "
                                              r"\(expected finite numbers within float32 range"):
        read_motion_file(path, 3)
    path.write_text("1.0,2.0,3.0\n4.0,1e38,6.0\n")
    assert read_motion_file(path, 3)[1, 1] == 1e38                       # in range: kept


def test_trajectory_files_refuse_values_beyond_float32(tmp_path):
    from srnn_pyg.datasets.eth_ucy import read_tracks
    path = tmp_path / "biwi_eth.txt"
    path.write_text("0\t1\t1.5\t2.5\n10\t1\t-4e38\t2.0\n")
    with pytest.raises(DataFormatError, match=r"biwi_eth\.txt, line 2, column 3: the value is '-4e38' "
                                              r"\(expected a finite number within float32 range"):
        read_tracks(path)


def test_csv_and_json_series_refuse_values_beyond_float32(tmp_path):
    from srnn_pyg.datasets import los_loop
    from srnn_pyg.datasets.temporal_json import matrix
    path = tmp_path / "los_speed.csv"
    path.write_text("1.0,2.0\n3.0,1e39\n")
    with pytest.raises(DataFormatError, match=r"los_speed\.csv, line 2, column 2: the value is '1e39' "
                                              r"\(expected a finite number within float32 range"):
        los_loop._read_csv_matrix(path)
    with pytest.raises(DataFormatError, match=r"x\.json: FX\[1\]\[0\] is 1e\+39 \(expected a finite number "
                                              r"within float32 range"):
        matrix([[1.0, 2.0], [1e39, 0.0]], tmp_path / "x.json", "FX")


def test_pickled_features_refuse_values_beyond_float32(tmp_path):
    from srnn_pyg.datasets.brain4cars import read_file
    feats = np.zeros((4, 2, 13))                                         # [T, S, 13] float64
    feats[2, 1, 5] = 1e39
    labels = np.ones((4, 2), dtype=np.int64)
    path = tmp_path / "fold_1_train.pik"
    actions = ["end_action", "lchange", "rchange", "lturn", "rturn"]
    path.write_bytes(pickle.dumps({"features": feats, "labels": labels, "actions": actions}, protocol=2))
    with pytest.raises(DataFormatError, match=r"fold_1_train\.pik: sequence 1, step 2, feature 5 is not "
                                              r"finite as float32 \(inf"):
        read_file(path)


def test_pickled_adjacency_refuses_values_beyond_float32(tmp_path):
    from srnn_pyg.datasets import LosLoop
    root = tmp_path / "los_loop"
    root.mkdir()
    ids = [str(700 + i) for i in range(3)]
    speed = 40.0 + np.arange(60)[:, None] + np.arange(3)[None, :]          # [T, N]
    (root / "los_speed.csv").write_text(",".join(ids) + "\n"
                                        + "".join(",".join(f"{v:.2f}" for v in r) + "\n" for r in speed))
    adj = np.eye(3)
    adj[0, 2] = 1e39                                                     # float64: finite; float32: inf
    (root / "adj_mx.pkl").write_bytes(pickle.dumps([ids, {k: i for i, k in enumerate(ids)}, adj], protocol=2))
    with pytest.raises(DataFormatError, match=r"adj_mx\.pkl: the adjacency at \[0, 2\] is 1e\+39 \(expected a "
                                              r"finite number within float32 range"):
        LosLoop(tmp_path, split="train", obs=4, horizon=3, graph="dcrnn")


# ---------------------------------------------------------- checkpoint fuzz
def _seed_files(tmp_path):
    """A model file and a training checkpoint, both checked, plus the model as
    an old unchecked torch.save file."""
    from srnn_pyg.datasets import Springs
    schema = Springs(num_graphs=2, obs=4, horizon=2, split="train", seed=0).schema
    model = srnn(schema)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = {"format": CHECKPOINT_FORMAT, "version": 2, "epoch": 1, "step": 3, "model": state,
            "model_record": model_record(model), "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]},
            "history": [{"epoch": 1, "train_loss": 0.5}], "best_score": 0.5, "config": {"optimizer": "adam"}}
    write_checked({"format": "srnn_pyg.model", "version": 1, "model_record": model_record(model),
                   "model": state}, tmp_path / "model.pt")
    write_checked(ckpt, tmp_path / "ckpt.pt")
    buf = io.BytesIO()
    torch.save({"format": "srnn_pyg.model", "version": 1, "model_record": model_record(model), "model": state},
               buf)
    return [(tmp_path / "model.pt").read_bytes(), (tmp_path / "ckpt.pt").read_bytes(), buf.getvalue()]


def _mutate(rng, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(data)) if data else 0
        how = rng.randrange(4)
        if how == 0 and data:
            data[pos] ^= 1 << rng.randrange(8)
        elif how == 1:
            del data[pos:]
        elif how == 2:
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif data:
            data[pos:pos + 4] = struct.pack("<I", rng.choice([0, 255, 2 ** 31 - 1, 2 ** 32 - 1]))
    return bytes(data)


def _reseal(data: bytes) -> bytes:
    """A checked file whose payload was altered and whose header was written
    to match (a forged file): only the loaders' own checks stand guard."""
    payload = data[len(MAGIC) + 40:]
    return MAGIC + hashlib.sha256(payload).digest() + struct.pack(">Q", len(payload)) + payload


def checkpoint_fuzz(tmp_path, count: int, seed: int = 0) -> dict:
    """Mutated files, each read by load_model and load_checkpoint: the counts
    per kind (mutated checked file, forged payload with a matching checksum,
    mutated old unchecked file) and outcome (loaded or ValueError)."""
    rng = random.Random(seed)
    seeds = _seed_files(tmp_path)
    outcomes = {f"{k}:{o}": 0 for k in _KINDS for o in ("loaded", "ValueError")}
    path = tmp_path / "fuzz.pt"
    for i in range(count):
        original = rng.choice(seeds[:2])
        kind = i % 3                                    # raw bytes, forged payload, old unchecked file
        if kind == 0:
            data = _mutate(rng, original)
            if data == original:                        # 4 bytes overwritten by the same 4 bytes
                continue
        elif kind == 1:
            data = _reseal(original[:len(MAGIC) + 40] + _mutate(rng, original[len(MAGIC) + 40:]))
        else:
            data = _mutate(rng, seeds[2])
        path.write_bytes(data)
        for load in (load_model, load_checkpoint):
            try:
                load(path)
            except ValueError as e:
                assert "fuzz.pt" in str(e), str(e)
                outcomes[f"{_KINDS[kind]}:ValueError"] += 1
            else:
                outcomes[f"{_KINDS[kind]}:loaded"] += 1
    return outcomes


_KINDS = ("mutated", "forged", "unchecked")


def test_fuzz_mutated_checkpoints(tmp_path):
    outcomes = checkpoint_fuzz(tmp_path, 5000 if LONG else 300)
    print("checkpoint fuzz outcomes:", json.dumps(outcomes))
    assert outcomes["mutated:loaded"] == 0                     # every change to a checked file is caught
    assert outcomes["mutated:ValueError"] > 0 and outcomes["forged:loaded"] > 0
    assert outcomes["forged:ValueError"] > 0 and outcomes["unchecked:ValueError"] > 0


def test_loaders_that_are_not_loaders_or_are_empty_are_named():
    from torch_geometric.loader import DataLoader

    from srnn_pyg import STData, STSchema, evaluate, fit
    from srnn_pyg.models import StructuralRNN
    schema = STSchema(["n"], [("n", "n")])
    window = STData(x=torch.randn(4, 5, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.randn(4, 2, 2))
    model = StructuralRNN(schema, 2, 2, node_hidden=4, edge_hidden=4)
    with pytest.raises(TypeError, match=r"fit: 'train_loader' must be an iterable .*got int"):
        fit(model, 5, epochs=1)
    with pytest.raises(ValueError, match=r"fit: 'train_loader' holds no windows"):
        fit(model, DataLoader([]), epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"fit: 'val_loader' must be an iterable"):
        fit(model, DataLoader([window]), 3, epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"evaluate: 'loader' holds no windows"):
        evaluate(model, DataLoader([]))
    with pytest.raises(TypeError, match=r"evaluate: 'loader' must be an iterable .*got NoneType"):
        evaluate(model, None)
