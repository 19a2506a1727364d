"""Every numeric convention of dance, stated once.

Time stamps: frame ``i`` (0-based) covers samples ``[i*FRAME_SIZE, (i+1)*FRAME_SIZE)``
and its phase is the phase at the frame's *end*, ``(i + 1) * FRAME_SECONDS``:
the newest instant the model has heard. Labels, predictions, evaluation and
the browser all use this instant.
"""

SAMPLE_RATE = 16000  # Hz, mono
FRAME_SIZE = 320  # samples per frame
FRAME_SECONDS = FRAME_SIZE / SAMPLE_RATE  # 0.02 s
FRAMES_PER_SECOND = SAMPLE_RATE // FRAME_SIZE  # 50

CHUNK_SECONDS = 32
LABEL_HEADROOM_SECONDS = 1  # labels run past the audio so every anticipation has a target
CHUNK_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE
CHUNK_FRAMES = CHUNK_SECONDS * FRAMES_PER_SECOND  # 1600
LABEL_FRAMES = (CHUNK_SECONDS + LABEL_HEADROOM_SECONDS) * FRAMES_PER_SECOND  # 1650

ANTICIPATION_MAX = 0.5  # seconds

# Pitch augmentation ("asetrate"): the audio plays `factor` times faster and higher.
PITCH_FACTOR_MIN = 0.71
PITCH_FACTOR_MAX = 1.29

# Rendering
LOUDNESS_TARGET_DBFS = -20.0  # RMS of the active (non-silent) part of a song
LIMITER_CEILING = 0.95  # peak amplitude after the limiter
RELEASE_TAIL_SECONDS = 2.0  # rendered after the last note ends
MAX_SONG_SECONDS = 600.0  # longer songs are cut here
MAX_NOTE_SECONDS = 20.0  # a note held longer is a stuck note and is cut
RENDER_TIMEOUT_SECONDS = 600.0
MIN_FREE_DISK_BYTES = 2 * 1024**3
MIN_BARS = 4  # a song with fewer bars of music is skipped
TIMING_JITTER_MAX_SECONDS = 0.05  # per-note jitter j*r, j ~ U(0, this), r ~ U(-1, 1)
# A song with any bar outside these lengths (seconds, as written) is skipped: its
# grid is degenerate (one-tick meters, absurd tempos), not music to label.
MIN_BAR_SECONDS = 0.3
MAX_BAR_SECONDS = 12.0

# A meter of 1/x for more bars than this is a beat marker, not a meter (one such
# bar at the start is a normal pickup); the song is skipped.
MAX_BEAT_MARKER_BARS = 2

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/sounds/sf3")
DEFAULT_SOUNDFONTS = ("FluidR3_GM.sf2", "MuseScore_General_Lite.sf3", "TimGM6mb.sf2")

# music21 corpus (the `music21` wheel): which composers and collections may be
# trained on and which are kept for the real-music development benchmark. Whole
# collections are held out, never single pieces, so the benchmark shares no
# composer or collection with training.
# the embedded corpus's sources (`dance data corpus --sources`); its songs are named <source>-<seed>-<index>
CORPUS_SOURCES = ("generated", "mma", "music21", "metronome")
# share of songs `dance train` holds out for validation; `dance data pick` must split the same way
VALIDATION_FRACTION = 0.1

MUSIC21_TRAINING_COLLECTIONS = (
    "bach", "handel", "corelli", "cpebach", "haydn", "monteverdi", "palestrina", "josquin",
    "trecento", "ciconia", "luca", "ryansMammoth", "essenFolksong", "verdi", "weber", "schoenberg",
)
MUSIC21_BENCHMARK_COLLECTIONS = (
    "beethoven", "mozart", "schumann_robert", "schumann_clara", "joplin", "chopin", "schubert",
    "oneills1850", "airdsAirs",
)

# The live runtime (dance/stream.py, dance/live.py)
BAR_LENGTH_DOWNBEATS = 5  # the bar length is the median interval between this many latest downbeats (as the page)
LIVE_BLOCK_SECONDS = 0.01  # audio per block from the sound card, or from a file played live
LIVE_QUEUE_SECONDS = 2.0  # sound-card audio that may wait for the model before blocks are dropped
LIVE_DISPLAY_HZ = 10  # terminal display refreshes per second
# Confidence (dance/stream.py): the length of the bar head's [sin, cos] vector,
# averaged over the last CONFIDENCE_SECONDS (an exponential average from 0, so
# it starts low), through a logistic fitted by bench/confidence.py on the
# development benchmark for the shipped model: P(phase error < 0.1 bar).
CONFIDENCE_SECONDS = 1.0
CONFIDENCE_SLOPE = 2.03
CONFIDENCE_MIDPOINT = 0.61

# Labelling real recordings (`dance label`, dance/label.py)
LABEL_METERS = tuple(range(2, 10))  # beats per bar a person can choose (keys 2-9)
# librosa's onset envelope from short windows that are not centred: beats land
# within a few ms of the attacks (its default 128 ms centred windows put them
# about 40 ms late on rendered songs with known bars)
LABEL_ONSET_WINDOW = 512  # samples, 32 ms
LABEL_ONSET_HOP = 160  # samples, 10 ms
# each beat moves onto a line fitted through it and its neighbours (this many
# beats in all): removes the hop's +-5 ms wobble, follows tempo curves
LABEL_SMOOTHING_BEATS = 7
LABEL_MAX_NUDGE_SECONDS = 0.5  # the grid moves at most this far either way
LABEL_TEMPO_RANGE = (30.0, 300.0)  # beats per minute a tap may set
