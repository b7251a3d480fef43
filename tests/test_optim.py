"""Optimizers against the oracle: identical parameters and per-step gradients fed to
``chainrule.optim`` and ``torch.optim`` must give the same parameters at every step."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import optim  # noqa: E402

STEPS = 50
SHAPES = [(3, 4), (5,)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.02, amsgrad=True, weight_decay=0.05, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.001, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.001, centered=True)),
    ("RMSprop", dict(lr=0.001, momentum=0.9, centered=True, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.95, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for name, kw in CASES]


def _np(t):
    return t.detach().numpy()


class Twin:
    """The same parameters as chainrule and torch tensors, stepped in lockstep."""

    def __init__(self, values, make_groups=None):
        self.cr = [chainrule.tensor(v, requires_grad=True) for v in values]
        self.th = [torch.tensor(v, requires_grad=True) for v in values]
        self.make_groups = make_groups or (lambda ps: ps)

    def optimizers(self, name, kwargs):
        return (getattr(optim, name)(self.make_groups(self.cr), **kwargs),
                getattr(torch.optim, name)(self.make_groups(self.th), **kwargs))

    def set_grads(self, grads):
        for p, g in zip(self.cr, grads):
            p.grad = None if g is None else chainrule.tensor(g)
        for p, g in zip(self.th, grads):
            p.grad = None if g is None else torch.tensor(g)

    def assert_close(self, step):
        for i, (a, b) in enumerate(zip(self.cr, self.th)):
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, atol=1e-12,
                                       err_msg=f"param {i} differs after step {step}")


def _data(seed=0, steps=STEPS):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]
    return values, grads


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_matches_torch_step_by_step(name, kwargs):
    values, grads = _data()
    twin = Twin(values)
    opt_cr, opt_th = twin.optimizers(name, kwargs)
    for step, g in enumerate(grads, 1):
        twin.set_grads(g)
        opt_cr.step()
        opt_th.step()
        twin.assert_close(step)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_float32_params_stay_float32_and_match(name):
    values, grads = _data(seed=1, steps=10)
    twin = Twin([v.astype(np.float32) for v in values])
    opt_cr, opt_th = twin.optimizers(name, dict(lr=0.01))
    for g in grads:
        twin.set_grads([x.astype(np.float32) for x in g])
        opt_cr.step()
        opt_th.step()
    for a, b in zip(twin.cr, twin.th):
        assert a.dtype == chainrule.float32
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"])
def test_param_groups_with_own_options_and_missing_grads(name):
    """Per-group options override defaults; a parameter whose grad is None is skipped."""
    values, grads = _data(seed=2)
    groups = lambda ps: [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.003, "weight_decay": 0.1}]
    twin = Twin(values, groups)
    kwargs = dict(lr=0.02, momentum=0.9) if name in ("SGD", "RMSprop") else dict(lr=0.02)
    opt_cr, opt_th = twin.optimizers(name, kwargs)
    assert opt_cr.param_groups[1]["lr"] == 0.003 and opt_cr.param_groups[0]["lr"] == 0.02
    for step, g in enumerate(grads, 1):
        if step % 3 == 0:
            g = [g[0], None]
        twin.set_grads(g)
        opt_cr.step()
        opt_th.step()
        twin.assert_close(step)


def test_add_param_group_later():
    values, grads = _data(seed=3)
    twin = Twin(values)
    opt_cr = optim.Adam([twin.cr[0]], lr=0.01)
    opt_th = torch.optim.Adam([twin.th[0]], lr=0.01)
    for step, g in enumerate(grads, 1):
        if step == 10:
            opt_cr.add_param_group({"params": twin.cr[1], "lr": 0.05})
            opt_th.add_param_group({"params": twin.th[1], "lr": 0.05})
        twin.set_grads(g)
        opt_cr.step()
        opt_th.step()
        twin.assert_close(step)
    assert opt_cr.param_groups[1]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_state_dict_matches_torch_layout_and_resumes_identically(name, kwargs):
    values, grads = _data(seed=4)
    twin = Twin(values)
    opt_cr, opt_th = twin.optimizers(name, kwargs)
    half = STEPS // 2
    for g in grads[:half]:
        twin.set_grads(g)
        opt_cr.step()
        opt_th.step()

    ours, theirs = opt_cr.state_dict(), opt_th.state_dict()
    assert sorted(ours["state"]) == sorted(theirs["state"])  # SGD without momentum: none
    assert [g["params"] for g in ours["param_groups"]] == [[0, 1]]
    for idx, buffers in theirs["state"].items():
        assert set(ours["state"][idx]) == set(buffers)
        for key, value in buffers.items():
            np.testing.assert_allclose(_np(ours["state"][idx][key]), value.numpy(), rtol=1e-6)
    for key, value in ours["param_groups"][0].items():
        assert theirs["param_groups"][0][key] == value

    # A fresh optimizer over fresh tensors, loaded from a copy of the dict, continues exactly.
    saved = copy.deepcopy(ours)
    resumed_params = [chainrule.tensor(_np(p).copy(), requires_grad=True) for p in twin.cr]
    resumed = getattr(optim, name)(resumed_params, **kwargs)
    resumed.load_state_dict(saved)
    for step, g in enumerate(grads[half:], half + 1):
        twin.set_grads(g)
        for p, gi in zip(resumed_params, g):
            p.grad = chainrule.tensor(gi)
        opt_cr.step()
        opt_th.step()
        resumed.step()
        twin.assert_close(step)
        for a, b in zip(resumed_params, twin.cr):
            np.testing.assert_array_equal(_np(a), _np(b))


def test_load_state_dict_does_not_alias_the_dict():
    p = chainrule.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = chainrule.tensor(np.ones(3))
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    before = _np(sd["state"][0]["momentum_buffer"]).copy()
    opt.load_state_dict(sd)
    opt.step()
    np.testing.assert_array_equal(_np(sd["state"][0]["momentum_buffer"]), before)


def test_load_state_dict_rejects_mismatched_groups():
    a = [chainrule.tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    opt = optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}, {"params": [1]}]})
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}]})


def test_zero_grad():
    p = chainrule.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = chainrule.tensor(np.ones(3))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(_np(p.grad), np.zeros(3))
    opt.zero_grad()
    assert p.grad is None


def test_step_with_closure_recomputes_loss_and_gradients():
    p = chainrule.tensor(np.array([1.0, -2.0]), requires_grad=True)
    q = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt_cr, opt_th = optim.SGD([p], lr=0.1), torch.optim.SGD([q], lr=0.1)

    def closure_for(param, opt):
        def closure():
            opt.zero_grad()
            loss = (param * param).sum()
            loss.backward()
            return loss
        return closure

    for _ in range(3):
        loss_cr = opt_cr.step(closure_for(p, opt_cr))
        loss_th = opt_th.step(closure_for(q, opt_th))
        assert loss_cr.item() == pytest.approx(loss_th.item())
    np.testing.assert_allclose(_np(p), _np(q), rtol=1e-12)
    assert not p.grad.requires_grad


def test_step_is_not_recorded_by_autograd():
    p = chainrule.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = chainrule.tensor(np.array([0.5, -0.5]))
    opt.step()
    assert p.is_leaf and p.requires_grad and p.grad_fn is None


@pytest.mark.parametrize("name,kwargs,message", [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
    ("Adam", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(eps=-1e-8), "Invalid epsilon value"),
    ("AdamW", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("RMSprop", dict(alpha=-0.1), "Invalid alpha value: -0.1"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adadelta", dict(eps=-1.0), "Invalid epsilon value: -1.0"),
])
def test_bad_hyperparameters_raise_like_torch(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=message):
        getattr(optim, name)([chainrule.zeros(1, requires_grad=True)], **kwargs)


def test_bad_params_raise():
    p = chainrule.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([p, 3.0], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


def test_repr_lists_group_options():
    opt = optim.SGD([chainrule.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    text = repr(opt)
    assert text.startswith("SGD (") and "lr: 0.1" in text and "momentum: 0.9" in text


def test_duplicate_parameters_warn_like_torch():
    p = chainrule.zeros(2, requires_grad=True)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([p, p], lr=0.1)
