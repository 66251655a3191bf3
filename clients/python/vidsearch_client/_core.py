"""The client's core: the constructor and settings, the channel, per-call options, how a
call is sent (deadline, retries, cancellation), and request construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2_grpc

from vidsearch_client import _cancel, _convert
from vidsearch_client._channel import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_S,
    ChannelOption,
    ChannelSettings,
    Keepalive,
    LoadBalancing,
    Metadata,
    call_metadata,
    default_target,
    per_call_metadata,
)
from vidsearch_client._retry import RetryPolicy, call_with_retry
from vidsearch_client._upload import Upload, request_stream, uri_media
from vidsearch_client.types import (
    SearchOptions,
    SentenceSearchOptions,
    TextSearchOptions,
    VideoFilter,
)
from vidsearch_client.v1 import vidsearch_pb2 as pb
from vidsearch_client.v1 import vidsearch_pb2_grpc as pb_grpc

OptionsT = TypeVar("OptionsT", SearchOptions, TextSearchOptions, SentenceSearchOptions, VideoFilter)


class CallOptions(NamedTuple):
    """One call's deadline (seconds, never none) and metadata."""

    timeout: float
    metadata: tuple[tuple[str, str], ...]


class ClientCore:
    """The constructor both clients share (so their signatures cannot drift): connection
    settings, default deadline, retry policy, token and metadata sent with every call.

    ``channel``: an existing channel to use (not closed by the client); else one is
    opened to ``target`` (default: $VIDSEARCH_TARGET or 127.0.0.1:50051) with TLS when
    ``secure`` or certificates are given. ``keepalive``, ``user_agent`` (the
    application's product token, sent before ``vidsearch-client/VERSION``) and
    ``channel_options`` (further gRPC channel arguments) shape the opened channel;
    ``metadata`` is sent with every call, after the bearer ``token``.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        channel: grpc.Channel | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        token: str | None = None,
        metadata: Metadata = (),
        secure: bool = False,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        load_balancing: LoadBalancing | None = None,
        keepalive: Keepalive | None = None,
        user_agent: str | None = None,
        channel_options: Sequence[ChannelOption] = (),
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
            keepalive=keepalive,
            user_agent=user_agent,
            channel_options=tuple(channel_options),
        )
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.metadata = call_metadata(token, metadata)
        if isinstance(channel, grpc.aio.Channel):
            raise TypeError("channel must be a grpc.Channel (both clients use the sync one)")
        self._owns_channel = channel is None
        self._channel = channel if channel is not None else self._open_channel()
        self._stub = pb_grpc.VideoSearchStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._ready()

    def _ready(self) -> None:
        """A subclass's own setup, after the channel (its constructor stays this one)."""

    def _open_channel(self) -> grpc.Channel:
        credentials = self.settings.channel_credentials()
        options = self.settings.options()
        if credentials is None:
            return grpc.insecure_channel(self.target, options=options)
        return grpc.secure_channel(self.target, credentials, options=options)

    @property
    def target(self) -> str:
        return self.settings.target

    def timeout_for(self, timeout: float | None) -> float:
        """The per-call deadline: the caller's, else the client default (never none)."""
        chosen = self.timeout if timeout is None else timeout
        if chosen <= 0:
            raise ValueError(f"timeout must be positive, got {chosen}")
        return chosen

    def _call(
        self, timeout: float | None, request_id: str | None, metadata: Metadata
    ) -> CallOptions:
        """A call's options: its deadline, and its metadata after the client's."""
        _cancel.check()  # an async call cancelled before it started sends nothing
        return CallOptions(self.timeout_for(timeout),
                           per_call_metadata(self.metadata, request_id, metadata))

    def _unary(self, method: str, rpc: Any, request: Any, call: CallOptions) -> Any:
        """A unary RPC with the call's deadline, metadata and retries."""

        def invoke(remaining: float) -> Any:
            return _cancel.blocking_call(rpc, request, timeout=remaining, metadata=call.metadata)

        return call_with_retry(method, invoke, timeout=call.timeout, policy=self.retry)

    def _upload(
        self,
        method: str,
        rpc: Any,
        make: Callable[..., Any],
        header: Any,
        upload: Upload | None,
        chunk_size: int,
        call: CallOptions,
    ) -> Any:
        """A client-streaming RPC: the header, then the upload (re-sent whole on a retry)."""

        def invoke(remaining: float) -> Any:
            stream: Iterator[Any] = request_stream(make, header, upload, chunk_size)
            return _cancel.blocking_call(rpc, stream, timeout=remaining, metadata=call.metadata)

        return call_with_retry(method, invoke, timeout=call.timeout, policy=self.retry)


def tag_tuple(tags: Sequence[str]) -> tuple[str, ...]:
    """A lone string is one tag, not a sequence of one-letter tags."""
    return (tags,) if isinstance(tags, str) else tuple(tags)


def index_header(
    video_id: str, title: str, tags: Sequence[str], media: pb.MediaSource
) -> pb.IndexVideoHeader:
    return pb.IndexVideoHeader(video_id=video_id, title=title, tags=tag_tuple(tags), media=media)


def search_header(options: SearchOptions | None, media: pb.MediaSource) -> pb.SearchByVideoHeader:
    return pb.SearchByVideoHeader(options=_convert.search_options(options), media=media)


def merged(options: OptionsT | None, empty: type[OptionsT], overrides: dict[str, Any]) -> OptionsT:
    """``options`` (else the defaults) with the keyword arguments given (not None) over it."""
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(options or empty(), **chosen)


def merge_options(options: SearchOptions | None, overrides: dict[str, Any]) -> SearchOptions:
    return merged(options, SearchOptions, overrides)


def query_text(text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return text


def text_request(
    text: str, options: TextSearchOptions | None, overrides: dict[str, Any]
) -> pb.SearchByTextRequest:
    return _convert.text_search_request(
        query_text(text), merged(options, TextSearchOptions, overrides))


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


def video_filter(
    only: VideoFilter | None, tags: Sequence[str] | None = None,
    title_prefix: str | None = None, model_version: int | None = None,
    video_ids: Sequence[str] | None = None,
) -> pb.VideoFilter:
    """A request's filter: ``only`` with the keyword arguments given (not None) over it."""
    return _convert.video_filter(merged(only, VideoFilter, {
        "tags": None if tags is None else tag_tuple(tags),
        "video_ids": None if video_ids is None else tag_tuple(video_ids),
        "title_prefix": title_prefix, "model_version": model_version,
    }))


def list_videos_request(
    page_size: int | None, page_token: str, only: pb.VideoFilter
) -> pb.ListVideosRequest:
    return pb.ListVideosRequest(page_size=page_size, page_token=page_token, filter=only)


def update_video_request(
    video_id: str, title: str | None, tags: Sequence[str] | None
) -> pb.UpdateVideoRequest:
    """Only the fields given (not None) are named in the mask, so only they change."""
    if title is None and tags is None:
        raise ValueError("give title and/or tags to update")
    request = pb.UpdateVideoRequest(video=pb.VideoInfo(video_id=video_id))
    if title is not None:
        request.video.title = title
        request.update_mask.paths.append("title")
    if tags is not None:
        request.video.tags.extend(tag_tuple(tags))
        request.update_mask.paths.append("tags")
    return request


def check_concurrency(concurrency: int) -> None:
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")


def nth_request_id(request_id: str | None, index: int) -> str | None:
    """The request id of a bulk call's ``index``-th item (``<request_id>-<index>``)."""
    return f"{request_id}-{index}" if request_id else None
