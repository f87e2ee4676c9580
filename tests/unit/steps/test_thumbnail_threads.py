"""The load step's thumbnail threads: which images are made, in order, a bounded window ahead."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pressroom.steps.thumbnails import _images, _in_threads


def test_one_path_per_raster_content(tmp_path: Path) -> None:
    rows = [
        {"path": "a.png", "mime": "image/png", "sha256": "1"},
        {"path": "copy-of-a.png", "mime": "image/png", "sha256": "1"},
        {"path": "logo.svg", "mime": "image/svg+xml", "sha256": "2"},
        {"path": "b.jpg", "mime": "image/jpeg", "sha256": "3"},
    ]
    media = tmp_path / "media.jsonl"
    media.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert _images(media) == {"1": "a.png", "3": "b.jpg"}


async def test_results_in_order_at_most_a_window_ahead() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        time.sleep(0.001 * (n % 3))  # out-of-order completion
        return n * n

    got: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        async for value in _in_threads(pool, work, range(40), window=5):
            with lock:
                ahead = len(started) - len(got)
            assert ahead <= 5
            got.append(value)
    assert got == [n * n for n in range(40)]


async def test_a_consumer_that_stops_early_cancels_the_queue() -> None:
    done: list[int] = []
    pool = ThreadPoolExecutor(1)
    made = _in_threads(pool, lambda n: done.append(n) or n, range(100), window=4)
    async for value in made:
        if value == 1:
            break
    await made.aclose()
    pool.shutdown(wait=True)
    assert len(done) <= 6  # the window, not the whole queue
