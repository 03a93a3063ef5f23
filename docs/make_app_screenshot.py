"""Take docs/app.png: start `magplus app`, run the default synthetic example in headless Chromium.

    .venv/bin/python docs/make_app_screenshot.py [--chromium /usr/bin/chromium]

Needs the app extra (Gradio), playwright and Debian's chromium (no `playwright install`).
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("-o", "--output", default=str(HERE / "app.png"))
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = subprocess.Popen([sys.executable, "-m", "magplus", "app", "--port", str(port)], stdout=subprocess.PIPE,
                           text=True)
    try:
        for line in app.stdout:
            if re.search(r"magplus app: http://", line):
                break
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}")
            page.locator("#run").click()
            expect(page.locator("#summary table").first).to_be_visible(timeout=600_000)
            page.wait_for_function("document.querySelector('#side-by-side video').videoWidth > 0")
            # Show a frame near the apex rather than the (still) first frame.
            page.evaluate("for (const v of document.querySelectorAll('video')) { v.pause(); v.currentTime = v.duration * 0.45; }")
            page.wait_for_timeout(1000)
            page.screenshot(path=args.output, full_page=True)
            browser.close()
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=30)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
