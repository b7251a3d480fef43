"""The examples run as scripts and do what they claim: digits reaches >= 97% test accuracy, XOR is learned."""
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script), *args], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_digits_reaches_97_percent():
    pytest.importorskip("sklearn")
    out = run("digits.py")
    match = re.search(r"test accuracy: ([0-9.]+)", out)
    assert match, out
    assert float(match.group(1)) >= 0.97, out


def test_xor_predictions_are_correct():
    out = run("xor.py")
    rows = re.findall(r"Input: \[(\d), (\d)\] -> Predicted: ([0-9.]+), Actual: (\d)", out)
    assert len(rows) == 4, out
    for a, b, predicted, actual in rows:
        assert int(actual) == (int(a) ^ int(b))
        assert (float(predicted) > 0.5) == bool(int(actual)), out
