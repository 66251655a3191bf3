"""The gRPC servicer: validates and translates proto ⇄ orchestrator domain types.

No business logic lives here: uploads become a local file (``uploads``), fields are
checked, the backend (the orchestrator, duck-typed as :class:`SearchBackend`) is called,
and its exceptions become status codes (``errors``). Every call records RPC metrics and
returns its request id in the trailing metadata ``x-request-id``.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

from vidsearch import metrics
from vidsearch.catalog.base import VideoInfo
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import (
    IndexResult,
    SearchMode,
    SearchOptions,
    SearchResult,
    ServiceStats,
)
from vidsearch.service.errors import ServiceError, invalid_argument, to_status
from vidsearch.service.uploads import UploadLimits, receive_media

log = logging.getLogger(__name__)
T = TypeVar("T")

REQUEST_ID_KEY = "x-request-id"
MAX_ID_CHARS = 256
MAX_TITLE_CHARS = 1024
MAX_TAGS = 64
MAX_TAG_CHARS = 128
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_MODES: dict[int, SearchMode] = {
    pb.SEARCH_MODE_TEXTURE: "texture",
    pb.SEARCH_MODE_DURATION: "duration",
    pb.SEARCH_MODE_KEYFRAME: "keyframe",
}
_MODES_TO_PROTO = {name: value for value, name in _MODES.items()}


class SearchBackend(Protocol):
    """What the service needs from the orchestrator."""

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
    ) -> IndexResult: ...

    def delete_video(self, video_id: str) -> bool: ...

    def get_video(self, video_id: str) -> VideoInfo | None: ...

    def search_by_video(
        self,
        path: Path,
        options: SearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> SearchResult: ...

    def recommend(self, video_id: str, k: int | None) -> list[tuple[VideoInfo, float]]: ...

    def stats(self) -> ServiceStats: ...

    def is_ready(self) -> bool: ...


# -- validation ---------------------------------------------------------------------------
def check_text(name: str, value: str, *, max_chars: int, required: bool = False) -> str:
    """Non-empty when required, bounded, and free of control characters."""
    if required and not value:
        raise invalid_argument(f"{name} must not be empty")
    if len(value) > max_chars:
        raise invalid_argument(f"{name} is {len(value)} characters long; the limit is {max_chars}")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise invalid_argument(f"{name} must not contain control characters")
    return value


def check_id(value: str, name: str = "video_id") -> str:
    return check_text(name, value, max_chars=MAX_ID_CHARS, required=True)


def check_tags(tags: Any) -> tuple[str, ...]:
    if len(tags) > MAX_TAGS:
        raise invalid_argument(f"at most {MAX_TAGS} tags are allowed, got {len(tags)}")
    return tuple(check_text("tag", t, max_chars=MAX_TAG_CHARS, required=True) for t in tags)


def _int_in(msg: Any, name: str, low: int, high: int) -> int | None:
    if not msg.HasField(name):
        return None
    value = int(getattr(msg, name))
    if not low <= value <= high:
        raise invalid_argument(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float_in(msg: Any, name: str, low: float, high: float) -> float | None:
    if not msg.HasField(name):
        return None
    value = float(getattr(msg, name))
    if not (math.isfinite(value) and low <= value <= high):
        raise invalid_argument(f"{name} must be a finite number in [{low}, {high}], got {value}")
    return value


def options_from_proto(msg: pb.SearchOptions) -> SearchOptions:
    """Unset fields stay None so the orchestrator applies the configured defaults."""
    mode: SearchMode | None = None
    if msg.mode != pb.SEARCH_MODE_UNSPECIFIED:
        if msg.mode not in _MODES:
            raise invalid_argument(f"unknown search mode {msg.mode}")
        mode = _MODES[msg.mode]
    return SearchOptions(
        mode=mode,
        top_k=_int_in(msg, "top_k", 1, 1000),
        max_hamming=_int_in(msg, "max_hamming", 0, 128),
        coarse_limit=_int_in(msg, "coarse_limit", 1, 100_000),
        max_texture_distance=_float_in(msg, "max_texture_distance", 0.0, math.inf),
        min_repetition=_float_in(msg, "min_repetition", 0.0, 1.0),
        model_version=_int_in(msg, "model_version", 1, 2**31 - 1),
    )


# -- domain → proto -----------------------------------------------------------------------
def video_to_proto(info: VideoInfo) -> pb.VideoInfo:
    return pb.VideoInfo(
        video_id=info.video_id,
        duration_s=info.duration_s,
        model_version=info.model_version,
        keyframe_count=info.keyframe_count,
        title=info.title,
        tags=list(info.tags),
        source=info.source,
        content_sha256=info.content_sha256,
    )


def search_to_proto(result: SearchResult) -> pb.SearchResponse:
    hits = [
        pb.SearchHit(
            video=video_to_proto(hit.video),
            score=hit.score,
            hamming=hit.hamming,
            texture_distance=hit.texture_distance,
            repetition=hit.repetition,
            segments=[
                pb.MatchedSegment(
                    query_start_s=s.query_start_s,
                    query_end_s=s.query_end_s,
                    reference_start_s=s.reference_start_s,
                    reference_end_s=s.reference_end_s,
                    score=s.score,
                )
                for s in hit.segments
            ],
        )
        for hit in result.hits
    ]
    return pb.SearchResponse(
        hits=hits,
        query_duration_s=result.query_duration_s,
        model_version=result.model_version,
        mode=_MODES_TO_PROTO.get(result.mode, pb.SEARCH_MODE_UNSPECIFIED),  # type: ignore[arg-type, unused-ignore]
        stages=[pb.StageTiming(stage=k, seconds=v) for k, v in result.stage_seconds.items()],
    )


def _first_header(requests: Iterator[Any]) -> Any:
    first = next(requests, None)
    if first is None or first.WhichOneof("message") != "header":
        raise invalid_argument("the first message of the stream must carry the header")
    return first.header


def _request_id(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id when it is a safe token, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _CLIENT_REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex[:16]


def check_time(context: grpc.ServicerContext) -> float | None:
    """Seconds left before the caller's deadline; fail now rather than work for nobody."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")
    return remaining


