"""Tag suggestions against the live tag library (seed 004): the models, the stages, the
labelling worker.

Tags and videos meet in one space: the tag encoder embeds tag texts, the video tag
encoder a video's frames; suggestions are the library's nearest tags (cosine). Served by
name (``contract.models.TAG_MODELS``): when the model repository serves ``tag_encoder``
and ``video_tag_encoder`` (`make export` writes them from models/starter/tags.pt), they
are used; the served video tag encoder takes frames only (sound and title are masked in
it). A repository without them falls back to the **placeholder**, the text-search
pair, already trained for one space: ``text_encoder``'s ``text_embedding`` for tags and
``text_video_embedder``'s ``embedding`` for videos. Its versions are numbered
``PLACEHOLDER_BASE + text version`` so a tag embedded by it is never compared with a real
tag encoder's vectors.

A video's tag feature is computed at index time and stored with it (SuggestTags for an
indexed video reads it: no decode). Tags whose stored vector came from another encoder
version are re-embedded on the first tag request after start-up (and after a version
change), before any suggestion is made.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidsearch.catalog.base import (
    Catalog,
    TagFeature,
    TextFeatures,
    VideoInfo,
    VideoNotFoundError,
)
from vidsearch.catalog.tags import PageTokenError, TagHit, TagInfo, TagLibrary, TagVector
from vidsearch.contract.models import (
    ATTENTION_MASK,
    CLIP_FRAMES,
    INPUT_IDS,
    SCENE_TAG_FEATURES,
    TAG_EMBEDDING,
    TAG_ENCODER,
    TAG_FEATURE,
    TAG_MODELS,
    TEXT_EMBEDDING,
    VIDEO_TAG_ENCODER,
)
from vidsearch.deadline import RequestBudget
from vidsearch.inference.base import InferenceBackend
from vidsearch.media.transforms import resize
from vidsearch.orchestrator.api import InvalidRequestError
from vidsearch.orchestrator.encoding import DecodedFrames, FrameDecoder
from vidsearch.orchestrator.pipeline import PipelineRunner, Stage
from vidsearch.orchestrator.stages import DecodeStage
from vidsearch.orchestrator.text_search import TextModels, uniform_subsample
from vidsearch.orchestrator.wording import Wording

log = logging.getLogger(__name__)

PLACEHOLDER_BASE = 1_000_000
ENCODE_BATCH = 64  # texts per encoder call: the smallest max_batch_size of the text encoders
MAX_TAG_CHARS = 100
MAX_TAGS_PER_REQUEST = 1000
MAX_PAGE_SIZE = 1000
MAX_TOP_K = 100


class TagsUnavailableError(RuntimeError):
    """No tag models (nor text models to stand in) are served (FAILED_PRECONDITION)."""


def check_tag_texts(texts: Sequence[str]) -> list[str]:
    """The request's tags, or InvalidRequestError naming what to fix."""
    if not texts:
        raise InvalidRequestError("tags must hold at least one tag")
    if len(texts) > MAX_TAGS_PER_REQUEST:
        raise InvalidRequestError(
            f"at most {MAX_TAGS_PER_REQUEST} tags per request, got {len(texts)}; send them "
            "in several requests")
    seen: set[str] = set()
    for i, text in enumerate(texts):
        where = f"tag {i + 1}"
        if not text.strip():
            raise InvalidRequestError(f"{where} is empty; a tag needs at least one character")
        if len(text) > MAX_TAG_CHARS:
            raise InvalidRequestError(
                f"{where} is {len(text)} characters long; a tag has at most {MAX_TAG_CHARS}")
        if text != text.strip() or any(unicodedata.category(c) == "Cc" for c in text):
            raise InvalidRequestError(
                f"{where} ({text[:40]!r}) has leading/trailing spaces or control characters")
        if text in seen:
            raise InvalidRequestError(f"tag {text!r} appears more than once in the request")
        seen.add(text)
    return list(texts)


def check_in(name: str, value: int | None, default: int, low: int, high: int) -> int:
    chosen = default if value is None else value
    if not low <= chosen <= high:
        raise InvalidRequestError(f"{name} must be between {low} and {high}, got {chosen}",
                                  field=name)
    return chosen


