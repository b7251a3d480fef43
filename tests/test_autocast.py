"""Autocast on the CPU and bfloat16 arithmetic, against PyTorch: the dtype every op gives inside
``torch.autocast("cpu")`` (for float32, bfloat16 and float64 inputs), the values (to bfloat16's precision:
both libraries round the same inputs to bfloat16 and accumulate in float32, so results may differ by the
last bit of a bfloat16), gradients through the casts, and the region's own rules (nesting, float16, refused
dtypes, threads, the decorator, ``torch.cpu.amp``)."""
import threading
import warnings

import numpy as np
import pytest
import torch

import chainrule

pytest.importorskip("ml_dtypes")

# One bfloat16 step is 2**-8 of the value (8 significand bits); two libraries that accumulate in float32 in a
# different order may round to neighbouring values: a relative tolerance of two steps.
BF16_RTOL = 2.0 ** -7


def _arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _idx(lib):
    return lib.tensor([0, 2, 1])


# name -> (input shapes, fn(lib, F, *tensors)); the inputs are made in the dtype under test
OPS = {
    "matmul": ([(3, 4), (4, 5)], lambda L, F, a, b: a @ b),
    "mm": ([(3, 4), (4, 5)], lambda L, F, a, b: L.mm(a, b)),
    "bmm": ([(2, 3, 4), (2, 4, 5)], lambda L, F, a, b: L.bmm(a, b)),
    "matmul batched": ([(2, 3, 4), (4, 5)], lambda L, F, a, b: L.matmul(a, b)),
    "addmm": ([(3, 5), (3, 4), (4, 5)], lambda L, F, c, a, b: L.addmm(c, a, b)),
    "baddbmm": ([(2, 3, 5), (2, 3, 4), (2, 4, 5)], lambda L, F, c, a, b: L.baddbmm(c, a, b)),
    "einsum": ([(3, 4), (4, 5)], lambda L, F, a, b: L.einsum("ij,jk->ik", a, b)),
    "mv (not listed)": ([(3, 4), (4,)], lambda L, F, a, b: L.mv(a, b)),
    "dot (not listed)": ([(4,), (4,)], lambda L, F, a, b: L.dot(a, b)),
    "outer (not listed)": ([(3,), (4,)], lambda L, F, a, b: L.outer(a, b)),
    "linear": ([(3, 4), (5, 4), (5,)], lambda L, F, x, w, b: F.linear(x, w, b)),
    "linear without bias": ([(2, 3, 4), (5, 4)], lambda L, F, x, w: F.linear(x, w)),
    "bilinear (not listed)": ([(2, 3), (2, 4), (5, 3, 4)], lambda L, F, a, b, w: F.bilinear(a, b, w)),
    "conv1d": ([(1, 2, 6), (3, 2, 3), (3,)], lambda L, F, x, w, b: F.conv1d(x, w, b, padding=1)),
    "conv2d": ([(1, 2, 5, 5), (3, 2, 3, 3)], lambda L, F, x, w: F.conv2d(x, w, stride=2)),
    "conv_transpose1d": ([(1, 2, 5), (2, 3, 3)], lambda L, F, x, w: F.conv_transpose1d(x, w)),
    "conv_transpose2d": ([(1, 2, 4, 4), (2, 3, 3, 3)], lambda L, F, x, w: F.conv_transpose2d(x, w, stride=2)),
    "scaled_dot_product_attention": ([(1, 2, 3, 4)] * 3,
                                     lambda L, F, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
    "relu": ([(3, 4)], lambda L, F, x: F.relu(x)),
    "gelu": ([(3, 4)], lambda L, F, x: F.gelu(x)),
    "softmax": ([(3, 4)], lambda L, F, x: F.softmax(x, -1)),
    "log_softmax": ([(3, 4)], lambda L, F, x: F.log_softmax(x, -1)),
    "layer_norm": ([(3, 4)], lambda L, F, x: F.layer_norm(x, (4,))),
    "sum": ([(3, 4)], lambda L, F, x: x.sum()),
    "mean over a dim": ([(3, 4)], lambda L, F, x: x.mean(1)),
    "var": ([(3, 4)], lambda L, F, x: x.var()),
    "prod": ([(3, 4)], lambda L, F, x: x.prod(1)),
    "cumsum": ([(3, 4)], lambda L, F, x: x.cumsum(1)),
    "max_pool2d": ([(1, 1, 4, 4)], lambda L, F, x: F.max_pool2d(x, 2)),
    "adaptive_avg_pool2d": ([(1, 1, 4, 4)], lambda L, F, x: F.adaptive_avg_pool2d(x, 2)),
    "pad reflect": ([(1, 2, 4)], lambda L, F, x: F.pad(x, (1, 1), mode="reflect")),
    "pad replicate": ([(1, 2, 4)], lambda L, F, x: F.pad(x, (1, 1), mode="replicate")),
    "pad circular": ([(1, 2, 4)], lambda L, F, x: F.pad(x, (1, 1), mode="circular")),
    "pad constant": ([(1, 2, 4)], lambda L, F, x: F.pad(x, (1, 1))),
    "mse_loss": ([(3, 4), (3, 4)], lambda L, F, a, b: F.mse_loss(a, b)),
    "l1_loss": ([(3, 4), (3, 4)], lambda L, F, a, b: F.l1_loss(a, b)),
    "smooth_l1_loss": ([(3, 4), (3, 4)], lambda L, F, a, b: F.smooth_l1_loss(a, b)),
    "huber_loss": ([(3, 4), (3, 4)], lambda L, F, a, b: F.huber_loss(a, b)),
    "cross_entropy": ([(3, 4)], lambda L, F, x: F.cross_entropy(x, _idx(L))),
    "nll_loss": ([(3, 4)], lambda L, F, x: F.nll_loss(F.log_softmax(x, -1), _idx(L))),
    "binary_cross_entropy": ([(3,), (3,)], lambda L, F, a, b: F.binary_cross_entropy(a.sigmoid(), b.sigmoid())),
    "binary_cross_entropy_with_logits": ([(3,), (3,)],
                                         lambda L, F, a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid())),
    "kl_div": ([(3, 4), (3, 4)], lambda L, F, a, b: F.kl_div(F.log_softmax(a, -1), F.softmax(b, -1),
                                                             reduction="batchmean")),
    "embedding": ([(5, 3)], lambda L, F, w: F.embedding(_idx(L), w)),
    "cat of two dtypes": ([(2, 3)], lambda L, F, x: L.cat([x, L.ones(2, 3)])),
    "add of two dtypes": ([(2, 3)], lambda L, F, x: x + L.ones(2, 3)),
    "times a Python float": ([(2, 3)], lambda L, F, x: x * 0.1),
    "where with a Python float": ([(2, 3)], lambda L, F, x: L.where(x > 0, x, 0.5)),
    "topk": ([(3, 4)], lambda L, F, x: x.topk(2)[0]),
}


