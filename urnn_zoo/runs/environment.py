r"""Where a record was made: the command, the code (commit, and whether it had uncommitted changes), the
software (versions), the machine and the device.

One capture, :func:`capture`, is written into every run's ``config.json`` (``environment``) and into a
report's ``provenance.json`` (``report``), under the same keys.

Note [The command of a record]
    A record says the command line that made it, as the user typed it (tokens joined by :func:`shlex.join`,
    the program shown as ``urnn-zoo`` whether it ran as the console script or as ``python -m
    urnn_zoo.cli``). :func:`urnn_zoo.cli.main` knows it and holds it for the length of the command with
    :func:`invoked_as`; :func:`capture` reads it (:func:`invoked_command`). A comparison's worker processes
    do not share that context (their ``argv`` is multiprocessing's), so the comparison passes its command
    to each run it trains (:func:`urnn_zoo.compare.execute.run_one`), which holds it around the run. A record
    made from Python (``urnn_zoo.train(...)``, ``urnn_zoo.compare.compare(...)``) has ``command`` null: the
    call's every setting is in the record itself.
"""
from __future__ import annotations

import contextlib
import contextvars
import datetime as _dt
import os
import platform
import shlex
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

__all__ = ["KEYS", "PACKAGES", "PROGRAM", "capture", "command_line", "complete", "cpu_capability", "cpu_id",
           "cpu_model", "git_commit", "git_state", "invoked_as", "invoked_command", "memory_gib"]

PROGRAM = "urnn-zoo"
_COMMAND: contextvars.ContextVar[str | None] = contextvars.ContextVar("urnn_zoo_command", default=None)

PACKAGES = ("urnn_zoo", "torch", "numpy", "pandas", "seaborn", "matplotlib", "geotorch", "scikit-learn", "mlxtend",
            "music21", "asv")


def command_line(argv: list[str] | tuple[str, ...]) -> str:
    r"""The command line ``urnn-zoo ARGV...`` as a shell would take it back (:func:`shlex.join`; Note [The
    command of a record]).

    Args:
        argv: the arguments after the program name (``sys.argv[1:]``).

    Raises:
        ValueError: ``argv`` is not a list or tuple of texts.

    Example:
        >>> command_line(["train", "--cell", "kru", "--cell-option", "factors=[4, 16]"])
        "urnn-zoo train --cell kru --cell-option 'factors=[4, 16]'"
    """
    if not isinstance(argv, (list, tuple)) or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"argv: expected a list of texts (the arguments after the program), got {argv!r}")
    return shlex.join([PROGRAM, *argv])


@contextlib.contextmanager
def invoked_as(command: str | None) -> Iterator[None]:
    r"""Hold ``command`` as the command line of what runs inside (:func:`invoked_command`, recorded by
    :func:`capture`); ``None`` says a Python call (Note [The command of a record]).

    Raises:
        ValueError: ``command`` is neither a text nor ``None``.
    """
    if command is not None and not isinstance(command, str):
        raise ValueError(f"command: expected a command line (text) or None, got {command!r}")
    token = _COMMAND.set(command)
    try:
        yield
    finally:
        _COMMAND.reset(token)


def invoked_command() -> str | None:
    r"""The command line held by :func:`invoked_as` around this call, or ``None`` (a Python call)."""
    return _COMMAND.get()


