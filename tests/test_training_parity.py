"""A whole training run against PyTorch: the same MLP (Linear + ReLU, weights copied), the same batches,
CrossEntropyLoss and SGD with momentum for 20 steps; every weight must match PyTorch's to 1e-6 (float64).
Any difference in a layer's forward or backward, the loss's weighting or the optimizer's update would
compound over the steps and show here."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule as cr  # noqa: E402


def mlp(nn):
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.mark.parametrize("optimizer,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)),
                                              ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
                                              ("Adam", dict(lr=1e-2))])
def test_twenty_steps_match_torch(optimizer, kwargs):
    torch.manual_seed(0)
    th = mlp(torch.nn).double()
    mine = mlp(cr.nn).double()
    mine.load_state_dict({k: cr.tensor(v.detach().numpy().copy()) for k, v in th.state_dict().items()})
    opt_t = getattr(torch.optim, optimizer)(th.parameters(), **kwargs)
    opt_c = getattr(cr.optim, optimizer)(mine.parameters(), **kwargs)
    loss_t_fn, loss_c_fn = torch.nn.CrossEntropyLoss(), cr.nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    for step in range(20):
        x = rng.standard_normal((16, 10))
        y = rng.integers(0, 4, size=16)
        opt_t.zero_grad()
        opt_c.zero_grad()
        loss_t = loss_t_fn(th(torch.tensor(x)), torch.tensor(y))
        loss_c = loss_c_fn(mine(cr.tensor(x)), cr.tensor(y))
        np.testing.assert_allclose(loss_c.item(), loss_t.item(), rtol=1e-6, err_msg=f"loss at step {step}")
        loss_t.backward()
        loss_c.backward()
        opt_t.step()
        opt_c.step()
    for (name, p_c), (_, p_t) in zip(mine.named_parameters(), th.named_parameters()):
        np.testing.assert_allclose(p_c.detach().numpy(), p_t.detach().numpy(), rtol=1e-6, atol=1e-9, err_msg=name)
