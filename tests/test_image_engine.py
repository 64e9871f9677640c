"""The model image on the real Docker engine, built exactly as the stacks declare it.

dev (sklearn) and staging's iris-onnx are recorded offline, then built from the recorded inputs
(tests/support/images.py) on the offline-made base image, with this machine's CA bundle so pip
inside the build trusts the TLS-intercepting proxy. Containers run with the small size's limits, a
read-only root filesystem and a tmpfs /tmp, as the orchestrators run them."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import docker
import joblib
import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_iris

from mlstack.components.image.context import CONTEXT_MTIME, server_files, write_build_context
from mlstack.components.settings import load_settings
from mlstack.components.settings.quantities import byte_count, nano_cpus
from mlstack.offline import Recording
from mlstack.stackfile import read_stack_config
from tests.support.harness import PROJECT_DIR, run_stack
from tests.support.images import (
    BuiltImage,
    build_image,
    buildkit_build,
    buildkit_cli,
    recorded_context,
)

pytestmark = pytest.mark.engine

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
IMAGE_TYPE = "docker:index/image:Image"
EXAMPLE = PROJECT_DIR / "examples" / "iris"
META = json.loads((EXAMPLE / "iris.json").read_text())
RUN_ID = f"mlstack-img-{uuid.uuid4().hex[:8]}"


def small_limits() -> dict[str, Any]:
    settings = load_settings(
        {"orchestrator": "swarm", "size": "small", "models": [{
            "name": "iris", "framework": "sklearn", "artifact": "examples/iris/iris.joblib",
            "version": "1.0.0",
        }]},
        environment="dev",
        project_dir=PROJECT_DIR,
    )  # fmt: skip
    resources = settings.models[0].size.resources
    return {
        "nano_cpus": nano_cpus(resources.cpu.limit),
        "mem_limit": byte_count(resources.memory.limit),
    }


def recorded(environment: str, base_image: str) -> Recording:
    """The stack with the offline base image and this machine's CA bundle, its own image
    settings (registry, push) kept."""
    image = json.loads(
        read_stack_config(PROJECT_DIR, environment).values.get("mlstack:image", "{}")
    )
    image.update(baseImage=base_image, caBundle=SYSTEM_CA_BUNDLE)
    return run_stack(environment, config={"mlstack:image": image})


def image_resource(recording: Recording, model: str) -> Any:
    (found,) = [
        r for r in recording.of_type(IMAGE_TYPE) if Path(r.inputs["build"]["context"]).name == model
    ]
    return found


def remove_image(client: docker.DockerClient, tag: str) -> None:
    with suppress(docker.errors.ImageNotFound):
        client.images.remove(tag)


@pytest.fixture(scope="module")
def dev_recording(python_base_image: str) -> Recording:
    return recorded("dev", python_base_image)


@pytest.fixture(scope="module")
def sklearn_image(
    docker_engine: docker.DockerClient, dev_recording: Recording
) -> Iterator[BuiltImage]:
    tag = f"{RUN_ID}/iris:dev"
    try:
        yield build_image(image_resource(dev_recording, "iris"), docker_engine, tag=tag)
    finally:
        remove_image(docker_engine, tag)


def http(url: str, body: bytes | None = None, timeout: float = 5) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def predict(base: str, rows: list[list[float]]) -> list[Any]:
    status, payload = http(f"{base}/predict", json.dumps({"instances": rows}).encode())
    assert status == 200, payload
    return list(json.loads(payload)["predictions"])


@contextmanager
def serving(
    client: docker.DockerClient,
    image: str,
    name: str,
    env: dict[str, str] | None = None,
    **limits: Any,
) -> Iterator[tuple[Any, str]]:
    """The image running as orchestrators run it; yields (container, base URL on loopback).
    `limits` replace the small size's (e.g. nano_cpus)."""
    container = client.containers.run(
        image,
        name=f"{RUN_ID}-{name}",
        detach=True,
        environment=env or {},
        read_only=True,
        tmpfs={"/tmp": "rw,noexec,nosuid,size=256m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        ports={"8080/tcp": ("127.0.0.1", None)},
        **{**small_limits(), **limits},
    )
    try:
        deadline = time.monotonic() + 60
        port = None
        while port is None:
            container.reload()
            bindings = container.attrs["NetworkSettings"]["Ports"].get("8080/tcp")
            port = bindings[0]["HostPort"] if bindings else None
            assert container.status != "exited", container.logs().decode()
            assert time.monotonic() < deadline, "no host port published"
            if port is None:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if http(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            container.reload()
            assert container.status == "running", container.logs().decode()
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
        yield container, base
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def dev_container(
    docker_engine: docker.DockerClient, sklearn_image: BuiltImage
) -> Iterator[tuple[Any, str]]:
    with serving(docker_engine, sklearn_image.tag, "iris") as running:
        yield running


def test_predictions_are_the_models_own(dev_container: tuple[Any, str]) -> None:
    _, base = dev_container
    assert predict(base, META["sample"]) == META["sample_predictions"]
    features = load_iris().data
    expected = joblib.load(EXAMPLE / "iris.joblib").predict(features).tolist()
    assert predict(base, features.tolist()) == expected
    status, payload = http(f"{base}/predict", b'{"instances": [[1, 2, 3]]}')
    assert status == 400
    assert json.loads(payload)["error"] == "instances[0] has 3 features; the model expects 4"
    metrics = http(f"{base}/metrics")[1].decode()
    assert 'mlstack_requests_total{code="200",model="iris",route="predict"} 2.0' in metrics
    assert "mlstack_request_duration_seconds_bucket" in metrics
    assert 'mlstack_requests_in_flight{model="iris"}' in metrics


def test_runs_as_uid_10001_on_a_read_only_root(
    dev_container: tuple[Any, str], sklearn_image: BuiltImage, docker_engine: docker.DockerClient
) -> None:
    container, _ = dev_container
    assert docker_engine.images.get(sklearn_image.tag).attrs["Config"]["User"] == "10001:10001"
    status = container.exec_run(["cat", "/proc/1/status"]).output.decode()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["10001"] * 4  # real, effective, saved, filesystem
    assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True
    write_app = container.exec_run(["python", "-c", "open('/app/x', 'w')"])
    assert write_app.exit_code != 0
    assert b"Read-only file system" in write_app.output
    write_tmp = container.exec_run(["python", "-c", "open('/tmp/x', 'w').write('ok')"])
    assert write_tmp.exit_code == 0


def test_the_healthcheck_turns_healthy(dev_container: tuple[Any, str]) -> None:
    container, _ = dev_container
    deadline = time.monotonic() + 60
    while True:
        container.reload()
        health = container.attrs["State"]["Health"]
        if health["Status"] == "healthy":
            break
        assert health["Status"] == "starting", health
        assert time.monotonic() < deadline, health
        time.sleep(0.5)
    assert health["Log"][-1]["ExitCode"] == 0


def test_sigterm_drains_then_finishes_in_flight_requests(
    docker_engine: docker.DockerClient, sklearn_image: BuiltImage
) -> None:
    env = {"DRAIN_SECONDS": "2", "GRACEFUL_TIMEOUT": "10"}
    with serving(docker_engine, sklearn_image.tag, "drain", env) as (container, base):
        host, port = base.removeprefix("http://").split(":")
        body = json.dumps({"instances": META["sample"]}).encode()
        # A request in flight across the signal: headers sent, body not yet complete.
        in_flight = socket.create_connection((host, int(port)), timeout=15)
        in_flight.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)
        signalled = time.monotonic()
        container.kill(signal="SIGTERM")
        time.sleep(0.3)
        assert http(f"{base}/readyz") == (503, b"draining")  # at once, while still serving
        time.sleep(2.5)  # past DRAIN_SECONDS: the server stopped accepting, waits for us
        in_flight.sendall(body[10:])
        response = b""
        while b"\r\n\r\n" not in response or not response.endswith(b"}"):
            chunk = in_flight.recv(65536)
            if not chunk:
                break
            response += chunk
        in_flight.close()
        head, _, payload = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), response
        assert json.loads(payload)["predictions"] == META["sample_predictions"]
        assert b"connection: close" in head.lower()
        result = container.wait(timeout=15)
        assert result["StatusCode"] == 0, container.logs().decode()
        assert time.monotonic() - signalled < 10
        logs = container.logs().decode()
        assert "draining for 2.0 s" in logs


