"""Where `dance live` sends its rows: OSC over UDP, a WebSocket feed, a MIDI
clock and an Ableton Link session.

Every output sends rows as the Stream gives them, so the anticipation applies
to each. A consumer that goes away costs a counted error on its own output,
never the others; a port or host that cannot be used at start is a
`LiveError` (one line)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import queue
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from pythonosc.osc_message_builder import OscMessageBuilder

from dance.clock import CLOCK, ClockScheduler
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


def osc_message_int(address: str, value: int) -> bytes:
    builder = OscMessageBuilder(address)
    builder.add_arg(value, "i")
    return builder.build().dgram


def osc_messages(row: Row) -> list[bytes]:
    """/dance/phase f and /dance/confidence f every row (and /dance/beat_phase f
    from a beat model); /dance/beat i on a beat (its number in the bar);
    /dance/downbeat on a downbeat, then /dance/tempo f (bars per minute) once
    the bar length is known."""
    messages = [osc_message("/dance/phase", row.phase), osc_message("/dance/confidence", row.confidence)]
    if not math.isnan(row.beat_phase):
        messages.append(osc_message("/dance/beat_phase", row.beat_phase))
    if row.beat is not None:
        messages.append(osc_message_int("/dance/beat", row.beat))
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
            self._failed(e)

    def _failed(self, e: OSError) -> None:
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
    """{"time", "phase", "beat_phase" (or null), "confidence", "downbeat" (seconds or null), "beat" (number in the bar, or null), "bar_seconds" (or null)}."""
    bar = None if math.isnan(row.bar_seconds) else round(row.bar_seconds, 4)
    downbeat = None if row.downbeat is None else round(row.downbeat, 4)
    beat_phase = None if math.isnan(row.beat_phase) else round(row.beat_phase, 5)
    return json.dumps({"time": round(row.time, 3), "phase": round(row.phase, 5), "beat_phase": beat_phase,
                       "confidence": round(row.confidence, 3), "downbeat": downbeat, "beat": row.beat, "bar_seconds": bar})


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


@contextlib.contextmanager
def c_stderr_captured() -> Iterator[list[str]]:
    """What C libraries write straight to file descriptor 2 (ALSA prints its
    own error lines before python-rtmidi raises) goes into the yielded list
    instead of the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    text: list[str] = []
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text.append(sink.read().decode(errors="replace"))


def open_midi_port(name: str):
    """An existing MIDI output port whose name is or contains `name`, else a
    new virtual port called `name` (ALSA and CoreMIDI have them; Windows does
    not, so there `name` must be an existing port, e.g. loopMIDI's). Through
    mido's python-rtmidi backend. Returns (port, its name)."""
    import mido

    try:
        backend = mido.Backend("mido.backends.rtmidi", load=True)
    except ImportError:
        raise LiveError("--midi-clock needs python-rtmidi (pip install python-rtmidi)") from None
    port = error = None
    with c_stderr_captured():
        try:
            names = backend.get_output_names()
            existing = [n for n in names if n == name] or [n for n in names if name.lower() in n.lower()]
            port = backend.open_output(existing[0]) if existing else backend.open_output(name, virtual=True)
        except (OSError, NotImplementedError, RuntimeError) as e:
            error = e
    if port is None:
        if sys.platform.startswith("linux") and not os.path.exists("/dev/snd/seq"):
            raise LiveError(f"--midi-clock: cannot open MIDI port {name!r}: this machine has no ALSA sequencer "
                            "(/dev/snd/seq is missing; `modprobe snd-seq` loads it)")
        raise LiveError(f"--midi-clock: cannot open MIDI port {name!r}: {error}")
    return port, port.name


class TimedSender:
    """Sends each message when time.monotonic() reaches its due time, in the
    order given, on its own thread; a late one goes at once. A failing send is
    handed to `failed` and the next message is tried as usual. `lateness`
    (when recorded) holds, per message, seconds from its due time to its send
    returning."""

    def __init__(self, send: Callable[[bytes], None], failed: Callable[[OSError], None], record: bool = False):
        self.send, self.failed = send, failed
        self.lateness: list[float] | None = [] if record else None
        self.messages: queue.SimpleQueue = queue.SimpleQueue()
        self.closing = False
        self.thread = threading.Thread(target=self._run, name="dance-midi-clock", daemon=True)
        self.thread.start()

    def put(self, due: float, message: bytes) -> None:
        self.messages.put((due, message))

    def _run(self) -> None:
        while True:
            due, message = self.messages.get()
            if due is None:  # close: the last message, at once
                if message is not None:
                    self._send(message)
                return
            if self.closing:  # pulses still waiting when the run ended are not sent
                continue
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._send(message)
            if self.lateness is not None:
                self.lateness.append(time.monotonic() - due)

    def _send(self, message: bytes) -> None:
        try:
            self.send(message)
        except OSError as e:
            self.failed(e)

    def close(self, last: bytes | None = None) -> None:
        self.closing = True
        self.messages.put((None, last))
        self.thread.join(timeout=5)


