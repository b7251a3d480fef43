"""The fused primitives of the speed work (issue 11), each checked like every primitive: forward and gradient
against PyTorch (float64 through tests/oracle.py, and float32 as the benchmarks run them), finite differences
(gradcheck), gradients of gradients (gradgradcheck, and against torch's create_graph), and graph capture
(a compiled training step gives eager mode's numbers)."""
import math

import numpy as np
import pytest

import chainrule
from chainrule.autograd import gradcheck, gradgradcheck
from chainrule.nn.functional_rnn import rnn_layer
from chainrule.ops.erf_approx import erf_array
from oracle import check, nograd

torch = pytest.importorskip("torch")

F = chainrule.nn.functional
TF = torch.nn.functional


def leaf(*shape, seed=0, scale=1.0):
    return chainrule.tensor(np.random.default_rng(seed).standard_normal(shape) * scale, requires_grad=True)


def float32_pair(fn, arrays, rtol=1e-5, atol=1e-6, seed=0):
    """``fn(lib, *tensors)`` in float32 on both libraries: outputs and input gradients agree."""
    results = []
    for lib in (chainrule, torch):
        ts = [lib.tensor(a.astype(np.float32), requires_grad=a.dtype.kind == "f") for a in arrays]
        out = fn(lib, *ts)
        g = np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(np.float32)
        out.backward(lib.tensor(g))
        results.append([out.detach().numpy()] + [t.grad.numpy() for t in ts if t.requires_grad])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def double_backward_matches_torch(fn, arrays, rtol=1e-6, atol=1e-9):
    """d/dx of ‖d fn/dx‖² on both libraries (create_graph), float64."""
    grads = []
    for lib in (chainrule, torch):
        ts = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
        out = fn(lib, *ts)
        weights = lib.tensor(np.random.default_rng(3).standard_normal(tuple(out.shape)))
        first = lib.autograd.grad((out * weights).sum(), ts, create_graph=True)
        sum(((g * g).sum() for g in first), lib.tensor(0.0, dtype=lib.float64)).backward()
        # No gradient (None) where it does not depend on the input: zeros, as torch may give
        grads.append([np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in ts])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def captured_matches_eager(build, steps=4):
    """``build()`` -> (step, params): the step compiled with fullgraph gives eager mode's losses and parameters."""
    results = []
    for compiled in (False, True):
        chainrule.manual_seed(0)
        step, params = build()
        run = chainrule.compile(step, fullgraph=True) if compiled else step
        losses = [float(run().item()) for _ in range(steps)]
        results.append((losses, [p.detach().numpy().copy() for p in params]))
        if compiled:   # captured and replayed, never refused
            assert run.programs and not run.refusals and sum(p.replays for p in run.programs) >= steps - 2
    (eager_losses, eager_params), (losses, params) = results
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-5, atol=1e-7)
    for p, q in zip(params, eager_params):
        np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-7)


def sgd_step(loss_fn, params, lr=0.1):
    def step():
        loss = loss_fn()
        loss.backward()
        with chainrule.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss.detach()
    return step


# ----- erf --------------------------------------------------------------------------------------------
def test_float32_erf_is_within_four_ulp_of_the_exact_values():
    x = np.linspace(-6, 6, 200001).astype(np.float32)
    exact = np.array([math.erf(float(v)) for v in x])
    got = erf_array(x)
    assert got.dtype == np.float32
    ulp = np.spacing(np.abs(exact.astype(np.float32))).astype(np.float64)
    assert np.abs(got - exact).max() < 2e-7
    assert (np.abs(got - exact) / ulp).max() < 4
    assert np.all(np.abs(got) <= 1)
    special = erf_array(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 3e19, -3e19], np.float32))
    np.testing.assert_array_equal(special[[1, 2, 3, 6, 7]], [1, -1, 0, 1, -1])
    assert np.isnan(special[0]) and np.signbit(special[4])
    assert special[5] == pytest.approx(1e-30 * 2 / math.sqrt(math.pi), rel=4e-7)   # tiny x: relative accuracy


def test_float64_and_half_erf():
    x = np.linspace(-5, 5, 1001)
    np.testing.assert_allclose(erf_array(x), [math.erf(v) for v in x], rtol=1e-14, atol=1e-15)
    half = erf_array(x.astype(np.float16))
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, [math.erf(v) for v in x.astype(np.float16)], atol=1e-3)
    check(lambda lib, a: lib.erf(a), [(4, 5)])


