"""The essay's first autograd snippet works exactly as it does in PyTorch."""
import chainrule


def test_essay_snippet():
    x = chainrule.tensor(2.0, requires_grad=True)
    y = x * 3
    y.backward()
    assert repr(x.grad) == "tensor(3.)"
    assert x.grad.item() == 3.0
