"""Training data: MIDI -> bar grid -> rendered audio -> labelled 32 s chunks."""
