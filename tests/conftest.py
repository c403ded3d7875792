"""Shared fixtures: offline and private caches for every test, and a trained tiny run (the
builders and checks tests share are in helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import train_tiny


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path_factory):
    """Tests never download (a missing file must fail at once) and keep caches to themselves."""
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 2-epoch dcgan28 run, shared read-only by the tests that need a checkpoint."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    os.environ["GANFORGE_OFFLINE"] = "1"
    assert train_tiny(out, "--epochs", "2") == 0
    return out
