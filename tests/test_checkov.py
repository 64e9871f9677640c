"""Checkov (a real IaC security scanner) on the rendered Kubernetes manifests of staging and prod.

Checkov's dependency tree is heavy, so it is not in the project's venv: the fixture installs one
pinned version into its own venv under .mlstack/tools/ (gitignored; once per checkout, about
30 s). What it finds is pinned here: every finding is fixed in the components, or accepted in the
manifest with checkov's own skip annotation and the reason; the only failures left are the model
images' registry digests, which the offline render cannot know (see below).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import subprocess
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlstack.components.kubernetes.specs.cluster_autoscaler import ACCEPTED_FINDINGS
from mlstack.components.kubernetes.specs.headroom import HEADROOM_ACCEPTED_FINDINGS
from mlstack.components.settings.kubernetes import DEFAULT_CLUSTER_AUTOSCALER_IMAGE
from mlstack.render import render
from tests.support.harness import PROJECT_DIR, recorded_in, run_stack

CHECKOV = "checkov==3.3.30"
TOOLS = PROJECT_DIR / ".mlstack" / "tools"
STACKS = ("staging", "prod")
IMAGE = "docker:index/image:Image"


@pytest.fixture(scope="session")
def checkov() -> Path:
    target = TOOLS / CHECKOV.replace("==", "-")
    if not (target / "bin" / "checkov").is_file():
        failed = _install(target)
        if failed is not None:
            if os.environ.get("MLSTACK_REQUIRE_ENGINE") == "1":
                pytest.fail(f"checkov is required here (MLSTACK_REQUIRE_ENGINE=1): {failed}")
            pytest.skip(failed)
    return target / "bin" / "checkov"


def _install(target: Path) -> str | None:
    """A venv with checkov at `target` (where it stays: a venv's scripts name their interpreter
    by absolute path); why it could not be made, or None."""
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run may be installing it
        if (target / "bin" / "checkov").is_file():
            return None
        venv.create(target, clear=True, with_pip=True)
        done = subprocess.run(
            [str(target / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
             CHECKOV],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            (target / "bin" / "checkov").unlink(missing_ok=True)
            return f"pip install {CHECKOV} failed: {done.stderr.strip()[-400:]}"
        return None


def _write_manifests(out: Path) -> dict[str, set[str]]:
    """Each stack's rendered Kubernetes manifests under out/<stack>/; returns, per stack, the
    image names of the model images it pushes."""
    pushed: dict[str, set[str]] = {}
    for stack in STACKS:
        recording = run_stack(stack)
        pushed[stack] = {
            image.inputs["imageName"]
            for image in recording.of_type(IMAGE)
            if image.inputs.get("skipPush") is False
        }
        for path, text in render(recording, recorded_in(recording)).files.items():
            if path.startswith("kubernetes/"):
                target = out / stack / path.removeprefix("kubernetes/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    return pushed


def _scan(checkov: Path, directory: Path) -> dict[str, list[dict[str, Any]]]:
    done = subprocess.run(
        [str(checkov), "--directory", str(directory), "--framework", "kubernetes",
         "--skip-download", "--output", "json", "--soft-fail"],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    results: dict[str, list[dict[str, Any]]] = {"passed": [], "failed": [], "skipped": []}
    for one in reports:
        for kind in results:
            results[kind] += one["results"][f"{kind}_checks"]
    return results


def _where(check: dict[str, Any]) -> tuple[str, str, str]:
    stack = Path(check["file_path"]).parts[1]  # "/<stack>/51-deployment....yaml"
    return stack, check["check_id"], check["resource"]


def _image_of(directory: Path, check: dict[str, Any]) -> str:
    manifest = yaml.safe_load((directory / check["file_path"].lstrip("/")).read_text())
    images = {c["image"] for c in manifest["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1, images
    return images.pop()


@pytest.mark.slow
def test_rendered_staging_and_prod_pass_checkov(checkov: Path, tmp_path: Path) -> None:
    pushed = _write_manifests(tmp_path)
    results = _scan(checkov, tmp_path)
    deployments = {
        (stack, path.stem.split(".", 1)[1])
        for stack in STACKS
        for path in (tmp_path / stack).glob("*-deployment.*.yaml")
    }
    assert len(deployments) >= 5, deployments

    # Fixed: the autoscaler is pinned by digest (CKV_K8S_43, and with it CKV_K8S_15) and has a
    # readiness probe (CKV_K8S_9); every pod runs as UID >= 10000 (CKV_K8S_40: checkov reads
    # runAsUser of the pod and of each container, not the image's USER).
    passed = {_where(check) for check in results["passed"]}
    for check_id in ("CKV_K8S_9", "CKV_K8S_15", "CKV_K8S_43"):
        assert ("prod", check_id, "Deployment.kube-system.cluster-autoscaler") in passed
    for stack, name in deployments:
        assert (stack, "CKV_K8S_40", f"Deployment.{name}") in passed

    # Accepted, in the manifest, with the reason checkov reports.
    skipped = {(*_where(check), check["check_result"]["suppress_comment"])
               for check in results["skipped"]}  # fmt: skip
    expected_skips = {
        ("prod", check_id, "Deployment.kube-system.cluster-autoscaler", reason)
        for check_id, reason in ACCEPTED_FINDINGS.items()
    } | {
        (stack, check_id, "Deployment.ml-serving.mlstack-headroom", reason)
        for stack in STACKS
        for check_id, reason in HEADROOM_ACCEPTED_FINDINGS.items()
    }
    assert skipped == expected_skips

    # Left: a pushed model image is run by the registry digest `pulumi up` gets back from the
    # push (components/image/publish.py); offline there is no push, so the render shows its
    # content-hash tag, which CKV_K8S_43 (digest) and CKV_K8S_15 (pull policy) flag.
    failed = results["failed"]
    assert {check["check_id"] for check in failed} <= {"CKV_K8S_43", "CKV_K8S_15"}, failed
    for check in failed:
        stack = _where(check)[0]
        assert _image_of(tmp_path, check) in pushed[stack], check


def test_cluster_autoscaler_image_is_pinned_by_digest() -> None:
    repository, _, digest = DEFAULT_CLUSTER_AUTOSCALER_IMAGE.partition("@")
    assert repository == "registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.1"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    deployment = next(
        resource
        for resource in run_stack("prod").of_type("kubernetes:apps/v1:Deployment")
        if resource.inputs["metadata"]["name"] == "cluster-autoscaler"
    )
    (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == DEFAULT_CLUSTER_AUTOSCALER_IMAGE
    assert container["readinessProbe"]["httpGet"]["path"] == "/health-check"


def test_skip_annotation_reasons_cannot_break_checkov() -> None:
    from mlstack.components.kubernetes.specs.security import scanner_exceptions

    assert scanner_exceptions({"CKV_K8S_9": "why"}) == {"checkov.io/skip1": "CKV_K8S_9=why"}
    with pytest.raises(ValueError, match="without '='"):
        scanner_exceptions({"CKV_K8S_9": "a=b"})
