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
import shutil
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
    ("makemore_mlp.py", ("rel", 0.1)),
    ("regression.py", ("abs", 0.05)),
    ("time_sequence.py", ("abs", 2e-3)),
    ("mnist_accel.py", ("abs", 0.08)),
]
WORD_LM_TOLERANCE = {"LSTM": (("rel", 0.2), ("abs", 0.3)), "Transformer": (("rel", 0.2), ("abs", 0.3))}
NANOGPT_TOLERANCE = (("rel", 0.05), ("rel", 0.1))


def _run(args, with_chainrule, cwd):
    """Run ``python args...`` (or ``chainrule run args...``) in ``cwd``; its last ``final:`` figure, seconds."""
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


def test_word_language_model_trains_saves_the_whole_model_and_generates_from_it(tmp_path):
    """word_lm/: data.py + model.py + main.py (an LSTM and an ``nn.Transformer`` subclass, saved whole with
    ``torch.save(model, f)`` and reloaded) + generate.py (loads the whole model and samples from it)."""
    folder = os.path.join(PROGRAMS, "word_lm")
    for model, extra in (("LSTM", []), ("Transformer", ["--lr", "2"])):
        figures = {}
        for with_chainrule in (True, False):
            saved = str(tmp_path / f"{model}_{with_chainrule}.pt")
            trained, _ = _run([os.path.join(folder, "main.py"), "--model", model, "--epochs", "6", *extra,
                               "--save", saved], with_chainrule, tmp_path)
            sampled, _ = _run([os.path.join(folder, "generate.py"), "--checkpoint", saved,
                               "--outf", str(tmp_path / "generated.txt")], with_chainrule, tmp_path)
            figures[with_chainrule] = (trained, sampled)
        print(f"word_lm {model}: PyTorch {figures[False]}, chainrule {figures[True]}")
        _compare(figures[True][0], figures[False][0], WORD_LM_TOLERANCE[model][0], f"word_lm {model} test loss")
        _compare(figures[True][1], figures[False][1], WORD_LM_TOLERANCE[model][1],
                 f"word_lm {model} share of grammatical word pairs in generated text")


def test_gpt_model_file_trains_from_memmapped_data_and_samples_from_its_checkpoint(tmp_path):
    """nanogpt/: prepare.py writes uint16 train.bin / val.bin; train.py (configurator globals, np.memmap
    batches, fused-AdamW detection, GradScaler(enabled=False), DDP scaffolding) saves a checkpoint that
    sample.py loads to generate with top-k and to score a fixed text."""
    folder = tmp_path / "nanogpt"
    shutil.copytree(os.path.join(PROGRAMS, "nanogpt"), folder)
    shutil.copy(os.path.join(PROGRAMS, "names.py"), tmp_path)
    subprocess.run([sys.executable, "prepare.py"], cwd=folder, check=True, capture_output=True)
    figures = {}
    for with_chainrule in (True, False):
        out_dir = f"--out_dir=out_{with_chainrule}"
        trained, _ = _run(["train.py", out_dir], with_chainrule, folder)
        scored, _ = _run(["sample.py", out_dir], with_chainrule, folder)
        figures[with_chainrule] = (trained, scored)
    print(f"nanogpt: PyTorch {figures[False]}, chainrule {figures[True]}")
    _compare(figures[True][0], figures[False][0], NANOGPT_TOLERANCE[0], "nanogpt/train.py validation loss")
    _compare(figures[True][1], figures[False][1], NANOGPT_TOLERANCE[1], "nanogpt/sample.py loss of a fixed text")


@pytest.mark.parametrize("model", ["word_lm-LSTM", "word_lm-GRU", "word_lm-Transformer", "nanogpt"])
def test_program_models_train_like_pytorch_step_by_step_from_the_same_weights(model, tmp_path):
    """What the corpus comparison leaves to a tolerance (a different random start) pinned down: the
    programs' own model files, given PyTorch's initial weights and dropout off, must give PyTorch's loss at
    every step of their training loop (float32 rounding apart: 1e-5 relative)."""
    driver = os.path.join(os.path.dirname(__file__), "same_weights_driver.py")
    weights = str(tmp_path / "weights.npz")
    steps = {}
    for with_chainrule in (False, True):   # PyTorch first: it writes the weights chainrule starts from
        cmd = [sys.executable, *(["-m", "chainrule", "run"] if with_chainrule else []), driver, model, weights]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                             env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert out.returncode == 0, out.stderr[-3000:]
        steps[with_chainrule] = [float(v) for v in re.search(r"^losses: (.*)$", out.stdout, re.M)[1].split()]
    assert len(steps[True]) == len(steps[False]) == 8
    assert steps[True] == pytest.approx(steps[False], rel=1e-5), f"PyTorch {steps[False]}, chainrule {steps[True]}"
