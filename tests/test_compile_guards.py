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


def _descend(model, x, y, lr):
    """One step of gradient descent written by hand (no optimizer): the learning rate is a Python number."""
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    with cr.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return loss.detach()


def test_learning_rate_from_a_python_counter_inside_the_step_is_refused():
    def build():
        model = _model()
        calls = [0]

        def step(x, y):
            calls[0] += 1                        # a Python side effect: a replay would skip it
            return _descend(model, x, y, lr=0.5 / calls[0])
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
            return _descend(model, x, y, lr)

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



def test_a_value_the_guards_cannot_read_is_refused_by_name():
    """An iterator's position is Python state no guard can read: capture is refused with CaptureError naming the
    value (fullgraph), or with a warning naming it and eager calls (the default), which agree with eager mode."""
    def build():
        model = _model()
        weights = iter([1.0, 0.5, 0.25] * 10)     # the step takes the next loss weight from it

        def step(x, y):
            model.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y) * next(weights)
            loss.backward()
            with cr.no_grad():
                for p in model.parameters():
                    p -= 0.1 * p.grad
            return loss.detach()
        return step, None, model.parameters
    refusals, fn = _run_both(build)
    assert refusals and all("weights" in r and "list_iterator" in r for r in refusals), refusals
    assert not fn.programs
    step, _, _ = build()
    with pytest.raises(cr.CaptureError, match="cannot guard weights: a list_iterator"):
        compiled = cr.compile(step, fullgraph=True)
        for x, y in _batches(3):
            compiled(x, y)


def test_a_path_in_a_closure_is_guarded_by_value():
    """A ``pathlib.Path`` the step reads (here, to pick a loss weight) is compared by value: an equal path
    rebuilt between calls replays the same program, another path makes a new trace."""
    import pathlib

    def build():
        model = _model()
        target = pathlib.Path("runs/a.pt")

        def step(x, y):
            weight = 1.0 if target.suffix == ".pt" else 0.5
            return _descend(model, x, y, 0.1 * weight)

        def between(i):
            nonlocal target
            if i == 3:
                target = pathlib.Path("runs") / "a.pt"      # equal: the same program
            if i == 6:
                target = pathlib.Path("runs/a.bin")         # another value: a new trace
        return step, between, model.parameters
    refusals, fn = _run_both(build)
    assert not refusals and fn.traces == 2, (refusals, fn.traces)

# ----- the mutation fuzz: random changes between calls, compiled and eager must agree after every call ------------
SHIFT = None          # a global tensor the fuzzed step reads (rebound by one of the mutations)
MUTATION_STATS = []   # (seed, mutations applied, traces, replays, refused?): conftest.py prints the figures
F = nn.functional


def _mutations(env):
    """name -> function(rng) changing what the step reads (the same change on both copies, from the same rng)."""
    model, opt = env.model, env.opt

    def hyper(r):
        g = r.choice(opt.param_groups)
        # (A zero momentum stays zero: RMSprop, here as in PyTorch, makes its buffer only where it starts nonzero.)
        key = r.choice([k for k in ("lr", "momentum", "weight_decay", "betas", "eps", "alpha", "lr_decay")
                        if k in g and (g[k] or k in ("weight_decay", "lr_decay"))])
        g[key] = (r.choice([(0.8, 0.99), (0.5, 0.9)]) if key == "betas" else g[key] * r.choice([0.5, 0.9])
                  if g[key] else r.choice([0.01, 0.1]))

    def module_attribute(r):
        which = r.choice(["slope", "smoothing", "reduction", "bn_momentum", "bn_eps"])
        if which == "slope":
            act = next((m for m in model if isinstance(m, nn.LeakyReLU)), None)
            if act is not None:
                act.negative_slope = r.uniform(0.0, 0.5)
        elif which == "smoothing":
            env.loss.label_smoothing = r.choice([0.0, 0.1, 0.3])
        elif which == "reduction":
            env.loss.reduction = r.choice(["mean", "sum"])
        elif which == "bn_momentum":
            model[2].momentum = r.choice([0.1, 0.5])     # (None reads the batch count: refused, as it must)
        else:
            model[2].eps = r.choice([1e-5, 1e-2])

    def swap_head(r):
        cr.manual_seed(r.randrange(1000))
        model[5] = nn.Linear(8, 3)
        opt.add_param_group({"params": list(model[5].parameters())})

    def swap_activation(r):
        cr.manual_seed(0)
        model[1] = r.choice([nn.ReLU(), nn.Tanh(), nn.LeakyReLU(0.2), nn.Sigmoid()])

    def add_or_remove(r):
        if isinstance(model[-1], nn.Hardtanh):
            del model[-1]
        else:
            model.append(nn.Hardtanh(-1.0, 1.0))

    def freeze(r):
        layer = model[r.choice([0, 3])]
        layer.requires_grad_(not layer.weight.requires_grad)

    def rebind_global(r):
        global SHIFT
        SHIFT = cr.tensor(r.uniform(-1.0, 1.0))

    def closure_variable(r):
        env.set_scale(r.uniform(0.5, 1.5))

    def list_item(r):
        env.coeffs[0] = r.uniform(0.5, 1.5)

    def object_attribute(r):
        env.clip = r.choice([None, 0.5, 2.0])

    def swap_loss(r):
        env.loss_fn = r.choice([env.loss, lambda out, y: F.cross_entropy(out, y) + 0.1 * out.pow(2).mean()])

    def train_eval(r):
        model.train(not model.training)

    def forward_hook(r):
        if env.hooks:
            env.hooks.pop().remove()
        else:
            env.hooks.append(model[3].register_forward_hook(lambda m, args, out: out * 0.5))

    def replace_data(r):
        p = r.choice(list(model.parameters()))
        p.data = p.data * 0.9

    def load_state(r):
        model.load_state_dict({k: v * 0.95 for k, v in model.state_dict().items()})

    return {f.__name__: f for f in (hyper, module_attribute, swap_head, swap_activation, add_or_remove, freeze,
                                    rebind_global, closure_variable, list_item, object_attribute, swap_loss,
                                    train_eval, forward_hook, replace_data, load_state)}


