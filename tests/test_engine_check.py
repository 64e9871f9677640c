"""`mlstack up` checks a Swarm stack's engine first: vip endpoints and the ingress routing mesh
need IPVS; on an engine without it the published ports answer nothing.

The verdict is held against the real local engine: a service published through the routing mesh
answers exactly when the check says the engine has IPVS (this machine has none, so here it does
not), while the same server published in host mode answers either way.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
import uuid
from pathlib import Path

import docker
import pytest

from mlstack import deploy
from mlstack.components.settings.swarm import SwarmSettings
from mlstack.engine_check import Ipvs, check_swarm_engine, is_local, local_ipvs, needs_ipvs
from tests.support.cli_support import copy_project, invoke
from tests.support.swarm_engine import port_is_free, wait_for

MODEL = "name=iris,framework=sklearn,artifact=examples/iris/iris.joblib,version=1.0.0"


# The CLI (and the program it records) puts project directories on sys.path.
pytestmark = pytest.mark.usefixtures("isolated_sys_path")


def test_ipvs_seen_in_proc_or_in_the_kernel_modules(tmp_path: Path) -> None:
    proc, modules = tmp_path / "proc", tmp_path / "modules"
    (proc / "net").mkdir(parents=True)
    assert local_ipvs(proc, modules).available is False
    release = modules / __import__("os").uname().release
    release.mkdir(parents=True)
    (release / "modules.dep").write_text("kernel/net/ipv4/ip_tunnel.ko.zst:\n")
    assert local_ipvs(proc, modules).available is False
    (release / "modules.dep").write_text(
        "kernel/net/netfilter/ipvs/ip_vs.ko.zst: kernel/net/netfilter/nf_conntrack.ko.zst\n"
    )
    assert local_ipvs(proc, modules).available is True
    (release / "modules.dep").unlink()
    (proc / "net" / "ip_vs").write_text("IP Virtual Server version 1.2.1\n")
    found = local_ipvs(proc, modules)
    assert found.available is True
    assert "/proc/net/ip_vs" in found.evidence


def test_only_vip_and_ingress_need_ipvs() -> None:
    assert needs_ipvs(SwarmSettings()) == [
        "endpointMode: vip (service addresses are IPVS virtual IPs)",
        "publishMode: ingress (the routing mesh is IPVS)",
    ]
    assert (
        needs_ipvs(SwarmSettings.model_validate({"endpointMode": "dnsrr", "publishMode": "host"}))
        == []
    )


def test_without_ipvs_up_is_told_what_to_set() -> None:
    errors, warnings = check_swarm_engine(
        SwarmSettings(), "Pulumi.qa.yaml", probe=Ipvs(False, "no /proc/net/ip_vs")
    )
    assert warnings == []
    assert errors[0].startswith(
        "Pulumi.qa.yaml: the engine at unix:///var/run/docker.sock has no IPVS (no /proc/net/ip_vs)"
    )
    assert errors[1:6] == [
        "Set in Pulumi.qa.yaml:",
        "  mlstack:swarm:",
        "    endpointMode: dnsrr",
        "    publishMode: host",
        "    proxy:",
    ]
    assert check_swarm_engine(SwarmSettings(), "x", probe=Ipvs(True, "loaded")) == ([], [])


def test_a_remote_engine_gets_a_warning_not_a_refusal() -> None:
    remote = SwarmSettings.model_validate({"dockerHost": "ssh://admin@manager-1"})
    assert not is_local(remote.docker_host)
    assert is_local("tcp://127.0.0.1:2375")
    errors, warnings = check_swarm_engine(remote, "Pulumi.qa.yaml", probe=Ipvs(False, "-"))
    assert errors == []
    assert warnings[0].startswith(
        "Pulumi.qa.yaml: cannot tell from here whether the engine at ssh://admin@manager-1 has IPVS"
    )


def _swarm_stack(tmp_path: Path, *options: str) -> Path:
    project = copy_project(tmp_path / "project")
    result = invoke(
        "new-stack", "qa", "--orchestrator", "swarm", "--size", "small", "--model", MODEL,
        *options, "--project", project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    if "dnsrr" not in options and not local_ipvs().available:  # said as soon as it is written
        assert "warning: Pulumi.qa.yaml: the engine at unix:///var/run/docker.sock has no IPVS" in (
            result.stderr
        )
    return project


def _without_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH and HOME where no `pulumi` exists (set after git has copied the project)."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_up_checks_the_local_engine_before_the_pulumi_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _swarm_stack(tmp_path)  # new-stack's defaults: vip, ingress, no proxy
    _without_pulumi(tmp_path, monkeypatch)
    result = invoke("up", "qa", "--yes", "--project", project)
    assert result.exit_code == 2
    if local_ipvs().available:
        assert result.stderr.splitlines() == deploy.missing_cli_message()
    else:
        lines = result.stderr.splitlines()
        assert lines[0].startswith(
            "Pulumi.qa.yaml: the engine at unix:///var/run/docker.sock has no IPVS"
        )
        assert "    endpointMode: dnsrr" in lines
        # Told, the user can still deploy; then the next step is the Pulumi CLI.
        forced = invoke("up", "qa", "--yes", "--skip-engine-check", "--project", project)
        assert forced.stderr.splitlines() == deploy.missing_cli_message()
    # preview changes nothing: it warns and goes on.
    preview = invoke("preview", "qa", "--project", project)
    assert preview.stderr.splitlines()[-3:] == deploy.missing_cli_message()


def test_a_stack_without_vip_or_ingress_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _swarm_stack(
        tmp_path, "--endpoint-mode", "dnsrr", "--publish-mode", "host", "--proxy"
    )
    _without_pulumi(tmp_path, monkeypatch)
    result = invoke("up", "qa", "--yes", "--project", project)
    assert result.stderr.splitlines() == deploy.missing_cli_message()


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _free_port() -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if 20000 <= port < 60000 and port_is_free(port):
            return port
    raise AssertionError("no free port")


@pytest.mark.engine
def test_the_verdict_matches_the_real_engine(
    docker_engine: docker.DockerClient, python_base_image: str
) -> None:
    verdict = local_ipvs()
    suffix = uuid.uuid4().hex[:8]
    mesh_port, host_port = _free_port(), _free_port()
    created = []
    try:
        for name, mode, publish, port in (
            (f"ipvs-check-mesh-{suffix}", "vip", "ingress", mesh_port),
            (f"ipvs-check-host-{suffix}", "dnsrr", "host", host_port),
        ):
            service = docker_engine.services.create(
                python_base_image,
                ["python3", "-m", "http.server", "8000"],
                name=name,
                labels={"dev.mlstack.test": "engine-check"},
                endpoint_spec=docker.types.EndpointSpec(
                    mode=mode, ports={port: (8000, "tcp", publish)}
                ),
            )
            created.append(service)
        # The host-mode server answering shows the server and the port work...
        wait_for(f"the host-mode service on port {host_port}", lambda: _answers(host_port), 120)
        # ...so whether the routing mesh forwards to the same server is down to the engine.
        deadline = time.monotonic() + 20
        mesh = False
        while time.monotonic() < deadline and not mesh:
            mesh = _answers(mesh_port)
            time.sleep(1)
        assert mesh == verdict.available, (verdict, mesh)
    finally:
        for service in created:
            with contextlib.suppress(docker.errors.NotFound):
                service.remove()
        for service in created:
            wait_for(
                f"the tasks of {service.name} to go",
                lambda name=service.name: (
                    not docker_engine.containers.list(
                        all=True, filters={"label": f"com.docker.swarm.service.name={name}"}
                    )
                ),
                90,
            )
