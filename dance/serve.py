"""`dance serve`: the static web page, onnxruntime-web and an exported model on
one local address. Plain files, no special headers (single-threaded WASM)."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "web"
VENDOR = WEB / "node_modules" / "onnxruntime-web" / "dist"


class ServeError(Exception):
    pass


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript", ".onnx": "application/octet-stream"}

    def __init__(self, *args, model: Path, **kwargs):
        self.model = model
        super().__init__(*args, directory=str(WEB), **kwargs)

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        if clean == "/model.onnx":
            return str(self.model)
        if clean == "/model.json":
            return str(self.model.with_suffix(".json"))
        if clean.startswith("/vendor/"):
            return str(VENDOR / Path(clean[len("/vendor/"):]).name)
        if clean.startswith("/node_modules/"):
            return str(WEB / "missing")
        return super().translate_path(path)

    def log_message(self, format, *args):  # quiet: one line per error only
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            super().log_message(format, *args)


def make_server(model: Path, port: int, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    if not (VENDOR / "ort.wasm.min.js").exists():
        raise ServeError(f"onnxruntime-web is not installed in {WEB}: run `make setup` (npm install in web/)")
    if not model.exists() or not model.with_suffix(".json").exists():
        raise ServeError(f"no exported model at {model}: run `dance export --out {model}` first")
    handler = functools.partial(Handler, model=model.resolve())
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror}") from None
