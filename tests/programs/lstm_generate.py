# Generate text from the checkpoint lstm_lm.py saved, and score a sentence under it.
import argparse

import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("--checkpoint", type=str, default="model.pt")
parser.add_argument("--words", type=int, default=12)
parser.add_argument("--temperature", type=float, default=1.0)
args = parser.parse_args()
torch.manual_seed(0)

with open(args.checkpoint, "rb") as f:
    checkpoint = torch.load(f)
vocab = checkpoint["vocab"]
state = checkpoint["state_dict"]
ninp = state["encoder.weight"].shape[1]
nhid = state["rnn.weight_hh_l0"].shape[1]
nlayers = sum(1 for k in state if k.startswith("rnn.weight_ih_l"))


class RNNModel(nn.Module):
    def __init__(self, ntoken):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):
        output, hidden = self.rnn(self.drop(self.encoder(input)), hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.decoder.out_features)
        return nn.functional.log_softmax(decoded, dim=1), hidden


model = RNNModel(len(vocab))
model.load_state_dict(state)
model.eval()
hidden = (torch.zeros(nlayers, 1, nhid), torch.zeros(nlayers, 1, nhid))
input = torch.randint(len(vocab), (1, 1), dtype=torch.long)
words = []
with torch.no_grad():
    for i in range(args.words):
        output, hidden = model(input, hidden)
        word_weights = output.squeeze().div(args.temperature).exp()
        word_idx = torch.multinomial(word_weights, 1)[0]
        input.fill_(word_idx)
        words.append(vocab[word_idx])
print(" ".join(words))

# The log-likelihood of a fixed sentence: a figure that depends on the loaded weights alone.
sentence = "the cat sat on the mat .".split()
ids = torch.tensor([vocab.index(w) for w in sentence]).view(-1, 1)
with torch.no_grad():
    hidden = (torch.zeros(nlayers, 1, nhid), torch.zeros(nlayers, 1, nhid))
    logp, _ = model(ids[:-1], hidden)
    score = logp[torch.arange(len(sentence) - 1), ids[1:, 0]].sum()
print(f"final: {score.item():.6f}")
