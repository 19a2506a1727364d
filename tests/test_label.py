"""`dance label`: the labelling page in a real headless Chromium on a rendered
song with known bars (correct the proposal, accept, reject, skip, reopen),
its JSON API against bad requests, the labelled recording through
`dance data chop` and `dance eval` like a rendered song, and fine-tuning on
its chunks mixed with a corpus (`train --mix-chunks`), and a song whose
meter and tempo change, marked and labelled on the page section by section."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from playwright.sync_api import sync_playwright

from dance import config, inference
from dance.cli import main
from dance.corpus.generator import compose
from dance.data import pipeline
from dance.data.audio import read_audio
from dance.data.dataset import ChunkDataset
from dance.data.formats import find_chunks, read_bars_csv
from dance.evaluate import evaluate
from dance.label import Labeller, Section, Settings, bar_grid, find_recordings
from dance.label_server import labelling_server
from dance.model import selector
from dance.train import Options, evaluate_loss, mixed_sampler, train
from tests.browser import CHROMIUM, FLAGS
from tests.helpers import circular
from tests.midi_helpers import TPB, write_midi
from tests.test_browser import steady_four_four_seed

ARTIFACTS = Path(__file__).resolve().parent.parent / "results" / "browser"
TOLERANCE = 0.010  # seconds: the written bar starts against the truth
TINY = dict(channels=16, layers=5, n_mels=32)  # a small model, for the resume test
KICK, SNARE, CLOSED_HAT, CRASH = 36, 38, 42, 49  # General MIDI drums
# the changing song: 8 bars of 4/4 at 120 BPM, then 14 bars of 3/4 at 150 BPM
CHANGING = ((4, 8, 500_000), (3, 14, 400_000))  # (beats per bar, bars, microseconds per beat)
CHANGE_SECONDS = 16.0


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    """A steady 4/4 song with drums rendered by FluidSynth (70 s), its true
    bar starts, and a folder of three recordings: the whole song as 44.1 kHz
    stereo WAV and two 15 s excerpts (FLAC, OGG)."""
    root = tmp_path_factory.mktemp("label")
    (root / "midi").mkdir()
    compose(steady_four_four_seed()).save(str(root / "midi" / "song.mid"))
    pipeline.render(root / "midi", root / "rendered", ["FluidR3_GM.sf2"], workers=1, seed=0, jitter=0.0)
    (ogg,) = (root / "rendered").glob("*.ogg")
    samples = read_audio(ogg)
    recordings = root / "recordings"
    recordings.mkdir()
    stereo = np.repeat(np.interp(np.arange(0, len(samples), 16000 / 44100), np.arange(len(samples)), samples)[:, None], 2, axis=1)
    soundfile.write(str(recordings / "a whole song.wav"), stereo, 44100)
    soundfile.write(str(recordings / "b excerpt.flac"), samples[20 * 16000: 35 * 16000], 16000)
    soundfile.write(str(recordings / "c excerpt.ogg"), samples[40 * 16000: 55 * 16000], 16000)
    return recordings, read_bars_csv(ogg.with_suffix(".bars.csv"))


@pytest.fixture(scope="module")
def model():
    return inference.load_model()


@contextlib.contextmanager
def running(inputs, out, model):
    with labelling_server(inputs, out, model, "shipped", port=0) as (server, labeller):
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/", labeller
        finally:
            server.shutdown()


@contextlib.contextmanager
def browser_page(url):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            yield page
            assert not errors, errors
        finally:
            browser.close()


def wait_for_recording(page, prefix: str, ready: bool = True) -> None:
    """Until the page shows the recording whose file name starts with `prefix` (and its grid, when `ready`)."""
    condition = f"label.current && label.current.file.startsWith({json.dumps(prefix)})" + (" && label.ready" if ready else "")
    page.wait_for_function(condition, timeout=300_000)


def offset_on_the_truth(beats: np.ndarray, meter: int, truth: np.ndarray) -> int:
    """The beat offset whose every `meter`-th beat lands on the true bar starts."""
    return int(np.argmin([np.abs(truth[:, None] - beats[o::meter][None]).min(axis=0).mean() for o in range(meter)]))


def written_bars(out: Path) -> dict[str, np.ndarray]:
    return {p.name.removesuffix(".bars.csv"): np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2) for p in out.glob("*.bars.csv")}


def test_correct_accept_reject_then_reopen_and_skip(song, model, tmp_path):
    recordings, truth = song
    out = tmp_path / "labelled"
    with running([recordings], out, model) as (url, _), browser_page(url) as page:
        wait_for_recording(page, "a whole song")
        page.keyboard.press("3")
        assert page.evaluate("label.meter") == 3
        page.keyboard.press("4")
        beats = np.array(page.evaluate("label.current.proposal.beats"))
        wanted = offset_on_the_truth(beats, 4, truth)
        page.keyboard.press("h")
        for _ in range((wanted - page.evaluate("label.offset")) % 4):
            page.keyboard.press("l")
        assert page.evaluate("[label.meter, label.offset]") == [4, wanted]
        page.keyboard.press("]")
        page.keyboard.press("[")
        page.keyboard.press(" ")
        page.wait_for_function("label.clicks > 2")
        page.keyboard.press(" ")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "label.png"))  # the README's docs/label.png
        page.keyboard.press("a")
        wait_for_recording(page, "b excerpt", ready=False)
        page.keyboard.press("r")
        wait_for_recording(page, "c excerpt", ready=False)
    (name,) = written_bars(out)
    bars = written_bars(out)[name]
    assert set(bars[:, 1]) == {4} and set(bars[:, 2]) == {4}
    errors = np.abs(truth[None] - bars[:, :1]).min(axis=1)
    assert errors.max() < TOLERANCE, f"bar starts off by up to {1000 * errors.max():.1f} ms"
    assert len(bars) >= 0.9 * np.sum(truth < 70)
    written, rate = soundfile.read(str(out / f"{name}.ogg"))
    assert rate == config.SAMPLE_RATE and written.ndim == 1 and abs(len(written) / rate - 70) < 1
    settings = json.loads((out / f"{name}.label.json").read_text())
    assert (settings["meter"], settings["offset"], settings["nudge_ms"], settings["tapped_bpm"]) == (4, wanted, 0, None)
    assert "librosa" in settings["beats"]
    # reopening offers only the recording not yet decided
    with running([recordings], out, model) as (url, labeller), browser_page(url) as page:
        wait_for_recording(page, "c excerpt", ready=False)
        assert page.evaluate("label.todo.length") == 1
        page.keyboard.press("s")
        page.wait_for_function("label.done")
    ledger = json.loads((out / "labels.json").read_text())
    assert sorted(entry["decision"] for entry in ledger.values()) == ["accepted", "rejected", "skipped"]
    assert len(written_bars(out)) == 1 and len(list(out.glob("*.ogg"))) == 1


@pytest.fixture(scope="module")
def labelled(song, model, tmp_path_factory):
    """The whole song labelled through the library: the proposal, corrected to the truth where the model missed."""
    recordings, truth = song
    out = tmp_path_factory.mktemp("labelled")
    (recording,) = [r for r in find_recordings([recordings], out) if r.path.name.startswith("a whole song")]
    labeller = Labeller([recording], out, model, "shipped")
    proposal = labeller.proposal(recording.name)
    settings = Settings(4, offset_on_the_truth(proposal.beats, 4, truth), 0.0, None)
    labeller.decide(recording.name, "accept", settings)
    return out, proposal, settings


def test_the_proposal_finds_the_bars_of_a_steady_song(labelled, song):
    _, truth = song
    _, proposal, settings = labelled
    assert (proposal.meter, proposal.proposed_offset) == (4, settings.offset)
    assert 170 < proposal.tempo < 185  # quarter notes at 178 BPM, though the tracker alone follows half of that on the backbeat


@pytest.fixture(scope="module")
def my_chunks(labelled, tmp_path_factory):
    """`dance data chop` of the labelled folder: the user's chunks."""
    out, _, _ = labelled
    chunks = tmp_path_factory.mktemp("my_chunks")
    pipeline.chop(out, chunks, workers=1, seed=0)
    return chunks


