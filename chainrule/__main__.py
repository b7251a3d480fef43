"""``python -m chainrule``: the same as the ``chainrule`` command (see ``chainrule.cli``)."""
import sys

from .cli import main

sys.exit(main())
