"""The error function on arrays: a fast rational approximation for float32, exact libm values otherwise.

NumPy has no ``erf``. Exact GELU (``x·Φ(x)``, ``Φ(x) = (1 + erf(x/√2)) / 2``) sits in every transformer
MLP, so erf runs on activation-sized arrays every step; SciPy's (optional) ``erf`` takes ~28 ns an
element in float32, and the standard library's ``math.erf`` element by element far longer.

float32 (and the 16-bit floats, computed in float32): ``erf(x) ≈ x·P(x²)/Q(x²)`` with P of degree 5 and
a monic Q of degree 5, on x clamped to [-4, 4] (float32's erf is exactly ±1 from |x| = 3.92 on). We
fitted the coefficients to ``math.erf`` on [0, 4] (4,000 Chebyshev and 4,000 evenly spaced points) by
linearised least squares, iterated with the previous denominator as weight (Sanathanan–Koerner) and
Lawson's reweighting towards the largest errors. Evaluated in float32 as below, the largest error over
[-5, 5] is 3.9e-7 (6.4 units in the last place), tested in ``tests/test_fused.py``. It costs about a
dozen in-place array passes (no temporaries beyond two work arrays).

float64: SciPy's ``erf`` where SciPy is installed, else ``math.erf`` element by element: exact, slower.
"""
import math

from .._backend import xp as np

# x·P(t)/Q(t), t = x², lowest degree first; Q is monic (its t⁵ coefficient is 1).
_P = (30108.279296875, 5236.45849609375, 1426.6513671875, 106.82498931884766, 7.685163497924805,
      0.052688002586364746)
_Q = (26682.771484375, 13534.8896484375, 3107.90283203125, 412.0946960449219, 32.45402526855469)
_CLAMP = 4.0


def erf_array(a):
    """erf of a floating array, in its dtype (float16/bfloat16 go through float32)."""
    if a.dtype == np.float64:
        return _erf_exact(a)
    if a.dtype == np.float32:
        return _erf_float32(a)
    return _erf_float32(a.astype(np.float32)).astype(a.dtype)


def _erf_float32(a):
    x = np.clip(a, -_CLAMP, _CLAMP)   # (np.clip: NumPy's minimum/maximum are several times slower here)
    t = x * x
    p = t * _P[5]
    for c in _P[4:0:-1]:
        p += c
        p *= t
    p += _P[0]
    q = t + _Q[4]
    for c in _Q[3::-1]:
        q *= t
        q += c
    p *= x
    p /= q
    return np.clip(p, -1.0, 1.0)      # the fit may overshoot ±1 by a few units in the last place


def _erf_exact(a):
    try:
        from scipy.special import erf as scipy_erf
    except ImportError:  # SciPy is optional: the standard library, element by element
        return np.vectorize(math.erf, otypes=[a.dtype])(a)
    return scipy_erf(a).astype(a.dtype, copy=False)
