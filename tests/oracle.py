"""The oracle: run one function on chainrule and on PyTorch with identical inputs and compare.

Modelled on tinygrad's ``helper_test_op``. A test writes the computation once, as a function of the
library module::

    check(lambda lib, a, b: lib.maximum(a, b), [(3, 1), (1, 4)])

``check`` builds the inputs (random float64 arrays for shapes, or the given values), runs ``fn``
with ``chainrule`` and with ``torch``, and asserts that every output agrees in value, dtype and
shape; then it backpropagates the same random upstream gradient through both (the implicit 1 for
a scalar output) and asserts that every input's ``.grad`` agrees, including which ones are None.
"""
import numpy as np
import torch

import chainrule

RTOL, ATOL = 1e-6, 1e-9


class nograd:
    """An input passed as a tensor that does not require grad (an index, a mask, a constant)."""

    def __init__(self, value):
        self.value = np.asarray(value)


def rand(*shape, low=-2.0, high=2.0, seed=None, away_from=None, margin=0.1):
    """Random float64 values in [low, high); ``away_from`` (a number) keeps them ``margin`` from it."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(low, high, size=shape)
    if away_from is not None:
        close = np.abs(a - away_from) < margin
        a[close] = away_from + np.where(a[close] >= away_from, margin, -margin) * 2
    return a


def _build(spec, rng):
    """``(value_for_chainrule, value_for_torch, differentiable?)`` for one entry of ``inputs``."""
    if isinstance(spec, nograd):
        return chainrule.tensor(spec.value.copy()), torch.tensor(spec.value.copy()), False
    if isinstance(spec, tuple):
        spec = rng.uniform(-2.0, 2.0, size=spec)
    if isinstance(spec, np.ndarray):
        a = spec.astype(np.float64) if spec.dtype.kind != "f" else spec
        return (chainrule.tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True),
                True)
    return spec, spec, False   # a Python scalar, a list, a dim ...: passed unchanged to both


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_same(cr, th, what="output", rtol=RTOL, atol=ATOL):
    """One chainrule tensor against one torch tensor: shape, dtype and values."""
    assert isinstance(cr, chainrule.Tensor), f"{what}: chainrule gave {type(cr).__name__}, not a Tensor"
    assert tuple(cr.shape) == tuple(th.shape), f"{what}: shape {tuple(cr.shape)} vs torch {tuple(th.shape)}"
    assert repr(cr.dtype) == repr(th.dtype), f"{what}: dtype {cr.dtype} vs torch {th.dtype}"
    a, b = cr.detach()._array, th.detach().numpy()
    if a.dtype.kind == "f":
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def check(fn, inputs, *, rtol=RTOL, atol=ATOL, grad=True, seed=0, torch_fn=None):
    """Assert that ``fn(chainrule, *inputs)`` matches ``fn(torch, *inputs)``, forward and backward.

    inputs: per argument, a shape tuple (random float64 values in [-2, 2) that require grad), a NumPy
    array (those values, float64, requiring grad), ``nograd(values)`` (a constant tensor), or anything
    else (a Python scalar, a list of dims), passed unchanged.
    torch_fn: a different function for the torch side, where the two APIs' spelling differs.
    Returns the chainrule and torch outputs for further checks.
    """
    rng = np.random.default_rng(seed)
    built = [_build(s, rng) for s in inputs]
    cr_in = [b[0] for b in built]
    th_in = [b[1] for b in built]
    cr_out = fn(chainrule, *cr_in)
    th_out = (torch_fn or fn)(torch, *th_in)
    cr_list, th_list = _flat(cr_out), _flat(th_out)
    assert len(cr_list) == len(th_list), f"{len(cr_list)} outputs vs torch's {len(th_list)}"
    for k, (c, t) in enumerate(zip(cr_list, th_list)):
        assert_same(c, t, f"output {k}", rtol, atol)
    if not grad:
        return cr_out, th_out

    # Backward through every differentiable output with the same upstream gradient.
    pairs = [(c, t) for c, t in zip(cr_list, th_list) if t.requires_grad]
    assert [c.requires_grad for c in cr_list] == [t.requires_grad for t in th_list], "requires_grad differs"
    if not pairs:
        return cr_out, th_out
    if len(pairs) == 1 and pairs[0][1].numel() == 1 and pairs[0][1].ndim == 0:
        pairs[0][0].backward()
        pairs[0][1].backward()
    else:
        ups = [rng.standard_normal(t.shape) for _, t in pairs]
        chainrule.autograd.backward([c for c, _ in pairs],
                                    [chainrule.tensor(u.astype(c.detach().numpy().dtype)) for (c, _), u in zip(pairs, ups)])
        torch.autograd.backward([t for _, t in pairs],
                                [torch.tensor(u).to(t.dtype) for (_, t), u in zip(pairs, ups)])
    for i, ((c, t, diff), spec) in enumerate(zip(built, inputs)):
        if not diff:
            continue
        if t.grad is None:
            assert c.grad is None, f"input {i}: chainrule has a gradient, torch has None"
        else:
            assert c.grad is not None, f"input {i}: chainrule's gradient is None, torch's is not"
            assert_same(c.grad, t.grad, f"grad of input {i}", rtol, atol)
    return cr_out, th_out


# ----- outcomes: a value or an exception, compared across the two libraries ----------------------
class Raised:
    """What a call raised, for comparing with the other library (the type, and the message to read)."""

    def __init__(self, exc):
        self.type, self.message = type(exc), str(exc)

    def __repr__(self):
        return f"Raised({self.type.__name__}: {self.message[:200]})"


def outcome(fn, lib):
    """``fn(lib)`` turned into plain data: NumPy arrays for tensors (with their dtype name and whether
    they require grad), lists for sequences, or a ``Raised`` for an exception."""
    try:
        return _plain(fn(lib))
    except Exception as exc:   # noqa: BLE001  (the outcome being compared)
        return Raised(exc)


def _plain(value):
    if isinstance(value, (chainrule.Tensor, torch.Tensor)):
        return ("tensor", str(value.dtype).replace("torch.", ""), value.requires_grad,
                value.detach().numpy().copy())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def assert_same_outcome(fn, *, rtol=RTOL, atol=ATOL, same_exception_type=True):
    """``fn(torch)`` and ``fn(chainrule)`` both raise (the same exception type), or both return equal
    values: tensors of the same shape and dtype, NaN where the other has NaN, and the same
    requires_grad. Returns chainrule's outcome."""
    th, cr = outcome(fn, torch), outcome(fn, chainrule)
    _compare(cr, th, "result", rtol, atol, same_exception_type)
    return cr


