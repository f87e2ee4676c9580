"""The local embedder: deterministic feature hashing (no model, no network, no state).

Features of a text: lowercased content words (unigrams), adjacent content-word pairs
(bigrams) and character 3-5-grams of each word wrapped in `<` `>` (so "deploy" and
"deployment" share features). Each feature gets a stable 64-bit hash (a polynomial hash
over code points, finished with splitmix64: the same in every process, unlike `hash()`),
which picks a bucket and a sign (the signed hashing trick). A word's weight is sublinear in
its frequency (1 + ln tf) and its character n-grams inherit it; rows are L2-normalised. The
result is a lexical embedding: it ranks by shared vocabulary, not meaning, which is what an
offline default can honestly offer.

All hashing is vectorised with numpy per text (substring hashes from prefix sums), so there
is no per-feature Python work and no warm-up cache.

Text with no features at all (empty, whitespace, punctuation only) gets the unit vector of
one fixed sentinel feature, so normalisation never divides by zero and every such text
embeds the same way.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from pressroom.embeddings.base import DEFAULT_MAX_INPUT_TOKENS

__all__ = ["HashingEmbedder"]

# Letters and digits only: underscores and punctuation split identifiers such as
# `site_title` or `_config.yml` into searchable words.
_WORD = re.compile(r"[^\W_]+")

# Function words carry no topic; without idf weighting they would dominate every vector.
_STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves""".split()
)

# Relative feature weights, tuned on the jekyll-docs corpus (heading -> section retrieval).
_UNIGRAM_WEIGHT = 1.0
_BIGRAM_WEIGHT = 0.5
_CHARGRAM_WEIGHT = 0.4  # per n-gram; a word has about a dozen
_CHARGRAM_SIZES = (3, 4, 5)
_CHARGRAM_SPAN = 26  # n-grams come from the first 26 chars of "<word>": long tokens add few

_U64 = np.uint64
_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)
_MIX1 = _U64(0xBF58476D1CE4E5B9)  # splitmix64 finaliser constants
_MIX2 = _U64(0x94D049BB133111EB)
_PAIR = _U64(0x9E3779B97F4A7C15)
# Salts keep the feature families apart: the word "abc" and the n-gram "abc" differ.
_SALT_WORD = _U64(0x5155E1D2A7C3B4F1)
_SALT_GRAM = _U64(0x2E6F0A8D3C1B9475)
_SALT_EMPTY = _U64(0x7A3D5C9E1F0B2468)
_SIGN_SHIFT = _U64(40)  # the sign bit is independent of the low bits that pick the bucket

_powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, _U64), np.ones(1, _U64))


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised: spreads every input bit over all 64 output bits."""
    x = x ^ (x >> _U64(30))
    x = x * _MIX1
    x = x ^ (x >> _U64(27))
    x = x * _MIX2
    return x ^ (x >> _U64(31))


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**k and BASE**-k mod 2**64 for k < n (grown on demand, shared by all instances)."""
    global _powers
    pows, invs = _powers
    if len(pows) < n:
        size = max(n, 2 * len(pows), 4096)
        pows = np.cumprod(np.full(size, _BASE, _U64)) * _U64(_BASE_INV)
        invs = np.cumprod(np.full(size, _BASE_INV, _U64)) * _U64(_BASE)
        _powers = (pows, invs)  # one assignment: a concurrent reader sees old or new, both valid
    return pows, invs


