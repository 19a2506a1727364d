"""phase_tcn_mel: streaming equals the whole-sequence pass, causality, size,
and checkpoints that rebuild their model or fail with a clear message."""

import numpy as np
import pytest
import torch

from dance import config
from dance.data import pipeline
from dance.data.audio import read_audio
from dance.model import selector
from dance.model.frontend import CausalLogMel, CausalSemitones
from dance.model.phase_tcn_mel import PhaseTCNMel
from dance.model.resonator import BLOCK, SEGMENT_BLOCKS, resonate
from tests.helpers import in_process
from tests.midi_helpers import TPB, steady_notes, write_midi


@pytest.fixture(scope="module")
def real_audio(tmp_path_factory):
    """20 s of a FluidSynth-rendered song."""
    folder = tmp_path_factory.mktemp("song")
    (folder / "midi").mkdir()
    write_midi(folder / "midi" / "song.mid", meters=[(0, 3, 4)], notes=steady_notes(40 * TPB, pitch=48) + steady_notes(40 * TPB, step=3 * TPB, pitch=36), program=0)
    pipeline.render(folder / "midi", folder / "out", ["TimGM6mb.sf2"], workers=1, seed=0, jitter=0.0)
    (ogg,) = (folder / "out").glob("*.ogg")
    return read_audio(ogg)[: 20 * config.SAMPLE_RATE]


def frames_of(samples):
    n = len(samples) // config.FRAME_SIZE
    return torch.from_numpy(samples[: n * config.FRAME_SIZE].copy()).view(1, n, config.FRAME_SIZE)


VARIANTS = [dict(onset_flux=False), dict(onset_flux=True), dict(onset_flux=True, beats=True),
            dict(onset_flux=True, beats=True, layers=5, recurrent="gru"),
            dict(onset_flux=True, beats=True, layers=5, recurrent="resonator"),
            dict(onset_flux=True, beats=True, layers=5, recurrent="resonator", semitones=True)]


def fresh_model(hparams: dict) -> PhaseTCNMel:
    """A seeded model in eval mode; the semitone input, which starts at zero
    (so that growing it changes nothing), gets weights so that tests hear it."""
    torch.manual_seed(0)
    model = PhaseTCNMel(**hparams).eval()
    if model.semitones is not None:
        torch.nn.init.normal_(model.semitone_input.weight, std=0.1)
    return model


@torch.no_grad()
@pytest.mark.parametrize("hparams", VARIANTS)
def test_streaming_matches_whole_sequence_on_real_audio(real_audio, hparams):
    model = fresh_model(hparams)
    frames, a = frames_of(real_audio), torch.tensor([0.3])
    whole, _ = model(frames, a)
    for block in (1, 7):
        state, outputs = model.initial_state(1), []
        for start in range(0, frames.shape[1], block):
            out, state = model(frames[:, start: start + block], a, state)
            outputs.append(out)
        assert torch.max(torch.abs(torch.cat(outputs, dim=1) - whole)) < 1e-5


@torch.no_grad()
def test_fft_and_exported_frontends_give_the_same_log_mel(real_audio):
    """Training and PyTorch inference use the FFT; the ONNX graph keeps the matrix-product DFT."""
    frontend = CausalLogMel()
    frames = frames_of(real_audio)
    windows = torch.cat([frames[:, :-1, config.FRAME_SIZE - frontend.history:], frames[:, 1:]], dim=2)
    fft, portable = (torch.log(power(windows) @ frontend.mel + 1e-6) for power in (frontend.fft_power, frontend.portable_power))
    # float32 rounding: in bands near the 1e-6 floor (log-mel about -13) both
    # differ from a float64 FFT by up to 2e-4; above it they agree to 1e-4
    audible = portable > -10
    assert torch.max(torch.abs(fft - portable)[audible]) < 1e-4
    assert torch.max(torch.abs(fft - portable)) < 1e-3


