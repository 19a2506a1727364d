"""Accompaniments from MMA (Musical MIDI Accompaniment, Debian `mma`): about a
thousand hand-written grooves in 2, 3, 4, 5 and 6 beats per bar, played over
random chord progressions, with tempo steps and groove (and meter) changes."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from dance.data.midi import SkipSong, read_song
from dance.errors import DanceError

GROOVE_LIBRARY = Path("/usr/share/mma/lib/stdlib")
CHORDS_MAJOR = ["C", "Dm", "Em", "F", "G", "Am", "G7", "Dm7", "Fmaj7", "Cmaj7", "E7", "A7"]
KEYS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]


class MMAError(DanceError):
    pass


@lru_cache(maxsize=1)
def grooves() -> tuple[str, ...]:
    if shutil.which("mma") is None or not GROOVE_LIBRARY.is_dir():
        raise MMAError("MMA is not installed (apt-get install mma, or run `make setup`)")
    names = set()
    for path in GROOVE_LIBRARY.glob("*.mma"):
        for match in re.finditer(r"^\s*DefGroove\s+(\S+)", path.read_text(errors="replace"), re.MULTILINE | re.IGNORECASE):
            names.add(match.group(1))
    return tuple(sorted(names))


def song_script(rng: np.random.Generator, section_bars: list[int], tempo: float) -> str:
    """An MMA script: per section a groove, a tempo and a bar of chords per line."""
    names = grooves()
    lines = [f"KeySig {rng.choice(KEYS)}", "Transpose " + str(int(rng.integers(-5, 7)))]
    bar = 1
    for bars in section_bars:
        lines.append(f"Groove {names[rng.integers(len(names))]}")
        lines.append(f"Tempo {tempo:.1f}")
        progression = [CHORDS_MAJOR[i] for i in rng.integers(0, len(CHORDS_MAJOR), size=4)]
        for k in range(bars):
            lines.append(f"{bar} {progression[k % 4]}")
            bar += 1
        if rng.random() < 0.4:
            tempo = float(np.clip(tempo * rng.uniform(0.8, 1.25), 50, 200))
    lines.append(f"{bar} C")  # a last bar so the final section's bars are complete
    return "\n".join(lines) + "\n"


def write_song(seed: int, out_path: Path) -> None:
    """Write one MMA song as MIDI; raises MMAError if MMA fails or if the MIDI's
    bar grid disagrees with the bars asked for (a groove whose beats-per-bar and
    time signature disagree would teach wrong bar lines)."""
    rng = np.random.default_rng(seed)
    sections = int(rng.choice([1, 2, 2, 3]))
    tempo = rng.uniform(60, 180)
    bars = int(rng.uniform(50, 150) * tempo / 60 / 4)  # 50-150 s, counting four beats a bar
    section_bars = [max(8, bars // sections)] * sections
    with tempfile.TemporaryDirectory(prefix="dance-mma-") as tmp:
        script = Path(tmp) / "song.mma"
        script.write_text(song_script(rng, section_bars, tempo))
        result = subprocess.run(["mma", "-f", str(out_path.resolve()), str(script)], capture_output=True, timeout=120, cwd=tmp)
    if result.returncode != 0 or not out_path.exists():
        out_path.unlink(missing_ok=True)
        raise MMAError(f"mma failed: {(result.stdout + result.stderr).decode(errors='replace').strip().splitlines()[-1:]}")
    try:
        song = read_song(out_path)
    except SkipSong as e:
        out_path.unlink(missing_ok=True)
        raise MMAError(f"MMA song unusable: {e}") from None
    last_onset = song.tempo_map.to_seconds(max(n.start for n in song.notes))
    played = int(np.sum(song.bar_starts <= last_onset + 1e-6))
    expected = sum(section_bars) + 1  # with the closing bar
    if played != expected:
        out_path.unlink(missing_ok=True)
        raise MMAError(f"bar grid has {played} bars where MMA played {expected}")
