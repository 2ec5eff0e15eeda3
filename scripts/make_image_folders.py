"""Make image-folder datasets (one sub-folder per class) for trying ganctl on "your own" data.

Nothing is downloaded:

- `fashion`: the first N Fashion-MNIST images (from the IDX files, e.g. the shared copy) written
  as 28x28 grayscale PNGs into one folder per class name: a grayscale "user folder" with labels.
- `shapes`: N colour pictures of three shape classes (circle, square, triangle) drawn with
  Pillow: random fill colour, size, position and background tint, anti-aliased by drawing at 4x
  and downsampling. A colour folder at any size (32 by default), deterministic per --seed.
- `photos`: N synthetic "phone photos" as JPEGs of mixed sizes and aspect ratios (320x240 to
  1024x768, landscape and portrait): a sky-to-ground gradient, a sun near one side, a figure
  (a head on a body) in the middle and trees near the edges, so that crop, pad and stretch
  (`train --resize`) are told apart at a glance. One flat folder; deterministic per --seed.
- `emoji`: the 64x64 Twemoji PNGs (RGBA, transparent background; CC-BY 4.0, Twitter/jdecked)
  that the npm registry package `emoji-datasource-twitter` ships, in one folder per emoji
  category (Smileys & Emotion, Animals & Nature, Flags, ...), skin-tone variants included:
  about 3,780 real colour images. Fetch the package with npm (a registry, so it works offline
  of the web) and point the script at the tarball:

    python scripts/make_image_folders.py fashion /tmp/fashion3k --n 3000
    python scripts/make_image_folders.py shapes /tmp/shapes32 --n 3000 --size 32
    python scripts/make_image_folders.py photos /tmp/photos --n 10000
    npm pack emoji-datasource-twitter@16.0.0      # writes emoji-datasource-twitter-16.0.0.tgz
    python scripts/make_image_folders.py emoji /tmp/emoji64 --tarball emoji-datasource-twitter-16.0.0.tgz
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

FASHION_NAMES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle_boot")
SHAPES = ("circle", "square", "triangle")


def _shared_fashion_mnist() -> Path:
    """The nearest `shared/data/fashion-mnist` above this checkout (a clone or a worktree)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "fashion-mnist"
        if candidate.is_dir():
            return candidate
    return Path("shared/data/fashion-mnist")


DEFAULT_IDX = _shared_fashion_mnist()


