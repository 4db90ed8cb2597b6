r"""The cell contract and the parts the families share, under the one import path they have always had.

The definitions live in one module per concept: :mod:`urnn_zoo.cells.contract` (:class:`RecurrentCell`,
:class:`ParamCount`, :class:`InadmissibleSizeError`), :mod:`urnn_zoo.cells.registry` (:func:`make_cell`,
:func:`cell_names`, :func:`cell_options`), :mod:`urnn_zoo.cells.precision` (dtypes and precision conversion),
:mod:`urnn_zoo.cells.shared` (:class:`ComplexInput`, :class:`DenseStepCell`, :func:`skew_init`,
:func:`frobenius_unitarity_error`) and :mod:`urnn_zoo.cells.sequence` (:class:`SequenceModel`). This module
re-exports every name it defined before the split, so ``from urnn_zoo.cells.base import ...`` keeps working.
"""
from __future__ import annotations

import inspect  # noqa: F401  (kept: a name of this module before the split)
import math  # noqa: F401
from typing import Any, Callable, ClassVar, NamedTuple  # noqa: F401

import torch  # noqa: F401
from torch import Tensor, nn  # noqa: F401
from torch.nn.utils import parametrize  # noqa: F401

from urnn_zoo.activations import ModReLU  # noqa: F401
from urnn_zoo.arguments import boolean, check  # noqa: F401
from urnn_zoo.cells.contract import (  # noqa: F401
    _REGISTRY,
    CONSTRAINTS,
    InadmissibleSizeError,
    ParamCount,
    RecurrentCell,
    _fused_activation,
    _keyword_options,
    _positive_int,
    _reject_unknown,
    stored_reals,
)
from urnn_zoo.cells.precision import PRECISIONS, _keep_complex, complex_dtype_of, real_dtype_of  # noqa: F401
from urnn_zoo.cells.registry import _load_families, cell_class, cell_names, cell_options, make_cell  # noqa: F401
from urnn_zoo.cells.sequence import SequenceModel
from urnn_zoo.cells.shared import (SKEW_INITS, ComplexInput, DenseStepCell, frobenius_unitarity_error,  # noqa: F401
                                   skew_init, skew_of)
from urnn_zoo.engine.recurrence import DenseMap, LinearMap, fused_recurrence  # noqa: F401

__all__ = [
    "InadmissibleSizeError",
    "ParamCount",
    "RecurrentCell",
    "DenseStepCell",
    "SequenceModel",
    "cell_names",
    "make_cell",
    "complex_dtype_of",
    "real_dtype_of",
    "stored_reals",
    "frobenius_unitarity_error",
    "ComplexInput",
    "PRECISIONS",
]
