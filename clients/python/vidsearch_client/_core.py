"""What the sync and async clients share: settings and request construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import grpc

from vidsearch_client import _convert
from vidsearch_client._channel import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_S,
    ChannelSettings,
    LoadBalancing,
    call_metadata,
    default_target,
)
from vidsearch_client._retry import RetryPolicy
from vidsearch_client._upload import Upload, VideoInput, uri_media
from vidsearch_client.types import SearchOptions, TextSearchOptions
from vidsearch_client.v1 import vidsearch_pb2 as pb


class ClientCore:
    """Holds the connection settings, default deadline, retry policy and token."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        token: str | None = None,
        secure: bool = False,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        load_balancing: LoadBalancing | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.settings = ChannelSettings(
            target=target or default_target(),
            secure=secure,
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
            credentials=credentials,
            max_message_bytes=max_message_bytes,
            load_balancing=load_balancing,
        )
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.metadata = call_metadata(token)

    @property
    def target(self) -> str:
        return self.settings.target

    def timeout_for(self, timeout: float | None) -> float:
        """The per-call deadline: the caller's, else the client default (never none)."""
        chosen = self.timeout if timeout is None else timeout
        if chosen <= 0:
            raise ValueError(f"timeout must be positive, got {chosen}")
        return chosen


def tag_tuple(tags: Sequence[str]) -> tuple[str, ...]:
    """A lone string is one tag, not a sequence of one-letter tags."""
    return (tags,) if isinstance(tags, str) else tuple(tags)


def index_header(
    video_id: str, title: str, tags: Sequence[str], media: pb.MediaSource
) -> pb.IndexVideoHeader:
    return pb.IndexVideoHeader(video_id=video_id, title=title, tags=tag_tuple(tags), media=media)


def search_header(options: SearchOptions | None, media: pb.MediaSource) -> pb.SearchByVideoHeader:
    return pb.SearchByVideoHeader(options=_convert.search_options(options), media=media)


def merge_options(options: SearchOptions | None, overrides: dict[str, Any]) -> SearchOptions:
    """Keyword arguments given explicitly (not None) win over ``options``."""
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(options or SearchOptions(), **chosen)


def text_request(
    text: str, options: TextSearchOptions | None, overrides: dict[str, Any]
) -> pb.SearchByTextRequest:
    """Keyword arguments given explicitly (not None) win over ``options``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    merged = dataclasses.replace(options or TextSearchOptions(), **chosen)
    return _convert.text_search_request(text, merged)


def upload_of(video: VideoInput, checksum: bool, chunk_size: int) -> Upload:
    """Check everything local before the call: errors raised while gRPC iterates the
    request stream would only surface as an opaque UNKNOWN status."""
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return Upload.of(video, checksum=checksum)


def uri_source(uri: str, content_sha256: str | None) -> pb.MediaSource:
    if not uri:
        raise ValueError("uri must not be empty")
    return uri_media(uri, content_sha256)


def recommend_request(video_id: str, k: int | None) -> pb.RecommendRequest:
    request = pb.RecommendRequest(video_id=video_id)
    if k is not None:
        request.k = k
    return request


def suggest_header(
    video_id: str, media: pb.MediaSource | None, top_k: int | None, max_distance: float | None
) -> pb.SuggestTagsHeader:
    """By an indexed video's id, or by an upload (``media``)."""
    return pb.SuggestTagsHeader(video_id=video_id, media=media,
                                options=tag_options(top_k, max_distance))


def tag_options(top_k: int | None, max_distance: float | None) -> pb.TagOptions:
    return pb.TagOptions(top_k=top_k, max_distance=max_distance)


def tag_videos_request(
    max_videos: int | None, top_k: int | None, max_distance: float | None
) -> pb.TagVideosRequest:
    return pb.TagVideosRequest(max_videos=max_videos, options=tag_options(top_k, max_distance))
