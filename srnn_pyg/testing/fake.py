"""Random typed ST-graphs for tests and benchmarks."""
from __future__ import annotations

from typing import List, Optional, Union

import torch

from ..data import STData
from ..schema import STSchema

__all__ = ["fake_schema", "fake_st_data", "devices"]


def fake_schema(num_node_types: int = 3, directed: bool = False, temporal: bool = True,
                with_relations: bool = False) -> STSchema:
    """A small schema over node types ``t0, t1, ...``: one edge type per pair
    ``(t_i, t_j)`` with ``i <= j`` except a few, so that some node type may have
    no incoming spatial edge type; with ``with_relations``, an extra relation
    doubles the ``t0-t0`` type."""
    names = [f"t{i}" for i in range(num_node_types)]
    edges = []
    for i in range(num_node_types):
        for j in range(i, num_node_types):
            if num_node_types >= 3 and (i, j) in ((num_node_types - 1, num_node_types - 1),):
                continue  # the last type reaches others but has no edges of its own type
            edges.append((names[i], names[j]))
    if with_relations:
        edges.append((names[0], "far", names[0]))
    return STSchema(names, edges, temporal=temporal, directed=directed)


def fake_st_data(num_nodes: int = 7, T: int = 5, F: int = 4, schema: Optional[STSchema] = None,
                 num_edges: Optional[int] = None, masks: bool = False, edge_attr_dim: int = 0,
                 horizon: int = 0, classes: int = 0, generator: Optional[torch.Generator] = None,
                 device: Union[str, torch.device] = "cpu") -> STData:
    """A random :class:`STData` whose edges fit ``schema``.

    Edges are drawn first one per edge type (where its endpoint types
    are present), then between random node pairs whose endpoint types some edge
    type accepts (about ``num_edges`` of them, default ``2 * num_nodes``); an
    undirected edge type's edges are stored both ways. With ``masks``, random
    ``node_mask`` and ``edge_mask`` (every node present at step 0 and the last
    step, so that forecasts have something to start from). ``horizon > 0``
    adds a regression target ``y`` ``[N, horizon, F]``; ``classes > 0`` adds
    per-step labels ``y`` ``[N, T]``.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    schema = schema or fake_schema()
    P = schema.num_node_types
    node_type = torch.randint(0, P, (num_nodes,), generator=g)
    node_type[: min(P, num_nodes)] = torch.arange(min(P, num_nodes))  # every type present
    x = torch.randn(num_nodes, T, F, generator=g)
    target = num_edges if num_edges is not None else 2 * num_nodes
    src_l: List[int] = []
    dst_l: List[int] = []
    typ_l: List[int] = []
    seen = set()

    def add(i: int, j: int, k: int) -> None:
        pairs = [(i, j)] if schema.edge_types[k].directed else [(i, j), (j, i)]
        for s, d in pairs:
            if (s, d) not in seen:
                seen.add((s, d))
                src_l.append(s)
                dst_l.append(d)
                typ_l.append(k)

    # one edge of every edge type whose endpoint types are present, then random ones
    for k, et in enumerate(schema.edge_types):
        a = (node_type == schema.node_type_index(et.src)).nonzero().view(-1).tolist()
        b = (node_type == schema.node_type_index(et.dst)).nonzero().view(-1).tolist()
        pair = next(((i, j) for i in a for j in b if i != j and (i, j) not in seen), None)
        if pair is not None and len(src_l) < target:
            add(pair[0], pair[1], k)
    tries = 0
    while len(src_l) < target and tries < 20 * target + 20:
        tries += 1
        i, j = torch.randint(0, num_nodes, (2,), generator=g).tolist()
        if i == j or (i, j) in seen:
            continue
        ti, tj = schema.node_types[int(node_type[i])], schema.node_types[int(node_type[j])]
        ks = [k for k, et in enumerate(schema.edge_types) if et.accepts(ti, tj)]
        if not ks:
            continue
        add(i, j, ks[int(torch.randint(0, len(ks), (1,), generator=g))])
    edge_index = torch.tensor([src_l, dst_l], dtype=torch.long).view(2, -1)
    data = STData(x=x, edge_index=edge_index, node_type=node_type,
                  edge_type=torch.tensor(typ_l, dtype=torch.long))
    E = edge_index.size(1)
    if masks:
        nm = torch.rand(num_nodes, T, generator=g) > 0.3
        nm[:, 0] = True
        nm[:, -1] = True
        data.node_mask = nm
        data.edge_mask = torch.rand(E, T, generator=g) > 0.3
    if edge_attr_dim > 0:
        data.edge_attr = torch.randn(E, T, edge_attr_dim, generator=g)
    if horizon > 0:
        data.y = torch.randn(num_nodes, horizon, F, generator=g)
    elif classes > 0:
        data.y = torch.randint(0, classes, (num_nodes, T), generator=g)
    data.schema = schema
    return data.to(device)


def devices() -> List[str]:
    """``["cpu"]`` plus ``"cuda"`` when a GPU is available: parametrise tests with it."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
