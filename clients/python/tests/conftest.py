"""A tiny scripted VideoSearch servicer on a real loopback gRPC server.

It has no search logic: it records what the SDK sends and fails on demand, which is all
the SDK-only behaviour (chunking, retries with backoff on UNAVAILABLE, deadlines,
metadata, error mapping, CLI output) needs. The real server is tested in tests/service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc


@dataclass
class Upload:
    header: Any
    chunks: list[Any]
    metadata: dict[str, str]

    @property
    def data(self) -> bytes:
        return b"".join(chunk.data for chunk in self.chunks)


@dataclass
class TinyServicer(pb_grpc.VideoSearchServicer):
    """Records every call; ``fail`` is a queue of status codes to answer with first."""

    uploads: list[Upload] = field(default_factory=list)
    unary: list[tuple[str, Any, dict[str, str]]] = field(default_factory=list)
    # a code to abort with, or a grpc.Status (with google.rpc details) to abort with
    fail: list[grpc.StatusCode | grpc.Status] = field(default_factory=list)
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    inflight: int = 0
    max_inflight: int = 0  # the most calls that were inside the servicer at once
    abandoned: int = 0  # calls whose client went away during the delay (cancelled, deadline)

    def _script(self, context: Any) -> None:
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            end = time.monotonic() + self.delay_s
            while time.monotonic() < end:
                if not context.is_active():
                    with self.lock:
                        self.abandoned += 1
                    break
                time.sleep(0.005)
        finally:
            with self.lock:
                self.inflight -= 1
        with self.lock:
            code = self.fail.pop(0) if self.fail else None
        if isinstance(code, grpc.StatusCode):
            context.set_trailing_metadata((("x-request-id", "req-123"),))
            context.abort(code, f"scripted {code.name}")
        elif code is not None:
            context.abort_with_status(code)

    def _record_upload(self, requests: Iterator[Any], context: Any) -> Upload:
        first = next(requests)
        upload = Upload(
            first.header, [r.chunk for r in requests], dict(context.invocation_metadata())
        )
        with self.lock:
            self.uploads.append(upload)
        self._script(context)
        return upload

    def _record(self, name: str, request: Any, context: Any) -> None:
        with self.lock:
            self.unary.append((name, request, dict(context.invocation_metadata())))
        self._script(context)

    @staticmethod
    def _video(video_id: str, title: str = "") -> pb.VideoInfo:
        return pb.VideoInfo(
            video_id=video_id, duration_s=12.5, model_version=2, keyframe_count=13, title=title
        )

    def IndexVideo(self, request_iterator: Iterator[Any], context: Any) -> Any:
        upload = self._record_upload(request_iterator, context)
        header = upload.header
        info = self._video(header.video_id, header.title)
        info.tags.extend(header.tags)
        info.content_sha256 = header.media.content_sha256
        info.source = header.media.source_uri or "upload"
        return pb.IndexVideoResponse(video=info, replaced=False)

    def SearchByVideo(self, request_iterator: Iterator[Any], context: Any) -> Any:
        self._record_upload(request_iterator, context)
        hit = pb.SearchHit(
            video=self._video("ref-1", "Reference one"),
            score=0.93,
            hamming=7,
            texture_distance=0.12,
            repetition=0.8,
            segments=[pb.MatchedSegment(query_start_s=1, query_end_s=4, reference_start_s=10,
                                        reference_end_s=13, score=0.9)],
        )  # fmt: skip
        return pb.SearchResponse(
            hits=[hit, pb.SearchHit(video=self._video("ref-2"), score=0.5, hamming=20)],
            query_duration_s=6.0,
            model_version=2,
            mode=pb.SEARCH_MODE_KEYFRAME,
            stages=[pb.StageTiming(stage="decode", seconds=0.2),
                    pb.StageTiming(stage="rerank", seconds=0.01)],
        )  # fmt: skip

    def SearchByText(self, request: Any, context: Any) -> Any:
        self._record("SearchByText", request, context)
        text = pb.TextMatch(embedding_similarity=0.41, rescored=True, score=0.7, fine=0.3,
                            coarse=0.4)
        return pb.SearchResponse(
            hits=[pb.SearchHit(video=self._video("ref-3"), score=0.7, text=text),
                  pb.SearchHit(video=self._video("ref-4"), score=0.2,
                               text=pb.TextMatch(embedding_similarity=0.2))],
            model_version=1,
            keywords=["red circle", "circle"],
            stages=[pb.StageTiming(stage="text_encode", seconds=0.05)],
        )  # fmt: skip

    def DeleteVideo(self, request: Any, context: Any) -> Any:
        self._record("DeleteVideo", request, context)
        return pb.DeleteVideoResponse(deleted=request.video_id != "missing")

    def GetVideo(self, request: Any, context: Any) -> Any:
        self._record("GetVideo", request, context)
        if request.video_id == "missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "video 'missing' is not indexed")
        return pb.GetVideoResponse(video=self._video(request.video_id))

    def Recommend(self, request: Any, context: Any) -> Any:
        self._record("Recommend", request, context)
        k = request.k if request.HasField("k") else 5
        return pb.RecommendResponse(
            neighbours=[
                pb.Neighbour(video=self._video(f"n{i}"), score=1 - i / 10) for i in range(k)
            ]
        )

    def ListVideos(self, request: Any, context: Any) -> Any:
        """Seven videos, ``page_size`` (default 3) a page; the token is the next index."""
        self._record("ListVideos", request, context)
        start = int(request.page_token or 0)
        size = request.page_size if request.HasField("page_size") else 3
        end = min(start + size, 7)
        return pb.ListVideosResponse(videos=[self._video(f"v{i}") for i in range(start, end)],
                                     next_page_token=str(end) if end < 7 else "")

    def UpdateVideo(self, request: Any, context: Any) -> Any:
        self._record("UpdateVideo", request, context)
        video = self._video(request.video.video_id, request.video.title)
        video.tags.extend(request.video.tags)
        return pb.UpdateVideoResponse(video=video)

    def Stats(self, request: Any, context: Any) -> Any:
        self._record("Stats", request, context)
        return pb.StatsResponse(videos=3, keyframes=39, model_name="frame_encoder",
                                model_version=2, inference_backend="onnxruntime",
                                catalog_backend="qdrant_edge")  # fmt: skip


@dataclass
class Tiny:
    target: str
    servicer: TinyServicer
    health: health.HealthServicer


@pytest.fixture
def tiny() -> Iterator[Tiny]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = TinyServicer()
    pb_grpc.add_VideoSearchServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield Tiny(f"127.0.0.1:{port}", servicer, health_servicer)
    finally:
        server.stop(None)
