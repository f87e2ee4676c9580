"""`pressroom sites …` and `pressroom schedule …`: the site registry and schedules from the
terminal, as a client of the running API (`/sites/...`), so the CLI and HTTP callers share one
set of rules and answers. The API is `--api` (default `http://{API_HOST}:{API_PORT}`), with
the first of `API_TOKENS` as its bearer token when set.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console
from rich.table import Table

from pressroom.config import Settings

sites = typer.Typer(help="Registered sites: what builds by name, on push and on a schedule.")
schedule = typer.Typer(help="A registered site's Temporal Schedule (`site-{site}`).")
console = Console()

ApiOption = Annotated[
    str | None, typer.Option("--api", help="API base URL (default: API_HOST and API_PORT)")
]


def _base(api: str | None, settings: Settings) -> str:
    return (api or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")


def _headers(settings: Settings) -> dict[str, str]:
    raw = settings.api_tokens.get_secret_value() if settings.api_tokens else ""
    token = next((t.strip() for t in raw.split(",") if t.strip()), None)
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _call(
    api: str | None, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    settings = Settings()
    base = _base(api, settings)
    try:
        async with (
            aiohttp.ClientSession(headers=_headers(settings)) as http,
            http.request(method, base + path, json=body) as resp,
        ):
            return resp.status, await resp.json(content_type=None)
    except aiohttp.ClientConnectionError as exc:
        raise typer.BadParameter(
            f"cannot reach the API at {base} ({exc}); start it with `pressroom api` "
            "(or `make demo`), or point --api at it"
        ) from None


def _run(
    method: str, path: str, body: Any = None, *, api: str | None, ok: tuple[int, ...]
) -> dict[str, Any]:
    status, answer = asyncio.run(_call(api, method, path, body))
    if status not in ok:
        field = f" ({answer['field']})" if answer.get("field") else ""
        console.print(f"[red]{status}{field}:[/] {answer.get('error', answer)}")
        raise typer.Exit(2 if 400 <= status < 500 else 1)
    return answer


def _print(answer: dict[str, Any]) -> None:
    console.print_json(json.dumps(answer))


@sites.command("add")
def add(
    site: Annotated[str, typer.Argument(help="Site id (letters, digits, . _ -)")],
    repo_url: Annotated[str, typer.Option("--repo", help="Source: git URL, archive, path")],
    branch: Annotated[
        str | None, typer.Option(help="Branch to build (default: the repo's)")
    ] = None,
    content_path: Annotated[
        list[str] | None,
        typer.Option(help="Only pushes touching this path (or glob) rebuild; repeatable"),
    ] = None,
    repository: Annotated[
        str | None, typer.Option(help="Repository the host's webhooks name (default: --repo)")
    ] = None,
    dist_folder: Annotated[str | None, typer.Option(help="Published folder")] = None,
    callback_url: Annotated[str | None, typer.Option(help="URL called back after builds")] = None,
    task: Annotated[str, typer.Option(help="process-all, parse-only or reindex")] = "process-all",
    profile: Annotated[str | None, typer.Option(help="Site generator (default: detected)")] = None,
    base_url: Annotated[str | None, typer.Option(help="The site's public URL")] = None,
    webhook_secret_env: Annotated[
        str | None,
        typer.Option(help="Environment variable holding the webhook secret (never on argv)"),
    ] = None,
    api: ApiOption = None,
) -> None:
    """Register a site, or replace its registration (a secret set before is kept)."""
    body: dict[str, Any] = {"repoUrl": repo_url, "task": task}
    optional = {
        "branch": branch,
        "contentPaths": content_path,
        "repository": repository,
        "distFolder": dist_folder,
        "callbackUrl": callback_url,
    }
    body.update({k: v for k, v in optional.items() if v})
    options = {"profile": profile, "baseUrl": base_url}
    if any(options.values()):
        body["options"] = {k: v for k, v in options.items() if v}
    if webhook_secret_env:
        secret = os.environ.get(webhook_secret_env)
        if not secret:
            raise typer.BadParameter(f"${webhook_secret_env} is not set")
        body["webhookSecret"] = secret
    _print(_run("PUT", f"/sites/{site}", body, api=api, ok=(200, 201)))


@sites.command("list")
def list_sites(api: ApiOption = None) -> None:
    """Every site: registered ones and those with a loaded revision."""
    answer = _run("GET", "/sites", api=api, ok=(200,))
    table = Table("site", "registered", "revision", "last job", "schedule", "webhook")
    for s in answer["sites"]:
        sched = s.get("schedule") or {}
        when = sched.get("cron") or sched.get("every") or ""
        table.add_row(
            s["site"],
            "yes" if s["registered"] else "no",
            s.get("revision") or "",
            (s.get("lastJob") or {}).get("jobId", ""),
            when + (" (paused)" if sched.get("paused") else ""),
            "secret set" if (s.get("webhook") or {}).get("secret") else "",
        )
    console.print(table)


@sites.command("show")
def show(site: str, api: ApiOption = None) -> None:
    """A site's registration, revision, newest job, schedule and webhook state."""
    _print(_run("GET", f"/sites/{site}", api=api, ok=(200,)))


