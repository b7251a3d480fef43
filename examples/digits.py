"""Handwritten digits (scikit-learn's 8x8 images) with a small MLP: the PyTorch training loop, run by chainrule.

Everything below is written as a PyTorch script would be (``import chainrule as torch``):
nn.Sequential, CrossEntropyLoss, an optimizer and a DataLoader. Prints the test accuracy.

    python examples/digits.py [--epochs 30] [--lr 3e-3] [--seed 0]
"""
import argparse
import time

import chainrule as torch
from chainrule import nn
from chainrule.utils.data import DataLoader, TensorDataset


def build_model():
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def accuracy(model, X, y):
    model.eval()
    with torch.no_grad():
        correct = (model(X).argmax(dim=1) == y).float().mean().item()
    model.train()
    return correct


def main(epochs=30, lr=3e-3, seed=0, batch_size=32, verbose=True):
    torch.manual_seed(seed)
    X_train, y_train, X_test, y_test = torch.datasets.digits(seed=seed)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True)
    model = build_model()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # Decay the step size to zero over the run: large steps early, fine-tuning at the end.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    start = time.perf_counter()
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        scheduler.step()
        if verbose and (epoch % 5 == 4 or epoch == epochs - 1):
            print(f"epoch {epoch + 1:3d}  loss {total / len(X_train):.4f}  "
                  f"test accuracy {accuracy(model, X_test, y_test):.4f}")
    acc = accuracy(model, X_test, y_test)
    if verbose:
        print(f"trained in {time.perf_counter() - start:.1f}s")
        print(f"test accuracy: {acc:.4f}")
    return acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.epochs, args.lr, args.seed)
