"""Checks over what a program declared (a Recording), shared by the tests and `mlstack validate`."""

from mlstack.checks.kubernetes_schema import (
    MINIMUM_KUBERNETES_VERSION,
    Manifest,
    SchemaFinding,
    check_manifest,
    check_recording,
    default_versions,
    kubernetes_manifests,
    newest_kubernetes_version,
)

__all__ = [
    "MINIMUM_KUBERNETES_VERSION",
    "Manifest",
    "SchemaFinding",
    "check_manifest",
    "check_recording",
    "default_versions",
    "kubernetes_manifests",
    "newest_kubernetes_version",
]
