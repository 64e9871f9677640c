"""`mlstack up|preview|destroy`: the Pulumi CLI is found or its absence is explained first."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mlstack import deploy
from tests.support.cli_support import invoke
from tests.support.harness import PROJECT_DIR

PULUMI = deploy.locate_pulumi()
needs_pulumi = pytest.mark.skipif(
    PULUMI is None,
    reason="the Pulumi CLI is not installed and cannot be downloaded on this machine "
    "(MACHINE.md: no get.pulumi.com)",
)


# The CLI (and the program it records) puts project directories on sys.path.
pytestmark = pytest.mark.usefixtures("isolated_sys_path")


@pytest.fixture
def without_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH and HOME where no `pulumi` exists, whatever this machine has installed."""
    empty = tmp_path / "bin"
    empty.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize(
    "args", [["up", "dev", "--yes"], ["preview", "staging"], ["destroy", "dev", "--yes"]]
)
def test_missing_pulumi_cli_is_explained(without_pulumi: Path, args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == deploy.missing_cli_message()
    assert "curl -fsSL https://get.pulumi.com | sh" in result.stderr
    assert "--install-pulumi" in result.stderr


def test_unknown_stack_is_reported_before_looking_for_pulumi(without_pulumi: Path) -> None:
    result = invoke("up", "qa", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("unknown stack 'qa': ")


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        return False
    return True


@pytest.mark.skipif(
    _resolves("get.pulumi.com"),
    reason="get.pulumi.com is reachable: a test does not download the Pulumi CLI",
)
def test_install_pulumi_says_when_the_download_fails(without_pulumi: Path) -> None:
    result = invoke("preview", "staging", "--install-pulumi")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "could not install the Pulumi CLI: downloading https://get.pulumi.com/install.sh failed"
    )
    assert lines[1].endswith("curl -fsSL https://get.pulumi.com | sh")
    assert deploy.locate_pulumi() is None


def test_development_stacks_keep_state_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    chosen = deploy.backend(tmp_path, "dev")
    assert chosen.env_vars == {
        "PULUMI_BACKEND_URL": (tmp_path / ".mlstack" / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": "",
    }
    assert (tmp_path / ".mlstack" / "state").is_dir()
    assert any("empty passphrase" in note for note in chosen.notes)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "chosen")
    assert "PULUMI_CONFIG_PASSPHRASE" not in deploy.backend(tmp_path, "dev-alice").env_vars


def test_other_stacks_use_the_configured_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    assert deploy.backend(tmp_path, "prod").env_vars == {}
    assert not (tmp_path / ".mlstack").exists()
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://state-bucket")
    assert deploy.backend(tmp_path, "dev").env_vars == {}


def test_state_directory_is_gitignored() -> None:
    assert "/.mlstack/" in (PROJECT_DIR / ".gitignore").read_text().splitlines()


@needs_pulumi
def test_preview_runs_through_the_automation_api(tmp_path: Path) -> None:
    result = invoke("preview", "dev")
    assert result.exit_code == 0, result.stderr


@needs_pulumi
def test_up_without_yes_on_a_pipe_refuses() -> None:
    result = invoke("up", "dev")
    assert result.exit_code == 2
    assert result.stderr.strip().endswith("pass --yes to confirm it")


def _stand_in_cli(directory: Path, version: str) -> Path:
    """An executable that answers `pulumi version` as the CLI does (discovery is what is tested
    here, not the engine, which cannot be installed on this machine)."""
    binary = directory / "bin" / "pulumi"
    binary.parent.mkdir(parents=True)
    binary.write_text(f'#!/bin/sh\n[ "$1" = version ] && echo v{version} && exit 0\nexit 3\n')
    binary.chmod(0o755)
    return binary


def test_a_version_manager_shim_on_path_is_used(
    without_pulumi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asdf and mise put a shell script named `pulumi` in a shims/ directory on PATH; it execs the
    # selected version's binary, which lives elsewhere.
    real = _stand_in_cli(tmp_path / "installs" / "pulumi" / "3.272.0", "3.272.0")
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "pulumi"
    shim.write_text(f'#!/bin/sh\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:/usr/bin:/bin")
    assert deploy.locate_pulumi() == shim
    command = deploy.pulumi_command(install=False)
    assert command.command == "pulumi"  # run from PATH, through the shim
    assert str(command.version) == "3.272.0"


def test_a_shim_without_a_selected_version_is_not_called_a_failed_download(
    without_pulumi: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    shim = shims / "pulumi"
    shim.write_text("#!/bin/sh\necho 'No version is set for command pulumi' >&2\nexit 126\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{shims}:/usr/bin:/bin")
    with pytest.raises(deploy.CliError) as raised:
        deploy.pulumi_command(install=True)
    lines = raised.value.lines
    assert lines[0].startswith(f"the Pulumi CLI at {shim} does not run: `pulumi version` failed")
    assert "download" not in " ".join(lines)


def test_installed_versions_are_compared_as_versions(without_pulumi: Path) -> None:
    versions = without_pulumi / ".pulumi" / "versions"
    for version in ("3.99.0", "3.272.0", "3.100.0-alpha.1", "3.9.0"):
        _stand_in_cli(versions / version, version)
    assert deploy.locate_pulumi() == versions / "3.272.0" / "bin" / "pulumi"
    assert str(deploy.pulumi_command(install=False).version) == "3.272.0"
    assert sorted(["3.99.0", "3.272.0", "3.100.0-alpha.1", "3.100.0"], key=deploy.version_key) == [
        "3.99.0",
        "3.100.0-alpha.1",
        "3.100.0",
        "3.272.0",
    ]