def test_chop_and_eval_take_a_labelled_recording(labelled, my_chunks, song, model, tmp_path):
    out, _, _ = labelled
    _, truth = song
    # the same recording with the true bars: chop plans the same chunks (same name, same seed)
    true_copy = tmp_path / "true"
    true_copy.mkdir()
    for path in out.glob("*.ogg"):
        shutil.copy(path, true_copy / path.name)
        (true_copy / path.name).with_suffix(".bars.csv").write_text(
            "start,numerator,denominator\n" + "".join(f"{t:.6f},4,4\n" for t in truth))
    pipeline.chop(true_copy, tmp_path / "true_chunks", workers=1, seed=0)
    chunks = sorted(my_chunks.glob("*.phase"))
    assert chunks
    for chunk in chunks:
        labels = np.loadtxt(chunk)
        expected = np.loadtxt(tmp_path / "true_chunks" / chunk.name)
        bar = np.diff(truth).mean()
        assert (circular(labels, expected) * bar).max() < TOLERANCE, chunk.name
    summary = evaluate(model, out, tmp_path / "eval", pictures=False)
    assert summary["4/4 @ 0.0s"]["files"] == 1 and summary["4/4 @ 0.0s"]["phase_error"] < 0.15


def test_the_mix_draws_its_share_of_every_epoch():
    order = torch.Generator().manual_seed(0)
    draws = np.array([i for _ in range(40) for i in mixed_sampler(90, 10, 0.3, order)])
    assert len(draws) == 40 * 100
    assert abs(np.mean(draws >= 90) - 0.3) < 0.03
    assert set(draws[draws >= 90]) == set(range(90, 100)) and len(set(draws[draws < 90])) > 80


