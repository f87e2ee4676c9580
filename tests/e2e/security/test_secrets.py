"""Secrets stay secret: a job run through the real API and worker, configured with known secret
values (webhook secret, API tokens, an OpenAI key actually sent to a local OpenAI-compatible
server, storage credentials, the sealing key) and given URLs that carry credentials (a token in
the callback URL's query, userinfo in the repoUrl of an archive served with Basic auth).
None of the values appears in the recorded workflow histories, the captured logs (raw records
and the JSON log lines), the callbacks, or the API's answers; yet the credentials did reach
the receiver and the archive server, unsealed by the worker."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import re
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pressroom.api.app import create_app
from pressroom.starter.worker import running_worker
from pydantic import SecretStr
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.runtime import logs
from pressroom.security import sealing
from tests.conftest import EXAMPLE_BLOG
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.ops import Receiver, loopback_settings
from tests.jobs import job_request

SECRETS = {
    "webhook": "webhook-secret-v4lue-Q9x",
    "api": "api-token-v4lue-K2x",
    "api2": "second-api-token-v4lue-J8x",
    "openai": "sk-openai-v4lue-Z7x",
    "aws_id": "AKIAV4LUEM5X",
    "aws": "aws-secret-v4lue-M5x",
    "seal": "seal-key-v4lue-T1x",
    "callback": "cb-token-v4lue-P3x",
    "repo": "repo-token-v4lue-R8x",
}
REPO_USER = "deploy"


def forms(value: str) -> list[str]:
    """The value and the encodings it could leak in (Basic auth, base64)."""
    out = [value, base64.b64encode(value.encode()).decode().rstrip("=")]
    if value == SECRETS["repo"]:
        out.append(base64.b64encode(f"{REPO_USER}:{value}".encode()).decode().rstrip("="))
    return out


def leaks(text: str) -> list[str]:
    return [name for name, v in SECRETS.items() for f in forms(v) if f in text]


def readable(history_json: str) -> str:
    """The history as exported, plus every payload decoded: payload data is base64 in the
    export, so a secret inside a payload would not show in the raw text."""
    decoded = []
    for data in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', history_json):
        with contextlib.suppress(ValueError):
            decoded.append(base64.b64decode(data).decode("utf-8", "replace"))
    return history_json + "\n" + "\n".join(decoded)


def tarball(tmp_path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(EXAMPLE_BLOG, arcname="blog")
    return buf.getvalue()


@asynccontextmanager
async def archive_server(data: bytes, hits: list[str]) -> AsyncIterator[str]:
    """Serves the blog archive only to requests with the right Basic credentials."""
    expected = "Basic " + base64.b64encode(f"{REPO_USER}:{SECRETS['repo']}".encode()).decode()

    async def blog(request: web.Request) -> web.Response:
        authorized = request.headers.get("Authorization") == expected
        hits.append("authorized" if authorized else "refused")
        if not authorized:
            return web.Response(status=401)
        return web.Response(body=data, content_type="application/gzip")

    app = web.Application()
    app.router.add_get("/blog.tar.gz", blog)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def api(settings: Settings, client: Client) -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(settings, client))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def secret_settings(settings: Settings, openai_url: str) -> Settings:
    return loopback_settings(
        settings,
        webhook_secret=SecretStr(SECRETS["webhook"]),
        api_tokens=SecretStr(f"{SECRETS['api']},{SECRETS['api2']}"),
        # With API tokens, local sources must be under SOURCE_ROOTS (LOCAL_SOURCES=auto).
        source_roots=[EXAMPLE_BLOG.parent],
        openai_api_key=SecretStr(SECRETS["openai"]),
        openai_base_url=openai_url,
        embedding_provider="openai",
        embedding_model="text-embedding-3-small",
        image_descriptions=False,
        aws_access_key_id=SecretStr(SECRETS["aws_id"]),
        aws_secret_access_key=SecretStr(SECRETS["aws"]),
        secrets_key=SecretStr(SECRETS["seal"]),
    )


async def test_no_secret_reaches_history_logs_callbacks_or_answers(
    settings: Settings,
    temporal_client: Client,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    json_lines = io.StringIO()
    handler = logs.make_handler("json", json_lines)
    logging.getLogger().addHandler(handler)
    answers: list[str] = []
    archive_hits: list[str] = []
    receiver = Receiver()
    await receiver.start()
    callback_url = f"{receiver.url}?token={SECRETS['callback']}&job=1"
    try:
        async with (
            FakeOpenAI.running() as openai,
            archive_server(tarball(tmp_path), archive_hits) as archive,
        ):
            cfg = secret_settings(settings, openai.base_url)
            logs.register_secrets(logs.secret_values(cfg))
            repo_url = archive.replace("//", f"//{REPO_USER}:{SECRETS['repo']}@") + "/blog.tar.gz"
            bodies = [
                job_request(EXAMPLE_BLOG, site="s-local", dist="a", callback_url=callback_url),
                job_request(repo_url, site="s-remote", dist="b", callback_url=callback_url),
            ]
            auth = {"Authorization": f"Bearer {SECRETS['api']}"}
            async with (
                running_worker(cfg, temporal_client),
                api(cfg, temporal_client) as url,
                aiohttp.ClientSession(headers=auth) as http,
            ):
                for body in bodies:
                    async with http.post(f"{url}/process", json=body) as resp:
                        answers.append(await resp.text())
                        assert resp.status == 202, answers[-1]
                results = await asyncio.gather(
                    *(
                        asyncio.wait_for(
                            temporal_client.get_workflow_handle(b["jobId"]).result(), 240
                        )
                        for b in bodies
                    )
                )
                for body in bodies:
                    async with http.get(f"{url}/jobs/{body['jobId']}") as resp:
                        answers.append(await resp.text())
                async with http.get(f"{url}/metrics") as resp:
                    answers.append(await resp.text())
            # The OpenAI key was really used (sent to the local server) ...
            assert openai.embedding_requests()
            used = {r.headers.get("authorization") for r in openai.embedding_requests()}
            assert used == {f"Bearer {SECRETS['openai']}"}
    finally:
        await receiver.stop()
        logging.getLogger().removeHandler(handler)

    # ... and so were the URL credentials: unsealed by the worker where the URL is used.
    assert [r["status"] for r in results] == ["completed", "completed"]
    assert archive_hits and set(archive_hits) == {"authorized"}
    assert len(receiver.hits) == 2
    assert all(f"token={SECRETS['callback']}" in h.query for h in receiver.hits)

    histories: list[str] = []
    for body in bodies:
        history = await temporal_client.get_workflow_handle(body["jobId"]).fetch_history()
        histories.append(readable(history.to_json()))
    # The workflow input shows the redacted URLs, so the UI still says where a job came from.
    assert "token=REDACTED" in histories[0]
    assert f"{archive}/blog.tar.gz".replace("http://", "") in histories[1]
    assert sealing.PREFIX in histories[1]

    places: dict[str, str] = {
        "history": "\n".join(histories),
        "log records": caplog.text,
        "json log lines": json_lines.getvalue(),
        "callbacks": "\n".join(
            h.body.decode() + repr(sorted(h.headers.items())) for h in receiver.hits
        ),
        "api answers": "\n".join(answers),
        "results": repr(results),
    }
    found: dict[str, Any] = {where: leaks(text) for where, text in places.items()}
    assert found == {where: [] for where in places}, found
    assert '"jobId"' in json_lines.getvalue()  # the JSON log really captured the run


def test_sealing_round_trip_and_refusals(tmp_path: Path) -> None:
    one = Settings(state_dir=tmp_path / "a", secrets_key=SecretStr("key-one-value"))
    other = Settings(state_dir=tmp_path / "b", secrets_key=SecretStr("key-two-value"))
    url = "https://user:pw-secret-1@git.example.com/r.git?x=1"
    shown, sealed = sealing.split(url, one)
    assert shown == "https://git.example.com/r.git?x=1"
    assert sealed is not None and "pw-secret-1" not in sealed
    assert sealing.reveal(shown, sealed, one) == url
    with pytest.raises(sealing.SealError, match="PRESSROOM_SECRETS_KEY"):
        sealing.reveal(shown, sealed, other)
    with pytest.raises(sealing.SealError):
        sealing.reveal(shown, sealed[:-4] + "AAAA", one)
    # Nothing to hide: nothing sealed, no key needed.
    assert sealing.split("https://git.example.com/r.git", one) == (
        "https://git.example.com/r.git",
        None,
    )
    assert sealing.split(None, one) == (None, None)
    # Without a configured key: one random key per state dir, private, stable.
    local = Settings(state_dir=tmp_path / "state")
    _, first = sealing.split("http://h/hook?token=abc123", local)
    assert first is not None
    assert sealing.reveal("x", first, Settings(state_dir=tmp_path / "state")).endswith("abc123")
    key_file = tmp_path / "state" / sealing.KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
