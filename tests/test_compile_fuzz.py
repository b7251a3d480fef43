"""chainrule.compile against eager mode on many randomly assembled training steps.

Each case is drawn from a seeded generator: a model, a loss, an optimizer and the extras around them
(gradient clipping, zero_grad's flavour, a scheduler or a train/eval switch between calls, a tuple result).
The same step runs on two identical copies of the state, one eagerly and one through ``chainrule.compile``,
over batches whose values change every call (and sometimes a shorter last batch). The compiled step must
agree with eager mode after every call, and each case must be captured and replayed, unless it is one that
must be refused (dropout switched to training mode draws random numbers), and then it must be refused for
that reason: a case that quietly runs eagerly would compare eager mode with itself. The tests run with
CHAINRULE_COMPILE_CHECK_EVERY=1 (tests/conftest.py), so every replay is also rechecked against eager mode and a
disagreement is a refusal, which fails the case. The capture rate is printed at the end of the test run.
"""
import random
import warnings

import numpy as np
import pytest

import chainrule as cr

nn = cr.nn
F = nn.functional
N_STEPS = 8


# ----- the pieces a case is assembled from -------------------------------------------------------------------
def _model(kind, c):
    """(module, input maker(rng, batch) -> Tensor, number of outputs)."""
    if kind == "mlp":
        d_in, h, d_out = 5, 7, 3
        act = c.choice([nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU])
        layers = [nn.Linear(d_in, h), act()]
        norm = c.choice([None, "layer", "batch"])
        if norm == "layer":
            layers.append(nn.LayerNorm(h))
        elif norm == "batch":
            layers.append(nn.BatchNorm1d(h))
        if c.random() < 0.4:
            layers.append(nn.Dropout(0.0))
        layers.append(nn.Linear(h, d_out))
        model = nn.Sequential(*layers)
        return model, lambda r, b: cr.tensor(r.standard_normal((b, d_in)).astype(np.float32)), d_out
    if kind == "dropout_eval":
        model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Tanh(), nn.Linear(6, 3))
        model.eval()
        return model, lambda r, b: cr.tensor(r.standard_normal((b, 4)).astype(np.float32)), 3
    if kind == "embedding":
        model = nn.Sequential(nn.Embedding(11, 4), nn.Flatten(), nn.Linear(12, 3))
        return model, lambda r, b: cr.tensor(r.integers(0, 11, (b, 3))), 3
    if kind == "cnn":
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(2 * 3 * 3, 3))
        return model, lambda r, b: cr.tensor(r.standard_normal((b, 1, 6, 6)).astype(np.float32)), 3
    if kind == "gru":
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.GRU(3, 5, batch_first=True)
                self.head = nn.Linear(5, 3)

            def forward(self, x):
                out, _ = self.rnn(x)
                return self.head(out[:, -1])
        return Net(), lambda r, b: cr.tensor(r.standard_normal((b, 4, 3)).astype(np.float32)), 3
    raise ValueError(kind)


