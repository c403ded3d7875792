"""Checkpoints: written atomically, loaded without ever running code from the file."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from ganforge.errors import CheckpointError
from ganforge.version import __version__

FORMAT = 1


def save(state: dict[str, Any], path: Path) -> None:
    """Write to a temp file in the same folder, fsync, then rename over `path`.

    A crash at any instant leaves either the previous complete file or the new one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(_compact(state), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _compact(value: Any) -> Any:
    """`value` with every tensor that views part of a larger storage copied out: torch.save
    writes a view's whole storage (a run trained in a stack, training.together, would save
    every run's weights)."""
    if isinstance(value, torch.Tensor):
        return value.clone() if value.untyped_storage().nbytes() > value.nbytes else value
    if isinstance(value, dict):
        return {key: _compact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_compact(item) for item in value)
    return value


def load(path: Path) -> dict[str, Any]:
    """Load a ganforge checkpoint on the CPU; anything else is a one-line CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file; pass a checkpoint (.pt)")
    if not zipfile.is_zipfile(path):  # torch.save has written zip archives since PyTorch 1.6
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupt or another kind of file); "
            "use another checkpoint, e.g. checkpoints/last.pt of the run"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain values, so it was not loaded "
            "(loading it could run code); pass a checkpoint written by ganforge"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError):
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or corrupt?); "
            "use another checkpoint, e.g. checkpoints/last.pt of the run"
        ) from None
    if not isinstance(state, dict) or "generator" not in state or "format" not in state:
        raise CheckpointError(f"{path} is not a ganforge checkpoint; pass one written by ganforge")
    written_by = str(state.get("ganforge_version", "0"))
    if state["format"] > FORMAT or _version(written_by) > _version(__version__):
        raise CheckpointError(
            f"{path} was written by ganforge {written_by}, newer than this ganforge "
            f"{__version__}; upgrade ganforge to load it"
        )
    return state


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())
