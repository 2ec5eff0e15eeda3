"""The decoded-data cache: an image folder decoded once, kept as a memory-mappable file set under
`cache_dir()/data/KEY/`, and opened by every later load in the time its key check takes (one
`stat` per image file: 0.6 s for 100,000 files on a 2-core VM).

A set holds `pixels.u8` (the uint8 images, row after row), `labels.npy` (when the folder has one
sub-folder per class), `files.json` (the listing the key was made from, to say why a later load
missed) and `header.json` (shape, class names, the skipped files and why, and a checksum of
itself). The key is the sorted file list with sizes and modification times, plus the decoding
settings (size, channels, resize, pad colour, pixel limit): a changed, added or removed file
misses. It is not a hash of the files' bytes: a file rewritten with the same size and
modification time is not noticed.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import shutil
import stat
import tempfile
import time
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ganctl.cache import cache_dir
from ganctl.decode import Progress, Squaring, compact, decode_into
from ganctl.events import Say, quiet
from ganctl.fsutil import atomic_write_json, sha256_hex

FORMAT = 1  # bump when the file set changes
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}


@dataclass
class Listing:
    """An image folder's image files (sorted, relative) with sizes and mtimes, the number of
    other files, and what could not be listed: (relative path, why) for a symlink loop or a
    sub-folder that cannot be read."""

    folder: Path
    files: list[tuple[str, int, int]]  # (relative path, bytes, mtime in ns)
    others: int
    problems: list[tuple[str, str]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [str(self.folder / rel) for rel, _, _ in self.files]


@dataclass
class Decoded:
    """A decoded folder: pixels [n, size, size, channels] uint8 (a read-only memory map when
    cached), labels and class names from the class sub-folders, the skipped files and why."""

    x: np.ndarray
    y: np.ndarray | None
    names: tuple[str, ...]
    loose: int  # images outside the class sub-folders (then y is None)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
    note: str = ""  # how it was loaded: "from the data cache", "decoded (cache miss: ...)"


def list_folder(folder: Path) -> Listing:
    """Every file under `folder` (recursively, through symlinked sub-folders): the images,
    sorted, with their stat. A symlink that leads back to a folder already listed (a loop) and
    a sub-folder that cannot be read are skipped and named in `problems`.

    The key check of every cached load: one `scandir` per folder and one `stat` per image (their
    size and mtime), the rest kept cheap (paths joined as text, no `relpath`, and no sort of the
    whole list: each folder's entries are sorted and its sub-folders listed in place, which is
    the order of the paths sorted part by part). Folders are visited as `os.walk(followlinks=
    True)` visits them, sub-folders in name order, so the same one is "seen first" as before.
    """
    files: list[tuple[str, int, int]] = []
    problems: list[tuple[str, str]] = []
    others = 0
    seen: dict[tuple[int, int], str] = {}

    def walk(path: str, rel_root: str) -> None:
        nonlocal others
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=_name)
            here = os.stat(path)
        except OSError as exc:  # unreadable, or gone meanwhile
            problems.append((rel_root, f"cannot be read ({exc.strerror or type(exc).__name__})"))
            return
        if (problem := revisit(seen, here, rel_root)) is not None:
            problems.append(problem)
            return
        prefix = "" if rel_root == "." else rel_root + os.sep
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                walk(entry.path, prefix + name)
                continue
            dot = name.rfind(".")  # os.path.splitext's suffix, without its cost per file
            image = dot > 0 and name[dot:].lower() in IMAGE_SUFFIXES and name[:dot].strip(".") != ""
            try:
                if not image and not entry.is_symlink():  # its type is known without a stat
                    others += entry.is_file(follow_symlinks=False)
                    continue
                st = entry.stat()
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a symlink to itself, or a ring of them
                    problems.append((prefix + name, "is a symlink loop"))
                continue  # a dangling symlink: nothing to read
            if image:
                files.append((prefix + name, st.st_size, st.st_mtime_ns))
            else:
                others += stat.S_ISREG(st.st_mode)

    walk(os.fspath(folder), ".")
    problems.sort()
    return Listing(folder, files, others, problems)


def revisit(seen: dict[tuple[int, int], str], here: os.stat_result, rel_root: str
            ) -> tuple[str, str] | None:
    """The problem of listing folder `rel_root` (whose stat is `here`) when a symlink reached it
    before (`seen`: each folder's (device, inode) -> where it was first listed), else None after
    noting it in `seen`: a loop back to a folder above it, or the same folder by another path."""
    key = (here.st_dev, here.st_ino)
    if key not in seen:
        seen[key] = rel_root
        return None
    first = seen[key]
    if first == "." or rel_root.startswith(first + os.sep):
        why = f"leads back to {'the folder itself' if first == '.' else first}"
        return rel_root, f"{why} (a symlink loop)"
    return rel_root, f"is the folder {first} again (listed once)"


def _name(entry: os.DirEntry) -> str:
    return entry.name


def cache_key(listing: Listing, how: Squaring) -> str:
    """The key of a folder decoded by `how`: its file list with sizes and mtimes, and `how`."""
    text = "\n".join([f"{rel}\0{size}\0{mtime}" for rel, size, mtime in listing.files])
    return sha256_hex(json.dumps([FORMAT, asdict(how)]), text)[:32]


def data_root() -> Path:
    return cache_dir() / "data"


def classes_of(kept: Sequence[str]) -> tuple[np.ndarray | None, tuple[str, ...], int]:
    """Labels, class names and the number of loose images of the kept files (relative paths):
    each top-level sub-folder is a class; any image outside them leaves the data unlabelled."""
    classes = [Path(rel).parts[0] if len(Path(rel).parts) > 1 else None for rel in kept]
    if classes and all(c is not None for c in classes):
        names = tuple(sorted(set(classes)))
        index = {n: i for i, n in enumerate(names)}
        return np.array([index[c] for c in classes], dtype=np.int64), names, 0
    loose = sum(c is None for c in classes) if any(c is not None for c in classes) else 0
    return None, (), loose


def _sealed(header: dict) -> dict:
    body = {k: v for k, v in header.items() if k != "checksum"}
    return {**body, "checksum": sha256_hex(json.dumps(body, sort_keys=True))}


class Damaged(Exception):
    """A cache set that fails its own checks."""


def open_set(entry: Path) -> Decoded:
    """Open a cache set read-only (memory-mapped), checking the header's checksum and the pixel
    file's length; raises Damaged naming what is wrong."""
    try:
        header = json.loads((entry / "header.json").read_text())
    except (OSError, ValueError) as exc:
        raise Damaged(f"its header cannot be read ({type(exc).__name__})") from None
    if not isinstance(header, dict) or _sealed(header).get("checksum") != header.get("checksum"):
        raise Damaged("its header fails its checksum")
    shape = tuple(header["shape"])
    pixels = entry / "pixels.u8"
    want = int(np.prod(shape))
    have = pixels.stat().st_size if pixels.exists() else -1
    if have != want:
        raise Damaged(f"its pixel file holds {have} bytes, not {want}")
    x = np.memmap(pixels, np.uint8, "r", shape=shape) if want else np.zeros(shape, np.uint8)
    y = None
    if header["labelled"]:
        try:
            y = np.load(entry / "labels.npy", allow_pickle=False)
        except (OSError, ValueError):
            raise Damaged("its labels cannot be read") from None
        if len(y) != shape[0]:
            raise Damaged(f"it has {len(y)} labels for {shape[0]} images")
    skipped = [tuple(s) for s in header["skipped"]]
    return Decoded(x, y, tuple(header["names"]), header["loose"], skipped)  # type: ignore[arg-type]


def miss_reason(listing: Listing, how: Squaring) -> str:
    """Why this folder at these settings is not cached: the files changed, added and removed
    since the newest set of the same folder and settings, or that there is none."""
    best, best_time = None, -1.0
    folder = str(listing.folder)
    settings = json.loads(json.dumps(asdict(how)))  # as the header holds it: tuples as lists
    root = data_root()
    for header_path in root.glob("*/header.json") if root.is_dir() else ():
        try:
            header = json.loads(header_path.read_text())
        except (OSError, ValueError):
            continue
        if header.get("folder") == folder and header.get("how") == settings:
            if header.get("created", 0) > best_time:
                best, best_time = header_path.parent, header.get("created", 0)
    if best is None:
        return "not cached yet"
    try:
        old = {rel: (size, mtime) for rel, size, mtime in
               json.loads((best / "files.json").read_text())}
    except (OSError, ValueError):
        return "the cached listing cannot be read"
    new = {rel: (size, mtime) for rel, size, mtime in listing.files}
    parts = []
    changed = sum(1 for rel in new.keys() & old.keys() if tuple(new[rel]) != tuple(old[rel]))
    for count, what in ((changed, "changed"), (len(new.keys() - old.keys()), "added"),
                        (len(old.keys() - new.keys()), "removed")):
        if count:
            parts.append(f"{count} file{'s' if count != 1 else ''} {what}")
    return ", ".join(parts) or "the cached set was removed"


def build_set(listing: Listing, how: Squaring, target: Path | None, workers: int | None,
              progress: Progress | None) -> Decoded:
    """Decode the listing into a new set at `target` (written under a temporary name, then
    renamed, so a killed build leaves no set), or, with `target` None, into memory."""
    parent = target.parent if target is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".building-", dir=parent))
    try:
        pixels = work / "pixels.u8"
        reasons = decode_into(listing.paths(), how, pixels, workers, progress)
        kept = compact(pixels, how, [not r for r in reasons])
        rels = [rel for rel, _, _ in listing.files]
        skipped = [(rel, r) for rel, r in zip(rels, reasons, strict=True) if r]
        y, names, loose = classes_of([rel for rel, r in zip(rels, reasons, strict=True) if not r])
        shape = (kept, how.size, how.size, how.channels)
        if target is None:
            x = np.fromfile(pixels, np.uint8).reshape(shape) if kept else np.zeros(shape, np.uint8)
            return Decoded(x, y, names, loose, skipped)
        if y is not None:
            np.save(work / "labels.npy", y)
        atomic_write_json(work / "files.json", listing.files)
        header = {"format": FORMAT, "folder": str(listing.folder), "how": asdict(how),
                  "shape": list(shape), "labelled": y is not None, "names": list(names),
                  "loose": loose, "skipped": skipped, "created": time.time()}
        atomic_write_json(work / "header.json", _sealed(header))
        try:
            os.rename(work, target)
        except OSError:  # another process built the same set meanwhile: use theirs
            pass
        return open_set(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_folder(folder: Path, how: Squaring, use_cache: bool = True, workers: int | None = None,
                progress: Progress | None = None, say: Say = quiet,
                warn: Say = quiet, listing: Listing | None = None) -> Decoded:
    """An image folder decoded by `how`: from the cache when its key is there, else decoded
    (saying why, and building the cache set unless `use_cache` is False). A damaged set is
    rebuilt, with a warning."""
    listing = listing or list_folder(folder)
    if not use_cache:
        say(f"decoding {len(listing.files):,} images (--no-data-cache)")
        return build_set(listing, how, None, workers, progress)
    entry = data_root() / cache_key(listing, how)
    if entry.exists():
        try:
            decoded = open_set(entry)
            decoded.note = "from the data cache"
            return decoded
        except Damaged as exc:
            warn(f"the data cache of {folder} ({entry}) is damaged: {exc}; decoding again")
            shutil.rmtree(entry, ignore_errors=True)
            reason = "damaged"
    else:
        reason = miss_reason(listing, how)
    say(f"decoding {len(listing.files):,} images (cache miss: {reason})")
    decoded = build_set(listing, how, entry, workers, progress)
    decoded.note = f"decoded (cache miss: {reason})"
    return decoded


def cached_sets() -> list[dict]:
    """Each cache set: its key, folder, shape, settings, bytes on disk and age; damaged or
    half-written sets too (as 'damaged'), so that `cache clear` can be told about them."""
    root = data_root()
    out = []
    for entry in sorted(root.iterdir()) if root.is_dir() else ():
        size = sum(p.stat().st_size for p in entry.rglob("*") if p.is_file())
        row: dict = {"key": entry.name, "path": str(entry), "bytes": size}
        try:
            header = json.loads((entry / "header.json").read_text())
            row.update(folder=header["folder"], shape=header["shape"], how=header["how"],
                       created=header["created"], skipped=len(header["skipped"]))
        except (OSError, ValueError, KeyError, TypeError):
            row.update(folder="?", damaged=True)
        out.append(row)
    return out


def clear_sets() -> tuple[int, int]:
    """Delete every cache set; returns (sets, bytes) freed."""
    rows = cached_sets()
    for row in rows:
        shutil.rmtree(row["path"], ignore_errors=True)
    return len(rows), sum(row["bytes"] for row in rows)


class RowReader:
    """Rows of a uint8 array [n, ...] by index. A memory map's rows are read from its file with
    pread, so that its pages never become this process's memory (reading them through the map
    would leave every page touched in the process's resident set, the whole file by an epoch's
    end); another array's rows by indexing. Training's stream and evaluation's splits
    (`evaluation.real.Split`) read rows with it."""

    def __init__(self, x: np.ndarray):
        self.x = x
        self.row_shape = tuple(int(v) for v in x.shape[1:])
        self.row_bytes = int(np.prod(self.row_shape))
        self.fd: int | None = None
        self.offset = 0
        mapped = getattr(x, "_mmap", None)
        if isinstance(x, np.memmap) and mapped is not None and x.filename \
                and x.flags.c_contiguous and x.dtype == np.uint8:
            # Where row 0 lies in the file: numpy maps from `offset` rounded down to the
            # allocation granularity, and a view (such as --limit's x[:n]) may start further in.
            start = x.offset - x.offset % mmap.ALLOCATIONGRANULARITY
            base = np.frombuffer(mapped, np.uint8).ctypes.data
            self.offset = start + (x.ctypes.data - base)
            self.fd = os.open(x.filename, os.O_RDONLY)
            self._closer = weakref.finalize(self, os.close, self.fd)  # with the reader

    def read(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Rows `indices` into `out` [len(indices), ...], in file order (kinder to a disk)."""
        if self.fd is None:
            out[...] = self.x[indices]
            return
        flat = out.reshape(len(indices), self.row_bytes)
        for j in np.argsort(indices, kind="stable"):
            where = self.offset + int(indices[j]) * self.row_bytes
            if os.preadv(self.fd, [flat[j]], where) != self.row_bytes:
                raise OSError(f"{self.x.filename} ended before row {int(indices[j])}: the data "
                              "cache changed under training; run `ganctl cache clear` and train "
                              "again")

    def close(self) -> None:
        if self.fd is not None:
            self._closer()
            self.fd = None
