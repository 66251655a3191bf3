"""Upload reassembly through the real server (in-test backend; see conftest): chunk order,
size limits, SHA-256 checks and source_uri handling, all over loopback gRPC."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import grpc
import pytest
from vidsearch_client import InvalidArgument
from vidsearch_client.v1 import vidsearch_pb2 as pb

MAX_UPLOAD = 64 * 1024


def _stream(header: pb.IndexVideoHeader, chunks: list[tuple[int, bytes]]) -> list[Any]:
    return [pb.IndexVideoRequest(header=header)] + [
        pb.IndexVideoRequest(chunk=pb.Chunk(sequence=seq, data=data)) for seq, data in chunks
    ]


def _index_error(stub: Any, requests: list[Any]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.IndexVideo(iter(requests), timeout=10)
    return caught.value


def test_chunks_are_reassembled_in_order_and_temp_file_removed(served: Any) -> None:
    data = bytes(range(256)) * 40  # 10 240 bytes over 11 chunks
    result = served.client.index_file(
        data, "clip-1", title="Clip", tags=["a", "b"], chunk_size=1000
    )
    assert served.backend.received["clip-1"] == data
    assert result.video.video_id == "clip-1" and result.video.tags == ("a", "b")
    assert result.video.content_sha256 == hashlib.sha256(data).hexdigest()
    assert result.replaced is False
    call, *_ = served.backend.calls_to("index_video")
    assert call["source"] == "upload"
    assert call["content_sha256"] == hashlib.sha256(data).hexdigest()
    assert list(served.upload_dir.iterdir()) == []
    assert served.client.index_file(data, "clip-1").replaced is True


def test_index_from_a_file_path(served: Any, tmp_path: Path) -> None:
    video = tmp_path / "movie.mp4"
    video.write_bytes(b"x" * 5000)
    served.client.index_file(video, "movie", chunk_size=4096)
    assert served.backend.received["movie"] == video.read_bytes()


def test_sha256_mismatch_is_invalid_argument(served: Any, raw_stub: Any) -> None:
    header = pb.IndexVideoHeader(
        video_id="v", media=pb.MediaSource(content_sha256="0" * 64, total_bytes=3)
    )
    error = _index_error(raw_stub, _stream(header, [(0, b"abc")]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "content_sha256 mismatch" in error.details()
    assert served.backend.calls_to("index_video") == []
    assert list(served.upload_dir.iterdir()) == []


def test_out_of_order_chunk_is_invalid_argument(served: Any, raw_stub: Any) -> None:
    header = pb.IndexVideoHeader(video_id="v")
    error = _index_error(raw_stub, _stream(header, [(0, b"ab"), (2, b"cd")]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "chunk 2 arrived where chunk 1 was expected" in error.details()
    assert served.backend.calls_to("index_video") == []


@pytest.mark.parametrize(
    ("media", "chunks", "needle"),
    [
        (pb.MediaSource(), [], "carried no bytes"),
        (pb.MediaSource(total_bytes=5), [(0, b"abc")], "total_bytes mismatch"),
        (pb.MediaSource(total_bytes=MAX_UPLOAD + 1), [(0, b"a")], "exceeds the server limit"),
        (pb.MediaSource(), [(0, b"a" * MAX_UPLOAD), (1, b"a")], "exceeds the server limit"),
        (pb.MediaSource(content_sha256="xyz"), [(0, b"a")], "64 hexadecimal"),
    ],
)
def test_bad_uploads_are_rejected(
    served: Any, raw_stub: Any, media: pb.MediaSource, chunks: list[tuple[int, bytes]], needle: str
) -> None:
    header = pb.IndexVideoHeader(video_id="v", media=media)
    error = _index_error(raw_stub, _stream(header, chunks))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in error.details()


def test_first_message_must_be_the_header(raw_stub: Any) -> None:
    requests = [pb.IndexVideoRequest(chunk=pb.Chunk(sequence=0, data=b"a"))]
    error = _index_error(raw_stub, requests)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message" in error.details()


def test_second_header_is_rejected(raw_stub: Any) -> None:
    header = pb.IndexVideoHeader(video_id="v")
    requests = [*_stream(header, [(0, b"a")]), pb.IndexVideoRequest(header=header)]
    assert _index_error(raw_stub, requests).code() == grpc.StatusCode.INVALID_ARGUMENT


def test_source_uri_path_and_file_uri(served: Any, tmp_path: Path) -> None:
    video = tmp_path / "on server.mp4"
    video.write_bytes(b"y" * 3000)
    served.client.index_uri(str(video), "by-path")
    served.client.index_uri(video.as_uri(), "by-uri", content_sha256=None)
    assert served.backend.received["by-path"] == served.backend.received["by-uri"] == b"y" * 3000
    sources = [call["source"] for call in served.backend.calls_to("index_video")]
    assert sources == [str(video), video.as_uri()]
    digest = hashlib.sha256(b"y" * 3000).hexdigest()
    assert served.client.index_uri(str(video), "checked", content_sha256=digest).video
    with pytest.raises(InvalidArgument, match="content_sha256 mismatch"):
        served.client.index_uri(str(video), "bad", content_sha256="1" * 64)


@pytest.mark.parametrize(
    ("uri", "needle"),
    [
        ("relative/clip.mp4", "absolute path"),
        ("/does/not/exist.mp4", "no readable file"),
        ("https://example.com/a.mp4", "unsupported scheme"),
    ],
)
def test_bad_source_uri(served: Any, uri: str, needle: str) -> None:
    with pytest.raises(InvalidArgument, match=needle):
        served.client.index_uri(uri, "v")


def test_chunks_after_source_uri_are_rejected(raw_stub: Any, tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"z")
    header = pb.IndexVideoHeader(video_id="v", media=pb.MediaSource(source_uri=str(video)))
    error = _index_error(raw_stub, _stream(header, [(0, b"a")]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no chunk may follow" in error.details()


def test_search_upload_and_options(served: Any) -> None:
    served.client.index_file(b"a" * 2000, "ref-1")
    served.client.index_file(b"b" * 2000, "ref-2")
    result = served.client.search_video(b"q" * 1500, mode="texture", top_k=1, chunk_size=512)
    assert [hit.video.video_id for hit in result.hits] == ["ref-1"]
    assert result.mode == "texture" and result.query_duration_s == 1.5
    assert list(result.stage_seconds) == ["decode", "encode", "coarse"]
    assert result.hits[0].segments[0].reference_start_s == 10.0
    (call,) = served.backend.calls_to("search_by_video")
    options = call["options"]
    assert options.mode == "texture" and options.top_k == 1
    assert options.max_hamming is None and options.min_repetition is None  # server defaults
    assert call["size"] == 1500
    assert 0 < call["timeout_s"] <= 10.5  # the client's deadline reaches the backend
