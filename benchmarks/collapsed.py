"""Summarise py-spy's collapsed stacks (``--format raw``): share of samples per
function, self and inclusive, optionally under a filter (a script).

    .venv/bin/python benchmarks/collapsed.py /tmp/prof/quick.prof [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in args.file.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r" \(.*?/(site-packages/)?", " (", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    print(f"{total} samples")
    print("self:")
    for f, n in own.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {f}")
    print("inclusive:")
    for f, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {f}")


if __name__ == "__main__":
    main()
