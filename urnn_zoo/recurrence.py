r"""The fused whole-sequence recurrence moved to :mod:`urnn_zoo.engine.recurrence`; this old import path is that same module.

The name is bound to the module object itself (not a copy of its names), so code and pickles that import
``urnn_zoo.recurrence`` keep working and a patch of an attribute here patches what the engine uses.
"""
import sys

from urnn_zoo.engine import recurrence as _engine_module

sys.modules[__name__] = _engine_module
