"""The course glossary (용어집), generated from the notebooks.

    python -m course_utils.glossary            # write notebooks/GLOSSARY.md
    python -m course_utils.glossary --check    # exit 1 if it is out of date (CI)

Every notebook introduces a term once, in bold with its Korean name beside it:
``**convolution (합성곱)**`` or ``**convolution** (합성곱)`` (notebooks/README.md, "Language").
This module collects those pairs from the markdown cells of every course notebook, in course
order, and writes one table: English, Korean, and the notebooks that introduce the term (linked).
The file sits next to the notebooks, so the link ``[GLOSSARY.md](GLOSSARY.md)`` in each
notebook's first cell works in ``notebooks/``, ``release/`` (the release tool copies it) and the
learner's ``workspace/`` (``make lab`` copies it).

Exit status: 0 written or up to date, 1 out of date (``--check``), 2 no notebooks found.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .cache import atomic_write

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO / "notebooks"
FILE_NAME = "GLOSSARY.md"
NOTEBOOK_NAME = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")

#: A term introduced with its Korean name: **English (한국어)** or **English** (한국어).
TERM = re.compile(
    r"\*\*([^*(\n]+?)\s*\(([^()\n]*[\uac00-\ud7a3][^()\n]*)\)\*\*"
    r"|\*\*([^*\n]+?)\*\*\s*\(([^()\n]*[\uac00-\ud7a3][^()\n]*)\)"
)

HEADER = """\
# Glossary (용어집)

Every term the course introduces with its Korean name, in the order the notebooks introduce it.
The "introduced in" column links the notebooks where the term is first explained in bold.

This file is generated from the notebooks: do not edit it by hand. Maintainers: after changing a
notebook, run `python -m course_utils.glossary` (the release tool copies the file into
`release/`; a test fails while it is out of date).

| English | 한국어 | introduced in |
|---|---|---|
"""


def terms(text: str) -> list[tuple[str, str]]:
    """(English, Korean) pairs introduced in a markdown text, in order."""
    return [((a or c).strip(), (b or d).strip()) for a, b, c, d in TERM.findall(text)]


def key(english: str) -> str:
    """A term as compared: lower case, runs of spaces as one (plurals: see ``collect``)."""
    return " ".join(english.lower().split())


def _singulars(word: str) -> set[str]:
    forms = {word}
    if word.endswith("es"):
        forms.add(word[:-2])
    if word.endswith("s"):
        forms.add(word[:-1])
    return forms


@dataclass
class Entry:
    english: str
    korean: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)


def course_source() -> Path:
    """The notebooks to read terms from: ``notebooks/``, or ``release/`` in the student zip."""
    return DEFAULT_SOURCE if DEFAULT_SOURCE.is_dir() else REPO / "release"


def course_notebooks(source: Path) -> list[Path]:
    """``NN_topic.ipynb`` files in ``source``, in course order."""
    return sorted(p for p in source.glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))


def collect(paths: Iterable[Path]) -> list[Entry]:
    """The glossary entries of these notebooks, in the order the terms are first introduced."""
    entries: dict[str, Entry] = {}
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for english, korean in terms(cell.source):
                k = key(english)
                found = next((f for f in _singulars(k) if f in entries), None)
                if found is None:
                    # a singular introduced after its plural: file it under the earlier spelling
                    found = next((e for e in entries if k in _singulars(e)), None)
                entry = entries.setdefault(found or k, Entry(english))
                if korean not in entry.korean:
                    entry.korean.append(korean)
                if path.name not in entry.notebooks:
                    entry.notebooks.append(path.name)
    return list(entries.values())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(entries: Iterable[Entry]) -> str:
    """The Markdown of GLOSSARY.md."""
    rows = []
    for entry in entries:
        where = ", ".join(f"[{name[:2]}]({name})" for name in entry.notebooks)
        korean = " / ".join(entry.korean)
        rows.append(f"| {_cell(entry.english)} | {_cell(korean)} | {where} |\n")
    return HEADER + "".join(rows)


def glossary_text(source: Path) -> str:
    """GLOSSARY.md as generated from the notebooks in ``source``."""
    paths = course_notebooks(source)
    if not paths:
        raise FileNotFoundError(f"{source}: no NN_topic.ipynb notebooks")
    return render(collect(paths))


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.glossary", description=__doc__)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="notebook folder")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is out of date"
    )
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        text = glossary_text(args.source)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2
    target = args.source / FILE_NAME
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        if current != text:
            print(f"{target} is out of date: run python -m course_utils.glossary", file=sys.stderr)
            return 1
        print(f"{target} is up to date")
        return 0
    if current != text:
        atomic_write(target, text)
        print(f"wrote {target} ({text.count(chr(10)) - HEADER.count(chr(10))} terms)")
    else:
        print(f"{target} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
