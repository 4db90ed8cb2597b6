r"""The cell contract's "materialised once per forward": a cell evaluates its parametrised or prepared recurrent
matrix once per ``forward``, whatever the sequence length T, and its backward evaluates nothing again
(docs/cell-contract.md, ``prepare()``; docs/performance.md).

Three counts, over every registered cell, the per-step loop and the fused loop, and the options that change how
the matrix is computed (strategies, parametrisations, maps):

- the calls of ``prepare()`` and ``recurrent_matrix()`` and the evaluations of each torch parametrization
  (:func:`benchmarks.bench_matrix_once.counting_evaluations`, the counter whose history asv keeps): exactly 1
  per forward for a cell whose forward runs the contract's loop (``RecurrentCell.run``), 0 in the backward;
- the torch functions that read a raw recurrent parameter (``recurrent_parameters()``): inside ``prepare()``
  only (or, for a parameter that ``prepare()`` returns as it is, such as a lone Kronecker factor, anywhere), and
  as many at T as at T = 1. This catches a matrix rebuilt per step even where no method is called
  again (a Cayley solve or Householder product inlined in ``recur``). Cells that run a torch kernel over the
  whole sequence (``lstm``, ``rnn``) read their weights in that one call, whatever T.
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

import urnn_zoo as uz
from admissible import admissible_sizes
from urnn_zoo.cells.base import cell_class

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the counter is the asv suite's (package `benchmarks` at the repository root)
    sys.path.insert(0, str(ROOT))
from benchmarks.bench_matrix_once import counting_evaluations  # noqa: E402

CELLS = uz.cell_names()
LENGTHS = (1, 10, 100)
# The options that change how a family computes its matrix; a family not listed runs with its defaults.
VARIANTS: dict[str, list[dict]] = {
    "eurnn": [{"strategy": s} for s in ("auto", "layers", "band", "dense")] + [{"complex_weights": False}],
    "eurnn_fft": [{"strategy": s} for s in ("auto", "layers", "dense")],
    "exprnn": [{"map": "expm"}, {"map": "cayley"}],
    "fcurnn": [{"parametrization": p} for p in ("cayley", "matrix_exp", "none")],
    "kru": [{"strategy": s} for s in ("auto", "factored", "dense")] + [{"complex_factors": False}],
    "kru_lstm": [{"strategy": s} for s in ("auto", "factored", "dense")],
    "ornn": [{"method": m, "activation": a} for m in ("wy", "householder_product")
             for a in ("leaky_relu", "tanh", "modrelu")],
    "rcurnn": [{"strategy": s} for s in ("auto", "fft", "dense")],
}


def runs_contract_loop(cell) -> bool:
    r"""Whether ``cell``'s forward is the contract's loop (``prepare`` once, then the steps)."""
    return type(cell).run is uz.RecurrentCell.run


class ParameterReads(TorchFunctionMode):
    r"""Counts the torch functions called with a raw recurrent parameter of ``cell`` among their arguments,
    split into those inside ``cell.prepare()`` and the rest (attribute reads such as ``.dtype`` not counted;
    nor, after ``prepare()``, the reads of a parameter that it returned unchanged as part of its result)."""

    def __init__(self, cell):
        super().__init__()
        self.cell, self.ids = cell, {id(p) for p in cell.recurrent_parameters()}
        self.depth, self.counts = 0, collections.Counter()

    def __enter__(self):
        prepare = self.cell.prepare

        def inside(*args, **kwargs):
            self.depth += 1
            try:
                ctx = prepare(*args, **kwargs)
            finally:
                self.depth -= 1
            # A parameter that prepare() hands over as it is (a lone Kronecker factor) is the prepared matrix:
            # the steps may read it. Only what is computed from the parameters must not be recomputed.
            self.ids -= {id(a) for a in tree_flatten(ctx)[0] if isinstance(a, torch.Tensor)}
            return ctx

        self.cell.prepare = inside
        return super().__enter__()

    def __exit__(self, *exc):
        del self.cell.prepare
        return super().__exit__(*exc)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") != "__get__":
            flat, _ = tree_flatten((args, kwargs))
            if any(isinstance(a, torch.Tensor) and id(a) in self.ids for a in flat):
                self.counts["prepare" if self.depth else "outside"] += 1
        return func(*args, **kwargs)


def make(name, hidden=8, fused=True, **options):
    torch.manual_seed(0)
    cell = uz.make_cell(name, 3, hidden, dtype=torch.float64, **options)
    cell.fused = fused
    return cell


def evaluations(cell, t):
    r"""``(forward counts, backward counts)`` of :func:`counting_evaluations` for one T-step sequence."""
    x = torch.randn(t, 2, 3, dtype=torch.float64)
    with counting_evaluations(cell) as forward:
        out = cell(x)[0]
    with counting_evaluations(cell) as backward:
        out.pow(2).sum().backward()
    return dict(forward), dict(backward)


def parameter_reads(cell, t):
    r"""The :class:`ParameterReads` counts of one forward+backward over a T-step sequence."""
    x = torch.randn(t, 2, 3, dtype=torch.float64)
    with ParameterReads(cell) as reads:
        cell(x)[0].pow(2).sum().backward()
    return dict(reads.counts)


def check_once(cell, t):
    forward, backward = evaluations(cell, t)
    assert backward == {}, f"the backward evaluated {backward}"
    if runs_contract_loop(cell):
        assert forward.get("prepare") == 1, f"prepare() ran {forward.get('prepare', 0)} times in one forward"
        assert set(forward.values()) == {1}, f"evaluations in one forward: {forward}"
    else:  # a torch kernel over the whole sequence: nothing prepared, nothing parametrised
        assert forward == {}, f"evaluations in one forward: {forward}"
    reads = parameter_reads(cell, t)
    if runs_contract_loop(cell):
        assert "outside" not in reads, f"recurrent parameters read outside prepare(): {reads}"
    assert reads == parameter_reads(cell, 1), f"parameter reads at T={t} {reads} differ from T=1"


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "per_step"])
@pytest.mark.parametrize("t", LENGTHS)
@pytest.mark.parametrize("name", CELLS)
def test_matrix_once_per_forward(name, t, fused):
    check_once(make(name, fused=fused), t)


@settings()
@given(data=st.data(), t=st.integers(1, 30), fused=st.booleans())
def test_matrix_once_per_forward_over_options(data, t, fused):
    name = data.draw(st.sampled_from(CELLS), label="cell")
    options = data.draw(st.sampled_from(VARIANTS.get(name, [{}])), label="options")
    hidden = data.draw(admissible_sizes(name, 4, 12, **options), label="N")
    check_once(make(name, hidden, fused, **options), t)


def test_every_variant_is_a_valid_option_set():
    for name, variants in VARIANTS.items():
        assert name in CELLS, name
        for options in variants:
            assert set(options) <= set(uz.cell_options(name)), (name, options)
            cell_class(name).check_size(8, **options)


# The counts can fail: cells that rebuild their matrix at every step, as a family might by mistake.
def per_step_prepare(name):
    base = cell_class(name)

    class PerStepPrepare(base):  # no `name`: not registered
        def recur(self, u, state, ctx):
            return super().recur(u, state, self.prepare())

    return PerStepPrepare


@pytest.mark.parametrize("name", ["scornn", "exprnn", "fcurnn", "kru", "eurnn"])
def test_a_per_step_prepare_is_counted(name):
    torch.manual_seed(0)
    cell = per_step_prepare(name)(3, 8, dtype=torch.float64)
    cell.fused = False
    forward, _ = evaluations(cell, 5)
    assert forward["prepare"] == 6  # once, then once per step
    with pytest.raises(AssertionError, match="prepare"):
        check_once(cell, 5)


def test_a_matrix_inlined_in_the_step_is_counted():
    base = cell_class("scornn")

    class InlinedCayley(base):  # builds W from its raw parameter in every step, without calling prepare()
        def recur(self, u, state, ctx):
            return super().recur(u, state, base.prepare(self))

    torch.manual_seed(0)
    cell = InlinedCayley(3, 8, dtype=torch.float64)
    cell.fused = False
    assert evaluations(cell, 5)[0] == {"prepare": 1}  # the method spy alone sees nothing wrong
    reads = parameter_reads(cell, 5)
    assert reads["outside"] == 5 * reads["prepare"]
    with pytest.raises(AssertionError, match="outside prepare"):
        check_once(cell, 5)
