"""`dance data pick`: chunks in the asked meters, counted from their labels,
from the songs `dance train` trains on only, embedded-corpus sources left out
on request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from dance import config
from dance.data.dataset import split_by_song
from dance.data.formats import labels_text
from dance.data.labels import beat_starts, frame_instants, phase_at
from tests.helpers import in_process

# song id -> meter; bar length 2 s whatever the meter
SONGS = {"waltz": (3, 4), "tarantella": (6, 8), "march": (4, 4), "slip-jig": (9, 8), "generated-0001-00000-ab": (3, 4), "reel": (2, 2)}


def write_chunk(folder: Path, song: str, meter: tuple[int, int]) -> Path:
    bars = np.arange(0.0, 40.0, 2.0)
    times = frame_instants(config.LABEL_FRAMES)
    chunk = folder / f"{song}__FluidR3_GM__000.ogg"
    soundfile.write(str(chunk), np.zeros(config.SAMPLE_RATE, dtype=np.float32), config.SAMPLE_RATE)
    chunk.with_suffix(".phase").write_text(labels_text(phase_at(times, bars)))
    chunk.with_suffix(".beat").write_text(labels_text(phase_at(times, beat_starts(bars, [meter] * len(bars)))))
    return chunk


def held_out_song() -> str:
    """A song name that dance train's split keeps for validation."""
    return next(name for k in range(1000) if split_by_song([Path(name := f"song{k}__x__000.ogg")], 0.1)[1])


def test_pick_links_the_training_songs_in_the_asked_meters(tmp_path, capsys):
    chunks = tmp_path / "chunks"
    chunks.mkdir()
    for song, meter in {**SONGS, held_out_song(): (3, 4)}.items():
        write_chunk(chunks, song, meter)
    rc, out, _ = in_process(capsys, "data", "pick", chunks, tmp_path / "picked", "--beats-per-bar", "2", "3", "--skip-sources", "generated")
    assert rc == 0 and out.startswith("4 chunks")
    picked = sorted(p.name.split("__")[0] for p in (tmp_path / "picked").glob("*.ogg"))
    assert picked == ["reel", "slip-jig", "tarantella", "waltz"]  # 6/8 and 2/2: 2 beats; 3/4 and 9/8: 3; not 4/4, the generated waltz, the held-out one
    for chunk in (tmp_path / "picked").glob("*.ogg"):
        assert all(chunk.with_suffix(s).resolve() == (chunks / chunk.with_suffix(s).name).resolve() for s in (".ogg", ".phase", ".beat"))


def test_pick_refuses_an_unknown_source_in_one_line(tmp_path, capsys):
    write_chunk(tmp_path, "waltz", (3, 4))
    rc, _, err = in_process(capsys, "data", "pick", tmp_path, tmp_path / "picked", "--beats-per-bar", "3", "--skip-sources", "jazz")
    assert rc != 0 and err.strip().count("\n") == 0 and "unknown corpus source(s) jazz" in err
