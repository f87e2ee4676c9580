"""Revision switches as events: the notification a switch sends, and the listener that hears it.

Every change of `sites.current_revision` (`revisions`) calls `notify_switch` inside its
transaction, so Postgres delivers `NOTIFY pressroom_revisions, '<site>'` to every listening
session when (and only when) the switch commits. `RevisionListener` holds one connection
LISTENing on that channel for a reader that keeps per-site state in memory (the API's answer
cache): it calls `on_switch(site)` per notification, `on_up()` once LISTEN is active again
after (re)connecting, and `on_down()` as soon as the connection is lost or stops answering a
ping, then reconnects with backoff. A switch that commits while nobody listens is never
delivered, so a reader must treat everything it learned before `on_up` as unknown.

LISTEN needs a session of its own: through a transaction-mode pooler (PgBouncer) it never
connects usefully, and the reader stays in its "down" state (correct, without its cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import asyncpg

__all__ = ["CHANNEL", "RevisionListener", "notify_switch"]

log = logging.getLogger(__name__)

CHANNEL = "pressroom_revisions"

# Reconnect delays in seconds, the last one repeated: quick after a blip, gentle on an outage.
RETRY_SECONDS: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0)
# A connection that silently died (no RST: a dropped route, a frozen server) is only found by
# talking to it; until then notifications may be missed, so the ping bounds that window.
PING_SECONDS = 5.0
PING_TIMEOUT_SECONDS = 3.0


async def notify_switch(conn: asyncpg.Connection, site: str) -> None:
    """Tell listeners that `site`'s current revision changed; delivered when the caller's
    transaction commits (never if it rolls back)."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, site)


class RevisionListener:
    """One LISTEN connection kept open in a background task; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        on_switch: Callable[[str], None],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        ping_seconds: float = PING_SECONDS,
    ) -> None:
        self._url = url
        self._on_switch = on_switch
        self._on_up = on_up
        self._on_down = on_down
        self._ping_seconds = ping_seconds
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._was_up = False
        self.connected = False

    def start(self) -> None:
        """Connect and listen in the background (never blocks: the database may be down)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pressroom-revision-listener")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop()

    def server_pid(self) -> int | None:
        """The listening session's backend pid (tests end it to simulate a lost connection)."""
        conn = self._conn
        return None if conn is None or conn.is_closed() else conn.get_server_pid()

    async def _run(self) -> None:
        attempt = 0
        while True:
            self._was_up = False
            try:
                await self._listen()
            except Exception as exc:  # any failure: a dead listener must never leave it "up"
                if self._was_up:
                    attempt = 0
                    log.warning("revision listener lost (%r): answers are not cached", exc)
                elif attempt == 0:
                    log.warning("revision listener down (%r): answers are not cached", exc)
            self._set_down()
            await self._drop()
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1

    async def _listen(self) -> None:
        """Connect, LISTEN, report up, then wait until the connection is lost or a ping fails."""
        self._lost.clear()
        conn = await asyncpg.connect(self._url, timeout=10)
        self._conn = conn
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(CHANNEL, self._notified)
        # LISTEN is active: from here on no switch goes unheard, so what the reader learns
        # after on_up stays valid until the next notification.
        self.connected = self._was_up = True
        self._on_up()
        log.info("revision listener up: answers are cached until a switch")
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self._ping_seconds)
            if self._lost.is_set() or conn.is_closed():
                raise ConnectionResetError("the listening connection was closed")
            await conn.fetchval("SELECT 1", timeout=PING_TIMEOUT_SECONDS)

    def _terminated(self, conn: object) -> None:
        if conn is not self._conn:
            return  # a connection we dropped ourselves: already down
        # Down at once, in the callback: not one more cached answer once the loss is known.
        self._set_down()
        self._lost.set()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_switch(payload)

    def _set_down(self) -> None:
        self.connected = False
        self._on_down()  # idempotent on the reader's side: called on every failed attempt

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # no goodbye round trip to a server that may be gone
