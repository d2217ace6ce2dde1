"""Run the benchmarks: `python -m bench [NAME ...]`; with no names, all of them."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import apiserver, cluster, launcher, tui

SUITES = {"apiserver": apiserver.run, "pods": cluster.pods, "launcher": launcher.run, "vmis": cluster.vmis,
          "tui": tui.run}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], help="which suites (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    for name in args.suites or list(SUITES):
        print(f"== {name}")
        for line in asyncio.run(SUITES[name](quick=args.quick)):
            print(line)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
