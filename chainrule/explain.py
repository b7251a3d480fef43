"""Watch one backward pass happen: the essay's five steps, every number checked three ways.

For a network of dense layers (``z = W·a_prev + b``, ``a = σ(z)``) and one batch, :func:`trace`
runs one forward and one backward pass and records, for each layer from the output back to
the input::

    ∂L/∂a                          (at the output: from the loss; below it: handed down)
    σ'(z)                          the activation's local slope
    ∂L/∂z      = ∂L/∂a · σ'(z)
    ∂L/∂W      = ∂L/∂z · a_prevᵀ   (for a batch of rows: ∂L/∂zᵀ · a_prev, a sum over the batch)
    ∂L/∂b      = ∂L/∂z             (summed over the batch, like ∂L/∂W)
    ∂L/∂a_prev = Wᵀ · ∂L/∂z        handed to the layer before

Each quantity is computed three ways and the three must agree:

- **formula**: the chain rule written out in NumPy (float64), as in the essay's solution;
- **autograd**: read from chainrule: ``.grad`` on the parameters, and ``register_hook`` on the
  intermediate tensors ``z`` and ``a`` to capture ∂L/∂z and ∂L/∂a as they flow past;
- **finite differences**: nudge one number by ±ε, rerun the rest of the network, and take
  ``(L(+ε) − L(−ε)) / 2ε``; this uses no calculus at all, so it catches a wrong formula.

Finally the update ``w ← w − η·∂L/∂w`` and the loss before and after it.

A slip like the essay's ``dz2 = y_hat - y`` (the cross-entropy gradient used with an MSE loss)
shows up here as a formula that no longer matches the finite differences.

Models: an ``nn.Sequential`` of ``nn.Linear`` layers each optionally followed by ``nn.Sigmoid``,
``nn.Tanh`` or ``nn.ReLU``; or a list of :class:`Dense` layers (plain tensors, no ``nn`` needed).
Losses: ``"mse"``, ``"bce"``, ``nn.MSELoss()`` or ``nn.BCELoss()`` (mean or sum reduction).
"""
from dataclasses import dataclass, field

import numpy as np

from . import autograd
from .creation import tensor as _tensor
from .tensor import Tensor

__all__ = ["Dense", "dense_layers", "Check", "LayerTrace", "Trace", "trace", "format_trace", "essay_network",
           "ESSAY_INITS", "ACTIVATIONS"]


# ----- activations: the forward in chainrule, and σ and σ' in NumPy for the formula -------------------
def _np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {
    # name: (NumPy σ, NumPy σ', σ' as the essay writes it)
    "sigmoid": (_np_sigmoid, lambda z: _np_sigmoid(z) * (1 - _np_sigmoid(z)), "σ(z)(1 − σ(z))"),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2, "1 − tanh²(z)"),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype), "1 if z > 0 else 0"),
    "identity": (lambda z: z, np.ones_like, "1 (no activation)"),
}


def _apply_activation(name, z):
    """The activation as chainrule ops (so autograd records it)."""
    if name == "identity":
        return z
    return getattr(z, name)()


@dataclass
class Dense:
    """One layer as plain tensors: ``z = a_prev @ weight.T + bias``, ``a = activation(z)``.

    ``weight`` has shape (out, in), as ``nn.Linear``'s, so that ∂L/∂W = ∂L/∂z · a_prevᵀ.
    """
    weight: Tensor
    bias: Tensor
    activation: str = "sigmoid"

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.weight.ndim != 2:
            raise ValueError(f"weight must be 2-D (out, in), got shape {tuple(self.weight.shape)}")
        if self.bias is not None and tuple(self.bias.shape) != (self.weight.shape[0],):
            raise ValueError(f"bias must have shape ({self.weight.shape[0]},) to match weight "
                             f"{tuple(self.weight.shape)}, got {tuple(self.bias.shape)}")

    def linear(self, a):
        z = a @ self.weight.T
        return z + self.bias if self.bias is not None else z

    def parameters(self):
        return [p for p in (self.weight, self.bias) if p is not None]


ESSAY_INITS = {
    "normal": "W ~ N(0, 1), b = 0, as the essay's np.random.randn",
    "default": "nn.Linear's default: W and b ~ U(−1/√fan_in, 1/√fan_in)",
}


