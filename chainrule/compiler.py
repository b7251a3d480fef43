"""``chainrule.compiler.is_compiling()``: True while ``chainrule.compile`` traces a step.

Checks that read tensor values only to raise an error (target bounds, say) skip themselves while a
step is traced, so that they do not make the step uncapturable.
"""


import sys


def is_compiling():
    # chainrule.compile names both the module and the function; the module is the one in sys.modules.
    # A trace that was refused goes on as a plain eager step: its checks run.
    capture = sys.modules.get("chainrule.compile")
    return capture is not None and capture._tracer.refused is None
