"""The quick-start notebook, as a user opens it: stored without outputs, and run from
top to bottom in a real Jupyter kernel (headless, through nbclient) at a tiny budget."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"
TINY = "TIME_BUDGET = None\nN_TRIALS = 2\nMAX_EPOCHS = 3"


def test_the_notebook_is_stored_with_its_outputs_cleared() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert any("parameters" in c.metadata.get("tags", []) for c in code)


@pytest.mark.slow
def test_the_notebook_runs_from_top_to_bottom(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    [parameters] = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = TINY
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = {i: "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                       + str(o.get("data", {}).get("text/html", ""))
                       for o in cell.outputs)
            for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    everything = "\n".join(text.values())
    assert "val_rmse" in everything  # the leaderboard as a DataFrame
    assert "trial" in everything and "R² on 103 held-out rows" in everything
    assert "runs/concrete-notebook/report.html" in everything
    assert (tmp_path / "runs" / "concrete-notebook" / "report.html").is_file()
    assert (tmp_path / "runs" / "leaderboard.db").is_file()
