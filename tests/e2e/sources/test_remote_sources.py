"""Remote sources: http(s) archives from a loopback origin, git over file:// with a ref, s3://
prefixes on moto, the source policy (roots, buckets), and hostile inputs refused before any
fetch. One end-to-end job fetches its source over HTTP through the worker."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.security.netguard import NetworkPolicy, guarded_session
from pressroom.sources import (
    FetchOptions,
    SourceError,
    SourceLimits,
    SourceUnavailable,
    compute_revision_id,
    list_source_files,
    materialize_source_async,
)
from pressroom.storage.s3_config import S3Config
from tests.fakes.dns import StubResolver
from tests.fakes.moto import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    moto_endpoint,  # noqa: F401 - fixture
    s3_admin,
    s3_bucket,  # noqa: F401 - fixture
)
from tests.fakes.origin import Origin, running_origin
from tests.jobs import job_request, start

REPO_ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
EXAMPLE_BLOG = REPO_ROOT / "examples" / "blog"
LIMITS = SourceLimits(max_total_bytes=8 << 20, max_files=1000, max_file_bytes=4 << 20)
LOOPBACK = NetworkPolicy.from_entries(["127.0.0.1"])


def blog_revision(root: Path) -> str:
    return compute_revision_id(list_source_files(root))


EXPECTED = blog_revision(EXAMPLE_BLOG)


def tar_gz_bytes(src: Path, top: str = "blog-main") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src, arcname=top)
    return buf.getvalue()


def zip_bytes(src: Path, top: str = "blog-main") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, f"{top}/{path.relative_to(src).as_posix()}")
    return buf.getvalue()


async def fetch(
    url: str, dest: Path, options: FetchOptions, settings: Settings | None = None, **kw: Any
) -> Path:
    async with guarded_session(settings, policy=options.network) as http:
        return await materialize_source_async(url, dest, LIMITS, options, http, **kw)


# --- http(s) archives ------------------------------------------------------------------------


@pytest.fixture
async def archive_origin() -> Any:
    async with running_origin() as origin:
        origin.serve_bytes("/blog.tar.gz", tar_gz_bytes(EXAMPLE_BLOG), "application/gzip")
        origin.serve_bytes("/blog.zip", zip_bytes(EXAMPLE_BLOG), "application/zip")
        # No suffix in the URL (like codeload-style archive links): the format is sniffed.
        origin.serve_bytes("/archive/main", tar_gz_bytes(EXAMPLE_BLOG), "application/gzip")
        origin.redirect("/latest.zip", "/blog.zip")
        yield origin


@pytest.mark.parametrize("path", ["/blog.tar.gz", "/blog.zip", "/archive/main", "/latest.zip"])
async def test_http_archive(archive_origin: Origin, tmp_path: Path, path: str) -> None:
    root = await fetch(archive_origin.url + path, tmp_path / "src", FetchOptions(network=LOOPBACK))
    assert root == tmp_path / "src" / "blog-main"
    assert blog_revision(root) == EXPECTED
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # the staging dir is gone


async def test_http_archive_refused_without_allowlist(
    archive_origin: Origin, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="not a public address"):
        await fetch(archive_origin.url + "/blog.tar.gz", tmp_path / "src", FetchOptions())
    assert archive_origin.hits == []
    assert not list(tmp_path.iterdir())


async def test_http_archive_size_limit(tmp_path: Path) -> None:
    big = b"\x1f\x8b" + os.urandom(LIMITS.max_total_bytes)

    async def chunked(request: web.Request) -> web.StreamResponse:
        # No Content-Length: the limit must hold while streaming.
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for start_at in range(0, len(big), 1 << 20):
            await resp.write(big[start_at : start_at + (1 << 20)])
        await resp.write_eof()
        return resp

    async with running_origin() as origin:
        origin.serve_bytes("/declared.tar.gz", big, "application/gzip")
        origin.route("/chunked.tar.gz", chunked)
        options = FetchOptions(network=LOOPBACK)
        for path in ("/declared.tar.gz", "/chunked.tar.gz"):
            with pytest.raises(SourceError, match="over max_source_bytes"):
                await fetch(origin.url + path, tmp_path / "src", options)
            assert not list(tmp_path.iterdir())


async def test_http_errors_classified(tmp_path: Path) -> None:
    async def unavailable(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503)

    async with running_origin() as origin:
        origin.route("/busy.tar.gz", unavailable)
        origin.serve_bytes("/page.tar.gz", b"<html>not an archive</html>", "text/html")
        origin.redirect("/loop.zip", "/loop.zip")
        options = FetchOptions(network=LOOPBACK)
        with pytest.raises(SourceError, match="HTTP 404"):
            await fetch(origin.url + "/missing.tar.gz", tmp_path / "a", options)
        with pytest.raises(SourceUnavailable, match="HTTP 503"):  # retried by Temporal
            await fetch(origin.url + "/busy.tar.gz", tmp_path / "b", options)
        with pytest.raises(SourceError, match="not a tar or zip archive"):
            await fetch(origin.url + "/page.tar.gz", tmp_path / "c", options)
        with pytest.raises(SourceError, match="redirects"):
            await fetch(origin.url + "/loop.zip", tmp_path / "d", options)
    assert not list(tmp_path.iterdir())


async def test_credentials_never_in_errors(tmp_path: Path) -> None:
    async with running_origin() as origin:
        url = f"http://user:hunter2@127.0.0.1:{origin.port}/missing.tar.gz?token=tok3n"
        with pytest.raises(SourceError) as err:
            await fetch(url, tmp_path / "src", FetchOptions(network=LOOPBACK))
        assert origin.hits == ["/missing.tar.gz"]
    assert "hunter2" not in str(err.value) and "tok3n" not in str(err.value)
    with pytest.raises(SourceUnavailable) as unavailable:
        await fetch(
            "https://user:hunter2@name.invalid/a.tar.gz",
            tmp_path / "src",
            FetchOptions(network=LOOPBACK),
        )
    assert "hunter2" not in str(unavailable.value)
    assert unavailable.value.__cause__ is None and unavailable.value.__suppress_context__


# --- git -----------------------------------------------------------------------------------

GIT_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.fixture
def git_repo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A repository under tmp_path/roots: the blog tagged v1, then a second commit on top."""
    repo = tmp_path / "roots" / "blog"
    shutil.copytree(EXAMPLE_BLOG, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "tag", "v1")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "later-post.md").write_text("---\ntitle: Later\n---\n\nAdded after v1.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")
    yield repo, first


async def test_git_file_url_with_ref(git_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, first_commit = git_repo
    options = FetchOptions(source_roots=(tmp_path / "roots",))
    at_tag = await fetch(f"{repo.as_uri()}#v1", tmp_path / "a", options)
    at_sha = await fetch(f"git+{repo.as_uri()}#{first_commit}", tmp_path / "b", options)
    at_head = await fetch(f"git+{repo.as_uri()}", tmp_path / "c", options)
    assert blog_revision(at_tag) == blog_revision(at_sha) == EXPECTED
    assert not (at_tag / "later-post.md").exists()
    assert (at_head / "later-post.md").is_file()
    assert not (at_tag / ".git").exists()  # history is not part of the source


async def test_git_unknown_ref_is_bad_input(git_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, _ = git_repo
    options = FetchOptions(source_roots=(tmp_path / "roots",))
    with pytest.raises(SourceError, match=r"git fetch of .* failed"):
        await fetch(f"{repo.as_uri()}#no-such-branch", tmp_path / "a", options)


async def test_git_size_limit(git_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, _ = git_repo
    (repo / "blob.bin").write_bytes(os.urandom(LIMITS.max_total_bytes + 1))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "big")
    options = FetchOptions(source_roots=(tmp_path / "roots",))
    with pytest.raises(SourceError, match=r"max_source_bytes|max_file_bytes|total size"):
        await fetch(f"git+{repo.as_uri()}", tmp_path / "a", options)
    assert not (tmp_path / "a").exists()


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every subprocess the fetchers start (so a test can say: git never ran)."""
    calls: list[tuple[str, ...]] = []
    real = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(str(a) for a in args))
        return await real(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    return calls


async def test_hostile_git_and_local_inputs_refused(
    git_repo: tuple[Path, str], tmp_path: Path, spawned: list[tuple[str, ...]]
) -> None:
    repo, _ = git_repo
    marker = tmp_path / "pwned"
    roots = (tmp_path / "roots",)
    dns = StubResolver({"internal.test": ["10.0.0.5"], "metadata.test": ["169.254.169.254"]})
    async with running_origin() as target:
        cases = {
            f"ext::sh -c touch% {marker}": "scheme 'ext'",
            f"--upload-pack=touch {marker}": "must not start with '-'",
            f"git+{repo.as_uri()}#--upload-pack=touch%20{marker}": "invalid git ref",
            f"git+{repo.as_uri()}#main..v1": "invalid git ref",
            "file:///etc": "outside the allowed source roots",
            "file:///etc/.git#main": "outside the allowed source roots",
            "../../etc": "outside the allowed source roots",
            str(tmp_path / "roots" / ".." / "pwned-dir"): "outside the allowed source roots",
            "git://example.com/blog.git": "scheme 'git'",
            "ssh://git@example.com/blog.git": "scheme 'ssh'",
            "git@example.com:owner/blog.git": "scp-style",
            "http://example.com/blog.git": "only https://",
            f"https://127.0.0.1:{target.port}/blog.git": "not a public address",
            f"https://[::ffff:127.0.0.1]:{target.port}/blog.git#v1": "not a public address",
            "https://internal.test/blog.git": "not a public address",
            "https://metadata.test/blog.git#main": "not a public address",
            "s3://not-allowed-bucket/blog/": "not allowed",
        }
        for url, reason in cases.items():
            with pytest.raises(SourceError, match=reason):
                await fetch(url, tmp_path / "dest", FetchOptions(source_roots=roots), resolver=dns)
            assert not (tmp_path / "dest").exists(), url
    assert target.hits == []
    assert not marker.exists()
    assert spawned == []  # git never ran
    # Without configured roots, file:// git is refused outright.
    with pytest.raises(SourceError, match="needs SOURCE_ROOTS"):
        await fetch(f"{repo.as_uri()}#v1", tmp_path / "dest", FetchOptions())
    assert spawned == []


async def test_local_sources_under_roots(tmp_path: Path) -> None:
    roots = tmp_path / "roots"
    (roots / "blog").mkdir(parents=True)
    (roots / "blog" / "post.md").write_text("# hi\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# no\n")
    (roots / "escape").symlink_to(outside)  # a link inside a root, pointing out
    options = FetchOptions(source_roots=(roots,))
    root = await fetch(str(roots / "blog"), tmp_path / "a", options)
    assert (root / "post.md").is_file()
    root = await fetch((roots / "blog").as_uri(), tmp_path / "b", options)
    assert (root / "post.md").is_file()
    with pytest.raises(SourceError, match="outside the allowed source roots"):
        await fetch(str(roots / "escape"), tmp_path / "c", options)
    with pytest.raises(SourceError, match="outside the allowed source roots"):
        await fetch(str(outside), tmp_path / "c", options)
    # No roots configured: the development default accepts any local path.
    root = await fetch(str(outside), tmp_path / "d", FetchOptions())
    assert (root / "secret.md").is_file()


# --- s3:// ---------------------------------------------------------------------------------


def upload_tree(endpoint: str, bucket: str, src: Path, prefix: str) -> int:
    admin = s3_admin(endpoint)
    count = 0
    for path in sorted(src.rglob("*")):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(src).as_posix()}"
            admin.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
            count += 1
    return count


def s3_options(endpoint: str, buckets: tuple[str, ...]) -> FetchOptions:
    config = S3Config(
        endpoint_url=endpoint,
        region=REGION,
        addressing_style="path",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    return FetchOptions(s3_buckets=buckets, s3=config)


async def test_s3_prefix_source(moto_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:  # noqa: F811
    upload_tree(moto_endpoint, s3_bucket, EXAMPLE_BLOG, "sites/blog")
    s3_admin(moto_endpoint).put_object(Bucket=s3_bucket, Key="sites/blog/", Body=b"")  # a marker
    s3_admin(moto_endpoint).put_object(Bucket=s3_bucket, Key="sites/other/x.md", Body=b"# x")
    options = s3_options(moto_endpoint, (s3_bucket,))
    root = await fetch(f"s3://{s3_bucket}/sites/blog/", tmp_path / "src", options)
    assert blog_revision(root) == EXPECTED
    assert not (root / "x.md").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


async def test_s3_source_policy_and_limits(
    moto_endpoint: str,  # noqa: F811
    s3_bucket: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    admin = s3_admin(moto_endpoint)
    admin.put_object(Bucket=s3_bucket, Key="ok/post.md", Body=b"# ok")
    admin.put_object(Bucket=s3_bucket, Key="evil/../../escape.md", Body=b"# no")
    admin.put_object(Bucket=s3_bucket, Key="big/post.md", Body=b"x" * (LIMITS.max_file_bytes + 1))
    allowed = s3_options(moto_endpoint, (s3_bucket,))
    with pytest.raises(SourceError, match="not allowed"):
        await fetch(f"s3://{s3_bucket}/ok/", tmp_path / "a", s3_options(moto_endpoint, ()))
    with pytest.raises(SourceError, match="unsafe object key"):
        await fetch(f"s3://{s3_bucket}/evil/", tmp_path / "b", allowed)
    with pytest.raises(SourceError, match="max_file_bytes"):
        await fetch(f"s3://{s3_bucket}/big/", tmp_path / "c", allowed)
    with pytest.raises(SourceError, match="no objects"):
        await fetch(f"s3://{s3_bucket}/nothing/", tmp_path / "d", allowed)
    assert not list(tmp_path.iterdir())
    root = await fetch(f"s3://{s3_bucket}/ok", tmp_path / "e", allowed)
    assert (root / "post.md").read_bytes() == b"# ok"


# --- through the worker --------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The worker may reach the loopback archive origin (and nothing else that is internal).
    return settings.model_copy(update={"network_allowlist": ["127.0.0.1"]})


async def test_job_fetches_archive_over_http(
    settings: Settings, worker: None, temporal_client: Client, archive_origin: Origin
) -> None:
    body = job_request(archive_origin.url + "/blog.tar.gz", task="parse-only", site="blog")
    result = await temporal_client.get_workflow_handle(
        await start(temporal_client, settings, body)
    ).result()
    # The revision is named by its output, not by how the source arrived: the same files
    # from a local directory give the same revision id.
    local = job_request(EXAMPLE_BLOG, task="parse-only", site="blog")
    same = await temporal_client.get_workflow_handle(
        await start(temporal_client, settings, local)
    ).result()
    assert result["revision"] == same["revision"] and result["revision"].startswith("r-")
    assert result["counts"]["posts"] >= 12
    assert archive_origin.hits == ["/blog.tar.gz"]
