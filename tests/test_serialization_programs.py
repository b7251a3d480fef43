"""Two unmodified PyTorch programs: one trains a model and saves it whole (``torch.save(model, f)``), the other
loads it back under ``torch.serialization.safe_globals([...])`` naming PyTorch's module paths and generates.

Both run through ``chainrule run`` (each in a fresh interpreter); the pair also runs under real PyTorch, to
show that the programs are ordinary PyTorch code.
"""
import subprocess
import sys
import textwrap

import pytest

MODEL = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """Pre-norm causal self-attention and an MLP."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab, width=32, heads=4, layers=2, context=16):
        super().__init__()
        self.context = context
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tok.weight   # tied weights: one Parameter, saved once

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


class CharLSTM(nn.Module):
    def __init__(self, vocab, hidden=24):
        super().__init__()
        self.embed = nn.Embedding(vocab, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.drop = nn.Dropout(0.1)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, idx):
        h, _ = self.lstm(self.embed(idx))
        return self.out(self.drop(h))
'''

TRAIN = '''
import sys
import torch
import torch.nn.functional as F
from model import CharLSTM, TinyGPT

text = "the quick brown fox jumps over the lazy dog. " * 20
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text])
torch.manual_seed(0)
model = {"gpt": TinyGPT, "lstm": CharLSTM}[sys.argv[1]](len(chars))
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
for step in range(30):
    starts = torch.randint(0, len(data) - 17, (8,))
    x = torch.stack([data[s:s + 16] for s in starts])
    y = torch.stack([data[s + 1:s + 17] for s in starts])
    loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
model.eval()
torch.save(model, "model.pt")
torch.save({"chars": chars, "optimizer": opt.state_dict(), "step": step}, "extras.pt")
with torch.no_grad():
    print("logits", [round(v, 4) for v in model(data[:16].view(1, -1))[0, -1, :5].tolist()])
print("loss", round(loss.item(), 4))
'''

GENERATE = '''
import torch
from model import Block, CharLSTM, TinyGPT

allowed = [TinyGPT, Block, CharLSTM, torch.nn.modules.sparse.Embedding, torch.nn.modules.container.ModuleList,
           torch.nn.modules.container.Sequential, torch.nn.modules.normalization.LayerNorm,
           torch.nn.modules.linear.Linear, torch.nn.modules.activation.GELU, torch.nn.modules.rnn.LSTM,
           torch.nn.modules.dropout.Dropout]
try:
    torch.load("model.pt")
except Exception as e:
    print("refused:", type(e).__name__, "Unsupported global" in str(e))
with torch.serialization.safe_globals(allowed):
    model = torch.load("model.pt", map_location="cpu")
extras = torch.load("extras.pt")
chars = extras["chars"]
model.eval()
text = "the quick brown fox jumps over the lazy dog. " * 20
data = torch.tensor([chars.index(c) for c in text])
with torch.no_grad():
    print("logits", [round(v, 4) for v in model(data[:16].view(1, -1))[0, -1, :5].tolist()])
    idx = data[:8].view(1, -1)
    for _ in range(8):
        nxt = model(idx[:, -16:])[0, -1].argmax()
        idx = torch.cat([idx, nxt.view(1, 1)], dim=1)
print("sample", repr("".join(chars[i] for i in idx[0].tolist())))
print("tied", getattr(model, "head", None) is None or model.head.weight is model.tok.weight)
print("optimizer steps", extras["optimizer"]["state"][0]["step"].item(), "of", extras["step"] + 1)
'''


def _run(folder, program, *args, runner):
    cmd = [sys.executable, "-m", "chainrule", "run", program, *args] if runner == "chainrule" else \
        [sys.executable, program, *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=folder)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())


@pytest.mark.parametrize("runner,kind", [("chainrule", "gpt"), ("chainrule", "lstm"),
                                         ("torch", "gpt")])   # once under PyTorch: it is PyTorch code
def test_save_the_whole_model_then_load_it_under_safe_globals(tmp_path, kind, runner):
    for name, source in (("model.py", MODEL), ("train.py", TRAIN), ("generate.py", GENERATE)):
        (tmp_path / name).write_text(textwrap.dedent(source))
    trained = _run(tmp_path, "train.py", kind, runner=runner)
    generated = _run(tmp_path, "generate.py", runner=runner)
    assert generated["refused:"] == ("WeightsOnlyError True" if runner == "chainrule" else "UnpicklingError True")
    assert generated["logits"] == trained["logits"]   # the loaded model computes what the saved one did
    assert generated["tied"] == "True"
    assert generated["optimizer"] == "steps 30.0 of 30"
    assert len(eval(generated["sample"])) == 16
