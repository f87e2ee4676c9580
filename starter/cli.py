"""The `pressroom` command line: dev stack, worker, API, and starting/following/replaying jobs.

Jobs started here go through the same validation and start path as `POST /process`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pressroom.starter import sites_cli
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pressroom.config import Settings

app = typer.Typer(
    help="Pressroom: durable search-asset builds for Markdown sites.", no_args_is_help=True
)
dev = typer.Typer(
    help="The embedded dev stack (Temporal dev server + Postgres).", no_args_is_help=True
)
app.add_typer(dev, name="dev")
app.add_typer(sites_cli.sites, name="sites")
app.add_typer(sites_cli.schedule, name="schedule")
console = Console()


@dev.command("up")
def dev_up() -> None:
    """Start the embedded Temporal dev server and Postgres, and leave them running."""
    from pressroom.starter import devstack

    settings = Settings()
    stack = devstack.up(settings)
    console.print(f"Temporal  {stack.temporal_address}  (UI {stack.ui_url})")
    console.print(f"Postgres  {stack.postgres_url or 'DATABASE_URL'}")
    console.print(f"Artifacts {settings.artifacts_location}")


@dev.command("down")
def dev_down() -> None:
    """Stop the embedded stack and check it is gone (its data stays under the state dir)."""
    from pressroom.starter import devstack

    results = devstack.down(Settings())
    for result in results:
        console.print(result.line())
    # Truthful exit status: a script running `make down` must know when something survived.
    if not all(r.stopped for r in results):
        raise typer.Exit(1)


@dev.command("status")
def dev_status() -> None:
    """Say what of the embedded stack is running."""
    from pressroom.starter import devstack

    stack = devstack.status(Settings())
    console.print(f"Temporal {stack.temporal_address}: {'up' if stack.temporal else 'down'}")
    console.print(f"Temporal UI: {stack.ui_url}")
    console.print(f"Postgres: {stack.postgres_url or 'down or external'}")


@app.command()
def worker() -> None:
    """Run a worker (workflows + activities) until SIGTERM."""
    import pressroom.starter.worker as worker_module

    worker_module.main()


@app.command()
def api() -> None:
    """Run the HTTP API until SIGTERM."""
    from pressroom.api.app import serve

    from pressroom.runtime.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    asyncio.run(serve(settings))


@app.command()
def start(
    source: Annotated[str, typer.Argument(help="Local path, archive or URL of the posts")],
    task: Annotated[str, typer.Option(help="Task to run")] = "process-all",
    job_id: Annotated[str | None, typer.Option(help="Job id (default: generated)")] = None,
    site: Annotated[
        str | None, typer.Option(help="Site id (default: from the source name)")
    ] = None,
    dist_folder: Annotated[
        str | None, typer.Option(help="Folder to publish under (default: the site's own)")
    ] = None,
    callback_url: Annotated[str | None, typer.Option(help="URL to call back when done")] = None,
    wait: Annotated[bool, typer.Option(help="Follow progress until the job ends")] = False,
) -> None:
    """Start a job; with --wait, show live step progress and print the result."""
    if "://" not in source and Path(source).exists():
        source = str(Path(source).resolve())
    body: dict[str, Any] = {
        "jobId": job_id or f"cli-{int(time.time() * 1000)}",
        "task": task,
        "data": {
            "repoUrl": source,
            **({"distFolder": dist_folder} if dist_folder else {}),
            **({"site": site} if site else {}),
        },
    }
    if callback_url:
        body["callbackUrl"] = callback_url
    raise typer.Exit(asyncio.run(_start(body, wait)))


async def _start(body: dict[str, Any], wait: bool) -> int:
    from pressroom.api.jobs import JobConflict, start_job
    from pressroom.api.requests import BadRequest, job_input, parse_job_request
    from pressroom.api.temporal import connect_client

    settings = Settings()
    try:
        request, parsed = parse_job_request(json.dumps(body).encode())
    except BadRequest as err:
        console.print(f"[red]bad request:[/] {err.message}")
        return 2
    client = await connect_client(settings)
    try:
        started = await start_job(
            client, job_input(request, parsed, settings), settings.temporal_task_queue
        )
    except JobConflict:
        console.print(f"[red]job {request.jobId} exists with a different request[/]")
        return 2
    console.print(
        f"job [bold]{started.workflow_id}[/] {'started' if started.created else 'already running'}"
    )
    if not wait:
        return 0
    return await _follow(client, started.workflow_id)


@app.command()
def reindex(
    site: Annotated[str, typer.Option(help="Site id to rebuild")],
    force: Annotated[
        bool, typer.Option(help="Embed everything again (bypass the cache, rewrite it)")
    ] = False,
    source: Annotated[
        str | None, typer.Option(help="Source (default: the site's last recorded source)")
    ] = None,
    dist_folder: Annotated[
        str | None, typer.Option(help="Folder to publish under (default: the site's last)")
    ] = None,
    job_id: Annotated[str | None, typer.Option(help="Job id (default: generated)")] = None,
    wait: Annotated[bool, typer.Option(help="Follow progress until the job ends")] = False,
) -> None:
    """Rebuild a site from its last source; with --force, re-embed every input."""
    from pressroom.starter.reindex import NoRecordedSource, reindex_request

    if source and "://" not in source and Path(source).exists():
        source = str(Path(source).resolve())

    async def run() -> int:
        try:
            body = await reindex_request(
                Settings(),
                site,
                source=source,
                dist_folder=dist_folder,
                force=force,
                job_id=job_id,
            )
        except NoRecordedSource as err:
            console.print(f"[red]{err}[/]")
            return 2
        return await _start(body, wait)

    raise typer.Exit(asyncio.run(run()))


def _progress_table(view: dict[str, Any]) -> Table:
    table = Table(title=f"job {view['jobId']}: {view.get('state')}")
    table.add_column("step")
    table.add_column("state")
    table.add_column("progress", justify="right")
    for step in view.get("steps") or []:
        done, total = step["done"], step["total"]
        table.add_row(step["name"], step["state"], f"{done}/{total}" if total else "")
    return table


async def _follow(client: Any, job_id: str) -> int:
    from pressroom.api.jobs import describe_job

    terminal = {"completed", "failed", "cancelled"}
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            view = await describe_job(client, job_id)
            if view is None:
                console.print(f"[red]no job {job_id}[/]")
                return 1
            live.update(_progress_table(view))
            if view["state"] in terminal:
                break
            await asyncio.sleep(0.5)
    console.print_json(json.dumps(view.get("result") or {}))
    if view.get("failure"):
        console.print(f"[red]failed:[/] {view['failure']}")
    return 0 if view["state"] == "completed" else 1


@app.command()
def status(job_id: str) -> None:
    """Print a job's state, steps, counts and errors."""

    async def run() -> int:
        from pressroom.api.jobs import describe_job
        from pressroom.api.temporal import connect_client

        view = await describe_job(await connect_client(Settings()), job_id)
        if view is None:
            console.print(f"[red]no job {job_id}[/]")
            return 1
        console.print(_progress_table(view))
        console.print_json(json.dumps({k: v for k, v in view.items() if k != "steps"}))
        return 0

    raise typer.Exit(asyncio.run(run()))


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a running job: its step stops at the next heartbeat, the callback says
    `cancelled`, the work store is cleaned and the site's current revision is untouched."""

    async def run() -> int:
        from pressroom.api.jobs import JobClosed, cancel_job
        from pressroom.api.temporal import connect_client

        try:
            found = await cancel_job(await connect_client(Settings()), job_id)
        except JobClosed as closed:
            console.print(f"[yellow]job {job_id} already {closed.state}[/]")
            return 1
        if not found:
            console.print(f"[red]no job {job_id}[/]")
            return 1
        console.print(f"job [bold]{job_id}[/] cancelling")
        return 0

    raise typer.Exit(asyncio.run(run()))


