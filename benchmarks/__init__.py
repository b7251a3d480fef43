"""chainrule's benchmark suite: the same workloads on chainrule, PyTorch (CPU, eager) and hand-written NumPy.

Run it with ``python -m benchmarks.run`` (see benchmarks/README.md). Each ``wN_*.py`` file holds one
workload, written once against the library module ``lib`` (``torch`` or ``chainrule``) plus a NumPy
version with a hand-derived backward pass; ``harness.py`` times them and ``run.py`` writes RESULTS.md.
"""