class TagModels:
    """The served tag encoders (or the text-search placeholder): versions and calls."""

    def __init__(self, backend: InferenceBackend, text: TextModels | None,
                 timeout_s: float | None = None, wording: Wording | None = None) -> None:
        self._backend = backend
        self._text = text
        self._timeout = timeout_s
        self._wording = wording
        self._warned: set[int] = set()  # versions served without scene features

    def available(self) -> bool:
        """Whether tags can be served now (tag models, or the placeholder's text models)."""
        try:
            self.version()
            return True
        except Exception:  # not served now: index without tag features
            return False

    def _served(self) -> list[int]:
        try:
            versions = [set(self._backend.model_versions(m.name)) for m in TAG_MODELS]
        except Exception:  # not served, or not reachable now: the placeholder decides
            return []
        return sorted(set.intersection(*versions))

    def version(self) -> int:
        """The tag space requests use now: the latest served tag models, else the
        placeholder's (``PLACEHOLDER_BASE`` + the text models' version)."""
        served = self._served()
        if served:
            return served[-1]
        if self._text is None:
            raise TagsUnavailableError(
                "tag suggestions are off: the model repository serves neither the tag models "
                "(tag_encoder, video_tag_encoder) nor the text models that stand in for them; "
                "export them (`vidsearch export text-video`) and restart")
        return PLACEHOLDER_BASE + self._text.resolved_version()

    def dim(self) -> int:
        version = self.version()
        if version >= PLACEHOLDER_BASE:
            assert self._text is not None
            return self._text.embed_dim
        sig = self._backend.signature(TAG_ENCODER.name, version)
        return int(next(t.shape[-1] for t in sig.outputs if t.name == TAG_EMBEDDING.name))

    def encode_tags(self, texts: list[str], version: int,
                    timeout_s: float | None = None) -> np.ndarray:
        """[N,E] float32 unit rows, one per tag text, in calls of at most ``ENCODE_BATCH``
        texts (a request may hold more tags than an encoder's max_batch_size)."""
        if len(texts) > ENCODE_BATCH:
            return np.concatenate([self.encode_tags(texts[i:i + ENCODE_BATCH], version,
                                                    timeout_s)
                                   for i in range(0, len(texts), ENCODE_BATCH)])
        timeout = timeout_s if timeout_s is not None else self._timeout
        if version >= PLACEHOLDER_BASE:
            assert self._text is not None
            out = self._text.encode_texts(texts, version - PLACEHOLDER_BASE, timeout)
            vectors = out[TEXT_EMBEDDING.name]
        else:
            assert self._text is not None  # the tokenizer is the text models' (MiniLM)
            if self._wording is not None:
                texts = self._wording.rewrite(texts, version)
            ids, mask = self._text.tokenize(texts)
            out = self._backend.infer(TAG_ENCODER.name, {INPUT_IDS.name: ids,
                                                         ATTENTION_MASK.name: mask},
                                      version=version, timeout=timeout)
            vectors = out[TAG_EMBEDDING.name]
        return _unit_rows(np.asarray(vectors, dtype=np.float32))

    def _frame_size(self, version: int) -> int:
        """The square frame size the video tag encoder of ``version`` takes."""
        sig = self._backend.signature(VIDEO_TAG_ENCODER.name, version)
        return int(next(t.shape[-2] for t in sig.inputs if t.name == CLIP_FRAMES.name))

    def video_feature(self, frames: np.ndarray, version: int, timeout_s: float | None = None,
                      text: TextFeatures | None = None) -> TagFeature:
        """Index time (or an upload): a video's frames, uint8 [T,S,S,3] -> its tag feature
        (the placeholder reuses ``text``, the video's text features, when they are of its
        version)."""
        if version >= PLACEHOLDER_BASE:
            assert self._text is not None
            text_version = version - PLACEHOLDER_BASE
            if text is None or text.model_version != text_version:
                text = self._text.video_features(frames, text_version, timeout_s)
            return TagFeature(_unit_rows(text.embedding[None])[0], version)
        size = self._frame_size(version)  # the decoder serves the copy models' size
        picked = resize(frames[uniform_subsample(len(frames), 32)], size, size)
        out = self._backend.infer(VIDEO_TAG_ENCODER.name, {CLIP_FRAMES.name: picked[None]},
                                  version=version, timeout=timeout_s or self._timeout)
        scenes = out.get(SCENE_TAG_FEATURES.name)  # absent from repositories exported before
        if scenes is None and version not in self._warned:
            self._warned.add(version)
            log.warning("video_tag_encoder version %d serves no scene features: tags are "
                        "scored by the whole video only (re-export the tag models)", version)
        return TagFeature(_unit_rows(np.asarray(out[TAG_FEATURE.name], np.float32))[0], version,
                          None if scenes is None else _unit_rows(np.asarray(scenes[0])))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


