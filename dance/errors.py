"""The project's one base error class.

Every error the user can fix (a bad file, a missing tool, an unusable option)
derives from DanceError, and `dance` (dance/cli.py) reports any of them as one
line, `dance: error: <message>`, with exit status 2. Per-song skips inside a
batch (dance.data.midi.SkipSong, dance.corpus.music21_source.Music21Error) are
not user-facing and do not derive from it.
"""

import sys
from collections.abc import Callable


class DanceError(Exception):
    """A problem the user can fix, reported as one line."""


def run_script(main: Callable[[], None], program: str) -> None:
    """Run a bench script's main: a DanceError (a bad checkpoint, folder or
    config) ends it as one line, `PROGRAM: error: <message>`, as from `dance`."""
    try:
        main()
    except DanceError as error:
        sys.exit(f"{program}: error: {error}")
