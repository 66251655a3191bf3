"""StreamVideo answers written to a file, shared by the sync and async clients.

The stream is a header, then chunks numbered from 0; a gap, a missing header or a size
that does not add up is the server's fault (DATA_LOSS), never a silently short file. The
file appears under its name only once complete (written beside it, then renamed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import grpc

from vidsearch_client.errors import Internal
from vidsearch_client.types import DownloadedVideo


class StreamWriter:
    """Feed it the messages of one StreamVideo call in order, then :meth:`finish`."""

    def __init__(self, dest: str | os.PathLike[str]) -> None:
        self.dest = Path(dest)
        self._part = self.dest.with_name(self.dest.name + ".part")
        self._fh: BinaryIO | None = None
        self._header: Any = None
        self._received = 0
        self._next = 0

    def _broken(self, why: str) -> Internal:
        self.discard()
        return Internal(f"StreamVideo answered a broken stream: {why}",
                        code=grpc.StatusCode.DATA_LOSS)

    def add(self, message: Any) -> None:
        kind = message.WhichOneof("message")
        if self._header is None:
            if kind != "header":
                raise self._broken("the first message carries no header")
            self._header = message.header
            self._fh = self._part.open("wb")
            return
        if kind != "chunk" or message.chunk.sequence != self._next:
            raise self._broken(f"expected chunk {self._next}")
        assert self._fh is not None
        self._fh.write(message.chunk.data)
        self._received += len(message.chunk.data)
        self._next += 1

    def finish(self) -> DownloadedVideo:
        if self._header is None:
            raise self._broken("no message at all")
        if self._received != self._header.total_bytes:
            raise self._broken(
                f"{self._received} bytes received, {self._header.total_bytes} announced"
            )
        assert self._fh is not None
        self._fh.close()
        os.replace(self._part, self.dest)
        return DownloadedVideo(
            video_id=self._header.video_id,
            path=self.dest,
            size=self._received,
            container=self._header.container,
            content_sha256=self._header.content_sha256,
        )

    def discard(self) -> None:
        """Drop a partial download (a failed or retried call)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._part.unlink(missing_ok=True)
