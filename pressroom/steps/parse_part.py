"""One slice of the parse step: posts parsed and streamed straight to JSON-lines files.

A `PartWriter` reads posts straight out of the snapshot tar (`Snapshot`), parses them chunk
by chunk and writes each one as it goes, so nothing grows with the repository:
`posts-K.jsonl` (the parsed posts), `inputs-K.jsonl` (one embedding input per section, in
section order), `refs-K.jsonl` (`[post_id, image path, alt]` for each image a post shows),
and the per-file reports `errors-K.jsonl`, `warnings-K.jsonl` (fields cut to their caps) and
`skipped-K.jsonl` (drafts). The parse step runs one part in a thread for a
small repository, or several as child processes (`python -m pressroom.steps.parse_part`) to
use every core on a large one, then concatenates the parts in order.

The child speaks a line protocol on stdout: `progress <n>` as it goes, then `summary <json>`.
It imports only the parsing modules, never the worker's (Temporal, database, providers).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import tarfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from pressroom.content.posts import PostParseError, parse_post
from pressroom.content.sanitize import HtmlPolicy
from pressroom.conventions.profile import SiteProfile
from pressroom.embeddings.inputs import input_sha256, section_input
from pressroom.models import (
    MAX_INLINE_ERROR_BYTES,
    MAX_INLINE_ERRORS,
    Post,
    PostError,
    error_bytes,
    inline_errors,
)

__all__ = [
    "PartSummary",
    "PartWriter",
    "PostOptions",
    "Snapshot",
    "json_line",
    "parse_one",
    "part_path",
]

PART_FILES = ("posts", "inputs", "refs", "errors", "warnings", "skipped")


def part_path(out: Path, kind: str, part: int) -> Path:
    return out / f"{kind}-{part:03d}.jsonl"


def json_line(row: Any) -> str:
    # The work store's JSON-lines format (workstore.write_jsonl).
    return json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


class Snapshot:
    """Random access to the fetch step's snapshot (an uncompressed tar) without extracting it:
    each member is read at its offset, so no file is written and none is read twice."""

    def __init__(self, tar_path: Path, index: dict[str, tuple[int, int]] | None = None) -> None:
        if index is None:
            # "r:" refuses a compressed archive, where data offsets would mean nothing.
            with tarfile.open(tar_path, "r:") as tar:
                index = {m.name: (m.offset_data, m.size) for m in tar.getmembers() if m.isfile()}
        self.index = index
        self._fd = os.open(tar_path, os.O_RDONLY)

    def save_index(self, path: Path) -> None:
        """Write the member index, so a child process need not scan the tar again (reading
        25,000 tar headers takes tarfile about a second)."""
        path.write_text(json.dumps(self.index), encoding="utf-8")

    @classmethod
    def with_index(cls, tar_path: Path, index_path: Path) -> Snapshot:
        saved = json.loads(index_path.read_text(encoding="utf-8"))
        return cls(tar_path, {name: (int(o), int(n)) for name, (o, n) in saved.items()})

    def names(self) -> list[str]:
        return sorted(self.index)

    def size(self, name: str) -> int:
        return self.index[name][1]

    def read(self, name: str) -> bytes:
        offset, size = self.index[name]
        return os.pread(self._fd, size, offset)  # positional: safe from several threads

    def copy_to(self, name: str, dest: Path, chunk: int = 1 << 20) -> str:
        """Write member `name` to `dest` a chunk at a time (a large image is never whole in
        memory); returns the sha256 of what was written."""
        offset, size = self.index[name]
        digest = hashlib.sha256()
        with dest.open("wb") as out:
            end = offset + size
            while offset < end:
                data = os.pread(self._fd, min(chunk, end - offset), offset)
                if not data:
                    raise OSError(f"snapshot ended inside {name!r}")
                digest.update(data)
                out.write(data)
                offset += len(data)
        return digest.hexdigest()

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_file(
    rel_path: str,
    size: Callable[[], int],
    read: Callable[[], bytes],
    known: frozenset[str],
    max_bytes: int | None = None,
    *,
    html_policy: HtmlPolicy | None = None,
    warnings: list[str] | None = None,
    profile: SiteProfile | None = None,
) -> Post | PostError:
    """Parse one post; a failure is a PostError with the path and reason, never an exception.
    `warnings` receives what was cut from a post that is kept (content.caps.FIELD_CAPS)."""
    try:
        n = size()
        if max_bytes is not None and n > max_bytes:
            # Refused unread: a huge post would cost the worker seconds and memory for one
            # section that no index can hold anyway.
            return PostError(
                path=rel_path, reason=f"post is {n} bytes, over MAX_POST_BYTES={max_bytes}"
            )
        return parse_post(
            rel_path,
            read(),
            known_files=known,
            html_policy=html_policy,
            warnings=warnings,
            profile=profile,
        )
    except PostParseError as exc:
        return PostError(path=rel_path, reason=str(exc))
    except Exception as exc:  # the parser must never take the job down with it
        return PostError(path=rel_path, reason=f"unexpected parser error: {exc!r}")


def parse_one(
    root: Path,
    rel_path: str,
    known: frozenset[str],
    max_bytes: int | None = None,
    *,
    html_policy: HtmlPolicy | None = None,
) -> Post | PostError:
    """`parse_file` for a post in a directory tree."""
    path = root / rel_path
    return parse_file(
        rel_path,
        lambda: path.stat().st_size,
        path.read_bytes,
        known,
        max_bytes,
        html_policy=html_policy,
    )


@dataclass(frozen=True)
class PostOptions:
    """How each post is parsed: drafts kept or skipped, the size cap, the HTML policy, the
    site's conventions (None: a plain folder)."""

    include_drafts: bool = False
    max_post_bytes: int | None = None  # None: no cap
    html_policy: HtmlPolicy = field(default_factory=HtmlPolicy)
    profile: SiteProfile | None = None

    def argv(self, profile_file: Path | None = None) -> list[str]:
        """These options as a child process's arguments (`main`); the profile, which may be
        too long for an argument, goes in `profile_file`."""
        args = ["--include-drafts"] if self.include_drafts else []
        if self.profile is not None and profile_file is not None:
            profile_file.write_text(self.profile.model_dump_json(), encoding="utf-8")
            args += ["--profile", str(profile_file)]
        if self.max_post_bytes is not None:
            args += ["--max-post-bytes", str(self.max_post_bytes)]
        if not self.html_policy.sanitize:
            args.append("--no-sanitize")
        return [*args, "--iframe-hosts", ",".join(self.html_policy.iframe_hosts)]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> PostOptions:
        policy = HtmlPolicy(sanitize=not args.no_sanitize)
        if args.iframe_hosts is not None:
            hosts = tuple(h for h in args.iframe_hosts.split(",") if h)
            policy = HtmlPolicy(sanitize=policy.sanitize, iframe_hosts=hosts)
        profile = None
        if args.profile is not None:
            profile = SiteProfile.model_validate_json(args.profile.read_text(encoding="utf-8"))
        return cls(args.include_drafts, args.max_post_bytes, policy, profile)


