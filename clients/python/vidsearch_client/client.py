"""Blocking client for the vidsearch gRPC API.

Every call has a deadline (the client default unless ``timeout`` is given), is retried
with exponential backoff + jitter on UNAVAILABLE, and on RESOURCE_EXHAUSTED when the
server sends a RetryInfo (its delay honoured; uploads are re-sent from the start), and
raises a typed :mod:`vidsearch_client.errors` exception on failure. Every call takes
``request_id`` (sent as ``x-request-id``: the server logs it and echoes it back) and
``metadata`` (more key/value pairs for that call only).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from grpc_health.v1 import health_pb2

from vidsearch_client import _convert
from vidsearch_client._channel import Metadata
from vidsearch_client._core import (
    check_concurrency,
    index_header,
    merge_options,
    nth_request_id,
    recommend_request,
    search_header,
    text_request,
    uri_source,
)
from vidsearch_client._library import LibraryCalls
from vidsearch_client._sentences import SentenceCalls
from vidsearch_client._tags import TagCalls
from vidsearch_client._upload import DEFAULT_CHUNK_SIZE, VideoInput, upload_of
from vidsearch_client.types import (
    IndexItem,
    IndexOutcome,
    IndexProgress,
    IndexResult,
    Neighbour,
    SearchMode,
    SearchOptions,
    SearchResult,
    Stats,
    TextSearchOptions,
    VideoFilter,
    VideoInfo,
)
from vidsearch_client.v1 import vidsearch_pb2 as pb


class VideoSearchClient(LibraryCalls, TagCalls, SentenceCalls):
    """Sync client; use as a context manager or call :meth:`close`. The constructor's
    parameters are :class:`~vidsearch_client._core.ClientCore`'s. Its calls are here and
    in the mixins (library, tags, sentences); the async client runs these same methods.

    >>> with VideoSearchClient("127.0.0.1:50051", timeout=30) as client:
    ...     client.index_file("clip.mp4", "clip-1", title="A clip")
    ...     result = client.search_video("query.mp4", top_k=5)
    """

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> VideoSearchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        call = self._call(timeout, request_id, metadata)
        upload = upload_of(path, checksum, chunk_size)
        header = index_header(video_id, title, tags, upload.media())
        response = self._upload(
            "IndexVideo",
            self._stub.IndexVideo,
            pb.IndexVideoRequest,
            header,
            upload,
            chunk_size,
            call,
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
        call = self._call(timeout, request_id, metadata)
        upload = upload_of(video, checksum, chunk_size)
        header = search_header(chosen, upload.media())
        response = self._upload(
            "SearchByVideo",
            self._stub.SearchByVideo,
            pb.SearchByVideoRequest,
            header,
            upload,
            chunk_size,
            call,
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
            # Each item in the caller's context: an async caller's cancellation reaches it.
            running = {
                pool.submit(contextvars.copy_context().run, one, i, item): i
                for i, item in enumerate(todo)
            }
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
        """What the server holds and runs: counts, models, backends, versions."""
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
