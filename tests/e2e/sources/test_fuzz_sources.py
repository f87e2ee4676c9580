"""Property: whatever a source tree holds, a process-all job completes and every bad file is
listed with its path (issue 10, "one bad file is a per-post error, never a failed job").

Hypothesis builds small random trees: arbitrary bytes in file names (not UTF-8 ones among
them), duplicate post ids across extensions (`.md`/`.markdown`), separators (`/` vs `\\`)
and page bundles, huge and malformed front matter (YAML, TOML, JSON; bad Unicode, deep
nesting, huge scalars), binary garbage posts and broken images. Each tree is a REAL job on
the real stack (Temporal dev server, one worker for all examples, Postgres, the local hashing
embedder), and:

- the job completes;
- each file built to be bad is in the result's errors under its printable path;
- every Markdown file is a published post, a skipped draft or an error, and every image is in
  `media.json` or an error; post ids are unique; every reason is at most 1 KiB.

Profiles (HYPOTHESIS_PROFILE): `ci` (the default, in `make test`): 12 derandomized examples,
no example database, so runs are reproducible; `fuzz` (`make fuzz`): 2,000 random examples.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.content.frontmatter import MAX_FRONT_MATTER_BYTES
from pressroom.content.media import is_image_path
from pressroom.content.posts import is_post_path
from pressroom.models import MAX_INLINE_ERRORS, MAX_REASON_BYTES
from tests.jobs import job_request, run_job

# One worker serves every example on purpose (starting one per example would cost seconds):
# the function-scoped fixtures are shared by design, each example gets its own tree, site
# and folder.
_SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
hsettings.register_profile(
    "pressroom-ci",
    max_examples=12,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_SHARED,
)
hsettings.register_profile(
    "pressroom-fuzz", max_examples=2000, deadline=None, suppress_health_check=_SHARED
)
_ASKED = os.environ.get("HYPOTHESIS_PROFILE", "ci")
PROFILE = {"ci": "pressroom-ci", "fuzz": "pressroom-fuzz"}.get(_ASKED, _ASKED)

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


@dataclass
class Tree:
    """Files by raw path (bytes, as on disk) and the ones that must be listed as errors."""

    files: dict[bytes, bytes] = field(default_factory=dict)
    must_fail: dict[bytes, str] = field(default_factory=dict)  # path -> words of the reason

    def add(self, path: bytes, data: bytes, reason: str | None = None) -> None:
        if path in self.files:
            return
        self.files[path] = data
        if reason is not None:
            self.must_fail[path] = reason


def printable(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


# --- contents --------------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_BODY = st.lists(
    st.sampled_from(
        ["# Head\n", "## Sub {#x}\n", "text ", "- item\n", "> quote\n", "```py\ncode\n```\n",
         "<script>x()</script>\n", "![img](/img/a.png)\n", "[link](/a)\n", "\n\n",
         "| a | b |\n|---|---|\n| 1 | 2 |\n", "{% raw %}{{ x }}{% endraw %}\n", "&#0; &#xD800;\n"]
    ),
    max_size=10,
).map("".join)  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | _TEXT
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)
_META = st.dictionaries(
    st.sampled_from(["title", "tags", "date", "author", "slug", "description", "lang", "x"]),
    _VALUES,
    max_size=6,
)


@st.composite
def good_post(draw: st.DrawFn) -> bytes:
    meta = draw(_META)
    meta.pop("draft", None)
    head = yaml.safe_dump(meta, allow_unicode=True) if meta else ""
    return f"---\n{head}---\n{draw(_BODY)}".encode("utf-8", "surrogatepass")


@st.composite
def malformed_front_matter(draw: st.DrawFn) -> bytes:
    """A fenced block of any format with junk spliced in: it may parse, or fail cleanly."""
    fence, junk = draw(st.sampled_from(["---", "+++", ";;;", ""])), draw(_TEXT)
    meta = json.dumps(draw(_META), ensure_ascii=False)
    spliced = meta[: len(meta) // 2] + junk + meta[len(meta) // 2 :]
    text = f"{fence}\n{spliced}\n{fence}\nbody\n" if fence else f"{spliced}\nbody\n"
    return text.encode("utf-8", "surrogatepass")


# (content, words the reason must hold): files that cannot be posts, whatever else is there.
_HUGE = MAX_FRONT_MATTER_BYTES + 1024
_BAD_CONTENT = st.sampled_from(
    [
        (b"---\ntitle: Caf\xe9\n---\nlatin-1 bytes\n", "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00garbage\x00" + bytes(range(256)), "not UTF-8"),
        (b"---\ntitle: [never closed\n---\nbody\n", "invalid YAML"),
        (b'+++\ntitle = "x\n+++\nbody\n', "invalid TOML"),
        (b'{"title": "x",\n"tags": [1,\n}\nbody\n', "invalid JSON"),
        (b"---\ntitle: no closing fence\nbody\n", "unterminated"),
        (b'{"a": ' + b"[" * 300 + b"1" + b"]" * 300 + b"}\nbody\n", "nested too deeply"),
        (b"---\nx: " + b"[" * 2000 + b"]" * 2000 + b"\n---\nbody\n", "YAML"),
        (b"---\ntitle: !" + b"a" * 200_000 + b"\n---\nbody\n", "truncated"),
        (b"---\ntitle: " + b"a" * _HUGE + b"\n---\nbody\n", "over the limit"),
        (b"+++\ntitle = '" + b"a" * _HUGE + b"'\n+++\nbody\n", "over the limit"),
        (b';;;\n{"t": "' + b"a" * _HUGE + b'"}\n;;;\nbody\n', "over the limit"),
        (b'{"title": "\\ud800 lone surrogate"}\n' + b"a" * 10, ""),  # U+FFFD: a post
    ]
)
# Raw name bytes: anything but "/" and NUL; often not UTF-8.
_RAW_NAME = st.binary(min_size=1, max_size=24).map(
    lambda b: b.replace(b"/", b"_").replace(b"\0", b"_")
)
_SLUG = st.text("abcdefghij-", min_size=1, max_size=8)


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    tree = Tree()
    tree.add(b"_posts/2000-01-01-anchor.md", b"---\ntitle: Anchor\n---\nAnchor post.\n")
    for n in range(draw(st.integers(0, 7))):
        kind = draw(
            st.sampled_from(
                ["good", "raw-name", "raw-dir", "dup-ext", "dup-sep", "dup-bundle",
                 "malformed", "bad", "garbage", "image", "broken-image", "dup-image"]
            )
        )  # fmt: skip
        slug = f"{draw(_SLUG)}{n}"
        if kind == "good":
            tree.add(f"_posts/2001-01-01-{slug}.md".encode(), draw(good_post()))
        elif kind in ("raw-name", "raw-dir"):
            raw = draw(_RAW_NAME)
            if raw in (b".", b"..") or len(raw) > 200 or (kind == "raw-dir" and raw[:1] == b"."):
                continue  # hidden directories are not part of a site (sources._walk_files)
            suffix = draw(st.sampled_from([b".md", b".markdown", b".png"]))
            data = PNG if suffix == b".png" else draw(good_post())
            path = b"raw/" + raw + suffix if kind == "raw-name" else b"raw/" + raw + b"/p" + suffix
            bad_name = not _is_utf8(path)
            tree.add(path, data, "not valid UTF-8" if bad_name else None)
        elif kind == "dup-ext":
            # `.markdown` sorts before `.md`: it keeps the id, `.md` is the duplicate.
            tree.add(f"dup/{slug}.markdown".encode(), draw(good_post()))
            tree.add(f"dup/{slug}.md".encode(), draw(good_post()), "duplicate post id")
        elif kind == "dup-sep":
            tree.add(f"sep/{slug}.md".encode(), draw(good_post()))
            tree.add(f"sep\\{slug}.md".encode(), draw(good_post()), "duplicate post id")
        elif kind == "dup-bundle":
            tree.add(f"bundle-{slug}.md".encode(), draw(good_post()))
            tree.add(f"bundle-{slug}/index.md".encode(), draw(good_post()), "duplicate post id")
        elif kind == "malformed":
            tree.add(f"fm/{slug}.md".encode(), draw(malformed_front_matter()))
        elif kind == "bad":
            data, reason = draw(_BAD_CONTENT)
            tree.add(f"bad/{slug}.md".encode(), data, reason or None)
        elif kind == "garbage":
            data = draw(st.binary(max_size=512)) + b"\x00"
            tree.add(f"bin/{slug}.md".encode(), data, "not UTF-8")
        elif kind == "image":
            tree.add(f"img/{slug}.png".encode(), PNG)
        elif kind == "broken-image":
            tree.add(f"img/{slug}.jpg".encode(), draw(st.binary(max_size=256)))
        else:  # the same image path twice once `\` is a separator
            tree.add(f"pics/{slug}.png".encode(), PNG)
            tree.add(f"pics\\{slug}.png".encode(), PNG, "duplicate media path")
    return tree


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def write(tree: Tree, root: Path) -> None:
    """Write every file; one whose path clashes with another's directory is dropped."""
    base = os.fsencode(root)
    for rel, data in list(tree.files.items()):
        path = base + b"/" + rel
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "xb") as fh:
                fh.write(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            del tree.files[rel]
            tree.must_fail.pop(rel, None)


def _normalised(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/")).lstrip("/")


def check(tree: Tree, result: dict[str, Any]) -> None:
    assert result["status"] == "completed", result.get("failure")
    errors = {e["path"]: e["reason"] for e in result["errors"]}
    # Small trees: the inline list holds every error (the work store has them all anyway).
    assert result["errorCount"] == len(result["errors"]) <= MAX_INLINE_ERRORS
    assert all(len(r.encode()) <= MAX_REASON_BYTES for r in errors.values())
    for path, words in tree.must_fail.items():
        name = printable(path)
        assert name in errors, (name, sorted(errors))
        assert words in errors[name], (name, errors[name])

    base = Path(result["artifacts"]["base"].removeprefix("file://"))
    posts = json.loads((base / "posts.json").read_text())["posts"]
    media = {m["path"] for m in json.loads((base / "media.json").read_text())["media"]}
    ids = [p["id"] for p in posts]
    assert len(ids) == len(set(ids))
    published = {p["path"] for p in posts}
    skipped = {s["path"] for s in result["skipped"]}
    assert "_posts/2000-01-01-anchor.md" in published
    for path in tree.files:
        name = printable(path)
        if is_post_path(name):
            accounted = name in errors or name in skipped or _normalised(name) in published
            assert accounted, (name, sorted(errors), sorted(published))
        elif is_image_path(name):
            assert name in media or name in errors, (name, sorted(media))


@pytest.mark.timeout(0)  # `make fuzz` runs for a long time; each job still has its own limits
@pytest.mark.usefixtures("worker")
@hsettings(hsettings.get_profile(PROFILE))
@given(tree=trees())
async def test_every_job_completes_and_lists_every_bad_file(
    tree: Tree, settings: Settings, temporal_client: Client
) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz-tree-", dir=settings.state_dir.parent))
    try:
        write(tree, root)
        name = f"fz-{uuid.uuid4().hex[:10]}"
        body = job_request(root, job_id=name, site=name, dist=name)
        result = await run_job(temporal_client, settings, body)
        check(tree, result)
    finally:
        shutil.rmtree(root, ignore_errors=True)
