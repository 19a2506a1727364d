"""The tracker comparison benchmark on one short file, so its code cannot rot.
The reference trackers join in when DANCE_ANCHORS_VENV names their venv."""

import os
import subprocess
import sys
from pathlib import Path

from dance.corpus.default import write_corpus
from dance.data import pipeline
from dance.model import selector
from dance.model.phase_tcn_mel import PhaseTCNMel

BENCH = Path(__file__).resolve().parent.parent / "bench" / "compare_trackers.py"


def test_compare_trackers_runs_on_one_song(tmp_path):
    write_corpus(tmp_path / "midi", songs=1, seed=5, workers=1)
    pipeline.render(tmp_path / "midi", tmp_path / "rendered", ["TimGM6mb.sf2"], workers=1, seed=0, jitter=0.0)
    selector.save(tmp_path / "m.pt", PhaseTCNMel(channels=16, layers=3, n_mels=32))
    venv = os.environ.get("DANCE_ANCHORS_VENV", str(tmp_path / "no-venv"))
    result = subprocess.run([sys.executable, str(BENCH), "--rendered", str(tmp_path / "rendered"), "--model", str(tmp_path / "m.pt"),
                             "--anchors-venv", venv, "--per-subset", "1", "--seconds", "20", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    table = (tmp_path / "out" / "compare.md").read_text()
    assert "| dance @ 0.0 s |" in table and "| dance @ 0.5 s |" in table and "mid-bar start" in table
    assert (tmp_path / "out" / "f1_by_subset.png").exists()
    if "DANCE_ANCHORS_VENV" in os.environ:
        assert "BeatNet (online)" in table and "madmom (offline)" in table
