"""The ReLU MLP trained with cross-entropy and SGD that W2 (digits) and W3 (mlp-big) share.

``lib_mlp`` builds it the PyTorch way (nn.Sequential of nn.Linear/nn.ReLU, F.cross_entropy, optim.SGD)
for either library; ``NumpyMLP`` is the hand-written floor with the same weights, the same loss and the
same update rule as ``torch.optim.SGD`` (``buf = momentum·buf + grad; p -= lr·buf``).
"""
import numpy as np

from benchmarks.harness import observe


def initial_weights(sizes, seed=0):
    """float32 (weight, bias) per layer, weight shaped (out, in) like nn.Linear, uniform ±1/√in."""
    rng = np.random.RandomState(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        layers.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                       rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return layers


def assign(lib, param, array):
    """Overwrite a parameter with ``array`` in place, without recording it in the graph."""
    with lib.no_grad():
        param.copy_(lib.tensor(array))


def lib_mlp(lib, sizes, lr, momentum):
    """(model, optimizer) for ``lib``, the model loaded with :func:`initial_weights`."""
    nn = lib.nn
    modules = []
    for i, (weight, bias) in enumerate(initial_weights(sizes)):
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        assign(lib, linear.weight, weight)
        assign(lib, linear.bias, bias)
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    model = nn.Sequential(*modules)
    return model, lib.optim.SGD(model.parameters(), lr=lr, momentum=momentum)


def train_step(lib, model, optimizer):
    """The training step of W2 and W3, as a function (so the captured variant runs the same code)."""
    cross_entropy = lib.nn.functional.cross_entropy

    def step(x, y):
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def lib_train(lib, model, optimizer, batches):
    """One pass over ``batches`` [(x, y)]; returns the observables (last loss, all parameters)."""
    step = train_step(lib, model, optimizer)
    for x, y in batches:
        loss = step(x, y)
    return observe(loss, *model.parameters())


class NumpyMLP:
    """Forward, hand-derived backward and SGD(momentum) update of the same MLP on float32 arrays."""

    def __init__(self, sizes, lr, momentum):
        self.layers = initial_weights(sizes)
        self.lr, self.momentum = lr, momentum
        self.buffers = [(np.zeros_like(w), np.zeros_like(b)) for w, b in self.layers]

    def step(self, x, y):
        """One training step on the batch (x, integer labels y); returns the loss before the update."""
        inputs = []                       # each layer's input, kept for the backward pass
        h = x
        for i, (w, b) in enumerate(self.layers):
            inputs.append(h)
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0)
        # cross-entropy (mean over the batch) and its gradient softmax(z) - onehot(y), over B
        rows = np.arange(len(y))
        shifted = h - h.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        loss = (np.log(total[:, 0]) - shifted[rows, y]).mean()
        dz = exp / total
        dz[rows, y] -= 1
        dz /= len(y)
        for i in range(len(self.layers) - 1, -1, -1):
            w, b = self.layers[i]
            grad_w, grad_b = dz.T @ inputs[i], dz.sum(axis=0)
            if i > 0:                     # the network input needs no gradient
                dz = (dz @ w) * (inputs[i] > 0)   # through layer i's weights and the ReLU before it
            self.update(i, grad_w, grad_b)
        return loss

    def update(self, i, grad_w, grad_b):
        for param, buf, grad in zip(self.layers[i], self.buffers[i], (grad_w, grad_b)):
            if self.momentum:
                buf *= self.momentum
                buf += grad
                grad = buf
            param -= self.lr * grad

    def parameters(self):
        return [p for layer in self.layers for p in layer]
