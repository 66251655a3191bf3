"""Hostile inputs against the real server (starter models, ONNX Runtime, Qdrant Edge).

A couple of videos are indexed first, then every case below must get its intended
status with a message that says what to fix, and afterwards the same server must still
find the reference of a copy. The server runs with small limits (pixels, duration,
frames, upload bytes, source_uri roots) so the limit cases are cheap to build.
"""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import grpc
import numpy as np
import pytest
from vidsearch_client import RetryPolicy, VideoSearchClient
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

from vidsearch.config import VidsearchConfig
from vidsearch.media.corpus import PROCEDURAL_ONLY, BenchmarkManifest, build_copy_benchmark
from vidsearch.media.synthetic import render_video, write_video
from vidsearch.orchestrator.factory import build_orchestrator
from vidsearch.service.server import build_server

MAX_UPLOAD = 1024 * 1024
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Hostile:
    stub: pb_grpc.VideoSearchStub
    client: VideoSearchClient
    corpus: BenchmarkManifest
    files: dict[str, bytes]
    root: Path


def _jpeg() -> bytes:
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuvj420p"
    codec.time_base = Fraction(1, 25)
    rgb = np.full((48, 64, 3), 128, np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)])


def _audio_only(path: Path) -> bytes:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path.read_bytes()


def _zip_of_zeros() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.mp4", bytes(32 * 1024 * 1024))
    return buffer.getvalue()


def _video(path: Path, seconds: float, fps: float, width: int, height: int) -> bytes:
    return write_video(path, render_video(7, seconds, fps, width, height), fps).read_bytes()


