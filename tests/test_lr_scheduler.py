"""Learning-rate schedulers against the oracle: the same schedule on ``chainrule.optim``
and ``torch.optim`` must produce the same learning rates (and momenta) at every step."""

import copy
import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule import optim  # noqa: E402
from chainrule.optim import lr_scheduler  # noqa: E402
from chainrule.serialization import load, save  # noqa: E402

STEPS = 50


def _warmup(epoch):
    return min(1.0, (epoch + 1) / 10)


class Halving:
    """A callable object, whose ``__dict__`` LambdaLR saves in its state_dict."""

    def __init__(self):
        self.every = 7

    def __call__(self, epoch):
        return 0.5 ** (epoch // self.every)


SCHEDULES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=20)),
    ("CosineAnnealingLR", dict(T_max=15, eta_min=1e-3)),
    ("LambdaLR", dict(lr_lambda=_warmup)),
    ("LambdaLR", dict(lr_lambda=Halving())),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.8, total_iters=30)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=[0.5, 2.0], total_steps=STEPS, anneal_strategy="linear")),
    ("OneCycleLR", dict(max_lr=1.0, epochs=5, steps_per_epoch=10, three_phase=True, pct_start=0.25)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, cycle_momentum=False, div_factor=10.0)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SCHEDULES)]


def _kwargs_for(kwargs):
    """Fresh callables per run, so state on a callable object is never shared."""
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("lr_lambda"), Halving):
        kwargs["lr_lambda"] = Halving()
    return kwargs


def _optimizers(opt_name="SGD"):
    """Two param groups with different lrs, on each library."""
    extra = dict(momentum=0.9) if opt_name == "SGD" else {}
    cr = [chainrule.zeros(2, requires_grad=True) for _ in range(2)]
    th = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    make = lambda lib, ps: getattr(lib, opt_name)(
        [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.01}], lr=0.1, **extra)
    return make(optim, cr), make(torch.optim, th)


def _assert_same_schedule(opt_cr, opt_th, sched_cr, sched_th, step):
    np.testing.assert_allclose(sched_cr.get_last_lr(), sched_th.get_last_lr(), rtol=1e-6,
                               atol=1e-15, err_msg=f"lr differs at step {step}")
    for g_cr, g_th in zip(opt_cr.param_groups, opt_th.param_groups):
        assert g_cr["lr"] == pytest.approx(g_th["lr"], rel=1e-6, abs=1e-15)
        for key in ("momentum", "betas", "initial_lr", "max_lr", "min_lr"):
            if key in g_th:
                np.testing.assert_allclose(g_cr[key], g_th[key], rtol=1e-6,
                                           err_msg=f"{key} differs at step {step}")


def _step(opt, sched):
    opt.step()
    sched.step()


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=IDS)
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_matches_torch_step_by_step(name, kwargs, opt_name):
    opt_cr, opt_th = _optimizers(opt_name)
    sched_cr = getattr(lr_scheduler, name)(opt_cr, **_kwargs_for(kwargs))
    sched_th = getattr(torch.optim.lr_scheduler, name)(opt_th, **_kwargs_for(kwargs))
    steps = STEPS - 1 if name == "OneCycleLR" else STEPS  # OneCycle: total_steps incl. step 0
    _assert_same_schedule(opt_cr, opt_th, sched_cr, sched_th, 0)
    for step in range(1, steps + 1):
        _step(opt_cr, sched_cr)
        _step(opt_th, sched_th)
        _assert_same_schedule(opt_cr, opt_th, sched_cr, sched_th, step)
        assert sched_cr.last_epoch == sched_th.last_epoch


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=IDS)
def test_state_dict_round_trip_resumes_identically(name, kwargs):
    opt_cr, opt_th = _optimizers()
    sched_cr = getattr(lr_scheduler, name)(opt_cr, **_kwargs_for(kwargs))
    sched_th = getattr(torch.optim.lr_scheduler, name)(opt_th, **_kwargs_for(kwargs))
    half = 20
    for _ in range(half):
        _step(opt_cr, sched_cr)
        _step(opt_th, sched_th)

    # Through a real checkpoint: scheduler state holds Counters, tuples, inf, str...
    buffer = io.BytesIO()
    save({"opt": opt_cr.state_dict(), "sched": sched_cr.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = load(buffer)
    opt_state, sched_state = checkpoint["opt"], checkpoint["sched"]
    assert "optimizer" not in sched_state and sched_state["last_epoch"] == half

    # Rebuild as a training script resumes: new optimizer, new scheduler, then load both.
    resumed_opt, _ = _optimizers()
    resumed = getattr(lr_scheduler, name)(resumed_opt, **_kwargs_for(kwargs))
    resumed_opt.load_state_dict(opt_state)
    resumed.load_state_dict(sched_state)
    for step in range(half + 1, STEPS):
        _step(resumed_opt, resumed)
        _step(opt_th, sched_th)
        _assert_same_schedule(resumed_opt, opt_th, resumed, sched_th, step)


PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(patience=1, threshold=0.1, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, threshold=0.05, threshold_mode="rel", cooldown=1),
    dict(patience=0, factor=0.5, min_lr=[0.02, 0.004]),
    dict(patience=0, factor=0.9, min_lr=0.0, eps=1e-2),
]


@pytest.mark.parametrize("kwargs", PLATEAU)
def test_reduce_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    # A loss that improves, then plateaus noisily, then improves again.
    metrics = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.02 * rng.standard_normal(25),
                              np.linspace(0.45, 0.3, 15)])
    opt_cr, opt_th = _optimizers()
    sched_cr = lr_scheduler.ReduceLROnPlateau(opt_cr, **kwargs)
    sched_th = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_th, **kwargs)
    for step, metric in enumerate(metrics, 1):
        opt_cr.step()
        opt_th.step()
        sched_cr.step(metric)
        sched_th.step(metric)
        assert sched_cr.get_last_lr() == pytest.approx(sched_th.get_last_lr(), rel=1e-12)
        assert sched_cr.num_bad_epochs == sched_th.num_bad_epochs, step
        assert sched_cr.cooldown_counter == sched_th.cooldown_counter, step
        if step == 25:
            buffer = io.BytesIO()
            save(sched_cr.state_dict(), buffer)
            buffer.seek(0)
            state = load(buffer)
            fresh_opt, _ = _optimizers()
            fresh_opt.load_state_dict(copy.deepcopy(opt_cr.state_dict()))
            sched_cr = lr_scheduler.ReduceLROnPlateau(fresh_opt, **kwargs)
            sched_cr.load_state_dict(state)
            opt_cr = fresh_opt


def test_reduce_on_plateau_accepts_a_scalar_tensor_metric():
    opt, _ = _optimizers()
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    sched.step(chainrule.tensor(1.0))
    sched.step(chainrule.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.001])


def test_initial_lr_is_recorded_and_resume_requires_it():
    opt, _ = _optimizers()
    lr_scheduler.StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.01]
    fresh, _ = _optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(fresh, step_size=2, last_epoch=5)


def test_scheduler_step_before_optimizer_step_warns():
    opt, _ = _optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt, _ = _optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()


def test_bad_arguments_raise():
    opt, _ = _optimizers()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR("sgd", step_size=1)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="mode middle is unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="middle")
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, lr_lambda=[_warmup])
    with pytest.raises(ValueError, match="Starting multiplicative factor"):
        lr_scheduler.LinearLR(opt, start_factor=0)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=2)
    opt.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        opt.step()
        sched.step()
        sched.step()
