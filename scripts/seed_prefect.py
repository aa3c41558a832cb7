#!/usr/bin/env python3
"""Fill an empty Prefect 3.9.1 server with a deterministic-by-name demo dataset.

Importable (``seed(api_url, auth_string=None) -> dict``) and runnable as a CLI:

    python scripts/seed_prefect.py --api-url http://127.0.0.1:4200/api \
        [--auth-string user:pass] [--manifest out.json]

Names are fixed; ids and timestamps differ per run. Every fact in the returned
manifest is read back from the server after seeding, so tests can rely on it.
Flows run in-process against the server; everything else goes through
``prefect.client.orchestration.get_client``. Only the given server is contacted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import prefect
from prefect import flow, get_run_logger, tags, task
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import (
    DeploymentScheduleCreate,
    GlobalConcurrencyLimitCreate,
    WorkPoolCreate,
)
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.events import Event
from prefect.events.actions import DoNothing
from prefect.events.schemas.automations import (
    AutomationCore,
    CompoundTrigger,
    EventTrigger,
    Posture,
    SequenceTrigger,
)
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker, PrefectConsoleHandler
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_LOCAL_STORAGE_PATH,
    PREFECT_LOGGING_TO_API_ENABLED,
    temporary_settings,
)
from prefect.states import (
    AwaitingConcurrencySlot,
    Cancelled,
    Completed,
    Crashed,
    Late,
    Paused,
    Pending,
    Running,
    Scheduled,
    State,
)

VERBOSE_LOG_LINES = 300
CUSTOM_EVENT = "acme.data.arrived"
CUSTOM_EVENT_COUNT = 80
QUALITY_EVENT = "acme.data.quality-checked"
QUALITY_EVENT_COUNT = 40
# Deployment concurrency leases expire after this grace period; the maximum the
# API accepts keeps the ENQUEUE deployment saturated for a whole test session.
LEASE_GRACE_SECONDS = 86400
# Workers go OFFLINE after 3 missed heartbeats; a long interval keeps the demo
# worker ONLINE for days without a heartbeat loop.
WORKER_HEARTBEAT_SECONDS = 86400
# Task runs the seed creates: 11 executed in-process, 2 subflow placeholders in
# the parent run and 1 created by hand in the Running flow run.
EXPECTED_TASK_RUNS = 14
MANUAL_RUNNING_TASK_RUN = "extract-batch-running"
FINAL_STATE_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
WAIT_TIMEOUT = 60.0
FIXED_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)

_seed_started = time.monotonic()


def _progress(message: str) -> None:
    print(f"[seed {time.monotonic() - _seed_started:5.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Flows and tasks executed in-process
# --------------------------------------------------------------------------

# Attempts of the flaky task; reset before each seeding so that it fails
# exactly twice and succeeds on its third run.
_flaky_attempts = {"count": 0}


@task(task_run_name="extract-batch-{batch}")
def extract_batch(source: str, batch: int) -> int:
    get_run_logger().info("Read batch %d from %s", batch, source)
    return 100 * (batch + 1)


@task(task_run_name="fetch-rows", retries=2, retry_delay_seconds=0)
def fetch_rows() -> list[dict[str, int]]:
    _flaky_attempts["count"] += 1
    if _flaky_attempts["count"] <= 2:
        raise ConnectionError(f"warehouse connection reset (attempt {_flaky_attempts['count']})")
    return [{"id": i, "amount": i * 10} for i in range(5)]


@task(task_run_name="validate-rows")
def validate_rows(rows: list[dict[str, int]]) -> None:
    raise ValueError(f"Schema validation failed: column 'currency' missing in {len(rows)} rows")


@task(task_run_name="write-rows")
def write_rows(target: str, rows: int) -> int:
    get_run_logger().info("Wrote %d rows to %s", rows, target)
    return rows


@flow(name="etl-extract")
def etl_extract(source: str = "s3://acme-raw/orders", batches: int = 2) -> int:
    logger = get_run_logger()
    logger.info("Extracting %d batches from %s", batches, source)
    total = sum(extract_batch(source, b) for b in range(batches))
    logger.info("Extracted %d rows", total)
    return total


@flow(name="etl-transform")
def etl_transform(strict: bool = False) -> int:
    rows = fetch_rows()
    if strict:
        validate_rows(rows)
    get_run_logger().info("Transformed %d rows", len(rows))
    return len(rows)


@flow(name="etl-load")
def etl_load(target: str = "postgres://warehouse/orders", rows: int = 200) -> int:
    return write_rows(target, rows)


@flow(name="etl-pipeline")
def etl_pipeline(source: str = "s3://acme-raw/orders") -> int:
    get_run_logger().info("Starting nightly pipeline")
    rows = etl_extract.with_options(flow_run_name="pipeline-child-extract")(source, batches=1)
    return etl_load.with_options(flow_run_name="pipeline-child-load")(rows=rows)


@flow(name="ops-cleanup")
def ops_cleanup(older_than_days: int = 30, dry_run: bool = True, hang_seconds: float = 0.0) -> None:
    logger = get_run_logger()
    logger.info("Cleaning artifacts older than %d days (dry_run=%s)", older_than_days, dry_run)
    # Short sleeps so the flow timeout can interrupt us promptly in any thread.
    deadline = time.monotonic() + hang_seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    if not dry_run:
        raise ValueError(f"Refusing to delete: retention of {older_than_days} days violates policy")


@flow(name="ops-audit")
def ops_audit(lines: int = VERBOSE_LOG_LINES) -> int:
    logger = get_run_logger()
    for i in range(lines):
        logger.info("audit record %03d: checksum ok", i)
    return lines


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _api(client: SyncPrefectClient, method: str, path: str, body: Any = None) -> Any:
    response = client.request(method, path, json=body)  # type: ignore[arg-type]
    return response.json() if response.content else None


def _wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def _filter_all(client: SyncPrefectClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Page through a Prefect `/…/filter` endpoint (server page limit is 200)."""
    items: list[dict[str, Any]] = []
    while True:
        page = _api(client, "POST", path, {**body, "limit": 200, "offset": len(items)})
        items.extend(page)
        if len(page) < 200:
            return items


@contextmanager
def _quiet_console() -> Iterator[None]:
    """Hide Prefect's console output (expected failures print tracebacks).

    Only console handlers are raised; run loggers keep their level, so every
    run log still reaches the API.
    """
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, PrefectConsoleHandler)]
    previous = [h.level for h in handlers]
    for handler in handlers:
        handler.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for handler, level in zip(handlers, previous, strict=True):
            handler.setLevel(level)


