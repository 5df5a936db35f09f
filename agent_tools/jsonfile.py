"""Reading a JSON object from a file a user or a cache points to: bounded, and one clear reason when it is not one.

A capped read, not stat(): /dev/zero, a FIFO or a log file reports no useful size and must never be read whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 4 * 2**20  # a config.json is a few KiB; a file far larger is not one


class JsonFileError(ValueError):
    """Why a file is not a JSON object, in words (without the path; callers name the file their way)."""


def read_json_object(path: Path, max_bytes: int) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise JsonFileError(str(e.strerror or e)) from None
    if len(raw) > max_bytes:
        raise JsonFileError(f"larger than {max_bytes / 2**20:g} MiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise JsonFileError("not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise JsonFileError(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except RecursionError:
        raise JsonFileError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise JsonFileError("not a JSON object")
    return data
