"""chainrule.compile: a captured training step gives the same numbers as eager mode, step after step."""
import warnings

import numpy as np
import pytest

import chainrule as cr


def _xor_setup(seed=0, lr=0.5):
    cr.manual_seed(seed)
    X = cr.tensor([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
    y = cr.tensor([[0.], [1.], [1.], [0.]])
    W1 = cr.randn(2, 2, requires_grad=True)
    b1 = cr.zeros(1, 2, requires_grad=True)
    W2 = cr.randn(2, 1, requires_grad=True)
    b2 = cr.zeros(1, 1, requires_grad=True)
    params = [W1, b1, W2, b2]

    def step(X, y):
        y_hat = cr.sigmoid(cr.sigmoid(X @ W1 + b1) @ W2 + b2)
        loss = ((y_hat - y) ** 2).mean()
        loss.backward()
        with cr.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss.detach()
    return X, y, params, step


def test_xor_step_matches_eager_for_many_steps():
    X, y, eager_params, eager_step = _xor_setup()
    eager_losses = [eager_step(X, y).item() for _ in range(300)]
    X, y, params, step = _xor_setup()
    compiled = cr.compile(step, fullgraph=True)
    losses = [compiled(X, y).item() for _ in range(300)]
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6, atol=1e-9)
    for p, q in zip(params, eager_params):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-9)
    assert len(compiled.programs) == 1 and not compiled.refusals


def _mlp_setup(momentum=0.9):
    nn = cr.nn
    if not hasattr(nn, "Linear") or not hasattr(cr.optim, "SGD"):
        pytest.skip("nn.Linear / optim.SGD not available")
    cr.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return model, opt, step


def _assert_same_parameters(model, eager_model, atol=1e-7):
    """The compiled copy ended where the eager copy did."""
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=atol)


def _batches(n, sizes):
    rng = np.random.default_rng(0)
    return [(cr.tensor(rng.standard_normal((b, 8)).astype(np.float32)), cr.tensor(rng.integers(0, 3, b)))
            for b in sizes[:n]]


def test_mlp_sgd_momentum_matches_eager_with_changing_batches_and_shapes():
    batches = _batches(40, [16] * 19 + [5] + [16] * 20)   # one short batch: a second trace
    eager_model, _, eager_step = _mlp_setup()
    eager = [eager_step(x, y).item() for x, y in batches]
    model, _, step = _mlp_setup()
    compiled = cr.compile(step, fullgraph=True)
    got = [compiled(x, y).item() for x, y in batches]
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-7)
    _assert_same_parameters(model, eager_model)


def test_the_linked_program_skips_work_a_replay_does_not_need():
    """What the linker leaves out, with the numbers unchanged: no copy of the old gradients into their buffers
    when the step sets them to None and makes new ones (zero_grad, backward), no kernel for an np.empty, and
    ReLU's backward masks bits through a recorded dtype view, not np.where (10 ns an element)."""
    batches = _batches(8, [16] * 8)
    eager_model, _, eager_step = _mlp_setup()
    eager = [eager_step(x, y).item() for x, y in batches]
    model, _, step = _mlp_setup()
    compiled = cr.compile(step, fullgraph=True)
    got = [compiled(x, y).item() for x, y in batches]
    np.testing.assert_array_equal(got, eager)
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    (program,) = compiled.programs
    assert program.grad_inputs == []
    functions = [func for func, _, _ in program.kernels]
    assert np.where not in functions and np.empty not in functions
    assert any(getattr(func, "__name__", "") == "bitwise_and" for func in functions)


