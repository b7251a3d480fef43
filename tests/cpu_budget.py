"""Run a subprocess under a budget of CPU seconds (the work it does), not of wall-clock seconds.

On a shared machine (here: 2 cores, a load of 10-17 while several people run tests) a script that needs 50 s
of CPU can take 4 minutes of wall time, so a wall-clock timeout sized to the work fails under load, and one
sized to the load says nothing about the work. The CPU limit (RLIMIT_CPU, counted over all the child's
threads) is what stops a script that computes too long; the wall-clock limit stays only as a guard against a
child that hangs without computing (a deadlock), and is therefore generous.
"""
import resource
import signal
import subprocess


def run(cmd, cpu_seconds, wall_seconds=1800, **kwargs):
    """``subprocess.run(cmd, capture_output=True, text=True, **kwargs)``, the child killed once it has used
    ``cpu_seconds`` of CPU time (an AssertionError says so); ``result.cpu_seconds`` is the CPU time it used."""
    def limit_cpu():
        # The soft limit sends SIGXCPU (which ends the process); the hard limit, a little later, SIGKILL.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))

    before = _children_cpu()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=wall_seconds, preexec_fn=limit_cpu,
                            **kwargs)
    result.cpu_seconds = _children_cpu() - before
    if result.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise AssertionError(f"{cmd} was killed ({signal.Signals(-result.returncode).name}) after "
                             f"{result.cpu_seconds:.0f} CPU seconds (its budget: {cpu_seconds}):\n"
                             f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
