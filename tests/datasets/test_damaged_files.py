"""Damaged copies of each dataset's files: every one is refused with a
:class:`DataFormatError` that names the file and what was expected, never a raw
numpy/Python error and never a silently different dataset."""
import os
import pickle

import numpy as np
import pytest

from srnn_pyg.datasets import Brain4Cars, CMUMocap, Chickenpox, DataFormatError, EnglandCovid, LosLoop, safe_load
from srnn_pyg.datasets.brain4cars import distinct_sequences, read_file

from test_brain4cars import _release, _test_obj, _train_obj, write_fold
from test_cmu_mocap import LAYOUT, _write_cmu
from test_los_loop import N, write_los
from test_pyg_temporal import _chickenpox, _england, write


# ---------------------------------------------------------------- Brain4Cars
def _dump(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=2))


@pytest.mark.parametrize("edit,pattern", [
    (lambda o: o.__setitem__("features", o["features"].astype(str)), r"features must be numbers.*dtype <U"),
    (lambda o: o.__setitem__("labels", o["labels"].astype(str)), r"'labels' must be integers"),
    (lambda o: o.__setitem__("actions", 5), r"'actions' must be the list \['end_action'.*\(got 5\)"),
    (lambda o: o.__setitem__("actions", "end_action"), r"'actions' must be the list"),
    (lambda o: o.update(features=o["features"][:, :0], labels=o["labels"][:, :0]), r"'features' holds no sequence"),
])
def test_brain4cars_bad_train_values(tmp_path, edit, pattern):
    obj = _train_obj()
    edit(obj)
    write_fold(tmp_path, train=obj)
    with pytest.raises(DataFormatError, match=r"fold_1_train\.pik: " + pattern):
        read_file(tmp_path / "fold_1_train.pik")
    with pytest.raises(DataFormatError, match=r"fold_1_train\.pik"):
        Brain4Cars(tmp_path)


def test_brain4cars_bad_test_values(tmp_path):
    obj = _test_obj()
    obj["features"][2] = [[["a"] * 13]] * 7                                  # text
    write_fold(tmp_path, test=obj)
    with pytest.raises(DataFormatError, match=r"fold_1_test\.pik: features of sequence 2 must be numbers"):
        Brain4Cars(tmp_path, split="test")
    obj = _test_obj()
    obj["features"][1] = [[list(range(13))], [list(range(12))]] + [[list(range(13))]] * 5   # ragged
    write_fold(tmp_path, test=obj)
    with pytest.raises(DataFormatError, match=r"fold_1_test\.pik: features of sequence 1 must be"):
        Brain4Cars(tmp_path, split="test")
    obj = _test_obj()
    obj["labels"][0] = [["x"]] * 7
    write_fold(tmp_path, test=obj)
    with pytest.raises(DataFormatError, match=r"fold_1_test\.pik: labels of sequence 0 must be numbers"):
        Brain4Cars(tmp_path, split="test")


def test_brain4cars_train_split_emptied_by_the_leak_removal(tmp_path):
    test = _test_obj()
    f = np.concatenate(test["features"], axis=1)                              # [T, S, 13]
    y = np.concatenate(test["labels"], axis=1)                                # [T, S]
    write_fold(tmp_path, train={"features": f, "labels": y, "actions": test["actions"]}, test=test)
    with pytest.raises(DataFormatError, match=r"fold_1_train\.pik: every one of its 5 sequences.*fold_1_test\.pik"):
        Brain4Cars(tmp_path)
    assert len(Brain4Cars(tmp_path, split="test")) == 5                      # the test split is unaffected


def test_brain4cars_cv_cache_sees_a_replaced_file(tmp_path):
    root = tmp_path / "brain4cars"
    _release(root)
    path = root / "fold_2_train.pik"
    path.write_bytes(pickle.dumps(safe_load(path), protocol=4))              # arrays as raw bytes
    before, _, n_before = distinct_sequences(root)
    st = path.stat()
    blob = path.read_bytes()
    old = safe_load(path)["features"]
    value = old[-1, 0, 0]                                                     # one float32 of the array
    at = blob.index(value.tobytes())
    path.write_bytes(blob[:at] + (value + np.float32(1.0)).tobytes() + blob[at + 4:])   # same size
    assert (safe_load(path)["features"] != old).sum() == 1
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))                       # the same size and mtime
    after, _, n_after = distinct_sequences(root)
    assert n_after == n_before
    assert len(after) > len(before)                                           # the changed rows are new


# ------------------------------------------------------------------ Los-loop
def _adj_mx(root, ids, id_map=None, adj=None):
    id_map = {k: i for i, k in enumerate(ids)} if id_map is None else id_map
    adj = np.eye(len(ids), dtype=np.float32) if adj is None else adj
    _dump(root / "adj_mx.pkl", [ids, id_map, adj])


