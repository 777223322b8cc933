"""What notebooks/README.md asks of every notebook, checked on the committed files."""

from __future__ import annotations

import re

import nbformat
import pytest

from course_utils import glossary
from course_utils import notebooks as tool

from conftest import NOTEBOOKS, ROOT

NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")


def _load(path):
    return nbformat.read(path, as_version=4)


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _markdown(nb):
    return [c for c in nb.cells if c.cell_type == "markdown"]


each_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])


def test_names_are_numbered_in_order_without_gaps():
    numbers = [int(NAME.match(p.name).group(1)) for p in NOTEBOOKS if NAME.match(p.name)]
    assert len(numbers) == len(NOTEBOOKS), "notebooks must be named NN_topic.ipynb"
    assert numbers == list(range(len(numbers)))


@each_notebook
def test_valid_and_stored_without_outputs(path):
    problems = tool.stored_output_problems(tool.read(path))
    assert not problems, f"{path.name}: {problems}; run python -m course_utils.notebooks clean"


@each_notebook
def test_first_code_cell_calls_setup(path):
    first = _code(_load(path))[0].source
    assert "course_utils.setup(" in first


@each_notebook
def test_opens_with_title_goals_and_prerequisites(path):
    head = _load(path).cells[0]
    assert head.cell_type == "markdown" and head.source.startswith("# ")
    text = head.source.lower()
    assert "learning goals" in text and "prerequisites" in text


@each_notebook
def test_backend_agnostic(path):
    for cell in _code(_load(path)):
        assert (
            "tensorflow.keras" not in cell.source
            and "from tensorflow import keras" not in cell.source
        )


@each_notebook
def test_no_plotting_helpers_defined(path):
    for cell in _code(_load(path)):
        assert not re.search(r"def (plot|show)_\w+\(", cell.source), (
            "plotting helpers belong in course_utils.plots"
        )


@each_notebook
def test_exercises_use_nbgrader_markup(path):
    nb = _load(path)
    grade_ids, solutions, tests = [], 0, 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            assert (
                "### BEGIN SOLUTION" not in cell.source
                and "### BEGIN HIDDEN TESTS" not in cell.source
            )
            continue
        assert meta.get("schema_version") == 3 and meta.get("grade_id")
        grade_ids.append(meta["grade_id"])
        if meta.get("solution"):
            solutions += 1
            assert (
                cell.source.count("### BEGIN SOLUTION")
                == cell.source.count("### END SOLUTION")
                >= 1
            )
        if meta.get("grade"):
            tests += 1
            assert cell.cell_type == "code" and meta.get("locked") and meta.get("points", 0) > 0
            assert (
                cell.source.count("### BEGIN HIDDEN TESTS")
                == cell.source.count("### END HIDDEN TESTS")
                == 1
            )
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert" in visible, "students need at least one visible test"
    assert len(grade_ids) == len(set(grade_ids)), "grade_id values must be unique"
    assert solutions >= 2 and tests >= 2, "every notebook ends with at least two graded exercises"


@each_notebook
def test_ends_with_summary_then_exercises(path):
    text = [c.source.lower() for c in _markdown(_load(path))]
    summary = [i for i, t in enumerate(text) if "what we learned" in t]
    exercises = [
        i for i, t in enumerate(text) if t.startswith("## exercises") or t.startswith("# exercises")
    ]
    assert summary and exercises and summary[0] < exercises[0]


GLOSSARY_LINK = "](GLOSSARY.md)"
MAX_PROSE_WORDS = 200


def test_glossary_is_generated_from_the_notebooks_and_up_to_date():
    committed = (ROOT / "notebooks" / glossary.FILE_NAME).read_text(encoding="utf-8")
    assert committed == glossary.glossary_text(ROOT / "notebooks"), (
        "notebooks/GLOSSARY.md is out of date: run python -m course_utils.glossary"
    )
    assert len(glossary.collect(NOTEBOOKS)) >= 150
    released = ROOT / "release" / glossary.FILE_NAME
    assert released.read_bytes() == (ROOT / "notebooks" / glossary.FILE_NAME).read_bytes(), (
        "release/GLOSSARY.md is out of date: run python -m course_utils.grading release"
    )