def test_workers_follow_the_container_cpu_limit(
    docker_engine: docker.DockerClient, sklearn_image: BuiltImage
) -> None:
    """Two CPUs: two worker processes on one port, metrics summed over both (multi-process
    files under the tmpfs /tmp), and a clean stop of both on SIGTERM."""
    env = {"DRAIN_SECONDS": "0.5"}
    with serving(docker_engine, sklearn_image.tag, "workers", env, nano_cpus=2_000_000_000) as (
        container,
        base,
    ):
        for _ in range(10):
            assert predict(base, META["sample"]) == META["sample_predictions"]
        metrics = http(f"{base}/metrics")[1].decode()
        assert 'mlstack_requests_total{code="200",model="iris",route="predict"} 10.0' in metrics
        count_workers = (
            "import glob, os; me = f'/proc/{os.getpid()}/cmdline'; "
            "print(sum(b'spawn_main' in open(p, 'rb').read()"
            " for p in glob.glob('/proc/[0-9]*/cmdline') if p != me))"
        )
        workers = container.exec_run(["python", "-c", count_workers]).output
        assert int(workers) == 2, workers  # spawned worker processes under the supervisor
        # Ready means one worker serves; wait for both (a loading worker has nothing to drain).
        deadline = time.monotonic() + 30
        while container.logs().decode().count("loaded from") < 2:
            assert time.monotonic() < deadline, container.logs().decode()
            time.sleep(0.2)
        container.kill(signal="SIGTERM")
        assert container.wait(timeout=15)["StatusCode"] == 0
        logs = container.logs().decode()
        assert "with 2 workers" in logs
        assert logs.count("draining for 0.5 s") == 2, logs


