"""The differential fuzzer: random programs run in PyTorch and in chainrule, every difference named.

A program is a few inputs (float64 mostly, some float32, int64 and bool; shapes that broadcast, zero-size
dims now and then; values that include NaN, ±inf, ±0 and numbers near zero) and a list of steps. Each
step applies an op from ``OPS`` to tensors of the pool (the inputs and every result so far) and adds
its result to the pool: elementwise and scalar arithmetic, division near zero, pow, clamp, where,
comparisons, reductions, softmax, views and indexing, cat/stack, dtype casts, and in-place ops on
any pool tensor (views of other results included, so the base's history is rewritten), some under
no_grad. An op's parameters are drawn as raw numbers and read against the actual tensor (a dim is
``p % ndim``), so any op applies to any tensor and both libraries see the same call.

``run(program)`` executes the program on both libraries and returns the mismatches: a step that
raises in one only, a result whose shape, dtype, requires_grad, NaN positions or values differ (right
after the step and at the end, after later in-place ops), and after a backward pass from a weighted
sum of some results, the gradients of the inputs (None or not, NaN positions, values).

``tests/test_fuzz.py`` runs a fixed budget of programs in ``make test``; ``tests/fuzz_report.py``
(``make fuzz``) runs thousands and tallies the mismatches by kind.
"""
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from hypothesis import strategies as st

import chainrule

LIBS = (torch, chainrule)
SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e-300, -1e-300, 1e-20, 1e300, 1.0, -1.0, 0.5, 2.0, 3.0]


# ----- the ops ---------------------------------------------------------------------------------------
@dataclass
class Op:
    name: str
    arity: int          # how many pool tensors it takes
    fn: object          # fn(lib, xs, p) -> tensor (p: the drawn integers, read by the op as it likes)
    inplace: bool = False


def _dim(x, p, k=0):
    """A dim of x from the raw number p[k]; now and then one out of range (both libraries must raise)."""
    n = max(x.dim(), 1)
    return (p[k] % (n + 1)) - 1 if p[k] % 11 else n   # -1 .. n-1, and sometimes n


def _pick(values, p, k=0):
    return values[p[k] % len(values)]


SCALARS = [0.0, -0.0, 1e-300, 2.0, -3.0, 0.5, math.inf, math.nan, 1]
EXPONENTS = [0, 1, 2, 3, 0.5, -1, -2, 2.5, -0.5, 0.0]
BOUNDS = [None, -1.0, 0.0, 0.5, 2.0, math.nan]
F = lambda lib: lib.nn.functional   # noqa: E731


def _unary(name, method=None):
    return Op(name, 1, lambda lib, xs, p: getattr(xs[0], method or name)())


def _clamp(lib, xs, p):
    lo, hi = _pick(BOUNDS, p, 0), _pick(BOUNDS, p, 1)
    if lo is None and hi is None:
        lo = 0.0
    return xs[0].clamp(lo, hi)


def _reduce(method):
    def fn(lib, xs, p):
        x = xs[0]
        if p[0] % 3 == 0:
            return getattr(x, method)()
        return getattr(x, method)(_dim(x, p, 1), keepdim=bool(p[2] % 2))
    return fn


def _slice(lib, xs, p):
    x = xs[0]
    d = _dim(x, p)
    n = x.shape[d] if 0 <= d < x.dim() else 1
    start, stop, step = p[1] % (n + 2) - 1, p[2] % (n + 2), (1, 1, 2, 3, -1)[p[3] % 5]
    return x[(slice(None),) * max(d, 0) + (slice(start, stop, step),)]


def _int_index(lib, xs, p):
    x = xs[0]
    n = x.shape[0] if x.dim() else 0
    return x[(p[0] % (n + 2)) - 1 if n else 0]


def _index_tensor(lib, xs, p):
    x = xs[0]
    n = x.shape[0] if x.dim() else 1
    idx = lib.tensor([(p[k] % (n + 2)) - 1 for k in range(p[3] % 3 + 1)])   # -1 .. n: one may be out of range
    return x[idx]


