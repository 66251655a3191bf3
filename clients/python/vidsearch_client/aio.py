"""asyncio client (grpc.aio) with the same API and semantics as the sync client."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vidsearch_client import _convert
from vidsearch_client._core import (
    ClientCore,
    index_header,
    merge_options,
    recommend_request,
    search_header,
    suggest_header,
    tag_tuple,
    tag_videos_request,
    text_request,
    upload_of,
    uri_source,
)
from vidsearch_client._download import StreamWriter
from vidsearch_client._retry import acall_with_retry
from vidsearch_client._upload import (
    DEFAULT_CHUNK_SIZE,
    Upload,
    VideoInput,
    async_request_stream,
)
from vidsearch_client.types import (
    DownloadedVideo,
    IndexResult,
    Neighbour,
    SearchMode,
    SearchOptions,
    SearchResult,
    Stats,
    TaggedVideos,
    TagPage,
    TagSuggestions,
    TextSearchOptions,
    VideoInfo,
)
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

T = TypeVar("T")


class AsyncVideoSearchClient(ClientCore):
    """Async client; ``async with AsyncVideoSearchClient(...) as client: ...``.

    Create it inside the running event loop (grpc.aio channels bind to it)."""

    def __init__(
        self, target: str | None = None, *, channel: grpc.aio.Channel | None = None, **kwargs: Any
    ) -> None:
        super().__init__(target, **kwargs)
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else self._open_channel()
        self._stub = pb_grpc.VideoSearchStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _open_channel(self) -> grpc.aio.Channel:
        credentials = self.settings.channel_credentials()
        options = self.settings.options()
        if credentials is None:
            return grpc.aio.insecure_channel(self.target, options=options)
        return grpc.aio.secure_channel(self.target, credentials, options=options)

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close()

    async def __aenter__(self) -> AsyncVideoSearchClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ------------------------------------------------------------------------
    async def _unary(
        self, method: str, rpc: Callable[..., Awaitable[T]], request: Any, timeout: float | None
    ) -> T:
        async def invoke(remaining: float) -> T:
            return await rpc(request, timeout=remaining, metadata=self.metadata)

        return await acall_with_retry(
            method, invoke, timeout=self.timeout_for(timeout), policy=self.retry
        )

    async def _upload(
        self,
        method: str,
        rpc: Callable[..., Awaitable[T]],
        make: Callable[..., Any],
        header: Any,
        upload: Upload | None,
        chunk_size: int,
        timeout: float | None,
    ) -> T:
        async def invoke(remaining: float) -> T:
            stream: AsyncIterator[Any] = async_request_stream(make, header, upload, chunk_size)
            return await rpc(stream, timeout=remaining, metadata=self.metadata)

        return await acall_with_retry(
            method, invoke, timeout=self.timeout_for(timeout), policy=self.retry
        )

    # -- API (see VideoSearchClient for the documentation of each call) --------------------
    async def index_file(
        self,
        path: VideoInput,
        video_id: str,
        *,
        title: str = "",
        tags: Sequence[str] = (),
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
    ) -> IndexResult:
        upload = upload_of(path, checksum, chunk_size)
        header = index_header(video_id, title, tags, upload.media())
        response = await self._upload(
            "IndexVideo",
            self._stub.IndexVideo,
            pb.IndexVideoRequest,
            header,
            upload,
            chunk_size,
            timeout,
        )
        return _convert.index_result(response)

    async def index_uri(
        self,
        uri: str,
        video_id: str,
        *,
        title: str = "",
        tags: Sequence[str] = (),
        content_sha256: str | None = None,
        timeout: float | None = None,
    ) -> IndexResult:
        header = index_header(video_id, title, tags, uri_source(uri, content_sha256))
        response = await self._upload(
            "IndexVideo", self._stub.IndexVideo, pb.IndexVideoRequest, header, None, 1, timeout
        )
        return _convert.index_result(response)

    async def delete(self, video_id: str, *, timeout: float | None = None) -> bool:
        request = pb.DeleteVideoRequest(video_id=video_id)
        response = await self._unary("DeleteVideo", self._stub.DeleteVideo, request, timeout)
        return bool(response.deleted)

    async def get(self, video_id: str, *, timeout: float | None = None) -> VideoInfo:
        request = pb.GetVideoRequest(video_id=video_id)
        response = await self._unary("GetVideo", self._stub.GetVideo, request, timeout)
        return _convert.video_info(response.video)

    async def search_video(
        self,
        video: VideoInput,
        options: SearchOptions | None = None,
        *,
        mode: SearchMode | None = None,
        top_k: int | None = None,
        max_hamming: int | None = None,
        coarse_limit: int | None = None,
        max_texture_distance: float | None = None,
        min_repetition: float | None = None,
        model_version: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
    ) -> SearchResult:
        chosen = merge_options(options, {
            "mode": mode, "top_k": top_k, "max_hamming": max_hamming,
            "coarse_limit": coarse_limit, "max_texture_distance": max_texture_distance,
            "min_repetition": min_repetition, "model_version": model_version,
        })  # fmt: skip
        upload = upload_of(video, checksum, chunk_size)
        header = search_header(chosen, upload.media())
        response = await self._upload(
            "SearchByVideo",
            self._stub.SearchByVideo,
            pb.SearchByVideoRequest,
            header,
            upload,
            chunk_size,
            timeout,
        )
        return _convert.search_result(response)

    async def search_uri(
        self,
        uri: str,
        options: SearchOptions | None = None,
        *,
        content_sha256: str | None = None,
        timeout: float | None = None,
        **overrides: Any,
    ) -> SearchResult:
        header = search_header(merge_options(options, overrides), uri_source(uri, content_sha256))
        response = await self._upload(
            "SearchByVideo",
            self._stub.SearchByVideo,
            pb.SearchByVideoRequest,
            header,
            None,
            1,
            timeout,
        )
        return _convert.search_result(response)

    async def search_text(
        self,
        text: str,
        options: TextSearchOptions | None = None,
        *,
        top_k: int | None = None,
        candidates: int | None = None,
        rerank: bool | None = None,
        keyword_enhancement: bool | None = None,
        model_version: int | None = None,
        timeout: float | None = None,
    ) -> SearchResult:
        """Text search: indexed videos described by ``text`` (e.g. "a red circle moves left").
        Keyword options override ``options``; anything unset uses the server default."""
        request = text_request(text, options, {
            "top_k": top_k, "candidates": candidates, "rerank": rerank,
            "keyword_enhancement": keyword_enhancement, "model_version": model_version,
        })  # fmt: skip
        response = await self._unary("SearchByText", self._stub.SearchByText, request, timeout)
        return _convert.search_result(response)

    async def recommend(
        self, video_id: str, k: int | None = 5, *, timeout: float | None = None
    ) -> list[Neighbour]:
        response = await self._unary(
            "Recommend", self._stub.Recommend, recommend_request(video_id, k), timeout
        )
        return _convert.neighbours(response.neighbours)

    # -- tags (seed 004) -----------------------------------------------------------------
    async def suggest_tags(
        self, video_id: str, *, top_k: int | None = None, max_distance: float | None = None,
        timeout: float | None = None,
    ) -> TagSuggestions:
        header = suggest_header(video_id, None, top_k, max_distance)
        response = await self._upload("SuggestTags", self._stub.SuggestTags,
                                      pb.SuggestTagsRequest, header, None, 1, timeout)
        return _convert.tag_suggestions(response)

    async def suggest_tags_for_video(
        self, video: VideoInput, *, top_k: int | None = None, max_distance: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE, checksum: bool = True, timeout: float | None = None,
    ) -> TagSuggestions:
        upload = upload_of(video, checksum, chunk_size)
        header = suggest_header("", upload.media(), top_k, max_distance)
        response = await self._upload("SuggestTags", self._stub.SuggestTags,
                                      pb.SuggestTagsRequest, header, upload, chunk_size, timeout)
        return _convert.tag_suggestions(response)

    async def add_tags(
        self, tags: Sequence[str], *, source: str = "", timeout: float | None = None
    ) -> int:
        request = pb.UpsertTagsRequest(tags=tag_tuple(tags), source=source)
        response = await self._unary("UpsertTags", self._stub.UpsertTags, request, timeout)
        return int(response.added)

    async def delete_tags(self, tags: Sequence[str], *, timeout: float | None = None) -> list[str]:
        request = pb.DeleteTagsRequest(tags=tag_tuple(tags))
        response = await self._unary("DeleteTags", self._stub.DeleteTags, request, timeout)
        return list(response.missing)

    async def list_tags(
        self, page_size: int | None = None, page_token: str = "", *,
        timeout: float | None = None,
    ) -> TagPage:
        request = pb.ListTagsRequest(page_size=page_size, page_token=page_token)
        response = await self._unary("ListTags", self._stub.ListTags, request, timeout)
        return _convert.tag_page(response)

    async def tag_videos(
        self, max_videos: int | None = None, *, top_k: int | None = None,
        max_distance: float | None = None, timeout: float | None = None,
    ) -> TaggedVideos:
        request = tag_videos_request(max_videos, top_k, max_distance)
        response = await self._unary("TagVideos", self._stub.TagVideos, request, timeout)
        return _convert.tagged_videos(response)

    async def videos_with_tag(
        self, tag: str, limit: int | None = None, *, timeout: float | None = None
    ) -> list[VideoInfo]:
        request = pb.FindVideosByTagRequest(tag=tag, limit=limit)
        response = await self._unary("FindVideosByTag", self._stub.FindVideosByTag, request,
                                     timeout)
        return [_convert.video_info(v) for v in response.videos]

    async def download(
        self, video_id: str, dest: str | os.PathLike[str], *, timeout: float | None = None
    ) -> DownloadedVideo:
        request = pb.StreamVideoRequest(video_id=video_id)

        async def invoke(remaining: float) -> DownloadedVideo:
            writer = StreamWriter(dest)
            try:
                call = self._stub.StreamVideo(request, timeout=remaining, metadata=self.metadata)
                async for message in call:
                    await asyncio.to_thread(writer.add, message)  # file writes off the loop
                return await asyncio.to_thread(writer.finish)
            finally:
                writer.discard()

        return await acall_with_retry(
            "StreamVideo", invoke, timeout=self.timeout_for(timeout), policy=self.retry
        )

    async def stats(self, *, timeout: float | None = None) -> Stats:
        response = await self._unary("Stats", self._stub.Stats, pb.StatsRequest(), timeout)
        return _convert.stats(response)

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        response = await self._unary("Health.Check", self._health.Check, request, timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
