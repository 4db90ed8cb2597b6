r"""The properties of the cell contract (docs/cell-contract.md), each a plain function that raises
``AssertionError`` when a registered cell breaks it (Note [What the contract checks] of :mod:`urnn_zoo.testing`).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import torch

import urnn_zoo as uz
from urnn_zoo.cells.registry import cell_class

from .workload import INPUT_SIZE, adam_steps, build_cell, input_sequence

__all__ = ["check_bad_input_refused", "check_batch_independence", "check_forward_equals_steps", "check_gradients",
           "check_options_refused", "check_parameter_count", "check_recurrent_matrix_is_applied", "check_runs_on_cuda",
           "check_shapes_and_dtypes", "check_size_rule", "check_state_dict_round_trip",
           "check_trains_and_resumes_exactly", "check_unitarity"]

def _close(a: torch.Tensor, b: torch.Tensor, tol: float) -> None:
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@contextlib.contextmanager
def _refused(error: type[Exception], match: str) -> Iterator[None]:
    r"""``pytest.raises(error, match=match)`` whose every failure is an ``AssertionError``, as each check promises:
    pytest reports a call that raised nothing with its own ``Failed`` (not an ``AssertionError``) and lets an
    error of another type through unchanged."""
    try:
        with pytest.raises(error, match=match):
            yield
    except AssertionError:  # the message did not match: pytest's own AssertionError
        raise
    except pytest.fail.Exception as failed:  # nothing was raised
        raise AssertionError(f"expected {error.__name__} matching {match!r}, got no error ({failed})") from None
    except Exception as other:  # an error of another type is the cell failing this check too
        raise AssertionError(f"expected {error.__name__} matching {match!r}, got {type(other).__name__}: "
                             f"{other}") from other


# ----------------------------------------------------------------------------------------- the properties
def check_options_refused(name: str, hidden: int) -> None:
    r"""An unknown option and a precision other than float32/float64 are refused, saying what is accepted."""
    with _refused(ValueError, rf"cell '{name}' got unknown option\(s\) \['bogus'\]; it accepts"):
        uz.make_cell(name, INPUT_SIZE, hidden, bogus=1)
    with _refused(ValueError, "dtype must be torch.float32 or torch.float64"):
        uz.make_cell(name, INPUT_SIZE, hidden, dtype=torch.complex64)


def check_shapes_and_dtypes(name: str, hidden: int, dtype: torch.dtype) -> None:
    r"""Shapes and dtypes of ``forward``, ``step``, the state, ``recurrent_matrix``, ``penalty`` and
    ``unitarity_error``: the output is real (T, B, output_size) with output_size 2N for a complex cell, N
    otherwise; a state is one (B, N) tensor, or a tuple of them for a gated cell, of ``state_dtype``;
    ``recurrent_matrix()`` is complex exactly for a complex cell, (N, N) for a cell whose state is one tensor
    and the gates' N x N matrices stacked, (k·N, N), for a gated one."""
    cell = build_cell(name, hidden, dtype)
    assert cell.name == name and cell.constraint in ("exact", "soft", "none")
    assert cell.output_size == (2 * hidden if cell.is_complex else hidden)
    x = input_sequence(0, T=4, B=2, dtype=dtype)
    out, final = cell(x)
    assert out.shape == (4, 2, cell.output_size) and out.dtype == dtype and not out.is_complex()
    y, _ = cell.step(x[0])
    assert y.shape == (2, cell.output_size) and y.dtype == dtype
    gated = not isinstance(final, torch.Tensor)
    for s in (final, cell.initial_state(2)):
        for leaf in torch.utils._pytree.tree_leaves(s):
            assert leaf.shape == (2, hidden) and leaf.dtype == cell.state_dtype, (tuple(leaf.shape), leaf.dtype)
    assert cell.state_dtype == (uz.cells.base.complex_dtype_of(dtype) if cell.is_complex else dtype)
    w = cell.recurrent_matrix()
    if gated:
        assert w.shape[1] == hidden and w.shape[0] % hidden == 0, f"recurrent_matrix() has shape {tuple(w.shape)}"
    else:
        assert w.shape == (hidden, hidden), f"recurrent_matrix() has shape {tuple(w.shape)}, expected N x N"
    assert w.is_complex() == cell.is_complex, f"recurrent_matrix() is {w.dtype} for is_complex={cell.is_complex}"
    assert w.dtype in (dtype, uz.cells.base.complex_dtype_of(dtype))
    for scalar in (cell.penalty(), cell.unitarity_error()):
        assert scalar.dim() == 0 and not scalar.is_complex() and scalar.item() >= 0
    if cell.constraint != "soft":
        assert cell.penalty().item() == 0


