"""docs/quickstart.ipynb runs from top to bottom: a search of two built-in models and one
defined in the notebook, its horizon figure inline, its cells as a DataFrame."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"


def test_the_committed_notebook_carries_no_outputs():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_the_quickstart_notebook_runs_and_shows_the_users_model(tmp_path):
    import nbclient  # the notebook extra, which tox -e slow installs
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = [o for o in outputs if o.output_type in ("execute_result", "display_data")]
    assert any("image/png" in o.data for o in shown)  # the horizon figure, inline
    tables = [o.data["text/html"] for o in shown if "text/html" in o.data]
    assert len(tables) == 2 and all("resgru" in t for t in tables)  # brackets, then cells
    # the figure's models are the report's: its Markdown names the notebook's model beside them
    report = (tmp_path / "quickstart" / "report" / "README.md").read_text()
    horizon = report.split("## Horizon search", 1)[1].split("\n## ", 1)[0]
    assert all(f"| {m}" in horizon for m in ("elman", "lstm", "resgru"))
