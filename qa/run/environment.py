"""Process environment defaults: offline model hub, no telemetry, a patient ephemeral Prefect server."""

from __future__ import annotations

import os

DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "OPENBLAS_NUM_THREADS": "1",
}


def apply_defaults(quiet_prefect: bool = False) -> None:
    """Set the defaults the pipeline needs, without overriding what the user set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    if quiet_prefect:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
