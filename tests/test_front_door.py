"""What a new user meets first: the Makefile runs everything from the
project's virtual environment, and the quickstart's output has nothing a
newcomer cannot act on (no bare `nan`, no leaking library warning, no
"chunks written 0" from a command that makes no chunks)."""

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from dance import metrics
from dance.data.pipeline import Summary
from dance.evaluate import summarise, table

ROOT = Path(__file__).resolve().parent.parent


def make_dry_run(*targets):
    result = subprocess.run(["make", "-n", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line and "make[" not in line]


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode != 0, reason="no make")
def test_every_make_target_uses_the_project_venv():
    lines = make_dry_run("quickstart", "test", "bench", "default-model", "serve")
    commands = [line for line in lines if not line.startswith(("echo", "mkdir", "cp ", "PYTHON=", "elapsed=", "make "))]
    for line in commands:
        first = line.split()[0]
        assert first.startswith(".venv/bin/"), line
    assert any(line.startswith(".venv/bin/python -m pytest") for line in lines)
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode != 0, reason="no make")
def test_quickstart_says_which_model_the_page_serves_and_evaluates_a_subset():
    lines = make_dry_run("quickstart")
    assert any("SHIPPED model" in line for line in lines)
    assert any("export --model dance/default_model.pt" in line for line in lines)
    evals = [line for line in lines if " eval " in line]
    assert len(evals) == 2 and all("--limit" in line for line in evals)


def test_no_predicted_downbeat_is_f1_zero_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.downbeat_f1(np.arange(0, 60, 2.0), np.array([])) == 0.0


def test_a_model_that_never_locks_gets_a_readable_table():
    rows = [{"file": f"s{i}", "meter": "4/4", "anticipation": a, "phase_error": 0.25, "downbeat_f1": 0.1,
             "lock_seconds": float("nan"), "lock_bars": float("nan"), "lock_bars_after_changes": None, "changes": 0}
            for i in range(3) for a in (0.0, 0.5)]
    text = table(summarise(rows))
    assert "nan" not in text
    assert "| all @ 0.0s | 3 | 0.250 | 0.100 | – | – | 3 |" in text  # no beat F1 from a model without a beat head
    assert "never locked" in text.splitlines()[-1] and "briefly trained" in text


def test_render_reports_songs_not_chunks():
    render = Summary(songs_seen=2, jobs=2, kind="render").report()
    build = Summary(songs_seen=2, jobs=2, kind="build").report()
    assert "chunks written" not in render and "chunks written  0" in build


def test_every_one_line_error_derives_from_dance_error_and_reads_as_one_line(monkeypatch, capsys):
    from dance import cli
    from dance.corpus.mma import MMAError
    from dance.data.audio import AudioError
    from dance.data.midi import SkipSong
    from dance.data.pipeline import DataError
    from dance.data.synth import SynthError
    from dance.errors import DanceError
    from dance.export import ExportError
    from dance.label import LabelError
    from dance.live import LiveError
    from dance.model.selector import CheckpointError
    from dance.serve import ServeError
    from dance.train import TrainingError

    assert not issubclass(SkipSong, DanceError)  # a per-song skip inside a batch, never shown as the run's error
    for error in (DataError, TrainingError, CheckpointError, ExportError, AudioError, SynthError, MMAError, LiveError, LabelError, ServeError):
        assert issubclass(error, DanceError)

        def fail(args, error=error):
            raise error(f"{error.__name__} happened")
        monkeypatch.setattr(cli, "run_view", fail)
        assert cli.main(["view", "song.ogg"]) == 2
        assert capsys.readouterr().err == f"dance: error: {error.__name__} happened\n"