def _base_job_templates() -> dict[str, dict[str, Any]]:
    """Default base job templates by worker type, from the copy bundled with Prefect.

    The server fetches these from the network at runtime; the bundled file keeps
    the seed offline.
    """
    path = Path(prefect.__file__).parent / "server/api/collections_data/views/aggregate-worker-metadata.json"
    metadata = json.loads(path.read_text())
    return {
        worker["type"]: worker["default_base_job_configuration"]
        for collection in metadata.values()
        for worker in collection.values()
    }


# --------------------------------------------------------------------------
# Seeding steps
# --------------------------------------------------------------------------

FLOW_TAGS = {
    "etl-extract": ["etl", "ingest"],
    "etl-transform": ["etl", "transform"],
    "ml-train-model": ["ml"],
}
ALL_FLOWS = ["etl-extract", "etl-transform", "etl-load", "etl-pipeline", "ml-train-model", "ops-cleanup", "ops-audit"]


def _seed_flows(client: SyncPrefectClient) -> dict[str, UUID]:
    flow_ids = {name: client.create_flow_from_name(name) for name in ALL_FLOWS}
    # The client has no update_flow, but PATCH /flows/{id} accepts tags.
    for name, flow_tags in FLOW_TAGS.items():
        client.request("PATCH", "/flows/{id}", path_params={"id": flow_ids[name]}, json={"tags": flow_tags})
    _progress(f"created {len(flow_ids)} flows")
    return flow_ids


def _seed_work_pools(client: SyncPrefectClient) -> None:
    templates = _base_job_templates()
    pools = [
        WorkPoolCreate(
            name="process-pool",
            type="process",
            description="Local subprocess workers for ETL jobs",
            base_job_template=templates["process"],
            concurrency_limit=10,
        ),
        WorkPoolCreate(
            name="docker-pool",
            type="docker",
            description="Docker workers (no worker connected)",
            base_job_template=templates["docker"],
            concurrency_limit=5,
        ),
        WorkPoolCreate(
            name="k8s-pool",
            type="kubernetes",
            description="GPU cluster, paused for maintenance",
            base_job_template=templates["kubernetes"],
            is_paused=True,
        ),
        WorkPoolCreate(name="bare-pool", type="process"),
    ]
    for pool in pools:
        client.create_work_pool(pool)

    client.create_work_queue(
        "critical", work_pool_name="process-pool", concurrency_limit=2, priority=1, description="Latency-sensitive runs"
    )
    client.create_work_queue("backlog", work_pool_name="process-pool", is_paused=True, priority=5)
    client.create_work_queue("docker-limited", work_pool_name="docker-pool", concurrency_limit=3)
    client.create_work_queue("gpu", work_pool_name="k8s-pool", concurrency_limit=1)
    client.send_worker_heartbeat(
        "process-pool", "worker-process-1", heartbeat_interval_seconds=WORKER_HEARTBEAT_SECONDS
    )
    _progress(f"created {len(pools)} work pools, queues and an online worker")


def _seed_concurrency_limits(client: SyncPrefectClient) -> None:
    for tag, limit in {"etl": 5, "critical": 1, "ml": 2}.items():
        client.create_concurrency_limit(tag, limit)
    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="gcl-warehouse-full", limit=3))
    client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="gcl-api-partial", limit=5))
    client.create_global_concurrency_limit(
        GlobalConcurrencyLimitCreate(name="gcl-legacy-inactive", limit=4, active=False)
    )
    # Slots taken without a lease never expire (slot_decay_per_second is 0).
    client.increment_concurrency_slots(names=["gcl-warehouse-full"], slots=3, mode="concurrency")
    client.increment_concurrency_slots(names=["gcl-api-partial"], slots=2, mode="concurrency")
    _progress("created tag (v1) and global (v2) concurrency limits")


def _seed_deployments(client: SyncPrefectClient, flow_ids: dict[str, UUID]) -> dict[str, UUID]:
    specs: dict[str, dict[str, Any]] = {
        "etl-extract/extract-hourly": dict(
            description="Hourly extraction; one run at a time, extra runs wait",
            work_pool_name="process-pool",
            work_queue_name="critical",
            tags=["etl", "critical"],
            entrypoint="flows/etl.py:etl_extract",
            concurrency_limit=1,
            concurrency_options=ConcurrencyOptions(
                collision_strategy=ConcurrencyLimitStrategy.ENQUEUE,
                grace_period_seconds=LEASE_GRACE_SECONDS,
            ),
            schedules=[
                DeploymentScheduleCreate(
                    schedule=IntervalSchedule(interval=timedelta(hours=1), anchor_date=FIXED_ANCHOR, timezone="UTC"),
                    active=True,
                    slug="hourly",
                )
            ],
        ),
        "etl-extract/extract-backfill": dict(
            description="Manual backfill of historical partitions",
            work_pool_name="process-pool",
            tags=["etl", "backfill"],
            entrypoint="flows/etl.py:etl_extract",
            parameters={"source": "s3://acme-archive/orders", "batches": 24},
            paused=True,
        ),
        "etl-transform/transform-daily": dict(
            description="Daily transformation at 06:00 Berlin time",
            work_pool_name="docker-pool",
            work_queue_name="docker-limited",
            tags=["etl"],
            entrypoint="flows/etl.py:etl_transform",
            concurrency_limit=2,
            concurrency_options=ConcurrencyOptions(
                collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW,
                grace_period_seconds=LEASE_GRACE_SECONDS,
            ),
            schedules=[
                DeploymentScheduleCreate(
                    schedule=CronSchedule(cron="0 6 * * *", timezone="Europe/Berlin"), active=True, slug="daily"
                )
            ],
        ),
        "etl-pipeline/pipeline-nightly": dict(
            description="Nightly pipeline on Mon/Wed/Fri",
            work_pool_name="process-pool",
            tags=["etl", "nightly"],
            entrypoint="flows/etl.py:etl_pipeline",
            paused=True,
            schedules=[
                DeploymentScheduleCreate(
                    schedule=RRuleSchedule(
                        rrule="DTSTART:20240101T020000\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=2;BYMINUTE=0",
                        timezone="America/New_York",
                    ),
                    active=True,
                    slug="mon-wed-fri",
                )
            ],
        ),
        "ml-train-model/train-weekly": dict(
            description="Weekly model training on the GPU cluster",
            version="2024.06.1",
            work_pool_name="k8s-pool",
            work_queue_name="gpu",
            tags=["ml"],
            entrypoint="flows/train.py:train_model",
            path="/opt/prefect/ml-pipelines",
            parameters={"dataset": "s3://acme-ml/train.parquet", "epochs": 10, "learning_rate": 0.01},
            parameter_openapi_schema={
                "title": "Parameters",
                "type": "object",
                "properties": {
                    "dataset": {"title": "dataset", "type": "string", "position": 0},
                    "epochs": {"title": "epochs", "type": "integer", "default": 5, "position": 1},
                    "learning_rate": {"title": "learning_rate", "type": "number", "default": 0.001, "position": 2},
                },
                "required": ["dataset"],
            },
            enforce_parameter_schema=True,
            job_variables={"image": "ghcr.io/acme/ml-train:1.4", "env": {"MODEL_REGISTRY": "mlflow"}},
            pull_steps=[
                {
                    "prefect.deployments.steps.git_clone": {
                        "repository": "https://github.com/acme/ml-pipelines.git",
                        "branch": "main",
                    }
                }
            ],
            schedules=[
                DeploymentScheduleCreate(
                    schedule=CronSchedule(cron="0 3 * * 0", timezone="UTC"), active=False, slug="sunday-disabled"
                )
            ],
        ),
    }
    deployment_ids = {}
    for full_name, spec in specs.items():
        flow_name, name = full_name.split("/")
        deployment_ids[full_name] = client.create_deployment(flow_id=flow_ids[flow_name], name=name, **spec)
    # Raw POST: the client's DeploymentCreate turns description=None into the
    # string "None", and the bare deployment must have no description at all.
    bare = _api(client, "POST", "/deployments/", {"name": "load-bare", "flow_id": str(flow_ids["etl-load"])})
    deployment_ids["etl-load/load-bare"] = UUID(bare["id"])
    _progress(f"created {len(deployment_ids)} deployments")
    return deployment_ids


