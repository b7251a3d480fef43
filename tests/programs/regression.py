#!/usr/bin/env python
# Fit a random degree-4 polynomial with one nn.Linear layer over polynomial features, with hand-written SGD
# (the official regression example's idiom: `count(1)` until the loss is small, `poly_desc`).
from itertools import count

import torch
import torch.nn.functional as F

torch.manual_seed(42)
POLY_DEGREE = 4
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    """Builds features i.e. a matrix with columns [x, x^2, x^3, x^4]."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    """Approximated function."""
    return x.mm(W_target) + b_target.item()


def poly_desc(W, b):
    """Creates a string description of a polynomial."""
    result = 'y = '
    for i, w in enumerate(W):
        result += '{:+.2f} x^{} '.format(w, i + 1)
    result += '{:+.2f}'.format(b[0])
    return result


def get_batch(batch_size=32):
    """Builds a batch i.e. (x, f(x)) pair."""
    random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x)
    return x, y


fc = torch.nn.Linear(W_target.size(0), 1)

for batch_idx in count(1):
    batch_x, batch_y = get_batch()

    fc.zero_grad()

    output = F.smooth_l1_loss(fc(batch_x), batch_y)
    loss = output.item()

    output.backward()

    for param in fc.parameters():
        param.data.add_(-0.1 * param.grad)

    if loss < 1e-3 or batch_idx == 5000:
        break

print('Loss: {:.6f} after {} batches'.format(loss, batch_idx))
print('==> Learned function:\t' + poly_desc(fc.weight.view(-1), fc.bias))
print('==> Actual function:\t' + poly_desc(W_target.view(-1), b_target))
# The figure: the largest error of the learned coefficients relative to the largest target coefficient.
error = torch.cat([fc.weight.view(-1) - W_target.view(-1), fc.bias - b_target]).abs().max()
scale = torch.cat([W_target.view(-1), b_target]).abs().max()
print(f"final: {(error / scale).item():.6f}")