def _inline(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The leading rows within the inline budget (models.inline_errors: count and bytes)."""
    return [e.model_dump() for e in inline_errors(PostError(**row) for row in rows)]


@dataclass
class PartSummary:
    posts: int = 0
    sections: int = 0
    error_count: int = 0
    drafts: int = 0
    warning_count: int = 0
    # The first rows of each report within the inline budget; the part files hold them all.
    errors: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def merge(self, other: PartSummary) -> None:
        self.posts += other.posts
        self.sections += other.sections
        self.error_count += other.error_count
        self.drafts += other.drafts
        self.warning_count += other.warning_count
        self.errors = _inline(self.errors + other.errors)
        self.skipped = _inline(self.skipped + other.skipped)
        self.warnings = _inline(self.warnings + other.warnings)

    def note(self, kind: str, row: PostError) -> None:
        """Keep `row` inline in the `kind` list ("errors", "skipped", "warnings") if it fits
        the budget of models.inline_errors (count and bytes)."""
        rows: list[dict[str, str]] = getattr(self, kind)
        if len(rows) >= MAX_INLINE_ERRORS:
            return
        used = sum(error_bytes(r["path"], r["reason"]) for r in rows)
        if used + error_bytes(row.path, row.reason) <= MAX_INLINE_ERROR_BYTES:
            rows.append(row.model_dump())


class PartWriter:
    """Parses posts and appends them to this part's files; `close()` returns the counts."""

    def __init__(self, snapshot: Snapshot, out: Path, part: int, options: PostOptions) -> None:
        self.snapshot, self.known = snapshot, frozenset(snapshot.index)
        self.options = options
        self.summary = PartSummary()
        out.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, IO[str]] = {
            kind: part_path(out, kind, part).open("w", encoding="utf-8", buffering=1 << 20)
            for kind in PART_FILES
        }

    def _report(self, kind: str, row: PostError) -> None:
        self._files[kind].write(json_line(row.model_dump(mode="json")))
        self.summary.note(kind, row)

    def parse(self, paths: list[str]) -> None:
        files, summary = self._files, self.summary
        for rel_path in paths:
            cut: list[str] = []
            outcome = parse_file(
                rel_path,
                functools.partial(self.snapshot.size, rel_path),
                functools.partial(self.snapshot.read, rel_path),
                self.known,
                self.options.max_post_bytes,
                html_policy=self.options.html_policy,
                warnings=cut,
                profile=self.options.profile,
            )
            if isinstance(outcome, PostError):
                summary.error_count += 1
                self._report("errors", outcome)
                continue
            if outcome.draft and not self.options.include_drafts:
                summary.drafts += 1
                self._report(
                    "skipped", PostError(path=rel_path, reason="draft (INCLUDE_DRAFTS=false)")
                )
                continue
            if cut:
                summary.warning_count += 1
                self._report("warnings", PostError(path=rel_path, reason="; ".join(cut)))
            summary.posts += 1
            summary.sections += len(outcome.sections)
            files["posts"].write(json_line(outcome.model_dump(mode="json")))
            for section in outcome.sections:
                text = section_input(outcome.title, section.heading, section.text)
                row = {"id": section.id, "sha256": input_sha256(text), "input": text}
                files["inputs"].write(json_line(row))
            for image in outcome.images:
                if image.path is not None:
                    files["refs"].write(json_line([outcome.id, image.path, image.alt]))

    def close(self) -> PartSummary:
        for fh in self._files.values():
            fh.close()
        return self.summary


