"""Astro's rules (pressroom.conventions.astro) on small in-memory trees."""

from __future__ import annotations

from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url, place_page
from pressroom.conventions.profile import Page, SiteProfile

CONFIG = b"""// site: 'https://commented.out'
export default defineConfig({
  site: 'https://example.com',
  base: '/docs',
  trailingSlash: 'never',
});
"""


def profile(files: dict[str, bytes], **kwargs: str) -> SiteProfile:
    return detect_profile(list(files), files.__getitem__, **kwargs)


def site(config: bytes = CONFIG, extra: dict[str, bytes] | None = None) -> SiteProfile:
    return profile({"astro.config.mjs": config, "src/content/blog/a.md": b"", **(extra or {})})


def test_site_and_base_make_the_base_url() -> None:
    astro = site()
    assert astro.name == "astro"
    assert astro.base_url == "https://example.com/docs/"


def test_collection_entry_id_keeps_a_dated_name_and_pub_date_is_the_date() -> None:
    meta = {"pubDate": "2021-08-03", "updatedDate": "2021-08-05"}
    placed = place_page(site(), Page("src/content/blog/2021-08-01-Dated Name.md", meta))
    assert placed.url == "https://example.com/docs/blog/2021-08-01-dated-name"
    assert (placed.date, placed.updated) == ("2021-08-03", "2021-08-05")


def test_folder_entry_and_slug() -> None:
    astro = site()
    assert place_page(astro, Page("src/content/blog/trip/index.md", {})).url == (
        "https://example.com/docs/blog/trip"
    )
    assert place_page(astro, Page("src/content/blog/x.mdx", {"slug": "custom/path"})).url == (
        "https://example.com/docs/blog/custom/path"
    )
    assert place_page(astro, Page("src/content/blog/b.md", {"date": "2020-01-01"})).date == (
        "2020-01-01"
    )


def test_route_and_glob_loader_base_from_the_tree() -> None:
    files = {
        "astro.config.ts": b"export default {}",
        "src/content.config.ts": b"""
const notes = defineCollection({ loader: glob({ pattern: '**/*.md', base: './data/notes' }) });
""",
        "src/pages/writing/[...slug].astro": b"const posts = await getCollection('notes');",
        "data/notes/first.md": b"",
    }
    astro = profile(files)
    assert astro.base_url is None
    placed = place_page(astro, Page("data/notes/first.md", {}))
    assert placed.url == "/writing/first/"  # trailingSlash 'ignore': the folder URL


def test_pages_routing_underscore_and_dynamic() -> None:
    astro = site(b"export default { trailingSlash: 'always', build: { format: 'file' } }")
    assert place_page(astro, Page("src/pages/about/team.md", {})).url == "/about/team.html"
    assert place_page(astro, Page("src/pages/index.md", {})).url == "/"
    assert place_page(astro, Page("src/pages/_draft.md", {})).url is None
    assert place_page(astro, Page("src/pages/[tag].md", {})).url is None
    assert place_page(astro, Page("README.md", {})).url is None


def test_draft_and_author_left_to_the_front_matter_reading() -> None:
    placed = place_page(site(), Page("src/content/blog/a.md", {"draft": True, "author": "J"}))
    assert placed.draft is None and placed.authors is None


def test_media_public_at_base_and_src_images_have_no_stable_url() -> None:
    astro = site()
    assert media_url(astro, "public/img/a.png") == "https://example.com/docs/img/a.png"
    assert media_url(astro, "src/content/blog/cover.png") is None


def test_base_path_without_site_prefixes_urls_and_job_base_url_wins() -> None:
    astro = site(b"export default { base: '/sub/' }")
    assert place_page(astro, Page("src/content/blog/a.md", {})).url == "/sub/blog/a/"
    files = {"astro.config.mjs": CONFIG, "src/content/blog/a.md": b""}
    named = profile(files, base_url="https://cdn.example.net/x")
    assert place_page(named, Page("src/content/blog/a.md", {})).url == (
        "https://cdn.example.net/x/blog/a"
    )


def test_unreadable_config_is_read_as_empty() -> None:
    astro = site(b"\xff\xfe not javascript {{{")
    assert astro.base_url is None
    assert place_page(astro, Page("src/content/blog/a.md", {})).url == "/blog/a/"
