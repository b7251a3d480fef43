"""The Tensor: a NumPy array, and what autograd needs to know about it.

A tensor holds its array in ``_array``. Autograd state: ``requires_grad``; ``grad_fn``, the Node
that produced it (None for a leaf); ``grad``, where backward leaves dL/d(this tensor); ``_vc``,
a version counter shared with its views, bumped by every in-place change so that a backward rule
that saved this tensor can refuse to use a stale value.

The ops themselves live in ``chainrule.ops``; they are bound here as methods (``x.exp()``) and
exported as functions (``chainrule.exp(x)``): one definition serves both.
"""
from ._backend import xp as np

from . import dtypes
from ._pytorch_api import missing_attribute
from .autograd import engine
from .device import device as _device, check_device

_CPU = _device("cpu")

NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad attribute "
    "won't be populated during autograd.backward(). If you indeed want the .grad field to be populated "
    "for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you access the non-leaf Tensor "
    "by mistake, make sure you access the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 "
    "for more information.")


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``torch.Size([2, 3])``."""

    def __repr__(self):
        return f"torch.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


def _make(array, requires_grad=False, grad_fn=None):
    """A Tensor around ``array`` without any checks: the constructor every op uses."""
    t = _new(Tensor)
    if type(array) is not np.ndarray:
        array = np.asarray(array)
    t._array = array
    t._requires_grad = requires_grad
    t.grad_fn = grad_fn
    t._vc = [0]
    return t


_new = object.__new__


class Tensor:
    # The four fields every op sets are slots; the rarely-set ones below are class-level defaults
    # (an instance gets its own value only when one is set), which keeps creating a tensor cheap.
    __slots__ = ("_array", "_requires_grad", "grad_fn", "_vc", "__weakref__", "__dict__")
    _grad = None                   # .grad
    _hooks = None                  # hooks on a leaf's gradient
    _post_accumulate_hooks = None
    _accum = None                  # the leaf's AccumulateGrad node, made on first use
    _is_view = False               # shares memory (and version counter) with another tensor
    _base = None                   # a differentiable view's root base (autograd/views.py); detach() has none
    _view_creation = None          # why in-place changes through this view are refused (views.py)
    _views = None                  # a base's live views (weak references), refreshed after an in-place op
    _views_limit = 16              # when to prune dead ones from _views

    # NumPy must hand binary ops with a Tensor on the right back to us (ndarray * Tensor -> Tensor).
    __array_ufunc__ = None

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        """Legacy constructor: ``Tensor([1, 2])`` (float32 data) or ``Tensor(2, 3)`` (uninitialised)."""
        from .creation import _array_from_data
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            array = _array_from_data(args[0], dtypes.to_dtype(dtype) if dtype else dtypes.get_default_dtype())
        else:
            shape = tuple(int(a) for a in args)
            array = np.zeros(shape, (dtypes.to_dtype(dtype) if dtype else dtypes.get_default_dtype()).np)
        self._copy_state(_make(array))
        if requires_grad:
            self.requires_grad = True

    def __getattr__(self, name):
        # Only called when normal lookup fails: name PyTorch's method if PyTorch has it.
        raise missing_attribute("chainrule.Tensor", name, f"'Tensor' object has no attribute '{name}'")

    # ----- what a tensor is -------------------------------------------------------------------
    @property
    def dtype(self):
        return dtypes.from_numpy_dtype(self._array.dtype)

    @property
    def shape(self):
        return Size(self._array.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._array.shape)
        return self._array.shape[_check_dim(dim, self._array.ndim)]

    @property
    def ndim(self):
        return self._array.ndim

    def dim(self):
        return self._array.ndim

    ndimension = dim

    def numel(self):
        return self._array.size

    nelement = numel

    def element_size(self):
        return self._array.itemsize

    @property
    def device(self):
        return _CPU

    is_cuda = False
    is_sparse = False
    is_quantized = False

    def is_floating_point(self):
        return dtypes.is_float_np(self._array.dtype)

    def is_contiguous(self, memory_format=None):
        return self._array.flags.c_contiguous

    def contiguous(self, memory_format=None):
        return self if self._array.flags.c_contiguous else self.clone()

    def data_ptr(self):
        return self._array.ctypes.data

    # ----- autograd state ---------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if flag and not dtypes.is_float_np(self._array.dtype):
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype}); "
                f"convert first, e.g. x.float()")
        if not flag and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        self._requires_grad = flag

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def grad(self):
        g = self._grad
        if g is None and self.grad_fn is not None and self.grad_fn.retained is None:
            # PyTorch's warning: learners print z.grad of an intermediate z and would see None unexplained.
            import warnings
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value._array.shape != self._array.shape:
                raise RuntimeError(f"assigned grad has data of a different size: grad {tuple(value.shape)} "
                                   f"vs tensor {tuple(self.shape)}")
            if value._array.dtype != self._array.dtype:
                raise RuntimeError(f"assigned grad has data of a different type: grad {value.dtype} "
                                   f"vs tensor {self.dtype}")
        self._grad = value

    @property
    def data(self):
        """The same values, detached from the graph; in-place changes through it are not tracked."""
        return _make(self._array)

    @data.setter
    def data(self, value):
        self._array = value._array if isinstance(value, Tensor) else np.asarray(value)

    @property
    def _version(self):
        return self._vc[0]

    def _bump(self):
        self._vc[0] += 1

    def detach(self):
        """A tensor sharing this one's values and version counter, cut from the graph (a view that
        is not differentiable: an in-place op on it records its own history, not its base's)."""
        t = _make(self._array)
        t._vc = self._vc
        t._is_view = True
        return t

    def detach_(self):
        if self._is_view and self.grad_fn is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            import weakref
            self.grad_fn.retained = weakref.ref(self)

    @property
    def retains_grad(self):
        return self.grad_fn is not None and self.grad_fn.retained is not None

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            return self.grad_fn.register_prehook(hook)
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(hook)
        return engine._HookHandle(self._hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_accumulate_hooks is None:
            self._post_accumulate_hooks = []
        self._post_accumulate_hooks.append(hook)
        return engine._HookHandle(self._post_accumulate_hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Compute d(self)/d(leaf) for every leaf that requires grad, into ``leaf.grad``."""
        if gradient is None and inputs is None and self.grad_fn is not None and self._array.size == 1:
            # loss.backward(), the call of every training step: straight to the engine.
            engine.run_backward([self], [_make(np.ones_like(self._array))],
                                create_graph if retain_graph is None else retain_graph, create_graph)
            return
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # ----- conversion ---------------------------------------------------------------------------
    def item(self):
        if self._array.size != 1:
            raise RuntimeError(f"a Tensor with {self._array.size} elements cannot be converted to Scalar")
        return self._array.item()

    def tolist(self):
        return self._array.tolist()

    def numpy(self, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._array

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and dtype != self._array.dtype:
            return self._array.astype(dtype)
        return self._array.copy() if copy else self._array

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to('cpu')``, ``to(device, dtype)``, ``to(other_tensor)``."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (dtypes.dtype, np.dtype, type)):
                dtype = a
            else:
                dev = a
        if dev is not None:
            check_device(dev)
        if dtype is None:
            return self.clone() if copy else self
        from .ops.elementwise import cast
        out = cast(self, dtypes.to_dtype(dtype))
        return out.clone() if copy and out is self else out

    def type(self, dtype=None):
        if dtype is None:
            return f"torch.{_TYPE_NAMES.get(self._array.dtype, 'Tensor')}"
        if isinstance(getattr(dtype, "dtype", None), dtypes.dtype):   # a legacy type: x.type(torch.FloatTensor)
            dtype = dtype.dtype
        elif isinstance(dtype, str) and dtype.startswith("torch.") and dtype[6:] in _TYPE_NAMES.values():
            dtype = next(np_dt for np_dt, name in _TYPE_NAMES.items() if name == dtype[6:])
        return self.to(dtypes.to_dtype(dtype))

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def bool(self):
        return self.to(dtypes.bool)

    def short(self):
        return self.to(dtypes.int16)

    def byte(self):
        return self.to(dtypes.uint8)

    def char(self):
        return self.to(dtypes.int8)

    def cpu(self):
        return self

    def cuda(self, device=None):
        check_device("cuda")

    # ----- Python protocol ----------------------------------------------------------------------
    def __len__(self):
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def __iter__(self):
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._array.shape[0]))

    def _scalar(self, kind):
        if self._array.size != 1:
            raise RuntimeError(f"only one element tensors can be converted to Python scalars "
                               f"(this one has {self._array.size} elements, cannot convert to {kind})")
        return self._array.item()

    def __bool__(self):
        if self._array.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self._array.size} elements is ambiguous")
        return bool(self._array.item())

    def __float__(self):
        return float(self._scalar("float"))

    def __int__(self):
        return int(self._scalar("int"))

    def __index__(self):
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._array.item())

    def __complex__(self):
        return complex(self._scalar("complex"))

    __hash__ = object.__hash__

    def __repr__(self, *, tensor_contents=None):
        from .printing import tensor_repr
        return tensor_repr(self)

    def __str__(self):
        return self.__repr__()

    def __format__(self, spec):
        # PyTorch formats a 0-d tensor as its Python number (f"{loss}" is "2.5", not "tensor(2.5000)").
        if self._array.ndim == 0:
            return self._array.item().__format__(spec)
        return object.__format__(self, spec)

    def __deepcopy__(self, memo):
        if self.grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support "
                               "the deepcopy protocol at the moment")
        new = _rebuild(type(self), self._array, self._requires_grad)
        if self._grad is not None:
            new._grad = _make(self._grad._array.copy())
        memo[id(self)] = new
        if self.__dict__:
            import copy
            new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def _copy_state(self, other):
        for name in ("_array", "_requires_grad", "grad_fn", "_grad", "_vc", "_hooks",
                     "_post_accumulate_hooks", "_accum", "_is_view", "_base", "_view_creation"):
            setattr(self, name, getattr(other, name))

    def __reduce_ex__(self, protocol):
        return (_rebuild, (type(self), self._array, self._requires_grad))

    # ----- new tensors like this one ------------------------------------------------------------
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        from .creation import tensor
        return tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import zeros
        return zeros(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        from .creation import ones
        return ones(*size, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        from .creation import full
        return full(size, fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, requires_grad=requires_grad)


def _rebuild(cls, array, requires_grad):
    t = _make(array.copy(), requires_grad)
    if cls is not Tensor:
        new = cls.__new__(cls)
        Tensor._copy_state(new, t)
        return new
    return t


_TYPE_NAMES = {np.dtype(np.float32): "FloatTensor", np.dtype(np.float64): "DoubleTensor",
               np.dtype(np.int64): "LongTensor", np.dtype(np.int32): "IntTensor",
               np.dtype(np.bool_): "BoolTensor", np.dtype(np.float16): "HalfTensor",
               np.dtype(np.uint8): "ByteTensor"}


def _check_dim(dim, ndim):
    """``dim`` normalised to [0, ndim), with PyTorch's error for one out of range."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim + n if dim < 0 else dim


engine._bind(Tensor=Tensor, _make=_make)
