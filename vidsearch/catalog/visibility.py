"""Which stored key frames a search may return: only those of committed versions.

An upsert writes key frames tagged with a new generation, then the video point (the
commit marker, naming that generation), then deletes frames of other generations. A
key frame is therefore visible only when its video point exists and names its
generation. Qdrant has no join, so the check is a post-filter: the few distinct videos
in a result are looked up by id after the search (one small retrieve), and hits of
other generations are dropped.

Stale frames exist only during a write or after a crashed one, so the post-filter
almost never drops anything. When a drop may have cost a row visible hits (the row
was full, or a write committed between the search and the lookup so the committed
frames were not in the row), the search repeats with those videos *pinned* by a
payload filter to the generation just looked up (``generation == g`` for them, no
condition for the others), and the pins are checked again after the repeat. A
version committed during a search may still be seen partially if the search showed
no other version of that video; it is complete on the next search.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from vidsearch.catalog.base import CatalogError, KeyFrameHit, score_to_hamming

MAX_ROUNDS = 8
MISSING = -1  # pinned generation of a video with no committed version: no frame matches


@dataclass(frozen=True)
class RawFrameHit:
    """A key frame as the store returned it, before the visibility check."""

    video_id: str
    generation: int
    time_s: float
    score: float  # Dot score of the ±1 codes: 128 - 2 * Hamming, exact
    texture: Sequence[float]


def select_committed(
    raw: Sequence[Sequence[RawFrameHit]],
    committed: Mapping[str, int],
    textures: np.ndarray,
    limit: int,
) -> tuple[list[list[KeyFrameHit]], set[str]]:
    """Keep the hits of committed versions, nearest first; also name the videos whose
    dropped frames may have hidden visible ones (to pin on a repeated search)."""
    out: list[list[KeyFrameHit]] = []
    repin: set[str] = set()
    for row, query_texture in zip(raw, textures, strict=True):
        kept: list[KeyFrameHit] = []
        seen = {(hit.video_id, hit.generation) for hit in row}
        for hit in row:
            current = committed.get(hit.video_id)
            if current != hit.generation:
                if len(row) >= limit or (
                    current is not None and (hit.video_id, current) not in seen
                ):
                    repin.add(hit.video_id)
                continue
            dist = float(np.linalg.norm(np.asarray(hit.texture, np.float32) - query_texture))
            kept.append(KeyFrameHit(hit.video_id, hit.time_s, score_to_hamming(hit.score), dist))
        kept.sort(key=lambda k: (k.hamming, k.texture_distance))
        out.append(kept[:limit])
    return out, repin


def visible_keyframes(
    query: Callable[[Mapping[str, int]], list[list[RawFrameHit]]],
    committed: Callable[[set[str]], dict[str, int]],
    textures: np.ndarray,
    limit: int,
) -> list[list[KeyFrameHit]]:
    """Run ``query`` (with the given video -> generation pins) until the pins hold."""
    pins: dict[str, int] = {}
    hits: list[list[KeyFrameHit]] = []
    for _ in range(MAX_ROUNDS):
        raw = query(pins)
        current = committed({hit.video_id for row in raw for hit in row} | pins.keys())
        hits, repin = select_committed(raw, current, textures, limit)
        repin |= {v for v, g in pins.items() if current.get(v, MISSING) != g}
        if not repin:
            break
        pins.update({v: current.get(v, MISSING) for v in repin})
    return hits


def kth_similarity(
    raw: Sequence[Sequence[RawFrameHit]],
    committed: Mapping[str, int],
    textures: np.ndarray,
    k: int,
) -> np.ndarray:
    """Per query row, the dot similarity of its k-th nearest committed key frame; NaN
    where fewer than k committed frames came back (a background too small to say)."""
    out = np.full(len(textures), np.nan, dtype=np.float32)
    for i, (row, query) in enumerate(zip(raw, textures, strict=True)):
        kept = [h.texture for h in row if committed.get(h.video_id) == h.generation]
        if len(kept) < k:
            continue
        sims = np.sort(np.asarray(kept, dtype=np.float32) @ query)[::-1]
        out[i] = sims[k - 1]
    return out


class ReadWriteLock:
    """Many concurrent readers or one exclusive holder (close); writers serialise.

    Readers never wait for writers: the write protocol keeps every intermediate state
    consistent for them. Only ``close`` needs readers drained.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._closed = False
        self.write_lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            if self._closed:
                raise CatalogError("catalog is closed")
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self.write_lock, self.reading():
            yield

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No reader or writer while held: for swapping the store under the catalog."""
        with self.write_lock, self._cond:  # readers block on _cond until we leave
            if self._closed:
                raise CatalogError("catalog is closed")
            self._cond.wait_for(lambda: self._readers == 0)
            yield

    def close(self) -> bool:
        """Mark closed and wait for readers; False if it was closed already."""
        with self.write_lock, self._cond:
            if self._closed:
                return False
            self._closed = True
            self._cond.wait_for(lambda: self._readers == 0)
            return True