def _loss(kind, c, d_out):
    """(loss(logits, target) -> Tensor, target maker(rng, batch) -> Tensor)."""
    def regression(r, b):
        return cr.tensor(r.standard_normal((b, d_out)).astype(np.float32))

    def probs(r, b):
        return cr.tensor(r.uniform(0, 1, (b, d_out)).astype(np.float32))
    if kind == "mse":
        return nn.MSELoss(), regression
    if kind == "l1":
        return nn.L1Loss(reduction=c.choice(["mean", "sum"])), regression
    if kind == "huber":
        return nn.HuberLoss(delta=c.choice([0.5, 1.0])), regression
    if kind == "smoothl1":
        return nn.SmoothL1Loss(beta=c.choice([0.5, 1.0])), regression
    if kind == "bce":
        fn = nn.BCELoss()
        return (lambda out, t: fn(cr.sigmoid(out), t)), probs
    if kind == "bce_logits":
        pw = cr.tensor([0.5, 1.0, 2.0]) if c.random() < 0.5 else None
        return nn.BCEWithLogitsLoss(pos_weight=pw), probs
    if kind == "ce":
        weight = cr.tensor([0.2, 1.0, 3.0]) if c.random() < 0.5 else None
        ignore = c.choice([None, 1])
        smoothing = c.choice([0.0, 0.1])
        kwargs = dict(weight=weight, label_smoothing=smoothing)
        if ignore is not None:
            kwargs["ignore_index"] = ignore
        fn = nn.CrossEntropyLoss(**kwargs)
        # Some batches hold the ignored class, some do not: the count it divides by changes.
        return fn, lambda r, b: cr.tensor(r.integers(0, d_out if r.random() < 0.5 else d_out - 1, b) * 1
                                          if ignore is None else
                                          np.where(r.random(b) < 0.5, r.integers(0, d_out, b), 0))
    if kind == "ce_probs":
        fn = nn.CrossEntropyLoss(label_smoothing=c.choice([0.0, 0.1]))
        return fn, lambda r, b: cr.tensor(cr.softmax(cr.tensor(r.standard_normal((b, d_out)).astype(np.float32)),
                                                     dim=1).numpy())
    if kind == "nll":
        fn = nn.NLLLoss()
        return (lambda out, t: fn(F.log_softmax(out, dim=1), t)), lambda r, b: cr.tensor(r.integers(0, d_out, b))
    raise ValueError(kind)


def _optimizer(kind, c, params):
    if kind == "sgd":
        return cr.optim.SGD(params, lr=0.05)
    if kind == "sgd_momentum":
        return cr.optim.SGD(params, lr=0.05, momentum=0.9, nesterov=c.random() < 0.5,
                            weight_decay=c.choice([0.0, 0.01]))
    if kind == "sgd_wd":
        return cr.optim.SGD(params, lr=0.05, weight_decay=0.1, dampening=0.0, momentum=c.choice([0.0, 0.5]))
    if kind == "rmsprop":
        return cr.optim.RMSprop(params, lr=0.01, momentum=c.choice([0.0, 0.9]), centered=c.random() < 0.5,
                                weight_decay=c.choice([0.0, 0.01]))
    if kind == "adagrad":
        return cr.optim.Adagrad(params, lr=0.05, weight_decay=c.choice([0.0, 0.01]))
    if kind == "adam":
        return cr.optim.Adam(params, lr=0.01, amsgrad=c.random() < 0.5)
    if kind == "adamw":
        return cr.optim.AdamW(params, lr=0.01, weight_decay=0.05)
    raise ValueError(kind)


MODELS = ["mlp", "dropout_eval", "embedding", "cnn", "gru"]
LOSSES = ["mse", "l1", "huber", "smoothl1", "bce", "bce_logits", "ce", "ce_probs", "nll"]
OPTIMIZERS = ["sgd", "sgd_momentum", "sgd_wd", "rmsprop", "adagrad", "adam", "adamw"]


def _case(seed):
    """Everything a case is: the same seed builds the same case twice, its state drawn afresh each time."""
    c = random.Random(seed)
    spec = dict(model=c.choice(MODELS), loss=c.choice(LOSSES), opt=c.choice(OPTIMIZERS),
                clip=c.choice([None, None, "value", "norm"]), zero=c.choice(["start_none", "start_zero",
                                                                              "end_none", "end_zero"]),
                between=c.choice([None, None, "scheduler", "train_eval"]), tuple_out=c.random() < 0.3,
                eval_mode=c.random() < 0.2, short_last=c.random() < 0.5, batch=c.choice([4, 6]))

    def build():
        cr.manual_seed(seed)
        c = random.Random(seed + 10_000)    # the inner choices: the same on both builds
        model, make_x, d_out = _model(spec["model"], c)
        if spec["eval_mode"]:
            model.eval()
        loss_fn, make_y = _loss(spec["loss"], c, d_out)
        opt = _optimizer(spec["opt"], c, model.parameters())
        sched = cr.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5) if spec["between"] == "scheduler" else None

        def step(x, y):
            if spec["zero"].startswith("start"):
                opt.zero_grad(set_to_none=spec["zero"] == "start_none")
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            if spec["clip"] == "value":
                nn.utils.clip_grad_value_(model.parameters(), 0.05)
            elif spec["clip"] == "norm":
                nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            if spec["zero"].startswith("end"):
                opt.zero_grad(set_to_none=spec["zero"] == "end_none")
            if spec["tuple_out"]:
                return loss.detach(), logits.detach()
            return loss.detach()
        return model, opt, sched, step, make_x, make_y
    return spec, build


