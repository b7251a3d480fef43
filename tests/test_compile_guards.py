"""chainrule.compile's guards: a captured step never replays with Python values that changed since its trace.

Each test runs one step on two identical copies of a model, eagerly and through ``chainrule.compile`` (without
the periodic recheck, so that the guards alone are tested), changes something between calls (or the step changes
something itself), and requires that both copies agree after every call, or that capture was refused.
"""
import warnings

import numpy as np
import pytest

import chainrule as cr

nn = cr.nn


def _batches(n, d_in=4, seed=0):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.standard_normal((6, d_in)).astype(np.float32)), cr.tensor(rng.integers(0, 3, 6)))
            for _ in range(n)]


def _run_both(build, n_calls=10, fullgraph=False):
    """Run ``build()``'s step eagerly and compiled; returns the refusal messages of the compiled run.

    ``build() -> (step, between(i), tensors to compare)``: ``between`` runs before call ``i``."""
    results, refusals = [], []
    for compiled in (False, True):
        step, between, tensors = build()
        fn = cr.compile(step, fullgraph=fullgraph, check_every=0) if compiled else step
        outs = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i, (x, y) in enumerate(_batches(n_calls)):
                if between is not None:
                    between(i)
                outs.append(fn(x, y).numpy().copy())
                outs.append(np.concatenate([t.detach().numpy().ravel() for t in tensors()]))
        if compiled:
            refusals = [str(w.message) for w in caught if "chainrule.compile" in str(w.message)]
        results.append(outs)
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6, err_msg=f"call {i // 2}")
    return refusals, fn


def _model(act=None):
    cr.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), act or nn.LeakyReLU(0.01), nn.Linear(8, 3))


def test_learning_rate_from_a_python_counter_inside_the_step_is_refused():
    def build():
        model = _model()
        calls = [0]

        def step(x, y):
            calls[0] += 1                        # a Python side effect: a replay would skip it
            lr = 0.5 / calls[0]
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            with cr.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            return loss.detach()
        return step, None, model.parameters
    refusals, fn = _run_both(build)
    assert refusals and "side effect" in refusals[0], refusals
    with pytest.raises(cr.CaptureError, match="calls"):
        _run_both(build, fullgraph=True)


def test_learning_rate_in_a_closure_variable_changed_between_calls_makes_a_new_trace():
    def build():
        model = _model()
        lr = 0.5

        def step(x, y):
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            with cr.no_grad():
                for p in model.parameters():
                    p -= lr * p.grad
            return loss.detach()

        def between(i):
            nonlocal lr
            if i == 5:
                lr = 0.05
        return step, between, model.parameters
    refusals, fn = _run_both(build)
    assert not refusals
    assert len(fn.programs) == 2


def _sgd_build(change, loss_fn=None, act=None):
    """A model, SGD and a loss; ``change(model, loss_fn, opt)`` runs before call 5."""
    def build():
        model = _model(act)
        opt = cr.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
        lf = loss_fn() if loss_fn else nn.CrossEntropyLoss()

        def step(x, y):
            opt.zero_grad()
            loss = lf(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()

        def between(i):
            if i == 5:
                change(model, lf, opt)
        return step, between, lambda: list(model.parameters())
    return build


def test_a_changed_module_attribute_makes_a_new_trace():
    def change(model, lf, opt):
        model[1].negative_slope = 0.7
    refusals, fn = _run_both(_sgd_build(change))
    assert not refusals and len(fn.programs) == 2


def test_a_rebound_global_tensor_makes_a_new_trace():
    global SCALE

    def build():
        global SCALE
        SCALE = cr.tensor(1.0)
        model = _model()
        opt = cr.optim.SGD(model.parameters(), lr=0.2)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x) * SCALE, y)
            loss.backward()
            opt.step()
            return loss.detach()

        def between(i):
            global SCALE
            if i == 5:
                SCALE = cr.tensor(3.0)
        return step, between, lambda: list(model.parameters())
    refusals, fn = _run_both(build)
    assert not refusals and len(fn.programs) == 2
    del SCALE


def test_a_changed_loss_attribute_makes_a_new_trace():
    def change(model, lf, opt):
        lf.label_smoothing = 0.3
    refusals, fn = _run_both(_sgd_build(change))
    assert not refusals and len(fn.programs) == 2


def test_a_replaced_child_module_makes_a_new_trace():
    def change(model, lf, opt):
        cr.manual_seed(5)
        model[2] = nn.Linear(8, 3)
        opt.add_param_group({"params": model[2].parameters()})
    refusals, fn = _run_both(_sgd_build(change))
    assert not refusals and len(fn.programs) == 2


def test_freezing_a_layer_makes_a_new_trace():
    def change(model, lf, opt):
        model[0].requires_grad_(False)
    refusals, fn = _run_both(_sgd_build(change))
    assert not refusals and len(fn.programs) == 2