def test_term_pattern_finds_both_spellings():
    text = "A **convolution (합성곱)** and a **filter** (필터), not **bold** (plain) nor (괄호)."
    assert glossary.terms(text) == [("convolution", "합성곱"), ("filter", "필터")]


def test_glossary_files_a_plural_under_its_singular(tmp_path):
    cells = [
        "**filters (필터)**, then **filter (필터)**",
        "**Batch** (배치) and **batches (배치)**",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(c) for c in cells])
    nbformat.write(nb, tmp_path / "03_x.ipynb")
    entries = glossary.collect([tmp_path / "03_x.ipynb"])
    assert [(e.english, e.korean, e.notebooks) for e in entries] == [
        ("filters", ["필터"], ["03_x.ipynb"]),
        ("Batch", ["배치"], ["03_x.ipynb"]),
    ]
    assert "| filters | 필터 | [03](03_x.ipynb) |" in glossary.render(entries)


def test_glossary_command_writes_and_checks(tmp_path, capsys):
    assert glossary.main(["--source", str(tmp_path), "--check"]) == 2  # no notebooks: says so
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("a **stride (스트라이드)**")]
    )
    nbformat.write(nb, tmp_path / "05_x.ipynb")
    assert glossary.main(["--source", str(tmp_path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert glossary.main(["--source", str(tmp_path)]) == 0
    assert "| stride | 스트라이드 | [05](05_x.ipynb) |" in (tmp_path / "GLOSSARY.md").read_text()
    assert glossary.main(["--source", str(tmp_path), "--check"]) == 0


@each_notebook
def test_first_cell_links_the_glossary(path):
    first = _load(path).cells[0]
    assert first.cell_type == "markdown" and GLOSSARY_LINK in first.source, (
        f"{path.name}: the title cell links the glossary: [GLOSSARY.md](GLOSSARY.md)"
    )


@each_notebook
def test_prose_cells_stay_short(path):
    long = {
        i: len(c.source.split())
        for i, c in enumerate(_load(path).cells)
        if c.cell_type == "markdown" and len(c.source.split()) > MAX_PROSE_WORDS
    }
    assert not long, f"{path.name}: split these cells (index: words): {long}"


def _course_map() -> list[str]:
    """Notebook file names in the README's course map table, in table order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Course map", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|\s*\[`?(\d\d_[a-z0-9_]+\.ipynb)`?\]", section, flags=re.MULTILINE)


def test_readme_course_map_matches_the_notebooks_folder():
    """The course map lists exactly the notebooks in notebooks/, once each, in order."""
    assert _course_map() == [p.name for p in NOTEBOOKS]


def test_the_suite_checks_that_every_notebook_is_collected():
    """tests/conftest.py fails a run that covers notebooks/ but did not collect one of them."""
    import conftest

    nb = NOTEBOOKS[0]

    class FakeConfig:
        args = [str(ROOT / "notebooks")]

        class invocation_params:  # mimics pytest's attribute of that name
            dir = ROOT

    class FakeItem:
        def __init__(self, path):
            self.path = path

    assert conftest._covers_notebooks(FakeConfig)
    with pytest.raises(pytest.UsageError, match=NOTEBOOKS[-1].name):
        conftest.pytest_collection_modifyitems(None, FakeConfig, [FakeItem(nb)])
    conftest.pytest_collection_modifyitems(None, FakeConfig, [FakeItem(p) for p in NOTEBOOKS])
    FakeConfig.args = [str(ROOT / "tests")]
    assert not conftest._covers_notebooks(FakeConfig)


MAX_CODE_LINE = 100


def test_code_lines_are_at_most_100_characters():
    """Code lines of at most 100 characters, as ruff asks of the Python sources."""
    long = [
        f"{path.name} cell {index} line {number}: {len(line)} characters"
        for path in NOTEBOOKS
        for index, cell in enumerate(_load(path).cells)
        if cell.cell_type == "code"
        for number, line in enumerate(cell.source.splitlines(), start=1)
        if len(line) > MAX_CODE_LINE
    ]
    assert not long, "wrap these lines (at most 100 characters):\n" + "\n".join(long)


def _silent_training_lines(source):
    """Line numbers (from 1) where a .fit( or compare_models( call passes a literal verbose=0
    without a ``# quiet: <reason>`` comment on that line."""
    import io
    import tokenize

    # IPython magics and shell lines are not Python: blank them, keeping the line numbers
    text = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    tokens = list(tokenize.generate_tokens(io.StringIO(text + "\n").readline))
    comments = {tok.start[0]: tok.string for tok in tokens if tok.type == tokenize.COMMENT}
    silent, depth, inside = [], 0, False
    for i, tok in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        is_call = (
            tok.type == tokenize.NAME
            and following is not None
            and following.string == "("
            and (
                tok.string == "compare_models"
                or (tok.string == "fit" and i > 0 and tokens[i - 1].string == ".")
            )
        )
        if is_call and not inside:
            inside, depth = True, 0
            continue
        if not inside:
            continue
        if tok.string in "([{" and tok.type == tokenize.OP:
            depth += 1
        elif tok.string in ")]}" and tok.type == tokenize.OP:
            depth -= 1
            if depth == 0:
                inside = False
        elif (
            tok.string == "verbose"
            and depth == 1
            and tokens[i + 1].string == "="
            and tokens[i + 2].string == "0"
        ):
            line = tok.start[0]
            if "# quiet:" not in comments.get(line, "").replace("#quiet:", "# quiet:"):
                silent.append(line)
    return silent


def test_silent_training_check_finds_literal_verbose_0():
    source = (
        "model.fit(x, y, verbose=0)\n"
        "model.fit(x, y,\n"
        "          verbose=0)  # quiet: one epoch\n"
        "compare_models(b, t, v, None, epochs=1, loss='mse', verbose=0)\n"
        "model.fit(x, y, verbose=profile.verbose)\n"
        "model.evaluate(x, y, verbose=0)\n"
        "model.fit(x, y, callbacks=[f(verbose=0)], verbose=2)\n"
    )
    assert _silent_training_lines(source) == [1, 4]


@each_notebook
def test_long_training_shows_progress(path):
    """No silent training: fit/compare_models pass verbose=profile.verbose (or the helper's
    default); a literal verbose=0 is for short fits and says why with `# quiet: <reason>`."""
    silent = [
        f"cell {index} line {line}"
        for index, cell in enumerate(_load(path).cells)
        if cell.cell_type == "code"
        for line in _silent_training_lines(cell.source)
    ]
    assert not silent, (
        f"{path.name}: verbose=0 without a '# quiet: <reason>' comment at {silent}; "
        "use verbose=profile.verbose for training that can take more than ~10 s"
    )


RERUN_HINT = "# Needs the setup cell above: NameError? Use Run > Run All Above Selected Cell."


@each_notebook
def test_first_cell_using_the_profile_says_how_to_recover(path):
    """A learner who skipped the setup cell gets a NameError; its traceback shows this hint."""
    cells = _code(_load(path))
    setup = next(i for i, cell in enumerate(cells) if "course_utils.setup(" in cell.source)
    first = next(cell for cell in cells[setup + 1 :] if re.search(r"\bprofile\b", cell.source))
    lines = [line for line in first.source.splitlines() if not line.startswith("# NBVAL")]
    assert lines[0] == RERUN_HINT, (
        f"{path.name}: start the first cell that uses `profile` with:\n{RERUN_HINT}\n"
        f"it starts with: {lines[0]!r}"
    )


# A cell that draws a figure itself (not through course_utils.plots, whose helpers always title
# their figures) names it: set_title, suptitle, plt.title or a title= argument.
DRAWS_A_FIGURE = re.compile(
    r"plt\.(subplots|figure|plot|imshow|bar|scatter|hist)\(|\.imshow\(|\.subplots\("
)
HAS_A_TITLE = re.compile(r"set_title\(|suptitle\(|plt\.title\(|\btitle=")


@each_notebook
def test_every_figure_has_a_title(path):
    untitled = [
        index
        for index, cell in enumerate(_load(path).cells)
        if cell.cell_type == "code"
        and DRAWS_A_FIGURE.search(cell.source)
        and not HAS_A_TITLE.search(cell.source)
    ]
    assert not untitled, f"{path.name}: cells {untitled} draw a figure without a title"
