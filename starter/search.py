"""`pressroom search`: the same search as `GET /search`, printed in the terminal with rich.

Connects to the database directly (DATABASE_URL, else the embedded Postgres) and embeds the
query with the configured embedder, exactly as the API does. With `--db`, searches a
published search.db file instead, the query embedded with the embedder the file names.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from pressroom.config import Settings
from pressroom.db.pool import connect, database_url
from pressroom.db.sites import current_revisions
from pressroom.embeddings import aclose_embedder, make_embedder
from pressroom.search.fusion import Fusion
from pressroom.search.hits import MARK_START, MARK_STOP
from pressroom.search.params import SearchError, SearchParams
from pressroom.search.search_db import SearchDB
from pressroom.search.searcher import Searcher

_SPACES = re.compile(r"\s+")


def _marked(snippet: str) -> Text:
    """A ts_headline snippet with its highlight markers as bold yellow."""
    text = Text()
    highlighted = False
    for part in snippet.replace(MARK_STOP, MARK_START).split(MARK_START):
        text.append(_SPACES.sub(" ", part), style="bold yellow" if highlighted else None)
        highlighted = not highlighted
    return text


def render(console: Console, body: dict[str, Any], source: str | None = None) -> None:
    """An answer in the terminal: the API's (`source` None: snippets carry ts_headline's
    markers) or a file's (`source` names it: snippets are plain text with <mark> HTML)."""
    for warning in body.get("warnings", []):
        console.print(f"[yellow]warning:[/] {warning}")
    results, images = body["results"], body["images"]
    how = body["modeUsed"] if source is None else f"{body['mode']} · {source}"
    console.print(
        f"[dim]{len(results)} posts, {len(images)} images · {body['site']} @ "
        f"{body['revision']} · {how}[/]"
    )
    for n, result in enumerate(results, 1):
        date = (result.get("date") or "")[:10]
        console.print(
            f"\n[bold]{n}. {result['title'] or result['postId']}[/]  [dim]{date} "
            f"{result['postId']}  score {result['score']:.4f}[/]",
            highlight=False,
        )
        byline = [", ".join(result.get("authors") or []), result.get("url") or ""]
        if any(byline):
            # markup=False: a URL or a name is text, never Rich markup.
            console.print("   " + " · ".join(b for b in byline if b), style="dim", markup=False)
        for section in result["sections"]:
            anchor = f"#{section['anchor']}" if section["anchor"] else ""
            console.print(f"   [cyan]{section['heading'] or 'Introduction'}[/] [dim]{anchor}[/]")
            line = Text("     ")
            line.append_text(_marked(_snippet(section, source is not None)))
            console.print(line)
    if images:
        console.print("\n[bold]Images[/]")
        for image in images:
            alt = image["alt"][0] if image.get("alt") else image.get("description") or ""
            shown = alt if source is None else image.get("title") or alt
            console.print(f"   {image['path']}  ", end="", markup=False)
            console.print(shown, style="dim", markup=False)


def _snippet(section: dict[str, Any], from_file: bool) -> str:
    """The section's snippet with ts_headline's markers around the matches."""
    if not from_file:
        return str(section["rawSnippet"])
    marked = section["snippetHtml"].replace("<mark>", MARK_START)
    return html.unescape(marked.replace("</mark>", MARK_STOP))


async def run_search(
    settings: Settings,
    query: str,
    *,
    site: str | None,
    mode: str,
    kind: str,
    limit: int,
    console: Console,
) -> int:
    """Search and print; returns the exit code (2 for bad input, 1 for no such site)."""
    conn = await connect(database_url(settings))
    embedder = None
    try:
        if site is None:
            sites = [r.site for r in await current_revisions(conn)]
            if len(sites) != 1:
                console.print(
                    f"[red]--site is required[/] (sites: {', '.join(sites) or 'none loaded'})"
                )
                return 2
            site = sites[0]
        try:
            embedder = make_embedder(settings)
        except ValueError as exc:
            console.print(f"[yellow]no query embedder ({exc}): full text only[/]")
        searcher = Searcher(embedder, Fusion.from_settings(settings))
        try:
            params = SearchParams(query=query, site=site, mode=mode, kind=kind, limit=limit)
            body = await searcher.search(conn, params, raw_snippets=True)
        except SearchError as err:
            console.print(f"[red]{err.message}[/]")
            return 1 if err.status == 404 else 2
        render(console, body)
        return 0
    finally:
        await conn.close()
        if embedder is not None:
            await aclose_embedder(embedder)


async def run_search_db(
    settings: Settings,
    path: Path,
    query: str,
    *,
    mode: str,
    kind: str,
    limit: int,
    console: Console,
) -> int:
    """Search a search.db file, the query embedded with the embedder its `meta` names;
    returns the exit code (2 for bad input or an unreadable file)."""
    try:
        db = SearchDB.open(path)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {path}:[/] {exc}", markup=True, highlight=False)
        return 2
    embedder = None
    try:
        vector = None
        if mode != "text":
            meta = db.embedding
            if meta is None:
                console.print("[yellow]the file has no vectors: full text only[/]")
                mode = "text"
            else:
                try:
                    embedder = make_embedder(
                        settings.model_copy(
                            update={
                                "embedding_provider": meta["provider"],
                                "embedding_model": meta["model"],
                                "embedding_dimensions": meta["dimensions"],
                            }
                        )
                    )
                    vector = (await embedder.embed([query]))[0]
                except Exception as exc:  # no key, no network: still answer by text
                    console.print(
                        f"[yellow]no query vector ({meta['provider']}/{meta['model']}: "
                        f"{exc}): full text only[/]"
                    )
                    mode = "text"
        try:
            body = db.search(query, mode=mode, kind=kind, limit=limit, query_vector=vector)
        except SearchError as err:
            console.print(f"[red]{err.message}[/]")
            return 2
        render(console, body, path.name)
        return 0
    finally:
        db.close()
        if embedder is not None:
            await aclose_embedder(embedder)