# ----- gelu -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(approximate):
    check(lambda lib, a: lib.nn.functional.gelu(a, approximate=approximate), [np.linspace(-6, 6, 60).reshape(3, 20)])
    check(lambda lib, a: lib.nn.functional.gelu(a, approximate=approximate), [np.array(0.7)])
    float32_pair(lambda lib, a: lib.nn.functional.gelu(a, approximate=approximate),
                 [np.random.default_rng(1).standard_normal((4, 64, 32)) * 3], atol=1e-5)   # float32 rounding of Φ
    assert chainrule.nn.functional.gelu(leaf(3), approximate=approximate).grad_fn.name() == "GeluBackward0"


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck_and_double_backward(approximate):
    fn = lambda a: F.gelu(a, approximate=approximate)  # noqa: E731
    assert gradcheck(fn, (leaf(7, scale=2.0),))
    assert gradgradcheck(fn, (leaf(7, scale=2.0),))
    double_backward_matches_torch(lambda lib, a: lib.nn.functional.gelu(a, approximate=approximate),
                                  [np.linspace(-4, 4, 9)])


def test_gelu_rejects_an_unknown_form():
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        F.gelu(leaf(3), approximate="fast")


# ----- linear and matmul as one 2-D GEMM --------------------------------------------------------------
def test_linear_and_matmul_fold_leading_dims():
    check(lambda lib, x, w, b: lib.nn.functional.linear(x, w, b), [(2, 3, 5), (4, 5), (4,)])
    check(lambda lib, x, w: lib.nn.functional.linear(x, w), [(2, 1, 3, 5), (4, 5)])
    check(lambda lib, x, w: x @ w, [(2, 3, 5), (5, 4)])
    check(lambda lib, x, w: lib.nn.functional.linear(x, w), [(5,), (4, 5)])
    x = chainrule.tensor(np.random.default_rng(0).standard_normal((3, 4, 2))).transpose(0, 1)   # not contiguous
    x.requires_grad_(False)
    check(lambda lib, w: lib.nn.functional.linear(lib.tensor(x.numpy()).permute(0, 1, 2), w), [(6, 2)])
    float32_pair(lambda lib, x, w, b: lib.nn.functional.linear(x, w, b),
                 [np.random.default_rng(2).standard_normal(s) for s in ((4, 16, 32), (24, 32), (24,))], rtol=1e-4)
    assert gradgradcheck(lambda x, w: F.linear(x, w) ** 2, (leaf(2, 3, 4), leaf(5, 4, seed=1)))
    assert gradgradcheck(lambda x, w: (x @ w) ** 2, (leaf(2, 3, 4), leaf(4, 5, seed=1)))


# ----- layer_norm -------------------------------------------------------------------------------------
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, False)])
def test_layer_norm_matches_torch(affine):
    w, b = affine
    shape = (3, 4)
    inputs = [(2, 5, 3, 4)] + ([(3, 4)] if w else []) + ([(3, 4)] if b else [])

    def fn(lib, x, *params):
        weight = params[0] if w else None
        bias = params[1] if b else None
        return lib.nn.functional.layer_norm(x, shape, weight, bias, eps=1e-5)
    check(fn, inputs)
    assert gradcheck(lambda x, *p: fn(chainrule, x, *p), tuple(leaf(*s, seed=i) for i, s in enumerate(inputs)))
    assert gradgradcheck(lambda x, *p: fn(chainrule, x, *p), tuple(leaf(*s, seed=i) for i, s in enumerate(inputs)))
    float32_pair(fn, [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(inputs)], rtol=1e-4,
                 atol=1e-5)


def test_layer_norm_on_a_vector_and_a_transposed_input():
    check(lambda lib, x, w: lib.nn.functional.layer_norm(x, (6,), w), [(6,), (6,)])
    check(lambda lib, x: lib.nn.functional.layer_norm(x.transpose(0, 1), (3,)), [(3, 4)])


