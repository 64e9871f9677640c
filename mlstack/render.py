"""A recording -> one file per resource, laid out so a render can be applied, reviewed and diffed.

    kubernetes/NN-<kind>.<namespace>.<name>.yaml   complete manifests, `kubectl apply -f` order
    swarm/<kind>.<name>.yaml                        Swarm networks, secrets, configs and services
    image/<model>/build.yaml, image/<model>/Dockerfile
    other/<type>.<name>.yaml                        any other custom resource
    providers.yaml, outputs.yaml                    explicit providers and the stack's exports

Everything is deterministic: keys sorted, list order kept, paths inside the project written
relative to it (a checkout elsewhere renders the same bytes), secrets masked. Component resources
are not written: they declare nothing themselves.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from mlstack.errors import CliError
from mlstack.offline import RecordedResource, Recording, Secret, mock_id, reveal
from mlstack.propertypath import join
from mlstack.snapshot import Snapshot, SnapshotResource, secret_digest

MASK = "[secret]"
MARKER = ".mlstack-render"
IMAGE_TYPE = "docker:index/image:Image"
SWARM_TYPES = {
    "docker:index/network:Network": "network",
    "docker:index/secret:Secret": "secret",
    "docker:index/serviceConfig:ServiceConfig": "config",
    "docker:index/service:Service": "service",
}

# `kubectl apply -f DIR` reads files in name order: objects others depend on come first (the
# namespace, the PriorityClass pods name, ...). Gaps leave room for kinds added later without
# renaming every file.
APPLY_RANK = {
    "Namespace": 0, "PriorityClass": 5, "CustomResourceDefinition": 7,
    "NetworkPolicy": 10, "ResourceQuota": 11, "LimitRange": 12,
    "ServiceAccount": 20, "Secret": 21, "ConfigMap": 22, "StorageClass": 23,
    "PersistentVolume": 24, "PersistentVolumeClaim": 25,
    "ClusterRole": 30, "ClusterRoleBinding": 31, "Role": 32, "RoleBinding": 33,
    "Service": 40, "DaemonSet": 50, "Deployment": 51, "StatefulSet": 52, "Job": 53, "CronJob": 54,
    "PodDisruptionBudget": 60, "HorizontalPodAutoscaler": 61, "Ingress": 70,
}  # fmt: skip
OTHER_RANK = 80  # custom resources (VerticalPodAutoscaler, ...) need their CRD first

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Rendering:
    files: dict[str, str]  # relative path ('/'-separated) -> content, sorted by path
    snapshot: Snapshot  # the same resources as data, for `diff`
    warnings: list[str] = field(default_factory=list)


def render(recording: Recording, project_dir: Path) -> Rendering:
    project_dir = project_dir.resolve()
    files: dict[str, str] = {}
    warnings: list[str] = []
    providers: dict[str, Any] = {}
    images = [r for r in recording.resources if r.type == IMAGE_TYPE]
    image_dirs = _image_directories(images)

    def add(path: str, text: str, resource: RecordedResource | None) -> None:
        if path in files:
            where = f" ({resource.type} {resource.name})" if resource else ""
            raise CliError(f"render: two resources map to {path}{where}; names must be unique")
        files[path] = text

    def document(resource: RecordedResource, body: Any) -> str:
        header = f"# resource: {resource.type} {resource.name}\n# urn: {urns[resource.urn]}\n"
        return header + _dump(body)

    urns = {resource.urn: urn(recording, resource) for resource in recording.resources}
    placed: dict[str, tuple[str, dict[str, str]]] = {}  # mock URN -> its file, further files
    for resource in recording.resources:
        if not resource.custom:
            continue  # component resources only group their children
        inputs = plain(resource.inputs, project_dir)
        if resource.is_provider:
            providers[resource.name] = {"type": resource.type, "inputs": inputs}
            placed[resource.urn] = ("providers.yaml", {})
        elif resource.type == IMAGE_TYPE:
            directory = image_dirs[resource.urn]
            add(f"{directory}/build.yaml", document(resource, inputs), resource)
            placed[resource.urn] = (f"{directory}/build.yaml", {})
            dockerfile = _dockerfile_path(resource.inputs, project_dir)
            if dockerfile is not None and dockerfile.is_file():
                text = dockerfile.read_text(encoding="utf-8")
                add(f"{directory}/Dockerfile", text, None)
                placed[resource.urn][1][f"{directory}/Dockerfile"] = text
            else:
                warnings.append(
                    f"{resource.name}: Dockerfile {dockerfile} not found; "
                    f"{directory}/Dockerfile not written"
                )
        elif resource.type in SWARM_TYPES:
            name = inputs.get("name") if isinstance(inputs.get("name"), str) else resource.name
            path = f"swarm/{SWARM_TYPES[resource.type]}.{_safe(name)}.yaml"
            add(path, document(resource, inputs), resource)
            placed[resource.urn] = (path, {})
        elif (manifest := kubernetes_manifest(resource, inputs)) is not None:
            path = _kubernetes_path(manifest)
            add(path, document(resource, manifest), resource)
            placed[resource.urn] = (path, {})
        else:
            path = f"other/{_safe(resource.type.replace(':', '.'))}.{_safe(resource.name)}.yaml"
            add(path, document(resource, inputs), resource)
            placed[resource.urn] = (path, {})
    if providers:
        files["providers.yaml"] = _dump(providers)
    outputs = plain(recording.outputs, project_dir)
    files["outputs.yaml"] = _dump(outputs)
    snapshot = Snapshot(
        recording.project,
        recording.stack,
        tuple(
            _snapshot_resource(resource, urns, placed, project_dir)
            for resource in recording.resources
        ),
        outputs,
    )
    return Rendering(dict(sorted(files.items())), snapshot, warnings)


def _snapshot_resource(
    resource: RecordedResource,
    urns: dict[str, str],
    placed: dict[str, tuple[str, dict[str, str]]],
    project_dir: Path,
) -> SnapshotResource:
    """The resource under its engine URN, every URN it names translated from the recorder's."""

    def full(mock_urn: str) -> str:
        return urns.get(mock_urn, mock_urn)

    file, more = placed.get(resource.urn, (None, {}))
    provider = resource.provider.rsplit("::", 1)[0] if resource.provider else None
    options = resource.options
    aliases = tuple(
        replace(alias, parent=full(alias.parent)) if alias.parent else alias
        for alias in options.aliases
    )
    return SnapshotResource(
        urn=urns[resource.urn],
        type=resource.type,
        name=resource.name,
        parent=urns.get(resource.parent) if resource.parent else None,
        custom=resource.custom,
        inputs=plain(resource.inputs, project_dir) if resource.custom else None,
        file=file,
        files=more,
        provider=full(provider) if provider else None,
        id=mock_id(resource.name) if resource.custom else "",
        options=replace(
            options,
            aliases=aliases,
            deleted_with=full(options.deleted_with) if options.deleted_with else None,
        ),
        dependencies={
            key: tuple(sorted(full(dependency) for dependency in dependencies))
            for key, dependencies in sorted(resource.dependencies.items())
        },
        secrets=dict(_secret_digests(resource.inputs, "")),
    )


