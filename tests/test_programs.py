"""The program corpus (``tests/programs``): each file says ``import torch`` and runs unchanged, once with
PyTorch and once through ``chainrule run``; the final figure each prints (``final: X``) is compared.

Where nothing random is involved the figures must agree exactly (to the printed digits). Elsewhere the two
libraries draw different random numbers from the same seed (chainrule's streams are NumPy's), so weights
start elsewhere and batches differ: the figures must then agree within a tolerance stated per program, sized
from the spread of the figure over PyTorch seeds — wide enough for a different random draw, far too narrow
for a broken layer or optimizer (which leaves the loss near its untrained value).
"""
import os
import re
import subprocess
import sys
import time

import pytest

PROGRAMS = os.path.join(os.path.dirname(__file__), "programs")

# program (with arguments), how to compare: ("exact",) or ("rel", r) or ("abs", a)
CORPUS = [
    ("bigram_counts.py", ("exact",)),                 # counting: no randomness in the figure
    ("manual_backprop.py", ("exact",)),               # how many hand-derived gradients agree with autograd
    ("lbfgs_fit.py", ("rel", 1e-6)),                  # deterministic data and start; float64
    ("bigram_nn.py", ("rel", 0.02)),                  # random start; 150 steps nearly reach the optimum
    ("mlp_batchnorm.py", ("rel", 0.05)),
    ("wavenet.py", ("rel", 0.06)),
    ("gpt_train.py", ("rel", 0.06)),
    ("cnn_digits.py", ("abs", 0.08)),                  # test accuracy after 3 epochs
    ("vae.py", ("rel", 0.08)),
    ("seq2seq_attention.py", ("abs", 0.1)),           # accuracy of reversing the training strings
    ("gan.py", ("abs", 0.6)),                         # mean of the generated samples (the target is 3.0)
    ("model_zoo.py", ("rel", 0.08)),
]


def _run(args, with_chainrule, cwd):
    cmd = [sys.executable, "-m", "chainrule", "run", *args] if with_chainrule else [sys.executable, *args]
    # One thread for both: PyTorch's thread pool on a small shared machine only slows it down.
    env = dict(os.environ, PYTHONHASHSEED="0", OMP_NUM_THREADS="1")
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=cwd, env=env)
    seconds = time.perf_counter() - start
    assert out.returncode == 0, f"{'chainrule' if with_chainrule else 'torch'} {args}: {out.stderr[-3000:]}"
    finals = re.findall(r"^final: (\S+)$", out.stdout, re.M)
    assert finals, f"{args} printed no final figure:\n{out.stdout[-2000:]}"
    return finals[-1], seconds


def _compare(ours, theirs, how, what):
    if how[0] == "exact":
        assert ours == theirs, f"{what}: chainrule {ours}, PyTorch {theirs}"
        return
    a, b = float(ours), float(theirs)
    limit = how[1] * abs(b) if how[0] == "rel" else how[1]
    assert abs(a - b) <= limit, f"{what}: chainrule {a}, PyTorch {b}, allowed difference {limit}"


@pytest.mark.parametrize("program,how", CORPUS, ids=[p for p, _ in CORPUS])
def test_program_runs_unchanged_and_matches_pytorch(program, how, tmp_path):
    ours, t_ours = _run([os.path.join(PROGRAMS, program)], True, tmp_path)
    theirs, t_theirs = _run([os.path.join(PROGRAMS, program)], False, tmp_path)
    print(f"{program}: PyTorch {theirs} ({t_theirs:.1f} s), chainrule {ours} ({t_ours:.1f} s)")
    _compare(ours, theirs, how, program)


def test_lstm_language_model_saves_a_checkpoint_that_the_generation_script_loads(tmp_path):
    figures = {}
    for with_chainrule in (True, False):
        ckpt = str(tmp_path / f"model_{with_chainrule}.pt")
        trained, _ = _run([os.path.join(PROGRAMS, "lstm_lm.py"), "--save", ckpt], with_chainrule, tmp_path)
        scored, _ = _run([os.path.join(PROGRAMS, "lstm_generate.py"), "--checkpoint", ckpt], with_chainrule,
                         tmp_path)
        figures[with_chainrule] = (trained, scored)
    _compare(figures[True][0], figures[False][0], ("rel", 0.05), "lstm_lm.py validation loss")
    _compare(figures[True][1], figures[False][1], ("rel", 0.15), "lstm_generate.py sentence log-likelihood")
