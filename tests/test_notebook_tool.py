"""The maintainers' notebook tool: clean, check and its errors."""

import json

import nbformat
import pytest

from course_utils import notebooks as tool


def _notebook(path, checked_output=True):
    nb = nbformat.v4.new_notebook()
    plain = nbformat.v4.new_code_cell("print(1)")
    plain.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    plain.execution_count = 1
    plain.metadata["execution"] = {"iopub.status.busy": "2026-01-01"}
    checked = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(2)")
    if checked_output:
        checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), plain, checked]
    nbformat.write(nb, path)
    return path


def test_check_finds_stored_outputs(tmp_path, capsys):
    path = _notebook(tmp_path / "a.ipynb")
    problems = tool.stored_output_problems(tool.read(path))
    assert problems == [
        "cell 1 stores outputs but is not marked # NBVAL_CHECK_OUTPUT",
        "cell 1 stores an execution count",
    ]
    assert tool.main(["check", str(path)]) == 1


def test_clean_keeps_only_checked_outputs(tmp_path, capsys):
    path = _notebook(tmp_path / "a.ipynb")
    assert tool.main(["clean", str(path)]) == 0
    nb = tool.read(path)
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count is None
    assert "execution" not in nb.cells[1].metadata
    assert nb.cells[2].outputs[0]["text"] == "2\n"
    assert tool.main(["check", str(path)]) == 0
    assert tool.main(["clean", str(path)]) == 0
    assert "already clean" in capsys.readouterr().out


def test_checked_cell_without_output_is_a_problem(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", checked_output=False)
    nb = tool.clean(tool.read(path))
    assert tool.stored_output_problems(nb) == [
        "cell 2 is marked # NBVAL_CHECK_OUTPUT but stores no output to compare with"
    ]


@pytest.mark.parametrize("content", ["", "{not json", json.dumps({"cells": "nope"})])
def test_broken_notebooks_get_a_clear_error(tmp_path, content, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(ValueError, match="broken.ipynb is not a valid Jupyter notebook"):
        tool.read(path)
    assert tool.main(["clean", str(path)]) == 1
    assert path.read_text() == content  # nothing the user made is overwritten
