"""The help desk end to end: `vramwise serve` as a real process, a colleague's questions typed into the chat page
in headless Chromium, answers with numbers and cited notes; the MCP endpoint on the same port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def helpdesk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "VRAMWISE_CHAT_MODEL": "", "VRAMWISE_CHAT_BASE_URL": ""}
    env["VRAMWISE_DATA_DIR"] = str(tmp_path_factory.mktemp("helpdesk-data"))  # never the user's knowledge store
    proc = subprocess.Popen(
        [sys.executable, "-m", "vramwise.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"help desk did not start: {proc.stderr.read() if proc.stderr else ''}")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()


def test_api_answers_with_numbers_and_rejects_bad_requests(helpdesk: str) -> None:
    r = httpx.post(f"{helpdesk}/api/ask", json={"question": "qwen2.5 14b 32k上下文要多少显存"}, timeout=60)
    assert r.status_code == 200, r.text
    data = r.json()
    assert "GB" in data["text"] and data["language"] == "zh"
    bad = httpx.post(f"{helpdesk}/api/ask", json={"question": ""}, timeout=10)
    assert bad.status_code == 400 and "question" in bad.json()["error"]
    assert httpx.post(f"{helpdesk}/api/ask", content=b"not json", timeout=10).status_code == 415  # no JSON type
    json_type = {"Content-Type": "application/json"}
    assert httpx.post(f"{helpdesk}/api/ask", content=b"not json", headers=json_type, timeout=10).status_code == 400


@pytest.mark.anyio
async def test_mcp_endpoint_shares_the_port(helpdesk: str) -> None:
    from mcp import Client

    async with Client(f"{helpdesk}/mcp") as client:
        result = await client.call_tool("estimate_memory", {"model": "llama3.1 8b", "context_length": 8192})
        assert result.structured_content["breakdown"]["kv_cache_bytes"] == 2**30


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian chromium and chromium-driver")
def test_chat_page_in_headless_chromium(helpdesk: str, tmp_path) -> None:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(helpdesk + "/")
        assert "vramwise" in driver.title
        answers = []
        for question in ("will llama 3 70b fit on two 3090s at 4bit", "什么是 KV cache"):
            box = driver.find_element(By.ID, "question")
            box.send_keys(question)
            driver.find_element(By.ID, "send").click()
            # the page swaps the "…" placeholder for the answer: an element read mid-swap is stale, so retry
            WebDriverWait(driver, 90, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: (
                    len(d.find_elements(By.CSS_SELECTOR, ".msg.a")) > len(answers)
                    and "…" not in d.find_elements(By.CSS_SELECTOR, ".msg.a")[-1].text
                )
            )
            answers.append(driver.find_elements(By.CSS_SELECTOR, ".msg.a")[-1].text)
        assert "GB" in answers[0] and "3090" in answers[0]
        assert "note:kv-cache" in answers[1]
        driver.save_screenshot(str(tmp_path / "helpdesk.png"))
    finally:
        driver.quit()


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


OVERFLOWING = """
const w = document.documentElement.clientWidth;
return Array.from(document.querySelectorAll('body *'))
  .filter((e) => !e.closest('.scroll') && !e.closest('dialog') && e.getClientRects().length)
  .filter((e) => e.getBoundingClientRect().right > w + 1)
  .map((e) => e.tagName + '.' + e.className).slice(0, 5)
  .concat(document.documentElement.scrollWidth > w ? ['page scrollWidth ' + document.documentElement.scrollWidth] : []);
"""


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian chromium and chromium-driver")
def test_rich_answers_history_and_layout_in_headless_chromium(helpdesk: str, tmp_path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(helpdesk + "/#token=ignored-on-loopback")
        # the token leaves the address bar (app.js is deferred: wait for it rather than race the first paint)
        WebDriverWait(driver, 10).until(lambda d: d.execute_script("return location.hash") == "")
        assert driver.execute_script("return localStorage.getItem('vramwise-token')") is None
        assert driver.execute_script("return sessionStorage.getItem('vramwise-token')") == "ignored-on-loopback"
        questions = [
            "will llama 3 70b fit on two 3090s at 4bit with vllm",
            "my 4090 can run which models?",
            "qwen2.5 14b q4_k_m or q8_0 on a 4090",
            "什么是 KV cache",
        ]
        for n, question in enumerate(questions, 1):
            driver.find_element(By.ID, "question").send_keys(question)
            pending = driver.execute_script(
                "document.getElementById('send').click();"
                "return [!!document.querySelector('.msg.a.pending .spinner'), document.getElementById('send').disabled]"
            )
            assert pending == [True, True]  # a visible progress state while the answer is computed
            WebDriverWait(driver, 120).until(
                lambda d, n=n: len(d.find_elements(By.CSS_SELECTOR, ".msg.a:not(.pending)")) == n
            )
        assert len(driver.find_elements(By.CSS_SELECTOR, ".breakdown .stack span")) >= 3
        assert "margin" in driver.find_element(By.CSS_SELECTOR, ".fit .margin").text
        assert driver.find_element(By.CSS_SELECTOR, ".launch .launch-flags").text.startswith("--")
        assert len(driver.find_elements(By.CSS_SELECTOR, ".recommend tbody tr")) >= 3
        assert len(driver.find_elements(By.CSS_SELECTOR, ".compare tbody tr")) == 2
        gauge = driver.find_element(By.CSS_SELECTOR, ".fit .gauge")
        width, height = _png_size(gauge.screenshot_as_png)
        assert width > 100 and height >= 15  # the gauge is drawn, not collapsed
        # a cited note opens in the page
        source = driver.find_elements(By.CSS_SELECTOR, ".sources button")[-1]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", source)
        source.click()
        WebDriverWait(driver, 20).until(lambda d: len(d.find_element(By.ID, "note-body").text) > 200)
        assert driver.execute_script("return document.getElementById('note-dialog').open")
        driver.find_element(By.ID, "note-close").click()
        # one session id per tab, sent with every question and echoed back; history survives a reload
        session = driver.execute_script("return sessionStorage.getItem('vramwise-session')")
        history = driver.execute_script("return JSON.parse(sessionStorage.getItem('vramwise-history'))")
        assert len(history) == 4 and {turn["answer"]["session_id"] for turn in history} == {session}
        driver.refresh()
        WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.q")) == 4)
        for width in (375, 1280):
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
            )
            assert driver.execute_script(OVERFLOWING) == [], width
            shot = driver.get_screenshot_as_png()
            assert _png_size(shot)[0] == width
            (tmp_path / f"helpdesk-{width}.png").write_bytes(shot)
    finally:
        driver.quit()
