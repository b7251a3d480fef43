"""chainrule.compile: a captured training step gives the same numbers as eager mode, step after step."""
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
    assert len(compiled.programs) == 1 and None not in compiled.programs.values()


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
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)


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
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-7)
