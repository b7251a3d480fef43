"""W7 gpt: training steps of a small character-level GPT, written the way GPT training scripts are.

The model follows the well-known minimal GPT recipe for a CPU: 4 layers, 4 heads, embedding 128,
context (block) 64, vocabulary 65, batch 12, no dropout and no biases. Token and position embeddings,
pre-LayerNorm blocks, causal self-attention through ``F.scaled_dot_product_attention(is_causal=True)``,
a GELU MLP (4x wide), a final LayerNorm and a language-model head that shares its weight with the token
embedding. A step: ``loss = model(x, y)``, ``loss.backward()``, ``clip_grad_norm_(params, 1.0)``,
``optimizer.step()`` (AdamW, lr 1e-3, betas (0.9, 0.99), weight decay 0.1 on the matrices only: two
parameter groups), ``optimizer.zero_grad(set_to_none=True)``. Each step reads a new batch of random
token ids. Reported per step. There is no hand-written NumPy column: a GPT's backward by hand is a
project of its own.
"""
import math

import numpy as np

from benchmarks.harness import Workload, captured_once, compile_step, observe
from benchmarks.weights import load_weights

N_LAYER, N_HEAD, N_EMBD, BLOCK, VOCAB, BATCH = 4, 4, 128, 64, 65, 12
LR, BETAS, WEIGHT_DECAY, CLIP = 1e-3, (0.9, 0.99), 0.1, 1.0


def gpt_model(lib):
    """The GPT as PyTorch code, for ``lib`` (torch or chainrule)."""
    nn, F = lib.nn, lib.nn.functional

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)   # query, key, value at once
            self.c_proj = nn.Linear(N_EMBD, N_EMBD, bias=False)

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(N_EMBD, dim=2)
            # (B, T, C) -> (B, heads, T, head size)
            q = q.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2)
            k = k.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2)
            v = v.view(B, T, N_HEAD, C // N_HEAD).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.c_proj(y)

    class FeedForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = nn.Linear(N_EMBD, 4 * N_EMBD, bias=False)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * N_EMBD, N_EMBD, bias=False)

        def forward(self, x):
            return self.c_proj(self.gelu(self.c_fc(x)))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(N_EMBD, bias=False)
            self.attn = SelfAttention()
            self.ln_2 = nn.LayerNorm(N_EMBD, bias=False)
            self.mlp = FeedForward()

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(VOCAB, N_EMBD),
                wpe=nn.Embedding(BLOCK, N_EMBD),
                h=nn.ModuleList([Block() for _ in range(N_LAYER)]),
                ln_f=nn.LayerNorm(N_EMBD, bias=False),
            ))
            self.lm_head = nn.Linear(N_EMBD, VOCAB, bias=False)
            self.transformer.wte.weight = self.lm_head.weight   # weight tying

        def forward(self, idx, targets):
            B, T = idx.size()
            pos = lib.arange(0, T, dtype=lib.long)
            x = self.transformer.wte(idx) + self.transformer.wpe(pos)
            for block in self.transformer.h:
                x = block(x)
            logits = self.lm_head(self.transformer.ln_f(x))
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    return GPT()


def initial_weight(name, shape, rng):
    """GPT-2's initialisation: N(0, 0.02), residual projections N(0, 0.02/√(2·layers)), LayerNorm 1."""
    if len(shape) == 1:
        return np.ones(shape)
    std = 0.02 / math.sqrt(2 * N_LAYER) if name.endswith("c_proj.weight") else 0.02
    return rng.normal(0.0, std, shape)


def batches(steps, batch):
    """Random token ids: inputs (batch, block) and the next-token targets, one pair per step."""
    data = np.random.RandomState(7).randint(0, VOCAB, (steps, batch, BLOCK + 1)).astype(np.int64)
    return data[:, :, :-1], data[:, :, 1:]


def optimizer_for(lib, model):
    """AdamW with weight decay on the matrices (and embeddings) only, as the recipe's configure step."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}]
    return lib.optim.AdamW(groups, lr=LR, betas=BETAS)


def train_step(lib, model, optimizer):
    clip = lib.nn.utils.clip_grad_norm_

    def step(x, y):
        loss = model(x, y)
        loss.backward()
        clip(model.parameters(), CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()
    return step


def lib_run(lib, steps, batch):
    xs, ys = batches(steps, batch)
    xs, ys = [lib.tensor(x) for x in xs], [lib.tensor(y) for y in ys]
    model = gpt_model(lib)
    load_weights(lib, model, initial_weight)
    step = train_step(lib, model, optimizer_for(lib, model))

    def run():
        for x, y in zip(xs, ys):
            loss = step(x, y)
        return observe(loss, *model.parameters())

    return run


def compiled_run(lib, steps, batch):
    """The same steps through ``chainrule.compile`` or ``torch.compile``, captured once per worker (see
    ``harness.captured_once``) and traced for this batch shape before the run (three calls: eager, trace,
    first replay); then the weights are put back and AdamW's state zeroed in place (step 0 with zero moments
    is a fresh optimizer's state), so the timed steps are the steady state and give the eager steps' numbers."""
    xs, ys = batches(steps, batch)
    xs, ys = [lib.tensor(x) for x in xs], [lib.tensor(y) for y in ys]

    def capture():
        model = gpt_model(lib)
        optimizer = optimizer_for(lib, model)
        return model, optimizer, compile_step(lib, train_step(lib, model, optimizer))
    model, optimizer, step = captured_once(lib, "gpt", capture)
    for _ in range(3):
        step(xs[0], ys[0])
    load_weights(lib, model, initial_weight)
    with lib.no_grad():
        for state in optimizer.state.values():
            for value in state.values():
                value.zero_()

    def run():
        for x, y in zip(xs, ys):
            loss = step(x, y)
        return observe(loss, *model.parameters())

    return run


WORKLOAD = Workload(
    key="W7", name="gpt", title="GPT 4 layers, 4 heads, 128 embd, block 64, batch 12, AdamW + clip",
    unit="ms/step", unit_scale=1e3,
    config=lambda quick: {"steps": 2 if quick else 5, "batch": BATCH},
    check_config={"steps": 2, "batch": 4},
    units=lambda cfg: cfg["steps"],
    lib_factory=lib_run, numpy_factory=None, compiled_factory=compiled_run,
    needs=("tensor", "arange", "nn.Embedding", "nn.LayerNorm", "nn.GELU", "nn.ModuleDict", "nn.ModuleList",
           "nn.functional.scaled_dot_product_attention", "nn.utils.clip_grad_norm_", "optim.AdamW"),
    rtol=1e-3, atol=1e-4,   # Adam moves a weight with a near-zero gradient by ~±lr
    # whatever its size, so float32 rounding can flip a few such steps: atol is 10% of lr (1e-3)
    memory=True,
    module=__name__,
)
