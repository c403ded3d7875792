"""The IDX format of MNIST and Fashion-MNIST, read from .gz or raw files, with an MD5 check."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from ganforge.errors import DataError

UNSIGNED_BYTE = 0x08


def read_bytes(path: Path) -> bytes:
    """The uncompressed contents of an IDX file (gzip is detected by its magic, not its name)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error):
        raise DataError(
            f"{path} is a truncated or corrupt gzip file; delete it and download it again"
        ) from None


def parse_idx(content: bytes, path: Path) -> np.ndarray:
    """Parse an unsigned-byte IDX payload into an array of its declared shape."""
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] != UNSIGNED_BYTE:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number)")
    ndim = content[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(content) < header_size:
        raise DataError(f"{path} has a truncated IDX header")
    shape = tuple(int(size) for size in np.frombuffer(content, ">u4", count=ndim, offset=4))
    expected = header_size + int(np.prod(shape))
    if len(content) != expected:
        raise DataError(
            f"{path} holds {len(content)} bytes but its header {shape} needs {expected}: "
            "the file is truncated or corrupt; delete it and download it again"
        )
    return np.frombuffer(content, np.uint8, offset=header_size).reshape(shape)


def read_idx(path: Path, md5: str | None = None) -> np.ndarray:
    """Read an IDX file; with `md5`, the uncompressed bytes must have that checksum."""
    content = read_bytes(path)
    if md5 is not None:
        actual = hashlib.md5(content).hexdigest()
        if actual != md5:
            raise DataError(
                f"{path} has MD5 {actual}, not the canonical {md5}: the file is corrupt or "
                "another dataset's; delete it and download it again"
            )
    return parse_idx(content, path)