@app.command()
def jobs(
    state: Annotated[
        str | None,
        typer.Option(help="Only jobs in this state: pending|running|completed|failed|cancelled"),
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many jobs", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List recent jobs, newest first, through Temporal visibility."""

    async def run() -> int:
        from pressroom.api.jobs import list_jobs
        from pressroom.api.temporal import connect_client

        try:
            found = await list_jobs(await connect_client(Settings()), state, limit)
        except ValueError as err:
            console.print(f"[red]{err}[/]")
            return 2
        if as_json:
            for job in found:
                print(json.dumps(job))
            return 0
        table = Table(title=f"{len(found)} job(s)" + (f" {state}" if state else ""))
        columns = ("jobId", "state", "task", "site", "startedAt", "closedAt")
        for column in columns:
            table.add_column(column)
        for job in found:
            table.add_row(*(str(job.get(c) or "") for c in columns))
        console.print(table)
        return 0

    raise typer.Exit(asyncio.run(run()))


@app.command()
def replay(job_id: str) -> None:
    """Fetch a job's history from Temporal and replay it against the current workflow code."""

    async def run() -> int:
        from pressroom.api.temporal import connect_client
        from pressroom.workflows.process_job import ProcessJob
        from temporalio.contrib.pydantic import pydantic_data_converter
        from temporalio.worker import Replayer

        client = await connect_client(Settings())
        history = await client.get_workflow_handle(job_id).fetch_history()
        replayer = Replayer(workflows=[ProcessJob], data_converter=pydantic_data_converter)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure:
            console.print(f"[red]replay failed (non-determinism?):[/] {result.replay_failure}")
            return 1
        console.print(f"replayed {len(history.events)} events of {job_id}: deterministic")
        return 0

    raise typer.Exit(asyncio.run(run()))


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option(help="Leave the dev stack up afterwards")] = True,
) -> None:
    """Bring up the embedded stack, run a real job on the example blog, show what it made."""
    from pressroom.starter.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(Settings(), keep_running=keep_running)))


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for (websearch syntax)")],
    site: Annotated[
        str | None, typer.Option(help="Site id (default: the only loaded site)")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, text or vector")] = "hybrid",
    kind: Annotated[str, typer.Option(help="all, posts or images")] = "all",
    limit: Annotated[int, typer.Option(help="Posts (and images) to show, 1-50")] = 10,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Search this search.db file instead of the database"),
    ] = None,
) -> None:
    """Search a loaded site: the same results as GET /search, in the terminal."""
    from pressroom.starter.search import run_search, run_search_db

    if db is not None:
        raise typer.Exit(
            asyncio.run(
                run_search_db(
                    Settings(), db, query, mode=mode, kind=kind, limit=limit, console=console
                )
            )
        )
    code = asyncio.run(
        run_search(Settings(), query, site=site, mode=mode, kind=kind, limit=limit, console=console)
    )
    raise typer.Exit(code)


def main() -> None:
    # The Temporal client can abort at interpreter exit (sdk-python #300): exit explicitly
    # with the command's status once output is flushed, so callers see the right code.
    code = 0
    try:
        rv = app(standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        code = 130
    except typer.Exit as exc:
        code = exc.exit_code
    except Exception as exc:
        console.print(f"[red]error:[/] {exc}")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
