"""Run the real Pulumi program offline and record every resource it declares.

The program runs under Pulumi's own mock mechanism (`pulumi.runtime.set_mocks`): the engine is
replaced by a monitor that records each registration (type, name, parent, inputs) and answers
with the inputs as outputs. This is the engine boundary: everything the program decides is
recorded; nothing is created. Tests, `mlstack render`, `diff` and `validate` all read this
recording, so none of them re-implements what the components declare.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import runpy
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from mlstack.stackfile import EngineConfig, config_from_mapping, project_name, read_stack_config

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret. Its repr never shows the value."""

    value: Any = field(repr=False)

    def __repr__(self) -> str:
        return "Secret([secret])"


@dataclass(frozen=True)
class RecordedAlias:
    """One `aliases=[...]` entry: a whole old URN, or the parts of it that differ (empty: the
    resource's own name/type/stack/project; `parent` None with `no_parent` False: its parent)."""

    urn: str = ""
    name: str = ""
    type: str = ""
    stack: str = ""
    project: str = ""
    parent: str | None = None
    no_parent: bool = False


@dataclass(frozen=True)
class RecordedOptions:
    """The resource options the engine acts on when it plans a change (property paths as the
    program declared them, camelCase). `delete_before_replace` None: not declared, so the
    provider's Diff decides, as in the engine."""

    delete_before_replace: bool | None = None
    replace_on_changes: tuple[str, ...] = ()
    ignore_changes: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False
    deleted_with: str | None = None
    aliases: tuple[RecordedAlias, ...] = ()


@dataclass(frozen=True)
class RecordedResource:
    type: str
    name: str
    urn: str
    parent: str | None
    custom: bool
    provider: str | None
    inputs: dict[str, Any]
    options: RecordedOptions = field(default_factory=RecordedOptions)
    # Input property -> URNs of the resources its value came from (the engine's
    # propertyDependencies: what becomes unknown when one of them is replaced).
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


@dataclass(frozen=True)
class Recording:
    project: str
    stack: str
    resources: tuple[RecordedResource, ...]
    outputs: dict[str, Any]

    def of_type(self, type_token: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self, urn: str) -> RecordedResource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def children(self, parent: RecordedResource) -> list[RecordedResource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def ancestors(self, resource: RecordedResource) -> Iterator[RecordedResource]:
        parent = resource.parent
        while parent is not None:
            try:
                node = self.by_urn(parent)
            except KeyError:
                return  # the root stack is not recorded as a resource
            yield node
            parent = node.parent


class ProgramError(Exception):
    """The program raised. `declared` is what it had registered by then (for settings errors:
    nothing, which tests assert); the original error is the __cause__."""

    def __init__(self, error: BaseException, declared: tuple[RecordedResource, ...]) -> None:
        super().__init__(str(error))
        self.error = error
        self.declared = declared


def mask(value: Any, mask_text: str = "[secret]") -> Any:
    """The value with every secret replaced by `mask_text` (for anything shown to people)."""
    if isinstance(value, Secret):
        return mask_text
    if isinstance(value, dict):
        return {k: mask(v, mask_text) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, mask_text) for v in value]
    return value


def reveal(value: Any) -> Any:
    """The value with secrets unwrapped (for handing inputs to a real engine in tests)."""
    if isinstance(value, Secret):
        return reveal(value.value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Wire-format inputs -> plain data, secrets as Secret, assets as their path or text."""
    if rpc.is_rpc_secret(value):
        return Secret(_plain(rpc.unwrap_rpc_secret(value)))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"path": str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"text": value.text}
    if isinstance(value, pulumi.Resource):
        return {"resource": type(value).__name__}
    return value


def mock_id(name: str) -> str:
    """The ID the recorder's mocks give the resource named `name` (what references record)."""
    return f"{name}-id"


class _Mocks(pulumi.runtime.Mocks):
    """Answers every registration with its inputs, as a provider that echoes would."""

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        return mock_id(args.name), dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise NotImplementedError(
            f"the offline recorder cannot answer the provider function {args.token}; "
            "components must not depend on data read from live infrastructure"
        )


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks) -> None:
        super().__init__(mocks)
        self.recorded: list[RecordedResource] = []
        # Pulumi calls the monitor from executor threads, and its mocks make an event loop in
        # each (sync_await._ensure_event_loop) that nothing closes; left to the garbage
        # collector at exit they print "Exception ignored in BaseEventLoop.__del__".
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()
        self._lock = threading.Lock()

    def close_thread_loops(self) -> None:
        with self._lock:
            for loop in self.thread_loops:
                if not loop.is_closed():
                    loop.close()
            self.thread_loops.clear()

    def _note_thread_loop(self) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:  # this call made none
            return
        with self._lock:
            self.thread_loops.add(loop)

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        try:
            return super().Invoke(request)  # type: ignore[no-untyped-call]
        finally:
            self._note_thread_loop()

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        try:
            return super().ReadResource(request)  # type: ignore[no-untyped-call]
        finally:
            self._note_thread_loop()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        try:
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        finally:
            self._note_thread_loop()
        if request.type == STACK_TYPE:
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=False)
        self.recorded.append(
            RecordedResource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent or None,
                custom=bool(request.custom),
                provider=request.provider or None,
                inputs=_plain(dict(inputs)),
                options=_options(request),
                dependencies={
                    key: tuple(sorted(deps.urns))
                    for key, deps in request.propertyDependencies.items()
                    if deps.urns
                },
            )
        )
        return response


