"""The ring all-reduce cost model of benchmarks/scaling.py: its formula, and the fit that recovers α and β."""
import pytest

from benchmarks.scaling import fit_alpha_beta, ring_allreduce_seconds


def test_ring_allreduce_cost_is_latency_steps_plus_twice_the_bytes_through_each_link():
    alpha, beta = 10e-6, 1e-9
    assert ring_allreduce_seconds(2, 1000, alpha, beta) == pytest.approx(2 * alpha + 1000 * beta)
    # p ranks: 2(p-1) steps of n/p bytes each.
    assert ring_allreduce_seconds(8, 8e6, alpha, beta) == pytest.approx(14 * alpha + 14 * 1e6 * beta)


def test_fit_recovers_latency_and_bandwidth_across_six_decades_of_message_size():
    alpha, beta = 7e-6, 1 / 3e9
    sweep = {n: ring_allreduce_seconds(2, n, alpha, beta) * (1.05 if i % 2 else 0.95)
             for i, n in enumerate(8 * 4 ** k for k in range(12))}
    fitted_alpha, fitted_beta = fit_alpha_beta(sweep)
    assert fitted_alpha == pytest.approx(alpha, rel=0.1)
    assert fitted_beta == pytest.approx(beta, rel=0.1)
