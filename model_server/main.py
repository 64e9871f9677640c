"""Entry point: read the environment, then serve (see model_server.server); exit codes are in
model_server.exitcodes."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from .config import ConfigError, load_config
from .exitcodes import ExitCode
from .logs import configure_logging

# Each worker runs one BLAS/OpenMP thread: the server scales by processes, and threads beyond the
# container's CPU quota only add contention. Set before numpy is first imported.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

log = logging.getLogger("model_server")


def main() -> None:
    configure_logging("info")
    try:
        config = load_config()
    except ConfigError as error:
        log.error("%s", error)
        _exit(ExitCode.BAD_ENVIRONMENT)
    configure_logging(config.log_level)
    from .server import serve

    try:
        code = serve(config)
    except Exception:
        log.exception("the server failed")
        code = ExitCode.ERROR
    _exit(code)


def _exit(code: int) -> NoReturn:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Not sys.exit: a prediction thread cut at the graceful timeout would hold up the exit.
    os._exit(int(code))
