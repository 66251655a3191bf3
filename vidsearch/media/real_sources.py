"""Real footage and natural photos for the copy-detection benchmark: EVALUATION ONLY.

The networks train on procedural videos (synthetic.py) and on the wallpaper photos listed
in notes/components.md; the material here never goes into training, so a benchmark built
from it measures what real use looks like (camera noise, natural textures, faces, text).

Sources, all read offline from installed packages:

- Debian ``opencv-doc``: real videos in /usr/share/doc/opencv-doc/examples/data/
  (vtest.avi: static street camera; tree.avi: static camera; Megamind.avi: an animated
  clip) and ~90 stills, filtered by size and colour statistics (no charts, logos, chess
  boards, greyscale scans) and de-duplicated (stereo pairs, "modified" copies).
- ``scikit-image`` (``skimage.data`` files shipped in the wheel), ``scikit-learn``
  (``load_sample_images``: china.jpg, flower.jpg) and ``matplotlib`` sample data.

A *photo video* shows one or more photos, each through a smooth random camera path
(pan + zoom) inside one region of the photo, with hard cuts between shots. A *video
window* is a span of a real video, resampled to the benchmark geometry.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from scipy import ndimage

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
INSTALL_HINT = (
    "the real-footage benchmark needs Debian opencv-doc and the `bench` extra: "
    "`sudo apt-get install -y opencv-doc` and `pip install -e '.[bench]'` "
    "(scikit-image, scikit-learn, matplotlib), or run `make bench-data`"
)

# Real videos: name -> (static camera?). Megamind_bugy.avi is a damaged copy of
# Megamind.avi: leaving it out keeps the ground truth free of unlabelled copies.
REAL_VIDEOS: dict[str, bool] = {"vtest.avi": True, "tree.avi": True, "Megamind.avi": False}

# Files that are a near copy of another one kept (same scene or an edited version).
_DUPLICATE_STEMS = re.compile(r"(_bugy|_modified|_tiny|_disp)$")
# Graphics, charts, renders and scans that pass the colour statistics.
_NOT_PHOTOS = re.compile(
    r"(logo|^pic\d|gradient|chessboard|^color|digits|sudoku|text|notes|mask|templ|tmpl|^ml$"
    r"|ellipses|detect_blob|blender|phantom|page|cards|smarties|^box$)", re.IGNORECASE
)
_MIN_SIDE = 200  # px: smaller stills are icons or templates
_MIN_SATURATION = 0.08  # mean HSV saturation: greyscale scans, chess boards out
_MAX_MODE_SHARE = 0.25  # share of the most common (quantised) colour: flat graphics out
_MIN_COLOURS = 400  # distinct 5-bit-per-channel colours: logos, charts out


class MissingRealSourcesError(RuntimeError):
    """The packages holding the real material are not installed."""


@dataclass(frozen=True)
class RealVideo:
    name: str
    path: Path
    duration_s: float
    fps: float
    width: int
    height: int
    static_camera: bool


@dataclass(frozen=True)
class Photo:
    key: str  # "origin:file name", unique
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class Shot:
    """One photo seen through a camera path: windows are (centre x, centre y, height),
    in fractions of the photo's height, interpolated with an ease-in-out curve."""

    photo: str  # Photo.key
    n_frames: int
    start: tuple[float, float, float]
    end: tuple[float, float, float]
    region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # the windows stay in it

    def describe(self) -> str:
        return f"{self.photo}[{','.join(f'{v:g}' for v in self.region)}]"


def require_real_sources() -> None:
    """Raise MissingRealSourcesError naming the install command if material is absent."""
    missing = []
    if not all((OPENCV_DATA / name).is_file() for name in REAL_VIDEOS):
        missing.append(f"opencv-doc ({OPENCV_DATA})")
    for module in ("skimage", "sklearn", "matplotlib", "PIL"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingRealSourcesError(f"missing {', '.join(missing)}: {INSTALL_HINT}")


@functools.cache
def real_videos() -> tuple[RealVideo, ...]:
    """The real videos of opencv-doc, probed (duration, fps, size)."""
    require_real_sources()
    out = []
    for name, static in REAL_VIDEOS.items():
        path = OPENCV_DATA / name
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 25)
            duration = (
                float(container.duration) / 1e6 if container.duration
                else (stream.frames or 0) / fps
            )
            out.append(RealVideo(name, path, duration, fps, stream.width, stream.height, static))
    return tuple(out)


