"""``python -m gateway``: serve the gateway at ``ODS_GATEWAY_ADDR`` until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import os
import sys

from pydantic import ValidationError

from domain.policies import PolicyFileError
from gateway.app import create_app
from infra.logging import configure_logging, get_logger
from infra.serving import run_foreground
from infra.settings import get_settings

log = get_logger("gateway")


def main() -> int:
    try:
        settings = get_settings()
    except ValidationError as err:  # e.g. production with a dev token still set
        print(f"gateway: invalid configuration: {err}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format)
    try:
        app = create_app(settings)  # reads the policy files, once
    except PolicyFileError as err:
        print(f"gateway: invalid policy file: {err}", file=sys.stderr)
        return 2
    log.info(
        "gateway_starting",
        addr=settings.gateway_addr,
        temporal=settings.temporal_address,
        namespace=settings.temporal_namespace,
        task_queue=settings.task_queue,
    )
    run_foreground(app, settings.gateway_addr)
    return 0


if __name__ == "__main__":
    code = main()
    # The Temporal SDK can abort at interpreter exit after all work is done (sdk-python#300).
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
