"""Reports from run folders: self-contained HTML for finished and interrupted runs, the terminal
comparison, and the page as a real browser renders it."""

from __future__ import annotations

import re
import shutil

import pytest

from ganforge.cli import main
from ganforge.report import compare_table
from helpers import ARTIFACTS, chromium_page, needs_chromium, train_tiny


def test_a_run_report_is_one_self_contained_file(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["evaluate", str(run), "--n", "200", "--metrics", "fid,classes"]) == 0
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]{0,30})', page)
    assert sources and all(source.startswith("data:image/") for source in sources)
    for section in ("Curves", "Health", "Samples from the fixed noise", "Real beside generated",
                    "Classes", "Per epoch", "Config"):
        assert f"<h2>{section}</h2>" in page
    assert "finished" in page and "classes covered" in page
    # every epoch's grid in a strip that starts with a real batch
    strip = page.split("<div class=strip>")[1].split("</div>")[0]
    assert strip.count("<figcaption>") == 3 and "<figcaption>real (test set)</figcaption>" in strip
    assert {path.name for path in (run / "plots").iterdir()} >= {
        "losses.png", "scores.png", "accuracy.png", "gradients.png", "samples.gif", "classes.png",
        "real-vs-generated.png"}


def test_an_interrupted_run_reports_what_it_has(tmp_path):
    run = tmp_path / "run"
    assert train_tiny(run, "--epochs", "3", "--max-steps", "10") == 0
    assert main(["report", str(run)]) == 0
    assert "not finished: 2 of 3 epochs so far" in (run / "report.html").read_text()


def test_compare_prints_one_row_per_run(tiny_run, tmp_path, capsys):
    other = tmp_path / "other"
    assert train_tiny(other, "--epochs", "1") == 0
    capsys.readouterr()
    assert main(["compare", str(tiny_run), str(other)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["run", "seed", "epochs", "fid"]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted([tiny_run.name, "other"])
    assert compare_table([tmp_path / "nothing"]) == "no run folders found"


@pytest.mark.slow
def test_report_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.slow
@needs_chromium
def test_the_report_in_headless_chromium(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert main(["report", str(run)]) == 0
    with chromium_page() as (page, problems):
        page.goto((run / "report.html").as_uri())
        page.wait_for_load_state("load")
        widths = page.evaluate(
            "Array.from(document.images).map(image => image.complete ? image.naturalWidth : 0)")
        assert len(widths) >= 6 and all(width > 0 for width in widths)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "run-report.png"), full_page=True)
    assert problems == []
