"""Compare two renders of a stack: resources added, removed and changed (with the changed field
paths and values), then the unified diff; as text for terminals or Markdown for a PR comment."""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from mlstack.render import title

_MISSING = object()
MARKDOWN_DIFF_LIMIT = 15_000  # characters of unified diff per stack: a PR comment holds 65,536
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class FieldChange:
    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Change:
    kind: Literal["added", "removed", "changed"]
    file: str
    title: str
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class StackDiff:
    environment: str
    base: str  # how the base is named in reports, e.g. "main (1a2b3c4d5e6f)"
    changes: tuple[Change, ...]
    unified: str

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)


def compare(
    environment: str, base_label: str, base: dict[str, str], head: dict[str, str]
) -> StackDiff:
    changes = []
    for path in sorted(set(base) | set(head)):
        before, after = base.get(path), head.get(path)
        if before == after:
            continue
        if before is None:
            changes.append(Change("added", path, title(path, after or "")))
        elif after is None:
            changes.append(Change("removed", path, title(path, before)))
        else:
            changes.append(
                Change("changed", path, title(path, after), field_changes(before, after))
            )
    unified = "".join(
        _unified(path, base.get(path), head.get(path)) for path in sorted(set(base) | set(head))
    )
    return StackDiff(environment, base_label, tuple(changes), unified)


def field_changes(before: str, after: str) -> tuple[FieldChange, ...]:
    """Changed field paths of two YAML documents (and of their `# urn:` header: a new URN means
    Pulumi replaces the resource). Non-YAML files (a Dockerfile) report no field paths."""
    found: list[FieldChange] = []
    urn_before, urn_after = _urn(before), _urn(after)
    if urn_before != urn_after:
        found.append(FieldChange("(urn)", urn_before, urn_after))
    try:
        old, new = yaml.safe_load(before), yaml.safe_load(after)
    except yaml.YAMLError:
        return tuple(found)
    if not isinstance(old, dict | list) or not isinstance(new, dict | list):
        return tuple(found)
    _walk(old, new, "", found)
    return tuple(found)


def _walk(old: Any, new: Any, path: str, found: list[FieldChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            child = _join(path, key)
            _walk(old.get(key, _MISSING), new.get(key, _MISSING), child, found)
    elif isinstance(old, list) and isinstance(new, list):
        for index in range(max(len(old), len(new))):
            _walk(
                old[index] if index < len(old) else _MISSING,
                new[index] if index < len(new) else _MISSING,
                f"{path}[{index}]",
                found,
            )
    elif old is _MISSING or new is _MISSING or type(old) is not type(new) or old != new:
        found.append(FieldChange(path, old, new))


def _join(path: str, key: Any) -> str:
    text = str(key)
    part = text if _PLAIN_KEY.match(text) else f'["{text}"]'
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def _urn(text: str) -> str | None:
    for line in text.splitlines()[:3]:
        if line.startswith("# urn: "):
            return line.removeprefix("# urn: ")
    return None


def _unified(path: str, before: str | None, after: str | None) -> str:
    if before == after:
        return ""
    lines = difflib.unified_diff(
        (before or "").splitlines(),
        (after or "").splitlines(),
        fromfile=f"a/{path}" if before is not None else "/dev/null",
        tofile=f"b/{path}" if after is not None else "/dev/null",
        lineterm="",
    )
    return "".join(line + "\n" for line in lines)


def show(value: Any) -> str:
    """A value in one short line: scalars as YAML writes them, containers elided."""
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, dict):
        return "{...}" if value else "{}"
    if isinstance(value, list):
        return "[...]" if value else "[]"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 80 else text[:77] + "..."


_SYMBOL = {"added": "+", "removed": "-", "changed": "~"}


def summary(diff: StackDiff) -> str:
    if not diff.has_changes:
        return "no changes"
    return ", ".join(f"{diff.count(kind)} {kind}" for kind in ("changed", "added", "removed"))


def format_text(diff: StackDiff) -> str:
    lines = [f"mlstack diff {diff.environment}: base {diff.base} -> working tree", summary(diff)]
    for change in diff.changes:
        lines += ["", f"{_SYMBOL[change.kind]} {change.title}", f"  {change.file}"]
        for field in change.fields:
            lines.append(f"    {field.path}: {show(field.before)} -> {show(field.after)}")
        if change.kind == "changed" and not change.fields:
            lines.append("    (content changed)")
    if diff.unified:
        lines += ["", diff.unified.rstrip("\n")]
    return "\n".join(lines) + "\n"


def format_markdown(diff: StackDiff, limit: int = MARKDOWN_DIFF_LIMIT) -> str:
    """A PR-comment section: a table of changes, the unified diff folded in <details>."""
    lines = [
        f"<!-- mlstack-diff:{diff.environment} -->",
        f"### `{diff.environment}`: {summary(diff)}",
        "",
        f"Base: `{diff.base}`.",
    ]
    if not diff.has_changes:
        return "\n".join(lines) + "\n"
    lines += ["", "| | resource | file | changed fields |", "|---|---|---|---|"]
    for change in diff.changes:
        fields = "<br>".join(
            f"{_code(field.path)}: {_code(show(field.before))} → {_code(show(field.after))}"
            for field in change.fields
        ) or ("content" if change.kind == "changed" else "")
        lines.append(
            f"| {_SYMBOL[change.kind]} | {_code(change.title)} | {_code(change.file)} | {fields} |"
        )
    unified = diff.unified
    note = ""
    if len(unified) > limit:
        cut = unified[:limit].rsplit("\n", 1)[0] + "\n"
        hidden = unified.count("\n") - cut.count("\n")
        unified, note = (
            cut,
            (
                f"\n\n{hidden} more lines not shown; run `mlstack diff {diff.environment} "
                "--base <ref>` locally for all of it."
            ),
        )
    fence = "`" * max(3, _longest_backtick_run(unified) + 1)
    lines += [
        "",
        f"<details><summary>Unified diff ({diff.unified.count(chr(10))} lines)</summary>",
        "",
        f"{fence}diff",
        unified.rstrip("\n"),
        fence,
        note.strip() if note else "",
        "</details>",
    ]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _code(text: str) -> str:
    # <code> with HTML escaping works inside table cells whatever the text holds (| and `).
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
