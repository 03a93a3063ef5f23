"""Starting and stopping the app: offline Gradio settings, the temporary root, clean shutdown.

The page must work with no internet: analytics and Gradio's version check are off
(``GRADIO_ANALYTICS_ENABLED=False``), no share link, no server-side rendering (it would start a
Node server), no MCP server, Hugging Face Hub offline; the default theme's fonts ship inside the
gradio wheel. The browser test asserts that the page makes no request beyond the app's own host.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from .session import TempRoot
from .validation import Limits

#: Environment that keeps Gradio and the Hugging Face Hub client from reaching the internet.
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SSR_MODE": "False"}


def _require_gradio() -> Any:
    from ..errors import DependencyError

    try:
        import gradio
    except ImportError:
        raise DependencyError("the app needs Gradio; install it with `pip install -e \".[app]\"` "
                              "(`make demo` and `make test` do).") from None
    return gradio


def serve(host: str = "127.0.0.1", port: int = 7860, limits: Limits | None = None, open_browser: bool = False) -> None:
    """Run the app until interrupted (Ctrl-C or SIGTERM); the temporary root is removed on exit."""
    os.environ.update(OFFLINE_ENV)
    limits = limits or Limits()
    root = TempRoot()
    # Gradio's upload cache goes inside the root, so that stopping the app removes the uploads too.
    os.environ["GRADIO_TEMP_DIR"] = str(root.path)
    _require_gradio()
    from .layout import build_app

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    app = build_app(root, limits)
    app.queue(default_concurrency_limit=1)
    try:
        app.launch(server_name=host, server_port=port, share=False, inbrowser=open_browser, quiet=True,
                   show_error=False, max_file_size=f"{int(limits.max_upload_mb * 1e6)}b", ssr_mode=False,
                   pwa=False, mcp_server=False, footer_links=["settings"], prevent_thread_lock=True)
        print(f"magplus app: http://{host}:{app.server_port} (temporary folder {root.path}, removed when the "
              "app stops; Ctrl-C to stop)", flush=True)
        app.block_thread()
    finally:
        app.close()
        root.close()
        signal.signal(signal.SIGTERM, previous)
        print("magplus app: stopped, temporary folder removed", file=sys.stderr, flush=True)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
