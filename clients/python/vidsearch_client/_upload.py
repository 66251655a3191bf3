"""Upload streams: a header message, then the file as numbered chunks.

Each call builds a fresh stream from the source, so a retried call re-sends the upload
from the start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from vidsearch_client.v1 import vidsearch_pb2 as pb

DEFAULT_CHUNK_SIZE = 1024 * 1024
_HASH_BLOCK = 4 * 1024 * 1024

VideoInput = str | os.PathLike[str] | bytes
# Builds one request message: ``header`` for the first, ``chunk`` for the others.
RequestFactory = Callable[..., Any]


@dataclass(frozen=True)
class Upload:
    """Validated upload content: a readable file or in-memory bytes, with its digest."""

    path: Path | None
    data: bytes | None
    size: int
    sha256: str | None

    @classmethod
    def of(cls, video: VideoInput, *, checksum: bool = True) -> Upload:
        """Check the source before any RPC, so a missing file is a local error, not a
        cancelled stream."""
        if isinstance(video, (bytes, bytearray, memoryview)):
            data = bytes(video)
            digest = hashlib.sha256(data).hexdigest() if checksum else None
            return cls(path=None, data=data, size=len(data), sha256=digest)
        path = Path(video)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such file")
        size = path.stat().st_size
        digest = file_sha256(path) if checksum else None
        return cls(path=path, data=None, size=size, sha256=digest)

    def media(self) -> pb.MediaSource:
        msg = pb.MediaSource(total_bytes=self.size)
        if self.sha256 is not None:
            msg.content_sha256 = self.sha256
        return msg


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def uri_media(uri: str, content_sha256: str | None = None) -> pb.MediaSource:
    msg = pb.MediaSource(source_uri=uri)
    if content_sha256:
        msg.content_sha256 = content_sha256.lower()
    return msg


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")


def upload_of(video: VideoInput, checksum: bool, chunk_size: int) -> Upload:
    """Check everything local before the call: errors raised while gRPC iterates the
    request stream would only surface as an opaque UNKNOWN status."""
    _check_chunk_size(chunk_size)
    return Upload.of(video, checksum=checksum)


def request_stream(
    make: RequestFactory, header: Any, upload: Upload | None, chunk_size: int
) -> Iterator[Any]:
    """Header first, then chunks numbered from 0 (nothing more for a ``source_uri``)."""
    _check_chunk_size(chunk_size)
    yield make(header=header)
    if upload is None:
        return
    if upload.data is not None:
        yield from _bytes_chunks(make, upload.data, chunk_size)
        return
    assert upload.path is not None
    with upload.path.open("rb") as fh:
        yield from _file_chunks(make, fh, chunk_size)


def _bytes_chunks(make: RequestFactory, data: bytes, chunk_size: int) -> Iterator[Any]:
    for seq, start in enumerate(range(0, len(data), chunk_size)):
        yield make(chunk=pb.Chunk(sequence=seq, data=data[start : start + chunk_size]))


def _file_chunks(make: RequestFactory, fh: BinaryIO, chunk_size: int) -> Iterator[Any]:
    seq = 0
    while data := fh.read(chunk_size):
        yield make(chunk=pb.Chunk(sequence=seq, data=data))
        seq += 1
