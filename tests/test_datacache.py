"""The decoded-data cache and parallel decoding: hits, misses that say why, damaged sets rebuilt,
parallel decoding equal to serial, `ganctl cache list|clear`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from ganctl import decode
from ganctl.data import load_dataset
from ganctl.datacache import data_root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCTL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _folder(root, n=6, bad=True):
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = root / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        w, h = (30 + 4 * i, 20) if i % 3 else (16, 24)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(sub / f"{i}.png")
    if bad:
        (root / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    return root


def _load(folder, said=None, **kw):
    say = said.append if said is not None else (lambda text: None)
    return load_dataset(str(folder), image_size=8, channels=3, say=say, **kw)


def test_second_load_opens_the_cache(tmp_path, cache):
    folder = _folder(tmp_path / "imgs")
    said = []
    first = _load(folder, said)
    assert said == ["decoding 7 images (cache miss: not cached yet)"]
    assert first.note.startswith("decoded") and first.x.shape == (6, 8, 8, 3)
    said.clear()
    again = _load(folder, said)
    assert said == [] and again.note == "from the data cache"
    assert isinstance(again.x, np.memmap) and not again.x.flags.writeable
    assert np.array_equal(again.x, first.x) and np.array_equal(again.y, first.y)
    assert again.label_names == ("a", "b") and again.warnings == first.warnings
    assert any("skipped 1 unreadable" in w for w in again.warnings)


def test_touched_added_and_removed_files_miss_and_say_so(tmp_path, cache):
    folder = _folder(tmp_path / "imgs")
    _load(folder)
    said = []
    os.utime(folder / "a" / "1.png", ns=(1, 1))
    _load(folder, said)
    assert said == ["decoding 7 images (cache miss: 1 file changed)"]
    Image.new("RGB", (9, 9), "red").save(folder / "b" / "new.png")
    (folder / "b" / "0.png").unlink()
    said.clear()
    ds = _load(folder, said)
    assert said == ["decoding 7 images (cache miss: 1 file added, 1 file removed)"]
    assert ds.x.shape[0] == 6
    said.clear()
    _load(folder, said, resize="crop")  # other settings: another set
    assert said == ["decoding 7 images (cache miss: not cached yet)"]


@pytest.mark.parametrize("damage", ["pixels", "header"])
def test_a_damaged_set_is_rebuilt_with_a_warning(tmp_path, cache, damage):
    folder = _folder(tmp_path / "imgs")
    first = np.array(_load(folder).x)
    (entry,) = data_root().iterdir()
    if damage == "pixels":
        with open(entry / "pixels.u8", "r+b") as fh:
            fh.truncate(100)
    else:
        header = json.loads((entry / "header.json").read_text())
        header["shape"][0] = 5  # a changed header fails its checksum
        (entry / "header.json").write_text(json.dumps(header))
    said = []
    ds = _load(folder, said)
    assert "damaged" in said[0] and ("holds 100 bytes" in said[0] or "checksum" in said[0])
    assert said[1] == "decoding 7 images (cache miss: damaged)"
    assert np.array_equal(ds.x, first)
    assert _load(folder).note == "from the data cache"


def test_no_data_cache_writes_nothing(tmp_path, cache):
    folder = _folder(tmp_path / "imgs")
    ds = _load(folder, use_cache=False)
    assert ds.x.shape == (6, 8, 8, 3) and not isinstance(ds.x, np.memmap)
    assert not data_root().exists() or not any(data_root().iterdir())


def test_parallel_decoding_writes_the_same_bytes_as_serial(tmp_path, cache, monkeypatch):
    folder = _folder(tmp_path / "imgs", n=10)
    monkeypatch.setattr(decode, "CHUNK", 3)  # 4 chunks over 2 processes, a bad file among them
    serial = _load(folder, use_cache=False, workers=1, resize="pad")
    seen = []
    parallel = _load(folder, workers=2, resize="pad", progress=lambda d, t: seen.append((d, t)))
    assert parallel.x.shape == (10, 8, 8, 3)
    assert parallel.x.tobytes() == serial.x.tobytes()
    assert np.array_equal(parallel.y, serial.y) and parallel.warnings == serial.warnings
    assert sorted(seen)[-1] == (11, 11) and len(seen) == 4


def test_an_image_over_the_pixel_limit_is_skipped_not_fatal(tmp_path, cache):
    folder = _folder(tmp_path / "imgs", bad=False)
    Image.new("RGB", (200, 200), "red").save(folder / "a" / "bomb.png")
    ds = _load(folder, max_pixels=10_000)
    assert ds.x.shape[0] == 6
    assert any("skipped 1 image file(s)" in w and "--max-image-pixels 10,000" in w
               for w in ds.warnings)


def test_cache_list_and_clear(cli, tmp_path, cache):
    folder = _folder(tmp_path / "imgs")
    _load(folder)
    r = cli("cache", "list")
    assert r.exit_code == 0 and "1 set(s)" in r.stdout and "8px ×3 stretch" in r.stdout
    r = cli("cache", "clear")
    assert r.exit_code == 0 and "deleted 1 decoded folder(s)" in r.stdout
    assert "no decoded folders" in cli("cache", "list").stdout
    assert cli("cache", "wipe").exit_code == 2


def test_the_listing_is_sorted_part_by_part_and_skips_what_it_cannot_read(tmp_path):
    # list_folder sorts each folder's entries and lists sub-folders in place (no sort of the
    # whole list, no relpath: the key check of 100,000 files): the order must still be the
    # paths sorted part by part, which the cache key was always made of.
    from ganctl.datacache import list_folder

    root = tmp_path / "f"
    names = ["a.jpg", "a/x.jpg", "a-b/y.png", "a b/z.gif", "a/a/b.jpg", "a/a.jpg", "A.JPG",
             "c/d/e/f.bmp", "c/d.jpeg", "é.png", "a0.jpg", "a/.hidden.png", ".jpg", "..png"]
    for rel in [*names, "notes.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    (root / "d-link").symlink_to(root / "c")  # the folder c again: listed once, as c
    (root / "c" / "d" / "loop").symlink_to(root)  # back to the top
    (root / "dangling.jpg").symlink_to("nowhere")
    (root / "z.jpg").symlink_to(root / "a.jpg")
    listing = list_folder(root)
    images = [n for n in [*names, "z.jpg"] if not n.startswith(".")]  # ".jpg" has no suffix
    want = sorted(images, key=lambda rel: rel.split("/"))
    assert [rel for rel, _, _ in listing.files] == want
    assert all(size == os.stat(root / rel).st_size for rel, size, _ in listing.files)
    assert listing.others == 3  # notes.txt, .jpg, ..png
    assert listing.problems == [("c/d/loop", "leads back to the folder itself (a symlink loop)"),
                                ("d-link", "is the folder c again (listed once)")]
