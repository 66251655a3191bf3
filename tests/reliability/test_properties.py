"""Property-based tests (hypothesis, bounded in time): the decoder on arbitrary and mutated
bytes, and the request messages through the real gRPC servicer.

Decoder: any input gives frames or a MediaError, never another exception. Requests: any
message gives OK, INVALID_ARGUMENT or NOT_FOUND, never INTERNAL; options the service
accepts are also accepted by the orchestrator's own check (the two never disagree).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

from vidsearch.catalog.base import VideoInfo, VideoNotFoundError
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER
from vidsearch.media.decode import DecodedVideo, decode_video
from vidsearch.media.errors import MediaError, UnsupportedMediaError
from vidsearch.media.synthetic import render_video, write_video
from vidsearch.orchestrator.api import IndexResult, SearchOptions, SearchResult, ServiceStats
from vidsearch.orchestrator.options import resolve_search_options
from vidsearch.service.convert import check_id, options_from_proto
from vidsearch.service.errors import ServiceError
from vidsearch.service.server import RunningServer, build_server

FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DECODE_LIMITS: dict[str, Any] = {
    "fps": 2.0, "size": 16, "max_frames": 30, "max_pixels": 640 * 480,
    "max_duration_s": 60.0, "timeout_s": 5.0,
}  # fmt: skip
ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}


def _decode_or_media_error(data: bytes) -> None:
    try:
        decoded = decode_video(data, **DECODE_LIMITS)
    except MediaError as exc:
        assert str(exc)  # every media error says something
        return
    assert isinstance(decoded, DecodedVideo) and len(decoded.frames) >= 1
    assert decoded.frames.shape[1:] == (16, 16, 3)


@pytest.fixture(scope="module")
def mp4_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("prop") / "v.mp4"
    return write_video(path, render_video(2, 2.0, 4.0, 32, 32), 4.0).read_bytes()


@FAST
@given(st.binary(max_size=4096))
def test_decoder_on_arbitrary_bytes(data: bytes) -> None:
    _decode_or_media_error(data)


@FAST
@given(st.data())
def test_decoder_on_mutated_mp4(mp4_bytes: bytes, data: st.DataObject) -> None:
    blob = bytearray(mp4_bytes)
    edits = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)), min_size=1, max_size=16
        )
    )
    for offset, value in edits:
        blob[offset] = value
    cut = data.draw(st.integers(0, len(blob)))
    if data.draw(st.booleans()):
        blob = blob[:cut]  # truncated as well
    _decode_or_media_error(bytes(blob))


def _patched(blob: bytes, marker: bytes, offset: int, value: int) -> bytes:
    at = blob.rindex(marker) + offset  # the last: avc1 is also a brand in ftyp
    return blob[:at] + bytes([value]) + blob[at + 1 :]


def test_fuzzing_regressions(mp4_bytes: bytes) -> None:
    """Inputs hypothesis/fuzzing found that once escaped as non-media exceptions."""
    non_utf8_brand = _patched(mp4_bytes, b"ftypisom", 4, 0x80)  # UnicodeDecodeError
    unknown_codec = _patched(mp4_bytes, b"avc1", 1, 0xCA)  # stsd entry: codec_context None
    for blob in (non_utf8_brand, unknown_codec):
        _decode_or_media_error(blob)
    with pytest.raises(UnsupportedMediaError, match="re-encode it as H"):
        decode_video(unknown_codec)


OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.integers(-3, 8),
        "top_k": st.integers(-(2**31), 2**31 - 1),
        "max_hamming": st.integers(-(2**31), 2**31 - 1),
        "coarse_limit": st.integers(-(2**31), 2**31 - 1),
        "model_version": st.integers(-(2**31), 2**31 - 1),
        "max_texture_distance": st.floats(allow_nan=True, allow_infinity=True),
        "min_repetition": st.floats(allow_nan=True, allow_infinity=True),
    },
)
IDS = st.one_of(st.text(max_size=300), st.text(alphabet=st.characters(max_codepoint=0x9F)))


@FAST
@given(OPTIONS)
def test_service_and_orchestrator_agree_on_options(fields: dict[str, Any]) -> None:
    try:
        options = options_from_proto(pb.SearchOptions(**fields))
    except ServiceError as exc:
        assert exc.code == grpc.StatusCode.INVALID_ARGUMENT and exc.message
        return
    resolved = resolve_search_options(options, VidsearchConfig().search)
    assert 1 <= resolved.top_k <= 1000 and 0 <= resolved.max_hamming <= 128
    assert resolved.max_texture_distance is None or not math.isnan(resolved.max_texture_distance)


@FAST
@given(IDS)
def test_ids_are_accepted_unchanged_or_rejected(video_id: str) -> None:
    try:
        assert check_id(video_id) == video_id
    except ServiceError as exc:
        assert exc.code == grpc.StatusCode.INVALID_ARGUMENT and exc.message


class _Backend:
    """Knows one video, answers everything else as not found: enough to reach validation."""

    info = VideoInfo(video_id="known", duration_s=1.0, model_version=1, keyframe_count=1)

    def index_video(self, path: Path, **kwargs: Any) -> IndexResult:
        return IndexResult(video=VideoInfo(kwargs["video_id"], 1.0, 1, 1), replaced=False)

    def delete_video(self, video_id: str) -> bool:
        return video_id == "known"

    def get_video(self, video_id: str) -> VideoInfo | None:
        return self.info if video_id == "known" else None

    def search_by_video(self, path: Path, options: SearchOptions, **_: Any) -> SearchResult:
        return SearchResult(hits=(), query_duration_s=1.0, model_version=1, mode="duration")

    def recommend(self, video_id: str, k: int | None) -> list[tuple[VideoInfo, float]]:
        if video_id != "known":
            raise VideoNotFoundError(f"video {video_id!r} is not indexed")
        return []

    def stats(self) -> ServiceStats:
        return ServiceStats(1, 1, FRAME_ENCODER.name, 1, "fake", "memory")

    def is_ready(self) -> bool:
        return True


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pb_grpc.VideoSearchStub]:
    config = VidsearchConfig()
    config.server.port = 0
    config.server.upload_dir = tmp_path_factory.mktemp("prop-uploads")
    config.server.allowed_containers = []  # the backend does not decode
    running: RunningServer = build_server(config, _Backend(), with_metrics=False)
    channel = grpc.insecure_channel(running.target)
    try:
        yield pb_grpc.VideoSearchStub(channel)
    finally:
        channel.close()
        running.stop(grace=None)


def _code(call: Any) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        assert exc.details()
        return exc.code()
    return grpc.StatusCode.OK


@FAST
@given(OPTIONS, st.binary(max_size=64))
def test_search_requests_never_fail_internally(
    stub: pb_grpc.VideoSearchStub, fields: dict[str, Any], data: bytes
) -> None:
    header = pb.SearchByVideoHeader(options=pb.SearchOptions(**fields))
    messages = [pb.SearchByVideoRequest(header=header)]
    if data:
        messages.append(pb.SearchByVideoRequest(chunk=pb.Chunk(sequence=0, data=data)))
    assert _code(lambda: stub.SearchByVideo(iter(messages), timeout=10)) in ALLOWED


@FAST
@given(IDS, st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), st.lists(IDS, max_size=3))
def test_id_requests_never_fail_internally(
    stub: pb_grpc.VideoSearchStub, video_id: str, k: int | None, tags: list[str]
) -> None:
    assert (
        _code(lambda: stub.GetVideo(pb.GetVideoRequest(video_id=video_id), timeout=10)) in ALLOWED
    )
    assert (
        _code(lambda: stub.DeleteVideo(pb.DeleteVideoRequest(video_id=video_id), timeout=10))
        in ALLOWED
    )
    request = (
        pb.RecommendRequest(video_id=video_id, k=k)
        if k is not None
        else pb.RecommendRequest(video_id=video_id)
    )
    assert _code(lambda: stub.Recommend(request, timeout=10)) in ALLOWED
    header = pb.IndexVideoHeader(video_id=video_id, title=video_id, tags=tags)
    stream = [pb.IndexVideoRequest(header=header), pb.IndexVideoRequest(chunk=pb.Chunk(data=b"x"))]
    assert _code(lambda: stub.IndexVideo(iter(stream), timeout=10)) in ALLOWED
