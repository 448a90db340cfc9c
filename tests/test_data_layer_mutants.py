"""Tests written after a hand-made mutation run of the data layer (data.py, schema.py, transforms.py,
scalers.py): each compares the code with an independent reference (a loop over nodes and steps,
values worked out by hand, or a round trip) and fails on a mutant that the rest of the suite let
through.

Mutants killed here (the change in the module, then the test that kills it):

* data.py, ``STData.window``'s ``y_mask`` the union (``|``) of node and target presence instead
  of both (``&``): ``test_window_target_presence_is_node_and_target_presence``.
* data.py, a piece of a recording (``horizon=0``, ``target="y"``) keeping the whole ``y_mask``
  instead of its steps: ``test_piece_of_a_recording_keeps_its_own_targets_and_their_presence``.
* data.py, a window of frames (``target="x"``) keeping the recording's own ``y``/``y_mask``:
  ``test_window_of_frames_drops_the_recordings_own_targets``.
* data.py, ``pad_to`` leaving ``u_future`` alone when it is one step short (``horizon > U + 1``):
  ``test_pad_to_pads_u_future_by_a_single_step``.
* data.py, ``validate`` accepting ``edge_index`` values equal to ``num_nodes`` (``> N``):
  ``test_validate_refuses_an_edge_to_the_node_one_past_the_last``.
* data.py, ``validate`` reading ``u_future`` for the nodes present at the first observed step
  instead of the last: ``test_validate_reads_u_future_where_nodes_are_present_at_the_last_step``.
* data.py, ``validate`` refusing zero target weights (``yw <= 0``):
  ``test_validate_accepts_zero_target_weights_and_refuses_negative_ones``.
* data.py, ``validate`` asking for ``node_type`` only from three node types (``P > 2``):
  ``test_validate_needs_node_type_with_two_node_types``.
* schema.py, ``edge_type_index((src, dst))`` matching an edge type of any relation:
  ``test_edge_type_index_of_a_pair_is_the_relation_to``.
* schema.py, ``infer_edge_type``'s range check off by one (``hi > P``):
  ``test_infer_edge_type_refuses_the_type_index_one_past_the_last``.
* schema.py, ``check_edge_types``' range check off by one (``> bound``):
  ``test_check_edge_types_refuses_indices_one_past_the_last``.
* schema.py, ``incoming``'s range check off by one (``node_type <= P``):
  ``test_incoming_refuses_the_node_type_one_past_the_last``.
* schema.py, ``to_dict`` writing every edge type as undirected:
  ``test_dict_round_trip_keeps_directed_edge_types``.
* schema.py, ``from_dict`` defaulting to ``temporal=False``: ``test_from_dict_defaults``.
* transforms.py, ``RandomRotation`` drawing only positive angles (``rand * radians``):
  ``test_rotation_angles_cover_both_directions_within_the_bound``.
* transforms.py, ``RandomRotation.forward`` applying the transpose of the drawn map:
  ``test_rotation_applies_the_map_that_matrix_draws``.
* transforms.py, ``rewire_edges`` trying ``swaps * edges`` swaps on an undirected type instead of
  ``swaps * pairs``: ``test_undirected_rigid_type_is_tried_once_per_pair_and_swap``.
* transforms.py, ``rewire_edges`` taking a type with a repeated edge for undirected
  (``have[reverse] >= 1``): ``test_a_repeated_edge_is_not_an_undirected_type``.
* transforms.py, ``rewire_edges`` not warning when exactly half of a type's edges are mirrored
  (``len / 2 < mirrored``): ``test_a_type_with_exactly_half_its_edges_mirrored_warns``.
* transforms.py, the undirected swap never reading its partner the other way round:
  ``test_undirected_rewiring_reaches_every_pairing_of_four_nodes``.
* scalers.py, a spread counted as zero only below ``eps`` (``<``, so ``eps=0`` divides by zero):
  ``test_zero_eps_still_maps_a_constant_feature_by_the_identity_scale``.
* scalers.py, an explicit ``axis=-ndim`` refused (``-ndim < a``): ``test_negative_axis_counts_from_the_end``.
* scalers.py, a non-finite center (an overflowing mean) kept instead of the identity:
  ``test_overflowing_statistics_give_the_identity``.
* scalers.py, the default ``eps`` of :class:`StandardScaler` 1e-6 instead of 1e-12:
  ``test_default_eps_keeps_a_tiny_spread``.
"""
import math
import warnings
from collections import Counter

