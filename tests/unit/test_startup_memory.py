"""The launcher gives the heap its start used back to the system."""

from __future__ import annotations

from pathlib import Path

from launcher.lifecycle import release_startup_memory


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_freed_heap_goes_back_to_the_system() -> None:
    # 40 MiB in 4 KiB blocks (glibc's heap, not Python's small-object arenas), of which every 64th
    # stays: the heap cannot shrink from its top, so only trimming returns the holes.
    blocks = [bytearray(4096) for _ in range(10240)]
    kept = blocks[::64]
    del blocks
    before = _rss_kib()
    release_startup_memory()
    after = _rss_kib()
    assert len(kept) == 160
    assert before - after > 20 * 1024, f"RSS went from {before} KiB to {after} KiB"
