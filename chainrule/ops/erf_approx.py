"""The error function on arrays: a fast approximation for float32, exact libm values for float64.

NumPy has no ``erf``. Exact GELU (``x·Φ(x)``, ``Φ(x) = (1 + erf(x/√2)) / 2``) sits in every transformer
MLP, so erf runs on activation-sized arrays every step; SciPy's (optional) ``erf`` takes ~25 ns an
element in float32, and the standard library's ``math.erf`` element by element far longer.

float32 (and the 16-bit floats, computed in float32): ``erf(x) ≈ tanh(x·P(x²))`` with P of degree 6.
``atanh(erf(x))`` is a smooth odd function, so a short polynomial fits it; and tanh's slope, ``1 - erf²``,
shrinks the fit's error exactly where ``atanh(erf(x))`` grows without bound, while large |x| saturate to ±1
through tanh (P > 1 for every x², so no clamp is needed). We fitted the coefficients to SciPy's float64
erf on [0, 5] (8,000 Chebyshev and 8,000 evenly spaced points) by least squares weighted by tanh's slope
(and relatively near 0), with Lawson's reweighting towards the largest errors. Evaluated in float32 as
below, the largest error over [-6, 6] is 1.7e-7 (3.4 units in the last place), checked against
``math.erf`` in ``tests/test_fused.py``. It costs seven multiply-adds and one ``np.tanh``, in place.

float64: SciPy's ``erf`` where SciPy is installed, else ``math.erf`` element by element: exact, slower.
"""
import math

from .._backend import xp as np

from . import _parallel as parallel

# P(t), t = x², lowest degree first.
_P = (1.1283792656940366, 0.10276917353465365, -0.00019171801936566663, -0.0006201159324715471,
      8.781498272731128e-05, -5.7024367109970164e-06, 1.4394974115483627e-07)


def erf_array(a, out=None):
    """erf of a floating array, in its dtype (float16/bfloat16 go through float32); into ``out`` if given."""
    if a.dtype == np.float32:
        return _erf_float32(a, out)
    result = _erf_exact(a) if a.dtype == np.float64 else _erf_float32(a.astype(np.float32)).astype(a.dtype)
    if out is None:
        return result
    out[...] = result
    return out


def _erf_float32(a, out=None):
    with np.errstate(over="ignore"):    # |x| > 1.8e19: x² = inf, and tanh(±inf) = ±1 is right
        t = a * a
        p = np.multiply(t, _P[6], out=out)
        for c in _P[5:0:-1]:
            p += c
            p *= t
        p += _P[0]
        p *= a
    if not isinstance(p, np.ndarray):   # (0-d: NumPy gave a scalar)
        return np.asarray(np.tanh(p))
    return parallel.unary(np.tanh, p, p)


def _erf_exact(a):
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:  # SciPy is optional: the standard library, element by element
        return np.vectorize(math.erf, otypes=[a.dtype])(a)
    return scipy_erf(a).astype(a.dtype, copy=False)