def _gather(lib, xs, p):
    x = xs[0]
    d = _dim(x, p)
    shape = list(x.shape) or [1]
    n = shape[d] if 0 <= d < len(shape) else 1
    rng = np.random.default_rng(p[1])
    idx = rng.integers(-1 if p[2] % 5 == 0 else 0, max(n, 1), size=shape)
    return x.gather(d, lib.tensor(idx) if x.dim() else lib.tensor(idx.reshape(())))


def _index_select(lib, xs, p):
    x = xs[0]
    d = _dim(x, p)
    n = x.shape[d] if 0 <= d < x.dim() else 1
    return x.index_select(d, lib.tensor([(p[k] % (n + 1)) - (p[3] % 7 == 0) for k in (1, 2)]))


def _narrow(lib, xs, p):
    x = xs[0]
    d = _dim(x, p)
    n = x.shape[d] if 0 <= d < x.dim() else 1
    return x.narrow(d, p[1] % (n + 1), p[2] % (n + 1))


def _cat(lib, xs, p):
    return lib.cat([xs[0], xs[1]], _dim(xs[0], p))


def _stack(lib, xs, p):
    return lib.stack([xs[0], xs[1]], _dim(xs[0], p) + 1 if p[1] % 2 else 0)


def _expand(lib, xs, p):
    x = xs[0]
    return x.expand(*[3 if s == 1 and p[k % 4] % 2 else s for k, s in enumerate(x.shape)])


def _where(lib, xs, p):
    a, b = xs
    return lib.where(a > 0 if p[0] % 2 else a >= b, a, b)


def _masked_fill(lib, xs, p):
    return xs[0].masked_fill(xs[0] > 0, _pick([0.0, math.nan, math.inf, -2.0], p))


def _split_piece(lib, xs, p):
    x = xs[0]
    d = _dim(x, p)
    pieces = x.split(p[1] % 3 + 1, d) if p[2] % 2 else x.chunk(p[1] % 3 + 1, d)
    return pieces[p[3] % len(pieces)]


def _unbind_piece(lib, xs, p):
    pieces = xs[0].unbind(_dim(xs[0], p))
    return pieces[p[1] % len(pieces)] if pieces else xs[0]


def _to_int(lib, xs, p):
    # Out-of-range float-to-int casts are undefined behaviour (C's), so only values in range are cast.
    return xs[0].clamp(-100, 100).nan_to_num(0.0).long() if xs[0].is_floating_point() else xs[0].long()


def _max_dim(which):
    def fn(lib, xs, p):
        out = xs[0].max(_dim(xs[0], p), keepdim=bool(p[1] % 2))
        return out[which]
    return fn


def _median_dim(lib, xs, p):
    # values only: which index PyTorch picks among equal medians is its implementation's choice
    return xs[0].median(_dim(xs[0], p)).values


# PyTorch's own gradient at NaN for these depends on where the element sits in the tensor: its
# vectorised kernel (blocks of 8 float64 / 16 float32) and its scalar one (the rest) disagree. chainrule
# follows the vectorised one (tests/test_edge_values.py pins it); here NaN inputs are replaced by 0.
NAN_POSITION_DEPENDENT = {"elu", "hardtanh", "relu6", "hardswish"}


def _without_nan(lib, x, name):
    if name in NAN_POSITION_DEPENDENT and x.is_floating_point():
        return lib.where(x.isnan(), 0.0, x)
    return x


def _inplace(method, *fixed):
    def fn(lib, xs, p):
        x = xs[0]
        args = [lib.tensor(_pick(SCALARS, p)) if a == "s0d" else xs[1] if a == "x1" else _pick(SCALARS, p)
                if a == "s" else a for a in fixed]
        return getattr(x, method)(*args)
    return fn


def _setitem(kind):
    def fn(lib, xs, p):
        x = xs[0]
        value = xs[1] if kind.endswith("tensor") else _pick(SCALARS, p, 1)
        if kind.startswith("slice"):
            d = _dim(x, p)
            n = x.shape[d] if 0 <= d < x.dim() else 1
            index = (slice(None),) * max(d, 0) + (slice(p[2] % (n + 1), None),)
        elif kind.startswith("mask"):
            index = x > 0
            if kind.endswith("tensor"):
                value = value.reshape(-1)[:1].sum() if value.numel() else value.sum()
        else:
            n = x.shape[0] if x.dim() else 0
            index = (p[2] % (n + 2)) - 1 if n else ...
        x[index] = value
        return x
    return fn


