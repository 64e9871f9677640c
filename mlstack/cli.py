"""The `mlstack` command: generate stack files, render, diff and validate offline, deploy.

Exit codes: 0 success; 1 a finding (validate found violations, diff --exit-code found a
difference, reference --check found a generated block of the docs out of date); 2 an error
(unknown stack, invalid config, existing file, bad git ref, missing Pulumi CLI, ...), reported
on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Literal

import typer

from mlstack import deploy, diffreport, revision
from mlstack import diff as diffing
from mlstack import render as rendering
from mlstack.clihelp import ReadableGroup
from mlstack.errors import CliError
from mlstack.newstack import NewStackOptions, new_stack
from mlstack.project import is_development, open_project, record_stack, require_stack
from mlstack.stackfile import stack_path

FINDINGS = 1
ERROR = 2

# Choices of new-stack options, as the settings model spells them (a test keeps them equal).
OrchestratorName = Literal["kubernetes", "swarm"]
EndpointModeName = Literal["vip", "dnsrr"]
PublishModeName = Literal["ingress", "host"]
CloudProviderName = Literal["aws", "gce", "azure", "clusterapi", "oci", "hetzner"]

app = typer.Typer(
    cls=ReadableGroup,
    rich_markup_mode=None,
    name="mlstack",
    help="Autoscaled ML model serving on Kubernetes or Docker Swarm, with Pulumi.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Environment = Annotated[str, typer.Argument(help="The stack: Pulumi.<ENV>.yaml.", metavar="ENV")]
ProjectDir = Annotated[
    Path,
    typer.Option(
        "--project",
        envvar="MLSTACK_PROJECT",
        help="The Pulumi project directory (holds Pulumi.yaml).",
        file_okay=False,
        metavar="DIR",
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
InstallPulumi = Annotated[
    bool,
    typer.Option(
        "--install-pulumi",
        help="Download the Pulumi CLI from get.pulumi.com when it is missing.",
    ),
]


class Format(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"


def _print_version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"mlstack {package_version('mlstack')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("mlstack (not installed: no version recorded)")
        raise typer.Exit()


@app.callback(
    epilog="Start with: mlstack new-stack --help. Offline (no Pulumi CLI, no cluster): "
    "new-stack, validate, render, diff, reference. Deploying: up, preview, destroy."
)
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Generate stack files, render and diff them offline, validate them, deploy them."""


@contextmanager
def reported() -> Iterator[None]:
    """CliError -> its lines on stderr and exit code 2, without a traceback."""
    try:
        yield
    except CliError as error:
        for line in error.lines:
            typer.echo(line, err=True)
        raise typer.Exit(code=ERROR) from None


