"""Files that are either absent, as before, or complete: written beside, then renamed over."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; renamed over `path` if the block
    succeeds, removed if not. The name is unique (several sweep workers may write one file at
    once) and keeps the suffix, for writers that infer the format from it."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{path.suffix}",
                                    dir=path.parent)
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with written_atomically(path) as partial:
        partial.write_text(text)