def _run_flows_in_process() -> None:
    _flaky_attempts["count"] = 0
    with tags("etl", "demo"):
        etl_extract.with_options(flow_run_name="extract-ok-1")()
        etl_extract.with_options(flow_run_name="extract-ok-2")(source="s3://acme-raw/customers", batches=3)
        # Run the retried transform first: the flaky task fails its first two attempts.
        etl_transform.with_options(flow_run_name="transform-retried")(strict=False)
        etl_transform.with_options(flow_run_name="transform-failed")(strict=True, return_state=True)
        etl_load.with_options(flow_run_name="load-ok")()
        etl_pipeline.with_options(flow_run_name="pipeline-with-subflows")()
    with tags("ops"):
        ops_cleanup.with_options(flow_run_name="cleanup-failed-adhoc")(
            older_than_days=7, dry_run=False, return_state=True
        )
        ops_cleanup.with_options(flow_run_name="cleanup-timed-out", timeout_seconds=1)(
            hang_seconds=10, return_state=True
        )
        ops_audit.with_options(flow_run_name="audit-verbose")(lines=VERBOSE_LOG_LINES)
        with temporary_settings(updates={PREFECT_LOGGING_TO_API_ENABLED: False}):
            ops_audit.with_options(flow_run_name="audit-no-logs")(lines=3)
    _progress("executed flows in-process")


def _force(client: SyncPrefectClient, run_id: UUID, *states: State) -> None:
    for state in states:
        client.set_flow_run_state(run_id, state, force=True)


def _orchestrate(client: SyncPrefectClient, run_id: UUID, state: State) -> None:
    """Propose a state through orchestration rules (so deployment slots are taken)."""
    result = client.set_flow_run_state(run_id, state)
    if result.status.value != "ACCEPT":
        raise RuntimeError(f"{state.type.value} was not accepted for run {run_id}: {result.details}")


def _seed_stateful_runs(client: SyncPrefectClient, deployment_ids: dict[str, UUID]) -> None:
    now = datetime.now(UTC)
    extract = deployment_ids["etl-extract/extract-hourly"]
    transform = deployment_ids["etl-transform/transform-daily"]
    load = deployment_ids["etl-load/load-bare"]

    # Takes the only slot of the ENQUEUE deployment (Pending acquires it).
    running = client.create_flow_run_from_deployment(extract, name="extract-hourly-running", state=Scheduled())
    _orchestrate(client, running.id, Pending())
    _orchestrate(client, running.id, Running())
    task_run = client.create_task_run(
        extract_batch, flow_run_id=running.id, dynamic_key="0", name=MANUAL_RUNNING_TASK_RUN
    )
    client.set_task_run_state(task_run.id, Running(), force=True)

    client.create_flow_run_from_deployment(
        extract, name="extract-hourly-late", state=Late(scheduled_time=now - timedelta(minutes=10))
    )
    client.create_flow_run_from_deployment(
        load, name="load-bare-late", state=Late(scheduled_time=now - timedelta(minutes=30))
    )

    # One of the two slots of the CANCEL_NEW deployment.
    transform_running = client.create_flow_run_from_deployment(
        transform, name="transform-daily-running", state=Scheduled()
    )
    _orchestrate(client, transform_running.id, Pending())
    _orchestrate(client, transform_running.id, Running())
    for day in (1, 2, 3):
        client.create_flow_run_from_deployment(
            transform,
            name=f"transform-daily-scheduled-{day}",
            state=Scheduled(scheduled_time=now + timedelta(days=day)),
        )
    cancelled = client.create_flow_run_from_deployment(transform, name="transform-daily-cancelled")
    _force(client, cancelled.id, Cancelled(message="Cancelled by operator"))

    pending = client.create_flow_run_from_deployment(load, name="load-bare-pending", state=Scheduled())
    _orchestrate(client, pending.id, Pending())

    crashed = client.create_flow_run(etl_load, name="load-crashed", tags=["etl"])
    _force(client, crashed.id, Running(), Crashed(message="Worker process exited unexpectedly (exit code 137)"))

    paused = client.create_flow_run(etl_pipeline, name="pipeline-paused", tags=["etl"])
    _force(
        client,
        paused.id,
        Running(),
        Paused(pause_expiration_time=now + timedelta(days=2), pause_key="manual-approval"),
    )
    _progress("created runs in Running/Pending/Scheduled/Late/Cancelled/Crashed/Paused states")