def essay_network(seed=0, activation="sigmoid", dtype=None, init="normal"):
    """The essay's 2-2-1 network as two :class:`Dense` layers, starting where ``chainrule train xor`` does.

    init "normal": W ~ N(0, 1), b = 0 (the essay's ``np.random.randn``); "default": nn.Linear's own.
    The weights are exactly those ``chainrule train xor --init <init> --seed <seed>`` starts from
    (drawn the same way from the same seed), so a trace here is the first step of that run.
    """
    from . import float64, manual_seed
    from .tools.models import init_weights, mlp
    if init not in ESSAY_INITS:
        raise ValueError(f"init must be one of {sorted(ESSAY_INITS)}, got {init!r}")
    dtype = dtype or float64
    manual_seed(seed)
    model = init_weights(mlp([2, 2, 1], "sigmoid", output_activation="sigmoid"), init)
    layers = [m for m in model if type(m).__name__ == "Linear"]
    return [Dense(m.weight.detach().to(dtype).requires_grad_(True), m.bias.detach().to(dtype).requires_grad_(True),
                  activation) for m in layers]


def dense_layers(model):
    """The model as a list of (linear_fn, weight, bias, activation_name, activation_fn)."""
    if isinstance(model, (list, tuple)) and model and all(isinstance(m, Dense) for m in model):
        return [(m.linear, m.weight, m.bias, m.activation, lambda z, n=m.activation: _apply_activation(n, z))
                for m in model]
    modules = _sequential_modules(model)
    if modules is None:
        raise TypeError("trace works on an nn.Sequential of Linear (+ Sigmoid/Tanh/ReLU) layers or a list of "
                        f"chainrule.explain.Dense layers; got {type(model).__name__}")
    layers = []
    i = 0
    while i < len(modules):
        m = modules[i]
        if type(m).__name__ != "Linear":
            raise TypeError(f"trace expects Linear layers each optionally followed by one activation; "
                            f"module {i} is {type(m).__name__}")
        act_name, act_fn = "identity", (lambda z: z)
        if i + 1 < len(modules) and type(modules[i + 1]).__name__ != "Linear":
            act = modules[i + 1]
            act_name = {"Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU": "relu", "Identity": "identity"}.get(
                type(act).__name__)
            if act_name is None:
                raise TypeError(f"trace knows the derivative of Sigmoid, Tanh, ReLU and Identity; module {i + 1} "
                                f"is {type(act).__name__}")
            act_fn = act
            i += 1
        layers.append((m, m.weight, m.bias, act_name, act_fn))
        i += 1
    if not layers:
        raise ValueError("the model has no layers")
    return layers


def _sequential_modules(model):
    children = getattr(model, "children", None)
    if children is None or type(model).__name__ != "Sequential":
        return None
    return list(children())


