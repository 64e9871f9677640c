"""The component package's provider, started as the Pulumi engine starts it, and a recording
resource monitor for its Construct calls: the engine side of the gRPC protocol, in the test.

The Pulumi CLI cannot be installed here, so the test plays the engine: it runs
`python components/ <engine address>` in components/ (what pulumi-language-python's RunPlugin does
for a plugin folder with a __main__.py), reads the port the provider prints, and calls it with
the SDK's own gRPC stubs (pulumi.runtime.proto). The provider registers the component's children
with the monitor given in ConstructRequest.monitorEndpoint: ours, which records each registration
and answers with its inputs as outputs (as the offline recorder's mocks do).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.proto import (
    engine_pb2,
    engine_pb2_grpc,
    provider_pb2,
    provider_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
)

from tests.support.harness import PROJECT_DIR

PLUGIN_DIR = PROJECT_DIR / "components"
STACK_TYPE = "pulumi:pulumi:Stack"
# What the monitor says it supports: the features an engine of this SDK's era has, except the
# hooks and transforms a component package never registers.
FEATURES = {"secrets", "resourceReferences", "outputValues", "deletedWith", "aliasSpecs"}


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    provider: str
    inputs: dict[str, Any]


@dataclass
class RecordingMonitor(resource_pb2_grpc.ResourceMonitorServicer, engine_pb2_grpc.EngineServicer):
    """A ResourceMonitor (and Engine, for the provider's log calls) that records registrations."""

    project: str
    stack: str
    registered: list[Registration] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    # Resources the program declared before (URN -> ID and state), as the engine's snapshot has
    # them: what `pulumi:pulumi:getResource` answers for a resource reference.
    existing: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    _types: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stack_urn(self) -> str:
        return f"urn:pulumi:{self.stack}::{self.project}::{STACK_TYPE}::{self.project}-{self.stack}"

    def GetDeploymentInfo(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC name
        return resource_pb2.DeploymentInfo(
            project=self.project,
            stack=self.stack,
            dryRun=False,
            supportedFeatures=[
                getattr(resource_pb2, f"RESOURCE_MONITOR_FEATURE_{_snake(name).upper()}")
                for name in sorted(FEATURES)
            ],
        )

    def SupportsFeature(self, request: Any, context: Any) -> Any:  # noqa: N802
        return resource_pb2.SupportsFeatureResponse(hasSupport=request.id in FEATURES)

    def RegisterResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            parent_type = self._types.get(request.parent, "")
            qualified = f"{parent_type}${request.type}" if parent_type else request.type
            urn = f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{request.name}"
            self._types[urn] = qualified
            self.registered.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    parent=request.parent,
                    custom=request.custom,
                    provider=request.provider,
                    inputs=_plain(request.object),
                )
            )
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=f"{request.name}-id" if request.custom else "", object=request.object
        )

    def Invoke(self, request: Any, context: Any) -> Any:  # noqa: N802
        """The engine's built-in function: read a resource by URN (a reference as input)."""
        if request.tok != "pulumi:pulumi:getResource":
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no function {request.tok}")
        urn = MessageToDict(request.args)["urn"]
        if urn not in self.existing:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown resource {urn}")
        resource_id, state = self.existing[urn]
        answer = struct_pb2.Struct()
        answer.update({"urn": urn, "id": resource_id, "state": state})
        return resource_pb2.ResourceInvokeResponse(**{"return": answer})

    def RegisterResourceOutputs(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            self.outputs[request.urn] = _plain(request.outputs)
        return empty_pb2.Empty()

    def Log(self, request: Any, context: Any) -> Any:  # noqa: N802
        with self._lock:
            self.logs.append(request.message)
        return empty_pb2.Empty()

    def GetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn=self.stack_urn)

    def SetRootResource(self, request: Any, context: Any) -> Any:  # noqa: N802
        return engine_pb2.SetRootResourceResponse()

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registered if r.type == type_token]


def _plain(message: struct_pb2.Struct) -> dict[str, Any]:
    plain: dict[str, Any] = MessageToDict(message)
    return plain


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name)


@contextmanager
def recording_monitor(project: str, stack: str) -> Iterator[tuple[RecordingMonitor, str]]:
    """A monitor serving on a loopback port; yields it and its address."""
    monitor = RecordingMonitor(project, stack)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    engine_pb2_grpc.add_EngineServicer_to_server(monitor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield monitor, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


@contextmanager
def hosted_package(
    project: str, stack: str
) -> Iterator[tuple[RecordingMonitor, str, provider_pb2_grpc.ResourceProviderStub]]:
    """A recording engine for `project`/`stack` and the package's provider connected to it:
    yields the monitor, its address and a client of the provider."""
    with recording_monitor(project, stack) as (monitor, address), provider_host(address) as host:
        yield monitor, address, host


@contextmanager
def provider_host(
    engine_address: str, plugin_dir: Path = PLUGIN_DIR, env: Mapping[str, str] | None = None
) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """The package's provider process, as the engine starts it; yields a client of it."""
    process = subprocess.Popen(
        [sys.executable, str(plugin_dir), engine_address],
        cwd=plugin_dir,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            process.kill()
            _, errors = process.communicate(timeout=30)
            raise AssertionError(f"the provider printed no port: {port!r}\n{errors[-3000:]}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def get_schema(provider: provider_pb2_grpc.ResourceProviderStub) -> dict[str, Any]:
    response = provider.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=120)
    schema: dict[str, Any] = json.loads(response.schema)
    return schema


def construct(
    provider: provider_pb2_grpc.ResourceProviderStub,
    monitor: RecordingMonitor,
    monitor_address: str,
    *,
    type_token: str,
    name: str,
    inputs: dict[str, Any],
) -> Any:
    """One Construct of `type_token` as a child of the monitor's stack, as `pulumi up` would."""
    struct = struct_pb2.Struct()
    struct.update(inputs)
    return provider.Construct(
        provider_pb2.ConstructRequest(
            project=monitor.project,
            stack=monitor.stack,
            dryRun=False,
            parallel=4,
            monitorEndpoint=monitor_address,
            type=type_token,
            name=name,
            parent=monitor.stack_urn,
            inputs=struct,
            accepts_output_values=False,
        ),
        timeout=300,
    )
