"""Shared test setup: the oracle helper importable as ``oracle``, and modest hypothesis settings."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

try:
    from hypothesis import settings
except ImportError:  # hypothesis is only needed by test_properties.py
    pass
else:
    settings.register_profile("chainrule", max_examples=25, deadline=None)
    settings.load_profile("chainrule")

# Every chainrule.compile in the tests rechecks each replay against eager mode (a disagreement is a refusal,
# which the compile tests assert against); tests of the guards themselves pass check_every=0.
os.environ.setdefault("CHAINRULE_COMPILE_CHECK_EVERY", "1")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real browser (skipped without chromium and chromedriver)")


def pytest_terminal_summary(terminalreporter):
    """Whether the browser tests ran; the compile fuzz's capture rate: how many random steps were captured and
    replayed, how many refused."""
    _browser_summary(terminalreporter)
    _mutation_summary(terminalreporter)
    fuzz = sys.modules.get("test_compile_fuzz")
    results = getattr(fuzz, "RESULTS", None)
    if not results:
        return
    for kind in sorted({r[0] for r in results}):
        rows = [r for r in results if r[0] == kind]
        captured = sum(1 for r in rows if r[1])
        refused = sum(1 for r in rows if r[2])
        terminalreporter.write_line(f"compile fuzz ({kind} steps): {captured} of {len(rows)} cases captured and "
                                    f"replayed; {refused} also reached a state capture must refuse, and refused it")


def _mutation_summary(terminalreporter):
    stats = getattr(sys.modules.get("test_compile_guards"), "MUTATION_STATS", None)
    if not stats:
        return
    refused = [s for s in stats if s[4]]
    kept = [s for s in stats if not s[4]]
    terminalreporter.write_line(
        f"compile mutation fuzz: {len(stats)} cases, {sum(s[1] for s in stats)} mutations between calls, compiled and "
        f"eager equal after every call; {len(kept)} cases captured ({sum(s[2] for s in kept)} traces, "
        f"{sum(s[3] for s in kept)} replays), {len(refused)} with a Python side effect in the step refused")


def _browser_summary(terminalreporter):
    """Say loudly when the browser tests did not run, so a green run without a browser is not mistaken."""
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in getattr(r, "keywords", {})]
    if skipped:
        reason = skipped[0].longrepr[2] if isinstance(skipped[0].longrepr, tuple) else str(skipped[0].longrepr)
        reason = reason.removeprefix("Skipped: ").removeprefix("browser tests skipped: ")
        terminalreporter.write_sep("!", f"{len(skipped)} BROWSER TESTS SKIPPED: {reason}", red=True, bold=True)
