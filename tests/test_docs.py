"""The docs' lists come from the code: docs/writeups.md (each write-up's settings beside its
preset's) and the reference pages (commands, metrics, config keys, presets) match it, and a
change to the code without the page fails here."""

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGE_SCRIPT = DOCS / "writeups.py"
FAITHFUL = {"mnist-course", "mnist-mlp", "mnist-blog-mlp", "mnist-journey-linear", "mnist-z100",
            "folder-abstract128", "mnist-wgan", *(f"report-exp{n}" for n in range(1, 11))}


def page_module(script: Path = PAGE_SCRIPT):
    spec = importlib.util.spec_from_file_location(f"docs_{script.stem}", script)
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


def test_the_reference_pages_match_the_code():
    assert page_module(DOCS / "reference.py").problems(write=False) == []


def test_a_stale_reference_page_is_named(monkeypatch):
    reference = page_module(DOCS / "reference.py")
    monkeypatch.setattr(reference, "config_keys", lambda: {"train.epochs", "train.new_key"})
    found = reference.problems(write=False)
    assert "config.md: key train.new_key is not documented" in found
    assert "config.md: train.seed is not a config key" in found
    monkeypatch.setattr(reference, "preset_names", lambda: ["mnist-dcgan", "new-preset"])
    assert "presets.md: preset new-preset is not in the table" in reference.problems(write=False)
