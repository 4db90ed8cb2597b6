r"""Parameter counts of every cell, so that a change in a cell's size shows up in the history.

``ParameterCount.track_parameters`` reads ``cell.parameter_count()`` (docs/parameter-counting.md) for input 10 and
each N of the grid, in both conventions: ``stored`` (reals held in parameters, a complex entry counts 2), ``dof``
(free reals of the family's parametrisation), and the same two for the recurrent map alone. Every count is taken
once in ``setup_cache`` (the only place torch is imported, Note [Cost of a case] in :mod:`.common`).
"""
from __future__ import annotations

from . import common
from .common import CELLS, INPUT, SIZES

# The fields of urnn_zoo.ParamCount, written out so that this module imports without torch.
CONVENTIONS = ("stored", "dof", "recurrent_stored", "recurrent_dof")


def counts(name: str) -> dict[int, dict[str, int]]:
    r"""``{N: {convention: count}}`` of the cell ``name`` with the workload's options, for every N of the grid."""
    found = {}
    for n in SIZES:
        try:
            found[n] = common.make_cell(name, INPUT, n).parameter_count()._asdict()
        except NotImplementedError as err:  # a size the family rejects: n/a for that N only
            found[n] = str(err)
    return found


class ParameterCount:
    r"""One count of one cell at one N (cells built on the CPU, the workload's options)."""

    params = [CELLS, SIZES, CONVENTIONS]
    param_names = ["cell", "N", "convention"]
    timeout = 600.0

    def setup_cache(self) -> dict:
        return common.per_cell(counts)

    def setup(self, results: dict, cell: str, n: int, convention: str) -> None:
        self.counts = common.cell_result(results, cell)[n]
        if isinstance(self.counts, str):
            raise NotImplementedError(self.counts)

    def track_parameters(self, results: dict, cell: str, n: int, convention: str) -> int:
        return self.counts[convention]

    track_parameters.unit = "reals"
