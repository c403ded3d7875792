"""ganforge.atomic: files replaced whole or not at all."""

import pytest

from ganforge.atomic import written_atomically


def test_an_interrupted_atomic_write_leaves_the_old_file_and_no_partial(tmp_path):
    """Every cache, export, report and sheet goes through written_atomically: a writer that
    fails half-way leaves the previous file intact and nothing beside it."""
    target = tmp_path / "grids.png"
    target.write_text("old")
    with pytest.raises(RuntimeError), written_atomically(target) as partial:
        assert partial.suffix == ".png" and partial.parent == tmp_path
        partial.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    with written_atomically(target) as partial:
        partial.write_text("new")
    assert target.read_text() == "new" and sorted(tmp_path.iterdir()) == [target]
