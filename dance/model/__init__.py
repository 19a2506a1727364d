"""Models: a name -> class selector, and checkpoints that rebuild their model."""

from dance.model.selector import MODELS, CheckpointError, load, save  # noqa: F401
