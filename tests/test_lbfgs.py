"""``optim.LBFGS`` against ``torch.optim.LBFGS``: the same problem from the same start takes the same steps
(float64, so that PyTorch's 0-d-tensor scalars and chainrule's Python floats round alike)."""
import numpy as np
import pytest
import torch

import chainrule


def _rosenbrock_fit(lib, steps, **kw):
    x = lib.nn.Parameter(lib.tensor([-1.5, 2.0], dtype=lib.float64))
    opt = lib.optim.LBFGS([x], **kw)
    evals = []

    def closure():
        opt.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        evals.append(loss.item())
        return loss
    firsts = [opt.step(closure).item() for _ in range(steps)]
    return x.detach().tolist(), firsts, evals, opt.state[x]["func_evals"], opt.state[x]["n_iter"]


@pytest.mark.parametrize("kw", [dict(lr=1, max_iter=20), dict(lr=0.5, max_iter=7, history_size=3),
                                dict(lr=1, max_iter=20, line_search_fn="strong_wolfe"),
                                dict(lr=1, max_iter=10, history_size=4, line_search_fn="strong_wolfe")])
def test_lbfgs_on_rosenbrock_takes_pytorchs_steps(kw):
    # One step() of up to 20 iterations. The two libraries round a few operations differently (an add with
    # alpha), by 1e-16 at first; Rosenbrock's curved valley amplifies that by ~10x per iteration, hence 1e-8.
    ours = _rosenbrock_fit(chainrule, 1, **kw)
    theirs = _rosenbrock_fit(torch, 1, **kw)
    assert ours[3:] == theirs[3:]                     # the same number of evaluations and iterations
    assert len(ours[2]) == len(theirs[2])
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-8, atol=1e-12)


def test_lbfgs_fits_a_small_network_as_pytorch_does():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((32, 3)), rng.standard_normal((32, 1))
    w1, w2 = rng.standard_normal((5, 3)) * 0.5, rng.standard_normal((1, 5)) * 0.5

    def fit(lib):
        a = lib.nn.Parameter(lib.tensor(w1))
        b = lib.nn.Parameter(lib.tensor(w2))
        x, y = lib.tensor(X), lib.tensor(Y)
        opt = lib.optim.LBFGS([a, b], lr=1, max_iter=15, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = ((lib.tanh(x @ a.T) @ b.T - y) ** 2).mean()
            loss.backward()
            return loss
        for _ in range(3):
            opt.step(closure)
        return closure().item(), a.detach().numpy()
    (l1, a1), (l2, a2) = fit(chainrule), fit(torch)
    np.testing.assert_allclose(l1, l2, rtol=1e-7)
    np.testing.assert_allclose(a1, a2, rtol=1e-6, atol=1e-7)   # 45 iterations amplify round-off (see above)


def test_lbfgs_refuses_what_pytorch_refuses():
    p = chainrule.nn.Parameter(chainrule.ones(2))
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        chainrule.optim.LBFGS([{"params": [p]}, {"params": [chainrule.nn.Parameter(chainrule.ones(1))]}])
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        chainrule.optim.LBFGS([p], line_search_fn="armijo").step(lambda: (p * p).sum())


def test_lbfgs_stops_at_once_at_a_stationary_point():
    p = chainrule.nn.Parameter(chainrule.zeros(3))
    opt = chainrule.optim.LBFGS([p])
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        calls.append(1)
        return loss
    assert opt.step(closure).item() == 0.0 and len(calls) == 1 and p.tolist() == [0.0, 0.0, 0.0]