@app.command(
    "new-stack",
    short_help="Write a stack file, validated before it is written.",
    epilog="Example: mlstack new-stack qa --orchestrator kubernetes --size medium "
    "--registry ghcr.io/acme/ml --push "
    "--model name=iris,framework=sklearn,artifact=examples/iris/iris.joblib,version=1.0.0",
)
def new_stack_command(
    environment: Environment,
    orchestrator: Annotated[
        OrchestratorName,
        typer.Option(help="Where the models are served.", metavar="kubernetes|swarm"),
    ],
    size: Annotated[
        str,
        typer.Option(
            help="Size preset in stacks/presets/: small, medium, large or gpu.", metavar="SIZE"
        ),
    ],
    model: Annotated[
        list[str],
        typer.Option(
            help="A model, as KEY=VALUE pairs joined by commas (no spaces): name, framework "
            "(sklearn, onnx, xgboost, lightgbm or mlflow), artifact (a path; for mlflow the "
            "model directory) and version; optionally size, port, publishedPort, env.NAME, "
            "overrides.KEY or any other key of a model. Repeat the option for more models.",
            metavar="SPEC",
        ),
    ],
    description: Annotated[
        list[str] | None,
        typer.Option(
            help="A line of the comment at the top of the file. Repeatable.", metavar="TEXT"
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry images are named under, e.g. ghcr.io/acme/ml.", metavar="REGISTRY"
        ),
    ] = None,
    push: Annotated[bool, typer.Option(help="Push the images to --registry.")] = False,
    namespace: Annotated[
        str | None, typer.Option(help="Kubernetes namespace.", metavar="NAMESPACE")
    ] = None,
    context: Annotated[
        str | None, typer.Option(help="Kubernetes kubeconfig context.", metavar="CONTEXT")
    ] = None,
    cluster_autoscaler: Annotated[
        str | None,
        typer.Option(
            help="Deploy the Kubernetes cluster-autoscaler for this cloud node group.",
            metavar="NODE_GROUP",
        ),
    ] = None,
    cloud_provider: Annotated[
        CloudProviderName | None,
        typer.Option(
            help="cluster-autoscaler --cloud-provider: aws (default), gce, azure, clusterapi, "
            "oci or hetzner.",
            metavar="PROVIDER",
        ),
    ] = None,
    docker_host: Annotated[
        str | None,
        typer.Option(help="Swarm manager's Docker endpoint, e.g. ssh://admin@m1.", metavar="URL"),
    ] = None,
    endpoint_mode: Annotated[
        EndpointModeName | None,
        typer.Option(
            help="Swarm endpoint mode (default vip; dnsrr for engines without IPVS).",
            metavar="vip|dnsrr",
        ),
    ] = None,
    publish_mode: Annotated[
        PublishModeName | None,
        typer.Option(
            help="Swarm publish mode (default ingress; host for engines without IPVS).",
            metavar="ingress|host",
        ),
    ] = None,
    proxy: Annotated[
        bool | None,
        typer.Option("--proxy/--no-proxy", help="Swarm: a reverse proxy in front of the models."),
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            help="A size key for every model, e.g. replicas.max=10. Repeatable.",
            metavar="KEY=VALUE",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any mlstack: key, dotted, e.g. image.push=true. Repeatable.",
            metavar="KEY=VALUE",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Replace an existing stack file; keys or comments it would lose are listed "
            "and need --yes (or a yes at the prompt)."
        ),
    ] = False,
    yes: Yes = False,
    project: ProjectDir = Path("."),
) -> None:
    """Write Pulumi.ENV.yaml from stacks/templates/, validated before it is written."""
    with reported():
        directory = open_project(project)
        options = NewStackOptions(
            environment=environment,
            orchestrator=orchestrator,
            size=size,
            models=model,
            description=description or [],
            registry=registry,
            push=push,
            namespace=namespace,
            context=context,
            cluster_autoscaler=cluster_autoscaler,
            cloud_provider=cloud_provider,
            docker_host=docker_host,
            endpoint_mode=endpoint_mode,
            publish_mode=publish_mode,
            proxy=proxy,
            overrides=override or [],
            settings=set_ or [],
        )
        written = new_stack(options, directory, force=force, confirm=_confirm_losses(yes))
    typer.echo(f"wrote {written.path}")
    for warning in written.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for command in written.secrets_to_set:
        typer.echo(f"set its secret: {command}")
    typer.echo(f"check it offline with: mlstack validate {environment}")


def _confirm_losses(yes: bool) -> Callable[[list[str]], bool]:
    """new-stack --force: what the old file held and the new one will not, shown; replaced only
    with --yes, or a yes at a terminal."""

    def confirm(edits: list[str]) -> bool:
        if not yes and not sys.stdin.isatty():
            return False
        typer.echo("--force replaces the stack file, losing:", err=True)
        for edit in edits:
            typer.echo(f"  {edit}", err=True)
        return yes or typer.confirm("Replace it?", default=False)

    return confirm


@app.command(
    short_help="Write what a stack declares as YAML files, offline.",
    epilog="Example: mlstack render staging --out /tmp/staging",
)
def render(
    environment: Environment,
    out: Annotated[
        Path,
        typer.Option(
            help="Directory to write (replaced if it holds an earlier render).", metavar="DIR"
        ),
    ],
    project: ProjectDir = Path("."),
) -> None:
    """Run the program offline and write one YAML document per resource under OUT."""
    with reported():
        directory = open_project(project)
        result = rendering.render(record_stack(directory, environment), directory)
        rendering.write(result, out)
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    counts: dict[str, int] = {}
    for path in result.files:
        top = path.split("/", 1)[0] if "/" in path else "."
        counts[top] = counts.get(top, 0) + 1
    parts = ", ".join(f"{top}: {count}" for top, count in sorted(counts.items()))
    typer.echo(f"rendered {len(result.files)} files to {out} ({parts})")


