"""Source fetching: local trees, archives and each unsafe-archive rule; listing, revision ids."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

import pressroom.sources
from pressroom.security.redact import redact_url
from pressroom.sources import (
    SourceError,
    SourceFile,
    SourceLimits,
    compute_revision_id,
    list_source_files,
    materialize_source,
)
from tests.conftest import REPO_ROOT

JEKYLL = REPO_ROOT.parent / "shared" / "corpora" / "jekyll-docs"
LIMITS = SourceLimits(max_total_bytes=50_000_000, max_files=1_000, max_file_bytes=10_000_000)
POST = b"---\ntitle: Hello\n---\n# Hello\n\nBody.\n"


# --- helpers ------------------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    mode = "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def _file(name: str, data: bytes = POST) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def _patch_zip_sizes(data: bytes, *, compress_size: int | None, file_size: int | None) -> bytes:
    """Rewrite the sizes in every local and central header: headers that lie."""
    buf = bytearray(data)
    for sig, c_off, f_off in ((b"PK\x03\x04", 18, 22), (b"PK\x01\x02", 20, 24)):
        for m in re.finditer(re.escape(sig), bytes(buf)):
            if compress_size is not None:
                struct.pack_into("<I", buf, m.start() + c_off, compress_size)
            if file_size is not None:
                struct.pack_into("<I", buf, m.start() + f_off, file_size)
    return bytes(buf)


def _refused(source: Path | str, dest: Path, match: str, limits: SourceLimits = LIMITS) -> None:
    with pytest.raises(SourceError, match=match):
        materialize_source(str(source), dest, limits)
    assert not dest.exists(), "a failed fetch must not leave a partial tree behind"


# --- local directories --------------------------------------------------------------------


def test_local_dir_copy_matches_corpus_and_is_writable(tmp_path: Path) -> None:
    root = materialize_source(str(JEKYLL), tmp_path / "src", LIMITS)
    assert root == tmp_path / "src"
    assert list_source_files(root) == list_source_files(JEKYLL)
    copied = root / "docs" / "img" / "spacer.gif"
    assert os.access(copied, os.W_OK)  # the corpus itself is read-only


def test_file_url_to_directory(tmp_path: Path) -> None:
    root = materialize_source(JEKYLL.as_uri(), tmp_path / "src", LIMITS)
    assert (root / "README.md").is_file()


def test_file_url_with_remote_host_refused(tmp_path: Path) -> None:
    _refused("file://fileserver/share/blog", tmp_path / "d", "fileserver")


def test_local_copy_skips_git_symlinks_and_special_files(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("host secret")
    src = tmp_path / "site"
    (src / ".git").mkdir(parents=True)
    (src / ".git" / "config").write_text("[core]")
    (src / "_posts").mkdir()
    (src / "_posts" / "2024-01-01-a.md").write_bytes(POST)
    (src / ".nojekyll").write_text("")
    (src / "escape.md").symlink_to(outside / "secret.md")
    (src / "escape-dir").symlink_to(outside, target_is_directory=True)
    (src / "alias.md").symlink_to(src / "_posts" / "2024-01-01-a.md")
    os.mkfifo(src / "pipe")

    root = materialize_source(str(src), tmp_path / "dest", LIMITS)

    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    assert names == [".nojekyll", "_posts", "_posts/2024-01-01-a.md"]
    assert (root / "_posts" / "2024-01-01-a.md").read_bytes() == POST


def test_local_copy_limits(tmp_path: Path) -> None:
    src = tmp_path / "site"
    src.mkdir()
    for i in range(6):
        (src / f"p{i}.md").write_bytes(POST)
    (src / "big.md").write_bytes(b"x" * 5000)
    _refused(src, tmp_path / "a", r"too many files .*max_files=5", SourceLimits(10**6, 5, 10**6))
    _refused(
        src,
        tmp_path / "b",
        r"'big.md' is larger than max_file_bytes=4000",
        SourceLimits(10**6, 100, 4000),
    )
    _refused(src, tmp_path / "c", r"max_total_bytes=5100", SourceLimits(5100, 100, 10**6))


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    _refused(missing, tmp_path / "d", f"source not found: {re.escape(str(missing))}")
    _refused(missing.as_uri(), tmp_path / "d", "source not found")


def test_no_markdown_posts(tmp_path: Path) -> None:
    src = tmp_path / "site"
    (src / ".github").mkdir(parents=True)
    (src / ".github" / "README.md").write_text("# hidden dirs do not count")
    (src / "notes.txt").write_text("not a post")
    _refused(src, tmp_path / "d", "no Markdown posts found")


def test_markdown_extension_is_case_insensitive(tmp_path: Path) -> None:
    src = tmp_path / "site"
    src.mkdir()
    (src / "Post.MARKDOWN").write_bytes(POST)
    assert materialize_source(str(src), tmp_path / "d", LIMITS) == tmp_path / "d"


def test_destination_must_be_fresh(tmp_path: Path) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "left-over").write_text("x")
    with pytest.raises(FileExistsError):
        materialize_source(str(JEKYLL), dest, LIMITS)
    assert (dest / "left-over").exists()


def test_public_surface() -> None:
    # What steps, activities and tests may import from pressroom.sources; the modules behind
    # it (tree, archive, local, http, git, s3) are free to change.
    assert sorted(pressroom.sources.__all__) == [
        "FetchOptions",
        "SourceError",
        "SourceFile",
        "SourceLimits",
        "SourceUnavailable",
        "compute_revision_id",
        "is_utf8_path",
        "list_source_files",
        "materialize_source",
        "materialize_source_async",
        "printable_path",
        "source_kind",
    ]
    assert all(hasattr(pressroom.sources, name) for name in pressroom.sources.__all__)
    assert pressroom.sources.source_kind("/srv/blog") == "local"
    assert pressroom.sources.source_kind("https://h/site.tar.gz") == "archive"
    assert pressroom.sources.source_kind("https://h/r.git#main") == "git"
    assert pressroom.sources.source_kind("s3://bucket/site") == "s3"


# --- schemes and redaction ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2@example.com/site.tar.gz",
        "http://example.com/site.zip",
        "git://example.com/site.git",
        "git@github.com:owner/site.git",
        "s3://bucket/prefix",
    ],
)
def test_remote_schemes_are_not_read_by_the_local_materializer(tmp_path: Path, url: str) -> None:
    # Remote sources go through materialize_source_async (tests/test_remote_sources.py); the
    # dispatcher refuses what it never fetches (git://, scp-like remotes) whichever entry.
    with pytest.raises(SourceError, match=r"unsupported source") as err:
        materialize_source(url, tmp_path / "d", LIMITS)
    assert "hunter2" not in str(err.value)
    assert not (tmp_path / "d").exists()


def test_redact_url() -> None:
    assert redact_url("https://user:pw@example.com:8443/a.tar.gz?x=1") == (
        "https://example.com:8443/a.tar.gz?x=1"
    )
    assert redact_url("https://ghp_token@github.com/o/r.git") == "https://github.com/o/r.git"
    masked = redact_url("https://b.s3.amazonaws.com/k?X-Amz-Signature=abc123&part=2")
    assert "abc123" not in masked
    assert "part=2" in masked
    assert redact_url("/srv/blog") == "/srv/blog"
    assert redact_url("file:///srv/blog") == "file:///srv/blog"
    assert "pw" not in redact_url("http://u:pw@[::1/broken")


# --- tar archives ---------------------------------------------------------------------------


def test_tar_gz_of_corpus_unwraps_single_top_dir(tmp_path: Path) -> None:
    archive = tmp_path / "jekyll-docs-main.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(JEKYLL, arcname="jekyll-docs-main")
    root = materialize_source(str(archive), tmp_path / "d", LIMITS)
    assert root == tmp_path / "d" / "jekyll-docs-main"
    files = list_source_files(root)
    assert compute_revision_id(files) == compute_revision_id(list_source_files(JEKYLL))


@pytest.mark.parametrize("suffix", [".tar", ".tgz"])
def test_tar_with_several_top_entries_keeps_dest_as_root(tmp_path: Path, suffix: str) -> None:
    archive = _tar(tmp_path / f"site{suffix}", [_file("a.md"), _file("img/b.png", b"png")])
    root = materialize_source(archive.as_uri(), tmp_path / "d", LIMITS)
    assert root == tmp_path / "d"
    assert (root / "a.md").read_bytes() == POST


def test_tar_in_tree_links(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "site.tar",
        [
            _file("site/a.md"),
            _link("site/alias.md", "a.md", tarfile.SYMTYPE),
            _link("site/copy.md", "site/a.md", tarfile.LNKTYPE),
        ],
    )
    root = materialize_source(str(archive), tmp_path / "d", LIMITS)
    assert not (root / "alias.md").exists() and not (root / "alias.md").is_symlink()
    assert (root / "copy.md").read_bytes() == POST


@pytest.mark.parametrize(
    ("members", "match"),
    [
        ([_file("ok.md"), _file("../evil.md")], r"path traversal in '\.\./evil\.md'"),
        ([_file("ok.md"), _file("a/../../evil.md")], "path traversal"),
        ([_file("ok.md"), _file("/tmp/evil.md")], r"absolute path '/tmp/evil\.md'"),
        ([_file("ok.md"), _link("etc", "/etc", tarfile.SYMTYPE)], "symlink 'etc' points outside"),
        ([_file("ok.md"), _link("a/up", "../../x", tarfile.SYMTYPE)], "symlink 'a/up' points out"),
        ([_file("ok.md"), _link("pw", "/etc/passwd", tarfile.LNKTYPE)], "hard link 'pw' points"),
        ([_file("ok.md"), _link("pw", "../x.md", tarfile.LNKTYPE)], "hard link 'pw' points"),
        ([_file("ok.md"), _link("pw", "later.md", tarfile.LNKTYPE)], "not a file earlier"),
    ],
)
def test_tar_unsafe_paths_and_links(tmp_path: Path, members: list, match: str) -> None:
    archive = _tar(tmp_path / "evil.tar.gz", members)
    _refused(archive, tmp_path / "work" / "d", match)
    assert not (tmp_path / "evil.md").exists()
    assert not (tmp_path / "work" / "evil.md").exists()


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        (tarfile.CHRTYPE, "device file"),
        (tarfile.BLKTYPE, "device file"),
        (tarfile.FIFOTYPE, "special file"),
    ],
)
def test_tar_device_and_special_files(tmp_path: Path, kind: bytes, label: str) -> None:
    info = tarfile.TarInfo("dev/null")
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    archive = _tar(tmp_path / "dev.tar", [_file("ok.md"), (info, None)])
    _refused(archive, tmp_path / "d", f"{label} 'dev/null'")


def test_tar_limits(tmp_path: Path) -> None:
    many = _tar(tmp_path / "many.tar", [_file(f"p{i}.md") for i in range(6)])
    _refused(many, tmp_path / "d", r"too many files .*max_files=5", SourceLimits(10**6, 5, 10**6))
    big = _tar(tmp_path / "big.tar.gz", [_file("ok.md"), _file("big.md", b"x" * 5000)])
    _refused(
        big,
        tmp_path / "d",
        r"'big.md' is larger than max_file_bytes=4000",
        SourceLimits(10**6, 100, 4000),
    )
    _refused(big, tmp_path / "d", "max_total_bytes=5000", SourceLimits(5000, 100, 10**6))


def test_tar_gz_bomb_ratio(tmp_path: Path) -> None:
    bomb = _tar(tmp_path / "bomb.tar.gz", [_file("ok.md"), _file("zeros.md", bytes(8_000_000))])
    assert bomb.stat().st_size < 40_000
    _refused(bomb, tmp_path / "d", r"max_compression_ratio=200")


def test_non_archive_and_corrupt_archives(tmp_path: Path) -> None:
    text = tmp_path / "post.md"
    text.write_bytes(POST)
    _refused(text, tmp_path / "d", "neither a directory nor a supported archive")
    fake_tar = tmp_path / "site.tar.gz"
    fake_tar.write_bytes(b"this is not gzip at all" * 10)
    _refused(fake_tar, tmp_path / "d", r"not a valid tar archive: site\.tar\.gz")
    fake_zip = tmp_path / "site.zip"
    fake_zip.write_bytes(b"PK but not really a zip")
    _refused(fake_zip, tmp_path / "d", r"not a valid zip archive: site\.zip")
    truncated = tmp_path / "cut.tar.gz"
    whole = _tar(tmp_path / "whole.tar.gz", [_file("a.md", os.urandom(50_000))]).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    _refused(truncated, tmp_path / "d", "not a valid tar archive: cut.tar.gz")


# --- zip archives ---------------------------------------------------------------------------


def test_zip_of_corpus_unwraps_single_top_dir(tmp_path: Path) -> None:
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for f in list_source_files(JEKYLL):
            zf.write(JEKYLL / f.path, f"jekyll-docs-main/{f.path}")
        zf.writestr("__MACOSX/jekyll-docs-main/._README.md", b"junk")
    root = materialize_source(str(archive), tmp_path / "d", LIMITS)
    assert root == tmp_path / "d" / "jekyll-docs-main"
    assert list_source_files(root) == list_source_files(JEKYLL)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../evil.md", r"path traversal in '\.\./evil\.md'"),
        ("ok/../../evil.md", "path traversal"),
        ("..\\evil.md", "path traversal"),
        ("/tmp/evil.md", "absolute path"),
        ("C:\\evil.md", "absolute path"),
    ],
)
def test_zip_slip(tmp_path: Path, name: str, match: str) -> None:
    archive = _zip(tmp_path / "slip.zip", [("ok.md", POST), (name, b"pwned")])
    _refused(archive, tmp_path / "work" / "d", match)
    assert not (tmp_path / "evil.md").exists()
    assert not (tmp_path / "work" / "evil.md").exists()


@pytest.mark.parametrize(
    ("mode", "match"),
    [(stat.S_IFLNK | 0o777, "symlink entry 'link'"), (stat.S_IFCHR | 0o600, "special file 'link'")],
)
def test_zip_symlink_and_special_entries(tmp_path: Path, mode: int, match: str) -> None:
    info = zipfile.ZipInfo("link")
    info.external_attr = mode << 16
    archive = _zip(tmp_path / "l.zip", [("ok.md", POST), (info, b"/etc/passwd")])
    _refused(archive, tmp_path / "d", match)


def test_zip_lying_header_small_file_size(tmp_path: Path) -> None:
    honest = _zip(tmp_path / "h.zip", [("ok.md", POST), ("big.md", bytes(5_000_000))])
    liar = tmp_path / "liar.zip"
    # Headers claim 100 bytes per member; the deflate stream of big.md holds 5 MB.
    liar.write_bytes(_patch_zip_sizes(honest.read_bytes(), compress_size=None, file_size=100))
    _refused(liar, tmp_path / "d", "big.md", SourceLimits(10**6, 100, 1000))


def test_zip_lying_header_compressed_size(tmp_path: Path) -> None:
    honest = _zip(tmp_path / "h.zip", [("ok.md", POST), ("big.md", bytes(5_000_000))])
    liar = tmp_path / "liar.zip"
    # A huge claimed compressed size hides the member's ratio from a header-only check.
    data = _patch_zip_sizes(honest.read_bytes(), compress_size=5_000_000, file_size=None)
    liar.write_bytes(data)
    _refused(liar, tmp_path / "d", r"'big\.md' in liar\.zip: EOFError")


def test_zip_bomb_of_many_small_members(tmp_path: Path) -> None:
    # Each member stays under the per-member ratio floor; together they are a bomb.
    members = [("ok.md", POST)] + [(f"z{i}.md", bytes(900_000)) for i in range(12)]
    bomb = _zip(tmp_path / "many.zip", members)
    _refused(bomb, tmp_path / "d", r"many\.zip: the archive expands more than max_compression")


def test_zip_bomb_honest_headers(tmp_path: Path) -> None:
    bomb = _zip(tmp_path / "bomb.zip", [("ok.md", POST), ("zeros.md", bytes(8_000_000))])
    _refused(bomb, tmp_path / "d", r"'zeros\.md' expands more than max_compression_ratio=200")


def test_zip_limits(tmp_path: Path) -> None:
    many = _zip(tmp_path / "many.zip", [(f"p{i}.md", POST) for i in range(6)])
    _refused(many, tmp_path / "d", r"too many files .*max_files=5", SourceLimits(10**6, 5, 10**6))
    big = _zip(tmp_path / "big.zip", [("ok.md", POST), ("big.md", os.urandom(5000))])
    _refused(
        big,
        tmp_path / "d",
        r"'big.md' is larger than max_file_bytes=4000",
        SourceLimits(10**6, 100, 4000),
    )
    _refused(big, tmp_path / "d", "max_total_bytes=5000", SourceLimits(5000, 100, 10**6))


def test_zip_duplicate_and_conflicting_entries(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = _zip(tmp_path / "dup.zip", [("a.md", POST), ("a.md", b"other")])
    _refused(dup, tmp_path / "d", "duplicate entry 'a.md'")
    clash = _zip(tmp_path / "clash.zip", [("a.md", POST), ("a.md/b.md", POST)])
    _refused(clash, tmp_path / "d", "conflicts")


def test_zip_nested_single_top_dir(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "blog-main.zip",
        [
            ("blog-main/", b""),
            ("blog-main/_posts/2024-01-01-a.md", POST),
            ("blog-main/img/x.png", b"png"),
        ],
    )
    root = materialize_source(str(archive), tmp_path / "d", LIMITS)
    assert root == tmp_path / "d" / "blog-main"
    assert [f.path for f in list_source_files(root)] == ["_posts/2024-01-01-a.md", "img/x.png"]


def test_archive_without_posts(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "img.zip", [("site/logo.png", b"png")])
    _refused(archive, tmp_path / "d", "no Markdown posts found")


# --- listing and revision ids ---------------------------------------------------------------


def test_list_source_files_rules(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.md").write_text("x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.md").write_bytes(b"hello")
    (tmp_path / "a.md").write_bytes(b"")
    (tmp_path / ".nojekyll").write_bytes(b"")
    (tmp_path / "link.md").symlink_to(tmp_path / "a.md")
    files = list_source_files(tmp_path)
    assert [f.path for f in files] == [".nojekyll", "a.md", "b/z.md"]
    assert files[2] == SourceFile(
        "b/z.md", 5, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )


def test_revision_id_determinism_and_sensitivity(jekyll_copy: Path) -> None:
    files = list_source_files(jekyll_copy)
    rev = compute_revision_id(files)
    assert re.fullmatch(r"r-[0-9a-f]{16}", rev)
    assert compute_revision_id(reversed(files)) == rev
    assert compute_revision_id(list_source_files(JEKYLL)) == rev

    readme = jekyll_copy / "README.md"
    readme.write_bytes(readme.read_bytes() + b"\n")
    edited = compute_revision_id(list_source_files(jekyll_copy))
    assert edited != rev

    readme.rename(jekyll_copy / "README2.md")
    assert compute_revision_id(list_source_files(jekyll_copy)) not in (rev, edited)

    (jekyll_copy / "README2.md").rename(readme)
    readme.write_bytes(readme.read_bytes()[:-1])
    assert compute_revision_id(list_source_files(jekyll_copy)) == rev


# --- the example blog -----------------------------------------------------------------------

EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _front_matter(text: str) -> dict:
    """Parse the three front-matter styles independently of the project's parser."""
    import json
    import tomllib

    import yaml

    if text.startswith("---\n"):
        return yaml.safe_load(text.split("\n---\n", 1)[0][4:])
    if text.startswith("+++\n"):
        return tomllib.loads(text.split("\n+++\n", 1)[0][4:])
    assert text.startswith("{\n")
    return json.loads(text[: text.index("\n}\n") + 2])


