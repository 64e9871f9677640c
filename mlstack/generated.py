"""Blocks of the documentation generated from the code (the config reference, the sizes table):
where each lives, and how `mlstack reference --check/--write` finds and replaces it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlstack import reference, sizes


@dataclass(frozen=True)
class GeneratedBlock:
    path: str  # relative to the project
    begin: str
    end: str
    render: Callable[[], str]  # the whole block, markers included

    def current(self, text: str) -> str | None:
        """The block as the file has it now; None when its markers are missing."""
        if self.begin not in text or self.end not in text:
            return None
        return text[text.index(self.begin) : text.index(self.end) + len(self.end)]

    def replaced(self, text: str) -> str:
        start, end = text.index(self.begin), text.index(self.end) + len(self.end)
        return text[:start] + self.render() + text[end:]


CONFIG_REFERENCE = GeneratedBlock(
    "docs/config-reference.md", reference.BEGIN, reference.END, reference.reference_markdown
)
SIZES = GeneratedBlock("README.md", sizes.BEGIN, sizes.END, sizes.sizes_markdown)
BLOCKS = (CONFIG_REFERENCE, SIZES)
