"""Every "DESIGN x.y" citation in the repository names a section that docs/design.md has.

The code and docs cite the design by section number: the word "DESIGN" followed by
"3.4", "section 7", "sections 1 and 5", "3.5, 4.5 and 5" or "3.4/3.5". This test parses the
numbered headings of docs/design.md (``## N.`` and ``### N.M``), scans every tracked (or
new, not ignored) ``.py``, ``.md``, ``.toml`` and ``Makefile`` of the repository, and fails
naming the file, line and section of each citation that points nowhere.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DESIGN_DOC = REPO / "docs" / "design.md"

#: The citation keyword. Kept apart from any number in this file, so the scan of this
#: file finds no citation in its own samples.
WORD = "DESIGN"
_NUM = r"\d+(?:\.\d+)*"
#: Between two cited numbers: "3.2, 3.3", "3.5, 4.5 and 5", "1 and 5", "3.4/3.5", "3 & 4".
_SEP = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*/\s*|\s*&\s*)"
#: A citation: the keyword (optionally ``.md``), optionally "section(s)", then numbers.
#: Whitespace may include a line break ("(DESIGN" at a line end, "section 5)" below).
CITATION_RE = re.compile(rf"\b{WORD}(?:\.md)?\s+(?:sections?\s+)?({_NUM}(?:{_SEP}{_NUM})*)")
_NUM_RE = re.compile(_NUM)
#: A numbered heading: "## 3. NMPU", "### 3.4 Interfaces" (a trailing dot is optional).
HEADING_RE = re.compile(r"^#{2,6}\s+(\d+(?:\.\d+)*)\.?(?:\s|$)")

SUFFIXES = (".py", ".md", ".toml")
SKIP_DIRS = {".venv", "build", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}


def design_sections(markdown: str) -> list[str]:
    """Section numbers of the numbered headings, in order (fenced code blocks skipped)."""
    numbers, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else HEADING_RE.match(line)
        if match:
            numbers.append(match.group(1))
    return numbers


def citations(text: str) -> list[tuple[int, str, str]]:
    """``(line, section, cited text)`` for every section number cited in ``text``."""
    found = []
    for match in CITATION_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        cited = " ".join(match.group(0).split())
        found += [(line, n, cited) for n in _NUM_RE.findall(match.group(1))]
    return found


def missing_citations(text: str, sections, where: str) -> list[str]:
    """One message per citation of ``text`` (a file named ``where``) that is not in
    ``sections``."""
    have = set(sections)
    return [
        f"{where}:{line}: '{cited}' cites section {number}, which docs/design.md does not have"
        for line, number, cited in citations(text)
        if number not in have
    ]


def _wanted(name: str) -> bool:
    return name == "Makefile" or name.endswith(SUFFIXES)


def source_files(root: Path = REPO) -> list[Path]:
    """Tracked and new (not ignored) source and doc files; a filesystem walk without git."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True, timeout=30,
        ).stdout  # fmt: skip
        names = sorted({n for n in out.decode().split("\0") if n})
        files = [root / n for n in names if _wanted(Path(n).name)]
    except (OSError, subprocess.SubprocessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [
                d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")
            ]
            files += [Path(dirpath) / f for f in filenames if _wanted(f)]
        files.sort()
    return [f for f in files if f.is_file()]  # a tracked file may be deleted in the tree


# -- the repository ------------------------------------------------------------------------


def test_design_doc_keeps_the_reference_numbering():
    numbers = design_sections(DESIGN_DOC.read_text(encoding="utf-8"))
    assert len(numbers) == len(set(numbers)), f"duplicate section numbers: {numbers}"
    top = [int(n) for n in numbers if "." not in n]
    assert top == list(range(1, len(top) + 1)), f"top-level sections not 1..N in order: {top}"
    assert len(top) >= 11, f"the reference has sections 1..11, docs/design.md has {top}"
    orphans = [n for n in numbers if "." in n and n.rsplit(".", 1)[0] not in numbers]
    assert not orphans, f"subsections without their parent section: {orphans}"


def test_every_design_citation_names_an_existing_section():
    sections = design_sections(DESIGN_DOC.read_text(encoding="utf-8"))
    found, problems = 0, []
    for path in source_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(REPO).as_posix()
        found += len(citations(text))
        problems += missing_citations(text, sections, where)
    # The code cites the design dozens of times: zero would mean the scan is broken.
    assert found >= 20, f"only {found} DESIGN citations found: is the scan broken?"
    assert not problems, "citations of missing sections:\n" + "\n".join(problems)


# -- the parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"see {WORD} 3.4.", ["3.4"]),
        (f"({WORD} section 7) and", ["7"]),
        (f"{WORD} sections 1 and 5", ["1", "5"]),
        (f"the public API of {WORD} 3.5, 4.5 and 5; they", ["3.5", "4.5", "5"]),
        (f"({WORD} 3.2, 3.3). Every", ["3.2", "3.3"]),
        (f"{WORD} 3.4/3.5", ["3.4", "3.5"]),
        (f"{WORD} 3 & 4", ["3", "4"]),
        (f"{WORD}.md section 8", ["8"]),
        (f"{WORD} 7, every operation binary16", ["7"]),
        (f"{WORD} 3.3's alignment rules", ["3.3"]),
        (f"{WORD} section 3.", ["3"]),
        (f"(harness, {WORD} 10): 10^6 beats", ["10"]),
        (f"{WORD} 3.3 and the rest", ["3.3"]),
        ("the design 3.4 in lower case", []),
        (f"{WORD}S 3 and NO_{WORD} 4", []),
        (f"{WORD} doc without a number", []),
    ],
)
def test_citation_parser(text, expected):
    assert [number for _, number, _ in citations(text)] == expected


def test_citation_across_a_line_break_reports_its_first_line():
    text = f"line one\nthe result ({WORD}\nsection 5). More\n{WORD} 2"
    assert citations(text) == [(2, "5", f"{WORD} section 5"), (4, "2", f"{WORD} 2")]


def test_missing_section_is_reported_with_file_line_and_section():
    sections = design_sections("# Title\n## 3. NMPU\n### 3.4 Interfaces\n## 4. SAR\n")
    text = f"ok: {WORD} 3.4\nok: {WORD} section 4\nbad: {WORD} 3.4 and 12.7\n"
    assert missing_citations(text, sections, "hw/x.py") == [
        f"hw/x.py:3: '{WORD} 3.4 and 12.7' cites section 12.7, which docs/design.md does not have"
    ]


def test_heading_parser():
    markdown = "\n".join(
        [
            "# Design",
            "## 1. What it is for",
            "### 1.2 Details",
            "## Unnumbered summary",
            "```",
            "## 9. inside a fenced block",
            "```",
            "    ## 8. inside an indented block",
            "#### 1.2.3 Deep",
            "## 2",
            "text ## 7. not a heading",
        ]
    )
    assert design_sections(markdown) == ["1", "1.2", "1.2.3", "2"]