# --- the child process ---------------------------------------------------------------------

PROGRESS_EVERY = 32


def _read_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Parse one part of a snapshot (internal).")
    parser.add_argument("--snapshot", type=Path, required=True, help="the fetch step's tar")
    parser.add_argument("--index", type=Path, required=True, help="Snapshot.save_index output")
    parser.add_argument("--paths", type=Path, required=True, help="this part's posts")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--part", type=int, required=True)
    parser.add_argument("--include-drafts", action="store_true")
    parser.add_argument("--max-post-bytes", type=int)
    parser.add_argument("--no-sanitize", action="store_true", help="keep post HTML verbatim")
    parser.add_argument("--iframe-hosts", help="comma-separated; default: the built-in list")
    parser.add_argument("--profile", type=Path, help="the site profile, as JSON")
    args = parser.parse_args(argv)
    with Snapshot.with_index(args.snapshot, args.index) as snapshot:
        writer = PartWriter(snapshot, args.out, args.part, PostOptions.from_args(args))
        paths = _read_lines(args.paths)
        for start in range(0, len(paths), PROGRESS_EVERY):
            writer.parse(paths[start : start + PROGRESS_EVERY])
            print(f"progress {min(start + PROGRESS_EVERY, len(paths))}", flush=True)
        print(f"summary {json.dumps(asdict(writer.close()))}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
