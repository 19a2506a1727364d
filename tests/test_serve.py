"""`dance serve` as a hostile or careless client sees it: only the page's own
files, no listings, no way around the list by spelling a path differently, and
idle or dropped connections neither pile up nor print tracebacks."""

import contextlib
import http.client
import socket
import struct
import threading
import time

import pytest

from dance.serve import VENDOR, WEB, make_server


@contextlib.contextmanager
def running(model, timeout=20.0):
    server = make_server(model, port=0, timeout=timeout)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"onnx bytes")
    path.with_suffix(".json").write_text('{"state_size": 1}')
    return path


def get(port, path, method="GET"):
    """(status, body) for a raw request path, sent exactly as written."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body, response.getheader("Content-Type")


def test_the_page_and_its_files_are_served(model):
    with running(model) as port:
        status, body, kind = get(port, "/")
        assert status == 200 and body == (WEB / "index.html").read_bytes() and kind.startswith("text/html")
        for path in ("/app.js", "/frames-worklet.js", "/vendor/ort.wasm.min.js", "/model.json"):
            assert get(port, path)[0] == 200, path
        assert get(port, "/model.onnx")[1] == b"onnx bytes"
        status, body, kind = get(port, "/vendor/ort-wasm-simd-threaded.wasm", "HEAD")
        assert status == 200 and body == b"" and kind == "application/wasm"


@pytest.mark.parametrize("path", [
    "/vendor/", "/./node_modules/", "/%6eode_modules/", "/node_modules/", "/node_modules/onnxruntime-web/dist/",
    "/vendor/ort.all.js", "/vendor/../../dance/serve.py", "/../README.md", "/%2e%2e/README.md", "/package.json",
    "/./app.js", "/%61pp.js", "/vendor//ort.wasm.min.js", "//etc/passwd", "/web/", "/index.html/",
])
def test_nothing_outside_the_list_and_no_listings(model, path):
    with running(model) as port:
        status, body, _ = get(port, path)
    assert status == 404, path
    assert b"Directory listing" not in body and b"ort.all" not in body and b"<li>" not in body


def test_the_list_names_only_existing_vendor_files():
    for name in ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"):
        assert (VENDOR / name).is_file(), name


def test_idle_and_dropped_connections_time_out_quietly(model, capsys):
    with running(model, timeout=0.5) as port:
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
        for s in idle[:50]:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a request, then silence
        dropped = [socket.create_connection(("127.0.0.1", port)) for _ in range(50)]
        for s in dropped:
            s.sendall(b"GET /vendor/ort-wasm-simd-threaded.wasm HTTP/1.1\r\nHost: x\r\n\r\n")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # reset mid-transfer
        time.sleep(1.5)
        for s in idle:  # the server closed every idle connection: reading gives end of file, not a hang
            s.settimeout(5)
            while s.recv(65536):
                pass
            s.close()
        assert threading.active_count() < 20
        assert get(port, "/app.js")[0] == 200
    err = capsys.readouterr().err
    assert "Traceback" not in err and "timed out" not in err and "Reset" not in err, err[:2000]
