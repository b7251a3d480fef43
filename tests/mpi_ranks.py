"""Run a program as several MPI ranks for a test (each in a fresh interpreter, as the test process has the real
PyTorch imported as the oracle).

``run_ranks(n, source, tmp_path)`` writes ``source`` to a file and runs it with ``mpiexec -n n python file``;
``run_chainrule(args, tmp_path)`` runs the ``chainrule`` command. Both return the CompletedProcess. Tests that
need MPI skip (saying why) where ``chainrule[distributed]`` is not installed; ``make test`` installs it.
"""
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("mpi4py", reason="the distributed tests need pip install 'chainrule[distributed]'")

from chainrule.tools.launch import find_mpiexec  # noqa: E402


def _env():
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"   # ranks share the machine's cores
    return env


def write(tmp_path, source, name="prog.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def run_ranks(n, source, tmp_path, *args, timeout=240, name="prog.py"):
    path = write(tmp_path, source, name)
    return subprocess.run([find_mpiexec(), "-n", str(n), sys.executable, str(path), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tmp_path, env=_env())


def run_chainrule(args, tmp_path, timeout=240, env=None):
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path, env=env or dict(os.environ))


def check(result):
    """The job succeeded; its output, for further checks."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout
