"""MLServingStack: every model of an environment, built and served on the chosen orchestrator."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from .image import ModelImage, ModelImageArgs
from .image.publish import service_auth
from .kubernetes import (
    KubernetesModelService,
    KubernetesModelServiceArgs,
    KubernetesPlatform,
    KubernetesPlatformArgs,
)
from .settings import Orchestrator, StackSettings
from .swarm import (
    SwarmModelService,
    SwarmModelServiceArgs,
    SwarmPlatform,
    SwarmPlatformArgs,
    SwarmProxy,
    SwarmProxyArgs,
)

TYPE = "mlstack:index:MLServingStack"


class MLServingStack(pulumi.ComponentResource):
    """For each model: a ModelImage, then a model service on Kubernetes or Swarm running it.

    Outputs: `image_refs` and `endpoints`, each a mapping from model name.
    """

    images: dict[str, ModelImage]
    image_refs: pulumi.Output[dict[str, str]]
    endpoints: pulumi.Output[dict[str, str]]

    def __init__(
        self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        password = (
            pulumi.Output.secret(settings.registry_password)
            if settings.registry_password is not None
            else None
        )
        self.images = {}
        if settings.orchestrator is Orchestrator.KUBERNETES:
            endpoints = self._serve_on_kubernetes(name, settings, password)
        else:
            endpoints = self._serve_on_swarm(name, settings, password)
        self.image_refs = pulumi.Output.all(
            **{model: image.image_ref for model, image in self.images.items()}
        )
        self.endpoints = pulumi.Output.all(**endpoints)
        self.register_outputs({"imageRefs": self.image_refs, "endpoints": self.endpoints})

    def _build_images(
        self,
        name: str,
        settings: StackSettings,
        password: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """One ModelImage per model, built by the Docker provider in `opts` (or the default)."""
        for model in settings.models:
            self.images[model.name] = ModelImage(
                f"{name}-{model.name}-image",
                ModelImageArgs(
                    model=model,
                    image=settings.image,
                    environment=settings.environment,
                    project_dir=settings.project_dir,
                    registry_password=password,
                ),
                opts,
            )

    def _secrets(self, settings: StackSettings, model: str) -> Mapping[str, pulumi.Input[str]]:
        # Wrapped at the boundary: from here on every use of a value keeps it encrypted in state.
        return {
            file: pulumi.Output.secret(value)
            for file, value in settings.secrets.get(model, {}).items()
        }

    def _serve_on_kubernetes(
        self, name: str, settings: StackSettings, password: pulumi.Output[str] | None
    ) -> dict[str, pulumi.Output[str]]:
        # Pushed (settings require it for Kubernetes): any engine may build, the cluster pulls.
        self._build_images(name, settings, password, pulumi.ResourceOptions(parent=self))
        platform = KubernetesPlatform(
            f"{name}-kubernetes",
            KubernetesPlatformArgs(
                settings.kubernetes,
                settings.environment,
                settings.size,
                image=settings.image,
                registry_password=password,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        endpoints = {}
        for model in settings.models:
            service = KubernetesModelService(
                f"{name}-{model.name}",
                KubernetesModelServiceArgs(
                    model=model,
                    image=self.images[model.name].image_ref,
                    namespace=platform.namespace,
                    environment=settings.environment,
                    settings=settings.kubernetes,
                    secrets=self._secrets(settings, model.name),
                    priority_class_name=platform.priority_class_name,
                    image_pull_secrets=platform.image_pull_secrets,
                ),
                pulumi.ResourceOptions(parent=self, providers=[platform.provider]),
            )
            endpoints[model.name] = service.endpoint
        return endpoints

    def _serve_on_swarm(
        self, name: str, settings: StackSettings, password: pulumi.Output[str] | None
    ) -> dict[str, pulumi.Output[str]]:
        platform = SwarmPlatform(
            f"{name}-swarm",
            SwarmPlatformArgs(settings.swarm, settings.environment),
            pulumi.ResourceOptions(parent=self),
        )
        auth = service_auth(settings.image, password)
        in_platform = pulumi.ResourceOptions(parent=self, providers=[platform.provider])
        # Built by the engine that runs the services (swarm.dockerHost): an unpushed image
        # exists only where it was built, so a build on another engine would leave the tasks
        # without their image.
        self._build_images(name, settings, password, in_platform)
        endpoints = {}
        services = []
        for model in settings.models:
            service = SwarmModelService(
                f"{name}-{model.name}",
                SwarmModelServiceArgs(
                    model=model,
                    image=self.images[model.name].image_ref,
                    network_id=platform.network_id,
                    environment=settings.environment,
                    settings=settings.swarm,
                    secrets=self._secrets(settings, model.name),
                    auth=auth,
                    platform=settings.image.platform,
                ),
                in_platform,
            )
            endpoints[model.name] = service.endpoint
            services.append(service)
        if settings.swarm.proxy.enabled:
            SwarmProxy(
                f"{name}-proxy",
                SwarmProxyArgs(
                    models=settings.models,
                    network_id=platform.network_id,
                    environment=settings.environment,
                    settings=settings.swarm,
                    image=settings.image,
                    project_dir=settings.project_dir,
                    registry_password=password,
                    auth=auth,
                ),
                # After the models: a proxy that starts first would answer 502 until they run.
                pulumi.ResourceOptions.merge(
                    in_platform, pulumi.ResourceOptions(depends_on=services)
                ),
            )
        return endpoints
