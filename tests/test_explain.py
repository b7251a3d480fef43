"""chainrule.explain.trace: every number equals PyTorch's autograd, the chain-rule formula and finite differences."""
import numpy as np
import pytest
import torch

import chainrule
from chainrule import nn
from chainrule.explain import Check, Dense, essay_network, format_trace, trace


def xor64():
    X, y = chainrule.datasets.xor()
    return X.double(), y.double()


def torch_reference(weights, biases, activations, x, y, loss):
    """PyTorch's gradients for the same network: dL/dW, dL/db per layer, dL/dz and dL/da via retain_grad."""
    Ws = [torch.tensor(w, requires_grad=True) for w in weights]
    Bs = [torch.tensor(b, requires_grad=True) for b in biases]
    a = torch.tensor(x, requires_grad=True)
    zs, acts = [], [a]
    for W, B, name in zip(Ws, Bs, activations):
        z = a @ W.T + B
        a = getattr(torch, name)(z)
        z.retain_grad()
        a.retain_grad()
        zs.append(z)
        acts.append(a)
    target = torch.tensor(y)
    L = torch.nn.functional.mse_loss(a, target) if loss == "mse" else torch.nn.functional.binary_cross_entropy(a, target)
    L.backward()
    return L.item(), Ws, Bs, zs, acts


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("loss", ["mse", "bce"])
@pytest.mark.parametrize("sample", [1, "all"])
def test_trace_matches_pytorch_formula_and_finite_differences(activation, loss, sample):
    X, y = xor64()
    x, t = (X, y) if sample == "all" else (X[sample:sample + 1], y[sample:sample + 1])
    model = essay_network(seed=3, activation=activation)
    model[1].activation = "sigmoid"          # a ReLU output can be dead (all gradients 0); hidden layer varies
    with chainrule.no_grad():                # nonzero biases: z = 0 exactly would sit on ReLU's kink
        for m in model:
            m.bias.copy_(chainrule.randn(m.bias.shape, dtype=chainrule.float64) * 0.5)
    record = trace(model, x, t, loss, lr=0.5)
    assert record.ok, format_trace(record)
    assert all(c.ok for c in record.checks) and len(record.checks) == 12

    L, Ws, Bs, zs, acts = torch_reference([m.weight.detach().numpy() for m in model],
                                          [m.bias.detach().numpy() for m in model],
                                          [activation, "sigmoid"], x.numpy(), t.numpy(), loss)
    assert record.loss == pytest.approx(L, rel=1e-12)
    for k, layer in enumerate(record.layers):
        for check, expected in ((layer.dL_dW, Ws[k].grad), (layer.dL_db, Bs[k].grad), (layer.dL_dz, zs[k].grad),
                                (layer.dL_da, acts[k + 1].grad), (layer.dL_da_prev, acts[k].grad)):
            for value in (check.formula, check.autograd, check.numeric):
                np.testing.assert_allclose(value, expected.numpy(), rtol=1e-5, atol=1e-8, err_msg=check.symbol)
        # autograd's own .grad on the parameters is what the record calls "autograd"
        np.testing.assert_array_equal(layer.dL_dW.autograd, model[k].weight.grad.numpy())
    assert record.loss_after < record.loss


def test_the_update_is_gradient_descent_and_leaves_the_model_alone():
    X, y = xor64()
    model = essay_network(seed=0)
    before = [m.weight.detach().numpy().copy() for m in model]
    record = trace(model, X, y, "mse", lr=2.0)
    for m, w, layer in zip(model, before, record.layers):
        np.testing.assert_array_equal(m.weight.detach().numpy(), w)      # not applied to the model
        np.testing.assert_allclose(layer.weight_after, w - 2.0 * layer.dL_dW.formula)
    # Applying the recorded update by hand gives the recorded loss after.
    with chainrule.no_grad():
        for m, layer in zip(model, record.layers):
            m.weight.copy_(chainrule.tensor(layer.weight_after))
            m.bias.copy_(chainrule.tensor(layer.bias_after))
        a = X
        for m in model:
            a = m.linear(a).sigmoid()
        assert ((a - y) ** 2).mean().item() == pytest.approx(record.loss_after, rel=1e-12)


def test_nn_sequential_float32_and_nn_losses():
    chainrule.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    X, y = chainrule.datasets.xor()
    record = trace(model, X, y, nn.BCELoss(), lr=0.1)
    assert record.dtype == "float32" and record.rtol == 1e-3
    assert record.ok, format_trace(record)
    assert [layer.activation for layer in record.layers] == ["tanh", "sigmoid"]
    np.testing.assert_allclose(record.layers[0].dL_dW.autograd, model[0].weight.grad.numpy())
    sum_record = trace(model, X, y, nn.MSELoss(reduction="sum"))
    mean_record = trace(model, X, y, nn.MSELoss())
    np.testing.assert_allclose(sum_record.layers[1].dL_da.formula, 4 * mean_record.layers[1].dL_da.formula)