def test_a_dtype_view_inside_the_step_is_recorded():
    """``a.view(np.int32)`` of a traced array (ReLU's backward ANDs the gradient's bits with a mask) is part of
    the program, linked once as a view of the buffer: each replay masks its own values, not the trace's."""
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def train(x):
        y = cr.relu(x * 2)
        y.backward(cr.tensor([np.inf, np.nan, 1.0]))
        out = x.grad.detach()
        x.grad = None
        return out
    compiled = cr.compile(train, fullgraph=True)
    for values in ([1.0, -2.0, 3.0], [-1.0, 2.0, 0.0], [5.0, 5.0, -5.0], [0.5, -0.5, 2.0]):
        with cr.no_grad():
            x.copy_(cr.tensor(values))
        expected = np.where(np.array(values) > 0, np.array([np.inf, np.nan, 2.0]), 0.0)
        np.testing.assert_array_equal(compiled(x).numpy(), expected)
    assert compiled.programs and not compiled.refusals and compiled.programs[0].replays >= 2
    assert any(getattr(func, "__name__", "") == "bitwise_and" for func, _, _ in compiled.programs[0].kernels)


def test_changing_the_learning_rate_makes_a_new_trace():
    batches = _batches(12, [16] * 12)
    eager_model, eager_opt, eager_step = _mlp_setup()
    model, opt, step = _mlp_setup()
    compiled = cr.compile(step, fullgraph=True)
    for i, (x, y) in enumerate(batches):
        if i == 6:
            for o in (opt, eager_opt):
                o.param_groups[0]["lr"] = 0.01
        np.testing.assert_allclose(compiled(x, y).item(), eager_step(x, y).item(), rtol=1e-5)
    assert len(compiled.programs) == 2


def test_value_dependent_control_flow_falls_back_to_eager():
    w = cr.tensor([1.0, -2.0], requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        if loss.item() > 0:     # Python reads a value: cannot be captured
            loss = loss * 2
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad = None
        return loss.detach()

    compiled = cr.compile(step)
    x = cr.tensor([1.0, 1.0])
    compiled(x)
    with pytest.warns(RuntimeWarning, match="reads a tensor's value"):
        compiled(x)
    before = w.detach().clone()
    compiled(x)   # eager from now on, still correct
    assert not cr.allclose(before, w.detach())

    strict = cr.compile(step, fullgraph=True)
    strict(x)
    with pytest.raises(cr.CaptureError, match="reads a tensor's value"):
        strict(x)


def test_random_numbers_inside_the_step_are_refused_and_state_is_left_intact():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def step(x):
        loss = (w * x * cr.rand(2)).sum()
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad = None
        return loss.detach()

    compiled = cr.compile(step, fullgraph=True)
    compiled(cr.ones(2))
    before = w.detach().clone()
    with pytest.raises(cr.CaptureError, match="random"):
        compiled(cr.ones(2))
    assert cr.equal(before, w.detach())   # the refused trace rolled its changes back


def test_returning_a_tensor_that_needs_a_graph_is_refused():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    compiled = cr.compile(lambda x: (w * x).sum(), fullgraph=True)
    compiled(cr.ones(2))
    with pytest.raises(cr.CaptureError, match="requires grad"):
        compiled(cr.ones(2))


def test_replacing_the_state_makes_a_new_trace():
    """`p.data = ...` gives a parameter a new array: the old program must not go on updating the old one."""
    batches = _batches(10, [16] * 10)
    eager_model, eager_opt, eager_step = _mlp_setup()
    model, opt, step = _mlp_setup()
    compiled = cr.compile(step, fullgraph=True)
    for i, (x, y) in enumerate(batches):
        if i == 5:
            for m in (model, eager_model):
                for p in m.parameters():
                    p.data = p.data * 0.5
        np.testing.assert_allclose(compiled(x, y).item(), eager_step(x, y).item(), rtol=1e-5)
    _assert_same_parameters(model, eager_model)


# ----- regressions: replays that once differed silently from eager mode ------------------------------------------
def _compare(build, batches, expect_refusal=None):
    """Run build()'s step eagerly and compiled over ``batches``; the losses and parameters must agree."""
    eager_params, eager_step, eager_between = build()
    eager = []
    for i, b in enumerate(batches):
        if eager_between is not None:
            eager_between(i)
        eager.append(eager_step(*b).numpy().copy())
    params, step, between = build()
    compiled = cr.compile(step)
    got = []
    with __import__("warnings").catch_warnings(record=True) as caught:
        __import__("warnings").simplefilter("always")
        for i, b in enumerate(batches):
            if between is not None:
                between(i)
            got.append(compiled(*b).numpy().copy())
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-7)
    for p, q in zip(params, eager_params):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)
    refusals = [str(w.message) for w in caught if "chainrule.compile" in str(w.message)]
    if expect_refusal is None:
        assert not refusals, refusals
    else:
        assert refusals and expect_refusal in refusals[0], refusals
    return compiled


