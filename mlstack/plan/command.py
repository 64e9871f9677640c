"""`mlstack plan ENV`: measure capacity, or simulate the stack under a load profile.

The CLI (mlstack/cli.py) parses options into PlanOptions / MeasureOptions and calls plan() or
measure_stack(); errors are CliError lines (exit 2), a plan whose target does not hold exits 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack.components.settings import SettingsError, StackSettings, load_settings
from mlstack.components.settings.quantities import byte_count, cpu_millis
from mlstack.errors import CliError
from mlstack.loadtest.container import Limits
from mlstack.offline import Recording
from mlstack.plan import capacity as store
from mlstack.plan import inputs, report, simulate
from mlstack.plan.measure import MeasureError, Sweep, recorded_context, sample_request
from mlstack.plan.profiles import ProfileError, parse
from mlstack.project import record_stack
from mlstack.stackfile import project_name, read_stack_config

# kubernetes/autoscaler cluster-autoscaler/FAQ.md ("How fast is HPA when combined with CA?", at
# 55c37cd5eb550756c5ccc5a89e9068d77797e575): "on GCE it usually takes 3 to 4 minutes from CA
# request to when pods can be scheduled on newly created nodes". The FAQ gives no figure for the
# other providers; the midpoint serves for all of them until --node-provision-seconds says else.
DEFAULT_PROVISION_SECONDS = 210.0


@dataclass(frozen=True)
class PlanOptions:
    load: str
    p99_ms: float
    models: Sequence[str]
    node_cpu: str | None
    node_memory: str | None
    provision_seconds: float
    image_pull_seconds: float
    max_age_days: float
    budget: float
    plot: Path | None
    capacity_file: Path
    overrides: Sequence[str] = ()


@dataclass(frozen=True)
class MeasureOptions:
    models: Sequence[str]
    base_image: str | None
    ca_bundle: str | None
    request: Path | None
    sweep: Sweep
    capacity_file: Path


def what_if(project: Path, environment: str, overrides: Sequence[str]) -> dict[str, Any]:
    """The stack's `mlstack:overrides` with `--override KEY=VALUE` size keys laid over them
    (values typed as `mlstack new-stack --override` types them)."""
    from mlstack.newstack import scalar

    current = read_stack_config(project, environment).values.get("mlstack:overrides")
    merged: dict[str, Any] = json.loads(current) if current else {}
    for text in overrides:
        key, equals, value = text.partition("=")
        if not equals or not key or any(not part for part in key.split(".")):
            raise CliError(f"--override {text!r}: expected KEY=VALUE, KEY a dotted size key")
        *parents, last = key.split(".")
        node = merged
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise CliError(f"--override {key}: {part} is a value, not a mapping")
            node = child
        node[last] = scalar(value)
    return merged


def stack_settings(
    project: Path, environment: str, overrides: Mapping[str, Any] | None = None
) -> StackSettings:
    config = read_stack_config(project, environment)
    raw: dict[str, Any] = {
        k.split(":", 1)[1]: v for k, v in config.values.items() if k.startswith("mlstack:")
    }
    if overrides:
        raw["overrides"] = json.dumps(overrides)
    try:
        return load_settings(raw, environment=environment, project_dir=project)
    except SettingsError as error:
        raise CliError(*str(error).splitlines()) from None


def _selected(settings: StackSettings, names: Sequence[str]) -> list[str]:
    known = [m.name for m in settings.models]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CliError(
            f"--model {', '.join(unknown)}: not a model of {settings.source}; "
            f"its models: {', '.join(known)}"
        )
    return list(names) or known


def measure_command(environment: str) -> str:
    return f"mlstack plan {environment} --measure"


def _stack_image_config(project: Path, environment: str) -> dict[str, Any]:
    key = f"{project_name(project)}:image"
    text = read_stack_config(project, environment).values.get(key)
    found = json.loads(text) if text else {}
    return dict(found) if isinstance(found, dict) else {}


def measure_stack(
    project: Path, environment: str, options: MeasureOptions, echo: Callable[[str], None]
) -> list[store.Capacity]:
    from mlstack.plan.measure import measure

    settings = stack_settings(project, environment)
    # Over the stack's own image settings (registry, push, ...), not instead of them.
    image = _stack_image_config(project, environment)
    if options.base_image:
        image["baseImage"] = options.base_image
    if options.ca_bundle:
        image["caBundle"] = options.ca_bundle
    recording = record_stack(
        project, environment, config={"mlstack:image": image} if image else None
    )
    measured = []
    for model in settings.models:
        if model.name not in _selected(settings, options.models):
            continue
        if model.artifact is None:
            raise CliError(
                f"{model.name} runs its own image ({model.image}); mlstack plan measures the "
                "images it builds: leave this model out with --model"
            )
        if options.request is not None:
            try:
                body = options.request.read_bytes()
            except OSError as error:
                raise CliError(f"--request {options.request}: {error.strerror}") from None
            described = f"POST /predict, the body of {options.request}"
        else:
            try:
                body, described = sample_request(project, project / model.artifact)
            except MeasureError as error:
                raise CliError(str(error)) from None
        limits = Limits(
            model.size_name, model.size.resources.cpu.limit, model.size.resources.memory.limit
        )
        echo(f"measuring {model.name} at {limits.cpu} CPU / {limits.memory} ({limits.size})")
        try:
            entry = measure(
                recording,
                project,
                model=model.name,
                framework=model.framework.value,
                limits=limits,
                body=body,
                request=described,
                command=measure_command(environment),
                sweep=options.sweep,
                echo=echo,
            )
        except (MeasureError, RuntimeError, TimeoutError, OSError) as error:
            raise CliError(f"measuring {model.name} failed: {error}") from None
        store.save(project / options.capacity_file, entry)
        echo(
            f"{model.name}: {entry.throughput_at(100):.0f} req/s at p99 <= 100 ms, "
            f"{entry.saturation_rps:.0f} saturated, startup {entry.startup_seconds:.1f} s; "
            f"written to {options.capacity_file}"
        )
        measured.append(entry)
    return measured


@dataclass(frozen=True)
class PlanResult:
    report: report.Report
    simulation: simulate.Simulation


def _allocatable(settings: StackSettings, options: PlanOptions) -> inputs.Resources | None:
    if settings.orchestrator.value != "kubernetes":
        return None
    # getattr: a base revision's settings (mlstack diff) may predate the key.
    declared = getattr(settings.size.cluster_autoscaling, "node_allocatable", None)
    cpu = options.node_cpu or (declared.cpu if declared else None)
    memory = options.node_memory or (declared.memory if declared else None)
    if cpu is None or memory is None:
        raise CliError(
            f"{settings.source}: the node group's allocatable resources are unknown: set "
            "clusterAutoscaling.nodeAllocatable in mlstack:overrides (e.g. "
            '{cpu: "3920m", memory: 14Gi}) or pass --node-cpu and --node-memory'
        )
    try:
        return inputs.Resources(
            cpu_millis(cpu), byte_count(memory), declared.gpu if declared else 0
        )
    except ValueError as error:
        raise CliError(f"--node-cpu {cpu} / --node-memory {memory}: {error}") from None


@dataclass(frozen=True)
class Prepared:
    settings: StackSettings
    stack: inputs.StackInput
    capacities: dict[str, store.Capacity]
    notes: tuple[str, ...]


def prepare(project: Path, environment: str, options: PlanOptions) -> Prepared:
    """Everything the simulation needs: what the stack declares and each model's capacity."""
    overrides = what_if(project, environment, options.overrides) if options.overrides else None
    settings = stack_settings(project, environment, overrides)
    config = {"mlstack:overrides": overrides} if overrides else None
    recording: Recording = record_stack(project, environment, config=config)
    try:
        stack = inputs.read(recording, settings)
    except inputs.InputError as error:
        raise CliError(f"{settings.source}: {error}") from None
    selected = _selected(settings, options.models)
    stack = inputs.StackInput(
        stack.environment,
        stack.orchestrator,
        tuple(m for m in stack.models if m.name in selected),
        stack.cluster,
    )
    capacity_path = options.capacity_file
    if not capacity_path.is_absolute():
        capacity_path = project / capacity_path
    try:
        entries = store.load(capacity_path)
    except store.CapacityError as error:
        raise CliError(str(error)) from None
    capacities: dict[str, store.Capacity] = {}
    problems: list[str] = []
    notes: list[str] = []
    now = store.now_utc()
    for model in stack.models:
        found = store.find(
            entries,
            model=model.name,
            cpu_limit=model.cpu_limit,
            memory_limit=model.memory_limit,
            inputs=store.inputs_fingerprint(recorded_context(recording, model.name, project)),
            max_age_days=options.max_age_days,
            now=now,
            measure_command=measure_command(environment),
            source=options.capacity_file,
        )
        problems.extend(found.problems)
        notes.extend(found.warnings)
        if found.capacity is not None:
            capacities[model.name] = found.capacity
    if problems:
        raise CliError(*problems)
    if options.overrides:
        notes.append(f"what-if: --override {' --override '.join(options.overrides)}")
    if stack.cluster is not None and not stack.cluster.deployed:
        notes.append(
            "the stack does not deploy cluster-autoscaler; the plan assumes one runs with the "
            "size's clusterAutoscaling settings"
        )
    return Prepared(settings, stack, capacities, tuple(notes))


def plan(project: Path, environment: str, options: PlanOptions) -> PlanResult:
    prepared = prepare(project, environment, options)
    return simulate_prepared(prepared, project, options)


def simulate_prepared(prepared: Prepared, project: Path, options: PlanOptions) -> PlanResult:
    try:
        profile = parse(options.load, project)
    except ProfileError as error:
        raise CliError(str(error)) from None
    settings, stack, capacities, notes = (
        prepared.settings,
        prepared.stack,
        prepared.capacities,
        prepared.notes,
    )
    sim = simulate.run(
        stack,
        capacities,
        profile,
        simulate.Options(
            p99_target_ms=options.p99_ms,
            allocatable=_allocatable(settings, options),
            provision_seconds=options.provision_seconds,
            image_pull_seconds=options.image_pull_seconds,
        ),
    )
    result = report.build(sim, budget=options.budget, notes=notes)
    if options.plot is not None:
        from mlstack.plan.plot import write_png

        write_png(sim, options.plot)
    return PlanResult(result, sim)
