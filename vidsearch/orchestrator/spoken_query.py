"""SearchBySentence and SearchByAudio: the service over the captions the catalog stores.

A spoken query is an upload like a video's (the service receives it with the same size,
checksum and sequence checks, and sniffs an audio container); here it is decoded by
PyAV to 16 kHz mono in the decode sandbox (``media.sandbox``: a memory-, CPU- and
time-capped child, as for videos), refused when it is silent or too long, turned into
text by pocketsphinx with the captioner's language model (``media.speech``), and then
searched exactly as a typed sentence (``sentence_search``). Stages are timed into
``vidsearch_stage_seconds`` like every other pipeline: ``audio_decode``,
``speech_recognition``, ``sentence_encode``, ``sentence_search``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from vidsearch.catalog.base import Catalog
from vidsearch.config import CaptionsConfig, MediaConfig
from vidsearch.deadline import RequestBudget
from vidsearch.media.audio import decode_audio
from vidsearch.media.errors import SOURCE, EmptyMediaError
from vidsearch.media.sandbox import sandboxed_decode_audio
from vidsearch.media.speech import SAMPLE_RATE, SpeechRecognizer, vocabulary_arpa
from vidsearch.orchestrator.api import (
    CaptionsUnavailableError,
    InvalidRequestError,
    SentenceSearchOptions,
    SentenceSearchResult,
)
from vidsearch.orchestrator.captions import CaptionModels
from vidsearch.orchestrator.options import check_top_k, clean_query_text
from vidsearch.orchestrator.pipeline import PipelineRunner, Stage
from vidsearch.orchestrator.sentence_search import (
    SentenceSearchContext,
    Synonyms,
    sentence_stages,
)
from vidsearch.orchestrator.text_search import TextModels

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-3  # |sample| below this everywhere: nothing was said


@dataclass
class SpokenQuery:
    """The audio file of a SearchByAudio request, and what the first stages make of it."""

    path: Path
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    samples: np.ndarray | None = None
    text: str = ""


class AudioDecodeStage:
    """The upload's first audio stream as 16 kHz mono, in the decode sandbox."""

    name = "audio_decode"
    resource = "decode"

    def __init__(self, media: MediaConfig, config: CaptionsConfig) -> None:
        self._media, self._config = media, config

    def __call__(self, ctx: SpokenQuery) -> None:
        media, cfg = self._media, self._config
        decode: Callable[..., np.ndarray] = (
            partial(sandboxed_decode_audio, memory_limit_bytes=media.sandbox_memory_bytes)
            if media.sandbox else decode_audio)
        samples = decode(ctx.path, sample_rate=SAMPLE_RATE, max_duration_s=cfg.max_audio_s,
                         timeout_s=ctx.budget.timeout_for("decoding the audio",
                                                          cfg.speech_timeout_s),
                         interrupt=partial(ctx.budget.check, "decoding the audio"))
        name = str(ctx.path)
        if samples.size == 0:
            raise EmptyMediaError(f"{SOURCE} holds no sound; send a recording of the query "
                                  "(WAV, MP3, AAC or Opus)", name)
        if float(np.max(np.abs(samples))) < SILENCE_PEAK:
            raise EmptyMediaError(f"{SOURCE} is silent; record the query again, closer to "
                                  "the microphone", name)
        ctx.samples = samples


class SpeechStage:
    """The words heard, by pocketsphinx with the domain language model."""

    name = "speech_recognition"
    resource = "encode"

    def __init__(self, recognizer: SpeechRecognizer) -> None:
        self._recognizer = recognizer

    def __call__(self, ctx: SpokenQuery) -> None:
        assert ctx.samples is not None, "pipeline misconfigured: audio_decode must run first"
        ctx.text = self._recognizer.recognize(ctx.samples)
        if not ctx.text:
            raise InvalidRequestError(
                "no words were recognised in the audio; say what the video shows in English, "
                "e.g. 'a red circle moving left', with little background noise")