# --------------------------------------------------------------------------
# Diagnosis scenarios (diagnose_flow_run / diagnose_deployment)
# --------------------------------------------------------------------------

DIAG_FLOW = "diag-reports"
DIAG_TAG = "diag-serial"
# A tag limit of 2 filled by the task runs of two Running runs, a third waiting.
DIAG_RUNNING_TAG = "diag-running"
# Existing pools (tests expect at most five pools): one without workers, and one with an
# ONLINE worker and a paused queue.
DIAG_IDLE_POOL = "docker-pool"
DIAG_READY_POOL = "process-pool"
DIAG_PAUSED_QUEUE = "backlog"
DIAG_WORKER = "worker-process-1"
# The fifth pool: a limit of one slot, taken, and an ONLINE worker.
DIAG_FULL_POOL = "diag-full-pool"
DIAG_FULL_POOL_WORKER = "worker-full-1"
# A queue of the ready pool with a limit of one slot, taken.
DIAG_FULL_QUEUE = "diag-single"
DIAG_LATE_MINUTES = (25, 15, 5)


@task(name="diag-step")
def diag_step() -> None:
    """Never executed: the diagnosis scenarios only need its task runs."""


def _seed_diagnosis(client: SyncPrefectClient) -> dict[str, Any]:
    """Runs and deployments stuck or failing for one known reason each; returns their names.

    Seeded after the in-process runs settled (the blocked task run never settles) and
    before the automations exist (so none of them fires on these state changes).
    """
    now = datetime.now(UTC)
    flow_id = client.create_flow_from_name(DIAG_FLOW)

    def deployment(name: str, **spec: Any) -> UUID:
        return client.create_deployment(flow_id=flow_id, name=name, entrypoint="flows/reports.py:reports", **spec)

    hourly = [
        DeploymentScheduleCreate(
            schedule=IntervalSchedule(interval=timedelta(hours=1), anchor_date=FIXED_ANCHOR, timezone="UTC"),
            active=True,
        )
    ]
    no_workers = deployment("report-no-workers", work_pool_name=DIAG_IDLE_POOL, schedules=hourly)
    paused_queue = deployment("report-paused-queue", work_pool_name=DIAG_READY_POOL, work_queue_name=DIAG_PAUSED_QUEUE)
    healthy = deployment("report-healthy", work_pool_name=DIAG_READY_POOL, schedules=hourly)
    deployment(
        "report-paused",
        work_pool_name=DIAG_READY_POOL,
        paused=True,
        schedules=[
            DeploymentScheduleCreate(schedule=CronSchedule(cron="0 7 * * *", timezone="UTC"), active=True)
        ],
    )

    # Late because no worker polls the pool: a backlog, the oldest is the scenario run.
    for i, minutes in enumerate(DIAG_LATE_MINUTES):
        client.create_flow_run_from_deployment(
            no_workers,
            name="diag-late-no-workers" if i == 0 else f"diag-late-no-workers-{i}",
            state=Late(scheduled_time=now - timedelta(minutes=minutes)),
        )
    # Late because its queue is paused, although the pool has an ONLINE worker.
    client.create_flow_run_from_deployment(
        paused_queue, name="diag-late-paused-queue", state=Late(scheduled_time=now - timedelta(minutes=20))
    )
    # Late because every slot of its pool, or of its queue, is taken by a Running run.
    client.create_work_pool(WorkPoolCreate(name=DIAG_FULL_POOL, type="process", concurrency_limit=1))
    client.send_worker_heartbeat(
        DIAG_FULL_POOL, DIAG_FULL_POOL_WORKER, heartbeat_interval_seconds=WORKER_HEARTBEAT_SECONDS
    )
    client.create_work_queue(DIAG_FULL_QUEUE, work_pool_name=DIAG_READY_POOL, concurrency_limit=1)
    full_pool = deployment("report-full-pool", work_pool_name=DIAG_FULL_POOL)
    full_queue = deployment("report-full-queue", work_pool_name=DIAG_READY_POOL, work_queue_name=DIAG_FULL_QUEUE)
    for full, label in ((full_pool, "pool"), (full_queue, "queue")):
        holder_run = client.create_flow_run_from_deployment(full, name=f"diag-{label}-holder")
        _force(client, holder_run.id, Pending(), Running())
        client.create_flow_run_from_deployment(
            full, name=f"diag-late-full-{label}", state=Late(scheduled_time=now - timedelta(minutes=10))
        )
    # Healthy: three completed runs and the next one scheduled.
    for hours in (3, 2, 1):
        done = client.create_flow_run_from_deployment(healthy, name=f"diag-healthy-done-{hours}")
        _force(client, done.id, Running(), Completed())
    client.create_flow_run_from_deployment(
        healthy, name="diag-healthy-next", state=Scheduled(scheduled_time=now + timedelta(hours=1))
    )

    # A tag concurrency limit of 1: one task run holds the slot, another waits for it.
    client.create_concurrency_limit(DIAG_TAG, 1)
    holder = client.create_flow_run(diag_step_flow, name="diag-tag-holder", tags=["diag"], state=Scheduled())
    blocked = client.create_flow_run(diag_step_flow, name="diag-tag-blocked", tags=["diag"], state=Scheduled())
    _force(client, holder.id, Running())
    _force(client, blocked.id, Running())
    holder_task = client.create_task_run(
        diag_step, flow_run_id=holder.id, dynamic_key="0", name="diag-step-holder", extra_tags=[DIAG_TAG]
    )
    blocked_task = client.create_task_run(
        diag_step, flow_run_id=blocked.id, dynamic_key="0", name="diag-step-blocked", extra_tags=[DIAG_TAG]
    )
    # Slots are taken the way the task engine takes them (proposing Running through the
    # orchestration rules deadlocks SQLite: the rule writes the limit in a second session).
    client.increment_v1_concurrency_slots(names=[DIAG_TAG], task_run_id=holder_task.id)
    client.set_task_run_state(holder_task.id, Running(), force=True)
    try:
        client.increment_v1_concurrency_slots(names=[DIAG_TAG], task_run_id=blocked_task.id)
    except httpx.HTTPStatusError as refused:
        if refused.response.status_code != 423:
            raise
    else:
        raise RuntimeError(f"the {DIAG_TAG} limit of 1 gave a second slot")
    client.set_task_run_state(blocked_task.id, AwaitingConcurrencySlot(), force=True)
    running_tag = _seed_running_tag_limit(client)
    _progress("created diagnosis scenarios")
    return {
        "flow": DIAG_FLOW,
        "tag_limit": {
            "tag": DIAG_TAG,
            "limit": 1,
            "blocked_run": "diag-tag-blocked",
            "blocked_task_run": "diag-tag-blocked/diag-step-blocked",
            "holder_run": "diag-tag-holder",
            "holder_task_run": "diag-tag-holder/diag-step-holder",
        },
        "running_tag_limit": running_tag,
        "late_no_workers": {
            "run": "diag-late-no-workers",
            "work_pool": DIAG_IDLE_POOL,
            "deployment": f"{DIAG_FLOW}/report-no-workers",
            "late_runs": len(DIAG_LATE_MINUTES),
        },
        "late_paused_queue": {
            "run": "diag-late-paused-queue",
            "work_pool": DIAG_READY_POOL,
            "work_queue": DIAG_PAUSED_QUEUE,
            "worker": DIAG_WORKER,
            "deployment": f"{DIAG_FLOW}/report-paused-queue",
        },
        "late_full_pool": {
            "run": "diag-late-full-pool",
            "holder_run": "diag-pool-holder",
            "work_pool": DIAG_FULL_POOL,
            "deployment": f"{DIAG_FLOW}/report-full-pool",
        },
        "late_full_queue": {
            "run": "diag-late-full-queue",
            "holder_run": "diag-queue-holder",
            "work_pool": DIAG_READY_POOL,
            "work_queue": DIAG_FULL_QUEUE,
            "deployment": f"{DIAG_FLOW}/report-full-queue",
        },
        "deployment_concurrency": {
            "run": "extract-hourly-late",
            "holder_run": "extract-hourly-running",
            "deployment": "etl-extract/extract-hourly",
        },
        "failed_with_traceback": {"run": "transform-failed", "failed_task_run": "transform-failed/validate-rows"},
        "crashed": {"run": "load-crashed"},
        "deployments": {
            "late_backlog": f"{DIAG_FLOW}/report-no-workers",
            "paused_queue": f"{DIAG_FLOW}/report-paused-queue",
            "healthy": f"{DIAG_FLOW}/report-healthy",
            "paused": f"{DIAG_FLOW}/report-paused",
            "full_queue": f"{DIAG_FLOW}/report-full-queue",
        },
    }


