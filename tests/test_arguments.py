"""Validators of argument values (urnn_zoo.arguments): each accepts exactly its valid set, over drawn values.

Oracles come from outside the module: Python's own int()/float() parsers, the file system (a name the
validator accepts is created as one folder entry; a path it accepts can be written), torch/numpy seeding.
"""
import argparse
import math
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo import arguments as A

Refused = argparse.ArgumentTypeError


def refused(validator, value) -> str:
    r"""The validator's one-line message for a refused value (fails the test when it accepts it)."""
    with pytest.raises(Refused) as info:
        validator(value)
    message = str(info.value)
    assert message.startswith("expected ") and ", got " in message and "\n" not in message, message
    assert repr(value) in message, (value, message)
    return message


# ----------------------------------------------------------------------------------------- integers
def python_int(text: str):
    r"""The integer a command line means by ``text``: what Python's int() reads, restricted to ASCII decimal
    digits without ``_`` separators (int() also takes "١٢" and "1_000"); None when it is not one."""
    if "_" in text or not text.isascii():
        return None
    try:
        return int(text)
    except ValueError:
        return None


int_texts = st.one_of(
    st.integers().map(str),
    st.integers().map(lambda k: f"  {k:+d}\t"),
    st.integers(0, 10**6).map(lambda k: f"{k:07d}"),  # leading zeros are still decimal
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(lambda k: f"{k:_}"),
    st.text(),
    st.from_regex(r"[+-]?[0-9٠-٩]{1,4}", fullmatch=True),
    st.sampled_from(["1_0", " 5\u2003", "\u20035", "+-1", ""]),
)


@pytest.mark.parametrize("validator, low", [(A.positive_int, 1), (A.nonnegative_int, 0), (A.int_at_least(3), 3),
                                            (A.int_at_least(-2), -2)])
@given(text=int_texts)
def test_int_validators_accept_exactly_decimal_integers_at_least_low(validator, low, text):
    k = python_int(text)
    if k is not None and k >= low:
        assert validator(text) == k and type(validator(text)) is int
    else:
        refused(validator, text)


@pytest.mark.parametrize("validator, low", [(A.positive_int, 1), (A.nonnegative_int, 0)])
@given(value=st.one_of(st.integers(), st.booleans(), st.floats(), st.none(), st.lists(st.integers())))
def test_int_validators_on_python_values(validator, low, value):
    if isinstance(value, int) and not isinstance(value, bool) and value >= low:
        assert validator(value) == value
        assert validator(np.int64(value)) == value if abs(value) < 2**63 else True
    else:
        refused(validator, value)  # a bool or 3.0 is not an integer here


@given(k=st.integers())
def test_seed_accepts_what_torch_and_numpy_seed_with(k):
    if 0 <= k < 2**64:
        assert A.seed(str(k)) == k
        torch.Generator().manual_seed(k)  # torch takes it ...
        np.random.SeedSequence(k)  # ... and so do the task streams
    else:
        refused(A.seed, str(k))
        if k >= 2**64:  # the reason for the bound: torch refuses it
            with pytest.raises((RuntimeError, ValueError, OverflowError)):
                torch.Generator().manual_seed(k)


# ----------------------------------------------------------------------------------------- floats
def python_float(text: str):
    r"""The number Python's float() reads from ``text``, restricted to ASCII without ``_`` separators."""
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


float_texts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: f"{x:e}"),
    st.integers().map(str),
    st.sampled_from(["nan", "-inf", "inf", "Infinity", "1e-3", ".5", "5.", "1e400", "-0", "0x10", "1,5", "",
                     "1_0", "١٫٥", " 2\u2003"]),
    st.text(),
)

FLOAT_CASES = [
    (A.positive_float, lambda x: x > 0),
    (A.nonnegative_float, lambda x: x >= 0),
    (A.finite_float, lambda x: True),
    (A.probability, lambda x: 0 <= x <= 1),
    (A.float_in(0.0, 1.0, high_open=True), lambda x: 0 <= x < 1),
    (A.float_in(-1.0, 2.0, low_open=True), lambda x: -1 < x <= 2),
]


@pytest.mark.parametrize("validator, inside", FLOAT_CASES)
@given(text=float_texts)
def test_float_validators_accept_exactly_finite_numbers_in_range(validator, inside, text):
    x = python_float(text)
    if x is not None and math.isfinite(x) and inside(x):
        assert validator(text) == x
    else:
        refused(validator, text)