class MidiClockOutput(Output):
    """MIDI clock (24 pulses per quarter, song position, Start/Continue, Stop
    at the end) from `dance.clock.ClockScheduler`. A row's messages are timed
    from the moment the row arrives: an event `d` seconds after the row's time
    goes `d / speed` seconds later (speed: --input's --speed). `send` replaces
    the MIDI port (tests and benchmarks: a function taking the message's bytes)."""

    def __init__(self, port: str, quarters_per_bar: int = 4, speed: float = 1.0,
                 send: Callable[[bytes], None] | None = None, record: bool = False):
        super().__init__()
        try:
            self.scheduler = ClockScheduler(quarters_per_bar)
        except ValueError as e:
            raise LiveError(f"--quarters-per-bar: {e}") from None
        self.speed, self.port = speed, None
        self.name = f"MIDI clock {port}"
        if send is None:
            import mido

            self.port, port_name = open_midi_port(port)
            self.name = f"MIDI clock {port_name}"
            cache = {CLOCK: mido.Message.from_bytes(CLOCK)}

            def send(message: bytes) -> None:
                self.port.send(cache.get(message) or mido.Message.from_bytes(message))
        self.sender = TimedSender(send, self._failed, record)

    def _send(self, rows: list[Row]) -> None:
        if not rows:
            return
        now, last = time.monotonic(), rows[-1].time
        for row in rows:
            for event in self.scheduler.push(row):
                self.sender.put(now + (event.time - last) / self.speed, event.message)

    def close(self) -> None:
        stop = self.scheduler.stop(0.0)
        self.sender.close(stop[0].message if stop else None)
        if self.port is not None:
            self.port.close()


LINK_TEMPO_TOLERANCE = 0.1  # BPM: a smaller change of the clock's tempo is not sent to the Link session
LINK_BEAT_TOLERANCE = 0.01  # quarters: nor a smaller difference in beat
LINK_TEMPO_RANGE = (20.0, 999.0)  # what Link accepts


class LinkOutput(Output):
    """An Ableton Link session (LinkPython-extern): the tempo (quarters per
    minute) and the beat of the same phase-locked clock as --midi-clock, with
    a quantum of one bar (its quarters), so a peer's bar phase is the
    predicted bar phase.
    The session is updated (tempo set, beat forced at the present instant)
    when either differs from the clock by more than the tolerances above.
    `enabled=False` keeps Link off the network (no peers, tests)."""

    def __init__(self, quarters_per_bar: int = 4, enabled: bool = True):
        super().__init__()
        try:
            import link
        except ImportError:
            raise LiveError("--link needs LinkPython-extern (pip install LinkPython-extern)") from None
        try:
            self.scheduler = ClockScheduler(quarters_per_bar)
        except ValueError as e:
            raise LiveError(f"--quarters-per-bar: {e}") from None
        self.name = "Ableton Link"
        self.link = link.Link(120.0)
        self.link.enabled = enabled
        self.updates = 0

    def _send(self, rows: list[Row]) -> None:
        for row in rows:
            self.scheduler.push(row)
        if not rows or not self.scheduler.running:
            return
        now = self.link.clock().micros()
        quantum = self.scheduler.quarters
        tempo = min(max(self.scheduler.tempo, LINK_TEMPO_RANGE[0]), LINK_TEMPO_RANGE[1])
        beat = self.scheduler.beats(rows[-1].time)
        state = self.link.captureAppSessionState()
        if abs(state.tempo() - tempo) > LINK_TEMPO_TOLERANCE or abs(state.beatAtTime(now, quantum) - beat) > LINK_BEAT_TOLERANCE:
            state.setTempo(tempo, now)
            state.forceBeatAtTime(beat, now, quantum)
            self.link.commitAppSessionState(state)
            self.updates += 1

    def close(self) -> None:
        self.link.enabled = False