def _seed_running_tag_limit(client: SyncPrefectClient) -> dict[str, Any]:
    """Running runs around a full tag limit of 2: one run's task run holds a slot, another
    run's the other, and a third run's task run waits for one.

    The waiting task run stays Pending, as under Prefect 3's task engine, which takes the
    tag's slot before it proposes Running and keeps retrying while the server refuses.
    """
    client.create_concurrency_limit(DIAG_RUNNING_TAG, 2)
    names = {}
    for role in ("busy", "peer", "waiting"):
        run = client.create_flow_run(
            diag_step_flow, name=f"diag-running-{role}", tags=["diag"], state=Scheduled()
        )
        _force(client, run.id, Running())
        task_run = client.create_task_run(
            diag_step, flow_run_id=run.id, dynamic_key="0", name=f"diag-step-{role}", extra_tags=[DIAG_RUNNING_TAG]
        )
        names[role] = (f"diag-running-{role}", f"diag-running-{role}/diag-step-{role}")
        if role == "waiting":
            try:
                client.increment_v1_concurrency_slots(names=[DIAG_RUNNING_TAG], task_run_id=task_run.id)
            except httpx.HTTPStatusError as refused:
                if refused.response.status_code != 423:
                    raise
            else:
                raise RuntimeError(f"the {DIAG_RUNNING_TAG} limit of 2 gave a third slot")
            client.set_task_run_state(task_run.id, Pending(), force=True)
        else:
            client.increment_v1_concurrency_slots(names=[DIAG_RUNNING_TAG], task_run_id=task_run.id)
            client.set_task_run_state(task_run.id, Running(), force=True)
    return {
        "tag": DIAG_RUNNING_TAG,
        "limit": 2,
        "holder_run": names["busy"][0],
        "holder_task_run": names["busy"][1],
        "peer_run": names["peer"][0],
        "peer_task_run": names["peer"][1],
        "waiting_run": names["waiting"][0],
        "waiting_task_run": names["waiting"][1],
    }


@flow(name=DIAG_FLOW)
def diag_step_flow() -> None:
    """Never executed: the diagnosis runs are created and moved through states by hand."""


def _emit_custom_events(client: SyncPrefectClient, flow_ids: dict[str, UUID]) -> None:
    # POST /events rather than emit_event(): the events worker thread attaches
    # related resources from the last flow/task run context it saw, so events
    # emitted after a run would claim to relate to that run.
    now = datetime.now(UTC)
    related_flow = {
        "prefect.resource.id": f"prefect.flow.{flow_ids['etl-extract']}",
        "prefect.resource.role": "flow",
        "prefect.resource.name": "etl-extract",
    }
    datasets = ["orders", "customers", "payments", "inventory"]

    def dataset_resource(i: int) -> dict[str, str]:
        dataset = datasets[i % len(datasets)]
        return {"prefect.resource.id": f"acme.dataset.{dataset}", "prefect.resource.name": dataset}

    events = [
        Event(
            event=CUSTOM_EVENT,
            resource=dataset_resource(i),
            related=[related_flow],
            payload={"rows": 1000 + i, "partition": f"2024-06-{1 + i % 28:02d}"},
            # Spread over the last 40 minutes: still "within the last hour".
            occurred=now - timedelta(seconds=30 * (CUSTOM_EVENT_COUNT - i)),
        )
        for i in range(CUSTOM_EVENT_COUNT)
    ] + [
        Event(
            event=QUALITY_EVENT,
            resource=dataset_resource(i),
            payload={"passed": i % 5 != 0},
            occurred=now - timedelta(seconds=45 * (QUALITY_EVENT_COUNT - i)),
        )
        for i in range(QUALITY_EVENT_COUNT)
    ]
    _api(client, "POST", "/events", [event.model_dump(mode="json") for event in events])
    _progress(f"emitted {len(events)} custom events")


