"""plc-integrity: the model, hashing, comparison, checks, and the CLI."""

__version__ = "0.1.0"