def _weights(lib, x, shape, seed):
    """A parameter for a layer op: x's dtype when x is floating point (else float64, which PyTorch's
    layers refuse to mix with an integer input), values drawn from ``seed``, requiring grad."""
    dtype = x.dtype if x.is_floating_point() else lib.float64
    w = np.random.default_rng(seed).standard_normal(shape)
    return lib.tensor(w, dtype=dtype, requires_grad=True)


def _linear(lib, xs, p):
    x = xs[0]
    n = x.shape[-1] if x.dim() else 1
    w = _weights(lib, x, (3, n), p[0])
    return F(lib).linear(x, w, _weights(lib, x, (3,), p[1]) if p[2] % 2 else None)


def _layer_norm(lib, xs, p):
    x = xs[0]
    shape = tuple(x.shape[-(1 + p[0] % 2):]) or (1,)
    affine = p[1] % 2
    return F(lib).layer_norm(x, shape, _weights(lib, x, shape, p[2]) if affine else None,
                             _weights(lib, x, shape, p[3]) if affine else None)


def _attention(lib, xs, p):
    x = xs[0]   # self-attention: query, key and value all x (..., L, E)
    mask = None if p[0] % 3 else lib.tensor(np.tril(np.ones((x.shape[-2],) * 2, bool)) if x.dim() >= 2 else True)
    return F(lib).scaled_dot_product_attention(x, x, x, attn_mask=mask, is_causal=p[0] % 3 == 1)


def _pool(name):
    def fn(lib, xs, p):
        k = p[0] % 3 + 1
        return getattr(F(lib), name)(xs[0], k, stride=p[1] % 2 + 1, padding=p[2] % 2 if k > 1 else 0)
    return fn


def _rnn(lib, xs, p):
    x = xs[0]
    mode = ("LSTM", "GRU", "RNN")[p[0] % 3]
    layer = getattr(lib.nn, mode)(x.shape[-1] if x.dim() else 1, 2, batch_first=bool(p[1] % 2))
    if x.is_floating_point():
        layer = layer.to(x.dtype)
    with lib.no_grad():
        for k, (_, param) in enumerate(sorted(layer.named_parameters())):
            param.copy_(lib.tensor(np.random.default_rng(p[2] + k).uniform(-0.7, 0.7, tuple(param.shape))))
    return layer(x)[0]


def _under_no_grad(method, *args):
    def fn(lib, xs, p):
        with lib.no_grad():
            return getattr(xs[0], method)(*args)
    return fn


