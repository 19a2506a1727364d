"""Shared helpers for driving the page in Debian's Chromium with Playwright."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

from dance.serve import make_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"]


def mic_flags(wav: Path) -> list[str]:
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"]


@contextlib.contextmanager
def served(model: Path):
    server = make_server(model, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def answer_with(body: bytes):
    def handler(route):
        route.fulfill(body=body, content_type="audio/wav")
    return handler


@contextlib.contextmanager
def page_at(url: str, extra_flags: list[str] = (), files: dict[str, Path] | None = None):
    """A loaded page whose model is ready; `files` are extra URLs answered from disk."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS + list(extra_flags))
        try:
            page = browser.new_page(viewport={"width": 480, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name, path in (files or {}).items():
                page.route(f"**/{name}", answer_with(path.read_bytes()))
            page.goto(url)
            page.evaluate("window.dance.ready")
            assert not errors, errors
            yield page
        finally:
            browser.close()
