"""The launcher gives the heap its start used back to the system, and loads only what it uses."""

from __future__ import annotations

import subprocess
import sys
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


# Each of these costs every launcher pod resident memory (http.client brings the email package,
# shutil the compression modules, uuid the platform module) and the launcher does without them.
_NOT_AT_START = ("http.client", "email", "tempfile", "shutil", "uuid", "platform", "decimal", "datetime",
                 "gzip", "yaml", "kubernetes")


def test_a_starting_launcher_loads_none_of_the_modules_it_does_without() -> None:
    code = "import sys, launcher.__main__; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert "launcher.lifecycle" in loaded
    assert [name for name in _NOT_AT_START if name in loaded] == []