@sites.command("remove")
def remove(site: str, api: ApiOption = None) -> None:
    """Forget a site and delete its schedule (published files and search rows stay)."""
    _print(_run("DELETE", f"/sites/{site}", api=api, ok=(200,)))


@sites.command("build")
def build(
    site: str, job_id: Annotated[str | None, typer.Option()] = None, api: ApiOption = None
) -> None:
    """Start a build of a registered site now."""
    body = {"jobId": job_id} if job_id else None
    _print(_run("POST", f"/sites/{site}/builds", body, api=api, ok=(202,)))


@schedule.command("set")
def set_schedule(
    site: str,
    cron: Annotated[str | None, typer.Option(help="Cron expression, e.g. '0 * * * *'")] = None,
    every: Annotated[str | None, typer.Option(help="Interval, e.g. 30m, 1h, 1d")] = None,
    jitter: Annotated[str | None, typer.Option(help="Random delay up to, e.g. 5m")] = None,
    timezone: Annotated[str | None, typer.Option(help="Time zone of a cron, e.g. UTC")] = None,
    overlap: Annotated[str, typer.Option(help="skip or buffer-one")] = "skip",
    paused: Annotated[bool, typer.Option(help="Create or leave it paused")] = False,
    api: ApiOption = None,
) -> None:
    """Create or replace the site's schedule."""
    body: dict[str, Any] = {"overlap": overlap, "paused": paused}
    optional = {"cron": cron, "every": every, "jitter": jitter, "timezone": timezone}
    body.update({k: v for k, v in optional.items() if v is not None})
    _print(_run("PUT", f"/sites/{site}/schedule", body, api=api, ok=(200, 201)))


@schedule.command("show")
def show_schedule(site: str, api: ApiOption = None) -> None:
    """The schedule as Temporal holds it: spec, next and recent runs."""
    _print(_run("GET", f"/sites/{site}/schedule", api=api, ok=(200,)))


def _set_paused(site: str, paused: bool, api: str | None) -> None:
    current = _run("GET", f"/sites/{site}/schedule", api=api, ok=(200,))["schedule"]
    requested = dict(current.get("requested") or {})
    if not requested:
        raise typer.BadParameter("the schedule was not set through Pressroom; use `temporal`")
    requested["paused"] = paused
    _print(_run("PUT", f"/sites/{site}/schedule", requested, api=api, ok=(200,)))


@schedule.command("pause")
def pause(site: str, api: ApiOption = None) -> None:
    """Pause the site's schedule (a trigger still runs it)."""
    _set_paused(site, True, api)


@schedule.command("unpause")
def unpause(site: str, api: ApiOption = None) -> None:
    """Unpause the site's schedule."""
    _set_paused(site, False, api)


@schedule.command("trigger")
def trigger(site: str, api: ApiOption = None) -> None:
    """Run the schedule's build now (its overlap policy applies)."""
    _print(_run("POST", f"/sites/{site}/schedule/trigger", api=api, ok=(202,)))


@schedule.command("delete")
def delete(site: str, api: ApiOption = None) -> None:
    """Delete the site's schedule (a running build goes on)."""
    _print(_run("DELETE", f"/sites/{site}/schedule", api=api, ok=(200,)))
