"""The package version: a leaf anything that stamps files (checkpoints, exports) may import."""

__version__ = "0.1.0"