def test_an_app_only_change_reuses_the_dependency_layer(
    docker_engine: docker.DockerClient,
    python_base_image: str,
    sklearn_image: BuiltImage,
    tmp_path: Path,
) -> None:
    # Recorded again so the context on disk is this recording's, whatever ran in between.
    resource = image_resource(recorded("dev", python_base_image), "iris")
    assert resource.inputs["imageName"] == sklearn_image.recorded_name  # the same context
    changed = tmp_path / "context"
    shutil.copytree(recorded_context(resource), changed)
    with (changed / "model_server" / "app.py").open("a") as app:
        app.write("\n# an app-only change\n")
    tag = f"{RUN_ID}/iris:app-change"
    try:
        rebuilt = build_image(resource, docker_engine, tag=tag, context=changed)
        for prefix in ("RUN /opt/venv/bin/pip install", "COPY --from=builder /opt/venv"):
            assert rebuilt.step(prefix).cached, rebuilt.log
        assert rebuilt.step("COPY model/iris.joblib").cached
        assert not rebuilt.step("COPY model_server /app/model_server").cached
        # The same layers, byte for byte, up to and including deps and model; then the app.
        before = docker_engine.images.get(sklearn_image.tag).attrs["RootFS"]["Layers"]
        after = docker_engine.images.get(tag).attrs["RootFS"]["Layers"]
        base_image = resource.inputs["build"]["args"]["BASE_IMAGE"]
        base = len(docker_engine.images.get(base_image).attrs["RootFS"]["Layers"])
        shared = base + 3  # + user, venv, model
        assert after[:shared] == before[:shared]
        assert after[shared] != before[shared]
    finally:
        remove_image(docker_engine, tag)


def test_buildkit_the_providers_builder_builds_it_serves_and_caches_the_dependencies(
    docker_engine: docker.DockerClient, python_base_image: str, tmp_path: Path
) -> None:
    """pulumi-docker builds with BuildKit: the recorded build inputs work there too, the image
    serves, and an app-only change reuses BuildKit's cached dependency layers."""
    cli = buildkit_cli()
    if cli is None:
        message = "no docker CLI with BuildKit (buildx, or a docker.io CLI before 23)"
        if os.environ.get("MLSTACK_REQUIRE_ENGINE") == "1":
            pytest.fail(f"{message}; .ci/run installs docker.io")
        pytest.skip(message)
    resource = image_resource(recorded("dev", python_base_image), "iris")
    changed = tmp_path / "context"
    shutil.copytree(recorded_context(resource), changed)
    with (changed / "model_server" / "app.py").open("a") as app:
        app.write(f"\n# an app-only change {RUN_ID}\n")  # BuildKit caches by content
    tags = [f"{RUN_ID}/iris:buildkit", f"{RUN_ID}/iris:buildkit-app-change"]
    try:
        built = buildkit_build(resource, cli, tag=tags[0])
        with serving(docker_engine, built.tag, "buildkit") as (container, base):
            assert predict(base, META["sample"]) == META["sample_predictions"]
            assert container.attrs["Config"]["User"] == "10001:10001"
        rebuilt = buildkit_build(resource, cli, tag=tags[1], context=changed)
        for prefix in ("RUN /opt/venv/bin/pip install", "COPY --from=builder /opt/venv"):
            assert rebuilt.cached(prefix), rebuilt.log
        assert not rebuilt.cached("COPY model_server /app/model_server"), rebuilt.log
        assert rebuilt.image_id != built.image_id
    finally:
        for tag in tags:
            remove_image(docker_engine, tag)