def test_logits_layer_without_activation():
    chainrule.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    X, y = xor64()
    record = trace(model, X, y, "mse")
    assert record.layers[-1].activation == "identity"
    assert record.ok
    np.testing.assert_array_equal(record.layers[-1].dsigma.formula, np.ones((4, 1)))


def test_the_essays_output_gradient_is_the_cross_entropy_one():
    """The essay's solution uses dz2 = y_hat - y with an MSE loss: trace shows that is BCE's ∂L/∂z, not MSE's."""
    X, y = xor64()
    model = essay_network(seed=0)
    bce = trace(model, X, y, "bce").layers[-1]
    mse = trace(model, X, y, "mse").layers[-1]
    essay_dz2 = (bce.a - y.numpy())                       # the essay's line, without the mean
    np.testing.assert_allclose(bce.dL_dz.numeric, essay_dz2 / 4, rtol=1e-6)   # BCE: (ŷ − y)/N
    assert not np.allclose(mse.dL_dz.numeric, essay_dz2 / 4, rtol=0.1)        # MSE: 2(ŷ − y)σ'(z)/N
    np.testing.assert_allclose(mse.dL_dz.numeric, 2 * essay_dz2 * mse.a * (1 - mse.a) / 4, rtol=1e-6)


def test_a_wrong_formula_shows_a_cross():
    X, y = xor64()
    record = trace(essay_network(seed=0), X[1:2], y[1:2], "mse")
    layer = record.layers[-1]
    wrong = layer.a - record.y                            # the essay's dz2, put where ∂L/∂z belongs
    layer.dL_dz = Check(layer.dL_dz.symbol, "ŷ − y (the essay's slip)", wrong, layer.dL_dz.autograd,
                        layer.dL_dz.numeric, record.rtol, record.atol)
    assert not record.ok
    text = format_trace(record)
    assert "✗ ∂L/∂z₂ = ŷ − y (the essay's slip)" in text and "11/12 quantities agree" in text


def test_a_too_large_step_is_reported():
    X, y = xor64()
    record = trace(essay_network(seed=0), X, y, "mse", lr=500.0)
    assert not record.loss_went_down and not record.ok
    assert "✗ the loss did not go down" in format_trace(record)


def test_relu_kink_and_dead_relus_are_explained():
    X, y = xor64()
    model = essay_network(seed=0, activation="relu")   # zero biases: input [0 0] gives z₁ = 0 exactly
    record = trace(model, X[0:1], y[0:1], "mse")
    assert record.layers[0].at_kink and not record.ok
    text = format_trace(record)
    assert "ReLU's kink" in text and "every ∂L/∂W is 0" in text


def test_format_trace_text():
    X, y = xor64()
    text = format_trace(trace(essay_network(seed=0), X[1:2], y[1:2], "mse"), title="T")
    assert text.startswith("T\n")
    assert "✗" not in text and text.count("✓") == 13       # 12 quantities + the loss going down
    order = [text.index(s) for s in ("FORWARD PASS", "BACKWARD PASS", "── layer 2 (output", "── layer 1 (hidden", "UPDATE")]
    assert order == sorted(order)
    assert "∂L/∂W₂ = ∂L/∂z₂ · a₁ᵀ" in text and "∂L/∂a₁ = W₂ᵀ · ∂L/∂z₂" in text


def test_bad_input_is_a_clear_error():
    X, y = xor64()
    model = essay_network()
    with pytest.raises(ValueError, match="MSE and BCE"):
        trace(model, X, y, "hinge")
    with pytest.raises(ValueError, match="reduction"):
        trace(model, X, y, nn.MSELoss(reduction="none"))
    with pytest.raises(TypeError, match="nn.Sequential"):
        trace(object(), X, y)
    with pytest.raises(TypeError, match="Linear layers"):
        trace(nn.Sequential(nn.Tanh(), nn.Linear(2, 1)), X, y)
    with pytest.raises(TypeError, match="derivative of"):
        trace(nn.Sequential(nn.Linear(2, 1), nn.GELU()), X, y)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        trace(model, chainrule.ones(4, 3, dtype=chainrule.float64), y)
    with pytest.raises(ValueError, match="y must have shape"):
        trace(model, X, chainrule.ones(3, 1))
    with pytest.raises(ValueError, match="activation must be"):
        Dense(chainrule.ones(1, 2), chainrule.ones(1), "swish")
    with pytest.raises(TypeError, match="Trace"):
        format_trace({"loss": 1.0})