# ----- losses: the forward in chainrule, and L and ∂L/∂a in NumPy -------------------------------------
def _loss_kind(loss_fn):
    """('mse' | 'bce', 'mean' | 'sum') for a loss name or an nn loss module."""
    if isinstance(loss_fn, str):
        kind, reduction = loss_fn.lower(), "mean"
    else:
        kind = {"MSELoss": "mse", "BCELoss": "bce"}.get(type(loss_fn).__name__)
        reduction = getattr(loss_fn, "reduction", "mean")
    if kind not in ("mse", "bce"):
        raise ValueError(f"trace knows the chain-rule formula for MSE and BCE losses ('mse', 'bce', "
                         f"nn.MSELoss(), nn.BCELoss()); got {loss_fn!r}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"trace needs a scalar loss: reduction 'mean' or 'sum', got {reduction!r}")
    return kind, reduction


def _np_loss(kind, reduction, a, y):
    if kind == "mse":
        each = (a - y) ** 2
    else:
        each = -(y * np.log(a) + (1 - y) * np.log(1 - a))
    return each.mean() if reduction == "mean" else each.sum()


def _np_loss_grad(kind, reduction, a, y):
    """∂L/∂a at the output: the one place the loss enters the backward pass."""
    n = a.size if reduction == "mean" else 1
    if kind == "mse":
        return 2 * (a - y) / n
    return (a - y) / (a * (1 - a)) / n


def _loss_text(kind, reduction, n):
    if kind == "mse":
        return ("mean((ŷ − y)²)" if reduction == "mean" else "Σ(ŷ − y)²",
                f"2(ŷ − y)/{n}" if reduction == "mean" and n > 1 else "2(ŷ − y)")
    return ("mean(−y·log ŷ − (1−y)·log(1−ŷ))" if reduction == "mean" else "Σ(−y·log ŷ − (1−y)·log(1−ŷ))",
            f"(ŷ − y)/(ŷ(1 − ŷ))/{n}" if reduction == "mean" and n > 1 else "(ŷ − y)/(ŷ(1 − ŷ))")


def _chainrule_loss(loss_fn, kind, reduction, a, y):
    if not isinstance(loss_fn, str):
        return loss_fn(a, y)
    if kind == "mse":
        each = (a - y) ** 2
    else:
        each = -(y * a.log() + (1 - y) * (1 - a).log())
    return each.mean() if reduction == "mean" else each.sum()


# ----- the record ---------------------------------------------------------------------------------------
@dataclass
class Check:
    """One quantity, three ways. ``ok`` when every pair agrees within ``rtol``/``atol``."""
    symbol: str          # e.g. "∂L/∂W₂"
    formula_text: str    # e.g. "∂L/∂z₂ · a₁ᵀ"
    formula: np.ndarray
    autograd: np.ndarray
    numeric: np.ndarray
    rtol: float
    atol: float

    @property
    def max_diff(self):
        pairs = ((self.formula, self.autograd), (self.formula, self.numeric), (self.autograd, self.numeric))
        return max(float(np.max(np.abs(p - q))) if np.size(p) else 0.0 for p, q in pairs)

    @property
    def ok(self):
        return (np.allclose(self.formula, self.autograd, rtol=self.rtol, atol=self.atol)
                and np.allclose(self.formula, self.numeric, rtol=self.rtol, atol=self.atol)
                and np.allclose(self.autograd, self.numeric, rtol=self.rtol, atol=self.atol))


@dataclass
class LayerTrace:
    """One layer's forward values and backward quantities (all NumPy, float64)."""
    index: int                   # 1-based, input side first
    activation: str
    a_prev: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    z: np.ndarray
    a: np.ndarray
    forward_diff: float          # max |NumPy forward − chainrule forward| over z and a
    dL_da: Check
    dsigma: Check
    dL_dz: Check
    dL_dW: Check
    dL_db: Check
    dL_da_prev: Check
    weight_after: np.ndarray
    bias_after: np.ndarray

    @property
    def at_kink(self):
        """True if some z sits on ReLU's kink (|z| ≤ ε), where finite differences cannot agree."""
        return self.activation == "relu" and bool(np.any(np.abs(self.z) <= 1e-6))

    @property
    def checks(self):
        return [c for c in (self.dL_da, self.dsigma, self.dL_dz, self.dL_dW, self.dL_db, self.dL_da_prev)
                if c is not None]


@dataclass
class Trace:
    """One forward + backward pass + one gradient-descent step, layer by layer."""
    x: np.ndarray
    y: np.ndarray
    prediction: np.ndarray
    loss_kind: str
    reduction: str
    loss: float
    loss_after: float
    lr: float
    eps: float
    rtol: float
    atol: float
    dtype: str
    layers: list = field(default_factory=list)   # LayerTrace, input side first

    @property
    def checks(self):
        return [c for layer in self.layers for c in layer.checks]

    @property
    def loss_went_down(self):
        return self.loss_after < self.loss

    @property
    def ok(self):
        return all(c.ok for c in self.checks) and self.loss_went_down and \
            all(layer.forward_diff <= self.atol + self.rtol * max(1.0, float(np.max(np.abs(layer.a))))
                for layer in self.layers)


# ----- the trace ----------------------------------------------------------------------------------------
def _to_np(t):
    return np.array(t.detach()._array, dtype=np.float64) if isinstance(t, Tensor) else np.asarray(t, np.float64)


def _central_difference(f, x, eps):
    """∂f/∂x for scalar f by (f(x+ε) − f(x−ε)) / 2ε, one element at a time (float64)."""
    x = np.array(x, dtype=np.float64)
    out = np.zeros_like(x)
    flat, grad = x.reshape(-1), out.reshape(-1)
    for j in range(flat.size):
        orig = flat[j]
        flat[j] = orig + eps
        plus = f(x)
        flat[j] = orig - eps
        minus = f(x)
        flat[j] = orig
        grad[j] = (plus - minus) / (2 * eps)
    return out


def _sub(i):
    return "".join("₀₁₂₃₄₅₆₇₈₉"[int(d)] for d in str(i))


def trace(model, x, y, loss_fn="mse", lr=0.5, eps=1e-6, rtol=None, atol=None):
    """One forward and backward pass of ``model`` on ``(x, y)``, recorded layer by layer.

    Returns a :class:`Trace`. The model's parameters are not changed (the update is recorded,
    not applied); their ``.grad`` is left as ``loss.backward()`` sets it.
    rtol/atol: agreement tolerance; default 1e-6/1e-8 for float64 parameters, 1e-3/1e-5 for float32.
    """
    layers = dense_layers(model)
    kind, reduction = _loss_kind(loss_fn)
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError("x and y must be chainrule tensors")
    w0 = layers[0][1]
    dtype = w0.dtype
    if rtol is None:
        rtol = 1e-6 if dtype.itemsize >= 8 else 1e-3
    if atol is None:
        atol = 1e-8 if dtype.itemsize >= 8 else 1e-5
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != w0.shape[1]:
        raise ValueError(f"x must have shape (batch, {w0.shape[1]}) for the first layer's weight "
                         f"{tuple(w0.shape)}; got {tuple(x.shape)}")
    n_out = layers[-1][1].shape[0]
    if y.ndim == 1:
        y = y.reshape(-1, 1) if n_out == 1 else y.reshape(1, -1)
    if tuple(y.shape) != (x.shape[0], n_out):
        raise ValueError(f"y must have shape ({x.shape[0]}, {n_out}) to match the output; got {tuple(y.shape)}")
    x = x.to(dtype)
    y = y.to(dtype)

    # --- autograd: the forward pass in chainrule, hooks on every z and a -------------------------
    params = [p for (_, w, b, _, _) in layers for p in (w, b) if p is not None]
    for p in params:
        p.grad = None
    captured = {}

    def capture(key):
        def hook(g):
            captured[key] = _to_np(g)
        return hook

    x_in = x.detach().clone().requires_grad_(True)   # so ∂L/∂x (what layer 1 hands down) is captured too
    x_in.register_hook(capture(("a", 0)))
    a = x_in
    zs, activations = [], [x_in]
    with autograd.enable_grad():
        for i, (linear, w, b, act_name, act_fn) in enumerate(layers, start=1):
            z = linear(a)
            a = act_fn(z)
            z.register_hook(capture(("z", i)))
            if a is not z:
                a.register_hook(capture(("a", i)))
            zs.append(z)
            activations.append(a)
        loss = _chainrule_loss(loss_fn, kind, reduction, a, y)
        loss.backward()
    for i, (_, _, _, act_name, _) in enumerate(layers, start=1):
        if act_name == "identity":
            captured[("a", i)] = captured[("z", i)]

    # --- formula: the chain rule by hand in NumPy (float64) -------------------------------------
    X, Y = _to_np(x), _to_np(y)
    Ws = [_to_np(w) for (_, w, _, _, _) in layers]
    Bs = [_to_np(b) if b is not None else np.zeros(w.shape[0]) for (_, w, b, _, _) in layers]
    acts = [layer[3] for layer in layers]
    A, Z = [X], []
    for W, B, name in zip(Ws, Bs, acts):
        Z.append(A[-1] @ W.T + B)
        A.append(ACTIVATIONS[name][0](Z[-1]))
    L = float(_np_loss(kind, reduction, A[-1], Y))

    def loss_from(k, kind_of, value, Ws=Ws, Bs=Bs):
        """The loss with layer k's ``z`` or ``a`` (k = 0: the input) replaced by ``value``."""
        a = ACTIVATIONS[acts[k - 1]][0](value) if kind_of == "z" else value
        for W, B, name in zip(Ws[k:], Bs[k:], acts[k:]):
            a = ACTIVATIONS[name][0](a @ W.T + B)
        return _np_loss(kind, reduction, a, Y)

    def loss_with_param(k, which, value):
        Ws2, Bs2 = list(Ws), list(Bs)
        (Ws2 if which == "W" else Bs2)[k] = value
        return loss_from(0, "a", X, Ws2, Bs2)

    records = [None] * len(layers)
    dA = _np_loss_grad(kind, reduction, A[-1], Y)   # step 1: at the output ∂L/∂a comes from the loss
    _, dloss_txt = _loss_text(kind, reduction, A[-1].size)
    for k in range(len(layers), 0, -1):            # steps 2-5, from the output back to the input
        name = acts[k - 1]
        W, B, z, a_prev = Ws[k - 1], Bs[k - 1], Z[k - 1], A[k - 1]
        sigma, dsigma, dsigma_txt = ACTIVATIONS[name]
        s, ks = _sub(k), _sub(k - 1)
        dZ = dA * dsigma(z)
        dW = dZ.T @ a_prev
        dB = dZ.sum(axis=0)
        dA_prev = dZ @ W

        # autograd's σ'(z): d/dz of Σσ(z) at this layer's z (σ acts elementwise)
        z_leaf = _tensor(z, dtype=dtype, requires_grad=True)
        (g_sigma,) = autograd.grad(_apply_activation(name, z_leaf).sum(), z_leaf, allow_unused=True)
        auto_dsigma = _to_np(g_sigma) if g_sigma is not None else np.zeros_like(z)

        w_t, b_t = layers[k - 1][1], layers[k - 1][2]
        chk = lambda sym, txt, f, g, n: Check(sym, txt, f, g, n, rtol, atol)  # noqa: E731
        received = (f"from the loss: {dloss_txt}" if k == len(layers) else f"received from layer {k + 1}")
        dL_da = chk(f"∂L/∂a{s}", received, dA, captured[("a", k)],
                    _central_difference(lambda v: loss_from(k, "a", v), A[k], eps))
        dsig = chk(f"σ'(z{s})" if name != "identity" else f"∂a{s}/∂z{s}", dsigma_txt, dsigma(z), auto_dsigma,
                   (sigma(z + eps) - sigma(z - eps)) / (2 * eps))
        dL_dz = chk(f"∂L/∂z{s}", f"∂L/∂a{s} · σ'(z{s})", dZ, captured[("z", k)],
                    _central_difference(lambda v: loss_from(k, "z", v), z, eps))
        prev_name = f"a{ks}" if k > 1 else "x"
        dL_dW = chk(f"∂L/∂W{s}", f"∂L/∂z{s} · {prev_name}ᵀ" + (", summed over the batch" if X.shape[0] > 1 else ""),
                    dW, _to_np(w_t.grad),
                    _central_difference(lambda v: loss_with_param(k - 1, "W", v), W, eps))
        dL_db = None
        if b_t is not None:
            dL_db = chk(f"∂L/∂b{s}", f"∂L/∂z{s}" + (", summed over the batch" if X.shape[0] > 1 else ""),
                        dB, _to_np(b_t.grad),
                        _central_difference(lambda v: loss_with_param(k - 1, "b", v), B, eps))
        handed = f"handed to layer {k - 1}" if k > 1 else "the input's gradient: no layer before"
        dL_da_prev = chk(f"∂L/∂{prev_name}", f"W{s}ᵀ · ∂L/∂z{s}   ({handed})", dA_prev, captured[("a", k - 1)],
                         _central_difference(lambda v: loss_from(k - 1, "a", v), a_prev, eps))
        forward_diff = max(float(np.max(np.abs(z - _to_np(zs[k - 1])))),
                           float(np.max(np.abs(A[k] - _to_np(activations[k])))))
        records[k - 1] = LayerTrace(
            index=k, activation=name, a_prev=a_prev, weight=W, bias=B, z=z, a=A[k], forward_diff=forward_diff,
            dL_da=dL_da, dsigma=dsig, dL_dz=dL_dz, dL_dW=dL_dW, dL_db=dL_db, dL_da_prev=dL_da_prev,
            weight_after=W - lr * dW, bias_after=B - lr * dB if b_t is not None else B)
        dA = dA_prev                                # step 4: pass ∂L/∂a_prev back; step 5: repeat

    # --- the update, and the loss after it ------------------------------------------------------------
    new_W = [r.weight_after for r in records]
    new_B = [r.bias_after for r in records]
    L_after = float(loss_from(0, "a", X, new_W, new_B))
    return Trace(x=X, y=Y, prediction=A[-1], loss_kind=kind, reduction=reduction, loss=L, loss_after=L_after,
                 lr=float(lr), eps=eps, rtol=rtol, atol=atol, dtype=str(dtype).replace("torch.", ""),
                 layers=records)


# ----- printing -----------------------------------------------------------------------------------------
def _fmt(array, indent=0):
    """Fixed-point values; rows after the first are indented by ``indent`` columns to line up."""
    a = np.asarray(array, dtype=np.float64)
    if a.ndim == 0:
        return f"{float(a): .6f}"
    return np.array2string(a, precision=6, suppress_small=False, floatmode="fixed", sign=" ",
                           max_line_width=120).replace("\n", "\n" + " " * indent)


def format_trace(record, title=None):
    """The trace as text: the forward pass, then each layer's backward step with ✓/✗, then the update."""
    if not isinstance(record, Trace):
        raise TypeError(f"format_trace expects the Trace returned by trace(), got {type(record).__name__}")
    out = []
    n_layers = len(record.layers)
    loss_txt, _ = _loss_text(record.loss_kind, record.reduction, record.prediction.size)
    if title:
        out.append(title)
        out.append("")
    out.append(f"x = {_fmt(record.x, 4)}")
    out.append(f"y = {_fmt(record.y, 4)}")
    out.append("")
    out.append("FORWARD PASS   z = W·a_prev + b,  a = σ(z)")
    for layer in record.layers:
        s = _sub(layer.index)
        role = "output" if layer.index == n_layers else "hidden"
        out.append(f"  layer {layer.index} ({role}, {layer.activation})")
        out.append(f"    W{s} = {_fmt(layer.weight, 9)}")
        out.append(f"    b{s} = {_fmt(layer.bias, 9)}")
        out.append(f"    z{s} = {_fmt(layer.z, 9)}")
        out.append(f"    a{s} = {_fmt(layer.a, 9)}" + ("   = ŷ, the prediction" if layer.index == n_layers else ""))
    out.append(f"  loss  L = {loss_txt} = {record.loss:.6f}")
    out.append("")
    out.append("BACKWARD PASS  from the output back to the input")
    out.append("  each number three ways: formula = the chain rule in NumPy; autograd = .grad and register_hook;")
    out.append(f"  finite diff = (L(+ε) − L(−ε))/2ε with ε = {record.eps:g} in float64.")
    out.append("  formulas in the essay's column-vector notation; a batch holds one row per sample, so the code")
    out.append("  computes ∂L/∂W as ∂L/∂zᵀ·a_prev and Wᵀ·∂L/∂z as ∂L/∂z·W.")
    out.append(f"  a check mark: all three agree within rtol {record.rtol:g}, atol {record.atol:g} "
               f"(parameters are {record.dtype}); a cross: they do not.")
    steps = {0: "step 1: at the output ∂L/∂a comes straight from the loss",
             1: "step 2: local slope of the activation",
             2: "step 3: chain rule",
             3: "step 3: chain rule, ∂z/∂W = a_prev",
             4: "step 3: chain rule, ∂z/∂b = 1",
             5: "step 4: pass the gradient back"}
    for layer in reversed(record.layers):
        role = "output" if layer.index == n_layers else "hidden"
        out.append("")
        out.append(f"  ── layer {layer.index} ({role}, {layer.activation}) " + "─" * 40)
        for j, check in enumerate(layer.checks):
            mark = "✓" if check.ok else "✗"
            step = steps[j if check is not layer.dL_db else 4] if check is not layer.dL_da_prev else steps[5]
            if j == 0 and layer.index != n_layers:
                step = "received from the layer above (step 5: repeat)"
            out.append(f"  {mark} {check.symbol} = {check.formula_text}")
            out.append(f"      [{step}; max difference {check.max_diff:.1e}]")
            out.append(f"      formula     {_fmt(check.formula, 18)}")
            out.append(f"      autograd    {_fmt(check.autograd, 18)}")
            out.append(f"      finite diff {_fmt(check.numeric, 18)}")
            if not check.ok and j == 1 and layer.at_kink:
                out.append("      note: some z is exactly 0, ReLU's kink, where the derivative is undefined: autograd")
                out.append("      (like PyTorch) and the formula use 0 there, finite differences see the average slope")
                out.append("      0.5. The ✗ below this line follow from it; a nonzero bias moves z off the kink.")
    out.append("")
    out.append(f"UPDATE  w ← w − η·∂L/∂w,  b ← b − η·∂L/∂b   with η = {record.lr:g}")
    for layer in record.layers:
        s = _sub(layer.index)
        out.append(f"  W{s} = {_fmt(layer.weight, 7)}")
        out.append(f"     → {_fmt(layer.weight_after, 7)}")
        out.append(f"  b{s} = {_fmt(layer.bias, 7)}")
        out.append(f"     → {_fmt(layer.bias_after, 7)}")
    if record.loss_went_down:
        went = "✓ the loss went down"
    elif all(not np.any(layer.dL_dW.formula) for layer in record.layers):
        went = "✗ the loss did not change: every ∂L/∂W is 0 (dead ReLUs?), so the step moved nothing"
    else:
        went = "✗ the loss did not go down (try a smaller η)"
    out.append(f"  loss before: {record.loss:.6f}   after: {record.loss_after:.6f}   {went}")
    n_bad = sum(not c.ok for c in record.checks)
    out.append("")
    out.append(f"{len(record.checks) - n_bad}/{len(record.checks)} quantities agree three ways"
               + ("." if n_bad == 0 else f"; {n_bad} ✗."))
    return "\n".join(out)
