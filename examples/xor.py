"""The essay's exercise: a 2-2-1 sigmoid network learns XOR with MSE loss and plain gradient descent.

Autograd replaces the hand-written backward pass: ``loss.backward()`` fills every ``.grad``, and
the update is the essay's ``w <- w - lr * dL/dw``.

    python examples/xor.py [--seed 0] [--lr 2.0] [--epochs 5000]
"""
import argparse

import chainrule as torch


def train(seed=0, lr=2.0, epochs=5000, verbose=True):
    torch.manual_seed(seed)
    X = torch.tensor([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
    y = torch.tensor([[0.], [1.], [1.], [0.]])
    W1 = torch.randn(2, 2, requires_grad=True)
    b1 = torch.zeros(1, 2, requires_grad=True)
    W2 = torch.randn(2, 1, requires_grad=True)
    b2 = torch.zeros(1, 1, requires_grad=True)
    params = [W1, b1, W2, b2]
    if verbose:
        print("Initial weights and biases:")
        print(f"W1:\n{W1.detach()}\nb1:\n{b1.detach()}\nW2:\n{W2.detach()}\nb2:\n{b2.detach()}")
        print("*" * 60)
    for epoch in range(epochs):
        a1 = torch.sigmoid(X @ W1 + b1)          # hidden layer: z = W·a + b, a = σ(z)
        y_hat = torch.sigmoid(a1 @ W2 + b2)      # output layer
        loss = ((y_hat - y) ** 2).mean()         # MSE
        loss.backward()                          # the chain rule, layer by layer, output to input
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad                 # gradient descent
                p.grad = None
        if verbose and epoch % 1000 == 0:
            print(f"Epoch {epoch}: Loss = {loss.item():.6f}")
    with torch.no_grad():
        y_hat = torch.sigmoid(torch.sigmoid(X @ W1 + b1) @ W2 + b2)
    if verbose:
        print("\n" + "=" * 60)
        print("Final predictions:")
        for i in range(len(X)):
            print(f"Input: {X[i].long().tolist()} -> Predicted: {y_hat[i, 0].item():.4f}, "
                  f"Actual: {int(y[i, 0].item())}")
    return ((y_hat > 0.5).float() == y).all().item(), loss.item()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=5000)
    args = parser.parse_args()
    train(args.seed, args.lr, args.epochs)