def check_forward_equals_steps(name: str, hidden: int, seed: int, T: int, B: int) -> None:
    r"""``forward`` over a sequence equals a loop of ``step`` (outputs and final state, float64, 1e-12), and a
    state of ``None`` means ``initial_state(B)``."""
    cell = build_cell(name, hidden, seed=seed)
    x = input_sequence(seed, T, B)
    state0 = cell.initial_state(B)
    out, final = cell(x, state0)
    state, ys = state0, []
    for x_t in x.unbind(0):
        y, state = cell.step(x_t, state)
        ys.append(y)
    _close(torch.stack(ys), out, 1e-12)
    for a, b in zip(torch.utils._pytree.tree_leaves(final), torch.utils._pytree.tree_leaves(state)):
        _close(a, b, 1e-12)
    _close(cell(x)[0], out, 0.0)


def check_gradients(name: str, hidden: int, seed: int) -> None:
    r"""In float32, a loss on the outputs plus the penalty gives every parameter a finite gradient."""
    cell = build_cell(name, hidden, torch.float32, seed)
    out, _ = cell(input_sequence(seed, dtype=torch.float32))
    (out.pow(2).mean() + cell.penalty()).backward()
    for pname, p in cell.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reached {pname}"
        assert torch.isfinite(torch.view_as_real(p.grad) if p.grad.is_complex() else p.grad).all(), pname


def check_state_dict_round_trip(name: str, hidden: int) -> None:
    r"""A cell loaded with another's ``state_dict`` computes exactly what that one computes."""
    a, b = build_cell(name, hidden, seed=1), build_cell(name, hidden, seed=2)
    b.load_state_dict(a.state_dict())
    x = input_sequence(3)
    _close(a(x)[0], b(x)[0], 0.0)


def check_batch_independence(name: str, hidden: int, seed: int) -> None:
    r"""Each sequence of a batch is computed as if alone (a change to one changes no other)."""
    cell = build_cell(name, hidden, seed=seed)
    x = input_sequence(seed, T=4, B=3)
    out, _ = cell(x)
    torch.testing.assert_close(cell(x[:, 1:2])[0][:, 0], out[:, 1], rtol=1e-10, atol=1e-12)
    x2 = x.clone()
    x2[:, 0] += 1.0
    torch.testing.assert_close(cell(x2)[0][:, 1:], out[:, 1:], rtol=1e-10, atol=1e-12)


