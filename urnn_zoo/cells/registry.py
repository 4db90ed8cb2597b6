r"""The cell registry by name: :func:`cell_names`, :func:`cell_class`, :func:`cell_options` and :func:`make_cell`
(docs/cell-contract.md). A :class:`~urnn_zoo.cells.contract.RecurrentCell` subclass with a ``name`` registers
itself when its module is imported; importing :mod:`urnn_zoo.cells` imports every family, and the first use
of the registry also loads the cells of installed packages (entry point group ``urnn_zoo.cells``; Note
[Plug-ins] of :mod:`urnn_zoo.plugins`, docs/own-cell.md).
"""
from __future__ import annotations

from typing import Any

import torch

from urnn_zoo.cells.contract import _REGISTRY, RecurrentCell, _keyword_options, _reject_unknown
from urnn_zoo.cells.precision import PRECISIONS

__all__ = ["cell_names", "cell_class", "cell_options", "make_cell"]


def cell_names() -> tuple[str, ...]:
    r"""Sorted names of every registered cell: the zoo's families, the cells of installed packages (entry points
    ``urnn_zoo.cells``) and those of modules imported with ``--import``.

    Raises:
        urnn_zoo.plugins.PluginError: an installed plug-in cannot be loaded (the message names it).

    Example:
        >>> "kru" in cell_names()
        True
    """
    _load_families()
    return tuple(sorted(_REGISTRY))


def cell_class(name: str) -> type[RecurrentCell]:
    r"""The class registered under ``name``; an unknown name raises ``ValueError`` listing the names."""
    _load_families()
    if name not in _REGISTRY:
        raise ValueError(f"unknown cell {name!r}; expected one of {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def cell_options(name: str) -> dict[str, Any]:
    r"""The options a cell accepts beyond ``input_size``/``hidden_size``/``dtype``, with their defaults."""
    return _keyword_options(cell_class(name))


def make_cell(
    name: str,
    input_size: int,
    hidden_size: int,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    **options: Any,
) -> RecurrentCell:
    r"""Build a registered cell.

    Args:
        name: a name from :func:`cell_names`.
        input_size: n_in.
        hidden_size: N.
        dtype: real precision (float32 or float64); complex parts follow. Default: torch's default dtype.
        device: where the parameters live.
        **options: the family's options (see :func:`cell_options`).

    Returns:
        The cell.

    Raises:
        ValueError: an unknown name or option, a precision other than float32/float64, or an option the family
            rejects; :class:`InadmissibleSizeError` (a ``ValueError``) for a size it rejects
            (:meth:`RecurrentCell.check_size`), before anything is built.

    Example:
        >>> cell = make_cell("kru", input_size=10, hidden_size=64)
        >>> out, h = cell(torch.randn(5, 2, 10))
        >>> out.shape
        torch.Size([5, 2, 128])
    """
    cls = cell_class(name)
    _reject_unknown(cls, cell_options(name), options)
    dtype = dtype or torch.get_default_dtype()
    if dtype not in PRECISIONS:
        raise ValueError(f"dtype must be torch.float32 or torch.float64 (the real precision), got {dtype}")
    return cls(input_size, hidden_size, dtype=dtype, device=device, **options)


def _load_families() -> None:
    # Importing the package imports every family module, which registers it; then the installed plug-ins (once
    # per process), after the families, so that a plug-in taking a family's name is the one refused.
    import urnn_zoo.cells  # noqa: F401
    from urnn_zoo.plugins import load_entry_points

    load_entry_points("cells", _REGISTRY, RecurrentCell)