@pytest.mark.parametrize("edit,pattern", [
    (lambda ids: (ids, list(range(N)), None), r"the second item must be a dict.*got list"),
    (lambda ids: (ids, {k: i + 1 for i, k in enumerate(ids)}, None), r"map sensor ids.*rows 0\.\.4.*got '\d+': 5"),
    (lambda ids: (ids, {k: -1 for k in ids}, None), r"rows 0\.\.4 \(got '\d+': -1\)"),
    (lambda ids: (ids, {k: 0 for k in ids}, None), r"its own row.*maps to 0, expected its position 1"),
    (lambda ids: (ids, {k: 4 - i for i, k in enumerate(ids)}, None), r"its own row"),
    (lambda ids: (ids, {k: float(i) for i, k in enumerate(ids)}, None), r"got '\d+': 0\.0"),
    (lambda ids: ([int(i) for i in ids], None, None), r"the first item must be the list of sensor ids, as "
                                                      r"strings \(got a list holding int\)"),
    (lambda ids: (ids[:1] * N, {ids[0]: 0}, None), r"sensor id '\d+' appears more than once"),
    (lambda ids: (ids, None, [["a"] * N] * N), r"the adjacency must be numbers \(got an array of dtype <U1\)"),
    (lambda ids: (ids, None, [[0.0] * N] * (N - 1) + [[0.0] * (N - 1)]), r"the adjacency must be a \[5, 5\] "
                                                                          r"array of numbers.*not rectangular"),
])
def test_los_loop_bad_adj_mx(tmp_path, edit, pattern):
    _, _, ids = write_los(tmp_path)
    pk_ids, id_map, adj = edit(list(ids))
    if id_map is None and all(isinstance(i, str) for i in pk_ids):
        id_map = {k: i for i, k in enumerate(pk_ids)}
    elif id_map is None:
        id_map = {str(k): i for i, k in enumerate(pk_ids)}
    _adj_mx(tmp_path, pk_ids, id_map, adj)
    with pytest.raises(DataFormatError, match=r"adj_mx\.pkl: .*" + pattern):
        LosLoop(tmp_path, graph="dcrnn")


def test_los_loop_speed_file_header_and_blank_lines(tmp_path):
    _, _, ids = write_los(tmp_path)
    path = tmp_path / "los_speed.csv"
    lines = path.read_text().splitlines()
    head = lines[0].split(",")
    path.write_text("\n".join([",".join(head[:3] + head[1:2] + head[4:])] + lines[1:]) + "\n")
    with pytest.raises(DataFormatError, match=rf"los_speed\.csv, line 1.*'{head[1]}' names columns 2 and 4"):
        LosLoop(tmp_path)
    path.write_text("\n".join(lines[:40] + [""] + lines[40:]) + "\n")        # a blank line inside
    with pytest.raises(DataFormatError, match=r"los_speed\.csv, line 41.*blank line among the data rows"):
        LosLoop(tmp_path)
    path.write_text("\n".join(lines + ["", "  "]) + "\n")                     # trailing blank lines are fine
    assert LosLoop(tmp_path).recordings[0].x.size(1) == len(lines) - 1
    adj = tmp_path / "los_adj.csv"
    rows = adj.read_text().splitlines()
    adj.write_text("\n".join(rows[:2] + [""] + rows[2:]) + "\n")
    with pytest.raises(DataFormatError, match=r"los_adj\.csv, line 3.*blank line"):
        LosLoop(tmp_path)


def test_los_loop_negative_speeds_and_weights(tmp_path):
    speed, adj, ids = write_los(tmp_path)
    bad = speed.copy()
    bad[6, 2] = -3.5                                                      # data row 7: line 8
    write_los(tmp_path, speed=bad, adj=adj, ids=ids)
    with pytest.raises(DataFormatError, match=r"los_speed\.csv, line 8, column 3.*'-3\.500000' "
                                              r"\(expected a number >= 0\)"):
        LosLoop(tmp_path)
    neg = adj.copy()
    neg[1, 4] = -0.25
    write_los(tmp_path, speed=speed, adj=neg, ids=ids)
    with pytest.raises(DataFormatError, match=r"los_adj\.csv, line 2, column 5.*expected a number >= 0"):
        LosLoop(tmp_path)
    write_los(tmp_path, speed=speed, adj=adj, ids=ids)
    _adj_mx(tmp_path, list(ids), adj=np.where(np.eye(N) > 0, 1.0, -0.5))
    with pytest.raises(DataFormatError, match=r"adj_mx\.pkl: the adjacency at \[0, 1\] is -0\.5 "
                                              r"\(expected a weight >= 0\)"):
        LosLoop(tmp_path, graph="dcrnn")
    zero = speed.copy()
    zero[3] = 0.0                                                         # zeros (missing readings) are fine
    write_los(tmp_path, speed=zero, adj=adj, ids=ids)
    assert LosLoop(tmp_path).recordings[0].x.size(1) == len(speed)


