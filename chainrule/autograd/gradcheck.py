"""Finite-difference checks of gradients: ``gradcheck`` and ``gradgradcheck``.

Each input that requires grad is nudged by ±eps, one element at a time, and the central difference
(f(x+eps) - f(x-eps)) / 2eps is compared with the row of the Jacobian autograd computes. In float64,
so that the comparison measures the gradient, not rounding. Public: learners can check their own
functions (or their own autograd.Function) the same way the test suite checks every op.
"""
from .._backend import xp as np

from . import grad_mode


class GradcheckError(RuntimeError):
    """The analytical and numerical Jacobians disagree."""


def _tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _as_float64(inputs):
    from ..tensor import Tensor
    out = []
    for t in inputs:
        if isinstance(t, Tensor) and t.is_floating_point():
            c = t.detach().double().clone() if t._array.dtype != np.float64 else t.detach().clone()
            c.requires_grad = t.requires_grad
            out.append(c)
        else:
            out.append(t)
    return tuple(out)


def _outputs(func, inputs):
    from ..tensor import Tensor
    return tuple(o for o in _tuple(func(*inputs)) if isinstance(o, Tensor))


def _numerical_jacobian(func, inputs, x, eps):
    """J[i, j] = d out_flat[i] / d x_flat[j] by central differences, for each output."""
    flat = x._array.reshape(-1)   # a view: nudging it nudges x
    columns = []
    with grad_mode.no_grad():
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = [o._array.astype(np.float64).ravel().copy() for o in _outputs(func, inputs)]
            flat[j] = orig - eps
            minus = [o._array.astype(np.float64).ravel().copy() for o in _outputs(func, inputs)]
            flat[j] = orig
            columns.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
    n_out = len(columns[0]) if columns else 0
    return [np.stack([c[k] for c in columns], axis=1) if columns else None for k in range(n_out)]


def _analytical_jacobian(outputs, x):
    """Row i of J by one backward pass with a one-hot gradient on output element i."""
    from . import grad
    from ..tensor import _make
    jacobians = []
    for out in outputs:
        rows = []
        for i in range(out._array.size):
            onehot = np.zeros(out._array.size, dtype=out._array.dtype)
            onehot[i] = 1
            if not out.requires_grad:
                rows.append(np.zeros(x._array.size))
                continue
            (g,) = grad(out, x, _make(onehot.reshape(out._array.shape)), retain_graph=True, allow_unused=True)
            rows.append(np.zeros(x._array.size) if g is None else g._array.astype(np.float64).ravel())
        jacobians.append(np.stack(rows) if rows else np.zeros((0, x._array.size)))
    return jacobians


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **unused):
    """True if autograd's gradients of ``func`` at ``inputs`` match finite differences.

    Inputs are copied to float64. On a mismatch, raises GradcheckError naming the input, the output
    and both Jacobians (or returns False with ``raise_exception=False``).
    """
    inputs = _as_float64(_tuple(inputs))
    diff = [(i, t) for i, t in enumerate(inputs) if getattr(t, "requires_grad", False)]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of "
                         "them have requires_grad=True.")
    outputs = _outputs(func, inputs)
    for i, x in diff:
        numerical = _numerical_jacobian(func, inputs, x, eps)
        analytical = _analytical_jacobian(outputs, x)
        if len(analytical) != len(numerical):
            raise GradcheckError(f"func returned {len(analytical)} tensors with grad enabled but "
                                 f"{len(numerical)} under no_grad: cannot compare the Jacobians")
        for k, (a, n) in enumerate(zip(analytical, numerical)):
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(
                    f"Jacobian mismatch for output {k} with respect to input {i},\n"
                    f"numerical:{n}\nanalytical:{a}\n")
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, **unused):
    """gradcheck of the gradient itself: checks that the backward rules are correctly differentiable."""
    from . import grad
    from ..tensor import _make
    inputs = _as_float64(_tuple(inputs))
    outputs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(_make(rng.standard_normal(o._array.shape), requires_grad=True) for o in outputs)
    grad_outputs = _as_float64(_tuple(grad_outputs))
    n = len(inputs)
    diff_positions = [i for i, t in enumerate(inputs) if getattr(t, "requires_grad", False)]

    def first_derivative(*args):
        # Grad mode on even while the numerical Jacobian is taken (under no_grad): without a graph
        # there would be no first derivative to difference, and the check would compare nothing.
        with grad_mode.enable_grad():
            ins, gos = args[:n], args[n:]
            outs = [o for o in _outputs(func, ins) if o.requires_grad]
            grads = grad(outs, [ins[i] for i in diff_positions], list(gos)[:len(outs)], create_graph=True,
                         allow_unused=True)
            # An unused input's gradient is zero (not absent), so every call returns the same outputs.
            return tuple(_make(np.zeros(ins[i]._array.shape, ins[i]._array.dtype)) if g is None else g
                         for i, g in zip(diff_positions, grads))

    return gradcheck(first_derivative, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
