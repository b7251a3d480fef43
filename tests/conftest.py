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