def fine_tune(corpus: Path, mine: Path, root: Path, tag: str, epochs: int, init: Path, lr: float) -> Path:
    return train(Options("phase_tcn_mel", corpus, tag, epochs=epochs, batch_size=2, lr=lr, dataset_size=2, checkpoints=root,
                         init=init, augment=False, mix_chunks=mine, mix_share=0.75))


def test_fine_tuning_the_shipped_model_with_the_mix_lowers_the_loss_on_the_users_chunks(small_chunks, my_chunks, tmp_path):
    mine = ChunkDataset(find_chunks(my_chunks))
    warmup = config.FRAMES_PER_SECOND
    before = evaluate_loss(inference.load_model(), mine, 2, warmup)
    tuned = fine_tune(small_chunks, my_chunks, tmp_path, "mine", 3, inference.DEFAULT_MODEL, lr=1e-3)
    after = evaluate_loss(selector.load(tuned)[0], mine, 2, warmup)
    assert after < 0.8 * before, (before, after)


def test_a_mixed_run_resumes_like_any_other(small_chunks, my_chunks, tmp_path):
    torch.manual_seed(0)
    small = tmp_path / "small.pt"
    selector.save(small, selector.create("phase_tcn_mel", **TINY))
    straight = fine_tune(small_chunks, my_chunks, tmp_path, "straight", 2, small, lr=5e-3)
    fine_tune(small_chunks, my_chunks, tmp_path, "resumed", 1, small, lr=5e-3)
    resumed = fine_tune(small_chunks, my_chunks, tmp_path, "resumed", 2, small, lr=5e-3)  # the same command with -e 2 resumes after epoch 1
    for name, weights in selector.load(straight)[0].state_dict().items():
        assert torch.equal(weights, selector.load(resumed)[0].state_dict()[name]), name


def post(url: str, body: bytes, content_type: str = "application/json", headers: dict | None = None):
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("POST", "/api/decision", body=body, headers={"Content-Type": content_type, **(headers or {})})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def get(url: str, path: str):
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    return response.status, response.read()


@pytest.mark.parametrize("body, content_type, message", [
    (b'{"name": "x", "decision": "reject"}', "text/plain", "must be JSON"),
    (b"{not json", "application/json", "not valid JSON"),
    (b"[1, 2]", "application/json", "JSON object"),
    (b'{"name": "NAME", "decision": "accept", "meter": NaN, "offset": 0, "nudge_ms": 0}', "application/json", "NaN"),
    (b'{"name": "NAME", "decision": "maybe"}', "application/json", "decision must be one of"),
    (b'{"name": "nobody", "decision": "reject"}', "application/json", "no recording named"),
    (b'{"name": "NAME", "decision": "accept", "meter": 10, "offset": 0, "nudge_ms": 0}', "application/json", "meter must be"),
    (b'{"name": "NAME", "decision": "accept", "meter": true, "offset": 0, "nudge_ms": 0}', "application/json", "meter must be"),
    (b'{"name": "NAME", "decision": "accept", "meter": 4, "offset": 4, "nudge_ms": 0}', "application/json", "offset must be"),
    (b'{"name": "NAME", "decision": "accept", "meter": 4, "offset": 0, "nudge_ms": 900}', "application/json", "nudge_ms must be"),
    (b'{"name": "NAME", "decision": "accept", "meter": 4, "offset": 0, "nudge_ms": 0, "bpm": 1000}', "application/json", "bpm must be"),
    (b'{"name": "NAME", "decision": "reject", "path": "/etc/passwd"}', "application/json", "unknown field"),
    (b"{" + b" " * 5000 + b"}", "application/json", "4096 bytes"),
])
def test_bad_decisions_are_400s_with_a_message(song, tmp_path, body, content_type, message):
    recordings, _ = song
    with running([recordings / "b excerpt.flac"], tmp_path / "out", model=None) as (url, labeller):
        name = labeller.todo()[0].name
        status, answer = post(url, body.replace(b"NAME", name.encode()), content_type)
    assert status == 400 and message in answer["error"], answer
    assert not (tmp_path / "out" / "labels.json").exists()