class HashingEmbedder:
    """Deterministic lexical embeddings; see the module docstring for the features."""

    provider = "hashing"
    model = "hashing-v1"
    version = "1"  # bump with any change to features, weights or the input template
    max_batch_inputs = 10_000
    max_batch_tokens = 10_000_000
    max_input_tokens = DEFAULT_MAX_INPUT_TOKENS

    # Above this many inputs a call moves to a worker thread so the event loop (and the
    # Temporal heartbeats on it) keeps running.
    _INLINE_LIMIT = 32

    def __init__(self, dimensions: int = 384) -> None:
        if dimensions < 2:
            raise ValueError("dimensions must be at least 2")
        self.dimensions = dimensions
        self._sentinel = self._slots(_mix(np.array([_SALT_EMPTY], _U64)))

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) <= self._INLINE_LIMIT:
            return self.embed_sync(texts)
        return await asyncio.to_thread(self.embed_sync, list(texts))

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """The same vectors as `embed`, for callers without an event loop."""
        n, dims2 = len(texts), 2 * self.dimensions
        if n == 0:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        all_slots: list[np.ndarray] = []
        all_weights: list[np.ndarray] = []
        for row, text in enumerate(texts):
            slots, weights = self._features(text)
            all_slots.append(slots + row * dims2)
            all_weights.append(weights)
        # One bincount for the whole batch: slot (row, bucket, sign) -> summed weight.
        sums = np.bincount(
            np.concatenate(all_slots), weights=np.concatenate(all_weights), minlength=n * dims2
        ).reshape(n, self.dimensions, 2)
        vectors = sums[:, :, 0] - sums[:, :, 1]
        norms = np.linalg.norm(vectors, axis=1)
        # Signed hashing can, very rarely, cancel every feature: use the sentinel then too.
        for row in np.flatnonzero(norms == 0):
            slot = int(self._sentinel[0])
            vectors[row, slot // 2] = -1.0 if slot & 1 else 1.0
            norms[row] = 1.0
        return (vectors / norms[:, None]).astype(np.float32)

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        """Signed-bucket slots: 2 * bucket + sign bit, as int64 for bincount."""
        buckets = hashes % _U64(self.dimensions)
        return (buckets * _U64(2) + ((hashes >> _SIGN_SHIFT) & _U64(1))).astype(np.int64)

    def _features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        tokens = _WORD.findall(text.lower())
        words = [t for t in tokens if t not in _STOPWORDS] or tokens  # "how to" still counts
        if not words:
            return self._sentinel, np.ones(1)
        counts = Counter(words)
        vocab = list(counts)
        tf = 1.0 + np.log(np.fromiter(counts.values(), np.float64, len(vocab)))

        # Code points of "<w1><w2>...", and which vocabulary word each position belongs to.
        joined = "<" + "><".join(vocab) + ">"
        codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(_U64)
        lengths = np.fromiter(map(len, vocab), np.int64, len(vocab)) + 2
        starts = np.cumsum(lengths) - lengths
        owner = np.repeat(np.arange(len(vocab)), lengths)
        # Hash of codes[i:i+n] = (prefix[i+n] - prefix[i]) * BASE**-i, all mod 2**64.
        pows, invs = _power_tables(len(codes) + 1)
        prefix = np.zeros(len(codes) + 1, _U64)
        np.cumsum(codes * pows[: len(codes)], out=prefix[1:])

        word_hashes = _mix(
            ((prefix[starts + lengths] - prefix[starts]) * invs[starts]) ^ _SALT_WORD
        )
        hashes = [word_hashes]
        weights = [_UNIGRAM_WEIGHT * tf]

        # Digit-only words would share n-grams by accident ("2016" vs "2017").
        has_grams = ~np.fromiter(map(str.isdigit, vocab), bool, len(vocab))
        for n in _CHARGRAM_SIZES:
            if len(codes) < n:
                continue
            i = np.arange(len(codes) - n + 1)
            w = owner[i]
            offset = i - starts[w]
            keep = (
                (owner[i + n - 1] == w)  # inside one word
                & (offset + n <= _CHARGRAM_SPAN)
                & (lengths[w] != n)  # the whole "<word>" repeats the unigram
                & has_grams[w]
            )
            i, w = i[keep], w[keep]
            gram = (prefix[i + n] - prefix[i]) * invs[i]
            hashes.append(_mix(gram ^ (_SALT_GRAM + _U64(n))))
            weights.append(_CHARGRAM_WEIGHT * tf[w])

        if len(words) > 1:
            index = {word: k for k, word in enumerate(vocab)}
            seq = word_hashes[np.fromiter(map(index.__getitem__, words), np.int64, len(words))]
            pairs, pair_counts = np.unique(_mix(seq[:-1] * _PAIR + seq[1:]), return_counts=True)
            hashes.append(pairs)
            weights.append(_BIGRAM_WEIGHT * (1.0 + np.log(pair_counts)))

        return self._slots(np.concatenate(hashes)), np.concatenate(weights)
