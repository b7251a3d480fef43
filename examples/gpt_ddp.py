"""A small GPT learns characters, with the usual DistributedDataParallel scaffolding.

A plain PyTorch program: the same file runs on one process or on many, and on chainrule or on PyTorch.

    chainrule run examples/gpt_ddp.py                  # one process
    chainrule run -n 2 examples/gpt_ddp.py             # two ranks (DDP over MPI), as torchrun would start them
    torchrun --nproc_per_node 2 examples/gpt_ddp.py    # the same program on PyTorch

With the global batch fixed (``--batch-size``, split evenly over the ranks), every rank reads its share of
each batch through ``DistributedSampler`` and DDP averages the gradients, so N ranks take the same steps
as one process does (up to rounding): ``--save`` writes the final weights to compare.
"""
import argparse
import contextlib
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, DistributedSampler

HERE = os.path.dirname(os.path.abspath(__file__))


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd)
        self.proj = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_embd, n_head):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight   # weight tying: one parameter, two uses
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, mean=0.0, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class CharWindows(Dataset):
    """Every window of ``block_size`` characters, with the next character as each position's target."""

    def __init__(self, text, block_size):
        chars = sorted(set(text))
        self.vocab_size = len(chars)
        self.ids = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
        self.block_size = block_size

    def __len__(self):
        return len(self.ids) - self.block_size

    def __getitem__(self, i):
        chunk = self.ids[i:i + self.block_size + 1]
        return chunk[:-1], chunk[1:]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16, help="the global batch, split over the ranks")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step (DDP's no_sync in between)")
    p.add_argument("--block-size", type=int, default=16)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-embd", type=int, default=32)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save", help="write the final weights (rank 0) to this file")
    return p.parse_args()


def main():
    args = parse_args()
    ddp = int(os.environ.get("RANK", -1)) != -1   # started by torchrun / chainrule run -n
    if ddp:
        dist.init_process_group(backend="gloo")
        rank, world_size = dist.get_rank(), dist.get_world_size()
    else:
        rank, world_size = 0, 1
    master = rank == 0
    if args.batch_size % (world_size * args.grad_accum):
        raise SystemExit(f"--batch-size {args.batch_size} must divide into {world_size} ranks x "
                         f"{args.grad_accum} micro-batches")
    micro_batch = args.batch_size // (world_size * args.grad_accum)
    torch.set_default_dtype(getattr(torch, args.dtype))

    with open(os.path.join(HERE, "data", "tiny_text.txt"), encoding="utf-8") as f:
        data = CharWindows(f.read(), args.block_size)
    torch.manual_seed(args.seed)
    model = GPT(data.vocab_size, args.block_size, args.n_layer, args.n_embd, args.n_head)
    if ddp:
        model = DDP(model)
    raw_model = model.module if ddp else model

    # The same shuffle on every rank (seed + epoch); each rank takes every world_size-th sample of it.
    sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed,
                                 drop_last=True)
    loader = DataLoader(data, batch_size=micro_batch, sampler=sampler, drop_last=True)
    decay = [p for p in raw_model.parameters() if p.dim() >= 2]
    no_decay = [p for p in raw_model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    warmup = max(1, args.steps // 10)

    def lr_factor(step):   # linear warm-up, then cosine decay to zero
        return min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, args.steps) / args.steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)

    def batches():
        epoch = 0
        while True:
            sampler.set_epoch(epoch)
            yield from loader
            epoch += 1

    stream = batches()
    start = time.perf_counter()
    for step in range(args.steps):
        total = torch.zeros(())
        for micro in range(args.grad_accum):
            x, y = next(stream)
            # Only the last micro-batch's backward averages gradients across ranks.
            sync = not ddp or micro == args.grad_accum - 1
            with contextlib.nullcontext() if sync else model.no_sync():
                logits = model(x)
                loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1)) / args.grad_accum
                loss.backward()
            total += loss.detach()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ddp:
            dist.all_reduce(total, op=dist.ReduceOp.AVG)
        if master and (step % args.log_every == 0 or step == args.steps - 1):
            print(f"step {step:4d} | loss {total.item():.4f} | lr {scheduler.get_last_lr()[0]:.2e}")
    if master:
        seconds = time.perf_counter() - start
        tokens = args.steps * args.batch_size * args.block_size
        print(f"{world_size} rank(s): {args.steps} steps in {seconds:.2f} s, {tokens / seconds:.0f} tokens/s")
        if args.save:
            torch.save(raw_model.state_dict(), args.save)
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
