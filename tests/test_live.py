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
import soundfile
from pythonosc.osc_message import OscMessage
from websockets.sync.client import connect

from dance import config, metrics
from dance.cli import main
from dance.data.dataset import find_chunks, read_chunk_audio
from dance.inference import DEFAULT_MODEL, predict_phase
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel
from dance.stream import Row, Stream
from dance.terminal import TerminalDisplay


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
    samples = read_chunk_audio(find_chunks(small_chunks)[0])[: 12 * config.SAMPLE_RATE].astype(np.float32) / 32768
    upsampled = np.interp(np.arange(0, len(samples), 16000 / 44100), np.arange(len(samples)), samples)
    path = tmp_path_factory.mktemp("live") / "song.wav"
    soundfile.write(str(path), np.stack([upsampled, upsampled], axis=1), 44100)
    return path, samples


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


@pytest.fixture
def cli(capsys):
    def run(*args):
        capsys.readouterr()
        rc = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return rc, out, err
    return run


@pytest.mark.parametrize("options, message", [
    (["--osc", "127.0.0.1"], "--osc wants HOST:PORT"),
    (["--osc", "127.0.0.1:notaport"], "is not a number"),
    (["--osc", "127.0.0.1:70000"], "outside 1-65535"),
    (["--websocket", "0"], "outside 1-65535"),
    (["--websocket", "BUSY"], "cannot listen on 127.0.0.1"),
    (["--speed", "0"], "--speed must be above 0"),
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
    rows = [Row(0.02, 0.9, None, float("nan")), Row(0.04, 0.25, 0.03, 2.0)]
    display.update(np.full(320, 0.1, dtype=np.float32), rows, dropped=3)
    display.close()
    line = screen.getvalue()
    assert line.startswith("\r● bar    1 |██████··················| phase 0.25  bar 2.00 s (30.0 bars/min)  input -20.0 dBFS  dropped 3")
    assert display.summary() == "2 frames (0.0 s of audio), 1 downbeats, last bar 2.00 s (30.0 bars/min), 3 dropped blocks"