def _image_batches(n, seed=0):
    rng = np.random.default_rng(seed)
    return [(cr.tensor(rng.standard_normal((4, 1, 6, 6)).astype(np.float32)), cr.tensor(rng.integers(0, 3, 4)))
            for _ in range(n)]


def test_conv_windows_made_by_as_strided_are_recorded_not_baked():
    """im2col reads its input through as_strided (which NumPy does not dispatch): the windows of the
    traced batch were once baked in as a constant, so every replay saw the same images."""
    nn = cr.nn

    def build():
        cr.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(18, 3))
        opt = cr.optim.SGD(model.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()
        return list(model.parameters()), step, None
    compiled = _compare(build, _image_batches(8))
    assert compiled.programs and not compiled.refusals


def test_dropout_in_training_mode_is_refused_even_through_the_generator_object():
    """F.dropout draws from default_generator().np directly: the mask was once baked into the program."""
    nn = cr.nn

    def build():
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 1))
        opt = cr.optim.SGD(model.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = model(x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss.detach()
        return list(model.parameters()), step, None
    rng = np.random.default_rng(0)
    _compare(build, [(cr.tensor(rng.standard_normal((5, 4)).astype(np.float32)),) for _ in range(6)],
             expect_refusal="random")


def test_a_refused_verification_does_not_apply_the_step_twice(monkeypatch):
    """When the replay disagreed with eager mode, the traced step's update stayed and the eager fallback
    ran the step again: one call, two updates."""
    import sys
    compile_module = sys.modules["chainrule.compile"]

    def disagree(*args, **kwargs):
        raise compile_module.CaptureError("the replayed program disagrees with eager mode")
    monkeypatch.setattr(compile_module._Program, "_verify", disagree)
    X, y, eager_params, eager_step = _xor_setup()
    eager = [eager_step(X, y).item() for _ in range(4)]
    X, y, params, step = _xor_setup()
    compiled = cr.compile(step)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        got = [compiled(X, y).item() for _ in range(4)]
    np.testing.assert_allclose(got, eager, rtol=1e-6)
    for p, q in zip(params, eager_params):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6)


def test_train_eval_switch_of_a_model_reached_through_a_container_makes_a_new_trace():
    """Only modules the step named directly were guarded: a model inside a dict switched to eval mode
    went on replaying its training-mode BatchNorm."""
    nn = cr.nn

    def build():
        cr.manual_seed(0)
        parts = {"model": nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))}
        opt = cr.optim.SGD(parts["model"].parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = parts["model"](x).pow(2).mean()
            loss.backward()
            opt.step()
            return loss.detach()

        def between(i):
            if i == 4:
                parts["model"].eval()
        return list(parts["model"].parameters()) + list(parts["model"].buffers()), step, between
    rng = np.random.default_rng(0)
    compiled = _compare(build, [(cr.tensor(rng.standard_normal((6, 3)).astype(np.float32)),) for _ in range(9)])
    assert len(compiled.programs) == 2


def test_full_with_a_traced_fill_value_is_not_a_constant():
    """np.full(shape, traced) was recorded as a fresh array with its first content: a baked constant."""
    w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)

    def build():
        w = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)

        def step(x):
            s = (x * w).sum()
            # NumPy on the tensors' arrays: a tensor filled with a value of this batch
            filled = cr.from_numpy(np.full_like(x.numpy(), s.detach().numpy()))
            loss = (w * filled * x).sum()
            loss.backward()
            with cr.no_grad():
                w.sub_(0.01 * w.grad)
                w.grad = None
            return loss.detach()
        return [w], step, None
    del w
    rng = np.random.default_rng(0)
    _compare(build, [(cr.tensor(rng.standard_normal(3).astype(np.float32)),) for _ in range(6)])


