# A WaveNet-style hierarchical character model built from torch.nn layers (the lecture-notebook idiom).
import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from names import WORDS

torch.manual_seed(42)
random.seed(42)
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 200
chars = sorted(set("".join(WORDS)))
stoi = {s: i + 1 for i, s in enumerate(chars)}
stoi["."] = 0
vocab_size, block_size = len(stoi), 8


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            X.append(context)
            Y.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    return torch.tensor(X), torch.tensor(Y)


words = WORDS[:]
random.shuffle(words)
Xtr, Ytr = build_dataset(words)


class FlattenConsecutive(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.n = n

    def forward(self, x):
        B, T, C = x.shape
        x = x.view(B, T // self.n, C * self.n)
        if x.shape[1] == 1:
            x = x.squeeze(1)
        return x


class BatchNormLast(nn.BatchNorm1d):
    """BatchNorm over every dim but the last (the channels), as the notebook's version does."""

    def forward(self, x):
        if x.ndim == 3:
            return super().forward(x.transpose(1, 2)).transpose(1, 2).contiguous()
        return super().forward(x)


n_embd, n_hidden = 10, 48
model = nn.Sequential(
    nn.Embedding(vocab_size, n_embd),
    FlattenConsecutive(2), nn.Linear(n_embd * 2, n_hidden, bias=False), BatchNormLast(n_hidden), nn.Tanh(),
    FlattenConsecutive(2), nn.Linear(n_hidden * 2, n_hidden, bias=False), BatchNormLast(n_hidden), nn.Tanh(),
    FlattenConsecutive(2), nn.Linear(n_hidden * 2, n_hidden, bias=False), BatchNormLast(n_hidden), nn.Tanh(),
    nn.Linear(n_hidden, vocab_size),
)
with torch.no_grad():
    model[-1].weight *= 0.1
print(sum(p.nelement() for p in model.parameters()))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for i in range(steps):
    ix = torch.randint(0, Xtr.shape[0], (32,))
    logits = model(Xtr[ix])
    loss = F.cross_entropy(logits, Ytr[ix])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if i % 100 == 0:
        print(f"{i:7d}/{steps:7d}: {loss.item():.4f}")
model.eval()
with torch.no_grad():
    loss = F.cross_entropy(model(Xtr), Ytr)
print(f"final: {loss.item():.6f}")
