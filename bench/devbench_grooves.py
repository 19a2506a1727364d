"""The real-music development benchmark's own drum grooves (bench/devbench.py),
written by hand for it: nothing here comes from the training generator
(dance/corpus/generator.py) or MMA.

A groove is one bar on a grid of `steps` equal steps, one pattern string per
General MIDI drum (channel 10), plus a fill bar. Pattern characters: `X`
accent, `x` normal, `g` ghost note, `.` rest; spaces are for reading only.
`feel` moves an instrument off the grid in milliseconds (negative: pushed,
ahead of the beat; positive: laid back); `swing` delays every second step by
that fraction of a step; `beat_bpm` is the range of the counted beat (the
meter's denominator note, or the dotted quarter in 6/8 and 9/8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KICK, SIDE_STICK, SNARE, CLAP, FLOOR_TOM, HAT, LOW_TOM, PEDAL_HAT, MID_TOM, OPEN_HAT = 36, 37, 38, 39, 41, 42, 45, 44, 47, 46
HIGH_TOM, CRASH, RIDE, RIDE_BELL, TAMBOURINE, COWBELL, LOW_CONGA, HIGH_CONGA, SHAKER = 50, 49, 51, 53, 54, 56, 64, 63, 70


@dataclass(frozen=True)
class Groove:
    name: str
    numerator: int
    denominator: int
    steps: int
    parts: dict[int, str]
    fill: dict[int, str]
    beat_bpm: tuple[float, float]
    feel: dict[int, float] = field(default_factory=dict)
    swing: float = 0.0

    @property
    def bar_quarters(self) -> float:
        return self.numerator * 4 / self.denominator

    def pattern(self, fill: bool) -> dict[int, str]:
        """Instrument -> pattern with spaces removed; a fill bar keeps the groove's
        kick only where the fill gives none."""
        bar = {k: v.replace(" ", "") for k, v in self.parts.items()}
        if fill:
            bar = {k: v for k, v in bar.items() if k in (KICK, HAT, PEDAL_HAT, RIDE) and k not in self.fill}
            bar[HAT] = "." * self.steps  # hands are on the toms
            bar.update({k: v.replace(" ", "") for k, v in self.fill.items()})
        for k, v in bar.items():
            assert len(v) == self.steps, (self.name, k, len(v), self.steps)
        return bar


GROOVES: tuple[Groove, ...] = (
    # ---- 4/4
    Groove("rock-8ths", 4, 4, 16, {
        HAT:   "X.x. x.x. X.x. x.x.",
        SNARE: ".... X... .... X..g",
        KICK:  "X... ..X. X.X. ....",
    }, {
        SNARE: "X.x. x.x. .... ....", HIGH_TOM: ".... .... x.x. ....", LOW_TOM: ".... .... .... x.x.",
        KICK:  "X... .... X... X...",
    }, (96, 132), feel={HAT: -6, SNARE: -4}),
    Groove("funk-ghosts", 4, 4, 16, {
        HAT:   "XxxX xxXx xXxx XxxX",
        SNARE: ".g.g X..g .g.g X.g.",
        KICK:  "X..X ..X. ..X. .X..",
        OPEN_HAT: ".... .... .... ...x",
    }, {
        SNARE: "xgxg Xgxg xxxx XXXX", KICK: "X... .... X... ....",
    }, (88, 108), feel={SNARE: 14, KICK: 4, HAT: 0}),
    Groove("shuffle", 4, 4, 12, {
        RIDE:  "X.x X.x X.x X.x",
        SNARE: "..g X.g ..g X.g",
        KICK:  "X.. ..x X.. ...",
        PEDAL_HAT: "... X.. ... X..",
    }, {
        SNARE: "X.x X.x x.x X.x", MID_TOM: "... ... x.x ...", FLOOR_TOM: "... ... ... x.x", KICK: "X.. ... X.. ...",
    }, (100, 140), feel={SNARE: 10}, swing=0.0),
    Groove("halftime-laidback", 4, 4, 16, {
        HAT:   "x.x. x.x. x.x. x.xx",
        SNARE: ".... .... X... ..g.",
        KICK:  "X... .... ..X. .X..",
        SHAKER: "xxxx xxxx xxxx xxxx",
    }, {
        SNARE: ".... .... X.g. XgXg", HIGH_TOM: ".... x.x. .... ....", KICK: "X... .... .... ....",
    }, (76, 96), feel={SNARE: 22, HAT: 12, KICK: 6}, swing=0.22),
    Groove("train-country", 4, 4, 16, {
        SNARE: "gxgX gxgX gxgX gxgX",
        KICK:  "X... .... X... ....",
        PEDAL_HAT: ".... X... .... X...",
    }, {
        SNARE: "XgXg XgXg .... ....", LOW_TOM: ".... .... X.x. X.x.", KICK: "X... .... X... ....",
    }, (120, 150), feel={SNARE: -8}),
    # ---- 2/4 (polka and march feel, for 2/4 and cut-time tunes)
    Groove("polka", 2, 4, 8, {
        KICK:  "X... X...",
        SNARE: "..x. ..X.",
        HAT:   "..x. ..x.",
    }, {
        SNARE: "x.x. XxXx", KICK: "X... ....",
    }, (90, 120), feel={SNARE: -5}),
    # ---- 3/4
    Groove("waltz", 3, 4, 6, {
        KICK:  "X. .. ..",
        SNARE: ".. x. x.",
        HAT:   "x. x. x.",
    }, {
        SNARE: "x. xx XX", MID_TOM: ".. .. ..", KICK: "X. .. ..",
    }, (120, 170), feel={SNARE: 8}),
    Groove("jazz-waltz", 3, 4, 9, {
        RIDE:  "X.. x.x x..",
        PEDAL_HAT: "... X.. X..",
        SNARE: "..g ... .g.",
        KICK:  "g.. ... ...",
    }, {
        SNARE: "x.x X.x X.X", LOW_TOM: "... ... ...", KICK: "X.. ... ...",
    }, (120, 170), feel={RIDE: -6, SNARE: 12}),
    Groove("waltz-brushes-ride", 3, 4, 6, {
        RIDE:  "X. xx x.",
        SIDE_STICK: ".. .. x.",
        KICK:  "X. .. ..",
        PEDAL_HAT: ".. x. x.",
    }, {
        SNARE: "x. x. XX", KICK: "X. .. ..",
    }, (96, 140), feel={SIDE_STICK: 10}),
    # ---- 6/8 (two dotted-quarter beats)
    Groove("68-ballad", 6, 8, 6, {
        HAT:   "Xxx Xxx",
        KICK:  "X.. .x.",
        SNARE: "... X..",
    }, {
        SNARE: "xxx ...", MID_TOM: "... xx.", FLOOR_TOM: "... ..X", KICK: "X.. ...",
    }, (50, 72), feel={SNARE: 12}),
    Groove("68-bembe", 6, 8, 12, {
        COWBELL: "X.X. XX.X .X.X",
        KICK:    "X... .... X...",
        SIDE_STICK: ".... ..x. ....",
        LOW_CONGA:  "..x. .x.. x..x",
    }, {
        SNARE: "x.x. x.x. XxXx", KICK: "X... .... ....",
    }, (58, 80), feel={COWBELL: -5, LOW_CONGA: 6}),
    Groove("68-jig", 6, 8, 6, {
        KICK:  "X.. X..",
        SNARE: ".g. .gx",
        TAMBOURINE: "xxx xxx",
    }, {
        SNARE: "xxx XxX", KICK: "X.. ...",
    }, (90, 116), feel={TAMBOURINE: -4}),
    # ---- 9/8 (slip jig: three dotted-quarter beats)
    Groove("98-slip", 9, 8, 9, {
        KICK:  "X.. ... x..",
        SNARE: "... X.. ...",
        TAMBOURINE: "x.x x.x x.x",
    }, {
        SNARE: "xxx xxx XXX", KICK: "X.. ... ...",
    }, (92, 118), feel={SNARE: 8}),
    # ---- 5/4
    Groove("54-three-two", 5, 4, 10, {
        RIDE:  "X.xX .xX. X.",
        KICK:  "X... .... x.",
        SNARE: "..g. X.g. X.",
        PEDAL_HAT: "..x. x... x.",
    }, {
        SNARE: "x.x. X.x. x.", HIGH_TOM: ".... .... .x", FLOOR_TOM: ".... .... ..", KICK: "X... .... ..",
    }, (140, 180), feel={SNARE: 10}),
    Groove("54-two-three", 5, 4, 10, {
        HAT:   "x.x. x.x. x.",
        KICK:  "X... X... ..",
        SNARE: "..X. ..X. X.",
    }, {
        SNARE: "xxXx xxXx XX", KICK: "X... .... ..",
    }, (110, 140), feel={HAT: -8, SNARE: -4}),
    # ---- 7/8
    Groove("78-223", 7, 8, 7, {
        HAT:   "xx xx xxx",
        KICK:  "X. .. X..",
        SNARE: ".. X. ..X",
    }, {
        SNARE: "xx xx XXX", KICK: "X. .. ...",
    }, (170, 230), feel={SNARE: 6}),
    Groove("78-322", 7, 8, 14, {
        HAT:   "X.x.x. X.x. X.x.",
        KICK:  "X...x. .... ..x.",
        SNARE: "...... X.g. X..g",
    }, {
        SNARE: "X.x.x. x.x. XxXx", MID_TOM: "...... .... ....", KICK: "X..... .... ....",
    }, (160, 210), feel={HAT: -5, SNARE: 9}),
)


def by_name(name: str) -> Groove:
    return next(g for g in GROOVES if g.name == name)


def for_meter(numerator: int, denominator: int) -> list[Groove]:
    """Grooves for a meter; cut time (2/2) uses the 4/4 grooves (same bar length)."""
    if (numerator, denominator) == (2, 2):
        numerator, denominator = 4, 4
    return [g for g in GROOVES if (g.numerator, g.denominator) == (numerator, denominator)]
