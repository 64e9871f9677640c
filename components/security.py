"""The one place for the secure runtime posture every orchestrator applies to model servers.

Kubernetes pod/container security contexts and Swarm task settings are both built from these
values, so "non-root, no capabilities, read-only root" means the same thing everywhere.
"""

from __future__ import annotations

from typing import Final

# Non-root identity baked into the image and enforced by the orchestrators. >= 10000 keeps it
# clear of host users (kube-score, Polaris); the image creates this user and group.
RUNTIME_UID: Final = 10001
RUNTIME_GID: Final = 10001

# Linux capabilities the server keeps: none. It binds an unprivileged port.
DROPPED_CAPABILITIES: Final = ("ALL",)

# The root filesystem is read-only; these are the only writable paths (tmpfs / emptyDir).
SCRATCH_PATH: Final = "/tmp"  # noqa: S108 - a private tmpfs per container, not the host /tmp
SCRATCH_SIZE: Final = "256Mi"

# Where secret files are mounted (Swarm's convention; Kubernetes mounts the Secret there too).
SECRETS_DIR: Final = "/run/secrets"
SECRET_FILE_MODE: Final = 0o400
