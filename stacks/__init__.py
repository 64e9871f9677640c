"""Data the stack files are built from: size presets and the stack-file template."""

from pathlib import Path

STACKS_DIR = Path(__file__).resolve().parent
PRESETS_DIR = STACKS_DIR / "presets"
TEMPLATES_DIR = STACKS_DIR / "templates"


def preset_names() -> list[str]:
    """The sizes a stack may pick: one YAML file per preset in stacks/presets/."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))
