"""Entry point: read the environment, then serve (see model_server.server)."""

from __future__ import annotations

import logging
import os
import sys

from model_server.config import ConfigError, load_config

# Each worker runs one BLAS/OpenMP thread: the server scales by processes, and threads beyond the
# container's CPU quota only add contention. Set before numpy is first imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


def main() -> None:
    try:
        config = load_config()
    except ConfigError as error:
        print(f"model_server: {error}", file=sys.stderr)
        sys.exit(2)
    from model_server.server import LOG_FORMAT, serve

    logging.basicConfig(level=config.log_level.upper(), format=LOG_FORMAT)
    sys.exit(serve(config))
