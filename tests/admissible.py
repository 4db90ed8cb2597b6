"""Hypothesis strategies of the sizes a cell family admits, built from the rule the family declares
(``RecurrentCell.check_size``): no test hand-codes a family's size rule."""
from hypothesis import strategies as st

from urnn_zoo.cells.base import cell_class


def admits(name, hidden, **options):
    r"""Whether the family ``name`` accepts N = ``hidden`` with ``options`` (its ``check_size``)."""
    return cell_class(name).admits(hidden, **options)


def admissible_sizes(name, lo, hi, **options):
    r"""The N in [lo, hi] that ``name`` accepts with ``options``, as a strategy (shrinking towards lo)."""
    sizes = [n for n in range(lo, hi + 1) if admits(name, n, **options)]
    if not sizes:
        raise ValueError(f"{name} admits no N in [{lo}, {hi}] with {options}")
    return st.sampled_from(sizes)


def admissible_values(name, hidden, option, candidates):
    r"""The values of the size option ``option`` among ``candidates`` that ``name`` accepts at N = ``hidden``."""
    values = [v for v in candidates if admits(name, hidden, **{option: v})]
    if not values:
        raise ValueError(f"{name} admits no {option} in {list(candidates)} at N={hidden}")
    return st.sampled_from(values)
