"""examples/: the quickstart notebook runs top to bottom, and is kept without outputs."""

import pytest

from helpers import MNIST_DIR, REPO

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_quickstart_is_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat", reason="a dev dependency: pip install -e '.[dev]'")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells(notebook))


def shows_an_image(cell) -> bool:
    return any("image/png" in output.get("data", {})
               or "<img" in output.get("data", {}).get("text/html", "") for output in cell.outputs)


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="a dev dependency: pip install -e '.[dev]'")
    nbclient = pytest.importorskip("nbclient", reason="a dev dependency: pip install -e '.[dev]'")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("GANFORGE_QUICKSTART", "tiny")
    monkeypatch.setenv("GANFORGE_DATA", str(MNIST_DIR.parent))  # the kernel runs in tmp_path
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    image_cells = [cell for cell in code_cells(notebook)
                   if "shows-image" in cell.metadata.get("tags", [])]
    assert len(image_cells) >= 7
    for cell in image_cells:
        assert shows_an_image(cell), cell.source
    assert (tmp_path / "runs" / "quickstart" / "export" / "generator.onnx").is_file()
    printed = "".join(output.get("text", "") for cell in code_cells(notebook) for output in cell.outputs)
    assert "largest difference from the run's own images: 0 of 255" in printed \
        or "largest difference from the run's own images: 1 of 255" in printed
