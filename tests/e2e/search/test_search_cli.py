"""`pressroom search` prints what `GET /search` returns, in the terminal."""

from __future__ import annotations

from pressroom.starter.cli import app
from typer.testing import CliRunner

from tests.fakes import search_sites
from tests.fakes.search_sites import SearchDB

search_db = search_sites.search_db  # the shared fixture, found by name


def test_search_command_prints_grouped_results(search_db: SearchDB) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": search_db.url, "COLUMNS": "200"}
    result = runner.invoke(
        app, ["search", "shaded relief map", "--site", "blog", "--limit", "3"], env=env
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Images" in out
    assert "ridge-deployment/ridge-map.jpg" in out  # the image hit, by its alt text
    assert "1. " in out and "Deploying three stations on the ridge" in out
    assert out.count("\n1. ") == 1 and "\n4. " not in out  # --limit 3

    result = runner.invoke(
        app, ["search", "configured", "--site", "jekyll", "--mode", "text", "--kind", "posts"],
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "docs/_docs/configuration" in result.output and "Images" not in result.output

    # A post's authors and its URL on its site, under its title.
    result = runner.invoke(app, ["search", "barometer field notes", "--site", "press",
                                 "--mode", "text", "--limit", "1"], env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Ada Lovelace, Grace Hopper · https://weather.example.org/2024/05/02/field-notes/" in (
        result.output
    )

    # Several sites loaded: --site is required; an unknown one exits 1; bad input exits 2.
    result = runner.invoke(app, ["search", "wind"], env=env)
    assert result.exit_code == 2 and "--site is required" in result.output
    result = runner.invoke(app, ["search", "wind", "--site", "nope"], env=env)
    assert result.exit_code == 1 and "no site 'nope'" in result.output
    result = runner.invoke(app, ["search", "wind", "--site", "blog", "--mode", "x"], env=env)
    assert result.exit_code == 2 and "mode must be one of" in result.output
