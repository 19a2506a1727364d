import pytest

from dance.corpus.default import write_corpus
from dance.data import pipeline
from tests.helpers import in_process


@pytest.fixture(scope="session")
def small_chunks(tmp_path_factory):
    """Chunks of two default-corpus songs rendered with the small TimGM6mb soundfont."""
    root = tmp_path_factory.mktemp("small")
    write_corpus(root / "midi", songs=2, seed=11, workers=2)
    pipeline.build(root / "midi", root / "chunks", ["TimGM6mb.sf2"], workers=2, seed=0, jitter=0.0)
    return root / "chunks"


@pytest.fixture
def cli(capsys):
    """`cli(*args)`: the `dance` command line in this process (fast); its
    (returncode, stdout, stderr), by name or unpacked."""
    return lambda *args: in_process(capsys, *args)
