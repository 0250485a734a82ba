"""Every notebook in notebooks/ runs top to bottom without an error, and is stored clean.

Each notebook runs in a fresh kernel of this interpreter (a kernel spec written for
sys.executable, first on JUPYTER_PATH, so no user-level `python3` spec can take its place), with
notebooks/ as its working folder, the packing and model cache and temporary files in a per-test
folder, and matplotlib's inline backend (headless, and it renders every figure to PNG, so a plot
that fails to draw fails the test). The backend must still be the inline one after the last cell:
a library call that switches it (matplotlib.use("Agg")) hides every later figure without an error.
The notebooks assert their own printed conclusions, so a model change that breaks a notebook's
narrative fails here. A new notebook is picked up automatically.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
IDS = [path.stem for path in PATHS]
CELL_TIMEOUT_S = 300
KERNEL = "dla-explorer-tests"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
PREFIX_CHECK = "import sys\nprint(sys.prefix)"
BACKEND_CHECK = "import matplotlib\nprint(matplotlib.get_backend())"


def test_there_are_notebooks() -> None:
    assert PATHS, f"no notebooks in {NOTEBOOKS}"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_notebook_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_kernel_spec(tmp_path / "jupyter" / "kernels" / KERNEL)  # runs sys.executable
    # the kernel inherits this environment
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", INLINE_BACKEND)
    monkeypatch.setenv("DLA_EXPLORER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(BACKEND_CHECK))
    notebook.cells.append(nbformat.v4.new_code_cell(PREFIX_CHECK))
    client = NotebookClient(
        notebook, kernel_name=KERNEL, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    prefix = "".join(o.get("text", "") for o in notebook.cells[-1].outputs).strip()
    assert prefix == sys.prefix, f"the kernel ran {prefix}, not this environment's {sys.prefix}"
    backend = "".join(o.get("text", "") for o in notebook.cells[-2].outputs).strip()
    assert backend == INLINE_BACKEND, (
        f"{path.name} ended on matplotlib backend {backend!r}: figures after the switch did not show"
    )


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_notebook_is_stored_clean(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    dirty = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} carry outputs or execution counts; clear all outputs before committing"
    )
    assert code and "parameters" in code[0].metadata.get("tags", []), (
        f"{path.name}: the first code cell must be tagged 'parameters'"
    )
