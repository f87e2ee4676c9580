"""Real corpora for the bench: the shared public trees, copied, and a larger one built from them.

`copy_corpus(name, dest)` copies one of `../shared/corpora/` (read-only) into a writable tree.
`build_replicated(dest, posts, seed)` writes a corpus of exactly `posts` posts made of the three
real corpora replicated under `copy-NN/<corpus>/`: copy 0 is the original text, every later
copy has its prose perturbed (words substituted by other words of the same file, a fixed seed
per copy and path), so paths and post ids are unique, sections embed differently, and the
Markdown structure (front matter, code, links, HTML, template calls, image references) is kept.
Every image is kept in every copy, as a real copy: Pressroom's local source refuses files
with more than one hard link. The same seed gives byte-identical trees.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
from pathlib import Path

from pressroom.content.posts import is_post_path

__all__ = [
    "CORPORA_ROOT",
    "REAL_CORPORA",
    "build_replicated",
    "copy_corpus",
    "corpus_posts",
    "perturb",
]

REAL_CORPORA = ("go-blog", "hugo-docs", "jekyll-docs")
# `BENCH_CORPORA` overrides where they are; by default `../shared/corpora` beside the repo.
CORPORA_ROOT = Path(
    os.environ.get("BENCH_CORPORA")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
)
SUBSTITUTE = 0.3  # share of prose words replaced in a perturbed copy

# Spans a substitution must not touch: link and image targets, HTML tags, template calls,
# inline code, URLs. Only lower-case words of 4+ letters outside them are prose enough.
_TOKEN = re.compile(
    r"(?P<keep>\]\([^)]*\)|<[^>]*>|\{\{.*?\}\}|\{%.*?%\}|`[^`]*`|https?://\S+|\[[^\]]*\]:\s*\S+)"
    r"|(?P<word>\b[a-z]{4,}\b)"
)
_FENCE = re.compile(r"^\s*(```|~~~)")
_FRONT = ("---", "+++")


def corpus_posts(root: Path) -> list[str]:
    """The post files under `root`, as sorted POSIX paths relative to it."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and is_post_path(p.relative_to(root).as_posix())
    )


def _make_writable(root: Path) -> None:
    # The shared corpora are read-only: without write bits the copy could not be removed.
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)  # noqa: S103 - a scratch copy, as the source was
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)


def copy_corpus(name: str, dest: Path, source_root: Path = CORPORA_ROOT) -> Path:
    """A writable copy of the real corpus `name` at `dest`."""
    src = source_root / name
    if not src.is_dir():
        raise FileNotFoundError(f"real corpus {name!r} not found at {src} (set BENCH_CORPORA)")
    shutil.copytree(src, dest, copy_function=shutil.copyfile)
    _make_writable(dest)
    return dest


def _rng(seed: int, copy: int, path: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{copy}:{path}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def perturb(text: str, rng: random.Random, share: float = SUBSTITUTE) -> str:
    """`text` with about `share` of its prose words replaced by other prose words of the same
    text. Front matter, fenced code and protected spans (see `_TOKEN`) stay byte for byte."""
    lines = text.split("\n")
    vocab = sorted({m.group("word") for m in _TOKEN.finditer(text) if m.group("word")})
    if not vocab:
        return text

    def swap(m: re.Match[str]) -> str:
        if m.group("word") and rng.random() < share:
            return rng.choice(vocab)
        return m.group(0)

    out: list[str] = []
    in_front = bool(lines) and lines[0].strip() in _FRONT
    front_mark = lines[0].strip() if in_front else ""
    in_fence = False
    for i, line in enumerate(lines):
        if in_front:
            out.append(line)
            if i > 0 and line.strip() == front_mark:
                in_front = False
            continue
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            continue
        out.append(line if in_fence else _TOKEN.sub(swap, line))
    return "\n".join(out)


def build_replicated(
    dest: Path,
    posts: int,
    seed: int = 11,
    corpora: tuple[str, ...] = REAL_CORPORA,
    source_root: Path = CORPORA_ROOT,
) -> Path:
    """Write a corpus of exactly `posts` posts built from the real corpora (see the module doc)."""
    sources = [(name, source_root / name) for name in corpora]
    for name, src in sources:
        if not src.is_dir():
            raise FileNotFoundError(f"real corpus {name!r} not found at {src}")
    per_copy = sum(len(corpus_posts(src)) for _, src in sources)
    if per_copy == 0:
        raise ValueError("the real corpora hold no posts")
    written, copy = 0, 0
    while written < posts:
        for name, src in sources:
            target = dest / f"copy-{copy:02d}" / name
            for path in sorted(p for p in src.rglob("*") if p.is_file()):
                rel = path.relative_to(src).as_posix()
                out = target / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                if not is_post_path(rel):
                    shutil.copyfile(path, out)
                    continue
                if written >= posts:
                    continue  # the last copy is partial: exactly `posts` posts in all
                data = path.read_bytes()
                if copy:
                    text = data.decode("utf-8", errors="surrogateescape")
                    data = perturb(text, _rng(seed, copy, f"{name}/{rel}")).encode(
                        "utf-8", errors="surrogateescape"
                    )
                out.write_bytes(data)
                written += 1
        copy += 1
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    build_replicated(args.dest, args.posts, args.seed)
    print(f"wrote {args.posts} posts to {args.dest}")


if __name__ == "__main__":
    main()