def check_bad_input_refused(name: str, hidden: int) -> None:
    r"""Inputs, and given states, of the wrong shape or dtype are refused with an error saying what was expected."""
    cell = build_cell(name, hidden)
    with _refused(ValueError, rf"expected input of shape \(T, B, input_size\) with input_size="
                              rf"{INPUT_SIZE}, got shape \(5, 2, {INPUT_SIZE + 1}\)"):
        cell(torch.randn(5, 2, INPUT_SIZE + 1, dtype=torch.float64))
    with _refused(ValueError, rf"expected input of shape \(T, B, input_size\) with input_size="
                              rf"{INPUT_SIZE}, got shape \(5, {INPUT_SIZE}\)"):
        cell(torch.randn(5, INPUT_SIZE, dtype=torch.float64))
    with _refused(ValueError, r"expected input of shape \(B, input_size\)"):
        cell.step(torch.randn(4, 2, INPUT_SIZE, dtype=torch.float64))
    with _refused(TypeError, "expected a real floating input"):
        cell(torch.ones(5, 2, INPUT_SIZE, dtype=torch.complex128))
    with _refused(TypeError, "expected input dtype torch.float64"):
        cell(torch.ones(5, 2, INPUT_SIZE, dtype=torch.float32))
    # A given state must be the cell's own for the batch, in its structure (a tensor, or a tuple of them), shape
    # and dtype: a (1, N) state would otherwise broadcast over the batch, and a wrong one fail deep in a kernel.
    x = input_sequence(0, T=3, B=2)
    own = cell.initial_state(2)
    parts = own if isinstance(own, tuple) else (own,)
    rebuilt = (lambda ps: tuple(ps)) if isinstance(own, tuple) else (lambda ps: ps[0])
    other = {torch.float64: torch.float32, torch.complex128: torch.complex64}
    bad = [(ValueError, rebuilt([p[:1] for p in parts])),  # one row for the batch of 2
           (ValueError, rebuilt([torch.cat([p, p[:, :1]], 1) for p in parts])),  # N + 1 columns
           (TypeError, rebuilt([p.to(other[p.dtype]) for p in parts])),  # the other precision
           (TypeError, parts[0] if isinstance(own, tuple) else (own,))]  # a tensor for a pair, a tuple for one
    for error, state in bad:
        for call in (lambda: cell(x, state), lambda: cell.step(x[0], state)):
            with _refused(error, r"^[^\n]*expected a state[^\n]*$"):
                call()


def check_parameter_count(name: str, hidden: int) -> None:
    r"""``parameter_count()`` agrees with the parameters' sizes (a complex entry counts 2), ``dof`` differs from
    ``stored`` only inside the recurrent map, and :class:`~urnn_zoo.SequenceModel` adds its head."""
    cell = build_cell(name, hidden, torch.float32)
    c = cell.parameter_count()
    assert c.stored == sum(p.numel() * (2 if p.is_complex() else 1) for p in cell.parameters())
    assert 0 < c.recurrent_dof <= c.recurrent_stored <= c.stored
    assert c.stored - c.dof == c.recurrent_stored - c.recurrent_dof
    for readout, shape in (("last", (2, 7)), ("all", (4, 2, 7))):
        model = uz.SequenceModel(cell, 7, readout=readout)
        assert model(input_sequence(0, T=4, B=2, dtype=torch.float32)).shape == shape
    m, head = uz.SequenceModel(cell, 5).parameter_count(), cell.output_size * 5 + 5
    assert (m.stored, m.dof, m.recurrent_stored, m.recurrent_dof) == (c.stored + head, c.dof + head,
                                                                     c.recurrent_stored, c.recurrent_dof)


def _reference_error(w: torch.Tensor, hidden: int) -> float:
    # ‖WᴴW − I‖_F of each N x N block of the recurrent matrix (one block, or one per stacked gate); the largest.
    wide = w.detach().to(torch.complex128 if w.is_complex() else torch.float64)
    eye = torch.eye(hidden, dtype=wide.dtype)
    return max(float(torch.linalg.matrix_norm(g.mH @ g - eye)) for g in wide.split(hidden, dim=0))


def check_unitarity(name: str, hidden: int, seed: int) -> None:
    r"""``unitarity_error()`` is ``‖WᴴW − I‖_F`` of ``recurrent_matrix()`` (largest over stacked gates), at init
    and after 5 Adam steps; an ``exact`` cell stays unitary (10·N·eps, float64)."""
    cell = build_cell(name, hidden, seed=seed)
    for moved in (False, True):
        if moved:
            w0 = cell.recurrent_matrix().detach().clone()
            adam_steps(cell, 5, seed)
            assert not torch.equal(cell.recurrent_matrix().detach(), w0), "the Adam steps did not move W"
        with torch.no_grad():
            expected = _reference_error(cell.recurrent_matrix(), hidden)
            got = float(cell.unitarity_error())
        assert abs(got - expected) <= 1e-10 * max(1.0, expected), (moved, got, expected)
        if cell.constraint == "exact":
            assert expected <= 10 * hidden * torch.finfo(torch.float64).eps, (moved, expected)


