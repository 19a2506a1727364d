"""The embedded default corpus: MIDI files made offline, fed through the same
MIDI -> bar grid path as any user's collection."""