def _candidate_files() -> list[tuple[str, Path]]:
    import matplotlib
    import skimage.data
    import sklearn.datasets

    found: list[tuple[str, Path]] = []
    found += [("opencv-doc", p) for p in sorted(OPENCV_DATA.glob("*.jpg"))]
    found += [("opencv-doc", p) for p in sorted(OPENCV_DATA.glob("*.png"))]
    skimage_dir = Path(skimage.data.__file__).parent
    found += [("skimage", p) for p in sorted(skimage_dir.glob("*.png"))]
    found += [("skimage", p) for p in sorted(skimage_dir.glob("*.jpg"))]
    sklearn_dir = Path(sklearn.datasets.__file__).parent / "images"
    found += [("sklearn", p) for p in sorted(sklearn_dir.glob("*.jpg"))]
    mpl_dir = Path(matplotlib.get_data_path()) / "sample_data"
    found += [("matplotlib", p) for p in sorted(mpl_dir.glob("*.jpg"))]
    found += [("matplotlib", p) for p in sorted(mpl_dir.glob("*.png"))]
    return found


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _is_natural(rgb: np.ndarray) -> bool:
    """Big enough, not a flat graphic: a colour photo with many colours, or a greyscale
    photo with many grey levels."""
    h, w, _ = rgb.shape
    if min(h, w) < _MIN_SIDE:
        return False
    small = rgb[:: max(1, h // 256), :: max(1, w // 256)].reshape(-1, 3).astype(np.int32)
    mx, mn = small.max(axis=1), small.min(axis=1)
    saturation = float(np.where(mx > 0, (mx - mn) / np.maximum(mx, 1), 0.0).mean())
    if saturation >= _MIN_SATURATION:
        quant = (small >> 3) @ np.array([1024, 32, 1])
        counts = np.bincount(quant, minlength=32768)
        colours = int((counts > 0).sum())
        return counts.max() / len(quant) <= _MAX_MODE_SHARE and colours >= _MIN_COLOURS
    grey = small.mean(axis=1).astype(np.int64)
    counts = np.bincount(grey, minlength=256)
    return (counts.max() / len(grey) <= 0.05 and int((counts > 0).sum()) >= 200
            and float(grey.std()) > 30)


def _stem(path: Path) -> str:
    """Scene name: stereo pairs and numbered takes share one (aloeL/aloeR, graf1/graf3,
    left01/right01)."""
    stem, previous = path.stem.lower(), ""
    while stem != previous:
        previous = stem
        stem = re.sub(r"(_?(left|right|gt)|[lr]|[ab]|\d+)$", "", stem)
    return stem


def _dhash(rgb: np.ndarray) -> int:
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    h, w = grey.shape
    small = grey[(np.arange(8) * h // 8)[:, None], (np.arange(9) * w // 9)[None, :]]
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int(sum(1 << i for i, b in enumerate(bits) if b))


@functools.cache
def photos() -> tuple[Photo, ...]:
    """Natural photos, filtered and de-duplicated, in a fixed order."""
    require_real_sources()
    kept: list[Photo] = []
    stems: set[str] = set()
    hashes: list[int] = []
    for origin, path in _candidate_files():
        if _DUPLICATE_STEMS.search(path.stem) or _NOT_PHOTOS.search(path.stem):
            continue
        stem = _stem(path)
        if f"{origin}:{stem}" in stems:
            continue
        try:
            rgb = _read_rgb(path)
        except OSError:
            continue
        if not _is_natural(rgb):
            continue
        code = _dhash(rgb)
        if any(bin(code ^ other).count("1") <= 6 for other in hashes):
            continue  # the same picture under another name
        stems.add(f"{origin}:{stem}")
        hashes.append(code)
        kept.append(Photo(f"{origin}:{path.name}", path, rgb.shape[1], rgb.shape[0]))
    return tuple(kept)


@functools.cache
def photo_by_key() -> dict[str, Photo]:
    return {p.key: p for p in photos()}


@functools.lru_cache(maxsize=16)
def load_photo(key: str) -> np.ndarray:
    """The photo as uint8 RGB [H, W, 3]."""
    return _read_rgb(photo_by_key()[key].path)


def _ease(a: np.ndarray) -> np.ndarray:
    return a * a * (3 - 2 * a)


def render_shot(shot: Shot, width: int, height: int) -> np.ndarray:
    """uint8 [n_frames, height, width, 3]: the camera path over the photo."""
    photo = load_photo(shot.photo).astype(np.float32)
    ph = photo.shape[0]
    a = _ease(np.linspace(0.0, 1.0, shot.n_frames)) if shot.n_frames > 1 else np.zeros(1)
    start, end = np.array(shot.start), np.array(shot.end)
    out = np.empty((shot.n_frames, height, width, 3), dtype=np.uint8)
    gy, gx = np.meshgrid((np.arange(height) + 0.5) / height - 0.5,
                         (np.arange(width) + 0.5) / width - 0.5, indexing="ij")
    # Blur once per shot so wide windows do not alias (one output px covers many photo px).
    mean_h = 0.5 * (start[2] + end[2]) * ph
    sigma = max(0.0, 0.5 * (mean_h / height - 1))
    src = ndimage.gaussian_filter(photo, (sigma, sigma, 0)) if sigma > 0.3 else photo
    for i, ai in enumerate(a):
        cx, cy, wh = (1 - ai) * start + ai * end  # fractions of the photo height
        win_h = wh * ph
        win_w = win_h * width / height
        ys = cy * ph + gy * win_h - 0.5
        xs = cx * ph + gx * win_w - 0.5
        for c in range(3):
            out[i, :, :, c] = np.clip(
                ndimage.map_coordinates(src[:, :, c], [ys, xs], order=1, mode="reflect"), 0, 255
            )
    return out


def render_photo_video(shots: tuple[Shot, ...], width: int, height: int) -> np.ndarray:
    """The shots one after another (hard cuts)."""
    return np.concatenate([render_shot(s, width, height) for s in shots])


def draw_shot(rng: np.random.Generator, photo: Photo, region: tuple[float, float, float, float],
              n_frames: int, aspect: float) -> Shot:
    """A random pan/zoom path whose windows stay inside ``region`` (x0, y0, x1, y1 in
    fractions of the photo's width and height)."""
    x0, y0, x1, y1 = region
    rw, rh = (x1 - x0) * photo.width, (y1 - y0) * photo.height  # region in px

    def window() -> tuple[float, float, float]:
        max_h = min(rh, rw / aspect)
        win_h = float(rng.uniform(0.55, 1.0)) * max_h
        win_w = win_h * aspect
        cx = x0 * photo.width + win_w / 2 + float(rng.uniform(0, 1)) * (rw - win_w)
        cy = y0 * photo.height + win_h / 2 + float(rng.uniform(0, 1)) * (rh - win_h)
        return (cx / photo.height, cy / photo.height, win_h / photo.height)

    return Shot(photo.key, n_frames, window(), window(), region)


def photo_halves(photo: Photo) -> tuple[tuple[float, float, float, float], ...]:
    """Two disjoint regions of a photo, split across its longer side."""
    if photo.width >= photo.height:
        return ((0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0))
    return ((0.0, 0.0, 1.0, 0.5), (0.0, 0.5, 1.0, 1.0))


def decode_window(path: Path, start_s: float, n_frames: int, fps: float, width: int,
                  height: int) -> np.ndarray:
    """``n_frames`` frames of a real video from ``start_s`` at ``fps`` (the frame shown at
    each tick), centre-cropped to the aspect of width x height and resized to it."""
    ticks = start_s + np.arange(n_frames) / fps
    out = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    filled = 0
    last: np.ndarray | None = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first: float | None = None
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                first = float(frame.time) if first is None else first
                t = float(frame.time) - first
                while filled < n_frames and ticks[filled] < t - 1e-6:
                    if last is None:
                        break
                    out[filled] = last  # the previous frame is what shows at this tick
                    filled += 1
                if filled >= n_frames:
                    break
                if t + 1.0 >= ticks[0] or last is None:  # from 1 s before: any frame rate
                    last = _fit(frame.to_ndarray(format="rgb24"), width, height)
        except av.error.FFmpegError:
            pass  # a truncated tail: keep what decoded
    if last is None:
        raise ValueError(f"{path} has no frame at {start_s:.2f} s")
    out[filled:] = last
    return out


def _fit(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    from vidsearch.media.transforms import resize

    h, w, _ = rgb.shape
    if w / h > width / height:
        cw = round(h * width / height)
        rgb = rgb[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w * height / width)
        rgb = rgb[(h - ch) // 2 : (h - ch) // 2 + ch]
    return resize(rgb[None], height, width)[0]
