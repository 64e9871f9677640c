"""The serving namespace: Pod Security Admission refuses any pod that is not "restricted"."""

from __future__ import annotations

POD_SECURITY_LEVEL = "restricted"


def namespace_labels() -> dict[str, str]:
    return {
        f"pod-security.kubernetes.io/{mode}": POD_SECURITY_LEVEL
        for mode in ("enforce", "audit", "warn")
    } | {
        f"pod-security.kubernetes.io/{mode}-version": "latest"
        for mode in ("enforce", "audit", "warn")
    }
