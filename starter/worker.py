"""The worker: one process that runs the `ProcessJob` workflow and every pipeline activity,
and the janitor (`PurgeWork`) that its task queue's schedule starts.

Builds its clients from settings (Temporal, artifact store, Postgres, embedder, HTTP session),
registers the workflows and activities, creates or updates the janitor schedule
(starter/janitor.py), and drains gracefully on SIGTERM/SIGINT: running
activities get `graceful_shutdown_timeout` to finish before the worker exits; anything left
is retried by Temporal on another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from datetime import timedelta

from pressroom.activities.janitor import JanitorActivities
from pressroom.activities.memory import ReleaseMemory
from pressroom.activities.pipeline import PipelineActivities
from pressroom.api.temporal import connect_client
from pressroom.starter.janitor import ensure_janitor_schedule, janitor_schedule_id
from pressroom.workflows.process_job import ProcessJob
from pressroom.workflows.purge_work import PurgeWork
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError
from temporalio.worker import Worker

from pressroom.config import Settings
from pressroom.db.pool import Database, database_url
from pressroom.embeddings import aclose_embedder, make_embedder
from pressroom.runtime.logs import configure_logging
from pressroom.runtime.memory import tune_allocator
from pressroom.security.netguard import guarded_session
from pressroom.storage import open_store

log = logging.getLogger("pressroom.worker")


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, client: Client) -> AsyncIterator[Worker]:
    """A started worker with all its resources; everything is closed on exit."""
    database = Database(database_url(settings))
    async with (
        open_store(settings.artifacts_location, settings) as store,
        # Callbacks and remote sources reach untrusted URLs: only through the network guard.
        guarded_session(settings) as http,
    ):
        embedder = make_embedder(settings)
        activities = PipelineActivities(settings, store, database, embedder, http)
        janitor = JanitorActivities(settings, store)
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[ProcessJob, PurgeWork],
            activities=[*activities.all(), *janitor.all()],
            max_concurrent_activities=settings.worker_max_activities,
            interceptors=[ReleaseMemory()],
            graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
            sticky_queue_schedule_to_start_timeout=timedelta(
                seconds=settings.worker_sticky_timeout_seconds
            ),
        )
        try:
            await janitor_schedule(settings, client)
            async with worker:
                yield worker
        finally:
            await database.close()
            await activities.aclose()
            await aclose_embedder(embedder)


async def janitor_schedule(settings: Settings, client: Client) -> None:
    """Create or update the janitor schedule; a worker that cannot still runs jobs (the
    next worker to start tries again), and says so."""
    try:
        await ensure_janitor_schedule(client, settings)
    except RPCError as err:
        log.warning(
            "janitor schedule %s not set: %s; work stores past WORK_RETENTION stay until it is",
            janitor_schedule_id(settings.temporal_task_queue),
            err,
        )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime serving Prometheus metrics on METRICS_PORT: the SDK's own (task
    latencies, slots, polls...) and Pressroom's (pressroom/metrics.py), which are recorded
    through the same runtime's meter. None when METRICS_PORT is unset."""
    if settings.metrics_port is None:
        return None
    bind = f"{settings.metrics_host}:{settings.metrics_port}"
    # durations_as_seconds: our step histogram is in seconds, like Prometheus convention.
    config = PrometheusConfig(
        bind_address=bind, counters_total_suffix=True, durations_as_seconds=True
    )
    log.info("metrics on http://%s/metrics", bind)
    return Runtime(telemetry=TelemetryConfig(metrics=config))


async def serve(settings: Settings) -> None:
    client = await connect_client(settings, runtime=metrics_runtime(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_worker(settings, client):
        log.info(
            "worker polling task queue %r on %s",
            settings.temporal_task_queue,
            settings.temporal_address,
        )
        await stop.wait()
        log.info(
            "shutting down: no new tasks; running activities get %.0fs to finish, then are "
            "cancelled and retried by another worker",
            settings.worker_shutdown_grace_seconds,
        )
    log.info("worker stopped")


def main() -> None:
    tune_allocator()  # before any thread allocates: arenas are made per thread
    settings = Settings()
    configure_logging(settings)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