@pytest.mark.parametrize("validator, inside", FLOAT_CASES)
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.booleans(),
                       st.none()))
def test_float_validators_on_python_values(validator, inside, value):
    if not isinstance(value, bool) and value is not None and math.isfinite(value) and inside(float(value)):
        assert validator(value) == float(value)
    else:
        refused(validator, value)


def test_float_messages_state_the_interval():
    assert "expected a finite number > 0, got '-1'" in refused(A.positive_float, "-1")
    assert "expected a number in [0, 1), got '1'" in refused(A.float_in(0, 1, high_open=True), "1")
    assert "expected a finite number, got 'nan'" in refused(A.finite_float, "nan")


# ----------------------------------------------------------------------------------------- bool, names
@given(value=st.one_of(st.booleans(), st.integers(), st.text(), st.none(), st.floats()))
def test_boolean_accepts_only_bools(value):
    if isinstance(value, bool):
        assert A.boolean(value) is value and A.boolean(np.bool_(value)) is value
    else:
        refused(A.boolean, value)  # 'false' from a command line must not read as true


@given(value=st.one_of(st.sampled_from(uz.cell_names()), st.text(), st.integers()))
def test_cell_name_accepts_exactly_the_registered_cells(value):
    if value in uz.cell_names():
        assert A.cell_name(value) == value
    else:
        with pytest.raises(Refused, match="expected") as info:
            A.cell_name(value)
        assert repr(value) in str(info.value)


@given(value=st.one_of(st.sampled_from(uz.task_names()), st.text()))
def test_task_name_accepts_exactly_the_registered_tasks(value):
    if value in uz.task_names():
        assert A.task_name(value) == value
    else:
        message = refused(A.task_name, value)
        assert all(name in message for name in uz.task_names())  # it lists what is accepted


@given(count=st.integers(0, 4), text=st.one_of(
    st.sampled_from(["cpu", "cuda", "auto", "mps", "CPU", "cuda:", "cuda:-1", "cuda:0:0", " cpu", "gpu", "cuda:01"]),
    st.integers(0, 6).map(lambda k: f"cuda:{k}"), st.text()))
def test_device_accepts_exactly_cpu_auto_and_present_cuda_devices(count, text):
    with mock.patch.object(torch.cuda, "is_available", return_value=count > 0), \
            mock.patch.object(torch.cuda, "device_count", return_value=count):
        present = {"cpu", "auto"} | ({"cuda", *(f"cuda:{k}" for k in range(count))} if count else set())
        if text in present:
            assert A.device(text) == ("cuda" if count else "cpu") if text == "auto" else A.device(text) == text
        else:
            message = refused(A.device, text)
            if re.fullmatch(r"cuda(:(0|[1-9][0-9]*))?", text):  # a CUDA name refused: the message says why
                assert f"torch sees {count or 'no'} CUDA device" in message


def test_device_on_this_machine():
    assert A.device("cpu") == "cpu" and A.device("auto") in ("cpu", "cuda")
    if not torch.cuda.is_available():
        assert "torch sees no CUDA device" in refused(A.device, "cuda")
    else:
        torch.zeros(1, device=A.device(f"cuda:{torch.cuda.device_count() - 1}"))
        refused(A.device, f"cuda:{torch.cuda.device_count()}")


names = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from("ab./\\\x00\n\t\x7f\x85 -é\udcff\ud800"), max_size=6),
    st.sampled_from([".", "..", "...", "", "a/b", "..\\x", "ok-name", "x" * 200, "x" * 201, "é" * 128, "é" * 127]),
)


@given(name=names)
def test_run_name_accepts_exactly_one_creatable_folder_entry(name):
    with tempfile.TemporaryDirectory() as root:
        try:
            accepted = A.run_name(name)
        except Refused as exc:
            message = str(exc)
            assert repr(name) in message and "\n" not in message
            # Every refusal has a reason a user can see in the name.
            reasons = (name in ("", ".", "..") or len(name) > A.MAX_NAME_CHARS
                       or any(c in "/\\" or unicodedata.category(c) == "Cc" for c in name))
            if not reasons:  # else the file system cannot hold it: not encodable, or over NAME_MAX bytes
                try:
                    nbytes = len(os.fsencode(name))
                except UnicodeError:
                    nbytes = None
                assert nbytes is None or nbytes > os.pathconf(root, "PC_NAME_MAX")
            return
        assert accepted == name
        os.mkdir(os.path.join(root, name))  # the file system takes it ...
        assert os.listdir(root) == [name]  # ... as exactly one entry of the parent, not a path
        assert Path(root, name).parent == Path(root)


