"""The eight notebooks run top to bottom against a warehouse built from generated data, and are
stored without outputs."""

from pathlib import Path

import nbformat
import pytest
from generated_shop import generated_shop
from nbclient import NotebookClient
from warehouse_helpers import shop_home

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return generated_shop(tmp_path_factory)


def test_the_eight_steps_are_there_in_order():
    assert [path.name[:3] for path in NOTEBOOKS] == [f"0{step}_" for step in range(1, 9)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)
    assert notebook.cells[0].cell_type == "markdown"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_against_the_warehouse(path, shop):
    notebook = nbformat.read(path, as_version=4)
    with shop_home(shop):  # the kernel inherits GLOBALSHOP_HOME
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(shop)}}).execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