# ----- scaled dot-product attention -------------------------------------------------------------------
SDPA_CASES = {
    "causal": (((2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 4)), dict(is_causal=True)),
    "causal_L_lt_S": (((2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 5)), dict(is_causal=True)),
    "plain_3d": (((2, 4, 3), (2, 5, 3), (2, 5, 2)), dict(scale=0.3)),
    "broadcast_kv": (((2, 3, 5, 4), (1, 3, 6, 4), (1, 3, 6, 4)), {}),
}


@pytest.mark.parametrize("name", SDPA_CASES)
def test_sdpa_matches_torch_and_finite_differences(name):
    shapes, kwargs = SDPA_CASES[name]
    fn = lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)  # noqa: E731
    check(fn, list(shapes))
    assert gradcheck(lambda *a: fn(chainrule, *a), tuple(leaf(*s, seed=i) for i, s in enumerate(shapes)))
    assert gradgradcheck(lambda *a: fn(chainrule, *a), tuple(leaf(*s, seed=i) for i, s in enumerate(shapes)))
    float32_pair(fn, [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)], rtol=1e-4,
                 atol=1e-5)


def test_sdpa_masks_a_learned_float_mask_and_dead_rows():
    rng = np.random.default_rng(0)
    bool_mask = rng.random((5, 6)) > 0.4
    bool_mask[2] = False   # query 2 may attend to nothing: zeros, as PyTorch
    fn = lambda lib, q, k, v, m: lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa: E731
    check(fn, [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), nograd(bool_mask)])
    check(fn, [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), (5, 6)])      # the float mask gets a gradient
    assert gradgradcheck(lambda q, k, v, m: fn(chainrule, q, k, v, m),
                         (leaf(1, 2, 3, 2), leaf(1, 2, 4, 2, seed=1), leaf(1, 2, 4, 2, seed=2), leaf(3, 4, seed=3)))
    q = chainrule.randn(1, 1, 3, 2)
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float or to match query dtype"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=chainrule.randn(3, 3, dtype=chainrule.float64))
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=chainrule.randn(4, 3))


def test_sdpa_double_backward_matches_torch_math_path():
    # torch's fused CPU kernel has no double backward; its math path (3-D inputs) has, and ours matches it.
    double_backward_matches_torch(
        lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True),
        [np.random.default_rng(i).standard_normal((2, 4, 3)) for i in range(3)])


# ----- embedding / indexing backward as sorted segment sums --------------------------------------------
@pytest.mark.parametrize("rows,shape", [(65, (12, 64)), (2000, (35, 20)), (7, (3000,)), (5, (2, 3))])
def test_row_gather_gradient_matches_torch(rows, shape):
    idx = np.random.default_rng(0).integers(0, rows, shape)
    check(lambda lib, w, i: lib.nn.functional.embedding(i, w), [(rows, 24), nograd(idx)])
    check(lambda lib, w, i: w[i - rows], [(rows, 3), nograd(idx)])     # negative row numbers
    check(lambda lib, w, i: lib.nn.functional.embedding(i, w, padding_idx=1), [(rows, 24), nograd(idx)])
    assert gradgradcheck(lambda w: F.embedding(chainrule.tensor(idx), w) ** 2, (leaf(rows, 2),))


# ----- graph capture of the fused ops -----------------------------------------------------------------
def test_a_captured_transformer_step_matches_eager():
    def build():
        emb, pos = leaf(11, 8, seed=1), leaf(6, 8, seed=2)
        wq, wo = leaf(24, 8, seed=3, scale=0.3), leaf(11, 8, seed=4, scale=0.3)
        ln_w, fc = leaf(8, seed=5), leaf(16, 8, seed=6, scale=0.3)
        params = [emb, pos, wq, wo, ln_w, fc]
        idx = chainrule.tensor(np.random.default_rng(0).integers(0, 11, (3, 6)))
        target = chainrule.tensor(np.random.default_rng(1).integers(0, 11, 18))

        def loss():
            x = F.embedding(idx, emb) + pos
            h = F.layer_norm(x, (8,), ln_w)
            q, k, v = F.linear(h, wq).split(8, dim=2)
            heads = [t.view(3, 6, 2, 4).transpose(1, 2) for t in (q, k, v)]
            a = F.scaled_dot_product_attention(*heads, is_causal=True).transpose(1, 2).reshape(3, 6, 8)
            x = x + a + F.gelu(F.linear(x, fc)).view(3, 6, 8, 2).sum(-1)
            return F.cross_entropy(F.linear(x, wo).view(18, 11), target)
        return sgd_step(loss, params), params
    captured_matches_eager(build)


