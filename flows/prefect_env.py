"""Prefect settings for a run with nothing started by hand: a local server (sieve's own, or Prefect's ephemeral one for
library calls), project-local state, no telemetry."""

from __future__ import annotations

import os
from pathlib import Path


def configure_prefect(state_dir: str | None = None) -> Path:
    """Set Prefect's environment before prefect is imported; an explicit PREFECT_API_URL (a real server) is respected."""
    home = Path(state_dir or os.environ.get("SIEVE_HOME", ".sieve")).absolute() / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_HOME", str(home))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # A cold start on a busy 2-core machine can exceed the default wait for the ephemeral server.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    return home
