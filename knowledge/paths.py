"""Where vramwise keeps per-user data (the Chroma store, the jieba cache) and where the shipped notes are."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "VRAMWISE_DATA_DIR"
SHIPPED_NOTES_DIR = Path(__file__).resolve().parent / "notes"


def default_data_dir() -> Path:
    """$VRAMWISE_DATA_DIR, else $XDG_DATA_HOME/vramwise, else ~/.local/share/vramwise."""
    explicit = os.environ.get(DATA_DIR_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "vramwise"


def cache_dir() -> Path:
    """<data dir>/cache, created on demand (jieba's prefix-dictionary cache lives here)."""
    path = default_data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shipped_note_ids() -> list[str]:
    """The ids of the notes that ship with vramwise ('kv-cache' for kv-cache.en.md and kv-cache.zh.md)."""
    return sorted({path.name.split(".", 1)[0] for path in SHIPPED_NOTES_DIR.glob("*.md")})