def _secret_digests(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, keyed digest) of every secret input: the files show only [secret], but `diff`
    must still see a changed value (a rotated registry password replaces a Swarm service)."""
    if isinstance(value, Secret):
        yield from _leaf_digests(reveal(value), path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secret_digests(item, join(path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secret_digests(item, join(path, index))


def _leaf_digests(value: Any, path: str) -> Iterator[tuple[str, str]]:
    # Per leaf, as the files mask it: which part of a secret object changed matters (the
    # registry password of an image is no change to pulumi-docker, its server is).
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaf_digests(item, join(path, str(key)))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaf_digests(item, join(path, index))
    else:
        yield path, secret_digest(value)


def title(path: str, text: str) -> str:
    """What a rendered file is, for reports: its resource type and name, else its path."""
    first = text.split("\n", 1)[0]
    return first.removeprefix("# resource: ") if first.startswith("# resource: ") else path


def write(rendering: Rendering, out: Path) -> None:
    """Replace `out` with the rendering. A directory that is not an earlier render is refused."""
    if out.exists():
        if not out.is_dir():
            raise CliError(f"--out {out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise CliError(
                f"--out {out}: directory is not empty and holds no earlier render "
                f"(no {MARKER}); choose an empty or new directory"
            )
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `mlstack render`; replaced on every render\n")
    for relative, text in rendering.files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def read(out: Path) -> dict[str, str]:
    """A render directory back as path -> content (what `render` returned)."""
    return {
        path.relative_to(out).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.name != MARKER
    }


def urn(recording: Recording, resource: RecordedResource) -> str:
    """The URN the engine gives the resource: its ancestors' types joined by '$' (the recorder's
    mock monitor only names the direct parent's type). A change here means a replacement."""
    types = [resource.type, *(ancestor.type for ancestor in recording.ancestors(resource))]
    chain = "$".join(reversed(types))
    return f"urn:pulumi:{recording.stack}::{recording.project}::{chain}::{resource.name}"


