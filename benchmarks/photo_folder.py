"""Image-folder loading speed: the key check, the first decode serial and parallel (images/s,
side by side in one process, on the same files), the first decode of the whole folder into the
data cache, and a cached reload.

    python scripts/make_image_folders.py photos /tmp/photos --n 10000
    PYTHONPATH=. python benchmarks/photo_folder.py /tmp/photos --size 64 --channels 3

On a large folder, `--compare N` compares serial and parallel decoding on its first N files only
(a serial decode of 100,000 photos takes many minutes), and `--cache DIR` keeps the decoded
folder there (a later `GANCTL_CACHE=DIR ganctl train` opens it at once).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from ganctl.data import load_dataset
from ganctl.datacache import cache_key, list_folder
from ganctl.decode import Squaring, decode_into, default_workers


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def key_check(folder: Path, how: Squaring) -> int:
    """Time the cache key of `folder`: walk, stat and hash its file list (twice: the first may
    read the directory from disk)."""
    for attempt in ("first", "again"):
        t, cpu = time.perf_counter(), time.process_time()
        listing = list_folder(folder)
        cache_key(listing, how)
        print(f"key check, {attempt} (walk, stat and hash {len(listing.files):,} files): "
              f"{time.perf_counter() - t:.2f} s wall, {time.process_time() - cpu:.2f} s CPU "
              f"({_load()})")
    return len(listing.files)


def serial_and_parallel(folder: Path, how: Squaring, n: int, rounds: int) -> None:
    """Decode the first `n` files on 1 process and on every core, alternating over `rounds`
    (serial first in odd rounds, parallel first in even ones); wall images/s and CPU ms per
    image (this process's for serial, the pool's children's for parallel)."""
    files = list_folder(folder).paths()[:n]
    cores = default_workers()
    rates: dict[int, list[float]] = {1: [], cores: []}
    with tempfile.TemporaryDirectory(prefix="ganctl-bench-") as scratch:
        for r in range(rounds):
            for workers in ((1, cores) if r % 2 == 0 else (cores, 1)):
                pixels = Path(scratch) / f"pixels-{workers}.u8"
                before = _load()
                usage = resource.getrusage(resource.RUSAGE_CHILDREN)
                t, cpu = time.perf_counter(), time.process_time()
                decode_into(files, how, pixels, workers)
                seconds = time.perf_counter() - t
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = (time.process_time() - cpu if workers == 1 else
                        children.ru_utime + children.ru_stime - usage.ru_utime - usage.ru_stime)
                rates[workers].append(len(files) / seconds)
                print(f"round {r + 1}, first decode of {len(files):,} files, {workers} "
                      f"process(es): {seconds:.1f} s, {rates[workers][-1]:.0f} images/s, "
                      f"{1000 * used / len(files):.1f} ms CPU per image ({before} before, "
                      f"{_load()} after)", flush=True)
                pixels.unlink()
    serial, parallel = statistics.median(rates[1]), statistics.median(rates[cores])
    print(f"medians: serial {serial:.0f}, parallel {parallel:.0f} images/s; parallel / serial "
          f"{parallel / serial:.2f}x on {cores} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--resize", default="crop")
    parser.add_argument("--compare", type=int, default=0, metavar="N",
                        help="compare serial and parallel decoding on the first N files (0: all)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of serial and parallel decoding, alternating")
    parser.add_argument("--only-compare", action="store_true",
                        help="the key check and the serial/parallel comparison only")
    parser.add_argument("--reload", action="store_true",
                        help="the key check and cached reloads only (of a folder already in "
                        "--cache)")
    parser.add_argument("--cache", type=Path, help="the cache folder (default: a new temporary "
                        "one)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="ganctl-bench-cache-"))
    os.environ["GANCTL_CACHE"] = str(cache)
    how = Squaring(args.size, args.channels, args.resize)
    print(f"{_load()}; cache {cache}")
    n = key_check(args.folder, how)
    if not args.reload:
        serial_and_parallel(args.folder, how, args.compare or n, args.rounds)
    if args.only_compare:
        return
    kwargs = dict(image_size=args.size, channels=args.channels, resize=args.resize)
    if not args.reload:
        t, before = time.perf_counter(), _load()
        ds = load_dataset(str(args.folder), **kwargs)
        seconds = time.perf_counter() - t
        print(f"train's first load of all {n:,} files ({ds.note}): {seconds:.1f} s, "
              f"{n / seconds:.0f} images/s ({before} before, {_load()} after)")
    for attempt in ("first", "again", "third"):
        t = time.perf_counter()
        ds = load_dataset(str(args.folder), **kwargs)
        print(f"cached reload, {attempt}: {time.perf_counter() - t:.3f} s ({ds.note}, "
              f"{tuple(ds.x.shape)}, {ds.x.nbytes / 2**30:.2f} GiB) ({_load()})")


if __name__ == "__main__":
    main()