@pytest.mark.parametrize("verify", [True, False])
def test_gradients_kept_between_calls_are_accumulated_into(verify):
    """A program traced while .grad was None assigns the gradient; called with .grad present it must
    accumulate into the current .grad (a program of its own, guarded on whether .grad exists), and this
    without the capture-time check (verify=False) or the periodic recheck to catch a wrong replay."""
    def build():
        w = cr.tensor([1.0, -1.0], requires_grad=True)

        def step(x):
            loss = (w * x).pow(2).sum()
            loss.backward()                      # no zero_grad: accumulates across calls
            with cr.no_grad():
                w.sub_(0.01 * w.grad)
            return loss.detach()

        def between(i):
            if i % 4 == 0:
                w.grad = None                    # zero_grad outside the step, now and then
        return [w], step, between
    rng = np.random.default_rng(0)
    batches = [(cr.tensor(rng.standard_normal(2).astype(np.float32)),) for _ in range(14)]
    results = []
    for compiled in (False, True):
        (w,), step, between = build()
        fn = cr.compile(step, fullgraph=True, verify=verify, check_every=0) if compiled else step
        losses, grads = [], []
        for i, b in enumerate(batches):
            between(i)
            losses.append(fn(*b).item())
            grads.append(w.grad.numpy().copy())
        results.append((losses, grads, w.detach().numpy().copy()))
    (eager_losses, eager_grads, eager_w), (losses, grads, w) = results
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-6)
    np.testing.assert_allclose(grads, eager_grads, rtol=1e-6)
    np.testing.assert_allclose(w, eager_w, rtol=1e-6)
    assert fn.programs and not fn.refusals
    assert sum(p.replays for p in fn.programs) >= 6     # calls 2, 3, 6, 7, 10, 11 at least: replays, not eager


def test_a_step_that_updates_its_input_in_place_updates_the_callers_tensor():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad = None
            x.mul_(0.5)
        return loss.detach()
    compiled = cr.compile(step, fullgraph=True)
    for _ in range(5):
        x = cr.tensor([1.0, 3.0])
        compiled(x)
        np.testing.assert_allclose(x.numpy(), [0.5, 1.5])


def test_results_whose_shape_depends_on_the_values_are_refused():
    w = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)

    def step(x):
        loss = (w * x)[x > 0].sum()          # a boolean mask: how many elements depends on x
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad = None
        return loss.detach()
    compiled = cr.compile(step, fullgraph=True)
    compiled(cr.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(cr.CaptureError, match="shape that depends on the values"):
        compiled(cr.tensor([1.0, 1.0, -1.0]))


def test_conv_on_the_stride1_grid_path_matches_eager():
    """Conv2d(8, 8, 3, padding=1) has 72 GEMM rows: the padded-grid convolution, captured."""
    nn = cr.nn

    def setup():
        cr.manual_seed(3)
        model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 5 * 5, 3))
        opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()
        return model, step

    rng = np.random.default_rng(4)
    batches = [(cr.tensor(rng.standard_normal((4, 8, 5, 5)).astype(np.float32)), cr.tensor(rng.integers(0, 3, 4)))
               for _ in range(8)]
    eager_model, eager_step = setup()
    model, step = setup()
    compiled = cr.compile(step, fullgraph=True)
    for x, y in batches:
        np.testing.assert_allclose(compiled(x, y).item(), eager_step(x, y).item(), rtol=1e-5)
    assert compiled.programs and not compiled.refusals
    _assert_same_parameters(model, eager_model, atol=1e-6)