def _seed_automations(client: SyncPrefectClient) -> None:
    flow_run = {"prefect.resource.id": "prefect.flow-run.*"}
    extract_flow = {"prefect.resource.role": "flow", "prefect.resource.name": "etl-extract"}
    automations = [
        AutomationCore(
            name="etl-failure-alert",
            description="Reacts to any failed flow run",
            tags=["etl"],
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed"},
                match=flow_run,
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
            actions=[DoNothing()],
        ),
        AutomationCore(
            name="etl-stuck-pending",
            description="Runs stuck in Pending for 5 minutes",
            trigger=EventTrigger(
                after={"prefect.flow-run.Pending"},
                expect={"prefect.flow-run.Running", "prefect.flow-run.Crashed"},
                for_each={"prefect.resource.id"},
                match=flow_run,
                posture=Posture.Proactive,
                threshold=1,
                within=timedelta(seconds=300),
            ),
            actions=[DoNothing()],
        ),
        AutomationCore(
            name="etl-data-and-extract",
            description="Data arrived and an extract completed within an hour",
            trigger=CompoundTrigger(
                require="all",
                within=timedelta(hours=1),
                triggers=[
                    EventTrigger(expect={CUSTOM_EVENT}, posture=Posture.Reactive, threshold=1),
                    EventTrigger(
                        expect={"prefect.flow-run.Completed"},
                        match=flow_run,
                        match_related=extract_flow,
                        posture=Posture.Reactive,
                        threshold=1,
                    ),
                ],
            ),
            actions=[DoNothing()],
        ),
        AutomationCore(
            name="etl-sequence-disabled",
            description="Extract completes, then data arrives (disabled)",
            enabled=False,
            trigger=SequenceTrigger(
                within=timedelta(hours=2),
                triggers=[
                    EventTrigger(
                        expect={"prefect.flow-run.Completed"},
                        match=flow_run,
                        match_related=extract_flow,
                        posture=Posture.Reactive,
                        threshold=1,
                    ),
                    EventTrigger(expect={CUSTOM_EVENT}, posture=Posture.Reactive, threshold=1),
                ],
            ),
            actions=[DoNothing()],
        ),
        AutomationCore(
            name="acme-data-arrived-disabled",
            enabled=False,
            trigger=EventTrigger(
                expect={CUSTOM_EVENT}, posture=Posture.Reactive, threshold=10, within=timedelta(minutes=10)
            ),
            actions=[DoNothing()],
        ),
    ]
    for automation in automations:
        client.create_automation(automation)
    _progress(f"created {len(automations)} automations")


# --------------------------------------------------------------------------
# Read-back: the manifest only states what the server reports
# --------------------------------------------------------------------------


def _task_runs_settled(client: SyncPrefectClient) -> bool:
    task_runs = _filter_all(client, "/task_runs/filter", {})
    unsettled = [
        t for t in task_runs if t["state_type"] not in FINAL_STATE_TYPES and t["name"] != MANUAL_RUNNING_TASK_RUN
    ]
    return len(task_runs) >= EXPECTED_TASK_RUNS and not unsettled


def _events_since(client: SyncPrefectClient, since: datetime) -> dict[str, int]:
    counts = _api(
        client,
        "POST",
        "/events/count-by/event",
        {"filter": {"occurred": {"since": since.isoformat(), "until": datetime.now(UTC).isoformat()}}},
    )
    return {c["value"]: c["count"] for c in counts}


def _custom_events_persisted(client: SyncPrefectClient, since: datetime) -> bool:
    counts = _events_since(client, since)
    return counts.get(CUSTOM_EVENT, 0) >= CUSTOM_EVENT_COUNT and counts.get(QUALITY_EVENT, 0) >= QUALITY_EVENT_COUNT


