"""Views, and in-place ops on them: PyTorch's view rebase (its CopySlices and AsStrided nodes).

A view (``h[:, 0]``, ``h.view(6)``, ``h.t()``, ``h.diagonal()``) shares memory with its *base* (the
tensor at the root of a chain of views: ``v._base``). An in-place op on a view changes the base's
values, so, while gradients are recorded, it must also change the base's history:

    h[:, 0] += 1      # h's new history: CopySlices(h's old history, (h[:, 0] + 1)'s history)

The base's new node sends the gradient of the positions the view covers to the in-place result,
and the rest to the base's old history. Every live view of that base then gets a fresh history as
a read of those positions from the base (``AsStridedBackward0``), so a view made before the change
(``first = h[:, 0]; h.mul_(2); first.sum().backward()``) still differentiates what it now holds.

Positions are flat indices into the base in C order, computed from the two NumPy arrays' memory
layout, so any chain of views (slices, transposes, reshapes, diagonals) is covered by one rule.
``detach()`` makes a view that is not differentiable: an in-place op on it gives it its own history
and leaves the base's alone, as in PyTorch.
"""
import weakref

from .._backend import xp as np

from .engine import record
from .grad_mode import state as grad_state

MULTI_OUTPUT_VIEW_ERROR = (
    "Output {i} of {fn} is a view and is being modified inplace. This view is the output of a function that "
    "returns multiple views. Such functions do not allow the output views to be modified inplace. You should "
    "replace the inplace operation by an out-of-place one.")
NO_GRAD_VIEW_ERROR = (
    "A view was created in no_grad mode and is being modified inplace with grad mode enabled. Given that this "
    "use case is ambiguous and error-prone, it is forbidden. You can clarify your code by moving both the view "
    "and the inplace either both inside the no_grad block (if you don't want the inplace to be tracked) or both "
    "outside (if you want the inplace to be tracked).")
STALE_MULTI_OUTPUT_VIEW_ERROR = (
    "Output {i} of {fn} is a view and its base or another view of its base has been modified inplace. This view "
    "is the output of a function that returns multiple views. Such functions do not allow the output views to be "
    "modified inplace. You should replace the inplace operation by an out-of-place one.")
LEAF_VIEW_ERROR = "a view of a leaf Variable that requires grad is being used in an in-place operation."


def memory_root(A):
    """The array that owns A's memory (A itself, or the end of its chain of NumPy bases)."""
    while True:   # (as_strided views have a NumPy helper object, itself with a .base, in the chain)
        base = getattr(A, "base", None)
        if base is None or not hasattr(base, "base"):
            return A
        A = base


def make_view(base, out):
    """Mark ``out`` as a view of ``base``: shared version counter, and the root base remembered.

    While recording (and unless the root is a leaf that requires grad, which no in-place op may
    change), the root keeps a weak reference to the view, to give it fresh history after an
    in-place change. A view made under no_grad is remembered as such: PyTorch refuses in-place
    changes through it once recording.
    """
    out._vc = base._vc
    out._is_view = True
    root = base if base._base is None else base._base
    out._base = root
    if isinstance(base._view_creation, tuple):
        out._view_creation = base._view_creation   # a view of a split/unbind output is refused as it is (PyTorch)
    if not grad_state.enabled:
        out._view_creation = "no_grad"
    elif root.grad_fn is not None or not root._requires_grad:
        views = root._views
        if views is None:
            views = root._views = []
        elif len(views) >= root._views_limit:
            _prune(root)
        views.append(weakref.ref(out))
    return out


def mark_multi_output(views, fn):
    """Views returned together (``split``, ``chunk``, ``unbind``): PyTorch refuses in-place changes
    through them while recording."""
    for i, v in enumerate(views):
        if v._base is not None:
            v._view_creation = (i, fn)
    return views


def _prune(root):
    """Drop dead views; the next prune comes when the live ones have doubled (amortised O(1))."""
    live = [r for r in root._views if r() is not None]
    root._views = live
    root._views_limit = 2 * len(live) + 16


def check_view_inplace(x):
    """The errors PyTorch raises for an in-place op through the view ``x`` while recording."""
    creation = x._view_creation
    if creation == "no_grad":
        raise RuntimeError(NO_GRAD_VIEW_ERROR)
    if creation is not None:
        i, fn = creation
        raise RuntimeError(MULTI_OUTPUT_VIEW_ERROR.format(i=i, fn=fn))
    root = x._base
    if root.grad_fn is None and root._requires_grad:
        raise RuntimeError(LEAF_VIEW_ERROR + " Wrap the update in `with torch.no_grad():`, or use an "
                                             "out-of-place op.")


