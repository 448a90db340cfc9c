import networkx as nx
import pytest
import torch

from srnn_pyg import EdgeType, STSchema


def body_schema():
    return STSchema(["torso", "arm", "leg"],
                    [("torso", "arm"), ("torso", "leg"), ("arm", "arm"), ("leg", "leg")])


def test_incoming_edge_types_per_node_type():
    s = body_schema()
    assert s.incoming("torso") == [0, 1]
    assert s.incoming("arm") == [0, 2]
    assert s.incoming(2) == [1, 3]
    assert s.receivers(0) == [0, 1]
    assert s.num_node_types == 3 and s.num_edge_types == 4 and s.temporal


def test_directed_and_relations():
    s = STSchema(["a", "b"], [("a", "b"), ("a", "near", "a"), ("a", "far", "a")], directed=[True, False, False])
    assert s.incoming("a") == [1, 2] and s.incoming("b") == [0]
    assert s.edge_types[0] == EdgeType("a", "to", "b", True)
    assert s.edge_type_index(("a", "far", "a")) == 2
    assert s.edge_type_index("a-near-a") == 1
    # endpoint types alone cannot tell near from far
    with pytest.raises(ValueError, match="several edge types"):
        s.infer_edge_type(torch.tensor([0]), torch.tensor([0]))
    with pytest.raises(ValueError, match="no edge type"):
        s.infer_edge_type(torch.tensor([1]), torch.tensor([0]))  # b -> a against a directed type


def test_infer_and_check_edge_types():
    s = body_schema()
    src, dst = torch.tensor([0, 1, 1, 2]), torch.tensor([1, 0, 1, 2])
    assert s.infer_edge_type(src, dst).tolist() == [0, 0, 2, 3]
    s.check_edge_types(src, dst, torch.tensor([0, 0, 2, 3]))
    with pytest.raises(ValueError, match=r"edge 1 is of type \('torso', 'to', 'leg'\) but joins a 'arm'"):
        s.check_edge_types(src, dst, torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize("args, match", [
    (([], []), "at least one node type"),
    ((["a", "a"], []), "duplicates"),
    ((["a"], [("a", "b")]), "unknown node type 'b'"),
    ((["a"], [("a",)]), r"\(src, dst\) or \(src, rel, dst\)"),
    ((["a", "b"], [("a", "b"), ("b", "a")]), "overlap"),
])
def test_bad_schemas(args, match):
    with pytest.raises(ValueError, match=match):
        STSchema(*args)


@pytest.mark.parametrize("kwargs, key", [
    (dict(node_types="ab"), "node_types"),               # a string is not taken letter by letter
    (dict(node_types=None), "node_types"),
    (dict(node_types=["a"], edge_types="aa"), "edge_types"),
    (dict(node_types=["a"], temporal=1), "temporal"),
    (dict(node_types=["a"], edge_types=[("a", "a")], directed="yes"), "directed"),
    (dict(node_types=["a"], edge_types=[("a", "a")], directed=[0]), "directed"),
])
def test_wrong_kinds_raise_type_errors(kwargs, key):
    with pytest.raises(TypeError, match=rf"STSchema: '{key}' must be .*\(got "):
        STSchema(**kwargs)


def test_edge_fit_table():
    s = STSchema(["a", "b"], [("a", "b"), ("b", "b")], directed=[True, False])
    fit = s.edge_fit()
    assert fit.shape == (2, 2, 2) and fit.dtype == torch.bool
    assert fit[0, 0, 1] and not fit[0, 1, 0] and fit[1, 1, 1] and int(fit.sum()) == 2
    assert s.edge_fit("cpu") is fit                      # kept per device, not rebuilt per call


def test_unknown_names():
    s = body_schema()
    with pytest.raises(ValueError, match="unknown node type 'head'"):
        s.node_type_index("head")
    with pytest.raises(ValueError, match="unknown edge type"):
        s.edge_type_index(("arm", "leg"))
    with pytest.raises(ValueError, match="one bool per edge type"):
        STSchema(["a"], [("a", "a")], directed=[True, False])


def test_from_networkx_and_round_trip():
    g = nx.Graph()
    for n, t in [("t", "torso"), ("la", "arm"), ("ra", "arm"), ("ll", "leg"), ("rl", "leg")]:
        g.add_node(n, type=t)
    g.add_edges_from([("t", "la"), ("t", "ra"), ("t", "ll"), ("t", "rl"), ("la", "ra"), ("ll", "rl")])
    s = STSchema.from_networkx(g)
    assert s == body_schema()
    assert STSchema.from_dict(s.to_dict()) == s
    assert hash(STSchema.from_dict(s.to_dict())) == hash(s)
    d = nx.DiGraph(g)
    assert all(et.directed for et in STSchema.from_networkx(d).edge_types)
    g.add_node("x")
    with pytest.raises(ValueError, match="node 'x' has no 'type'"):
        STSchema.from_networkx(g)


def test_repr():
    assert repr(body_schema()) == ("STSchema(node_types=['torso', 'arm', 'leg'], edge_types=['torso-arm', "
                                   "'torso-leg', 'arm-arm', 'leg-leg'], temporal=True)")


def test_pickled_schema_keeps_only_the_cpu_edge_fit_table():
    import pickle
    s = STSchema(["a", "b"], [("a", "b"), ("b", "b")])
    s.edge_fit(torch.device("meta"))                      # a table cached on another device (CUDA in use)
    assert len(s._fit) == 2
    back = pickle.loads(pickle.dumps(s))
    assert back == s and [d.type for d in back._fit] == ["cpu"]
    assert torch.equal(back.edge_fit("cpu"), s.edge_fit("cpu"))
