"""`pressroom sites …` and `pressroom schedule …` (issue 15): the CLI as a real process against
the real API, Temporal dev server and Postgres."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from temporalio.client import Client

from tests.conftest import EXAMPLE_BLOG

PRESSROOM = Path(sys.executable).parent / "pressroom"


async def cli(api_url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRESSROOM), *args, "--api", api_url],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            timeout=120,
        )

    done = await asyncio.to_thread(run)
    return done.returncode, done.stdout + done.stderr


async def test_sites_and_schedule_from_the_command_line(
    api_url: str, temporal_client: Client, tmp_path: Path
) -> None:
    blog = tmp_path / "blog"
    shutil.copytree(EXAMPLE_BLOG, blog)
    site = f"cli-{uuid.uuid4().hex[:8]}"
    code, out = await cli(
        api_url,
        "sites", "add", site, "--repo", str(blog), "--content-path", "_posts",
        "--webhook-secret-env", "HOOK_SECRET",
        env={"HOOK_SECRET": "a-secret-from-the-environment"},
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["webhook"]["secret"] is True
    assert "a-secret-from-the-environment" not in out

    code, out = await cli(api_url, "sites", "list")
    assert code == 0 and site in out

    code, out = await cli(
        api_url, "schedule", "set", site, "--every", "6h", "--overlap", "buffer-one"
    )
    assert code == 0, out
    desc = await temporal_client.get_schedule_handle(f"site-{site}").describe()
    assert desc.schedule.spec.intervals[0].every.total_seconds() == 6 * 3600

    assert (await cli(api_url, "schedule", "pause", site))[0] == 0
    assert (
        await temporal_client.get_schedule_handle(f"site-{site}").describe()
    ).schedule.state.paused
    assert (await cli(api_url, "schedule", "unpause", site))[0] == 0
    desc = await temporal_client.get_schedule_handle(f"site-{site}").describe()
    assert not desc.schedule.state.paused and desc.schedule.spec.intervals

    code, out = await cli(api_url, "schedule", "set", site, "--every", "soon")
    assert code == 2 and "every" in out

    code, out = await cli(api_url, "sites", "remove", site)
    assert code == 0 and json.loads(out)["scheduleDeleted"] is True
    code, out = await cli(api_url, "sites", "show", site)
    assert code == 2 and "no registered site" in out