import numpy as np
import pytest
import torch

from srnn_pyg import STData, STSchema, TimeWindows
from srnn_pyg.scalers import MinMaxScaler, RobustScaler, StandardScaler
from srnn_pyg.transforms import RandomRotation, rewire_edges

EI = torch.tensor([[0, 1], [1, 0]])
S1 = STSchema(["n"], [("n", "n")])


def _bools(rows):
    return torch.tensor([[c == "1" for c in r] for r in rows])


# ==================================================================== data.py: windows
def _recording_with_targets():
    """Three nodes over 8 steps; per-snapshot targets ``y`` whose presence ``y_mask`` and node
    presence ``node_mask`` differ at several steps."""
    x = torch.arange(24.0).view(3, 8, 1)
    node_mask = _bools(["11111111", "11011110", "10111011"])
    y_mask = _bools(["11101111", "11111101", "01111011"])
    return STData(x=x, edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), node_mask=node_mask,
                  y=x + 100, y_mask=y_mask)


def test_window_target_presence_is_node_and_target_presence():
    rec = _recording_with_targets()
    obs, horizon = 3, 2
    windows = TimeWindows(rec, obs, horizon, target="y")
    assert len(windows) == 8 - (obs + horizon - 1) + 1
    for i, w in enumerate(windows):
        for n in range(3):
            for h in range(horizon):
                t = i + obs - 1 + h                                  # the target of the last observed snapshot on
                assert float(w.y[n, h, 0]) == 100 + 8 * n + t
                want = bool(rec.node_mask[n, t]) and bool(rec.y_mask[n, t])
                assert bool(w.y_mask[n, h]) == want, (i, n, h)


def test_piece_of_a_recording_keeps_its_own_targets_and_their_presence():
    rec = _recording_with_targets()
    piece = rec.window(2, 4, 0, target="y")
    assert piece.y.shape == (3, 4, 1) and piece.y_mask.shape == (3, 4)
    for n in range(3):
        for t in range(4):
            assert float(piece.y[n, t, 0]) == 100 + 8 * n + 2 + t
            assert bool(piece.y_mask[n, t]) == bool(rec.y_mask[n, 2 + t])
            assert bool(piece.node_mask[n, t]) == bool(rec.node_mask[n, 2 + t])


def test_window_of_frames_drops_the_recordings_own_targets():
    rec = _recording_with_targets()
    w = rec.window(1, 3, 0)                                          # frames only, no targets asked for
    assert "y" not in w and "y_mask" not in w
    del rec.node_mask
    w = rec.window(1, 3, 2)                                          # targets: the next frames
    assert w.y.tolist() == [[[8.0 * n + t] for t in (4, 5)] for n in range(3)]
    assert "y_mask" not in w                                         # no node_mask: nothing absent


def test_pad_to_pads_u_future_by_a_single_step():
    d = STData(x=torch.ones(2, 3, 1), edge_index=EI, u_future=torch.tensor([[[1.0], [2.0]], [[3.0], [4.0]]]))
    p = d.pad_to(3, 3)
    assert p.u_future.tolist() == [[[1.0], [2.0], [0.0]], [[3.0], [4.0], [0.0]]]
    assert p.pad_to(3, 3).u_future.shape == (2, 3, 1)                 # already long enough: kept


# =================================================================== data.py: validate
def test_validate_refuses_an_edge_to_the_node_one_past_the_last():
    x = torch.randn(3, 2, 1)
    assert STData(x=x, edge_index=torch.tensor([[0, 2], [2, 0]])).validate(S1)
    with pytest.raises(ValueError, match=r"'edge_index' must lie in \[0, 2\]"):
        STData(x=x, edge_index=torch.tensor([[0, 3], [3, 0]])).validate(S1)


