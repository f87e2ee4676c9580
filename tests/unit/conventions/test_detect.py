"""Which generator a tree is for: config files, the shallowest winning, overrides by name,
and broken or hostile configs noted, never raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressroom.conventions.detect import is_site_file
from tests.unit.conventions.sites import profile_of

POST = "---\ntitle: x\n---\nbody\n"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("_config.yml", "jekyll"),
        ("hugo.toml", "hugo"),
        ("mkdocs.yml", "mkdocs"),
        ("docusaurus.config.js", "docusaurus"),
        ("astro.config.mjs", "astro"),
        (".eleventy.js", "eleventy"),
        ("eleventy.config.mjs", "eleventy"),
    ],
)
def test_a_config_file_names_the_generator(config: str, expected: str) -> None:
    profile = profile_of({config: "", "a.md": POST})
    assert profile.name in (expected, "plain")  # plain until that generator's rules exist
    assert profile.detected


def test_config_toml_is_hugo_or_zola_by_its_keys() -> None:
    assert profile_of({"config.toml": 'baseURL = "https://h.org/"\n'}).name == "hugo"
    zola = profile_of({"config.toml": 'base_url = "https://z.org"\n'})
    assert zola.name in ("zola", "plain")
    # A config.toml of something else (a tool's, a Rust crate's) is not a site config.
    assert profile_of({"config.toml": "[tool]\nx = 1\n", "a.md": POST}).name == "plain"


def test_the_shallowest_config_wins_and_sets_the_root() -> None:
    profile = profile_of(
        {
            "docs/_config.yml": "url: https://jekyll.org\n",
            "docs/_posts/2020-01-02-a.md": POST,
            "docs/examples/site/hugo.toml": 'baseURL = "https://x.org/"\n',
        }
    )
    assert (profile.name, profile.root, profile.config) == ("jekyll", "docs", "docs/_config.yml")
    assert profile.base_url == "https://jekyll.org/"


def test_jekyll_without_a_config_is_found_by_its_posts_folder() -> None:
    profile = profile_of({"site/_posts/2020-01-02-a.md": POST, "README.md": POST})
    assert (profile.name, profile.root, profile.config) == ("jekyll", "site", None)


def test_a_plain_folder() -> None:
    profile = profile_of({"blog/a.md": POST})
    assert (profile.name, profile.root, profile.base_url) == ("plain", "", None)


def test_a_named_profile_overrides_detection_and_the_base_url_the_config() -> None:
    files = {"hugo.toml": 'baseURL = "https://h.org/"\n', "content/a.md": POST}
    profile = profile_of(files, name="plain", base_url="https://cdn.example.com/blog")
    assert (profile.name, profile.detected) == ("plain", False)
    assert profile.base_url == "https://cdn.example.com/blog/"
    assert any("data.baseUrl" in note for note in profile.contributed)
    hugo = profile_of(files, name="hugo", base_url="https://cdn.example.com/")
    assert hugo.base_url == "https://cdn.example.com/"


@pytest.mark.parametrize(
    "config",
    [
        ("hugo.toml", 'baseURL = "unterminated\n'),
        ("_config.yml", "url: [unclosed\n"),
        ("_config.yml", "- just\n- a list\n"),
        ("hugo.toml", "x = '" + "a" * 600_000 + "'\n"),
    ],
)
def test_a_broken_or_hostile_config_is_noted_not_raised(config: tuple[str, str]) -> None:
    name, text = config
    profile = profile_of({name: text, "content/a.md": POST, "_posts/2020-01-01-a.md": POST})
    assert any(note.startswith("note: " + name) for note in profile.contributed), profile


def test_python_tags_in_a_yaml_config_are_plain_values_never_run(tmp_path: Path) -> None:
    # mkdocs.yml writes `!!python/name:` tags; they are read as text, nothing is imported.
    marker = tmp_path / "ran"
    text = f"url: https://x.org\nx: !!python/object/apply:os.system ['touch {marker}']\n"
    profile = profile_of({"_config.yml": text, "_posts/2020-01-01-a.md": POST})
    assert profile.base_url == "https://x.org/"
    assert not marker.exists()


def test_hugos_config_folder_sets_the_root_above_it() -> None:
    profile = profile_of({"site/config/_default/hugo.toml": 'baseURL = "https://h.org/"\n'})
    assert (profile.name, profile.root, profile.base_url) == ("hugo", "site", "https://h.org/")


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("hugo.toml", True),
        ("docs/mkdocs.yml", True),
        ("site/config/_default/config.toml", True),
        ("website/docusaurus.config.ts", True),
        ("blog/authors.yml", True),
        ("docs/blog/.authors.yml", True),
        ("package.json", False),
        ("a/b/c/d/e/hugo.toml", False),
        ("src/config.py", False),
    ],
)
def test_the_snapshot_keeps_configs_and_author_lists(path: str, kept: bool) -> None:
    assert is_site_file(path) is kept


def test_a_yaml_alias_bomb_in_a_config_is_noted_not_expanded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 9):
        prev = chr(ord("a") + level - 1)
        name = chr(ord("a") + level)
        bomb += f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]\n"
    profile = profile_of({"mkdocs.yml": "site_url: https://m.org/\n" + bomb, "docs/a.md": POST})
    assert any(n.startswith("note: mkdocs.yml: not usable") for n in profile.contributed)
    assert len(profile.model_dump_json()) < 10_000
