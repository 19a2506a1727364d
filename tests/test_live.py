"""The streaming runtime and `dance live`: the Stream gives predict's rows
however the audio is cut; `dance live --input` sends them over OSC (50 per
second, downbeats within a frame of predict's) and a WebSocket; a consumer
that goes away stops nothing; bad devices, ports and hosts are one line."""

import contextlib
import io
import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from websockets.sync.client import connect

from dance import config, metrics
from dance.cli import main
from dance.data.formats import find_chunks
from dance.inference import DEFAULT_MODEL, predict_phase
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel
from dance.stream import Row, Stream
from dance.terminal import TerminalDisplay
from tests.helpers import stereo_44k_wav


def dance(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "dance", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch_model = PhaseTCNMel(channels=16, layers=4, n_mels=32).eval()
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    selector.save(path, torch_model)
    return path


@pytest.fixture(scope="module")
def song(small_chunks, tmp_path_factory):
    """12 s of a rendered song as a 44.1 kHz stereo WAV, and its 16 kHz samples."""
    path = tmp_path_factory.mktemp("live") / "song.wav"
    return path, stereo_44k_wav(find_chunks(small_chunks)[0], 12, path)


def test_stream_rows_equal_predict_however_the_audio_is_cut(tiny, song):
    model = selector.load(tiny)[0]
    _, samples = song
    times, phases = predict_phase(model, samples, 0.3)
    stream, rows, start = Stream(model, 0.3), [], 0
    sizes = np.random.default_rng(0).choice([0, 1, 160, 319, 320, 321, 4000, 17000], size=400)
    for size in sizes:
        rows += stream.push(samples[start: start + size])
        start += size
    rows += stream.push(samples[start:])
    assert len(rows) == len(phases)
    np.testing.assert_array_equal([r.time for r in rows], times)
    np.testing.assert_allclose(metrics.circular_distance([r.phase for r in rows], phases), 0, atol=1e-5)
    # the downbeat rule applied row by row gives the offline function's downbeats
    live_downbeats = [r.downbeat for r in rows if r.downbeat is not None]
    np.testing.assert_array_equal(live_downbeats, metrics.downbeats(times, [r.phase for r in rows]))
    if len(live_downbeats) >= 2:
        last = rows[-1].bar_seconds
        assert last == pytest.approx(np.median(np.diff(live_downbeats[-config.BAR_LENGTH_DOWNBEATS:])))


class OscListener:
    """A UDP socket on 127.0.0.1 collecting (address, arguments) per datagram;
    `stop_after` closes it after that many, as a consumer that goes away."""

    def __init__(self, stop_after: int | None = None):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.messages, self.stop_after, self.running = [], stop_after, True
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self):
        while self.running and (self.stop_after is None or len(self.messages) < self.stop_after):
            try:
                message = OscMessage(self.socket.recv(4096))
            except socket.timeout:
                continue
            self.messages.append((message.address, message.params))
        self.socket.close()

    def close(self):
        self.running = False
        self.thread.join()