def test_validate_reads_u_future_where_nodes_are_present_at_the_last_step():
    node_mask = _bools(["100", "001"])                               # node 0 leaves, node 1 arrives
    u = torch.zeros(2, 2, 1)
    u[0] = float("nan")                                              # node 0 absent at the last step: ignored
    d = STData(x=torch.randn(2, 3, 1), edge_index=EI, node_mask=node_mask, u_future=u)
    assert d.validate(S1)
    u = torch.zeros(2, 2, 1)
    u[1, 1] = float("nan")                                           # node 1 present at the last step
    d.u_future = u
    with pytest.raises(ValueError, match="'u_future' must be finite where present"):
        d.validate(S1)


def test_validate_accepts_zero_target_weights_and_refuses_negative_ones():
    d = STData(x=torch.randn(2, 3, 2), edge_index=EI, y=torch.randn(2, 1, 2),
               y_weight=torch.tensor([[0.0, 1.0], [2.0, 0.0]]))
    assert d.validate(S1)
    d.y_weight = torch.tensor([[0.0, -1.0], [2.0, 0.0]])
    with pytest.raises(ValueError, match="'y_weight' must be finite and >= 0"):
        d.validate(S1)


def test_validate_needs_node_type_with_two_node_types():
    schema = STSchema(["a", "b"], [("a", "b")])
    d = STData(x=torch.randn(2, 3, 1), edge_index=torch.empty(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="'node_type' is missing and the schema has 2 node types"):
        d.validate(schema)
    d.node_type = torch.tensor([0, 1])
    assert d.validate(schema)
    assert STData(x=torch.randn(2, 3, 1), edge_index=torch.empty(2, 0, dtype=torch.long)).validate(S1)


# ============================================================================ schema.py
def test_edge_type_index_of_a_pair_is_the_relation_to():
    s = STSchema(["a", "b"], [("a", "near", "b"), ("a", "b"), ("b", "far", "b")])
    assert s.edge_type_index(("a", "b")) == 1
    assert s.edge_type_index(("b", "a")) == 1                        # undirected: either way
    assert s.edge_type_index(("a", "near", "b")) == 0
    assert s.edge_type_index("a-b") == 1 and s.edge_type_index("a-near-b") == 0
    with pytest.raises(ValueError, match="unknown edge type"):
        s.edge_type_index(("b", "b"))                                # only a relation 'far' joins b to b


def test_infer_edge_type_refuses_the_type_index_one_past_the_last():
    s = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    assert s.infer_edge_type(torch.tensor([0, 1, 1]), torch.tensor([1, 0, 1])).tolist() == [0, 0, 1]
    for src, dst, key in (([2], [1], "src_type"), ([1], [2], "dst_type")):
        with pytest.raises(ValueError, match=rf"'{key}' must lie in \[0, 1\]"):
            s.infer_edge_type(torch.tensor(src), torch.tensor(dst))


def test_check_edge_types_refuses_indices_one_past_the_last():
    s = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    s.check_edge_types(torch.tensor([0, 1]), torch.tensor([1, 1]), torch.tensor([0, 1]))
    for src, dst, et, key in (([2], [1], [0], "src_type"), ([0], [2], [0], "dst_type"),
                              ([0], [1], [2], "edge_type")):
        with pytest.raises(ValueError, match=rf"'{key}' must lie in \[0, 1\]"):
            s.check_edge_types(torch.tensor(src), torch.tensor(dst), torch.tensor(et))


def test_incoming_refuses_the_node_type_one_past_the_last():
    s = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    assert s.incoming(1) == [0, 1] and s.incoming(0) == [0]
    with pytest.raises(ValueError, match=r"'node_type' must be a node type name or an index in \[0, 1\]"):
        s.incoming(2)


def test_dict_round_trip_keeps_directed_edge_types():
    s = STSchema(["a", "b"], [("a", "b"), ("b", "b")], directed=[True, False], temporal=False)
    d = s.to_dict()
    assert d == {"node_types": ["a", "b"], "edge_types": [["a", "to", "b"], ["b", "to", "b"]],
                 "directed": [True, False], "temporal": False}
    back = STSchema.from_dict(d)
    assert [et.directed for et in back.edge_types] == [True, False] and back == s
    assert s != STSchema(["a", "b"], [("a", "b"), ("b", "b")], temporal=False)   # all undirected
    with pytest.raises(ValueError, match="is of type"):
        back.check_edge_types(torch.tensor([1]), torch.tensor([0]), torch.tensor([0]))   # b -> a: not directed a-b


def test_from_dict_defaults():
    s = STSchema.from_dict({"node_types": ["a", "b"], "edge_types": [["a", "b"]]})
    assert s.temporal is True and [et.directed for et in s.edge_types] == [False]
    assert s == STSchema(["a", "b"], [("a", "b")])


# ======================================================================== transforms.py
def _angle(R):
    return math.atan2(float(R[1, 0]), float(R[0, 0]))


def test_rotation_angles_cover_both_directions_within_the_bound():
    rot = RandomRotation(degrees=90, generator=torch.Generator().manual_seed(0))
    angles = []
    for _ in range(300):
        R = rot.matrix()
        assert torch.allclose(R @ R.t(), torch.eye(2, dtype=torch.float64)) and float(torch.det(R)) > 0
        angles.append(_angle(R))
    angles = np.array(angles)
    assert np.abs(angles).max() <= math.pi / 2 + 1e-12
    assert angles.min() < -1.3 and angles.max() > 1.3                # uniform on [-90, 90] degrees
    assert abs(angles.mean()) < 0.25 and (angles < 0).sum() > 100 and (angles > 0).sum() > 100


@pytest.mark.parametrize("flip", [False, True])
def test_rotation_applies_the_map_that_matrix_draws(flip):
    x = torch.randn(3, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for seed in range(6):
        R = RandomRotation({"x": [(0, 2)]}, flip=flip, generator=torch.Generator().manual_seed(seed)).matrix()
        rot = RandomRotation({"x": [(0, 2)]}, flip=flip, generator=torch.Generator().manual_seed(seed))
        out = rot(STData(x=x.clone(), edge_index=EI[:, :0])).x
        for n in range(3):
            for t in range(4):
                u, v = float(x[n, t, 0]), float(x[n, t, 2])
                assert math.isclose(float(out[n, t, 0]), float(R[0, 0]) * u + float(R[0, 1]) * v, abs_tol=1e-12)
                assert math.isclose(float(out[n, t, 2]), float(R[1, 0]) * u + float(R[1, 1]) * v, abs_tol=1e-12)
                assert float(out[n, t, 1]) == float(x[n, t, 1])


def test_undirected_rigid_type_is_tried_once_per_pair_and_swap():
    triangle = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])     # 3 undirected pairs, no swap possible
    with pytest.warns(UserWarning, match=r"edge type 0 \(6 edges\) admits no degree-preserving swap in 30 tries"):
        assert torch.equal(rewire_edges(triangle, swaps=10), triangle)
    with pytest.warns(UserWarning, match=r"in 60 tries"):
        rewire_edges(triangle, swaps=10, undirected=False)              # directed: 6 edges