def test_example_blog_is_a_valid_source(tmp_path: Path) -> None:
    root = materialize_source(str(EXAMPLE_BLOG), tmp_path / "d", LIMITS)
    files = list_source_files(root)
    assert sum(f.size for f in files) < 200_000
    posts = [f.path for f in files if f.path.endswith(".md") and f.path != "README.md"]
    assert len(posts) >= 12
    styles: dict[str, int] = {}
    drafts = 0
    for rel in posts:
        text = (root / rel).read_text(encoding="utf-8")
        meta = _front_matter(text)
        styles[text[:3]] = styles.get(text[:3], 0) + 1
        assert meta["title"] and meta["description"] and meta["tags"], rel
        drafts += bool(meta.get("draft"))
        assert 150 <= len(text.split()) <= 650, rel
        for target in _LINK.findall(text):
            if target.startswith(("http://", "https://")):
                continue
            resolved = (
                (root / target.lstrip("/"))
                if target.startswith("/")
                else ((root / rel).parent / target)
            )
            assert resolved.resolve().is_file(), f"{rel}: broken link {target}"
    assert styles["---"] >= 9 and styles["+++"] >= 2 and styles["{\n "] == 1
    assert drafts == 1
    assert any(p.startswith("_posts/") for p in posts)
    assert "ridge-deployment/index.md" in posts
    assert (root / "ridge-deployment" / "ridge-map.jpg").is_file()
