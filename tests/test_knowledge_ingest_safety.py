"""Ingest against hostile folders and failures: symbolic links out of the folder, FIFOs, unsafe front-matter ids,
kill -9 in the middle of a run, two runs at once, and a Chroma server that goes away and comes back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.ingest import ingest, safe_note_id
from knowledge.store import KnowledgeStore, StoreError, open_store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "notes"
SECRET = "root:x:0:0:TOP-SECRET-MARKER:/root:/bin/bash"

# A child process that ingests FOLDER into the embedded store at STORE, two chunks per batch, printing a line after
# each batch (so the parent knows when to kill it) and the stored ids and paths at the end.
CHILD = textwrap.dedent(
    """
    import json, sys
    import knowledge.ingest as ingest_module
    from knowledge.store import open_store

    store_path, folder = sys.argv[1], sys.argv[2]
    ingest_module.EMBED_BATCH = 2
    real_write = ingest_module._write

    def write(store, chunks):
        real_write(store, chunks)
        print("batch", flush=True)

    ingest_module._write = write
    store = open_store(path=store_path)
    report = ingest_module.ingest([folder], store, progress=False)
    after = {cid: meta["path"] for cid, meta in store.metadatas().items()}
    print("RESULT " + json.dumps({"after": after, "report": report.model_dump()}), flush=True)
    """
)


@pytest.fixture(scope="module", autouse=True)
def embedding_model():
    from knowledge import embeddings

    return embeddings.get_model()


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    shutil.copytree(FIXTURES, folder)
    return folder


def _store_text(store: KnowledgeStore) -> str:
    return json.dumps(store.metadatas(), ensure_ascii=False) + "".join(store.collection.get()["documents"] or [])


# ------------------------------------------------------------------------------------------ links and files


def test_a_link_out_of_the_folder_is_skipped_with_a_one_line_reason(tmp_path: Path, notes: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text(SECRET + "\n")
    (outside / "private.md").write_text("## Private\n" + SECRET + "\n")
    (notes / "link.md").symlink_to(outside / "passwd")
    (notes / "linked-folder").symlink_to(outside, target_is_directory=True)
    (notes / "inside-link.md").symlink_to(notes / "gpu-tiers.en.md")  # inside: ingested once, at its real path
    store = open_store(path=tmp_path / "chroma")

    report = ingest([notes], store, progress=False)

    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"link.md", "linked-folder"}, reasons
    for reason in reasons.values():
        assert "symbolic link" in reason and "outside" in reason and "\n" not in reason
    assert SECRET not in _store_text(store) and "TOP-SECRET" not in _store_text(store)
    paths = {str(m["path"]) for m in store.metadatas().values()}
    assert (notes / "gpu-tiers.en.md").as_posix() in paths
    assert not {Path(p).name for p in paths} & {"link.md", "inside-link.md", "private.md"}
    assert report.files_seen == 6  # the fixtures, nothing twice


def test_the_cli_prints_one_warning_line_per_refused_link(
    tmp_path: Path, notes: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from knowledge.cli import main

    (tmp_path / "passwd").write_text(SECRET)
    (notes / "link.md").symlink_to(tmp_path / "passwd")
    monkeypatch.setenv("VRAMWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VRAMWISE_CHROMA_URL", raising=False)
    assert main(["ingest", str(notes)]) == 0
    err = capsys.readouterr()
    lines = [line for line in (err.out + err.err).splitlines() if "link.md" in line]
    assert len(lines) == 1 and "symbolic link" in lines[0] and "not followed" in lines[0]


def test_a_fifo_named_like_a_note_does_not_hang_the_ingest(tmp_path: Path, notes: Path) -> None:
    os.mkfifo(notes / "pipe.md")

    def too_slow(*_: object) -> None:
        raise TimeoutError("ingest blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(120)
    try:
        report = ingest([notes], open_store(path=tmp_path / "chroma"), progress=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert "not a regular file" in reasons["pipe.md"]
    assert report.files_ingested == 6


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "etc-passwd"),
        ("My Note / v2", "my-note-v2"),
        ("kv-cache", "kv-cache"),
        ("显存 笔记", "显存-笔记"),
        ("a\x00b\nc", "a-b-c"),
        ("...", "untitled"),
        ("x" * 500, "x" * 100),
    ],
)
def test_a_front_matter_id_becomes_a_safe_slug(raw: str, expected: str) -> None:
    assert safe_note_id(raw) == expected


def test_ingested_chunks_carry_the_slugged_id(tmp_path: Path) -> None:
    folder = tmp_path / "user-notes"
    folder.mkdir()
    (folder / "evil.md").write_text('---\nid: "../../etc/passwd"\ntitle: Evil\n---\n## Part\nSome real text here.\n')
    store = open_store(path=tmp_path / "chroma")
    ingest([folder], store, progress=False)
    ids = {str(m["note_id"]) for m in store.metadatas().values()}
    assert ids == {"etc-passwd"}
    assert all("/" not in cid.split("/")[0] and ".." not in cid for cid in store.ids())


# ------------------------------------------------------------------------------------------ crashes and races


def _child(store: Path, folder: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store), str(folder)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(process: subprocess.Popen[str]) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _state(store: KnowledgeStore) -> dict[str, str]:
    return {cid: str(meta["path"]) for cid, meta in store.metadatas().items()}


def _fresh_state(tmp_path: Path, folder: Path) -> dict[str, str]:
    fresh = open_store(path=tmp_path / "fresh")
    ingest([folder], fresh, progress=False)
    return _state(fresh)


def test_kill_9_in_the_middle_of_an_ingest_loses_nothing_and_a_rerun_completes_it(tmp_path: Path, notes: Path) -> None:
    # The store is written by child processes only; this process opens it first after they are gone.
    store_path = tmp_path / "chroma"
    first = _result(_child(store_path, notes))["after"]
    for name in ("kv-cache-basics.en.md", "quantization-basics.zh.md"):
        path = notes / name
        path.write_text(path.read_text().replace("## ", "## Revised: "))
    (notes / "gpu-tiers.en.md").unlink()
    (notes / "new-note.md").write_text("## Brand new\n" + "Tensor parallelism splits each layer across GPUs. " * 10)

    victim = _child(store_path, notes)
    assert victim.stdout is not None and victim.stderr is not None
    batches = 0
    for line in victim.stdout:
        batches += line.startswith("batch")
        if batches == 2:
            victim.send_signal(signal.SIGKILL)  # kill -9 between two writes of the run
            break
    victim.wait(timeout=60)
    victim.stdout.close()
    victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL

    store = open_store(path=store_path)
    during = _state(store)
    for path in set(first.values()):  # every file still has at least its old chunks
        old = sum(1 for p in first.values() if p == path)
        assert sum(1 for p in during.values() if p == path) >= old, path
    assert set(during) - set(first), "the killed run had written new chunks before it died"
    report = ingest([notes], store, progress=False)
    assert report.files_removed == 1
    assert _state(store) == _fresh_state(tmp_path, notes)  # exactly the state of a clean ingest


def test_two_ingests_at_once_end_in_the_state_of_one(tmp_path: Path, notes: Path) -> None:
    store_path = tmp_path / "chroma"
    runs = [_child(store_path, notes), _child(store_path, notes)]
    results = [_result(run) for run in runs]
    fresh = _fresh_state(tmp_path, notes)
    for result in results:  # each run ended with every chunk of a clean ingest, none twice
        assert result["after"] == fresh
    store = open_store(path=store_path)
    again = ingest([notes], store, progress=False)
    assert (again.chunks_added, again.chunks_removed, again.files_unchanged) == (0, 0, 6)
    assert _state(store) == fresh


# ------------------------------------------------------------------------------------------ Chroma server outage


def _chroma_cli() -> str | None:
    beside_python = Path(sys.executable).parent / "chroma"
    return str(beside_python) if beside_python.is_file() else shutil.which("chroma")


def _start_chroma(cli: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [cli, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("chroma run did not start")
        time.sleep(0.2)


@pytest.fixture
def chroma_cli() -> Iterator[str]:
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the chroma CLI is not installed next to this Python")
    yield cli


def test_a_chroma_server_outage_is_one_clear_error_and_recovery_is_exact(
    chroma_cli: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import free_port

    from knowledge.cli import main
    from knowledge.search import search_store

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_chroma(chroma_cli, tmp_path / "db", port)
    try:
        store = open_store(url=url)
        assert ingest([FIXTURES], store, progress=False).files_ingested == 6
        ids = sorted(store.ids())
    finally:
        server.terminate()
        server.wait(timeout=20)

    # the server is gone: every path says so in one line naming it, nothing hangs
    started = time.monotonic()
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}"):
        ingest([FIXTURES], store, progress=False)
    with pytest.raises(StoreError, match="cannot reach"):
        search_store(store, "grouped-query attention", k=2)
    assert main(["search", "grouped-query attention", "--chroma-url", url]) != 0
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    assert time.monotonic() - started < 60

    # back up on the same data: nothing was lost or half-written by the failed calls
    server = _start_chroma(chroma_cli, tmp_path / "db", port)
    try:
        report = ingest([FIXTURES], store, progress=False)
        assert (report.files_unchanged, report.chunks_added, report.chunks_removed) == (6, 0, 0)
        assert sorted(store.ids()) == ids
        assert search_store(store, "grouped-query attention", k=1).passages[0].note_id == "kv-cache-basics"
    finally:
        server.terminate()
        server.wait(timeout=20)
