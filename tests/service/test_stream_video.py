"""StreamVideo through the real server and SDK: an indexed video plays back only while
the server still has its source (a kept upload within `playback.keep_uploads_s`, or the
file its source_uri named), and says so, without server paths, when it has not."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from vidsearch_client import AsyncVideoSearchClient, RetryPolicy, VideoSearchClient
from vidsearch_client._download import StreamWriter
from vidsearch_client.errors import FailedPrecondition, Internal, NotFound
from vidsearch_client.v1 import vidsearch_pb2 as pb

from tests.service.conftest import FakeBackend
from vidsearch.config import VidsearchConfig
from vidsearch.service.auth import TokenEntry, TokenStore, token_digest
from vidsearch.service.playback import KeptUploads
from vidsearch.service.server import build_server

# An MP4 as far as the container sniffer is concerned (an ftyp box), then filler.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 40


def serve(tmp_path: Path, backend: FakeBackend, keep_s: float) -> Iterator[VideoSearchClient]:
    config = VidsearchConfig(
        server={"port": 0, "metrics_port": 0, "upload_dir": str(tmp_path / "up")},  # type: ignore[arg-type]
        playback={"keep_uploads_s": keep_s, "kept_uploads_dir": str(tmp_path / "kept"),  # type: ignore[arg-type]
                  "chunk_bytes": 1024},
    )
    running = build_server(config, backend, with_metrics=False)
    client = VideoSearchClient(running.target, timeout=10, retry=RetryPolicy(max_attempts=1))
    try:
        yield client
    finally:
        client.close()
        running.stop(grace=None)


@pytest.fixture
def keeping(tmp_path: Path, backend: FakeBackend) -> Iterator[VideoSearchClient]:
    yield from serve(tmp_path, backend, keep_s=600)


@pytest.fixture
def forgetting(tmp_path: Path, backend: FakeBackend) -> Iterator[VideoSearchClient]:
    yield from serve(tmp_path, backend, keep_s=0)


def test_a_kept_upload_plays_back_until_deleted(keeping: VideoSearchClient, tmp_path: Path
                                               ) -> None:
    keeping.index_file(MP4, "clip/1")
    got = keeping.download("clip/1", tmp_path / "out.mp4")
    assert got.path.read_bytes() == MP4 and got.size == len(MP4)
    assert got.container == "mp4" and got.video_id == "clip/1"
    assert not list(tmp_path.glob("*.part"))
    # The async client answers the same.
    async def fetch() -> bytes:
        async with AsyncVideoSearchClient(keeping.target, timeout=10) as client:
            return (await client.download("clip/1", tmp_path / "async.mp4")).path.read_bytes()
    assert asyncio.run(fetch()) == MP4

    assert keeping.delete("clip/1")
    assert not list((tmp_path / "kept").iterdir())
    with pytest.raises(NotFound, match="not indexed"):
        keeping.download("clip/1", tmp_path / "again.mp4")
    assert not (tmp_path / "again.mp4").exists()


def test_a_server_that_keeps_no_uploads_says_so(forgetting: VideoSearchClient, tmp_path: Path
                                               ) -> None:
    forgetting.index_file(MP4, "uploaded")
    with pytest.raises(FailedPrecondition, match="keeps no uploads") as caught:
        forgetting.download("uploaded", tmp_path / "out.mp4")
    assert str(tmp_path) not in str(caught.value)
    assert not (tmp_path / "out.mp4").exists()


def test_a_source_uri_plays_while_its_file_is_there(keeping: VideoSearchClient, tmp_path: Path
                                                   ) -> None:
    source = tmp_path / "library" / "film.mp4"
    source.parent.mkdir()
    source.write_bytes(MP4 + b"tail")
    keeping.index_file(MP4, "film")  # first by upload (kept) ...
    keeping.index_uri(source.as_uri(), "film")  # ... then replaced from a source_uri
    assert keeping.download("film", tmp_path / "a.mp4").path.read_bytes() == MP4 + b"tail"
    source.unlink()
    with pytest.raises(FailedPrecondition, match="no longer readable") as caught:
        keeping.download("film", tmp_path / "b.mp4")  # the old upload is not played instead
    assert str(tmp_path) not in str(caught.value)


def test_kept_uploads_expire(tmp_path: Path) -> None:
    now = [1000.0]
    kept = KeptUploads(tmp_path / "kept", keep_s=60, clock=lambda: now[0])
    upload = tmp_path / "upload.part"
    upload.write_bytes(b"abc")
    kept.keep("a", upload)
    upload.unlink()  # what the server does after IndexVideo
    found = kept.find("a")
    assert found is not None and found.read_bytes() == b"abc"
    now[0] += 59
    assert kept.find("a") is not None
    upload.write_bytes(b"def")
    kept.keep("b", upload)
    now[0] += 2  # "a" is past its 60 s, "b" is not
    assert kept.find("a") is None and kept.find("b") is not None
    now[0] += 60
    assert kept.sweep() == 1 and not list((tmp_path / "kept").iterdir())


def test_stream_video_needs_the_search_scope() -> None:
    store = TokenStore({token_digest("reader"): TokenEntry(frozenset({"search"})),
                        token_digest("writer"): TokenEntry(frozenset({"index"}))})
    store.check("reader", "/vidsearch.v1.VideoSearch/StreamVideo")
    with pytest.raises(Exception, match="needs scope 'search'"):
        store.check("writer", "/vidsearch.v1.VideoSearch/StreamVideo")


def test_a_broken_stream_leaves_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "video.mp4"
    writer = StreamWriter(dest)
    writer.add(pb.StreamVideoResponse(header=pb.StreamVideoHeader(video_id="v", total_bytes=6)))
    writer.add(pb.StreamVideoResponse(chunk=pb.Chunk(sequence=0, data=b"abc")))
    with pytest.raises(Internal, match="expected chunk 1") as caught:
        writer.add(pb.StreamVideoResponse(chunk=pb.Chunk(sequence=2, data=b"def")))
    assert caught.value.code == grpc.StatusCode.DATA_LOSS
    assert os.listdir(tmp_path) == []
