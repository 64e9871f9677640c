"""The same stack recorded from two checkouts declares the same images (issue 11 item 4).

Two copies of the project in unrelated temporary directories, written under different umasks
and at different times, stand for a developer's clone and a CI runner's. Each records every
stack in its own Python process (its own code, run in its own directory as Pulumi runs it).
Every recorded input must be equal, and the build contexts on disk must be the same bytes,
modes and times; the pulumi-docker provider's own context digest (ported below from
provider/provider.go hashContext, v5.2) is then equal too, so its Diff sees no change and
nothing is rebuilt or rolled out from the other checkout.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.harness import PROJECT_DIR, STACKS, run_stack

IMAGE_TYPE = "docker:index/image:Image"

RECORD = """
import json, sys
from pathlib import Path
from mlstack.offline import mask, record
recording = record(Path.cwd(), sys.argv[1])
print(json.dumps([
    {"type": r.type, "urn": r.urn, "provider": r.provider, "inputs": mask(r.inputs)}
    for r in recording.resources
], sort_keys=True))
"""


def project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (PROJECT_DIR / name).is_file()]


def clone(destination: Path, umask: int) -> Path:
    """The project's files copied as a fresh checkout would write them: new times, this umask."""
    previous = os.umask(umask)
    try:
        for name in project_files():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(PROJECT_DIR / name, target)
    finally:
        os.umask(previous)
    return destination


@pytest.fixture(scope="module")
def clones(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    first = clone(tmp_path_factory.mktemp("laptop") / "mlstack", 0o022)
    second = clone(tmp_path_factory.mktemp("ci") / "runner" / "work" / "checkout", 0o077)
    return first, second


def recorded(project: Path, stack: str) -> list[dict[str, Any]]:
    """Every resource the stack declares, recorded by a Python process in `project` (so its own
    components/ and model_server/ are imported, not this test's)."""
    done = subprocess.run(
        [sys.executable, "-c", RECORD, stack],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resources: list[dict[str, Any]] = json.loads(done.stdout)
    return sorted(resources, key=lambda r: r["urn"])  # registration order varies with threads


def context_tree(context: Path) -> list[tuple[str, int, int, bytes]]:
    """(path, mode, mtime, bytes) of everything in a build context: what the builder receives
    (the docker client's context tar carries each entry's mode and mtime)."""
    entries = [(".", stat.S_IMODE(context.stat().st_mode), int(context.stat().st_mtime), b"")]
    for path in sorted(context.rglob("*")):
        info = path.lstat()
        data = path.read_bytes() if path.is_file() else b""
        entries.append(
            (
                path.relative_to(context).as_posix(),
                stat.S_IMODE(info.st_mode),
                int(info.st_mtime),
                data,
            )
        )
    return entries


def _go_file_mode(mode: int) -> str:
    """Go's fs.FileMode.String() for a regular file or a mode of 0."""
    bits = "".join(
        char if mode & (1 << (8 - index)) else "-" for index, char in enumerate("rwxrwxrwx")
    )
    return "-" + bits


def provider_context_digest(project: Path, context: str, dockerfile: str) -> str:
    """pulumi-docker 5.2's build.contextDigest (provider.go hashContext), which its Check adds
    to the inputs: the Dockerfile under the name "Dockerfile" with mode 0, then every file of the
    context in walk order, each as its slash path, its mode string and the sha256 of its bytes.
    The provider resolves both paths against its working directory, the project's."""
    accumulated = bytearray()

    def add(path: Path, name: str, mode: str) -> None:
        accumulated.extend(name.encode())
        accumulated.extend(mode.encode())
        accumulated.extend(hashlib.sha256(path.read_bytes()).digest())
        accumulated.append(0)

    add(project / dockerfile, "Dockerfile", _go_file_mode(0))
    root = project / context

    def walk(folder: Path) -> None:
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if entry.is_dir():
                walk(entry)
            else:
                assert entry.is_file(), entry
                assert not entry.is_symlink(), entry
                add(entry, entry.relative_to(root).as_posix(), _go_file_mode(entry.stat().st_mode))

    walk(root)
    return hashlib.sha256(bytes(accumulated)).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("stack", STACKS)
def test_two_checkouts_declare_the_same_stack(clones: tuple[Path, Path], stack: str) -> None:
    first, second = (recorded(project, stack) for project in clones)
    assert [r["urn"] for r in first] == [r["urn"] for r in second]
    for one, other in zip(first, second, strict=True):
        assert one == other, one["urn"]
    images = [r for r in first if r["type"] == IMAGE_TYPE]
    assert images
    for image in images:
        build = image["inputs"]["build"]
        assert not Path(build["context"]).is_absolute()
        assert not Path(build["dockerfile"]).is_absolute()
        trees = [context_tree(project / build["context"]) for project in clones]
        assert trees[0] == trees[1], build["context"]
        digests = {
            provider_context_digest(project, build["context"], build["dockerfile"])
            for project in clones
        }
        assert len(digests) == 1, build["context"]


def test_the_ported_provider_digest_sees_modes_and_content(tmp_path: Path) -> None:
    """The port above can fail: a mode or a byte changes the provider's digest."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_bytes(b"FROM scratch\n")
    (context / "a").write_bytes(b"1")
    (context / "a").chmod(0o644)
    before = provider_context_digest(tmp_path, "ctx", "ctx/Dockerfile")
    (context / "a").chmod(0o600)
    after_mode = provider_context_digest(tmp_path, "ctx", "ctx/Dockerfile")
    (context / "a").chmod(0o644)
    (context / "a").write_bytes(b"2")
    after_bytes = provider_context_digest(tmp_path, "ctx", "ctx/Dockerfile")
    assert len({before, after_mode, after_bytes}) == 3
    assert _go_file_mode(0o644) == "-rw-r--r--"
    assert _go_file_mode(0) == "----------"


def test_the_in_process_recorder_runs_the_program_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests and `mlstack render` record in-process, from any working directory: the program
    still runs in the project (as under Pulumi), and the caller's directory is restored."""
    monkeypatch.chdir(tmp_path)
    recording = run_stack("dev")
    contexts = sorted(image.inputs["build"]["context"] for image in recording.of_type(IMAGE_TYPE))
    assert contexts == [".mlstack/build/dev/iris", ".mlstack/build/dev/proxy"]
    assert Path.cwd() == tmp_path
