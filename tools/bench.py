"""`make bench`: run every tools/bench_*.py and print one table per topic.

Each bench module exposes ``run() -> list[dict]``; figures inside one table are measured in the
same process so that ratios (speedups, fractions of peak) are meaningful on a noisy machine.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from vidtok.eval.table import format_table

HERE = Path(__file__).resolve().parent
RENAMED = {"decode": "sampling"}  # old topic -> new: told, not run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", help="bench topics to run (default: all), e.g. data shapes sampling")
    args = parser.parse_args(argv)
    found = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    for topic in set(args.topics) & set(RENAMED):
        parser.error(f"bench topic {topic!r} is now {RENAMED[topic]!r}")
    unknown = set(args.topics) - set(found)
    if unknown:
        parser.error(f"unknown bench topic(s) {sorted(unknown)}; available: {found}")
    for topic in args.topics or found:
        start = time.perf_counter()
        rows = importlib.import_module(f"tools.bench_{topic}").run()
        print(f"\n## {topic}  ({time.perf_counter() - start:.0f} s)\n{format_table(rows)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
