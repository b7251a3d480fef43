"""A character-level GRU language model, trained on a short original text (examples/data/tiny_text.txt).

Each step takes a batch of random windows of the text, predicts every next character, and
backpropagates through time (autograd unrolls the GRU's Python loop over time steps). The loss is
printed as it falls, then the model writes a sample, one character at a time.

    python examples/char_rnn.py [--steps 300] [--seed 0]
"""
import argparse
import os
import time

import numpy as np

import chainrule as torch
from chainrule import nn


TEXT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "tiny_text.txt")


class CharModel(nn.Module):
    """Embedding -> GRU -> Linear: logits for the next character at every position."""

    def __init__(self, vocab, embed=32, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, h=None):
        out, h = self.rnn(self.embed(x), h)
        return self.head(out), h


def sample(model, stoi, itos, prompt="The ", length=200, temperature=0.7, seed=0):
    """Generate text: feed the prompt, then each sampled character back in, carrying the hidden state."""
    rng = np.random.default_rng(seed)
    model.eval()
    out = prompt
    with torch.no_grad():
        logits, h = model(torch.tensor([[stoi[c] for c in prompt]]))
        for _ in range(length):
            p = torch.softmax(logits[0, -1] / temperature, dim=-1).numpy().astype(np.float64)
            c = itos[int(rng.choice(len(p), p=p / p.sum()))]
            out += c
            logits, h = model(torch.tensor([[stoi[c]]]), h)
    model.train()
    return out


def main(steps=300, seed=0, seq_len=48, batch_size=16, lr=3e-3, verbose=True):
    torch.manual_seed(seed)
    text = open(TEXT, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = np.array([stoi[c] for c in text], dtype=np.int64)
    model = CharModel(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    start, losses = time.perf_counter(), []
    for step in range(1, steps + 1):
        starts = rng.integers(0, len(data) - seq_len - 1, size=batch_size)
        windows = np.stack([data[s:s + seq_len + 1] for s in starts])
        x, y = torch.tensor(windows[:, :-1]), torch.tensor(windows[:, 1:])
        logits, _ = model(x)
        loss = loss_fn(logits.reshape(-1, len(chars)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if verbose and (step % max(1, steps // 10) == 0 or step == 1):
            print(f"step {step:4d}  loss {np.mean(losses[-10:]):.3f}  ({time.perf_counter() - start:.1f}s)")
    first, last = float(np.mean(losses[:5])), float(np.mean(losses[-5:]))
    print(f"loss: first {first:.3f} -> last {last:.3f}")
    print("sample:", repr(sample(model, stoi, chars)))
    return first, last


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.steps, args.seed)
