"""The front end's own temporary storage of clips to play: query uploads and the indexed
videos it fetched for a reviewer.

A ``<video>`` element cannot send a bearer token, so each clip is handed out under an
unguessable ticket URL, issued only after the gRPC server accepted the caller's token for
the call that produced it (the search, or StreamVideo). Tickets expire; the oldest clips
go first when the storage is full; everything is removed when the front end stops.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# What a <video> element is told it receives, by the container the server sniffed.
CONTENT_TYPES = {"mp4": "video/mp4", "matroska": "video/webm", "ogg": "video/ogg"}


@dataclass(frozen=True)
class Clip:
    path: Path
    content_type: str
    size: int
    expires_at: float


class MediaStore:
    """Ticket -> clip file, bounded in age (``ttl_s``) and in total bytes."""

    def __init__(
        self, ttl_s: float, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._root = Path(tempfile.mkdtemp(prefix="vidsearch-review-"))
        self._clips: OrderedDict[str, Clip] = OrderedDict()
        self._lock = threading.Lock()

    def new_path(self, suffix: str = ".video") -> Path:
        """A fresh file name inside the store, for a clip being written."""
        return self._root / f"{secrets.token_hex(16)}{suffix}"

    def add(self, path: Path, content_type: str) -> str:
        """Take ownership of ``path`` (inside the store); returns its ticket."""
        ticket = secrets.token_urlsafe(24)
        clip = Clip(path, content_type, path.stat().st_size, self._clock() + self.ttl_s)
        with self._lock:
            self._clips[ticket] = clip
            self._evict()
        return ticket

    def get(self, ticket: str) -> Clip | None:
        with self._lock:
            self._evict()
            return self._clips.get(ticket)

    def _evict(self) -> None:
        now = self._clock()
        total = sum(clip.size for clip in self._clips.values())
        for ticket in list(self._clips):
            clip = self._clips[ticket]
            if clip.expires_at > now and total <= self.max_bytes:
                continue
            del self._clips[ticket]
            total -= clip.size
            clip.path.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            self._clips.clear()
        shutil.rmtree(self._root, ignore_errors=True)
