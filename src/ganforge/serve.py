"""`ganforge serve`: a local page that draws samples on demand.

Python's own http.server rather than Gradio or FastAPI: nothing to install, nothing fetched at
start (it works offline), one process, and the page is one small static file. The page calls
two endpoints:

    GET /api/card                              the model card (JSON)
    GET /api/grid?n=64&seed=0[&label=7][&seed2=1&t=0.5]   a PNG grid; 400 + {"error"} if bad

`seed2` and `t` walk each image of the grid along the sphere from its `seed` latent to its
`seed2` latent (t=0 is `seed`, t=1 is `seed2`).
"""

from __future__ import annotations

import io
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import torch
from PIL import Image

from ganforge.errors import ConfigError
from ganforge.generation import load
from ganforge.runs.images import image_grid
from ganforge.sampling import generate, slerp

MAX_IMAGES = 256
MAX_SEED = 2**31 - 1


def _integer(query: dict[str, list[str]], name: str, low: int, high: int, default: int | None) -> int | None:
    if name not in query or query[name] == [""]:
        return default
    text = query[name][0]
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be in {low}..{high}, got {value}")
    return value


class Studio:
    """The generator behind the page; one request generates at a time (it uses every core)."""

    def __init__(self, source: Path, ema: bool = True):
        loaded = load(source, ema=ema)
        self.generator = loaded.module
        self.card = {**loaded.card, "z_dim": self.generator.z_dim,
                     "num_classes": self.generator.num_classes, "max_images": MAX_IMAGES}
        self._lock = threading.Lock()

    def latents(self, count: int, seed: int) -> torch.Tensor:
        return torch.randn(count, self.generator.z_dim, generator=torch.Generator().manual_seed(seed))

    def grid_png(self, query: dict[str, list[str]]) -> bytes:
        """Validate the query and draw its grid as PNG bytes."""
        known = {"n", "seed", "label", "seed2", "t"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise ConfigError(f"unknown parameter {unknown[0]!r}; use {', '.join(sorted(known))}")
        count = _integer(query, "n", 1, MAX_IMAGES, 64)
        seed = _integer(query, "seed", 0, MAX_SEED, 0)
        classes = self.generator.num_classes
        if classes:
            label = _integer(query, "label", 0, classes - 1, None)
        elif query.get("label", [""]) != [""]:
            raise ConfigError("label needs a conditional model; this generator draws every class")
        else:
            label = None
        z = self.latents(count, seed)
        seed2 = _integer(query, "seed2", 0, MAX_SEED, None)
        if seed2 is not None:
            try:
                position = float(query.get("t", ["0.5"])[0])
            except ValueError:
                raise ConfigError(f"t must be a number in 0..1, got {query['t'][0]!r}") from None
            if not 0 <= position <= 1:
                raise ConfigError(f"t must be in 0..1, got {position}")
            z = slerp(z, self.latents(count, seed2), position)
        labels = torch.full((count,), label) if label is not None else None
        with self._lock:
            images = generate(self.generator, count, labels=labels, z=z)
        buffer = io.BytesIO()
        Image.fromarray(image_grid(images)).save(buffer, format="PNG")
        return buffer.getvalue()


def _handler(studio: Studio, page: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            url = urlparse(self.path)
            try:
                if url.path == "/":
                    self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
                elif url.path == "/api/card":
                    self._send(HTTPStatus.OK, "application/json", json.dumps(studio.card).encode())
                elif url.path == "/api/grid":
                    started = time.perf_counter()
                    png = studio.grid_png(parse_qs(url.query, keep_blank_values=True))
                    milliseconds = (time.perf_counter() - started) * 1000
                    self._send(HTTPStatus.OK, "image/png", png, {"X-Generate-Ms": f"{milliseconds:.0f}"})
                else:
                    self._error(HTTPStatus.NOT_FOUND, f"no page {url.path}; try / or /api/grid")
            except ConfigError as error:
                self._error(HTTPStatus.BAD_REQUEST, str(error))

        def _error(self, status: HTTPStatus, message: str) -> None:
            self._send(status, "application/json", json.dumps({"error": message}).encode())

        def _send(self, status: HTTPStatus, kind: str, body: bytes,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # one line per image request would drown the console

    return Handler


def make_server(source: Path, host: str = "127.0.0.1", port: int = 7860,
                ema: bool = True) -> ThreadingHTTPServer:
    """The server, bound but not yet serving (port 0 picks a free one)."""
    page = resources.files("ganforge").joinpath("serve_page.html").read_bytes()
    try:
        return ThreadingHTTPServer((host, port), _handler(Studio(source, ema), page))
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port} ({error.strerror}); choose another "
                          "--port") from None
