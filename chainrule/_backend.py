"""The one seam between chainrule and its array library.

Every primitive op calls ``xp`` (NumPy today). A GPU array library with NumPy's interface
(CuPy) can be plugged in here later without rewriting the ops: the ops only use functions
that both libraries share.
"""
import numpy

xp = numpy

# The concrete array type the core stores inside a Tensor.
ndarray = numpy.ndarray


def asarray(value, dtype=None):
    """An ``xp`` array for ``value`` (never a NumPy scalar: 0-d results of ufuncs are wrapped)."""
    out = xp.asarray(value, dtype=dtype)
    return out
