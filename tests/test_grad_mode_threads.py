"""Grad mode belongs to the thread (PyTorch's rule); anomaly mode to the process (PyTorch's rule too).

Every scenario runs on chainrule and on PyTorch, with threads stepped through a fixed interleaving by
events, and the two libraries must report the same things.
"""
import threading

import pytest
import torch

import chainrule


def _in_thread(fn):
    """Run ``fn()`` in a new thread; return what it returned (or re-raise what it raised)."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:   # noqa: BLE001  (handed back to the caller's thread)
            box["error"] = exc
    t = threading.Thread(target=target)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "thread did not finish"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _train_step(lib):
    """A tiny forward and backward; returns the gradient (raises if nothing was recorded)."""
    w = lib.tensor([2.0, 3.0], requires_grad=True)
    (w * w).sum().backward()
    return w.grad.tolist()


SWITCHES = {
    "no_grad": lambda lib: lib.no_grad(),
    "inference_mode": lambda lib: lib.inference_mode(),
    "set_grad_enabled(False)": lambda lib: lib.set_grad_enabled(False),
}


@pytest.mark.parametrize("switch", SWITCHES)
@pytest.mark.parametrize("lib", [chainrule, torch], ids=["chainrule", "torch"])
def test_a_switch_in_one_thread_leaves_another_recording(lib, switch):
    with SWITCHES[switch](lib):
        assert not lib.is_grad_enabled()
        seen = _in_thread(lambda: (lib.is_grad_enabled(), _train_step(lib)))
        assert not lib.is_grad_enabled()
    assert seen == (True, [4.0, 6.0])
    assert lib.is_grad_enabled()


@pytest.mark.parametrize("lib", [chainrule, torch], ids=["chainrule", "torch"])
def test_overlapping_no_grad_blocks_in_two_threads_restore_each_thread(lib):
    """A enters, B enters, A exits, B exits: a single shared flag would end with recording off."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def thread_a():
        with lib.no_grad():
            a_in.set()
            b_in.wait(10)
        a_out.set()
        return lib.is_grad_enabled()

    def thread_b():
        a_in.wait(10)
        with lib.no_grad():
            b_in.set()
            a_out.wait(10)
            inside = lib.is_grad_enabled()
        return inside, lib.is_grad_enabled()

    results = {}
    threads = [threading.Thread(target=lambda: results.__setitem__("a", thread_a())),
               threading.Thread(target=lambda: results.__setitem__("b", thread_b()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"a": True, "b": (False, True)}
    assert lib.is_grad_enabled()
    assert _train_step(lib) == [4.0, 6.0]


@pytest.mark.parametrize("lib", [chainrule, torch], ids=["chainrule", "torch"])
def test_enable_grad_in_a_thread_does_not_reach_a_no_grad_thread(lib):
    with lib.no_grad():
        inner = _in_thread(lambda: _enabled_inside(lib))
        assert not lib.is_grad_enabled()
    assert inner is True


def _enabled_inside(lib):
    with lib.enable_grad():
        return lib.is_grad_enabled()


@pytest.mark.parametrize("lib", [chainrule, torch], ids=["chainrule", "torch"])
def test_a_new_thread_starts_recording_and_outside_inference_mode(lib):
    with lib.inference_mode():
        seen = _in_thread(lambda: (lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        assert lib.is_inference_mode_enabled()
    assert seen == (True, False)
    assert not lib.is_inference_mode_enabled()


def test_inference_mode_false_records_again_like_torch():
    for lib in (chainrule, torch):
        with lib.no_grad(), lib.inference_mode(False):
            assert (lib.is_grad_enabled(), lib.is_inference_mode_enabled()) == (True, False)
        with lib.inference_mode(), lib.inference_mode(False):
            assert (lib.is_grad_enabled(), lib.is_inference_mode_enabled()) == (True, False)
        assert (lib.is_grad_enabled(), lib.is_inference_mode_enabled()) == (True, False)


def test_a_decorated_function_called_from_two_threads_restores_each():
    """One no_grad instance (the decorator's) entered by two threads at once."""
    started, release = threading.Barrier(2), threading.Event()

    @chainrule.no_grad()
    def work():
        started.wait(10)
        release.wait(10)
        return chainrule.is_grad_enabled()

    results = []
    threads = [threading.Thread(target=lambda: results.append((work(), chainrule.is_grad_enabled())))
               for _ in range(2)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(30)
    assert results == [(False, True), (False, True)]


@pytest.mark.parametrize("lib", [chainrule, torch], ids=["chainrule", "torch"])
def test_anomaly_mode_is_one_setting_for_the_process_like_torch(lib):
    # PyTorch keeps anomaly mode process-wide (a static flag), so chainrule does too.
    with lib.autograd.set_detect_anomaly(True):
        inside = _in_thread(lib.is_anomaly_enabled)
    assert inside is True
    assert not lib.is_anomaly_enabled()


def test_set_detect_anomaly_as_a_call_switches_at_once_like_torch():
    for lib in (chainrule, torch):
        lib.autograd.set_detect_anomaly(True)
        try:
            assert lib.is_anomaly_enabled()
        finally:
            lib.autograd.set_detect_anomaly(False)
        assert not lib.is_anomaly_enabled()


def test_grad_mode_enabled_attribute_reads_and_writes_this_threads_flag():
    """``grad_mode.enabled`` (the spelling older code uses) is the calling thread's flag."""
    from chainrule.autograd import grad_mode
    assert grad_mode.enabled is True
    grad_mode.enabled = False
    try:
        assert not chainrule.is_grad_enabled()
        assert _in_thread(lambda: grad_mode.enabled) is True
    finally:
        grad_mode.enabled = True
    assert chainrule.is_grad_enabled()
