"""Every relative link and #anchor in README.md and docs/*.md resolves: moving text between
pages must not leave a reader at a missing file or a heading that is no longer there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.harness import PROJECT_DIR

# Pages another branch is writing (issue 17): linked already, checked like any other once they
# exist. Drop an entry when its page has landed.
PENDING: dict[str, str] = {}

_FENCE = re.compile(r"^(`{3,}|~{3,})")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE_SPAN = re.compile(r"(`+).+?\1")


def doc_files() -> list[Path]:
    return [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]


def _prose_lines(text: str, *, blank_code_spans: bool = True) -> list[str]:
    """The lines outside fenced code blocks (inline code spans blanked unless asked not to)."""
    lines, fence = [], ""
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if fence:
            if line.strip() == fence:
                fence = ""
            continue
        if opening:
            fence = opening.group(1)
            continue
        lines.append(_CODE_SPAN.sub("", line) if blank_code_spans else line)
    return lines


def links(text: str) -> list[str]:
    # Over the joined lines: a link's text may wrap onto the next line.
    return [match.group(1) for match in _LINK.finditer("\n".join(_prose_lines(text)))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    for line in _prose_lines(text, blank_code_spans=False):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            name, count = base, 0
            while name in found:  # a repeated heading gets -1, -2, ...
                count += 1
                name = f"{base}-{count}"
            found.add(name)
    return found


def broken_links(page: Path, root: Path = PROJECT_DIR) -> list[str]:
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.is_relative_to(root):
            problems.append(f"{target}: outside the project")
        elif not destination.exists():
            if destination.relative_to(root).as_posix() not in PENDING:
                problems.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(destination.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading #{anchor} in {destination.relative_to(root)}")
    return problems


@pytest.mark.parametrize(
    "page", doc_files(), ids=lambda page: page.relative_to(PROJECT_DIR).as_posix()
)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = links((PROJECT_DIR / "README.md").read_text(encoding="utf-8"))
    linked = {target.partition("#")[0] for target in readme}
    for page in sorted((PROJECT_DIR / "docs").glob("*.md")):
        assert f"docs/{page.name}" in linked, f"docs/{page.name} is not linked from README.md"


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "# Capacity planning: `mlstack plan`",
            "## Endpoints (port `$PORT`, default 8080)",
            "```bash",
            "# not a heading",
            "[in code](missing.md)",
            "```",
            "See [here](#capacity-planning-mlstack-plan), `[code](nowhere.md)`,",
            "[there](#endpoints-port-port-default-8080), [gone, on two",
            "lines](#not-a-heading)",
            "![plot](images/none.png) and [web](https://example.com/x.md).",
        ]
    )
    assert anchors(text) == {"capacity-planning-mlstack-plan", "endpoints-port-port-default-8080"}
    assert links(text) == [
        "#capacity-planning-mlstack-plan",
        "#endpoints-port-port-default-8080",
        "#not-a-heading",
        "images/none.png",
        "https://example.com/x.md",
    ]
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text(text + "\n[up](../README.md#intro) [top](../README.md#nope) [out](../../x.md)")
    (tmp_path / "README.md").write_text("# Intro\n")
    assert broken_links(page, root=tmp_path) == [
        "#not-a-heading: no heading #not-a-heading in docs/page.md",
        "images/none.png: no such file",
        "../README.md#nope: no heading #nope in README.md",
        "../../x.md: outside the project",
    ]
