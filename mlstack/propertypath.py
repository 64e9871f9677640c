"""Pulumi property paths (`spec.selector`, `taskSpec.networksAdvanceds[0].id`,
`metadata.labels["app.kubernetes.io/name"]`, `mode.*`, `ports[*]`), as the engine parses and
matches them for `replaceOnChanges` and `ignoreChanges`.

Mirrors pulumi/pulumi sdk/go/common/resource/properties_path.go: `parsePropertyPath` and
`PropertyPath.Contains` (a path contains every path it is a prefix of; `*` matches any one key or
index).
"""

from __future__ import annotations

import re

Element = str | int
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def parse(path: str) -> tuple[Element, ...]:
    """`a.b[0]["c.d"]` -> ('a', 'b', 0, 'c.d'); ValueError naming the path when malformed."""
    elements: list[Element] = []
    rest = path
    while rest:
        if rest[0] == "[":
            if rest.startswith('["'):
                end = rest.find('"]')
                if end == -1:
                    raise ValueError(f"property path {path!r}: missing closing '\"]'")
                elements.append(rest[2:end])
                rest = rest[end + 2 :]
            else:
                end = rest.find("]")
                if end == -1:
                    raise ValueError(f"property path {path!r}: missing closing bracket")
                segment = rest[1:end]
                if segment == "*":
                    elements.append("*")
                elif segment.isdigit():
                    elements.append(int(segment))
                else:
                    raise ValueError(f"property path {path!r}: invalid array index {segment!r}")
                rest = rest[end + 1 :]
            if rest.startswith("."):
                rest = rest[1:]
            continue
        end = len(rest)
        for index, char in enumerate(rest):
            if char in ".[":
                end = index
                break
        elements.append(rest[:end])
        rest = rest[end:]
        if rest.startswith("."):
            rest = rest[1:]
    return tuple(elements)


def join(path: str, key: Element) -> str:
    """`path` extended by a key or list index, quoting keys that are not plain names."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    part = key if _PLAIN_KEY.match(key) else f'["{key}"]'
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def contains(pattern: str, path: str) -> bool:
    """True when `pattern` is `path` or a prefix of it (`*` matching any one element), as the
    engine decides whether a replaceOnChanges or ignoreChanges entry covers a changed path."""
    outer, inner = parse(pattern), parse(path)
    if len(inner) < len(outer):
        return False
    for want, got in zip(outer, inner, strict=False):
        if want == "*":
            continue
        if isinstance(want, int) != isinstance(got, int) or want != got:
            return False
    return True