# ----- checks on values: a replay raises where eager mode raises ----------------------------------------------------
def _value_check_case(kind):
    """(step, good input, bad input, the error eager mode raises on the bad one)."""
    nn = cr.nn
    cr.manual_seed(0)
    if kind == "embedding":
        emb = nn.Embedding(5, 3)
        opt = cr.optim.SGD(emb.parameters(), lr=0.1)

        def step(i):
            opt.zero_grad()
            loss = emb(i).pow(2).sum()
            loss.backward()
            opt.step()
            return loss.detach()
        return step, cr.tensor([0, 4]), cr.tensor([0, -1]), (IndexError, "index -1 is out of range")
    lin = nn.Linear(3, 4)
    opt = cr.optim.SGD(lin.parameters(), lr=0.1)
    if kind == "cross_entropy":
        loss_fn, good, bad, error = (nn.functional.cross_entropy, cr.tensor([0, 3]), cr.tensor([0, 4]),
                                     (IndexError, "Target 4 is out of bounds"))
        x = cr.ones(2, 3)
    else:                     # binary cross-entropy: the input must be a probability
        def loss_fn(out, scale):
            return nn.functional.binary_cross_entropy(out.sigmoid() * scale, cr.full((2, 4), 0.5))
        good, bad, error = cr.tensor(1.0), cr.tensor(2.0), (RuntimeError, "between 0 and 1")
        x = cr.ones(2, 3)

    def step(t):
        opt.zero_grad()
        loss = loss_fn(lin(x), t)
        loss.backward()
        opt.step()
        return loss.detach()
    return step, good, bad, error


@pytest.mark.parametrize("kind", ["embedding", "cross_entropy", "binary_cross_entropy"])
def test_a_replay_raises_where_eager_mode_raises(kind):
    """Value checks were skipped while a step was traced, so a replay went on with an index of -1 (NumPy's
    last row) where eager mode raised: the checks are part of the program now."""
    step, good, bad, (error, message) = _value_check_case(kind)
    with pytest.raises(error, match=message):
        step(bad)
    compiled = cr.compile(step, fullgraph=True, check_every=0)
    for _ in range(4):
        compiled(good)
    assert sum(p.replays for p in compiled.programs) == 2
    with pytest.raises(error, match=message):
        compiled(bad)                  # a replay: same shapes and dtypes, guards hold
    assert sum(p.replays for p in compiled.programs) == 3


@pytest.mark.parametrize("effect", ["print", "file", "clock"])
def test_output_and_clock_readings_in_the_step_are_refused(effect, tmp_path):
    """A replay repeats the arrays' work only: a step that prints, writes a file or reads the clock would print
    once, at the trace (or replay the clock reading it saw), so it is refused, and runs eagerly, in full.
    (Reading a file or the environment: test_a_step_that_reads_a_file_or_the_environment_is_refused.)"""
    import io
    import time
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    log = io.StringIO() if effect != "file" else open(tmp_path / "log.txt", "w")

    def step(x):
        loss = (w * x).sum()
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad = None
        if effect == "print":
            print("step", file=log)
        elif effect == "file":
            log.write("step\n")
        else:
            w.data.mul_(1.0 + 0.0 * time.perf_counter())
        return loss.detach()
    compiled = cr.compile(step)
    with pytest.warns(RuntimeWarning, match="a replay repeats the arrays' work only"):
        for _ in range(4):
            compiled(cr.ones(2))
    assert compiled.refusals and not compiled.programs
    if effect != "clock":
        log.close() if effect == "file" else None
        text = (tmp_path / "log.txt").read_text() if effect == "file" else log.getvalue()
        assert text == "step\n" * 4       # every call wrote once: none skipped, none twice


