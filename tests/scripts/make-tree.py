#!/usr/bin/env python3
"""Generates a tree of files for benchmarks and reliability runs.

    make-tree.py DIR FILES [DIRS] [SIZE]

Writes FILES files of SIZE bytes (default 1024) spread over DIRS directories
(default FILES/100), with deterministic pseudo-random contents.
"""
import os
import random
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    root, files = sys.argv[1], int(sys.argv[2])
    dirs = int(sys.argv[3]) if len(sys.argv) > 3 else max(1, files // 100)
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 1024
    rng = random.Random(42)
    for d in range(dirs):
        os.makedirs(os.path.join(root, f"d{d:04}"), exist_ok=True)
    for i in range(files):
        path = os.path.join(root, f"d{i % dirs:04}", f"f{i // dirs:06}")
        with open(path, "wb") as f:
            f.write(rng.randbytes(size))


if __name__ == "__main__":
    main()
