"""knowledge.ingest against a real embedded Chroma store: idempotence, edits, deletions, bad files, crashes."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

import knowledge.ingest as ingest_module
from knowledge.ingest import MAX_FILE_BYTES, SHIPPED_PREFIX, SHIPPED_ROOT, ingest
from knowledge.store import KnowledgeStore, open_store

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "notes"
KNOWLEDGE_DIR = Path(__file__).parent.parent / "knowledge"


@pytest.fixture(autouse=True, scope="module")
def onnx_tripwire():
    """Fail loudly if anything makes Chroma fall back to its ONNX default model (it would download it)."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(self, *args, **kwargs):
        raise AssertionError("Chroma's default ONNX embedding function was used")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)
        yield


@pytest.fixture(scope="module", autouse=True)
def embedding_model():
    """Load the sentence-transformers model once for the module (it is cached per process)."""
    from knowledge import embeddings

    return embeddings.get_model()


@pytest.fixture
def store(tmp_path: Path) -> KnowledgeStore:
    return open_store(path=tmp_path / "chroma")


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(FIXTURES, folder)
    return folder


def _paths(store: KnowledgeStore) -> Counter[str]:
    return Counter(str(meta["path"]) for meta in store.metadatas().values())


def test_a_second_ingest_of_the_same_folder_changes_nothing(store: KnowledgeStore, notes: Path):
    first = ingest([notes], store, progress=False)
    assert first.files_seen == 6
    assert first.files_ingested == 6
    assert first.chunks_added == first.chunks_total == store.count() > 6
    ids = set(store.ids())

    second = ingest([notes], store, progress=False)
    assert (second.files_unchanged, second.files_ingested, second.chunks_added, second.chunks_removed) == (6, 0, 0, 0)
    assert set(store.ids()) == ids


def test_chunk_metadata_records_file_root_and_note(store: KnowledgeStore, notes: Path):
    ingest([notes], store, progress=False)
    metas = [m for m in store.metadatas().values() if m["note_id"] == "gpu-tiers" and m["lang"] == "zh"]
    assert metas
    for meta in metas:
        assert meta["path"] == (notes / "gpu-tiers.zh.md").as_posix()
        assert meta["root"] == notes.as_posix()
        assert meta["kind"] == "user"
        assert meta["title"] == "24 GB 显卡能装下哪些模型（测试样例）"
        assert meta["source"].startswith("https://www.nvidia.com/")


def test_an_edited_file_replaces_exactly_its_changed_chunks(store: KnowledgeStore, notes: Path):
    ingest([notes], store, progress=False)
    before = store.metadatas()
    note = notes / "kv-cache-basics.en.md"
    note.write_text(note.read_text().replace("exactly 1 GiB", "exactly one gibibyte (1 GiB)"))

    report = ingest([notes], store, progress=False)
    assert (report.files_ingested, report.files_unchanged) == (1, 5)
    assert report.chunks_added == report.chunks_removed == 1
    after = store.metadatas()
    assert len(after) == len(before)
    changed = set(after) - set(before)
    assert len(changed) == 1
    (new_id,) = changed
    assert "exactly one gibibyte" in store.chunks(where={"content_hash": after[new_id]["content_hash"]})[0].text


def test_a_deleted_file_loses_its_chunks_and_nothing_else(store: KnowledgeStore, notes: Path):
    ingest([notes], store, progress=False)
    before = _paths(store)
    gone = notes / "quantization-basics.zh.md"
    gone.unlink()

    report = ingest([notes], store, progress=False)
    assert report.files_removed == 1
    assert report.chunks_removed == before[gone.as_posix()]
    after = _paths(store)
    assert gone.as_posix() not in after
    assert after == Counter({k: v for k, v in before.items() if k != gone.as_posix()})


def test_a_file_ingested_again_through_another_path_is_not_duplicated(store: KnowledgeStore, notes: Path):
    ingest([notes], store, progress=False)
    total = store.count()
    single = ingest([notes / "gpu-tiers.en.md"], store, progress=False)
    assert (single.files_seen, single.files_unchanged) == (1, 1)

    parent = ingest([notes.parent], store, progress=False)  # same files under a wider root: re-keyed, not copied
    assert parent.files_ingested == 6
    assert parent.chunks_added == parent.chunks_removed == total
    assert store.count() == total
    assert {m["root"] for m in store.metadatas().values()} == {notes.parent.as_posix()}


def test_a_missing_path_removes_what_was_ingested_from_it(store: KnowledgeStore, notes: Path, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "extra.md").write_text("## Extra\n" + "A paragraph about NVLink bandwidth between two cards. " * 8)
    ingest([notes, other], store, progress=False)
    shutil.rmtree(other)

    report = ingest([other], store, progress=False)
    assert report.files_removed == 1
    assert report.skipped[0].reason.startswith("not found")
    assert not any(p.startswith(other.as_posix()) for p in _paths(store))
    assert len(_paths(store)) == 6  # the notes folder is untouched


