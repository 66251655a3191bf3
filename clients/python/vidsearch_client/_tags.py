"""Tag calls of the client: suggestions for a video, the tag library, stored tags.

Mixed into :class:`~vidsearch_client.client.VideoSearchClient` (the async client runs
these same methods in a worker thread, see :mod:`vidsearch_client.aio`).
"""

from __future__ import annotations

from collections.abc import Sequence

from vidsearch_client import _convert
from vidsearch_client._channel import Metadata
from vidsearch_client._core import (
    ClientCore,
    suggest_header,
    tag_tuple,
    tag_videos_request,
)
from vidsearch_client._upload import DEFAULT_CHUNK_SIZE, VideoInput, upload_of
from vidsearch_client.types import TaggedVideos, TagPage, TagSuggestions, VideoInfo
from vidsearch_client.v1 import vidsearch_pb2 as pb


class TagCalls(ClientCore):
    """``suggest_tags``, ``suggest_tags_for_video``, ``add_tags``, ``delete_tags``,
    ``list_tags``, ``tag_videos`` and ``videos_with_tag``."""

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
        decode), nearest first; ``max_distance``: a distance bound in [0, 2] (1 - similarity)."""
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
        call = self._call(timeout, request_id, metadata)
        upload = upload_of(video, checksum, chunk_size)
        header = suggest_header("", upload.media(), top_k, max_distance)
        response = self._upload(
            "SuggestTags",
            self._stub.SuggestTags,
            pb.SuggestTagsRequest,
            header,
            upload,
            chunk_size,
            call,
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