def _build_manifest(client: SyncPrefectClient, flow_ids: dict[str, UUID], hour_ago: datetime) -> dict[str, Any]:
    flows = {f["name"]: f for f in _filter_all(client, "/flows/filter", {})}
    deployments = _filter_all(client, "/deployments/filter", {})
    flow_name_by_id = {f["id"]: name for name, f in flows.items()}
    deployment_name_by_id = {d["id"]: f"{flow_name_by_id[d['flow_id']]}/{d['name']}" for d in deployments}

    runs = _filter_all(client, "/flow_runs/filter", {"sort": "NAME_ASC"})
    run_name_by_id = {r["id"]: r["name"] for r in runs}
    task_runs = _filter_all(client, "/task_runs/filter", {"sort": "NAME_ASC"})
    task_run_by_id = {t["id"]: t for t in task_runs}
    logs = _filter_all(client, "/logs/filter", {"sort": "TIMESTAMP_ASC"})
    log_counts = Counter(log["flow_run_id"] for log in logs)
    error_log_counts = Counter(log["flow_run_id"] for log in logs if log["level"] >= logging.ERROR)

    flow_runs: dict[str, Any] = {}
    by_state: dict[str, list[str]] = defaultdict(list)
    subflows: dict[str, str] = {}
    for r in runs:
        parent_task = task_run_by_id.get(r["parent_task_run_id"] or "")
        parent = run_name_by_id.get(parent_task["flow_run_id"]) if parent_task else None
        if parent:
            subflows[r["name"]] = parent
        flow_runs[r["name"]] = {
            "id": r["id"],
            "flow": flow_name_by_id[r["flow_id"]],
            "deployment": deployment_name_by_id.get(r["deployment_id"] or ""),
            "state_type": r["state_type"],
            "state_name": r["state_name"],
            "tags": sorted(r["tags"]),
            "parameters": r["parameters"],
            "parent_flow_run": parent,
            "work_pool": r["work_pool_name"],
            "work_queue": r["work_queue_name"],
            "expected_start_time": r["expected_start_time"],
            "log_count": log_counts[r["id"]],
            "error_log_count": error_log_counts[r["id"]],
        }
        by_state[r["state_name"]].append(r["name"])

    task_run_manifest = {}
    for t in task_runs:
        owner = run_name_by_id.get(t["flow_run_id"], "")
        # Subflow parents own a placeholder task run named after the child flow.
        task_run_manifest[f"{owner}/{t['name']}"] = {
            "id": t["id"],
            "flow_run": owner,
            "state_type": t["state_type"],
            "state_name": t["state_name"],
            "run_count": t["run_count"],
            "tags": sorted(t["tags"]),
        }

    pools = {p["name"]: p for p in _filter_all(client, "/work_pools/filter", {})}
    work_queues: dict[str, Any] = {}
    workers: dict[str, Any] = {}
    for pool_name in pools:
        for q in _api(client, "POST", f"/work_pools/{pool_name}/queues/filter", {}):
            work_queues[f"{pool_name}/{q['name']}"] = {
                "id": q["id"],
                "concurrency_limit": q["concurrency_limit"],
                "is_paused": q["is_paused"],
                "priority": q["priority"],
                "status_at_seed": q["status"],
            }
        for w in _api(client, "POST", f"/work_pools/{pool_name}/workers/filter", {}):
            workers[w["name"]] = {"work_pool": pool_name, "status": w["status"], "id": w.get("id")}

    v1_limits = {
        c["tag"]: {"id": c["id"], "limit": c["concurrency_limit"]}
        for c in _api(client, "POST", "/concurrency_limits/filter", {})
    }
    v2_limits = {
        g["name"]: {"id": g["id"], "limit": g["limit"], "active": g["active"], "active_slots": g["active_slots"]}
        for g in _filter_all(client, "/v2/concurrency_limits/filter", {})
    }
    automations = {
        a["name"]: {
            "id": a["id"],
            "enabled": a["enabled"],
            "trigger_type": a["trigger"]["type"],
            "posture": a["trigger"].get("posture"),
        }
        for a in _filter_all(client, "/automations/filter", {})
    }
    events_by_type = _events_since(client, hour_ago)

    flows_with_deployment = {d["flow_id"] for d in deployments}
    deployment_manifest = {}
    for d in deployments:
        options = d.get("concurrency_options") or {}
        deployment_manifest[deployment_name_by_id[d["id"]]] = {
            "id": d["id"],
            "flow": flow_name_by_id[d["flow_id"]],
            "paused": d["paused"],
            "tags": d["tags"],
            "description": d["description"],
            "work_pool": d["work_pool_name"],
            "work_queue": d["work_queue_name"],
            "concurrency_limit": (d.get("global_concurrency_limit") or {}).get("limit"),
            "collision_strategy": options.get("collision_strategy"),
            "schedules": [
                {
                    "slug": s.get("slug"),
                    "active": s["active"],
                    "kind": next(k for k in ("cron", "interval", "rrule") if k in s["schedule"]),
                    "timezone": s["schedule"].get("timezone"),
                }
                for s in d["schedules"]
            ],
            "parameter_schema_properties": sorted((d["parameter_openapi_schema"] or {}).get("properties", {})),
            "parameters": d["parameters"],
            "job_variables": d["job_variables"],
            "pull_steps": d["pull_steps"],
            "entrypoint": d["entrypoint"],
            "version": d["version"],
            "status": d["status"],
        }

    def names(state_type: str) -> list[str]:
        return sorted(n for n, r in flow_runs.items() if r["state_type"] == state_type)

    return {
        "prefect_version": prefect.__version__,
        "flows": {
            name: {
                "id": f["id"],
                "tags": f["tags"],
                "deployments": sorted(n for n, d in deployment_manifest.items() if d["flow"] == name),
            }
            for name, f in sorted(flows.items())
        },
        "flows_with_tags": sorted(n for n, f in flows.items() if f["tags"]),
        "flows_without_deployment": sorted(n for n, f in flows.items() if f["id"] not in flows_with_deployment),
        "deployments": dict(sorted(deployment_manifest.items())),
        "paused_deployments": sorted(n for n, d in deployment_manifest.items() if d["paused"]),
        "flow_runs": flow_runs,
        "flow_runs_by_state_name": {k: sorted(v) for k, v in sorted(by_state.items())},
        "failed_flow_runs": names("FAILED"),
        "crashed_flow_runs": names("CRASHED"),
        "running_flow_runs": names("RUNNING"),
        "pending_flow_runs": names("PENDING"),
        "scheduled_flow_runs": sorted(n for n in names("SCHEDULED") if flow_runs[n]["state_name"] == "Scheduled"),
        "late_flow_runs": sorted(by_state.get("Late", [])),
        "paused_flow_runs": names("PAUSED"),
        "adhoc_flow_runs": sorted(
            n for n, r in flow_runs.items() if r["deployment"] is None and not r["parent_flow_run"]
        ),
        "subflow_runs": subflows,
        "verbose_flow_run": "audit-verbose",
        "flow_runs_without_logs": sorted(n for n, r in flow_runs.items() if r["log_count"] == 0),
        "executed_flow_run_without_logs": "audit-no-logs",
        "task_runs": dict(sorted(task_run_manifest.items())),
        "failed_task_runs": sorted(k for k, t in task_run_manifest.items() if t["state_type"] == "FAILED"),
        "running_task_runs": sorted(k for k, t in task_run_manifest.items() if t["state_type"] == "RUNNING"),
        "retried_task_runs": sorted(k for k, t in task_run_manifest.items() if t["run_count"] > 1),
        "work_pools": {
            name: {
                "id": p["id"],
                "type": p["type"],
                "status": p["status"],
                "is_paused": p["is_paused"],
                "concurrency_limit": p["concurrency_limit"],
                "description": p["description"],
                "default_queue": p.get("default_queue_id"),
            }
            for name, p in sorted(pools.items())
        },
        "work_queues": dict(sorted(work_queues.items())),
        "workers": workers,
        "tag_concurrency_limits": v1_limits,
        "global_concurrency_limits": dict(sorted(v2_limits.items())),
        "automations": dict(sorted(automations.items())),
        "events": {
            "total_last_hour": sum(events_by_type.values()),
            "by_type": dict(sorted(events_by_type.items())),
            "custom_event": CUSTOM_EVENT,
            "custom_event_count": events_by_type.get(CUSTOM_EVENT, 0),
            "custom_event_related_flow": {"name": "etl-extract", "id": str(flow_ids["etl-extract"]), "role": "flow"},
        },
        "logs": {"total": len(logs)},
        "skipped": [],
        "notes": [
            "Tag (v1) concurrency limits are stored as global limits named 'tag:<tag>', and each deployment "
            "concurrency limit as one named 'deployment:<id>'; both appear in /v2/concurrency_limits/filter.",
            f"The {CUSTOM_EVENT_COUNT} '{CUSTOM_EVENT}' events are backdated over the 40 minutes before seeding "
            f"and the {QUALITY_EVENT_COUNT} '{QUALITY_EVENT}' events over the 30 minutes before it.",
            "Event counts and work-queue statuses are snapshots at seed time; the server keeps emitting events "
            "(e.g. worker/queue status, the proactive automation) afterwards.",
            "Automations are created after all seeded events were persisted, so none fired on the seed data.",
            "Flow tags are set with PATCH /flows/{id}; deployments and runs carry their own tags.",
        ],
    }


