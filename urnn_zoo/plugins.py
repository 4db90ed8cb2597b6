r"""Users' own cells and tasks (docs/own-cell.md): entry points, and modules imported by ``--import``.

Note [Plug-ins]
    A cell or task outside urnn_zoo is a :class:`~urnn_zoo.cells.contract.RecurrentCell` (or
    :class:`~urnn_zoo.tasks.base.Task`) subclass with a ``name``; defining the class registers it. Two ways bring
    its module in:

    - an entry point of the group ``urnn_zoo.cells`` (tasks: ``urnn_zoo.tasks``) in the user's installed
      package, named as the cell and pointing at its class (``givens = "my_package.cells:GivensRNN"``). The
      registries load every one of them lazily, once per process, on their first use (``cell_names()``,
      ``make_cell``, ...): every process of an environment where the package is installed sees the cell, the
      worker processes of ``compare``, cluster jobs and asv's benchmark processes included. asv reads the names
      from the entry points without importing anything (``benchmarks/common.py``).
    - ``urnn-zoo ... --import MODULE`` (Python: :func:`import_modules`): a module whose import registers cells or
      tasks, found on ``sys.path`` or in the current folder (as ``python -m`` finds modules). The modules are
      recorded (:func:`imported_modules`), and ``compare`` imports the same modules in each worker process and
      cluster job before a run (:func:`restore`).

    A plug-in that cannot be loaded (an import error, an entry point naming something else than the cell it
    registers, a name already taken) raises :class:`PluginError` naming the entry point or module, its package
    and the fix, on every use of the registry, rather than leaving its cell silently missing.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from importlib import metadata

__all__ = ["GROUPS", "PluginError", "entry_points", "import_modules", "imported_modules", "load_entry_points",
           "remember", "restore", "search_paths"]

GROUPS = {"cells": "urnn_zoo.cells", "tasks": "urnn_zoo.tasks"}

_LOADED: set[str] = set()  # kinds whose entry points this process has loaded (or is loading)
_LOCK = threading.RLock()
_IMPORTED: list[str] = []  # modules imported by import_modules, in order
_PATHS: list[str] = []  # folders import_modules put on sys.path


class PluginError(ValueError):
    r"""A plug-in cell or task that cannot be loaded; the message names it, its package and what to do."""


def entry_points(kind: str) -> list[metadata.EntryPoint]:
    r"""The installed entry points of ``kind`` (``"cells"`` or ``"tasks"``), sorted by name, each name once
    (the first distribution on ``sys.path`` wins, as for imports); nothing is imported.

    Raises:
        ValueError: another ``kind``.
    """
    if kind not in GROUPS:
        raise ValueError(f"kind: expected one of {', '.join(GROUPS)}, got {kind!r}")
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUPS[kind]):
        found.setdefault(ep.name, ep)
    return [found[name] for name in sorted(found)]


def _origin(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "an unknown package"
    return f"entry point {ep.name!r} = {ep.value!r} of group {ep.group!r} (from {package})"


def load_entry_points(kind: str, registry: dict[str, type], base: type) -> None:
    r"""Load the entry points of ``kind`` into ``registry`` once per process (Note [Plug-ins]).

    Args:
        kind: ``"cells"`` or ``"tasks"``. registry: the name-to-class registry their classes join when defined.
        base: the class they must subclass (:class:`RecurrentCell` or :class:`Task`).

    Raises:
        PluginError: an entry point fails to import, points at something other than a ``base`` subclass
            registered under the entry point's name, or takes a name another class holds. The load is tried
            again on the next use.
    """
    with _LOCK:
        if kind in _LOADED:
            return
        _LOADED.add(kind)  # before loading: a plug-in module that lists the registry while imported sees itself
        try:
            for ep in entry_points(kind):
                _load_one(ep, registry, base)
        except BaseException:
            _LOADED.discard(kind)
            raise


def _load_one(ep: metadata.EntryPoint, registry: dict[str, type], base: type) -> None:
    what = "cell" if GROUPS["cells"] == ep.group else "task"
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(f"{_origin(ep)} failed to load: {type(exc).__name__}: {' '.join(str(exc).split())}; "
                          f"fix or uninstall that package") from exc
    if isinstance(obj, type) and issubclass(obj, base) and registry.get(ep.name) is obj:
        return
    if not isinstance(obj, type) and registry.get(ep.name) is not None:  # a module that registers the name
        return
    got = (f"class {obj.__qualname__} registered as {obj.__dict__.get('name')!r}" if isinstance(obj, type)
           else f"{type(obj).__name__} {getattr(obj, '__name__', obj)!r}, which registers no {what} {ep.name!r}")
    raise PluginError(f"{_origin(ep)}: expected a {base.__name__} subclass whose name is {ep.name!r} (the entry "
                      f"point is named as the {what}), got {got}")


def import_modules(names: list[str] | tuple[str, ...]) -> list[str]:
    r"""Import user modules that register cells or tasks (``--import``), and remember them for the worker
    processes and jobs of ``compare`` (Note [Plug-ins]).

    The current folder is searched too (as ``python -m`` does; a console script does not put it on
    ``sys.path``).

    Args:
        names: dotted module names, e.g. ``["my_cells"]``.

    Returns:
        The names imported (each once, in order).

    Raises:
        PluginError: a name that is not a module name, a module that is not found, or one whose import fails
            (the message names the module and says what was expected).
    """
    if isinstance(names, str):
        raise PluginError(f"--import: expected a list of module names, got the text {names!r}")
    done = []
    for name in names:
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            raise PluginError(f"--import: expected a module name such as my_cells or my_package.cells, got {name!r}")
        here = os.getcwd()
        if here not in sys.path and "" not in sys.path:
            sys.path.append(here)
            _PATHS.append(here)
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name or name.startswith(f"{exc.name}."):  # the module itself (or its package) is missing
                raise PluginError(f"--import {name}: expected a module importable from {here} or the environment, "
                                  f"got no module named {exc.name!r}") from None
            raise PluginError(f"--import {name}: importing it failed: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise PluginError(f"--import {name}: importing it failed: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())}") from exc
        if name not in _IMPORTED:
            _IMPORTED.append(name)
        done.append(name)
    return done


def remember(modules: list[str] | tuple[str, ...]) -> None:
    r"""Add modules this process has imported already (a user's ``import my_cells`` before calling
    :func:`urnn_zoo.compare.compare`) to :func:`imported_modules`, for the worker processes and jobs."""
    for name in modules:
        if name not in _IMPORTED:
            _IMPORTED.append(name)


def imported_modules() -> tuple[str, ...]:
    r"""The modules :func:`import_modules` imported in this process, in order."""
    return tuple(_IMPORTED)


def search_paths() -> tuple[str, ...]:
    r"""The folders :func:`import_modules` added to ``sys.path`` (the current folder, where needed)."""
    return tuple(_PATHS)


def restore(modules: tuple[str, ...] | list[str], paths: tuple[str, ...] | list[str] = ()) -> None:
    r"""In a worker process or cluster job: put ``paths`` on ``sys.path`` and import ``modules``, so that the
    cells and tasks the main process registered with ``--import`` are registered here too.

    Raises:
        PluginError: as :func:`import_modules`.
    """
    for path in paths:
        if path not in sys.path:
            sys.path.append(path)
    import_modules(list(modules))

