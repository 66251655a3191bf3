"""The index pipeline: decode → encode (codes, textures, the recommendation embedding)
→ text features (when text search is on) → tag feature → caption (when the captioner is
served) → catalog write, run by ``PipelineRunner``."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.catalog.base import (
    Caption,
    Catalog,
    KeyFrame,
    TagFeature,
    TextFeatures,
    VideoInfo,
    VideoRecord,
)
from vidsearch.config import VidsearchConfig
from vidsearch.contract.models import TAG_ENCODER, TEXT_ENCODER
from vidsearch.contract.repository_layout import TRAINING_TAGS_FILE, TRAINING_WORDING_FILE
from vidsearch.deadline import RequestBudget
from vidsearch.inference.base import InferenceBackend
from vidsearch.orchestrator.api import DuplicateContentError
from vidsearch.orchestrator.captions import Captioner, CaptionModels
from vidsearch.orchestrator.encoding import (
    DecodedFrames,
    EncodedVideo,
    FrameDecoder,
    VideoEncoder,
    file_sha256,
)
from vidsearch.orchestrator.pipeline import Stage
from vidsearch.orchestrator.stages import DecodeStage
from vidsearch.orchestrator.tags import TagModels
from vidsearch.orchestrator.text_search import TextModels
from vidsearch.orchestrator.wording import Wording


@dataclass
class IndexContext:
    """One video to index, and what each stage makes of it."""

    path: Path
    video_id: str
    title: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    content_sha256: str = ""
    model_version: int | None = None
    budget: RequestBudget = field(default_factory=RequestBudget.unlimited)
    decoded: DecodedFrames | None = None
    encoded: EncodedVideo | None = None
    text: TextFeatures | None = None
    tag_feature: TagFeature | None = None
    caption: Caption | None = None
    duplicate_of: tuple[str, ...] = ()
    replaced: bool = False


class IndexEncode:
    """Key-frame and whole-video codes and textures, and the recommendation embedding."""

    name = "encode"
    resource = "encode"

    def __init__(self, encoder: VideoEncoder) -> None:
        self._encoder = encoder

    def __call__(self, ctx: IndexContext) -> None:
        if ctx.decoded is None:
            raise RuntimeError("pipeline misconfigured: decode stage must run first")
        ctx.encoded = self._encoder(
            ctx.decoded, version=ctx.model_version, with_embedding=True, budget=ctx.budget
        )


class TextFeaturesStage:
    """The video side of text search, computed once here and stored with the video."""

    name = "text_encode"
    resource = "encode"

    def __init__(self, models: TextModels) -> None:
        self._models = models

    def __call__(self, ctx: IndexContext) -> None:
        if ctx.decoded is None:
            raise RuntimeError("pipeline misconfigured: decode stage must run first")
        ctx.text = self._models.video_features(
            ctx.decoded.frames, self._models.resolved_version(), timeout_s=ctx.budget.remaining()
        )


class TagFeatureStage:
    """The video's tag feature, stored with it so SuggestTags by id needs no decode."""

    name = "tag_feature"
    resource = "encode"

    def __init__(self, models: TagModels) -> None:
        self._models = models

    def __call__(self, ctx: IndexContext) -> None:
        if ctx.decoded is None:
            raise RuntimeError("pipeline misconfigured: decode stage must run first")
        ctx.tag_feature = self._models.video_feature(
            ctx.decoded.frames, self._models.version(), ctx.budget.remaining(), text=ctx.text)


class CaptionStage:
    """The video's generated sentence (and its sentence vector), stored with it."""

    name = "caption"
    resource = "encode"

    def __init__(self, captioner: Captioner) -> None:
        self._captioner = captioner

    def __call__(self, ctx: IndexContext) -> None:
        if ctx.decoded is None:
            raise RuntimeError("pipeline misconfigured: decode stage must run first")
        ctx.caption = self._captioner(ctx.decoded, ctx.budget)


