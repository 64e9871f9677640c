"""The component package's provider: serves MLServingStack to the Pulumi engine over gRPC.

The engine starts it as `python <this folder> <engine address>` (PulumiPlugin.yaml, runtime
python); `python -m mlstack.components <engine address>` does the same from an install. It prints
the port it listens on, then answers GetSchema (inferred from MLServingStackArgs and the
component's outputs) and Construct.
"""

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where its subpackages (kubernetes/,
# settings/, image/) would shadow installed packages of those names: the components are
# imported by their installed name, mlstack.components, instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from mlstack.components.serving_stack import MLServingStack  # noqa: E402

PACKAGE = "mlstack"  # the package part of the type token, mlstack:index:MLServingStack


def package_version() -> str:
    try:
        return version("mlstack")
    except PackageNotFoundError:  # a checkout used without installing it
        return "0.0.0"


def main() -> None:
    component_provider_host([MLServingStack], name=PACKAGE, version=package_version())


if __name__ == "__main__":
    main()
