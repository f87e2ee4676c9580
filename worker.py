"""The worker: one process that runs the `ProcessJob` workflow and every pipeline activity.

Builds its clients from settings (Temporal, artifact store, Postgres, embedder, HTTP session),
registers the workflow and activities, and drains gracefully on SIGTERM/SIGINT: running
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

import aiohttp
from temporalio.client import Client
from temporalio.worker import Worker

from activities.pipeline import PipelineActivities
from pressroom.config import Settings
from pressroom.db_pool import Database
from pressroom.embedded import embedded_postgres_url
from pressroom.embeddings import make_embedder
from pressroom.storage import open_store
from workflows.client import connect_client
from workflows.process_job import ProcessJob

log = logging.getLogger("pressroom.worker")


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url.get_secret_value()
    return embedded_postgres_url(settings.pgdata_dir)


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, client: Client) -> AsyncIterator[Worker]:
    """A started worker with all its resources; everything is closed on exit."""
    database = Database(database_url(settings))
    async with (
        open_store(settings.artifacts_location) as store,
        aiohttp.ClientSession(trust_env=False) as http,
    ):
        activities = PipelineActivities(settings, store, database, make_embedder(settings), http)
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[ProcessJob],
            activities=activities.all(),
            max_concurrent_activities=settings.worker_max_activities,
            graceful_shutdown_timeout=timedelta(seconds=30),
        )
        try:
            async with worker:
                yield worker
        finally:
            await database.close()


async def serve(settings: Settings) -> None:
    client = await connect_client(settings)
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
        log.info("shutting down: draining running activities")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(Settings()))


if __name__ == "__main__":
    main()