@pytest.fixture(scope="module")
def hostile(
    starter_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    corpus = build_copy_benchmark(
        root / "corpus", n_references=3, n_queries=1, positive_ratio=1.0, seed=3,
        ref_duration_s=(10.0, 12.0), segment_s=(6.0, 8.0), width=128, height=96,
        chain_length=(1, 1), progress=False, sources=PROCEDURAL_ONLY, vary_encoding=False,
    )  # fmt: skip
    config = VidsearchConfig()
    config.inference.model_repository = starter_repository
    config.catalog.path = root / "catalog"
    config.server.port = config.server.metrics_port = 0
    config.server.upload_dir = root / "uploads"
    config.server.source_uri_roots = [corpus.root]
    config.media.max_pixels = 160 * 120
    config.media.max_duration_s = 30.0
    config.media.max_frames = 20
    config.media.max_upload_bytes = MAX_UPLOAD
    reference = Path(corpus.references[0].path).read_bytes()
    (corpus.root / "truncated.mp4").write_bytes(reference[: len(reference) * 6 // 10])
    files = {
        "reference": reference,
        "random": random.Random(0).randbytes(50_000),
        "text": b"this is a shopping list, not a video\n" * 200,
        "jpeg": _jpeg(),
        "audio": _audio_only(root / "audio.m4a"),
        "zip": _zip_of_zeros(),
        "truncated": reference[: len(reference) * 6 // 10],
        "large": _video(root / "large.mp4", 1.0, 2.0, 320, 240),
        "long": _video(root / "long.mp4", 40.0, 1.0, 32, 32),
        "many_frames": _video(root / "many.mp4", 25.0, 2.0, 32, 32),
    }
    orchestrator = build_orchestrator(config)
    running = build_server(config, orchestrator, ready_poll_s=0.2)
    channel = grpc.insecure_channel(running.target)
    client = VideoSearchClient(running.target, timeout=120, retry=RetryPolicy(max_attempts=1))
    try:
        for ref in corpus.references:
            client.index_file(Path(ref.path), ref.video_id)
        yield Hostile(pb_grpc.VideoSearchStub(channel), client, corpus, files, root)
    finally:
        client.close()
        channel.close()
        running.stop(grace=1.0)
        orchestrator.close()


# -- request builders ---------------------------------------------------------------------
def _index(header: pb.IndexVideoHeader | None, chunks: list[tuple[int, bytes]]) -> list[Any]:
    messages = [] if header is None else [pb.IndexVideoRequest(header=header)]
    return messages + [pb.IndexVideoRequest(chunk=pb.Chunk(sequence=s, data=d)) for s, d in chunks]


def _upload(
    data: bytes, *, total: int | None = -1, sha: str | None = None, chunk: int = 256 * 1024
) -> list[Any]:
    """An IndexVideo stream as the SDK sends it (declared size and digest unless told)."""
    media = pb.MediaSource()
    media.total_bytes = len(data) if total == -1 else (total or 0)
    if total is None:
        media.ClearField("total_bytes")
    media.content_sha256 = sha if sha is not None else hashlib.sha256(data).hexdigest()
    header = pb.IndexVideoHeader(video_id="hostile", media=media)
    pieces = [(i, data[o : o + chunk]) for i, o in enumerate(range(0, len(data), chunk))]
    return _index(header, pieces)


def _uri(uri: str) -> list[Any]:
    return _index(pb.IndexVideoHeader(video_id="hostile", media=pb.MediaSource(source_uri=uri)), [])


def _search(options: dict[str, Any], data: bytes = b"") -> list[Any]:
    header = pb.SearchByVideoHeader(
        options=pb.SearchOptions(**options), media=pb.MediaSource(total_bytes=len(data))
    )
    chunks = [pb.SearchByVideoRequest(chunk=pb.Chunk(sequence=0, data=data))] if data else []
    return [pb.SearchByVideoRequest(header=header), *chunks]


Call = Callable[[Hostile], Any]


def index(build: Callable[[Hostile], list[Any]]) -> Call:
    return lambda h: h.stub.IndexVideo(iter(build(h)), timeout=120)


def search(build: Callable[[Hostile], list[Any]]) -> Call:
    return lambda h: h.stub.SearchByVideo(iter(build(h)), timeout=120)


def file_case(name: str) -> Call:
    return index(lambda h: _upload(h.files[name]))


CASES: list[tuple[str, Call, grpc.StatusCode, str]] = [
    ("zero_length", index(lambda h: _upload(b"")), INVALID, "no bytes"),
    ("random_bytes", file_case("random"), INVALID, "send a video file"),
    ("text_file", file_case("text"), INVALID, "a text file"),
    ("jpeg", file_case("jpeg"), INVALID, "a JPEG image"),
    ("audio_only", file_case("audio"), INVALID, "no video stream"),
    ("zip_of_zeros", file_case("zip"), INVALID, "a ZIP archive"),
    ("truncated_mp4", file_case("truncated"), INVALID, "not a video file that can be read"),
    ("over_max_pixels", file_case("large"), INVALID, "pixels per frame"),
    ("over_max_duration", file_case("long"), INVALID, "cut it into shorter parts"),
    ("over_max_frames", file_case("many_frames"), INVALID, "sampled frames"),
    (
        "declared_over_max_upload",
        index(lambda h: _upload(bytes(MAX_UPLOAD + 1))),
        INVALID,
        f"exceeds the server limit of {MAX_UPLOAD} bytes",
    ),
    (
        "streamed_over_max_upload",
        index(lambda h: _upload(bytes(MAX_UPLOAD + 1), total=None)),
        INVALID,
        f"upload exceeds the server limit of {MAX_UPLOAD} bytes",
    ),
    (
        "total_bytes_short",
        index(lambda h: _upload(h.files["reference"], total=10**6 - 1)),
        INVALID,
        "total_bytes mismatch",
    ),
    (
        "total_bytes_long",
        index(lambda h: _upload(h.files["reference"], total=100)),
        INVALID,
        "larger than the declared total_bytes",
    ),
    (
        "sha256_mismatch",
        index(lambda h: _upload(h.files["reference"], sha="0" * 64)),
        INVALID,
        "content_sha256 mismatch",
    ),
    (
        "sha256_malformed",
        index(lambda h: _upload(h.files["reference"], sha="xyz")),
        INVALID,
        "64 hexadecimal",
    ),
    (
        "chunk_out_of_order",
        index(lambda h: _index(pb.IndexVideoHeader(video_id="v"), [(1, b"a"), (0, b"b")])),
        INVALID,
        "chunk 1 arrived where chunk 0 was expected",
    ),
    (
        "chunk_duplicated",
        index(lambda h: _index(pb.IndexVideoHeader(video_id="v"), [(0, b"a"), (0, b"a")])),
        INVALID,
        "chunk 0 arrived where chunk 1 was expected",
    ),
    (
        "chunk_before_header",
        index(lambda h: _index(None, [(0, b"a")])),
        INVALID,
        "first message of the stream must carry the header",
    ),
    (
        "second_header",
        index(
            lambda h: [
                *_index(pb.IndexVideoHeader(video_id="v"), [(0, b"a")]),
                pb.IndexVideoRequest(header=pb.IndexVideoHeader()),
            ]
        ),
        INVALID,
        "only the first message",
    ),
    (
        "source_uri_missing_file",
        index(lambda h: _uri(str(h.corpus.root / "nope.mp4"))),
        INVALID,
        "no readable file",
    ),
    (
        "source_uri_not_a_video",
        index(lambda h: _uri(str(h.corpus.root / "truncated.mp4"))),
        INVALID,
        "is not a video file that can be read",
    ),
    (
        "source_uri_outside_roots",
        index(lambda h: _uri("/etc/passwd")),
        grpc.StatusCode.PERMISSION_DENIED,
        "outside the directories",
    ),
    (
        "source_uri_dotdot_escape",
        index(lambda h: _uri(f"{h.corpus.root}/../audio.m4a")),
        grpc.StatusCode.PERMISSION_DENIED,
        "outside the directories",
    ),
    (
        "source_uri_relative",
        index(lambda h: _uri("references/r.mp4")),
        INVALID,
        "must be an absolute path",
    ),
    (
        "source_uri_http",
        index(lambda h: _uri("http://example.com/v.mp4")),
        INVALID,
        "unsupported scheme",
    ),
    ("top_k_zero", search(lambda h: _search({"top_k": 0})), INVALID, "top_k must be between"),
    ("top_k_negative", search(lambda h: _search({"top_k": -5})), INVALID, "top_k"),
    ("top_k_huge", search(lambda h: _search({"top_k": 2**31 - 1})), INVALID, "top_k"),
    ("max_hamming_129", search(lambda h: _search({"max_hamming": 129})), INVALID, "max_hamming"),
    (
        "coarse_limit_negative",
        search(lambda h: _search({"coarse_limit": -1})),
        INVALID,
        "coarse_limit",
    ),
    (
        "min_repetition_1_5",
        search(lambda h: _search({"min_repetition": 1.5})),
        INVALID,
        "min_repetition",
    ),
    (
        "max_texture_distance_nan",
        search(lambda h: _search({"max_texture_distance": float("nan")})),
        INVALID,
        "finite number",
    ),
    (
        "unknown_search_mode",
        search(lambda h: _search({"mode": 42})),
        INVALID,
        "unknown search mode",
    ),
    (
        "unknown_model_version",
        search(lambda h: _search({"model_version": 99}, h.files["reference"])),
        grpc.StatusCode.NOT_FOUND,
        "model version 99",
    ),
    (
        "index_empty_id",
        index(lambda h: _index(pb.IndexVideoHeader(video_id=""), [(0, b"a")])),
        INVALID,
        "video_id must not be empty",
    ),
    (
        "index_300_char_id",
        index(lambda h: _index(pb.IndexVideoHeader(video_id="x" * 300), [])),
        INVALID,
        "the limit is 256",
    ),
    (
        "index_control_char_id",
        index(lambda h: _index(pb.IndexVideoHeader(video_id="a\x00b"), [])),
        INVALID,
        "control characters",
    ),
    (
        "get_empty_id",
        lambda h: h.stub.GetVideo(pb.GetVideoRequest(video_id="")),
        INVALID,
        "must not be empty",
    ),
    (
        "get_newline_id",
        lambda h: h.stub.GetVideo(pb.GetVideoRequest(video_id="a\nb")),
        INVALID,
        "control characters",
    ),
    (
        "get_unknown_id",
        lambda h: h.stub.GetVideo(pb.GetVideoRequest(video_id="no-such")),
        grpc.StatusCode.NOT_FOUND,
        "is not indexed",
    ),
    (
        "recommend_k_zero",
        lambda h: h.stub.Recommend(pb.RecommendRequest(video_id="x", k=0)),
        INVALID,
        "k must be between 1 and 100",
    ),
    (
        "recommend_unknown_id",
        lambda h: h.stub.Recommend(pb.RecommendRequest(video_id="no-such")),
        grpc.StatusCode.NOT_FOUND,
        "no indexed video has id 'no-such': recommendations start from a video in the "
        "catalog; index it first, or check the id with GetVideo",
    ),
    (
        "delete_300_char_id",
        lambda h: h.stub.DeleteVideo(pb.DeleteVideoRequest(video_id="y" * 300)),
        INVALID,
        "the limit is 256",
    ),
]


# Media errors name the request's video as the client knows it, never the server's file.
UPLOADED_MEDIA = (
    "random_bytes", "text_file", "jpeg", "audio_only", "zip_of_zeros", "truncated_mp4",
    "over_max_pixels", "over_max_duration", "over_max_frames",
)  # fmt: skip


@pytest.mark.parametrize(("name", "call", "code", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_hostile_input_gets_its_status(
    hostile: Hostile, name: str, call: Call, code: grpc.StatusCode, fragment: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(hostile)
    error: Any = caught.value
    details: str = error.details()
    assert error.code() == code, f"{name}: {error.code()} {details}"
    assert fragment in details, f"{name}: {details!r}"
    for server_path in (hostile.root / "uploads", hostile.root / "catalog"):
        assert str(server_path) not in details, f"{name}: {details!r}"
    assert "upload-" not in details and ".part" not in details, f"{name}: {details!r}"
    if name in UPLOADED_MEDIA:
        assert details.startswith("the uploaded file "), f"{name}: {details!r}"
    if name == "source_uri_not_a_video":
        uri = str(hostile.corpus.root / "truncated.mp4")
        assert details.startswith(f"source_uri {uri!r} "), details


def test_delete_unknown_id_is_ok_and_false(hostile: Hostile) -> None:
    assert hostile.stub.DeleteVideo(pb.DeleteVideoRequest(video_id="no-such")).deleted is False


def test_server_still_serves_correct_results(hostile: Hostile) -> None:
    stats = hostile.client.stats()
    assert stats.videos == len(hostile.corpus.references)  # nothing hostile got indexed
    assert hostile.client.health() == "SERVING"
    query = hostile.corpus.queries[0]
    result = hostile.client.search_video(Path(query.path))
    assert result.hits and result.hits[0].video.video_id == query.reference_id
    assert not list((hostile.root / "uploads").glob("upload-*"))  # no temp file left behind