@torch.no_grad()
def test_fft_and_exported_semitone_bands_agree(real_audio):
    """The semitone bands, like the log-mel: an FFT in PyTorch, matrix products in the ONNX graph."""
    frontend = CausalSemitones()
    frames = frames_of(real_audio)
    signal = frontend.decimate(torch.cat([torch.zeros(1, frontend.raw_history), frames.reshape(1, -1)], dim=1))
    signal = torch.cat([torch.zeros(1, frontend.history - frontend.raw_history), signal], dim=1)
    fft, portable = (torch.log(frontend.power(signal, frames.shape[1], portable) @ frontend.bank + 1e-6) for portable in (False, True))
    # the matrix product's float32 rounding (9e-5 from a float64 FFT at log power -10,
    # against the FFT's 4e-5): bands 25 dB above the 1e-6 floor agree to 1e-4
    audible = portable > -8
    assert audible.float().mean() > 0.5
    assert torch.max(torch.abs(fft - portable)[audible]) < 1e-4
    assert torch.max(torch.abs(fft - portable)) < 1e-3


@torch.no_grad()
@pytest.mark.parametrize("low_hz", [110.0, 220.0, 440.0])
def test_semitone_bands_tell_notes_a_semitone_apart(low_hz):
    """Two tones a semitone apart peak in different bands, each within a DFT bin
    (8.3 Hz) of the band's centre. Below 110 Hz a semitone is narrower than a bin
    (the 120 ms window's limit): there a band is one bin."""
    frontend = CausalSemitones()
    bin_hz = config.SAMPLE_RATE / frontend.DECIMATION / frontend.n_fft
    centres = (frontend.bank * torch.arange(frontend.bank.shape[0])[:, None]).sum(dim=0) * bin_hz
    peaks = []
    for hz in (low_hz, low_hz * 2 ** (1 / 12)):
        t = torch.arange(50 * config.FRAME_SIZE) / config.SAMPLE_RATE
        bands, _ = frontend(0.3 * torch.sin(2 * np.pi * hz * t).view(1, 50, config.FRAME_SIZE), torch.zeros(1, frontend.history))
        peaks.append(int(bands[0, :, -1].argmax()))
        assert abs(centres[peaks[-1]] - hz) <= bin_hz, (hz, centres[peaks[-1]])
    assert peaks[0] != peaks[1]


@torch.no_grad()
@pytest.mark.parametrize("hparams", VARIANTS)
def test_no_output_depends_on_later_audio(real_audio, hparams):
    model = fresh_model(hparams)
    frames = frames_of(real_audio)
    changed = frames.clone()
    changed[:, 500:] = torch.randn_like(changed[:, 500:])
    a = torch.tensor([0.5])
    before, after = model(frames, a)[0], model(changed, a)[0]
    assert torch.equal(before[:, :500], after[:, :500])
    assert not torch.equal(before[:, 500:], after[:, 500:])


@pytest.mark.parametrize("frames", [1, BLOCK, BLOCK + 1, 5 * BLOCK + 3, 2 * BLOCK * SEGMENT_BLOCKS + 7])
def test_resonators_follow_their_recurrence_frame_by_frame(frames):
    """The block-parallel form against h[t] = a[t] * exp(i * omega) * h[t-1] + b[t], one frame at a time in float64."""
    generator = torch.Generator().manual_seed(frames)
    batch, channels = 2, 3
    log_gate = -2.5 * torch.rand(batch, channels, frames, generator=generator)
    b_re, b_im = torch.randn(2, batch, channels, frames, generator=generator)
    omega = torch.tensor([0.0, 0.1, 1.5])
    h_re, h_im = torch.randn(2, batch, channels, generator=generator)
    re, im = resonate(log_gate, b_re, b_im, omega, h_re, h_im)
    h, expected = torch.complex(h_re, h_im).to(torch.complex128), []
    for t in range(frames):
        h = torch.exp(log_gate[:, :, t].double() + 1j * omega.double()) * h + torch.complex(b_re[:, :, t], b_im[:, :, t])
        expected.append(h)
    expected = torch.stack(expected, dim=2)
    assert torch.allclose(re.double(), expected.real, atol=1e-4) and torch.allclose(im.double(), expected.imag, atol=1e-4)


