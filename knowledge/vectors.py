"""Precomputed multilingual-e5-small vectors of the shipped notes' chunks.

Embedding the ~320 shipped chunks with the 4-bit C engine takes minutes on a laptop CPU; the vectors ship
instead (float16, keyed by a hash of the exact text that is embedded), so a fresh install fills its store in
about a second. A chunk whose text changed since the file was built is simply embedded live. Rebuild after
editing the notes or the chunker:

    python -m knowledge.vectors [--also tests/fixtures/notes]
        # writes knowledge/notes_vectors/multilingual-e5-small-q4.npz; --also adds other folders' chunks (the
        # test fixtures, so CI does not spend minutes embedding them)
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent / "notes_vectors"
MODEL_ID = "multilingual-e5-small-q4"  # = embeddings.MULTILINGUAL_MODEL_ID (no import: this module stays light)

_lock = threading.Lock()
_tables: dict[str, dict[str, Any]] = {}


def vectors_file(model_id: str = MODEL_ID) -> Path:
    return VECTORS_DIR / f"{model_id}.npz"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def table(model_id: str = MODEL_ID) -> dict[str, Any]:
    """text key -> unit vector (float32 numpy array); empty when no file ships for the model."""
    with _lock:
        cached = _tables.get(model_id)
        if cached is None:
            cached = {}
            path = vectors_file(model_id)
            if path.is_file():
                import numpy as np

                with np.load(path) as data:
                    vectors = data["vectors"].astype(np.float32)
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    cached = dict(zip((str(k) for k in data["keys"]), vectors, strict=True))
            _tables[model_id] = cached
        return cached


def shipped_index_texts(folder: Path | None = None) -> list[str]:
    """What ingest embeds for each chunk of the shipped notes (Chunk.index_text()), or of another folder."""
    from knowledge.chunking import chunk_document, parse_document
    from knowledge.paths import SHIPPED_NOTES_DIR

    texts: list[str] = []
    for path in sorted((folder or SHIPPED_NOTES_DIR).glob("*.md")):
        doc = parse_document(path.read_text(encoding="utf-8"), path=path.name, relative_path=path.name)
        texts.extend(chunk.index_text() for chunk in chunk_document(doc))
    return texts


def build(also: list[Path] | None = None) -> Path:
    """Embed every shipped chunk (and those of `also`), reusing vectors already in the file, and write it."""
    import numpy as np

    from knowledge import embeddings

    texts = sorted({text for folder in [None, *(also or [])] for text in shipped_index_texts(folder)})
    known = table(MODEL_ID)
    missing = [t for t in texts if text_key(t) not in known]
    print(f"{len(texts)} chunks, {len(missing)} to embed", file=sys.stderr)
    fresh: dict[str, Any] = {}
    for start in range(0, len(missing), 8):
        batch = missing[start : start + 8]
        for text, vector in zip(batch, embeddings.embed_documents(batch, embeddings.MULTILINGUAL_MODEL), strict=True):
            fresh[text_key(text)] = np.asarray(vector, dtype=np.float32)
        print(f"  {min(start + 8, len(missing))}/{len(missing)}", file=sys.stderr)
    keys = [text_key(t) for t in texts]
    vectors = np.stack([fresh[k] if k in fresh else known[k] for k in keys]).astype(np.float16)
    VECTORS_DIR.mkdir(exist_ok=True)
    path = vectors_file(MODEL_ID)
    np.savez_compressed(path, keys=np.array(keys), vectors=vectors)
    with _lock:
        _tables.pop(MODEL_ID, None)
    return path


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="precompute multilingual-e5-small vectors of the shipped notes")
    parser.add_argument("--also", action="append", type=Path, default=[], help="another folder of .md notes")
    print(build(parser.parse_args().also))
