r"""Crash-safe writes of record files: a reader sees the old file or the new one, never a part of one.

Note [Atomic writes]
    A file is written to a temporary file in the same folder (same file system), flushed and ``fsync``-ed,
    then moved over the target with :func:`os.replace` (atomic on POSIX and Windows), and the folder is
    ``fsync``-ed so that the rename survives a power cut. A process killed at any point (SIGKILL included)
    leaves either the previous file or the new one, plus at worst a stray ``.<name>.*.tmp`` file that the
    next write of that folder's run removes (:func:`remove_stale_temporaries`). Appends to a tidy CSV are not
    atomic; :mod:`urnn_zoo.runs.tidy` repairs what a kill can leave of them (a torn last line, a missing
    header).

Note [Ctrl-C during a write]
    A Ctrl-C (SIGINT) that arrives while a record file is written is held until the write is done
    (:func:`interrupts_held`), then handed to the handler that was in place. Raised in the middle of
    :func:`torch.save`, the ``KeyboardInterrupt`` would come out of torch's zip writer as a ``RuntimeError``
    (``unexpected pos``), and a clean interruption would look like a crash.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["TEMPORARY_SUFFIX", "interrupts_held", "remove_stale_temporaries", "sync_folder", "write_atomic",
           "write_json", "write_text"]

TEMPORARY_SUFFIX = ".tmp"


def sync_folder(folder: Path) -> None:
    r"""``fsync`` a folder (its entries: a rename into it); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    r"""Hold SIGINT while the block runs, then hand it to the handler that was in place (Note [Ctrl-C during a
    write]); a no-op outside the main thread (only it receives signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[Any] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held and callable(previous):
            previous(signal.SIGINT, held[0])


# The process's umask, read once at import (by setting it and restoring it, the only way the OS offers) so
# that no thread can create a file while it is changed.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_atomic(path: str | os.PathLike[str], write: Callable[[Any], None], *, binary: bool = False) -> None:
    r"""Write ``path`` atomically (Note [Atomic writes]): ``write(f)`` fills an open temporary file; a Ctrl-C
    meanwhile is held until the file is in place (Note [Ctrl-C during a write]).

    Args:
        path: the target file; its folder must exist.
        write: called with the open temporary file (text, UTF-8, ``newline=""``; or binary).
        binary: open the temporary file in binary mode.

    Raises:
        Whatever ``write`` raises; the temporary file is removed and the target is left as it was.
    """
    path = Path(path)
    with interrupts_held():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
        try:
            # mkstemp makes the file 0600; a record gets the mode any new file gets (0666 less the umask),
            # so a shared or published result set stays readable.
            os.fchmod(fd, 0o666 & ~_UMASK)
            with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        sync_folder(path.parent)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    r"""Write a text file atomically (UTF-8)."""
    write_atomic(path, lambda f: f.write(text))


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    r"""Write ``data`` as indented JSON atomically (values JSON cannot hold are written as their ``repr``)."""
    write_text(path, json.dumps(data, indent=2, default=repr) + "\n")


def remove_stale_temporaries(folder: str | os.PathLike[str], names: tuple[str, ...] | None = None) -> None:
    r"""Remove the temporary files that writes killed before their rename left in ``folder``
    (``.<name>.*.tmp``, and the ``<name>.tmp`` files of urnn_zoo before the record had a schema).

    Args:
        folder: the folder. names: only the temporaries of these file names (default: every one).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for tmp in folder.glob(f"*{TEMPORARY_SUFFIX}"):
        owner = tmp.name[1:].split(".")[0] if tmp.name.startswith(".") else tmp.name[: -len(TEMPORARY_SUFFIX)]
        if tmp.is_file() and (names is None or any(owner == n.split(".")[0] and n in tmp.name for n in names)):
            tmp.unlink(missing_ok=True)