def git_state(where: str | os.PathLike[str] | None = None) -> tuple[str | None, bool | None]:
    r"""``(HEAD, dirty)`` of the checkout holding ``where`` (default: this package); ``(None, None)`` outside a
    git checkout. Read-only (``--no-optional-locks``: git may not refresh its index).

    ``dirty`` is true when the code that runs is not exactly ``HEAD``: a tracked file under ``where`` (the
    package) differs from it, or a file there is not tracked, such as a new module that is imported but not
    committed (files git ignores, like ``__pycache__``, do not count). Files outside the package do not count:
    a result set kept in the checkout (``results/``) changes while its runs train or resume, and the code that
    trains them is still ``HEAD``. A ``where`` that holds no tracked
    file (a package installed in an ignored virtual environment inside some other checkout) is outside any
    checkout of its own: ``(None, None)``, not that checkout's ``HEAD``.
    """
    cwd = Path(where) if where else Path(__file__).resolve().parent.parent
    git = ["git", "--no-optional-locks"]

    def run(*args: str) -> str:
        return subprocess.run(git + list(args), cwd=cwd, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        head = run("rev-parse", "HEAD")
        if not head or not run("ls-files", "--", "."):  # e.g. a virtual environment inside another checkout
            return None, None
        changed = run("status", "--porcelain", "--untracked-files=normal", "--", ".")
        return head, bool(changed)
    except (OSError, subprocess.SubprocessError):
        return None, None


def git_commit(where: str | os.PathLike[str] | None = None) -> str | None:
    r"""``HEAD`` of the checkout holding ``where`` (default: this package), with ``+dirty`` when the code
    differs from it (:func:`git_state`); ``None`` outside a git checkout."""
    head, dirty = git_state(where)
    return None if head is None else head + ("+dirty" if dirty else "")


def cpu_model() -> str:
    r"""The CPU's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_id() -> str | None:
    r"""The CPU's vendor, family, model and stepping, e.g. ``GenuineIntel family 6 model 143 stepping 8``
    (``/proc/cpuinfo``; ``None`` where the system does not say). A virtual machine's model name is often
    generic (``Intel(R) Xeon(R) Processor``): these numbers still name the processor generation."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():  # the first processor's block
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    parts = [fields.get("vendor_id")] + [f"{name} {fields[key]}" for name, key in
                                         (("family", "cpu family"), ("model", "model"), ("stepping", "stepping"))
                                         if key in fields]
    shown = " ".join(p for p in parts if p)
    return shown or None


def cpu_capability() -> str | None:
    r"""The instruction set torch's CPU kernels use on this machine (``torch.backends.cpu.get_cpu_capability()``,
    e.g. ``AVX512``, ``AVX2``, ``DEFAULT``); ``None`` where torch does not say."""
    import torch

    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    try:
        return str(get()) if get is not None else None
    except RuntimeError:
        return None


def memory_gib() -> float | None:
    r"""Physical memory in GiB (``None`` where the system does not say)."""
    try:
        return round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def capture() -> dict[str, Any]:
    r"""The environment: ``generated`` (UTC time), ``command`` (the command line, Note [The command of a
    record]; ``None`` from Python), ``commit`` (``HEAD``, with ``+dirty`` when the code differs from it),
    ``dirty`` (whether it differs, :func:`git_state`; ``None`` outside a git checkout), ``versions`` (package to
    version, the installed ones of :data:`PACKAGES`, torch's own version string), ``python``, ``platform``,
    ``machine`` (host name), ``cpu`` (model name), ``cpu_id`` (:func:`cpu_id`), ``cpu_capability``
    (:func:`cpu_capability`), ``cores``, ``memory_gib``, ``torch_threads`` and ``cuda`` (device names, or
    ``"none"``)."""
    import torch

    versions = {p: v for p in PACKAGES if (v := _version(p))}
    versions["torch"] = torch.__version__
    cuda = None
    if torch.cuda.is_available():
        cuda = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    head, dirty = git_state()
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": invoked_command(),
        "commit": None if head is None else head + ("+dirty" if dirty else ""),
        "dirty": dirty,
        "versions": versions,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.node(),
        "cpu": cpu_model(),
        "cpu_id": cpu_id(),
        "cpu_capability": cpu_capability(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda or "none",
    }


# Every key :func:`capture` writes, in its order (:func:`complete` gives an older record each of them).
KEYS = ("generated", "command", "commit", "dirty", "versions", "python", "platform", "machine", "cpu", "cpu_id",
        "cpu_capability", "cores", "memory_gib", "torch_threads", "cuda")


def complete(env: dict[str, Any]) -> dict[str, Any]:
    r"""An environment of any version under every key of :func:`capture` (:data:`KEYS`; others kept): a record
    written before a key existed reads it as ``None`` (unknown; ``versions`` as ``{}``), except ``dirty``,
    which the ``commit`` of a schema-1 record tells: a ``+dirty`` suffix (true), a bare commit (false: that
    code marked every change to a tracked file), no commit (``None``). Records of schema 0 (:func:`from_legacy`)
    never checked, so their ``dirty`` stays ``None``."""
    out = from_legacy(env) if "versions" not in env else dict(env)
    if "dirty" not in out and isinstance(out.get("commit"), str):
        out["dirty"] = out["commit"].endswith("+dirty")
    for key in KEYS:
        out.setdefault(key, {} if key == "versions" else None)
    return out


def from_legacy(env: dict[str, Any]) -> dict[str, Any]:
    r"""A ``config.json`` environment of schema 0 (flat ``torch``, ``numpy``, ``urnn_zoo`` and ``threads``)
    under the keys of :func:`capture` (what it did not record is ``None``)."""
    if "versions" in env:
        return dict(env)
    versions = {k: env[k] for k in ("urnn_zoo", "torch", "numpy") if env.get(k)}
    out = {key: None for key in KEYS}
    out.update(commit=env.get("commit"), versions=versions, python=env.get("python"), platform=env.get("platform"),
               torch_threads=env.get("threads"))
    return out
