"""Query-side augmentation: extra pictures of the query that a copy may look like.

A copy detector's descriptor is trained to be invariant to many edits, but some are too
large for one global descriptor: a mirrored or rotated copy, and a copy that fills only
part of the frame (picture in picture, a copy inside other content). For those the query
is searched as several *views* (the mirrored frames, the frames turned a quarter either
way, and five windows of 60% of the frame: four corners and the centre), encoded in the
same batches as the original frames. Each view is normalised and aligned on its own and
the best view counts, less ``view_penalty`` (a view is one more chance for an unrelated
video to look alike, so a match found only through a view must be stronger).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, get_args

import numpy as np

from vidsearch.config import QueryView
from vidsearch.media.transforms import resize

QUERY_VIEWS: tuple[QueryView, ...] = get_args(QueryView)
# An inset of 45-75% of the frame lies mostly inside one of these windows.
REGION_SCALE = 0.6
REGIONS: dict[str, tuple[float, float]] = {  # (top, left) of the window, 0..1 of the slack
    "region_top_left": (0.0, 0.0),
    "region_top_right": (0.0, 1.0),
    "region_bottom_left": (1.0, 0.0),
    "region_bottom_right": (1.0, 1.0),
    "region_centre": (0.5, 0.5),
}


def view_names(views: Sequence[QueryView]) -> tuple[str, ...]:
    """The names of the encoded views, in encoding order ("regions" is five windows)."""
    names: list[str] = []
    for view in views:
        names.extend(REGIONS if view == "regions" else [view])
    return tuple(names)


R = TypeVar("R")  # a sliceable batch: an array of rows or a list of per-row hits


def split_views(stacked: R, n: int, views: int) -> list[R]:
    """Each view's ``n`` rows of ``stacked`` (the original rows first, then the views in
    order, as every stage batches them)."""
    return [stacked[n * (i + 1) : n * (i + 2)] for i in range(views)]  # type: ignore[index]


def view_frames(frames: np.ndarray, name: str) -> np.ndarray:
    """``frames`` [T,H,W,3] as view ``name`` sees them, same size (square frames for the
    rotations, which the decoder always delivers)."""
    if name == "flip":
        return np.ascontiguousarray(frames[:, :, ::-1])
    if name == "rot90":
        return np.ascontiguousarray(np.rot90(frames, 1, axes=(1, 2)))
    if name == "rot270":
        return np.ascontiguousarray(np.rot90(frames, 3, axes=(1, 2)))
    if name in REGIONS:
        _, h, w, _ = frames.shape
        ch, cw = max(1, round(h * REGION_SCALE)), max(1, round(w * REGION_SCALE))
        top, left = REGIONS[name]
        y, x = round(top * (h - ch)), round(left * (w - cw))
        return resize(np.ascontiguousarray(frames[:, y : y + ch, x : x + cw]), h, w)
    raise ValueError(f"unknown query view {name!r}; expected one of {QUERY_VIEWS}")
