"""asyncio client (grpc.aio) with the same API and semantics as the sync client.

Nothing blocks the event loop: file hashing and reads run in a thread
(``asyncio.to_thread``), and calls are grpc.aio's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2

from vidsearch_client import _convert
from vidsearch_client._channel import Metadata
from vidsearch_client._core import (
    CallOptions,
    ClientCore,
    check_concurrency,
    index_header,
    list_videos_request,
    merge_options,
    nth_request_id,
    recommend_request,
    search_header,
    suggest_header,
    tag_tuple,
    tag_videos_request,
    text_request,
    update_video_request,
    upload_of,
    uri_source,
    video_filter,
)
from vidsearch_client._download import StreamWriter
from vidsearch_client._retry import acall_with_retry
from vidsearch_client._sentences import AsyncSentenceCalls
from vidsearch_client._upload import (
    DEFAULT_CHUNK_SIZE,
    Upload,
    VideoInput,
    async_request_stream,
)
from vidsearch_client.types import (
    DownloadedVideo,
    IndexItem,
    IndexOutcome,
    IndexProgress,
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
    VideoFilter,
    VideoInfo,
    VideoPage,
)
from vidsearch_client.v1 import vidsearch_pb2 as pb

T = TypeVar("T")


class AsyncVideoSearchClient(AsyncSentenceCalls, ClientCore[grpc.aio.Channel]):
    """Async client; ``async with AsyncVideoSearchClient(...) as client: ...``.

    Create it inside the running event loop (grpc.aio channels bind to it)."""

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
        self, method: str, rpc: Callable[..., Awaitable[T]], request: Any, call: CallOptions
    ) -> T:
        async def invoke(remaining: float) -> T:
            return await rpc(request, timeout=remaining, metadata=call.metadata)

        return await acall_with_retry(method, invoke, timeout=call.timeout, policy=self.retry)

    async def _upload(
        self,
        method: str,
        rpc: Callable[..., Awaitable[T]],
        make: Callable[..., Any],
        header: Any,
        upload: Upload | None,
        chunk_size: int,
        call: CallOptions,
    ) -> T:
        async def invoke(remaining: float) -> T:
            stream: AsyncIterator[Any] = async_request_stream(make, header, upload, chunk_size)
            return await rpc(stream, timeout=remaining, metadata=call.metadata)

        return await acall_with_retry(method, invoke, timeout=call.timeout, policy=self.retry)

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
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> IndexResult:
        upload = await asyncio.to_thread(upload_of, path, checksum, chunk_size)
        header = index_header(video_id, title, tags, upload.media())
        response = await self._upload(
            "IndexVideo",
            self._stub.IndexVideo,
            pb.IndexVideoRequest,
            header,
            upload,
            chunk_size,
            self._call(timeout, request_id, metadata),
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
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> IndexResult:
        header = index_header(video_id, title, tags, uri_source(uri, content_sha256))
        response = await self._upload(
            "IndexVideo",
            self._stub.IndexVideo,
            pb.IndexVideoRequest,
            header,
            None,
            1,
            self._call(timeout, request_id, metadata),
        )
        return _convert.index_result(response)

    async def delete(
        self,
        video_id: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> bool:
        request = pb.DeleteVideoRequest(video_id=video_id)
        response = await self._unary(
            "DeleteVideo",
            self._stub.DeleteVideo,
            request,
            self._call(timeout, request_id, metadata),
        )
        return bool(response.deleted)

    async def get(
        self,
        video_id: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> VideoInfo:
        request = pb.GetVideoRequest(video_id=video_id)
        response = await self._unary(
            "GetVideo", self._stub.GetVideo, request, self._call(timeout, request_id, metadata)
        )
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
        filter: VideoFilter | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> SearchResult:
        chosen = merge_options(options, {
            "mode": mode, "top_k": top_k, "max_hamming": max_hamming,
            "coarse_limit": coarse_limit, "max_texture_distance": max_texture_distance,
            "min_repetition": min_repetition, "model_version": model_version,
            "filter": filter,
        })  # fmt: skip
        upload = await asyncio.to_thread(upload_of, video, checksum, chunk_size)
        header = search_header(chosen, upload.media())
        response = await self._upload(
            "SearchByVideo",
            self._stub.SearchByVideo,
            pb.SearchByVideoRequest,
            header,
            upload,
            chunk_size,
            self._call(timeout, request_id, metadata),
        )
        return _convert.search_result(response)

    async def search_uri(
        self,
        uri: str,
        options: SearchOptions | None = None,
        *,
        content_sha256: str | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
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
            self._call(timeout, request_id, metadata),
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
        filter: VideoFilter | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> SearchResult:
        """Text search: indexed videos described by ``text`` (e.g. "a red circle moves left").
        Keyword options override ``options``; anything unset uses the server default."""
        request = text_request(text, options, {
            "top_k": top_k, "candidates": candidates, "rerank": rerank,
            "keyword_enhancement": keyword_enhancement, "model_version": model_version,
            "filter": filter,
        })  # fmt: skip
        response = await self._unary(
            "SearchByText",
            self._stub.SearchByText,
            request,
            self._call(timeout, request_id, metadata),
        )
        return _convert.search_result(response)

    async def recommend(
        self,
        video_id: str,
        k: int | None = 5,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[Neighbour]:
        response = await self._unary(
            "Recommend",
            self._stub.Recommend,
            recommend_request(video_id, k),
            self._call(timeout, request_id, metadata),
        )
        return _convert.neighbours(response.neighbours)

    # -- tags (seed 004) -----------------------------------------------------------------
    async def suggest_tags(
        self,
        video_id: str,
        *,
        top_k: int | None = None,
        max_distance: float | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TagSuggestions:
        header = suggest_header(video_id, None, top_k, max_distance)
        response = await self._upload(
            "SuggestTags",
            self._stub.SuggestTags,
            pb.SuggestTagsRequest,
            header,
            None,
            1,
            self._call(timeout, request_id, metadata),
        )
        return _convert.tag_suggestions(response)

    async def suggest_tags_for_video(
        self,
        video: VideoInput,
        *,
        top_k: int | None = None,
        max_distance: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TagSuggestions:
        upload = await asyncio.to_thread(upload_of, video, checksum, chunk_size)
        header = suggest_header("", upload.media(), top_k, max_distance)
        response = await self._upload(
            "SuggestTags",
            self._stub.SuggestTags,
            pb.SuggestTagsRequest,
            header,
            upload,
            chunk_size,
            self._call(timeout, request_id, metadata),
        )
        return _convert.tag_suggestions(response)

    async def add_tags(
        self,
        tags: Sequence[str],
        *,
        source: str = "",
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> int:
        request = pb.UpsertTagsRequest(tags=tag_tuple(tags), source=source)
        response = await self._unary(
            "UpsertTags", self._stub.UpsertTags, request, self._call(timeout, request_id, metadata)
        )
        return int(response.added)

    async def delete_tags(
        self,
        tags: Sequence[str],
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[str]:
        request = pb.DeleteTagsRequest(tags=tag_tuple(tags))
        response = await self._unary(
            "DeleteTags", self._stub.DeleteTags, request, self._call(timeout, request_id, metadata)
        )
        return list(response.missing)

    async def list_tags(
        self,
        page_size: int | None = None,
        page_token: str = "",
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TagPage:
        request = pb.ListTagsRequest(page_size=page_size, page_token=page_token)
        response = await self._unary(
            "ListTags", self._stub.ListTags, request, self._call(timeout, request_id, metadata)
        )
        return _convert.tag_page(response)

    async def tag_videos(
        self,
        max_videos: int | None = None,
        *,
        top_k: int | None = None,
        max_distance: float | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TaggedVideos:
        request = tag_videos_request(max_videos, top_k, max_distance)
        response = await self._unary(
            "TagVideos", self._stub.TagVideos, request, self._call(timeout, request_id, metadata)
        )
        return _convert.tagged_videos(response)

    async def videos_with_tag(
        self,
        tag: str,
        limit: int | None = None,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[VideoInfo]:
        request = pb.FindVideosByTagRequest(tag=tag, limit=limit)
        response = await self._unary(
            "FindVideosByTag",
            self._stub.FindVideosByTag,
            request,
            self._call(timeout, request_id, metadata),
        )
        return [_convert.video_info(v) for v in response.videos]

    async def download(
        self, video_id: str, dest: str | os.PathLike[str], *, timeout: float | None = None,
        request_id: str | None = None, metadata: Metadata = (),
    ) -> DownloadedVideo:
        request = pb.StreamVideoRequest(video_id=video_id)
        call = self._call(timeout, request_id, metadata)

        async def invoke(remaining: float) -> DownloadedVideo:
            writer = StreamWriter(dest)
            try:
                stream = self._stub.StreamVideo(request, timeout=remaining, metadata=call.metadata)
                async for message in stream:
                    await asyncio.to_thread(writer.add, message)  # file writes off the loop
                return await asyncio.to_thread(writer.finish)
            finally:
                writer.discard()

        return await acall_with_retry(
            "StreamVideo", invoke, timeout=call.timeout, policy=self.retry
        )

    # -- video listing, updates and bulk indexing ---------------------------------------
    async def list_video_pages(
        self,
        page_size: int | None = None,
        page_token: str = "",
        *,
        filter: VideoFilter | None = None,
        tags: Sequence[str] | None = None,
        title_prefix: str | None = None,
        model_version: int | None = None,
        video_ids: Sequence[str] | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> AsyncIterator[VideoPage]:
        """The indexed videos passing the filter (``filter``, with the keyword arguments
        given over it), a page at a time, each page fetched when iteration reaches it
        (``timeout`` is each page's); start from ``page_token`` to resume."""
        only = video_filter(filter, tags, title_prefix, model_version, video_ids)
        token = page_token
        while True:
            request = list_videos_request(page_size, token, only)
            page = _convert.video_page(
                await self._unary(
                    "ListVideos",
                    self._stub.ListVideos,
                    request,
                    self._call(timeout, request_id, metadata),
                )
            )
            yield page
            token = page.next_page_token
            if not token:
                return

    async def list_videos(
        self,
        page_size: int | None = None,
        *,
        filter: VideoFilter | None = None,
        tags: Sequence[str] | None = None,
        title_prefix: str | None = None,
        model_version: int | None = None,
        video_ids: Sequence[str] | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> AsyncIterator[VideoInfo]:
        """Every indexed video passing the filter, over :meth:`list_video_pages`."""
        async for page in self.list_video_pages(
            page_size,
            filter=filter,
            tags=tags,
            title_prefix=title_prefix,
            model_version=model_version,
            video_ids=video_ids,
            timeout=timeout,
            request_id=request_id,
            metadata=metadata,
        ):
            for video in page.videos:
                yield video

    async def update_video(
        self,
        video_id: str,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> VideoInfo:
        """Replace an indexed video's title and/or tags (those given), without
        re-indexing it; raises :class:`~vidsearch_client.errors.NotFound`."""
        request = update_video_request(video_id, title, tags)
        response = await self._unary(
            "UpdateVideo",
            self._stub.UpdateVideo,
            request,
            self._call(timeout, request_id, metadata),
        )
        return _convert.video_info(response.video)

    async def index_many(
        self,
        items: Iterable[IndexItem],
        *,
        concurrency: int = 4,
        progress: IndexProgress | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[IndexOutcome]:
        """Index many videos, at most ``concurrency`` uploads at a time; one outcome per
        item, in the items' order (a failed item holds its error; the others go on).
        ``progress(done, total, outcome)`` is called as each finishes; ``timeout`` is
        each upload's; item i's request id is ``<request_id>-<i>``."""
        todo = list(items)
        check_concurrency(concurrency)
        slots = asyncio.Semaphore(concurrency)

        async def one(index: int, item: IndexItem) -> tuple[int, IndexOutcome]:
            async with slots:
                try:
                    return index, IndexOutcome(
                        item,
                        result=await self.index_file(
                            item.path,
                            item.video_id,
                            title=item.title,
                            tags=item.tags,
                            chunk_size=chunk_size,
                            checksum=checksum,
                            timeout=timeout,
                            request_id=nth_request_id(request_id, index),
                            metadata=metadata,
                        ),
                    )
                except Exception as exc:  # the item's outcome; the batch goes on
                    return index, IndexOutcome(item, error=exc)

        outcomes: dict[int, IndexOutcome] = {}
        for next_done in asyncio.as_completed([one(i, item) for i, item in enumerate(todo)]):
            index, outcome = await next_done
            outcomes[index] = outcome
            if progress is not None:
                progress(len(outcomes), len(todo), outcome)
        return [outcomes[i] for i in range(len(todo))]

    async def stats(
        self,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> Stats:
        response = await self._unary(
            "Stats", self._stub.Stats, pb.StatsRequest(), self._call(timeout, request_id, metadata)
        )
        return _convert.stats(response)

    async def health(
        self,
        service: str = "",
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        response = await self._unary(
            "Health.Check", self._health.Check, request, self._call(timeout, request_id, metadata)
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