def _options(request: Any) -> RecordedOptions:
    declared = bool(request.deleteBeforeReplaceDefined or request.deleteBeforeReplace)
    return RecordedOptions(
        delete_before_replace=bool(request.deleteBeforeReplace) if declared else None,
        replace_on_changes=tuple(request.replaceOnChanges),
        ignore_changes=tuple(request.ignoreChanges),
        protect=bool(request.protect),
        retain_on_delete=bool(request.retainOnDelete),
        deleted_with=request.deletedWith or None,
        aliases=(
            *(RecordedAlias(urn=urn) for urn in request.aliasURNs),
            *(_alias(alias) for alias in request.aliases),
        ),
    )


def _alias(alias: Any) -> RecordedAlias:
    if alias.WhichOneof("alias") == "urn":
        return RecordedAlias(urn=alias.urn)
    spec = alias.spec
    parent_kind = spec.WhichOneof("parent")
    return RecordedAlias(
        name=spec.name,
        type=spec.type,
        stack=spec.stack,
        project=spec.project,
        parent=(spec.parentUrn or None) if parent_kind == "parentUrn" else None,
        no_parent=parent_kind == "noParent" and bool(spec.noParent),
    )


def record(
    project_dir: Path,
    environment: str,
    *,
    config: Mapping[str, Any] | None = None,
    secret_config: Mapping[str, Any] | None = None,
) -> Recording:
    """Run `project_dir/__main__.py` as stack `environment` and return what it declared.

    Config comes from Pulumi.<environment>.yaml; `config` and `secret_config` (keys with or
    without the project namespace) add to or replace its keys, the latter marked secret as
    `pulumi config set --secret` would.
    """
    project_dir = project_dir.resolve()
    project = project_name(project_dir)
    engine_config = read_stack_config(project_dir, environment)
    values = dict(engine_config.values)
    secret_keys = set(engine_config.secret_keys)
    for extra, secret in ((config or {}, False), (secret_config or {}, True)):
        added = config_from_mapping(extra, default_namespace=project)
        values.update(added.values)
        if secret:
            secret_keys.update(added.values)
        else:
            secret_keys.difference_update(added.values)
    final = EngineConfig(values, frozenset(secret_keys))
    # A fresh context per run: Pulumi keeps its runtime state in context variables. A fresh event
    # loop too, so a run never depends on (or leaves behind) the caller's asyncio state.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return contextvars.Context().run(_record, project_dir, project, environment, final)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)


def _record(project_dir: Path, project: str, environment: str, config: EngineConfig) -> Recording:
    # A stringified Output would silently render as "Calling __str__ on an Output..." text.
    os.environ["PULUMI_ERROR_OUTPUT_STRING"] = "true"
    monitor = _RecordingMonitor(_Mocks())
    pulumi.runtime.set_mocks(
        monitor.mocks, project=project, stack=environment, preview=False, monitor=monitor
    )
    pulumi.runtime.set_all_config(dict(config.values), sorted(config.secret_keys))
    program = project_dir / "__main__.py"

    def run() -> None:
        sys.path.insert(0, str(project_dir))
        try:
            runpy.run_path(str(program), run_name="__main__")
        finally:
            sys.path.remove(str(project_dir))

    try:
        _sync_await(run_pulumi_func(run))
    except Exception as error:
        raise ProgramError(error, tuple(monitor.recorded)) from error
    finally:
        monitor.close_thread_loops()
    return Recording(project, environment, tuple(monitor.recorded), _exports())


def _exports() -> dict[str, Any]:
    """The program's `pulumi.export`s, resolved, each secret one wrapped as Secret."""
    root = get_root_resource()
    exported: dict[str, Any] = {}
    for name, value in (getattr(root, "outputs", None) or {}).items():
        output = pulumi.Output.from_input(value)
        resolved = _plain(_sync_await(output.future()))
        exported[name] = Secret(resolved) if _sync_await(output.is_secret()) else resolved
    return exported
