"""The gRPC servicer: validates and translates proto ⇄ orchestrator domain types.

No business logic lives here: uploads become a local file (``uploads``), fields are
checked, the backend (the orchestrator, duck-typed as :class:`SearchBackend`) is called,
and its exceptions become status codes (``errors``). Every call records RPC metrics and
returns its request id in the trailing metadata ``x-request-id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import grpc
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

import vidsearch
from vidsearch import metrics
from vidsearch.catalog.base import VideoFilter, VideoInfo
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import (
    IndexResult,
    SearchOptions,
    SearchResult,
    ServiceStats,
    TextSearchOptions,
    TextSearchResult,
)
from vidsearch.orchestrator.spoken_query import SentenceService
from vidsearch.orchestrator.tags import TagService
from vidsearch.service.calls import check_time, first_header, request_budget, request_id_of
from vidsearch.service.convert import (
    MAX_TITLE_CHARS,
    check_id,
    check_tags,
    check_text,
    filter_from_proto,
    int_in,
    options_from_proto,
    search_to_proto,
    sentence_options_from_proto,
    sentence_search_to_proto,
    tag_to_proto,
    text_options_from_proto,
    text_search_to_proto,
    video_to_proto,
)
from vidsearch.service.errors import (
    REQUEST_ID_KEY,
    Failure,
    ServiceError,
    invalid_argument,
    media_named,
    to_failure,
    to_status,
)
from vidsearch.service.limits import check_audio_container
from vidsearch.service.playback import UPLOAD_SOURCE, KeptUploads, playable_source, stream_file
from vidsearch.service.uploads import UploadLimits, receive_media

log = logging.getLogger(__name__)
T = TypeVar("T")



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

    def list_videos(
        self, only: VideoFilter, page_size: int | None, page_token: str
    ) -> tuple[list[VideoInfo], str]: ...

    def update_video(
        self, video_id: str, *, title: str | None, tags: tuple[str, ...] | None
    ) -> VideoInfo: ...

    def search_by_video(
        self,
        path: Path,
        options: SearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> SearchResult: ...

    def search_by_text(
        self,
        text: str,
        options: TextSearchOptions,
        *,
        timeout_s: float | None = None,
        budget: RequestBudget | None = None,
    ) -> TextSearchResult: ...

    def recommend(self, video_id: str, k: int | None) -> list[tuple[VideoInfo, float]]: ...

    def stats(self) -> ServiceStats: ...

    def is_ready(self) -> bool: ...

    @property
    def tags(self) -> TagService: ...

    @property
    def sentences(self) -> SentenceService: ...


class VideoSearchServicer(pb_grpc.VideoSearchServicer):
    """Implements vidsearch.v1.VideoSearch on a :class:`SearchBackend`."""

    def __init__(self, backend: SearchBackend, limits: UploadLimits,
                 kept: KeptUploads | None = None, stream_chunk_bytes: int = 256 * 1024,
                 audio_max_bytes: int | None = None) -> None:
        self._backend = backend
        self._limits = limits
        # Spoken queries: their own (smaller) size limit; the audio sniff replaces the video's.
        self._audio_limits = replace(
            limits, allowed_containers=None,
            max_bytes=min(limits.max_bytes, audio_max_bytes or limits.max_bytes))
        # Uploads kept for playback (StreamVideo); default: none kept.
        self._kept = kept if kept is not None else KeptUploads(limits.upload_dir / "kept", 0.0)
        self._stream_chunk_bytes = stream_chunk_bytes

    def _serve(self, method: str, context: grpc.ServicerContext, body: Callable[[], T]) -> T:
        """Run ``body`` with metrics, request id and exception → status mapping."""
        request_id = request_id_of(context)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        metrics.INFLIGHT.labels(method=method).inc()
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return body()
        except Exception as exc:
            if context.is_active():
                failure = to_failure(exc, request_id, method)
            else:  # the caller gave up or timed out; nobody reads this answer
                remaining = context.time_remaining()
                expired = remaining is not None and remaining <= 0
                failure = (Failure(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded",
                                   "DEADLINE_EXCEEDED") if expired else
                           Failure(grpc.StatusCode.CANCELLED, "cancelled by the client",
                                   "CANCELLED"))
            code = failure.code
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
        context.abort_with_status(to_status(failure, request_id))
        raise AssertionError("unreachable: context.abort_with_status raises")

    # -- RPCs -----------------------------------------------------------------------------
    def IndexVideo(self, request_iterator: Iterator[Any], context: Any) -> pb.IndexVideoResponse:
        def body() -> pb.IndexVideoResponse:
            header = first_header(request_iterator)
            video_id = check_id(header.video_id)
            title = check_text("title", header.title, max_chars=MAX_TITLE_CHARS)
            tags = check_tags(header.tags)
            limits, time_left = self._limits, context.time_remaining
            with (
                receive_media(header.media, request_iterator, limits, time_left) as media,
                media_named(media.name),
            ):
                result = self._backend.index_video(
                    media.path,
                    video_id=video_id,
                    title=title,
                    tags=tags,
                    source=media.source,
                    content_sha256=media.sha256,
                    budget=request_budget(context),
                )
                if media.source == UPLOAD_SOURCE:
                    self._kept.keep(video_id, media.path)
                else:
                    self._kept.forget(video_id)
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
            deleted = bool(self._backend.delete_video(video_id))
            if deleted:
                self._kept.forget(video_id)
            return pb.DeleteVideoResponse(deleted=deleted)

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
            header = first_header(request_iterator)
            options = options_from_proto(header.options)
            limits, time_left = self._limits, context.time_remaining
            with (
                receive_media(header.media, request_iterator, limits, time_left) as media,
                media_named(media.name),
            ):
                budget = request_budget(context)
                result = self._backend.search_by_video(
                    media.path, options, timeout_s=budget.remaining(), budget=budget
                )
            return search_to_proto(result)

        return self._serve("SearchByVideo", context, body)

    def ListVideos(self, request: pb.ListVideosRequest, context: Any) -> pb.ListVideosResponse:
        def body() -> pb.ListVideosResponse:
            only = filter_from_proto(request.filter)
            size = int(request.page_size) if request.HasField("page_size") else None
            check_time(context)
            videos, token = self._backend.list_videos(only, size, request.page_token)
            return pb.ListVideosResponse(videos=[video_to_proto(v) for v in videos],
                                         next_page_token=token)

        return self._serve("ListVideos", context, body)

    def UpdateVideo(self, request: pb.UpdateVideoRequest, context: Any) -> pb.UpdateVideoResponse:
        def body() -> pb.UpdateVideoResponse:
            video_id = check_id(request.video.video_id, "video.video_id")
            paths = set(request.update_mask.paths)
            if not paths or not paths <= {"title", "tags"}:
                raise invalid_argument(
                    "update_mask must name the fields to replace: title and/or tags, got "
                    f"{sorted(paths) or 'none'}", field="update_mask")
            title = (check_text("video.title", request.video.title, max_chars=MAX_TITLE_CHARS)
                     if "title" in paths else None)
            tags = check_tags(request.video.tags) if "tags" in paths else None
            check_time(context)
            info = self._backend.update_video(video_id, title=title, tags=tags)
            return pb.UpdateVideoResponse(video=video_to_proto(info))

        return self._serve("UpdateVideo", context, body)

    def SearchByText(self, request: pb.SearchByTextRequest, context: Any) -> pb.SearchResponse:
        def body() -> pb.SearchResponse:
            options = text_options_from_proto(request.options)
            budget = request_budget(context)
            result = self._backend.search_by_text(
                request.text, options, timeout_s=budget.remaining(), budget=budget
            )
            return text_search_to_proto(result)

        return self._serve("SearchByText", context, body)

    def Recommend(self, request: pb.RecommendRequest, context: Any) -> pb.RecommendResponse:
        def body() -> pb.RecommendResponse:
            video_id = check_id(request.video_id)
            k = int_in(request, "k", 1, 100)
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
                server_version=vidsearch.__version__,
                videos=stats.videos,
                keyframes=stats.keyframes,
                model_name=stats.model_name,
                model_version=stats.model_version,
                inference_backend=stats.inference_backend,
                catalog_backend=stats.catalog_backend,
                text_search=stats.text_search,
                text_model_version=stats.text_model_version,
                captions=stats.captions,
                caption_model_version=stats.caption_model_version,
            )

        return self._serve("Stats", context, body)

    # -- captions (seed 000) -------------------------------------------------------------
    def SearchBySentence(
        self, request: pb.SearchBySentenceRequest, context: Any
    ) -> pb.SearchResponse:
        def body() -> pb.SearchResponse:
            options = sentence_options_from_proto(request.options)
            result = self._backend.sentences.search(request.text, options,
                                                    request_budget(context))
            return sentence_search_to_proto(result)

        return self._serve("SearchBySentence", context, body)

    def SearchByAudio(self, request_iterator: Iterator[Any], context: Any) -> pb.SearchResponse:
        def body() -> pb.SearchResponse:
            header = first_header(request_iterator)
            options = sentence_options_from_proto(header.options)
            limits, time_left = self._audio_limits, context.time_remaining
            with receive_media(header.media, request_iterator, limits, time_left) as media:
                name = media.name.replace("uploaded file", "uploaded audio")
                check_audio_container(media.path, name)
                with media_named(name):
                    result = self._backend.sentences.search_audio(media.path, options,
                                                                  request_budget(context))
            return sentence_search_to_proto(result)

        return self._serve("SearchByAudio", context, body)

    # -- tags (seed 004) ---------------------------------------------------------------
    def SuggestTags(
        self, request_iterator: Iterator[Any], context: Any
    ) -> pb.SuggestTagsResponse:
        def body() -> pb.SuggestTagsResponse:
            header = first_header(request_iterator)
            opts = header.options
            top_k = int(opts.top_k) if opts.HasField("top_k") else None
            max_distance = float(opts.max_distance) if opts.HasField("max_distance") else None
            uploaded = bool(header.media.source_uri) or header.media.HasField("total_bytes")
            if header.video_id and uploaded:
                raise invalid_argument("give either video_id or media, not both")
            budget = request_budget(context)
            if header.video_id:
                hits, version, timings = self._backend.tags.suggest(
                    video_id=check_id(header.video_id), top_k=top_k,
                    max_distance=max_distance, budget=budget)
            else:
                limits, time_left = self._limits, context.time_remaining
                with (
                    receive_media(header.media, request_iterator, limits, time_left) as media,
                    media_named(media.name),
                ):
                    hits, version, timings = self._backend.tags.suggest(
                        path=media.path, top_k=top_k, max_distance=max_distance, budget=budget)
            return pb.SuggestTagsResponse(
                tags=[pb.SuggestedTag(tag=tag_to_proto(h.tag), distance=h.distance)
                      for h in hits],
                tag_model_version=version, stage_seconds=timings,
            )

        return self._serve("SuggestTags", context, body)

    def UpsertTags(self, request: pb.UpsertTagsRequest, context: Any) -> pb.UpsertTagsResponse:
        def body() -> pb.UpsertTagsResponse:
            source = check_text("source", request.source, max_chars=MAX_TITLE_CHARS)
            stored, added = self._backend.tags.upsert(
                list(request.tags), source, budget=request_budget(context))
            return pb.UpsertTagsResponse(tags=[tag_to_proto(t) for t in stored], added=added)

        return self._serve("UpsertTags", context, body)

    def DeleteTags(self, request: pb.DeleteTagsRequest, context: Any) -> pb.DeleteTagsResponse:
        def body() -> pb.DeleteTagsResponse:
            check_time(context)
            missing = self._backend.tags.delete(list(request.tags))
            return pb.DeleteTagsResponse(deleted=len(request.tags) - len(missing),
                                         missing=missing)

        return self._serve("DeleteTags", context, body)

    def ListTags(self, request: pb.ListTagsRequest, context: Any) -> pb.ListTagsResponse:
        def body() -> pb.ListTagsResponse:
            check_time(context)
            size = int(request.page_size) if request.HasField("page_size") else None
            page, token = self._backend.tags.page(size, request.page_token)
            return pb.ListTagsResponse(tags=[tag_to_proto(t) for t in page],
                                       next_page_token=token)

        return self._serve("ListTags", context, body)

    def TagVideos(self, request: pb.TagVideosRequest, context: Any) -> pb.TagVideosResponse:
        def body() -> pb.TagVideosResponse:
            check_time(context)
            opts = request.options
            tagged, left = self._backend.tags.tag_videos(
                max_videos=int(request.max_videos) if request.HasField("max_videos") else None,
                top_k=int(opts.top_k) if opts.HasField("top_k") else None,
                max_distance=float(opts.max_distance) if opts.HasField("max_distance") else None,
            )
            return pb.TagVideosResponse(
                videos=[pb.TaggedVideo(video_id=v, tags=t) for v, t in tagged],
                untagged_left=left,
            )

        return self._serve("TagVideos", context, body)

    def FindVideosByTag(
        self, request: pb.FindVideosByTagRequest, context: Any
    ) -> pb.FindVideosByTagResponse:
        def body() -> pb.FindVideosByTagResponse:
            check_time(context)
            limit = int(request.limit) if request.HasField("limit") else None
            videos = self._backend.tags.videos_with_tag(request.tag, limit)
            return pb.FindVideosByTagResponse(videos=[video_to_proto(v) for v in videos])

        return self._serve("FindVideosByTag", context, body)

    # -- playback (the review page) ----------------------------------------------------
    def StreamVideo(
        self, request: pb.StreamVideoRequest, context: Any
    ) -> Iterator[pb.StreamVideoResponse]:
        def body() -> Iterator[pb.StreamVideoResponse]:
            video_id = check_id(request.video_id)
            check_time(context)
            info = self._backend.get_video(video_id)
            if info is None:
                raise ServiceError(grpc.StatusCode.NOT_FOUND, f"video {video_id!r} is not indexed")
            return stream_file(info, playable_source(info, self._kept), self._stream_chunk_bytes)

        # Errors (unknown id, source gone) surface before the first message.
        yield from self._serve("StreamVideo", context, body)
