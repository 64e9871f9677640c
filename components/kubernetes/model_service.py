"""KubernetesModelService: one model served on Kubernetes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from ..errors import ResourceError
from ..labels import model_labels, selector_labels
from ..settings import KubernetesSettings, ServedModel
from .specs.autoscaling import (
    VPA_API_VERSION,
    VPA_KIND,
    check_autoscalers,
    hpa_spec,
    vpa_spec,
)
from .specs.disruption import pdb_spec
from .specs.network import serving_ingress_policy, serving_service_spec
from .specs.workload import (
    PodReferences,
    container_env,
    model_deployment_spec,
    rollout_timeout,
)

TYPE = "mlstack:kubernetes:ModelService"


@dataclass(frozen=True)
class KubernetesModelServiceArgs:
    model: ServedModel
    """The model and its resolved size (replicas, resources, HPA, VPA)."""
    image: pulumi.Input[str]
    """Pinned image reference to run (ModelImage.image_ref)."""
    namespace: pulumi.Input[str]
    """Namespace of every object (KubernetesPlatform.namespace)."""
    environment: str
    """Stack name; part of the labels that select the pods."""
    settings: KubernetesSettings
    """Cluster settings (GPU scheduling)."""
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """File name -> secret value; mounted read-only under /run/secrets, never env vars."""
    priority_class_name: pulumi.Input[str] | None = None
    """PriorityClass of the pods (KubernetesPlatform.priority_class_name); None: none."""
    image_pull_secrets: Sequence[pulumi.Input[str]] = ()
    """Secrets the ServiceAccount pulls the image with (KubernetesPlatform.image_pull_secret)."""


class KubernetesModelService(pulumi.ComponentResource):
    """A model's ServiceAccount, Secret, Deployment, Service, HPA, VPA, PodDisruptionBudget and
    NetworkPolicy (ingress on the serving port only).

    Outputs: `service` (the Kubernetes Service), `service_name`, `namespace`, `endpoint`
    (in-cluster URL of the Service) and `deployment_name`. Objects go to the provider the
    caller's `opts` give (`providers=[...]`), or Pulumi's default one.
    """

    service: k8s.core.v1.Service
    service_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    deployment_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: KubernetesModelServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        model = args.model
        super().__init__(TYPE, name, None, opts)
        # Refused before any object of this model is registered.
        try:
            check_autoscalers(model.size)
        except ValueError as error:
            raise ResourceError(f"model {model.name!r}: {error}", resource=self) from None
        try:
            container_env(model)
        except ValueError as error:
            raise ResourceError(str(error), resource=self) from None

        labels = model_labels(model, args.environment)
        selector = selector_labels(model, args.environment)
        child = pulumi.ResourceOptions(parent=self)

        def metadata(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels
            )

        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=metadata(model.name),
            automount_service_account_token=False,
            image_pull_secrets=[
                k8s.core.v1.LocalObjectReferenceArgs(name=secret)
                for secret in args.image_pull_secrets
            ]
            or None,
            opts=child,
        )
        secret_name = None
        if args.secrets:
            secret = k8s.core.v1.Secret(
                f"{name}-secrets",
                metadata=metadata(f"{model.name}-secrets"),
                type="Opaque",
                string_data={
                    file: pulumi.Output.secret(value) for file, value in args.secrets.items()
                },
                opts=child,
            )
            secret_name = secret.metadata.name

        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata(model.name),
            spec=model_deployment_spec(
                model,
                args.image,
                labels,
                selector,
                args.settings,
                PodReferences(
                    service_account=service_account.metadata.name,
                    priority_class=args.priority_class_name,
                    secret=secret_name,
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=rollout_timeout(model.startup_timeout_seconds)
            ),
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=metadata(model.name),
            spec=serving_service_spec(selector),
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=metadata(model.name),
            spec=hpa_spec(model.size, deployment.metadata.name),
            opts=child,
        )
        vertical = vpa_spec(model.size, deployment.metadata.name)
        if vertical is not None:
            k8s.apiextensions.CustomResource(
                f"{name}-vpa",
                api_version=VPA_API_VERSION,
                kind=VPA_KIND,
                metadata=metadata(model.name),
                spec=vertical,
                opts=child,
            )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(model.name),
            spec=pdb_spec(model.size, selector),
            opts=child,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=metadata(model.name),
            spec=serving_ingress_policy(selector),
            opts=child,
        )

        self.deployment_name = deployment.metadata.name
        self.service = service
        self.service_name = service.metadata.name
        self.namespace = service.metadata.namespace
        self.endpoint = pulumi.Output.concat(
            "http://", service.metadata.name, ".", args.namespace, ".svc.cluster.local"
        )
        self.register_outputs(
            {
                "serviceName": self.service_name,
                "namespace": self.namespace,
                "endpoint": self.endpoint,
                "deploymentName": self.deployment_name,
            }
        )
