"""W8 lstm-lm: training steps of a word-level LSTM language model, as in PyTorch's classic example.

Embedding 200, a 2-layer ``nn.LSTM`` of 200 units, a linear decoder back to the 2,000-word vocabulary,
``log_softmax`` and ``nn.NLLLoss``; sequences of 35 (bptt) in a batch of 20, sequence-first. A step
detaches the hidden state carried over from the previous step ("repackage"), runs the model, takes the
loss, back-propagates, clips the gradient norm to 0.25 and updates with plain SGD (lr 20). No dropout
(its random masks would differ between the libraries). Reported per step; no hand-written NumPy column.
"""
import numpy as np

from benchmarks.harness import Workload, observe
from benchmarks.weights import load_weights

VOCAB, EMBED, HIDDEN, LAYERS, BPTT, BATCH = 2000, 200, 200, 2, 35, 20
LR, CLIP = 20.0, 0.25


def lstm_model(lib):
    nn, F = lib.nn, lib.nn.functional

    class RNNModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(VOCAB, EMBED)
            self.rnn = nn.LSTM(EMBED, HIDDEN, LAYERS)
            self.decoder = nn.Linear(HIDDEN, VOCAB)

        def forward(self, input, hidden):
            output, hidden = self.rnn(self.encoder(input), hidden)
            decoded = self.decoder(output).view(-1, VOCAB)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, batch):
            weight = next(self.parameters())
            return (weight.new_zeros(LAYERS, batch, HIDDEN), weight.new_zeros(LAYERS, batch, HIDDEN))

    return RNNModel()


def initial_weight(name, shape, rng):
    """The example's init: encoder and decoder weights U(±0.1), decoder bias 0; LSTM U(±1/√hidden)."""
    if name.startswith("encoder") or name == "decoder.weight":
        return rng.uniform(-0.1, 0.1, shape)
    if name == "decoder.bias":
        return np.zeros(shape)
    bound = 1 / np.sqrt(HIDDEN)                           # every LSTM tensor: U(±1/√hidden_size)
    return rng.uniform(-bound, bound, shape)


def batches(steps, batch):
    """Word ids: inputs (bptt, batch) and their next words, one pair per step (consecutive chunks)."""
    tokens = np.random.RandomState(11).randint(0, VOCAB, (steps * BPTT + 1, batch)).astype(np.int64)
    return [(tokens[i * BPTT:(i + 1) * BPTT], tokens[i * BPTT + 1:(i + 1) * BPTT + 1].reshape(-1))
            for i in range(steps)]


def lib_run(lib, steps, batch):
    data = [(lib.tensor(x), lib.tensor(y)) for x, y in batches(steps, batch)]
    model = lstm_model(lib)
    load_weights(lib, model, initial_weight)
    criterion = lib.nn.NLLLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=LR)
    clip = lib.nn.utils.clip_grad_norm_

    def run():
        hidden = model.init_hidden(batch)
        for x, y in data:
            hidden = tuple(h.detach() for h in hidden)   # truncated BPTT: cut the graph at the chunk edge
            optimizer.zero_grad()
            output, hidden = model(x, hidden)
            loss = criterion(output, y)
            loss.backward()
            clip(model.parameters(), CLIP)
            optimizer.step()
        return observe(loss, *model.parameters())

    return run


WORKLOAD = Workload(
    key="W8", name="lstm-lm", title="LSTM LM: embed 200, 2×LSTM 200, vocab 2000, bptt 35, batch 20, SGD + clip",
    unit="ms/step", unit_scale=1e3,
    config=lambda quick: {"steps": 2 if quick else 5, "batch": BATCH},
    check_config={"steps": 2, "batch": 4},
    units=lambda cfg: cfg["steps"],
    lib_factory=lib_run, numpy_factory=None,
    needs=("tensor", "nn.Embedding", "nn.LSTM", "nn.Linear", "nn.NLLLoss", "nn.functional.log_softmax",
           "nn.utils.clip_grad_norm_", "optim.SGD"),
    rtol=1e-3, atol=1e-5,   # float32 recurrences summed in different orders, then lr-20 updates
    memory=True,
    module=__name__,
)
