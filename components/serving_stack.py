"""MLServingStack: every model of an environment, built and served on the chosen orchestrator.

The component package (components/__main__.py) infers its schema from this class's annotations,
so they stay evaluated here: no `from __future__ import annotations`.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from .errors import ResourceError
from .image import ModelImage, ModelImageArgs
from .image.publish import service_auth
from .kubernetes import (
    KubernetesModelService,
    KubernetesModelServiceArgs,
    KubernetesPlatform,
    KubernetesPlatformArgs,
)
from .serving_args import MLServingStackArgs
from .settings import Orchestrator, ServedModel, SettingsError, StackSettings
from .settings.component_args import SecretInputs, settings_from_args
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
    """Every model of an environment: for each, an image build (or a pinned image) and a model
    service on Kubernetes or Docker Swarm running it, with the platform they share."""

    image_refs: pulumi.Output[dict[str, str]]
    """Model name -> the image reference its service runs."""
    endpoints: pulumi.Output[dict[str, str]]
    """Model name -> URL the model answers on (in-cluster on Kubernetes, the host port on Swarm)."""
    service_names: pulumi.Output[dict[str, str]]
    """Model name -> name of its Kubernetes Service or Swarm service."""

    def __init__(
        self, name: str, args: MLServingStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        try:
            settings, secrets = settings_from_args(
                args,
                environment=args.get("environment") or pulumi.get_stack(),
                project_dir=Path(args.get("project_dir") or os.getcwd()),
                source="MLServingStackArgs",
            )
        except SettingsError as error:
            raise ResourceError(str(error), resource=self) from None
        for warning in settings.warnings:  # as settings_from_pulumi logs a stack file's
            pulumi.log.warn(warning, resource=self)
        self._serve(name, settings, secrets, _Connections.of(args))

    @classmethod
    def from_settings(
        cls, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None
    ) -> "MLServingStack":
        """The stack of already validated settings (settings_from_pulumi, load_settings), with
        the providers they configure."""
        stack = cls.__new__(cls)
        pulumi.ComponentResource.__init__(stack, TYPE, name, None, opts)
        stack._serve(name, settings, SecretInputs.of(settings), _Connections())
        return stack

    @property
    def images(self) -> dict[str, ModelImage]:
        """Model name -> its ModelImage (models with their own image have none)."""
        return self._images

    def _image_ref(self, model: ServedModel) -> pulumi.Input[str]:
        if model.image is not None:
            return model.image
        return self._images[model.name].image_ref

    def _serve(
        self, name: str, settings: StackSettings, secrets: SecretInputs, via: "_Connections"
    ) -> None:
        password = (
            pulumi.Output.secret(secrets.registry_password)
            if secrets.registry_password is not None
            else None
        )
        self._images: dict[str, ModelImage] = {}
        self._secret_files = secrets.files
        served: Mapping[str, KubernetesModelService | SwarmModelService]
        if settings.orchestrator is Orchestrator.KUBERNETES:
            served = self._serve_on_kubernetes(name, settings, password, via)
        else:
            served = self._serve_on_swarm(name, settings, password, via)
        self.image_refs = pulumi.Output.all(
            **{model.name: self._image_ref(model) for model in settings.models}
        )
        self.endpoints = pulumi.Output.all(**{m: s.endpoint for m, s in served.items()})
        self.service_names = pulumi.Output.all(**{m: s.service_name for m, s in served.items()})
        self.register_outputs(
            {
                "imageRefs": self.image_refs,
                "endpoints": self.endpoints,
                "serviceNames": self.service_names,
            }
        )

    def _build_images(
        self,
        name: str,
        settings: StackSettings,
        password: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """One ModelImage per model that has an artifact, built by the Docker provider in `opts`
        (or the default); a model with its own pinned image runs that, unbuilt."""
        for model in settings.models:
            if model.image is not None:
                continue
            self._images[model.name] = ModelImage(
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

    def _secrets(self, model: str) -> Mapping[str, pulumi.Input[str]]:
        # Wrapped at the boundary: from here on every use of a value keeps it encrypted in state.
        return {
            file: pulumi.Output.secret(value)
            for file, value in self._secret_files.get(model, {}).items()
        }

    def _serve_on_kubernetes(
        self,
        name: str,
        settings: StackSettings,
        password: pulumi.Output[str] | None,
        via: "_Connections",
    ) -> dict[str, KubernetesModelService]:
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
                provider=via.kubernetes_provider,
                kubeconfig=via.kubeconfig,
            ),
            pulumi.ResourceOptions(parent=self),
        )
        served = {}
        for model in settings.models:
            service = KubernetesModelService(
                f"{name}-{model.name}",
                KubernetesModelServiceArgs(
                    model=model,
                    image=self._image_ref(model),
                    namespace=platform.namespace,
                    environment=settings.environment,
                    settings=settings.kubernetes,
                    secrets=self._secrets(model.name),
                    priority_class_name=platform.priority_class_name,
                    image_pull_secrets=platform.image_pull_secrets,
                ),
                pulumi.ResourceOptions(parent=self, providers=[platform.provider]),
            )
            served[model.name] = service
        return served

    def _serve_on_swarm(
        self,
        name: str,
        settings: StackSettings,
        password: pulumi.Output[str] | None,
        via: "_Connections",
    ) -> dict[str, SwarmModelService]:
        platform = SwarmPlatform(
            f"{name}-swarm",
            SwarmPlatformArgs(settings.swarm, settings.environment, provider=via.docker_provider),
            pulumi.ResourceOptions(parent=self),
        )
        auth = service_auth(settings.image, password)
        in_platform = pulumi.ResourceOptions(parent=self, providers=[platform.provider])
        # Built by the engine that runs the services (swarm.dockerHost): an unpushed image
        # exists only where it was built, so a build on another engine would leave the tasks
        # without their image.
        self._build_images(name, settings, password, in_platform)
        served = {}
        for model in settings.models:
            service = SwarmModelService(
                f"{name}-{model.name}",
                SwarmModelServiceArgs(
                    model=model,
                    image=self._image_ref(model),
                    network_id=platform.network_id,
                    environment=settings.environment,
                    settings=settings.swarm,
                    secrets=self._secrets(model.name),
                    auth=auth,
                    platform=settings.image.platform,
                ),
                in_platform,
            )
            served[model.name] = service
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
                    in_platform, pulumi.ResourceOptions(depends_on=list(served.values()))
                ),
            )
        return served


@dataclass(frozen=True)
class _Connections:
    """How the caller reaches the cluster or engine: its providers, or a kubeconfig."""

    kubernetes_provider: k8s.Provider | None = None
    kubeconfig: pulumi.Input[str] | None = None
    docker_provider: docker.Provider | None = None

    @classmethod
    def of(cls, args: MLServingStackArgs) -> "_Connections":
        return cls(
            args.get("kubernetes_provider"), args.get("kubeconfig"), args.get("docker_provider")
        )