@app.command(
    short_help="What a change does to a stack, against a git revision.",
    epilog="Example: mlstack diff staging --base main --format markdown",
)
def diff(
    environment: Environment,
    base: Annotated[str, typer.Option(help="The git revision to compare with, e.g. main.")],
    output_format: Annotated[
        Format, typer.Option("--format", help="text, or markdown for a PR comment.")
    ] = Format.TEXT,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with 1 when the stack differs.")
    ] = False,
    plan_load: Annotated[
        str | None,
        typer.Option(
            help="Markdown: when capacity inputs change, plan both revisions under this load "
            "(mlstack plan --load; default: a step to what the replica maximum serves)."
        ),
    ] = None,
    node_cpu: Annotated[
        str | None, typer.Option(help="Markdown plan: allocatable CPU of one node.")
    ] = None,
    node_memory: Annotated[
        str | None, typer.Option(help="Markdown plan: allocatable memory of one node.")
    ] = None,
    project: ProjectDir = Path("."),
) -> None:
    """Render the base revision and the working tree; report what `pulumi up` would do:
    resources added, removed, updated or replaced (and why), and what rolls out."""
    with reported():
        directory = open_project(project)
        base_revision = revision.resolve(directory, base)
        before = revision.render_revision(directory, environment, base_revision)
        head = None  # the change removes the stack
        if stack_path(directory, environment).is_file():
            head = rendering.render(record_stack(directory, environment), directory)
        elif before is None:
            require_stack(directory, environment)  # raises: unknown in both revisions
        result = diffing.compare(environment, base_revision.label, before, head)
        plan_section = ""
        if output_format is Format.MARKDOWN and head is not None:
            from mlstack.plan import pr
            from mlstack.plan.command import PlanOptions

            plan_section = pr.markdown_section(
                directory,
                environment,
                base_revision,
                result,
                PlanOptions(
                    load=plan_load or "", p99_ms=100.0, models=[], node_cpu=node_cpu,
                    node_memory=node_memory, provision_seconds=210.0, image_pull_seconds=0.0,
                    max_age_days=90.0, budget=0.01, plot=None,
                    capacity_file=Path("stacks/capacity.yaml"),
                ),
            )  # fmt: skip
    formatter = (
        diffreport.format_markdown if output_format is Format.MARKDOWN else diffreport.format_text
    )
    typer.echo(formatter(result) + plan_section, nl=False)
    if exit_code and result.has_changes:
        raise typer.Exit(code=FINDINGS)


@app.command(
    short_help="Schema checks and checklist rules, offline.",
    epilog="Example: mlstack validate staging",
)
def validate(environment: Environment, project: ProjectDir = Path(".")) -> None:
    """Kubernetes schema checks and the checklist rules; exit 1 on any violation."""
    from mlstack.checks.kubernetes_rules import DEVELOPMENT_NAMES
    from mlstack.checks.validate import checked
    from mlstack.checks.validate import validate as run_checks

    with reported():
        directory = open_project(project)
        recording = record_stack(directory, environment)
        findings = run_checks(recording, development=is_development(environment))
    for warning in recording.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for finding in findings:
        typer.echo(str(finding))
        if finding.fix:
            typer.echo(f"  fix: {finding.fix}")
    scope = checked(recording)
    if is_development(environment):
        scope += (
            f"; {environment} is a development stack ({DEVELOPMENT_NAMES}): one replica is allowed"
        )
    if findings:
        noun = "violation" if len(findings) == 1 else "violations"
        typer.echo(f"{environment}: {len(findings)} {noun} ({scope})", err=True)
        raise typer.Exit(code=FINDINGS)
    typer.echo(f"{environment}: no violations ({scope})")