def request_budget(context: grpc.ServicerContext) -> RequestBudget:
    """The call's remaining deadline, cancelled when the call ends early (client cancel,
    deadline, disconnect), so the orchestrator stops working for nobody."""
    budget = RequestBudget(check_time(context))
    # Runs on every termination; after a normal one the work is over and nothing checks.
    if not context.add_callback(budget.cancel):
        budget.cancel()  # the call had already ended
    return budget


class VideoSearchServicer(pb_grpc.VideoSearchServicer):
    """Implements vidsearch.v1.VideoSearch on a :class:`SearchBackend`."""

    def __init__(self, backend: SearchBackend, limits: UploadLimits) -> None:
        self._backend = backend
        self._limits = limits

    def _serve(self, method: str, context: grpc.ServicerContext, body: Callable[[], T]) -> T:
        """Run ``body`` with metrics, request id and exception → status mapping."""
        request_id = _request_id(context)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        metrics.INFLIGHT.labels(method=method).inc()
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        message = ""
        try:
            return body()
        except Exception as exc:
            if context.is_active():
                code, message = to_status(exc, request_id, method)
            else:  # the caller gave up or timed out; nobody reads this answer
                remaining = context.time_remaining()
                expired = remaining is not None and remaining <= 0
                code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
                message = "deadline exceeded" if expired else "cancelled by the client"
        finally:
            elapsed = time.perf_counter() - start
            metrics.INFLIGHT.labels(method=method).dec()
            metrics.RPC_SECONDS.labels(method=method).observe(elapsed)
            metrics.RPC_TOTAL.labels(method=method, code=code.name).inc()
            log.info(
                "rpc %s %s",
                method,
                code.name,
                extra={"request_id": request_id, "method": method, "code": code.name,
                       "seconds": round(elapsed, 6)},
            )  # fmt: skip
        context.abort(code, message)
        raise AssertionError("unreachable: context.abort raises")

    # -- RPCs -----------------------------------------------------------------------------
    def IndexVideo(self, request_iterator: Iterator[Any], context: Any) -> pb.IndexVideoResponse:
        def body() -> pb.IndexVideoResponse:
            header = _first_header(request_iterator)
            video_id = check_id(header.video_id)
            title = check_text("title", header.title, max_chars=MAX_TITLE_CHARS)
            tags = check_tags(header.tags)
            limits, time_left = self._limits, context.time_remaining
            with receive_media(header.media, request_iterator, limits, time_left) as media:
                result = self._backend.index_video(
                    media.path,
                    video_id=video_id,
                    title=title,
                    tags=tags,
                    source=media.source,
                    content_sha256=media.sha256,
                    budget=request_budget(context),
                )
            return pb.IndexVideoResponse(
                video=video_to_proto(result.video),
                replaced=result.replaced,
                duplicate_of=list(result.duplicate_of),
            )

        return self._serve("IndexVideo", context, body)

    def DeleteVideo(self, request: pb.DeleteVideoRequest, context: Any) -> pb.DeleteVideoResponse:
        def body() -> pb.DeleteVideoResponse:
            video_id = check_id(request.video_id)
            check_time(context)
            return pb.DeleteVideoResponse(deleted=bool(self._backend.delete_video(video_id)))

        return self._serve("DeleteVideo", context, body)

    def GetVideo(self, request: pb.GetVideoRequest, context: Any) -> pb.GetVideoResponse:
        def body() -> pb.GetVideoResponse:
            video_id = check_id(request.video_id)
            check_time(context)
            info = self._backend.get_video(video_id)
            if info is None:
                raise ServiceError(grpc.StatusCode.NOT_FOUND, f"video {video_id!r} is not indexed")
            return pb.GetVideoResponse(video=video_to_proto(info))

        return self._serve("GetVideo", context, body)

    def SearchByVideo(self, request_iterator: Iterator[Any], context: Any) -> pb.SearchResponse:
        def body() -> pb.SearchResponse:
            header = _first_header(request_iterator)
            options = options_from_proto(header.options)
            limits, time_left = self._limits, context.time_remaining
            with receive_media(header.media, request_iterator, limits, time_left) as media:
                budget = request_budget(context)
                result = self._backend.search_by_video(
                    media.path, options, timeout_s=budget.remaining(), budget=budget
                )
            return search_to_proto(result)

        return self._serve("SearchByVideo", context, body)

    def Recommend(self, request: pb.RecommendRequest, context: Any) -> pb.RecommendResponse:
        def body() -> pb.RecommendResponse:
            video_id = check_id(request.video_id)
            k = _int_in(request, "k", 1, 100)
            check_time(context)
            neighbours = self._backend.recommend(video_id, k)
            return pb.RecommendResponse(
                neighbours=[pb.Neighbour(video=video_to_proto(v), score=s) for v, s in neighbours]
            )

        return self._serve("Recommend", context, body)

    def Stats(self, request: pb.StatsRequest, context: Any) -> pb.StatsResponse:
        def body() -> pb.StatsResponse:
            check_time(context)
            stats = self._backend.stats()
            metrics.CATALOG_VIDEOS.set(stats.videos)
            metrics.CATALOG_KEYFRAMES.set(stats.keyframes)
            return pb.StatsResponse(
                videos=stats.videos,
                keyframes=stats.keyframes,
                model_name=stats.model_name,
                model_version=stats.model_version,
                inference_backend=stats.inference_backend,
                catalog_backend=stats.catalog_backend,
            )

        return self._serve("Stats", context, body)