def _compare(cr, th, what, rtol, atol, same_exception_type):
    if isinstance(th, Raised) or isinstance(cr, Raised):
        assert isinstance(th, Raised) and isinstance(cr, Raised), f"{what}: torch gave {th!r}, chainrule {cr!r}"
        if same_exception_type:
            assert cr.type is th.type, f"{what}: torch raised {th!r}, chainrule {cr!r}"
        return
    if isinstance(th, tuple) and th and th[0] == "tensor":
        assert isinstance(cr, tuple) and cr and cr[0] == "tensor", f"{what}: torch gave a tensor, chainrule {cr!r}"
        assert cr[1] == th[1], f"{what}: dtype {cr[1]} vs torch {th[1]}"
        assert cr[2] == th[2], f"{what}: requires_grad {cr[2]} vs torch {th[2]}"
        a, b = cr[3], th[3]
        assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
        else:
            np.testing.assert_array_equal(a, b, err_msg=what)
        return
    if isinstance(th, list):
        assert isinstance(cr, list) and len(cr) == len(th), f"{what}: torch gave {len(th)} items, chainrule {cr!r}"
        for i, (c, t) in enumerate(zip(cr, th)):
            _compare(c, t, f"{what}[{i}]", rtol, atol, same_exception_type)
        return
    if isinstance(th, float) and np.isnan(th):
        assert isinstance(cr, float) and np.isnan(cr), f"{what}: {cr!r} vs torch nan"
        return
    assert cr == th, f"{what}: {cr!r} vs torch {th!r}"