def test_bad_files_are_skipped_with_a_reason_and_good_ones_still_ingested(store: KnowledgeStore, tmp_path: Path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("## Good\n" + "Paged attention splits the KV cache into blocks. " * 10)
    (folder / "page.html").write_text(
        "<html><title>Offload</title><body><h2>CPU offload</h2><p>"
        + "Offloading layers to system RAM trades speed for capacity. " * 8
        + "</p><script>var x = 1;</script></body></html>"
    )
    (folder / "plain.txt").write_text("统一内存让 CPU 和 GPU 共用同一块内存，" * 10)
    (folder / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "empty.md").write_text("  \n\n")
    (folder / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "huge.txt").write_text("x" * (MAX_FILE_BYTES + 1))
    (folder / "broken.md").write_text("---\nid: [oops\n---\n## A\ntext\n")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    (folder / "image.png").write_bytes(b"\x89PNG")  # not a supported type: ignored in a folder walk
    explicit = tmp_path / "notes.docx"
    explicit.write_bytes(b"PK\x03\x04")

    report = ingest([folder, explicit], store, progress=False)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert report.files_ingested == 3
    assert sorted(Path(p).name for p in _paths(store)) == ["good.md", "page.html", "plain.txt"]
    assert reasons["binary.md"].startswith("binary file")
    assert reasons["empty.md"].startswith("empty")
    assert reasons["latin1.txt"].startswith("not UTF-8")
    assert reasons["huge.txt"].startswith("larger than 5 MB")
    assert "front matter" in reasons["broken.md"]
    assert reasons["notes.docx"].startswith("unsupported file type")
    try:
        import pypdf  # noqa: F401
    except ImportError:
        assert reasons["scan.pdf"] == "PDF support needs the optional package pypdf (pip install pypdf)"
    assert "image.png" not in reasons

    html_meta = next(m for m in store.metadatas().values() if m["path"].endswith("page.html"))
    assert html_meta["title"] == "Offload"
    assert html_meta["heading"] == "CPU offload"
    assert html_meta["note_id"] == "page"
    plain_meta = next(m for m in store.metadatas().values() if m["path"].endswith("plain.txt"))
    assert plain_meta["lang"] == "zh"


def test_a_file_that_turns_unreadable_keeps_its_chunks_but_an_emptied_file_loses_them(
    store: KnowledgeStore, notes: Path
):
    ingest([notes], store, progress=False)
    before = _paths(store)
    (notes / "gpu-tiers.en.md").write_bytes(b"\x00\x01binary now")
    (notes / "gpu-tiers.zh.md").write_text("")

    report = ingest([notes], store, progress=False)
    after = _paths(store)
    assert after[(notes / "gpu-tiers.en.md").as_posix()] == before[(notes / "gpu-tiers.en.md").as_posix()]
    assert (notes / "gpu-tiers.zh.md").as_posix() not in after
    assert {Path(s.path).name for s in report.skipped} == {"gpu-tiers.en.md", "gpu-tiers.zh.md"}


def test_an_interrupted_ingest_loses_nothing_and_a_rerun_completes_it(
    store: KnowledgeStore, notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    ingest([notes], store, progress=False)
    before = _paths(store)
    for name in ("kv-cache-basics.en.md", "quantization-basics.zh.md"):
        path = notes / name
        path.write_text(path.read_text().replace("## ", "## Revised: "))
    (notes / "gpu-tiers.en.md").unlink()
    (notes / "new-note.md").write_text("## Brand new\n" + "Tensor parallelism splits each layer across GPUs. " * 10)

    # Crash inside the add step, after the first small batch has been written.
    monkeypatch.setattr(ingest_module, "EMBED_BATCH", 2)
    real_upsert = store.upsert
    calls = {"n": 0}

    def crashing_upsert(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated crash while adding chunks")
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(store, "upsert", crashing_upsert)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest([notes], store, progress=False)
    monkeypatch.setattr(store, "upsert", real_upsert)

    during = _paths(store)
    for path, count in before.items():  # every file still has at least its old chunks (nothing lost)
        assert during[path] >= count

    report = ingest([notes], store, progress=False)
    assert report.files_removed == 1
    fresh = open_store(path=tmp_path / "fresh-chroma")
    ingest([notes], fresh, progress=False)
    assert sorted(store.ids()) == sorted(fresh.ids())  # the same state as a clean ingest
    assert ingest([notes], store, progress=False).files_unchanged == 6


def test_shipped_notes_are_keyed_by_a_location_independent_path(
    store: KnowledgeStore, notes: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ingest_module, "SHIPPED_NOTES_DIR", notes)
    report = ingest(None, store, progress=False)
    assert report.files_ingested == 6
    metas = list(store.metadatas().values())
    assert all(m["path"].startswith(SHIPPED_PREFIX) for m in metas)
    assert {m["root"] for m in metas} == {SHIPPED_ROOT}
    assert {m["kind"] for m in metas} == {"note"}
    # Naming the folder explicitly is the same as the default: nothing is duplicated.
    assert ingest([notes], store, progress=False).files_unchanged == 6
    assert ingest_module.shipped_notes_present(store)


def test_progress_bar_stays_off_when_stderr_is_not_a_terminal(
    store: KnowledgeStore, notes: Path, capsys: pytest.CaptureFixture[str]
):
    ingest([notes], store, progress=True)
    assert capsys.readouterr().err == ""


def test_a_collection_reopened_without_an_embedding_function_never_falls_back_to_onnx(
    store: KnowledgeStore, notes: Path, tmp_path: Path
):
    import chromadb
    from chromadb.config import Settings

    ingest([notes], store, progress=False)
    raw = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False))
    collection = raw.get_collection(store.name)  # no embedding_function: Chroma rebuilds ours from its config
    result = collection.query(query_texts=["grouped-query attention shares key/value heads"], n_results=1)
    assert result["metadatas"][0][0]["note_id"] == "kv-cache-basics"


def test_only_the_store_module_imports_chromadb():
    offenders = [
        path.name
        for path in KNOWLEDGE_DIR.glob("*.py")
        if path.name != "store.py" and re.search(r"^\s*(import|from)\s+chromadb", path.read_text(), re.MULTILINE)
    ]
    assert offenders == []
