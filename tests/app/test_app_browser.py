"""``magplus app`` in a real browser: headless Debian Chromium driven by Playwright.

One app process (``python -m magplus app``) serves every test of this module on a free port. The
tests upload the bundled astronaut photo, make a synthetic micro-expression, press Run and check
what a user sees: the side-by-side and result videos, the motion plot and the summary numbers.
A second test covers a bad input (an image without a face) and the end of a browser session.
Stopping the app must remove its temporary folder.

Skipped, with the reason, when Chromium, Playwright or Gradio is not installed (``.ci/run``
installs Debian's chromium; ``make test`` installs the Python packages).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "")
                 if p and os.path.exists(p)), None)
if CHROMIUM is None:
    pytest.skip("no Chromium browser installed (Debian: apt-get install chromium); the browser test needs one",
                allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the browser test needs the Python package playwright (make test)")
pytest.importorskip("gradio", reason="the app needs Gradio: pip install -e '.[app]' (make test)")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from magplus.magnify.alpha import DEFAULT_ALPHA_MAX  # noqa: E402

STARTUP_S = 90          # importing torch + gradio on a loaded 2-core machine
RUN_S = 240             # one 128-px run takes ~15 s alone; CI may be busy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)


@pytest.fixture(scope="module")
def app_server():
    """``(url, temporary root)`` of a running app; stopping it must remove the root."""
    port = _free_port()
    # A 1-s heartbeat makes the server notice a closed tab quickly (session-end cleanup).
    env = {**os.environ, "GRADIO_HEARTBEAT_INTERVAL": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "magplus", "app", "--port", str(port), "--max-frames", "120"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    seen, root, deadline = [], None, time.monotonic() + STARTUP_S
    while root is None and time.monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        seen.append(line)
        match = re.search(r"magplus app: (http://\S+) \(temporary folder (\S+),", line)
        if match:
            url, root = match.group(1), Path(match.group(2))
    if root is None:
        process.kill()
        pytest.fail(f"magplus app did not start within {STARTUP_S} s:\n{''.join(seen)}")
    assert url == f"http://127.0.0.1:{port}", "the app must listen on localhost by default"
    assert root.is_dir()
    yield url, root
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert not root.exists(), f"stopping the app left its temporary folder {root}"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open(browser, url: str):
    """A new page (a new browser session) that records requests leaving the app's host."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.external_requests = []
    page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else page.external_requests.append(r.url))
    page.goto(url)
    expect(page.locator("#run")).to_be_visible(timeout=30_000)
    return page


def _upload_source(page, path: Path) -> None:
    page.locator("#source-mode").get_by_text("my upload").click()
    page.locator("#source-upload input[type=file]").set_input_files(str(path))
    expect(page.locator("#source-upload img")).to_be_visible(timeout=30_000)


def _write_image(path: Path, image) -> Path:
    from magplus.io import write_image

    write_image(path, image)
    return path


def _summary_rows(page) -> dict[str, list[float]]:
    """The motion table: clip -> [peak px, peak ratio, correlation]."""
    rows = {}
    for row in page.locator("#summary table").first.locator("tbody tr").all():
        cells = [c.inner_text().strip() for c in row.locator("td").all()]
        rows[cells[0]] = [float(c) for c in cells[1:]]
    return rows


def test_synthetic_run_in_browser(app_server, browser, tmp_path):
    import skimage.data
    import torch

    url, _ = app_server
    face = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float() / 255.0
    page = _open(browser, url)
    _upload_source(page, _write_image(tmp_path / "astronaut.png", face))
    page.locator("#resolution").get_by_text("128").click()
    fps = page.locator("#synth-fps input")
    fps.fill("50")
    fps.press("Tab")
    page.locator("#run").click()
    # Each stage names itself in the progress overlay while it runs (synthesis alone takes seconds).
    stages = re.compile(r"reading the inputs|rendering the|MagPipeline|writing the videos|measuring the motion")
    expect(page.locator("#status")).to_contain_text(stages, timeout=60_000)

    expect(page.locator("#summary table").first).to_be_visible(timeout=RUN_S * 1000)
    expect(page.locator("#status")).to_contain_text("Done in")
    for video in ("#side-by-side video", "#result video"):
        expect(page.locator(video)).to_have_attribute("src", re.compile(r"\.mp4$"))
        # The browser decodes the mp4 (H.264 from PyAV): its width is known once metadata loads.
        page.wait_for_function(f"document.querySelector('{video}').videoWidth > 0", timeout=30_000)
    plot = page.locator("#plot img")
    expect(plot).to_be_visible()
    assert page.evaluate("document.querySelector('#plot img').naturalWidth") > 300
    assert page.locator("#downloads a").count() >= 4

    alpha = float(re.search(r"α = ([\d.]+)", page.locator("#summary").inner_text()).group(1))
    assert 1.0 < alpha <= DEFAULT_ALPHA_MAX
    rows = _summary_rows(page)
    assert set(rows) == {"ground truth", "driving", "direct", "MagPlus"}
    assert rows["ground truth"][1:] == [1.0, 1.0]
    for name, (peak, ratio, corr) in rows.items():
        # A 1.5 px (at 256 px) AU12 on a 128-px crop: every clip moves, by at most a few pixels.
        assert 0.0 < peak < 5.0, (name, peak)
        assert 0.0 < ratio < 50.0, (name, ratio)
        assert -1.0 <= corr <= 1.0, (name, corr)
    # The driving clip is the same AU program on another face: its curve follows the ground truth.
    assert rows["driving"][2] > 0.8
    assert page.external_requests == [], "the page must work offline"
    assert "Traceback" not in page.content()
    page.close()


def test_bad_input_is_a_message_and_session_end_removes_uploads(app_server, browser, tmp_path):
    import torch

    url, root = app_server
    page = _open(browser, url)
    _upload_source(page, _write_image(tmp_path / "no_face.png", torch.full((3, 96, 96), 0.5)))
    uploads = [p for p in root.rglob("no_face.png")]
    assert uploads, "the upload must live in the app's temporary folder"
    page.locator("#run").click()
    expect(page.locator("#status")).to_contain_text("Cannot run", timeout=RUN_S * 1000)
    expect(page.locator("#status")).to_contain_text("face")
    assert "Traceback" not in page.content()
    assert page.locator("#summary table").count() == 0
    page.close()
    deadline = time.monotonic() + 30
    # The session's end removes the uploads first and its folder after: wait for both.
    while (any(p.exists() for p in uploads) or list(root.glob("session-*"))) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(p.exists() for p in uploads), "closing the tab must remove the session's uploads"
    assert not list(root.glob("session-*")), "closing the tab must remove the session's folder"
