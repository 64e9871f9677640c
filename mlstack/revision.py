"""Render the project as it was at a git revision, for `mlstack diff --base REF`.

The base must not be rendered in this process: the working tree's `components` modules are
already imported here and would be reused. The revision is exported with `git archive` into a
temporary directory and rendered by a fresh interpreter (this venv's), in which that checkout
comes first on PYTHONPATH and sys.path, and its folders components/, stacks/ and model_server/
are loaded as `mlstack.components`, `mlstack.stacks` and `mlstack.model_server` (the names the
program imports them by), so they and its `__main__.py` are the ones that run. The tool itself
(the recorder and the renderer) stays this one: both sides are written by the same renderer,
so the diff shows what the program declares differently, never a change of file format. The
worker hands back the rendered files and their snapshot (JSON: resources by URN with options and
dependencies, secret inputs as keyed digests under this process's key). The temporary checkout
is removed afterwards.
"""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlstack
from mlstack import render as rendering
from mlstack import snapshot
from mlstack.errors import CliError
from mlstack.render import Rendering
from mlstack.stackfile import stack_path

# Runs in the fresh interpreter: import this tool's `mlstack` first, then take its directory off
# sys.path again so the checkout's own packages are the ones its program imports.
_BOOTSTRAP = """\
import sys
tool = sys.argv[1]
sys.path.insert(0, tool)
from mlstack import revision
sys.path.remove(tool)
sys.exit(revision.worker(sys.argv[2:]))
"""
WORKER_TIMEOUT_SECONDS = 600
# The project's folders that install as subpackages of mlstack (pyproject.toml).
PROJECT_PACKAGES = ("model_server", "stacks", "components")


@dataclass(frozen=True)
class Revision:
    ref: str
    commit: str

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.commit[:12]})"


def resolve(project: Path, ref: str) -> Revision:
    """The commit `ref` names; CliError when there is no repository or no such commit."""
    _git(project, "rev-parse", "--show-toplevel", what=f"--base {ref}: {project} is no git repo")
    commit = _git(
        project,
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        f"{ref}^{{commit}}",
        what=f"--base {ref}: no such commit in the repository of {project}",
    )
    return Revision(ref, commit)


def render_revision(project: Path, environment: str, revision: Revision) -> Rendering | None:
    """`environment` rendered at `revision` (files and snapshot); None when that revision has no
    such stack file (the change adds the stack)."""
    prefix = _git(project, "rev-parse", "--show-prefix", what="git rev-parse failed")
    with tempfile.TemporaryDirectory(prefix="mlstack-base-") as temporary:
        root = Path(temporary)
        checkout = root / "checkout"
        export(project, revision, prefix, checkout)
        base_project = checkout / prefix
        if not stack_path(base_project, environment).is_file():
            return None
        return render_checkout(base_project, environment, revision.label)


def render_checkout(project: Path, environment: str, label: str) -> Rendering:
    """`environment` of the project checked out at `project`, rendered by a fresh interpreter
    (files and snapshot); `label` names the checkout in errors."""
    with tempfile.TemporaryDirectory(prefix="mlstack-render-") as temporary:
        out, data = Path(temporary) / "render", Path(temporary) / "snapshot.json"
        _render_in_subprocess(project, environment, out, data, label)
        return Rendering(rendering.read(out), snapshot.from_json(data.read_text(encoding="utf-8")))


def export(project: Path, revision: Revision, prefix: str, checkout: Path) -> None:
    """The files of `revision` under `prefix` (the project's folder in its repository), written
    to `checkout`; CliError when git cannot archive them."""
    command = ["git", "-C", str(project), "archive", "--format=tar", revision.commit]
    if prefix:
        command += ["--", prefix]
    archive = subprocess.run(command, capture_output=True, check=False)
    if archive.returncode != 0:
        message = archive.stderr.decode(errors="replace").strip()
        raise CliError(f"--base {revision.label}: git archive failed: {message}")
    checkout.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(checkout, filter=_inside_checkout)  # noqa: S202 - the data filter, below


def _inside_checkout(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """tarfile's data filter, except that a link pointing out of the checkout (a committed
    `venv -> /opt/venvs/ml` link, say) is left out instead of failing the whole export: the
    render reads only the project's own files, and such a link would not resolve there anyway."""
    try:
        return tarfile.data_filter(member, path)
    except (tarfile.AbsoluteLinkError, tarfile.LinkOutsideDestinationError):
        return None


def _render_in_subprocess(
    base_project: Path, environment: str, out: Path, data: Path, label: str
) -> None:
    tool = str(Path(mlstack.__file__).resolve().parent.parent)
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(
        [str(base_project), *filter(None, [environ.get("PYTHONPATH")])]
    )
    environ[snapshot.SECRET_KEY_ENV] = snapshot.secret_key_hex()  # digests comparable here
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _BOOTSTRAP,
                tool,
                *map(str, (base_project, out, data)),
                environment,
            ],
            cwd=base_project,
            env=environ,
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CliError(
            f"rendering {environment} at {label} took over {WORKER_TIMEOUT_SECONDS} s; stopped"
        ) from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()][-20:]
        raise CliError(f"rendering {environment} at {label} failed:", *lines)


def worker(argv: list[str]) -> int:
    """The subprocess side: render one stack of the checkout into a directory, and write its
    snapshot as JSON."""
    from mlstack.project import open_project, record_stack

    project_dir, out, data, environment = argv
    try:
        project = open_project(Path(project_dir))
        _load_checkout_packages(project)
        result = rendering.render(record_stack(project, environment), project)
        rendering.write(result, Path(out))
        Path(data).write_text(snapshot.to_json(result.snapshot), encoding="utf-8")
    except CliError as error:
        for line in error.lines:
            print(line, file=sys.stderr)
        return 2
    return 0


def _load_checkout_packages(checkout: Path) -> None:
    """Import the checkout's components/, stacks/ and model_server/ as mlstack's subpackages,
    before anything imports this tool's own (mlstack/components -> ../components would otherwise
    resolve to the working tree's). A checkout without a folder (older layouts) keeps the tool's.
    """
    for name in PROJECT_PACKAGES:
        init = checkout / name / "__init__.py"
        full_name = f"mlstack.{name}"
        if not init.is_file():
            continue
        spec = importlib.util.spec_from_file_location(
            full_name, init, submodule_search_locations=[str(init.parent)]
        )
        if spec is None or spec.loader is None:
            raise CliError(f"cannot load {init} as {full_name}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[full_name] = module
        setattr(mlstack, name, module)
        spec.loader.exec_module(module)


def _git(project: Path, *args: str, what: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(project), *args], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise CliError(f"{what}: git is not installed") from None
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()
        raise CliError(what + (f" (git: {detail[-1]})" if detail else ""))
    return done.stdout.strip()