class CatalogUpsert:
    """Refuse (or report) a file indexed under another id, then write the video; writers
    of one orchestrator take turns, and a write is not interrupted half-way."""

    name = "catalog_upsert"
    resource = "catalog"

    def __init__(
        self, catalog: Catalog, write_lock: threading.Lock, *, reject_duplicates: bool
    ) -> None:
        self._catalog = catalog
        self._write_lock = write_lock
        self._reject_duplicates = reject_duplicates

    def __call__(self, ctx: IndexContext) -> None:
        self.write([ctx], [self.checked(ctx)])

    def checked(self, ctx: IndexContext, batch: Mapping[str, str] | None = None) -> VideoRecord:
        """The record to write for ``ctx``, once the duplicate check passed (``batch``:
        content digest -> id of the videos checked before it for the same write)."""
        if ctx.encoded is None:
            raise RuntimeError("pipeline misconfigured: encode stage must run first")
        digest = ctx.content_sha256 or file_sha256(ctx.path)
        found = set(self._catalog.find_by_content(digest))
        if batch is not None and digest in batch:
            found.add(batch[digest])
        ctx.duplicate_of = tuple(sorted(found - {ctx.video_id}))
        if ctx.duplicate_of and self._reject_duplicates:
            raise DuplicateContentError(
                f"this file is already indexed as {', '.join(ctx.duplicate_of)}; index it "
                "under that id, delete the other first, or set catalog.duplicate_policy=report"
            )
        return _record(ctx, ctx.encoded, digest)

    def write(self, contexts: Sequence[IndexContext], records: Sequence[VideoRecord]) -> None:
        """Write checked videos in one catalog call (each visible whole or not at all)."""
        with self._write_lock:
            for ctx in contexts:
                ctx.budget.check("the catalog write")  # not started for nobody
            existing = self._catalog.get_videos([ctx.video_id for ctx in contexts])
            for ctx in contexts:
                ctx.replaced = ctx.video_id in existing
            self._catalog.upsert_videos(records)


def _record(ctx: IndexContext, encoded: EncodedVideo, digest: str) -> VideoRecord:
    return VideoRecord(
        video_id=ctx.video_id,
        hash_bits=encoded.video_bits,
        texture=encoded.video_texture,
        duration_s=encoded.duration_s,
        model_version=encoded.model_version,
        keyframes=[
            KeyFrame(float(t), bits, texture)
            for t, bits, texture in zip(
                encoded.times_s, encoded.keyframe_bits, encoded.keyframe_texture, strict=True
            )
        ],
        embedding=encoded.embedding,
        text=ctx.text,
        tag_feature=ctx.tag_feature,
        caption=ctx.caption,
        title=ctx.title,
        tags=ctx.tags,
        source=ctx.source,
        content_sha256=digest,
    )


@dataclass
class IndexModels:
    """The served models an index pipeline runs between decode and the catalog write, wired
    once for the orchestrator and for each backfill encode actor (which has no catalog)."""

    encoder: VideoEncoder
    text: TextModels
    tags: TagModels
    text_search: bool  # store text features (text models served, catalog has text vectors)
    captions: CaptionModels
    captioning: bool = False  # caption every video (caption models served)
    sentence_vectors: bool = False  # embed the captions (text served, catalog has the vector)

    @classmethod
    def build(cls, config: VidsearchConfig, backend: InferenceBackend, *, text_search: bool,
              captioning: bool = False, sentence_vectors: bool = False) -> IndexModels:
        timeout = config.inference.timeout_s
        encoder = VideoEncoder(backend, version=config.inference.model_version, timeout_s=timeout)
        repository = config.inference.model_repository
        text = TextModels(backend, config.text, timeout, wording=Wording.of(
            config.text.thesaurus, repository, TEXT_ENCODER.name, TRAINING_WORDING_FILE,
            config.text.thesaurus_senses))
        tags = TagModels(backend, text if text_search else None, timeout, wording=Wording.of(
            config.tags.thesaurus, repository, TAG_ENCODER.name, TRAINING_TAGS_FILE))
        captions = CaptionModels(backend, config.captions, config.inference.model_repository,
                                 timeout)
        return cls(encoder, text, tags, text_search, captions, captioning, sentence_vectors)

    def encode_stages(self) -> list[Stage[IndexContext]]:
        """Codes and textures, then the text features and the tag feature where served."""
        stages: list[Stage[IndexContext]] = [IndexEncode(self.encoder)]
        if self.text_search:
            stages.append(TextFeaturesStage(self.text))
        if self.tags.available():
            stages.append(TagFeatureStage(self.tags))
        if self.captioning:
            text = self.text if self.sentence_vectors else None
            stages.append(CaptionStage(Captioner(self.captions, text)))
        return stages


def build_index_pipeline(
    decoder: FrameDecoder,
    models: IndexModels,
    catalog: Catalog,
    write_lock: threading.Lock,
    *,
    reject_duplicates: bool,
) -> list[Stage[IndexContext]]:
    """The stage list for IndexVideo: decode, the models' stages, the catalog write."""
    return [
        DecodeStage(decoder),
        *models.encode_stages(),
        CatalogUpsert(catalog, write_lock, reject_duplicates=reject_duplicates),
    ]


def read_back(catalog: Catalog, video_id: str) -> VideoInfo:
    """The stored metadata of a video just written (the answer IndexVideo returns)."""
    info = catalog.get_video(video_id)
    if info is None:
        raise RuntimeError(f"video {video_id!r} was written but cannot be read back")
    return info
