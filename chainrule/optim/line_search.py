"""The strong-Wolfe line search that ``LBFGS(line_search_fn="strong_wolfe")`` uses.

Along a descent direction ``d`` from ``x`` it looks for a step ``t`` with sufficient decrease
(``f(x + t d) <= f(x) + c1 t g·d``) and a small enough slope (``|g(x + t d)·d| <= c2 |g·d|``): first it
grows the step until an interval must hold such a point (the bracketing phase), then it narrows that
interval by cubic interpolation of the two ends' values and slopes (the zoom phase). This is the
procedure of Nocedal & Wright, "Numerical Optimization", algorithms 3.5 and 3.6, with the step choices
PyTorch makes (so that its LBFGS runs take the same steps).
"""
import math


def cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser, kept inside ``bounds``, of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2;
    the middle of the bounds if that cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if x1 <= x2:
        t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(t, lo), hi)


class _End:
    """One end of the bracketing interval: step, loss, flat gradient and slope along d."""

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Search along ``d``: ``evaluate(t)`` gives (loss, flat gradient) at x + t d; ``f``, ``g``, ``gtd`` are the
    loss, gradient and slope at x. Returns (loss, gradient, step, evaluations) at the step chosen."""
    d_norm = float(d.abs().max())
    g = g.clone()
    f_new, g_new = evaluate(t)
    evaluations = 1
    gtd_new = float(g_new.dot(d))
    prev = _End(0.0, f, g, gtd)
    done = False
    ls_iter = 0
    bracket = None
    # Bracketing: grow the step until [prev, t] must contain an acceptable point (or t itself is one).
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= prev.f):
            bracket = [prev, _End(t, f_new, g_new.clone(), gtd_new)]
            break
        if abs(gtd_new) <= -c2 * gtd:   # t satisfies both conditions
            bracket = [_End(t, f_new, g_new, gtd_new)]
            done = True
            break
        if gtd_new >= 0:   # the slope turned: a minimum lies between the last two steps
            bracket = [prev, _End(t, f_new, g_new.clone(), gtd_new)]
            break
        grown = cubic_minimizer(prev.t, prev.f, prev.gtd, t, f_new, gtd_new,
                                bounds=(t + 0.01 * (t - prev.t), t * 10))
        prev = _End(t, f_new, g_new.clone(), gtd_new)
        t = grown
        f_new, g_new = evaluate(t)
        evaluations += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = [_End(0.0, f, g, gtd), _End(t, f_new, g_new, gtd_new)]

    # Zoom: shrink the bracket around a point that satisfies both conditions.
    insufficient_progress = False
    low, high = (0, 1) if bracket[0].f <= bracket[-1].f else (1, 0)
    while not done and ls_iter < max_ls:
        a, b = bracket
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        t = cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        top, bottom = max(a.t, b.t), min(a.t, b.t)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:   # too close to an end: move away from it, or note the slow progress
            if insufficient_progress or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evaluations += 1
        gtd_new = float(g_new.dot(d))
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket[low].f:
            bracket[high] = _End(t, f_new, g_new.clone(), gtd_new)
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high].t - bracket[low].t) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = _End(t, f_new, g_new.clone(), gtd_new)
    best = bracket[low]
    return best.f, best.g, best.t, evaluations
