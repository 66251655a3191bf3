"""Blocking client for the vidsearch gRPC API.

Every call has a deadline (the client default unless ``timeout`` is given), is retried
with exponential backoff + jitter on UNAVAILABLE, and on RESOURCE_EXHAUSTED when the
server sends a RetryInfo (its delay honoured; uploads are re-sent from the start), and
raises a typed :mod:`vidsearch_client.errors` exception on failure. Every call takes
``request_id`` (sent as ``x-request-id``: the server logs it and echoes it back) and
``metadata`` (more key/value pairs for that call only).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

import grpc
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
from vidsearch_client._retry import call_with_retry
from vidsearch_client._sentences import SentenceCalls
from vidsearch_client._upload import DEFAULT_CHUNK_SIZE, Upload, VideoInput, request_stream
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


class VideoSearchClient(SentenceCalls, ClientCore[grpc.Channel]):
    """Sync client; use as a context manager or call :meth:`close`. The constructor's
    parameters are :class:`~vidsearch_client._core.ClientCore`'s.

    >>> with VideoSearchClient("127.0.0.1:50051", timeout=30) as client:
    ...     client.index_file("clip.mp4", "clip-1", title="A clip")
    ...     result = client.search_video("query.mp4", top_k=5)
    """

    def _open_channel(self) -> grpc.Channel:
        credentials = self.settings.channel_credentials()
        options = self.settings.options()
        if credentials is None:
            return grpc.insecure_channel(self.target, options=options)
        return grpc.secure_channel(self.target, credentials, options=options)

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> VideoSearchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ------------------------------------------------------------------------
    def _unary(self, method: str, rpc: Callable[..., T], request: Any, call: CallOptions) -> T:
        def invoke(remaining: float) -> T:
            return rpc(request, timeout=remaining, metadata=call.metadata)

        return call_with_retry(method, invoke, timeout=call.timeout, policy=self.retry)

    def _upload(
        self,
        method: str,
        rpc: Callable[..., T],
        make: Callable[..., Any],
        header: Any,
        upload: Upload | None,
        chunk_size: int,
        call: CallOptions,
    ) -> T:
        def invoke(remaining: float) -> T:
            stream: Iterator[Any] = request_stream(make, header, upload, chunk_size)
            return rpc(stream, timeout=remaining, metadata=call.metadata)

        return call_with_retry(method, invoke, timeout=call.timeout, policy=self.retry)

    # -- indexing ------------------------------------------------------------------------
    def index_file(
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
        """Upload a local file (or raw ``bytes``) and index it as ``video_id``.

        With ``checksum`` the SHA-256 and size are sent first so the server rejects a
        corrupted upload."""
        upload = upload_of(path, checksum, chunk_size)
        header = index_header(video_id, title, tags, upload.media())
        response = self._upload(
            "IndexVideo",
            self._stub.IndexVideo,
            pb.IndexVideoRequest,
            header,
            upload,
            chunk_size,
            self._call(timeout, request_id, metadata),
        )
        return _convert.index_result(response)

    def index_uri(
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
        """Index a file the server reads itself (a path or file:// URI on the server)."""
        header = index_header(video_id, title, tags, uri_source(uri, content_sha256))
        response = self._upload(
            "IndexVideo",
            self._stub.IndexVideo,
            pb.IndexVideoRequest,
            header,
            None,
            1,
            self._call(timeout, request_id, metadata),
        )
        return _convert.index_result(response)

    def delete(
        self,
        video_id: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> bool:
        """Remove a video; False when it was not indexed."""
        request = pb.DeleteVideoRequest(video_id=video_id)
        return self._unary(
            "DeleteVideo",
            self._stub.DeleteVideo,
            request,
            self._call(timeout, request_id, metadata),
        ).deleted

    def get(
        self,
        video_id: str,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> VideoInfo:
        """Stored metadata; raises :class:`~vidsearch_client.errors.NotFound`."""
        request = pb.GetVideoRequest(video_id=video_id)
        return _convert.video_info(
            self._unary(
                "GetVideo", self._stub.GetVideo, request, self._call(timeout, request_id, metadata)
            ).video
        )

    # -- search --------------------------------------------------------------------------
    def search_video(
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
        """Search with a local file (or raw ``bytes``) as the query; keyword options
        override ``options``; anything unset uses the server default. ``mode``:
        "texture" (near-duplicate search: whole videos by texture distance), "duration"
        (duration matching: how much of the shorter video repeats, with the segments) or
        "keyframe" (key-frame matching on hash codes alone)."""
        chosen = merge_options(options, {
            "mode": mode, "top_k": top_k, "max_hamming": max_hamming,
            "coarse_limit": coarse_limit, "max_texture_distance": max_texture_distance,
            "min_repetition": min_repetition, "model_version": model_version,
            "filter": filter,
        })  # fmt: skip
        upload = upload_of(video, checksum, chunk_size)
        header = search_header(chosen, upload.media())
        response = self._upload(
            "SearchByVideo",
            self._stub.SearchByVideo,
            pb.SearchByVideoRequest,
            header,
            upload,
            chunk_size,
            self._call(timeout, request_id, metadata),
        )
        return _convert.search_result(response)

    def search_uri(
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
        """Search with a file the server reads itself; ``overrides`` as in search_video."""
        header = search_header(merge_options(options, overrides), uri_source(uri, content_sha256))
        response = self._upload(
            "SearchByVideo",
            self._stub.SearchByVideo,
            pb.SearchByVideoRequest,
            header,
            None,
            1,
            self._call(timeout, request_id, metadata),
        )
        return _convert.search_result(response)

    def search_text(
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
        response = self._unary(
            "SearchByText",
            self._stub.SearchByText,
            request,
            self._call(timeout, request_id, metadata),
        )
        return _convert.search_result(response)

    def recommend(
        self,
        video_id: str,
        k: int | None = 5,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[Neighbour]:
        """The ``k`` indexed videos most similar to ``video_id`` (None = server default)."""
        response = self._unary(
            "Recommend",
            self._stub.Recommend,
            recommend_request(video_id, k),
            self._call(timeout, request_id, metadata),
        )
        return _convert.neighbours(response.neighbours)

    # -- tags (seed 004) -----------------------------------------------------------------
    def suggest_tags(
        self,
        video_id: str,
        *,
        top_k: int | None = None,
        max_distance: float | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TagSuggestions:
        """The library's tags nearest to an indexed video (its stored tag feature: no
        decode), nearest first; ``max_distance``: a cosine distance bound in [0, 2]."""
        header = suggest_header(video_id, None, top_k, max_distance)
        response = self._upload(
            "SuggestTags",
            self._stub.SuggestTags,
            pb.SuggestTagsRequest,
            header,
            None,
            1,
            self._call(timeout, request_id, metadata),
        )
        return _convert.tag_suggestions(response)

    def suggest_tags_for_video(
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
        """Suggested tags for a local file (or raw ``bytes``) that need not be indexed."""
        upload = upload_of(video, checksum, chunk_size)
        header = suggest_header("", upload.media(), top_k, max_distance)
        response = self._upload(
            "SuggestTags",
            self._stub.SuggestTags,
            pb.SuggestTagsRequest,
            header,
            upload,
            chunk_size,
            self._call(timeout, request_id, metadata),
        )
        return _convert.tag_suggestions(response)

    def add_tags(
        self,
        tags: Sequence[str],
        *,
        source: str = "",
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> int:
        """Add tags to the library (or replace them); how many were new. Used by the
        very next suggestion."""
        request = pb.UpsertTagsRequest(tags=tag_tuple(tags), source=source)
        return int(
            self._unary(
                "UpsertTags",
                self._stub.UpsertTags,
                request,
                self._call(timeout, request_id, metadata),
            ).added
        )

    def delete_tags(
        self,
        tags: Sequence[str],
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[str]:
        """Remove tags from the library; the ones that were not in it."""
        request = pb.DeleteTagsRequest(tags=tag_tuple(tags))
        return list(
            self._unary(
                "DeleteTags",
                self._stub.DeleteTags,
                request,
                self._call(timeout, request_id, metadata),
            ).missing
        )

    def list_tags(
        self,
        page_size: int | None = None,
        page_token: str = "",
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TagPage:
        """One page of the library (pass the previous page's ``next_page_token``)."""
        request = pb.ListTagsRequest(page_size=page_size, page_token=page_token)
        return _convert.tag_page(
            self._unary(
                "ListTags", self._stub.ListTags, request, self._call(timeout, request_id, metadata)
            )
        )

    def tag_videos(
        self,
        max_videos: int | None = None,
        *,
        top_k: int | None = None,
        max_distance: float | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> TaggedVideos:
        """Store suggested tags on up to ``max_videos`` untagged indexed videos; call again
        while ``untagged_left`` shrinks (resumable: tagged videos are skipped)."""
        request = tag_videos_request(max_videos, top_k, max_distance)
        return _convert.tagged_videos(
            self._unary(
                "TagVideos",
                self._stub.TagVideos,
                request,
                self._call(timeout, request_id, metadata),
            )
        )

    def videos_with_tag(
        self,
        tag: str,
        limit: int | None = None,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> list[VideoInfo]:
        """Indexed videos carrying ``tag`` (exact text)."""
        request = pb.FindVideosByTagRequest(tag=tag, limit=limit)
        response = self._unary(
            "FindVideosByTag",
            self._stub.FindVideosByTag,
            request,
            self._call(timeout, request_id, metadata),
        )
        return [_convert.video_info(v) for v in response.videos]

    # -- playback ------------------------------------------------------------------------
    def download(
        self, video_id: str, dest: str | os.PathLike[str], *, timeout: float | None = None,
        request_id: str | None = None, metadata: Metadata = (),
    ) -> DownloadedVideo:
        """Write an indexed video's bytes to ``dest`` (StreamVideo). Raises
        :class:`~vidsearch_client.errors.FailedPrecondition` when the server no longer has
        its source (an upload past the server's retention, a source file gone)."""
        request = pb.StreamVideoRequest(video_id=video_id)
        call = self._call(timeout, request_id, metadata)

        def invoke(remaining: float) -> DownloadedVideo:
            writer = StreamWriter(dest)
            try:
                for message in self._stub.StreamVideo(
                    request, timeout=remaining, metadata=call.metadata
                ):
                    writer.add(message)
                return writer.finish()
            finally:
                writer.discard()

        return call_with_retry(
            "StreamVideo", invoke, timeout=call.timeout, policy=self.retry
        )

    # -- video listing, updates and bulk indexing ---------------------------------------
    def list_video_pages(
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
    ) -> Iterator[VideoPage]:
        """The indexed videos passing the filter (``filter``, with the keyword arguments
        given over it), a page at a time, each page fetched when iteration reaches it
        (``timeout`` is each page's); start from ``page_token`` to resume."""
        only = video_filter(filter, tags, title_prefix, model_version, video_ids)
        token = page_token
        while True:
            request = list_videos_request(page_size, token, only)
            page = _convert.video_page(
                self._unary(
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

    def list_videos(
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
    ) -> Iterator[VideoInfo]:
        """Every indexed video passing the filter, over :meth:`list_video_pages`."""
        for page in self.list_video_pages(
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
            yield from page.videos

    def update_video(
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
        response = self._unary(
            "UpdateVideo",
            self._stub.UpdateVideo,
            request,
            self._call(timeout, request_id, metadata),
        )
        return _convert.video_info(response.video)

    def index_many(
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

        def one(index: int, item: IndexItem) -> IndexOutcome:
            try:
                return IndexOutcome(
                    item,
                    result=self.index_file(
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
                return IndexOutcome(item, error=exc)

        outcomes: dict[int, IndexOutcome] = {}
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            running = {pool.submit(one, i, item): i for i, item in enumerate(todo)}
            for future in as_completed(running):
                outcomes[running[future]] = outcome = future.result()
                if progress is not None:
                    progress(len(outcomes), len(todo), outcome)
        return [outcomes[i] for i in range(len(todo))]

    # -- operations ----------------------------------------------------------------------
    def stats(
        self,
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> Stats:
        return _convert.stats(
            self._unary(
                "Stats",
                self._stub.Stats,
                pb.StatsRequest(),
                self._call(timeout, request_id, metadata),
            )
        )

    def health(
        self,
        service: str = "",
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> str:
        """Standard gRPC health status name: SERVING, NOT_SERVING, SERVICE_UNKNOWN..."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._unary(
            "Health.Check", self._health.Check, request, self._call(timeout, request_id, metadata)
        )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