def _run(spec, build, compiled):
    model, opt, sched, step, make_x, make_y = build()
    fn = cr.compile(step) if compiled else step
    r = np.random.default_rng(1234)
    outputs, refusals = [], []
    for i in range(N_STEPS):
        b = spec["batch"] - 1 if spec["short_last"] and i == N_STEPS - 1 else spec["batch"]
        x, y = make_x(r, b), make_y(r, b)
        if spec["between"] == "train_eval" and i in (3, 5):
            model.eval() if model.training else model.train()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = fn(x, y)
        refusals += [str(w.message) for w in caught if "chainrule.compile" in str(w.message)]
        outputs.append([o.numpy().copy() for o in (out if isinstance(out, tuple) else (out,))])
        if sched is not None:
            sched.step()
    state = [p.detach().numpy().copy() for p in model.parameters()]
    state += [b.numpy().copy() for b in model.buffers()]
    state += [v.detach().numpy().copy() for s in opt.state.values() for v in s.values() if isinstance(v, cr.Tensor)]
    return outputs, state, refusals, fn


# (kind, seed, captured and replayed?, refused as expected?) per case run: conftest.py prints the capture rate.
RESULTS = []


def expected_refusal(spec):
    """The reason a case must be refused, or None where it must be captured."""
    if spec["model"] == "dropout_eval" and spec["between"] == "train_eval":
        return "draws random numbers"      # Dropout(0.5) in training mode from the fourth call on
    return None


def assert_captured_or_refused(what, fn, refusals, expected):
    """The compiled step replayed a captured program (or was refused for the expected reason, and only that)."""
    replays = sum(p.replays for p in fn.programs)
    if expected is None:
        assert not refusals, f"{what}: capture refused: {refusals}"
        assert replays > 0, f"{what}: never replayed a captured program (compared eager with eager)"
    else:
        assert refusals and all(expected in r for r in refusals), f"{what}: expected a refusal for " \
                                                                     f"'{expected}', got {refusals}"
    RESULTS.append((what.split()[0], replays > 0, expected is not None))


def check_case(seed):
    spec, build = _case(seed)
    eager_out, eager_state, _, _ = _run(spec, build, compiled=False)
    out, state, refusals, fn = _run(spec, build, compiled=True)
    assert_captured_or_refused(f"training {seed} {spec}", fn, refusals, expected_refusal(spec))
    for i, (a, b) in enumerate(zip(out, eager_out)):
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=f"{spec}: output of step {i}")
    assert len(state) == len(eager_state)
    for k, (u, v) in enumerate(zip(state, eager_state)):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=f"{spec}: state tensor {k}")
    return spec, refusals, fn


@pytest.mark.parametrize("seed", range(120))
def test_random_training_step_matches_eager(seed):
    check_case(seed)


# ----- raw-tensor steps: indexing, setitem, gather, cat/stack, where, masked_fill, reductions --------------------
RAW_OPS = ["index", "setitem", "gather", "cat", "stack", "where", "masked_fill", "cumsum", "softmax", "logsumexp",
           "var", "std", "input_inplace"]


