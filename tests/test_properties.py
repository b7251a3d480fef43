"""Property tests: random broadcastable shapes and random chains of ops, compared with PyTorch.

Hypothesis draws the shapes, the values and the sequence of ops; the oracle checks values and the
gradient of every input. Each op keeps its inputs in a safe domain (log of a positive, division
by something away from zero), so a mismatch means a wrong rule, not an ill-conditioned point.
"""
import numpy as np
from hypothesis import given, settings, strategies as st

from oracle import check


@st.composite
def broadcastable_pair(draw):
    """Two shapes that broadcast: each dim of one is the other's, or 1, or missing (leading)."""
    ndim = draw(st.integers(0, 4))
    full = draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim))
    shapes = []
    for _ in range(2):
        drop = draw(st.integers(0, ndim))
        dims = [1 if draw(st.booleans()) else s for s in full[drop:]]
        shapes.append(tuple(dims))
    return shapes


def values(shape, draw, low=-2.0, high=2.0):
    seed = draw(st.integers(0, 2 ** 31 - 1))
    return np.random.default_rng(seed).uniform(low, high, size=shape)


BINARY = [
    lambda lib, a, b: a + b,
    lambda lib, a, b: a - b,
    lambda lib, a, b: a * b,
    lambda lib, a, b: a / (b * b + 0.5),
    lambda lib, a, b: lib.maximum(a, b),
    lambda lib, a, b: lib.minimum(a, b),
    lambda lib, a, b: lib.where(a > b, a, b * 2),
    lambda lib, a, b: (a * a + 0.5) ** b,
    lambda lib, a, b: a * b.sigmoid(),
]


@settings(max_examples=40, deadline=None)
@given(shapes=broadcastable_pair(), op=st.sampled_from(BINARY), data=st.data())
def test_binary_ops_broadcast(shapes, op, data):
    a = values(shapes[0], data.draw)
    b = values(shapes[1], data.draw)
    check(op, [a, b])


# Unary steps: each maps any real input to a finite output, so they chain safely.
STEPS = [
    lambda lib, x: x * 1.5 - 0.25,
    lambda lib, x: x.tanh(),
    lambda lib, x: x.sigmoid(),
    lambda lib, x: x.sin(),
    lambda lib, x: (x * x + 1).log(),
    lambda lib, x: (x * x + 0.1).sqrt(),
    lambda lib, x: x.exp().clamp(max=5.0),
    lambda lib, x: lib.nn.functional.softplus(x),
    lambda lib, x: lib.nn.functional.gelu(x),
    lambda lib, x: lib.softmax(x, dim=-1) if x.ndim else x.cos(),
    lambda lib, x: x - x.mean(dim=-1, keepdim=True) if x.ndim else x * 2,
    lambda lib, x: x / (x.abs().sum() + 1),
    lambda lib, x: x.flip(0) * x if x.ndim else x * x,
    lambda lib, x: x.transpose(0, -1).cos() if x.ndim > 1 else x.cos(),
    lambda lib, x: x.cumsum(-1) if x.ndim else x,
]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       ops=st.lists(st.sampled_from(STEPS), min_size=3, max_size=6), data=st.data())
def test_random_compositions(shape, ops, data):
    def fn(lib, x):
        for op in ops:
            x = op(lib, x)
        return x
    check(fn, [values(shape, data.draw)], rtol=1e-6, atol=1e-8)


REDUCTIONS = [
    lambda lib, x, d: x.sum(d),
    lambda lib, x, d: x.mean(d, keepdim=True),
    lambda lib, x, d: x.amax(d),
    lambda lib, x, d: x.logsumexp(d),
    lambda lib, x, d: x.var(d),
    lambda lib, x, d: x.max(d[0]).values if d else x.max(),
]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(2, 4), min_size=1, max_size=3).map(tuple),
       op=st.sampled_from(REDUCTIONS), data=st.data())
def test_reductions_over_random_dims(shape, op, data):
    dims = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                              unique_by=lambda d: d % len(shape)))
    check(lambda lib, x: op(lib, x, tuple(dims)), [values(shape, data.draw)])


@settings(max_examples=30, deadline=None)
@given(batch=st.lists(st.integers(1, 3), min_size=0, max_size=2), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), squeeze=st.sampled_from(["none", "left", "right"]), data=st.data())
def test_matmul_random_shapes(batch, n, k, m, squeeze, data):
    a_batch = [b if data.draw(st.booleans()) else 1 for b in batch]
    a_shape = (k,) if squeeze == "left" else tuple(a_batch) + (n, k)
    b_shape = (k,) if squeeze == "right" else tuple(batch) + (k, m)
    check(lambda lib, a, b: a @ b, [values(a_shape, data.draw), values(b_shape, data.draw)])