def test_the_api_answers_only_what_it_knows(song, tmp_path):
    recordings, _ = song
    silent = tmp_path / "silence.wav"
    soundfile.write(str(silent), np.zeros(5 * 16000), 16000)
    with running([recordings / "b excerpt.flac", silent], tmp_path / "out", model=None) as (url, labeller):
        names = [r.name for r in labeller.todo()]
        assert get(url, "/")[0] == 200 and get(url, "/label.js")[0] == 200
        for path in ("/index.html", "/app.js", "/label/label.js", "/../dance/label.py", "/%2e%2e/README.md", "/api/", "/api/nothing"):
            assert get(url, path)[0] == 404, path
        assert get(url, "/api/proposal?name=nobody")[0] == 400
        assert get(url, f"/api/proposal?name={names[0]}&name={names[0]}")[0] == 400
        assert get(url, f"/api/proposal?name={names[0]}&bpm=fast")[0] == 400
        assert get(url, f"/api/audio?name={names[0]}&path=/etc/passwd")[0] == 400
        status, body = get(url, f"/api/proposal?name={names[1]}")
        assert status == 422 and b"silent" in body
        assert post(url, json.dumps({"name": names[1], "decision": "reject"}).encode())[0] == 200
        status, answer = post(url, json.dumps({"name": names[1], "decision": "skip"}).encode())
        assert status == 409 and "already decided" in answer["error"]
        assert json.loads(get(url, "/api/recordings")[1])["todo"] == [{"name": names[0], "file": "b excerpt.flac"}]


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["label", str(tmp_path / "missing"), "--out", str(tmp_path / "out")]) == 2
    assert main(["label", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["label", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "out")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("dance: error: ") for line in errors), errors


# ---------------------------------------------------------------- meter and tempo changes

@pytest.fixture(scope="module")
def changing_song(tmp_path_factory):
    """A drum groove rendered by FluidSynth whose meter and tempo change at
    16 s (CHANGING: 4/4 at 120 BPM, then 3/4 at 150 BPM; kick on each bar's
    first beat, a crash on each section's first bar), as the only recording
    in a folder, and its true bars (start, numerator)."""
    root = tmp_path_factory.mktemp("changing")
    (root / "midi").mkdir()
    notes, meters, tempos, tick = [], [], [], 0
    for meter, bars, tempo in CHANGING:
        meters.append((tick, meter, 4))
        tempos.append((tick, tempo))
        notes.append((tick, tick + TPB, CRASH))
        for beat in range(meter * bars):
            at = tick + beat * TPB
            notes += [(at, at + TPB // 4, KICK if beat % meter == 0 else SNARE), (at + TPB // 2, at + 3 * TPB // 4, CLOSED_HAT)]
        tick += meter * bars * TPB
    notes.append((tick, tick + TPB, KICK))  # the song ends on a bar line
    write_midi(root / "midi" / "change.mid", meters, tempos, notes, end_tick=tick + 2 * TPB, channel=9)
    pipeline.render(root / "midi", root / "rendered", ["FluidR3_GM.sf2"], workers=1, seed=0, jitter=0.0)
    (ogg,) = (root / "rendered").glob("*.ogg")
    recordings = root / "recordings"
    recordings.mkdir()
    shutil.copy(ogg, recordings / "changing.ogg")
    truth = np.loadtxt(ogg.with_suffix(".bars.csv"), delimiter=",", skiprows=1)[:, :2]
    assert truth[np.searchsorted(truth[:, 0], CHANGE_SECONDS), 1] == 3 and truth[0, 1] == 4
    return recordings, truth


def check_against_the_truth(bars: np.ndarray, truth: np.ndarray) -> None:
    """Every written bar on a true bar start (within TOLERANCE: the tracker's
    10 ms frames, smoothed; the tempo is held on each section alone, so the
    change costs no accuracy) with its true meter, and all but three true
    bars written (the tracker starts a few beats in and drops the final hit)."""
    nearest = np.abs(truth[:, :1].T - bars[:, :1]).argmin(axis=1)
    errors = np.abs(truth[nearest, 0] - bars[:, 0])
    assert errors.max() < TOLERANCE, f"bar starts off by up to {1000 * errors.max():.1f} ms"
    assert np.array_equal(bars[:, 1], truth[nearest, 1]), np.c_[bars[:, :2], truth[nearest]]
    assert len(set(nearest)) == len(bars) >= len(truth) - 3


def test_the_grid_of_sections_counts_each_sections_own_beats():
    beats = np.arange(0.0, 20.0, 0.5)
    sections = [(Section(0.0, 4, 1, None), beats[beats < 8]), (Section(8.0, 3, 0, 150.0), np.arange(8.0, 12.0, 0.4))]
    bars = bar_grid(sections, nudge=0.01)
    assert [(round(b.start, 3), b.numerator, b.denominator) for b in bars] == \
        [(0.51, 4, 4), (2.51, 4, 4), (4.51, 4, 4), (6.51, 4, 4), (8.01, 3, 4), (9.21, 3, 4), (10.41, 3, 4), (11.61, 3, 4)]


def test_without_change_marks_the_bars_are_those_of_one_grid(labelled, song, model, tmp_path):
    """A song with no change marks keeps the grid it had before marks existed: every meter-th beat from the offset."""
    _, _, settings = labelled
    recordings, _ = song
    (recording,) = [r for r in find_recordings([recordings], tmp_path) if r.path.name.startswith("a whole song")]
    labeller = Labeller([recording], tmp_path, model, "shipped")
    for bpm in (None, 170.0):
        beats = labeller.proposal(recording.name, bpm).beats
        bars = labeller.bars(recording.name, Settings(4, settings.offset, 0.02, bpm))
        assert [b.start for b in bars] == [float(t) for t in beats[settings.offset::4] + 0.02]


def test_sections_with_their_own_meter_and_tapped_tempo_find_the_true_bars(changing_song, model, tmp_path):
    recordings, truth = changing_song
    (recording,) = find_recordings([recordings], tmp_path)
    labeller = Labeller([recording], tmp_path, model, "shipped")
    beats = labeller.proposal(recording.name).beats
    mark = float(beats[np.abs(beats - CHANGE_SECONDS).argmin()])  # where the page puts the mark: on the nearest beat
    first = labeller.proposal(recording.name, 120.0, 0.0, mark).beats
    offset = offset_on_the_truth(first, 4, truth[truth[:, 0] < CHANGE_SECONDS, 0])
    settings = Settings(4, offset, 0.0, 120.0, (Section(mark, 3, 0, 150.0),))
    bars = labeller.bars(recording.name, settings)
    check_against_the_truth(np.array([(b.start, b.numerator) for b in bars]), truth)
    # the beat tracker alone follows one tempo through both parts: without the taps the first part is wrong
    untapped = labeller.bars(recording.name, Settings(4, offset, 0.0, None, (Section(mark, 3, 0, None),)))
    assert np.abs(truth[:, :1].T - np.array([[b.start] for b in untapped])).min(axis=1).max() > TOLERANCE


def tap(page, bpm: float, times: int = 8) -> None:
    """`t` pressed `times` times at `bpm`, timed by the page's own clock (the
    test's round trips to the browser would add their own jitter), then until
    the beats are found again at the tapped tempo."""
    page.evaluate("""([interval, times]) => { for (let i = 0; i < times; i++)
        setTimeout(() => document.dispatchEvent(new KeyboardEvent("keydown", { key: "t" })), i * interval); }""",
                  [60_000 / bpm, times])
    page.wait_for_function(f"label.settled && Math.abs(label.here.bpm - {bpm}) < 3",
                           timeout=60_000)


def seek(page, seconds: float) -> None:
    """A click on the overview at that time."""
    box = page.locator("#overview").bounding_box()
    duration = page.evaluate("label.current.buffer.duration")
    page.mouse.click(box["x"] + box["width"] * seconds / duration, box["y"] + box["height"] / 2)


def test_mark_a_meter_and_tempo_change_on_the_page(changing_song, model, tmp_path):
    recordings, truth = changing_song
    out = tmp_path / "labelled"
    with running([recordings], out, model) as (url, _), browser_page(url) as page:
        wait_for_recording(page, "changing")
        seek(page, 5.0)
        tap(page, 120)  # one section yet: the whole song at 120 BPM
        page.keyboard.press("4")
        seek(page, CHANGE_SECONDS + 0.1)
        page.keyboard.press("m")
        page.wait_for_function("label.sections.length === 2 && label.settled")
        mark = page.evaluate("label.sections[1].start")
        assert abs(mark - CHANGE_SECONDS) < 0.05, mark  # on the beat nearest the play position
        page.keyboard.press("3")
        assert page.evaluate("[label.meter, label.offset, label.sections[0].meter]") == [3, 0, 4]
        tap(page, 150)
        assert abs(page.evaluate("label.sections[0].bpm") - 120) < 3  # the first section keeps its tempo
        seek(page, 5.0)
        first = np.array(page.evaluate("label.sections[0].beats"))
        wanted = offset_on_the_truth(first, 4, truth[truth[:, 0] < CHANGE_SECONDS, 0])
        for _ in range((wanted - page.evaluate("label.offset")) % 4):
            page.keyboard.press("l")
        assert page.evaluate("[label.meter, label.offset]") == [4, wanted]
        # a second mark, removed again: the nearest one goes
        seek(page, 25.0)
        page.keyboard.press("m")
        page.wait_for_function("label.sections.length === 3")
        page.keyboard.press("M")
        page.wait_for_function("label.sections.length === 2 && label.settled")
        assert page.evaluate("label.sections[1].start") == mark
        seek(page, CHANGE_SECONDS - 2)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "label-change.png"))
        page.keyboard.press("a")
        page.wait_for_function("label.done")
    (bars,) = written_bars(out).values()
    check_against_the_truth(bars, truth)
    assert set(bars[:, 2]) == {4}
    (record,) = [json.loads(p.read_text()) for p in out.glob("*.label.json")]
    (change,) = record["changes"]
    assert (record["meter"], record["offset"], change["meter"], change["offset"]) == (4, wanted, 3, 0)
    assert abs(change["start"] - mark) < 1e-3 and abs(change["tapped_bpm"] - 150) < 3 and abs(record["tapped_bpm"] - 120) < 3


@pytest.mark.parametrize("changes, message", [
    ([{"start": 20.0, "meter": 3, "offset": 0, "bpm": None}, {"start": 10.0, "meter": 4, "offset": 0, "bpm": None}], "in order"),
    ([{"start": 0.5, "meter": 3, "offset": 0, "bpm": None}], "in order"),
    ([{"start": 8.0, "meter": 10, "offset": 0, "bpm": None}], "change 1: meter must be"),
    ([{"start": 8.0, "meter": 3, "offset": 3, "bpm": None}], "change 1: offset must be"),
    ([{"start": 8.0, "meter": 3, "offset": 0, "bpm": 1000}], "change 1: bpm must be"),
    ([{"start": 8.0, "meter": 3, "offset": 0}], "must be an object with"),
    ({"start": 8.0}, "must be a list"),
    ([{"start": 14.5, "meter": 3, "offset": 0, "bpm": None}], "outside the recording"),
])
def test_bad_change_marks_are_400s_with_a_message(song, model, tmp_path, changes, message):
    recordings, _ = song
    with running([recordings / "b excerpt.flac"], tmp_path / "out", model) as (url, labeller):  # 15 s long
        name = labeller.todo()[0].name
        body = {"name": name, "decision": "accept", "meter": 4, "offset": 0, "nudge_ms": 0, "bpm": None, "changes": changes}
        status, answer = post(url, json.dumps(body).encode())
        assert status == 400 and message in answer["error"] and "\n" not in answer["error"], answer
        assert get(url, f"/api/proposal?name={name}&bpm=120&from=8&to=8.5")[0] == 400
        assert get(url, f"/api/proposal?name={name}&bpm=120&from=20")[0] == 400
        assert get(url, f"/api/proposal?name={name}&bpm=120&from=8&to=nan")[0] == 400
    assert not (tmp_path / "out" / "labels.json").exists()
