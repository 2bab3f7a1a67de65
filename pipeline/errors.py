"""Typed errors of the pipeline that carry a message telling the user how to fix them."""


class ModelError(RuntimeError):
    """A model cannot be installed, found or loaded."""
