"""SwarmModelService: one model served as a replicated Swarm service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from ..errors import ResourceError
from ..labels import model_labels
from ..server_contract import server_env
from ..settings import ServedModel, SwarmSettings
from .service import declare_service
from .specs.secrets import secret_data, secret_file, secret_name
from .specs.service import model_service_spec, published_url

TYPE = "mlstack:swarm:ModelService"
VERSIONED_LABELS = frozenset({"app.kubernetes.io/version", "mlstack.dev/size"})


@dataclass(frozen=True)
class SwarmModelServiceArgs:
    model: ServedModel
    """The model and its resolved size (replicas, resources, spread)."""
    image: pulumi.Input[str]
    """Pinned image reference to run (ModelImage.image_ref)."""
    network_id: pulumi.Input[str]
    """Overlay network the tasks join (SwarmPlatform.network_id)."""
    environment: str
    """Stack name; prefixes the service and secret names and labels them."""
    settings: SwarmSettings
    """Endpoint/publish modes, placement, proxy (`mlstack:swarm`)."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """File name -> secret value; Swarm secrets mounted under /run/secrets, never env vars."""
    auth: docker.ServiceAuthArgs | None = None
    """Registry credentials the nodes pull the image with (a private registry)."""
    platform: str = "linux/amd64"
    """The image's platform (ImageSettings.platform): tasks run only on nodes of it."""


class SwarmModelService(pulumi.ComponentResource):
    """A model's Swarm secrets and its replicated, hardened service on the overlay network.

    Outputs: `service` (the Swarm service), `service_name` (what the proxy and other services
    resolve the tasks by) and `endpoint` (the URL its host port answers on, directly or through
    the proxy). Swarm has no namespaces: the environment prefixes the names instead.
    """

    endpoint: pulumi.Output[str]
    service_name: pulumi.Output[str]
    service: docker.Service

    def __init__(
        self, name: str, args: SwarmModelServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        model = args.model
        super().__init__(TYPE, name, None, opts)
        try:  # refused before any object of this model is registered
            server_env(model)
        except ValueError as error:
            raise ResourceError(str(error), resource=self) from None
        if model.image is not None and model.healthcheck is None:
            raise ResourceError(
                f"model {model.name!r} runs its own image {model.image}: give the readiness "
                "command its container runs (ServedModel.healthcheck; served_model(healthcheck="
                "[...]), models[].healthcheck in a stack file), e.g. ['curl', '-fsS', "
                f"'http://127.0.0.1:{model.port}{model.ready_path}']",
                resource=self,
            )
        labels = model_labels(model, args.environment)
        # Only labels that never change for this model: a label change replaces the secret (its
        # name hashes them), which would roll the service for nothing.
        secret_labels = {k: v for k, v in labels.items() if k not in VERSIONED_LABELS}
        mounts: list[docker.ServiceTaskSpecContainerSpecSecretArgs] = []
        for file_name, value in sorted(args.secrets.items()):
            secret = docker.Secret(
                f"{name}-secret-{file_name}",
                name=_content_name(args.environment, model.name, file_name, value, secret_labels),
                data=_encoded(value),
                labels=[docker.SecretLabelArgs(label=k, value=v) for k, v in secret_labels.items()],
                # Its name changes with everything that replaces it, so the new secret is created
                # first, the service moves to it, and then the old one (no longer in use) goes.
                opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False),
            )
            mounts.append(secret_file(secret.id, secret.name, file_name))
        spec = model_service_spec(
            model,
            args.image,
            args.network_id,
            args.environment,
            args.settings,
            labels,
            mounts,
            platform=args.platform,
        )
        self.service = declare_service(f"{name}-service", spec, args.auth, self)
        self.service_name = self.service.name
        self.endpoint = pulumi.Output.from_input(
            published_url(args.settings.docker_host, model.published_port)
        )
        self.register_outputs({"endpoint": self.endpoint, "serviceName": self.service_name})


def _content_name(
    environment: str,
    model: str,
    file_name: str,
    value: pulumi.Input[str],
    labels: Mapping[str, str],
) -> pulumi.Output[str]:
    """The secret's name from a hash of its value and labels (a change gets a new, immutable
    secret). Not kept secret itself: it is what `docker secret ls` shows."""

    def name_of(text: str) -> str:
        return secret_name(environment, model, file_name, text, labels)

    named: pulumi.Output[str] = pulumi.Output.from_input(value).apply(name_of)
    return pulumi.Output.unsecret(named)


def _encoded(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """The value base64-encoded for docker.Secret.data, still a Pulumi secret."""
    encoded: pulumi.Output[str] = pulumi.Output.from_input(value).apply(secret_data)
    return pulumi.Output.secret(encoded)
