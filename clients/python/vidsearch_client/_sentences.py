"""SearchBySentence and SearchByAudio calls, mixed into
:class:`~vidsearch_client.client.VideoSearchClient` (the async client runs these same
methods in a worker thread, see :mod:`vidsearch_client.aio`).

A spoken query is uploaded like a query video: a header with the options, then the
file's bytes in numbered chunks, checksummed; the server decodes WAV, MP3, AAC or Opus.
"""

from __future__ import annotations

from typing import Any

from vidsearch_client import _convert
from vidsearch_client._channel import Metadata
from vidsearch_client._core import ClientCore, merged, query_text
from vidsearch_client._upload import DEFAULT_CHUNK_SIZE, VideoInput, upload_of
from vidsearch_client.types import SearchResult, SentenceSearchOptions, VideoFilter
from vidsearch_client.v1 import vidsearch_pb2 as pb


def sentence_request(text: str, options: SentenceSearchOptions | None,
                     overrides: dict[str, Any]) -> pb.SearchBySentenceRequest:
    """Keyword arguments given explicitly (not None) win over ``options``."""
    return pb.SearchBySentenceRequest(
        text=query_text(text),
        options=_convert.sentence_options(merged(options, SentenceSearchOptions, overrides)))


def audio_header(options: SentenceSearchOptions | None, overrides: dict[str, Any],
                 media: pb.MediaSource) -> pb.SearchByAudioHeader:
    return pb.SearchByAudioHeader(
        options=_convert.sentence_options(merged(options, SentenceSearchOptions, overrides)),
        media=media)


class SentenceCalls(ClientCore):
    """``search_sentence`` and ``search_audio``."""

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
        call = self._call(timeout, request_id, metadata)
        upload = upload_of(audio, checksum, chunk_size)
        header = audio_header(options, {"top_k": top_k, "candidates": candidates,
                                        "filter": filter}, upload.media())
        response = self._upload("SearchByAudio", self._stub.SearchByAudio,
                                pb.SearchByAudioRequest, header, upload, chunk_size, call)
        return _convert.search_result(response)