def check_recurrent_matrix_is_applied(name: str, hidden: int, seed: int) -> None:
    r"""For a cell whose step is modReLU(W h + u): one step from u = 0 and a state scaled to ~1e8 returns W h
    to ~1e-9 relative, so ``recurrent_matrix()`` is the map the recurrence applies (no transposition)."""
    # Note [Probing the linear part]: modReLU(z) = z·ReLU(|z| + b)/(|z| + ε) = z·(1 + O(|b|/|z|)) for large |z|.
    cell = build_cell(name, hidden, seed=seed)
    h = torch.randn(2, hidden, generator=torch.Generator().manual_seed(seed), dtype=cell.state_dtype)
    with torch.no_grad(), torch.nn.utils.parametrize.cached():
        stepped = cell.recur(torch.zeros_like(h), 1e8 * h, cell.prepare()) / 1e8
        expected = h @ cell.recurrent_matrix().mT
    _close(stepped, expected, 1e-7)


def check_size_rule(name: str, hidden: Any, **options: Any) -> None:
    r"""``check_size(N, **options)`` raises exactly when building the cell at N with ``options`` raises a size
    error, with the same one-line message (expected, got), and building refuses the size before any module is
    made. ``options`` must be well formed (only the size, or how the options split it, may be wrong): every error
    is then an :class:`~urnn_zoo.InadmissibleSizeError`."""
    def outcome(call):
        try:
            call()
        except ValueError as err:
            return type(err), str(err)
        return None

    predicted = outcome(lambda: cell_class(name).check_size(hidden, **options))
    original = torch.nn.Module.__init__
    with mock.patch.object(torch.nn.Module, "__init__", autospec=True,
                           side_effect=lambda self, *a, **k: original(self, *a, **k)) as built:
        got = outcome(lambda: uz.make_cell(name, INPUT_SIZE, hidden, dtype=torch.float64, **options))
    assert got == predicted, (got, predicted)
    if predicted is not None:
        assert built.call_count == 0, "the size was refused after a module was built"
        assert predicted[0] is uz.InadmissibleSizeError and "\n" not in predicted[1] and "got" in predicted[1]


def check_trains_and_resumes_exactly(name: str, hidden: int, folder: str | Path) -> None:
    r"""A run of the cell in :func:`urnn_zoo.train` (copy, 4 steps) ends with a readable record, and the same run
    stopped after 2 steps and resumed ends with the same test metrics, to the bit."""
    settings_ = dict(hidden=hidden, seed=0, task_options={"T": 3}, batch_size=4, eval_every=2, eval_batches=1,
                     test_batches=1, log_every=1, progress="none")
    whole = uz.train(name, "copy", out=Path(folder) / "whole", steps=4, **settings_)
    assert whole.summary["status"] in ("finished", "diverged") and whole.summary["steps_done"] == 4
    uz.train(name, "copy", out=Path(folder) / "split", steps=2, **settings_)
    resumed = uz.train(name, "copy", out=Path(folder) / "split", steps=4, resume=True, **settings_)
    assert resumed.summary["final"] == whole.summary["final"], (resumed.summary["final"], whole.summary["final"])


def check_runs_on_cuda(name: str, hidden: int) -> None:
    r"""Built with ``device="cuda"``, the cell runs forward and backward there (needs a CUDA device)."""
    cell = uz.make_cell(name, INPUT_SIZE, hidden, device="cuda")
    out, _ = cell(torch.randn(4, 2, INPUT_SIZE, device="cuda"))
    out.pow(2).mean().backward()
    assert out.device.type == "cuda"