def positions(root, view):
    """Flat C-order indices into ``root`` of each element of ``view`` (an int64 array of view's shape),
    read from the two arrays' memory layout; None if the view's memory is not inside the root's."""
    R, V = root._array, view._array
    size = R.itemsize
    if V.itemsize != size:
        return None
    start = V.__array_interface__["data"][0] - R.__array_interface__["data"][0]
    offsets = np.full(V.shape, start, dtype=np.int64)
    for d, (n, s) in enumerate(zip(V.shape, V.strides)):
        offsets += (np.arange(n, dtype=np.int64) * s).reshape([-1 if k == d else 1 for k in range(V.ndim)])
    if R.flags.c_contiguous:
        flat = offsets // size
        ok = (offsets % size == 0) & (flat >= 0) & (flat < R.size)
        return flat if ok.all() else None
    # Any other layout: look each byte offset up among the root's own, taken in C order.
    root_offsets = np.zeros(R.shape, dtype=np.int64)
    for d, (n, s) in enumerate(zip(R.shape, R.strides)):
        root_offsets += (np.arange(n, dtype=np.int64) * s).reshape([-1 if k == d else 1 for k in range(R.ndim)])
    root_offsets = root_offsets.reshape(-1)
    order = np.argsort(root_offsets, kind="stable")
    found = np.searchsorted(root_offsets[order], offsets).clip(0, max(R.size - 1, 0))
    if R.size == 0 or not (root_offsets[order][found] == offsets).all():
        return None if V.size else offsets
    return order[found]


def gather_positions(t, idx):
    """``t``'s elements at flat positions ``idx`` (shaped like idx), as a recorded op."""
    shape = t._array.shape
    return record(t._array.reshape(-1)[idx], "AsStridedBackward0", (t,),
                  lambda g: (scatter_positions(g, idx, shape),))


def scatter_positions(g, idx, shape):
    """Zeros of ``shape`` with ``g`` added at flat positions ``idx`` (the backward of gather_positions)."""
    z = np.zeros(int(np.prod(shape)), dtype=g._array.dtype)
    np.add.at(z, idx.reshape(-1), g._array.reshape(-1))
    return record(z.reshape(shape), "AsStridedScatterBackward0", (g,), lambda gg: (gather_positions(gg, idx),))


def zero_positions(g, idx):
    """``g`` with the flat positions ``idx`` set to 0 (selected, so an inf there leaves no NaN)."""
    G = g._array.copy()
    G.reshape(-1)[idx.reshape(-1)] = 0
    return record(G, "CopySlicesBackward", (g,), lambda gg: (zero_positions(gg, idx),))


def rebase(view, result):
    """After ``view``'s values became ``result``'s: give the root base its new history
    (CopySlices: the view's positions from ``result``, the rest from the old history)."""
    from ..tensor import _make
    root = view._base
    idx = positions(root, view)
    if idx is None:   # the base's memory was replaced since (``base.data = ...``): not a view any more
        return False
    old = _make(root._array, root._requires_grad, root.grad_fn)
    node = record(root._array, "torch::autograd::CopySlices", (old, result),
                  lambda g: (zero_positions(g, idx), gather_positions(g, idx))).grad_fn
    root.grad_fn = node
    root._requires_grad = node is not None or root._requires_grad
    return True


def _refuse_stale(i, fn):
    def backward(g):
        raise RuntimeError(STALE_MULTI_OUTPUT_VIEW_ERROR.format(i=i, fn=fn))
    return backward


def after_untracked_write(x):
    """``x`` changed in place with nothing recorded (under no_grad): outputs of split/unbind that share its
    memory and require grad are stale, and PyTorch refuses to differentiate through them from now on
    (ops recorded before the change keep their history)."""
    from ..tensor import _make
    root = x if x._base is None else x._base
    for v in [x] + [ref() for ref in root._views or ()]:
        if v is None or not isinstance(v._view_creation, tuple) or v.grad_fn is None \
                or getattr(v.grad_fn, "stale_view", False):
            continue
        prev, grad_state.enabled = grad_state.enabled, True
        try:
            node = record(v._array, "SplitBackward0", (_make(v._array, True, v.grad_fn),),
                          _refuse_stale(*v._view_creation)).grad_fn
        finally:
            grad_state.enabled = prev
        node.stale_view = True
        v.grad_fn = node


def refresh_views(root):
    """Give every live view of ``root`` its history as a read of its positions from root's."""
    if root._views is None:
        return
    from ..tensor import _make
    live = []
    source = None
    for ref in root._views:
        v = ref()
        if v is None:
            continue
        idx = positions(root, v)
        if idx is None:
            continue
        live.append(ref)
        if root._requires_grad:
            if source is None:
                source = _make(root._array, True, root.grad_fn)
            v.grad_fn = gather_positions(source, idx).grad_fn
            v._requires_grad = True
            if isinstance(v._view_creation, tuple):
                # An output of split/unbind has no history of its own to give after the change: PyTorch
                # refuses to differentiate through it (it says so on use; chainrule in backward).
                v.grad_fn.backward = _refuse_stale(*v._view_creation)
    root._views = live
    root._views_limit = 2 * len(live) + 16
