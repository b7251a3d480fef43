"""The CNN and char-RNN examples run end to end: digits_cnn reaches 98% test accuracy, char_rnn's loss falls."""
import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _run(script, *args, timeout=240):
    result = subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_digits_cnn_reaches_98_percent():
    out = _run("digits_cnn.py")
    acc = float(re.search(r"test accuracy: ([0-9.]+)", out).group(1))
    assert acc >= 0.98, out


def test_char_rnn_loss_decreases():
    out = _run("char_rnn.py", "--steps", "25")
    first, last = map(float, re.search(r"loss: first ([0-9.]+) -> last ([0-9.]+)", out).groups())
    assert last < first - 0.5, out
    assert "sample: 'The " in out
