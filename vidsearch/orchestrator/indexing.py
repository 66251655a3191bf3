"""The index pipeline: decode → encode (codes, textures, the recommendation embedding)
→ text features (when text search is on) → catalog write, run by ``PipelineRunner``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from vidsearch.catalog.base import (
    Catalog,
    KeyFrame,
    TagFeature,
    TextFeatures,
    VideoInfo,
    VideoRecord,
)
from vidsearch.deadline import RequestBudget
from vidsearch.orchestrator.api import DuplicateContentError
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
        if ctx.encoded is None:
            raise RuntimeError("pipeline misconfigured: encode stage must run first")
        digest = ctx.content_sha256 or file_sha256(ctx.path)
        ctx.duplicate_of = tuple(
            d for d in self._catalog.find_by_content(digest) if d != ctx.video_id
        )
        if ctx.duplicate_of and self._reject_duplicates:
            raise DuplicateContentError(
                f"this file is already indexed as {', '.join(ctx.duplicate_of)}; index it "
                "under that id, delete the other first, or set catalog.duplicate_policy=report"
            )
        record = _record(ctx, ctx.encoded, digest)
        with self._write_lock:
            ctx.budget.check("the catalog write")  # not started for nobody
            ctx.replaced = self._catalog.get_video(ctx.video_id) is not None
            self._catalog.upsert_video(record)


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
        title=ctx.title,
        tags=ctx.tags,
        source=ctx.source,
        content_sha256=digest,
    )


def build_index_pipeline(
    decoder: FrameDecoder,
    encoder: VideoEncoder,
    catalog: Catalog,
    write_lock: threading.Lock,
    *,
    text: TextModels | None,
    reject_duplicates: bool,
    tags: TagModels | None = None,
) -> list[Stage[IndexContext]]:
    """The stage list for IndexVideo (``text``: also store the text-search features;
    ``tags``: the tag feature)."""
    stages: list[Stage[IndexContext]] = [DecodeStage(decoder), IndexEncode(encoder)]
    if text is not None:
        stages.append(TextFeaturesStage(text))
    if tags is not None:
        stages.append(TagFeatureStage(tags))
    stages.append(CatalogUpsert(catalog, write_lock, reject_duplicates=reject_duplicates))
    return stages


def read_back(catalog: Catalog, video_id: str) -> VideoInfo:
    """The stored metadata of a video just written (the answer IndexVideo returns)."""
    info = catalog.get_video(video_id)
    if info is None:
        raise RuntimeError(f"video {video_id!r} was written but cannot be read back")
    return info
