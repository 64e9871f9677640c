"""The README's quick start works as shown: its shell blocks run unchanged in a git clone of the
project with ./venv set up (no cloud, no Pulumi CLI, no Docker), and the model server it starts
answers curl on loopback with the predictions the README prints."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_support import git_project
from tests.support.harness import PROJECT_DIR

HEADING = "## Quick start"
PORT_LINE = "export PORT=8000"  # the one line the test changes: a free port instead
ANSWER = '{"predictions":[2,0],"model":"iris","version":"unversioned"}'


def quickstart_blocks() -> list[str]:
    """The fenced bash blocks of the README's quick-start section, in order."""
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    start = readme.index(HEADING)
    end = readme.find("\n## ", start + len(HEADING))
    section = readme[start : end if end != -1 else len(readme)]
    return re.findall(r"^```bash\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def test_the_quick_start_shows_the_offline_commands_and_a_local_server() -> None:
    blocks = quickstart_blocks()
    assert len(blocks) == 2
    for command in ("mlstack new-stack demo", "mlstack validate", "mlstack render", "mlstack diff"):
        assert command in blocks[0]
    assert PORT_LINE in blocks[1].splitlines()
    assert "python -m model_server &" in blocks[1]
    assert "curl " in blocks[1]
    assert ANSWER in (PROJECT_DIR / "README.md").read_text(encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(block: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Its own process group: whatever the block leaves running (the server, if a curl fails)
    # is stopped with it.
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={key: value for key, value in os.environ.items() if key != "MLSTACK_PROJECT"},
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_the_quick_start_runs_as_shown(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("the README's quick start uses curl: apt-get install curl")
    venv = Path(sys.prefix)
    if not (venv / "bin" / "mlstack").exists():
        pytest.fail(f"run the tests from the venv scripts/setup.sh makes (not {venv})")
    clone = git_project(tmp_path / "clone")
    (clone / "venv").symlink_to(venv)  # as after `bash scripts/setup.sh`; not committed
    offline, local = quickstart_blocks()

    done = _run(offline, clone)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "wrote " in done.stdout
    assert "demo: no violations" in done.stdout
    assert "rendered " in done.stdout
    assert re.search(r"0 to replace, 0 to update, [1-9][0-9]* to add, 0 to remove", done.stdout)
    assert (clone / "Pulumi.demo.yaml").is_file()

    port = _free_port()
    served = _run(local.replace(PORT_LINE, f"export PORT={port}"), clone)
    assert served.returncode == 0, served.stdout + served.stderr
    assert ANSWER in served.stdout
    assert f"serving on 127.0.0.1:{port}" in served.stderr
