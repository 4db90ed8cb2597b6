r"""An example of a cell of one's own for urnn_zoo: :class:`~urnn_zoo_example_cell.givens.GivensRNN`, registered
as ``givens`` through the entry point group ``urnn_zoo.cells`` (pyproject.toml)."""
from .givens import GivensRNN

__all__ = ["GivensRNN"]
