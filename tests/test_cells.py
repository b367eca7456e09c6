"""Cells (cells.py): the config stored with a cell rebuilds the same cell."""

from memorybench.sweep import load_suite


def test_the_stored_cell_config_rebuilds_the_same_cell():
    from memorybench.cells import Cell

    cells = load_suite("smoke")[0].cells()
    assert cells
    for cell in cells[:40]:
        assert Cell.from_config(cell.config()) == cell
