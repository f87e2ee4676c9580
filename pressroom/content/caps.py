"""Field caps: how long a post's short fields may be (FIELD_CAPS), and `Caps`, which cuts a
longer value (marked with "…") and remembers what it cut for the post's warning.

Caps, in characters: title 300, slug 200, description 1,000, excerpt 300 (pressroom.content.
fields), each author 200 (at most 50), each tag and category 100 (at most 100 of each), each
section heading 300, each image alt text or title 1,000, and each string inside the post's
`front_matter` copy 4,096. The front matter block itself is limited in
pressroom.content.frontmatter (MAX_FRONT_MATTER_BYTES: a larger block is a per-post error).
"""

from __future__ import annotations

from typing import Any

from pressroom.models import ImageRef

__all__ = ["FIELD_CAPS", "Caps", "cut"]

# Characters (or items, for the *_count caps) a post's short fields keep; see the module
# docstring. Search hits, result lists and every artifact repeat these fields per post.
FIELD_CAPS: dict[str, int] = {
    "title": 300,
    "slug": 200,
    "description": 1000,
    "author": 200,
    "author_count": 50,
    "term": 100,  # one tag or category
    "term_count": 100,  # tags, and categories, each
    "heading": 300,
    "url": 2048,  # a post's URL, and each alias
    "alias_count": 50,
    "alt": 1000,
    "front_matter_string": 4096,
}
_CUT = "\u2026"


def cut(value: str, limit: int) -> str:
    """At most `limit` characters, marked with "…" when cut."""
    return value if len(value) <= limit else value[: limit - 1] + _CUT


class Caps:
    """Cuts fields to FIELD_CAPS and remembers what it cut, for the post's warning."""

    def __init__(self) -> None:
        self.cuts: list[str] = []

    def text(self, field: str, value: str, cap: str | None = None) -> str:
        limit = FIELD_CAPS[cap or field]
        if len(value) <= limit:
            return value
        self.cuts.append(f"{field} cut from {len(value)} to {limit} characters")
        return cut(value, limit)

    def url(self, value: str | None) -> str | None:
        """A URL is kept whole or not at all: a cut one would point somewhere else."""
        limit = FIELD_CAPS["url"]
        if value is None or len(value) <= limit:
            return value
        self.cuts.append(f"url of {len(value)} characters dropped (over {limit})")
        return None

    def texts(self, field: str, values: list[str], each: str, count: str) -> list[str]:
        limit = FIELD_CAPS[count]
        if len(values) > limit:
            self.cuts.append(f"{field} cut from {len(values)} to {limit} items")
            values = values[:limit]
        each_limit = FIELD_CAPS[each]
        long = sum(1 for v in values if len(v) > each_limit)
        if long:
            self.cuts.append(f"{long} of {field} cut to {each_limit} characters")
            # Two long values may be the same once cut.
            values = list(dict.fromkeys(cut(v, each_limit) for v in values))
        return values

    def front_matter(self, value: Any) -> Any:
        limit = FIELD_CAPS["front_matter_string"]
        count = 0

        def walk(item: Any) -> Any:
            nonlocal count
            if isinstance(item, str) and len(item) > limit:
                count += 1
                return cut(item, limit)
            if isinstance(item, dict):
                return {k: walk(v) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v) for v in item]
            return item

        out = walk(value)
        if count:
            self.cuts.append(f"{count} front_matter string(s) cut to {limit} characters")
        return out

    def images(self, images: list[ImageRef]) -> list[ImageRef]:
        limit = FIELD_CAPS["alt"]
        long = [i for i in images if len(i.alt) > limit or len(i.title or "") > limit]
        if not long:
            return images
        self.cuts.append(f"{len(long)} image alt text(s) or title(s) cut to {limit} characters")
        return [
            i.model_copy(
                update={"alt": cut(i.alt, limit), "title": i.title and cut(i.title, limit)}
            )
            for i in images
        ]
