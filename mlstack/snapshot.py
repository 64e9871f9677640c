"""What `mlstack diff` compares: every resource of a render as data, under the URN the engine
gives it.

A render's files are for people and for `kubectl apply`; a plan needs more than they show: the
resource options the engine acts on (deleteBeforeReplace, replaceOnChanges, ignoreChanges,
aliases), the provider each resource belongs to, which inputs take values from which resources,
and component resources (their aliases carry over to their children). `render` builds these
records beside the files, from the same masked, project-relative inputs; the base revision's
worker hands them over as JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from typing import Any

from mlstack.offline import RecordedAlias, RecordedOptions

FORMAT = 1  # bumped when the JSON shape changes (tool and worker are always the same version)
# Secret inputs are compared by HMAC under a key made per process and handed to the base's
# worker through this variable: digests compare within one `diff` run and mean nothing outside
# it (they are never printed). Offline, secret values are placeholders naming a ciphertext hash.
SECRET_KEY_ENV = "MLSTACK_SECRET_DIGEST_KEY"  # noqa: S105 - the variable's name
_KEY = bytes.fromhex(os.environ.get(SECRET_KEY_ENV, "")) or secrets.token_bytes(32)


def secret_key_hex() -> str:
    return _KEY.hex()


def secret_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hmac.new(_KEY, text.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SnapshotResource:
    urn: str
    type: str
    name: str
    parent: str | None  # full URN; None under the stack itself
    custom: bool
    inputs: Any  # as rendered: secrets masked, project paths relative; None for components
    file: str | None = None  # the rendered file holding it
    files: dict[str, str] = field(default_factory=dict)  # more rendered files of it: Dockerfile
    provider: str | None = None  # full URN of its explicit provider
    id: str = ""  # its ID as references to it hold it (the recorder's)
    options: RecordedOptions = field(default_factory=RecordedOptions)  # alias parents as full URNs
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)  # full URNs
    secrets: dict[str, str] = field(default_factory=dict)  # path of a secret input -> digest

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")


@dataclass(frozen=True)
class Snapshot:
    project: str
    stack: str
    resources: tuple[SnapshotResource, ...] = ()
    outputs: Any = None


def to_json(snapshot: Snapshot) -> str:
    return json.dumps({"format": FORMAT, **asdict(snapshot)}, sort_keys=True)


def from_json(text: str) -> Snapshot:
    data = json.loads(text)
    if data.pop("format", None) != FORMAT:
        raise ValueError("snapshot written by another mlstack version")
    return Snapshot(
        project=data["project"],
        stack=data["stack"],
        resources=tuple(_resource(item) for item in data["resources"]),
        outputs=data["outputs"],
    )


def _resource(data: dict[str, Any]) -> SnapshotResource:
    options = dict(data["options"])
    options["replace_on_changes"] = tuple(options["replace_on_changes"])
    options["ignore_changes"] = tuple(options["ignore_changes"])
    options["aliases"] = tuple(RecordedAlias(**alias) for alias in options["aliases"])
    return SnapshotResource(
        **{
            **data,
            "options": RecordedOptions(**options),
            "dependencies": {key: tuple(urns) for key, urns in data["dependencies"].items()},
        }
    )
