"""The differential fuzzer's fixed budget inside ``make test``: random programs (tests/differential.py)
run in PyTorch and chainrule must agree on values, NaN positions, dtypes, gradients and errors.

A fixed seed (``derandomize``), so the same programs run every time and a failure reproduces; hypothesis
shrinks a failing program to a small one. ``make fuzz`` runs thousands (tests/fuzz_report.py).
"""
from hypothesis import HealthCheck, given, settings

import differential


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(differential.programs())
def test_random_programs_agree_with_torch(program):
    unexplained = [m for m in differential.run(program) if m.known is None]
    assert not unexplained, program.describe() + "\n" + "\n".join(
        f"{m.kind} at {m.where}: {m.detail}" for m in unexplained)


def test_the_fuzzer_sees_a_difference():
    """The comparison itself works: a program whose two runs differ is reported, by kind."""
    program = differential.Program([differential.Input((3,), "float64", 0, 0.0)], [("exp", [0], [0, 0, 0, 0])],
                                   [1])
    original = differential.OPS_BY_NAME["exp"].fn
    differential.OPS_BY_NAME["exp"].fn = lambda lib, xs, p: xs[0].exp() * (1.5 if lib.__name__ == "chainrule" else 1)
    try:
        found = differential.run(program)
    finally:
        differential.OPS_BY_NAME["exp"].fn = original
    assert [m.kind for m in found] == ["forward value"]