# -- stages ----------------------------------------------------------------------------


@dataclass
class SuggestContext:
    """One SuggestTags request (an indexed video, or an upload) and what stages make of it."""

    version: int
    top_k: int
    max_distance: float | None
    video_id: str = ""  # an indexed video, or
    path: Path = field(default_factory=Path)  # an upload (when video_id is "")
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    decoded: DecodedFrames | None = None
    feature: TagFeature | None = None
    hits: list[TagHit] = field(default_factory=list)


class StoredTagFeature:
    """The tag feature stored with an indexed video (no decode)."""

    name = "stored_tag_feature"
    resource = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def __call__(self, ctx: SuggestContext) -> None:
        try:
            feature = self._catalog.tag_feature(ctx.video_id)
        except VideoNotFoundError:
            raise VideoNotFoundError(
                f"no indexed video has id {ctx.video_id!r}: suggest tags for an indexed video "
                "(check the id with `vidsearch get ID`) or upload the video instead") from None
        if feature is None or feature.model_version != ctx.version:
            have = "no tag feature" if feature is None else (
                f"a tag feature of tag model version {feature.model_version}")
            raise InvalidRequestError(
                f"video {ctx.video_id!r} has {have}, not one of version {ctx.version}: index "
                "it again (IndexVideo, `vidsearch index`), or upload it instead")
        ctx.feature = feature


class UploadTagFeature:
    """The tag feature of an uploaded (decoded) video."""

    name = "tag_feature"
    resource = "encode"

    def __init__(self, models: TagModels) -> None:
        self._models = models

    def __call__(self, ctx: SuggestContext) -> None:
        if ctx.decoded is None:
            raise RuntimeError("pipeline misconfigured: decode stage must run first")
        ctx.feature = self._models.video_feature(ctx.decoded.frames, ctx.version,
                                                 ctx.budget.remaining())


class NearestTags:
    """The library's tags nearest to the video's tag feature."""

    name = "nearest_tags"
    resource = "catalog"

    def __init__(self, library: TagLibrary, scene_weight: float) -> None:
        self._library = library
        self._scene_weight = scene_weight

    def __call__(self, ctx: SuggestContext) -> None:
        assert ctx.feature is not None, "a tag feature stage must run first"
        ctx.hits = self._library.nearest(ctx.feature.vector, limit=ctx.top_k,
                                         model_version=ctx.version,
                                         max_distance=ctx.max_distance, budget=ctx.budget,
                                         scenes=ctx.feature.scenes,
                                         scene_weight=self._scene_weight)


@dataclass
class TagWriteContext:
    texts: list[str]
    version: int
    source: str = ""
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    vectors: np.ndarray | None = None
    added: list[bool] = field(default_factory=list)


class EncodeTags:
    name = "tag_encode"
    resource = "encode"

    def __init__(self, models: TagModels) -> None:
        self._models = models

    def __call__(self, ctx: TagWriteContext) -> None:
        ctx.vectors = self._models.encode_tags(ctx.texts, ctx.version, ctx.budget.remaining())


class WriteTags:
    name = "tag_write"
    resource = "catalog"

    def __init__(self, library: TagLibrary) -> None:
        self._library = library

    def __call__(self, ctx: TagWriteContext) -> None:
        assert ctx.vectors is not None, "tag_encode must run first"
        ctx.added = self._library.upsert([
            TagVector(t, v, ctx.version, ctx.source)
            for t, v in zip(ctx.texts, ctx.vectors, strict=True)
        ])


# -- the service the RPCs call ---------------------------------------------------------


