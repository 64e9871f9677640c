"""mlstack installed into another Pulumi project (issue 16, item 2): it brings one top-level
package, `mlstack`, so a project with its own `components` (or `stacks`) package keeps it.

The install is the README's (`pip install` of a checkout), into a throwaway `--target` site,
offline (no dependencies, no build isolation: the venv has the build backend). The consumer's
program then runs in a fresh interpreter, under the project's offline recorder, with that site
first on its path: the installed mlstack, not this worktree's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_support import copy_project
from tests.support.harness import PROJECT_DIR

PROJECT_FOLDERS = ("components", "stacks", "model_server")
# Every Python file of the repository that imports project code.
_SOURCES = ("__main__.py", "components", "stacks", "model_server", "mlstack", "tests", "benchmarks")
_TOP_LEVEL_IMPORT = re.compile(r"^\s*(from|import)\s+(components|stacks|model_server)\b", re.M)

CONSUMER_COMPONENTS = '''\
"""The consumer's own package, named like mlstack's folder."""

TEAM = "search"


def team_labels() -> dict[str, str]:
    return {"team": TEAM}
'''

CONSUMER_PROGRAM = '''\
"""A program of another team: its own `components` next to mlstack's."""

from pathlib import Path

import pulumi
import pulumi_docker as docker

from components import team_labels  # the consumer's own package
from mlstack.components import MLServingStack, MLServingStackArgs

serving = MLServingStack(
    "serving",
    MLServingStackArgs(
        orchestrator="swarm",
        size="small",
        models=[
            {"name": "iris", "framework": "sklearn", "artifact": "iris.joblib", "version": "1"}
        ],
        project_dir=str(Path(__file__).resolve().parent),
    ),
)
docker.Volume(
    "team-cache",
    labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in team_labels().items()],
)
pulumi.export("endpoints", serving.endpoints)
'''

# Runs in the fresh interpreter: records the consumer's program and says where modules came from.
RECORD = """\
import json, sys
from pathlib import Path
import components, mlstack.components
from mlstack.offline import record
recording = record(Path.cwd(), "dev")
print(json.dumps({
    "consumer_components": components.__file__,
    "mlstack_components": mlstack.components.__file__,
    "resources": [[r.type, r.name, r.inputs] for r in recording.resources],
    "outputs": recording.outputs,
}, default=str))
"""


def test_project_code_imports_its_folders_as_mlstack_subpackages() -> None:
    """One name per module: a top-level `import components` beside `mlstack.components` would
    load the code twice (two SettingsError classes, two registries of presets)."""
    found = []
    for source in _SOURCES:
        path = PROJECT_DIR / source
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            if file == Path(__file__):  # the consumer's program text above
                continue
            for match in _TOP_LEVEL_IMPORT.finditer(file.read_text(encoding="utf-8")):
                found.append(f"{file.relative_to(PROJECT_DIR)}: {match.group(0).strip()}")
    assert found == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlstack pip-installed from a copy of the checkout into a site of its own."""
    root = tmp_path_factory.mktemp("install")
    checkout = copy_project(root / "checkout")
    site = root / "site"
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site),
            str(checkout),
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return site


def test_the_install_brings_one_top_level_package(installed: Path) -> None:
    packages = {p.name for p in installed.iterdir() if (p / "__init__.py").is_file()}
    assert packages == {"mlstack"}
    for folder in PROJECT_FOLDERS:
        package = installed / "mlstack" / folder
        assert (package / "__init__.py").is_file()
        assert not package.is_symlink(), "the wheel holds the files, not the link"
    # Data the components read at run time came along.
    assert (installed / "mlstack/stacks/presets/small.yaml").is_file()
    assert (installed / "mlstack/components/image/templates").is_dir()
    assert (installed / "mlstack/model_server/requirements/sklearn.txt").is_file()


def test_a_consumer_keeps_its_own_components_package(installed: Path, tmp_path: Path) -> None:
    consumer = tmp_path / "consumer"
    (consumer / "components").mkdir(parents=True)
    (consumer / "components" / "__init__.py").write_text(CONSUMER_COMPONENTS)
    (consumer / "__main__.py").write_text(CONSUMER_PROGRAM)
    (consumer / "Pulumi.yaml").write_text("name: consumer\nruntime: python\n")
    (consumer / "Pulumi.dev.yaml").write_text("config: {}\n")
    (consumer / "iris.joblib").write_bytes((PROJECT_DIR / "examples/iris/iris.joblib").read_bytes())

    environ = {**os.environ, "PYTHONPATH": str(installed)}
    done = subprocess.run(
        [sys.executable, "-c", RECORD],
        cwd=consumer, env=environ, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])

    assert Path(result["consumer_components"]) == consumer / "components" / "__init__.py"
    assert Path(result["mlstack_components"]).is_relative_to(installed)
    types = {(kind, name) for kind, name, _ in result["resources"]}
    assert ("mlstack:index:MLServingStack", "serving") in types
    assert ("docker:index/service:Service", "serving-iris-service") in types
    volume = next(inputs for kind, name, inputs in result["resources"] if name == "team-cache")
    assert volume["labels"] == [{"label": "team", "value": "search"}]
    assert result["outputs"]["endpoints"] == {"iris": "http://localhost:8080"}