def test_the_onnx_image_builds_and_predicts(
    docker_engine: docker.DockerClient, python_base_image: str
) -> None:
    resource = image_resource(recorded("staging", python_base_image), "iris-onnx")
    tag = f"{RUN_ID}/iris-onnx:staging"
    try:
        built = build_image(resource, docker_engine, tag=tag)
        with serving(docker_engine, built.tag, "onnx") as (container, base):
            features = load_iris().data
            session = onnxruntime.InferenceSession(
                str(EXAMPLE / "iris.onnx"), providers=["CPUExecutionProvider"]
            )
            (expected,) = session.run(["label"], {"input": features.astype(np.float32)})
            assert predict(base, features.tolist()) == expected.tolist()
            assert predict(base, META["sample"]) == META["sample_predictions"]
            assert "onnx" in container.logs().decode()
    finally:
        remove_image(docker_engine, tag)


def _layer(blob: bytes) -> tarfile.TarFile | None:
    try:
        return tarfile.open(fileobj=io.BytesIO(blob))
    except tarfile.ReadError:
        return None  # a config or manifest, not a layer


def layer_files(client: docker.DockerClient, tag: str) -> list[tuple[str, str, int, str]]:
    """(path, mode, mtime, sha256) of every regular file in the image's layers, as saved."""
    found = []
    with tarfile.open(fileobj=io.BytesIO(b"".join(client.images.get(tag).save()))) as image:
        for member in image.getmembers():
            blob = image.extractfile(member) if member.isfile() else None
            layer = _layer(blob.read()) if blob is not None else None
            if layer is None:
                continue
            with layer:
                for entry in layer.getmembers():
                    data = layer.extractfile(entry) if entry.isfile() else None
                    if data is not None:
                        digest = hashlib.sha256(data.read()).hexdigest()
                        found.append((entry.name, oct(entry.mode), int(entry.mtime), digest))
    return sorted(found)


def test_contexts_written_at_different_times_give_the_same_files_in_the_image(
    docker_engine: docker.DockerClient, tmp_path: Path
) -> None:
    """The builder keeps each file's mode and mtime in the layer COPY makes: files from two
    contexts written by mlstack at different times (two clones, or CI) are identical in the
    images, mtimes included; the same files with the times they were written at are not (the
    control). (The folders COPY creates get the build's time, classic builder and BuildKit alike,
    so layer digests still differ between two builds: what avoids a rebuild is the unchanged
    tag and inputs.)"""
    files = {
        "Dockerfile": b"FROM scratch\nCOPY model /app/model\nCOPY model_server /app/model_server\n",
        "model/iris.joblib": (EXAMPLE / "iris.joblib").read_bytes(),
        **server_files(),
    }
    first, second, control = tmp_path / "first", tmp_path / "second", tmp_path / "control"
    write_build_context(files, first)
    time.sleep(1.1)  # tar headers hold whole seconds
    write_build_context(files, second)
    shutil.copytree(first, control, copy_function=shutil.copyfile)  # fresh times
    built = {}
    try:
        for context in (first, second, control):
            tag = f"{RUN_ID}/context-{context.name}:test"
            for _ in docker_engine.api.build(path=str(context), tag=tag, nocache=True, rm=True):
                pass
            built[context.name] = layer_files(docker_engine, tag)
    finally:
        for context in (first, second, control):
            remove_image(docker_engine, f"{RUN_ID}/context-{context.name}:test")
    assert len(built["first"]) == len(files) - 1  # every file but the Dockerfile
    assert built["first"] == built["second"]
    assert {mtime for _, _, mtime, _ in built["first"]} == {CONTEXT_MTIME}
    assert built["control"] != built["first"]
