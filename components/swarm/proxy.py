"""SwarmProxy: the reverse proxy that publishes the models' host ports (see specs/proxy.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker

from ..image.build import declare_image
from ..image.publish import image_reference
from ..labels import stack_labels
from ..settings import ImageSettings, ServedModel, SwarmSettings
from ..settings.invariants import PROXY_NAME
from .service import declare_service
from .specs.proxy import (
    proxy_image_build,
    proxy_routes,
    proxy_service_spec,
)

TYPE = "mlstack:swarm:Proxy"


@dataclass(frozen=True)
class SwarmProxyArgs:
    models: Sequence[ServedModel]
    """The models it routes to, each on its own published port."""
    network_id: pulumi.Input[str]
    """Overlay network shared with the model services (SwarmPlatform.network_id)."""
    environment: str
    """Stack name; names the service, the build directory and the labels."""
    settings: SwarmSettings
    """Publish mode, placement and the proxy's own settings (`mlstack:swarm`)."""
    image: ImageSettings
    """Base image, registry, platform: the proxy image builds like the model images."""
    project_dir: Path
    """Where `.mlstack/build/<environment>/proxy/` is written."""
    registry_password: pulumi.Input[str] | None = None
    """A Pulumi secret; used only to push."""
    auth: docker.ServiceAuthArgs | None = None
    """Registry credentials the nodes pull the image with (a private registry)."""


class SwarmProxy(pulumi.ComponentResource):
    """The proxy image (nginx on the base image, config baked in) and its service.

    Outputs: `image_ref` and `service_name`.
    """

    image_ref: pulumi.Output[str]
    service_name: pulumi.Output[str]

    def __init__(
        self, name: str, args: SwarmProxyArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        routes = proxy_routes(args.models, args.environment)
        super().__init__(TYPE, name, None, opts)
        settings, image = args.settings, args.image
        build = proxy_image_build(routes, settings, args.environment, image)
        built = declare_image(
            f"{name}-image",
            build,
            environment=args.environment,
            project_dir=args.project_dir,
            settings=image,
            password=args.registry_password,
            parent=self,
        )
        self.image_ref = image_reference(built, pushed=image.push)
        labels = stack_labels(args.environment, PROXY_NAME)
        spec = proxy_service_spec(
            routes,
            self.image_ref,
            args.network_id,
            args.environment,
            settings,
            labels,
            platform=image.platform,
        )
        service = declare_service(f"{name}-service", spec, args.auth, self)
        self.service_name = service.name
        self.register_outputs({"imageRef": self.image_ref, "serviceName": self.service_name})