class SentenceService:
    """SearchBySentence / SearchByAudio on one catalog (see the module doc)."""

    def __init__(self, captions: CaptionModels, text: TextModels, catalog: Catalog,
                 runner: PipelineRunner, media: MediaConfig, *, enabled: bool,
                 search_slot: Callable[[], AbstractContextManager[None]]) -> None:
        self._captions, self._text, self._catalog = captions, text, catalog
        self._runner, self._media, self._config = runner, media, captions.config
        self._enabled, self._slot = enabled, search_slot
        self._recognizers: dict[int, SpeechRecognizer] = {}
        self._synonyms: dict[int, Synonyms] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Sentence search is served: captioner and text encoder served, catalog has
        sentence vectors."""
        return self._enabled

    def _require(self) -> None:
        if not self._enabled:
            raise CaptionsUnavailableError(
                "sentence search is off: the model repository serves no captioner or no text "
                "models (`vidsearch export starter` exports both), or the catalog was created "
                "without sentence vectors (re-create it, then `vidsearch reindex`)")

    def recognizer(self) -> SpeechRecognizer:
        """The recognizer of the served captioner's language model (built once each)."""
        version = self._captions.resolved_version()
        with self._lock:
            if version not in self._recognizers:
                arpa = self._captions.speech_model(version)
                if arpa is None:  # an older export: the vocabulary alone
                    arpa = vocabulary_arpa(self._captions.words(version)[4:])
                self._recognizers[version] = SpeechRecognizer(arpa)
            return self._recognizers[version]

    def search(self, text: str, options: SentenceSearchOptions,
               budget: RequestBudget | None = None) -> SentenceSearchResult:
        """SearchBySentence."""
        self._require()
        query = clean_query_text(text, self._config.max_query_chars)
        budget = budget if budget is not None else RequestBudget.unlimited()
        with self._slot():
            return self._search(query, options, budget, "search_sentence", {})

    def search_audio(self, path: Path, options: SentenceSearchOptions,
                     budget: RequestBudget | None = None) -> SentenceSearchResult:
        """SearchByAudio: recognise, then search the recognised text."""
        self._require()
        budget = budget if budget is not None else RequestBudget.unlimited()
        self._resolve(options)  # bad options fail before any decoding
        with self._slot():
            spoken = SpokenQuery(path=path, budget=budget)
            stages: list[Stage[SpokenQuery]] = [
                AudioDecodeStage(self._media, self._config), SpeechStage(self.recognizer())]
            timings = self._runner.run("search_audio", stages, spoken)
            return self._search(spoken.text, options, budget, "search_audio", timings)

    def synonyms(self) -> Synonyms:
        """The served captioner's synonym groups (read once per version)."""
        version = self._captions.resolved_version()
        with self._lock:
            if version not in self._synonyms:
                groups = self._captions.synonyms(version)
                if not groups:
                    log.warning("caption_step version %d was exported without synonym groups: "
                                "sentence search matches words, not facts (re-export the "
                                "captioner: `vidsearch export --family captions`)", version)
                self._synonyms[version] = Synonyms(groups)
            return self._synonyms[version]

    def _resolve(self, options: SentenceSearchOptions) -> tuple[int, int]:
        top_k = options.top_k if options.top_k is not None else self._config.top_k
        candidates = (options.candidates if options.candidates is not None
                      else self._config.candidates)
        check_top_k(top_k, candidates)
        return top_k, candidates

    def _search(self, text: str, options: SentenceSearchOptions, budget: RequestBudget,
                pipeline: str, timings: dict[str, float]) -> SentenceSearchResult:
        top_k, candidates = self._resolve(options)
        ctx = SentenceSearchContext(text=text, top_k=top_k, candidates=candidates,
                                    fusion_k=self._config.fusion_k,
                                    version=self._text.resolved_version(), only=options.only,
                                    budget=budget, synonyms=self.synonyms(),
                                    fusion=self._config.fusion)
        timings.update(self._runner.run(pipeline, sentence_stages(self._text, self._catalog),
                                        ctx))
        return SentenceSearchResult(
            hits=tuple(ctx.hits), words=ctx.words, model_version=ctx.version,
            recognized_text=text if pipeline == "search_audio" else "", stage_seconds=timings)

    def close(self) -> None:
        for recognizer in self._recognizers.values():
            recognizer.close()