def kubernetes_manifest(resource: RecordedResource, inputs: dict[str, Any]) -> Any:
    """The object as the API server takes it, or None for non-object types (Helm releases...)."""
    if not resource.type.startswith("kubernetes:"):
        return None
    _, module, kind = resource.type.split(":", 2)
    if "/" not in module or module.startswith("helm.sh/") or "metadata" not in inputs:
        return None
    group, version = module.rsplit("/", 1)
    api_version = version if group == "core" else f"{group}/{version}"
    return {"apiVersion": api_version, "kind": kind, **inputs}


def _kubernetes_path(manifest: dict[str, Any]) -> str:
    kind = str(manifest["kind"])
    metadata = manifest.get("metadata") or {}
    rank = APPLY_RANK.get(kind, OTHER_RANK)
    parts = [kind.lower(), metadata.get("namespace"), metadata.get("name")]
    stem = ".".join(_safe(str(part)) for part in parts if part)
    return f"kubernetes/{rank:02d}-{stem}.yaml"


def _image_directories(images: list[RecordedResource]) -> dict[str, str]:
    """image/<model> per image, the model named by the image's repository (its last segment)."""
    directories: dict[str, str] = {}
    for image in images:
        reference = image.inputs.get("imageName")
        model = _repository_name(reference) if isinstance(reference, str) else image.name
        directory = f"image/{_safe(model)}"
        if directory in directories.values():
            directory = f"image/{_safe(image.name)}"
        directories[image.urn] = directory
    return directories


def _repository_name(reference: str) -> str:
    name = reference.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def _dockerfile_path(inputs: dict[str, Any], project_dir: Path) -> Path | None:
    # pulumi-docker: `dockerfile` is relative to the program's directory; default: in the context
    build = inputs.get("build")
    build = build if isinstance(build, dict) else {}
    context = build.get("context", ".")
    dockerfile = build.get("dockerfile")
    if isinstance(context, Secret) or isinstance(dockerfile, Secret):
        return None
    if not isinstance(context, str):
        return None
    path = Path(dockerfile) if isinstance(dockerfile, str) else Path(context) / "Dockerfile"
    return path if path.is_absolute() else project_dir / path


def plain(value: Any, project_dir: Path | None = None) -> Any:
    """Secrets masked, whole-number floats (the wire format has no ints) as ints, and paths inside
    `project_dir` relative to it."""
    if isinstance(value, Secret):
        return _conceal(value.value)
    if isinstance(value, dict):
        return {key: plain(item, project_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item, project_dir) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and project_dir is not None:
        return _relative(value, project_dir)
    return value


def _conceal(value: Any) -> Any:
    """A secret's shape (the keys of a Secret's data stay readable) with every value masked."""
    if isinstance(value, Secret):
        return _conceal(value.value)
    if isinstance(value, dict):
        return {key: _conceal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_conceal(item) for item in value]
    return MASK


def _relative(text: str, project_dir: Path) -> str:
    root = str(project_dir)
    if text == root:
        return "."
    if text.startswith(root + "/"):
        return text[len(root) + 1 :]
    return text


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "_"


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line text (embedded config files) as readable literal blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _dump(value: Any) -> str:
    return yaml.dump(
        value, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True
    )