@app.command(
    "plan",
    short_help="How the stack scales under a load profile (or --measure capacity).",
    epilog="Example: mlstack plan staging --load step:from=200,to=2400,at=2m,duration=20m "
    "--plot plan.png",
)
def plan_command(
    environment: Environment,
    load: Annotated[
        str | None,
        typer.Option(
            help="Offered load: step:from=..,to=..,at=..,duration=.. | ramp:from=..,to=..,"
            "over=..,hold=.. | spike:base=..,peak=..,at=..,for=.. | diurnal:min=..,max=..,"
            "period=.. | csv:FILE (req/s; durations 90s, 10m, 2h).",
            metavar="PROFILE",
        ),
    ] = None,
    p99_ms: Annotated[float, typer.Option("--p99-ms", help="The p99 latency target.")] = 100.0,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Plan (or measure) only this model. Repeatable.", metavar="NAME"),
    ] = None,
    node_cpu: Annotated[
        str | None,
        typer.Option(help="Allocatable CPU of one node (default: the size's).", metavar="CPU"),
    ] = None,
    node_memory: Annotated[
        str | None,
        typer.Option(
            help="Allocatable memory of one node (default: the size's).", metavar="QUANTITY"
        ),
    ] = None,
    node_provision_seconds: Annotated[
        float,
        typer.Option(help="Scale-up request to a schedulable node (default: GCE's typical)."),
    ] = 210.0,
    image_pull_seconds: Annotated[
        float, typer.Option(help="Image pull on a node that has not pulled it yet.")
    ] = 0.0,
    max_age_days: Annotated[
        float, typer.Option(help="Capacity figures older than this are reported stale.")
    ] = 90.0,
    budget: Annotated[
        float, typer.Option(help="Share of requests that may fall short of the target, in %.")
    ] = 1.0,
    plot: Annotated[
        Path | None, typer.Option(help="Write the plan as a PNG here.", metavar="PNG")
    ] = None,
    override: Annotated[
        list[str] | None,
        typer.Option(
            help="What if: a size key for every model, over the stack's (e.g. "
            "autoscaling.cpuUtilization=40). Repeatable.",
            metavar="KEY=VALUE",
        ),
    ] = None,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure",
            help="Measure each model's per-replica capacity from its image (needs Docker) "
            "and write it to the capacity file, instead of planning.",
        ),
    ] = False,
    base_image: Annotated[
        str | None, typer.Option(help="--measure: build on this base image.")
    ] = None,
    ca_bundle: Annotated[
        str | None, typer.Option(help="--measure: extra CA bundle for pip during the build.")
    ] = None,
    request: Annotated[
        Path | None, typer.Option(help="--measure: a POST /predict body (JSON) to send.")
    ] = None,
    step_seconds: Annotated[float, typer.Option(help="--measure: seconds per rate.")] = 5.0,
    start_rps: Annotated[float, typer.Option(help="--measure: the first rate.")] = 25.0,
    capacity_file: Annotated[
        Path, typer.Option(help="Capacity figures, relative to the project.")
    ] = Path("stacks/capacity.yaml"),
    project: ProjectDir = Path("."),
) -> None:
    """How the stack scales under load: replicas, nodes, p99 and unserved load over time."""
    from mlstack.plan import command as planning
    from mlstack.plan.measure import Sweep

    with reported():
        directory = open_project(project)
        require_stack(directory, environment)
        if measure:
            planning.measure_stack(
                directory,
                environment,
                planning.MeasureOptions(
                    models=model or [],
                    base_image=base_image,
                    ca_bundle=ca_bundle,
                    request=request,
                    sweep=Sweep(start_rps=start_rps, step_seconds=step_seconds),
                    capacity_file=capacity_file,
                ),
                echo=typer.echo,
            )
            return
        if load is None:
            raise CliError(
                "mlstack plan needs --load (or --measure); e.g. --load "
                "step:from=200,to=2400,at=2m,duration=20m"
            )
        result = planning.plan(
            directory,
            environment,
            planning.PlanOptions(
                load=load,
                p99_ms=p99_ms,
                models=model or [],
                node_cpu=node_cpu,
                node_memory=node_memory,
                provision_seconds=node_provision_seconds,
                image_pull_seconds=image_pull_seconds,
                max_age_days=max_age_days,
                budget=budget / 100,
                plot=plot,
                capacity_file=capacity_file,
                overrides=override or [],
            ),
        )
    typer.echo(result.report.text(), nl=False)
    if plot is not None:
        typer.echo(f"plot: {plot}")
    if not result.report.holds:
        raise typer.Exit(code=FINDINGS)