OPS = [
    # elementwise, one operand
    *[_unary(n) for n in ("neg", "abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "sign",
                          "floor", "ceil", "round", "trunc", "reciprocal", "square", "log1p", "expm1", "rsqrt",
                          "erf", "exp2", "log2", "nan_to_num", "clone", "detach", "contiguous")],
    Op("clamp", 1, _clamp),
    Op("pow_scalar", 1, lambda lib, xs, p: xs[0] ** _pick(EXPONENTS, p)),
    Op("scalar_pow", 1, lambda lib, xs, p: _pick([2.0, 0.0, 0.5, -1.0], p) ** xs[0]),
    Op("add_scalar", 1, lambda lib, xs, p: xs[0] + _pick(SCALARS, p)),
    Op("mul_scalar", 1, lambda lib, xs, p: xs[0] * _pick(SCALARS, p)),
    Op("div_scalar", 1, lambda lib, xs, p: xs[0] / _pick(SCALARS, p)),
    Op("scalar_div", 1, lambda lib, xs, p: _pick(SCALARS, p) / xs[0]),
    Op("scalar_sub", 1, lambda lib, xs, p: _pick(SCALARS, p) - xs[0]),
    Op("floordiv_scalar", 1, lambda lib, xs, p: xs[0] // _pick([2, 0, -3, 0.5, 0.0], p)),
    Op("mod_scalar", 1, lambda lib, xs, p: xs[0] % _pick([2, 0, -3, 0.5, 0.0], p)),
    *[Op(n, 1, (lambda n: lambda lib, xs, p: getattr(F(lib), n)(_without_nan(lib, xs[0], n)))(n))
      for n in ("elu", "leaky_relu", "gelu", "silu", "softplus", "hardtanh", "relu6", "logsigmoid", "mish",
                "hardsigmoid", "hardswish", "softsign", "tanhshrink")],
    Op("softmax", 1, lambda lib, xs, p: xs[0].softmax(_dim(xs[0], p))),
    # fused layer ops (one primitive each in chainrule), their parameters drawn per call
    Op("linear", 1, _linear),
    Op("layer_norm", 1, _layer_norm),
    Op("batch_norm", 1, lambda lib, xs, p: F(lib).batch_norm(xs[0], None, None, training=True)),
    Op("attention", 1, _attention),
    Op("max_pool1d", 1, _pool("max_pool1d")),
    Op("max_pool2d", 1, _pool("max_pool2d")),
    Op("avg_pool1d", 1, _pool("avg_pool1d")),
    Op("rnn", 1, _rnn),
    Op("log_softmax", 1, lambda lib, xs, p: xs[0].log_softmax(_dim(xs[0], p))),
    # elementwise, two operands (broadcasting)
    *[Op(n, 2, (lambda n: lambda lib, xs, p: getattr(lib, n)(xs[0], xs[1]))(n))
      for n in ("add", "sub", "mul", "div", "pow", "maximum", "minimum", "remainder", "fmod", "eq", "gt", "lt",
                "logical_and", "logical_xor")],
    Op("div_floor", 2, lambda lib, xs, p: lib.div(xs[0], xs[1], rounding_mode="floor")),
    Op("div_trunc", 2, lambda lib, xs, p: lib.div(xs[0], xs[1], rounding_mode="trunc")),
    Op("floor_divide", 2, lambda lib, xs, p: xs[0] // xs[1]),
    Op("where", 2, _where),
    Op("clamp_tensor", 2, lambda lib, xs, p: xs[0].clamp(min=xs[1]) if p[0] % 2 else xs[0].clamp(max=xs[1])),
    Op("masked_fill", 1, _masked_fill),
    # reductions
    *[Op(n, 1, _reduce(n)) for n in ("sum", "mean", "prod", "amax", "amin", "logsumexp", "nansum", "norm",
                                     "var", "std", "all", "any", "argmax", "argmin")],
    Op("max_all", 1, lambda lib, xs, p: xs[0].max()),
    Op("min_all", 1, lambda lib, xs, p: xs[0].min()),
    Op("max_dim", 1, _max_dim(0)),
    Op("max_dim_indices", 1, _max_dim(1)),
    Op("median_all", 1, lambda lib, xs, p: xs[0].median()),
    Op("median_dim", 1, _median_dim),
    Op("cumsum", 1, lambda lib, xs, p: xs[0].cumsum(_dim(xs[0], p))),
    # shapes, views and indexing
    Op("reshape_flat", 1, lambda lib, xs, p: xs[0].reshape(-1)),
    Op("view_2d", 1, lambda lib, xs, p: xs[0].view(1, -1) if p[0] % 2 else xs[0].reshape(-1, 1)),
    Op("transpose", 1, lambda lib, xs, p: xs[0].transpose(_dim(xs[0], p), _dim(xs[0], p, 1))),
    Op("t", 1, lambda lib, xs, p: xs[0].t()),
    Op("permute_reversed", 1, lambda lib, xs, p: xs[0].permute(*reversed(range(xs[0].dim())))),
    Op("unsqueeze", 1, lambda lib, xs, p: xs[0].unsqueeze(_dim(xs[0], p))),
    Op("squeeze", 1, lambda lib, xs, p: xs[0].squeeze() if p[0] % 2 else xs[0].squeeze(_dim(xs[0], p, 1))),
    Op("flatten", 1, lambda lib, xs, p: xs[0].flatten(_dim(xs[0], p)) if xs[0].dim() else xs[0].flatten()),
    Op("expand", 1, _expand),
    Op("flip", 1, lambda lib, xs, p: xs[0].flip(_dim(xs[0], p))),
    Op("narrow", 1, _narrow),
    Op("select", 1, lambda lib, xs, p: xs[0].select(_dim(xs[0], p), p[1] % 3 - 1)),
    Op("slice", 1, _slice),
    Op("int_index", 1, _int_index),
    Op("index_tensor", 1, _index_tensor),
    Op("mask_index", 1, lambda lib, xs, p: xs[0][xs[0] > 0]),
    Op("gather", 1, _gather),
    Op("index_select", 1, _index_select),
    Op("diagonal", 1, lambda lib, xs, p: xs[0].diagonal(p[0] % 3 - 1)),
    Op("tril", 1, lambda lib, xs, p: xs[0].tril(p[0] % 3 - 1)),
    Op("triu", 1, lambda lib, xs, p: xs[0].triu(p[0] % 3 - 1)),
    Op("repeat", 1, lambda lib, xs, p: xs[0].repeat(*([2] + [1] * max(xs[0].dim() - 1, 0)))),
    Op("split_piece", 1, _split_piece),
    Op("unbind_piece", 1, _unbind_piece),
    Op("cat", 2, _cat),
    Op("stack", 2, _stack),
    Op("matmul", 2, lambda lib, xs, p: xs[0] @ xs[1]),
    # dtypes
    Op("to_int", 1, _to_int),
    Op("to_bool", 1, lambda lib, xs, p: xs[0].bool()),
    Op("to_float64", 1, lambda lib, xs, p: xs[0].double()),
    Op("to_float32", 1, lambda lib, xs, p: xs[0].float()),
    # in place, on any pool tensor (a leaf, a view of one, a view of a result ...)
    Op("add_", 2, _inplace("add_", "x1"), True),
    Op("mul_", 2, _inplace("mul_", "x1"), True),
    Op("div_", 2, _inplace("div_", "x1"), True),
    Op("sub_scalar_", 1, _inplace("sub_", "s"), True),
    Op("mul_scalar_", 1, _inplace("mul_", "s"), True),
    Op("div_scalar_", 1, _inplace("div_", "s"), True),
    Op("pow_", 1, lambda lib, xs, p: xs[0].pow_(_pick(EXPONENTS, p)), True),
    Op("clamp_", 1, lambda lib, xs, p: xs[0].clamp_(_pick(BOUNDS[1:], p), None), True),
    *[Op(n, 1, _inplace(n), True) for n in ("exp_", "zero_", "relu_", "sigmoid_", "tanh_", "sqrt_", "neg_",
                                               "abs_")],
    Op("fill_", 1, _inplace("fill_", "s"), True),
    Op("fill_tensor_", 1, _inplace("fill_", "s0d"), True),
    Op("copy_", 2, _inplace("copy_", "x1"), True),
    Op("masked_fill_", 1, lambda lib, xs, p: xs[0].masked_fill_(xs[0] > 0, _pick(SCALARS, p)), True),
    Op("setitem_slice", 1, _setitem("slice"), True),
    Op("setitem_slice_tensor", 2, _setitem("slice_tensor"), True),
    Op("setitem_mask", 1, _setitem("mask"), True),
    Op("setitem_mask_tensor", 2, _setitem("mask_tensor"), True),
    Op("setitem_int", 1, _setitem("int"), True),
    Op("setitem_int_tensor", 2, _setitem("int_tensor"), True),
    Op("mul_under_no_grad", 1, _under_no_grad("mul_", 2.0), True),
    Op("add_under_no_grad", 1, _under_no_grad("add_", 1.0), True),
]
OPS_BY_NAME = {op.name: op for op in OPS}


# ----- programs ----------------------------------------------------------------------------------------
@dataclass
class Input:
    shape: tuple
    dtype: str
    seed: int
    special: float     # the fraction of elements replaced by special values (NaN, inf, ±0, tiny, huge)


@dataclass
class Program:
    inputs: list
    steps: list                   # (op name, pool indices, raw parameters)
    loss_picks: list = field(default_factory=list)   # pool indices summed into the loss (weighted)

    def describe(self):
        lines = [f"x{i} = {inp.dtype}{list(inp.shape)} (seed {inp.seed}, special {inp.special})"
                 for i, inp in enumerate(self.inputs)]
        n = len(self.inputs)
        for k, (name, refs, p) in enumerate(self.steps):
            lines.append(f"x{n + k} = {name}({', '.join(f'x{r}' for r in refs)}; p={p})")
        lines.append(f"loss from {['x%d' % i for i in self.loss_picks]}")
        return "\n".join(lines)


DTYPES = ["float64"] * 7 + ["float32", "int64", "bool"]


@st.composite
def programs(draw, max_steps=6):
    ndim = draw(st.sampled_from([0, 1, 1, 2, 2, 2, 3, 3]))
    base = [draw(st.sampled_from([1, 2, 3, 4, 2, 3, 1, 2, 3, 0])) for _ in range(ndim)]   # a 0-size dim: rarely
    inputs = []
    for _ in range(draw(st.integers(1, 3))):
        # A broadcastable variant of the base shape: some dims 1, some leading dims dropped.
        shape = [1 if draw(st.integers(0, 4)) == 0 else s for s in base]
        shape = shape[draw(st.integers(0, len(shape))) if draw(st.integers(0, 3)) == 0 else 0:]
        inputs.append(Input(tuple(shape), draw(st.sampled_from(DTYPES)), draw(st.integers(0, 2**31)),
                            draw(st.sampled_from([0.0, 0.0, 0.1, 0.3]))))
    steps = []
    for k in range(draw(st.integers(1, max_steps))):
        op = draw(st.sampled_from(OPS))
        pool = len(inputs) + k
        refs = [draw(st.integers(0, pool - 1)) for _ in range(op.arity)]
        if op.inplace and k and draw(st.integers(0, 7)):
            # Mostly on a result (a leaf that requires grad refuses in-place changes: both raise at once).
            refs[0] = draw(st.integers(len(inputs), pool - 1))
        steps.append((op.name, refs, [draw(st.integers(0, 1000)) for _ in range(4)]))
    pool = len(inputs) + len(steps)
    picks = sorted({pool - 1, draw(st.integers(0, pool - 1))})
    return Program(inputs, steps, picks)


def _input_values(inp):
    rng = np.random.default_rng(inp.seed)
    if inp.dtype == "bool":
        return rng.integers(0, 2, size=inp.shape).astype(bool)
    if inp.dtype == "int64":
        return rng.integers(-4, 5, size=inp.shape).astype(np.int64)
    a = rng.uniform(-3, 3, size=inp.shape)
    special = rng.uniform(size=inp.shape) < inp.special
    a[special] = rng.choice(SPECIAL, size=int(special.sum()))
    return a.astype(inp.dtype)


# ----- running and comparing -----------------------------------------------------------------------------
@dataclass
class Mismatch:
    kind: str
    where: str
    detail: str

    @property
    def op(self):
        return self.where.split(" = ")[-1]

    @property
    def known(self):
        """Why this difference stays (a PyTorch inconsistency chainrule does not copy), or None."""
        for kind, op, needles, reason in KNOWN:
            if self.kind == kind and op in (self.op, "*") and all(n in self.detail for n in needles.split(" ... ")):
                return reason
        return None


# Differences that stay, each with the reason: (kind, op or "*" for any, texts in the detail joined by
# " ... ", why).
KNOWN = [
    ("exception type", "index_select", "INDICES element is out of DATA bounds",
     "for the same out-of-range index PyTorch's index_select raises IndexError along the first and last dims "
     "and RuntimeError ('INDICES element is out of DATA bounds') along the others (two kernels); chainrule "
     "raises IndexError ('index out of range in self') along every dim"),
    ("raise: chainrule only", "index_tensor", "is out of bounds for dimension ... (an input is empty)",
     "an out-of-range index into a tensor with no elements along the other dims (shape (1, 0)): PyTorch checks "
     "each index only as it reads an element, so with none to read it passes; chainrule checks them all"),
    ("raise: chainrule only", "matmul", "same dtype",
     "PyTorch's batched matmul skips its dtype check when the contraction is empty (int64[1,1,0] @ "
     "float64[2,0,1] gives float64 zeros) yet refuses the same mixed dtypes for every other shape; chainrule "
     "refuses them always"),
    *[("forward requires_grad", op, "chainrule False vs torch True",
       "x[i] = v with an integer x and a v that requires grad: PyTorch's index_put_ marks the integer tensor as "
       "requiring grad (an integer tensor cannot have a gradient; copy_ and the other in-place writes into one "
       "leave it False, in PyTorch too); chainrule keeps it False") for op in ("setitem_mask_tensor",
                                                                            "setitem_int_tensor")],
    ("raise: torch only", "*", "is a view and its base or another view of its base has been modified inplace",
     "an output of split/unbind whose memory was changed in place: PyTorch refuses it as soon as it is used, "
     "chainrule when a gradient flows through it (both refuse to differentiate it)"),
    ("forward nan positions", "layer_norm", "vs torch [ ... nan",
     "a group whose squares overflow (|x| ~ 1e154 and up in float64): the variance is not representable; "
     "PyTorch's moments give NaN or 0 depending on its accumulation order, chainrule's give 0 (neither is the "
     "normalised value)"),
]


def _execute(lib, program):
    """Run the program's forward steps on ``lib``: the pool, a snapshot of each step's result, and
    the step that raised (with the exception) if one did."""
    pool, snapshots = [], []
    for inp in program.inputs:
        a = _input_values(inp)
        pool.append(lib.tensor(a, requires_grad=inp.dtype.startswith("float")))
    for k, (name, refs, p) in enumerate(program.steps):
        try:
            out = OPS_BY_NAME[name].fn(lib, [pool[r] for r in refs], p)
        except Exception as exc:   # noqa: BLE001  (compared with the other library)
            return pool, snapshots, (k, exc)
        pool.append(out)
        snapshots.append(_snapshot(out))
    return pool, snapshots, None


def _snapshot(t):
    if not isinstance(t, (torch.Tensor, chainrule.Tensor)):
        return ("other", repr(t))
    return (tuple(t.shape), str(t.dtype).replace("torch.", ""), bool(t.requires_grad), t.detach().numpy().copy())


def _compare_arrays(a, b, kind, where, rtol, atol):
    """Mismatches between chainrule's ``a`` and PyTorch's ``b`` (same shape): NaN positions, then values."""
    if a.dtype.kind not in "fc":
        if not np.array_equal(a, b):
            return [Mismatch(kind + " value", where, f"chainrule {a.ravel()[:6]} vs torch {b.ravel()[:6]}")]
        return []
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return [Mismatch(kind + " nan positions", where, f"chainrule {a.ravel()[:6]} vs torch {b.ravel()[:6]}")]
    ok = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if not ok.all():
        i = np.flatnonzero(~ok)[0]
        return [Mismatch(kind + " value", where, f"at flat index {i}: chainrule {a.ravel()[i]!r} vs torch "
                                                 f"{b.ravel()[i]!r}")]
    return []


def _compare_snapshot(c, t, kind, where, single=False):
    if c[0] == "other" or t[0] == "other":
        return [] if c == t else [Mismatch(kind + " result kind", where, f"chainrule {c[:2]} vs torch {t[:2]}")]
    if c[0] != t[0]:
        return [Mismatch(kind + " shape", where, f"chainrule {c[0]} vs torch {t[0]}")]
    if c[1] != t[1]:
        return [Mismatch(kind + " dtype", where, f"chainrule {c[1]} vs torch {t[1]}")]
    out = []
    if c[2] != t[2]:
        out.append(Mismatch(kind + " requires_grad", where, f"chainrule {c[2]} vs torch {t[2]}"))
    tol = (1e-4, 1e-5) if t[1] == "float32" or single else (1e-6, 1e-9)
    return out + _compare_arrays(c[3], t[3], kind, where, *tol)


def _loss(lib, pool, program):
    """A weighted sum of the picked results that are floating point and require grad (or None)."""
    total = None
    for i in program.loss_picks:
        t = pool[i]
        if not isinstance(t, (torch.Tensor, chainrule.Tensor)) or not t.is_floating_point() or not t.requires_grad:
            continue
        w = np.random.default_rng(i).standard_normal(tuple(t.shape))
        term = (t * lib.tensor(w, dtype=t.dtype)).sum()
        total = term if total is None else total + term
    return total


OUTCOMES = {"both raised": 0, "forward only (nothing to differentiate)": 0, "backward compared": 0,
            "both raised in backward": 0}   # how the programs run so far ended (for the report)


def run(program):
    """Run ``program`` on PyTorch and chainrule; the list of mismatches (empty when they agree)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        (tp, ts, terr), (cp, cs, cerr) = (_execute(lib, program) for lib in LIBS)
        found = []
        n = len(program.inputs)
        if terr or cerr:
            tk = terr[0] if terr else None
            ck = cerr[0] if cerr else None
            if tk != ck:
                who = "torch only" if ck is None or (tk is not None and tk < ck) else "chainrule only"
                step = min(k for k in (tk, ck) if k is not None)
                exc = (terr if who == "torch only" else cerr)[1]
                inputs = [tp[r] for r in program.steps[step][1]]
                empty = " (an input is empty)" if any(t.numel() == 0 for t in inputs) else ""
                return [Mismatch(f"raise: {who}", f"x{n + step} = {program.steps[step][0]}",
                                 f"{type(exc).__name__}: {str(exc)[:160]}{empty}")]
            if type(terr[1]) is not type(cerr[1]):
                found.append(Mismatch("exception type", f"x{n + tk} = {program.steps[tk][0]}",
                                      f"chainrule {type(cerr[1]).__name__}: {str(cerr[1])[:100]} vs torch "
                                      f"{type(terr[1]).__name__}: {str(terr[1])[:100]}"))
        for k, (c, t) in enumerate(zip(cs, ts)):
            found += _compare_snapshot(c, t, "forward", f"x{n + k} = {program.steps[k][0]}")
        if found:
            return found
        for i, (c, t) in enumerate(zip(cp, tp)):   # after every step: later in-place ops reach views
            found += _compare_snapshot(_snapshot(c), _snapshot(t), "final", f"x{i}")
        if terr:
            OUTCOMES["both raised"] += 1
        if found or terr:
            return found
        return _compare_backward(program, tp, cp)


def _compare_backward(program, tp, cp):
    losses, errors = [], []
    for lib, pool in zip(LIBS, (tp, cp)):
        try:   # (PyTorch refuses some stale views as soon as they are used; chainrule when differentiated)
            losses.append(_loss(lib, pool, program))
            errors.append(None)
        except Exception as exc:   # noqa: BLE001
            losses.append(None)
            errors.append(exc)
    if any(errors):
        if errors[0] is not None and errors[1] is None and losses[1] is not None:
            try:   # PyTorch refused a stale view on use: chainrule refuses it in backward
                losses[1].backward()
            except Exception as exc:   # noqa: BLE001
                errors[1] = exc
        return _compare_backward_errors(errors)
    if losses[0] is None or losses[1] is None:
        if (losses[0] is None) != (losses[1] is None):
            return [Mismatch("loss requires_grad", "loss", f"torch {losses[0] is not None}, chainrule "
                                                           f"{losses[1] is not None}")]
        OUTCOMES["forward only (nothing to differentiate)"] += 1
        return []
    errors = []
    for loss in losses:
        try:
            loss.backward()
            errors.append(None)
        except Exception as exc:   # noqa: BLE001
            errors.append(exc)
    if any(errors):
        return _compare_backward_errors(errors)
    OUTCOMES["backward compared"] += 1
    found = []
    # A float64 input's gradient that flowed through float32 ops carries float32 rounding.
    single = any(isinstance(t, torch.Tensor) and t.dtype == torch.float32 for t in tp)
    for i in range(len(program.inputs)):
        tg, cg = tp[i].grad, cp[i].grad
        if (tg is None) != (cg is None):
            found.append(Mismatch("grad None", f"x{i}.grad", f"torch {tg is None}, chainrule {cg is None}"))
        elif tg is not None:
            found += _compare_snapshot(_snapshot(cg), _snapshot(tg), "grad", f"x{i}.grad", single)
    return found


def _compare_backward_errors(errors):
    if (errors[0] is None) != (errors[1] is None):
        who = "torch only" if errors[0] is not None else "chainrule only"
        exc = errors[0] or errors[1]
        return [Mismatch(f"backward raise: {who}", "backward", f"{type(exc).__name__}: {str(exc)[:160]}")]
    OUTCOMES["both raised in backward"] += 1
    return []
