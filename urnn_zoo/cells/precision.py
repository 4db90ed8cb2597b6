r"""The precision of a cell's tensors: complex and real dtypes of one precision, the precisions a cell may have,
and the conversion that keeps complex tensors complex (Note [Precision conversion of complex cells]).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

__all__ = ["complex_dtype_of", "real_dtype_of", "PRECISIONS"]


def complex_dtype_of(dtype: torch.dtype) -> torch.dtype:
    r"""The complex dtype whose parts have real dtype ``dtype`` (float32 -> complex64)."""
    return {torch.float32: torch.complex64, torch.float64: torch.complex128}.get(dtype, dtype)


def real_dtype_of(dtype: torch.dtype) -> torch.dtype:
    r"""The real dtype of the parts of ``dtype`` (complex128 -> float64; real dtypes map to themselves)."""
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


PRECISIONS = (torch.float32, torch.float64)


# Note [Precision conversion of complex cells]
# torch's Module.double() and .float() convert floating-point tensors only (complex ones keep their precision)
# and Module.to(dtype) casts complex tensors to the real dtype, dropping their imaginary parts: a complex cell
# came out with complex64 factors beside float64 biases, or lost half its numbers. Every conversion
# (.double, .float, .to, .type, .cuda, .cpu, .to_empty, .share_memory) goes through Module._apply(fn), so
# RecurrentCell and ComplexInput wrap fn: a complex tensor is converted through its real (…, 2) view and viewed
# as complex again, so it follows its parts (float64 <-> complex128) under its own name; a conversion to a
# complex dtype (.to(torch.complex128)) sets the precision of the parts and leaves real tensors real; integer
# buffers (permutations, counters) keep their dtype under .type(). torch then replaces each Parameter's
# `.data` (or swaps it, under torch.__future__'s swap mode), so optimizers and parametrizations keep their
# references, and state_dicts keep their names. A precision other than float32/float64 is rejected before any
# tensor is converted.
def _keep_complex(fn: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    r"""``fn`` of Module._apply, with complex and integer tensors converted as Note [Precision conversion of
    complex cells] says."""

    def convert(t: Tensor) -> Tensor:
        if t.is_complex():
            parts = fn(torch.view_as_real(t.resolve_conj()))
            if parts.is_complex():  # a conversion to a complex dtype: the complex tensor goes to it directly
                return t.to(device=parts.device, dtype=parts.dtype)
            # the layout is kept (a transposed factor stays transposed: its products round as before)
            viewable = parts.stride(-1) == 1 and parts.storage_offset() % 2 == 0 and all(
                stride % 2 == 0 for stride in parts.stride()[:-1])
            return torch.view_as_complex(parts if viewable else parts.contiguous())
        out = fn(t)
        if t.is_floating_point() and out.is_complex():
            return t.to(device=out.device, dtype=real_dtype_of(out.dtype))
        if not t.is_floating_point() and out.dtype != t.dtype:
            return t.to(device=out.device)
        return out

    return convert