def _raw_case(seed):
    c = random.Random(seed)
    ops = c.sample(RAW_OPS, 4)
    zero = c.choice(["none_at_end", "zero_at_start", "accumulate_outside"])

    def build():
        cr.manual_seed(seed)
        W = cr.randn(5, 4, requires_grad=True)
        b = cr.zeros(4, requires_grad=True)

        def step(x, idx):
            h = x @ W + b                                          # (B, 4)
            for op in ops:
                if op == "index":
                    h = h[:, [0, 2, 1, 3]] * 1.5 + h[1:2]
                elif op == "setitem":
                    z = cr.zeros(h.shape[0], 4)
                    z[:, 1] = x[:, 0]
                    z[0] = 2.0
                    h = h + z
                elif op == "gather":
                    h = h + cr.gather(h, 1, idx).sum(dim=1, keepdim=True)
                elif op == "cat":
                    h = cr.cat([h[:, :2], h[:, 2:] * 2], dim=1)
                elif op == "stack":
                    h = cr.stack([h, h.tanh()], dim=0).mean(dim=0)
                elif op == "where":
                    h = cr.where(x[:, :4] > 0, h, -h)
                elif op == "masked_fill":
                    h = h.masked_fill(x[:, 1:5] < -0.5, 0.25)
                elif op == "cumsum":
                    h = h.cumsum(dim=1) * 0.5
                elif op == "softmax":
                    h = cr.softmax(h, dim=1) * 3
                elif op == "logsumexp":
                    h = h - cr.logsumexp(h, dim=1, keepdim=True)
                elif op == "var":
                    h = h / (h.var(dim=0, keepdim=True) + 1.0)
                elif op == "std":
                    h = h + h.std()
            loss = (h ** 2).mean()
            if zero == "zero_at_start":
                for p in (W, b):
                    if p.grad is not None:
                        p.grad.zero_()
            loss.backward()
            with cr.no_grad():
                if "input_inplace" in ops:
                    x.mul_(0.5)                                    # the caller's tensor changes too
                for p in (W, b):
                    p -= 0.01 * p.grad
                    if zero == "none_at_end":
                        p.grad = None
            return loss.detach(), h.detach()
        return (W, b), step
    return dict(ops=ops, zero=zero), build


def check_raw_case(seed):
    spec, build = _raw_case(seed)
    results = []
    refusals = []
    for compiled in (False, True):
        params, step = build()
        fn = cr.compile(step) if compiled else step
        r = np.random.default_rng(seed)
        outs, xs = [], []
        for i in range(N_STEPS):
            bsz = 5 if i < N_STEPS - 1 else 3
            x = cr.tensor(r.standard_normal((bsz, 5)).astype(np.float32))
            idx = cr.tensor(r.integers(0, 4, (bsz, 2)))
            if spec["zero"] == "accumulate_outside" and i % 3 == 0:
                for p in params:
                    p.grad = None                                  # zero_grad outside the step, now and then
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = fn(x, idx)
            refusals += [str(w.message) for w in caught if "chainrule.compile" in str(w.message)]
            outs.append([o.numpy().copy() for o in out])
            xs.append(x.numpy().copy())
        results.append((outs, xs, [p.detach().numpy().copy() for p in params],
                        [None if p.grad is None else p.grad.numpy().copy() for p in params]))
    assert_captured_or_refused(f"raw {seed} {spec}", fn, refusals, None)
    (eo, ex, ep, eg), (co, cx, cp, cg) = results
    for i in range(N_STEPS):
        for u, v in zip(co[i], eo[i]):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=f"{spec}: output of step {i}")
        np.testing.assert_allclose(cx[i], ex[i], rtol=1e-6, err_msg=f"{spec}: input of step {i}")
    for u, v in zip(cp + cg, ep + eg):
        assert (u is None) == (v is None), spec
        if u is not None:
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6, err_msg=f"{spec}: final state")
    return spec


@pytest.mark.parametrize("seed", range(40))
def test_random_raw_tensor_step_matches_eager(seed):
    check_raw_case(seed)
