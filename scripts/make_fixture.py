"""Write the test fixture: the first images of the shared Fashion-MNIST as IDX gzip files.

Usage: python scripts/make_fixture.py [--data ../shared/data/fashion-mnist] [--train 2000] [--test 500]
"""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import numpy as np

from ganctl.data import read_idx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "fashion-mnist-small"


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX gzip file (magic 0x0000080N, big-endian sizes)."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    # mtime=0 keeps the bytes identical from one run of this script to the next
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        fh.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/fashion-mnist")
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=500)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", args.train), ("t10k", args.test)):
        for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
            name = f"{prefix}-{kind}"
            # The first n is a fair sample here: Fashion-MNIST's IDX files come shuffled, every
            # class spread through them (the fixture holds 177 to 222 training images a class).
            write_idx(OUT / name, read_idx(args.data / name)[:n])
    print(f"wrote {args.train} train and {args.test} test images to {OUT}")


if __name__ == "__main__":
    main()
