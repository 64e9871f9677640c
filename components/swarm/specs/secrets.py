"""Swarm secrets: named by content hash, mounted as files only the server's user can read.

Swarm secrets are immutable and their names unique. A fixed name would make a changed value
impossible to roll out (the replacement cannot be created while the old one exists under that
name, and the old one cannot go while a service uses it). Naming each by a hash of its content
gives a changed value a new name: Pulumi creates the new secret, updates the service (a rolling
update, like any other) and then deletes the old one. The secret is declared
delete_before_replace=False for that order: pulumi-docker's bridge would otherwise ask to delete
first (it does for every user-set name), and Docker refuses to delete a secret in use.

The hash is truncated sha256 over environment, model, file name, value and labels (every
argument that replaces a secret: components/replacements.py), like kustomize's secretGenerator
suffix. It is not secret: a value guessable by brute force (a short password)
could be confirmed against it, so use secrets with real entropy (tokens, keys).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping

import pulumi
import pulumi_docker as docker

from ...security import RUNTIME_GID, RUNTIME_UID, SECRET_FILE_MODE

SECRET_NAME_MAX = 64  # Docker's limit
HASH_LENGTH = 12


def secret_name(
    environment: str, model: str, file_name: str, value: str, labels: Mapping[str, str]
) -> str:
    label_text = "\n".join(f"{key}={labels[key]}" for key in sorted(labels))
    parts = (environment, model, file_name, value, label_text)
    digest = hashlib.sha256(b"\0".join(part.encode() for part in parts)).hexdigest()[:HASH_LENGTH]
    prefix = f"{environment}-{model}-{file_name}"[: SECRET_NAME_MAX - HASH_LENGTH - 1]
    return f"{prefix}-{digest}"


def secret_data(value: str) -> str:
    """pulumi-docker's Secret.data: the value, base64-encoded (standard alphabet)."""
    return base64.b64encode(value.encode()).decode()


def secret_file(
    secret_id: pulumi.Input[str], name: pulumi.Input[str], file_name: str
) -> docker.ServiceTaskSpecContainerSpecSecretArgs:
    """/run/secrets/<file_name>, owned by the server's user, mode 0400: readable by it alone."""
    return docker.ServiceTaskSpecContainerSpecSecretArgs(
        secret_id=secret_id,
        secret_name=name,
        file_name=file_name,
        file_uid=str(RUNTIME_UID),
        file_gid=str(RUNTIME_GID),
        file_mode=SECRET_FILE_MODE,
    )