def _run(lib, name, dtype_name, enabled=True):
    shapes, fn = OPS[name]
    inputs = [lib.tensor(a).to(getattr(lib, dtype_name)) for a in _arrays(0, *shapes)]
    with lib.autocast("cpu", enabled=enabled):
        return fn(lib, lib.nn.functional, *inputs)


@pytest.mark.parametrize("dtype_name", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("name", list(OPS))
def test_autocast_gives_pytorchs_dtype_and_values(name, dtype_name):
    theirs = _run(torch, name, dtype_name)
    ours = _run(chainrule, name, dtype_name)
    assert str(ours.dtype) == str(theirs.dtype)
    expected = theirs.detach().double().numpy()
    got = ours.detach().double().numpy()
    # Where autocast leaves PyTorch's numbers as they are without it, they must agree as float32 numbers do;
    # where some step went through bfloat16 (even with a float32 result, as bilinear's), to bfloat16's precision.
    untouched = _run(torch, name, dtype_name, enabled=False).detach().double().numpy()
    if dtype_name != "bfloat16" and np.allclose(untouched, expected, rtol=1e-6, atol=1e-7):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(got, expected, rtol=BF16_RTOL, atol=BF16_RTOL * np.abs(expected).max())


def test_a_training_step_under_autocast_matches_pytorch():
    """A two-layer classifier under CPU autocast: logits in bfloat16, the loss in float32, and every gradient
    in its parameter's own dtype (float32), to bfloat16's precision."""
    x, w1, b1, w2, b2 = _arrays(1, (8, 6), (16, 6), (16,), (4, 16), (4,))
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    results = {}
    for lib in (chainrule, torch):
        params = [lib.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
        F = lib.nn.functional
        with lib.autocast("cpu", dtype=lib.bfloat16):
            hidden = F.gelu(F.linear(lib.tensor(x), params[0], params[1]))
            logits = F.linear(hidden, params[2], params[3])
            loss = F.cross_entropy(logits, lib.tensor(y))
        assert (hidden.dtype, logits.dtype, loss.dtype) == (lib.bfloat16, lib.bfloat16, lib.float32)
        loss.backward()
        assert all(p.grad.dtype == lib.float32 for p in params)
        results[lib] = (loss.item(), [p.grad.numpy() for p in params])
    assert results[chainrule][0] == pytest.approx(results[torch][0], rel=BF16_RTOL)
    for ours, theirs in zip(results[chainrule][1], results[torch][1]):
        # each gradient went through bfloat16 products: a few bfloat16 steps apart at most
        np.testing.assert_allclose(ours, theirs, rtol=4 * BF16_RTOL, atol=4 * BF16_RTOL * np.abs(theirs).max())


def test_region_rules_are_pytorchs():
    for lib in (chainrule, torch):
        x = lib.ones(2, 2)
        assert not lib.is_autocast_enabled("cpu") and lib.get_autocast_dtype("cpu") == lib.bfloat16
        with lib.autocast("cpu", dtype=lib.float16):
            assert lib.is_autocast_enabled("cpu") and not lib.is_autocast_enabled()   # no argument: "cuda"
            assert (x @ x).dtype == lib.float16 and lib.get_autocast_dtype("cpu") == lib.float16
            with lib.autocast("cpu", enabled=False):
                assert (x @ x).dtype == lib.float32 and not lib.is_autocast_enabled("cpu")
            with lib.autocast("cpu"):   # a nested region keeps the dtype it finds
                assert (x @ x).dtype == lib.float16
            assert (x @ x).dtype == lib.float16
        assert (x @ x).dtype == lib.float32 and not lib.is_autocast_enabled("cpu")
        assert lib.get_autocast_dtype("cpu") == lib.bfloat16
        with pytest.warns(UserWarning, match="CPU Autocast only supports dtypes of torch.bfloat16, torch.float16"):
            region = lib.autocast("cpu", dtype=lib.float64)
        with region:
            assert (x @ x).dtype == lib.float32

        @lib.autocast("cpu")
        def product(a):
            return a @ a
        assert product(x).dtype == lib.bfloat16 and (x @ x).dtype == lib.float32
        with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
            old_spelling = lib.cpu.amp.autocast()
        with old_spelling:
            assert (x @ x).dtype == lib.bfloat16 and lib.is_autocast_cpu_enabled()


def test_the_region_belongs_to_the_thread():
    for lib in (chainrule, torch):
        seen = []
        with lib.autocast("cpu"):
            worker = threading.Thread(target=lambda: seen.append((lib.ones(2, 2) @ lib.ones(2, 2)).dtype))
            worker.start()
            worker.join()
            assert (lib.ones(2, 2) @ lib.ones(2, 2)).dtype == lib.bfloat16
        assert seen == [lib.float32]


# ----- bfloat16 arithmetic, without autocast -----------------------------------------------------------
ARITHMETIC = {
    "x * python float": lambda L, x: x * 0.1, "python float * x": lambda L, x: 2.5 * x,
    "x / python float": lambda L, x: x / 3.0, "x + python int": lambda L, x: x + 1, "x ** 0.5": lambda L, x: x.abs() ** 0.5,
    "x * x": lambda L, x: x * x, "x / x": lambda L, x: x / (x.abs() + 1), "matmul": lambda L, x: x @ x.t(),
    "linear": lambda L, x: L.nn.functional.linear(x, x), "sum": lambda L, x: x.sum(), "mean": lambda L, x: x.mean(0),
    "std": lambda L, x: x.std(1), "cumsum": lambda L, x: x.cumsum(1), "norm": lambda L, x: x.norm(),
    "softmax": lambda L, x: x.softmax(-1), "sigmoid": lambda L, x: x.sigmoid(), "gelu": lambda L, x: L.nn.functional.gelu(x),
    "layer_norm": lambda L, x: L.nn.functional.layer_norm(x, (x.shape[-1],)), "clamp": lambda L, x: x.clamp(-0.5, 0.5),
    "where": lambda L, x: L.where(x > 0, x, 0.0), "exp": lambda L, x: x.exp(), "tanh": lambda L, x: x.tanh(),
    "cross_entropy": lambda L, x: L.nn.functional.cross_entropy(x, L.tensor([0, 1, 2, 3, 4, 5])),
}


@pytest.mark.parametrize("name", list(ARITHMETIC))
def test_bfloat16_arithmetic_keeps_pytorchs_dtype_and_values(name):
    x = _arrays(2, (6, 6))[0]
    theirs = ARITHMETIC[name](torch, torch.tensor(x).bfloat16())
    ours = ARITHMETIC[name](chainrule, chainrule.tensor(x).bfloat16())
    assert str(ours.dtype) == str(theirs.dtype) == "torch.bfloat16"
    expected = theirs.float().numpy()
    np.testing.assert_allclose(ours.float().numpy(), expected, rtol=BF16_RTOL, atol=BF16_RTOL * np.abs(expected).max())


def test_half_precision_sums_accumulate_in_float32_as_pytorchs_do():
    # Rounded after every addition, a bfloat16 running sum of ones stops at 256 (and a float16 one at 2048).
    for dtype in ("bfloat16", "float16"):
        for lib in (chainrule, torch):
            x = lib.ones(10000, dtype=getattr(lib, dtype))
            assert x.sum().item() == x.cumsum(0)[-1].item() == float(lib.tensor(10000.0).to(x.dtype))
            assert x.mean().item() == 1.0


def test_bfloat16_gradients_stay_bfloat16():
    w = _arrays(3, (4, 4))[0]
    grads = {}
    for lib in (chainrule, torch):
        p = lib.tensor(w).bfloat16().requires_grad_()
        (lib.nn.functional.gelu(p @ p) * 0.5).sum().backward()
        assert p.grad.dtype == lib.bfloat16
        grads[lib] = p.grad.float().numpy()
    np.testing.assert_allclose(grads[chainrule], grads[torch], rtol=2 * BF16_RTOL,
                               atol=2 * BF16_RTOL * np.abs(grads[torch]).max())
