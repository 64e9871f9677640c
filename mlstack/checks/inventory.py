"""The recording as the objects rules reason about: Kubernetes objects with their pod templates,
and Swarm services and networks. Values are plain data (secrets masked, integers as integers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlstack.offline import RecordedResource, Recording
from mlstack.render import kubernetes_manifest, plain

COMPONENT_LABEL = "app.kubernetes.io/component"
SERVING_COMPONENT = "model-server"
SWARM_SERVICE = "docker:index/service:Service"
SWARM_NETWORK = "docker:index/network:Network"


def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """value[path[0]][path[1]]..., or `default` when any step is missing."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return default
        elif not isinstance(value, dict) or step not in value:
            return default
        value = value[step]
    return value


@dataclass(frozen=True)
class KubeObject:
    resource: RecordedResource
    manifest: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", ""))

    @property
    def name(self) -> str:
        return str(get(self.manifest, "metadata", "name", default=""))

    @property
    def namespace(self) -> str | None:
        namespace = get(self.manifest, "metadata", "namespace")
        return str(namespace) if namespace else None

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where or '(unnamed: ' + self.resource.name + ')'}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.manifest.get("spec")
        return spec if isinstance(spec, dict) else {}


@dataclass(frozen=True)
class PodTemplate:
    owner: KubeObject
    metadata: dict[str, Any]
    spec: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        labels = self.metadata.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def annotations(self) -> dict[str, str]:
        annotations = self.metadata.get("annotations")
        return annotations if isinstance(annotations, dict) else {}

    @property
    def serving(self) -> bool:
        return self.labels.get(COMPONENT_LABEL) == SERVING_COMPONENT

    def containers(self) -> list[dict[str, Any]]:
        found = []
        for key in ("initContainers", "containers"):
            items = self.spec.get(key)
            found += [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []
        return found


@dataclass(frozen=True)
class SwarmObject:
    resource: RecordedResource
    inputs: dict[str, Any]

    @property
    def name(self) -> str:
        name = self.inputs.get("name")
        return name if isinstance(name, str) else self.resource.name

    @property
    def label(self) -> str:
        kind = "service" if self.resource.type == SWARM_SERVICE else "network"
        return f"Swarm {kind} {self.name}"

    @property
    def serving(self) -> bool:
        labels = self.inputs.get("labels")
        pairs = labels if isinstance(labels, list) else []
        return any(
            get(pair, "label") == COMPONENT_LABEL and get(pair, "value") == SERVING_COMPONENT
            for pair in pairs
        )


@dataclass(frozen=True)
class Inventory:
    environment: str
    development: bool
    objects: list[KubeObject] = field(default_factory=list)
    templates: list[PodTemplate] = field(default_factory=list)
    services: list[SwarmObject] = field(default_factory=list)
    networks: list[SwarmObject] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[KubeObject]:
        return [obj for obj in self.objects if obj.kind in kinds]

    def find(self, kind: str, namespace: str | None, name: str) -> KubeObject | None:
        for obj in self.objects:
            if obj.kind == kind and obj.name == name and obj.namespace == namespace:
                return obj
        return None

    def template_of(self, workload: KubeObject) -> PodTemplate | None:
        return next((t for t in self.templates if t.owner is workload), None)


def build(recording: Recording, *, development: bool) -> Inventory:
    inventory = Inventory(recording.stack, development)
    for resource in recording.resources:
        if not resource.custom or resource.is_provider:
            continue
        inputs = plain(resource.inputs)
        if resource.type == SWARM_SERVICE:
            inventory.services.append(SwarmObject(resource, inputs))
        elif resource.type == SWARM_NETWORK:
            inventory.networks.append(SwarmObject(resource, inputs))
        elif (manifest := kubernetes_manifest(resource, inputs)) is not None:
            obj = KubeObject(resource, manifest)
            inventory.objects.append(obj)
            template = _pod_template(obj)
            if template is not None:
                inventory.templates.append(template)
    return inventory


def _pod_template(obj: KubeObject) -> PodTemplate | None:
    if obj.kind == "Pod":
        template: Any = {"metadata": obj.manifest.get("metadata"), "spec": obj.spec}
    elif obj.kind == "CronJob":
        template = get(obj.spec, "jobTemplate", "spec", "template")
    elif obj.kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        template = obj.spec.get("template")
    else:
        return None
    if not isinstance(template, dict):
        return None
    metadata, spec = template.get("metadata"), template.get("spec")
    return PodTemplate(
        obj, metadata if isinstance(metadata, dict) else {}, spec if isinstance(spec, dict) else {}
    )
