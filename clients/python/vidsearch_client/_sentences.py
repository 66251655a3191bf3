"""SearchBySentence and SearchByAudio calls, mixed into the sync and the async client
(kept out of client.py / aio.py, which hold the rest of the API).

A spoken query is uploaded like a query video: a header with the options, then the
file's bytes in numbered chunks, checksummed; the server decodes WAV, MP3, AAC or Opus.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from vidsearch_client import _convert
from vidsearch_client._channel import Metadata
from vidsearch_client._upload import DEFAULT_CHUNK_SIZE, Upload, VideoInput
from vidsearch_client.types import SearchResult, SentenceSearchOptions, VideoFilter
from vidsearch_client.v1 import vidsearch_pb2 as pb

if TYPE_CHECKING:
    from vidsearch_client._core import CallOptions


def sentence_request(text: str, options: SentenceSearchOptions | None,
                     overrides: dict[str, Any]) -> pb.SearchBySentenceRequest:
    """Keyword arguments given explicitly (not None) win over ``options``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return pb.SearchBySentenceRequest(
        text=text, options=_convert.sentence_options(_merged(options, overrides)))


def audio_header(options: SentenceSearchOptions | None, overrides: dict[str, Any],
                 media: pb.MediaSource) -> pb.SearchByAudioHeader:
    return pb.SearchByAudioHeader(
        options=_convert.sentence_options(_merged(options, overrides)), media=media)


def _merged(options: SentenceSearchOptions | None,
            overrides: dict[str, Any]) -> SentenceSearchOptions:
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(options or SentenceSearchOptions(), **chosen)


def _audio_upload(audio: VideoInput, checksum: bool, chunk_size: int) -> Upload:
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return Upload.of(audio, checksum=checksum)


class SentenceCalls:
    """``VideoSearchClient.search_sentence`` and ``search_audio``."""

    if TYPE_CHECKING:
        _stub: Any

        def _call(self, timeout: float | None, request_id: str | None,
                  metadata: Metadata) -> CallOptions: ...
        def _unary(self, method: str, rpc: Callable[..., Any], request: Any,
                   call: CallOptions) -> Any: ...
        def _upload(self, method: str, rpc: Callable[..., Any], make: Callable[..., Any],
                    header: Any, upload: Upload | None, chunk_size: int,
                    call: CallOptions) -> Any: ...

    def search_sentence(
        self,
        text: str,
        options: SentenceSearchOptions | None = None,
        *,
        top_k: int | None = None,
        candidates: int | None = None,
        filter: VideoFilter | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> SearchResult:
        """Indexed videos whose generated sentence matches ``text`` (each hit's
        ``video.caption``, and ``hit.sentence``: the rankings behind its score)."""
        request = sentence_request(text, options, {"top_k": top_k, "candidates": candidates,
                                                   "filter": filter})
        response = self._unary("SearchBySentence", self._stub.SearchBySentence, request,
                               self._call(timeout, request_id, metadata))
        return _convert.search_result(response)

    def search_audio(
        self,
        audio: VideoInput,
        options: SentenceSearchOptions | None = None,
        *,
        top_k: int | None = None,
        candidates: int | None = None,
        filter: VideoFilter | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> SearchResult:
        """A spoken query (a local audio file, or raw ``bytes``): the server recognises it
        (``result.recognized_text``) and searches the text as ``search_sentence``."""
        upload = _audio_upload(audio, checksum, chunk_size)
        header = audio_header(options, {"top_k": top_k, "candidates": candidates,
                                        "filter": filter}, upload.media())
        response = self._upload("SearchByAudio", self._stub.SearchByAudio,
                                pb.SearchByAudioRequest, header, upload, chunk_size,
                                self._call(timeout, request_id, metadata))
        return _convert.search_result(response)


class AsyncSentenceCalls:
    """``AsyncVideoSearchClient.search_sentence`` and ``search_audio`` (same arguments)."""

    if TYPE_CHECKING:
        _stub: Any

        def _call(self, timeout: float | None, request_id: str | None,
                  metadata: Metadata) -> CallOptions: ...
        def _unary(self, method: str, rpc: Callable[..., Awaitable[Any]], request: Any,
                   call: CallOptions) -> Awaitable[Any]: ...
        def _upload(self, method: str, rpc: Callable[..., Awaitable[Any]],
                    make: Callable[..., Any], header: Any, upload: Upload | None,
                    chunk_size: int, call: CallOptions) -> Awaitable[Any]: ...

    async def search_sentence(
        self,
        text: str,
        options: SentenceSearchOptions | None = None,
        *,
        top_k: int | None = None,
        candidates: int | None = None,
        filter: VideoFilter | None = None,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> SearchResult:
        request = sentence_request(text, options, {"top_k": top_k, "candidates": candidates,
                                                   "filter": filter})
        response = await self._unary("SearchBySentence", self._stub.SearchBySentence, request,
                                     self._call(timeout, request_id, metadata))
        return _convert.search_result(response)

    async def search_audio(
        self,
        audio: VideoInput,
        options: SentenceSearchOptions | None = None,
        *,
        top_k: int | None = None,
        candidates: int | None = None,
        filter: VideoFilter | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        checksum: bool = True,
        timeout: float | None = None,
        request_id: str | None = None,
        metadata: Metadata = (),
    ) -> SearchResult:
        upload = _audio_upload(audio, checksum, chunk_size)
        header = audio_header(options, {"top_k": top_k, "candidates": candidates,
                                        "filter": filter}, upload.media())
        response = await self._upload("SearchByAudio", self._stub.SearchByAudio,
                                      pb.SearchByAudioRequest, header, upload, chunk_size,
                                      self._call(timeout, request_id, metadata))
        return _convert.search_result(response)