@app.command(
    short_help="Print the config reference; check or update the generated docs.",
    epilog="Example: mlstack reference --check",
)
def reference(
    write: Annotated[
        bool,
        typer.Option(
            help="Update the generated blocks (docs/config-reference.md, README.md's sizes)."
        ),
    ] = False,
    check: Annotated[
        bool, typer.Option(help="Exit 1 when a generated block is out of date.")
    ] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Print the config reference generated from the settings model; with --check or --write,
    the generated blocks of the docs: docs/config-reference.md and the sizes table in README.md."""
    with reported():
        directory = open_project(project)
        from mlstack.generated import BLOCKS
        from mlstack.reference import reference_markdown

        if not (write or check):
            typer.echo(reference_markdown())
            return
        stale = False
        for block in BLOCKS:
            path = directory / block.path
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
            current = block.current(text)
            if current is None:
                raise CliError(f"{path}: no generated block ({block.begin} ... {block.end})")
            if current == block.render():
                typer.echo(f"{path}: {'already current' if write else 'current'}")
            elif write:
                path.write_text(block.replaced(text), encoding="utf-8")
                typer.echo(f"{path}: updated")
            else:
                typer.echo(f"{path}: generated block is out of date; run with --write")
                stale = True
        if stale:
            raise typer.Exit(code=FINDINGS)


def _deploy(
    operation: deploy.Operation,
    environment: str,
    project: Path,
    *,
    yes: bool,
    install: bool,
    show_diff: bool,
    check_engine: bool = True,
) -> None:
    with reported():
        deploy.run(
            operation,
            open_project(project),
            environment,
            yes=yes,
            install=install,
            diff=show_diff,
            echo=lambda text: typer.echo(text, nl=not text.endswith("\n")),
            confirm=lambda question: typer.confirm(question, default=False),
            check_engine=check_engine,
        )


@app.command(epilog="Example: mlstack up dev --yes")
def up(
    environment: Environment,
    yes: Yes = False,
    install_pulumi: InstallPulumi = False,
    show_diff: Annotated[bool, typer.Option("--diff", help="Show property diffs.")] = False,
    skip_engine_check: Annotated[
        bool,
        typer.Option(
            "--skip-engine-check",
            help="Swarm: deploy even where the engine looks unable to route the stack's "
            "published ports (no IPVS for vip/ingress).",
        ),
    ] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Deploy the stack (pulumi up through the Automation API)."""
    _deploy(
        "up",
        environment,
        project,
        yes=yes,
        install=install_pulumi,
        show_diff=show_diff,
        check_engine=not skip_engine_check,
    )


@app.command(
    short_help="Show what `up` would change.",
    epilog="Example: mlstack preview staging --diff",
)
def preview(
    environment: Environment,
    install_pulumi: InstallPulumi = False,
    show_diff: Annotated[bool, typer.Option("--diff", help="Show property diffs.")] = False,
    project: ProjectDir = Path("."),
) -> None:
    """Show what `up` would change (needs the cluster or engine to be reachable)."""
    _deploy("preview", environment, project, yes=True, install=install_pulumi, show_diff=show_diff)


@app.command(epilog="Example: mlstack destroy dev")
def destroy(
    environment: Environment,
    yes: Yes = False,
    install_pulumi: InstallPulumi = False,
    project: ProjectDir = Path("."),
) -> None:
    """Delete every resource of the stack."""
    _deploy("destroy", environment, project, yes=yes, install=install_pulumi, show_diff=False)


if __name__ == "__main__":
    app()
