"""Playback for StreamVideo (the review page): where an indexed video's bytes still are.

A video indexed from a ``source_uri`` plays from that file while it is readable; a video
indexed by upload plays only when its upload was kept (``playback.keep_uploads_s``): the
upload's temporary file is hard-linked (or copied) into ``playback.kept_uploads_dir``
before the server deletes it, and is forgotten when it expires, when the video is deleted
or when it is re-indexed from a ``source_uri``. Messages never name server paths.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import grpc
from vidsearch_client.v1 import vidsearch_pb2 as pb

from vidsearch.catalog.base import VideoInfo
from vidsearch.service.errors import ServiceError
from vidsearch.service.limits import SNIFF_BYTES, sniff_container

UPLOAD_SOURCE = "upload"  # ReceivedMedia.source of an uploaded video


class KeptUploads:
    """Uploaded videos' bytes, kept ``keep_s`` seconds after indexing (0: none kept)."""

    def __init__(
        self, directory: Path, keep_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = directory
        self.keep_s = keep_s
        self._clock = clock

    def _path(self, video_id: str) -> Path:
        # Ids may hold any printable character: the file is named by their digest.
        return self.directory / f"{hashlib.sha256(video_id.encode()).hexdigest()}.video"

    def keep(self, video_id: str, upload: Path) -> None:
        """Keep ``upload`` (about to be deleted by the server) as ``video_id``'s bytes."""
        if self.keep_s <= 0:
            self.forget(video_id)
            return
        self.sweep()
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self._path(video_id)
        staging = final.with_name(f"{final.name}.{uuid.uuid4().hex}.part")  # one per call
        try:
            os.link(upload, staging)  # same file system: no copy
        except OSError:
            shutil.copyfile(upload, staging)
        now = self._clock()
        os.utime(staging, (now, now))  # retention counts from indexing, not from upload
        os.replace(staging, final)

    def forget(self, video_id: str) -> None:
        self._path(video_id).unlink(missing_ok=True)

    def find(self, video_id: str) -> Path | None:
        """The kept bytes of ``video_id`` while they are within the retention time."""
        path = self._path(video_id)
        try:
            kept_at = path.stat().st_mtime
        except FileNotFoundError:
            return None
        if self._clock() - kept_at >= self.keep_s:
            path.unlink(missing_ok=True)
            return None
        return path

    def sweep(self) -> int:
        """Remove expired kept uploads; how many were removed."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        deadline = self._clock() - self.keep_s
        for path in self.directory.glob("*.video"):
            with suppress(FileNotFoundError):
                if path.stat().st_mtime <= deadline:
                    path.unlink()
                    removed += 1
        return removed


def _recorded_file(source: str) -> Path | None:
    """The local file a recorded source names (a path or file:// URI), if any."""
    if not source or source == UPLOAD_SOURCE:
        return None
    parsed = urlparse(source)
    if parsed.scheme == "file":
        return Path(url2pathname(unquote(parsed.path)))
    return None if "://" in source else Path(source)


def playable_source(info: VideoInfo, kept: KeptUploads) -> Path:
    """The file to stream for ``info``; FAILED_PRECONDITION when the server has none."""
    recorded = _recorded_file(info.source)
    if recorded is not None and recorded.is_file() and os.access(recorded, os.R_OK):
        return recorded
    found = kept.find(info.video_id)
    if found is not None:
        return found
    if recorded is not None:
        why = "the file it was indexed from is no longer readable on the server"
    elif kept.keep_s > 0:
        why = (f"it was uploaded, and uploads are kept for {kept.keep_s:g} s after indexing "
               "(playback.keep_uploads_s)")
    else:
        why = "it was uploaded, and this server keeps no uploads (playback.keep_uploads_s = 0)"
    raise ServiceError(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"video {info.video_id!r} cannot be played back: {why}; index it again to play it",
    )


def stream_file(info: VideoInfo, path: Path, chunk_bytes: int) -> Iterator[pb.StreamVideoResponse]:
    """Open ``path`` now (errors surface before the first message), then yield the header
    and the chunks. An expiring kept upload stays readable: the handle is already open."""
    fh = path.open("rb")
    try:
        size = os.fstat(fh.fileno()).st_size
        container = sniff_container(fh.read(SNIFF_BYTES))
        if container is None:
            raise ServiceError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"the stored source of video {info.video_id!r} is not a video container",
            )
        fh.seek(0)
    except BaseException:
        fh.close()
        raise
    header = pb.StreamVideoHeader(
        video_id=info.video_id, total_bytes=size, container=container,
        content_sha256=info.content_sha256,
    )
    return _messages(fh, header, chunk_bytes)


def _messages(
    fh: BinaryIO, header: pb.StreamVideoHeader, chunk_bytes: int
) -> Iterator[pb.StreamVideoResponse]:
    with fh:
        yield pb.StreamVideoResponse(header=header)
        sequence = 0
        while data := fh.read(chunk_bytes):
            yield pb.StreamVideoResponse(chunk=pb.Chunk(sequence=sequence, data=data))
            sequence += 1