def _check_manifest(m: dict[str, Any]) -> None:
    """Fail loudly if the server did not end up with the promised dataset."""
    runs = m["flow_runs"]
    problems = []
    if runs["audit-verbose"]["log_count"] <= 250:
        problems.append(f"audit-verbose has only {runs['audit-verbose']['log_count']} logs")
    if runs["audit-no-logs"]["log_count"] != 0:
        problems.append("audit-no-logs has logs")
    for name in ("transform-failed", "cleanup-failed-adhoc"):
        if runs[name]["state_type"] != "FAILED" or not runs[name]["error_log_count"]:
            problems.append(f"{name} is not FAILED with an ERROR log")
    if runs["cleanup-timed-out"]["state_name"] != "TimedOut":
        problems.append(f"cleanup-timed-out is {runs['cleanup-timed-out']['state_name']}")
    if not m["failed_task_runs"] or not m["running_task_runs"]:
        problems.append("missing FAILED or RUNNING task run")
    if m["task_runs"].get("transform-retried/fetch-rows", {}).get("run_count") != 3:
        problems.append("fetch-rows did not run 3 times")
    if m["events"]["total_last_hour"] <= 130:
        problems.append(f"only {m['events']['total_last_hour']} events in the last hour")
    problems.extend(_diagnosis_problems(m))
    if problems:
        raise RuntimeError("seeded dataset is incomplete: " + "; ".join(problems))


def _diagnosis_problems(m: dict[str, Any]) -> list[str]:
    d, runs, tasks = m["diagnosis"], m["flow_runs"], m["task_runs"]
    problems = []
    tag = d["tag_limit"]
    if tasks[tag["blocked_task_run"]]["state_name"] != "AwaitingConcurrencySlot":
        problems.append(f"{tag['blocked_task_run']} is not AwaitingConcurrencySlot")
    if tasks[tag["holder_task_run"]]["state_type"] != "RUNNING":
        problems.append(f"{tag['holder_task_run']} is not RUNNING")
    running = d["running_tag_limit"]
    for key in ("holder_task_run", "peer_task_run"):
        if tasks[running[key]]["state_type"] != "RUNNING":
            problems.append(f"{running[key]} is not RUNNING")
    if tasks[running["waiting_task_run"]]["state_type"] != "PENDING":
        problems.append(f"{running['waiting_task_run']} is not PENDING")
    for scenario in ("late_no_workers", "late_paused_queue", "late_full_pool", "late_full_queue",
                     "deployment_concurrency"):
        if runs[d[scenario]["run"]]["state_name"] != "Late":
            problems.append(f"{d[scenario]['run']} is not Late")
    for scenario in ("late_full_pool", "late_full_queue"):
        if runs[d[scenario]["holder_run"]]["state_type"] != "RUNNING":
            problems.append(f"{d[scenario]['holder_run']} is not RUNNING")
    if m["work_pools"][d["late_no_workers"]["work_pool"]]["status"] == "READY":
        problems.append(f"{d['late_no_workers']['work_pool']} has a worker")
    if m["workers"].get(d["late_paused_queue"]["worker"], {}).get("status") != "ONLINE":
        problems.append(f"{d['late_paused_queue']['worker']} is not ONLINE")
    return problems


def seed(api_url: str, auth_string: str | None = None) -> dict[str, Any]:
    """Seed the (empty) Prefect server at ``api_url`` and return the manifest."""
    global _seed_started
    _seed_started = started = time.monotonic()
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    settings = {
        PREFECT_API_URL: api_url.rstrip("/"),
        PREFECT_API_AUTH_STRING: auth_string,
        # The heartbeat thread is joined at the end of every flow run, which
        # costs up to a second per run; seeded runs are far shorter than the
        # heartbeat interval anyway.
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
    }

    with (
        # Failed runs persist their exception as a result file; keep those out
        # of the user's PREFECT_HOME.
        tempfile.TemporaryDirectory(prefix="prefect-seed-results-") as results_dir,
        temporary_settings(updates={**settings, PREFECT_LOCAL_STORAGE_PATH: results_dir}),
        _quiet_console(),
        get_client(sync_client=True) as client,
    ):
        flow_ids = _seed_flows(client)
        _seed_work_pools(client)
        deployment_ids = _seed_deployments(client, flow_ids)
        _run_flows_in_process()
        # After the in-process runs: tasks tagged with a limited tag acquire and
        # release slots through the API, which slows runs down by seconds and
        # leaves the slot counts timing-dependent.
        _seed_concurrency_limits(client)
        _seed_stateful_runs(client, deployment_ids)
        _emit_custom_events(client, flow_ids)

        # Run logs and task-run events (task runs are recorded from events) are
        # sent by background workers: flush them, then wait for the server to
        # persist what it received.
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)
        _wait_for("task runs to be recorded", lambda: _task_runs_settled(client))
        _wait_for("custom events to be persisted", lambda: _custom_events_persisted(client, hour_ago))
        _progress("logs, task runs and events persisted")
        diagnosis = _seed_diagnosis(client)
        _seed_automations(client)

        manifest = _build_manifest(client, flow_ids, hour_ago)
        manifest["diagnosis"] = diagnosis

    manifest["api_url"] = api_url
    manifest["basic_auth"] = auth_string is not None
    manifest["seeded_at"] = datetime.now(UTC).isoformat()
    manifest["seed_seconds"] = round(time.monotonic() - started, 2)
    _check_manifest(manifest)
    _progress(f"done in {manifest['seed_seconds']}s")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True, help="e.g. http://127.0.0.1:4200/api")
    parser.add_argument("--auth-string", help="'user:pass' for a server with Basic auth")
    parser.add_argument("--manifest", type=Path, help="write the JSON manifest here (default: stdout)")
    args = parser.parse_args(argv)

    manifest = seed(args.api_url, args.auth_string)
    text = json.dumps(manifest, indent=2, sort_keys=False)
    if args.manifest:
        args.manifest.write_text(text + "\n")
        _progress(f"manifest written to {args.manifest}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
