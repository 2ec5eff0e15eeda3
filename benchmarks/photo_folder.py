"""Image-folder loading speed: the key check, the first decode serial and parallel (images/s,
side by side in one process), and a cached reload.

    python scripts/make_image_folders.py photos /tmp/photos --n 10000
    PYTHONPATH=. python benchmarks/photo_folder.py /tmp/photos --size 64 --channels 3
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ganctl.data import load_dataset
from ganctl.datacache import cache_key, list_folder
from ganctl.decode import Squaring, default_workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--resize", default="crop")
    args = parser.parse_args()
    os.environ["GANCTL_CACHE"] = tempfile.mkdtemp(prefix="ganctl-bench-cache-")
    print(f"load average before: {os.getloadavg()}")
    t = time.perf_counter()
    listing = list_folder(args.folder)
    cache_key(listing, Squaring(args.size, args.channels, args.resize))
    n = len(listing.files)
    print(f"key check (walk, stat and hash {n:,} files): {time.perf_counter() - t:.2f} s")
    rates = {}
    for workers in (1, default_workers()):
        t = time.perf_counter()
        ds = load_dataset(str(args.folder), image_size=args.size, channels=args.channels,
                          resize=args.resize, use_cache=workers != 1, workers=workers)
        seconds = time.perf_counter() - t
        rates[workers] = n / seconds
        print(f"first decode, {workers} process(es): {seconds:.1f} s, {rates[workers]:.0f} images/s "
              f"(load {os.getloadavg()[0]:.1f})")
    print(f"parallel / serial: {rates[default_workers()] / rates[1]:.2f}x")
    t = time.perf_counter()
    ds = load_dataset(str(args.folder), image_size=args.size, channels=args.channels,
                      resize=args.resize)
    print(f"cached reload: {time.perf_counter() - t:.3f} s ({ds.note}, {ds.x.shape})")


if __name__ == "__main__":
    main()
