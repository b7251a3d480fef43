# A GRU encoder-decoder with additive attention and teacher forcing that learns to reverse digit strings
# (the seq2seq translation tutorial's idiom).
import random
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim

random.seed(0)
torch.manual_seed(0)
SOS, EOS, MAX_LENGTH = 0, 1, 7
n_iters = int(sys.argv[1]) if len(sys.argv) > 1 else 300
pairs = []
for _ in range(200):
    s = [random.randint(2, 9) for _ in range(random.randint(2, 5))]
    pairs.append((s, s[::-1]))


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)

    def forward(self, input):
        return self.gru(self.embedding(input))


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
        scores = scores.squeeze(2).unsqueeze(1)
        weights = F.softmax(scores, dim=-1)
        return torch.bmm(weights, keys), weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size):
        super().__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS)
        decoder_hidden = encoder_hidden
        decoder_outputs, attentions = [], []
        for i in range(MAX_LENGTH):
            embedded = self.embedding(decoder_input)
            query = decoder_hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs)
            output, decoder_hidden = self.gru(torch.cat((embedded, context), dim=2), decoder_hidden)
            output = self.out(output)
            decoder_outputs.append(output)
            attentions.append(attn_weights)
            if target_tensor is not None:
                decoder_input = target_tensor[:, i].unsqueeze(1)
            else:
                _, topi = output.topk(1)
                decoder_input = topi.squeeze(-1).detach()
        decoder_outputs = F.log_softmax(torch.cat(decoder_outputs, dim=1), dim=-1)
        return decoder_outputs, decoder_hidden, torch.cat(attentions, dim=1)


def to_tensor(seq):
    return seq + [EOS] + [EOS] * (MAX_LENGTH - len(seq) - 1)


inputs = torch.tensor([to_tensor(a) for a, _ in pairs])
targets = torch.tensor([to_tensor(b) for _, b in pairs])
encoder, decoder = EncoderRNN(10, 32), AttnDecoderRNN(32, 10)
enc_opt, dec_opt = optim.Adam(encoder.parameters(), lr=0.01), optim.Adam(decoder.parameters(), lr=0.01)
criterion = nn.NLLLoss()
for it in range(1, n_iters + 1):
    idx = torch.randint(0, len(pairs), (32,))
    enc_opt.zero_grad()
    dec_opt.zero_grad()
    encoder_outputs, encoder_hidden = encoder(inputs[idx])
    decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, targets[idx])
    loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), targets[idx].view(-1))
    loss.backward()
    enc_opt.step()
    dec_opt.step()
    if it % 100 == 0:
        print(f"iter {it}: loss {loss.item():.4f}")
with torch.no_grad():
    encoder_outputs, encoder_hidden = encoder(inputs)
    decoder_outputs, _, attn = decoder(encoder_outputs, encoder_hidden)
    accuracy = (decoder_outputs.argmax(-1) == targets).float().mean()
print("attention of the first pair:", [round(v, 2) for v in attn[0, 0].tolist()])
print(f"final: {accuracy.item():.6f}")
