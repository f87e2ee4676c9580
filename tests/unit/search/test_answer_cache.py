"""The answer cache's bookkeeping, without a database: what it keeps, for how long, and what a
switch or the listener going down makes it forget (the end-to-end behaviour, with a real
NOTIFY, is tests/e2e/search/test_answer_cache.py)."""

from __future__ import annotations

from pressroom.search.answer_cache import Answer, AnswerCache


def _up(entries: int = 100, max_bytes: int = 1 << 20) -> AnswerCache:
    cache = AnswerCache(entries, max_bytes)
    cache.listening(True)
    return cache


def _answer(text: str) -> Answer:
    return Answer.of(text.encode())


def test_an_answer_is_kept_for_its_site_revision_and_key() -> None:
    cache = _up()
    token = cache.token("blog")
    assert cache.put(token, "r1", ("search", "wind"), _answer("a"))
    assert cache.revision("blog") == "r1"
    assert cache.get("blog", ("search", "wind")) == _answer("a")
    assert cache.get("blog", ("search", "rain")) is None
    assert cache.get("other", ("search", "wind")) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_the_etag_is_a_hash_of_the_bytes() -> None:
    assert _answer("a").etag == _answer("a").etag
    assert _answer("a").etag != _answer("b").etag
    assert _answer("a").etag.startswith('"') and _answer("a").etag.endswith('"')


def test_a_switch_forgets_that_site_only() -> None:
    cache = _up()
    cache.put(cache.token("blog"), "r1", "k", _answer("blog"))
    cache.put(cache.token("docs"), "d1", "k", _answer("docs"))
    cache.switched("blog")
    assert cache.revision("blog") is None and cache.get("blog", "k") is None
    assert cache.get("docs", "k") == _answer("docs")
    assert cache.stats()["entries"] == 1


def test_an_answer_read_before_a_switch_is_not_kept_after_it() -> None:
    cache = _up()
    token = cache.token("blog")  # the request starts reading the database...
    cache.switched("blog")  # ...the switch's notification arrives...
    assert not cache.put(token, "r1", "k", _answer("old"))  # ...its answer may be stale
    assert cache.revision("blog") is None
    assert cache.put(cache.token("blog"), "r2", "k", _answer("new"))


def test_two_reads_that_disagree_on_the_revision_keep_neither() -> None:
    """The switch committed between them and its notification is still on its way."""
    cache = _up()
    first, second = cache.token("blog"), cache.token("blog")
    assert cache.put(first, "r1", "a", _answer("old"))
    assert not cache.put(second, "r2", "b", _answer("new"))
    assert cache.revision("blog") is None and cache.get("blog", "a") is None


def test_nothing_is_kept_or_served_while_nobody_listens() -> None:
    cache = AnswerCache(100, 1 << 20)
    assert not cache.enabled
    assert not cache.put(cache.token("blog"), "r1", "k", _answer("a"))
    cache.listening(True)
    token = cache.token("blog")
    cache.put(token, "r1", "k", _answer("a"))
    cache.listening(False)  # the listener's connection is lost: switches may go unheard
    assert cache.get("blog", "k") is None and cache.revision("blog") is None
    assert not cache.put(cache.token("blog"), "r1", "k", _answer("a"))
    cache.listening(True)  # back: it starts empty, and older tokens stay refused
    assert cache.stats()["entries"] == 0
    assert not cache.put(token, "r1", "k", _answer("a"))


def test_zero_entries_or_bytes_turns_it_off() -> None:
    for entries, max_bytes in ((0, 1 << 20), (100, 0)):
        cache = _up(entries, max_bytes)
        assert not cache.enabled
        assert not cache.put(cache.token("blog"), "r1", "k", _answer("a"))


def test_least_recently_used_answers_go_first_by_count() -> None:
    cache = _up(entries=2)
    for key in ("a", "b"):
        cache.put(cache.token("blog"), "r1", key, _answer(key))
    cache.get("blog", "a")  # "b" is now the least recently used
    cache.put(cache.token("blog"), "r1", "c", _answer("c"))
    assert cache.get("blog", "b") is None
    assert cache.get("blog", "a") and cache.get("blog", "c")


def test_bytes_are_bounded_and_no_answer_takes_more_than_an_eighth() -> None:
    cache = _up(entries=1000, max_bytes=80_000)
    for i in range(20):
        cache.put(cache.token("blog"), "r1", i, _answer(f"{i:02d}" * 2_500))
    stats = cache.stats()
    assert stats["bytes"] <= 80_000
    assert 0 < stats["entries"] < 20
    assert cache.get("blog", 19) is not None  # the newest stays
    assert not cache.put(cache.token("blog"), "r1", "huge", _answer("x" * 20_000))
