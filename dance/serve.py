"""`dance serve`: the static web page, onnxruntime-web and an exported model on
one local address. Plain files, no special headers (single-threaded WASM).

Only the files the page needs are served, each under one fixed address (no
directory listings, no other file of the disk, whatever the path spelling).
Every connection has a socket timeout, so idle or half-open clients cannot hold
threads for ever, and dropped clients are not worth a traceback."""

from __future__ import annotations

import http.server
import shutil
import sys
from pathlib import Path

from dance.errors import DanceError

WEB = Path(__file__).resolve().parent.parent / "web"
VENDOR = WEB / "node_modules" / "onnxruntime-web" / "dist"
# onnxruntime-web files the page loads: the script (index.html), and the WASM
# runtime it fetches from ort.env.wasm.wasmPaths (app.js); the source map only
# when the browser's developer tools ask for it
VENDOR_FILES = ("ort.wasm.min.js", "ort.wasm.min.js.map", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("index.html", "app.js", "frames-worklet.js")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
                 ".wasm": "application/wasm", ".json": "application/json", ".onnx": "application/octet-stream",
                 ".map": "application/json"}
TIMEOUT_SECONDS = 20.0  # a connection idle this long is closed


class ServeError(DanceError):
    pass


def site_files(model: Path) -> dict[str, Path]:
    """URL path -> file: everything the server will ever send."""
    files = {"/": WEB / "index.html", **{f"/{name}": WEB / name for name in PAGE_FILES}}
    files.update({f"/vendor/{name}": VENDOR / name for name in VENDOR_FILES})
    files["/model.onnx"] = model
    files["/model.json"] = model.with_suffix(".json")
    return files


class Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, Path] = {}
    timeout = TIMEOUT_SECONDS  # socket timeout: StreamRequestHandler applies it to every read and write
    server_version = "dance"
    sys_version = ""

    def do_GET(self) -> None:
        self.send(body=True)

    def do_HEAD(self) -> None:
        self.send(body=False)

    def send(self, body: bool) -> None:
        # the raw path is matched exactly: '/./x', '/%78', '/x/' and '/vendor/' are not names in the list
        path = self.files.get(self.path.split("?", 1)[0].split("#", 1)[0])
        if path is None or not path.is_file():
            self.send_error(404, "Not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPES.get(path.suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if body:
            with open(path, "rb") as f:
                shutil.copyfileobj(f, self.wfile)

    def log_request(self, code="-", size="-") -> None:  # quiet: successful requests print nothing
        if str(code).startswith(("4", "5")):
            super().log_request(code, size)

    def log_error(self, format, *args) -> None:
        if "timed out" in format or format.startswith("code %d"):  # an idle client; or a 404, logged once by log_request
            return
        super().log_error(format, *args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        """Clients that hang up or stall (ConnectionResetError, BrokenPipeError,
        timeouts) are normal on a network: nothing to print. Anything else: one line."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        print(f"dance serve: {client_address[0]}: {type(error).__name__}: {error}", file=sys.stderr)


def make_server(model: Path, port: int, host: str = "127.0.0.1", timeout: float = TIMEOUT_SECONDS) -> Server:
    if not (VENDOR / "ort.wasm.min.js").exists():
        raise ServeError(f"onnxruntime-web is not installed in {WEB}: run `make setup` (npm install in web/)")
    if not model.exists() or not model.with_suffix(".json").exists():
        raise ServeError(f"no exported model at {model}: run `dance export --out {model}` first")
    return listen(type("SiteHandler", (Handler,), {"files": site_files(model.resolve()), "timeout": timeout}), port, host)


def listen(handler: type[Handler], port: int, host: str) -> Server:
    """A server for `handler` (a Handler subclass with its `files`), or a one-line ServeError."""
    try:
        return Server((host, port), handler)
    except OSError as e:
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror}") from None
