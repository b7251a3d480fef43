"""The autograd engine: the graph's nodes, how ops record them, and the backward walk.

Every differentiable op ends with ``record(out, name, inputs, backward, ...)``. When grad mode is on
and an input requires grad, that attaches a ``Node`` to the output: the node holds the op's
backward rule (a closure written in Tensor ops, so it is itself differentiable) and one edge per
input pointing at the node that produced that input (or at the leaf's ``AccumulateGrad``).

``run_backward`` walks the graph from the outputs in reverse topological order, iteratively (a heap
of pending nodes keyed by creation order; never recursion), so a 100,000-op chain backprops.
Broadcasting is undone in one place, here: a gradient whose shape differs from its input's is
summed back to that shape before it is passed on.
"""
import itertools
import weakref
from heapq import heappop, heappush

from .._backend import xp as np

from . import anomaly
from .. import dtypes
from .grad_mode import state as grad_state   # this thread's grad mode

# Filled in by chainrule.tensor and chainrule.ops.reduce once they are loaded (they import this
# module, so it cannot import them at the top); looked up as globals, the cheapest lookup there is.
Tensor = _make = sum_to = None


def _bind(**names):
    globals().update(names)


_sequence = itertools.count()

FREED_GRAPH_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


class Node:
    """One recorded op (PyTorch's ``grad_fn``): sends its output's gradient back to its inputs.

    ``edges`` holds, per input, ``(next_node, input_shape, input_np_dtype)`` or ``None`` for an input
    that needs no gradient. ``backward(g)`` (or ``backward(g, out)`` for ops that saved their
    output) returns one gradient (or None) per input.
    """

    # The fields every op sets are slots; the rarely-set ones are class-level defaults that an
    # instance overrides only when needed (in its __dict__), which keeps making a node cheap.
    __slots__ = ("_name", "backward", "edges", "saved", "out_data", "seq", "__weakref__", "__dict__")
    out_version = None   # (version counter, version) of a saved output, checked before backward
    pre_hooks = None     # hooks registered on the (non-leaf) output tensor
    retained = None      # weakref to the output tensor, after retain_grad()
    stack = None         # the forward call's stack, under detect_anomaly

    def __init__(self, name, backward, edges, saved=(), out_data=None):
        self.seq = next(_sequence)   # creation order: larger than the seq of every input's node
        self._name = name
        self.backward = backward
        self.edges = edges
        # (tensor, version when saved): an in-place change since then makes backward refuse.
        self.saved = saved
        self.out_data = out_data
        if anomaly.enabled:
            self.stack = anomaly.forward_stack()

    def name(self):
        return self._name

    @property
    def next_functions(self):
        return tuple((e[0], 0) if e is not None else (None, 0) for e in self.edges)

    def register_prehook(self, hook):
        if self.pre_hooks is None:
            self.pre_hooks = []
        self.pre_hooks.append(hook)
        return _HookHandle(self.pre_hooks, hook)

    def __repr__(self):
        return f"<{self._name} object at {hex(id(self))}>"

    def _output(self):
        """The op's output as a tensor attached to this node (for rules like exp's ``g * out``)."""
        return _make(self.out_data, True, self)

    def _release(self):
        self.backward = None
        self.saved = ()
        self.out_data = None


class AccumulateGrad:
    """The node at a leaf tensor: adds the incoming gradient into ``leaf.grad``.

    The leaf keeps its AccumulateGrad for life (``leaf._accum``) and the node refers back to the
    leaf weakly, so there is no reference cycle and no new node per forward pass.
    """

    __slots__ = ("_variable", "seq", "__weakref__")
    edges = ()
    pre_hooks = None
    retained = None

    def __init__(self, variable):
        self.seq = next(_sequence)
        self._variable = weakref.ref(variable)

    @property
    def variable(self):
        return self._variable()

    def name(self):
        return "torch::autograd::AccumulateGrad"

    next_functions = ()

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