# ----- whole-sequence recurrent layers ----------------------------------------------------------------
RNN_KINDS = {"LSTM": (chainrule.nn.LSTM, torch.nn.LSTM, {}), "GRU": (chainrule.nn.GRU, torch.nn.GRU, {}),
             "RNN_tanh": (chainrule.nn.RNN, torch.nn.RNN, {}),
             "RNN_relu": (chainrule.nn.RNN, torch.nn.RNN, {"nonlinearity": "relu"})}


def _rnn_pair(kind, dtype, **kwargs):
    cr_cls, th_cls, extra = RNN_KINDS[kind]
    chainrule.manual_seed(0)
    m = cr_cls(3, 4, **extra, **kwargs).to(dtype)
    t = th_cls(3, 4, **extra, **kwargs).to(getattr(torch, dtype.__repr__().split(".")[-1]))
    with torch.no_grad():
        for (name, p), (_, q) in zip(m.named_parameters(), t.named_parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    return m, t


@pytest.mark.parametrize("kind", RNN_KINDS)
def test_a_recurrent_layer_is_one_node_per_layer_and_direction(kind):
    m, _ = _rnn_pair(kind, chainrule.float64, num_layers=2)
    out, _ = m(leaf(5, 2, 3))
    nodes, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in nodes:
            continue
        nodes.add(node)
        stack.extend(n for n, _ in node.next_functions)
    recurrent = [n for n in nodes if n.name() in ("MkldnnRnnLayerBackward0", "GruBackward0", "RnnBackward0")]
    assert len(recurrent) == 2 and len(nodes) < 20   # not a dozen nodes per time step


@pytest.mark.parametrize("kind", RNN_KINDS)
def test_recurrent_layers_in_float32_match_torch(kind):
    m, t = _rnn_pair(kind, chainrule.float32, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((7, 5, 3)).astype(np.float32)
    results = []
    for lib, mod in ((chainrule, m), (torch, t)):
        xt = lib.tensor(x, requires_grad=True)
        out, state = mod(xt)
        h = state[0] if isinstance(state, tuple) else state
        (out.sum() + (h * h).sum()).backward()
        results.append([out.detach().numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in mod.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", RNN_KINDS)
def test_recurrent_layers_gradcheck_and_double_backward(kind):
    m, t = _rnn_pair(kind, chainrule.float64)
    params = list(m.parameters())
    is_lstm = kind == "LSTM"

    mode = {"RNN_tanh": "RNN_TANH", "RNN_relu": "RNN_RELU"}.get(kind, kind)

    def fn(x, h0, *weights, reverse=False):
        out, h_n, c_n = rnn_layer(mode, x, h0, h0 * 0.5 if is_lstm else None, *weights, reverse=reverse)
        return (out, h_n, c_n) if is_lstm else (out, h_n)
    inputs = (leaf(4, 2, 3), leaf(2, 4, seed=1)) + tuple(leaf(*p.shape, seed=2 + i, scale=0.5)
                                                          for i, p in enumerate(params))
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)
    assert gradcheck(lambda *a: fn(*a, reverse=True), inputs)   # the second half of a bidirectional layer
    assert gradgradcheck(lambda *a: fn(*a, reverse=True), inputs)
    double_backward_matches_torch(lambda lib, x, h0: (m if lib is chainrule else t)(
        x, (h0, h0 * 0.5) if is_lstm else h0)[0], [np.random.default_rng(5).standard_normal((4, 2, 3)),
                                                   np.random.default_rng(6).standard_normal((1, 2, 4))])


def test_a_captured_lstm_language_model_step_matches_eager():
    def build():
        emb = chainrule.nn.Embedding(13, 6)
        lstm = chainrule.nn.LSTM(6, 5, num_layers=2)
        gru = chainrule.nn.GRU(5, 5)
        head = chainrule.nn.Linear(5, 13)
        params = [p for m in (emb, lstm, gru, head) for p in m.parameters()]
        idx = chainrule.tensor(np.random.default_rng(0).integers(0, 13, (7, 3)))
        target = chainrule.tensor(np.random.default_rng(1).integers(0, 13, 21))

        def loss():
            out, _ = lstm(emb(idx))
            out, _ = gru(out)
            logp = F.log_softmax(head(out).view(21, 13), dim=1)
            return F.nll_loss(logp, target)
        return sgd_step(loss, params, lr=0.5), params
    captured_matches_eager(build)


# ----- max pooling with saved winners -----------------------------------------------------------------
POOLS = [dict(kernel_size=2), dict(kernel_size=3, stride=2), dict(kernel_size=2, stride=1),
         dict(kernel_size=2, dilation=2), dict(kernel_size=(2, 3), stride=(1, 2))]


@pytest.mark.parametrize("kwargs", POOLS)
def test_max_pool_without_padding_matches_torch(kwargs):
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, return_indices=True, **kwargs), [(2, 3, 9, 8)])
    x = leaf(1, 2, 7, 6)
    assert gradcheck(lambda a: F.max_pool2d(a, **kwargs), (x,))
    assert gradgradcheck(lambda a: F.max_pool2d(a, **kwargs) ** 2, (x,))
    double_backward_matches_torch(lambda lib, a: lib.nn.functional.max_pool2d(a, **kwargs) ** 2,
                                  [np.random.default_rng(4).standard_normal((2, 2, 7, 8))])
    float32_pair(lambda lib, a: lib.nn.functional.max_pool2d(a, **kwargs),
                 [np.random.default_rng(5).standard_normal((4, 3, 12, 10))])
    check(lambda lib, x: lib.nn.functional.max_pool1d(x, **{k: v if isinstance(v, int) else v[0]
                                                           for k, v in kwargs.items()}), [(2, 3, 11)])


def test_max_pool_ties_nan_and_minus_infinity_follow_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = np.nan      # two NaNs in one window: PyTorch keeps the last
    x[0, 0, 2:, 2:] = -np.inf                   # a window of -inf: the first element
    x[0, 0, 2, 0] = x[0, 0, 3, 1] = 1.0         # a tie: the first
    check(lambda lib, a: lib.nn.functional.max_pool2d(a, 2, return_indices=True), [x])


def test_max_pool_unbatched_float32_indices_and_a_wide_kernel():
    # an unbatched (C, H, W) input through the fused path, with its indices
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 2, return_indices=True), [(3, 8, 6)])
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, 3, stride=1, return_indices=True), [(2, 7, 5)])
    # float32 as the benchmarks run it: values, indices and gradient, tiled and overlapping windows
    x = np.random.default_rng(7).standard_normal((5, 4, 14, 12)).astype(np.float32)
    for kwargs in (dict(kernel_size=2), dict(kernel_size=3, stride=2)):
        got = [lib.nn.functional.max_pool2d(lib.tensor(x), return_indices=True, **kwargs) for lib in (chainrule, torch)]
        for a, b in zip(*got):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    # more than 127 kernel offsets: the winning offset no longer fits an int8
    check(lambda lib, x: lib.nn.functional.max_pool2d(x, (12, 12), stride=(3, 4), return_indices=True),
          [(1, 2, 15, 17)])
    assert gradgradcheck(lambda a: F.max_pool2d(a, (12, 11)) ** 2, (leaf(1, 1, 13, 12),))


