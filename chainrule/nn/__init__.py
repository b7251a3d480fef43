"""``chainrule.nn``: layers, losses and the functional API."""
from . import functional
