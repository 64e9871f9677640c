"""Settings problems: one line each, naming file, key, the value given and what is allowed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
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
        return self.line(f"{self.file}: {self.key}")

    def line(self, where: str) -> str:
        """The problem told about `where` (a file and key, or the option that set the key)."""
        if self.value is _MISSING:
            given = "not set"
        elif self.secret:
            given = f"got {SECRET_MASK}"
        else:
            given = f"got {_show(self.value)}"
        return f"{where}: {self.reason} ({given}); allowed: {self.allowed}"


def _show(value: Any) -> str:
    text = shown(value)
    return text if len(text) <= 80 else text[:77] + "..."


# Plain text YAML would read as something else, so it is shown quoted.
_AMBIGUOUS = re.compile(
    r"^(|true|false|yes|no|on|off|y|n|null|~"  # booleans and null, in YAML 1.1 or 1.2
    r"|[-+]?[0-9][0-9_.eE+-]*"  # numbers, and versions that look like them
    r"|.*: .*|.*\s#.*|.*\s"  # a mapping, a comment, trailing space
    r"|[\s\[\]{}>|*&!%@`'\"#,?-].*)$",  # starts with an indicator
    re.IGNORECASE,
)


def shown(value: Any) -> str:
    """A value as a user writes it in a stack file (YAML), not as Python prints it: true and
    null, not True and None; text bare unless YAML would read it as something else."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value) if _AMBIGUOUS.match(value) else value
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{shown(str(k))}: {shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return "[" + ", ".join(shown(item) for item in items) + "]"
    return shown(str(value))


# What the settings' text patterns ask for, in words: messages never show a regular expression.
_PATTERNS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$": "letters, digits, '.', '_' and '-', starting with a "
    "letter or digit, at most 64 characters (e.g. 1.0.0)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "a variable name: letters, digits and '_', not starting "
    "with a digit",
    r"^(node|engine)\.labels\.[A-Za-z0-9_.-]+$": "node.labels.NAME or engine.labels.NAME",
    r"^[A-Za-z0-9_.-]+$": "letters, digits, '.', '_' and '-'",
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*$": "a metric name: letters, digits, '_' and ':', not starting "
    "with a digit",
    r"^[0-9]+(\.[0-9]+)?(m|k|M|G|Ki|Mi|Gi)?$": "a quantity such as 100, 500m, 1.5k or 2Gi",
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$": "a lowercase "
    "registry and path such as ghcr.io/acme/models or registry.example.com:5000/ml",
    r"^/[A-Za-z0-9._~/-]*$": "an HTTP path starting with '/' (letters, digits, '.', '_', '~', "
    "'-' and '/'), e.g. /v2/health/live",
    r"^linux/(amd64|arm64|arm/v7|ppc64le|s390x)$": "linux/amd64, linux/arm64, linux/arm/v7, "
    "linux/ppc64le or linux/s390x",
}  # fmt: skip


def pattern_text(pattern: str) -> str:
    """What a field's pattern allows, in words (the config reference has the key's form)."""
    return _PATTERNS.get(
        pattern, "a value of the form the config reference (docs/config-reference.md) gives"
    )


def missing() -> Any:
    """The value of a Problem about a key that was not given at all."""
    return _MISSING


class SettingsError(pulumi.RunError):
    """Invalid stack settings. A RunError, so `pulumi up` prints the lines without a traceback."""

    def __init__(self, problems: list[Problem]) -> None:
        unique = list(dict.fromkeys(str(problem) for problem in problems))
        self.problems = unique
        self.details = list({str(problem): problem for problem in problems}.values())
        count = f"{len(unique)} invalid setting{'s' if len(unique) != 1 else ''}"
        super().__init__(f"mlstack: {count}; nothing was declared:\n" + "\n".join(unique))
