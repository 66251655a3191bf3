"""Turn an upload stream (header + numbered chunks) or a source_uri into a local file.

Everything wrong with an upload is the client's to fix, so it is INVALID_ARGUMENT with a
message saying what to change; nothing here knows about videos.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import grpc
from vidsearch_client.v1 import vidsearch_pb2 as pb

from vidsearch.service.errors import ServiceError, invalid_argument
from vidsearch.service.limits import check_container

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HASH_BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedMedia:
    """A local file holding the request's video, valid inside ``receive_media``."""

    path: Path
    size: int
    sha256: str  # "" when not computed (source_uri without a declared digest)
    source: str  # the source_uri, or "upload"

    @property
    def name(self) -> str:
        """What messages to the client call this video: never the server's temporary file."""
        return "the uploaded file" if self.source == "upload" else f"source_uri {self.source!r}"


@dataclass(frozen=True)
class UploadLimits:
    upload_dir: Path
    max_bytes: int
    # None: any file the server can read; else source_uri must resolve inside one of these.
    source_roots: Sequence[Path] | None = None
    # Containers accepted (see service.limits); None or empty: no check at the door.
    allowed_containers: Sequence[str] | None = None


def _declared_sha256(media: pb.MediaSource) -> str | None:
    if not media.HasField("content_sha256"):
        return None
    digest = media.content_sha256.strip().lower()
    if not _SHA256.match(digest):
        raise invalid_argument("content_sha256 must be 64 hexadecimal characters (SHA-256)")
    return digest


def _check_digest(declared: str | None, actual: str) -> None:
    if declared is not None and declared != actual:
        raise invalid_argument(
            f"content_sha256 mismatch: declared {declared}, received bytes hash to {actual}; "
            "the upload was corrupted or the digest is wrong"
        )


def _check_size(declared: int | None, actual: int) -> None:
    if declared is not None and declared != actual:
        raise invalid_argument(f"total_bytes mismatch: declared {declared}, received {actual}")


def _deadline_guard(time_left: Callable[[], float | None]) -> None:
    remaining = time_left()
    if remaining is not None and remaining <= 0:
        raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded during upload")


def resolve_source_uri(uri: str, roots: Sequence[Path] | None) -> Path:
    """A readable regular file for an absolute path or file:// URI."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise invalid_argument(f"source_uri {uri!r}: file URIs must name a local file")
        path = Path(url2pathname(unquote(parsed.path)))
    elif "://" in uri:
        raise invalid_argument(
            f"source_uri {uri!r}: unsupported scheme {parsed.scheme!r} (use a path or file://)"
        )
    else:
        path = Path(uri)
    if not path.is_absolute():
        raise invalid_argument(f"source_uri {uri!r} must be an absolute path or file:// URI")
    resolved = path.resolve()
    if roots is not None and not any(resolved.is_relative_to(r.resolve()) for r in roots):
        raise ServiceError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"source_uri {uri!r} is outside the directories this server may read",
        )
    if not resolved.is_file() or not os.access(resolved, os.R_OK):
        raise invalid_argument(f"source_uri {uri!r}: no readable file at that path on the server")
    return resolved


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _from_uri(media: pb.MediaSource, rest: Iterator[Any], limits: UploadLimits) -> ReceivedMedia:
    declared_sha = _declared_sha256(media)
    path = resolve_source_uri(media.source_uri, limits.source_roots)
    if next(rest, None) is not None:
        raise invalid_argument("no chunk may follow a header that sets source_uri")
    size = path.stat().st_size
    if limits.max_bytes and size > limits.max_bytes:
        raise invalid_argument(
            f"source_uri {media.source_uri!r} is {size} bytes; the server limit is "
            f"{limits.max_bytes} bytes"
        )
    _check_size(media.total_bytes if media.HasField("total_bytes") else None, size)
    sha = ""
    if declared_sha is not None:
        sha = _file_sha256(path)
        _check_digest(declared_sha, sha)
    received = ReceivedMedia(path=path, size=size, sha256=sha, source=media.source_uri)
    if limits.allowed_containers:
        check_container(path, limits.allowed_containers, received.name)
    return received


def _write_chunks(
    fh: BinaryIO,
    rest: Iterator[Any],
    declared: int | None,
    limits: UploadLimits,
    time_left: Callable[[], float | None],
) -> tuple[int, str]:
    """Append chunks in order to ``fh``; returns (bytes received, their SHA-256)."""
    digest = hashlib.sha256()
    received = 0
    for expected, message in enumerate(rest):
        if message.WhichOneof("message") != "chunk":
            raise invalid_argument("only the first message of an upload may carry a header")
        chunk = message.chunk
        if chunk.sequence != expected:
            raise invalid_argument(
                f"chunk {chunk.sequence} arrived where chunk {expected} was expected: chunks "
                "must be numbered 0, 1, 2, ... in order without gaps"
            )
        received += len(chunk.data)
        if received > limits.max_bytes:
            raise invalid_argument(f"upload exceeds the server limit of {limits.max_bytes} bytes")
        if declared is not None and received > declared:
            raise invalid_argument(f"upload is larger than the declared total_bytes {declared}")
        digest.update(chunk.data)
        fh.write(chunk.data)
        _deadline_guard(time_left)
    return received, digest.hexdigest()


@contextmanager
def receive_media(
    media: pb.MediaSource,
    rest: Iterator[Any],
    limits: UploadLimits,
    time_left: Callable[[], float | None] = lambda: None,
) -> Iterator[ReceivedMedia]:
    """Yield the request's video as a local file; an uploaded temp file is removed after."""
    if media.source_uri:
        yield _from_uri(media, rest, limits)
        return
    declared_sha = _declared_sha256(media)
    declared = media.total_bytes if media.HasField("total_bytes") else None
    if declared is not None and declared > limits.max_bytes:
        raise invalid_argument(
            f"total_bytes {declared} exceeds the server limit of {limits.max_bytes} bytes"
        )
    limits.upload_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=limits.upload_dir, prefix="upload-", suffix=".part")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            received, sha = _write_chunks(fh, rest, declared, limits, time_left)
        if received == 0:
            raise invalid_argument(
                "the upload carried no bytes: send chunks after the header, or set source_uri"
            )
        _check_size(declared, received)
        _check_digest(declared_sha, sha)
        upload = ReceivedMedia(path=path, size=received, sha256=sha, source="upload")
        if limits.allowed_containers:
            check_container(path, limits.allowed_containers, upload.name)
        yield upload
    finally:
        path.unlink(missing_ok=True)