def write_fashion(out: Path, n: int, idx_folder: Path, split: str = "train") -> int:
    """The first `n` images of a Fashion-MNIST IDX split as PNGs in per-class folders."""
    from ganctl.data import find_idx, read_idx

    prefix = "train" if split == "train" else "t10k"
    images_path = find_idx(idx_folder, f"{prefix}-images-idx3-ubyte.gz")
    labels_path = find_idx(idx_folder, f"{prefix}-labels-idx1-ubyte.gz")
    if images_path is None or labels_path is None:
        raise SystemExit(f"no Fashion-MNIST {split} IDX files in {idx_folder}")
    # The first n is a fair sample: the IDX files come shuffled, every class spread through them.
    x, y = read_idx(images_path)[:n], read_idx(labels_path)[:n]
    for name in FASHION_NAMES:
        (out / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        Image.fromarray(image, mode="L").save(out / FASHION_NAMES[int(label)] / f"{i:05d}.png")
    return len(x)


def draw_shape(rng: np.random.Generator, kind: str, size: int) -> Image.Image:
    """One anti-aliased colour picture of `kind` on a tinted background."""
    big = size * 4
    background = tuple(int(v) for v in rng.integers(0, 90, 3))
    fill = tuple(int(v) for v in rng.integers(110, 256, 3))
    image = Image.new("RGB", (big, big), background)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.22, 0.38) * big
    cx, cy = rng.uniform(radius + 2, big - radius - 2, 2)
    if kind == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
    elif kind == "square":
        draw.rectangle([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
    else:
        angle = rng.uniform(0, 2 * np.pi)
        points = [(cx + radius * np.cos(angle + k * 2 * np.pi / 3),
                   cy + radius * np.sin(angle + k * 2 * np.pi / 3)) for k in range(3)]
        draw.polygon(points, fill=fill)
    return image.resize((size, size), Image.LANCZOS)


def write_shapes(out: Path, n: int, size: int, seed: int = 0) -> int:
    """`n` colour shape pictures (classes in turn) as PNGs in per-class folders."""
    rng = np.random.default_rng(seed)
    for kind in SHAPES:
        (out / kind).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        kind = SHAPES[i % len(SHAPES)]
        draw_shape(rng, kind, size).save(out / kind / f"{i:05d}.png")
    return n


PHOTO_SIDES = ((320, 240), (480, 360), (640, 480), (800, 600), (1024, 768), (640, 360),
               (1024, 576), (400, 400))


def draw_photo(rng: np.random.Generator) -> Image.Image:
    """One synthetic photo: landscape or portrait, of one of PHOTO_SIDES."""
    w, h = PHOTO_SIDES[rng.integers(len(PHOTO_SIDES))]
    if rng.random() < 0.35:
        w, h = h, w  # portrait
    sky, ground = rng.integers(60, 256, 3), rng.integers(0, 140, 3)
    t = np.linspace(0.0, 1.0, h)[:, None]
    column = (sky * (1 - t) + ground * t).astype(np.uint8)  # [h, 3]
    image = Image.fromarray(np.repeat(column[:, None, :], w, axis=1), "RGB")
    draw = ImageDraw.Draw(image)
    unit = min(w, h)
    sun_x = w * (0.1 if rng.random() < 0.5 else 0.9)
    r = unit * 0.08
    draw.ellipse([sun_x - r, h * 0.12 - r, sun_x + r, h * 0.12 + r], fill=(255, 230, 90))
    for edge in (0.04, 0.96):  # trees at the sides: what a crop of a wide photo cuts away
        x, top = w * edge, h * rng.uniform(0.35, 0.55)
        draw.polygon([(x, top), (x - unit * 0.07, h * 0.8), (x + unit * 0.07, h * 0.8)],
                     fill=(20, int(rng.integers(90, 170)), 40))
    cx, head = w / 2 + rng.uniform(-0.05, 0.05) * w, unit * 0.12  # the figure, centred
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    draw.rectangle([cx - head, h * 0.5, cx + head, h * 0.9], fill=colour)
    draw.ellipse([cx - head, h * 0.5 - 2 * head, cx + head, h * 0.5], fill=(230, 190, 150))
    return image


def write_photos(out: Path, n: int, seed: int = 0) -> int:
    """`n` synthetic photos as JPEGs (quality 85) in one folder."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        draw_photo(rng).save(out / f"{i:06d}.jpg", quality=85)
    return n


def _emoji_images(entry: dict) -> list[str]:
    """The image file names of one emoji.json entry: the base emoji and its skin-tone variants."""
    names = [entry["image"]] if entry.get("has_img_twitter") else []
    names += [v["image"] for v in entry.get("skin_variations", {}).values() if v.get("has_img_twitter")]
    return names


def write_emoji(out: Path, tarball: Path, include_skin_tones: bool = True) -> int:
    """The 64x64 Twemoji PNGs of an `emoji-datasource-twitter` npm tarball, as they are (RGBA),
    in one folder per category. The 'Component' category (bare skin-tone swatches) is left out."""
    if not tarball.is_file():
        raise SystemExit(f"no tarball at {tarball}; run: npm pack emoji-datasource-twitter@16.0.0")
    written = 0
    with tarfile.open(tarball) as tar:
        catalogue = json.load(tar.extractfile("package/emoji.json"))
        for entry in catalogue:
            category = entry["category"]
            if category == "Component":
                continue
            names = _emoji_images(entry) if include_skin_tones else _emoji_images(entry)[:1]
            folder = out / category.replace(" & ", "_and_").replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                try:
                    member = tar.extractfile(f"package/img/twitter/64/{name}")
                except KeyError:
                    continue
                (folder / name).write_bytes(member.read())
                written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="examples:\n" + __doc__.rsplit("point the script at the tarball:\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", required=True)
    shown = argparse.ArgumentDefaultsHelpFormatter
    fashion = sub.add_parser("fashion", help="Fashion-MNIST PNGs in class folders",
                             formatter_class=shown)
    fashion.add_argument("out", type=Path, help="folder to write (one sub-folder per class)")
    fashion.add_argument("--n", type=int, default=3000, help="the first N images")
    fashion.add_argument("--idx", type=Path, default=DEFAULT_IDX,
                         help="folder of the four Fashion-MNIST IDX gzip files")
    fashion.add_argument("--split", choices=("train", "test"), default="train",
                         help="which IDX split to take the images from")
    shapes = sub.add_parser("shapes", help="colour shapes in class folders", formatter_class=shown)
    shapes.add_argument("out", type=Path, help="folder to write (one sub-folder per shape)")
    shapes.add_argument("--n", type=int, default=3000, help="images to draw")
    shapes.add_argument("--size", type=int, default=32, help="image width and height in pixels")
    shapes.add_argument("--seed", type=int, default=0, help="same seed, same pictures")
    photos = sub.add_parser("photos", help="synthetic JPEG photos of mixed sizes and aspect "
                            "ratios", formatter_class=shown)
    photos.add_argument("out", type=Path, help="folder to write")
    photos.add_argument("--n", type=int, default=10_000, help="photos to draw")
    photos.add_argument("--seed", type=int, default=0, help="same seed, same photos")
    emoji = sub.add_parser("emoji", help="Twemoji 64x64 RGBA PNGs in category folders",
                           formatter_class=shown)
    emoji.add_argument("out", type=Path, help="folder to write (one sub-folder per category)")
    emoji.add_argument("--tarball", type=Path, required=True,
                       help="emoji-datasource-twitter-16.0.0.tgz, from 'npm pack'")
    emoji.add_argument("--no-skin-tones", action="store_true",
                       help="only the base emoji (about 1,900 instead of 3,780)")
    args = parser.parse_args()
    if args.kind == "fashion":
        count = write_fashion(args.out, args.n, args.idx, args.split)
    elif args.kind == "photos":
        count = write_photos(args.out, args.n, args.seed)
    elif args.kind == "emoji":
        count = write_emoji(args.out, args.tarball, not args.no_skin_tones)
    else:
        count = write_shapes(args.out, args.n, args.size, args.seed)
    print(f"wrote {count} images to {args.out}")


if __name__ == "__main__":
    main()
