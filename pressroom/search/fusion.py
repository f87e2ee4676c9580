"""Reciprocal rank fusion, pure: the one fusion every search back end shares (Postgres in
`searcher`, the published search.json in `file`).

score = sum over lists of weight / (k + rank). Sections fuse at the post level (a post's rank
in a list is the rank of its best section), then each post shows its best sections by the
same fusion at the section level; images fuse by path. Equal post scores go to the better
text rank, then the post id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pressroom.config import Settings

__all__ = ["Fusion", "Hit", "ImageHit", "fuse", "fuse_images"]

SECTIONS_PER_POST = 3


@dataclass(frozen=True)
class Fusion:
    """Reciprocal rank fusion settings: score = sum of weight / (k + rank) over the lists."""

    k: int = 60
    text_weight: float = 1.0
    vector_weight: float = 1.0
    # A vector-only image hit (no text match) needs at least this cosine similarity.
    image_min_similarity: float = 0.2

    @classmethod
    def from_settings(cls, settings: Settings) -> Fusion:
        return cls(
            k=settings.search_rrf_k,
            text_weight=settings.search_text_weight,
            vector_weight=settings.search_vector_weight,
            image_min_similarity=settings.search_image_min_similarity,
        )

    def score(self, key: str, text: Ranked, vector: Ranked) -> float:
        """`key`'s fused score over a text and a vector list (absent from one: no term)."""
        ranks = [
            (text.ranks.get(key), self.text_weight),
            (vector.ranks.get(key), self.vector_weight),
        ]
        return rrf(ranks, self.k)


@dataclass
class Ranked:
    """A list's ranks: items in order, each with its 1-based rank and raw score."""

    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, score: float) -> None:
        if key not in self.ranks:
            self.ranks[key] = len(self.ranks) + 1
            self.scores[key] = score


def rrf(ranks: Sequence[tuple[int | None, float]], k: int) -> float:
    return sum(weight / (k + rank) for rank, weight in ranks if rank is not None)


@dataclass(frozen=True)
class Hit:
    section_id: str
    post_id: str
    score: float  # ts_rank_cd for text, cosine similarity for vectors


def fuse(
    text: Sequence[Hit], vector: Sequence[Hit], fusion: Fusion, limit: int
) -> list[dict[str, Any]]:
    """Posts ranked by RRF over the two lists (post rank = rank of its best section), each
    with its best sections by RRF over the section ranks, as JSON-ready results."""
    sec_t, sec_v, post_t, post_v = Ranked(), Ranked(), Ranked(), Ranked()
    post_of: dict[str, str] = {}
    for hit in text:
        sec_t.add(hit.section_id, hit.score)
        post_t.add(hit.post_id, hit.score)
        post_of[hit.section_id] = hit.post_id
    for hit in vector:
        sec_v.add(hit.section_id, hit.score)
        post_v.add(hit.post_id, hit.score)
        post_of[hit.section_id] = hit.post_id

    def post_score(post: str) -> float:
        return fusion.score(post, post_t, post_v)

    def section_score(section: str) -> float:
        return fusion.score(section, sec_t, sec_v)

    # Equal scores (one post first in the text list only, another first in the vector list
    # only) go to the better text rank: the words the reader typed are the surer evidence,
    # and an approximate vector index may have missed the first post's own vector.
    never = len(post_t.ranks) + 1
    posts = sorted(
        set(post_t.ranks) | set(post_v.ranks),
        key=lambda p: (-post_score(p), post_t.ranks.get(p, never), p),
    )
    sections_of: dict[str, list[str]] = {}
    for section in sorted(post_of, key=lambda s: (-section_score(s), s)):
        sections_of.setdefault(post_of[section], []).append(section)
    out = []
    for post in posts[:limit]:
        out.append(
            {
                "postId": post,
                "score": post_score(post),
                "scores": _breakdown(post, post_t, post_v),
                "sections": [
                    {
                        "sectionId": s,
                        "score": section_score(s),
                        "scores": _breakdown(s, sec_t, sec_v),
                    }
                    for s in sections_of[post][:SECTIONS_PER_POST]
                ],
            }
        )
    return out


def _breakdown(key: str, text: Ranked, vector: Ranked) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if key in text.ranks:
        out["text"] = {"rank": text.ranks[key], "score": round(text.scores[key], 6)}
    if key in vector.ranks:
        out["vector"] = {"rank": vector.ranks[key], "similarity": round(vector.scores[key], 6)}
    return out


@dataclass(frozen=True)
class ImageHit:
    path: str
    score: float
    scores: dict[str, Any]  # per list: rank and raw score (see `fuse`)


def fuse_images(
    text: Iterable[tuple[str, float]],
    vector: Iterable[tuple[str, float]],
    fusion: Fusion,
    limit: int,
    *,
    vector_only: bool,
) -> list[ImageHit]:
    """Images ranked by RRF over a text and a vector list of (path, score), each best first.

    A vector hit below `fusion.image_min_similarity` counts only in a `vector_only` search:
    there it is all there is to go by, elsewhere a weak vector hit alone is noise next to
    text matches.
    """
    text_ranks, vector_ranks = Ranked(), Ranked()
    for path, score in text:
        text_ranks.add(path, score)
    for path, similarity in vector:
        if vector_only or similarity >= fusion.image_min_similarity:
            vector_ranks.add(path, similarity)
    scores = {
        path: fusion.score(path, text_ranks, vector_ranks)
        for path in set(text_ranks.ranks) | set(vector_ranks.ranks)
    }
    paths = sorted(scores, key=lambda p: (-scores[p], p))[:limit]
    return [
        ImageHit(path, scores[path], _breakdown(path, text_ranks, vector_ranks)) for path in paths
    ]
