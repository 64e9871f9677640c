"""`mlstack up` of a Swarm stack: `pulumi up` while the services it waits on are watched.

pulumi-docker waits until every service converges and, when it gives up, says only that it
timed out (and deletes a service it had just created). Meanwhile mlstack.convergence reads from
the engine why the services have not converged: it is printed whenever it changes, and ends the
error when the wait fails. A Kubernetes stack declares no Swarm service, so nothing is watched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pulumi import automation as auto

from mlstack.convergence import ConvergenceWatch, SwarmTarget, swarm_targets
from mlstack.errors import CliError
from mlstack.project import record_stack

TAIL_LINES = 30


def stack_targets(
    project: Path, environment: str, echo: Callable[[str], None]
) -> list[SwarmTarget]:
    """The Swarm services the stack declares, from its offline recording. A stack the recorder
    cannot run gets no watch; `pulumi up` reports its own error."""
    try:
        return swarm_targets(record_stack(project, environment))
    except CliError as error:
        echo(f"mlstack: not watching Swarm convergence (the stack did not record: {error})")
        return []


def up(
    stack: auto.Stack, project: Path, environment: str, *, diff: bool, echo: Callable[[str], None]
) -> None:
    """`stack.up`, watched. A failed wait raises CliError with pulumi's last lines and the
    engine's report; any other failure is pulumi's own CommandError."""
    targets = stack_targets(project, environment, echo)
    with ConvergenceWatch(targets, echo) as watch:
        try:
            stack.up(diff=diff, on_output=echo)
        except auto.CommandError as error:
            why = watch.final_report() if targets else []
            if not why:
                raise
            tail = [line for line in str(error).splitlines() if line.strip()][-TAIL_LINES:]
            raise CliError(
                f"pulumi up {environment} failed:",
                *tail,
                "why the Swarm services have not converged, from the engine:",
                *why,
            ) from None
