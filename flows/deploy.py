"""`sieve deploy`: register the deployments of prefect.yaml (shipped in the package; infra/prefect.yaml links to it)
with the Prefect server at PREFECT_API_URL, creating their process work pool if it is missing, so that a worker runs
the scheduled `curate` flow."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sieve.schemas.errors import UsageError

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.actions import DeploymentScheduleCreate

# Package data, so `sieve deploy` works from a wheel as from the clone's editable install.
PREFECT_FILE = Path(__file__).with_name("prefect.yaml")
POOL_TYPE = "process"


@dataclass(frozen=True)
class Registered:
    """One deployment as the server now holds it."""

    name: str  # flow/deployment, as `prefect deployment run` takes it
    deployment_id: str
    work_pool: str
    pool_created: bool
    schedules: list[str]
    working_dir: str
    parameters: dict[str, Any]


def api_url() -> str:
    """The Prefect server to register with. Unset is an error: Prefect would fall back to a throwaway server."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if not url:
        raise UsageError(
            "PREFECT_API_URL is not set: start a server with `prefect server start` and "
            "export PREFECT_API_URL=http://127.0.0.1:4200/api, or point it at your own server"
        )
    return url


def deploy(prefect_file: Path = PREFECT_FILE) -> list[Registered]:
    """Create or update every deployment in prefect_file; their flow runs start in the current folder (as with
    `prefect deploy`'s default pull step), so relative paths in their parameters resolve there."""
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no Prefect client telemetry, as in `sieve run`
    # Beam, imported with the flow, warns about optional GCP clients on the root logger.
    os.environ.setdefault("PREFECT_LOGGING_ROOT_LEVEL", "ERROR")
    url = api_url()
    try:
        deployments = yaml.safe_load(prefect_file.read_text(encoding="utf-8"))["deployments"]
    except (OSError, yaml.YAMLError, TypeError, KeyError) as e:
        raise UsageError(f"cannot read deployments from {prefect_file} ({e}); pass --prefect-file FILE") from None
    directory = str(Path.cwd().resolve())

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        if (error := client.api_healthcheck()) is not None:
            raise UsageError(
                f"cannot reach the Prefect server at {url} ({str(error) or type(error).__name__}): "
                "start it with `prefect server start`, or fix PREFECT_API_URL (it ends in /api)"
            )
        return [_register(client, spec, directory, prefect_file) for spec in deployments]


def _register(client: SyncPrefectClient, spec: dict[str, Any], directory: str, prefect_file: Path) -> Registered:
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron
    from prefect.utilities.callables import parameter_schema

    flow = load_flow_from_entrypoint(spec["entrypoint"])
    schema = parameter_schema(flow)
    parameters = spec.get("parameters") or {}
    # Caught now rather than at the first scheduled run, a month from now.
    if unknown := sorted(set(parameters) - set(schema.properties)):
        raise UsageError(
            f"{prefect_file}: deployment {spec['name']} sets {', '.join(unknown)}, which the "
            f"{flow.name} flow does not take (it takes {', '.join(schema.properties)})"
        )
    schedules = []
    for entry in spec.get("schedules") or []:
        options = dict(entry)
        schedules.append(DeploymentScheduleCreate.from_schedule(Cron(options.pop("cron"), **options)))
    pool = spec["work_pool"]
    pool_created = _ensure_process_pool(client, pool["name"])
    deployment_id = client.create_deployment(
        flow_id=client.create_flow_from_name(flow.name),
        name=spec["name"],
        description=spec.get("description") or flow.description,
        tags=spec.get("tags") or [],
        entrypoint=spec["entrypoint"],
        parameters=parameters,
        parameter_openapi_schema=schema.model_dump(exclude_unset=True),
        enforce_parameter_schema=True,
        schedules=schedules,
        work_pool_name=pool["name"],
        work_queue_name=pool.get("work_queue_name"),
        job_variables=pool.get("job_variables") or {},
        pull_steps=[{"prefect.deployments.steps.set_working_directory": {"directory": directory}}],
    )
    return Registered(
        name=f"{flow.name}/{spec['name']}",
        deployment_id=str(deployment_id),
        work_pool=pool["name"],
        pool_created=pool_created,
        schedules=[_describe(s) for s in schedules],
        working_dir=directory,
        parameters=parameters,
    )


def _ensure_process_pool(client: SyncPrefectClient, name: str) -> bool:
    """Create the work pool if missing (True when created); a pool of another type could not run the flow here."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    try:
        pool = client.read_work_pool(name)
    except ObjectNotFound:
        client.create_work_pool(
            WorkPoolCreate(name=name, type=POOL_TYPE, base_job_template=ProcessWorker.get_default_base_job_template())
        )
        return True
    if pool.type != POOL_TYPE:
        raise UsageError(
            f"work pool {name} on the server has type {pool.type}, not {POOL_TYPE}: rename the pool "
            "in the prefect file, or delete the existing one"
        )
    return False


def _describe(schedule: DeploymentScheduleCreate) -> str:
    s = schedule.schedule
    return f"cron {s.cron} ({s.timezone or 'UTC'})" + ("" if schedule.active else ", paused")


def summary_lines(registered: list[Registered], url: str) -> list[str]:
    """What was registered, and the commands that start a worker and trigger a run now."""
    prefect = Path(sys.executable).parent / "prefect"  # the worker runs flows with its own interpreter, where sieve is
    lines = []
    for r in registered:
        lines += [
            f"registered {r.name} (id {r.deployment_id}) on {url}",
            f"  schedule:    {', '.join(r.schedules) or 'none'}",
            f"  work pool:   {r.work_pool} ({POOL_TYPE}{', created' if r.pool_created else ''})",
            f"  working dir: {r.working_dir}",
            f"  parameters:  {json.dumps(r.parameters)}",
        ]
    pools = sorted({r.work_pool for r in registered})
    lines += ["", "start a worker (keep it running; it picks up the scheduled runs):"]
    lines += [f"  PREFECT_API_URL={url} {prefect} worker start --pool {pool}" for pool in pools]
    lines += ["run one now, without waiting for the schedule:"]
    lines += [f"  PREFECT_API_URL={url} {prefect} deployment run {r.name}" for r in registered]
    return lines
