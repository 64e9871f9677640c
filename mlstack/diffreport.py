"""A StackDiff for people: plain text for terminals, Markdown for a pull-request comment.

Both open with the summary a reviewer decides on (counts; which Deployments and Swarm services
roll out; which resources are replaced, by which field, and which of them go first, a brief
outage; label-only changes folded to one line per model), then every resource with its changed
fields (bytes and nano-CPUs in readable units), then the rendered files' unified diff.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from typing import Any

import yaml

from mlstack.diff import ABSENT, Masked, Reference, ResourceChange, StackDiff, Unknown
from mlstack.propertypath import parse

MARKDOWN_DIFF_LIMIT = 15_000  # characters of unified diff per stack: a PR comment holds 65,536
MARKDOWN_FIELDS_PER_RESOURCE = 12
SYMBOL = {"add": "+", "remove": "-", "update": "~", "replace": "+-", "same": " "}
_BINARY = (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10))
_DECIMAL = (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3))


def summary(diff: StackDiff) -> str:
    if not diff.has_changes:
        return "no changes"
    replaced = diff.of("replace")
    first = sum(1 for change in replaced if change.delete_before_replace)
    parts = [
        f"{len(replaced)} to replace" + (f" ({first} delete before replace)" if first else ""),
        f"{diff.count('update')} to update",
        f"{diff.count('add')} to add",
        f"{diff.count('remove')} to remove",
    ]
    return ", ".join(parts) + f"; {diff.unchanged} unchanged"


def readable(value: Any, path: str = "") -> str:
    """A value in one short line: bytes as Ki/Mi/Gi, nano-CPUs as CPUs, containers elided."""
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, Unknown):
        return f"(known after apply: {value.reason})"
    if isinstance(value, Reference):
        return f"({value.what})"
    if isinstance(value, Masked):
        return str(value)
    key = _last_key(path)
    if isinstance(value, int) and not isinstance(value, bool):
        if key.endswith("Bytes"):
            return byte_size(value)
        if key == "nanoCpus":
            return cpus(value)
    if isinstance(value, dict):
        return "{...}" if value else "{}"
    if isinstance(value, list):
        return "[...]" if value else "[]"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return text if len(text) <= 80 else text[:77] + "..."


def byte_size(count: int) -> str:
    """536870912 -> '512Mi'; exact units only (Kubernetes quantity suffixes), else bytes."""
    for suffix, size in (*_BINARY, *_DECIMAL):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    return f"{count} B"


def cpus(nano: int) -> str:
    """500000000 nano-CPUs -> '0.5 CPU'."""
    text = f"{nano / 1e9:.9f}".rstrip("0").rstrip(".")
    return f"{text} CPU"


def _last_key(path: str) -> str:
    try:
        elements = parse(path)
    except ValueError:
        return ""
    keys = [element for element in elements if isinstance(element, str)]
    return keys[-1] if keys else ""


def _action(change: ResourceChange) -> str:
    if change.action == "replace":
        how = (
            "delete before replace: brief outage"
            if change.delete_before_replace
            else "create before delete"
        )
        return f"replace, {how}"
    if change.rollout and change.action == "update":
        return f"update, rolls out ({change.rollout})"
    return change.action


def _by(forces: str) -> str:
    """The table is the provider's own rule; anything else names the program's option."""
    return "" if forces == "provider" else f": {forces}"


def _why_replaced(change: ResourceChange) -> str:
    """What forces it, short: its own fields, else the first resource that forces it."""
    if change.forcing:
        return "by " + ", ".join(change.forcing)
    if not change.causes:
        return "replaced"
    more = len(change.causes) - 1
    return f"because {change.causes[0]}" + (f" (and {more} more)" if more else "")


def label_folds(diff: StackDiff) -> list[tuple[str, list[ResourceChange], list[str]]]:
    """Label-only updates per model: (model, its resources, 'key: before -> after' lines)."""
    groups: dict[str, list[ResourceChange]] = defaultdict(list)
    for change in diff.changes:
        if change.labels_only:
            groups[change.model].append(change)
    folded = []
    for model in sorted(groups):
        transitions: list[str] = []
        for change in groups[model]:
            for key, (before, after) in change.labels.items():
                line = f"{key}: {before if before is not None else '(absent)'} -> " + (
                    after if after is not None else "(absent)"
                )
                if line not in transitions:
                    transitions.append(line)
        folded.append((model, groups[model], transitions))
    return folded


Headline = tuple[str, list[tuple[str, list[str]]]]  # heading, (group label, items)


def headlines(diff: StackDiff) -> list[Headline]:
    """The summary a reviewer decides on: what rolls out, what is replaced (grouped by what
    forces it, create-before-delete apart from delete-before-replace), label-only folds."""
    found: list[Headline] = []
    rollouts = [f"{change.title} ({change.rollout})" for change in diff.rollouts]
    if rollouts:
        found.append((f"Rolls out ({len(rollouts)})", [("", rollouts)]))
    for first, heading in (
        (True, "Replaced, deleted first: brief outage"),
        (False, "Replaced, created before the old one is deleted"),
    ):
        groups: dict[str, list[str]] = {}
        for change in diff.of("replace"):
            if change.delete_before_replace is first:
                groups.setdefault(_why_replaced(change), []).append(change.title)
        if groups:
            count = sum(len(items) for items in groups.values())
            found.append((f"{heading} ({count})", list(groups.items())))
    for model, changes, transitions in label_folds(diff):
        noun = "resource" if len(changes) == 1 else "resources"
        found.append((f"Labels only, {model} ({len(changes)} {noun})", [("", transitions)]))
    return found


def format_text(diff: StackDiff) -> str:
    lines = [f"mlstack diff {diff.environment}: base {diff.base} -> working tree", summary(diff)]
    for heading, groups in headlines(diff):
        if len(groups) == 1 and not groups[0][0]:
            lines.append(f"{heading}: {', '.join(groups[0][1])}")
            continue
        lines.append(f"{heading}:")
        lines += [f"  {label}: {', '.join(items)}" for label, items in groups]
    for change in diff.changes:
        if change.labels_only:
            continue
        lines += ["", f"{SYMBOL[change.action]} {change.type} {change.name}: {_action(change)}"]
        lines += _file_lines(change)
        for cause in change.causes:
            lines.append(f"    replaced because {cause}")
        for field in change.fields:
            mark = f"  [forces replacement{_by(field.forces)}]" if field.forces else ""
            lines.append(
                f"    {field.path}: {readable(field.before, field.path)} -> "
                f"{readable(field.after, field.path)}{mark}"
            )
        lines += [f"    note: {note}" for note in change.notes]
        lines += _ignored_lines(change)
    for note in diff.notes:
        lines += ["", f"= {note.type} {note.name}: no change to apply"]
        lines += _file_lines(note)
        lines += [f"    note: {text}" for text in note.notes]
        lines += _ignored_lines(note)
    if diff.rules:
        lines += ["", "Why these fields force a replacement (components/replacements.py):"]
        lines += [f"  {token}: {source}" for token, source in sorted(diff.rules.items())]
    if diff.outputs:
        lines += ["", "Outputs:"]
        lines += [
            f"    {field.path}: {readable(field.before, field.path)} -> "
            f"{readable(field.after, field.path)}"
            for field in diff.outputs
        ]
    if diff.unified:
        lines += ["", diff.unified.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _file_lines(change: ResourceChange) -> list[str]:
    if change.base_file and change.file:
        return [f"  {change.base_file} -> {change.file}"]
    return [f"  {change.file}"] if change.file else []


def _ignored_lines(change: ResourceChange) -> list[str]:
    return [
        f"    ignored (ignoreChanges): {field.path}: {readable(field.before, field.path)} -> "
        f"{readable(field.after, field.path)}"
        for field in change.ignored
    ]


def format_markdown(diff: StackDiff, limit: int = MARKDOWN_DIFF_LIMIT) -> str:
    """A PR-comment section: the summary, a table of resources, the unified diff folded."""
    lines = [
        f"<!-- mlstack-diff:{diff.environment} -->",
        f"### `{diff.environment}`: {summary(diff)}",
        "",
        f"Base: `{diff.base}`.",
    ]
    if not diff.has_changes:
        return "\n".join(lines) + "\n"
    summary_lines = headlines(diff)
    if summary_lines:
        lines.append("")
        lines += [
            f"- **{html.escape(heading)}:** "
            + "; ".join(
                (f"{_label(label)}: " if label else "") + ", ".join(_inline(i) for i in items)
                for label, items in groups
            )
            for heading, groups in summary_lines
        ]
    rows = [change for change in diff.changes if not change.labels_only]
    rows += list(diff.notes)
    if rows:
        lines += ["", "| | resource | action | changes |", "|---|---|---|---|"]
        lines += [_row(change) for change in rows]
    if diff.outputs:
        outputs = "<br>".join(
            f"{_code(field.path)}: {_code(readable(field.before, field.path))} → "
            f"{_code(readable(field.after, field.path))}"
            for field in diff.outputs
        )
        lines += ["", f"Outputs: {outputs}"]
    if diff.rules:
        lines += [
            "",
            "<details><summary>Why these fields force a replacement</summary>",
            "",
            *(
                f"- {_code(token)}: {html.escape(source)}"
                for token, source in sorted(diff.rules.items())
            ),
            "</details>",
        ]
    if diff.unified:
        lines += ["", *_folded_unified(diff, limit)]
    return "\n".join(lines) + "\n"


def _row(change: ResourceChange) -> str:
    cells = []
    for cause in change.causes:
        cells.append(f"replaced because {html.escape(cause)}")
    shown = change.fields[:MARKDOWN_FIELDS_PER_RESOURCE]
    for field in shown:
        text = (
            f"{_code(field.path)}: {_code(readable(field.before, field.path))} → "
            f"{_code(readable(field.after, field.path))}"
        )
        if field.forces:
            text += f" **forces replacement**{html.escape(_by(field.forces))}"
        cells.append(text)
    hidden = len(change.fields) - len(shown)
    if hidden:
        cells.append(f"… {hidden} more fields (in the unified diff)")
    cells += [f"note: {html.escape(note)}" for note in change.notes]
    cells += [f"ignored (ignoreChanges): {_code(field.path)}" for field in change.ignored]
    if change.action in ("add", "remove") and not cells:
        cells.append("")
    where = change.file if not change.base_file else f"{change.base_file} → {change.file}"
    resource = f"{_code(change.title)}<br><sub>{_code(change.type)} {_code(change.name)}"
    resource += f"<br>{_code(where)}</sub>" if where else "</sub>"
    action = "no change to apply" if change.action == "same" else _action(change)
    return (
        f"| {SYMBOL[change.action].strip() or '='} | {resource} | {html.escape(action)} | "
        + "<br>".join(cells)
        + " |"
    )


def _folded_unified(diff: StackDiff, limit: int) -> list[str]:
    unified = diff.unified
    note = ""
    if len(unified) > limit:
        cut = unified[:limit].rsplit("\n", 1)[0] + "\n"
        hidden = unified.count("\n") - cut.count("\n")
        unified = cut
        note = (
            f"{hidden} more lines not shown; run `mlstack diff {diff.environment} "
            "--base <ref>` locally for all of it."
        )
    fence = "`" * max(3, _longest_backtick_run(unified) + 1)
    lines = [
        f"<details><summary>Unified diff ({diff.unified.count(chr(10))} lines)</summary>",
        "",
        f"{fence}diff",
        unified.rstrip("\n"),
        fence,
    ]
    if note:
        lines.append(note)
    lines.append("</details>")
    return lines


def _label(label: str) -> str:
    """'by spec.selector, value' with the fields as code; a cause stays text."""
    if not label.startswith("by "):
        return _inline(label)
    return "by " + ", ".join(_code(path) for path in label.removeprefix("by ").split(", "))


def _inline(text: str) -> str:
    return html.escape(text).replace("|", "&#124;")


def _code(text: str) -> str:
    # <code> with HTML escaping works inside table cells whatever the text holds (| and `).
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
