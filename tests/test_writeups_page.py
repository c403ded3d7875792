"""docs/writeups.md is the single table of what each write-up states beside its preset's value:
it matches the presets, and a preset changed without the page fails here."""

import importlib.util
from pathlib import Path

PAGE_SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "writeups.py"
FAITHFUL = {"mnist-course", "mnist-mlp", "mnist-blog-mlp", "mnist-journey-linear", "mnist-z100",
            "folder-abstract128", "mnist-wgan", *(f"report-exp{n}" for n in range(1, 11))}


def page_module():
    spec = importlib.util.spec_from_file_location("writeups_page", PAGE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_matches_every_faithful_preset():
    page = page_module()
    text = page.PAGE.read_text()
    assert page.refreshed(text) == (text, [])
    assert {match.group(1) for line in text.splitlines()
                        if (match := page.HEADING.match(line))} >= FAITHFUL


def test_a_preset_changed_without_the_page_is_named(monkeypatch):
    page = page_module()
    original = page.preset_value
    monkeypatch.setattr(page, "preset_value", lambda preset, key: 64 if (preset, key) == (
        "mnist-course", "train.batch_size") else original(preset, key))
    _, changes = page.refreshed(page.PAGE.read_text())
    assert changes == ["mnist-course train.batch_size: the page says '128', the preset '64'"]
