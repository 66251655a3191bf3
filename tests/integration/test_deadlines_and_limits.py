"""Deadlines, cancellation and stage limits through the real gRPC server and orchestrator
(starter models on embedded ONNX Runtime, Qdrant Edge catalog).

The decode stage is limited to 1 running + 1 queued request. To make "a request is
waiting in the pipeline" deterministic, the test itself holds the decode stage's only
slot through the orchestrator's real limiter (``stage_limits.decode.acquire()``): that
is a hook into the real object, not a stand-in. Metrics show where a request stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from vidsearch_client import RetryPolicy, VideoSearchClient
from vidsearch_client.errors import VidsearchError
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

from vidsearch import metrics
from vidsearch.config import StageLimitConfig, VidsearchConfig
from vidsearch.media.synthetic import generate_video_file
from vidsearch.orchestrator.admission import StageLimiter
from vidsearch.orchestrator.factory import build_orchestrator
from vidsearch.orchestrator.orchestrator import Orchestrator
from vidsearch.service.server import build_server

PIPELINE = "search_duration"  # the default mode's pipeline label


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def _stopped(stage: str, reason: str) -> float:
    return _sample("vidsearch_requests_stopped_total", stage=stage, reason=reason)


def _stage_runs(stage: str) -> float:
    return _sample("vidsearch_stage_seconds_count", pipeline=PIPELINE, stage=stage)


def _wait_until(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@dataclass
class Live:
    target: str
    orchestrator: Orchestrator
    video: Path


@pytest.fixture(scope="module")
def server(starter_repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("deadlines")
    config = VidsearchConfig()
    config.inference.model_repository = starter_repository
    config.catalog.path = root / "catalog"
    config.server.port = config.server.metrics_port = 0
    config.server.upload_dir = root / "uploads"
    config.server.stage_limits.decode = StageLimitConfig(concurrency=1, queue=1, queue_wait_s=20)
    orchestrator = build_orchestrator(config)
    video = generate_video_file(root / "v.mp4", 7, 6.0, fps=8.0, width=128, height=96)
    orchestrator.index_video(video, video_id="v")
    running = build_server(config, orchestrator, with_metrics=False, ready_poll_s=0.2)
    try:
        yield Live(running.target, orchestrator, video)
    finally:
        running.stop(grace=1.0)
        orchestrator.close()


@pytest.fixture
def decode_slot(server: Live) -> Iterator[StageLimiter]:
    """The decode stage's only slot, held by the test until it ends."""
    limiter = server.orchestrator.stage_limits.decode
    limiter.acquire()
    try:
        yield limiter
    finally:
        limiter.release()


def _client(target: str) -> VideoSearchClient:
    return VideoSearchClient(target, retry=RetryPolicy(max_attempts=1), timeout=30)


def _search_in_background(target: str, video: Path) -> tuple[grpc.Channel, grpc.Future]:
    data = video.read_bytes()
    header = pb.SearchByVideoHeader(
        options=pb.SearchOptions(top_k=3), media=pb.MediaSource(total_bytes=len(data))
    )
    requests = [
        pb.SearchByVideoRequest(header=header),
        pb.SearchByVideoRequest(chunk=pb.Chunk(sequence=0, data=data)),
    ]
    channel = grpc.insecure_channel(target)
    future = pb_grpc.VideoSearchStub(channel).SearchByVideo.future(iter(requests), timeout=60)
    return channel, future


def _still_serving(target: str, video: Path) -> None:
    with _client(target) as client:
        assert client.health() == "SERVING"
        assert client.search_video(video, top_k=3).hits[0].video.video_id == "v"


def test_too_short_deadline_is_deadline_exceeded_and_work_stops(
    server: Live, decode_slot: StageLimiter
) -> None:
    live, video = server, server.video
    stopped, decodes = _stopped("decode", "deadline"), _stage_runs("decode")
    started = time.monotonic()
    with _client(live.target) as client, pytest.raises(VidsearchError) as err:
        client.search_video(video, top_k=3, timeout=1.5)
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 5  # the deadline, not the 20 s queue wait
    _wait_until(lambda: _stopped("decode", "deadline") == stopped + 1)
    _wait_until(lambda: decode_slot.queued == 0)
    assert _stage_runs("decode") == decodes  # it never decoded: stopped while queued
    decode_slot.release()
    try:
        _still_serving(live.target, video)
    finally:
        decode_slot.acquire()  # the fixture releases it


def test_cancelled_call_stops_its_pipeline(server: Live, decode_slot: StageLimiter) -> None:
    live, video = server, server.video
    stopped, decodes = _stopped("decode", "cancelled"), _stage_runs("decode")
    channel, future = _search_in_background(live.target, video)
    try:
        _wait_until(lambda: decode_slot.queued == 1)  # uploaded, waiting for decode
        assert future.cancel()
        _wait_until(lambda: _stopped("decode", "cancelled") == stopped + 1)
        _wait_until(lambda: decode_slot.queued == 0)
        assert _stage_runs("decode") == decodes
        assert decode_slot.in_flight == 1  # only the test's own slot: nothing else runs
    finally:
        channel.close()
    decode_slot.release()
    try:
        _still_serving(live.target, video)
    finally:
        decode_slot.acquire()


def test_full_stage_queue_is_resource_exhausted_at_once(
    server: Live, decode_slot: StageLimiter
) -> None:
    live, video = server, server.video
    channel, queued_call = _search_in_background(live.target, video)
    try:
        _wait_until(lambda: decode_slot.queued == 1)  # the one queue place is taken
        started = time.monotonic()
        with _client(live.target) as client, pytest.raises(VidsearchError) as err:
            client.search_video(video, top_k=3)
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "decode stage is full" in err.value.message
        assert time.monotonic() - started < 5
        decode_slot.release()  # the queued search now runs to the end
        try:
            response = queued_call.result(timeout=60)
            assert response.hits[0].video.video_id == "v"
        finally:
            decode_slot.acquire()
    finally:
        channel.close()
