"""Train a corpus program's own model from given weights on fixed data, printing every step's loss.

    python tests/same_weights_driver.py MODEL WEIGHTS.npz          (PyTorch: writes WEIGHTS.npz first)
    chainrule run tests/same_weights_driver.py MODEL WEIGHTS.npz   (chainrule: reads them)

MODEL is word_lm-LSTM, word_lm-GRU, word_lm-Transformer (tests/programs/word_lm/model.py, trained as its
main.py trains: gradient clipping and a hand-written SGD step) or nanogpt (tests/programs/nanogpt/model.py,
trained as its train.py trains: configure_optimizers' AdamW, clipping). The program's random draws (the
weights it starts from, dropout) are the only thing the corpus comparison cannot pin down, so here the
weights are shared and dropout is off: the two libraries must then produce the same losses step by step.
"""
import os
import sys

import numpy as np
import torch

name, weights_path = sys.argv[1], sys.argv[2]
package = name.split("-")[0]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "programs", package))
import model  # noqa: E402  (the program's model file, its `import torch` bound to whichever library runs this)

torch.manual_seed(0)
rng = np.random.RandomState(0)
vocab, steps = 30, 8
if package == "word_lm":
    kind = name.split("-")[1]
    if kind == "Transformer":
        net = model.TransformerModel(vocab, 16, 2, 16, 2, dropout=0.0)
    else:
        net = model.RNNModel(kind, vocab, 16, 16, 2, dropout=0.0)
else:
    config = model.GPTConfig(block_size=8, vocab_size=vocab, n_layer=2, n_head=2, n_embd=16, dropout=0.0,
                             bias=True)
    net = model.GPT(config)
    optimizer = net.configure_optimizers(0.1, 3e-3, (0.9, 0.99), "cpu")
net.eval()   # dropout off everywhere: nn.Transformer keeps its own default of 0.1 inside

if not os.path.exists(weights_path):
    np.savez(weights_path, **{k: v.detach().numpy() for k, v in net.state_dict().items()})
with np.load(weights_path) as saved:
    net.load_state_dict({k: torch.from_numpy(saved[k].copy()) for k in saved.files})

losses = []
if package == "word_lm":
    data = torch.from_numpy(rng.randint(0, vocab, size=(steps * 8 + 1, 4)))
    hidden = None if kind == "Transformer" else net.init_hidden(4)
    criterion = torch.nn.NLLLoss()
    lr = 2.0 if kind == "Transformer" else 20.0
    for i in range(0, steps * 8, 8):
        x, y = data[i:i + 8], data[i + 1:i + 9].reshape(-1)
        net.zero_grad()
        if hidden is None:
            output = net(x).view(-1, vocab)
        else:
            hidden = tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()
            output, hidden = net(x, hidden)
        loss = criterion(output, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 0.25)
        for p in net.parameters():
            p.data.add_(p.grad, alpha=-lr)
        losses.append(loss.item())
else:
    data = torch.from_numpy(rng.randint(0, vocab, size=(steps, 4, 9)))
    for step in range(steps):
        logits, loss = net(data[step, :, :-1].contiguous(), data[step, :, 1:].contiguous())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
print("losses:", " ".join(repr(v) for v in losses))
