"""``chainrule.compiler.is_compiling()``: True while ``chainrule.compile`` traces a step.

Checks that read tensor values only to raise an error (target bounds, say) skip themselves while a
step is traced, so that they do not make the step uncapturable.
"""


def is_compiling():
    from . import compile as _compile_fn  # noqa: F401  (make sure the module is loaded)
    import sys
    return sys.modules["chainrule.compile"]._tracer is not None