def test_run_name_refuses_the_names_of_the_brief():
    for bad in ("", ".", "..", "a/b", "a\\b", "a\x00b", "a\nb", "x" * 201):
        refused(A.run_name, bad)
    assert A.run_name("kru-copy-T100-N128-s0") == "kru-copy-T100-N128-s0"


# ----------------------------------------------------------------------------------------- paths
paths = st.lists(st.sampled_from(["d", "f", "new", "deeper", "..", "."]), min_size=1, max_size=3).map("/".join)


def sandbox() -> tempfile.TemporaryDirectory:
    r"""A fresh folder ``x`` holding a folder ``d`` and a file ``f``; drawn paths start at ``x`` and stay
    inside the temporary folder (at most three ``..``)."""
    tmp = tempfile.TemporaryDirectory()
    x = Path(tmp.name, "a", "b", "x")
    (x / "d").mkdir(parents=True)
    (x / "f").write_text("a file")
    return tmp


@given(rel=paths)
def test_existing_dir_and_path_follow_the_file_system(rel):
    with sandbox() as tmp:
        path = Path(tmp, "a", "b", "x", rel)
        if path.is_dir():
            assert A.existing_dir(str(path)) == path
        else:
            message = refused(A.existing_dir, str(path))
            assert ("a file" if path.exists() else "does not exist") in message
        if path.exists():
            assert A.existing_path(str(path)) == path
        else:
            refused(A.existing_path, str(path))


def _accepts(validator, value) -> bool:
    try:
        validator(value)
        return True
    except Refused:
        return False


def _works(action) -> bool:
    try:
        action()
        return True
    except OSError:
        return False


@given(rel=paths)
def test_output_dir_accepts_exactly_the_folders_that_can_be_made(rel):
    with sandbox() as tmp:
        path = Path(tmp, "a", "b", "x", rel)
        assert _accepts(A.output_dir, str(path)) == _works(lambda: path.mkdir(parents=True, exist_ok=True))


@given(rel=paths)
def test_output_file_accepts_exactly_the_files_that_can_be_written(rel):
    with sandbox() as tmp:
        path = Path(tmp, "a", "b", "x", rel)

        def write():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("table")

        assert _accepts(A.output_file, str(path)) == _works(write)


def test_paths_refuse_empty_nul_and_too_long():
    for validator in (A.existing_dir, A.existing_path, A.output_dir, A.output_file):
        refused(validator, "")
        refused(validator, "a\x00b")
        assert "File name too long" in refused(validator, "x" * 300)


# ----------------------------------------------------------------------------------------- check
@given(value=st.integers(), what=st.text(min_size=1, max_size=20).filter(lambda w: "\n" not in w))
def test_check_names_the_argument_for_the_python_api(value, what):
    if value >= 1:
        assert A.check(value, A.positive_int, what) == value
    else:
        with pytest.raises(ValueError) as info:
            A.check(value, A.positive_int, what)
        assert str(info.value) == f"{what}: expected an integer > 0, got {value!r}"
        assert not isinstance(info.value, Refused)


def test_one_of_lists_the_choices_and_is_lazy():
    calls = []

    def names():
        calls.append(1)
        return ("a", "b")

    validator = A.one_of(names, "a letter")
    assert not calls
    assert validator("b") == "b"
    assert "expected a letter (one of a, b), got 'c'" in refused(validator, "c")


@pytest.mark.parametrize("validator, high", [(A.positive_int, 10**6), (A.nonnegative_int, 10**6), (A.seed, 10**6),
                                             (A.positive_float, 10**6), (A.nonnegative_float, 10**6),
                                             (A.finite_float, 10**6), (A.probability, 1)])
@given(data=st.data())
def test_check_wants_numbers_as_numbers(validator, high, data):
    k = data.draw(st.integers(1, high))
    assert A.check(k, validator, "n") == k and validator(str(k)) == k  # the command line's text is read ...
    with pytest.raises(ValueError, match=rf"^n: expected .*, got '{k}'$"):
        A.check(str(k), validator, "n")  # ... a Python API's text is not a number