@pytest.mark.parametrize("source", ["file", "os.environ", "os.getenv"])
def test_a_step_that_reads_a_file_or_the_environment_is_refused(source, tmp_path, monkeypatch):
    """A learning rate read from a file or an environment variable inside the step: the guards see Python
    objects, not files or os.environ, so a replay would keep the value the trace read. Refused, it runs eagerly,
    and a changed value takes effect at once, as in eager mode."""
    import os
    path = tmp_path / "lr.txt"

    def set_lr(value):
        path.write_text(str(value))
        monkeypatch.setenv("CHAINRULE_TEST_LR", str(value))

    def read_lr():
        if source == "file":
            with open(path) as f:
                return float(f.read())
        return float(os.environ["CHAINRULE_TEST_LR"] if source == "os.environ" else os.getenv("CHAINRULE_TEST_LR"))

    results = []
    for compiled in (False, True):
        set_lr(0.1)
        w = cr.tensor([1.0, -2.0], requires_grad=True)

        def step(x):
            loss = (w * x).pow(2).sum()
            loss.backward()
            with cr.no_grad():
                w.sub_(read_lr() * w.grad)
                w.grad = None
            return loss.detach()
        fn = cr.compile(step) if compiled else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(6):
                if i == 4:
                    set_lr(0.5)
                fn(cr.tensor([0.5, 1.5]))
        results.append(w.detach().numpy().copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    what = "TextIOWrapper.read()" if source == "file" else "os.environ"
    assert fn.refusals and not fn.programs and what in fn.refusals[0], fn.refusals
    assert "in read_lr" in fn.refusals[0], fn.refusals[0]      # names the step's line, not os's
    assert any(what in str(w.message) for w in caught)


def test_a_step_that_communicates_through_mpi_is_refused(tmp_path):
    """chainrule.distributed's collectives write the arrays through MPI, which a replay would not do: the
    collective says so, and the step runs eagerly."""
    pytest.importorskip("mpi4py", reason="needs pip install 'chainrule[distributed]'")
    import os
    import subprocess
    import sys
    import textwrap
    program = tmp_path / "prog.py"
    program.write_text(textwrap.dedent("""
        import warnings
        import chainrule as cr
        import chainrule.distributed as dist
        dist.init_process_group("mpi")
        w = cr.tensor([1.0, 2.0], requires_grad=True)
        def step(x):
            loss = (w * x).sum()
            loss.backward()
            dist.all_reduce(w.grad, op=dist.ReduceOp.AVG)
            with cr.no_grad():
                w.sub_(0.1 * w.grad)
                w.grad = None
            return loss.detach()
        compiled = cr.compile(step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(4):
                compiled(cr.ones(2))
        print(compiled.refusals)
        """))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "PMI_RANK", "PMI_SIZE")}
    out = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "the step calls the collective all_reduce" in out.stdout, out.stdout


@pytest.mark.parametrize("fullgraph", [False, True])
def test_check_every_catches_a_replay_the_guards_let_through(fullgraph, monkeypatch):
    """The recheck is the net under the guards: with the guards made blind (every guard holds), a learning rate
    changed between calls would be replayed stale; check_every=1 compares the replay with eager, drops the
    program and runs eagerly (a warning), or raises CaptureError under fullgraph; the weights stay eager's."""
    from chainrule import _compile_guards
    monkeypatch.setattr(_compile_guards.Guard, "holds", lambda self: True)
    results = []
    for compiled in (False, True):
        w = cr.tensor([1.0, -2.0], requires_grad=True)
        lr = [0.1]

        def step(x):
            loss = (w * x).pow(2).sum()
            loss.backward()
            with cr.no_grad():
                w.sub_(lr[0] * w.grad)
                w.grad = None
            return loss.detach()
        fn = cr.compile(step, fullgraph=fullgraph, check_every=1) if compiled else step
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i in range(8):
                if i == 5:
                    lr[0] = 0.5
                if compiled and fullgraph and i == 5:
                    with pytest.raises(cr.CaptureError, match="disagreed with eager mode"):
                        fn(cr.tensor([0.5, 1.5]))
                    continue                # the eager run of the recheck was the step's call
                fn(cr.tensor([0.5, 1.5]))
        results.append(w.detach().numpy().copy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-6)
    assert len(fn.refusals) == 1 and "disagreed with eager mode on its replay" in fn.refusals[0], fn.refusals
    if fullgraph:       # nothing recorded as refused: the program is dropped, and a later call traces anew
        assert fn.traces == 2
    else:               # this state runs eagerly from now on
        assert not fn.programs and any("disagreed with eager mode" in str(m.message) for m in caught)
