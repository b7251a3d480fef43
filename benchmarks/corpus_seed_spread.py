"""How far the corpus's final figures move with the random seed, under PyTorch and under chainrule.

tests/test_programs.py compares chainrule's final figure with PyTorch's within a tolerance wherever the two
libraries draw different random numbers. This measures what that tolerance must allow: each program that
draws random numbers is run with several seeds (its seed literals rewritten in a temporary copy, or its
``--seed`` argument) under both libraries, and the spread of its figure is printed next to the tolerance the
test uses.

    .venv/bin/python benchmarks/corpus_seed_spread.py [--seeds 4] [program.py ...]
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from test_programs import CORPUS, PROGRAMS, _run  # noqa: E402

SEEDED_BY_ARGUMENT = {"cnn_digits.py", "vae.py", "model_zoo.py", "lstm_lm.py", "mnist_accel.py"}


def _with_seed(program, seed, workdir):
    """The program's command line with its seeds set to ``seed``."""
    path = os.path.join(PROGRAMS, program)
    if program in SEEDED_BY_ARGUMENT:
        return [path, "--seed", str(seed)]
    with open(path) as f:
        source = f.read()
    # manual_seed(N), random.seed(N): every seed literal in the file becomes `seed`.
    source, count = re.subn(r"((?:manual_seed|random\.seed)\()\d+\)", rf"\g<1>{seed})", source)
    assert count, f"{program}: no seed literal found"
    shutil.copy(os.path.join(PROGRAMS, "names.py"), workdir)   # the word list the programs import
    copy = os.path.join(workdir, program)
    with open(copy, "w") as f:
        f.write(source)
    return [copy]


def _figure(program, seed, with_chainrule, workdir):
    args = _with_seed(program, seed, workdir)
    if program != "lstm_lm.py":
        return float(_run(args, with_chainrule, workdir)[0])
    ckpt = os.path.join(workdir, "model.pt")
    _run(args + ["--save", ckpt], with_chainrule, workdir)
    return float(_run([os.path.join(PROGRAMS, "lstm_generate.py"), "--checkpoint", ckpt], with_chainrule,
                      workdir)[0])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("programs", nargs="*")
    args = parser.parse_args()
    tolerance = dict(CORPUS)
    tolerance["lstm_lm.py"] = ("rel", 0.15)   # the generation script's log-likelihood, as the test compares it
    programs = args.programs or [p for p, how in CORPUS if how[0] != "exact" and how[1] > 1e-3] + ["lstm_lm.py"]
    print("| program | tolerance | PyTorch figures (seeds 1..n) | chainrule figures | spread (max-min, both) |")
    print("|---|---|---|---|---|")
    for program in programs:
        with tempfile.TemporaryDirectory() as workdir:
            figures = {lib: [_figure(program, s, lib, workdir) for s in range(1, args.seeds + 1)]
                       for lib in (False, True)}
        both = figures[False] + figures[True]
        how = tolerance[program]
        print(f"| {program} | {how[0]} {how[1]} | {' '.join(f'{x:.4g}' for x in figures[False])} "
              f"| {' '.join(f'{x:.4g}' for x in figures[True])} | {max(both) - min(both):.4g} "
              f"(PyTorch sd {statistics.stdev(figures[False]):.3g}) |", flush=True)


if __name__ == "__main__":
    main()
