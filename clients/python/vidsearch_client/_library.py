"""Library calls of the client: play a video back, list videos a page at a time, and
update a video's title and tags.

Mixed into :class:`~vidsearch_client.client.VideoSearchClient` (the async client runs
these same methods in a worker thread, see :mod:`vidsearch_client.aio`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from vidsearch_client import _cancel, _convert
from vidsearch_client._channel import Metadata
from vidsearch_client._core import (
    ClientCore,
    list_videos_request,
    update_video_request,
    video_filter,
)
from vidsearch_client._download import StreamWriter
from vidsearch_client._retry import call_with_retry
from vidsearch_client.types import DownloadedVideo, VideoFilter, VideoInfo, VideoPage
from vidsearch_client.v1 import vidsearch_pb2 as pb


class LibraryCalls(ClientCore):
    """``download``, ``list_video_pages``, ``list_videos`` and ``update_video``."""

    def download(
        self,
        video_id: str,
        dest: str | os.PathLike[str],
        *,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> DownloadedVideo:
        """Write an indexed video's bytes to ``dest`` (StreamVideo). Raises
        :class:`~vidsearch_client.errors.FailedPrecondition` when the server no longer has
        its source (an upload past the server's retention, a source file gone)."""
        request = pb.StreamVideoRequest(video_id=video_id)
        call = self._call(timeout, request_id, metadata)

        def invoke(remaining: float) -> DownloadedVideo:
            writer = StreamWriter(dest)
            stream = self._stub.StreamVideo(request, timeout=remaining, metadata=call.metadata)
            try:
                with _cancel.held(stream):
                    for message in stream:
                        writer.add(message)
                return writer.finish()
            finally:
                writer.discard()

        return call_with_retry("StreamVideo", invoke, timeout=call.timeout, policy=self.retry)

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
