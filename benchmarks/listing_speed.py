"""The data cache's key check on a large folder: `datacache.list_folder` (os.scandir, paths joined
as text, each folder's entries sorted) against the os.walk listing it replaced, alternating in
one process, on the same files; both must give the same listing and key.

    PYTHONPATH=. python benchmarks/listing_speed.py /work/scratch-23/photos100k --rounds 4

Also times the floor: one `scandir` of each folder and one `stat` per file, nothing else.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import time
from pathlib import Path

from ganctl.datacache import IMAGE_SUFFIXES, Listing, cache_key, list_folder, revisit
from ganctl.decode import Squaring


def walk_listing(folder: Path) -> Listing:
    """`datacache.list_folder` as issue 23 first shipped it (os.walk, `relpath` per file, one
    sort of the whole list), kept to compare with: the same listing, more slowly."""
    files, others, problems = [], 0, []
    seen: dict[tuple[int, int], str] = {}

    def unreadable(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename, folder) if exc.filename else "?"
        problems.append((rel, f"cannot be read ({exc.strerror or type(exc).__name__})"))

    for root, dirs, names in os.walk(folder, onerror=unreadable, followlinks=True):
        try:
            here = os.stat(root)
        except OSError as exc:  # gone meanwhile
            unreadable(exc)
            dirs.clear()
            continue
        rel_root = os.path.relpath(root, folder)
        if (problem := revisit(seen, here, rel_root)) is not None:
            problems.append(problem)
            dirs.clear()
            continue
        dirs.sort()
        for name in names:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a symlink to itself, or a ring of them
                    problems.append((os.path.relpath(path, folder), "is a symlink loop"))
                continue  # a dangling symlink: nothing to read
            if os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                others += stat.S_ISREG(st.st_mode)
                continue
            files.append((os.path.relpath(path, folder), st.st_size, st.st_mtime_ns))
    files.sort(key=lambda f: f[0].split(os.sep))  # as Paths sort: part by part
    problems.sort()
    return Listing(folder, files, others, problems)


def floor(folder: Path) -> tuple[float, float]:
    """Seconds to scandir every folder, and to stat every file found, alone."""
    t = time.perf_counter()
    entries, folders = [], [os.fspath(folder)]
    while folders:
        with os.scandir(folders.pop()) as it:
            for entry in it:
                (folders.append(entry.path) if entry.is_dir() else entries.append(entry.path))
    scanned = time.perf_counter()
    for path in entries:
        os.stat(path)
    return scanned - t, time.perf_counter() - scanned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    how = Squaring(64, 3, "crop")
    keys = set()
    for r in range(args.rounds):
        order = [("scandir", list_folder), ("os.walk", walk_listing)]
        for name, listing_of in order if r % 2 == 0 else order[::-1]:
            t, cpu = time.perf_counter(), time.process_time()
            listing = listing_of(args.folder)
            keys.add(cache_key(listing, how))
            print(f"round {r + 1}, {name}: {time.perf_counter() - t:.3f} s wall, "
                  f"{time.process_time() - cpu:.3f} s CPU for {len(listing.files):,} files "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    assert len(keys) == 1, "the two listings differ"
    scan, stats = floor(args.folder)
    print(f"floor: scandir {scan:.3f} s, one stat per file {stats:.3f} s; the same key {keys.pop()}")


if __name__ == "__main__":
    main()
