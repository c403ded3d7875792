"""Files that are either absent, as before, or complete: written beside, then renamed over."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` (same suffix, so writers that infer the format from it
    work) for the block to write; renamed over `path` if the block succeeds, removed if not."""
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with written_atomically(path) as partial:
        partial.write_text(text)