def test_a_resonator_rings_at_its_rate_after_its_drive_stops():
    """One impulse, then silence: a resonator at 2 Hz keeps turning at 2 Hz while it decays."""
    frames, hertz = 200, 2.0
    omega = torch.tensor([2 * torch.pi * hertz / config.FRAMES_PER_SECOND])
    drive = torch.zeros(1, 1, frames)
    drive[..., 0] = 1.0
    re, im = resonate(torch.full((1, 1, frames), -0.01), drive, torch.zeros_like(drive), omega, torch.zeros(1, 1), torch.zeros(1, 1))
    turns = np.diff(np.unwrap(torch.atan2(im, re)[0, 0].numpy()))
    assert np.allclose(turns, omega.item(), atol=1e-5)
    magnitude = torch.hypot(re, im)[0, 0]
    assert torch.all(magnitude[1:] < magnitude[:-1])


def test_older_checkpoints_recurrent_flag_means_the_gru_and_bad_tails_are_clear_errors():
    assert PhaseTCNMel(layers=2, recurrent=True).hparams["recurrent"] == "gru"
    assert PhaseTCNMel(layers=2, recurrent=False).tail is None
    with pytest.raises(selector.CheckpointError, match="recurrent='lstm'"):
        selector.create("phase_tcn_mel", recurrent="lstm")
    with pytest.raises(selector.CheckpointError, match="needs recurrent='resonator'"):
        selector.create("phase_tcn_mel", recurrent="gru", resonators=32)


def test_size_and_reach():
    model = PhaseTCNMel()
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    assert model.receptive_field_frames * config.FRAME_SECONDS >= 8.0


def test_anticipation_zero_and_output_shape():
    model = PhaseTCNMel().eval()
    out, state = model(torch.zeros(2, 10, config.FRAME_SIZE), torch.zeros(2))
    assert out.shape == (2, 10, 2) and state.shape == model.initial_state(2).shape
    beats, _ = PhaseTCNMel(beats=True).eval()(torch.zeros(2, 10, config.FRAME_SIZE), torch.zeros(2))
    assert beats.shape == (2, 10, 4)


def test_a_head_grown_onto_a_checkpoint_keeps_every_weight_that_fits(tmp_path):
    torch.manual_seed(0)
    old = PhaseTCNMel(channels=16, layers=3, onset_flux=True)
    selector.save(tmp_path / "old.pt", old)
    grown, fresh = selector.grow(tmp_path / "old.pt", "phase_tcn_mel", beats=True)
    assert grown.hparams == {**old.hparams, "beats": True}
    assert fresh and all(name.startswith("beat_head.") for name in fresh)
    grown_weights = grown.state_dict()
    for name, weight in old.state_dict().items():
        assert torch.equal(grown_weights[name], weight), name
    frames, a = torch.randn(1, 30, config.FRAME_SIZE) * 0.1, torch.tensor([0.2])
    with torch.no_grad():
        assert torch.allclose(grown.eval()(frames, a)[0][..., :2], old.eval()(frames, a)[0])
    with pytest.raises(selector.CheckpointError, match="do not fit phase_tcn_mel"):
        selector.grow(tmp_path / "old.pt", "phase_tcn_mel", channels=8)


def test_a_model_grown_with_semitone_bands_starts_as_the_model_it_grew_from(tmp_path):
    torch.manual_seed(0)
    old = PhaseTCNMel(channels=16, layers=3, onset_flux=True, beats=True, recurrent="resonator").eval()
    selector.save(tmp_path / "old.pt", old)
    grown, fresh = selector.grow(tmp_path / "old.pt", "phase_tcn_mel", semitones=True)
    assert fresh == ["semitone_input.bias", "semitone_input.weight"]
    frames, a = torch.randn(1, 300, config.FRAME_SIZE) * 0.1, torch.tensor([0.2])
    with torch.no_grad():
        assert torch.equal(grown.eval()(frames, a)[0], old(frames, a)[0])