class _HookHandle:
    """What ``register_hook`` returns: ``handle.remove()`` takes the hook off again."""

    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def edge_of(tensor):
    """The node a gradient for ``tensor`` should be sent to (its grad_fn, or its AccumulateGrad)."""
    if tensor.grad_fn is not None:
        return tensor.grad_fn
    acc = tensor._accum
    if acc is None:
        acc = tensor._accum = AccumulateGrad(tensor)
    return acc


def record(out, name, inputs, backward, saved=(), save_output=False):
    """Wrap the array ``out`` in a Tensor and, if any input needs a gradient, attach a Node.

    inputs: the op's inputs (Tensors, or Python scalars that never get a gradient).
    backward: ``backward(g) -> tuple of gradients, one per input`` written in Tensor ops.
    saved: the Tensors ``backward`` reads, so an in-place change to them is caught.
    save_output: ``backward`` is called as ``backward(g, out)`` with the op's output.

    Every op of every forward pass comes through here, so it is written for speed.
    """
    if not grad_state.enabled:
        return _make(out)
    edges = []
    recording = False
    for t in inputs:
        if isinstance(t, Tensor) and t._requires_grad:
            a = t._array
            edges.append((t.grad_fn or edge_of(t), a.shape, a.dtype))
            recording = True
        else:
            edges.append(None)
    if not recording:
        return _make(out)
    if not isinstance(out, np.ndarray):
        out = np.asarray(out)
    node = Node(name, backward, edges, [(t, t._vc[0]) for t in saved] if saved else (),
                out if save_output else None)
    result = _new(Tensor)
    result._array = out
    result._requires_grad = True
    result.grad_fn = node
    result._vc = vc = [0]
    if save_output:
        node.out_version = (vc, 0)
    return result


_new = object.__new__


def _check_saved(node):
    for tensor, version in node.saved:
        if tensor._vc[0] != version:
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{tensor.dtype.name} {list(tensor.shape)}] is at version "
                f"{tensor._vc[0]}; expected version {version} instead (it was saved by "
                f"{node._name}). Use an out-of-place op, or clone() the tensor before changing it.")
    if node.out_version is not None and node.out_version[0][0] != node.out_version[1]:
        raise RuntimeError(
            f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: the output of {node._name} is at version {node.out_version[0][0]}; "
            f"expected version {node.out_version[1]} instead.")


def _has_nan(grad):
    a = grad._array
    return dtypes.is_float_np(a.dtype) and bool(np.isnan(a).any())


def _run_hooks(hooks, grad):
    for hook in list(hooks):
        new = hook(grad)
        if new is not None:
            grad = new
    return grad


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, capture=None):
    """Send ``root_grads`` back from ``roots`` through the graph.

    capture: None to accumulate into leaves' ``.grad`` (``Tensor.backward``); or a dict
    ``{node: slot}`` (``autograd.grad``): the total gradient arriving at each such node is
    returned in a list by slot instead, and no ``.grad`` is touched.

    Order: every node is created after the nodes of its inputs, so its sequence number is larger.
    Taking pending nodes largest-number first (a heap) is therefore a reverse topological order:
    when a node is taken, every node that could still send it a gradient has already run.
    """
    needed = results = None
    if capture is not None:
        needed = _nodes_leading_to(capture, [edge_of(t) for t in roots])
        results = [None] * len(capture)

    buffers = {}   # node -> the gradient summed so far for its output
    heap = []
    for t, g in zip(roots, root_grads):
        node = edge_of(t)
        if node in buffers:
            buffers[node] = buffers[node] + g
        else:
            buffers[node] = g
            heappush(heap, (-node.seq, node))
    delivered = set()   # ids of arrays already stored as some .grad: never store one twice

    prev_mode = grad_state.enabled
    grad_state.enabled = create_graph
    try:
        while heap:
            node = heappop(heap)[1]
            g = buffers.pop(node)
            if needed is not None and node not in needed:
                continue
            if node.pre_hooks:
                g = _run_hooks(node.pre_hooks, g)
            if node.retained is not None:
                _retain(node, g, create_graph, delivered)
            if capture is not None and node in capture:
                results[capture[node]] = g
            if node.__class__ is AccumulateGrad:
                if capture is None:
                    leaf = node._variable()
                    if leaf is not None:
                        _accumulate(leaf, g, create_graph, delivered)
                continue
            # Run the node's backward rule (inline: this loop is the hot path of every backward).
            fn = node.backward
            if fn is None:
                raise RuntimeError(FREED_GRAPH_MESSAGE)
            if node.saved or node.out_version is not None:
                _check_saved(node)
            grads = fn(g) if node.out_data is None else fn(g, node._output())
            if anomaly.enabled and anomaly.check_nan:
                _check_nan(node, grads)
            if not retain_graph and (node.saved or node.out_data is not None):
                node._release()   # it held tensors: free them (a node that held none can run again)
            for gi, edge in zip(grads, node.edges):
                if gi is None or edge is None:
                    continue
                nxt, shape, dtype = edge
                a = gi._array
                if a.shape != shape:
                    gi = sum_to(gi, shape)   # the one place broadcasting is undone
                if a.dtype != dtype:
                    gi = gi.to(dtype)
                if nxt in buffers:
                    buffers[nxt] = buffers[nxt] + gi
                else:
                    buffers[nxt] = gi
                    heappush(heap, (-nxt.seq, nxt))
    finally:
        grad_state.enabled = prev_mode
    return results


