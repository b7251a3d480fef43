"""A layered layout for a directed acyclic graph, in plain Python (what Graphviz's ``dot`` does, simplified).

The classic four steps (Sugiyama et al., 1981):

1. **layers**: each node goes one layer below the lowest of its inputs (longest path), so every
   arrow points down; then each node moves down to just above its first user where it can (a
   parameter next to the op that uses it, not at the top of the page);
2. **dummies**: an arrow that spans several layers is split by invisible points, one per layer,
   so it can bend around the boxes in between;
3. **order**: within each layer, nodes are sorted by the mean position of their neighbours
   (the barycenter heuristic), sweeping down and up, keeping the order with fewest crossings;
4. **coordinates**: nodes are pulled towards their neighbours, then pushed apart where they overlap.

``layered_layout(sizes, edges)`` returns each node's centre and each edge's route as points.
"""
from dataclasses import dataclass

__all__ = ["Layout", "layered_layout"]


@dataclass
class Layout:
    positions: dict        # node -> (x, y) of its centre
    routes: dict           # (source, destination) -> [(x, y), ...] from source to destination
    width: float
    height: float


def _layers(nodes, edges):
    preds = {n: [] for n in nodes}
    succs = {n: [] for n in nodes}
    for s, d in edges:
        preds[d].append(s)
        succs[s].append(d)
    # Kahn's topological order (iterative), then the longest path from any source.
    indegree = {n: len(preds[n]) for n in nodes}
    order = [n for n in nodes if indegree[n] == 0]
    i = 0
    while i < len(order):
        for d in succs[order[i]]:
            indegree[d] -= 1
            if indegree[d] == 0:
                order.append(d)
        i += 1
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle; a layered layout needs a DAG")
    layer = {}
    for n in order:
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
    # Then every node moves down to just above its nearest user, when its inputs allow (they are above
    # it already): a weight and its transpose sit next to the product that uses them, not at the top.
    for n in reversed(order):
        if succs[n]:
            layer[n] = max(layer[n], min(layer[d] for d in succs[n]) - 1)
    return layer, preds, succs


def _crossings(rows, edges_between):
    """How many pairs of arrows cross between consecutive rows."""
    total = 0
    for r in range(len(rows) - 1):
        pos_top = {n: i for i, n in enumerate(rows[r])}
        pos_bottom = {n: i for i, n in enumerate(rows[r + 1])}
        pairs = sorted((pos_top[s], pos_bottom[d]) for s, d in edges_between[r])
        for i in range(len(pairs)):
            for j in range(i + 1, len(pairs)):
                if pairs[i][0] < pairs[j][0] and pairs[i][1] > pairs[j][1]:
                    total += 1
    return total


def layered_layout(sizes, edges, layer_gap=46, node_gap=22, margin=12, sweeps=8):
    """Place the nodes of a DAG in layers, top to bottom in the direction of its edges.

    sizes: ``{node: (width, height)}`` in the order the nodes should start out (left to right);
    edges: ``[(source, destination), ...]``.
    """
    nodes = list(sizes)
    edges = [(s, d) for s, d in edges if s != d]
    layer, _, _ = _layers(nodes, edges)
    depth = max(layer.values(), default=0) + 1

    # Dummy points split long edges into one segment per layer.
    chains = {}                 # (s, d) -> [s, dummy..., d]
    segments = []               # (upper, lower) pairs between consecutive layers
    dummy_count = 0
    for s, d in edges:
        chain = [s]
        for k in range(layer[s] + 1, layer[d]):
            dummy = ("dummy", dummy_count)
            dummy_count += 1
            layer[dummy] = k
            chain.append(dummy)
        chain.append(d)
        chains[(s, d)] = chain
        segments.extend(zip(chain[:-1], chain[1:]))

    rows = [[] for _ in range(depth)]
    for n in nodes:
        rows[layer[n]].append(n)
    for chain in chains.values():
        for p in chain[1:-1]:
            rows[layer[p]].append(p)
    ups = {n: [] for r in rows for n in r}
    downs = {n: [] for r in rows for n in r}
    between = [[] for _ in range(depth)]
    for u, v in segments:
        ups[v].append(u)
        downs[u].append(v)
        between[layer[u]].append((u, v))

    def sweep(rows, downward):
        rng = range(1, depth) if downward else range(depth - 2, -1, -1)
        for r in rng:
            ref = {n: i for i, n in enumerate(rows[r - 1 if downward else r + 1])}
            here = rows[r]

            def barycenter(n, i):
                nbrs = [ref[m] for m in (ups[n] if downward else downs[n]) if m in ref]
                return sum(nbrs) / len(nbrs) if nbrs else i
            rows[r] = [n for _, _, n in sorted((barycenter(n, i), i, n) for i, n in enumerate(here))]

    best, best_cross = [list(r) for r in rows], _crossings(rows, between[:-1])
    for k in range(sweeps):
        sweep(rows, downward=(k % 2 == 0))
        c = _crossings(rows, between[:-1])
        if c < best_cross:
            best, best_cross = [list(r) for r in rows], c
    rows = best

    # Coordinates: y from the tallest node of each layer; x by pulling towards neighbours.
    size = dict(sizes)
    for r in rows:
        for n in r:
            size.setdefault(n, (0, 0))
    heights = [max((size[n][1] for n in r), default=0) for r in rows]
    y, ys = margin, []
    for h in heights:
        ys.append(y + h / 2)
        y += h + layer_gap
    x = {}
    for r in rows:
        cursor = margin
        for n in r:
            x[n] = cursor + size[n][0] / 2
            cursor += size[n][0] + node_gap

    def separate(r):
        """Push apart overlapping neighbours in a row, keeping its order."""
        for i in range(1, len(r)):
            a, b = r[i - 1], r[i]
            need = x[a] + (size[a][0] + size[b][0]) / 2 + node_gap
            if x[b] < need:
                x[b] = need
        for i in range(len(r) - 2, -1, -1):
            a, b = r[i], r[i + 1]
            limit = x[b] - (size[a][0] + size[b][0]) / 2 - node_gap
            if x[a] > limit:
                x[a] = limit

    for k in range(12):
        order = range(1, depth) if k % 2 == 0 else range(depth - 2, -1, -1)
        for r in order:
            for n in rows[r]:
                nbrs = ups[n] if k % 2 == 0 else downs[n]
                if nbrs:
                    x[n] = (x[n] + sum(x[m] for m in nbrs) / len(nbrs)) / 2 if k > 8 else \
                        sum(x[m] for m in nbrs) / len(nbrs)
            separate(rows[r])
    left = min((x[n] - size[n][0] / 2 for r in rows for n in r), default=0)
    shift = margin - left
    for n in x:
        x[n] += shift
    width = max((x[n] + size[n][0] / 2 for r in rows for n in r), default=0) + margin
    height = y - layer_gap + margin

    positions = {n: (x[n], ys[layer[n]]) for n in nodes}
    routes = {}
    for (s, d), chain in chains.items():
        pts = [(x[s], ys[layer[s]] + size[s][1] / 2)]
        pts += [(x[p], ys[layer[p]]) for p in chain[1:-1]]
        pts.append((x[d], ys[layer[d]] - size[d][1] / 2))
        routes[(s, d)] = pts
    return Layout(positions, routes, width, height)