def test_checkpoint_round_trip_keeps_hyperparameters(tmp_path):
    model = PhaseTCNMel(channels=16, layers=3)
    selector.save(tmp_path / "m.pt", model, epoch=4)
    loaded, payload = selector.load(tmp_path / "m.pt", expect="phase_tcn_mel")
    assert payload["epoch"] == 4 and loaded.hparams == model.hparams
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def test_blend_moves_every_weight_the_share_of_the_way_and_refuses_another_network(tmp_path, capsys):
    torch.manual_seed(0)
    first, second = PhaseTCNMel(channels=16, layers=3), PhaseTCNMel(channels=16, layers=3)
    selector.save(tmp_path / "a.pt", first)
    selector.save(tmp_path / "b.pt", second)
    rc, out, _ = in_process(capsys, "blend", tmp_path / "a.pt", tmp_path / "b.pt", "--share", "0.25", "--out", tmp_path / "ab.pt")
    assert rc == 0 and "ab.pt" in out
    blended, payload = selector.load(tmp_path / "ab.pt")
    assert blended.hparams == first.hparams and "a.pt x 0.75" in payload["source"]
    a, b = first.state_dict(), second.state_dict()
    for name, weight in blended.state_dict().items():
        assert torch.allclose(weight, 0.75 * a[name] + 0.25 * b[name], atol=1e-6), name
    selector.save(tmp_path / "wide.pt", PhaseTCNMel(channels=32, layers=3))
    rc, _, err = in_process(capsys, "blend", tmp_path / "a.pt", tmp_path / "wide.pt", "--out", tmp_path / "x.pt")
    assert rc != 0 and "do not hold the same network" in err and len(err.strip().splitlines()) == 1
    rc, _, err = in_process(capsys, "blend", tmp_path / "a.pt", tmp_path / "b.pt", "--share", "1.5", "--out", tmp_path / "x.pt")
    assert rc != 0 and "between 0 and 1" in err and not (tmp_path / "x.pt").exists()


def test_a_model_blends_with_its_child_grown_with_semitone_bands(tmp_path, capsys):
    """The parent is grown first (its bands' input at zero: it computes what it did), then blended."""
    torch.manual_seed(0)
    parent = PhaseTCNMel(channels=16, layers=3, onset_flux=True)
    selector.save(tmp_path / "parent.pt", parent)
    child, _ = selector.grow(tmp_path / "parent.pt", "phase_tcn_mel", semitones=True)
    with torch.no_grad():
        for weight in child.parameters():
            weight.add_(0.01)
    selector.save(tmp_path / "child.pt", child)
    rc, _, _ = in_process(capsys, "blend", tmp_path / "parent.pt", tmp_path / "child.pt", "--out", tmp_path / "blend.pt")
    assert rc == 0
    blended, _ = selector.load(tmp_path / "blend.pt")
    assert blended.hparams == child.hparams
    a, b = parent.state_dict(), child.state_dict()
    for name, weight in blended.state_dict().items():
        assert torch.allclose(weight, 0.5 * a.get(name, torch.zeros_like(weight)) + 0.5 * b[name], atol=1e-6), name
    selector.save(tmp_path / "beats.pt", PhaseTCNMel(channels=16, layers=3, onset_flux=True, beats=True))
    rc, _, err = in_process(capsys, "blend", tmp_path / "parent.pt", tmp_path / "beats.pt", "--out", tmp_path / "x.pt")
    assert rc != 0 and "do not hold the same network" in err  # a beat head starts random, not at zero


def test_bad_checkpoints_are_clear_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save({"weights": {}}, tmp_path / "foreign.pt")
    selector.save(tmp_path / "m.pt", PhaseTCNMel(channels=16, layers=3))
    other = torch.load(tmp_path / "m.pt", weights_only=False)
    other["model"] = "beat_rnn"
    torch.save(other, tmp_path / "other.pt")
    broken = torch.load(tmp_path / "m.pt", weights_only=False)
    broken["hparams"]["channels"] = 32
    torch.save(broken, tmp_path / "broken.pt")
    cases = {"junk.pt": "is not a dance checkpoint", "foreign.pt": "is not a dance checkpoint",
             "other.pt": "unknown model 'beat_rnn'", "broken.pt": "weights do not fit", "missing.pt": "does not exist"}
    for name, message in cases.items():
        with pytest.raises(selector.CheckpointError, match=message):
            selector.load(tmp_path / name)
    with pytest.raises(selector.CheckpointError, match="holds a phase_tcn_mel model, not something_else"):
        selector.load(tmp_path / "m.pt", expect="something_else")