# ----------------------------------------------------------- PyG Temporal JSON
def _written(tmp_path, name, obj):
    write(tmp_path / "pyg_temporal", name, obj)
    return tmp_path


def test_json_integer_beyond_float(tmp_path):
    obj = _chickenpox()
    obj["FX"][3][2] = 10 ** 400
    with pytest.raises(DataFormatError, match=r"chickenpox\.json: FX\[3\]\[2\] is an integer of 401 digits"):
        Chickenpox(_written(tmp_path, "chickenpox.json", obj))
    obj = _chickenpox()
    obj["FX"][3][2] = 10 ** 40                                                 # a float64, not a float32
    with pytest.raises(DataFormatError, match=r"FX\[3\]\[2\] is 1000.*float32 range"):
        Chickenpox(_written(tmp_path, "chickenpox.json", obj))


@pytest.mark.parametrize("ids,pattern", [
    ({"C0": "0", "C1": 1, "C2": 2, "C3": 3}, r"integer column indices \(got 'C0': '0', a str\)"),
    ({"C0": 0.0, "C1": 1, "C2": 2, "C3": 3}, r"got 'C0': 0\.0, a float"),
    ({"C0": True, "C1": 1, "C2": 2, "C3": 3}, r"got 'C0': True, a bool"),
    ({"C0": [0], "C1": 1, "C2": 2, "C3": 3}, r"got 'C0': \[0\], a list"),
    ({"C0": 0, "C1": 1, "C2": 1, "C3": 3}, r"map 4 names to the indices 0\.\.3"),
    ("C0,C1", r"an object \{name: column index\} or a list.*got str"),
    (["C0", "C1", "C2"], r"4 distinct names.*got 3 entries"),
    (["C0", "C1", "C1", "C3"], r"got 4 entries, 3 distinct"),
])
def test_chickenpox_node_ids(tmp_path, ids, pattern):
    obj = _chickenpox()
    obj["node_ids"] = ids
    with pytest.raises(DataFormatError, match=r"chickenpox\.json: 'node_ids' .*" + pattern):
        Chickenpox(_written(tmp_path, "chickenpox.json", obj))


def test_chickenpox_node_ids_as_a_list(tmp_path):
    obj = _chickenpox()
    obj["node_ids"] = ["C0", "C1", "C2", "C3"]
    assert Chickenpox(_written(tmp_path, "chickenpox.json", obj)).node_ids == ["C0", "C1", "C2", "C3"]


def test_rows_without_nodes(tmp_path):
    obj = _chickenpox()
    obj["FX"] = [[] for _ in obj["FX"]]
    obj["edges"] = []
    with pytest.raises(DataFormatError, match=r"chickenpox\.json: FX\[0\] is an empty list"):
        Chickenpox(_written(tmp_path, "chickenpox.json", obj))


@pytest.mark.parametrize("part", ["edge_index", "edge_weight"])
def test_england_covid_days_beyond_the_series(tmp_path, part):
    obj = _england()
    T = obj["time_periods"]
    obj["edge_mapping"]["edge_index"][str(T)] = [[0, 1]]
    obj["edge_mapping"]["edge_weight"][str(T)] = [1.0]
    obj["edge_mapping"][{"edge_index": "edge_weight", "edge_weight": "edge_index"}[part]].pop(str(T))
    with pytest.raises(DataFormatError, match=rf"england_covid\.json: 'edge_mapping\.{part}' has day '{T}'"):
        EnglandCovid(_written(tmp_path, "england_covid.json", obj))


# ----------------------------------------------------------------------- CMU
@pytest.mark.parametrize("name", ["walking_0.txt", "walking_01.txt", "walking_002.txt"])
def test_cmu_unexpected_file_name(tmp_path, name):
    files = _write_cmu(tmp_path / "cmu_mocap", LAYOUT)
    src = next(p for p in files if p.parent.name == "walking" and p.parent.parent.name == "train")
    (src.parent / name).write_bytes(src.read_bytes())
    with pytest.raises(DataFormatError, match=rf"{name}: unexpected file name in the folder of action 'walking'"):
        CMUMocap(tmp_path)


def test_cmu_gap_still_named(tmp_path):
    files = _write_cmu(tmp_path / "cmu_mocap", LAYOUT)
    (tmp_path / "cmu_mocap" / "train" / "walking" / "walking_1.txt").unlink()
    assert files
    with pytest.raises(FileNotFoundError, match=r"walking_1\.txt.*found numbers \[2\]"):
        CMUMocap(tmp_path)
