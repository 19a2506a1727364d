"""Where `dance live` sends its rows: OSC over UDP and a WebSocket feed.

Every output sends rows as the Stream gives them, so the anticipation applies
to each. A consumer that goes away costs a counted error on its own output,
never the others; a port or host that cannot be used at start is a
`LiveError` (one line)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import sys
import threading

from pythonosc.osc_message_builder import OscMessageBuilder

from dance.live import LiveError
from dance.stream import Row

def parse_port(text: str, option: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise LiveError(f"{option}: port {text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise LiveError(f"{option}: port {port} is outside 1-65535")
    return port


def parse_host_port(text: str, option: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host:
        raise LiveError(f"{option} wants HOST:PORT, e.g. 127.0.0.1:9000; got {text!r}")
    return host.strip("[]"), parse_port(port, option)


def osc_message(address: str, *floats: float) -> bytes:
    builder = OscMessageBuilder(address)
    for value in floats:
        builder.add_arg(value, "f")
    return builder.build().dgram


def osc_messages(row: Row) -> list[bytes]:
    """/dance/phase f every row; /dance/downbeat on a downbeat, then
    /dance/tempo f (bars per minute) once the bar length is known."""
    messages = [osc_message("/dance/phase", row.phase)]
    if row.downbeat is not None:
        messages.append(osc_message("/dance/downbeat"))
        if not math.isnan(row.bar_seconds):
            messages.append(osc_message("/dance/tempo", 60.0 / row.bar_seconds))
    return messages


class Output:
    """One consumer: `send` never raises; failures are counted and the first is reported."""

    name = "output"

    def __init__(self) -> None:
        self.errors = 0

    def send(self, rows: list[Row]) -> None:
        try:
            self._send(rows)
        except OSError as e:
            self.errors += 1
            if self.errors == 1:
                below_display = "\n" if sys.stdout.isatty() else ""
                print(f"{below_display}dance live: {self.name}: {e.strerror or e}; the other outputs go on", file=sys.stderr, flush=True)

    def _send(self, rows: list[Row]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class OscOutput(Output):
    """UDP datagrams to HOST:PORT. The socket is connected, so an unknown host
    or no route fails at start, and a listener that goes away shows up as
    'connection refused' on a later send (counted, not fatal)."""

    def __init__(self, target: str):
        super().__init__()
        host, port = parse_host_port(target, "--osc")
        self.name = f"OSC {host}:{port}"
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as e:
            raise LiveError(f"--osc: cannot resolve host {host!r}: {e.strerror}") from None
        self.socket = socket.socket(family, kind, proto)
        try:
            self.socket.connect(address)
        except OSError as e:
            self.socket.close()
            raise LiveError(f"--osc: cannot reach {host}:{port}: {e.strerror or e}") from None

    def _send(self, rows: list[Row]) -> None:
        for row in rows:
            for message in osc_messages(row):
                self.socket.send(message)

    def close(self) -> None:
        self.socket.close()


def row_json(row: Row) -> str:
    """{"time", "phase", "downbeat" (seconds or null), "bar_seconds" (or null)}."""
    bar = None if math.isnan(row.bar_seconds) else round(row.bar_seconds, 4)
    downbeat = None if row.downbeat is None else round(row.downbeat, 4)
    return json.dumps({"time": round(row.time, 3), "phase": round(row.phase, 5), "downbeat": downbeat, "bar_seconds": bar})


class WebSocketFeed(Output):
    """A WebSocket server on 127.0.0.1:PORT sending every row as one JSON text
    message to every connected client. It runs on its own event loop thread;
    a slow or vanished client is skipped by `broadcast`, never waited for."""

    def __init__(self, port: int):
        super().__init__()
        from websockets.asyncio.server import serve

        self.name = f"WebSocket 127.0.0.1:{port}"
        async def start():
            return await serve(self._client, "127.0.0.1", port)

        self.loop = asyncio.new_event_loop()
        try:
            self.server = self.loop.run_until_complete(start())
        except OSError as e:
            self.loop.close()
            raise LiveError(f"--websocket: cannot listen on 127.0.0.1:{port}: {e.strerror or e}") from None
        self.thread = threading.Thread(target=self.loop.run_forever, name="dance-websocket", daemon=True)
        self.thread.start()

    @staticmethod
    async def _client(connection) -> None:
        await connection.wait_closed()  # clients only listen

    def _broadcast(self, messages: list[str]) -> None:
        from websockets.asyncio.server import broadcast

        for message in messages:
            broadcast(self.server.connections, message)

    def _send(self, rows: list[Row]) -> None:
        if rows:
            self.loop.call_soon_threadsafe(self._broadcast, [row_json(row) for row in rows])

    def close(self) -> None:
        async def shut() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()
