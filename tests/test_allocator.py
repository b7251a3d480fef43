"""chainrule's malloc setting (chainrule/_allocator.py): freed arrays are reused, not faulted in again.

Counted in page faults, not timed: a fresh subprocess repeats what a training step does, ten times: keep five
8 MiB arrays (activations), then drop them all; it reports how many minor page faults that took (the kernel's
count, from getrusage). With glibc's defaults the 40 MiB freed at the top of the heap go back to the kernel
and are faulted in again (2,048 faults per 8 MiB); with chainrule's setting they are reused.
"""
import os
import platform
import subprocess
import sys

import pytest

PROGRAM = """
import resource, sys
import numpy as np
import chainrule
x = chainrule.ones(2 * 2**20)            # 8 MiB of float32
(x * 2).sum()                            # the first use may fault in its pages
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    kept = [x * 2 for _ in range(5)]     # five 8 MiB results, then all dropped
    del kept
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                           reason="the setting is glibc's mallopt")


def page_faults(**env):
    out = subprocess.run([sys.executable, "-c", PROGRAM], env={**os.environ, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return int(out.stdout.split()[-1])


@glibc
def test_freed_arrays_are_reused_without_page_faults():
    kept = page_faults()
    system = page_faults(CHAINRULE_MALLOC="system")
    assert kept < 5 * 2100             # the five arrays' pages faulted in once at most, then reused
    assert system > 2 * 5 * 2048       # faulted in again and again (2,048 pages of 4 KiB per array)


@glibc
def test_the_setting_reports_itself_and_can_be_turned_off(monkeypatch):
    from chainrule._allocator import keep_freed_memory
    assert keep_freed_memory() is True
    monkeypatch.setenv("CHAINRULE_MALLOC", "system")
    assert keep_freed_memory() is False
