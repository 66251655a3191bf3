"""Fixtures: the real vidsearch gRPC server on a free loopback port, over a small in-test
SearchBackend (the real orchestrator behind this server is exercised by the lead's
tests/integration). Calls go through the real SDK."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from vidsearch_client import RetryPolicy, VideoSearchClient

from vidsearch.catalog.base import VideoInfo, VideoNotFoundError
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import FRAME_ENCODER
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import (
    IndexResult,
    MatchedSegment,
    SearchHit,
    SearchOptions,
    SearchResult,
    ServiceStats,
)
from vidsearch.service.server import RunningServer, build_server

MAX_UPLOAD = 64 * 1024


@dataclass
class FakeBackend:
    """In-memory SearchBackend: records what the service hands it; can be told to fail."""

    videos: dict[str, VideoInfo] = field(default_factory=dict)
    received: dict[str, bytes] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    fail_with: BaseException | None = None
    ready: bool = True
    search_delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls_to(self, name: str) -> list[dict[str, object]]:
        """Arguments of each call to ``name`` (the health poller also calls stats)."""
        with self.lock:
            return [kwargs for called, kwargs in self.calls if called == name]

    def _enter(self, name: str, **kwargs: object) -> None:
        with self.lock:
            self.calls.append((name, kwargs))
        if self.fail_with is not None:
            raise self.fail_with

    def index_video(
        self,
        path: Path,
        *,
        video_id: str,
        title: str,
        tags: tuple[str, ...],
        source: str,
        content_sha256: str,
        budget: RequestBudget | None = None,
    ) -> IndexResult:
        self._enter(
            "index_video", path=path, source=source, content_sha256=content_sha256, budget=budget
        )
        data = path.read_bytes()
        info = VideoInfo(
            video_id=video_id,
            duration_s=len(data) / 1000.0,
            model_version=1,
            keyframe_count=max(1, len(data) // 1000),
            title=title,
            tags=tags,
            source=source,
            content_sha256=content_sha256 or hashlib.sha256(data).hexdigest(),
        )
        replaced = video_id in self.videos
        self.videos[video_id] = info
        self.received[video_id] = data
        return IndexResult(video=info, replaced=replaced)

    def delete_video(self, video_id: str) -> bool:
        self._enter("delete_video", video_id=video_id)
        return self.videos.pop(video_id, None) is not None

    def get_video(self, video_id: str) -> VideoInfo | None:
        self._enter("get_video", video_id=video_id)
        return self.videos.get(video_id)

    def search_by_video(
        self,
        path: Path,
        options: SearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> SearchResult:
        self._enter(
            "search_by_video",
            options=options,
            timeout_s=timeout_s,
            budget=budget,
            size=path.stat().st_size,
        )
        if self.search_delay_s:
            time.sleep(self.search_delay_s)
        hits = tuple(
            SearchHit(
                video=info,
                score=1.0 / (rank + 1),
                hamming=rank,
                texture_distance=0.5 * rank,
                repetition=0.9,
                segments=(MatchedSegment(0.0, 2.0, 10.0, 12.0, 0.8),),
            )
            for rank, info in enumerate(sorted(self.videos.values(), key=lambda v: v.video_id))
        )
        return SearchResult(
            hits=hits[: options.top_k or 10],
            query_duration_s=path.stat().st_size / 1000.0,
            model_version=1,
            mode=options.mode or "keyframe",
            stage_seconds={"decode": 0.01, "encode": 0.02, "coarse": 0.001},
        )

    def recommend(self, video_id: str, k: int | None) -> list[tuple[VideoInfo, float]]:
        self._enter("recommend", video_id=video_id, k=k)
        if video_id not in self.videos:
            raise VideoNotFoundError(f"video {video_id!r} is not indexed")
        others = [v for v in self.videos.values() if v.video_id != video_id]
        return [(v, 0.9 - 0.1 * i) for i, v in enumerate(others[: k or 5])]

    def stats(self) -> ServiceStats:
        self._enter("stats")
        return ServiceStats(
            videos=len(self.videos),
            keyframes=sum(v.keyframe_count for v in self.videos.values()),
            model_name=FRAME_ENCODER.name,
            model_version=1,
            inference_backend="fake",
            catalog_backend="memory",
        )

    def is_ready(self) -> bool:
        return self.ready


@dataclass
class Served:
    server: RunningServer
    backend: FakeBackend
    client: VideoSearchClient
    upload_dir: Path


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def served(tmp_path: Path, backend: FakeBackend) -> Iterator[Served]:
    config = VidsearchConfig(
        server={  # type: ignore[arg-type]
            "host": "127.0.0.1",
            "port": 0,
            "metrics_port": 0,
            "max_workers": 4,
            "upload_dir": str(tmp_path / "uploads"),
            "allowed_containers": [],  # the fake backend takes any bytes, not only videos
        },
        media={"max_upload_bytes": MAX_UPLOAD},  # type: ignore[arg-type]
    )
    running = build_server(config, backend, ready_poll_s=0.05, stats_poll_s=0.05)
    client = VideoSearchClient(running.target, timeout=10.0, retry=RetryPolicy(max_attempts=1))
    try:
        yield Served(running, backend, client, tmp_path / "uploads")
    finally:
        client.close()
        running.stop(grace=None)


@pytest.fixture
def raw_stub(served: Served) -> Iterator[object]:
    """The generated stub, for streams the SDK would never send (bad chunks, headers)."""
    import grpc
    from vidsearch_client.v1 import vidsearch_pb2_grpc

    channel = grpc.insecure_channel(served.server.target)
    try:
        yield vidsearch_pb2_grpc.VideoSearchStub(channel)
    finally:
        channel.close()