MUTATIONS = sorted(_mutations(type("E", (), {"model": None, "opt": None})()))


def _mutation_case(seed):
    spec_rng = __import__("random").Random(seed)
    opt_kind = spec_rng.choice(["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    side_effect = spec_rng.random() < 0.15       # the step also counts its calls in Python: must be refused
    # One or two changes before calls 4, 7, 10 and 13 (most of the time): each change is followed by calls
    # that warm up, trace and replay (or replay a program of an earlier state the change returned to).
    plan = [(i, spec_rng.choice(MUTATIONS)) for i in (4, 7, 10, 13) if spec_rng.random() < 0.8
            for _ in range(spec_rng.choice([1, 2]))]

    def build():
        global SHIFT
        SHIFT = cr.tensor(0.0)
        cr.manual_seed(seed)
        env = type("Env", (), {})()
        env.model = model = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.01), nn.BatchNorm1d(8), nn.Linear(8, 8),
                                          nn.Tanh(), nn.Linear(8, 3))
        params = model.parameters()
        env.opt = opt = {"sgd": lambda: cr.optim.SGD(params, lr=0.1, momentum=0.5),
                         "adam": lambda: cr.optim.Adam(params, lr=0.01),
                         "adamw": lambda: cr.optim.AdamW(params, lr=0.01, weight_decay=0.1),
                         "rmsprop": lambda: cr.optim.RMSprop(params, lr=0.01),
                         "adagrad": lambda: cr.optim.Adagrad(params, lr=0.05)}[opt_kind]()
        env.loss = env.loss_fn = nn.CrossEntropyLoss()
        env.coeffs, env.clip, env.hooks, calls = [1.0], None, [], [0]
        scale = 1.0

        def set_scale(value):
            nonlocal scale
            scale = value
        env.set_scale = set_scale

        def step(x, y):
            opt.zero_grad()
            out = model(x) * scale * env.coeffs[0] + SHIFT
            if side_effect:
                calls[0] += 1
                out = out * (1.0 / (1.0 + 0.1 * calls[0]))
            loss = env.loss_fn(out, y)
            loss.backward()
            if env.clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), env.clip)
            opt.step()
            return loss.detach()

        def state():
            tensors = list(model.parameters()) + list(model.buffers())
            tensors += [v for s in opt.state.values() for v in s.values() if isinstance(v, cr.Tensor)]
            return np.concatenate([t.detach().numpy().ravel().astype(np.float64) for t in tensors])
        return env, step, state
    return opt_kind, side_effect, plan, build


@pytest.mark.parametrize("seed", range(40))
def test_mutation_fuzz_compiled_and_eager_agree_after_every_call(seed):
    opt_kind, side_effect, plan, build = _mutation_case(seed)
    runs = []
    for compiled in (False, True):
        env, step, state = build()
        fn = cr.compile(step, check_every=0) if compiled else step
        changes = _mutations(env)
        outs = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for i, (x, y) in enumerate(_batches(16, seed=seed)):
                for k, (at, name) in enumerate(plan):
                    if at == i:
                        changes[name](__import__("random").Random(seed * 100 + k))
                outs.append((fn(x, y).numpy().copy(), state()))
        runs.append(outs)
    refusals = [str(w.message) for w in caught if "chainrule.compile" in str(w.message)]
    for i, ((le, se), (lc, sc)) in enumerate(zip(*runs)):
        what = f"{opt_kind}, after call {i} (mutations {plan})"
        np.testing.assert_allclose(lc, le, rtol=1e-5, atol=1e-6, err_msg=f"loss, {what}")
        np.testing.assert_allclose(sc, se, rtol=1e-5, atol=1e-6, err_msg=f"state, {what}")
    replays = sum(p.replays for p in fn.programs)
    if side_effect:
        assert refusals and all("side effect" in r and "calls" in r for r in refusals), refusals
        assert replays == 0
    else:
        assert not refusals, refusals
        assert replays > 0
    MUTATION_STATS.append((seed, len(plan), fn.traces, replays, bool(refusals)))
