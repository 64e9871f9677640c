"""ResourceError: a component refused its arguments.

Node.js has `pulumi.ResourceError(message, resource)`; the Python SDK (3.272) has no such class,
so this is its counterpart: a `pulumi.RunError` (`pulumi up` prints the message without a Python
traceback) that names and keeps the component it concerns.
"""

from __future__ import annotations

import pulumi


class ResourceError(pulumi.RunError):
    def __init__(self, message: str, resource: pulumi.Resource | None = None) -> None:
        self.resource = resource
        # Type and name as given: the URN is an Output, unresolved while the program runs.
        where = (
            "" if resource is None
            else f"{resource.pulumi_resource_type} {resource.pulumi_resource_name}: "
        )  # fmt: skip
        super().__init__(where + message)