def wait(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def test_live_file_to_osc_matches_predict(song, tmp_path):
    path, _ = song
    csv, downbeats_txt = tmp_path / "p.csv", tmp_path / "d.txt"
    listener = OscListener()
    live = dance("live", "--input", path, "--osc", f"127.0.0.1:{listener.port}", "--anticipation", "0.25", "--speed", "4")
    predicted = dance("predict", path, "--anticipation", "0.25", "--out", csv, "--downbeats", downbeats_txt)
    assert wait(predicted)[0] == 0
    rc, out, err = wait(live)
    time.sleep(0.3)  # the last datagrams
    listener.close()
    assert rc == 0, err
    assert "0 dropped blocks" in out
    rows = np.loadtxt(csv, delimiter=",", skiprows=1)
    phases = [(i, args[0]) for i, (address, args) in enumerate(listener.messages) if address == "/dance/phase"]
    seconds = len(rows) * config.FRAME_SECONDS
    assert len(phases) == len(rows) and abs(len(phases) / seconds - 50) < 1
    assert metrics.circular_distance([p for _, p in phases], rows[:, 1]).max() < 2e-5  # the CSV has 5 decimals
    # a downbeat follows the phase of its row; that row's time is within one frame after predict's downbeat
    row_of_message = np.cumsum([address == "/dance/phase" for address, _ in listener.messages]) - 1
    live_downbeats = [rows[row_of_message[i], 0] for i, (address, _) in enumerate(listener.messages) if address == "/dance/downbeat"]
    reference = np.atleast_1d(np.loadtxt(downbeats_txt))
    assert len(reference) >= 2 and len(live_downbeats) == len(reference)
    assert np.all((np.array(live_downbeats) - reference >= -1e-3) & (np.array(live_downbeats) - reference <= config.FRAME_SECONDS + 1e-3))
    tempos = [args[0] for address, args in listener.messages if address == "/dance/tempo"]
    assert len(tempos) == len(reference) - 1 and all(t > 0 for t in tempos)


@contextlib.contextmanager
def free_port():
    """A port nobody listens on (the socket that found it is closed again)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    yield port


def test_a_consumer_going_away_stops_nothing(tiny, song):
    """The OSC listener leaves after 100 messages; the WebSocket client still
    gets every row to the end, and the run ends normally."""
    path, samples = song
    listener = OscListener(stop_after=100)
    with free_port() as port:
        live = dance("live", "--input", path, "--model", tiny, "--osc", f"127.0.0.1:{listener.port}", "--websocket", port, "--speed", "3")
        live.stdout.readline()  # outputs are open
        times = []
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=30) as client:
            with contextlib.suppress(Exception):  # the server closes the connection at the end
                while True:
                    times.append(json.loads(client.recv(timeout=30))["time"])
        rc, out, err = wait(live)
    listener.close()
    assert rc == 0, err
    assert len(listener.messages) == 100
    assert "OSC 127.0.0.1" in err and "the other outputs go on" in err and len(err.strip().splitlines()) == 1
    frames = len(samples) // config.FRAME_SIZE
    assert times[-1] == pytest.approx(frames * config.FRAME_SECONDS) and len(times) > frames / 2
    np.testing.assert_allclose(np.diff(times), config.FRAME_SECONDS, atol=1e-3)  # no row missing


@pytest.mark.parametrize("options, message", [
    (["--osc", "127.0.0.1"], "--osc wants HOST:PORT"),
    (["--osc", "127.0.0.1:notaport"], "is not a number"),
    (["--osc", "127.0.0.1:70000"], "outside 1-65535"),
    (["--websocket", "0"], "outside 1-65535"),
    (["--websocket", "BUSY"], "cannot listen on 127.0.0.1"),
    (["--speed", "0"], "--speed must be above 0"),
    (["--midi-clock", "dance", "--quarters-per-bar", "0"], "quarters per bar must be 1 to 32"),
])
def test_bad_outputs_are_one_line(tiny, song, cli, options, message):
    path, _ = song
    with contextlib.ExitStack() as stack:
        if "BUSY" in options:
            busy = stack.enter_context(socket.socket())
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            options = [str(busy.getsockname()[1]) if o == "BUSY" else o for o in options]
        rc, out, err = cli("live", "--input", path, "--model", tiny, *options)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("options, message", [
    (["--device", "999"], "input device"),
    (["--device", "no such card"], "input device"),
    (["--speed", "2"], "--speed applies to --input FILE only"),
    (["--input", "/no/such/song.wav"], "cannot read audio /no/such/song.wav: no such file"),
])
def test_bad_device_or_file_is_one_line(tiny, cli, options, message):
    rc, out, err = cli("live", "--model", tiny, *options)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_no_sound_card_is_one_line_and_listing_devices_works(tiny, cli):
    """This machine has no audio device: the default input is a clear error."""
    import sounddevice

    if len(sounddevice.query_devices()):
        pytest.skip("this machine has audio devices")
    rc, out, err = cli("live", "--model", tiny)
    assert rc == 2 and "no audio input device" in err and len(err.strip().splitlines()) == 1, err
    rc, out, err = cli("live", "--list-devices")
    assert rc == 0 and "no audio devices found" in out


class Screen(io.StringIO):
    def isatty(self):
        return True


def test_terminal_line_shows_bar_count_dial_phase_tempo_level_and_drops():
    screen = Screen()
    display = TerminalDisplay(screen)
    rows = [row(0.02, 0.9), row(0.04, 0.25, 2.0, downbeat=0.03)]
    display.update(np.full(320, 0.1, dtype=np.float32), rows, dropped=3)
    display.close()
    line = screen.getvalue()
    assert line.startswith("\r● bar    1 |██████··················| phase 0.25  bar 2.00 s (30.0 bars/min)  sure 0.50  input -20.0 dBFS  dropped 3")
    assert display.summary() == "2 frames (0.0 s of audio), 1 downbeats, last bar 2.00 s (30.0 bars/min), 3 dropped blocks"


# MIDI clock and Ableton Link: the pulse scheduler is pure (rows in, timed
# messages out), so most of it is checked on hand-made rows, without a device.

def row(time, phase, bar_seconds=float("nan"), downbeat=None, beat_phase=float("nan"), beat=None, confidence=0.5):
    """A Stream row, with whichever fields Row has (any other is NaN)."""
    values = {"time": time, "phase": phase, "downbeat": downbeat, "bar_seconds": bar_seconds, "beat_phase": beat_phase,
              "beat": beat, "confidence": confidence}
    return Row(**{name: values.get(name, float("nan")) for name in Row._fields})


def bar_rows(seconds, bar=2.0, offset=0.3, beat=None, noise=0.0, jump_at=None, jump=0.0, seed=0):
    """A row per 20 ms of a steady bar (downbeats at offset + k * bar); the bar
    length is known from the second downbeat on, as the Stream's is. `beat`:
    the beat length for a beat phase (else NaN); `noise`: Gaussian phase
    noise in bars; `jump`: the phase moves by this much at `jump_at`."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(round(seconds / config.FRAME_SECONDS)):
        t = (i + 1) * config.FRAME_SECONDS
        shift = jump if jump_at is not None and t >= jump_at else 0.0
        phase = float(((t - offset) / bar + shift + rng.normal(0, noise)) % 1) if noise else float(((t - offset) / bar + shift) % 1)
        beat_phase = float(((t - offset) / beat) % 1) if beat else float("nan")
        rows.append(row(t, phase, bar if t >= offset + bar + 1e-9 else float("nan"), None, beat_phase))
    return rows


def scheduled(rows, **kwargs):
    from dance.clock import ClockScheduler

    scheduler = ClockScheduler(**kwargs)
    return scheduler, [event for r in rows for event in scheduler.push(r)]


def clock_times(events):
    from dance.clock import CLOCK

    return np.array([e.time for e in events if e.message == CLOCK])


def test_midi_clock_is_24_pulses_per_quarter_on_the_bar_grid():
    """Rows with an exact phase: song position and Continue at the first row
    whose bar length is known, then pulses exactly on the grid of 96 per
    4/4 bar, starting on the next sixteenth; Stop at the end."""
    from dance.clock import CONTINUE, STOP, song_position

    scheduler, events = scheduled(bar_rows(20, bar=2.0, offset=0.3))
    start = 0.3 + 2.0 + config.FRAME_SECONDS  # the first row after the second downbeat (phase 0.01 bar)
    assert events[:2] == [(pytest.approx(start), song_position(1)), (pytest.approx(start), CONTINUE)]
    pulses = clock_times(events)
    assert len(events) == len(pulses) + 2
    np.testing.assert_allclose(pulses, 0.3 + 2.0 + (6 + np.arange(len(pulses))) * 2.0 / 96, atol=1e-9)
    assert scheduler.tempo == pytest.approx(120.0)
    assert [e.message for e in scheduler.stop(20.0)] == [STOP] and scheduler.stop(20.0) == []


def test_midi_clock_starts_at_position_zero_at_the_end_of_a_bar():
    from dance.clock import CLOCK, START, ClockScheduler, song_position

    scheduler = ClockScheduler()
    assert scheduler.push(row(1.0, 0.5)) == []  # no bar length yet
    events = scheduler.push(row(1.02, 0.995, 2.0))  # 0.48 pulse before the downbeat
    assert [e.message for e in events] == [song_position(0), START, CLOCK]
    assert events[2].time == pytest.approx(1.02 + 0.48 * 2.0 / 96)
    assert song_position(200) == bytes([0xF2, 200 & 0x7F, 1])


def pulses_per_bar(pulses, downbeats):
    return np.diff(np.searchsorted(pulses, np.asarray(downbeats) - 1e-6))  # a pulse on a downbeat counts in its bar


def test_midi_clock_rides_over_phase_noise():
    """A phase noisy by 0.01 bar per row (about one pulse): every bar still
    gets 96 pulses, give or take one, and the pulse interval stays within 5 %
    of the bar's."""
    _, events = scheduled(bar_rows(60, bar=2.0, offset=0.3, noise=0.01))
    pulses = clock_times(events)
    counts = pulses_per_bar(pulses, 0.3 + 2.0 * np.arange(3, 30))
    assert np.all(np.abs(counts - 96) <= 1), counts
    assert np.percentile(np.abs(np.diff(pulses) / (2.0 / 96) - 1), 99) < 0.05


def test_midi_clock_works_off_a_phase_jump_within_its_rate_limit():
    """The predicted phase jumps a quarter bar ahead: the pulses are back in
    place (within half a pulse) in five seconds, never running faster than
    MAX_RATE_CHANGE allows."""
    from dance.clock import MAX_RATE_CHANGE

    _, events = scheduled(bar_rows(30, bar=2.0, offset=0.3, jump_at=10.0, jump=0.25))
    pulses = clock_times(events)
    period = 2.0 / 96
    assert np.diff(pulses).min() >= period / (1 + MAX_RATE_CHANGE) - 1e-9
    in_bar = ((6 + np.arange(len(pulses))) % 96) / 96  # the clock's place in its bar (it started a sixteenth in)
    truth = ((pulses - 0.3) / 2.0 + np.where(pulses >= 10.0, 0.25, 0.0)) % 1
    error = metrics.circular_distance(in_bar, truth) * 96  # pulses
    assert error[pulses < 10.0].max() < 1e-6 and error[np.searchsorted(pulses, 10.5)] > 15
    assert error[pulses > 15.0].max() < 0.5


def test_midi_clock_takes_the_quarter_from_the_beat_phase_or_the_setting():
    """3/4 at 120 quarters per minute (1.5 s bars): 72 pulses a bar from the
    beat phase, or from --quarters-per-bar 3; the default 4 makes them 96."""
    with_beat = bar_rows(20, bar=1.5, offset=0.3, beat=0.5)
    without = bar_rows(20, bar=1.5, offset=0.3)
    downbeats = 0.3 + 1.5 * np.arange(4, 12)
    if "beat_phase" in Row._fields:
        scheduler, events = scheduled(with_beat)
        assert scheduler.quarters == 3 and scheduler.tempo == pytest.approx(120.0)
        assert set(pulses_per_bar(clock_times(events), downbeats)) == {72}
    scheduler, events = scheduled(without, quarters_per_bar=3)
    assert set(pulses_per_bar(clock_times(events), downbeats)) == {72}
    scheduler, events = scheduled(without)
    assert scheduler.quarters == 4 and set(pulses_per_bar(clock_times(events), downbeats)) == {96}


def test_midi_clock_output_sends_in_order_on_time_then_stop():
    """The sender thread, with a function in place of the MIDI port: rows
    arrive in real time (4 times faster), messages go when due, Stop last."""
    from dance.clock import CLOCK, CONTINUE, STOP
    from dance.outputs import MidiClockOutput

    sent = []
    output = MidiClockOutput("test", speed=4.0, send=lambda m: sent.append((time.monotonic(), m)), record=True)
    rows = bar_rows(6, bar=1.0, offset=0.1)
    began = time.monotonic()
    for i in range(0, len(rows), 2):  # two rows per 40 ms of audio, 10 ms of wall time
        delay = began + rows[i + 1].time / 4.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        output.send(rows[i: i + 2])
    output.close()
    messages = [m for _, m in sent]
    assert messages[1] == CONTINUE and messages[-1] == STOP and set(messages[2:-1]) == {CLOCK}
    assert len(messages) - 3 >= 4 * 96 - 4  # the last row's pulses may be cut by the stop
    assert np.median(output.sender.lateness) < 0.005 and output.errors == 0


def test_a_failing_midi_consumer_stops_nothing(capsys):
    """The MIDI port fails on every message: counted, reported once; the OSC
    listener still gets every row through the live loop."""
    from dance import live
    from dance.outputs import MidiClockOutput, OscOutput

    rows = bar_rows(4, bar=1.0, offset=0.1)

    class Source:
        name, dropped = "test", 0

        def blocks(self):
            for _ in range(len(rows) // 2):
                time.sleep(0.002)
                yield np.zeros(320, dtype=np.float32)

    class Rows:
        def __init__(self):
            self.left = list(rows)

        def push(self, block):
            taken, self.left = self.left[:2], self.left[2:]
            return taken

    class Quiet:
        def update(self, block, rows, dropped):
            pass

    def gone(message):
        raise OSError(19, "No such device")

    listener = OscListener()
    midi, osc = MidiClockOutput("test", speed=10.0, send=gone), OscOutput(f"127.0.0.1:{listener.port}")
    live.run(Source(), Rows(), [midi, osc], Quiet())
    midi.close()
    osc.close()
    time.sleep(0.3)
    listener.close()
    assert len([a for a, _ in listener.messages if a == "/dance/phase"]) == len(rows)
    assert midi.errors > 1
    err = capsys.readouterr().err
    assert err.strip() == "dance live: MIDI clock test: No such device; the other outputs go on"


@pytest.mark.skipif(__import__("os").path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_midi_clock_without_a_sequencer_is_one_line(tiny, song, capfd):
    """No /dev/snd/seq: one line of our own and none of ALSA's (which it
    writes to file descriptor 2, captured here), no traceback."""
    path, _ = song
    capfd.readouterr()
    rc = main(["live", "--input", str(path), "--model", str(tiny), "--midi-clock", "dance"])
    err = capfd.readouterr().err
    assert rc == 2 and "no ALSA sequencer" in err and len(err.strip().splitlines()) == 1, err


def test_link_session_gets_the_clocks_tempo_and_bar_phase():
    """A real Link instance, kept off the network: after rows at 120 quarters
    per minute, its session has that tempo and, with a one-bar quantum, the
    predicted bar phase."""
    from dance.outputs import LinkOutput

    output = LinkOutput(enabled=False)
    rows = bar_rows(4, bar=2.0, offset=0.3)
    began = time.monotonic()
    for r in rows:
        delay = began + r.time - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        output.send([r])
    state = output.link.captureAppSessionState()
    now = output.link.clock().micros()
    assert output.errors == 0 and output.link.numPeers() == 0
    assert state.tempo() == pytest.approx(120.0, abs=0.2)
    lag = time.monotonic() - began - rows[-1].time  # seconds since the last row's time
    assert metrics.circular_distance([state.phaseAtTime(now, 4) / 4], [rows[-1].phase + lag / 2.0])[0] < 0.02
    running = sum(r.bar_seconds > 0 for r in rows)
    assert 1 <= output.updates <= running  # how many depends on how evenly this machine keeps time
    output.close()


def test_live_with_link_runs(tiny, song):
    """--link end to end, in a network namespace of its own (no interface up,
    so no Link traffic leaves the process)."""
    import shutil

    path, _ = song
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode != 0:
        pytest.skip("no network namespaces here")
    live = subprocess.Popen(["unshare", "-n", sys.executable, "-m", "dance", "live", "--input", str(path), "--model", str(tiny), "--link", "--speed", "4"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, out, err = wait(live)
    assert rc == 0, err
    assert out.splitlines()[0].startswith(f"dance live: {path} at 4x real time -> Ableton Link")