def test_a_repeated_edge_is_not_an_undirected_type():
    twice = torch.tensor([[0, 0, 1, 2, 3], [1, 1, 0, 3, 2]])          # 0 -> 1 twice, 1 -> 0 once
    with pytest.raises(ValueError, match=r"'undirected=True' needs every edge of type 0 in both directions, "
                                         r"once each \(got 2 of its 5 edges"):
        rewire_edges(twice, undirected=True)


def test_a_type_with_exactly_half_its_edges_mirrored_warns():
    half = torch.tensor([[0, 1, 2, 4, 6, 7], [1, 0, 3, 5, 7, 6]])      # 4 of 6 mirrored: warns
    with pytest.warns(UserWarning, match="edge type 0 has 4 of its 6 edges in both directions"):
        rewire_edges(half)
    half = torch.tensor([[0, 1, 2, 4], [1, 0, 3, 5]])                  # 2 of 4: exactly half, warns too
    with pytest.warns(UserWarning, match="edge type 0 has 2 of its 4 edges in both directions"):
        rewire_edges(half)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        rewire_edges(torch.tensor([[0, 1, 2, 4, 6], [1, 0, 3, 5, 7]]), undirected=False)   # said: no warning


def test_undirected_rewiring_reaches_every_pairing_of_four_nodes():
    # Two undirected edges on four nodes: the three perfect matchings are the graphs with the same degrees,
    # and the chain of swaps visits each of them about equally often over seeds.
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    seen = Counter()
    for seed in range(90):
        out = rewire_edges(ei, seed=seed)
        pairs = {tuple(sorted(p)) for p in out.t().tolist()}
        assert len(pairs) == 2 and sorted(c for p in pairs for c in p) == [0, 1, 2, 3]   # a perfect matching
        seen[frozenset(pairs)] += 1
    assert len(seen) == 3 and min(seen.values()) >= 15, seen


