"""The run folder a training run leaves: its layout and files (`RunDir`), checkpoints
(`checkpoint`), image grids (`images`). Reading it needs no training code."""

from ganforge.runs.run_dir import RunDir, by_fid

__all__ = ["RunDir", "by_fid"]
