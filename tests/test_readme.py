"""The README is the newcomer's contract: its config reference matches the settings model."""

from __future__ import annotations

from mlstack.reference import BEGIN, END, reference_markdown
from tests.support.harness import PROJECT_DIR


def test_config_reference_in_readme_is_current() -> None:
    text = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert current == reference_markdown(), "run `mlstack reference --write` and commit README.md"


def test_readme_names_the_command_ci_runs() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    ci = (PROJECT_DIR / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in ci