def _check_nan(node, grads):
    """detect_anomaly: name the op whose backward produced NaN, and where it ran forward."""
    for i, gi in enumerate(grads):
        if gi is not None and _has_nan(gi):
            where = f"\nThe forward call that created it:\n{node.stack}" if node.stack else ""
            raise RuntimeError(f"Function '{node._name}' returned nan values in its {i}th output." + where)


def _owned(g, create_graph, delivered):
    """``g`` detached, copied if its array is a view or already stored elsewhere as a .grad."""
    a = g._array
    if id(a) in delivered or not a.flags.owndata or not a.flags.writeable:
        a = a.copy()
        g = _make(a, g.requires_grad, g.grad_fn) if create_graph else _make(a)
    elif not create_graph:
        g = _make(a) if g.grad_fn is not None or g.requires_grad else g
    delivered.add(id(a))
    return g


def _accumulate(leaf, g, create_graph, delivered):
    if leaf._hooks:
        g = _run_hooks(leaf._hooks, g)
    if leaf.grad is None:
        leaf.grad = _owned(g, create_graph, delivered)
    elif create_graph:
        leaf.grad = leaf.grad + g
    else:
        # Out of place: another tensor may hold the old .grad array (e.g. a user's reference).
        leaf.grad = _make(leaf.grad._array + g._array)
    if leaf._post_accumulate_hooks:
        for hook in list(leaf._post_accumulate_hooks):
            hook(leaf)


def _retain(node, g, create_graph, delivered):
    tensor = node.retained()
    if tensor is None:
        return
    if tensor.grad is None:
        tensor.grad = _owned(g, create_graph, delivered)
    else:
        tensor.grad = tensor.grad + g if create_graph else _make(tensor.grad._array + g._array)


def _nodes_leading_to(capture, nodes):
    """The subset of ``nodes`` from which some captured node can be reached (iteratively)."""
    needed = set(capture)
    visited = set()
    # Post-order walk: a node is needed if any child is needed.
    for start in nodes:
        if start in visited:
            continue
        visited.add(start)
        stack = [(start, iter(start.edges))]
        while stack:
            node, it = stack[-1]
            advanced = False
            for edge in it:
                if edge is None:
                    continue
                nxt = edge[0]
                if nxt in needed:
                    needed.add(node)
                if nxt not in visited:      # a captured node's inputs may lead to other captured nodes
                    visited.add(nxt)
                    stack.append((nxt, iter(nxt.edges)))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                if node in needed and stack:
                    needed.add(stack[-1][0])
    return needed
