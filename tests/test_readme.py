"""The README is the newcomer's front page: short, its generated blocks (the sizes table here,
the config reference in docs/) match the code, and it names the command CI runs."""

from __future__ import annotations

import re

import pytest
import yaml

from mlstack.generated import BLOCKS, GeneratedBlock
from mlstack.sizes import sizes_markdown
from mlstack.stacks import PRESETS_DIR, preset_names
from tests.support.harness import PROJECT_DIR

FRONT_PAGE_LIMIT = 12 * 1024  # issue 17: the first ten minutes fit on one page


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.path)
def test_generated_blocks_are_current(block: GeneratedBlock) -> None:
    text = (PROJECT_DIR / block.path).read_text(encoding="utf-8")
    assert block.current(text) == block.render(), (
        f"run `mlstack reference --write` and commit {block.path}"
    )


def test_readme_names_the_command_ci_runs() -> None:
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    ci = (PROJECT_DIR / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in readme
    assert "bash scripts/deploy.sh dev" in readme
    assert "bash scripts/test.sh" in ci


def test_readme_is_a_front_page() -> None:
    size = len((PROJECT_DIR / "README.md").read_bytes())
    assert size <= FRONT_PAGE_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_sizes_table_says_what_each_preset_file_holds() -> None:
    rows = {}
    for line in sizes_markdown().splitlines():
        match = re.match(r"\| `([a-z0-9-]+)` \|", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in line.strip("|").split("|")]
    assert sorted(rows) == preset_names()
    for name, cells in rows.items():
        preset = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
        resources = preset["resources"]
        assert cells[1] == preset["description"]
        assert cells[2] == f"{preset['replicas']['min']} to {preset['replicas']['max']}"
        assert cells[3] == str(preset["swarm"]["replicas"])
        assert cells[4] == f"{resources['cpu']['request']} / {resources['cpu']['limit']}"
        assert cells[5] == f"{resources['memory']['request']} / {resources['memory']['limit']}"
        assert cells[6] == str(resources.get("gpu", 0))
        assert cells[7] == f"{preset['autoscaling']['cpuUtilization']}%"
