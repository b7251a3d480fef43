"""``torch.amp`` / ``torch.cuda.amp`` / ``torch.backends``: the mixed-precision scaffolding of training scripts,
checked against PyTorch (``GradScaler`` on device "cpu" is a real scaler in PyTorch too)."""
import warnings

import numpy as np
import pytest
import torch

import chainrule


def _train_with_scaler(lib, grads_per_step, **scaler_kw):
    """A one-parameter SGD run whose gradients are given (inf/NaN ones included): the scales seen and the
    parameter after each step, under a GradScaler."""
    p = lib.nn.Parameter(lib.tensor([1.0, -2.0]))
    opt = lib.optim.SGD([p], lr=0.1)
    scaler = lib.amp.GradScaler("cpu", **scaler_kw)
    trace = []
    for g in grads_per_step:
        opt.zero_grad()
        loss = scaler.scale((p * lib.tensor(g)).sum())
        loss.backward()
        scaler.step(opt)
        scaler.update()
        trace.append((scaler.get_scale(), p.detach().tolist()))
    return trace, scaler.state_dict()


def test_grad_scaler_skips_bad_steps_and_adapts_the_scale_as_pytorch_does():
    steps = [[1.0, 2.0], [float("inf"), 1.0], [0.5, 0.5], [float("nan"), 0.0], [1.0, 1.0], [2.0, -1.0], [1.0, 1.0]]
    ours = _train_with_scaler(chainrule, steps, init_scale=1024.0, growth_interval=2)
    theirs = _train_with_scaler(torch, steps, init_scale=1024.0, growth_interval=2)
    assert ours[1] == theirs[1]
    for (s1, p1), (s2, p2) in zip(ours[0], theirs[0]):
        assert s1 == s2
        np.testing.assert_allclose(p1, p2, rtol=1e-6)


def test_unscale_then_clip_then_step_matches_pytorch():
    def run(lib):
        lib.manual_seed(0)
        w = lib.nn.Parameter(lib.tensor([[3.0, -4.0]]))
        opt = lib.optim.SGD([w], lr=0.5)
        scaler = lib.amp.GradScaler("cpu", init_scale=256.0)
        scaler.scale((w ** 2).sum()).backward()
        scaler.unscale_(opt)
        grad_seen = w.grad.tolist()
        lib.nn.utils.clip_grad_norm_([w], 1.0)
        scaler.step(opt)
        scaler.update()
        return grad_seen, w.detach().tolist()
    ours, theirs = run(chainrule), run(torch)
    np.testing.assert_allclose(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6)


def test_grad_scaler_misuse_is_refused_with_pytorchs_errors():
    for lib in (chainrule, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu")
        with pytest.raises(AssertionError, match="_scale is None"):
            scaler.step(opt)
        scaler.scale(p.sum()).backward()
        scaler.unscale_(opt)
        with pytest.raises(RuntimeError, match="unscale_\\(\\) has already been called"):
            scaler.unscale_(opt)
        scaler.step(opt)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            scaler.step(opt)
        with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
            scaler.step(opt, closure=lambda: None)


def test_a_disabled_scaler_passes_through():
    for lib in (chainrule, torch):
        scaler = lib.amp.GradScaler("cpu", enabled=False)
        p = lib.nn.Parameter(lib.tensor([1.0]))
        opt = lib.optim.SGD([p], lr=0.5)
        loss = (p * 2).sum()
        assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0 and scaler.state_dict() == {}
        loss.backward()
        scaler.step(opt)
        scaler.update()
        assert p.item() == 0.0


def test_cuda_flavoured_amp_is_disabled_with_a_warning_as_in_cpu_only_pytorch():
    for lib in (chainrule, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert not lib.cuda.amp.GradScaler().is_enabled()
            assert not lib.amp.GradScaler("cuda").is_enabled()
            with lib.autocast(device_type="cuda", dtype=lib.float16):
                assert not lib.is_autocast_enabled("cuda")
                x = lib.ones(2, 2)
                assert (x @ x).dtype == lib.float32
        assert any("CUDA is not available" in str(w.message) for w in caught)


def test_disabled_autocast_is_a_context_and_a_decorator():
    for lib in (chainrule, torch):
        @lib.autocast("cpu", enabled=False)
        def mm(a):
            return a @ a
        with lib.amp.autocast(device_type="cpu", enabled=False):
            assert (lib.ones(2, 2) @ lib.ones(2, 2)).dtype == lib.float32
        assert mm(lib.ones(2, 2)).dtype == lib.float32
        assert lib.get_autocast_dtype("cpu") == lib.bfloat16
        assert lib.amp.is_autocast_available("cpu")
    with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
        chainrule.autocast(chainrule.device("cpu"))


def test_backends_answer_as_cpu_only_pytorch_does():
    import chainrule.backends.cudnn as cudnn
    for lib in (chainrule, torch):
        b = lib.backends
        assert (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, b.cudnn.benchmark, b.cudnn.deterministic) == \
            (False, True, False, False)
        assert not b.mps.is_available() and not b.mps.is_built() and not b.cuda.is_built()
        assert not b.cudnn.is_available() and b.cudnn.version() is None
        with pytest.raises(AttributeError, match="Unknown attribute typo"):
            b.cuda.matmul.typo
    chainrule.backends.cuda.matmul.allow_tf32 = True
    cudnn.benchmark = True
    assert chainrule.backends.cuda.matmul.allow_tf32 and chainrule.backends.cudnn.benchmark
    chainrule.backends.cuda.matmul.allow_tf32 = False
    cudnn.benchmark = False
    chainrule.set_float32_matmul_precision("high")
    assert chainrule.get_float32_matmul_precision() == "high"
    chainrule.set_float32_matmul_precision("highest")


def test_cuda_queries_answer_as_cpu_only_pytorch_does():
    for lib in (chainrule, torch):
        assert not lib.cuda.is_available() and lib.cuda.device_count() == 0 and not lib.cuda.is_bf16_supported()
        assert lib.cuda.memory_allocated() == 0
        lib.cuda.empty_cache()
        with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
            lib.cuda.synchronize()


def test_bfloat16_is_a_floating_dtype_that_converts_and_prints_as_in_pytorch():
    pytest.importorskip("ml_dtypes")
    for lib in (chainrule, torch):
        x = lib.tensor([[1.0, 2.5, -3.0], [0.1, 0.2, 0.3]]).to(lib.bfloat16)
        assert x.is_floating_point() and x.element_size() == 2 and x.dtype == lib.bfloat16
    ours = chainrule.tensor([[1.0, 2.5, -3.0], [0.1, 0.2, 0.3]], dtype=chainrule.bfloat16)
    theirs = torch.tensor([[1.0, 2.5, -3.0], [0.1, 0.2, 0.3]], dtype=torch.bfloat16)
    assert repr(ours) == repr(theirs)
    assert ours.float().tolist() == theirs.float().tolist()       # the same rounding to 8 bits of mantissa
    for fn in (lambda t: t + 1, lambda t: t.exp(), lambda t: t.relu(), lambda t: t.sum(), lambda t: t.mean(1),
               lambda t: t + t.float()):
        a, b = fn(ours), fn(theirs)
        assert repr(a.dtype) == repr(b.dtype) and a.float().tolist() == b.float().tolist()
