"""
Sample from the GPT that train.py saved to out_dir/ckpt.pt.
"""
import os
import pickle
from contextlib import nullcontext

import torch

from model import GPT, GPTConfig

init_from = 'resume'
out_dir = 'out'
start = "\n"
num_samples = 3
max_new_tokens = 40
temperature = 0.8
top_k = 10
seed = 1337
device = 'cpu'
dtype = 'bfloat16' if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else 'float16'
compile = False
exec(open('configurator.py').read())

torch.manual_seed(seed)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
device_type = 'cuda' if 'cuda' in device else 'cpu'
ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[dtype]
ctx = nullcontext() if device_type == 'cpu' else torch.amp.autocast(device_type=device_type, dtype=ptdtype)

ckpt_path = os.path.join(out_dir, 'ckpt.pt')
checkpoint = torch.load(ckpt_path, map_location=device)
gptconf = GPTConfig(**checkpoint['model_args'])
model = GPT(gptconf)
state_dict = checkpoint['model']
unwanted_prefix = '_orig_mod.'
for k, v in list(state_dict.items()):
    if k.startswith(unwanted_prefix):
        state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
model.load_state_dict(state_dict)
model.eval()
model.to(device)
if compile:
    model = torch.compile(model)

with open('meta.pkl', 'rb') as f:
    meta = pickle.load(f)
stoi, itos = meta['stoi'], meta['itos']


def encode(s):
    return [stoi[c] for c in s]


def decode(ids):
    return ''.join([itos[i] for i in ids])


start_ids = encode(start)
x = (torch.tensor(start_ids, dtype=torch.long, device=device)[None, ...])

names = []
with torch.no_grad():
    with ctx:
        for k in range(num_samples):
            y = model.generate(x, max_new_tokens, temperature=temperature, top_k=top_k)
            text = decode(y[0].tolist())
            print(text)
            print('---------------')
            names += text.split()
# The figure: the mean log-likelihood per character of a fixed text under the loaded model.
text = "\nemma\nliam\nnoah\n"
ids = torch.tensor(encode(text), dtype=torch.long)[None, ...]
with torch.no_grad():
    logits, loss = model(ids[:, :-1], ids[:, 1:])
print(f"sampled {len(names)} names")
print(f"final: {loss.item():.6f}")
