"""The one exception the CLI reports as plain lines on stderr, without a traceback."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on. `lines` are printed as they are, one per line."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