class TagService:
    """Tag suggestions, the library and the labelling worker, run by ``runner``."""

    def __init__(self, models: TagModels, catalog: Catalog, runner: PipelineRunner,
                 decoder: Callable[[], FrameDecoder], scene_weight: float) -> None:
        self.models = models
        self.scene_weight = scene_weight
        self._catalog = catalog
        self._runner = runner
        self._decoder = decoder
        self._library: TagLibrary | None = None
        self._current: int | None = None  # the version the whole library is embedded in
        self._refresh = threading.Lock()

    def library(self) -> TagLibrary:
        """The library, every tag embedded by the encoder version served now (stale tags
        re-embedded first: on the first request, and after a version change)."""
        version = self.models.version()
        if self._library is None or self._current != version:
            with self._refresh:
                if self._library is None:
                    self._library = self._catalog.tag_library(self.models.dim())
                if self._current != version:
                    for batch in self._library.stale(version):
                        vectors = self.models.encode_tags([t.text for t in batch], version)
                        self._library.upsert([TagVector(t.text, v, version, t.source)
                                              for t, v in zip(batch, vectors, strict=True)])
                    self._current = version
        return self._library

    def stored_feature(self, video_id: str) -> TagFeature | None:
        """The tag feature stored with an indexed video: what SuggestTags by id ranks the
        library against, for references that rank it themselves (the benchmark's brute
        force). None when it has none; VideoNotFoundError when the id is not indexed."""
        return self._catalog.tag_feature(video_id)

    def suggest(self, *, video_id: str = "", path: Path | None = None, top_k: int | None = None,
                max_distance: float | None = None,
                budget: RequestBudget | None = None) -> tuple[list[TagHit], int, dict[str, float]]:
        """Nearest tags for an indexed video (``video_id``) or an upload (``path``)."""
        if bool(video_id) == (path is not None):
            raise InvalidRequestError("give either video_id (an indexed video) or an upload")
        if max_distance is not None and not 0.0 <= max_distance <= 2.0:
            raise InvalidRequestError(
                f"max_distance is a distance in [0, 2] (1 - similarity), got {max_distance}")
        library = self.library()
        ctx = SuggestContext(version=self._current or self.models.version(),
                             top_k=check_in("top_k", top_k, 10, 1, MAX_TOP_K),
                             max_distance=max_distance, video_id=video_id,
                             path=path or Path(), budget=budget or RequestBudget.unlimited())
        feature: list[Stage[SuggestContext]]
        if path is not None:
            feature = [DecodeStage(self._decoder()), UploadTagFeature(self.models)]
        else:
            feature = [StoredTagFeature(self._catalog)]
        timings = self._runner.run("suggest_tags",
                                   [*feature, NearestTags(library, self.scene_weight)], ctx)
        return ctx.hits, ctx.version, timings

    def upsert(self, texts: Sequence[str], source: str = "",
               budget: RequestBudget | None = None) -> tuple[list[TagInfo], int]:
        """Add or replace tags; (the stored tags, how many were new)."""
        checked = check_tag_texts(texts)
        library = self.library()
        ctx = TagWriteContext(checked, self._current or self.models.version(), source,
                              budget or RequestBudget.unlimited())
        self._runner.run("upsert_tags", [EncodeTags(self.models), WriteTags(library)], ctx)
        stored = library.get(checked)
        return [stored[t] for t in checked if t in stored], sum(ctx.added)

    def delete(self, texts: Sequence[str]) -> list[str]:
        """Remove tags; the ones that were not in the library."""
        checked = check_tag_texts(texts)
        removed = self.library().delete(checked)
        return [t for t, was in zip(checked, removed, strict=True) if not was]

    def page(self, page_size: int | None, page_token: str) -> tuple[list[TagInfo], str]:
        size = check_in("page_size", page_size, 100, 1, MAX_PAGE_SIZE)
        try:
            return self.library().page(size, page_token)
        except PageTokenError as exc:
            raise InvalidRequestError(str(exc), field="page_token") from None

    def tag_videos(self, *, max_videos: int | None, top_k: int | None,
                   max_distance: float | None) -> tuple[list[tuple[str, list[str]]], int]:
        """The labelling worker: suggested tags stored on up to ``max_videos`` untagged
        videos; (what was tagged, untagged videos not reached). Resumable: a tagged video
        is skipped by the next call, so calls go on where the last one stopped."""
        limit = check_in("max_videos", max_videos, 100, 1, 10_000)
        tagged: list[tuple[str, list[str]]] = []
        visited, left = 0, 0
        for info in self._catalog.iter_videos():
            if info.tags:
                continue
            if visited >= limit:
                left += 1
                continue
            visited += 1
            try:
                hits, _, _ = self.suggest(video_id=info.video_id, top_k=top_k,
                                          max_distance=max_distance)
            except InvalidRequestError:  # no tag feature of this version: reindex first
                continue
            if hits:
                texts = [h.tag.text for h in hits]
                self._catalog.set_video_tags(info.video_id, texts)
                tagged.append((info.video_id, texts))
        return tagged, left

    def videos_with_tag(self, tag: str, limit: int | None) -> list[VideoInfo]:
        [text] = check_tag_texts([tag])
        return self._catalog.videos_with_tag(text, check_in("limit", limit, 100, 1, 1000))