# =========================================================================== scalers.py
def _constant_column(seed=0):
    x = torch.randn(4, 6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x[..., 1] = 3.5
    return x


@pytest.mark.parametrize("cls", [StandardScaler, RobustScaler])
def test_zero_eps_still_maps_a_constant_feature_by_the_identity_scale(cls):
    x = _constant_column()
    scaler = cls(eps=0).fit(x)
    assert float(scaler.scale.view(-1)[1]) == 1.0 and float(scaler.center.view(-1)[1]) == 3.5
    out = scaler.transform(x)
    assert bool(torch.isfinite(out).all()) and bool((out[..., 1] == 0).all())
    assert torch.allclose(scaler.inverse_transform(out), x)


def test_negative_axis_counts_from_the_end():
    x = torch.randn(4, 6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for cls in (StandardScaler, MinMaxScaler):
        for neg, pos in ((-3, 0), ((-3, -2), (0, 1)), (-1, 2)):
            a, b = cls(axis=neg).fit(x), cls(axis=pos).fit(x)
            assert torch.equal(a.center, b.center) and torch.equal(a.scale, b.scale)
    ref = x.mean(0, keepdim=True)                                   # axis=-3 on [N, T, F]: over the nodes
    assert torch.allclose(StandardScaler(axis=-3).fit(x).center, ref)
    with pytest.raises(ValueError, match="does not fit x with 3 dimensions"):
        StandardScaler(axis=-4).fit(x)


def test_overflowing_statistics_give_the_identity():
    x = torch.tensor([[1.0e308, 0.0], [1.7e308, 1.0]], dtype=torch.float64)   # the first mean overflows
    scaler = StandardScaler().fit(x)
    assert scaler.center.tolist() == [[0.0, 0.5]] and scaler.scale.tolist() == [[1.0, 0.5]]
    out = scaler.transform(x)
    assert bool(torch.isfinite(out).all())
    assert out[:, 0].tolist() == [1.0e308, 1.7e308] and out[:, 1].tolist() == [-1.0, 1.0]


def test_default_eps_keeps_a_tiny_spread():
    x = torch.randn(5, 20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 1e-9
    x[..., 1] += 1e-7
    scaler = StandardScaler().fit(x)
    flat = x.reshape(-1, 2)
    assert torch.allclose(scaler.center.view(-1), flat.mean(0), rtol=1e-12, atol=0)
    assert torch.allclose(scaler.scale.view(-1), flat.std(0, unbiased=False), rtol=1e-10, atol=0)
    out = scaler.transform(x).reshape(-1, 2)
    assert torch.allclose(out.std(0, unbiased=False), torch.ones(2, dtype=torch.float64))
