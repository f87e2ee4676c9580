"""A seeded generator of realistic Markdown corpora for tests and benchmarks.

`generate_corpus(dest, posts=N, seed=S)` writes N posts (YAML or TOML front matter, headings,
code, tables, links, 0-3 real small PNG/JPEG images each) under `dest`. The same seed gives
byte-identical trees.
"""

from __future__ import annotations

import argparse
import io
import random
from pathlib import Path

from PIL import Image, ImageDraw

WORDS = (
    "river stone bread garden engine kernel signal harbor lantern meadow orbit pepper quartz "
    "ribbon saddle timber umbrella velvet walnut yarrow zephyr anchor beacon canyon dune ember "
    "falcon glacier hollow island juniper kettle ledger marble nectar oyster prairie quiver "
    "rocket summit thistle tundra valley willow compiler database workflow retry vector index "
    "search latency storage network cache schema migration deploy rollback cluster replica"
).split()
TAGS = ("python", "search", "databases", "travel", "cooking", "gardening", "ops", "design")


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng, rng.randint(6, 16)) for _ in range(rng.randint(2, 5)))


def _image(rng: random.Random, fmt: str) -> bytes:
    img = Image.new(
        "RGB", (rng.randint(32, 96), rng.randint(32, 96)), tuple(rng.choices(range(256), k=3))
    )
    draw = ImageDraw.Draw(img)
    draw.rectangle((4, 4, 20, 20), fill=tuple(rng.choices(range(256), k=3)))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def _front_matter(rng: random.Random, title: str, date: str, tags: list[str], toml: bool) -> str:
    if toml:
        tag_list = ", ".join(f'"{t}"' for t in tags)
        return (
            f'+++\ntitle = "{title}"\ndate = {date}\n'
            f'tags = [{tag_list}]\nauthor = "Gen Erator"\n+++\n'
        )
    return (
        f'---\ntitle: "{title}"\ndate: {date}\ntags: [{", ".join(tags)}]\nauthor: Gen Erator\n---\n'
    )


def generate_corpus(dest: Path, posts: int, seed: int = 7, images: bool = True) -> Path:
    rng = random.Random(seed)
    (dest / "_posts").mkdir(parents=True, exist_ok=True)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    for i in range(posts):
        title = f"{_sentence(rng, 3)[:-1]} {i}"
        date = f"20{rng.randint(15, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        tags = rng.sample(TAGS, rng.randint(1, 3))
        slug = f"post-{i:05d}"
        body = [_front_matter(rng, title, date, tags, toml=i % 4 == 0), _paragraph(rng), ""]
        for h in range(rng.randint(1, 4)):
            body += [f"## {_sentence(rng, 3)[:-1]} {h}", "", _paragraph(rng), ""]
            if rng.random() < 0.3:
                body += ["```python", f"def step_{h}():", "    return 42", "```", ""]
            if rng.random() < 0.2:
                body += ["| key | value |", "|-----|-------|", f"| {rng.choice(WORDS)} | {h} |", ""]
            if i and rng.random() < 0.3:
                body += [f"See [an older post](/_posts/post-{rng.randrange(i):05d}/).", ""]
        if images:
            for k in range(rng.randint(0, 3)):
                fmt, ext = ("PNG", "png") if rng.random() < 0.5 else ("JPEG", "jpg")
                name = f"{slug}-{k}.{ext}"
                (dest / "images" / name).write_bytes(_image(rng, fmt))
                body += [f"![{_sentence(rng, 4)[:-1]}](/images/{name})", ""]
        (dest / "_posts" / f"{date}-{slug}.md").write_text("\n".join(body), encoding="utf-8")
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--posts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate_corpus(args.dest, args.posts, args.seed)
    print(f"wrote {args.posts} posts to {args.dest}")


if __name__ == "__main__":
    main()
