"""dance: real-time bar phase from audio."""
