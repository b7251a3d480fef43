"""Large exp/tanh passes split over threads (chainrule.ops._parallel): same bits as one NumPy call, the caller's
np.errstate on every thread, PyTorch's set_num_threads/get_num_threads, and safe after a fork."""
import multiprocessing
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import chainrule
from chainrule.ops import _parallel


@pytest.fixture
def two_threads():
    before = chainrule.get_num_threads()
    chainrule.set_num_threads(2)
    yield
    chainrule.set_num_threads(before)


@pytest.mark.parametrize("ufunc", [np.exp, np.tanh, np.log])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_split_pass_gives_the_bits_of_one_numpy_call(two_threads, ufunc, dtype):
    x = np.abs(np.random.default_rng(0).standard_normal((700, 2000))).astype(dtype) * 3
    whole = ufunc(x)
    assert x.size >= _parallel._MIN_ELEMENTS
    np.testing.assert_array_equal(_parallel.unary(ufunc, x), whole)
    out = np.empty_like(x)
    assert _parallel.unary(ufunc, x, out) is out
    np.testing.assert_array_equal(out, whole)
    in_place = x.copy()
    _parallel.unary(ufunc, in_place, in_place)
    np.testing.assert_array_equal(in_place, whole)


def test_non_contiguous_and_small_arrays_take_one_call(two_threads):
    x = np.random.default_rng(1).standard_normal((1000, 600)).astype(np.float32)
    np.testing.assert_array_equal(_parallel.unary(np.exp, x.T), np.exp(x.T))
    np.testing.assert_array_equal(_parallel.unary(np.exp, x[:3]), np.exp(x[:3]))


def test_the_callers_errstate_holds_on_every_thread(two_threads):
    x = np.full(1 << 19, 100.0, np.float32)    # exp(100) overflows float32 in both halves
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="ignore"):
            assert np.isinf(_parallel.unary(np.exp, x)).all()
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        _parallel.unary(np.exp, x)


def test_large_softmax_and_log_softmax_match_torch_on_two_threads(two_threads):
    x = np.random.default_rng(2).standard_normal((700, 2000)).astype(np.float32)
    g = np.random.default_rng(3).standard_normal((700, 2000)).astype(np.float32)
    for name in ("softmax", "log_softmax"):
        xc, xt = chainrule.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yc, yt = getattr(chainrule.nn.functional, name)(xc, 1), getattr(torch.nn.functional, name)(xt, 1)
        yc.backward(chainrule.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_set_num_threads_as_pytorch():
    before = chainrule.get_num_threads()
    try:
        chainrule.set_num_threads(1)
        assert chainrule.get_num_threads() == 1
        x = np.random.default_rng(4).standard_normal(1 << 19).astype(np.float32)
        np.testing.assert_array_equal(_parallel.unary(np.exp, x), np.exp(x))
        assert _parallel._pool is None          # one thread: no pool is started
        for bad, message in ((0, "positive integer"), (1.5, "expects an int")):
            with pytest.raises(RuntimeError, match=message):
                torch.set_num_threads(bad)
            with pytest.raises(RuntimeError, match=message):
                chainrule.set_num_threads(bad)
    finally:
        chainrule.set_num_threads(before)


def test_get_num_threads_follows_omp_num_threads():
    code = "import chainrule; print(chainrule.get_num_threads())"
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def _big_exp_sum(_):
    return float(chainrule.exp(chainrule.tensor(np.zeros(1 << 19, np.float32))).sum())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_worker_starts_its_own_threads(two_threads):
    _big_exp_sum(None)                      # the parent's pool exists now
    assert _parallel._pool is not None
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_big_exp_sum, [0], chunksize=1) == [float(1 << 19)]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_rows_split_between_threads_give_the_bits_of_one_thread(name):
    x = np.random.default_rng(5).standard_normal((3, 301, 1000)).astype(np.float32)
    g = np.random.default_rng(6).standard_normal(x.shape).astype(np.float32)
    results = []
    before = chainrule.get_num_threads()
    try:
        for threads in (1, 2, 3):
            chainrule.set_num_threads(threads)
            xc = chainrule.tensor(x, requires_grad=True)
            y = getattr(chainrule.nn.functional, name)(xc, -1)
            y.backward(chainrule.tensor(g))
            results.append((y.detach().numpy(), xc.grad.numpy()))
    finally:
        chainrule.set_num_threads(before)
    for y, gx in results[1:]:
        np.testing.assert_array_equal(y, results[0][0])
        np.testing.assert_array_equal(gx, results[0][1])
