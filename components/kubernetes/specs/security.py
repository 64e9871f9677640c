"""Pod and container security contexts from the shared secure defaults (components/security.py).

Together they satisfy the Pod Security Standards "restricted" profile (non-root, no privilege
escalation, no capabilities, RuntimeDefault seccomp) and add a read-only root filesystem with a
private scratch volume at /tmp, which linters (kube-score, Polaris, Checkov) ask for.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_kubernetes as k8s

from ...security import (
    DROPPED_CAPABILITIES,
    RUNTIME_GID,
    RUNTIME_UID,
    SCRATCH_PATH,
    SCRATCH_SIZE,
)

SCRATCH_VOLUME = "tmp"
RUNTIME_DEFAULT = k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")


def pod_security_context(
    uid: int = RUNTIME_UID, gid: int = RUNTIME_GID
) -> k8s.core.v1.PodSecurityContextArgs:
    """Non-root identity for every container; fsGroup makes mounted volumes group-readable."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=gid,
        fs_group=gid,
        # Only chown a volume whose root does not already match: fast pod starts.
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=RUNTIME_DEFAULT,
    )


def container_security_context(
    uid: int = RUNTIME_UID, gid: int = RUNTIME_GID
) -> k8s.core.v1.SecurityContextArgs:
    """Repeats the pod's identity so the container stays hardened if copied into another pod."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=gid,
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=list(DROPPED_CAPABILITIES)),
        seccomp_profile=RUNTIME_DEFAULT,
    )


def scratch_volume() -> k8s.core.v1.VolumeArgs:
    """The only writable path of a read-only root: an emptyDir, bounded in size."""
    return k8s.core.v1.VolumeArgs(
        name=SCRATCH_VOLUME,
        empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=SCRATCH_SIZE),
    )


def scratch_mount() -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=SCRATCH_VOLUME, mount_path=SCRATCH_PATH)


CHECKOV_SKIP = "checkov.io/skip"


def scanner_exceptions(reasons: Mapping[str, str]) -> dict[str, str]:
    """Annotations that tell checkov a finding is accepted on purpose, and why (it reports the
    check as skipped with the reason): `checkov.io/skip<N>: <check ID>=<reason>`. Only for a
    finding that is right to stay; everything else is fixed in the spec."""
    annotations = {}
    for number, (check, reason) in enumerate(sorted(reasons.items()), start=1):
        if "=" in reason or not reason.strip():
            raise ValueError(f"{check}: the reason must be text without '=' (checkov splits on it)")
        annotations[f"{CHECKOV_SKIP}{number}"] = f"{check}={reason}"
    return annotations
