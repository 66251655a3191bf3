"""Natural photographs for TRAINING, and videos rendered from them.

Procedural textures alone taught the frame encoder nothing about natural-image statistics
(the copy detector trailed a perceptual hash on real footage). Debian's wallpaper packages
(gnome-backgrounds, mate-backgrounds, plasma-workspace-wallpapers, ukui-wallpapers,
lomiri-wallpapers; the Makefile installs them) hold a few hundred photographs, many of
them the same photo at several sizes, plus flat abstract art and logos. ``training_photos``
finds them, drops near-duplicates and flat art, and returns small RGB arrays.

Benchmark material (opencv-doc, scikit-image, scikit-learn, matplotlib sample data) is
never read here: ``_FORBIDDEN`` makes that a hard error, so evaluation stays honest.

``render_photo_video`` turns photos into a video the way a camera would film them: slow
pans and zooms over one photo, hard cuts to another, and a few shapes moving over the
frame (the synthetic generator's overlays), all a function of the seed.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHOTO_ROOTS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
PHOTO_PACKAGES = ("gnome-backgrounds", "mate-backgrounds", "plasma-workspace-wallpapers",
                  "ukui-wallpapers", "lomiri-wallpapers")
_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
_FORBIDDEN = ("opencv", "skimage", "scikit", "sklearn", "matplotlib", "mpl-data")
MIN_SIDE = 600  # thumbnails and icons are not photographs
MIN_COLOURS = 150  # distinct 5-bit colours in a 64x64 thumbnail; stripes and logos have fewer
DUPLICATE_BITS = 10  # of 256: the same photo at two sizes differs by a handful of bits


class NoPhotosError(RuntimeError):
    """No training photographs are installed."""


@dataclass(frozen=True)
class Photo:
    path: Path
    pixels: np.ndarray  # uint8 [H, W, 3], longest side ``max_side``
    digest: str  # SHA-1 of the file: the data version hashes these


def _load(path: Path, max_side: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
        rgb = im.convert("RGB")
        rgb.thumbnail((max_side, max_side))
        return np.asarray(rgb, dtype=np.uint8)


def _signature(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    """(256-bit average hash of a 16x16 grey thumbnail, distinct colours at 64x64)."""
    from PIL import Image

    im = Image.fromarray(pixels)
    grey = np.asarray(im.convert("L").resize((16, 16), Image.Resampling.BOX), dtype=np.float32)
    bits = (grey > grey.mean()).ravel()
    small = np.asarray(im.resize((64, 64), Image.Resampling.BOX), dtype=np.uint16) >> 3
    colours = len(np.unique(small[..., 0] << 10 | small[..., 1] << 5 | small[..., 2]))
    return bits, colours


def candidate_files(roots: Iterable[Path] = PHOTO_ROOTS) -> list[Path]:
    """Image files under ``roots`` (sorted, so the selection is deterministic)."""
    files: list[Path] = []
    for root in roots:
        if any(word in str(root).lower() for word in _FORBIDDEN):
            raise ValueError(f"{root} holds benchmark material; it must never be trained on")
        if root.is_dir():
            files += [p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file()]
    return sorted(set(files))


def training_photos(roots: Sequence[Path] = PHOTO_ROOTS, *, max_side: int = 512,
                    min_colours: int = MIN_COLOURS) -> list[Photo]:
    """The de-duplicated natural photographs under ``roots``, largest original first."""
    from PIL import Image

    sized = []
    for path in candidate_files(roots):
        try:
            with Image.open(path) as im:
                w, h = im.size
        except OSError:
            continue  # not an image after all
        if min(w, h) >= MIN_SIDE:
            sized.append((w * h, path))
    kept: list[Photo] = []
    hashes: list[np.ndarray] = []
    for _, path in sorted(sized, key=lambda t: (-t[0], str(t[1]))):
        pixels = _load(path, max_side)
        bits, colours = _signature(pixels)
        if colours < min_colours:
            continue  # flat abstract art, gradients, logos
        if any(int(np.count_nonzero(bits != other)) <= DUPLICATE_BITS for other in hashes):
            continue  # the same photo at another size or crop
        hashes.append(bits)
        kept.append(Photo(path, pixels, hashlib.sha1(path.read_bytes()).hexdigest()))
    if not kept:
        raise NoPhotosError(
            "no training photographs found under " + ", ".join(map(str, roots)) + "; install "
            "them with: sudo apt-get install " + " ".join(PHOTO_PACKAGES))
    return kept


def photos_digest(photos: Sequence[Photo]) -> str:
    """Stable id of a photo selection (for the training data version)."""
    return hashlib.sha1("".join(p.digest for p in photos).encode()).hexdigest()[:8]


def _window(photo: np.ndarray, cx: float, cy: float, zoom: float, width: int,
            height: int) -> np.ndarray:
    """The part of ``photo`` a camera centred at (cx, cy) sees, resampled to width x height.

    ``zoom`` = fraction of the photo's shorter side the frame's height covers.
    """
    ph, pw = photo.shape[:2]
    view_h = zoom * min(ph, pw * height / width)
    view_w = view_h * width / height
    x0 = np.clip(cx * pw - view_w / 2, 0, pw - view_w) + (np.arange(width) + 0.5) * view_w / width
    y0 = np.clip(cy * ph - view_h / 2, 0, ph - view_h) + (np.arange(height) + 0.5) * view_h / height
    xs = np.clip(x0.astype(np.int64), 0, pw - 1)
    ys = np.clip(y0.astype(np.int64), 0, ph - 1)
    return photo[ys[:, None], xs[None, :]]


def render_photo_video(photos: Sequence[np.ndarray], seed: int, duration_s: float, fps: float,
                       width: int, height: int) -> np.ndarray:
    """uint8 [T, height, width, 3]: pans/zooms over photos, hard cuts, moving shapes."""
    from vidsearch.media.synthetic import overlay_shapes

    rng = np.random.default_rng([seed, 0xF070])
    n = max(1, round(duration_s * fps))
    n_scenes = int(rng.integers(1, 4))
    cuts = np.sort(rng.choice(np.arange(1, n), size=min(n_scenes - 1, n - 1), replace=False))
    bounds = [0, *cuts.tolist(), n]
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    for start, end in itertools.pairwise(bounds):
        photo = photos[int(rng.integers(len(photos)))]
        z0, z1 = rng.uniform(0.35, 1.0, size=2)
        c0, c1 = rng.uniform(0.2, 0.8, size=(2, 2))
        for i in range(start, end):
            a = (i - start) / max(1, end - start - 1)
            zoom = z0 + (z1 - z0) * a
            cx, cy = c0 + (c1 - c0) * a
            frames[i] = _window(photo, float(cx), float(cy), float(zoom), width, height)
    if rng.random() < 0.5:
        overlay_shapes(frames, int(rng.integers(2**31)), fps)
    return frames