def test_max_pool_padded_and_ceil_mode_keep_the_general_path():
    # padding and ceil_mode (windows past the edge) are not the primitive; they keep the gather composition
    for kwargs in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, ceil_mode=True)):
        check(lambda lib, x: lib.nn.functional.max_pool2d(x, return_indices=True, **kwargs), [(2, 3, 7, 9)])
        assert F.max_pool2d(leaf(1, 1, 7, 9), **kwargs).grad_fn.name() != "MaxPool2DWithIndicesBackward0"
        double_backward_matches_torch(lambda lib, a: lib.nn.functional.max_pool2d(a, **kwargs) ** 2,
                                      [np.random.default_rng(8).standard_normal((1, 2, 7, 9))])
    assert F.max_pool2d(leaf(1, 1, 8, 8), 2).grad_fn.name() == "MaxPool2DWithIndicesBackward0"


def test_a_captured_step_through_overlapping_max_pool_matches_eager():
    def build():
        w = leaf(3, 2, 2, 2, seed=1, scale=0.5)
        x = chainrule.tensor(np.random.default_rng(0).standard_normal((2, 2, 9, 8)))

        def loss():
            h = F.max_pool2d(F.conv2d(x, w), 3, stride=2)
            return (F.max_pool1d(h.flatten(2), 2, stride=1) ** 2).mean()
        return sgd_step(loss, [w]), [w]
    captured_matches_eager(build)


