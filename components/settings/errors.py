"""Settings problems: one line each, naming file, key, the value given and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

_MISSING = object()
SECRET_MASK = "[secret]"  # noqa: S105 - the mask shown instead of a secret


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    reason: str
    allowed: str
    value: Any = _MISSING
    secret: bool = False

    def __str__(self) -> str:
        if self.value is _MISSING:
            given = "not set"
        elif self.secret:
            given = f"got {SECRET_MASK}"
        else:
            given = f"got {_show(self.value)}"
        return f"{self.file}: {self.key}: {self.reason} ({given}); allowed: {self.allowed}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def missing() -> Any:
    """The value of a Problem about a key that was not given at all."""
    return _MISSING


class SettingsError(pulumi.RunError):
    """Invalid stack settings. A RunError, so `pulumi up` prints the lines without a traceback."""

    def __init__(self, problems: list[Problem]) -> None:
        unique = list(dict.fromkeys(str(problem) for problem in problems))
        self.problems = unique
        count = f"{len(unique)} invalid setting{'s' if len(unique) != 1 else ''}"
        super().__init__(f"mlstack: {count}; nothing was declared:\n" + "\n".join(unique))
