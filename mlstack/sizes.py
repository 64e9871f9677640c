"""The table of size presets on the README's front page, generated from stacks/presets/ so the
front page cannot disagree with what a stack actually gets."""

from __future__ import annotations

from typing import Any

from mlstack.components.settings.presets import load_preset
from mlstack.stacks import preset_names

BEGIN = "<!-- sizes:begin (generated from stacks/presets/ by `mlstack reference`; do not edit) -->"
END = "<!-- sizes:end -->"


def sizes_markdown() -> str:
    rows = [_row(name, load_preset(name)) for name in _ordered(preset_names())]
    return "\n".join(
        [
            BEGIN,
            "",
            "| `mlstack:size` | for | Kubernetes replicas (HPA) | Swarm replicas "
            "| CPU request / limit | memory request / limit | GPUs | HPA CPU target |",
            "|---|---|---:|---:|---|---|---:|---:|",
            *rows,
            "",
            END,
        ]
    )


def _ordered(names: list[str]) -> list[str]:
    # Smallest first, as a reader compares them; a preset added later goes after, by name.
    known = ["small", "medium", "large", "gpu"]
    return [name for name in known if name in names] + sorted(set(names) - set(known))


def _row(name: str, preset: dict[str, Any]) -> str:
    replicas = preset["replicas"]
    resources = preset["resources"]
    cpu_target = preset.get("autoscaling", {}).get("cpuUtilization")
    cells = [
        f"`{name}`",
        str(preset.get("description", "")),
        f"{replicas['min']} to {replicas['max']}",
        str(preset["swarm"]["replicas"]),
        f"{resources['cpu']['request']} / {resources['cpu']['limit']}",
        f"{resources['memory']['request']} / {resources['memory']['limit']}",
        str(resources.get("gpu", 0)),
        "-" if cpu_target is None else f"{cpu_target}%",
    ]
    return "| " + " | ".join(cells) + " |"
