"""GPU sizes: only a framework whose image can use a GPU may run on one (issue 12)."""

from __future__ import annotations

from tests.harness import settings_error


def test_a_framework_that_cannot_use_a_gpu_is_refused_on_a_gpu_size() -> None:
    error, declared = settings_error("staging", **{"mlstack:size": "gpu"})
    assert (
        "Pulumi.staging.yaml: mlstack:models[0].framework: sklearn models cannot use a GPU, and "
        "this model's size reserves 1 per replica (resources.gpu; size 'gpu') (got 'sklearn'); "
        "allowed: a framework that can (onnx), or a size without GPUs (resources.gpu 0)"
    ) in error
    assert "models[1]" not in error  # iris-onnx keeps its own size (small)
    assert declared == ()
    override, _ = settings_error("dev", **{"mlstack:overrides": {"resources": {"gpu": 2}}})
    assert "mlstack:models[0].framework: sklearn models cannot use a GPU" in override
