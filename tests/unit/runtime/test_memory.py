"""The worker's allocator settings: glibc takes them, and they bound the heap it keeps."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# A child frees one large buffer (untuned, glibc then raises its mmap threshold), allocates
# and frees 64 MB of 300 KB blocks from 8 threads keeping a few, trims, and prints its RSS
# in MB; tuned or not per argv[1].
_CHILD = textwrap.dedent(
    """
    import sys, threading
    from pressroom.runtime.memory import release_memory, tune_allocator
    if sys.argv[1] == "tuned":
        assert tune_allocator()
    def churn():
        del bytearray(4 * 1024 * 1024)[:]  # one large free: untuned, the mmap threshold rises
        blocks = [bytearray(300 * 1024) for _ in range(28)]
        keep = blocks[::7]  # a few survivors pin pages in every arena they land in
        del blocks
        churn.kept.append(keep)
    churn.kept = []
    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    release_memory()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            print(int(line.split()[1]) // 1024)
    """
)


def _rss_mb(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, mode], check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def test_glibc_takes_every_setting() -> None:
    from pressroom.runtime.memory import tune_allocator

    assert tune_allocator() is True


def test_tuned_allocator_keeps_no_more_than_untuned() -> None:
    # Blocks over the pinned mmap threshold get their own mappings and go back on free;
    # untuned, they can stay in per-thread heaps. The tuned child holds less.
    assert _rss_mb("tuned") + 2 <= _rss_mb("default")  # measured: 23 against 27-31 MB
