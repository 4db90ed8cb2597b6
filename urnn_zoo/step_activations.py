r"""The fused recurrence's step activations moved to :mod:`urnn_zoo.engine.step_activations`; this old import path is that same module.

The name is bound to the module object itself (not a copy of its names), so code and pickles that import
``urnn_zoo.step_activations`` keep working and a patch of an attribute here patches what the engine uses.
"""
import sys

from urnn_zoo.engine import step_activations as _engine_module

sys.modules[__name__] = _engine_module
