"""`dance label`: the labelling page in a real headless Chromium on a rendered
song with known bars (correct the proposal, accept, reject, skip, reopen),
its JSON API against bad requests, the labelled recording through
`dance data chop` and `dance eval` like a rendered song, and fine-tuning on
its chunks mixed with a corpus (`train --mix-chunks`)."""

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
from dance.label import Labeller, Settings, find_recordings
from dance.label_server import labelling_server
from dance.model import selector
from dance.train import Options, evaluate_loss, mixed_sampler, train
from tests.browser import CHROMIUM, FLAGS
from tests.helpers import circular
from tests.test_browser import steady_four_four_seed

ARTIFACTS = Path(__file__).resolve().parent.parent / "results" / "browser"
TOLERANCE = 0.010  # seconds: the written bar starts against the truth
TINY = dict(channels=16, layers=5, n_mels=32)  # a small model, for the resume test


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
    tuned = fine_tune(small_chunks, my_chunks, tmp_path, "mine", 1, inference.DEFAULT_MODEL, lr=1e-3)
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