def test_a_captured_cnn_step_matches_eager():
    def build():
        conv1, conv2 = chainrule.nn.Conv2d(1, 4, 3), chainrule.nn.Conv2d(4, 8, 3)
        fc = chainrule.nn.Linear(8 * 3 * 3, 5)
        params = [p for m in (conv1, conv2, fc) for p in m.parameters()]
        x = chainrule.tensor(np.random.default_rng(0).standard_normal((6, 1, 10, 10)).astype(np.float32))
        y = chainrule.tensor(np.random.default_rng(1).integers(0, 5, 6))

        def loss():
            h = F.max_pool2d(F.relu(conv2(F.relu(conv1(x)))), 2)
            return F.nll_loss(F.log_softmax(fc(chainrule.flatten(h, 1)), dim=1), y)
        return sgd_step(loss, params), params
    captured_matches_eager(build)


# ----- the grid convolution's pieces -------------------------------------------------------------------
@pytest.mark.parametrize("groups", [1, 2])
def test_grid_conv_in_many_image_pieces_matches_torch(monkeypatch, groups):
    # pieces of a few bytes: every image its own forward, weight-gradient and input-gradient GEMM; the
    # result must not depend on the piece sizes
    from chainrule.nn import functional_conv as CF
    monkeypatch.setattr(CF, "_COLS_BYTES", 1)
    fn = lambda lib, x, w, b: lib.nn.functional.conv2d(x, w, b, padding=1, groups=groups)  # noqa: E731
    check(fn, [(3, 16, 5, 4), (4, 16 // groups, 3, 3), (4,)])
    float32_pair(fn, [np.random.default_rng(i).standard_normal(s) for i, s in
                      enumerate(((5, 16, 6, 6), (6, 16 // groups, 3, 3), (6,)))], rtol=1e-4, atol=1e-4)
    assert 16 // groups * 9 >= CF._GRID_MIN_ROWS


# ----- optimizers updating the arrays in place (foreach style) -----------------------------------------
@pytest.mark.parametrize("make", [lambda ps: chainrule.optim.SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: chainrule.optim.AdamW(ps, lr=0.1)])
def test_an_optimizer_step_counts_as_an_in_place_change(make):
    w = leaf(3)
    opt = make([w])
    (w * w).sum().backward()
    opt.step()
    pending = (w * w).sum()          # saves w
    (w * 2).sum().backward()
    opt.step()                       # changes w in place: the pending graph must refuse it
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        pending.backward()


def test_an_optimizer_refuses_a_read_only_parameter_clearly():
    w = leaf(3)
    w.grad = chainrule.ones(3, dtype=chainrule.float64)
    w._array.flags.writeable = False
    for opt in (chainrule.optim.SGD([w], lr=0.1), chainrule.optim.Adam([w])):
        with pytest.raises(RuntimeError, match="cannot update a read-only tensor"):
            opt.step()


# ----- ReLU's gradient selected by bit mask ------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_relu_gradient_selects_exactly_as_torch(dtype):
    x = np.random.default_rng(0).standard_normal((6, 50)).astype(dtype)
    x[0, :4] = [0.0, -0.0, np.nan, np.inf]
    g = np.random.default_rng(1).standard_normal((6, 50)).astype(dtype)
    g[1, :] = np.inf                    # inf and NaN upstream gradients must not leak where ReLU cut
    g[2, :] = np.nan
    g[3, :] = -0.0
    grads = []
    for lib in (chainrule, torch):
        t = lib.tensor(x, requires_grad=True)
        lib.nn.functional.relu(t).backward(lib.tensor(g))
        grads.append(t.grad.numpy())
    np.testing.assert_array_equal(grads[0].view(np.uint8), grads[1].view(np.uint8))   # bit for bit (signs of 0)
    assert grads[0].flags.owndata
