"""MLServingStackArgs: the serving stack's inputs as plain values, for Python programs and for
the component package (its schema is inferred from these annotations, so this module keeps
them evaluated: no `from __future__ import annotations`)."""

from typing import Any, NotRequired, Required, TypedDict

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s


class ModelArgs(TypedDict, total=False):
    """One served model: the keys of an entry of `mlstack:models` (docs/config-reference.md)."""

    name: Required[str]
    """DNS label naming the image, the service and every object of this model."""
    framework: Required[str]
    """sklearn, onnx, xgboost, lightgbm or mlflow."""
    version: Required[str]
    """Model version; starts the image tag and labels every object."""
    artifact: str
    """Model file (mlflow: directory) relative to project_dir; built into an image."""
    image: str
    """Instead of artifact: a server image pinned by digest (NAME@sha256:...), not built."""
    health_path: str
    """With image: the path its liveness and startup probes GET (default /healthz)."""
    ready_path: str
    """With image: the path its readiness probe GETs (default /readyz)."""
    healthcheck: list[str]
    """With image, on Swarm: the readiness command the container runs (e.g. curl ...)."""
    size: str
    """Size preset of this model; default: the stack's size."""
    overrides: dict[str, Any]
    """Size keys for this model only, camelCase as in a stack file."""
    env: dict[str, str]
    """Plain environment variables (never secrets)."""
    port: int
    """Container port."""
    published_port: int
    """Swarm host port; default 8080 + the model's index."""
    startup_timeout_seconds: int
    """Longest model load before the startup probe fails."""


class MLServingStackArgs(TypedDict, total=False):
    """Everything `mlstack:` holds in a stack file, plus how to reach the cluster or engine."""

    orchestrator: Required[str]
    """kubernetes or swarm."""
    size: Required[str]
    """Size preset of every model: small, medium, large or gpu."""
    models: Required[list[ModelArgs]]
    """The models served."""
    overrides: dict[str, Any]
    """Size keys for every model, camelCase as in a stack file."""
    image: dict[str, Any]
    """`mlstack:image` keys (registry, push, baseImage, platform, ...)."""
    kubernetes: dict[str, Any]
    """`mlstack:kubernetes` keys (namespace, createNamespace, priorityClass, ...)."""
    swarm: dict[str, Any]
    """`mlstack:swarm` keys (dockerHost, network, proxy, ...)."""
    secrets: dict[str, dict[str, pulumi.Input[str]]]
    """Per model: file name -> secret value, mounted under /run/secrets (kept secret)."""
    registry_password: pulumi.Input[str]
    """Registry password for the push and the pulls (kept secret)."""
    environment: str
    """Environment name in labels and Swarm names; default: the Pulumi stack's name."""
    project_dir: str
    """Folder artifacts are relative to and build contexts go to; default: the working folder."""
    kubeconfig: NotRequired[pulumi.Input[str]]
    """Kubeconfig contents or path for the stack's own Kubernetes provider."""
    kubernetes_provider: NotRequired[k8s.Provider]
    """An existing Kubernetes provider to declare everything with (instead of kubeconfig)."""
    docker_provider: NotRequired[docker.Provider]
    """An existing Docker provider (a Swarm manager) for the Swarm objects and image builds."""
