r"""Reading a JSON record file (``config.json``, ``summary.json``, ``compare.json``) with its schema version.

Every JSON record file holds a top-level ``"schema"`` (an integer); a file without one was written before the
record had versions and is schema 0. A file of a newer schema than this code knows is refused (it names the
file and says to upgrade or to start over with ``--force``); an older one is migrated on read by its module.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import NewerRecordError, RecordError

__all__ = ["read_json_record"]


def read_json_record(path: str | os.PathLike[str], version: int, remedy: str,
                     writer: str = "urnn-zoo train") -> tuple[dict[str, Any], int]:
    r"""``(content, schema version)`` of a JSON record file.

    Args:
        path: the file. version: the newest schema this code reads. remedy: what to tell the user when the
            file is damaged. writer: the command that writes such files (named when the file is missing).

    Raises:
        FileNotFoundError: there is no such file.
        RecordError: not UTF-8 JSON (truncated, binary), not an object, or a newer schema.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent} (expected a folder written by {writer})")
    data = path.read_bytes()
    try:
        content = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RecordError(path, f"is not UTF-8 text (byte {exc.start}), not JSON", remedy) from None
    except json.JSONDecodeError as exc:
        # A file cut short fails at its end, or inside a string it opened (json reports the string's start).
        truncated = exc.pos >= len(data.rstrip()) or exc.msg.startswith("Unterminated string")
        raise RecordError(path, f"is not valid JSON ({exc}){'; it ends too early (truncated?)' if truncated else ''}",
                          remedy) from None
    if not isinstance(content, dict):
        raise RecordError(path, f"holds a JSON {type(content).__name__}, expected an object", remedy)
    found = content.get("schema", 0)
    if isinstance(found, bool) or not isinstance(found, int) or found < 0:
        raise RecordError(path, f"has schema {found!r}, expected an integer >= 0", remedy)
    if found > version:
        raise NewerRecordError(path, f"has schema {found}; this urnn_zoo reads schema {version} and older",
                          f"upgrade urnn_zoo, or {remedy}")
    return content, found
