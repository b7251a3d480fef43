"""Randomness: one global generator (seeded by ``manual_seed``), and ``Generator`` objects.

As in PyTorch, a new ``Generator()`` starts from a fixed seed, while the global generator starts from a
fresh seed in every process (an unseeded script draws other numbers each run; ``manual_seed`` makes it
repeat). The streams are NumPy's (PCG64), not PyTorch's: the same seed gives different numbers in chainrule
and in PyTorch.
"""
from ._backend import xp as np

from . import dtypes
from .creation import _factory, _float_dtype, _size
from .tensor import Tensor, _make

_DEFAULT_SEED = 67280421310721


class Generator:
    """A random stream; ``Generator().manual_seed(0)`` makes a reproducible one."""

    def __init__(self, device="cpu"):
        self._seed = _DEFAULT_SEED
        self.np = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        self._seed = int(seed)
        self.np = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy % (2 ** 63))
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        return self.np.bit_generator.state

    def set_state(self, state):
        self.np.bit_generator.state = state
        return self


_global = Generator()
_global.seed()   # PyTorch seeds its default generator from the system's entropy when it starts


def default_generator():
    """The global generator (what ``manual_seed`` seeds)."""
    return _global


def manual_seed(seed):
    """Seed the global generator: everything random after this repeats exactly."""
    return _global.manual_seed(seed)


def seed():
    return _global.seed()


def initial_seed():
    return _global.initial_seed()


def get_rng_state():
    return _global.get_state()


def set_rng_state(state):
    _global.set_state(state)


def _gen(generator):
    return (generator or _global).np


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1)."""
    return _factory(_gen(generator).random(_size(size)).astype(_float_dtype(dtype)), requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal."""
    return _factory(_gen(generator).standard_normal(_size(size)).astype(_float_dtype(dtype)), requires_grad, device)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Integers in [low, high)."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if high is None or size is None:
        raise TypeError("randint() missing required arguments: use randint(high, size) or randint(low, high, size)")
    out = _gen(generator).integers(low, high, size=_size((size,)))
    return _factory(out.astype(dtypes.to_dtype(dtype).np if dtype else np.int64), requires_grad, device)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    return _factory(_gen(generator).permutation(int(n)).astype(dtypes.to_dtype(dtype).np if dtype else np.int64),
                    requires_grad, device)


def rand_like(x, dtype=None, generator=None, **kwargs):
    return rand(*x.shape, dtype=dtype or x.dtype, generator=generator)


def randn_like(x, dtype=None, generator=None, **kwargs):
    return randn(*x.shape, dtype=dtype or x.dtype, generator=generator)


def randint_like(x, low=0, high=None, dtype=None, generator=None, **kwargs):
    return randint(low, high, x.shape, dtype=dtype or x.dtype, generator=generator)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None):
    """Samples of N(mean, std²); ``mean``/``std`` may be tensors (broadcast) or numbers with ``size``."""
    m = mean._array if isinstance(mean, Tensor) else mean
    s = std._array if isinstance(std, Tensor) else std
    shape = _size((size,)) if size is not None else np.broadcast_shapes(np.shape(m), np.shape(s))
    out = _gen(generator).normal(m, s, size=shape)
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    np_dtype = like._array.dtype if like is not None else _float_dtype(dtype)
    return _make(out.astype(np_dtype))


def bernoulli(p, *, generator=None):
    """1 with probability ``p`` (a tensor of probabilities), else 0; same dtype as ``p``."""
    P = p._array
    return _make((_gen(generator).random(P.shape) < P).astype(P.dtype))


def multinomial(probs, num_samples, replacement=False, *, generator=None):
    """Draw category indices from (unnormalised) ``probs``: one row per distribution."""
    P = probs._array.astype(np.float64)
    rows = P.reshape(-1, P.shape[-1])
    g = _gen(generator)
    out = np.stack([g.choice(rows.shape[1], size=num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return _make(out.reshape(P.shape[:-1] + (num_samples,)).astype(np.int64))


# ----- in-place fills (what nn.init uses) ----------------------------------------------------------
def _fill(x, values):
    from .ops.inplace import _check_recordable
    from .autograd.grad_mode import is_grad_enabled
    if is_grad_enabled() and x._requires_grad:
        _check_recordable(x)
    x._array[...] = values
    x._vc[0] += 1
    return x


def uniform_(x, a=0.0, b=1.0, *, generator=None):
    return _fill(x, _gen(generator).uniform(a, b, size=x.shape))


def normal_(x, mean=0.0, std=1.0, *, generator=None):
    return _fill(x, _gen(generator).normal(mean, std, size=x.shape))


def bernoulli_(x, p=0.5, *, generator=None):
    return _fill(x, _gen(generator).random(x.shape) < p)


def exponential_(x, lambd=1.0, *, generator=None):
    return _fill(x, _gen(generator).exponential(1.0 / lambd, size=x.shape))


def random_(x, low=0, high=None, *, generator=None):
    if high is None:
        low, high = 0, low if low else 2 ** 24
    return _fill(x, _gen(generator).integers(low, high, size=x.shape))
