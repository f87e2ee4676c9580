"""`GET /search` and its siblings against the real API app and real Postgres: every parameter,
every error case, image hits for a text query, language-aware stemming, related posts,
thumbnails and the page."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from PIL import Image
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.db.pool import Database
from pressroom.embeddings import HashingEmbedder
from tests.fakes import search_sites
from tests.fakes.search_sites import SearchDB

# Fixtures shared with the other search tests (pytest finds them by name in this module).
search_db = search_sites.search_db
search_settings = search_sites.search_settings
search_api = search_sites.search_api

ANEMOMETER = "_posts/2024-06-08-calibrating-the-anemometer"
SOLAR = "_posts/2024-04-06-solar-power-budget"
WHY = "_posts/2024-03-02-why-we-built-a-weather-station"


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, url: str, params: dict[str, Any] | list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    async with http.get(url, params=params) as resp:
        return resp.status, await resp.json()


async def search(
    http: aiohttp.ClientSession, base: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    return await get(http, f"{base}/search", {k: str(v) for k, v in params.items()})


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"site": "blog"}, "q"),
        ({"site": "blog", "q": "   "}, "q"),
        ({"site": "blog", "q": "x" * 501}, "q"),
        ({"q": "wind"}, "site"),
        ({"q": "wind", "site": ""}, "site"),
        ({"q": "wind", "site": "blog", "limit": "ten"}, "limit"),
        ({"q": "wind", "site": "blog", "limit": "0"}, "limit"),
        ({"q": "wind", "site": "blog", "limit": "51"}, "limit"),
        ({"q": "wind", "site": "blog", "mode": "fuzzy"}, "mode"),
        ({"q": "wind", "site": "blog", "kind": "videos"}, "kind"),
        ({"q": "wind", "site": "blog", "from": "last tuesday"}, "from"),
        ({"q": "wind", "site": "blog", "to": "2024-13-01"}, "to"),
        ({"q": "wind", "site": "blog", "from": "2024-06-01", "to": "2024-05-01"}, "from"),
        ({"q": "wind", "site": "blog", "tags": ",".join(f"t{i}" for i in range(21))}, "tags"),
    ],
)
async def test_bad_parameters_are_400_naming_the_parameter(
    search_api: str, http: aiohttp.ClientSession, params: dict[str, str], parameter: str
) -> None:
    status, body = await get(http, f"{search_api}/search", params)
    assert status == 400, body
    assert body["parameter"] == parameter
    assert body["error"]


async def test_unknown_site_is_404(search_api: str, http: aiohttp.ClientSession) -> None:
    status, body = await search(http, search_api, q="wind", site="no-such-site")
    assert status == 404
    assert body["parameter"] == "site" and "no-such-site" in body["error"]


# --- results --------------------------------------------------------------------------------


async def test_hybrid_results_are_grouped_by_post_with_sections(
    search_api: str, http: aiohttp.ClientSession, search_db: SearchDB
) -> None:
    status, body = await search(http, search_api, q="wind speed calibration", site="blog")
    assert status == 200, body
    assert body["mode"] == body["modeUsed"] == "hybrid" and body["kind"] == "all"
    assert body["revision"] == search_db.revisions["blog"]
    assert body["fusion"] == {"k": 60, "textWeight": 1.0, "vectorWeight": 1.0}
    assert body["embedding"] == {"provider": "hashing", "model": "hashing-v1", "dimensions": 384}
    results = body["results"]
    assert results[0]["postId"] == ANEMOMETER
    assert results[0]["title"] == "Calibrating a cheap cup anemometer"
    assert results[0]["date"].startswith("2024-06-08")
    assert "calibration" in results[0]["tags"]
    # Both lists found the winner: the breakdown says where it ranked in each.
    assert results[0]["scores"]["text"]["rank"] >= 1
    assert results[0]["scores"]["vector"]["rank"] >= 1
    assert 0 < results[0]["scores"]["vector"]["similarity"] <= 1
    post_ids = [r["postId"] for r in results]
    assert len(post_ids) == len(set(post_ids))  # one entry per post
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    for result in results:
        assert 1 <= len(result["sections"]) <= 3
        assert result["relatedUrl"] == f"/posts/blog/{quote(result['postId'], safe='')}/related"
        for section in result["sections"]:
            assert section["sectionId"] == f"{result['postId']}#{section['anchor']}"
            assert "<" not in section["snippet"]
    best = results[0]["sections"][0]
    assert best["heading"] and best["anchor"]
    assert "<mark>" in best["snippetHtml"]


async def test_modes_text_and_vector_use_one_list_each(
    search_api: str, http: aiohttp.ClientSession
) -> None:
    _, text = await search(http, search_api, q="condensation", site="blog", mode="text")
    assert text["modeUsed"] == "text"
    assert text["results"] and all(set(r["scores"]) == {"text"} for r in text["results"])
    assert text["results"][0]["postId"] == "_posts/2024-04-27-enclosure-and-condensation"

    _, vector = await search(http, search_api, q="condensation", site="blog", mode="vector")
    assert vector["modeUsed"] == "vector"
    assert vector["results"] and all(set(r["scores"]) == {"vector"} for r in vector["results"])
    similarities = [r["scores"]["vector"]["similarity"] for r in vector["results"]]
    assert similarities == sorted(similarities, reverse=True)

    # A word no post holds: full text finds nothing, vectors still rank the nearest posts.
    _, none = await search(http, search_api, q="zeppelin", site="blog", mode="text")
    assert none["results"] == [] and none["images"] == []
    _, nearest = await search(http, search_api, q="zeppelin", site="blog", mode="vector")
    assert len(nearest["results"]) == 10


async def test_limit_caps_posts_and_images(search_api: str, http: aiohttp.ClientSession) -> None:
    _, body = await search(http, search_api, q="station", site="blog", limit=2)
    assert len(body["results"]) == 2 and len(body["images"]) <= 2
    _, body = await search(http, search_api, q="station", site="blog", limit=1, mode="vector")
    assert len(body["results"]) == 1 and len(body["images"]) == 1


async def test_image_hits_for_a_text_query(search_api: str, http: aiohttp.ClientSession) -> None:
    status, body = await search(http, search_api, q="shaded relief map", site="blog", mode="text")
    assert status == 200
    image = body["images"][0]
    assert image["path"] == "ridge-deployment/ridge-map.jpg"
    assert image["scores"]["text"]["rank"] == 1  # found by its alt text
    assert "relief map" in image["alt"][0]
    assert image["posts"] == [
        {"postId": "ridge-deployment", "title": "Deploying three stations on the ridge"}
    ]
    assert image["mime"] == "image/jpeg" and image["width"] and image["height"]
    # The thumbnail is served from the database: a real, small WebP.
    assert image["thumbnail"] is True
    async with http.get(search_api + image["thumbnailUrl"]) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/webp"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        data = await resp.read()
        etag = resp.headers["ETag"]
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) <= 320
    async with http.get(search_api + image["thumbnailUrl"], headers={"If-None-Match": etag}) as r:
        assert r.status == 304

    # Hybrid finds the plot by its words and its vector; an SVG is listed but never served.
    _, body = await search(http, search_api, q="anemometer calibration plot", site="blog")
    assert body["images"][0]["path"] == "assets/images/anemometer-calibration.png"
    assert set(body["images"][0]["scores"]) == {"text", "vector"}
    _, logo = await search(http, search_api, q="ridgeline weather logo", site="blog", kind="images")
    svg = next(i for i in logo["images"] if i["path"].endswith(".svg"))
    assert svg["thumbnail"] is False and svg["thumbnailUrl"] is None
    async with http.get(f"{search_api}/media/blog/{svg['path']}") as resp:
        assert resp.status == 404


async def test_kind_selects_posts_images_or_both(
    search_api: str, http: aiohttp.ClientSession
) -> None:
    _, both = await search(http, search_api, q="solar harvest chart", site="blog")
    assert both["results"] and both["images"]
    _, posts = await search(http, search_api, q="solar harvest chart", site="blog", kind="posts")
    assert posts["results"] == both["results"] and posts["images"] == []
    _, images = await search(http, search_api, q="solar harvest chart", site="blog", kind="images")
    assert images["results"] == [] and images["images"] == both["images"]
    assert images["images"][0]["path"] == "assets/images/solar-budget.png"


async def test_tags_filter_posts_and_images(search_api: str, http: aiohttp.ClientSession) -> None:
    _, body = await search(http, search_api, q="station", site="blog", tags="Solar")
    assert [r["postId"] for r in body["results"]] == [SOLAR]  # case-insensitive
    # Images follow the posts that show them.
    _, body = await search(http, search_api, q="chart", site="blog", tags="solar")
    assert [i["path"] for i in body["images"]] == ["assets/images/solar-budget.png"]
    _, body = await search(http, search_api, q="chart", site="blog", tags="lora")
    assert body["images"] == []
    # Several tags (comma-separated or repeated): a post with any of them.
    status, body = await get(
        http,
        f"{search_api}/search",
        [("q", "station"), ("site", "blog"), ("tags", "lora,calibration"), ("tags", "solar")],
    )
    assert status == 200
    assert body["filters"]["tags"] == ["lora", "calibration", "solar"]
    assert {r["postId"] for r in body["results"]} == {
        SOLAR,
        ANEMOMETER,
        "_posts/2024-05-18-lora-telemetry",
    }
    _, body = await search(http, search_api, q="station", site="blog", tags="no-such-tag")
    assert body["results"] == [] and body["images"] == []


async def test_date_range_filters(search_api: str, http: aiohttp.ClientSession) -> None:
    _, body = await search(http, search_api, q="station", site="blog", mode="vector", limit=50)
    every = {r["postId"]: r["date"] for r in body["results"]}
    assert None in every.values()  # pages without a date exist...

    _, body = await search(
        http, search_api, q="station", site="blog", mode="vector", limit=50,
        **{"from": "2024-06-01"},
    )  # fmt: skip
    dates = [datetime.fromisoformat(r["date"]) for r in body["results"]]  # ...and are left out
    assert dates and all(d.date().isoformat() >= "2024-06-01" for d in dates)
    assert len(dates) == sum(1 for d in every.values() if d and d[:10] >= "2024-06-01")

    # `to` is inclusive of its day: the solar post is dated 2024-04-06 18:00 +02:00.
    _, body = await search(
        http, search_api, q="station", site="blog", mode="vector", limit=50, to="2024-04-06"
    )
    assert SOLAR in {r["postId"] for r in body["results"]}
    assert all(r["date"][:10] <= "2024-04-06" for r in body["results"])
    _, body = await search(
        http, search_api, q="station", site="blog", mode="vector", limit=50,
        **{"from": "2024-04-07T00:00:00Z", "to": "2024-05-31"},
    )  # fmt: skip
    assert body["filters"]["from"] == "2024-04-07T00:00:00+00:00"
    assert {r["postId"] for r in body["results"]} == {
        "_posts/2024-04-27-enclosure-and-condensation",  # 2024-04-27
        "field-checklist",  # 2024-05-01 (JSON front matter)
        "ridge-deployment",  # 2024-05-04
        "_posts/2024-05-18-lora-telemetry",  # 2024-05-18
    }


async def test_a_range_to_the_last_day_there_is_open_ended(
    search_api: str, http: aiohttp.ClientSession
) -> None:
    # The end of 9999-12-31 overflowed a datetime: a 500 where every dated post is meant.
    _, every = await search(http, search_api, q="station", site="blog", mode="vector", limit=50)
    status, body = await search(
        http, search_api, q="station", site="blog", mode="vector", limit=50, to="9999-12-31"
    )
    assert status == 200, body
    dated = {r["postId"] for r in every["results"] if r["date"]}
    assert dated and {r["postId"] for r in body["results"]} == dated
    # A zone that moves either end of the calendar past it is that end, not a 500.
    for edge in ({"to": "9999-12-31T23:59:59-12:00"}, {"from": "0001-01-01T00:00:00+14:00"}):
        status, body = await search(
            http, search_api, q="station", site="blog", mode="vector", limit=50, **edge
        )
        assert status == 200, body
        assert {r["postId"] for r in body["results"]} == dated


async def test_stemming_follows_each_posts_language(
    search_api: str, http: aiohttp.ClientSession
) -> None:
    # English: "configured" finds the configuration pages through the shared stem.
    _, body = await search(http, search_api, q="configured", site="jekyll", mode="text")
    assert "docs/_docs/configuration" in [r["postId"] for r in body["results"][:5]]
    marked = " ".join(s["snippetHtml"] for r in body["results"] for s in r["sections"])
    assert "<mark>configuration</mark>" in marked.lower()

    # French: "mesurer" reaches "mesurées" only in the post whose front matter says `lang: fr`;
    # the English post holds the same word, stemmed as English, and does not match.
    _, body = await search(http, search_api, q="mesurer", site="lyon", mode="text")
    assert [r["postId"] for r in body["results"]] == ["releves"]
    section = body["results"][0]["sections"][0]
    assert section["lang"] == "french"
    assert "<mark>mesurées</mark>" in section["snippetHtml"]
    _, body = await search(http, search_api, q="cheval", site="lyon", mode="text")
    assert [r["postId"] for r in body["results"]] == ["releves"]  # chevaux -> cheval


async def test_phrases_and_exclusions(
    search_api: str, http: aiohttp.ClientSession, search_db: SearchDB
) -> None:
    phrase = '"front matter defaults"'
    _, body = await search(http, search_api, q=phrase, site="jekyll", mode="text")
    assert body["results"][0]["postId"] == "docs/_docs/configuration/front-matter-defaults"

    _, body = await search(http, search_api, q="deploy -github", site="jekyll", mode="text")
    sections = [s["sectionId"] for r in body["results"] for s in r["sections"]]
    assert sections
    conn = await asyncpg.connect(search_db.url)
    try:
        # Exclusion works on lexemes, like websearch_to_tsquery: "github.com" is a host
        # token, not the word "github".
        matches = await conn.fetch(
            "SELECT section_id, tsv @@ to_tsquery('english', 'github') AS github FROM sections "
            "WHERE site_id = 'jekyll' AND revision_id = $1 AND section_id = ANY($2::text[])",
            search_db.revisions["jekyll"],
            sections,
        )
    finally:
        await conn.close()
    assert len(matches) == len(sections) and not any(r["github"] for r in matches)


async def test_a_foreign_embedder_gets_409_for_vectors_and_text_for_hybrid(
    search_settings: Settings, temporal_client: Client, http: aiohttp.ClientSession
) -> None:
    from pressroom.api.app import create_app

    database = Database(search_settings.database_url.get_secret_value())  # type: ignore[union-attr]
    app = create_app(
        search_settings, temporal_client, database=database, embedder=HashingEmbedder(64)
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        status, body = await search(http, base, q="wind", site="blog", mode="vector")
        assert status == 409 and body["parameter"] == "mode"
        assert "384" in body["error"] and "64" in body["error"]
        status, body = await search(http, base, q="wind", site="blog")
        assert status == 200 and body["modeUsed"] == "text"
        assert body["warnings"] and "text search only" in body["warnings"][0]
        assert body["results"] and all(set(r["scores"]) == {"text"} for r in body["results"])
    finally:
        await runner.cleanup()
        await database.close()  # passed in: the app leaves it to its owner


async def test_database_down_is_503(
    settings: Settings, temporal_client: Client, http: aiohttp.ClientSession
) -> None:
    from pressroom.api.app import create_app

    database = Database("postgresql://nobody@127.0.0.1:9/none")  # nothing listens on port 9
    runner = web.AppRunner(create_app(settings, temporal_client, database=database))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        status, body = await search(
            http, f"http://127.0.0.1:{runner.addresses[0][1]}", q="wind", site="blog"
        )
        assert status == 503 and "unavailable" in body["error"]
    finally:
        await runner.cleanup()


# --- related posts, posts, sites, media, page -------------------------------------------


async def test_related_posts_route(search_api: str, http: aiohttp.ClientSession) -> None:
    for path in (WHY, quote(WHY, safe="")):  # slashes as they are or encoded
        status, body = await get(http, f"{search_api}/posts/blog/{path}/related", {})
        assert status == 200, body
        assert body["postId"] == WHY
        related = body["related"]
        assert len(related) == 5
        assert WHY not in {r["postId"] for r in related}
        sims = [r["similarity"] for r in related]
        assert sims == sorted(sims, reverse=True)
        assert all(r["title"] and r["postUrl"].startswith("/posts/blog/") for r in related)
        # `url` is where the site publishes the post; the API's link is `postUrl`.
        assert all({"url", "date", "authors", "summary"} <= r.keys() for r in related)

    status, body = await get(http, f"{search_api}/posts/blog/_posts/nope/related", {})
    assert status == 404 and body["parameter"] == "postId"
    status, body = await get(http, f"{search_api}/posts/nope/{WHY}/related", {})
    assert status == 404 and body["parameter"] == "site"


async def test_post_route_and_sites(search_api: str, http: aiohttp.ClientSession) -> None:
    status, post = await get(http, f"{search_api}/posts/blog/{ANEMOMETER}", {})
    assert status == 200
    assert post["title"] == "Calibrating a cheap cup anemometer"
    assert [s["anchor"] for s in post["sections"]][:2] == ["", "method"]
    assert all(isinstance(s["text"], str) for s in post["sections"])
    assert len(post["related"]) == 5
    status, body = await get(http, f"{search_api}/sites", {})
    assert status == 200
    assert {"blog", "jekyll", "lyon"} <= {s["site"] for s in body["sites"]}


async def test_the_page_is_served(search_api: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{search_api}/") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert 'id="search-form"' in await resp.text()
    async with http.get(f"{search_api}/static/search.js") as resp:
        assert resp.status == 200 and "runSearch" in await resp.text()
